"""The grid stage on the shipped inputs: conservation, capacities, hydro budgets, EV response."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from hourlysim import load_inputs
from hourlysim.errors import InputError
from hourlysim.grid import (
    SOURCES,
    hydro_monthly_shape,
    merit_order,
    prepare_grid,
    simulate_grid,
)
from hourlysim.timeaxis import model_time
from hourlysim.variables import annotate

TIME = model_time(2020)
EV_PROVINCE = "BJ"  # an importer inside the North pool


@pytest.fixture(scope="module")
def grids(shipped_inputs):
    """Without and with an EV load (5% of Beijing's demand), in both exchange modes."""
    out = {}
    for mode in ("scheduled", "pool"):
        base = simulate_grid(shipped_inputs, TIME, exchange=mode)
        draw = 0.0 * base["demand"]
        draw.loc[EV_PROVINCE] = 0.05 * base["demand"].sel(province=EV_PROVINCE)
        out[mode] = (base, simulate_grid(shipped_inputs, TIME, draw, exchange=mode), draw)
    return out


def _balance(grid):
    """generation + net import (after losses) + unserved - surplus, per province-hour."""
    return (
        grid["generation"].sum("source") + grid["net_import"] + grid["unserved"] - grid["surplus"]
    )


@pytest.mark.parametrize("mode", ["scheduled", "pool"])
def test_energy_conservation_and_no_nan(grids, mode):
    for grid in grids[mode][:2]:
        for name, data in grid.data_vars.items():
            assert np.isfinite(data.values).all(), name
        np.testing.assert_allclose(_balance(grid), grid["load"], rtol=1e-9, atol=1e-6)
        assert (grid["generation"] >= -1e-9).all()
        assert (grid["curtailment"] >= 0).all() and (grid["unserved"] >= 0).all()


@pytest.mark.parametrize("mode", ["scheduled", "pool"])
def test_corridors_within_schedule_and_hubs_within_capacity(grids, shipped_inputs, mode):
    grid = grids[mode][0]
    corridors = shipped_inputs.corridors
    scheduled = grid["flow"].sel(corridor=corridors["corridor"].values)
    assert (scheduled <= corridors["annual_energy"] / 8760 + 1e-9).all()
    assert set(grid["loss_fraction"].values) == {0.0}
    hubs = [c for c in grid["corridor"].values if "hub_" in c]
    if mode == "scheduled":
        assert hubs == []
        return
    # one link per direction for every province; hub nodes named hub_<region>
    assert len(hubs) == 2 * grid.sizes["province"]
    capacity = shipped_inputs.provinces["hub_capacity"].to_series()
    regions = shipped_inputs.provinces["grid_region"].to_series()
    links = grid["flow"].sel(corridor=hubs)
    for name in hubs:
        a, b = name.split(">")
        province = a if b.startswith("hub_") else b
        assert float(links.sel(corridor=name).max()) <= capacity[province] + 1e-6
        assert (a if a.startswith("hub_") else b) == f"hub_{regions[province]}"
    # every hub balances in every hour (no losses by default)
    for region in set(regions):
        hub = f"hub_{region}"
        into = grid["flow"].where(grid["to_node"] == hub, 0.0).sum("corridor")
        out = grid["flow"].where(grid["from_node"] == hub, 0.0).sum("corridor")
        np.testing.assert_allclose(into, out, atol=1e-6)
    # intra-regional scheduled corridors are idle in pool mode (the hub carries that trade)
    frm = regions[corridors["from_province"].values].values
    to = regions[corridors["to_province"].values].values
    assert (scheduled.values[frm == to] == 0).all()


@pytest.mark.parametrize("mode", ["scheduled", "pool"])
def test_monthly_hydro_budget(grids, shipped_inputs, mode):
    grid = grids[mode][0]
    hydro = grid["generation"].sel(source="hydro")
    monthly = hydro.groupby("time.month").sum().transpose("province", "month").values
    capacity = shipped_inputs.provinces["capacity"].sel(capacity_source="hydro").values
    hours = shipped_inputs.parameter("hydro_utilisation_hours")
    budget = capacity[:, None] * hours * hydro_monthly_shape(shipped_inputs)[None, :]
    # never more than the month's budget
    assert (monthly <= budget * (1 + 1e-9) + 1e-6).all()
    assert monthly.sum() == pytest.approx(budget.sum(), rel=0.01)
    # spilled only in a month with an hour where nothing above hydro in the stack runs: wind
    # and solar give nothing and coal and gas no more than their floors
    generation = grid["generation"]
    gas_floor = shipped_inputs.provinces["capacity"].sel(capacity_source="gas") * (
        shipped_inputs.parameter("gas_must_run_fraction")
    )
    start = int(shipped_inputs.parameter("heating_season_start_month"))
    end = int(shipped_inputs.parameter("heating_season_end_month"))
    month = grid["time.month"]
    wraps = start > end  # the season runs across the new year
    heating = ((month >= start) | (month <= end)) if wraps else ((month >= start) & (month <= end))
    chp_floor = (
        shipped_inputs.provinces["capacity"].sel(capacity_source="coal_chp")
        * shipped_inputs.parameter("coal_chp_min_load_fraction")
        * heating
    )
    above_floor = (generation.sel(source="coal") > chp_floor + 1e-6) | (
        generation.sel(source="gas") > gas_floor + 1e-6
    )
    variable = generation.sel(source=["wind", "solar"]).sum("source") > 1e-6
    bottom = (~above_floor & ~variable).groupby("time.month").any()
    spilled = monthly < budget * (1 - 1e-6) - 1e-6
    assert spilled.any()  # the shipped year spills somewhere (Spring Festival, Tibet)
    assert bottom.transpose("province", "month").values[spilled].all()
    # the dispatchable part is shifted toward the hours of highest residual load
    load = grid["load"] - grid["generation"].sel(source=["wind", "solar", "nuclear"]).sum("source")
    sc = grid["province"].values.tolist().index("SC")
    january = slice(0, 31 * 24)
    peak = np.argsort(load.values[sc, january])[-200:]
    valley = np.argsort(load.values[sc, january])[:200]
    assert hydro.values[sc, january][peak].mean() > hydro.values[sc, january][valley].mean()


@pytest.mark.parametrize("mode", ["scheduled", "pool"])
def test_ev_load_conservation(grids, mode):
    base, with_ev, draw = grids[mode]
    increase = (with_ev["generation"] - base["generation"]).sum("source")
    assert float(increase.max()) > 0
    # the extra generation is the EV draw less the extra unserved plus the extra surplus
    served = float(draw.sum() - (with_ev["unserved"] - base["unserved"]).sum())
    absorbed = float((with_ev["surplus"] - base["surplus"]).sum())
    assert float(increase.sum()) == pytest.approx(served + absorbed, rel=1e-9)
    emissions = float((with_ev["production_emissions"] - base["production_emissions"]).sum())
    assert emissions >= -1e-6


def test_pool_importer_ev_load_raises_exporter_generation(grids):
    base, with_ev, _ = grids["pool"]
    increase = (with_ev["generation"] - base["generation"]).sum(("source", "time"))
    others = increase.drop_sel(province=EV_PROVINCE)
    assert float(others.max()) > 0  # generated outside the province that charges
    assert float(others.sum()) > 0.1 * float(increase.sum())
    # in scheduled mode the schedules do not follow the importer's load
    base_s, with_ev_s, _ = grids["scheduled"]
    increase_s = (with_ev_s["generation"] - base_s["generation"]).sum(("source", "time"))
    assert float(increase_s.drop_sel(province=EV_PROVINCE).sum()) < float(others.sum())


@pytest.mark.parametrize("mode", ["scheduled", "pool"])
def test_marginal_shares(grids, shipped_inputs, mode):
    grid = grids[mode][0]
    share = grid["marginal_source_share"]
    total = share.sum("source")
    assert (np.isclose(total, 1.0) | np.isclose(total, 0.0)).all()
    assert (share >= 0).all()
    rates = np.array([shipped_inputs.parameter(f"emission_rate_{s}") for s in SOURCES])
    expected = (share * rates[None, :, None]).sum("source")
    np.testing.assert_allclose(grid["marginal_intensity"], expected)
    if mode == "scheduled":
        # wind or solar partly curtailed: they take the next MWh, at zero emissions
        variable = grid["generation"].sel(source=["wind", "solar"]).sum("source")
        curtailed = (grid["curtailment"] > 1e-6) & (variable > 1e-6)
        assert int(curtailed.sum()) > 0
        assert (grid["marginal_intensity"].values[curtailed.values] == 0).all()
    # the coal-heavy North margin is mostly coal
    north = share.sel(province="SX", source="coal").mean()
    assert float(north) > 0.5


def test_declared_variables_and_coordinates(grids):
    grid = grids["pool"][0]
    # load, total_generation and tracing_residual are the stage's own (diagnostics, and the
    # sum the accounting reads), not cube variables
    annotated = annotate(grid.drop_vars(["load", "total_generation", "tracing_residual"]))
    # value for value numpy's sum over the sources (what the accounting summed before)
    np.testing.assert_array_equal(
        grid["total_generation"].transpose("province", "time").values,
        grid["generation"].transpose("province", "source", "time").values.sum(axis=1),
    )
    assert grid["total_generation"].attrs["units"] == "MWh"
    assert annotated["marginal_source_share"].attrs["units"] == "1"
    assert {"from_node", "to_node", "loss_fraction"} <= set(grid["corridor"].coords)
    assert grid.attrs["exchange"] == "pool"


def test_corridor_losses_are_conserved(shipped_inputs):
    overrides = {"corridor_loss_fraction": 0.05, "hub_loss_fraction": 0.02}
    grid = simulate_grid(shipped_inputs, TIME, parameters=overrides, exchange="pool")
    np.testing.assert_allclose(_balance(grid), grid["load"], rtol=1e-9, atol=1e-6)
    # a hub passes on what reaches it: (sent to it) x (1 - loss) = what it sends
    for hub in {n for n in grid["to_node"].values if n.startswith("hub_")}:
        into = (grid["flow"] * (1 - grid["loss_fraction"])).where(grid["to_node"] == hub, 0.0)
        out = grid["flow"].where(grid["from_node"] == hub, 0.0)
        np.testing.assert_allclose(into.sum("corridor"), out.sum("corridor"), atol=1e-6)


@pytest.mark.parametrize("mode", ["scheduled", "pool"])
def test_one_prepared_year_serves_every_draw(grids, shipped_inputs, mode):
    """A year prepared once and simulated with and without EVs, in either order, gives what
    simulate_grid gives for each, and simulating leaves the prepared year as it was."""
    base, with_ev, draw = grids[mode]
    year = prepare_grid(shipped_inputs, TIME, exchange=mode)
    arrays = {k: v.copy() for k, v in vars(year).items() if isinstance(v, np.ndarray)}
    for ev_draw, expected in ((draw, with_ev), (None, base), (draw, with_ev)):
        xr.testing.assert_identical(year.simulate(ev_draw), expected)
    for name, before in arrays.items():
        np.testing.assert_array_equal(getattr(year, name), before, err_msg=name)


@pytest.mark.parametrize("mode", ["scheduled", "pool"])
def test_simulating_without_tracing_leaves_out_only_the_traced_variables(
    grids, shipped_inputs, mode
):
    """``trace=False`` (for a caller that traces the grid itself) gives the traced result
    without ``consumption_intensity``, ``import_fraction`` and ``tracing_residual``."""
    _, with_ev, draw = grids[mode]
    year = prepare_grid(shipped_inputs, TIME, exchange=mode)
    untraced = year.simulate(draw, trace=False)
    expected = with_ev.drop_vars(["consumption_intensity", "import_fraction", "tracing_residual"])
    xr.testing.assert_identical(untraced, expected)


def test_results_written_into_the_callers_arrays(grids, shipped_inputs):
    """``out`` receives the generation and marginal source shares in its arrays' dtype (a
    float32 copy is the float64 values rounded once) and the (province, time) results it
    names (the result holds those arrays); the result is the same with or without it, and
    an array of the wrong shape or dtype is refused."""
    _, with_ev, draw = grids["pool"]
    year = prepare_grid(shipped_inputs, TIME, exchange="pool")
    shape = with_ev["generation"].shape
    out = {
        "generation": np.full(shape, np.nan, np.float32),
        "marginal_source_share": np.full(shape, np.nan),
        "net_import": np.full(with_ev["net_import"].shape, np.nan),
    }
    result = year.simulate(draw, out=out)
    xr.testing.assert_identical(result, with_ev)
    np.testing.assert_array_equal(out["generation"], with_ev["generation"].astype(np.float32))
    np.testing.assert_array_equal(out["marginal_source_share"], with_ev["marginal_source_share"])
    assert result["net_import"].values is out["net_import"]  # the caller's array itself
    with pytest.raises(ValueError, match="shape"):
        year.simulate(draw, out={"generation": np.empty((1, *shape[1:]), np.float32)})
    with pytest.raises(ValueError, match="shape"):  # a result is written in float64 only
        year.simulate(draw, out={"net_import": out["net_import"].astype(np.float32)})


def test_draw_in_another_province_order_or_a_subset(grids, shipped_inputs):
    """A draw whose provinces come in another order, or only those that draw, is placed by
    label (the aligned draw is used without a copy)."""
    _, with_ev, draw = grids["pool"]
    year = prepare_grid(shipped_inputs, TIME, exchange="pool")
    shuffled = draw.isel(province=np.random.default_rng(1).permutation(draw.sizes["province"]))
    xr.testing.assert_identical(year.simulate(shuffled), with_ev)
    xr.testing.assert_identical(year.simulate(draw.sel(province=[EV_PROVINCE])), with_ev)


def test_bad_exchange_and_merit_order_shapes(shipped_inputs):
    with pytest.raises(ValueError, match="exchange"):
        simulate_grid(shipped_inputs, TIME, exchange="market")
    with pytest.raises(ValueError, match="shapes"):
        merit_order(np.ones(3), np.ones((3, 2)), np.ones(3), np.ones(3))


def test_merit_order_broadcasts_capacity():
    dispatch, marginal = merit_order(
        np.array([5.0, 15.0, 40.0]), np.array([10.0, 20.0]), [2.0, 1.0], [900.0, 400.0]
    )
    np.testing.assert_allclose(dispatch, [[0, 5], [0, 15], [10, 20]])
    assert marginal.tolist() == [1, 1, -1]


def _grid_benchmark():
    """``benchmarks/bench_grid.py``, loaded as a module."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_grid.py"
    spec = importlib.util.spec_from_file_location("bench_grid", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_benchmark_runs_at_a_tiny_size(small_inputs):
    rows = _grid_benchmark().measure(load_inputs(small_inputs), repeats=1)
    assert {"grid: scheduled", "grid: pool"} <= {r["stage"] for r in rows}
    assert {r["reference"] for r in rows} >= {"HiGHS LP", "numpy.linalg.solve loop"}
    for row in rows:
        assert set(row) == {
            "stage", "first_s", "steady_s", "repeats_s", "units", "unit_name", "reference",
            "reference_s",
        }  # fmt: skip
        assert row["steady_s"] > 0 and row["units"] == 4 * 8760 * (
            2 if "with and without" in row["stage"] else 1
        )
        assert row["unit_name"] == "province-h"


def test_benchmark_script_prints_its_table(small_inputs, capsys):
    assert _grid_benchmark().main(["--inputs", str(small_inputs), "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "province-h/s" in out and "HiGHS LP" in out and "numpy.linalg.solve loop" in out


def test_calibration_against_mee_2022(grids, shipped_inputs):
    """Issue 4's calibration on the shipped inputs, default (pool) mode: the national
    consumption intensity within 5% of the MEE 2022 factors, most provinces within 15%."""
    path = Path(__file__).parents[1] / "inputs" / "build" / "calibrate_grid.py"
    spec = importlib.util.spec_from_file_location("calibrate_grid", path)
    calibrate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(calibrate)
    mee = shipped_inputs.provinces["mee_emission_factor_2022"].to_series()
    _, national = calibrate.compare_with_mee(grids["pool"][0], mee)
    assert abs(national["error_pct"]) <= 5.0
    assert national["within_15"] > national["n_provinces"] / 2


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("gas_must_run_fraction", 1.5),
        ("biomass_generation_share", 1.0),
        ("corridor_loss_fraction", -0.1),
        ("hub_loss_fraction", 1.0),
    ],
)
def test_fraction_parameters_out_of_range(shipped_inputs, name, value):
    with pytest.raises(InputError, match=rf"parameters\.csv.*{name} must be in"):
        simulate_grid(shipped_inputs, TIME, parameters={name: value})


def test_report_imbalance_names_notable_provinces(caplog):
    """Unserved and unabsorbed energy above 0.1% of a province's annual load are logged with
    the province and its share; smaller ones are not; a NaN hour is skipped, not spread."""
    import logging

    from hourlysim.grid import report_imbalance

    load = np.full((3, 4), 100.0)  # 400 MWh a year in each province
    unserved = np.zeros((3, 4))
    unserved[1, 0] = 4.0  # 1.0% in B
    unserved[2, 3] = 0.2  # 0.05% in C: below the threshold
    surplus = np.zeros((3, 4))
    surplus[0, 1:3] = [0.6, np.nan]  # 0.15% in A, its NaN hour skipped
    grid = xr.Dataset(
        {
            name: (("time", "province"), values.T)  # not in (province, time) order
            for name, values in (("load", load), ("unserved", unserved), ("surplus", surplus))
        },
        coords={"province": ["A", "B", "C"]},
    )
    with caplog.at_level(logging.WARNING, logger="hourlysim.grid"):
        report_imbalance(grid, "2030: ")
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "2030: unserved energy as share of annual load: B 1.0%",
        "2030: surplus energy as share of annual load: A 0.1%",
    ]
