"""Flow tracing: hand-computed networks, a numpy reference and conservation properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hourlysim import InputError
from hourlysim._kernels.tracing import (
    SOLVED_ACYCLIC,
    SOLVED_DENSE,
    SOLVED_LEAST_SQUARES,
    consumption_intensity,
    network_workspace,
    trace_hour,
    trace_intensity,
)
from hourlysim.flow_tracing import _edges, supply_shares, trace, trace_flows


def _network(rng, n_node, n_hour, hub=True, loss=True):
    """Random balanced hourly networks with loops, an optional hub and losses.

    Every generating node sends at most its generation, split over random receivers; the
    hub (node 0, no generation) sends on part of what reaches it.
    """
    generation = rng.uniform(0, 100, (n_hour, n_node))
    generation[rng.random((n_hour, n_node)) < 0.2] = 0.0
    emissions = generation * rng.uniform(0, 1000, (n_hour, n_node))
    flows = np.zeros((n_hour, n_node, n_node))
    for h in range(n_hour):
        for i in range(n_node):
            receivers = rng.choice(n_node, size=rng.integers(0, 3), replace=False)
            receivers = receivers[receivers != i]
            for j in receivers:
                flows[h, i, j] = rng.uniform(0, 1) * generation[h, i] / n_node
    losses = rng.uniform(0, 0.1, (n_node, n_node)) if loss else np.zeros((n_node, n_node))
    if hub:
        generation[:, 0] = 0.0
        emissions[:, 0] = 0.0
        flows[:, 0, :] = 0.0
        arrived = np.einsum("hi,i->h", flows[:, :, 0], 1.0 - losses[:, 0])
        share = rng.dirichlet(np.ones(n_node - 1), n_hour) * rng.uniform(0, 1, (n_hour, 1))
        flows[:, 0, 1:] = share * arrived[:, None]
    return generation, emissions, flows, losses


def _reference(generation, emissions, flows, losses):
    """Per-hour numpy.linalg.solve of (diag(G + arrivals) - R^T) x = E."""
    n_hour, n_node = generation.shape
    result = np.zeros((n_hour, n_node))
    for h in range(n_hour):
        received = flows[h] * (1.0 - losses)
        total = generation[h] + received.sum(axis=0)
        matrix = np.diag(total) - received.T
        rhs = emissions[h].copy()
        empty = total <= 0
        matrix[empty] = 0.0
        matrix[empty, empty] = 1.0
        rhs[empty] = 0.0
        result[h] = np.linalg.solve(matrix, rhs)
    return result


def _trace_one_hour(generation, edge_from, edge_to, flow, loss, hour, rhs, solution, space):
    """``trace_hour`` of one hour of (hour, node) generation and (edge, hour) flows and
    losses, into ``solution`` (no acyclic check); returns the solve's status."""
    _, status, _ = trace_hour(
        np.ascontiguousarray(generation[hour]),
        edge_from,
        edge_to,
        np.ascontiguousarray(flow[:, hour]),
        np.ascontiguousarray(loss[:, hour]),
        rhs,
        solution,
        space,
        False,
    )
    return status


def _conservation_terms(generation, flows, losses, intensity):
    received = flows * (1.0 - losses)
    consumed = generation + received.sum(axis=1) - flows.sum(axis=2)
    lost = np.einsum("hij,hi->h", flows * losses, intensity)
    return (consumed * intensity).sum(axis=1), lost


def test_chain_through_a_pure_hub():
    """A (coal, 800 kg/MWh) sends 60 MWh to hub B, which passes it on to C (hydro, 40 MWh)."""
    generation = np.array([[100.0, 0.0, 40.0]])
    emissions = np.array([[80_000.0, 0.0, 0.0]])
    flows = np.zeros((1, 3, 3))
    flows[0, 0, 1] = 60.0
    flows[0, 1, 2] = 60.0
    np.testing.assert_allclose(trace_flows(generation, emissions, flows)[0], [800, 800, 480])
    # 10% lost from A to B: B receives and sends on 54 MWh at A's intensity
    losses = np.zeros((3, 3))
    losses[0, 1] = 0.1
    flows[0, 1, 2] = 54.0
    result = trace(generation, emissions, flows, losses)
    np.testing.assert_allclose(result.intensity[0], [800, 800, 54 * 800 / 94])
    assert result.loss_emissions[0] == pytest.approx(6 * 800)
    # consumed: A 40 MWh, hub 0, C 94 MWh; plus the lost 6 MWh = all 80 t
    assert 40 * 800 + 94 * result.intensity[0, 2] + result.loss_emissions[0] == pytest.approx(
        80_000
    )
    assert result.status[0] == SOLVED_ACYCLIC


def test_loop_by_hand():
    """A -> B -> C -> A; solved by substitution on paper."""
    generation = np.array([[100.0, 50.0, 50.0]])
    emissions = np.array([[100_000.0, 0.0, 25_000.0]])
    flows = np.zeros((1, 3, 3))
    flows[0, 0, 1], flows[0, 1, 2], flows[0, 2, 0] = 30.0, 20.0, 10.0
    # x_A 110 = 1e5 + 10 x_C; x_B 80 = 30 x_A; x_C 70 = 25000 + 20 x_B
    x_a = (100_000 + 10 * 25_000 / 70) / (110 - 10 * 20 * 30 / (70 * 80))
    x_b = 30 * x_a / 80
    x_c = (25_000 + 20 * x_b) / 70
    result = trace(generation, emissions, flows)
    np.testing.assert_allclose(result.intensity[0], [x_a, x_b, x_c], rtol=1e-12)
    assert result.status[0] == SOLVED_DENSE


def test_zero_hours_isolated_nodes_and_nodes_without_demand():
    generation = np.zeros((3, 4))
    emissions = np.zeros((3, 4))
    flows = np.zeros((3, 4, 4))
    generation[1, 0], emissions[1, 0] = 10.0, 5_000.0  # node 0 sends all it makes to 1
    flows[1, 0, 1] = 10.0
    generation[2, 3] = 7.0  # node 3 isolated, clean
    result = trace(generation, emissions, flows)
    assert not np.isnan(result.intensity).any()
    np.testing.assert_array_equal(result.intensity[0], 0.0)
    np.testing.assert_allclose(result.intensity[1], [500.0, 500.0, 0.0, 0.0])
    np.testing.assert_allclose(result.intensity[2], 0.0)
    np.testing.assert_array_equal(result.residual, 0.0)


def test_power_circulating_without_source_is_singular_and_reported():
    """Two hubs pass 10 MWh round and round with nothing feeding them."""
    generation = np.array([[0.0, 0.0, 20.0]])
    emissions = np.array([[0.0, 0.0, 4_000.0]])
    flows = np.zeros((1, 3, 3))
    flows[0, 0, 1] = flows[0, 1, 0] = 10.0
    result = trace(generation, emissions, flows)
    assert result.status[0] == SOLVED_LEAST_SQUARES
    assert not np.isnan(result.intensity).any()
    assert result.intensity[0, 2] == pytest.approx(200.0)


def test_over_sending_node_is_an_input_error():
    flows = np.zeros((1, 2, 2))
    flows[0, 0, 1] = 11.0
    with pytest.raises(InputError, match="sends"):
        trace_flows(np.array([[10.0, 0.0]]), np.zeros((1, 2)), flows)
    with pytest.raises(InputError, match="losses"):
        trace_flows(np.array([[10.0, 0.0]]), np.zeros((1, 2)), flows * 0, np.ones((2, 2)))


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1), st.booleans())
def test_matches_numpy_solve_and_conserves(seed, hub):
    rng = np.random.default_rng(seed)
    generation, emissions, flows, losses = _network(rng, 7, 12, hub=hub)
    result = trace(generation, emissions, flows, losses)
    np.testing.assert_allclose(
        result.intensity, _reference(generation, emissions, flows, losses), rtol=1e-9, atol=1e-9
    )
    consumed, lost = _conservation_terms(generation, flows, losses, result.intensity)
    np.testing.assert_allclose(consumed + lost, emissions.sum(axis=1), rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(result.loss_emissions, lost, rtol=1e-9, atol=1e-9)
    assert not np.isnan(result.intensity).any()
    assert (result.intensity >= -1e-9).all()
    assert (result.residual < 1e-9).all()


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_supply_shares_rows_sum_to_one_and_give_the_intensity(seed):
    rng = np.random.default_rng(seed)
    generation, emissions, flows, losses = _network(rng, 6, 8)
    share = supply_shares(generation, flows, losses)
    through = generation + np.einsum("hij,ij->hj", flows, 1.0 - losses)
    rows = share.sum(axis=2)
    np.testing.assert_allclose(rows, np.where(through > 0, 1.0, 0.0), atol=1e-12)
    assert (share >= -1e-12).all()
    rate = np.divide(emissions, generation, out=np.zeros_like(emissions), where=generation > 0)
    np.testing.assert_allclose(
        np.einsum("hjp,hp->hj", share, rate),
        trace_flows(generation, emissions, flows, losses),
        rtol=1e-9,
        atol=1e-9,
    )
    # a hub generates nothing, so nothing is supplied from it
    np.testing.assert_array_equal(share[:, :, 0], 0.0)


def test_supply_shares_with_the_intensity_as_one_more_column():
    """The accounting's tracing: ``trace_hour`` on the right-hand side ``diag(G)``, then the
    emissions, gives the dense supply shares and, in its last column, exactly
    ``trace_intensity``'s intensity (the same sums); over these seeds some hours are
    acyclic (substitution) and some have loops (dense solve)."""
    statuses = set()
    for seed in range(12):
        rng = np.random.default_rng(seed)
        generation, emissions, flows, losses = _network(rng, 7, 10, hub=False)
        flows[rng.random(flows.shape) < 0.5] = 0.0  # fewer edges: many hours without loops
        dense = supply_shares(generation, flows, losses)
        edge_from, edge_to, flow, loss = _edges(flows, np.broadcast_to(losses, flows.shape))
        intensity = trace_intensity(
            np.ascontiguousarray(generation.T),
            np.ascontiguousarray(emissions.T),
            edge_from,
            edge_to,
            flow,
            loss,
        )[0]
        n_node = generation.shape[1]
        rhs = np.zeros((n_node, n_node + 1))
        solution = np.full((n_node, n_node + 1), np.nan)
        space = network_workspace(n_node, edge_from.size, n_node + 1)
        for hour in range(generation.shape[0]):
            rhs[:, :n_node] = np.diag(generation[hour])
            rhs[:, n_node] = emissions[hour]
            status = _trace_one_hour(
                generation, edge_from, edge_to, flow, loss, hour, rhs, solution, space
            )
            statuses.add(int(status))
            np.testing.assert_allclose(solution[:, :n_node], dense[hour], rtol=1e-12, atol=1e-15)
            np.testing.assert_array_equal(solution[:, n_node], intensity[:, hour])
    assert {SOLVED_ACYCLIC, SOLVED_DENSE} <= statuses


@pytest.mark.parametrize("n_node", [40, 64, 65, 90])
def test_loop_free_hours_are_solved_in_order_on_any_network_size(n_node):
    """Hours without a loop are solved by substitution in an order where each node comes
    after its suppliers: found with bitmasks on networks of up to 64 nodes, by Kahn's
    algorithm on larger ones; both match the numpy solve, and a loop is still found."""
    rng = np.random.default_rng(n_node)
    n_hour = 6
    generation = rng.uniform(1, 100, (n_hour, n_node))
    emissions = generation * rng.uniform(0, 1000, (n_hour, n_node))
    losses = rng.uniform(0, 0.1, (n_node, n_node))
    flows = np.zeros((n_hour, n_node, n_node))
    for hour in range(n_hour):
        rank = rng.permutation(n_node)  # power flows from lower to higher rank only
        for i in range(n_node):
            for j in rng.choice(n_node, size=3, replace=False):
                if rank[i] < rank[j]:
                    flows[hour, i, j] = rng.uniform(0, 0.3) * generation[hour, i] / 3
    flows[-1, n_node - 1, 0] = flows[-1, 0, n_node - 1] = 1.0  # the last hour has a loop
    edge_from, edge_to, flow, loss = _edges(flows, np.broadcast_to(losses, flows.shape))
    rhs = np.zeros((n_node, 1))
    solution = np.full((n_node, 1), np.nan)
    space = network_workspace(n_node, edge_from.size, 1)
    reference = _reference(generation, emissions, flows, losses)
    for hour in range(n_hour):
        rhs[:, 0] = emissions[hour]
        status = _trace_one_hour(
            generation, edge_from, edge_to, flow, loss, hour, rhs, solution, space
        )
        assert status == (SOLVED_DENSE if hour == n_hour - 1 else SOLVED_ACYCLIC)
        np.testing.assert_allclose(solution[:, 0], reference[hour], rtol=1e-9, atol=1e-9)


def test_corridor_kernel_with_losses_matches_dense_api():
    rng = np.random.default_rng(3)
    generation, emissions, flows, losses = _network(rng, 5, 6, hub=False)
    frm, to = np.nonzero(flows.any(axis=0))
    intensity, imported, residual = consumption_intensity(
        generation.T, emissions.T, frm, to, flows[:, frm, to].T, losses[frm, to]
    )
    result = trace(generation, emissions, flows, losses)
    np.testing.assert_allclose(intensity.T, result.intensity, rtol=1e-12)
    np.testing.assert_allclose(imported.T, result.import_fraction, rtol=1e-12)
    # a negative corridor flow runs from corridor_to to corridor_from
    reversed_intensity, _, _ = consumption_intensity(
        generation.T, emissions.T, to, frm, -flows[:, frm, to].T, losses[frm, to]
    )
    np.testing.assert_allclose(reversed_intensity, intensity, rtol=1e-12)
    assert (residual < 1e-9).all()


def test_constant_losses_are_read_from_one_column():
    """Losses that are the same every hour are passed as one column (edge, 1), not copied
    over the hours; the kernels then give exactly what the full (edge, time) array gives."""
    rng = np.random.default_rng(5)
    generation, emissions, flows, losses = _network(rng, 6, 9, hub=False)
    frm, to = np.nonzero(flows.any(axis=0))
    flow = np.ascontiguousarray(flows[:, frm, to].T)
    column = losses[frm, to]
    arrays = (np.ascontiguousarray(generation.T), np.ascontiguousarray(emissions.T), frm, to, flow)
    by_column = consumption_intensity(*arrays, column)
    every_hour = consumption_intensity(*arrays, np.repeat(column[:, None], flow.shape[1], axis=1))
    for ours, full in zip(by_column, every_hour, strict=True):
        np.testing.assert_array_equal(ours, full)
    assert not np.array_equal(by_column[0], consumption_intensity(*arrays)[0])  # losses count
