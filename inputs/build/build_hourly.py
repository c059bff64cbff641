# ruff: noqa: E501  (data-provenance strings and URLs are kept on one line)
"""Build inputs/hourly/*.csv.gz: demand shape (PIK 2018) and THU atlite ERA5-2020 capacity factors.

All tables: first column `time` (local time UTC+8, "YYYY-MM-DD HH:MM", 8,760 rows), then one column
per province code in alphabetical order. 2020 is a leap year: Feb 29 (24 h) is dropped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from _common import INPUTS, parse_args, pik_name_to_code, write_csv


def time_index(year: int) -> pd.DatetimeIndex:
    t = pd.date_range(f"{year}-01-01 00:00", f"{year}-12-31 23:00", freq="h")
    t = t[~((t.month == 2) & (t.day == 29))]
    assert len(t) == 8760
    return t


def main() -> None:
    data = parse_args(__doc__)
    code_of = pik_name_to_code(data)
    out = INPUTS / "hourly"

    d = pd.read_csv(data / "hourly" / "pik_hourly_demand_31prov_2018_MW_rounded.csv.gz")
    assert (d.iloc[:, 0].to_numpy() == np.arange(1, 8761)).all()
    d = d.drop(columns=d.columns[0])
    d = d[sorted(d.columns)]
    assert len(d.columns) == 31 and d.notna().all().all() and (d.to_numpy() > 0).all()
    d.insert(0, "time", time_index(2018).strftime("%Y-%m-%d %H:%M"))
    write_csv(d, out / "demand_shape.csv.gz", float_format="%.1f")
    print(
        "demand_shape: annual sum of the 2018 shape [TWh]",
        round(d.iloc[:, 1:].to_numpy().sum() / 1e6, 1),
    )
    hod = d.iloc[:, 1:].sum(axis=1).groupby(np.arange(8760) % 24).mean()
    print("demand national mean by hour: min at", int(hod.idxmin()), "max at", int(hod.idxmax()))

    for src, name in (
        ("solar", "cf_solar"),
        ("onwind", "cf_wind_onshore"),
        ("offwind", "cf_wind_offshore"),
    ):
        f = data / "hourly" / f"thu_atlite_era5_2020_profile_{src}_capacity_factor.csv.gz"
        cf = pd.read_csv(f)
        t = pd.to_datetime(cf.time_utc8)
        assert len(cf) == 8784 and t.iloc[0] == pd.Timestamp("2020-01-01 00:00")
        keep = ~((t.dt.month == 2) & (t.dt.day == 29))
        cf = cf[keep.to_numpy()].reset_index(drop=True)
        vals = cf.drop(columns="time_utc8")
        vals.columns = [code_of[c] for c in vals.columns]
        vals = vals[sorted(vals.columns)]
        arr = vals.to_numpy()
        n_nan = int(np.isnan(arr).sum())
        n_lo, n_hi = int((arr < 0).sum()), int((arr > 1).sum())
        print(
            f"{name}: {vals.shape[1]} provinces, NaN={n_nan}, <0: {n_lo}, >1: {n_hi}, "
            f"min={np.nanmin(arr):.4f} max={np.nanmax(arr):.4f}, mean CF={np.nanmean(arr):.3f}"
        )
        vals = vals.clip(0.0, 1.0).fillna(0.0)
        if src == "solar":
            hod = vals.mean(axis=1).groupby(np.arange(8760) % 24).mean()
            peak_by_prov = vals.groupby(np.arange(8760) % 24).mean().idxmax()
            print(
                "  solar national mean peak hour (local):",
                int(hod.idxmax()),
                "; per-province peak hours:",
                peak_by_prov.value_counts().sort_index().to_dict(),
            )
        vals.insert(0, "time", time_index(2020).strftime("%Y-%m-%d %H:%M"))
        write_csv(vals, out / f"{name}.csv.gz", float_format="%.4f")


if __name__ == "__main__":
    main()
