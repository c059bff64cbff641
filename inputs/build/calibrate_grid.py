# ruff: noqa: E501  (data-provenance strings are kept on one line)
"""Calibrate and check the grid stage against published figures (data/REFERENCE_FACTS.md).

Usage (from the repo root):  .venv/bin/python inputs/build/calibrate_grid.py [DATA_DIR]

Four input adjustments, each with a published reason (the build scripts import them):

- hydro capacity: GEM lists large plants only and misses ~100 GW of small hydro, so GEM hydro
  x 2,980 h gives ~9% of national demand against hydro's 13% of the 2023 mix (Ember, V).
  ``hydro_scale`` scales every province's GEM hydro by one factor so that national hydro
  energy = 13% of national demand (the provincial split of the missing small hydro is not
  known: GEM's split is kept). Applied in build_capacity.py.
- wind and solar capacity factors: the ERA5/atlite profiles give ~1,450 full-load hours of
  wind, against 1,538 h in Jan-Aug 2023 (V), i.e. 2,310 h annualised x 365/243, the same
  annualisation as the hydro and nuclear hours; solar 907 h Jan-Aug (V) -> 1,362 h.
  ``capacity_factor_scale`` finds the factor that, applied to every hour and province (a
  capacity factor is capped at 1), gives those national full-load hours. Applied by
  hourlysim.grid through the parameters ``wind_capacity_factor_scale`` and
  ``solar_capacity_factor_scale`` (build_parameters.py).
- gas must-run floor: gas is ~3% of the 2023 mix (Ember, V), but gas above coal in the merit
  order (most Chinese gas is CHP or contracted, not priced out by coal) runs almost never in
  the pool. ``gas_must_run_fraction`` is the share of gas capacity that, run every hour, gives
  3% of national demand (parameter ``gas_must_run_fraction``, build_parameters.py). Without
  it the fossil mix has no gas, against the 3/63 share that the coal emission rate was backed
  out with.

Biomass (~2% of the 2023 mix, V) is a must-run source at ``biomass_generation_share`` of each
province's demand (not a tuned figure: the published share, spread by demand for want of
provincial data).

Then ``main`` runs the grid (both exchange modes) and prints the simulated annual consumption
intensity of each province and the national demand-weighted average against the MEE 2022
provincial factors, and the annual net exports of NM, SX, YN and SC.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
JAN_AUG_DAYS = 243
HYDRO_SHARE_2023 = 0.13  # Ember 2023 mix, hydro 13% (V)
HYDRO_HOURS = round(1984 * 365 / JAN_AUG_DAYS)  # as parameters.csv hydro_utilisation_hours
WIND_HOURS = 1538 * 365 / JAN_AUG_DAYS  # Jan-Aug 2023 wind 1,538 h (V), annualised
SOLAR_HOURS = 907 * 365 / JAN_AUG_DAYS  # Jan-Aug 2023 solar 907 h (V), annualised
GAS_SHARE_2023 = 0.03  # Ember 2023 mix, gas ~3% (V)
NM_OUTFLOW_2021_TWH = 246.7  # V, gross outflow
SX_OUTFLOW_JAN_OCT_2022_TWH = 117.55  # V, gross outflow, 10 months


def hydro_scale(hydro_mw_total: float, national_demand_mwh: float) -> float:
    """Factor on GEM hydro so that hydro energy is 13% of national demand [1]."""
    return HYDRO_SHARE_2023 * national_demand_mwh / (hydro_mw_total * HYDRO_HOURS)


def gas_must_run_fraction(inputs: Path) -> float:
    """Share of gas capacity that, run every hour, gives 3% of national demand [1]."""
    gas_mw = pd.read_csv(inputs / "capacity.csv")["gas"].sum()
    demand_mwh = pd.read_csv(inputs / "provinces.csv")["annual_demand"].sum()
    return GAS_SHARE_2023 * demand_mwh / (gas_mw * 8760)


def capacity_factor_scale(
    capacity: list[np.ndarray], profiles: list[np.ndarray], target_hours: float
) -> float:
    """Factor s with sum(capacity x min(s x cf, 1)) = target_hours x sum(capacity) [1].

    capacity: arrays (province,) [MW]; profiles: matching arrays (hour, province) [1].
    """
    total = sum(c.sum() for c in capacity)

    def hours(s):
        return (
            sum(
                (np.minimum(s * cf, 1.0).sum(axis=0) * c).sum()
                for c, cf in zip(capacity, profiles, strict=True)
            )
            / total
        )

    low, high = 0.0, 1.0
    while hours(high) < target_hours:
        high *= 2.0
        if high > 1e3:
            raise ValueError("target hours cannot be reached with capacity factors capped at 1")
    for _ in range(100):
        mid = 0.5 * (low + high)
        if hours(mid) < target_hours:
            low = mid
        else:
            high = mid
    return 0.5 * (low + high)


def _profile(inputs: Path, name: str, codes: list[str]) -> np.ndarray:
    with gzip.open(inputs / "hourly" / f"{name}.csv.gz", "rt") as handle:
        frame = pd.read_csv(handle)
    return frame.reindex(columns=codes, fill_value=0.0).to_numpy(float)


def renewable_scales(inputs: Path) -> dict[str, float]:
    """Wind and solar capacity-factor scales from the shipped capacity and profiles."""
    cap = pd.read_csv(inputs / "capacity.csv").set_index("province")
    codes = list(cap.index)
    wind = capacity_factor_scale(
        [cap.wind_onshore.to_numpy(float), cap.wind_offshore.to_numpy(float)],
        [_profile(inputs, "cf_wind_onshore", codes), _profile(inputs, "cf_wind_offshore", codes)],
        WIND_HOURS,
    )
    solar = capacity_factor_scale(
        [cap.solar.to_numpy(float)], [_profile(inputs, "cf_solar", codes)], SOLAR_HOURS
    )
    return {"wind": wind, "solar": solar}


def compare_with_mee(grid, mee: pd.Series) -> tuple[pd.Series, dict]:
    """Annual consumption intensity per province and nationally against the MEE factors.

    grid: output of ``hourlysim.grid.simulate_grid``; mee: kg CO2/MWh by province (NaN where
    no factor). Returns the load-weighted annual consumption intensity per province
    [kg/MWh] and the national figures over the provinces with a factor: ``simulated``,
    ``mee_2022`` (both weighted by simulated load), ``error_pct`` and ``within_15``.
    """
    load = grid["load"].sum("time").to_series()
    intensity = (grid["consumption_intensity"] * grid["load"]).sum("time").to_series() / load
    known = mee.notna()
    simulated = float((intensity[known] * load[known]).sum() / load[known].sum())
    target = float((mee[known] * load[known]).sum() / load[known].sum())
    error = 100 * (intensity[known] / mee[known] - 1)
    national = {
        "simulated": simulated,
        "mee_2022": target,
        "error_pct": 100 * (simulated / target - 1),
        "within_15": int((error.abs() <= 15).sum()),
        "n_provinces": int(known.sum()),
    }
    return intensity, national


def calibration_table(inputs_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Simulated annual consumption intensity and net exports, both exchange modes."""
    sys.path.insert(0, str(REPO))
    from hourlysim import load_inputs
    from hourlysim.grid import simulate_grid
    from hourlysim.timeaxis import model_time

    inputs = load_inputs(inputs_dir)
    time = model_time(int(inputs.parameter("base_year")))
    mee = inputs.provinces["mee_emission_factor_2022"].to_series()
    table = pd.DataFrame({"mee_2022": mee})
    exports = {}
    national = {}
    for mode in ("scheduled", "pool"):
        grid = simulate_grid(inputs, time, exchange=mode)
        load = grid["load"].sum("time").to_series()
        intensity, national[mode] = compare_with_mee(grid, mee)
        table[mode] = intensity
        table[f"{mode}_error_pct"] = 100 * (intensity / mee - 1)
        table[f"{mode}_unserved_pct"] = 100 * grid["unserved"].sum("time").to_series() / load
        national[mode]["unserved_pct"] = float(100 * grid["unserved"].sum() / grid["load"].sum())
        national[mode]["mix_pct"] = (
            (100 * grid["generation"].sum(("province", "time")) / grid["generation"].sum())
            .to_series()
            .round(1)
            .to_dict()
        )
        net = -grid["net_import"].sum("time").to_series() / 1e6
        sent = (grid["flow"].groupby(grid["from_node"]).sum(...) / 1e6).to_series()
        exports[mode] = pd.DataFrame({"net_export_TWh": net, "gross_sent_TWh": sent}).loc[
            ["NM", "SX", "YN", "SC"]
        ]
    return table, pd.concat(exports, axis=1), national


def main() -> None:
    inputs_dir = REPO / "inputs"
    table, exports, national = calibration_table(inputs_dir)
    pd.set_option("display.width", 200)
    print("Annual consumption intensity [kg/MWh], simulated vs MEE 2022 provincial factors")
    print(table.round(1).to_string())
    for mode, n in national.items():
        print(
            f"{mode}: national (demand-weighted, {n['n_provinces']} provinces) "
            f"{n['simulated']:.1f} vs MEE {n['mee_2022']:.1f} ({n['error_pct']:+.1f}%); "
            f"{n['within_15']}/{n['n_provinces']} provinces within 15%; "
            f"unserved {n['unserved_pct']:.3f}% of load; mix % {n['mix_pct']}"
        )
    print(
        "\nAnnual exports [TWh] (REFERENCE_FACTS: NM sent 246.7 TWh in 2021 (gross); "
        f"SX sent 117.55 TWh Jan-Oct 2022, x12/10 = {SX_OUTFLOW_JAN_OCT_2022_TWH * 1.2:.1f}; "
        "no figure for YN, SC)"
    )
    print(exports.round(1).to_string())


if __name__ == "__main__":
    main()
