# ruff: noqa: E501  (data-provenance strings and URLs are kept on one line)
"""Build inputs/climate.csv: building thermal zone, Jan/Jul mean temperature and diurnal range per city.

Model (documented in inputs/README.md): for each of t_jan and t_jul, ordinary least squares
    t = a[zone] + b (lat - 30)
(one intercept per building thermal zone, one common latitude slope) fitted on the `fit` rows of inputs/build/climate_normals.csv and checked on its `check` rows.
Diurnal range is a per-zone constant (see DIURNAL_RANGE).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from _common import BUILD, INPUTS, PREFIX_TO_CODE, parse_args, write_csv

ZONE_BY_PROVINCE = {
    **dict.fromkeys(["HL", "JL", "NM"], "severe_cold"),
    **dict.fromkeys(["BJ", "TJ", "HE", "SX", "SD", "LN", "HA", "SN", "GS", "NX", "XJ"], "cold"),
    **dict.fromkeys(
        ["SH", "JS", "ZJ", "AH", "JX", "HB", "HN", "CQ", "SC"], "hot_summer_cold_winter"
    ),
    **dict.fromkeys(["GD", "GX", "HI", "FJ"], "hot_summer_warm_winter"),
    **dict.fromkeys(["YN", "GZ"], "mild"),
    **dict.fromkeys(["XZ", "QH"], "plateau"),
}

# Documented exceptions to the province default (GB 50176-2016 zoning, simplified).
ZONE_EXCEPTIONS = {
    # northern mountain / plateau-edge prefectures of cold-zone provinces -> severe cold
    130700: "severe_cold",
    130800: "severe_cold",  # Zhangjiakou, Chengde
    140200: "severe_cold",
    140600: "severe_cold",  # Datong, Shuozhou
    210100: "severe_cold",
    210400: "severe_cold",
    211200: "severe_cold",  # Shenyang, Fushun, Tieling
    650100: "severe_cold",
    650200: "severe_cold",
    652300: "severe_cold",  # northern Xinjiang
    652700: "severe_cold",
    654000: "severe_cold",
    654200: "severe_cold",
    654300: "severe_cold",
    # south of the Qinling-Huai line in cold-zone provinces -> hot summer cold winter
    411300: "hot_summer_cold_winter",
    411500: "hot_summer_cold_winter",  # Nanyang, Xinyang
    610700: "hot_summer_cold_winter",
    610900: "hot_summer_cold_winter",  # Hanzhong, Ankang
    611000: "hot_summer_cold_winter",
    621200: "hot_summer_cold_winter",  # Shangluo, Longnan
    # inland/northern Fujian, northern Guangxi, eastern Guizhou -> hot summer cold winter
    350400: "hot_summer_cold_winter",
    350700: "hot_summer_cold_winter",  # Sanming, Nanping
    450300: "hot_summer_cold_winter",  # Guilin
    520300: "hot_summer_cold_winter",
    520600: "hot_summer_cold_winter",  # Zunyi, Tongren
    522600: "hot_summer_cold_winter",  # Qiandongnan
    # southern Sichuan uplands -> mild; tropical Yunnan -> hot summer warm winter
    510400: "mild",
    513400: "mild",  # Panzhihua, Liangshan
    532800: "hot_summer_warm_winter",  # Xishuangbanna
    # Tibetan-plateau prefectures outside Tibet/Qinghai -> plateau
    513200: "plateau",
    513300: "plateau",
    533400: "plateau",
    623000: "plateau",  # Aba, Garze, Diqing, Gannan
}

# Diurnal range [K] per zone: ASSUMPTION anchored on the few found monthly max/min tables
# (Shanghai ~6.5 K, Guangzhou ~8 K, Urumqi ~10.3 K, Lhasa ~14-15 K; see README).
DIURNAL_RANGE = {
    "severe_cold": 10.0,
    "cold": 10.0,
    "hot_summer_cold_winter": 7.0,
    "hot_summer_warm_winter": 8.0,
    "mild": 10.0,
    "plateau": 14.0,
}


def zone_of(adcode: int) -> str:
    if adcode in ZONE_EXCEPTIONS:
        return ZONE_EXCEPTIONS[adcode]
    return ZONE_BY_PROVINCE[PREFIX_TO_CODE[adcode // 10000]]


ZONES = [
    "severe_cold",
    "cold",
    "hot_summer_cold_winter",
    "hot_summer_warm_winter",
    "mild",
    "plateau",
]


def design(lat, lon, zone):
    """Design matrix: one indicator per zone, then latitude - 30 [deg]; lon is unused."""
    lat, zone = np.asarray(lat, float), np.asarray(zone)
    return np.column_stack([(zone == z).astype(float) for z in ZONES] + [lat - 30.0])


def fit_model(cities: pd.DataFrame, normals: pd.DataFrame):
    """Fit the two regressions; return coefficients and the fit/check table."""
    n = normals.merge(cities[["adcode", "latitude", "longitude"]], on="adcode", how="left")
    assert n.latitude.notna().all(), n[n.latitude.isna()]
    n["zone"] = [zone_of(a) for a in n.adcode]
    X = design(n.latitude, n.longitude, n.zone)
    fit = n.set.eq("fit").to_numpy()
    coef = {}
    for var in ("t_jan", "t_jul"):
        b, *_ = np.linalg.lstsq(X[fit], n[var].to_numpy()[fit], rcond=None)
        coef[var] = b
        n[var + "_model"] = X @ b
        n[var + "_err"] = n[var + "_model"] - n[var]
    return coef, n


def main() -> None:
    data = parse_args(__doc__)
    cities = pd.read_csv(data / "cities" / "DERIVED_prefecture_cities_337.csv")
    normals = pd.read_csv(BUILD / "climate_normals.csv")
    coef, n = fit_model(cities, normals)
    zone = np.array([zone_of(a) for a in cities.adcode])
    X = design(cities.latitude, cities.longitude, zone)
    out = pd.DataFrame(
        {
            "adcode": cities.adcode.astype(int),
            "climate_zone": zone,
            "t_jan": np.round(X @ coef["t_jan"], 1),
            "t_jul": np.round(X @ coef["t_jul"], 1),
            "diurnal_range": [DIURNAL_RANGE[z] for z in zone],
        }
    ).sort_values("adcode")
    write_csv(out, INPUTS / "climate.csv", float_format="%.1f")
    for var in ("t_jan", "t_jul"):
        for s in ("fit", "check"):
            e = n.loc[n.set == s, var + "_err"]
            print(
                f"{var} {s}: n={len(e)} MAE={e.abs().mean():.2f} K RMSE={np.sqrt((e**2).mean()):.2f} K "
                f"max={e.abs().max():.2f} K"
            )
        print(f"{var} coefficients {ZONES + ['lat']} =", np.round(coef[var], 3).tolist())
    print(
        n.loc[n.set == "check", ["name", "zone", "t_jan", "t_jan_model", "t_jul", "t_jul_model"]]
        .round(1)
        .to_string(index=False)
    )


if __name__ == "__main__":
    main()
