"""All benchmarks of a national scenario-year on the shipped inputs, with references and targets.

Run ``python benchmarks/bench_all.py`` (``--help`` for options; ``--quick`` for a smaller,
faster run). Reports, for the 337 units x 8,760 h of the shipped input set:

* per stage (temperature, demand, charging per strategy, grid with and without EVs, flow
  tracing, the accounting kernel, one (year, strategy) task, the whole scenario-year with five
  strategies): the first call in this process, the steady state (best of ``--repeats``; the
  scenario-year of ``--year-repeats``, with each call's user and system CPU time and minor
  page faults), every steady-state call with their median, and the throughput in
  city-hours per second;
* ratios to plain-numpy references measured in the same run (the charging references of
  ``tests/test_charging_kernels.py`` through :func:`bench_charging.reference_seconds`; a
  per-hour ``numpy.linalg.solve`` loop for flow tracing), each on a subset and scaled up;
* compilation in a fresh process with an empty numba cache (``NUMBA_CACHE_DIR`` in a temporary
  folder), then loading from that warm cache in another fresh process;
* peak memory of one scenario-year in a fresh process (peak RSS; ``tracemalloc`` for what
  numpy allocates);
* the accounting kernel's effective bandwidth beside the machine's copy bandwidth;
* scaling of the end-to-end time with cities, years and strategies (fitted slope and R^2),
  the dask speed-up from 1 to 2 workers, and the per-task overheads;
* the targets, each MET or MISSED, and with ``--profile`` where the scenario-year's time goes.

Rows follow the row format of ``row()`` below; the rows of
``benchmarks/bench_grid.py: measure(inputs, repeats)`` are added when that file exists. The
table is printed and everything is saved as JSON (``--json PATH``; default
``benchmarks/results/<UTC timestamp>.json``, a folder git ignores: timings belong to a machine
and its load, commit a run on purpose with ``git add -f``).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import importlib
import json
import logging
import os
import platform
import pstats
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

_START = time.perf_counter()
import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
for _path in (REPO, REPO / "benchmarks"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import hourlysim.runner  # noqa: E402, F401, I001  (every kernel module: part of the import time)
from hourlysim import load_inputs  # noqa: E402
from hourlysim.allocator import keep_freed_memory  # noqa: E402
from hourlysim.charging import STRATEGIES  # noqa: E402
from hourlysim.inputs import InputSet  # noqa: E402
from hourlysim.scenario import Scenario  # noqa: E402
from hourlysim.timeaxis import model_time  # noqa: E402
from bench_pipeline import (  # noqa: E402
    call_seconds,
    call_usage,
    limit_blas_threads,
    row,
    subset_cities,
    timed,
)

#: Seconds this module took to import numpy and hourlysim (the import row of a fresh process).
IMPORT_S = time.perf_counter() - _START

#: Targets (one core, after compilation).
YEAR_TARGET_S = 1.0
CHARGING_TARGET_RATIO = 20.0
DISPATCH_NUMPY_TARGET_RATIO = 20.0
DISPATCH_LP_TARGET_RATIO = 100.0
TRACING_TARGET_RATIO = 10.0
#: Per-call usage the scenario-year's row and target carry beside ``repeats_s``
#: (:func:`measure_year`): user and system CPU time [s], minor page faults.
YEAR_USAGE = ("repeats_user_s", "repeats_system_s", "repeats_minor_faults")
#: Steady-state calls of the end-to-end scenario-year (``--year-repeats``): enough for its
#: spread, the one target within the machine's run-to-run noise
YEAR_REPEATS = 5
#: Rounds of the scaling measurement (:func:`measure_scaling`): each point's best of them
SCALING_ROUNDS = 3


# ---------------------------------------------------------------------------------------------
# the case and the timing helpers
# ---------------------------------------------------------------------------------------------
@dataclass
class Case:
    """One scenario-year to benchmark: the input set (perhaps a subset of its cities)."""

    inputs: InputSet
    scenario: Scenario
    year: int

    @property
    def time(self):
        return model_time(self.year)

    @property
    def n_city(self) -> int:
        return int(self.inputs.cities.sizes["city"])

    @property
    def city_hours(self) -> int:
        return self.n_city * len(self.time)


def make_case(
    inputs: InputSet | str | Path = REPO / "inputs",
    n_cities: int | None = None,
    year: int = 2020,
    strategies: tuple[str, ...] = STRATEGIES,
    years: tuple[int, ...] | None = None,
) -> Case:
    """A benchmark case on the shipped (or given) inputs."""
    if not isinstance(inputs, InputSet):
        inputs = load_inputs(inputs)
    scenario = Scenario(
        name="bench",
        inputs=Path(inputs.path),
        years=years or (year,),
        strategies=tuple(strategies),
    )
    return Case(subset_cities(inputs, n_cities), scenario, year)


def best_of(function, repeats: int) -> float:
    """The best of the calls after the first, ``repeats`` calls in all (at least two) [s]."""
    return min(timed(function, max(int(repeats) - 1, 1))[2])


def _quiet(message: str) -> None:
    pass


def _context(case: Case):
    from hourlysim.runner import YearContext

    return YearContext(case.inputs, case.scenario, case.year, _quiet)


# ---------------------------------------------------------------------------------------------
# references
# ---------------------------------------------------------------------------------------------
def charging_reference_inputs(context) -> dict:
    """The charging stage's inputs as :func:`bench_charging.reference_seconds` takes them."""
    inputs, vehicles, grid = context.inputs, context.inputs.vehicles, context.base_grid
    from hourlysim.accounting import INTENSITY_VARIABLE

    net_load = grid["demand"] - grid["generation"].sel(source=["wind", "solar"]).sum("source")
    return {
        "battery_energy": context.demand["battery_energy"],
        "charging_modes": vehicles[["power_kw", "session_kwh", "dwell_hours"]],
        "charging_arrivals": vehicles["arrival_share"].rename(hour_of_day="hour"),
        "mode_share": vehicles["mode_share"],
        "city_province": inputs.cities["city_province"],
        "signal": grid[INTENSITY_VARIABLE[context.scenario.carbon_signal]],
        "base_load": net_load,
        "solar_cf": inputs.hourly["cf_solar"].rename(hour="time"),
    }


def charging_reference(context, strategy: str, days: int, valley_days: int, sweeps: int):
    """Plain-numpy reference time of one strategy scaled to the national year, and its label.

    The reference schedules one province's merged cohorts over a few days with the functions of
    ``tests/test_charging_kernels.py``; it is scaled by (provinces with cities) x 365 / days.
    """
    import bench_charging

    tests = str(REPO / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    n_days = valley_days if strategy == "valley_filling" else days
    seconds, subset = bench_charging.reference_seconds(
        charging_reference_inputs(context), strategy, n_days, sweeps
    )
    n_province = len(set(context.inputs.cities["city_province"].values.tolist()))
    scale = n_province * (len(context.time) // 24) / n_days
    return seconds * scale, f"numpy tests ref, {subset} x{scale:.0f}"


def tracing_arrays(inputs: InputSet, grid) -> tuple:
    """The tracing kernel's arguments from a grid dataset: generation, emissions [kg],
    corridor ends (node indices) and flows."""
    codes = [str(p) for p in grid["province"].values]
    if "from_node" in grid["corridor"].coords:
        ends = grid["from_node"].values, grid["to_node"].values
    else:
        ends = inputs.corridors["from_province"].values, inputs.corridors["to_province"].values
    # nodes: the provinces, then any hub of the pool mode (no generation, passes power on)
    hubs = sorted({str(c) for c in (*ends[0], *ends[1])} - set(codes))
    index = {code: i for i, code in enumerate(codes + hubs)}
    corridor_from = np.array([index[str(c)] for c in ends[0]], np.int64)
    corridor_to = np.array([index[str(c)] for c in ends[1]], np.int64)
    n_time = grid.sizes["time"]
    total = np.zeros((len(index), n_time))
    total[: len(codes)] = grid["generation"].sum("source").transpose("province", "time")
    emissions = np.zeros((len(index), n_time))
    emissions[: len(codes)] = grid["production_emissions"].values * 1000.0
    flow = np.ascontiguousarray(grid["flow"].transpose("corridor", "time").values)
    return total, emissions, corridor_from, corridor_to, flow


def reference_tracing(total, emissions, corridor_from, corridor_to, flow, hours) -> np.ndarray:
    """Per-hour ``numpy.linalg.solve`` of ``(diag(G + imports) - F^T) c = E`` (plain numpy)."""
    n = total.shape[0]
    out = np.zeros((n, len(hours)))
    for i, t in enumerate(hours):
        matrix = np.diag(total[:, t].astype(float))
        np.add.at(matrix, (corridor_to, corridor_to), flow[:, t])
        np.add.at(matrix, (corridor_to, corridor_from), -flow[:, t])
        rhs = emissions[:, t].copy()
        empty = np.diagonal(matrix) <= 0.0
        matrix[empty] = 0.0
        matrix[empty, empty] = 1.0
        rhs[empty] = 0.0
        out[:, i] = np.linalg.solve(matrix, rhs)
    return out


def reference_attribution(arguments: tuple, hours=None) -> tuple:
    """Plain-numpy accounting of the given hours (all by default): per hour, the supply-share
    matrix by ``numpy.linalg.solve``, then the city x producer supply as a dense product.

    Parameters
    ----------
    arguments : tuple
        The accounting kernel's arguments (:func:`hourlysim.accounting.attribution_arguments`).
    hours : sequence of int, optional
        The hours to account.

    Returns
    -------
    consumption, consequential, territorial : ndarray (city, hour)
        EV emissions of the hours [t].
    burden_consumption, burden_consequential : ndarray (city, node)
        Their sums over the hours by producing node [t].
    """
    # the last argument, the draw summed by node, the reference sums for itself
    draw, city_node, weight, annual, generation, emissions, caused, frm, to, flow, loss, _ = (
        arguments
    )
    loss = np.broadcast_to(loss, flow.shape)  # (edge, 1) when the same every hour
    n_city = draw.shape[0]
    n_node = generation.shape[0]
    hours = np.arange(draw.shape[1]) if hours is None else np.asarray(hours)
    consumption = np.zeros((n_city, hours.size))
    consequential = np.zeros((n_city, hours.size))
    territorial = np.zeros((n_city, hours.size))
    burden_consumption = np.zeros((n_city, n_node))
    burden_consequential = np.zeros((n_city, n_node))
    for i, t in enumerate(hours):
        received = np.zeros((n_node, n_node))
        forward = flow[:, t] > 0
        sender = np.where(forward, frm, to)
        receiver = np.where(forward, to, frm)
        np.add.at(received, (sender, receiver), np.abs(flow[:, t]) * (1 - loss[:, t]))
        total = generation[:, t] + received.sum(axis=0)
        matrix = np.diag(np.where(total > 0, total, 1.0)) - received.T
        matrix[total <= 0] = np.eye(n_node)[total <= 0]
        share = np.linalg.solve(matrix, np.diag(np.where(total > 0, generation[:, t], 0.0)))
        rate = emissions[:, t] / np.where(generation[:, t] > 0, generation[:, t], 1)
        supply = draw[:, t, None] * share[city_node]  # city x producer
        consumption[:, i] = supply @ rate
        burden_consumption += supply * rate
        located = supply.sum(axis=0) * rate
        territorial[:, i] = weight * located[city_node]
        for p in range(n_node):
            if supply[:, p].sum() > 0:
                part = supply[:, p] / supply[:, p].sum()
            elif draw[:, t].sum() > 0:
                part = draw[:, t] / draw[:, t].sum()
            else:
                part = annual
            consequential[:, i] += caused[p, t] * part
            burden_consequential[:, p] += caused[p, t] * part
    return consumption, consequential, territorial, burden_consumption, burden_consequential


# ---------------------------------------------------------------------------------------------
# stage benchmarks
# ---------------------------------------------------------------------------------------------
def measure_stages(
    case: Case,
    repeats: int = 3,
    strategies: tuple[str, ...] = STRATEGIES,
    reference_days: int = 14,
    reference_valley_days: int = 2,
    reference_sweeps: int = 20,
    reference_hours: int = 240,
) -> tuple[list[dict], dict]:
    """Rows of every stage of one scenario-year, and the accounting bandwidth figures.

    Returns
    -------
    rows : list of dict
        benchmark rows (see ``row``), units in city-hours.
    extra : dict
        ``accounting_bytes`` moved by one kernel call, its bandwidth [GB s-1] and the tracing
        reference's largest deviation from the kernel [kg MWh-1].
    """
    from hourlysim._kernels.accounting import at_province_rate, attribute_ev_emissions
    from hourlysim._kernels.tracing import consumption_intensity
    from hourlysim.accounting import (
        attribution_arguments,
        ev_grid_draw_by_province,
        province_index,
    )
    from hourlysim.demand import driving_demand
    from hourlysim.grid import simulate_grid
    from hourlysim.runner import city_temperature

    inputs, scenario, year, time_axis = case.inputs, case.scenario, case.year, case.time
    units = case.city_hours
    rows = []
    temperature, first, steady = timed(
        lambda: city_temperature(inputs, scenario, year, time_axis), repeats
    )
    rows.append(row("temperature", first, steady, units))
    overrides = dict(scenario.parameters)
    _, first, steady = timed(
        lambda: driving_demand(
            inputs,
            temperature,
            year,
            ev_share=scenario.ev_share_for(year),
            parameters=overrides,
        ),
        repeats,
    )
    rows.append(row("demand", first, steady, units))

    context = _context(case)
    loads = {}
    # the strategies' calls added up repeat by repeat: repeat i of all of them
    total_first = total_reference = 0.0
    total_steady = None
    for strategy in strategies:
        loads[strategy], first, steady = timed(lambda s=strategy: context.charging(s), repeats)
        reference_s, label = charging_reference(
            context, strategy, reference_days, reference_valley_days, reference_sweeps
        )
        rows.append(row(f"charging: {strategy}", first, steady, units, label, reference_s))
        total_first += first
        total_steady = steady if total_steady is None else np.add(total_steady, steady)
        total_reference += reference_s
    if len(strategies) > 1:
        rows.append(
            row(
                f"charging: all {len(strategies)}",
                total_first,
                total_steady,
                units * len(strategies),
                "sum of the rows above",
                total_reference,
            )
        )

    grid, first, steady = timed(lambda: simulate_grid(inputs, time_axis), repeats)
    rows.append(row("grid without EVs", first, steady, units))
    draw, by_province, _, _ = ev_grid_draw_by_province(
        context.charging(strategies[0]),
        context.parameter("td_loss_fraction"),
        inputs.cities["city_province"],
    )
    _, first, steady = timed(lambda: simulate_grid(inputs, time_axis, by_province), repeats)
    rows.append(row(f"grid with EVs ({strategies[0]})", first, steady, units))

    arrays = tracing_arrays(inputs, grid)
    traced, first, steady = timed(lambda: consumption_intensity(*arrays), repeats)
    n_hours = arrays[0].shape[1]
    hours = np.linspace(0, n_hours - 1, min(reference_hours, n_hours)).astype(np.int64)
    start = time.perf_counter()
    reference = reference_tracing(*arrays, hours)
    reference_s = (time.perf_counter() - start) * n_hours / len(hours)
    deviation = float(np.max(np.abs(reference - traced[0][:, hours])))
    rows.append(
        row(
            "flow tracing (kernel)",
            first,
            steady,
            units,
            f"per-hour numpy.linalg.solve loop, {len(hours)} h x{n_hours / len(hours):.1f}",
            reference_s,
        )
    )

    index = province_index(inputs.cities["city_province"], grid["province"].values)
    values = np.ascontiguousarray(draw.transpose("city", "time").values)
    rate = np.ascontiguousarray(grid["average_intensity"].values)
    product = np.empty_like(values)
    one_method = (values, index, rate[None], product[None], np.zeros(1, np.int64))
    annual = np.empty((1, values.shape[0]))
    _, first, steady = timed(lambda: at_province_rate(*one_method, annual), max(repeats, 5))
    rows.append(row("accounting kernel (one method)", first, steady, units))
    moved = 2 * values.nbytes + rate.nbytes + index.nbytes
    extra = {
        "accounting_bytes": moved,
        "accounting_gb_per_s": moved / min(steady) / 1e9,
        "tracing_reference_max_abs_deviation_kg_per_mwh": deviation,
    }

    grid_with = simulate_grid(inputs, time_axis, by_province)
    arguments = attribution_arguments(
        draw, grid_with, grid, inputs, context.city_weight, draw_by_province=by_province
    )
    outputs = tuple(np.empty_like(arguments[0]) for _ in range(3))
    kernel_result, first, steady = timed(
        lambda: attribute_ev_emissions(*arguments, *outputs), repeats
    )
    hours = np.linspace(0, n_hours - 1, min(reference_hours, n_hours)).astype(np.int64)
    start = time.perf_counter()
    reference = reference_attribution(arguments, hours)
    reference_s = (time.perf_counter() - start) * n_hours / len(hours)
    extra["attribution_reference_max_relative_deviation"] = max(
        float(np.max(np.abs(ours[:, hours] - theirs)) / max(np.max(np.abs(theirs)), 1e-300))
        for ours, theirs in zip(kernel_result[:3], reference[:3], strict=True)
    )
    rows.append(
        row(
            "accounting kernel (all methods, traced)",
            first,
            steady,
            units,
            f"per-hour numpy solve + city x producer products, {len(hours)} h "
            f"x{n_hours / len(hours):.1f}",
            reference_s,
        )
    )

    for strategy in strategies:
        _, first, steady = timed(lambda s=strategy: context.strategy(s), repeats)
        rows.append(row(f"task (year, {strategy})", first, steady, units))
    return rows, extra


def measure_year(case: Case, repeats: int = YEAR_REPEATS) -> list[dict]:
    """End to end: :func:`hourlysim.runner.simulate_year` with the case's strategies, the
    first call then ``repeats`` more (each recorded in the row's ``repeats_s``, with the
    process's CPU time and page faults of each: ``repeats_user_s``, ``repeats_system_s``
    [s], ``repeats_minor_faults``; :func:`bench_pipeline.call_usage`).

    Every call's result is dropped before the next call starts, the first one's too: a
    batch (:func:`hourlysim.runner.run`) holds one scenario-year at a time, so keeping a
    second 0.7 GB result alive would make the next call grow the heap and fault in pages
    that no run touches (measured: 0.4-0.9 s of system time in the first repeat).
    """
    from hourlysim.runner import simulate_year

    def year():
        simulate_year(case.inputs, case.scenario, case.year)

    first = call_seconds(year)
    calls = [call_usage(year) for _ in range(max(int(repeats), 1))]
    n = len(case.scenario.strategies)
    out = row(
        f"scenario-year, {n} strategies",
        first,
        [call["wall_s"] for call in calls],
        case.city_hours * n,
    )
    for name in YEAR_USAGE:
        out[name] = [call[name.removeprefix("repeats_")] for call in calls]
    return [out]


def copy_bandwidth(megabytes: int = 256, repeats: int = 5) -> float:
    """The machine's copy bandwidth [GB s-1]: bytes read + written by a large numpy copy
    (best of ``repeats``)."""
    source = np.ones(megabytes * (1 << 20) // 8)
    target = np.empty_like(source)
    best = best_of(lambda: np.copyto(target, source), repeats)
    return 2 * source.nbytes / best / 1e9


# ---------------------------------------------------------------------------------------------
# fresh processes: compilation and memory
# ---------------------------------------------------------------------------------------------
def _child(mode: str, options: dict, cache_dir: str | None) -> dict:
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    command = [sys.executable, str(Path(__file__).resolve()), "--child", mode]
    command += ["--child-options", json.dumps(options)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark child '{mode}' failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _first_calls(options: dict) -> dict:
    """In this (fresh) process: import time and the first call of every stage [s]."""
    import hourlysim.runner as runner
    from hourlysim._kernels.accounting import at_province_rate
    from hourlysim._kernels.tracing import consumption_intensity
    from hourlysim.accounting import province_index
    from hourlysim.demand import driving_demand
    from hourlysim.grid import simulate_grid

    seconds = {"import numpy and hourlysim": IMPORT_S}
    case = _options_case(options)
    stages = options.get("stages") or ["demand", "grid", "charging", "tracing", "accounting"]

    def clock(name, function):
        start = time.perf_counter()
        result = function()
        seconds[name] = time.perf_counter() - start
        return result

    temperature = runner.city_temperature(case.inputs, case.scenario, case.year, case.time)
    if "demand" in stages:
        clock("demand", lambda: driving_demand(case.inputs, temperature, case.year))
    if "grid" in stages:
        clock("grid (dispatch and tracing)", lambda: simulate_grid(case.inputs, case.time))
    if not set(stages) - {"demand", "grid"}:
        return seconds
    context = _context(case)
    if "charging" in stages:
        for strategy in case.scenario.strategies:
            clock(f"charging: {strategy}", lambda s=strategy: context.charging(s))
    grid = context.base_grid
    arrays = tracing_arrays(case.inputs, grid)
    if "tracing" in stages:
        clock("flow tracing kernel (compiled by the grid)", lambda: consumption_intensity(*arrays))
    if "accounting" in stages:
        index = province_index(case.inputs.cities["city_province"], grid["province"].values)
        values = np.ones((case.n_city, len(case.time)))
        rate = np.ascontiguousarray(grid["average_intensity"].values)
        product = np.empty_like(values)
        rows, annual = np.zeros(1, np.int64), np.empty((1, values.shape[0]))
        clock(
            "accounting kernel",
            lambda: at_province_rate(values, index, rate[None], product[None], rows, annual),
        )
    return seconds


def _options_case(options: dict) -> Case:
    return make_case(
        options["inputs"], options.get("cities"), strategies=options.get("strategies") or STRATEGIES
    )


def measure_compile(
    inputs: str | Path = REPO / "inputs",
    n_cities: int | None = None,
    stages: list[str] | None = None,
    strategies: tuple[str, ...] | None = None,
) -> dict:
    """First calls in a fresh process with an empty numba cache (compilation), then in another
    fresh process with the cache that run left (loading compiled code) [s].

    ``stages`` (default all): ``demand``, ``grid``, ``charging`` (each of ``strategies``),
    ``tracing``, ``accounting``.
    """
    options = {"inputs": str(inputs), "cities": n_cities, "stages": stages}
    options["strategies"] = list(strategies) if strategies else None
    with tempfile.TemporaryDirectory(prefix="hourlysim-bench-numba-") as cache:
        start = time.perf_counter()
        cold = _child("first-calls", options, cache)
        cold_total = time.perf_counter() - start
        start = time.perf_counter()
        warm = _child("first-calls", options, cache)
        warm_total = time.perf_counter() - start
    return {
        "cold_cache_s": cold,
        "warm_cache_s": warm,
        "cold_process_s": cold_total,
        "warm_process_s": warm_total,
    }


def _year_memory(options: dict) -> dict:
    import tracemalloc

    from hourlysim.runner import simulate_year

    case = _options_case(options)
    simulate_year(case.inputs, case.scenario, case.year)  # compile or load the kernels
    gc.collect()
    tracemalloc.start()
    result = simulate_year(case.inputs, case.scenario, case.year)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"tracemalloc_peak_mb": peak / 2**20, "result_mb": result.nbytes / 2**20}


def _peak_rss_mb() -> float:
    """This process's resident-set high-water mark [MB]: ``VmHWM`` of ``/proc/self/status``
    (reset by ``exec``), else ``ru_maxrss``, which Linux carries over from the parent."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _max_rss_of_one_year(options: dict) -> dict:
    from hourlysim.runner import simulate_year

    case = _options_case(options)
    gc.collect()
    before = _peak_rss_mb()
    simulate_year(case.inputs, case.scenario, case.year)
    return {"max_rss_mb": _peak_rss_mb(), "max_rss_after_imports_and_inputs_mb": before}


def measure_memory(
    inputs: str | Path = REPO / "inputs",
    n_cities: int | None = None,
    strategies: tuple[str, ...] = STRATEGIES,
) -> dict:
    """Peak memory of one scenario-year, each figure from a fresh process [MB].

    ``one_year``: the resident-set high-water mark (:func:`_peak_rss_mb`) of a process that imports,
    loads the inputs and runs one year, and the mark before the year. ``tracemalloc``: the peak
    of what Python and numpy allocate during a year in a process that has run one already
    (numba's own allocations inside kernels are not traced; the high-water mark covers them),
    and the size of the year's result.
    """
    options = {"inputs": str(inputs), "cities": n_cities, "strategies": list(strategies)}
    return {
        "one_year": _child("max-rss", options, None),
        "tracemalloc": _child("memory", options, None),
    }


# ---------------------------------------------------------------------------------------------
# scaling, dask and overheads
# ---------------------------------------------------------------------------------------------
def _fit(x, y, repeats_s=None) -> dict:
    """Straight line through ``(x, y)`` [s]: slope, intercept and R^2, with the points (and
    every timed call of each point, ``repeats_s``, where given)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    slope, intercept = np.polyfit(x, y, 1)
    fitted = slope * x + intercept
    ss_res = float(np.sum((y - fitted) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    fit = {
        "x": x.tolist(),
        "seconds": y.tolist(),
        "slope_s_per_unit": float(slope),
        "intercept_s": float(intercept),
        "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0,
    }
    if repeats_s is not None:
        fit["repeats_s"] = [list(calls) for calls in repeats_s]
    return fit


def measure_scaling(
    inputs: InputSet,
    year: int = 2020,
    cities: tuple[int, ...] = (50, 100, 200, 337),
    years: tuple[int, ...] = (1, 2, 4),
    strategies: tuple[int, ...] = (1, 2, 3, 4, 5),
    base_cities: int | None = None,
    repeats: int = SCALING_ROUNDS,
) -> dict:
    """End-to-end time (kernels compiled) as cities, years and strategies grow, with the
    fitted slope and R^2 of a straight line through the points.

    Cities: :func:`simulate_year` with the first ``max(strategies)`` strategies on the first
    ``n`` cities. Years: that many consecutive years from ``year``, each a
    :func:`simulate_year` of ``base_cities`` cities (default all) with those strategies.
    Strategies: the first ``k`` of :data:`STRATEGIES` on ``base_cities`` cities.

    Every point is run once untimed, then timed once per round, ``repeats`` rounds that
    each run all the points in turn; a point's time is its best round. Interleaved, a
    slower spell of the machine or a stall of one call (both common on a shared VM) slows
    one round of every point instead of every call of one point, which bent the fitted
    lines when each point was timed on its own.
    """
    from hourlysim.runner import simulate_year

    every = STRATEGIES[: max(strategies)]
    points = {
        "cities": [(n, 1, every) for n in cities],
        "years": [(base_cities, n, every) for n in years],
        "strategies": [(base_cities, 1, STRATEGIES[:k]) for k in strategies],
    }

    def case_run(n_cities, n_years, chosen):
        case = make_case(inputs, n_cities, year, chosen)

        def run():
            for offset in range(n_years):
                simulate_year(case.inputs, case.scenario, year + offset)

        return case.n_city, run

    runs = {name: [case_run(*point) for point in group] for name, group in points.items()}
    calls = {name: [[] for _ in group] for name, group in runs.items()}
    for round_ in range(max(int(repeats), 1) + 1):  # round 0: untimed
        for name, group in runs.items():
            for i, (_, run) in enumerate(group):
                seconds = call_seconds(run)
                if round_:
                    calls[name][i].append(seconds)
    x = {
        "cities": [n_city for n_city, _ in runs["cities"]],
        "years": list(years),
        "strategies": list(strategies),
    }
    return {name: _fit(x[name], [min(c) for c in calls[name]], calls[name]) for name in points}


def _noop(x):
    return x


def _strategy_task(inputs: InputSet, scenario: Scenario, year: int, strategy: str) -> float:
    """One (year, strategy) task as a dask worker runs it; returns a small summary (a worker
    writes its part file locally, so the cube is not shipped back)."""
    from hourlysim.runner import YearContext

    logging.getLogger("hourlysim").setLevel(logging.ERROR)  # the grid's imbalance warnings
    data = YearContext(inputs, scenario, year, _quiet).strategy(strategy)
    return float(data["charging_load"].sum())


def _warm_worker(inputs: InputSet) -> bool:
    """Load every kernel in a worker: each strategy's task once on a few cities."""
    case = make_case(inputs, 5)
    for strategy in STRATEGIES:
        _strategy_task(case.inputs, case.scenario, case.year, strategy)
    return True


def measure_dask(
    case: Case,
    workers: tuple[int, ...] = (1, 2),
    n_years: int = 2,
    n_strategies: int = 2,
    overhead_repeats: int = 20,
) -> dict:
    """Wall time of a batch of (year, strategy) tasks on ``LocalCluster(n_workers=k,
    threads_per_worker=1)`` for each ``k``, the speed-up, and the round trip of a trivial task
    against a direct call [s]. Workers load the kernels before the clock starts."""
    from dask.distributed import Client, LocalCluster

    tasks = [
        (case.year + offset, strategy)
        for offset in range(n_years)
        for strategy in STRATEGIES[:n_strategies]
    ]
    scenario = case.scenario.model_copy(
        update={"years": tuple(sorted({y for y, _ in tasks})), "strategies": STRATEGIES}
    )
    path = os.pathsep.join([str(REPO / "benchmarks"), str(REPO), os.environ.get("PYTHONPATH", "")])
    os.environ["PYTHONPATH"] = path.rstrip(os.pathsep)
    out = {"tasks": [list(t) for t in tasks], "batch_s": {}}
    for k in workers:
        with (
            LocalCluster(
                n_workers=k,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            ) as cluster,
            Client(cluster) as client,
        ):
            remote_inputs = client.scatter(case.inputs, broadcast=True)
            client.run(_warm_worker, case.inputs)
            start = time.perf_counter()
            futures = [
                client.submit(_strategy_task, remote_inputs, scenario, y, s, pure=False)
                for y, s in tasks
            ]
            client.gather(futures)
            out["batch_s"][k] = time.perf_counter() - start
            if k == workers[0]:
                trips = []
                for _ in range(overhead_repeats):
                    start = time.perf_counter()
                    client.submit(_noop, 1, pure=False).result()
                    trips.append(time.perf_counter() - start)
                out["trivial_task_s"] = min(trips)
    direct = []
    for _ in range(overhead_repeats):
        start = time.perf_counter()
        _noop(1)
        direct.append(time.perf_counter() - start)
    out["direct_call_s"] = min(direct)
    first, last = workers[0], workers[-1]
    out["speed_up"] = out["batch_s"][first] / out["batch_s"][last]
    out["batch_s"] = {str(k): v for k, v in out["batch_s"].items()}
    return out


def measure_context(case: Case, repeats: int = 3) -> list[dict]:
    """Cost of building a :class:`YearContext` (temperature, demand, grid without EVs)."""
    _, first, steady = timed(lambda: _context(case), repeats)
    return [row("YearContext build (shared by strategies)", first, steady, case.city_hours)]


# ---------------------------------------------------------------------------------------------
# grid helper's rows, targets, profile, output
# ---------------------------------------------------------------------------------------------
def grid_rows(inputs: InputSet, repeats: int) -> tuple[list[dict], str | None]:
    """The rows of ``benchmarks/bench_grid.py: measure(inputs, repeats)`` if that file exists."""
    if not (REPO / "benchmarks" / "bench_grid.py").exists():
        return [], "benchmarks/bench_grid.py absent: dispatch ratios not measured in this run"
    module = importlib.import_module("bench_grid")
    return list(module.measure(inputs, repeats)), None


def ratio(r: dict) -> float | None:
    if r.get("reference_s") is None or not r["steady_s"] > 0:
        return None
    return r["reference_s"] / r["steady_s"]


def targets(rows: list[dict]) -> list[dict]:
    """Every target with its measured figure and MET / MISSED (or NOT MEASURED).

    The figure is the steady state (the best call); the end-to-end scenario-year's target
    also carries every call it was the best of (``repeats_s`` [s]) and, where measured,
    their CPU time and page faults (:data:`YEAR_USAGE`): the one target close enough to the
    machine's run-to-run noise for their spread to matter.
    """
    out = []

    def add(name, value, goal, met, unit):
        out.append(
            {
                "target": name,
                "value": value,
                "goal": goal,
                "unit": unit,
                "status": "NOT MEASURED" if value is None else ("MET" if met else "MISSED"),
            }
        )

    year = [r for r in rows if r["stage"].startswith("scenario-year, 5")]
    value = year[0]["steady_s"] if year else None
    add(
        "scenario-year, 5 strategies, end to end",
        value,
        YEAR_TARGET_S,
        bool(year) and value < YEAR_TARGET_S,
        "s",
    )
    if year:
        for name in ("repeats_s", *YEAR_USAGE):
            if name in year[0]:
                out[-1][name] = year[0][name]
    for r in rows:
        if r["stage"].startswith("charging:"):
            value = ratio(r)
            add(
                f"{r['stage']} vs numpy",
                value,
                CHARGING_TARGET_RATIO,
                value is not None and value >= CHARGING_TARGET_RATIO,
                "x",
            )
    tracing = [r for r in rows if r["stage"].startswith("flow tracing")]
    value = ratio(tracing[0]) if tracing else None
    add(
        "flow tracing vs per-hour solve",
        value,
        TRACING_TARGET_RATIO,
        value is not None and value >= TRACING_TARGET_RATIO,
        "x",
    )
    dispatch = [r for r in rows if "dispatch" in r["stage"].lower() and r.get("reference")]
    for kind, goal in (("numpy", DISPATCH_NUMPY_TARGET_RATIO), ("LP", DISPATCH_LP_TARGET_RATIO)):
        found = [
            r
            for r in dispatch
            if (kind == "LP")
            == any(w in r["reference"].lower() for w in ("lp", "linprog", "highs"))
        ]
        value = ratio(found[0]) if found else None
        add(f"dispatch vs {kind}", value, goal, value is not None and value >= goal, "x")
    return out


#: (label, file, function) of the pieces of a scenario-year, for the profile's breakdown
PROFILE_PIECES = (
    ("YearContext: temperature", "runner.py", "city_temperature"),
    ("demand", "demand.py", "year_demand"),
    ("grid: EV-independent inputs prepared once", "grid.py", "prepare_grid"),
    ("grid: without EVs + one per strategy", "grid.py", "simulate"),
    ("  dispatch kernel", "dispatch.py", "dispatch"),
    ("charging: cohorts planned once", "charging.py", "plan_charging"),
    ("charging: one schedule per strategy", "charging.py", "load"),
    ("draw and its sums by province", "accounting.py", "ev_grid_draw_by_province"),
    ("accounting", "accounting.py", "account"),
    ("  accounting kernel (tracing + traced methods)", "accounting.py", "attribute_ev_emissions"),
    ("  accounting kernel (province-rate methods)", "accounting.py", "at_province_rate"),
    ("indicators", "inequality.py", "city_indicators"),
    ("all strategies (the per-strategy rows above + the casts)", "runner.py", "stack_strategies"),
    ("labels and annotate", "runner.py", "_label"),
    ("common (strategy-independent outputs)", "runner.py", "_common_variables"),
    ("strategies and common in one dataset", "runner.py", "_without_alignment"),
)


def _is_kernel(path: str, name: str) -> bool:
    """Whether a profiled function is a compiled kernel (a numba dispatcher of
    ``hourlysim._kernels``): the profiler cannot look inside one, so its own time is all of
    it, the kernels it calls included."""
    module = Path(path)
    if module.parent.name != "_kernels" or module.parent.parent.name != "hourlysim":
        return False
    function = getattr(importlib.import_module(f"hourlysim._kernels.{module.stem}"), name, None)
    return hasattr(function, "py_func")


def profile_year(case: Case, top: int = 20) -> dict:
    """Where one scenario-year's time goes: cProfile of :func:`simulate_year` (kernels
    compiled): the cumulative time of each piece (:data:`PROFILE_PIECES`; nested pieces are
    indented, and a piece's time includes the labelling it calls), the ``top`` functions by
    own time, the time inside the compiled kernels (``kernels_s``: the rest is Python, numpy
    and xarray around them, and the profiler's own cost), and the total."""
    from hourlysim.runner import simulate_year

    simulate_year(case.inputs, case.scenario, case.year)
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    simulate_year(case.inputs, case.scenario, case.year)
    profiler.disable()
    total = time.perf_counter() - start
    stats = pstats.Stats(profiler).stats
    kernels = sum(
        own for (path, _, name), (_, _, own, _, _) in stats.items() if _is_kernel(path, name)
    )
    pieces = {}
    for label, file, function in PROFILE_PIECES:
        pieces[label] = sum(
            cumulative
            for (path, _, name), (_, _, _, cumulative, callers) in stats.items()
            if path.endswith(file)
            and name == function
            # recursive or nested calls of the same function count once: top-level callers only
            and not any(c[0].endswith(file) and c[2] == function for c in callers)
        )
    by_own = sorted(stats.items(), key=lambda item: -item[1][2])[:top]
    return {
        "total_s": total,
        "kernels_s": kernels,
        "pieces_s": pieces,
        "functions": [
            {"function": f"{Path(f).name}:{line}({name})", "own_s": own, "cumulative_s": cum}
            for (f, line, name), (_, _, own, cum, _) in by_own
        ],
    }


def cpu_spent(target: dict) -> str:
    """A target's per-call CPU time and page faults in words (empty where not measured)."""
    user, system, faults = (target.get(name) for name in YEAR_USAGE)
    if not user or None in user:
        return ""
    return (
        f"CPU per call: user {', '.join(f'{s:.3f}' for s in user)} s; system "
        f"{', '.join(f'{s:.3f}' for s in system)} s; minor page faults "
        f"{', '.join(str(n) for n in faults)}"
    )


def spread(repeats_s: list[float]) -> str:
    """The steady-state calls of a row in words: how many, best, median and slowest [s]."""
    return (
        f"best of {len(repeats_s)} calls; median {np.median(repeats_s):.3f} s, slowest "
        f"{max(repeats_s):.3f} s"
    )


def format_rows(rows: list[dict]) -> str:
    """The rows as a fixed-width table."""
    head = (
        f"{'stage':44s}{'first s':>9s}{'steady s':>10s}{'median s':>10s}{'city-h/s':>11s}"
        f"{'ref s':>10s}{'x ref':>8s}  reference"
    )
    lines = [head, "-" * (len(head) + 30)]
    for r in rows:
        per_s = r["units"] / r["steady_s"] if r["steady_s"] > 0 else float("nan")
        x = ratio(r)
        lines.append(
            f"{r['stage'][:44]:44s}{r['first_s']:9.3f}{r['steady_s']:10.3f}"
            f"{np.median(r['repeats_s']):10.3f}{per_s:11.3g}"
            + (f"{r['reference_s']:10.2f}{x:8.1f}  {r['reference']}" if x is not None else "")
        )
    return "\n".join(lines)


def machine() -> dict:
    import numba

    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "cpus": os.cpu_count(),
        "load_average": list(os.getloadavg()),
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", default=str(REPO / "inputs"))
    parser.add_argument("--year", type=int, default=2020)
    parser.add_argument("--cities", type=int, default=None, help="subset of cities (default all)")
    parser.add_argument("--repeats", type=int, default=3, help="steady state: best of N")
    parser.add_argument(
        "--year-repeats",
        type=int,
        default=YEAR_REPEATS,
        help="steady-state calls of the end-to-end scenario-year (each recorded)",
    )
    parser.add_argument("--json", default=None, help="output JSON (default benchmarks/results/)")
    parser.add_argument("--quick", action="store_true", help="skip scaling, dask and children")
    parser.add_argument("--skip", default="", help="comma list of: compile,memory,scaling,dask")
    parser.add_argument("--profile", action="store_true", help="cProfile the scenario-year")
    parser.add_argument("--blas-threads", type=int, default=1, help="BLAS threads (1: one core)")
    parser.add_argument("--reference-days", type=int, default=14, help="charging reference days")
    parser.add_argument("--reference-valley-days", type=int, default=2)
    parser.add_argument("--reference-sweeps", type=int, default=20, help="valley reference sweeps")
    parser.add_argument("--reference-hours", type=int, default=240, help="tracing reference hours")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-options", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    kept = keep_freed_memory()  # as every task of a run does (hourlysim.allocator)
    blas = limit_blas_threads(args.blas_threads)  # the targets are for one core
    logging.disable(logging.WARNING)  # the shipped grid's imbalance warnings, once per call
    if args.child:
        options = json.loads(args.child_options)
        function = {
            "first-calls": _first_calls,
            "memory": _year_memory,
            "max-rss": _max_rss_of_one_year,
        }[args.child]
        print(json.dumps(function(options)))
        return 0
    skip = set(filter(None, args.skip.split(",")))
    if args.quick:
        skip |= {"compile", "memory", "scaling", "dask"}

    started = datetime.now(UTC)
    report = {
        "started": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "allocator_keeps_freed_memory": kept,
        "blas": blas,
    }
    inputs = load_inputs(args.inputs)
    case = make_case(inputs, args.cities, args.year)
    print(
        f"hourlysim benchmarks: {case.n_city} cities x {len(case.time)} h = "
        f"{case.city_hours:,} city-hours per strategy; best of {args.repeats}; "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; freed memory kept: {kept} "
        "(HOURLYSIM_KEEP_FREED_MEMORY=0 to measure without); BLAS threads: "
        f"{[b['threads'] for b in blas]} (--blas-threads)"
    )
    rows, extra = measure_stages(
        case,
        args.repeats,
        reference_days=args.reference_days,
        reference_valley_days=args.reference_valley_days,
        reference_sweeps=args.reference_sweeps,
        reference_hours=args.reference_hours,
    )
    rows += measure_context(case, args.repeats)
    rows += measure_year(case, args.year_repeats)
    extra_rows, note = grid_rows(inputs, args.repeats)
    rows += extra_rows
    report["rows"] = rows
    report["notes"] = [note] if note else []
    bandwidth = copy_bandwidth()
    report["bandwidth"] = {
        "accounting_kernel_gb_per_s": extra["accounting_gb_per_s"],
        "accounting_bytes_per_call": extra["accounting_bytes"],
        "numpy_copy_gb_per_s": bandwidth,
        "fraction_of_copy": extra["accounting_gb_per_s"] / bandwidth,
    }
    for name in (
        "tracing_reference_max_abs_deviation_kg_per_mwh",
        "attribution_reference_max_relative_deviation",
    ):
        report[name] = extra[name]
    print(format_rows(rows))
    print(
        "\ntraced accounting kernel vs its numpy reference: max relative deviation "
        f"{extra['attribution_reference_max_relative_deviation']:.1e}"
    )
    print(
        f"accounting kernel (one method): {extra['accounting_gb_per_s']:.2f} GB/s effective "
        f"({extra['accounting_bytes'] / 1e6:.0f} MB read + written per call); numpy copy "
        f"{bandwidth:.2f} GB/s; ratio {extra['accounting_gb_per_s'] / bandwidth:.2f}"
    )
    if "compile" not in skip:
        report["compile"] = measure_compile(args.inputs, args.cities)
        print("\nfirst calls in a fresh process [s]: empty numba cache / warm cache")
        cold, warm = report["compile"]["cold_cache_s"], report["compile"]["warm_cache_s"]
        for name in cold:
            print(f"  {name:44s}{cold[name]:9.2f}{warm[name]:9.2f}")
    if "memory" not in skip:
        report["memory"] = measure_memory(args.inputs, args.cities)
        one, traced = report["memory"]["one_year"], report["memory"]["tracemalloc"]
        print(
            f"\npeak memory, one scenario-year (5 strategies), fresh process: peak RSS "
            f"{one['max_rss_mb']:.0f} MB (after imports and inputs "
            f"{one['max_rss_after_imports_and_inputs_mb']:.0f} MB); tracemalloc peak "
            f"{traced['tracemalloc_peak_mb']:.0f} MB; result {traced['result_mb']:.0f} MB"
        )
    if "scaling" not in skip:
        report["scaling"] = measure_scaling(inputs, args.year)
        print("\nscaling of the end-to-end time (straight-line fit)")
        for name, fit in report["scaling"].items():
            points = ", ".join(
                f"{x:g}: {s:.2f} s" for x, s in zip(fit["x"], fit["seconds"], strict=True)
            )
            print(
                f"  {name:10s} slope {fit['slope_s_per_unit']:.4f} s per unit, intercept "
                f"{fit['intercept_s']:.2f} s, R^2 {fit['r2']:.4f}  ({points})"
            )
    if "dask" not in skip:
        report["dask"] = measure_dask(case)
        d = report["dask"]
        print(
            f"\ndask LocalCluster, {len(d['tasks'])} (year, strategy) tasks: "
            + ", ".join(f"{k} worker(s) {v:.2f} s" for k, v in d["batch_s"].items())
            + f"; speed-up {d['speed_up']:.2f}; trivial task round trip "
            f"{1e3 * d['trivial_task_s']:.2f} ms vs direct call {1e6 * d['direct_call_s']:.2f} us"
        )
    report["targets"] = targets(rows)
    print("\ntargets (one core, after compilation)")
    for t in report["targets"]:
        value = "-" if t["value"] is None else f"{t['value']:.2f} {t['unit']}"
        sign = "<" if t["unit"] == "s" else ">="
        print(f"  {t['status']:12s} {t['target']:48s} {value:>12s} (goal {sign} {t['goal']:g})")
        if "repeats_s" in t:
            print(f"{'':16s}{spread(t['repeats_s'])}")
        spent = cpu_spent(t)
        if spent:
            print(f"{'':16s}{spent}")
    for note in report["notes"]:
        print(f"  note: {note}")
    if args.profile:
        report["profile"] = profile_year(case)
        profile = report["profile"]
        print(
            f"\nwhere the scenario-year's time goes (cProfile, cumulative) [s]; "
            f"total {profile['total_s']:.3f} s under the profiler"
        )
        for name, seconds in profile["pieces_s"].items():
            print(f"  {seconds:8.3f}  {name}")
        print(
            f"  {profile['kernels_s']:8.3f}  inside the compiled kernels, all pieces together "
            f"(the other {profile['total_s'] - profile['kernels_s']:.3f} s: Python, numpy, "
            "xarray and the profiler)"
        )
        print("  functions by own time:")
        for f in profile["functions"][:12]:
            print(f"  {f['own_s']:8.3f}  {f['function']}")
    path = (
        Path(args.json)
        if args.json
        else (REPO / "benchmarks" / "results" / f"{started:%Y%m%dT%H%M%SZ}.json")
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    report["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    path.write_text(json.dumps(report, indent=1))
    print(f"\nsaved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
