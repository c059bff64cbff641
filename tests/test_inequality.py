from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hourlysim.inequality import (
    LORENZ_POINTS,
    city_indicators,
    concentration_index,
    gini,
    lorenz_curve,
    poorer_city_share,
    theil,
    theil_decomposition,
)
from hourlysim.variables import annotate

positive = st.floats(0.01, 100.0, allow_nan=False, allow_infinity=False)
counts = st.integers(1, 5)


def test_gini_hand_cases():
    assert gini(np.array([1.0, 1.0, 1.0])) == pytest.approx(0.0)
    # two people, one has everything: G = 1/2
    assert gini(np.array([0.0, 1.0])) == pytest.approx(0.5)
    # |1 - 3| * 2 pairs / (2 * 2^2 * mean 2) = 1/4
    assert gini(np.array([1.0, 3.0])) == pytest.approx(0.25)
    # weights act like repeated units
    assert gini(np.array([0.0, 1.0]), np.array([3.0, 1.0])) == pytest.approx(
        gini(np.array([0.0, 0.0, 0.0, 1.0]))
    )


def test_gini_matches_pairwise_definition():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 5, 40)
    w = rng.uniform(0.5, 3, 40)
    pairwise = (w[:, None] * w[None, :] * np.abs(x[:, None] - x[None, :])).sum()
    expected = pairwise / (2 * w.sum() ** 2 * (w * x).sum() / w.sum())
    assert gini(x, w) == pytest.approx(expected)


def test_gini_refuses_undefined_and_bad_input():
    with pytest.raises(ValueError, match="mean <= 0"):
        gini(np.array([-1.0, 1.0]))
    with pytest.raises(ValueError, match="mean <= 0"):
        gini(np.array([-3.0, 1.0]))
    with pytest.raises(ValueError, match="weights"):
        gini(np.array([1.0, 2.0]), np.array([1.0]))
    with pytest.raises(ValueError, match="non-finite"):
        gini(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="weights"):
        gini(np.array([1.0, 2.0]), np.array([1.0, -1.0]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(-5.0, 50.0, allow_nan=False), counts), min_size=1, max_size=12))
def test_weighted_indices_equal_expanded_vector(pairs):
    """Integer population weights act exactly like repeating each unit."""
    x = np.array([p[0] for p in pairs])
    w = np.array([p[1] for p in pairs], dtype=float)
    expanded = np.repeat(x, w.astype(int))
    if expanded.mean() <= 1e-6:
        return
    assert gini(x, w) == pytest.approx(gini(expanded), rel=1e-9, abs=1e-12)
    if x.min() >= 0:
        assert theil(x, w) == pytest.approx(theil(expanded), rel=1e-9, abs=1e-12)
    ranking = np.arange(x.size)[::-1].astype(float)
    assert concentration_index(x, ranking, w) == pytest.approx(
        concentration_index(expanded, np.repeat(ranking, w.astype(int))), rel=1e-9, abs=1e-12
    )


def test_theil_hand_cases():
    assert theil(np.array([2.0, 2.0, 2.0])) == pytest.approx(0.0, abs=1e-15)
    # x = (1, 3): mean 2, shares 1/4 and 3/4
    expected = 0.25 * math.log(1 / 2) + 0.75 * math.log(3 / 2)
    assert theil(np.array([1.0, 3.0])) == pytest.approx(expected)
    # one of n units holds everything: T = ln n (zeros contribute 0)
    assert theil(np.array([0.0, 0.0, 0.0, 5.0])) == pytest.approx(math.log(4))
    # weights: (1, 3) with populations (1, 2): mean 7/3, shares 1/7 and 6/7
    expected = (1 / 7) * math.log(3 / 7) + (6 / 7) * math.log(9 / 7)
    assert theil(np.array([1.0, 3.0]), np.array([1.0, 2.0])) == pytest.approx(expected)


def test_theil_refuses_negative_values_without_shifting():
    with pytest.raises(ValueError, match="1 value\\(s\\) are negative"):
        theil(np.array([-0.5, 2.0, 3.0]))
    with pytest.raises(ValueError, match="negative"):
        theil_decomposition(np.array([-0.5, 2.0]), np.array(["a", "b"]))
    with pytest.raises(ValueError, match="mean <= 0"):
        theil(np.zeros(3))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0.0, 100.0), positive, st.sampled_from("abcd")),
        min_size=1,
        max_size=15,
    )
)
@example(rows=[(3.0, 2.0, "a"), (5e-324, 1.0, "b")])  # a group share that underflows to 0
@example(rows=[(100.0, 1.0, "a"), (5e-324, 1.0, "a")])  # a share inside a group underflows
def test_theil_decomposition_adds_up(rows):
    x = np.array([r[0] for r in rows])
    w = np.array([r[1] for r in rows])
    groups = np.array([r[2] for r in rows])
    if (w * x).sum() <= 1e-9:
        return
    total, between, within = theil_decomposition(x, groups, w)
    assert total == pytest.approx(theil(x, w), rel=1e-12, abs=1e-12)
    assert between + within == pytest.approx(total, rel=1e-9, abs=1e-12)
    # between part = Theil index of the group means, weighted by group population
    labels = np.unique(groups)
    means = np.array([(w * x)[groups == g].sum() / w[groups == g].sum() for g in labels])
    populations = np.array([w[groups == g].sum() for g in labels])
    assert between == pytest.approx(theil(means, populations), rel=1e-9, abs=1e-12)
    assert within >= -1e-12


def test_theil_decomposition_limits():
    x = np.array([1.0, 1.0, 4.0, 4.0])
    # groups constant inside: everything is between
    total, between, within = theil_decomposition(x, np.array([0, 0, 1, 1]))
    assert within == pytest.approx(0.0, abs=1e-15)
    assert between == pytest.approx(total)
    # one group: everything is within
    total, between, within = theil_decomposition(x, np.array(["all"] * 4))
    assert between == pytest.approx(0.0, abs=1e-15)
    assert within == pytest.approx(total)


def test_lorenz_hand_case_and_interpolation():
    people, amount = lorenz_curve(np.array([3.0, 1.0]))
    np.testing.assert_allclose(people, [0.0, 0.5, 1.0])
    np.testing.assert_allclose(amount, [0.0, 0.25, 1.0])
    at, share = lorenz_curve(np.array([3.0, 1.0]), population_share=np.array([0.25, 0.75]))
    np.testing.assert_allclose(at, [0.25, 0.75])
    np.testing.assert_allclose(share, [0.125, 0.625])
    with pytest.raises(ValueError, match="\\[0, 1\\]"):
        lorenz_curve(np.array([1.0]), population_share=np.array([1.5]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 100.0), positive), min_size=1, max_size=15))
def test_lorenz_endpoints_monotone_and_gini_area(rows):
    x = np.array([r[0] for r in rows])
    w = np.array([r[1] for r in rows])
    if (w * x).sum() <= 1e-9:
        return
    people, amount = lorenz_curve(x, w)
    assert (people[0], amount[0]) == (0.0, 0.0)
    assert (people[-1], amount[-1]) == (1.0, 1.0)
    assert np.all(np.diff(people) >= 0)
    assert np.all(np.diff(amount) >= -1e-12)
    assert np.all(amount <= people + 1e-12)  # below the line of equality
    # Gini = 1 - 2 x (area under the Lorenz curve), trapezoids exact on a polyline
    area = np.sum(np.diff(people) * (amount[1:] + amount[:-1]) / 2)
    assert gini(x, w) == pytest.approx(1 - 2 * area, abs=1e-9)


def test_lorenz_with_negative_values_dips_below_zero():
    people, amount = lorenz_curve(np.array([-1.0, 2.0, 3.0]))
    assert amount.min() < 0
    assert (amount[0], amount[-1]) == (0.0, 1.0)
    area = np.sum(np.diff(people) * (amount[1:] + amount[:-1]) / 2)
    assert gini(np.array([-1.0, 2.0, 3.0])) == pytest.approx(1 - 2 * area)
    with pytest.raises(ValueError, match="mean <= 0"):
        lorenz_curve(np.array([-3.0, 2.0]))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-5.0, 100.0), positive), min_size=1, max_size=15),
    st.floats(0.1, 10.0),
)
def test_concentration_index_identities(rows, scale):
    x = np.array([r[0] for r in rows])
    w = np.array([r[1] for r in rows])
    if (w * x).sum() / w.sum() <= 1e-6:
        return
    # ranked as the quantity itself (any increasing transform): the Gini; reversed: -Gini
    assert concentration_index(x, scale * x + 7.0, w) == pytest.approx(gini(x, w), abs=1e-9)
    assert concentration_index(x, -x, w) == pytest.approx(-gini(x, w), abs=1e-9)
    # one rank for everybody: no concentration
    assert concentration_index(x, np.ones_like(x), w) == pytest.approx(0.0, abs=1e-12)


def test_concentration_index_hand_case():
    # x = (1, 3) held by the richer and the poorer unit: -Gini = -1/4
    assert concentration_index(np.array([1.0, 3.0]), np.array([10.0, 5.0])) == pytest.approx(-0.25)
    # three units, x = (2, 1, 3), poorest to richest by ranking (5, 1, 9): ranks 1/2, 1/6, 5/6
    x = np.array([2.0, 1.0, 3.0])
    rank = np.array([0.5, 1 / 6, 5 / 6])
    covariance = np.mean((x - 2.0) * (rank - 0.5))
    assert concentration_index(x, np.array([5.0, 1.0, 9.0])) == pytest.approx(2 * covariance / 2)


def test_poorer_city_share():
    assert poorer_city_share(np.array([1.0, 0.0, 2.0]), np.array([2.0, 4.0, 6.0])) == (
        pytest.approx(0.25)
    )
    with pytest.raises(ValueError, match="<= 0"):
        poorer_city_share(np.zeros(2), np.zeros(2))


def _accounting(with_poorer: bool = True) -> tuple[xr.Dataset, dict]:
    """Six cities in three provinces and two regions; marginal reductions negative in one."""
    rng = np.random.default_rng(3)
    cities = np.arange(6) + 100
    time = pd.date_range("2021-01-01", periods=48, freq="h")
    methods = ["average", "consumption", "marginal"]
    gasoline = rng.uniform(1.0, 2.0, (6, 48))
    ev = rng.uniform(0.2, 0.8, (3, 6, 48))
    ev[2, 0] = gasoline[0] * 1.3  # an EV emitting more than the gasoline car
    data = xr.Dataset(
        {
            "ev_emissions": (("method", "city", "time"), ev),
            "gasoline_emissions": (("city", "time"), gasoline),
        },
        coords={"method": methods, "city": cities, "time": time},
    )
    if with_poorer:
        poorer = ev.sum(-1)[:2] * rng.uniform(0, 1, (2, 6))
        data["emissions_in_poorer_cities"] = xr.DataArray(
            poorer, dims=("method", "city"), coords={"method": ["consumption", "average"]}
        )
    city = {"city": cities}
    extra = {
        "fleet": xr.DataArray([10.0, 20.0, 0.0, 5.0, 8.0, 12.0], dims="city", coords=city),
        "population": xr.DataArray(
            [100.0, 300.0, 50.0, 80.0, 120.0, 90.0], dims="city", coords=city
        ),
        "gdp_per_capita": xr.DataArray([5.0, 9.0, 3.0, 7.0, 7.0, 1.0], dims="city", coords=city),
        "province": xr.DataArray(list("AABBBC"), dims="city", coords=city),
        "grid_region": xr.DataArray(["n", "n", "s", "s", "s", "s"], dims="city", coords=city),
    }
    return data, extra


def test_city_indicators_national_summaries(caplog):
    accounting, extra = _accounting()
    with caplog.at_level(logging.INFO, logger="hourlysim.inequality"):
        result = city_indicators(accounting, **extra)
    pop = extra["population"].values
    ev = accounting["ev_emissions"].values.sum(-1)
    reduction = accounting["gasoline_emissions"].values.sum(-1) - ev
    per_capita = reduction / pop
    for i, method in enumerate(result["method"].values):
        row = result.sel({"method": method})
        assert float(row["gini"]) == pytest.approx(gini(per_capita[i], pop))
        assert float(row["concentration_index"]) == pytest.approx(
            concentration_index(per_capita[i], extra["gdp_per_capita"].values, pop)
        )
        lorenz = row["lorenz"].values
        assert lorenz.shape == (LORENZ_POINTS,)
        assert (lorenz[0], lorenz[-1]) == (0.0, 1.0)
    # Theil: defined where every reduction is >= 0, NaN (with a warning) for marginal
    assert np.isnan(float(result["theil"].sel({"method": "marginal"})))
    assert "theil undefined for method marginal" in caplog.text
    average = result.sel({"method": "average"})
    assert float(average["theil"]) == pytest.approx(theil(per_capita[0], pop))
    for suffix in ("province", "grid_region"):
        parts = float(average[f"theil_between_{suffix}"] + average[f"theil_within_{suffix}"])
        assert parts == pytest.approx(float(average["theil"]))
    # share of EV emissions in poorer cities, only for the methods the accounting covers
    poorer = accounting["emissions_in_poorer_cities"]
    for method in ("average", "consumption"):
        expected = (
            float(poorer.sel({"method": method}).sum())
            / ev[list(result["method"].values).index(method)].sum()
        )
        assert float(
            result["national_poorer_city_emission_share"].sel({"method": method})
        ) == pytest.approx(expected)
    assert np.isnan(
        float(result["national_poorer_city_emission_share"].sel({"method": "marginal"}))
    )
    share = result["poorer_city_emission_share"].sel({"method": "consumption"}).values
    np.testing.assert_allclose(share, poorer.sel({"method": "consumption"}).values / ev[1])
    # a city without EVs: reduction per vehicle 0; every variable declared with its units
    assert float(result["reduction_per_vehicle"].sel({"method": "average", "city": 102})) == 0.0
    annotated = annotate(result)
    assert annotated["lorenz"].attrs["units"] == "1"
    assert annotated["lorenz"].dims == ("method", "population_share")


def test_city_indicators_without_optional_inputs():
    accounting, extra = _accounting(with_poorer=False)
    result = city_indicators(accounting, extra["fleet"], extra["population"])
    assert "gini" in result and "theil" in result and "lorenz" in result
    for name in ("theil_between_province", "concentration_index", "poorer_city_emission_share"):
        assert name not in result
    annotate(result)


def test_city_indicators_use_the_accountings_annual_sums():
    """Given the accounting's annual sums (aligned by label when assigned, whatever their
    order), the indicators equal those from summing the hours."""
    accounting, extra = _accounting()
    summed = city_indicators(accounting, **extra)
    annual = accounting["ev_emissions"].sum("time")
    given = city_indicators(accounting.assign(annual_ev_emissions=annual), **extra)
    xr.testing.assert_allclose(given, summed, rtol=1e-12)
    shuffled = annual.isel(city=np.arange(annual.sizes["city"])[::-1])
    reordered = city_indicators(accounting.assign(annual_ev_emissions=shuffled), **extra)
    xr.testing.assert_allclose(reordered, summed, rtol=1e-12)
    # the sums given are the ones used (not re-summed from the hours)
    doubled = city_indicators(accounting.assign(annual_ev_emissions=2 * annual), **extra)
    np.testing.assert_allclose(
        doubled["annual_ev_emissions"].values, 2 * summed["annual_ev_emissions"].values
    )
    # the same for the gasoline counterfactual's annual sums
    gasoline = accounting["gasoline_emissions"].sum("time")
    given = city_indicators(accounting.assign(annual_gasoline_emissions=gasoline), **extra)
    xr.testing.assert_allclose(given, summed, rtol=1e-12)
    doubled = city_indicators(accounting.assign(annual_gasoline_emissions=2 * gasoline), **extra)
    np.testing.assert_allclose(
        doubled["annual_gasoline_emissions"].values, 2 * summed["annual_gasoline_emissions"].values
    )


def _or_nan(compute, undefined=np.nan):
    """``compute()``, or ``undefined`` (NaN) where it raises (as city_indicators reports it)."""
    try:
        return compute()
    except ValueError:
        return undefined


def test_city_indicators_rank_and_group_once_as_the_public_functions_do(caplog):
    """The GDP ranks and the province and region groups are worked out once per call for
    every method, with the values of concentration_index and theil_decomposition, value for
    value; an unusable ranking makes the index NaN (logged) for every method, nothing else."""
    accounting, extra = _accounting()
    result = city_indicators(accounting, **extra)
    population = extra["population"].values
    per_capita = result["reduction_per_capita"].transpose("method", "city").values
    for i in range(len(result["method"])):
        expected = _or_nan(
            lambda i=i: concentration_index(
                per_capita[i], extra["gdp_per_capita"].values, population
            )
        )
        np.testing.assert_array_equal(result["concentration_index"].values[i], expected)
        for suffix in ("province", "grid_region"):

            def parts(i=i, suffix=suffix):
                return theil_decomposition(per_capita[i], extra[suffix].values, population)

            _, between, within = _or_nan(parts, (np.nan,) * 3)
            np.testing.assert_array_equal(result[f"theil_between_{suffix}"].values[i], between)
            np.testing.assert_array_equal(result[f"theil_within_{suffix}"].values[i], within)
    assert np.isfinite(result["concentration_index"].values).any()
    gdp = extra["gdp_per_capita"].copy()
    gdp[2] = np.nan
    with caplog.at_level(logging.INFO, logger="hourlysim.inequality"):
        unusable = city_indicators(accounting, **{**extra, "gdp_per_capita": gdp})
    assert np.isnan(unusable["concentration_index"].values).all()
    for method in result["method"].values:
        assert (
            f"concentration_index undefined for method {method}: "
            "ranking holds 1 non-finite value(s)"
        ) in caplog.text
    others = [name for name in result.data_vars if name != "concentration_index"]
    xr.testing.assert_identical(unusable[others], result[others])


def test_city_indicators_check_each_methods_values_once_as_the_public_functions_do(caplog):
    """Each method's values are checked once for every index: the Gini, Theil and Lorenz
    values are the public functions', value for value; values that fail the check (a city
    without residents: an infinite reduction per capita) make every index NaN for every
    method, each logged with the check's reason."""
    accounting, extra = _accounting()
    result = city_indicators(accounting, **extra)
    population = extra["population"].values
    per_capita = result["reduction_per_capita"].transpose("method", "city").values
    shares = result["population_share"].values
    for i in range(len(result["method"])):
        for name, compute in (
            ("gini", lambda i=i: gini(per_capita[i], population)),
            ("theil", lambda i=i: theil(per_capita[i], population)),
        ):
            np.testing.assert_array_equal(result[name].values[i], _or_nan(compute))
        curve = _or_nan(
            lambda i=i: lorenz_curve(per_capita[i], population, shares)[1],
            np.full(shares.size, np.nan),
        )
        np.testing.assert_array_equal(result["lorenz"].values[i], curve)
    assert np.isfinite(result["gini"].values).any()
    empty = extra["population"].copy()
    empty[1] = 0.0
    with caplog.at_level(logging.INFO, logger="hourlysim.inequality"):
        unchecked = city_indicators(accounting, **{**extra, "population": empty})
    for name in ("gini", "theil", "lorenz", "concentration_index", "theil_between_province"):
        assert np.isnan(unchecked[name].values).all(), name
    for name in ("gini", "theil", "lorenz", "concentration_index"):
        for method in result["method"].values:
            assert (
                f"{name} undefined for method {method}: values holds 1 non-finite value(s)"
            ) in caplog.text
