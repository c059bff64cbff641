"""Benchmark of the grid stage: dispatch (both exchange modes) and flow tracing.

Run ``python benchmarks/bench_grid.py [--inputs inputs] [--repeats 3]``. Rows (the format
shared with the other benchmarks): the first call (numba compilation, or loading its on-disk
cache, included) and the steady state (best of ``repeats``) per stage, in province-hours per
call, with a reference measured in the same run where one exists:

- ``grid: scheduled`` / ``grid: pool``: one :func:`hourlysim.grid.simulate_grid` call;
- ``grid: with and without EVs``: what a scenario-year does for its grid without EVs and
  one strategy: the year prepared once (:func:`hourlysim.grid.prepare_grid`), then simulated
  without and with EVs (pool mode, the default; the EV draw is a synthetic 3% of each
  province's demand: a load, not an estimate);
- ``merit order``: :func:`hourlysim.grid.merit_order` on each province's year (coal and gas
  against the load left after must-run, wind and solar), against the same years solved as
  one LP per province with HiGHS (``scipy.optimize.linprog``);
- ``flow tracing``: the tracing kernel on the pool-mode flows (provinces + hubs) against a
  per-hour ``numpy.linalg.solve`` loop of the same system.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse
from scipy.optimize import linprog

REPO = Path(__file__).resolve().parents[1]
for _path in (REPO, REPO / "benchmarks"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from bench_pipeline import limit_blas_threads, row, timed  # noqa: E402

from hourlysim import load_inputs  # noqa: E402
from hourlysim._kernels.tracing import consumption_intensity  # noqa: E402
from hourlysim.allocator import keep_freed_memory  # noqa: E402
from hourlysim.grid import merit_order, prepare_grid, simulate_grid  # noqa: E402
from hourlysim.inputs import InputSet  # noqa: E402
from hourlysim.timeaxis import model_time  # noqa: E402

#: the unit of this file's rows: one province's hour
PROVINCE_HOURS = "province-h"


def _lp_years(net_load: np.ndarray, capacity: np.ndarray, cost: np.ndarray) -> float:
    """Solve each province's year as one LP (HiGHS); return the total cost."""
    total = 0.0
    n_hour, n_source = net_load.shape[1], cost.size
    # one row per hour: sum of sources = served load
    rows = np.repeat(np.arange(n_hour), n_source)
    a_eq = scipy.sparse.csr_matrix(
        (np.ones(n_hour * n_source), (rows, np.arange(n_hour * n_source))),
        shape=(n_hour, n_hour * n_source),
    )
    for p in range(net_load.shape[0]):
        served = np.minimum(np.maximum(net_load[p], 0.0), capacity[p].sum(axis=1))
        bounds = np.stack([np.zeros(n_hour * n_source), capacity[p].ravel()], axis=1)
        result = linprog(
            np.tile(cost, n_hour), A_eq=a_eq, b_eq=served, bounds=bounds, method="highs"
        )
        if result.status != 0:
            raise RuntimeError(f"HiGHS failed on province {p}: {result.message}")
        total += result.fun
    return total


def _merit_order_numpy(net_load, capacity, cost) -> np.ndarray:
    """Plain numpy reference of the merit order: per hour, sources in cost order fill the load
    up to their capacity (ties by index; the kernel breaks ties by emission rate, so use it
    only with distinct costs)."""
    order = np.argsort(cost, kind="stable")
    out = np.zeros(capacity.shape)
    for t in range(net_load.shape[0]):
        left = max(net_load[t], 0.0)
        for s in order:
            take = min(left, capacity[t, s])
            out[t, s] = take
            left -= take
    return out


def _tracing_reference(total, emissions, frm, to, flow) -> np.ndarray:
    """Per-hour numpy.linalg.solve of (diag(G + imports) - F^T) c = E (bench_all's reference)."""
    from bench_all import reference_tracing

    return reference_tracing(total, emissions, frm, to, flow, range(total.shape[1]))


def measure(inputs: InputSet, repeats: int = 3) -> list[dict]:
    """Time the grid stage on an input set.

    Parameters
    ----------
    inputs : InputSet
        Input set (its provinces x 8,760 h are the size measured).
    repeats : int
        Steady-state calls per stage (each is recorded; the best is the steady state).

    Returns
    -------
    list of dict
        Rows ``stage, first_s, steady_s, repeats_s, units, unit_name, reference,
        reference_s`` (:func:`bench_pipeline.row`).
    """
    time_axis = model_time(int(inputs.parameter("base_year")))
    n_province = inputs.provinces.sizes["province"]
    units = n_province * len(time_axis)
    rows = []
    grids = {}
    for mode in ("scheduled", "pool"):
        grids[mode], first, steady = timed(
            lambda m=mode: simulate_grid(inputs, time_axis, exchange=m), repeats
        )
        rows.append(row(f"grid: {mode}", first, steady, units, unit_name=PROVINCE_HOURS))
    base = grids["scheduled"]
    draw = 0.03 * base["demand"]

    def with_and_without():
        year = prepare_grid(inputs, time_axis)
        return year.simulate(None), year.simulate(draw)

    _, first, steady = timed(with_and_without, repeats)
    rows.append(
        row("grid: with and without EVs", first, steady, 2 * units, unit_name=PROVINCE_HOURS)
    )

    # merit order of coal and gas on each province's year
    generation = base["generation"]
    must_take = generation.sel(source=["hydro", "nuclear", "wind", "solar", "biomass"]).sum(
        "source"
    )
    chp_and_rest = base["load"] - base["net_import"] - must_take
    capacity = inputs.provinces["capacity"]
    coal = capacity.sel(capacity_source="coal").values
    gas = capacity.sel(capacity_source="gas").values
    cap = np.broadcast_to(
        np.stack([coal, gas], axis=1)[:, None, :], (n_province, len(time_axis), 2)
    ).copy()
    cost = np.array([inputs.parameter("merit_cost_coal"), inputs.parameter("merit_cost_gas")])
    rate = np.array([inputs.parameter("emission_rate_coal"), inputs.parameter("emission_rate_gas")])
    net = np.ascontiguousarray(chp_and_rest.values)

    def run_merit():
        return [merit_order(net[p], cap[p], cost, rate) for p in range(n_province)]

    dispatched, first, steady = timed(run_merit, repeats)
    start = time.perf_counter()
    lp_cost = _lp_years(net, cap, cost)
    lp_s = time.perf_counter() - start
    ours = sum(float((d @ cost).sum()) for d, _ in dispatched)
    if not np.isclose(ours, lp_cost, rtol=1e-7):
        raise RuntimeError(f"merit order cost {ours} differs from HiGHS {lp_cost}")
    rows.append(
        row(
            "dispatch: merit order (each province's year)",
            first,
            steady,
            units,
            "HiGHS LP",
            lp_s,
            PROVINCE_HOURS,
        )
    )
    start = time.perf_counter()
    numpy_dispatch = [_merit_order_numpy(net[p], cap[p], cost) for p in range(n_province)]
    numpy_s = time.perf_counter() - start
    if not all(np.allclose(d, r) for (d, _), r in zip(dispatched, numpy_dispatch, strict=True)):
        raise RuntimeError("merit order differs from the plain numpy reference")
    rows.append(
        row(
            "dispatch: merit order vs numpy",
            first,
            steady,
            units,
            "plain numpy per hour",
            numpy_s,
            PROVINCE_HOURS,
        )
    )

    # flow tracing over provinces + hubs (pool mode)
    pool = grids["pool"]
    nodes = list(pool["province"].values) + sorted(
        {n for n in pool["to_node"].values if n not in set(pool["province"].values)}
    )
    index = {n: i for i, n in enumerate(nodes)}
    frm = np.array([index[n] for n in pool["from_node"].values], np.int64)
    to = np.array([index[n] for n in pool["to_node"].values], np.int64)
    total = np.zeros((len(nodes), len(time_axis)))
    total[:n_province] = pool["generation"].sum("source").values
    emissions = np.zeros_like(total)
    emissions[:n_province] = pool["production_emissions"].values * 1000.0
    flow = np.ascontiguousarray(pool["flow"].values)
    traced, first, steady = timed(
        lambda: consumption_intensity(total, emissions, frm, to, flow), repeats
    )
    start = time.perf_counter()
    reference = _tracing_reference(total, emissions, frm, to, flow)
    reference_s = time.perf_counter() - start
    np.testing.assert_allclose(traced[0], reference, rtol=1e-6, atol=1e-6)
    rows.append(
        row("flow tracing (provinces + hubs)", first, steady, units, "numpy.linalg.solve loop",
            reference_s, PROVINCE_HOURS)
    )  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", default=str(REPO / "inputs"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--blas-threads", type=int, default=1, help="BLAS threads (1: one core)")
    args = parser.parse_args(argv)
    kept = keep_freed_memory()  # as every task of a run does (hourlysim.allocator)
    blas = limit_blas_threads(args.blas_threads)
    print(
        f"freed memory kept: {kept} (HOURLYSIM_KEEP_FREED_MEMORY=0 to measure without); "
        f"BLAS threads: {[b['threads'] for b in blas]}"
    )
    rows = measure(load_inputs(args.inputs), args.repeats)
    print(
        f"{'stage':38s} {'first s':>8s} {'steady s':>9s} {'province-h/s':>13s} {'reference':>24s}"
    )
    for r in rows:
        ratio = ""
        if r["reference_s"] is not None:
            speedup = r["reference_s"] / r["steady_s"]
            ratio = f"{r['reference']}: {r['reference_s']:.3f} s (x{speedup:.0f})"
        print(
            f"{r['stage']:38s} {r['first_s']:8.3f} {r['steady_s']:9.3f} "
            f"{r['units'] / r['steady_s']:13.3e}  {ratio}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
