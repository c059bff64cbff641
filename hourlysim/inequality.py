"""Stage 5: per-city annual indicators and inequality across cities.

Pure functions on numpy arrays (:func:`gini`, :func:`theil`, :func:`theil_decomposition`,
:func:`lorenz_curve`, :func:`concentration_index`, :func:`poorer_city_share`) and their xarray
wrapper :func:`city_indicators`, which turns the accounting output into annual per-city
indicators and national summaries per accounting method.

Negative values: per-capita reductions can be negative (a city where an EV emits more than the
gasoline car it replaces). The Gini, the Lorenz curve and the concentration index accept
negative values as long as the (weighted) mean is positive; the Gini can then exceed 1 and the
Lorenz curve dips below 0. The Theil index is a sum of ``s ln(x / mean)`` and has no meaning
for a negative value: :func:`theil` and :func:`theil_decomposition` refuse one with a
``ValueError`` (they never shift the values, which would change the index arbitrarily). Every
function raises ``ValueError`` where its index is undefined (mean <= 0, no weight, shapes that
differ); :func:`city_indicators` turns that into NaN for that method and logs a warning that
names the method and the reason.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

import numpy as np
import pandas as pd
import xarray as xr

logger = logging.getLogger(__name__)

#: number of points of the Lorenz curves in :func:`city_indicators` (population shares
#: 0, 0.01, ..., 1), fixed so that the output shape does not depend on the number of cities
LORENZ_POINTS = 101


def _as_arrays(
    values: np.ndarray, weights: np.ndarray | None, name: str = "values"
) -> tuple[np.ndarray, np.ndarray]:
    """Float copies of ``values`` and ``weights`` (ones by default), checked."""
    x = np.asarray(values, dtype=float).ravel()
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float).ravel()
    if x.size == 0:
        raise ValueError(f"{name} is empty")
    if w.shape != x.shape:
        raise ValueError(f"{name} has {x.size} elements but weights has {w.size}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} holds {np.count_nonzero(~np.isfinite(x))} non-finite value(s)")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be finite and >= 0")
    if w.sum() <= 0:
        raise ValueError("weights sum to 0")
    return x, w


def _positive_mean(x: np.ndarray, w: np.ndarray, index: str) -> float:
    mean = float((w * x).sum() / w.sum())
    if not mean > 0:
        raise ValueError(f"{index} is undefined for a weighted mean <= 0 (mean = {mean:.6g})")
    return mean


def gini(values: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Gini coefficient of ``values`` (optionally population-weighted).

    Parameters
    ----------
    values : ndarray
        Per-capita quantity of each unit [any]; may be negative (then the Gini can exceed 1).
    weights : ndarray, optional
        Weight of each unit (e.g. population) [any], >= 0; equal weights by default.

    Returns
    -------
    float
        ``sum_i sum_j w_i w_j |x_i - x_j| / (2 W^2 mean)`` [1], with ``W = sum w`` and the
        weighted mean; 0 when all values are equal.

    Raises
    ------
    ValueError
        If the weighted mean is <= 0 (the index is undefined), or on empty, non-finite or
        mismatched input.
    """
    return _gini(*_as_arrays(values, weights))


def _gini(x: np.ndarray, w: np.ndarray) -> float:
    """:func:`gini` of checked ``x`` and ``w`` (:func:`_as_arrays`)."""
    mean = _positive_mean(x, w, "the Gini coefficient")
    order = np.argsort(x, kind="stable")
    x, w = x[order], w[order]
    total = w.sum()
    # sum_{i,j} w_i w_j |x_i - x_j| = 2 sum_i w_i (x_i * W_<i - (WX)_<i) for sorted x
    below_w = np.cumsum(w) - w
    below_wx = np.cumsum(w * x) - w * x
    pair_sum = 2.0 * np.sum(w * (x * below_w - below_wx))
    return float(pair_sum / (2.0 * total**2 * mean))


def _theil_terms(x: np.ndarray, w: np.ndarray) -> float:
    """``sum_i s_i ln(x_i / mean) = sum_i s_i ln(s_i / p_i)`` with ``s_i = w_i x_i / sum(w x)``
    and ``p_i = w_i / sum(w)``; 0 ln 0 = 0. The ratio ``s_i / p_i`` (>= s_i, as p_i <= 1)
    cannot underflow to 0 where ``s_i > 0``, unlike ``x_i / mean``."""
    shares = w * x / (w * x).sum()
    people = w / w.sum()
    keep = shares > 0
    return float(np.sum(shares[keep] * np.log(shares[keep] / people[keep])))


def _check_theil(x: np.ndarray, w: np.ndarray) -> None:
    negative = np.count_nonzero(x < 0)
    if negative:
        raise ValueError(
            f"the Theil index needs values >= 0; {negative} value(s) are negative "
            f"(smallest {x.min():.6g}); it is not defined for them (no shift is applied)"
        )
    _positive_mean(x, w, "the Theil index")


def theil(values: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Theil T index of ``values`` (optionally population-weighted).

    Parameters
    ----------
    values : ndarray
        Per-capita quantity of each unit [any], >= 0 (a zero contributes 0, the limit of
        ``s ln s``).
    weights : ndarray, optional
        Weight of each unit (e.g. population) [any], >= 0; equal weights by default.

    Returns
    -------
    float
        ``T = sum_i s_i ln(x_i / mean)`` [1] with ``s_i = w_i x_i / sum_j w_j x_j`` the unit's
        share of the total and ``mean`` the weighted mean; 0 for equal values, at most
        ``ln(W / w_min)``.

    Raises
    ------
    ValueError
        If a value is negative (the index is undefined there; values are never shifted), if
        the weighted mean is 0, or on empty, non-finite or mismatched input.
    """
    return _theil(*_as_arrays(values, weights))


def _theil(x: np.ndarray, w: np.ndarray) -> float:
    """:func:`theil` of checked ``x`` and ``w`` (:func:`_as_arrays`)."""
    _check_theil(x, w)
    return _theil_terms(x, w)


def theil_decomposition(
    values: np.ndarray, groups: np.ndarray, weights: np.ndarray | None = None
) -> tuple[float, float, float]:
    """Theil T index split into a between-group and a within-group part.

    Parameters
    ----------
    values : ndarray
        Per-capita quantity of each unit [any], >= 0.
    groups : ndarray
        Group label of each unit (e.g. province code or regional grid).
    weights : ndarray, optional
        Weight of each unit (e.g. population) [any], >= 0; equal weights by default.

    Returns
    -------
    total, between, within : float
        ``total`` is :func:`theil` [1]; ``between = sum_g S_g ln(mean_g / mean)`` (the Theil
        index of the group means) and ``within = sum_g S_g T_g`` (the share-weighted Theil
        indices inside each group), with ``S_g`` the group's share of the total. ``between +
        within == total`` (to rounding). A group whose total is 0 contributes 0 to both.

    Raises
    ------
    ValueError
        As :func:`theil`, or if ``groups`` does not have one label per value.
    """
    x, w = _as_arrays(values, weights)
    labels = np.asarray(groups).ravel()
    if labels.shape != x.shape:
        raise ValueError(f"values has {x.size} elements but groups has {labels.size}")
    return _theil_parts(x, w, _group_codes(labels))


def _group_codes(labels: np.ndarray) -> np.ndarray:
    """Group number (0, 1, ...) of each label, for :func:`_theil_parts`."""
    return pd.factorize(labels, use_na_sentinel=False)[0]  # hash, not sort: 4x np.unique


def _theil_parts(x: np.ndarray, w: np.ndarray, group: np.ndarray) -> tuple[float, float, float]:
    """:func:`theil_decomposition` of checked ``x`` and ``w`` (:func:`_as_arrays`) with the
    groups numbered by :func:`_group_codes`: a caller that splits several quantities by the
    same groups numbers them once."""
    _check_theil(x, w)
    # all groups at once (a loop over groups cost ~1 ms a call for 31 provinces):
    # S_g = A_g / A, P_g = W_g / W with A = sum of w x and W = sum of w (A_g, W_g: the group's)
    amount = w * x
    group_amount = np.bincount(group, weights=amount)
    group_weight = np.bincount(group, weights=w)
    total_amount, total_weight = amount.sum(), w.sum()
    share = group_amount / total_amount
    held = share > 0  # a group holding nothing (or underflowing) adds 0 ln 0 = 0 to both parts
    between = np.sum(share[held] * np.log(share[held] / (group_weight[held] / total_weight)))
    # within = sum_g S_g T_g, T_g = sum_{i in g} s_i ln(s_i / p_i) with s_i = w_i x_i / A_g and
    # p_i = w_i / W_g; S_g s_i = w_i x_i / A
    unit = np.flatnonzero(amount > 0)
    g = group[unit]
    inside = amount[unit] / group_amount[g]  # s_i, 0 where it underflows: 0 ln 0 = 0
    unit, g, inside = unit[inside > 0], g[inside > 0], inside[inside > 0]
    within = np.sum(amount[unit] / total_amount * np.log(inside / (w[unit] / group_weight[g])))
    return _theil_terms(x, w), float(between), float(within)


def lorenz_curve(
    values: np.ndarray,
    weights: np.ndarray | None = None,
    population_share: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Lorenz curve: cumulative share of the quantity held by the lowest population shares.

    Units are sorted by ``values`` (per-capita quantity) ascending; the curve joins
    ``(0, 0)`` and, after each unit, (cumulative weight share, cumulative share of
    ``weights * values``), ending at ``(1, 1)``. It is piecewise linear between those points,
    so evaluating it elsewhere by linear interpolation is exact.

    Parameters
    ----------
    values : ndarray
        Per-capita quantity of each unit [any]; may be negative if the total is positive
        (the curve then falls below 0 before rising, and is monotone only for values >= 0).
    weights : ndarray, optional
        Population of each unit [any], >= 0; equal weights by default.
    population_share : ndarray, optional
        Cumulative population shares in [0, 1] at which to evaluate the curve; by default the
        ``n + 1`` points of the curve itself.

    Returns
    -------
    population_share, quantity_share : ndarray
        Cumulative population share [1] and cumulative share of the quantity [1].

    Raises
    ------
    ValueError
        If the weighted total is <= 0, if ``population_share`` leaves [0, 1], or on empty,
        non-finite or mismatched input.
    """
    return _lorenz(*_as_arrays(values, weights), population_share)


def _lorenz(
    x: np.ndarray, w: np.ndarray, population_share: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`lorenz_curve` of checked ``x`` and ``w`` (:func:`_as_arrays`)."""
    _positive_mean(x, w, "the Lorenz curve")
    order = np.argsort(x, kind="stable")
    x, w = x[order], w[order]
    people = np.concatenate([[0.0], np.cumsum(w) / w.sum()])
    amount = np.concatenate([[0.0], np.cumsum(w * x) / (w * x).sum()])
    people[-1] = 1.0
    amount[-1] = 1.0
    if population_share is None:
        return people, amount
    at = np.asarray(population_share, dtype=float)
    if np.any(~np.isfinite(at)) or np.any(at < 0) or np.any(at > 1):
        raise ValueError("population_share must lie in [0, 1]")
    return at.copy(), np.interp(at, people, amount)


def _fractional_rank(ranking: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted fractional rank ``(W_<i + w_i / 2) / W`` by ``ranking``; ties share the
    weighted mean rank of their group."""
    order = np.argsort(ranking, kind="stable")
    sorted_rank = ranking[order]
    sorted_w = w[order]
    total = sorted_w.sum()
    rank_sorted = (np.cumsum(sorted_w) - sorted_w / 2.0) / total
    # ties: every member of a run of equal ranking values gets the midpoint of the run
    starts = np.flatnonzero(np.r_[True, sorted_rank[1:] != sorted_rank[:-1]])
    ends = np.r_[starts[1:], sorted_rank.size]
    below = np.concatenate([[0.0], np.cumsum(sorted_w)])
    run_rank = (below[starts] + (below[ends] - below[starts]) / 2.0) / total
    run = np.repeat(np.arange(starts.size), ends - starts)  # run of each sorted unit
    tied = (ends - starts)[run] > 1
    rank_sorted[tied] = run_rank[run[tied]]
    rank = np.empty_like(rank_sorted)
    rank[order] = rank_sorted
    return rank


def concentration_index(
    values: np.ndarray, ranking: np.ndarray, weights: np.ndarray | None = None
) -> float:
    """Concentration index of ``values`` over units ranked by ``ranking`` (e.g. GDP per capita).

    Parameters
    ----------
    values : ndarray
        Per-capita quantity of each unit [any]; may be negative if the weighted mean is
        positive.
    ranking : ndarray
        Variable that ranks the units from poorest to richest (e.g. GDP per capita
        [yuan person-1]); ties share their mean rank.
    weights : ndarray, optional
        Population of each unit [any], >= 0; equal weights by default.

    Returns
    -------
    float
        ``C = 2 cov_w(x, R) / mean_w(x)`` [1], with ``R_i = (W_<i + w_i / 2) / W`` the
        weighted fractional rank by ``ranking`` and the covariance and mean weighted by
        ``weights``. In [-1, 1] for values >= 0: positive when the quantity is concentrated
        among the richer units, negative among the poorer. Equals :func:`gini` when
        ``ranking`` orders the units as ``values`` does.

    Raises
    ------
    ValueError
        If the weighted mean is <= 0, or on empty, non-finite or mismatched input.
    """
    x, w = _as_arrays(values, weights)
    r, _ = _as_arrays(ranking, weights, name="ranking")
    return _concentration(x, w, _fractional_rank(r, w))


def _concentration(x: np.ndarray, w: np.ndarray, rank: np.ndarray) -> float:
    """:func:`concentration_index` of checked ``x`` and ``w`` (:func:`_as_arrays`) with the
    units' fractional ranks ``rank`` (:func:`_fractional_rank`): a caller that ranks the
    same units for several quantities ranks them once."""
    mean = _positive_mean(x, w, "the concentration index")
    p = w / w.sum()
    covariance = np.sum(p * (x - mean) * (rank - np.sum(p * rank)))
    return float(2.0 * covariance / mean)


def poorer_city_share(emissions_in_poorer_cities: np.ndarray, ev_emissions: np.ndarray) -> float:
    """Share of EV emissions emitted in cities poorer than the city whose EVs caused them.

    Parameters
    ----------
    emissions_in_poorer_cities : ndarray
        Per consuming city, the part of its annual EV emissions emitted in cities with a
        lower GDP per capita [t] (accounting's ``emissions_in_poorer_cities``).
    ev_emissions : ndarray
        Per consuming city, its annual EV emissions [t], the same method.

    Returns
    -------
    float
        ``sum(emissions_in_poorer_cities) / sum(ev_emissions)`` [1].

    Raises
    ------
    ValueError
        If the total EV emissions are <= 0, or on non-finite or mismatched input.
    """
    poorer, _ = _as_arrays(emissions_in_poorer_cities, None, "emissions_in_poorer_cities")
    total, _ = _as_arrays(ev_emissions, None, "ev_emissions")
    if poorer.shape != total.shape:
        raise ValueError(f"{poorer.size} poorer-city emissions for {total.size} cities")
    if not total.sum() > 0:
        raise ValueError("the share is undefined: total EV emissions are <= 0")
    return float(poorer.sum() / total.sum())


def _along_city(array: xr.DataArray, cities: xr.DataArray, name: str) -> np.ndarray:
    """Values of a per-city array in the order of ``cities``: by label where it has a
    ``city`` coordinate, else by position."""
    if "city" in array.coords:
        if array.dims == ("city",) and array.indexes["city"].equals(cities.to_index()):
            return array.values  # already in that order: no label lookup
        return array.sel(city=cities).values
    if array.dims != ("city",) or array.size != cities.size:
        raise ValueError(f"{name} must be a DataArray over the {cities.size} cities")
    return array.values


def _per_method(
    name: str,
    methods,
    compute: Callable[[str], float | np.ndarray],
    shape: tuple = (),
    warn: bool = True,
) -> list:
    """Apply ``compute`` per method; an undefined index becomes NaN, logged at INFO level with
    its cause (``warn=False`` where an earlier index already logged the same cause). Not a
    warning: it is expected in real runs (a city whose EV emits more than its gasoline car
    makes Theil undefined; a method with a negative national reduction, every index), and the
    variables' long names and ``hourlysim report`` say so."""
    out = []
    for method in methods:
        try:
            out.append(compute(method))
        except ValueError as error:
            if warn:
                logger.info("%s undefined for method %s: %s", name, method, error)
            out.append(np.full(shape, np.nan) if shape else np.nan)
    return out


def city_indicators(
    accounting: xr.Dataset,
    fleet: xr.DataArray,
    population: xr.DataArray,
    gdp_per_capita: xr.DataArray | None = None,
    province: xr.DataArray | None = None,
    grid_region: xr.DataArray | None = None,
) -> xr.Dataset:
    """Annual per-city indicators and national inequality summaries per accounting method.

    Parameters
    ----------
    accounting : xr.Dataset
        Output of :func:`hourlysim.accounting.account`: ``ev_emissions`` (method, city, time)
        [t], ``gasoline_emissions`` (city, time) [t] and, optionally,
        ``emissions_in_poorer_cities`` (method, city) [t] annual and ``annual_ev_emissions``
        (method, city) [t], the sum of ``ev_emissions`` over the hours, and
        ``annual_gasoline_emissions`` (city) [t], that of ``gasoline_emissions`` (each summed
        here when absent).
    fleet : xr.DataArray (city,)
        Electric cars in each city [vehicle].
    population : xr.DataArray (city,)
        Residents [person].
    gdp_per_capita : xr.DataArray (city,), optional
        GDP per resident [yuan person-1]; ranks cities for ``concentration_index``.
    province : xr.DataArray (city,), optional
        Province code of each city; groups for the ``theil_*_province`` split.
    grid_region : xr.DataArray (city,), optional
        Regional grid of each city; groups for the ``theil_*_grid_region`` split.

    Returns
    -------
    xr.Dataset
        Per method and city: ``annual_ev_emissions``, ``annual_reduction`` [t],
        ``reduction_per_capita`` [t person-1], ``reduction_per_vehicle`` [t vehicle-1] (0
        for a city without EVs), ``ev_to_gasoline_ratio`` [1] (0 where the gasoline
        counterfactual is 0); per city ``annual_gasoline_emissions`` [t].
        National, per method, all on ``reduction_per_capita`` weighted by population:
        ``gini``, ``theil`` [1]; ``lorenz`` (method, population_share) [1], the Lorenz curve
        at :data:`LORENZ_POINTS` population shares; with ``province``:
        ``theil_between_province`` and ``theil_within_province``; with ``grid_region``:
        ``theil_between_grid_region`` and ``theil_within_grid_region``; with
        ``gdp_per_capita``: ``concentration_index``. When the accounting carries
        ``emissions_in_poorer_cities``: ``poorer_city_emission_share`` (method, city) and
        ``national_poorer_city_emission_share`` (method) [1]; NaN for a method it does not
        cover (absent from its ``method`` coordinate or all NaN) and for a city without EV
        emissions. An index that is undefined for a method
        (Theil with a negative reduction, any index with a national reduction <= 0) is NaN
        for it, with a logged warning naming the method and the reason.
    """
    # plain arrays (method, city), summed in float64; NaN propagates: an undefined hour must
    # not vanish from the annual sum. One Dataset is built at the end (no per-variable merge).
    hourly = accounting["ev_emissions"].transpose("method", "city", "time")
    cities, methods = hourly["city"], hourly["method"].values
    if "annual_ev_emissions" in accounting:  # summed once by the accounting (one Dataset:
        # its method and city labels are those of ev_emissions)
        ev = accounting["annual_ev_emissions"].transpose("method", "city").values
        ev = ev.astype(np.float64)
    else:
        ev = hourly.values.sum(axis=2, dtype=np.float64)
    if "annual_gasoline_emissions" in accounting:  # summed once a year (one Dataset: its
        # city labels are those of ev_emissions)
        gasoline = accounting["annual_gasoline_emissions"].values.astype(np.float64)
    else:
        gasoline = (
            accounting["gasoline_emissions"]
            .transpose("city", "time")
            .values.sum(axis=1, dtype=np.float64)
        )
    reduction = gasoline - ev
    weights = _along_city(population, cities, "population").astype(np.float64)
    vehicles = _along_city(fleet, cities, "fleet").astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_capita = reduction / weights
        per_vehicle = np.where(vehicles > 0, reduction / np.where(vehicles > 0, vehicles, 1), 0.0)
        ratio = np.where(gasoline > 0, ev / np.where(gasoline > 0, gasoline, 1), 0.0)
    by_city, by_method = ("method", "city"), ("method",)
    variables = {
        "annual_ev_emissions": (by_city, ev),
        "annual_gasoline_emissions": ("city", gasoline),
        "annual_reduction": (by_city, reduction),
        "reduction_per_capita": (by_city, per_capita),
        "reduction_per_vehicle": (by_city, per_vehicle),
        "ev_to_gasoline_ratio": (by_city, ratio),
    }

    position = {method: i for i, method in enumerate(methods)}

    def values(method: str, of: np.ndarray = per_capita) -> np.ndarray:
        return of[position[method]]

    # each method's per-capita values and the weights, checked once for every index (a
    # check that fails raises again for each index: a raised error is not cached)
    checked = functools.cache(lambda method: _as_arrays(values(method), weights))

    def national(name: str, compute: Callable[[str], float]) -> None:
        variables[name] = (by_method, np.array(_per_method(name, methods, compute), float))

    national("gini", lambda m: _gini(*checked(m)))
    national("theil", lambda m: _theil(*checked(m)))
    shares = np.linspace(0.0, 1.0, LORENZ_POINTS)
    curves = _per_method(
        "lorenz",
        methods,
        lambda m: _lorenz(*checked(m), shares)[1],
        shape=(LORENZ_POINTS,),
    )
    variables["lorenz"] = (("method", "population_share"), np.array(curves))
    for suffix, groups in (("province", province), ("grid_region", grid_region)):
        if groups is None:
            continue
        # the cities' groups, numbered once for every method
        group = _group_codes(np.asarray(_along_city(groups, cities, suffix)).ravel())
        parts = _per_method(
            f"theil by {suffix}",
            methods,
            lambda m, group=group: np.array(_theil_parts(*checked(m), group)),
            shape=(3,),
            warn=False,  # undefined exactly where theil is, which logged it above
        )
        parts = np.array(parts)
        for column, part in ((1, "between"), (2, "within")):
            variables[f"theil_{part}_{suffix}"] = (by_method, parts[:, column])
    if gdp_per_capita is not None:
        ranking = _along_city(gdp_per_capita, cities, "gdp_per_capita")
        # the cities' ranks by GDP per capita, the same for every method: ranked once (an
        # unusable ranking raises for each method, after the values' own checks, as
        # concentration_index does: a raised error is not cached)
        rank = functools.cache(lambda: _fractional_rank(*_as_arrays(ranking, weights, "ranking")))
        national(
            "concentration_index",
            lambda m: _concentration(*checked(m), rank()),
        )
    if "emissions_in_poorer_cities" in accounting:
        located = accounting["emissions_in_poorer_cities"].transpose("method", "city")
        # methods the accounting locates: in its method coordinate and not all NaN (a
        # dataset with every method on its coordinate holds NaN for the others)
        row = {m: i for i, m in enumerate(located["method"].values)}
        located_values = located.values
        if not located.indexes["city"].equals(cities.to_index()):
            located_values = located.sel(city=cities).values
        poorer = np.full(ev.shape, np.nan)
        for i, method in enumerate(methods):
            if method in row:
                poorer[i] = located_values[row[method]]
        with np.errstate(divide="ignore", invalid="ignore"):
            variables["poorer_city_emission_share"] = (
                by_city,
                poorer / np.where(ev > 0, ev, np.nan),
            )
        covered = [i for i in range(len(methods)) if not np.isnan(poorer[i]).all()]
        national_share = np.full(len(methods), np.nan)
        national_share[covered] = _per_method(
            "national_poorer_city_emission_share",
            [methods[i] for i in covered],
            lambda m: poorer_city_share(values(m, poorer), values(m, ev)),
        )
        variables["national_poorer_city_emission_share"] = (by_method, national_share)

    units = {
        "annual_ev_emissions": "t",
        "annual_gasoline_emissions": "t",
        "annual_reduction": "t",
        "reduction_per_capita": "t person-1",
        "reduction_per_vehicle": "t vehicle-1",
    }
    result = xr.Dataset(
        {
            name: (dims, data, {"units": units.get(name, "1")})
            for name, (dims, data) in variables.items()
        },
        # the accounting's indexes as they are (not built again from their values)
        coords={
            "method": hourly.get_index("method"),
            "city": hourly.get_index("city"),
            "population_share": shares,
        },
    )
    result["population_share"].attrs.update(
        units="1", long_name="cumulative population share, cities by per-capita reduction"
    )
    return result
