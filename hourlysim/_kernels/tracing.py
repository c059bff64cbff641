"""Stage 3 kernels: consumption-based intensity by proportional flow tracing."""

from __future__ import annotations

import numpy as np

from ._jit import kernel


@kernel
def consumption_intensity(generation_total, emissions, corridor_from, corridor_to, flow):
    """Intensity of the electricity consumed in each province, by proportional tracing.

    Solves, for every hour, ``(diag(G + sum of imports) - F^T) c = E`` (Qu, Liang & Xu,
    ES&T 2017): the power leaving a province (consumed or exported) carries one intensity,
    the mix of its own generation and its imports.

    Parameters
    ----------
    generation_total : ndarray (province, time)
        Generation in the province [MWh].
    emissions : ndarray (province, time)
        CO2 emitted by that generation [kg].
    corridor_from, corridor_to : ndarray of int64 (corridor,)
        Province indices of each corridor's ends.
    flow : ndarray (corridor, time)
        Energy carried [MWh] (losses on corridors are not modelled).

    Returns
    -------
    intensity : ndarray (province, time)
        Consumption intensity [kg MWh-1]; 0 where a province neither generates nor imports.
    import_fraction : ndarray (province, time)
        Share of the power leaving the province's bus that was imported [1].
    residual : ndarray (time,)
        Largest relative residual of the linear solve in each hour [1] (a check on
        ill-conditioning).
    """
    n_province, n_time = generation_total.shape
    intensity = np.zeros((n_province, n_time))
    import_fraction = np.zeros((n_province, n_time))
    residual = np.zeros(n_time)
    matrix = np.empty((n_province, n_province))
    rhs = np.empty(n_province)
    for t in range(n_time):
        matrix[:, :] = 0.0
        for p in range(n_province):
            matrix[p, p] = generation_total[p, t]
            rhs[p] = emissions[p, t]
        for k in range(corridor_from.size):
            i = corridor_from[k]
            j = corridor_to[k]
            matrix[j, j] += flow[k, t]
            matrix[j, i] -= flow[k, t]
        for p in range(n_province):
            total = matrix[p, p]
            if total > 0.0:
                import_fraction[p, t] = (total - generation_total[p, t]) / total
            else:
                matrix[p, :] = 0.0
                matrix[p, p] = 1.0
                rhs[p] = 0.0
        solution = np.linalg.solve(matrix, rhs)
        check = matrix @ solution - rhs
        scale = np.abs(rhs).max() + 1e-300
        residual[t] = np.abs(check).max() / scale
        intensity[:, t] = solution
    return intensity, import_fraction, residual
