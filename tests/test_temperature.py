"""Tests for hourlysim.temperature: synthetic climatology and the file loader."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hourlysim.errors import InputError
from hourlysim.temperature import load_temperature_file, synthesize_hourly_temperature

JAN = slice(0, 31 * 24)
JUL = slice((31 + 28 + 31 + 30 + 31 + 30) * 24, (31 + 28 + 31 + 30 + 31 + 30 + 31) * 24)


def test_monthly_means_reproduced():
    t_jan = np.array([-17.6, -3.7, 13.6, 7.5])
    t_jul = np.array([23.1, 26.2, 28.8, 19.7])
    dr = np.array([10.0, 10.0, 8.0, 14.0])
    t = synthesize_hourly_temperature(t_jan, t_jul, dr, 2021)
    assert t.shape == (4, 8760)
    np.testing.assert_allclose(t[:, JAN].mean(axis=1), t_jan, atol=0.3)
    np.testing.assert_allclose(t[:, JUL].mean(axis=1), t_jul, atol=0.3)


def test_coldest_and_warmest_in_january_and_july():
    t = synthesize_hourly_temperature([-5.0], [25.0], [0.0], 2021)[0]
    daily = t.reshape(365, 24).mean(axis=1)
    assert 10 <= int(np.argmin(daily)) <= 25  # mid/late January (0-based day)
    assert 190 <= int(np.argmax(daily)) <= 210  # mid/late July


def test_diurnal_min_and_max_hours():
    t = synthesize_hourly_temperature([0.0], [20.0], [10.0], 2021)[0]
    by_hour = t.reshape(365, 24).mean(axis=0)
    assert int(np.argmin(by_hour)) == 5
    assert int(np.argmax(by_hour)) in (14, 15)
    assert by_hour.max() - by_hour.min() == pytest.approx(10.0, abs=0.2)


def test_leap_year_has_8760_hours():
    t = synthesize_hourly_temperature([0.0, 5.0], [20.0, 25.0], 8.0, 2024)
    assert t.shape == (2, 8760)


def test_synthesize_rejects_bad_input():
    with pytest.raises(InputError):
        synthesize_hourly_temperature([0.0], [20.0], [-1.0], 2021)
    with pytest.raises(InputError):
        synthesize_hourly_temperature([0.0, 1.0], [20.0], [5.0], 2021)


def _times(year, n):
    return pd.date_range(f"{year}-01-01", periods=n, freq="h")


def _series(n, ncity=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-20, 35, size=(n, ncity)).round(3)


def _write_csv(path, values, codes, year=2021):
    df = pd.DataFrame(values, columns=[str(c) for c in codes])
    df.insert(0, "time", _times(year, len(values)).strftime("%Y-%m-%d %H:%M"))
    df.to_csv(path, index=False)


def _write_nc(path, values, codes, units="K", var="t2m", year=2021):
    da = xr.DataArray(
        values,
        dims=("time", "city"),
        coords={"time": _times(year, len(values)), "city": np.array(codes)},
        attrs={"units": units},
    )
    xr.Dataset({var: da}).to_netcdf(path, engine="netcdf4")


def test_csv_round_trip(tmp_path):
    v = _series(8760)
    p = tmp_path / "t.csv"
    _write_csv(p, v, [110000, 310000])
    out = load_temperature_file(p, [310000, 110000], 2021)
    np.testing.assert_allclose(out, v[:, ::-1].T)


def test_csv_leap_year_drops_feb29(tmp_path):
    v = _series(8784)
    p = tmp_path / "leap.csv"
    _write_csv(p, v, [110000, 310000], year=2020)
    out = load_temperature_file(p, [110000, 310000], 2020)
    assert out.shape == (2, 8760)
    expected = np.delete(v, np.arange(59 * 24, 60 * 24), axis=0).T
    np.testing.assert_allclose(out, expected)


def test_netcdf_round_trip_kelvin(tmp_path):
    v = _series(8760)
    p = tmp_path / "t.nc"
    _write_nc(p, v + 273.15, [110000, 310000], units="K")
    out = load_temperature_file(p, [110000, 310000], 2021)
    np.testing.assert_allclose(out, v.T, atol=1e-9)


def test_netcdf_round_trip_celsius_temperature_var(tmp_path):
    v = _series(8784)
    p = tmp_path / "t.nc"
    _write_nc(p, v, [110000, 310000], units="degC", var="temperature", year=2020)
    out = load_temperature_file(p, [310000], 2020)
    np.testing.assert_allclose(out[0], np.delete(v[:, 1], np.arange(59 * 24, 60 * 24)))


def _assert_error(p, codes, match=None):
    with pytest.raises(InputError) as e:
        load_temperature_file(p, codes, 2021)
    assert p.name in str(e.value)
    if match:
        assert match in str(e.value)
    return e.value


def test_error_missing_city(tmp_path):
    p = tmp_path / "missing_city.csv"
    _write_csv(p, _series(8760), [110000, 310000])
    err = _assert_error(p, [110000, 440100], "440100")
    assert err.column == "440100"
    q = tmp_path / "missing_city.nc"
    _write_nc(q, _series(8760) + 273.15, [110000, 310000])
    _assert_error(q, [440100], "440100")


def test_error_wrong_length(tmp_path):
    p = tmp_path / "short.csv"
    _write_csv(p, _series(8000), [110000, 310000])
    _assert_error(p, [110000], "8000")
    q = tmp_path / "short.nc"
    _write_nc(q, _series(100, ncity=1) + 273.15, [110000])
    _assert_error(q, [110000], "100")


def test_error_nan_names_row(tmp_path):
    v = _series(8760)
    v[41, 1] = np.nan
    p = tmp_path / "nan.csv"
    _write_csv(p, v, [110000, 310000])
    err = _assert_error(p, [110000, 310000], "row 42")
    assert err.row == 42 and err.column == "310000"
    q = tmp_path / "nan.nc"
    _write_nc(q, v + 273.15, [110000, 310000])
    _assert_error(q, [110000, 310000], "row 42")


def test_error_unknown_units(tmp_path):
    p = tmp_path / "units.nc"
    _write_nc(p, _series(8760, ncity=1), [110000], units="degF")
    _assert_error(p, [110000], "degF")


def test_error_out_of_range(tmp_path):
    v = _series(8760)
    v[10, 0] = 75.0
    p = tmp_path / "hot.csv"
    _write_csv(p, v, [110000, 310000])
    err = _assert_error(p, [110000], "-70..60")
    assert err.row == 11
    q = tmp_path / "cold.nc"
    _write_nc(q, _series(8760, ncity=1) - 200.0, [110000], units="degC")  # well below -70 degC
    _assert_error(q, [110000], "-70..60")
