"""Stage 1 kernels and wrapper on hand-computable cases."""

from __future__ import annotations

import numpy as np
import pytest

from hourlysim._kernels.demand import hourly_driving_km, temperature_factor


def test_temperature_factor_hand_values():
    t = np.array([[-10.0, 0.0, 5.0, 20.0, 30.0, 35.0]])
    f = temperature_factor(t, 5.0, 0.04, 25.0, 0.01)
    np.testing.assert_allclose(f[0], [1.6, 1.2, 1.0, 1.0, 1.05, 1.10])


def test_hourly_km_adds_up_to_daily_km():
    profile = np.vstack([np.full(24, 1 / 24), np.eye(24)[12]])
    day_type = np.repeat(np.array([0, 0, 1], np.int64), 24)
    km = hourly_driving_km(np.array([10.0, 0.0]), np.array([50.0, 20.0]), profile, day_type)
    daily = km.reshape(2, 3, 24).sum(axis=2)
    np.testing.assert_allclose(daily, [[500, 500, 200], [0, 0, 0]])
    assert km[0, 48 + 12] == pytest.approx(200)


def test_driving_demand_consistent(shipped_inputs):
    from hourlysim.demand import driving_demand
    from hourlysim.timeaxis import model_time

    time = model_time(2021)
    city = shipped_inputs.cities["city"].values[:3]
    import xarray as xr

    temperature = xr.DataArray(
        np.full((3, 8760), -7.0), dims=("city", "time"), coords={"city": city, "time": time}
    )
    sub = shipped_inputs.__class__(
        **{**shipped_inputs.__dict__, "cities": shipped_inputs.cities.sel(city=city)}
    )
    result = driving_demand(sub, temperature, 2021)
    p = shipped_inputs.parameter
    expected_kwh = (
        p("ev_kwh_per_km_rated")
        * p("ev_real_world_factor")
        * (1 + p("ev_cold_coefficient") * max(0.0, p("ev_cold_threshold") + 7.0))
    )
    np.testing.assert_allclose(result["ev_kwh_per_km"].values, expected_kwh)
    np.testing.assert_allclose(
        result["battery_energy"].values, result["driving_km"].values * expected_kwh / 1000
    )
    # annual private km per EV = weekdays x weekday km + weekend days x weekend km
    fleet = result["ev_fleet"].sel(segment="private")
    km = result["driving_km"].sel(segment="private").sum("time")
    segments = shipped_inputs.vehicles
    weekday = float(segments["km_per_day_weekday"].sel(segment="private"))
    weekend = float(segments["km_per_day_weekend"].sel(segment="private"))
    n_weekend = int((time.day_of_week >= 5).sum() / 24)
    np.testing.assert_allclose(km / fleet, weekday * (365 - n_weekend) + weekend * n_weekend)
    for name in result.data_vars:
        assert result[name].attrs["units"]


def test_cold_law_reproduces_measured_range_losses(shipped_inputs):
    """ICCT/NDANEV midpoints: 27.5% range loss at 0 C and 40% at -7 C (consumption 1/(1-L))."""
    p = shipped_inputs.parameter
    factor = temperature_factor(
        np.array([0.0, -7.0]),
        p("ev_cold_threshold"),
        p("ev_cold_coefficient"),
        p("ev_hot_threshold"),
        p("ev_hot_coefficient"),
    )
    consumption_vs_rated = p("ev_real_world_factor") * factor
    np.testing.assert_allclose(consumption_vs_rated, [1 / (1 - 0.275), 1 / (1 - 0.40)], rtol=2e-3)


def test_demand_is_lazy_over_city_chunks(shipped_inputs):
    import xarray as xr

    from hourlysim.demand import driving_demand
    from hourlysim.timeaxis import model_time

    city = shipped_inputs.cities["city"].values[:6]
    sub = shipped_inputs.__class__(
        **{**shipped_inputs.__dict__, "cities": shipped_inputs.cities.sel(city=city)}
    )
    temperature = xr.DataArray(
        np.zeros((6, 8760)), dims=("city", "time"), coords={"city": city, "time": model_time(2020)}
    )
    eager = driving_demand(sub, temperature, 2020)
    lazy = driving_demand(sub, temperature.chunk(city=2), 2020)
    assert lazy["battery_energy"].chunks is not None
    xr.testing.assert_allclose(lazy["battery_energy"].compute(), eager["battery_energy"])


def test_year_demand_is_driving_demand_in_output_form(shipped_inputs):
    """``year_demand`` gives ``driving_demand``'s values: the km rounded once to float32, the
    litres summed over the segments as xarray sums them, the battery energy and the fleet
    unchanged (value for value, attributes included)."""
    import xarray as xr

    from hourlysim.demand import driving_demand, year_demand
    from hourlysim.timeaxis import model_time

    city = shipped_inputs.cities["city"].values[:4]
    sub = shipped_inputs.__class__(
        **{**shipped_inputs.__dict__, "cities": shipped_inputs.cities.sel(city=city)}
    )
    time = model_time(2022)
    # cold, mild and hot hours, so that every branch of both temperature laws is taken
    temperature = xr.DataArray(
        np.linspace(-25.0, 40.0, 4 * time.size).reshape(4, -1),
        dims=("city", "time"),
        coords={"city": city, "time": time},
    )
    overrides = {"gasoline_cold_coefficient": 0.01}
    full = driving_demand(sub, temperature, 2022, parameters=overrides)
    year = year_demand(sub, temperature, 2022, parameters=overrides)
    assert year["driving_km"].dtype == np.float32
    xr.testing.assert_identical(year["driving_km"], full["driving_km"].astype(np.float32))
    xr.testing.assert_identical(year["battery_energy"], full["battery_energy"])
    xr.testing.assert_identical(
        year["gasoline_litres"], full["gasoline_litres"].sum("segment", skipna=False)
    )
    xr.testing.assert_identical(year["ev_fleet"], full["ev_fleet"])
    assert "ev_kwh_per_km" not in year
