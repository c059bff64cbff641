"""Charging kernels against plain-numpy references and independent LP / QP solvers.

The ``reference_*`` functions are deliberately slow and obvious (dense cohort x hour matrices,
``np.lexsort``, bisection). ``benchmarks/bench_charging.py`` times them too.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog, minimize

from hourlysim import charging
from hourlysim._kernels import charging as kernels
from hourlysim.errors import InputError


# ---------------------------------------------------------------------------------------------
# plain-numpy references: return per-cohort schedules, shape (n_cohorts, T)
# ---------------------------------------------------------------------------------------------
def window_hours(earliest, latest, n_hours):
    return np.arange(earliest, latest) % n_hours


def fill_in_order(need, cap, hours, n_hours):
    row = np.zeros(n_hours)
    remaining = need
    for t in hours:
        if remaining <= 1e-12 * need:
            break
        row[t] = min(cap, remaining)
        remaining -= row[t]
    return row


def reference_uncontrolled(need, earliest, latest, cap, n_hours):
    return np.array(
        [
            fill_in_order(need[k], cap[k], window_hours(earliest[k], latest[k], n_hours), n_hours)
            for k in range(len(need))
        ]
    ).reshape(len(need), n_hours)


def reference_tou_delayed(need, earliest, latest, cap, hour_of_day, valley_start_hour=23):
    n_hours = len(hour_of_day)
    rows = []
    for k in range(len(need)):
        hours = window_hours(earliest[k], latest[k], n_hours)
        valley = np.flatnonzero(hour_of_day[hours] == valley_start_hour)
        if need[k] > 0 and valley.size:
            duration = int(np.ceil(need[k] / cap[k] * (1 - 1e-12)))
            first = min(valley[0], max(len(hours) - duration, 0))
            hours = hours[first:]
        rows.append(fill_in_order(need[k], cap[k], hours, n_hours))
    return np.array(rows).reshape(len(need), n_hours)


def reference_carbon_aware(need, earliest, latest, cap, signal):
    n_hours = len(signal)
    rows = []
    for k in range(len(need)):
        hours = window_hours(earliest[k], latest[k], n_hours)
        offsets = np.arange(len(hours))
        order = np.lexsort((offsets, signal[hours]))  # by signal, then earliest offset
        rows.append(fill_in_order(need[k], cap[k], hours[order], n_hours))
    return np.array(rows).reshape(len(need), n_hours)


def water_fill_bisection(others, need, cap):
    """argmin sum (others + x)^2 over 0 <= x <= cap, sum x = need, by bisection on the level."""
    if need <= 0:
        return np.zeros_like(others)
    lo, hi = others.min(), others.max() + cap + need
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if np.clip(mid - others, 0, cap).sum() < need:
            lo = mid
        else:
            hi = mid
    return np.clip(hi - others, 0, cap)


def reference_valley_filling(need, earliest, latest, cap, base, sweeps=150):
    """Plain Gauss-Seidel with bisection water-filling, a fixed (large) number of sweeps."""
    n_hours = len(base)
    x = np.zeros((len(need), n_hours))
    level = base.astype(float)
    for _ in range(sweeps):
        for k in range(len(need)):
            hours = window_hours(earliest[k], latest[k], n_hours)
            level = level - x[k]
            x[k] = 0.0
            x[k, hours] = water_fill_bisection(level[hours], need[k], cap[k])
            level = level + x[k]
    return x


# ---------------------------------------------------------------------------------------------
# random instances
# ---------------------------------------------------------------------------------------------
def random_cohorts(rng, n, n_hours, max_window=None, slack=(1.0, 4.0)):
    max_window = max_window or n_hours
    earliest = rng.integers(0, n_hours, n)
    length = rng.integers(1, max_window + 1, n)
    latest = earliest + length  # may run past n_hours: wraps
    need = rng.uniform(0.0, 10.0, n)
    need[rng.random(n) < 0.05] = 0.0
    cap = need / length * rng.uniform(*slack, n)
    tight = rng.random(n) < 0.1
    cap[tight] = need[tight] / length[tight]  # no freedom at all
    return need, earliest, latest, cap


def per_cohort(function, need, earliest, latest, cap, *args, **kwargs):
    n = len(need)
    return function(need, earliest, latest, cap, *args, group=np.arange(n), n_groups=n, **kwargs)


def valley_objective(base, load):
    return float(np.sum((base + load) ** 2))


# ---------------------------------------------------------------------------------------------
# kernels vs references
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(5))
def test_uncontrolled_matches_reference(seed):
    rng = np.random.default_rng(seed)
    n_hours = int(rng.integers(24, 100))
    cohorts = random_cohorts(rng, 80, n_hours)
    got = per_cohort(charging.uncontrolled, *cohorts, n_hours=n_hours)
    np.testing.assert_allclose(got, reference_uncontrolled(*cohorts, n_hours), rtol=0, atol=1e-12)
    total = charging.uncontrolled(*cohorts, n_hours=n_hours)
    np.testing.assert_allclose(total, got.sum(axis=0), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_tou_delayed_matches_reference(seed):
    rng = np.random.default_rng(seed)
    n_hours = 24 * int(rng.integers(2, 5))
    cohorts = random_cohorts(rng, 80, n_hours, max_window=30)
    hour_of_day = np.arange(n_hours) % 24
    valley = int(rng.integers(0, 24))
    got = per_cohort(charging.tou_delayed, *cohorts, hour_of_day, valley)
    want = reference_tou_delayed(*cohorts, hour_of_day, valley)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_carbon_aware_matches_reference_with_ties(seed):
    rng = np.random.default_rng(seed)
    n_hours = int(rng.integers(24, 100))
    cohorts = random_cohorts(rng, 80, n_hours)
    signal = rng.integers(0, 4, n_hours).astype(float)  # many ties
    got = per_cohort(charging.carbon_aware, *cohorts, signal)
    want = reference_carbon_aware(*cohorts, signal)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_long_windows_use_the_stable_sort():
    """Windows longer than the insertion-sort limit: mergesort path, ties still earliest."""
    rng = np.random.default_rng(7)
    n_hours = 200
    cohorts = random_cohorts(rng, 30, n_hours, slack=(1.0, 30.0))
    signal = rng.integers(0, 3, n_hours).astype(float)
    got = per_cohort(charging.carbon_aware, *cohorts, signal)
    np.testing.assert_allclose(got, reference_carbon_aware(*cohorts, signal), atol=1e-12)


def test_solar_aligned_is_carbon_aware_on_minus_cf():
    rng = np.random.default_rng(3)
    n_hours = 72
    cohorts = random_cohorts(rng, 50, n_hours)
    cf = np.clip(np.sin(np.pi * ((np.arange(n_hours) % 24) - 6) / 12), 0, None)
    got = per_cohort(charging.solar_aligned, *cohorts, cf)
    np.testing.assert_allclose(got, reference_carbon_aware(*cohorts, -cf), atol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_valley_filling_matches_reference(seed):
    rng = np.random.default_rng(seed)
    n_hours = 36
    cohorts = random_cohorts(rng, 15, n_hours, max_window=16)
    base = rng.uniform(0.0, 20.0, n_hours)
    got = charging.valley_filling(*cohorts, base, tol=1e-7)
    want = reference_valley_filling(*cohorts, base).sum(axis=0)
    assert valley_objective(base, got) == pytest.approx(valley_objective(base, want), rel=1e-9)
    np.testing.assert_allclose(got, want, atol=1e-4 * np.abs(want).max())


# ---------------------------------------------------------------------------------------------
# optimality against independent solvers
# ---------------------------------------------------------------------------------------------
def lp_optimum(need, earliest, latest, cap, signal):
    """min sum signal . x_k, window/cap/need constraints, solved by HiGHS."""
    n_hours = len(signal)
    columns = [
        (k, t) for k in range(len(need)) for t in window_hours(earliest[k], latest[k], n_hours)
    ]
    cost = np.array([signal[t] for _, t in columns])
    a_eq = np.zeros((len(need), len(columns)))
    for i, (k, _) in enumerate(columns):
        a_eq[k, i] = 1.0
    bounds = [(0.0, cap[k]) for k, _ in columns]
    result = linprog(cost, A_eq=a_eq, b_eq=need, bounds=bounds, method="highs")
    assert result.status == 0
    return result.fun


@pytest.mark.parametrize("seed", range(6))
def test_carbon_aware_reaches_lp_optimum(seed):
    rng = np.random.default_rng(100 + seed)
    n_hours = int(rng.integers(48, 97))
    n = int(rng.integers(30, 61))
    cohorts = random_cohorts(rng, n, n_hours, max_window=n_hours)
    signal = rng.integers(1, 6, n_hours).astype(float)  # integer-valued: ties
    load = charging.carbon_aware(*cohorts, signal)
    assert signal @ load == pytest.approx(lp_optimum(*cohorts, signal), rel=1e-9)


def qp_optimum(need, earliest, latest, cap, base):
    """min sum (base + L)^2 by SLSQP over the per-cohort window variables."""
    n_hours = len(base)
    columns = [
        (k, t) for k in range(len(need)) for t in window_hours(earliest[k], latest[k], n_hours)
    ]
    hours = np.array([t for _, t in columns])
    owner = np.array([k for k, _ in columns])
    spread = np.zeros((n_hours, len(columns)))
    spread[hours, np.arange(len(columns))] = 1.0

    def objective(z):
        level = base + spread @ z
        return level @ level, 2.0 * spread.T @ level

    constraints = [
        {
            "type": "eq",
            "fun": (lambda z, k=k: z[owner == k].sum() - need[k]),
            "jac": (lambda z, k=k: (owner == k).astype(float)),
        }
        for k in range(len(need))
    ]
    start = np.array([need[k] / (latest[k] - earliest[k]) for k, _ in columns])
    result = minimize(
        objective,
        start,
        jac=True,
        method="SLSQP",
        bounds=[(0.0, cap[k]) for k, _ in columns],
        constraints=constraints,
        options={"ftol": 1e-11, "maxiter": 2000},
    )
    assert result.success, result.message
    return result.fun


@pytest.mark.parametrize("seed", range(4))
def test_valley_filling_reaches_qp_optimum(seed):
    rng = np.random.default_rng(200 + seed)
    n_hours = 24
    cohorts = random_cohorts(rng, 8, n_hours, max_window=14)
    base = rng.uniform(0.0, 15.0, n_hours)
    load = charging.valley_filling(*cohorts, base, tol=1e-6)
    assert valley_objective(base, load) == pytest.approx(qp_optimum(*cohorts, base), rel=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_valley_filling_satisfies_kkt_water_levels(seed):
    """Per cohort: hours with 0 < x < cap share one level; idle hours sit at or above it,
    hours at cap at or below it."""
    rng = np.random.default_rng(300 + seed)
    n_hours = 96
    need, earliest, latest, cap = random_cohorts(rng, 60, n_hours, max_window=30)
    base = 10.0 * np.sin(np.arange(n_hours) / 5.0) + rng.uniform(0, 3, n_hours)
    x = per_cohort(charging.valley_filling, need, earliest, latest, cap, base, tol=1e-7)
    level = base + x.sum(axis=0)
    tolerance = 1e-5 * np.abs(level).max()
    for k in range(len(need)):
        hours = window_hours(earliest[k], latest[k], n_hours)
        xk = x[k, hours]
        interior = (xk > 1e-9 * cap[k]) & (xk < cap[k] * (1 - 1e-9))
        idle = xk <= 1e-9 * cap[k]
        full = ~interior & ~idle
        if interior.any():
            mu = level[hours][interior].mean()
            assert np.ptp(level[hours][interior]) <= tolerance
        elif idle.any() and full.any():
            mu = level[hours][full].max()
        else:
            continue
        assert np.all(level[hours][idle] >= mu - tolerance)
        assert np.all(level[hours][full] <= mu + tolerance)


def test_valley_filling_raises_when_not_converged():
    rng = np.random.default_rng(5)
    cohorts = random_cohorts(rng, 40, 48, max_window=20)
    base = rng.uniform(0, 20, 48)
    with pytest.raises(charging.ConvergenceError, match="did not converge"):
        charging.valley_filling(*cohorts, base, tol=1e-12, max_sweeps=3)


def test_valley_filling_accepts_a_stall_at_the_float64_floor():
    """A tiny EV load on a large base stalls with a gap of rounding noise (found by hypothesis:
    it raised ConvergenceError); it is accepted, and the schedule is the reference optimum."""
    rng = np.random.default_rng(72)
    cohorts = random_cohorts(rng, 1, 30)
    base = rng.uniform(0, 30, 30)
    load = per_cohort(charging.valley_filling, *cohorts, base, tol=1e-5)
    reference = reference_valley_filling(*cohorts, base)
    assert load.sum(axis=0) == pytest.approx(reference.sum(axis=0), abs=1e-9)
    assert load.sum() == pytest.approx(cohorts[0].sum(), rel=1e-12)


# ---------------------------------------------------------------------------------------------
# invariants (hypothesis)
# ---------------------------------------------------------------------------------------------
@st.composite
def instances(draw):
    n_hours = draw(st.integers(24, 72))
    n = draw(st.integers(1, 25))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    return n_hours, random_cohorts(rng, n, n_hours), rng


STRATEGY_CALLS = {
    "uncontrolled": lambda c, n_hours, rng: per_cohort(charging.uncontrolled, *c, n_hours=n_hours),
    "tou_delayed": lambda c, n_hours, rng: per_cohort(
        charging.tou_delayed, *c, np.arange(n_hours) % 24, 23
    ),
    "carbon_aware": lambda c, n_hours, rng: per_cohort(
        charging.carbon_aware, *c, rng.integers(0, 5, n_hours).astype(float)
    ),
    "solar_aligned": lambda c, n_hours, rng: per_cohort(
        charging.solar_aligned, *c, rng.uniform(0, 1, n_hours)
    ),
    "valley_filling": lambda c, n_hours, rng: per_cohort(
        charging.valley_filling, *c, rng.uniform(0, 30, n_hours), tol=1e-5
    ),
}


@pytest.mark.parametrize("strategy", list(STRATEGY_CALLS))
@settings(max_examples=40, deadline=None)
@given(instance=instances())
def test_schedules_conserve_energy_and_respect_caps_and_windows(strategy, instance):
    n_hours, cohorts, rng = instance
    need, earliest, latest, cap = cohorts
    x = STRATEGY_CALLS[strategy](cohorts, n_hours, rng)
    assert x.shape == (len(need), n_hours)
    np.testing.assert_allclose(x.sum(axis=1), need, rtol=1e-9, atol=1e-12)
    assert np.all(x >= 0.0)
    assert np.all(x <= cap[:, None] * (1 + 1e-9) + 1e-15)
    for k in range(len(need)):
        outside = np.ones(n_hours, bool)
        outside[window_hours(earliest[k], latest[k], n_hours)] = False
        assert np.all(x[k, outside] == 0.0)


@settings(max_examples=30, deadline=None)
@given(instance=instances(), n_groups=st.integers(1, 4))
def test_groups_add_up_to_the_total(instance, n_groups):
    n_hours, cohorts, rng = instance
    group = rng.integers(0, n_groups, len(cohorts[0]))
    signal = rng.uniform(0, 1, n_hours)
    grouped = charging.carbon_aware(*cohorts, signal, group=group, n_groups=n_groups)
    assert grouped.shape == (n_groups, n_hours)
    np.testing.assert_allclose(grouped.sum(axis=0), charging.carbon_aware(*cohorts, signal))


def test_wrap_around_past_the_last_hour():
    """A window running past T continues at hour 0 (the year is continuous)."""
    n_hours = 24
    need, earliest, latest, cap = [5.0], [22], [28], [2.0]
    load = charging.uncontrolled(need, earliest, latest, cap, n_hours=n_hours)
    want = np.zeros(n_hours)
    want[[22, 23, 0]] = [2.0, 2.0, 1.0]
    np.testing.assert_array_equal(load, want)
    # the cheapest hours are 1 and 3 (after the wrap); ties at hour 0 and 23 go to 23 (earlier)
    signal = np.full(n_hours, 5.0)
    signal[[1, 3]] = 1.0
    signal[[0, 23]] = 2.0
    load = charging.carbon_aware(need, earliest, latest, cap, signal)
    want = np.zeros(n_hours)
    want[[1, 3, 23]] = [2.0, 2.0, 1.0]
    np.testing.assert_array_equal(load, want)
    # valley start at hour 1 of the next day: delayed past the wrap
    load = charging.tou_delayed([2.0], [20], [28], [2.0], np.arange(n_hours) % 24, 1)
    want = np.zeros(n_hours)
    want[1] = 2.0
    np.testing.assert_array_equal(load, want)


def test_tou_delayed_starts_late_enough_to_finish():
    hour_of_day = np.arange(48) % 24
    # window 18..26, valley at 23 leaves 3 hours, 5 are needed: starts at 26 - 5 = 21
    load = charging.tou_delayed([9.0], [18], [26], [2.0], hour_of_day, 23)
    want = np.zeros(48)
    want[21:26] = [2.0, 2.0, 2.0, 2.0, 1.0]
    np.testing.assert_array_equal(load, want)


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("need", "earliest", "latest", "cap", "match"),
    [
        ([1.0, 7.0], [0, 3], [4, 5], [1.0, 3.0], r"cohort 1 .*need=7\.0.*cap=3\.0"),
        ([1.0, -1.0], [0, 0], [4, 4], [1.0, 1.0], "cohort 1"),
        ([1.0, 1.0], [0, 5], [4, 5], [1.0, 1.0], r"cohort 1 .*latest > earliest"),
        ([1.0], [0], [30], [1.0], "at most 24 hours"),
        ([1.0], [24], [26], [1.0], "0 <= earliest < 24"),
        ([1.0], [0], [4], [-1.0], "cohort 0"),
    ],
)
def test_invalid_cohorts_raise_input_error(need, earliest, latest, cap, match):
    with pytest.raises(InputError, match=match):
        charging.uncontrolled(need, earliest, latest, cap, n_hours=24)


def test_feasibility_tolerance_is_relative_1e12():
    charging.uncontrolled([4.0 * (1 + 1e-13)], [0], [4], [1.0], n_hours=24)
    with pytest.raises(InputError, match="cohort 0"):
        charging.uncontrolled([4.0 * (1 + 1e-10)], [0], [4], [1.0], n_hours=24)


@settings(max_examples=25, deadline=None)
@given(instance=instances(), excess=st.floats(1e-9, 10.0))
def test_infeasible_cohort_is_named(instance, excess):
    n_hours, (need, earliest, latest, cap), rng = instance
    k = int(rng.integers(0, len(need)))
    need = need.copy()
    need[k] = cap[k] * (latest[k] - earliest[k]) * (1 + excess) + excess
    for k_before in range(k):  # the first infeasible cohort is named
        assert need[k_before] <= cap[k_before] * (latest[k_before] - earliest[k_before]) * (
            1 + 1e-12
        )
    with pytest.raises(InputError, match=rf"cohort {k} "):
        charging.carbon_aware(need, earliest, latest, cap, np.zeros(n_hours))


# ---------------------------------------------------------------------------------------------
# shortcuts of the kernels: warm-started sorts, sliding windows, water-level checks
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 7, 10, 32, 33, 50])
def test_sort_from_any_start_gives_the_stable_order(n):
    """The warm-started sort ends in the stable (key, offset) order whatever it starts from."""
    rng = np.random.default_rng(n)
    for _ in range(20):
        key = rng.integers(0, 4, n).astype(float)  # many ties
        order = rng.permutation(n).astype(np.int64)
        kernels._sort_offsets(key, n, order)
        np.testing.assert_array_equal(order, np.lexsort((np.arange(n), key)))


@pytest.mark.parametrize("length", [1, 3, 10, 40])
def test_carbon_aware_slides_along_consecutive_windows(length):
    """Cohorts arriving every hour (the layout of charging_load), wrapping past the last hour,
    with runs broken by a gap and by a change of window length; ties in the signal."""
    rng = np.random.default_rng(length)
    n_hours = 96
    earliest = np.concatenate([np.arange(0, 40), np.arange(45, 96), np.arange(0, 20)])
    window = np.full(earliest.shape[0], length)
    window[60:70] = length + 2
    need = rng.uniform(0.0, 10.0, earliest.shape[0])
    need[rng.random(earliest.shape[0]) < 0.1] = 0.0
    cap = need / window * rng.uniform(1.0, 4.0, earliest.shape[0])
    cohorts = (need, earliest, earliest + window, cap)
    signal = rng.integers(0, 3, n_hours).astype(float)
    got = per_cohort(charging.carbon_aware, *cohorts, signal)
    np.testing.assert_allclose(got, reference_carbon_aware(*cohorts, signal), atol=1e-12)


def test_common_level_accepts_a_water_filling_at_a_shifted_level_only():
    rng = np.random.default_rng(11)
    n, need, cap = 8, 9.0, 2.5
    for _ in range(20):
        others = rng.uniform(0.0, 10.0, n)
        x = np.empty(n)
        nu = kernels._water_fill(others, need, cap, n, np.arange(n), x)
        level = others + x
        assert kernels._common_level(level, x, cap, n, 1e-12) == pytest.approx(nu, abs=1e-12)
        interior = (x > 0) & (x < cap)
        if not interior.any():
            continue
        shifted = level + np.where(interior, 0.5, 0.0)  # all partly charged hours move alike
        if np.all(shifted[x == 0] >= nu + 0.5) and np.all(shifted[x == cap] <= nu + 0.5):
            assert kernels._common_level(shifted, x, cap, n, 1e-12) == pytest.approx(nu + 0.5)
        broken = level.copy()
        broken[np.flatnonzero(interior)[0]] += 1e-6  # one partly charged hour moves alone
        if interior.sum() > 1:
            assert np.isnan(kernels._common_level(broken, x, cap, n, 1e-12))
        idle = np.flatnonzero(x == 0)
        if idle.size:
            low = level.copy()
            low[idle[0]] = nu - 1e-6  # an idle hour below the water level
            assert np.isnan(kernels._common_level(low, x, cap, n, 1e-12))


@pytest.mark.parametrize("seed", range(2))
def test_valley_filling_on_consecutive_cohorts_with_a_flat_base(seed):
    """Overlapping cohorts arriving every hour over a base with plateaus: the water levels of
    many cohorts coincide, the case the shortcuts of the sweeps are built for. Checked by the
    KKT conditions (per cohort: one level where 0 < x < cap, idle hours at or above it, hours
    at cap at or below it) and by the objective of the plain reference on the first day."""
    rng = np.random.default_rng(400 + seed)
    n_hours = 96
    earliest = np.concatenate([np.arange(n_hours), np.arange(n_hours)])
    window = np.concatenate([np.full(n_hours, 8), np.full(n_hours, 3)])
    need = rng.uniform(0.0, 5.0, 2 * n_hours)
    cap = need / window * rng.uniform(1.2, 3.0, 2 * n_hours)
    base = np.repeat(rng.uniform(0.0, 20.0, n_hours // 6), 6)
    x = per_cohort(charging.valley_filling, need, earliest, earliest + window, cap, base, tol=1e-7)
    level = base + x.sum(axis=0)
    tolerance = 1e-5 * np.abs(level).max()
    for k in range(len(need)):
        hours = window_hours(earliest[k], earliest[k] + window[k], n_hours)
        xk, lk = x[k, hours], level[hours]
        interior = (xk > 1e-9 * cap[k]) & (xk < cap[k] * (1 - 1e-9))
        idle = xk <= 1e-9 * cap[k]
        full = ~interior & ~idle
        if interior.any():
            assert np.ptp(lk[interior]) <= tolerance
            mu = lk[interior].mean()
        elif idle.any() and full.any():
            mu = lk[full].max()
        else:
            continue
        assert np.all(lk[idle] >= mu - tolerance)
        assert np.all(lk[full] <= mu + tolerance)
    short = (earliest < 24) & (earliest + window <= 24)  # a day on its own
    cohorts = (need[short], earliest[short], earliest[short] + window[short], cap[short])
    got = charging.valley_filling(*cohorts, base[:24], tol=1e-7)
    want = reference_valley_filling(*cohorts, base[:24], sweeps=60).sum(axis=0)
    assert valley_objective(base[:24], got) == pytest.approx(
        valley_objective(base[:24], want), rel=1e-9
    )


def test_mark_hour_marks_only_cohorts_whose_water_level_conditions_break():
    """Cohort 1 (window hours 2..5, water level 10): idle at hour 2, charging at cap at hour 3,
    in between at hour 4; cohort 0 (hours 0..3) moved. Hour 6 lies outside cohort 1's window."""
    n_hours = 8
    earliest = np.array([0, 2], np.int64)
    length = np.array([4, 4], np.int64)
    cap = np.array([1.0, 2.0])
    ptr = np.array([0, 4, 8], np.int64)
    x = np.zeros(8)
    x[4:8] = [0.0, 2.0, 0.5, 0.0]
    cohorts = np.arange(2, dtype=np.int64)
    first = np.array([0, 1, 1, 2, 2, 2, 2, 2, 2], np.int64)  # cohort 0 starts at 0, 1 at 2
    members = np.arange(2, dtype=np.int64)
    water = np.array([0.0, 10.0])

    def marked(t, level_t):
        level = np.full(n_hours, 10.0)
        level[t] = level_t
        dirty = np.zeros(2, np.bool_)
        kernels._mark_hour(
            t, 0, level, x, earliest, length, cap, ptr, cohorts, first, members, 4, water, dirty
        )
        assert not dirty[0]  # the cohort that moved is not marked by its own change
        return bool(dirty[1])

    assert not marked(2, 11.0) and marked(2, 9.0)  # idle: must stay at or above the level
    assert not marked(3, 9.0) and marked(3, 11.0)  # at cap: must stay at or below it
    assert not marked(4, 10.0) and marked(4, 10.5) and marked(4, 9.5)  # in between: on it
    assert not marked(6, 0.0)  # outside the window


# ---------------------------------------------------------------------------------------------
# split of merged schedules among cities
# ---------------------------------------------------------------------------------------------
def reference_split(need, x, earliest, length, ptr, block, block_total, weights, rows, out):
    """Each member's share of every cohort's schedule, hour by hour (plain numpy)."""
    n_hours = out.shape[1]
    for k in range(earliest.shape[0]):
        b = block[k]
        if need[k] <= 0.0 or block_total[b] <= 0.0:
            continue
        hours = (earliest[k] + np.arange(length[k])) % n_hours
        for r in range(weights.shape[0]):
            np.add.at(out[rows[r]], hours, weights[r, b] / block_total[b] * x[ptr[k] : ptr[k + 1]])
    return out


@pytest.mark.parametrize("repeated_rows", [False, True])
@pytest.mark.parametrize("n_members", [1, 4, 9])
def test_split_by_share_matches_reference(n_members, repeated_rows):
    """Members scattered four at a time and one by one, blocks wrapping past the year's end,
    zero shares and empty cohorts: the same loads as the hour-by-hour reference."""
    rng = np.random.default_rng(n_members + 10 * repeated_rows)
    n_hours, n_days, n_modes = 96, 4, 2
    span = 30
    block_start = np.repeat(np.arange(n_days) * 24, n_modes).astype(np.int64)
    n_blocks = block_start.size
    block = rng.integers(0, n_blocks, 40).astype(np.int64)
    offset = rng.integers(0, span - 6, block.size)
    length = rng.integers(1, 7, block.size).astype(np.int64)
    earliest = ((block_start[block] + offset) % n_hours).astype(np.int64)  # day 3 wraps
    ptr = np.concatenate([[0], np.cumsum(length)]).astype(np.int64)
    x = rng.uniform(0, 2, ptr[-1])
    need = rng.uniform(0.5, 1.0, block.size) * (rng.random(block.size) < 0.9)
    weights = rng.uniform(0, 1, (n_members, n_blocks)) * (rng.random((n_members, n_blocks)) < 0.8)
    block_total = weights.sum(axis=0)
    if repeated_rows:
        rows = rng.integers(0, n_members, n_members).astype(np.int64)
    else:
        rows = rng.permutation(n_members + 2)[:n_members].astype(np.int64)
    start = rng.uniform(0, 1, (n_members + 2, n_hours))
    arguments = (need, x, earliest, length, ptr, block)
    ours = start.copy()
    kernels.split_by_share(
        *arguments, block_start, block_total, weights, rows, np.int64(span), ours
    )
    expected = reference_split(*arguments, block_total, weights, rows, start.copy())
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-12)
