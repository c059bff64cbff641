"""The xarray layer of stage 2: hourlysim.charging.charging_load on small synthetic cases."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import xarray as xr

from hourlysim import charging
from hourlysim.errors import InputError

N_HOURS = 8760
N_DAYS = 365
MODES = ["home", "work", "public_slow", "public_fast"]
EFFICIENCY = 0.9


def make_inputs(energy: np.ndarray | None = None, *, seed: int = 0, share=None, arrivals=None):
    """3 cities (two in AA, one in BB), 2 segments, 4 modes, 8,760 h."""
    rng = np.random.default_rng(seed)
    hours = np.arange(N_HOURS)
    hod = hours % 24
    if energy is None:
        shape = 0.2 + np.exp(-0.5 * ((hod - 8) / 2) ** 2) + np.exp(-0.5 * ((hod - 18) / 2) ** 2)
        energy = rng.uniform(0.5, 1.5, (2, 3, 1)) * shape[None, None, :]
    cities = ["110100", "120100", "130100"]
    h = np.arange(24)
    if arrivals is None:
        arrivals = np.array([np.exp(-0.5 * ((h - mu) / 2.5) ** 2) + 0.02 for mu in (19, 8, 13, 15)])
        arrivals /= arrivals.sum(axis=1, keepdims=True)
    if share is None:
        share = np.array([[0.6, 0.2, 0.1, 0.1], [0.1, 0.1, 0.3, 0.5]])
    prov = {"province": ["AA", "BB"], "time": hours}
    base = np.array([1000.0, 400.0])[:, None] * (1 + 0.3 * np.sin(2 * np.pi * (hod - 9) / 24))
    solar = np.clip(np.sin(np.pi * (hod - 6) / 12), 0, None)
    return {
        "battery_energy": xr.DataArray(
            energy,
            dims=("segment", "city", "time"),
            coords={"segment": ["private", "taxi"], "city": cities, "time": hours},
        ),
        "charging_modes": xr.Dataset(
            {
                "power_kw": ("mode", [7.0, 7.0, 11.0, 60.0]),
                "session_kwh": ("mode", [28.0, 21.0, 22.0, 30.0]),
                "dwell_hours": ("mode", [10.0, 9.0, 3.5, 1.0]),
            },
            coords={"mode": MODES},
        ),
        "charging_arrivals": xr.DataArray(
            arrivals, dims=("mode", "hour"), coords={"mode": MODES, "hour": h}
        ),
        "mode_share": xr.DataArray(
            share, dims=("segment", "mode"), coords={"segment": ["private", "taxi"], "mode": MODES}
        ),
        "city_province": xr.DataArray(["AA", "BB", "AA"], dims="city", coords={"city": cities}),
        "signal": xr.DataArray(
            np.stack([500 + 100 * np.cos(2 * np.pi * hod / 24), 700 - 300 * solar]),
            dims=("province", "time"),
            coords=prov,
        ),
        "base_load": xr.DataArray(base, dims=("province", "time"), coords=prov),
        "solar_cf": xr.DataArray(
            np.stack([solar, 0.7 * solar]), dims=("province", "time"), coords=prov
        ),
    }


def run(inputs, strategy, **kwargs):
    return charging.charging_load(
        inputs["battery_energy"],
        inputs["charging_modes"],
        inputs["charging_arrivals"],
        inputs["mode_share"],
        strategy=strategy,
        charging_efficiency=kwargs.pop("charging_efficiency", EFFICIENCY),
        city_province=inputs["city_province"],
        signal=kwargs.pop("signal", inputs["signal"]),
        base_load=kwargs.pop("base_load", inputs["base_load"]),
        solar_cf=kwargs.pop("solar_cf", inputs["solar_cf"]),
        **kwargs,
    )


@pytest.fixture(scope="module")
def even_day_inputs():
    """Driving on even days 2..364 only: each day's charging (< 48 h) cannot overlap another's,
    and day 364's spills over the year end into the empty day 0."""
    inputs = make_inputs()
    energy = inputs["battery_energy"].values.copy()
    day = np.arange(N_HOURS) // 24
    energy[..., (day % 2 == 1) | (day == 0)] = 0.0
    inputs["battery_energy"] = inputs["battery_energy"].copy(data=energy)
    return inputs


@pytest.mark.parametrize("strategy", charging.STRATEGIES)
def test_energy_charged_per_city_and_day_of_arrival(even_day_inputs, strategy):
    load = run(even_day_inputs, strategy).values
    daily = even_day_inputs["battery_energy"].values.sum(axis=0).reshape(3, N_DAYS, 24).sum(-1)
    for d in range(2, N_DAYS, 2):
        hours = np.arange(24 * d, 24 * d + 48) % N_HOURS
        np.testing.assert_allclose(load[:, hours].sum(axis=1), daily[:, d] / EFFICIENCY, rtol=1e-9)
    assert np.all(load >= 0)
    assert load[:, :24].sum() > 0  # day 364 wrapped into day 0


@pytest.mark.parametrize("strategy", charging.STRATEGIES)
def test_output_dims_and_attributes(strategy):
    inputs = make_inputs()
    load = run(inputs, strategy)
    assert load.name == "charging_load"
    assert load.dims == ("city", "time")
    assert load.shape == (3, N_HOURS)
    assert load.attrs["units"] == "MWh"
    assert "long_name" in load.attrs
    np.testing.assert_array_equal(load["city"], inputs["battery_energy"]["city"])
    total = inputs["battery_energy"].sum(("segment", "time")).values / EFFICIENCY
    np.testing.assert_allclose(load.sum("time").values, total, rtol=1e-9)


def single_cohort_inputs():
    """One city in use, energy on day 5 only, all of it home charging arriving at 18:00."""
    energy = np.zeros((2, 3, N_HOURS))
    energy[0, 0, 24 * 5 + 8] = 3.0
    energy[0, 0, 24 * 5 + 17] = 6.0  # 9 MWh on day 5
    share = np.array([[1.0, 0, 0, 0], [1.0, 0, 0, 0]])
    arrivals = np.full((4, 24), 1 / 24)
    arrivals[0] = 0.0
    arrivals[0, 18] = 1.0
    return make_inputs(energy, share=share, arrivals=arrivals)


def test_uncontrolled_single_cohort_by_hand():
    # need 9 / 0.9 = 10 MWh; cap = 10 * 7 kW / 28 kWh = 2.5 MW: 4 hours from 18:00 on day 5
    load = run(single_cohort_inputs(), "uncontrolled").values
    want = np.zeros((3, N_HOURS))
    want[0, 24 * 5 + 18 : 24 * 5 + 22] = 2.5
    np.testing.assert_allclose(load, want, rtol=1e-12, atol=1e-12)


def test_tou_delayed_starts_at_valley_hour():
    load = run(single_cohort_inputs(), "tou_delayed").values
    want = np.zeros((3, N_HOURS))
    want[0, 24 * 5 + 23 : 24 * 5 + 27] = 2.5  # 23:00, 00:00, 01:00, 02:00
    np.testing.assert_allclose(load, want, rtol=1e-12, atol=1e-12)
    # another valley start: 21:00
    load = run(single_cohort_inputs(), "tou_delayed", valley_start_hour=21).values
    assert np.argmax(load[0] > 0) == 24 * 5 + 21


def test_tou_delayed_moves_home_charging_after_23():
    inputs = make_inputs()
    base = run(inputs, "uncontrolled")
    tou = run(inputs, "tou_delayed")
    hod = np.arange(N_HOURS) % 24
    evening = (hod >= 18) & (hod < 23)
    assert tou.values[:, evening].sum() < 0.5 * base.values[:, evening].sum()
    assert tou.values[:, hod == 23].sum() > base.values[:, hod == 23].sum()


def test_solar_aligned_puts_work_charging_in_daylight():
    inputs = make_inputs(share=np.array([[0, 1.0, 0, 0], [0, 1.0, 0, 0]]))
    daylight = inputs["solar_cf"].values[0] > 0
    aa = [0, 2]  # cities in province AA
    uncontrolled = run(inputs, "uncontrolled").values[aa]
    solar = run(inputs, "solar_aligned").values[aa]
    assert (
        solar[:, daylight].sum() / solar.sum()
        > uncontrolled[:, daylight].sum() / uncontrolled.sum()
    )
    # sunniest hours first: the solar-weighted energy is larger
    cf = inputs["solar_cf"].values[0]
    assert (solar @ cf).sum() > (uncontrolled @ cf).sum()


def test_carbon_aware_lowers_emissions():
    inputs = make_inputs()
    province_of = inputs["city_province"].values
    signal = inputs["signal"].sel(province=list(province_of)).values  # (city, time)
    for strategy in ("uncontrolled", "tou_delayed"):
        other = (run(inputs, strategy).values * signal).sum()
        assert (run(inputs, "carbon_aware").values * signal).sum() < other


def test_valley_filling_is_flatter_than_uncontrolled():
    inputs = make_inputs()
    province_of = inputs["city_province"].values
    flat = run(inputs, "valley_filling").values
    plain = run(inputs, "uncontrolled").values
    for p in ("AA", "BB"):
        base = inputs["base_load"].sel(province=p).values
        rows = province_of == p
        assert np.var(base + flat[rows].sum(0)) < np.var(base + plain[rows].sum(0))


def explicit_cohorts(inputs, cities):
    """Unmerged cohorts (city, day, mode, arrival hour) built directly from the definitions."""
    energy = inputs["battery_energy"].values
    share = inputs["mode_share"].values
    arrivals = inputs["charging_arrivals"].values
    modes = inputs["charging_modes"]
    need, earliest, latest, cap, group = [], [], [], [], []
    for g, c in enumerate(cities):
        daily = energy[:, c].reshape(2, N_DAYS, 24).sum(-1)  # (segment, day)
        for m in range(4):
            dwell = int(np.ceil(modes["dwell_hours"].values[m]))
            ratio = modes["power_kw"].values[m] / modes["session_kwh"].values[m]
            day_need = (daily * share[:, m][:, None]).sum(0) / EFFICIENCY
            n = np.outer(day_need, arrivals[m]).ravel()
            start = np.arange(N_HOURS)
            need.append(n)
            earliest.append(start)
            latest.append(start + dwell)
            cap.append(n * ratio)
            group.append(np.full(N_HOURS, g))
    return [np.concatenate(a) for a in (need, earliest, latest, cap, group)]


@pytest.mark.parametrize("strategy", ["uncontrolled", "carbon_aware"])
def test_merging_gives_each_city_its_own_schedule(strategy):
    """Merged province cohorts split by need = every city's cohorts scheduled separately."""
    inputs = make_inputs()
    load = run(inputs, strategy).values
    need, earliest, latest, cap, group = explicit_cohorts(inputs, [0, 2])
    if strategy == "uncontrolled":
        want = charging.uncontrolled(need, earliest, latest, cap, n_hours=N_HOURS, group=group)
    else:
        signal = inputs["signal"].sel(province="AA").values
        want = charging.carbon_aware(need, earliest, latest, cap, signal, group=group)
    np.testing.assert_allclose(load[[0, 2]], want, rtol=1e-9, atol=1e-12)


def test_valley_filling_merged_equals_joint_unmerged_problem():
    inputs = make_inputs()
    load = run(inputs, "valley_filling", tol=1e-5).values
    need, earliest, latest, cap, group = explicit_cohorts(inputs, [0, 2])
    base = inputs["base_load"].sel(province="AA").values
    joint = charging.valley_filling(need, earliest, latest, cap, base, tol=1e-5)
    merged = load[[0, 2]].sum(0)
    np.testing.assert_allclose(merged, joint, atol=1e-4 * np.abs(joint).max())
    assert np.sum((base + merged) ** 2) == pytest.approx(np.sum((base + joint) ** 2), rel=1e-9)


def test_one_plan_serves_every_strategy():
    """A plan loaded under each strategy in turn gives exactly what charging_load gives for
    that strategy alone, and loading leaves the plan as it was."""
    inputs = make_inputs(seed=3)
    plan = charging.plan_charging(
        inputs["battery_energy"],
        inputs["charging_modes"],
        inputs["charging_arrivals"],
        inputs["mode_share"],
        charging_efficiency=EFFICIENCY,
        city_province=inputs["city_province"],
    )
    # deep copies: the per-province cohorts are tuples of arrays inside a dict
    arrays = {name: copy.deepcopy(value) for name, value in vars(plan).items()}
    signals = {name: inputs[name] for name in ("signal", "base_load", "solar_cf")}
    for strategy in (*charging.STRATEGIES, "uncontrolled"):
        xr.testing.assert_identical(plan.load(strategy, **signals), run(inputs, strategy))
    for name, before in arrays.items():
        _assert_unchanged(getattr(plan, name), before, name)
    with pytest.raises(InputError, match="unknown charging strategy"):
        plan.load("midnight", **signals)
    with pytest.raises(InputError, match="needs 'base_load'"):
        plan.load("valley_filling", signal=inputs["signal"])


def _assert_unchanged(after, before, where: str) -> None:
    """``after`` holds the values of its deep copy ``before``, container by container."""
    if isinstance(before, (xr.DataArray, xr.Dataset, xr.Coordinates)):
        xr.testing.assert_identical(after, before)
    elif isinstance(before, np.ndarray):
        np.testing.assert_array_equal(after, before, err_msg=where)
    elif isinstance(before, dict):
        assert after.keys() == before.keys(), where
        for key, value in before.items():
            _assert_unchanged(after[key], value, f"{where}[{key}]")
    elif isinstance(before, (list, tuple)):
        assert len(after) == len(before), where
        for position, value in enumerate(before):
            _assert_unchanged(after[position], value, f"{where}[{position}]")
    else:
        assert after == before, where


def test_unknown_strategy():
    with pytest.raises(InputError, match="unknown charging strategy 'smart'"):
        run(make_inputs(), "smart")


@pytest.mark.parametrize(
    ("strategy", "missing"),
    [("carbon_aware", "signal"), ("valley_filling", "base_load"), ("solar_aligned", "solar_cf")],
)
def test_missing_series_for_strategy(strategy, missing):
    with pytest.raises(InputError, match=f"needs '{missing}'"):
        run(make_inputs(), strategy, **{missing: None})


def test_series_lacking_a_province():
    inputs = make_inputs()
    with pytest.raises(InputError, match="lacks provinces"):
        run(inputs, "carbon_aware", signal=inputs["signal"].sel(province=["AA"]))


def test_infeasible_mode_is_named():
    inputs = make_inputs()
    modes = inputs["charging_modes"].copy(deep=True)
    modes["dwell_hours"].loc[{"mode": "public_slow"}] = 2.0  # 22 kWh at 11 kW takes 2 h: fine
    run({**inputs, "charging_modes": modes}, "uncontrolled")
    modes["dwell_hours"].loc[{"mode": "public_slow"}] = 1.9
    with pytest.raises(InputError, match="mode 'public_slow' is infeasible"):
        run({**inputs, "charging_modes": modes}, "uncontrolled")


def test_bad_efficiency_and_shares():
    inputs = make_inputs()
    with pytest.raises(InputError, match="charging_efficiency"):
        run(inputs, "uncontrolled", charging_efficiency=1.2)
    bad = inputs["mode_share"].copy(data=inputs["mode_share"].values * 1.1)
    with pytest.raises(InputError, match="sum to 1"):
        run({**inputs, "mode_share": bad}, "uncontrolled")


def test_arrival_hours_with_zero_share_hold_no_energy():
    """Arrival hours with a zero share create no cohort; the rest match unmerged cohorts."""
    h = np.arange(24)
    arrivals = np.array([np.exp(-0.5 * ((h - mu) / 2.5) ** 2) for mu in (19, 8, 13, 15)])
    arrivals[arrivals < 0.1] = 0.0  # most hours of each mode: nobody arrives
    arrivals /= arrivals.sum(axis=1, keepdims=True)
    inputs = make_inputs(arrivals=arrivals)
    need, earliest, latest, cap, group = explicit_cohorts(inputs, [0, 2])
    signal = inputs["signal"].sel(province="AA").values
    load = run(inputs, "carbon_aware").values
    want = charging.carbon_aware(need, earliest, latest, cap, signal, group=group)
    np.testing.assert_allclose(load[[0, 2]], want, rtol=1e-9, atol=1e-12)
    load = run(inputs, "tou_delayed").values
    np.testing.assert_allclose(load.sum(), inputs["battery_energy"].values.sum() / EFFICIENCY)
    base = inputs["base_load"].sel(province="AA").values
    merged = run(inputs, "valley_filling", tol=1e-5).values[[0, 2]].sum(0)
    joint = charging.valley_filling(need, earliest, latest, cap, base, tol=1e-5)
    assert np.sum((base + merged) ** 2) == pytest.approx(np.sum((base + joint) ** 2), rel=1e-9)


@pytest.mark.parametrize(
    ("value", "match"), [(np.nan, "non-finite"), (np.inf, "non-finite"), (-1e-9, "negative")]
)
def test_battery_energy_must_be_finite_and_non_negative(value, match):
    inputs = make_inputs()
    energy = inputs["battery_energy"].values.copy()
    energy[1, 2, 5000] = value
    bad = inputs["battery_energy"].copy(data=energy)
    with pytest.raises(InputError, match=match):
        run({**inputs, "battery_energy": bad}, "uncontrolled")
