"""Stage 5: per-city annual indicators and inequality across cities."""

from __future__ import annotations

import numpy as np
import xarray as xr


def gini(values: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Gini coefficient of ``values`` (optionally population-weighted).

    Parameters
    ----------
    values : ndarray
        Per-capita quantity of each unit (may be negative; then the Gini can exceed 1).
    weights : ndarray, optional
        Weight of each unit (e.g. population) [any]; equal weights by default.

    Returns
    -------
    float
        ``sum_i sum_j w_i w_j |x_i - x_j| / (2 W^2 mean)`` [1]; NaN if the mean is 0.
    """
    x = np.asarray(values, dtype=float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    order = np.argsort(x)
    x, w = x[order], w[order]
    total = w.sum()
    mean = (w * x).sum() / total
    if mean == 0:
        return float("nan")
    cum_w = np.cumsum(w)
    cum_wx = np.cumsum(w * x)
    # sum_{i,j} w_i w_j |x_i - x_j| = 2 sum_i w_i (x_i * W_<i - (WX)_<i)
    below_w = cum_w - w
    below_wx = cum_wx - w * x
    pair_sum = 2.0 * np.sum(w * (x * below_w - below_wx))
    return float(pair_sum / (2.0 * total**2 * mean))


def city_indicators(
    accounting: xr.Dataset, fleet: xr.DataArray, population: xr.DataArray
) -> xr.Dataset:
    """Annual per-city indicators and the Gini of per-capita reductions.

    Parameters
    ----------
    accounting : xr.Dataset
        Output of :func:`hourlysim.accounting.account`.
    fleet : xr.DataArray (city,)
        Electric cars in each city [vehicle].
    population : xr.DataArray (city,)
        Residents [person].

    Returns
    -------
    xr.Dataset
        ``annual_ev_emissions``, ``annual_gasoline_emissions``, ``annual_reduction`` [t],
        ``reduction_per_capita``, ``reduction_per_vehicle`` [t], ``ev_to_gasoline_ratio``
        [1] by method and city; ``gini`` [1] by method (population-weighted).
    """
    ev = accounting["ev_emissions"].sum("time")
    gasoline = accounting["gasoline_emissions"].sum("time")
    reduction = gasoline - ev
    safe_fleet = fleet.where(fleet > 0)
    result = xr.Dataset(
        {
            "annual_ev_emissions": ev,
            "annual_gasoline_emissions": gasoline,
            "annual_reduction": reduction,
            "reduction_per_capita": reduction / population,
            "reduction_per_vehicle": (reduction / safe_fleet).fillna(0.0),
            "ev_to_gasoline_ratio": (ev / gasoline.where(gasoline > 0)).fillna(0.0),
        }
    )
    per_capita = result["reduction_per_capita"]
    result["gini"] = xr.DataArray(
        [
            gini(per_capita.sel({"method": m}).values, population.values)
            for m in ev["method"].values
        ],
        dims="method",
        coords={"method": ev["method"].values},
    )
    units = {
        "annual_ev_emissions": "t",
        "annual_gasoline_emissions": "t",
        "annual_reduction": "t",
        "reduction_per_capita": "t person-1",
        "reduction_per_vehicle": "t vehicle-1",
        "ev_to_gasoline_ratio": "1",
        "gini": "1",
    }
    for name, unit in units.items():
        result[name].attrs["units"] = unit
    return result
