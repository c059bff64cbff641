"""Every benchmark function once at a tiny size, so that the benchmarks keep working.

No timing is asserted: only that each function runs and returns rows in the benchmark row
format of ``bench_all.row`` (and the figures that belong with them).
"""

from __future__ import annotations

import json
import logging
import math
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import bench_all  # noqa: E402

ROW_KEYS = {
    "stage", "first_s", "steady_s", "repeats_s", "units", "unit_name", "reference", "reference_s"
}  # fmt: skip
N_CITIES = 4  # Beijing, Tianjin and two cities of Hebei: three provinces


def check_rows(rows):
    assert rows
    for r in rows:
        # the scenario-year's row also carries each call's CPU time and page faults
        assert ROW_KEYS <= set(r) <= ROW_KEYS | set(bench_all.YEAR_USAGE)
        assert r["unit_name"] in ("city-h", "province-h")
        assert r["steady_s"] > 0 and r["units"] > 0
        assert r["repeats_s"] and r["steady_s"] == min(r["repeats_s"])
        assert isinstance(r["first_s"], float)
        assert (r["reference"] is None) == (r["reference_s"] is None)
    json.dumps(rows)  # saved as JSON


@pytest.fixture(scope="module")
def tiny(shipped_inputs):
    logging.disable(logging.WARNING)  # the shipped grid's imbalance warnings
    yield bench_all.make_case(shipped_inputs, N_CITIES, strategies=("uncontrolled",))
    logging.disable(logging.NOTSET)


def test_subset_keeps_the_first_cities(shipped_inputs):
    sub = bench_all.subset_cities(shipped_inputs, N_CITIES)
    np.testing.assert_array_equal(
        sub.cities["city"].values, shipped_inputs.cities["city"].values[:N_CITIES]
    )
    assert bench_all.subset_cities(shipped_inputs, None) is shipped_inputs


def test_stage_rows_and_references(tiny):
    rows, extra = bench_all.measure_stages(
        tiny,
        repeats=1,
        strategies=("uncontrolled", "valley_filling"),
        reference_days=2,
        reference_valley_days=2,
        reference_sweeps=2,
        reference_hours=6,
    )
    check_rows(rows)
    stages = [r["stage"] for r in rows]
    for stage in ("temperature", "demand", "charging: valley_filling", "flow tracing (kernel)"):
        assert stage in stages
    assert all(r["units"] == tiny.city_hours for r in rows if r["stage"] != "charging: all 2")
    # the plain-numpy tracing loop solves the same system as the kernel
    assert extra["tracing_reference_max_abs_deviation_kg_per_mwh"] < 1e-6
    assert extra["accounting_bytes"] == 8 * (2 * tiny.city_hours + 31 * 8760) + 8 * N_CITIES
    assert extra["accounting_gb_per_s"] > 0


def test_reference_tracing_matches_kernel_on_a_hand_case():
    from hourlysim._kernels.tracing import consumption_intensity

    total = np.array([[10.0, 0.0], [5.0, 5.0], [0.0, 0.0]])  # 3 nodes, 2 hours
    emissions = np.array([[8000.0, 0.0], [1000.0, 3000.0], [0.0, 0.0]])
    frm, to = np.array([0, 1], np.int64), np.array([1, 2], np.int64)
    flow = np.array([[4.0, 0.0], [2.0, 1.0]])
    expected = consumption_intensity(total, emissions, frm, to, flow)[0]
    got = bench_all.reference_tracing(total, emissions, frm, to, flow, [0, 1])
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_year_context_and_copy_rows(tiny):
    (year,) = bench_all.measure_year(tiny, repeats=2)
    check_rows([year])
    for name in bench_all.YEAR_USAGE:
        assert len(year[name]) == 2 and min(year[name]) >= 0
    assert all(isinstance(n, int) for n in year["repeats_minor_faults"])
    check_rows(bench_all.measure_context(tiny, repeats=1))
    assert bench_all.copy_bandwidth(megabytes=8, repeats=2) > 0


def test_compile_and_memory_in_fresh_processes():
    compiled = bench_all.measure_compile(
        REPO / "inputs", N_CITIES, stages=["demand"], strategies=("uncontrolled",)
    )
    for key in ("cold_cache_s", "warm_cache_s"):
        assert set(compiled[key]) == {"import numpy and hourlysim", "demand"}
    memory = bench_all.measure_memory(REPO / "inputs", N_CITIES, strategies=("uncontrolled",))
    one = memory["one_year"]
    assert one["max_rss_mb"] >= one["max_rss_after_imports_and_inputs_mb"] > 0
    assert memory["tracemalloc"]["tracemalloc_peak_mb"] > 0


def test_scaling_fit(shipped_inputs):
    logging.disable(logging.WARNING)
    fits = bench_all.measure_scaling(
        shipped_inputs, cities=(2, 4), years=(1, 2), strategies=(1, 2), repeats=2
    )
    logging.disable(logging.NOTSET)
    assert set(fits) == {"cities", "years", "strategies"}
    assert fits["cities"]["x"] == [2.0, 4.0]
    for fit in fits.values():
        assert math.isfinite(fit["slope_s_per_unit"]) and fit["r2"] <= 1.0
        # each point is timed once per round, and its time is its best round
        assert [len(calls) for calls in fit["repeats_s"]] == [2, 2]
        assert fit["seconds"] == [min(calls) for calls in fit["repeats_s"]]


def test_fit_recovers_a_line():
    fit = bench_all._fit([1, 2, 4], [3.0, 5.0, 9.0])
    assert fit["slope_s_per_unit"] == pytest.approx(2.0)
    assert fit["intercept_s"] == pytest.approx(1.0)
    assert fit["r2"] == pytest.approx(1.0)


def test_dask_batch(tiny):
    out = bench_all.measure_dask(tiny, workers=(1,), n_years=1, n_strategies=1, overhead_repeats=2)
    assert out["batch_s"]["1"] > 0 and out["speed_up"] == pytest.approx(1.0)
    assert out["trivial_task_s"] > out["direct_call_s"] >= 0


def test_targets_report_met_missed_and_not_measured():
    rows = [
        bench_all.row("scenario-year, 5 strategies", 2.0, [0.7, 0.5, 1.2], 10),
        bench_all.row("charging: uncontrolled", 1.0, [0.1], 10, "numpy", 1.0),
        bench_all.row("flow tracing (kernel)", 1.0, [0.1], 10, "solve loop", 0.5),
        bench_all.row("dispatch", 1.0, [0.01], 10, "scipy linprog HiGHS", 5.0, "province-h"),
    ]
    found = bench_all.targets(rows)
    status = {t["target"]: t["status"] for t in found}
    # the best of the year's calls (0.5 s) is its steady state; every call is kept with it
    assert status["scenario-year, 5 strategies, end to end"] == "MET"
    assert found[0]["value"] == 0.5 and found[0]["repeats_s"] == [0.7, 0.5, 1.2]
    assert bench_all.spread(found[0]["repeats_s"]) == (
        "best of 3 calls; median 0.700 s, slowest 1.200 s"
    )
    assert status["charging: uncontrolled vs numpy"] == "MISSED"  # 10x < 20x
    assert status["flow tracing vs per-hour solve"] == "MISSED"
    assert status["dispatch vs LP"] == "MET"  # 500x
    assert status["dispatch vs numpy"] == "NOT MEASURED"


def test_a_row_needs_a_steady_state_time():
    with pytest.raises(ValueError, match="demand: a row needs at least one"):
        bench_all.row("demand", 1.0, [], 10)


def test_call_usage_counts_the_pages_a_call_touches():
    import mmap

    size = 16 << 20

    def touch_fresh_memory():
        with mmap.mmap(-1, size) as memory:  # anonymous: no page is backed until written
            for offset in range(0, size, mmap.PAGESIZE):
                memory[offset] = 1

    spent = bench_all.call_usage(touch_fresh_memory)
    assert spent["wall_s"] > 0
    assert spent["minor_faults"] >= 1  # 4,096 small pages, or 8 huge ones
    assert spent["user_s"] + spent["system_s"] > 0


def test_targets_carry_the_years_cpu_time_and_say_it():
    year = bench_all.row("scenario-year, 5 strategies", 2.0, [0.7, 0.5], 10)
    year.update(repeats_user_s=[0.6, 0.5], repeats_system_s=[0.1, 0.0])
    year["repeats_minor_faults"] = [3000, 0]
    (target,) = [t for t in bench_all.targets([year]) if t["target"].startswith("scenario")]
    assert target["repeats_system_s"] == [0.1, 0.0]
    assert bench_all.cpu_spent(target) == (
        "CPU per call: user 0.600, 0.500 s; system 0.100, 0.000 s; minor page faults 3000, 0"
    )
    assert bench_all.cpu_spent({"repeats_s": [0.5]}) == ""  # not measured: nothing said


def test_timed_records_every_call():
    calls = []
    result, first, repeats_s = bench_all.timed(lambda: calls.append(1) or len(calls), 3)
    assert result == 1 and len(calls) == 4  # the first call, then three timed ones
    assert len(repeats_s) == 3 and first >= 0 and min(repeats_s) >= 0


def test_main_quick_writes_table_and_json(tmp_path, capsys):
    path = tmp_path / "run.json"
    small = ["--reference-days", "2", "--reference-sweeps", "2", "--reference-hours", "6"]
    bench_all.main(
        ["--quick", "--cities", str(N_CITIES), "--repeats", "1", "--json", str(path), *small]
    )
    report = json.loads(path.read_text())
    check_rows(report["rows"])
    assert report["targets"] and report["bandwidth"]["numpy_copy_gb_per_s"] > 0
    out = capsys.readouterr().out
    assert "city-h/s" in out and "targets" in out


def test_charging_benchmark_runs_at_a_tiny_size(capsys):
    import bench_charging

    tiny = ["--cities", "4", "--provinces", "2", "--days", "7", "--repeats", "1"]
    small = ["--ref-days", "2", "--ref-valley-days", "1", "--ref-valley-sweeps", "2"]
    assert bench_charging.main([*tiny, *small, "--warm-cache"]) == 0
    out = capsys.readouterr().out
    assert all(strategy in out for strategy in bench_all.STRATEGIES)
    assert "target: five strategies in < 0.5 s after compilation" in out


def test_pipeline_benchmark_runs_at_a_tiny_size(capsys):
    import bench_pipeline

    logging.disable(logging.WARNING)  # the shipped grid's imbalance warnings
    assert bench_pipeline.main(["--cities", str(N_CITIES), "--repeats", "1"]) == 0
    logging.disable(logging.NOTSET)
    out = capsys.readouterr().out
    assert f"{N_CITIES} cities x 8760 h" in out and "2 charging: all five" in out


def test_profile_names_the_pieces(tiny):
    profile = bench_all.profile_year(tiny, top=5)
    assert len(profile["functions"]) == 5
    pieces = profile["pieces_s"]
    # every piece names a function the scenario-year calls (a renamed one would read 0)
    assert [label for label, seconds in pieces.items() if not seconds > 0] == []
    assert pieces["demand"] <= profile["total_s"]
    # the kernels' own time: some, and less than the whole (the Python around them)
    assert 0 < profile["kernels_s"] < profile["total_s"]
    import hourlysim._kernels.dispatch as dispatch_kernels
    import hourlysim._kernels.tracing as tracing_kernels

    assert bench_all._is_kernel(dispatch_kernels.__file__, "dispatch")
    # a Python function, in a kernel module or not, is not a kernel
    assert not bench_all._is_kernel(tracing_kernels.__file__, "consumption_intensity")
    assert not bench_all._is_kernel(bench_all.hourlysim.runner.__file__, "simulate_year")


def test_blas_limited_to_one_thread_for_the_one_core_targets():
    """numpy's and scipy's OpenBLAS (the accounting kernel's np.dot) both run on one thread
    after the benchmarks' limit; a product still gives the right answer."""
    from bench_pipeline import limit_blas_threads

    libraries = limit_blas_threads(1)
    assert libraries and all(library["threads"] == 1 for library in libraries)
    matrix = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(matrix @ matrix.T, np.einsum("ik,jk->ij", matrix, matrix))
