"""Benchmark of stage 2 (charging): all strategies on a national-size synthetic case.

Run ``python benchmarks/bench_charging.py`` (``--help`` for sizes). Prints, per strategy, the
compilation time (first call; numba compiles into a fresh temporary cache unless
``--warm-cache``), the steady-state time
(best of ``--repeats``), throughput in city-hours per second, and the ratio against the plain
numpy references of ``tests/test_charging_kernels.py`` measured in the same run on a subset of
provinces and scaled to the full case. Timings are single-threaded (numba kernels without
``parallel``); set ``NUMBA_NUM_THREADS=1`` to be sure no other thread pool interferes.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr

REPO = Path(__file__).resolve().parents[1]
for _path in (REPO, REPO / "benchmarks"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
if __name__ == "__main__" and "--warm-cache" not in sys.argv:
    # a fresh numba cache: the first call below measures real compilation
    os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="hourlysim-bench-numba-")

from bench_pipeline import timed  # noqa: E402

from hourlysim import charging  # noqa: E402

TARGET_S = 0.5


def synthetic_inputs(n_city: int, n_province: int, n_days: int, seed: int = 0) -> dict:
    """Realistic synthetic inputs of :func:`hourlysim.charging.charging_load`."""
    rng = np.random.default_rng(seed)
    n_hours = 24 * n_days
    hours = np.arange(n_hours)
    hod = hours % 24
    doy = hours / 24.0
    # two segments: private cars drive at commute peaks, taxis all day
    private_shape = np.exp(-0.5 * ((hod - 8) / 1.5) ** 2) + np.exp(-0.5 * ((hod - 18) / 2) ** 2)
    taxi_shape = 0.3 + np.exp(-0.5 * ((hod - 14) / 5) ** 2)
    season = 1.0 + 0.15 * np.cos(2 * np.pi * (doy - 15) / 365)  # cold winters: more kWh per km
    fleet = rng.lognormal(np.log(800.0), 0.8, n_city)  # daily MWh per city
    energy = np.empty((2, n_city, n_hours))
    for s, (shape, part) in enumerate(((private_shape, 0.8), (taxi_shape, 0.2))):
        day_sum = np.add.reduceat(shape, np.arange(0, n_hours, 24))
        unit = shape / np.repeat(day_sum, 24) * season
        noise = rng.uniform(0.9, 1.1, (n_city, n_days)).repeat(24, axis=1)
        energy[s] = fleet[:, None] * part * unit[None, :] * noise
    cities = [f"{110000 + i:06d}" for i in range(n_city)]
    provinces = [f"P{p:02d}"[-2:] if p >= 10 else f"Q{p}" for p in range(n_province)]
    city_province = np.array([provinces[i % n_province] for i in range(n_city)])
    modes = list(charging.MODES)
    charging_modes = xr.Dataset(
        {
            "power_kw": ("mode", [7.0, 7.0, 11.0, 60.0]),
            "session_kwh": ("mode", [30.0, 20.0, 25.0, 30.0]),
            "dwell_hours": ("mode", [10.0, 8.0, 4.0, 1.0]),
        },
        coords={"mode": modes},
    )
    h = np.arange(24)
    peaks = {
        "home": (19, 2.0),
        "work": (8.5, 1.2),
        "public_slow": (13, 4.0),
        "public_fast": (14, 5),
    }
    arrivals = np.array([np.exp(-0.5 * ((h - mu) / sd) ** 2) + 0.01 for mu, sd in peaks.values()])
    arrivals /= arrivals.sum(axis=1, keepdims=True)
    share = np.array([[0.6, 0.2, 0.1, 0.1], [0.1, 0.0, 0.3, 0.6]])
    time_ = np.arange(n_hours)
    prov_coords = {"province": provinces, "time": time_}
    load_shape = (
        1 + 0.25 * np.sin(2 * np.pi * (hod - 10) / 24) + 0.1 * np.cos(2 * np.pi * doy / 182)
    )
    scale = rng.uniform(20_000, 80_000, n_province)[:, None]
    wiggle = rng.normal(0, 0.02, (n_province, n_hours))
    base_load = scale * (load_shape[None, :] + wiggle)
    solar = np.clip(np.sin(np.pi * (hod - 6) / 12), 0, None)[None, :] * rng.uniform(
        0.3, 1.0, (n_province, n_days)
    ).repeat(24, axis=1)
    signal = 600 + 250 * (base_load / scale - 1) - 300 * solar + rng.normal(0, 5, solar.shape)
    return {
        "battery_energy": xr.DataArray(
            energy,
            dims=("segment", "city", "time"),
            coords={"segment": ["private", "taxi"], "city": cities, "time": time_},
        ),
        "charging_modes": charging_modes,
        "charging_arrivals": xr.DataArray(
            arrivals, dims=("mode", "hour"), coords={"mode": modes, "hour": h}
        ),
        "mode_share": xr.DataArray(
            share, dims=("segment", "mode"), coords={"segment": ["private", "taxi"], "mode": modes}
        ),
        "city_province": xr.DataArray(
            city_province, dims="city", coords={"city": cities}, name="province"
        ),
        "signal": xr.DataArray(signal, dims=("province", "time"), coords=prov_coords),
        "base_load": xr.DataArray(base_load, dims=("province", "time"), coords=prov_coords),
        "solar_cf": xr.DataArray(solar, dims=("province", "time"), coords=prov_coords),
    }


def run_stage(inputs: dict, strategy: str, tol: float) -> xr.DataArray:
    return charging.charging_load(
        inputs["battery_energy"],
        inputs["charging_modes"],
        inputs["charging_arrivals"],
        inputs["mode_share"],
        strategy=strategy,
        charging_efficiency=0.9,
        city_province=inputs["city_province"],
        signal=inputs["signal"],
        base_load=inputs["base_load"],
        solar_cf=inputs["solar_cf"],
        tol=tol,
    )


def reference_seconds(inputs: dict, strategy: str, n_days: int, sweeps: int) -> tuple[float, str]:
    """Plain-numpy reference of the strategy on one province's merged cohorts over ``n_days``."""
    import test_charging_kernels as ref  # tests/ is on sys.path (see main)

    modes = inputs["charging_modes"]
    n_hours = 24 * n_days
    first = inputs["city_province"].values[0]
    rows = inputs["city_province"].values == first
    daily = inputs["battery_energy"].values[:, rows, :n_hours].sum(1).reshape(2, n_days, 24).sum(-1)
    need, earliest, latest, cap, mode_of = [], [], [], [], []
    for m, mode in enumerate(charging.MODES):
        dwell = int(np.ceil(modes["dwell_hours"].values[m]))
        ratio = modes["power_kw"].values[m] / modes["session_kwh"].values[m]
        day_need = daily.T @ inputs["mode_share"].values[:, m] / 0.9
        n = np.outer(day_need, inputs["charging_arrivals"].values[m]).ravel()
        need.append(n)
        earliest.append(np.arange(n_hours))
        latest.append(np.arange(n_hours) + dwell)
        cap.append(n * ratio)
        mode_of += [mode] * n_hours
    need, earliest, latest, cap = (np.concatenate(a) for a in (need, earliest, latest, cap))
    mode_of = np.array(mode_of)
    signal = inputs["signal"].values[0, :n_hours]
    solar = inputs["solar_cf"].values[0, :n_hours]
    base = inputs["base_load"].values[0, :n_hours]
    hod = np.arange(n_hours) % 24
    cohorts = (need, earliest, latest, cap)
    start = time.perf_counter()
    if strategy == "uncontrolled":
        ref.reference_uncontrolled(*cohorts, n_hours)
    elif strategy == "tou_delayed":
        home = mode_of == "home"
        ref.reference_tou_delayed(*(a[home] for a in cohorts), hod)
        ref.reference_uncontrolled(*(a[~home] for a in cohorts), n_hours)
    elif strategy == "carbon_aware":
        ref.reference_carbon_aware(*cohorts, signal)
    elif strategy == "solar_aligned":
        work = mode_of == "work"
        ref.reference_carbon_aware(*(a[work] for a in cohorts), -solar)
        ref.reference_uncontrolled(*(a[~work] for a in cohorts), n_hours)
    else:
        ref.reference_valley_filling(*cohorts, base, sweeps=sweeps)
    return time.perf_counter() - start, f"1 province x {n_days} d" + (
        f", {sweeps} sweeps" if strategy == "valley_filling" else ""
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cities", type=int, default=337)
    parser.add_argument("--provinces", type=int, default=31)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeats", type=int, default=3, help="steady-state repeats (best of)")
    parser.add_argument("--tol", type=float, default=1e-4, help="valley filling tolerance")
    parser.add_argument("--ref-days", type=int, default=14, help="days of the reference subset")
    parser.add_argument("--ref-valley-days", type=int, default=2)
    parser.add_argument("--ref-valley-sweeps", type=int, default=20)
    parser.add_argument(
        "--warm-cache",
        action="store_true",
        help="use numba's on-disk cache (first call then measures loading, not compiling)",
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO / "tests"))
    inputs = synthetic_inputs(args.cities, args.provinces, args.days)
    city_hours = args.cities * 24 * args.days
    print(
        f"charging stage: {args.cities} cities, {args.provinces} provinces, {args.days} days "
        f"({city_hours:,} city-hours per strategy); one thread; valley tol={args.tol:g}"
    )
    print(f"numba cache dir: {os.environ.get('NUMBA_CACHE_DIR', '(default)')}")
    header = (
        f"{'strategy':<15}{'first call s':>13}{'steady s':>10}{'city-h/s':>12}"
        f"{'numpy ref s*':>14}{'speed-up':>10}  reference subset"
    )
    print(header)
    print("-" * (len(header) + 12))
    total = 0.0
    for strategy in charging.STRATEGIES:
        _, first, repeats_s = timed(lambda s=strategy: run_stage(inputs, s, args.tol), args.repeats)
        steady = min(repeats_s)
        total += steady
        ref_days = args.ref_valley_days if strategy == "valley_filling" else args.ref_days
        ref_s, subset = reference_seconds(inputs, strategy, ref_days, args.ref_valley_sweeps)
        scaled = ref_s * args.provinces * args.days / ref_days
        print(
            f"{strategy:<15}{first:>13.2f}{steady:>10.3f}{city_hours / steady:>12.3g}"
            f"{scaled:>14.1f}{scaled / steady:>10.0f}  {subset}: {ref_s:.2f} s"
        )
    print("-" * (len(header) + 12))
    print(f"{'all five':<15}{'':>13}{total:>10.3f}{5 * city_hours / total:>12.3g}")
    print(
        "* reference = plain-numpy functions of tests/test_charging_kernels.py on one province's "
        "merged cohorts over the subset,\n  scaled linearly by provinces x days / subset days "
        "(a lower bound for valley filling, whose cost also grows with the sweeps needed)."
    )
    verdict = "MET" if total < TARGET_S else "NOT MET"
    print(f"target: five strategies in < {TARGET_S} s after compilation: {verdict} ({total:.3f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
