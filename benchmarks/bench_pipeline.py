"""Benchmark of a national scenario-year on the shipped default inputs, stage by stage.

Run ``python benchmarks/bench_pipeline.py [--inputs inputs] [--year 2020] [--repeats 3]
[--cities N]``.
Prints, for each stage and each charging strategy, the first call (includes numba compilation
unless the on-disk cache is warm) and the steady-state time (best of ``--repeats``), with the
throughput in city-hours per second (337 units x 8,760 h per strategy).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

try:
    import resource
except ImportError:  # not on Windows: call_usage then gives the wall-clock time alone
    resource = None

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hourlysim import charging, load_inputs  # noqa: E402
from hourlysim.demand import driving_demand  # noqa: E402
from hourlysim.grid import simulate_grid  # noqa: E402
from hourlysim.inputs import InputSet  # noqa: E402
from hourlysim.runner import YearContext, city_temperature  # noqa: E402
from hourlysim.scenario import Scenario  # noqa: E402
from hourlysim.timeaxis import model_time  # noqa: E402


def limit_blas_threads(threads: int = 1) -> list[dict]:
    """Run BLAS on ``threads`` threads for the rest of the process.

    The targets are for one core, but numpy's matmul and the ``np.dot`` calls inside the
    accounting kernel use every core through OpenBLAS by default (numpy and scipy each load
    their own). threadpoolctl limits both at run time.

    Returns
    -------
    list of dict
        Each BLAS library loaded (``internal_api``, ``num_threads``) after the limit.
    """
    from threadpoolctl import threadpool_info, threadpool_limits

    threadpool_limits(limits=threads, user_api="blas")
    return [
        {"library": info["internal_api"], "threads": info["num_threads"]}
        for info in threadpool_info()
        if info["user_api"] == "blas"
    ]


def call_usage(function) -> dict:
    """One call of ``function``, after a garbage collection, with what the process spent on
    it (what the function returns is dropped).

    Returns
    -------
    dict
        ``wall_s`` [s]; the process's ``user_s`` and ``system_s`` CPU time [s] and
        ``minor_faults`` (pages first touched) over the call, or None where the platform
        has no ``resource`` module. System time in a single-threaded call is mostly those
        page faults: memory the heap had not held before. A call slower than another by
        user time alone ran slower on the same memory (the machine), not in the kernel's
        page tables.
    """
    gc.collect()
    before = _usage()
    start = time.perf_counter()
    function()
    wall = time.perf_counter() - start
    after = _usage()
    spent = {"wall_s": wall, "user_s": None, "system_s": None, "minor_faults": None}
    if before is not None and after is not None:
        spent["user_s"] = after.ru_utime - before.ru_utime
        spent["system_s"] = after.ru_stime - before.ru_stime
        spent["minor_faults"] = int(after.ru_minflt - before.ru_minflt)
    return spent


def _usage():
    """This process's resource usage so far, or None without the ``resource`` module."""
    return None if resource is None else resource.getrusage(resource.RUSAGE_SELF)


def call_seconds(function) -> float:
    """One call of ``function``, after a garbage collection [s] (what it returns is dropped)."""
    return call_usage(function)["wall_s"]


def timed(function, repeats: int):
    """Time a call: the first one, then ``repeats`` more (at least one, by
    :func:`call_seconds`), each after a garbage collection.

    Returns
    -------
    result
        What the first call returned.
    first : float
        The first call [s] (numba compilation included unless its cache is warm).
    repeats_s : list of float
        Each of the steady-state calls [s], in order: their minimum is the steady state,
        their spread tells a stall of one call from a slower machine.
    """
    gc.collect()
    start = time.perf_counter()
    result = function()
    first = time.perf_counter() - start
    repeats_s = [call_seconds(function) for _ in range(max(int(repeats), 1))]
    return result, first, repeats_s


def row(stage, first_s, repeats_s, units, reference=None, reference_s=None, unit_name="city-h"):
    """One benchmark row, as every benchmark script saves it.

    Parameters
    ----------
    stage : str
        What was timed.
    first_s : float
        The first call [s].
    repeats_s : sequence of float
        The steady-state calls [s] (:func:`timed`); ``steady_s`` is their minimum.
    units : int
        Units (``unit_name``) one call computes.
    reference, reference_s : str and float, optional
        The reference the stage is compared with, and its time for the same units [s].
    unit_name : str
        ``city-h`` or ``province-h``.
    """
    repeats_s = [float(seconds) for seconds in repeats_s]
    if not repeats_s:
        raise ValueError(f"{stage}: a row needs at least one steady-state time")
    return {
        "stage": stage,
        "first_s": float(first_s),
        "steady_s": min(repeats_s),
        "repeats_s": repeats_s,
        "units": int(units),
        "unit_name": unit_name,
        "reference": reference,
        "reference_s": None if reference_s is None else float(reference_s),
    }


def subset_cities(inputs: InputSet, n_cities: int | None) -> InputSet:
    """The input set restricted to its first ``n_cities`` cities (whole provinces in the input
    order, the last one perhaps partial; the grid keeps every province)."""
    if n_cities is None or n_cities >= inputs.cities.sizes["city"]:
        return inputs
    return InputSet(**{**inputs.__dict__, "cities": inputs.cities.isel(city=slice(0, n_cities))})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", default=str(REPO / "inputs"))
    parser.add_argument("--year", type=int, default=2020)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cities", type=int, default=None, help="subset of cities (default all)")
    args = parser.parse_args(argv)

    inputs = subset_cities(load_inputs(args.inputs), args.cities)
    scenario = Scenario(name="bench", inputs=Path(args.inputs))
    time_axis = model_time(args.year)
    n_city = inputs.cities.sizes["city"]
    city_hours = n_city * len(time_axis)
    rows = []

    temperature, first, repeats = timed(
        lambda: city_temperature(inputs, scenario, args.year, time_axis), args.repeats
    )
    rows.append(("temperature", first, min(repeats)))
    demand, first, repeats = timed(
        lambda: driving_demand(inputs, temperature, args.year), args.repeats
    )
    rows.append(("1 demand", first, min(repeats)))
    grid, first, repeats = timed(lambda: simulate_grid(inputs, time_axis), args.repeats)
    rows.append(("3 grid (dispatch + tracing)", first, min(repeats)))

    context = YearContext(inputs, scenario, args.year, lambda message: None)
    total_charging = 0.0
    for strategy in charging.STRATEGIES:
        _, first, repeats = timed(lambda s=strategy: context.charging(s), args.repeats)
        rows.append((f"2 charging: {strategy}", first, min(repeats)))
        total_charging += min(repeats)
    rows.append(("2 charging: all five", float("nan"), total_charging))

    print(
        f"national scenario-year: {n_city} cities x {len(time_axis)} h "
        f"= {city_hours:,} city-hours per strategy; best of {args.repeats}"
    )
    print(f"{'stage':32s} {'first call s':>12s} {'steady s':>10s} {'city-h/s':>12s}")
    for name, first, best in rows:
        scale = 5 if name.endswith("all five") else 1
        print(f"{name:32s} {first:12.3f} {best:10.3f} {scale * city_hours / best:12.3e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
