"""Proportional flow tracing on any network given as dense hourly flow matrices.

The consumed intensity ``x`` of every node and hour solves
``(diag(G + sum of arrivals) - R^T) x = E`` where ``R[i, j]`` is the power that arrives at
``j`` from ``i`` (sent times ``1 - loss``). Every hour is solved in one compiled pass
(:mod:`hourlysim._kernels.tracing`); a node that neither generates nor receives has
intensity 0 (it supplies nothing). Emissions carried by the energy lost on the way reach no
consumer: they are returned as a separate loss term, so that every hour
``sum_j consumed_j x_j + loss_emissions = sum_p E_p``.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np

from ._kernels.tracing import trace_intensity, trace_shares
from .errors import InputError

logger = logging.getLogger(__name__)

#: hours whose relative residual exceeds this are reported as ill-conditioned
RESIDUAL_TOLERANCE = 1e-8


class Tracing(NamedTuple):
    """Result of :func:`trace`.

    Attributes
    ----------
    intensity : ndarray (hour, node)
        Consumed intensity [emission unit MWh-1].
    import_fraction : ndarray (hour, node)
        Share of the power through each node that arrived from other nodes [1].
    loss_emissions : ndarray (hour,)
        Emissions of the energy lost on the way [emission unit].
    residual : ndarray (hour,)
        Relative residual of each hour's solve [1].
    status : ndarray of int8 (hour,)
        0 acyclic flows, 1 a loop (dense solve), 2 singular (least squares).
    ill_conditioned : ndarray of int64
        Hours whose residual exceeds :data:`RESIDUAL_TOLERANCE`.
    """

    intensity: np.ndarray
    import_fraction: np.ndarray
    loss_emissions: np.ndarray
    residual: np.ndarray
    status: np.ndarray
    ill_conditioned: np.ndarray


def trace(generation, emissions, flows, losses=None) -> Tracing:
    """Trace every hour and return the intensity with its diagnostics.

    Parameters
    ----------
    generation : array_like (hour, node)
        Generation at each node [MWh] (0 at a hub that only passes power on).
    emissions : array_like (hour, node)
        Emissions of that generation [any mass unit, e.g. kg or t].
    flows : array_like (hour, node, node)
        ``flows[h, i, j]``: power sent from ``i`` to ``j`` [MWh], >= 0, zero diagonal.
    losses : array_like (node, node) or (hour, node, node), optional
        Fraction of the power sent from ``i`` to ``j`` lost on the way [1], in [0, 1).

    Returns
    -------
    Tracing

    Raises
    ------
    InputError
        On inconsistent shapes, negative or self flows, losses outside [0, 1), or a node
        that sends more than it generates plus receives.
    """
    generation, emissions, flows, losses = _checked(generation, emissions, flows, losses)
    intensity, imported, loss_emissions, residual, status = trace_intensity(
        np.ascontiguousarray(generation.T),
        np.ascontiguousarray(emissions.T),
        *_edges(flows, losses),
    )
    bad = np.flatnonzero(residual > RESIDUAL_TOLERANCE)
    if bad.size:
        logger.warning(
            "flow tracing: %d ill-conditioned hours (largest relative residual %.3g at hour %d)",
            bad.size,
            residual.max(),
            int(residual.argmax()),
        )
    return Tracing(intensity.T, imported.T, loss_emissions, residual, status, bad)


def trace_flows(generation, emissions, flows, losses=None) -> np.ndarray:
    """Consumed intensity of every node and hour by proportional flow tracing.

    Parameters
    ----------
    generation : array_like (hour, node)
        Generation at each node [MWh].
    emissions : array_like (hour, node)
        Emissions of that generation [any mass unit].
    flows : array_like (hour, node, node)
        ``flows[h, i, j]``: power sent from ``i`` to ``j`` [MWh].
    losses : array_like (node, node) or (hour, node, node), optional
        Fraction lost on the way from ``i`` to ``j`` [1].

    Returns
    -------
    ndarray (hour, node)
        Intensity of the power leaving each node, consumed or sent on [mass unit MWh-1];
        0 for a node that neither generates nor receives. Ill-conditioned hours are logged
        (see :func:`trace` for the residuals).
    """
    return trace(generation, emissions, flows, losses).intensity


def supply_shares(generation, flows, losses=None) -> np.ndarray:
    """Where the power leaving each node was generated (proportional sharing).

    Parameters
    ----------
    generation : array_like (hour, node)
        Generation at each node [MWh].
    flows : array_like (hour, node, node)
        ``flows[h, i, j]``: power sent from ``i`` to ``j`` [MWh].
    losses : array_like (node, node) or (hour, node, node), optional
        Fraction lost on the way from ``i`` to ``j`` [1].

    Returns
    -------
    ndarray (hour, node, node)
        ``share[h, j, p]``: fraction of the power leaving node ``j`` that was generated at
        node ``p`` [1]. ``consumed intensity = share @ (E / G)`` (0 where G is 0).
    """
    generation, _, flows, losses = _checked(generation, np.zeros_like(generation), flows, losses)
    share, _ = trace_shares(np.ascontiguousarray(generation.T), *_edges(flows, losses))
    return share


def _edges(flows, losses):
    """Edge list of the node pairs that carry power in any hour: ends, (edge, hour) flows
    and loss fractions."""
    edge_from, edge_to = np.nonzero((flows != 0).any(axis=0))
    return (
        edge_from.astype(np.int64),
        edge_to.astype(np.int64),
        np.ascontiguousarray(flows[:, edge_from, edge_to].T),
        np.ascontiguousarray(losses[:, edge_from, edge_to].T),
    )


def _checked(generation, emissions, flows, losses):
    generation = np.asarray(generation, dtype=np.float64)
    emissions = np.asarray(emissions, dtype=np.float64)
    flows = np.asarray(flows, dtype=np.float64)
    if generation.ndim != 2 or emissions.shape != generation.shape:
        raise InputError(
            f"generation {generation.shape} and emissions {emissions.shape} must both be "
            "(hour, node)",
            column="generation",
        )
    n_hour, n_node = generation.shape
    if flows.shape != (n_hour, n_node, n_node):
        raise InputError(
            f"expected (hour, node, node) = {(n_hour, n_node, n_node)}, got {flows.shape}",
            column="flows",
        )
    for name, values in (("generation", generation), ("emissions", emissions), ("flows", flows)):
        if not np.isfinite(values).all() or (values < 0).any():
            raise InputError("expected finite values >= 0", column=name)
    if np.diagonal(flows, axis1=1, axis2=2).any():
        raise InputError("a node cannot send power to itself (diagonal must be 0)", column="flows")
    if losses is None:
        losses = np.zeros((1, n_node, n_node))
    losses = np.asarray(losses, dtype=np.float64)
    if losses.shape == (n_node, n_node):
        losses = losses[None]
    if losses.shape not in ((1, n_node, n_node), (n_hour, n_node, n_node)):
        raise InputError(
            f"expected (node, node) or (hour, node, node), got {losses.shape}", column="losses"
        )
    if not np.isfinite(losses).all() or (losses < 0).any() or (losses >= 1).any():
        raise InputError("expected loss fractions in [0, 1)", column="losses")
    losses = np.broadcast_to(losses, flows.shape)
    arrived = np.einsum("hij,hij->hj", flows, 1.0 - losses)
    through = generation + arrived
    sent = flows.sum(axis=2)
    excess = sent - through
    tolerance = 1e-9 * np.maximum(through, 1.0)
    if (excess > tolerance).any():
        h, j = np.argwhere(excess > tolerance)[0]
        raise InputError(
            f"node {j} sends {sent[h, j]:.6g} MWh in hour {h} but generates plus receives "
            f"only {through[h, j]:.6g} MWh",
            column="flows",
        )
    return generation, emissions, flows, losses
