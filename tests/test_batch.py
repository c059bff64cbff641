"""Batches on a dask cluster: same file as serial, resume after an interruption, provenance."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner
from test_runner import _scenario  # the same small scenario writer

from hourlysim import load_scenario, runner
from hourlysim.cli import main


@pytest.fixture(scope="module")
def cluster():
    """One local cluster (2 single-threaded workers, in-process) for the whole module."""
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as local,
        distributed.Client(local) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def batch_file(small_inputs, tmp_path_factory):
    folder = tmp_path_factory.mktemp("batch")
    return _scenario(
        folder,
        small_inputs,
        name="batch",
        years="{start: 2020, stop: 2030, step: 10}",
        strategies="[uncontrolled, carbon_aware]",
        ev_share="{national: {table: {2020: 0.05, 2030: 0.4}}, cities: {110000: 0.9}}",
        resolution="annual",
        variables="[charging_load, ev_emissions, import_share, demand, ev_fleet, gini]",
    )


@pytest.fixture(scope="module")
def serial_result(batch_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("serial") / "serial.nc"
    path = runner.run(load_scenario(batch_file, output=out))
    with xr.open_dataset(path) as data:
        yield data.load()


def _same(a: xr.Dataset, b: xr.Dataset) -> None:
    """Bit-identical data, coordinates and attributes, the creation time aside."""
    drop = {"created"}
    xr.testing.assert_identical(
        a.assign_attrs({k: None for k in drop}), b.assign_attrs({k: None for k in drop})
    )
    for name in a.data_vars:
        np.testing.assert_array_equal(a[name].values, b[name].values)


def test_cluster_batch_equals_serial(batch_file, serial_result, cluster, tmp_path):
    out = tmp_path / "cluster.nc"
    path = runner.run(load_scenario(batch_file, output=out), client=cluster)
    with xr.open_dataset(path) as data:
        _same(data.load(), serial_result)
    assert not (tmp_path / "cluster.nc.parts").exists()


def test_cli_on_an_existing_scheduler(batch_file, serial_result, cluster, tmp_path):
    out = tmp_path / "cli.nc"
    address = cluster.scheduler.address
    result = CliRunner().invoke(
        main, ["run", str(batch_file), "-o", str(out), "--scheduler", address, "--quiet"]
    )
    assert result.exit_code == 0, result.output
    with xr.open_dataset(out) as data:
        _same(data.load(), serial_result)


def test_output_opens_with_units_and_provenance(serial_result, batch_file):
    data = serial_result
    assert list(data["year"].values) == [2020, 2030]
    assert list(data["strategy"].values) == ["uncontrolled", "carbon_aware"]
    assert set(data.data_vars) == {
        "charging_load",
        "ev_emissions",
        "import_share",
        "demand",
        "ev_fleet",
        "gini",
    }
    for name, variable in data.data_vars.items():
        assert variable.attrs["units"], name
        assert variable.attrs["long_name"], name
    assert data.attrs["Conventions"] == "CF-1.8"
    assert data.attrs["hourlysim_version"]
    assert data.attrs["scenario_sha256"] == load_scenario(batch_file).source_hash
    assert len(data.attrs["inputs_sha256"]) == 64
    assert data.attrs["weather_year"] == 2020
    assert data.attrs["grid_exchange"] == "pool"  # the default
    assert data.attrs["created"]
    fields = json.loads(data.attrs["scenario_fields"])
    assert fields["years"] == [2020, 2030]


def test_city_ev_share_override_reaches_the_fleet(serial_result, small_inputs):
    from hourlysim import load_inputs

    cities = load_inputs(small_inputs).cities
    fleet = serial_result["ev_fleet"].sel(year=2030)
    # private cars and taxis scale alike with the share: ratio to the 2020 fleet
    ratio = fleet / serial_result["ev_fleet"].sel(year=2020)
    beijing = int(cities["city"].values[cities["city_province"].values == "BJ"][0])
    others = [c for c in cities["city"].values if c != beijing]
    np.testing.assert_allclose(ratio.sel(city=beijing), 1.0)  # 0.9 both years
    np.testing.assert_allclose(ratio.sel(city=others), 0.4 / 0.05, rtol=1e-6)


def test_interrupted_batch_resumes_to_the_same_file(
    batch_file, serial_result, tmp_path, monkeypatch
):
    scenario = load_scenario(batch_file, output=tmp_path / "resumed.nc")
    real = runner.YearContext.strategy

    def interrupted(self, strategy):
        if (self.year, strategy) == (2030, "uncontrolled"):
            raise KeyboardInterrupt
        return real(self, strategy)

    monkeypatch.setattr(runner.YearContext, "strategy", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runner.run(scenario)
    parts = tmp_path / "resumed.nc.parts"
    assert sorted(p.name for p in parts.iterdir()) == [
        "2020_carbon_aware.nc",
        "2020_common.nc",
        "2020_uncontrolled.nc",
        "2030_common.nc",
    ]
    assert not scenario.output.exists()
    monkeypatch.setattr(runner.YearContext, "strategy", real)
    result = CliRunner().invoke(
        main, ["run", str(batch_file), "-o", str(scenario.output), "--serial", "--quiet"]
    )
    assert result.exit_code == 1
    assert "--resume" in result.output and "--fresh" in result.output
    computed = []
    monkeypatch.setattr(
        runner,
        "_run_task",
        lambda task, _real=runner._run_task: computed.append((task.year, task.part)) or _real(task),
    )
    runner.run(scenario, resume=True)
    assert computed == [(2030, "uncontrolled"), (2030, "carbon_aware")]
    with xr.open_dataset(scenario.output) as data:
        _same(data.load(), serial_result)


def test_fresh_discards_parts(batch_file, serial_result, tmp_path):
    scenario = load_scenario(batch_file, output=tmp_path / "fresh.nc")
    parts = tmp_path / "fresh.nc.parts"
    parts.mkdir()
    (parts / "2020_common.nc").write_bytes(b"not a part")
    runner.run(scenario, fresh=True)
    with xr.open_dataset(scenario.output) as data:
        _same(data.load(), serial_result)


def test_stale_parts_are_recomputed_on_resume(batch_file, tmp_path):
    """A part of another scenario file is not reused."""
    scenario = load_scenario(batch_file, output=tmp_path / "stale.nc")
    task = runner.plan(scenario)[0]
    other = task.attrs | {"scenario_sha256": "0" * 64}
    assert runner._same_run(task.path, task.attrs) is False
    task.path.parent.mkdir()
    runner.write_netcdf(xr.Dataset(attrs=other), task.path)
    assert runner._same_run(task.path, other)
    assert not runner._same_run(task.path, task.attrs)


def test_failing_task_on_cluster_names_scenario_year_strategy(
    batch_file, cluster, tmp_path, monkeypatch
):
    scenario = load_scenario(batch_file, output=tmp_path / "fails.nc")
    real = runner.YearContext.strategy

    def broken(self, strategy):
        if strategy == "carbon_aware":
            raise RuntimeError("solver diverged")
        return real(self, strategy)

    monkeypatch.setattr(runner.YearContext, "strategy", broken)
    with pytest.raises(runner.TaskFailed, match=r"scenario batch, year 20[23]0, strategy carbon"):
        runner.run(scenario, client=cluster, retries=1)


def test_killed_process_resumes_to_the_same_file(batch_file, serial_result, tmp_path):
    """SIGKILL in the middle of a batch: the finished parts are whole, --resume completes."""
    out = tmp_path / "killed.nc"
    parts = tmp_path / "killed.nc.parts"
    command = [sys.executable, "-m", "hourlysim.cli", "run", str(batch_file), "-o", str(out)]
    process = subprocess.Popen(
        [*command, "--serial", "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while len(list(parts.glob("*.nc"))) < 2:
            if process.poll() is not None:
                pytest.fail(f"the batch ended (status {process.returncode}) before the kill")
            time.sleep(0.02)
    finally:
        process.kill()
        process.wait()
    assert not out.exists()
    assert 2 <= len(list(parts.glob("*.nc"))) < 6
    result = CliRunner().invoke(
        main, ["run", str(batch_file), "-o", str(out), "--serial", "--quiet", "--resume"]
    )
    assert result.exit_code == 0, result.output
    assert not parts.exists()
    with xr.open_dataset(out) as data:
        _same(data.load(), serial_result)


def test_sweep_members_are_written_with_their_parameters(small_inputs, tmp_path):
    path = _scenario(
        tmp_path,
        small_inputs,
        name="sw",
        resolution="annual",
        variables="[charging_load, battery_energy]",
        sweep="{parameters.charging_efficiency: [0.8, 0.95]}",
        output="sw.nc",
    )
    written = runner.run(load_scenario(path))
    names = ["sw__parameters.charging_efficiency-0.8", "sw__parameters.charging_efficiency-0.95"]
    assert written == [tmp_path / f"{name}.nc" for name in names]
    loads = []
    for file, efficiency in zip(written, (0.8, 0.95), strict=True):
        with xr.open_dataset(file) as data:
            assert data.attrs["sweep_of"] == "sw"
            assert json.loads(data.attrs["sweep_parameters"]) == {
                "parameters.charging_efficiency": efficiency
            }
            battery = data["battery_energy"].sum("segment")
            np.testing.assert_allclose(
                data["charging_load"].isel(strategy=0), battery / efficiency, rtol=1e-5
            )
            loads.append(float(data["charging_load"].sum()))
    assert loads[0] / loads[1] == pytest.approx(0.95 / 0.8, rel=1e-5)


@pytest.mark.parametrize(
    "flags",
    [
        ["--resume", "--fresh"],
        ["--serial", "--workers", "2"],
        ["--scheduler", "x", "--workers", "2"],
    ],
)
def test_cli_refuses_contradictory_flags(batch_file, flags):
    result = CliRunner().invoke(main, ["run", str(batch_file), *flags])
    assert result.exit_code == 2
    assert "exclude" in result.output or "not with" in result.output


def test_only_strategy_independent_variables(small_inputs, tmp_path):
    path = _scenario(
        tmp_path, small_inputs, resolution="annual", variables="[temperature]", output="t.nc"
    )
    with xr.open_dataset(runner.run(load_scenario(path))) as data:
        assert list(data.data_vars) == ["temperature"]
        assert data["temperature"].dims == ("year", "city")
        assert data["temperature"].attrs["units"] == "degC"
