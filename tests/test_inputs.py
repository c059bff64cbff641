"""The loader accepts the shipped set and names file, line/column and expectation on errors."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from hourlysim import InputError, load_inputs
from hourlysim.cli import main


def _edit_csv(path, edit):
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame = edit(frame)
    frame.to_csv(path, index=False)


def _edit_hourly(path, edit):
    frame = pd.read_csv(path, dtype=str)
    frame = edit(frame)
    with gzip.open(path, "wt", newline="") as handle:
        frame.to_csv(handle, index=False)


def test_shipped_inputs_are_valid(shipped_inputs):
    assert shipped_inputs.cities.sizes["city"] == 337
    assert int(shipped_inputs.cities["is_city_297"].sum()) == 297
    assert shipped_inputs.provinces.sizes["province"] == 31
    assert shipped_inputs.hourly.sizes["hour"] == 8760


def test_every_variable_has_units(shipped_inputs):
    for name in ("cities", "provinces", "hourly", "corridors", "parameters", "vehicles"):
        dataset = getattr(shipped_inputs, name)
        for variable, data in dataset.data_vars.items():
            assert data.attrs.get("units"), f"{name}.{variable} has no units"


def test_no_nan_in_required_values(shipped_inputs):
    for name in ("hourly", "corridors", "vehicles"):
        dataset = getattr(shipped_inputs, name)
        for variable, data in dataset.data_vars.items():
            if np.issubdtype(data.dtype, np.floating) and variable != "vehicles_per_1000_people":
                assert not np.isnan(data.values).any(), f"{name}.{variable}"


def test_provincial_sums_complete(shipped_inputs):
    """City passenger cars add up to the provincial stock (all 337 units included)."""
    cars = (
        shipped_inputs.cities["passenger_cars"]
        .groupby(shipped_inputs.cities["city_province"].rename("province"))
        .sum()
    )
    provincial = shipped_inputs.provinces["private_cars"].sel(province=cars["province"])
    np.testing.assert_allclose(cars.values, provincial.values, rtol=1e-3)


def test_missing_file(inputs_copy):
    (inputs_copy / "capacity.csv").unlink()
    with pytest.raises(InputError, match=r"capacity\.csv.*missing"):
        load_inputs(inputs_copy)


def test_missing_column(inputs_copy):
    _edit_csv(inputs_copy / "cities.csv", lambda f: f.drop(columns="population"))
    with pytest.raises(InputError, match=r"cities\.csv, column 'population': column is missing"):
        load_inputs(inputs_copy)


def test_nan_value_names_line(inputs_copy):
    def blank(frame):
        frame.loc[4, "population"] = ""
        return frame

    _edit_csv(inputs_copy / "cities.csv", blank)
    with pytest.raises(InputError, match=r"cities\.csv, row 6, column 'population': empty"):
        load_inputs(inputs_copy)


def test_nan_written_as_text(inputs_copy):
    def nan(frame):
        frame.loc[0, "annual_demand"] = "nan"
        return frame

    _edit_csv(inputs_copy / "provinces.csv", nan)
    with pytest.raises(InputError, match=r"provinces\.csv, row 2, column 'annual_demand'"):
        load_inputs(inputs_copy)


def test_negative_capacity(inputs_copy):
    def negative(frame):
        frame.loc[2, "solar"] = "-5"
        return frame

    _edit_csv(inputs_copy / "capacity.csv", negative)
    with pytest.raises(InputError, match=r"capacity\.csv, row 4, column 'solar': negative"):
        load_inputs(inputs_copy)


def test_plants_are_checked_when_the_set_is_loaded(inputs_copy):
    """plants.csv is read and checked with the rest of the set, not first in the middle of
    a run, and the set's plants are the file's rows."""
    shipped = pd.read_csv(inputs_copy / "plants.csv")
    assert len(load_inputs(inputs_copy).plants) == len(shipped)

    def no_latitude(frame):
        frame.loc[4, "latitude"] = "north"
        return frame

    _edit_csv(inputs_copy / "plants.csv", no_latitude)
    with pytest.raises(InputError, match=r"plants\.csv, row 6, column 'latitude'"):
        load_inputs(inputs_copy)


def test_digest_covers_the_plants(inputs_copy):
    """plants.csv places the territorial emissions, so the provenance digest covers it."""
    before = load_inputs(inputs_copy).digest

    def smaller(frame):
        frame.loc[0, "capacity_mw"] = str(float(frame.loc[0, "capacity_mw"]) / 2)
        return frame

    _edit_csv(inputs_copy / "plants.csv", smaller)
    assert load_inputs(inputs_copy).digest != before
    (inputs_copy / "plants.csv").unlink()
    without = load_inputs(inputs_copy)
    assert without.plants is None
    assert without.digest not in (before, "")


def test_unknown_province_code(inputs_copy):
    def unknown(frame):
        frame.loc[10, "province"] = "QQ"
        return frame

    _edit_csv(inputs_copy / "cities.csv", unknown)
    with pytest.raises(
        InputError,
        match=r"cities\.csv, row 12, column 'province': unknown "
        r"province 'QQ'",
    ):
        load_inputs(inputs_copy)


def test_city_assigned_to_no_province(inputs_copy):
    def orphan(frame):
        frame.loc[7, "province"] = ""
        return frame

    _edit_csv(inputs_copy / "cities.csv", orphan)
    with pytest.raises(InputError, match=r"cities\.csv, row 9, column 'province': empty"):
        load_inputs(inputs_copy)


def test_unknown_city_code(inputs_copy):
    def unknown(frame):
        frame.loc[3, "adcode"] = "999999"
        return frame

    _edit_csv(inputs_copy / "climate.csv", unknown)
    with pytest.raises(InputError, match=r"climate\.csv, row 5, column 'adcode': unknown city"):
        load_inputs(inputs_copy)


def test_unknown_province_in_corridor(inputs_copy):
    def unknown(frame):
        frame.loc[0, "to_province"] = "XX"
        return frame

    _edit_csv(inputs_copy / "corridors.csv", unknown)
    with pytest.raises(InputError, match=r"corridors\.csv, row 2, column 'to_province'"):
        load_inputs(inputs_copy)


def test_hourly_table_wrong_length(inputs_copy):
    _edit_hourly(inputs_copy / "hourly" / "cf_solar.csv.gz", lambda f: f.iloc[:-1])
    with pytest.raises(InputError, match=r"cf_solar\.csv\.gz: has 8759 data rows; expected 8760"):
        load_inputs(inputs_copy)


def test_hourly_leap_year_table_drops_feb29(inputs_copy, shipped_inputs):
    def leap(frame):
        times = pd.date_range("2020-01-01", periods=8784, freq="h")
        feb29 = frame.iloc[1392:1416].copy()  # 24 rows with a marker value
        feb29.iloc[:, 1:] = "0.999"
        padded = pd.concat([frame.iloc[:1416], feb29, frame.iloc[1416:]], ignore_index=True)
        padded["time"] = times.strftime("%Y-%m-%d %H:%M")
        return padded

    _edit_hourly(inputs_copy / "hourly" / "cf_solar.csv.gz", leap)
    loaded = load_inputs(inputs_copy)
    np.testing.assert_array_equal(
        loaded.hourly["cf_solar"].values, shipped_inputs.hourly["cf_solar"].values
    )


def test_capacity_factor_above_one(inputs_copy):
    def too_high(frame):
        frame.loc[100, "BJ"] = "1.2"
        return frame

    _edit_hourly(inputs_copy / "hourly" / "cf_wind_onshore.csv.gz", too_high)
    with pytest.raises(
        InputError,
        match=r"cf_wind_onshore\.csv\.gz, row 102, column 'BJ': "
        r"value 1.2 outside \[0.0, 1.0\]",
    ):
        load_inputs(inputs_copy)


def test_hourly_nan(inputs_copy):
    def hole(frame):
        frame.loc[5, "HE"] = ""
        return frame

    _edit_hourly(inputs_copy / "hourly" / "demand_shape.csv.gz", hole)
    with pytest.raises(InputError, match=r"demand_shape\.csv\.gz, row 7, column 'HE'"):
        load_inputs(inputs_copy)


def test_hourly_unknown_province_column(inputs_copy):
    _edit_hourly(
        inputs_copy / "hourly" / "cf_solar.csv.gz", lambda f: f.rename(columns={"BJ": "ZZ"})
    )
    with pytest.raises(InputError, match=r"cf_solar\.csv\.gz, column 'ZZ': unknown province"):
        load_inputs(inputs_copy)


def test_duplicated_key(inputs_copy):
    _edit_csv(inputs_copy / "cities.csv", lambda f: pd.concat([f, f.iloc[[3]]]))
    with pytest.raises(InputError, match=r"cities\.csv, row 339, column 'adcode': duplicated"):
        load_inputs(inputs_copy)


def test_shares_must_sum_to_one(inputs_copy):
    def skew(frame):
        frame.loc[0, "home"] = str(float(frame.loc[0, "home"]) + 0.5)
        return frame

    _edit_csv(inputs_copy / "charging_arrivals.csv", skew)
    with pytest.raises(InputError, match=r"charging_arrivals\.csv, column 'home': shares sum"):
        load_inputs(inputs_copy)


def test_cli_validate(inputs_copy):
    runner = CliRunner()
    good = runner.invoke(main, ["validate", str(inputs_copy)])
    assert good.exit_code == 0, good.output
    assert "valid (337 cities, 31 provinces" in good.output
    _edit_csv(
        inputs_copy / "capacity.csv", lambda f: f.assign(coal=f["coal"].where(f.index != 0, "-1"))
    )
    bad = runner.invoke(main, ["validate", str(inputs_copy)])
    assert bad.exit_code == 1
    assert "capacity.csv, row 2, column 'coal': negative" in bad.output


def test_corridor_energy_above_capacity(inputs_copy):
    def overfull(frame):
        frame.loc[2, "annual_energy"] = str(float(frame.loc[2, "capacity_mw"]) * 9000)
        return frame

    _edit_csv(inputs_copy / "corridors.csv", overfull)
    with pytest.raises(InputError, match=r"corridors\.csv, row 4, column 'annual_energy'"):
        load_inputs(inputs_copy)


def test_chp_above_coal(inputs_copy):
    def chp(frame):
        frame.loc[0, "coal_chp"] = str(float(frame.loc[0, "coal"]) + 1)
        return frame

    _edit_csv(inputs_copy / "capacity.csv", chp)
    with pytest.raises(InputError, match=r"capacity\.csv, row 2, column 'coal_chp'"):
        load_inputs(inputs_copy)


def test_leap_table_without_feb29_is_refused(inputs_copy):
    def no_feb29(frame):
        padded = pd.concat([frame, frame.iloc[:24]], ignore_index=True)
        padded["time"] = pd.date_range("2021-01-01", periods=8784, freq="h").strftime(
            "%Y-%m-%d %H:%M"
        )
        return padded

    _edit_hourly(inputs_copy / "hourly" / "cf_solar.csv.gz", no_feb29)
    with pytest.raises(
        InputError,
        match=r"cf_solar\.csv\.gz, column 'time': 8,784 rows but "
        r"not exactly one Feb 29",
    ):
        load_inputs(inputs_copy)


def test_rows_without_feb29_by_position_and_by_date():
    from hourlysim.timeaxis import rows_without_feb29

    by_position = rows_without_feb29(8784)
    assert by_position.size == 8760 and 1416 not in by_position and 1440 in by_position
    stamps = pd.date_range("2024-01-01", periods=8784, freq="h")
    np.testing.assert_array_equal(rows_without_feb29(8784, stamps), by_position)
    np.testing.assert_array_equal(rows_without_feb29(8760), np.arange(8760))


def test_parameter_override(shipped_inputs):
    """A scenario's override wins over the set's value; it cannot add a parameter."""
    own = shipped_inputs.parameter("charging_efficiency")
    assert shipped_inputs.parameter("charging_efficiency", None) == own
    assert shipped_inputs.parameter("charging_efficiency", {"td_loss_fraction": 0.1}) == own
    assert shipped_inputs.parameter("charging_efficiency", {"charging_efficiency": 0.8}) == 0.8
    with pytest.raises(KeyError):
        shipped_inputs.parameter("no_such_parameter", {"no_such_parameter": 1.0})
    # with a default the parameter is optional: the set's value, else the override, else it
    assert shipped_inputs.parameter("charging_efficiency", None, 0.5) == own
    assert shipped_inputs.parameter("charging_efficiency", {"charging_efficiency": 0.8}, 0.5) == 0.8
    assert shipped_inputs.parameter("no_such_parameter", None, 0.5) == 0.5
    assert shipped_inputs.parameter("no_such_parameter", {"no_such_parameter": 2.0}, 0.5) == 2.0
