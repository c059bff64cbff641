"""End to end on four provinces: the CLI writes a complete, conserved, labelled cube."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

from hourlysim import InputError, load_inputs, load_scenario
from hourlysim.cli import main
from hourlysim.runner import aggregate, run, simulate_year, with_labels, write_netcdf

STRATEGIES = ["uncontrolled", "tou_delayed", "valley_filling", "carbon_aware", "solar_aligned"]
# NaN by definition for some inputs: the Theil T index is undefined where a city's per-capita
# reduction is negative (hourlysim.inequality)
MAY_BE_NAN = {
    # undefined where the population-weighted mean per-capita reduction is <= 0 (the EV emits
    # more than the gasoline car on average, e.g. under marginal accounting): NaN, and logged
    "gini",
    "lorenz",
    "concentration_index",
    "theil",
    "theil_between_province",
    "theil_within_province",
    "theil_between_grid_region",
    "theil_within_grid_region",
}


def _scenario(folder: Path, inputs: Path, **fields) -> Path:
    lines = [f"name: {fields.pop('name', 'small')}", f"inputs: {inputs}"]
    lines += [f"{key}: {value}" for key, value in fields.items()]
    path = folder / "scenario.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def small_run(small_inputs, tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    scenario = _scenario(
        folder, small_inputs, strategies=f"[{', '.join(STRATEGIES)}]", output="out/small.nc"
    )
    result = CliRunner().invoke(main, ["run", str(scenario), "--quiet", "--serial"])
    assert result.exit_code == 0, result.output
    with xr.open_dataset(folder / "out" / "small.nc") as data:
        yield data.load()


def test_cube_dims_units_and_no_nan(small_run):
    assert small_run.sizes["time"] == 8760
    assert list(small_run["strategy"].values) == STRATEGIES
    assert {"city", "province", "method", "source", "year"} <= set(small_run.dims)
    for name, data in small_run.data_vars.items():
        assert data.attrs.get("units"), f"{name} has no units"
        assert data.attrs.get("long_name"), f"{name} has no long_name"
        if data.dtype.kind == "f" and name not in MAY_BE_NAN:
            assert not np.isnan(data.values).any(), f"{name} has NaN"
    for key in ("scenario_sha256", "inputs_sha256", "source", "created"):
        assert small_run.attrs[key]


def test_charged_energy_equals_battery_energy_over_efficiency(small_run, small_inputs):
    efficiency = load_inputs(small_inputs).parameter("charging_efficiency")
    battery = small_run["battery_energy"].sum(["time", "segment"])
    for strategy in STRATEGIES:
        charged = small_run["charging_load"].sel(strategy=strategy).sum("time")
        np.testing.assert_allclose(charged, battery / efficiency, rtol=1e-4)


def test_grid_balance_with_evs(small_run, small_inputs):
    """Generation + net imports = demand + EV draw - unserved + surplus, every hour."""
    for strategy in STRATEGIES:
        data = small_run.sel(strategy=strategy).isel(year=0)
        draw = data["ev_grid_draw"].groupby(data["city_province"].rename("province")).sum()
        supply = data["generation"].sum("source") + data["net_import"]
        need = data["demand"] + draw - data["unserved"] + data["surplus"]
        np.testing.assert_allclose(supply, need.transpose(*supply.dims), rtol=1e-4, atol=1e-2)


def test_emissions_attributed_at_province_intensity(small_run):
    data = small_run.sel(strategy="uncontrolled").isel(year=0)
    city = data["city"].values[5]
    province = str(data["city_province"].sel(city=city).values)
    expected = (
        data["ev_grid_draw"].sel(city=city)
        * data["consumption_intensity"].sel(province=province)
        / 1000
    )
    np.testing.assert_allclose(
        data["ev_emissions"].sel({"method": "consumption", "city": city}), expected, rtol=1e-4
    )


def test_scenario_errors_are_clear(small_inputs, tmp_path):
    scenario = _scenario(tmp_path, small_inputs, parameters="{not_a_parameter: 1}")
    result = CliRunner().invoke(main, ["run", str(scenario), "--quiet", "--serial"])
    assert result.exit_code == 1
    assert "unknown parameter(s) ['not_a_parameter']" in result.output


def test_multi_year_resumes_from_parts(small_inputs, tmp_path, monkeypatch):
    """A run that dies in its second year resumes (only with resume) from the parts on disk."""
    scenario = load_scenario(
        _scenario(
            tmp_path,
            small_inputs,
            years="[2020, 2030]",
            resolution="monthly",
            strategies="[uncontrolled, carbon_aware]",
            ev_share="{2020: 0.05, 2030: 0.5}",
            output="out.nc",
        )
    )
    from hourlysim import runner

    real = runner.YearContext.strategy
    calls = []

    def failing(self, strategy):
        calls.append((self.year, strategy))
        if (self.year, strategy) == (2030, "carbon_aware") and calls.count(calls[-1]) == 1:
            raise RuntimeError("node lost")
        return real(self, strategy)

    monkeypatch.setattr(runner.YearContext, "strategy", failing)
    with pytest.raises(runner.TaskFailed, match=r"scenario small, year 2030, strategy carbon_aw"):
        run(scenario, retries=0)
    assert not Path(scenario.output).exists()
    on_disk = sorted(p.name for p in (tmp_path / "out.nc.parts").glob("*.nc"))
    assert on_disk == [
        "2020_carbon_aware.nc",
        "2020_common.nc",
        "2020_uncontrolled.nc",
        "2030_common.nc",
        "2030_uncontrolled.nc",
    ]
    with pytest.raises(runner.UnfinishedRun, match="--resume"):
        run(scenario)
    run(scenario, resume=True)
    assert calls == [
        (2020, "uncontrolled"),
        (2020, "carbon_aware"),
        (2030, "uncontrolled"),
        (2030, "carbon_aware"),
        (2030, "carbon_aware"),
    ]
    assert not (tmp_path / "out.nc.parts").exists()
    with xr.open_dataset(scenario.output) as data:
        assert list(data["year"].values) == [2020, 2030]
        assert list(data["strategy"].values) == ["uncontrolled", "carbon_aware"]
        assert data.sizes["time"] == 12
        assert data["charging_load"].dims == ("year", "strategy", "city", "time")
        fleet = data["ev_fleet"].sum("city")
        assert float(fleet.sel(year=2030)) == pytest.approx(10 * float(fleet.sel(year=2020)))


def test_a_failing_task_is_retried(small_inputs, tmp_path, monkeypatch):
    from hourlysim import runner

    scenario = load_scenario(
        _scenario(tmp_path, small_inputs, resolution="annual", output="out.nc")
    )
    real = runner.YearContext.strategy
    calls = []

    def flaky(self, strategy):
        calls.append(strategy)
        if len(calls) == 1:
            raise RuntimeError("worker lost")
        return real(self, strategy)

    monkeypatch.setattr(runner.YearContext, "strategy", flaky)
    run(scenario, retries=1)
    assert calls == ["uncontrolled", "uncontrolled"]
    assert Path(scenario.output).is_file()


def test_aggregate_sums_energy_and_averages_intensity(small_inputs):
    scenario = load_scenario(_scenario(Path(small_inputs).parent, small_inputs))
    hourly = simulate_year(load_inputs(small_inputs), scenario, 2021)
    daily = aggregate(hourly, "daily")
    assert daily.sizes["time"] == 365
    np.testing.assert_allclose(
        daily["charging_load"].sum("time"), hourly["charging_load"].sum("time"), rtol=1e-5
    )
    np.testing.assert_allclose(
        daily["average_intensity"].mean("time"), hourly["average_intensity"].mean("time"), rtol=1e-6
    )
    annual = aggregate(hourly, "annual")
    assert "time" not in annual["temperature"].dims


def test_write_is_atomic(tmp_path, monkeypatch):
    data = xr.Dataset({"x": ("a", np.arange(3.0), {"units": "1"})})
    target = tmp_path / "out.nc"
    write_netcdf(data, target)
    before = target.read_bytes()

    def broken(self, *args, **kwargs):
        Path(args[0]).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", broken)
    with pytest.raises(OSError):
        write_netcdf(data.assign(x=data["x"] + 1), target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.nc"]


def test_cube_holds_exactly_the_documented_variables(small_run):
    from hourlysim.variables import VARIABLES

    assert set(small_run.data_vars) == set(VARIABLES)
    for name, variable in VARIABLES.items():
        assert small_run[name].dims[-len(variable.dims) :] == variable.dims
        assert small_run[name].attrs["units"] == variable.units


def test_user_temperature_file_drives_demand(small_inputs, tmp_path):
    """A scenario's own hourly temperature file replaces the climatology."""
    import pandas as pd

    cities = load_inputs(small_inputs).cities["city"].values
    times = pd.date_range("2021-01-01", periods=8760, freq="h").strftime("%Y-%m-%d %H:%M")
    frame = pd.DataFrame({"time": times, **{str(c): np.full(8760, -20.0) for c in cities}})
    frame.to_csv(tmp_path / "t.csv", index=False)
    scenario = load_scenario(_scenario(tmp_path, small_inputs, temperature="t.csv", years="[2021]"))
    result = simulate_year(load_inputs(small_inputs), scenario, 2021)
    np.testing.assert_allclose(result["temperature"], -20.0)
    frame.iloc[:100].to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(InputError, match=r"t\.csv"):
        simulate_year(load_inputs(small_inputs), scenario, 2021)


def test_written_cube_equals_in_memory_year(small_run, small_inputs):
    """The per-task parts merged on disk hold what simulate_year computes in memory."""
    scenario = load_scenario(
        _scenario(Path(small_inputs).parent, small_inputs, strategies=f"[{', '.join(STRATEGIES)}]")
    )
    in_memory = simulate_year(load_inputs(small_inputs), scenario, 2020)
    assert set(in_memory.data_vars) == set(small_run.data_vars)
    for name in in_memory.data_vars:
        written = small_run[name].isel(year=0)
        assert written.dims == in_memory[name].dims, name
        assert written.dtype == in_memory[name].dtype, name
        assert written.attrs.get("units") == in_memory[name].attrs.get("units"), name
        # the same attributes (carbon_class's flags too); none names one strategy of many
        assert set(written.attrs) == set(in_memory[name].attrs), name
        assert "strategy" not in written.attrs, name
        np.testing.assert_allclose(
            written.values, in_memory[name].values, rtol=1e-6, atol=1e-6, err_msg=name
        )
    # the labels too, with their units (latitude [degrees_north], population [person], ...)
    for name in ("latitude", "longitude", "population", "gdp_per_capita", "province_name"):
        assert in_memory[name].attrs.get("units"), name
        assert small_run[name].attrs == in_memory[name].attrs, name


def test_city_297_selection(shipped_inputs, tmp_path):
    from hourlysim.runner import select_cities

    scenario = load_scenario(_scenario(tmp_path, "inputs", cities="city_297"))
    selected = select_cities(shipped_inputs, scenario)
    assert selected.cities.sizes["city"] == 297
    assert (selected.cities["level"].isin(["municipality", "prefecture_city"])).all()
    assert selected.provinces.sizes["province"] == 31  # the grid keeps every province
    assert selected.cities["population"].dtype == shipped_inputs.cities["population"].dtype


def test_draw_by_province_equals_ev_grid_draw_and_groupby_and_checks_city_order():
    """One pass gives the draw of :func:`ev_grid_draw` value for value, its sums by
    province as ``groupby().sum()``, and the load and draw copied into the output arrays."""
    from hourlysim.accounting import ev_grid_draw, ev_grid_draw_by_province

    rng = np.random.default_rng(3)
    cities = [110100, 120100, 130100, 130200, 140100]
    province = xr.DataArray(["BJ", "TJ", "HE", "HE", "SX"], dims="city", coords={"city": cities})
    load = xr.DataArray(rng.uniform(0, 5, (5, 7)), dims=("city", "time"),
                        coords={"city": cities, "time": np.arange(7)}, name="charging_load",
                        attrs={"units": "MWh", "strategy": "carbon_aware"})  # fmt: skip
    expected_draw = ev_grid_draw(load, 0.05)
    copies = (np.empty((5, 7), np.float32), np.empty((5, 7)))
    draw, summed, stored_load, stored_draw = ev_grid_draw_by_province(
        load, 0.05, province, out=copies
    )
    xr.testing.assert_identical(draw, expected_draw)
    expected = expected_draw.groupby(province.rename("province")).sum("city")
    assert list(summed["province"].values) == list(expected["province"].values)
    np.testing.assert_allclose(summed.values, expected.values, rtol=1e-12)
    assert summed.attrs == expected_draw.attrs
    # the copies are the output arrays, labelled as the load and the draw
    assert stored_load.values is copies[0] and stored_draw.values is copies[1]
    xr.testing.assert_identical(stored_load, load.astype(np.float32))
    xr.testing.assert_identical(stored_draw, expected_draw)
    # float32 copies when no arrays are given
    assert ev_grid_draw_by_province(load, 0.05, province)[3].dtype == np.float32
    with pytest.raises(ValueError, match="different orders"):
        ev_grid_draw_by_province(load, 0.05, province.isel(city=[1, 0, 2, 3, 4]))
    # nothing skipped: a NaN of a Hebei city makes Hebei's sum NaN in that hour only
    load[3, 2] = np.nan
    summed = ev_grid_draw_by_province(load, 0.05, province)[1]
    assert np.isnan(summed.sel(province="HE", time=2))
    assert np.isfinite(summed.drop_sel(province="HE")).all()
    assert np.isfinite(summed.sel(province="HE").drop_sel(time=2)).all()


def test_stacking_refuses_a_strategy_laid_out_unlike_the_first():
    """Strategies are stacked by position: a later strategy whose variable lists its cities
    in another order, or has other dims, is refused instead of mixed up."""
    from hourlysim.runner import stack_strategies

    cities = [110100, 120100, 130100]
    load = xr.DataArray(np.arange(6.0).reshape(3, 2), dims=("city", "time"),
                        coords={"city": cities, "time": np.arange(2)})  # fmt: skip

    class Context:
        year = 2020

        def __init__(self, second):
            self.second = second

        def output_arrays(self, n_strategy):
            return {"ev_emissions": np.zeros((n_strategy, 1, 3, 2), np.float32)}

        def strategy_pieces(self, strategy, out):
            return {"charging_load": load if strategy == "first" else self.second}

    stacked = stack_strategies(Context(load + 1.0), ["first", "second"])
    np.testing.assert_array_equal(stacked["charging_load"][1], load + 1.0)
    for second in (load.isel(city=[1, 0, 2]), load.transpose("time", "city")):
        with pytest.raises(ValueError, match="laid out unlike"):
            stack_strategies(Context(second), ["first", "second"])


def test_grid_with_evs_is_traced_once_by_the_accounting(small_inputs, tmp_path):
    """The runner simulates the grid with EVs without tracing it and takes its consumption
    intensity from the accounting's supply shares: equal to the grid's own tracing to
    rounding, with the same import fractions."""
    from hourlysim.accounting import ev_grid_draw_by_province
    from hourlysim.runner import YearContext

    inputs = load_inputs(small_inputs)
    scenario = load_scenario(_scenario(tmp_path, small_inputs, strategies="[carbon_aware]"))
    year = scenario.years[0]
    context = YearContext(inputs, scenario, year, lambda message: None)
    pieces = context.strategy_pieces("carbon_aware")
    by_province = ev_grid_draw_by_province(
        context.charging("carbon_aware"),
        context.parameter("td_loss_fraction"),
        inputs.cities["city_province"],
    )[1]
    traced = context.grid_year.simulate(by_province)
    np.testing.assert_allclose(
        pieces["consumption_intensity"], traced["consumption_intensity"], rtol=1e-12, atol=1e-9
    )
    np.testing.assert_array_equal(pieces["import_fraction"], traced["import_fraction"])


@pytest.mark.parametrize("signal", ["average", "consumption"])
def test_grid_without_evs_traced_only_for_a_consumption_signal(small_inputs, tmp_path, signal):
    """The grid without EVs is traced only when its consumption intensity is the carbon
    signal; carbon-aware charging gets the same signal as from the traced grid either way."""
    from hourlysim.runner import YearContext

    inputs = load_inputs(small_inputs)
    path = _scenario(tmp_path, small_inputs, strategies="[carbon_aware]", carbon_signal=signal)
    scenario = load_scenario(path)
    context = YearContext(inputs, scenario, scenario.years[0], lambda message: None)
    assert ("consumption_intensity" in context.base_grid) == (signal == "consumption")
    traced = context.grid_year.simulate(None)
    xr.testing.assert_identical(context.base_grid, traced[list(context.base_grid.data_vars)])
    load = context.charging("carbon_aware")
    with_traced = context.charging_plan.load(
        "carbon_aware",
        signal=traced[f"{signal}_intensity"],
        base_load=context.net_load,
        solar_cf=context.solar_cf,
        valley_start_hour=int(context.parameter("tou_valley_start_hour")),
    )
    xr.testing.assert_identical(load, with_traced)


@pytest.mark.parametrize("order", [slice(None), slice(None, None, -1)])
def test_labels_from_variables_are_those_of_aligned_dataarrays(order):
    """Labels taken from a table's Variables (its cities in the data's order) give the
    dataset that assign_coords of its DataArrays gives: the table's coordinates on the
    dimension first, its index attributes, the same order of coordinates. A table in
    another order is aligned. Neither the data nor the table is changed."""
    table = xr.Dataset(
        {"latitude": ("city", [30.0, 31.0, 32.0]), "gdp": ("city", [1.0, 2.0, 3.0])},
        coords={
            "city": ("city", [11, 12, 13], {"long_name": "adcode"}),
            "name_en": ("city", ["a", "b", "c"]),
            "province": ("city", ["P", "P", "Q"]),
            "source_note": ((), "census"),
        },
    ).isel(city=order)
    data = xr.Dataset(
        {"load": (("city", "time"), np.arange(6.0).reshape(3, 2))},
        coords={"city": [11, 12, 13], "time": [0, 1]},
    )
    wanted = {"province": "province", "lat": "latitude", "name": "name_en"}
    expected = data.assign_coords({label: table[name] for label, name in wanted.items()})
    labelled = with_labels(data, [("city", table, wanted)])
    xr.testing.assert_identical(labelled, expected)
    assert list(labelled.coords) == list(expected.coords)
    assert labelled["city"].attrs == {"long_name": "adcode"}
    assert data["city"].attrs == {} and "lat" not in data.coords
    assert table["city"].attrs == {"long_name": "adcode"}
