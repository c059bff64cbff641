# ruff: noqa: E501  (data-provenance strings and URLs are kept on one line)
"""Build inputs/cities.csv (337 prefecture-level units) and inputs/provinces.csv (31 provinces).

Needs inputs/climate.csv (run build_climate.py first) for the climate_zone column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from _common import (
    GRID_REGION,
    INPUTS,
    PREFIX_TO_CODE,
    ZH_SHORT_TO_CODE,
    largest_remainder,
    parse_args,
    pik_name_to_code,
    province_names,
    write_csv,
)

BASE_YEAR = "2020"
# National NEV share of all vehicles, end-2023 (REFERENCE_FACTS.md, V): the only verified EV figure.
EV_SHARE = 0.0607

# Machine pinyin corrections (polyphonic characters) and one English-name typo.
PINYIN_FIX = {
    140400: "Changzhi",
    211300: "Chaoyang",
    411100: "Luohe",
    540300: "Changdu",
    341500: "Lu'an",
    152200: "Xing'an",
    141100: "Lüliang",
}
NAME_EN_FIX = {450100: "Nanning"}

MUNICIPALITY_CENSUS_CODE = {110000: 110100, 120000: 120100, 310000: 310100, 500000: 500100}


def level_of(name_zh: str, adcode: int) -> str:
    if adcode in MUNICIPALITY_CENSUS_CODE:
        return "municipality"
    for suffix, lvl in (
        ("自治州", "autonomous_prefecture"),
        ("地区", "prefecture"),
        ("盟", "league"),
        ("市", "prefecture_city"),
    ):
        if name_zh.endswith(suffix):
            return lvl
    raise ValueError(f"no level for {name_zh}")


def read_pik_table(path, year: str) -> pd.Series:
    df = pd.read_csv(path, comment="#")
    return df.set_index(df.columns[0])[year].astype(float)


def main() -> None:
    data = parse_args(__doc__)
    code_of = pik_name_to_code(data)
    c = pd.read_csv(data / "cities" / "DERIVED_prefecture_cities_337.csv")
    assert len(c) == 337 and c.adcode.is_unique
    c["province"] = [PREFIX_TO_CODE[a // 10000] for a in c.adcode]
    c["level"] = [level_of(n, a) for n, a in zip(c.name_zh, c.adcode, strict=True)]
    c["is_city_297"] = c.level.isin(["municipality", "prefecture_city"]).astype(int)
    assert c.is_city_297.sum() == 297, c.is_city_297.sum()
    c["name_pinyin"] = [PINYIN_FIX.get(a, p) for a, p in zip(c.adcode, c.name_pinyin, strict=True)]
    c["name_en"] = [NAME_EN_FIX.get(a, p) for a, p in zip(c.adcode, c.name_en, strict=True)]

    census = pd.read_csv(data / "socioeconomic" / "census_city_2010_2020_population.csv")
    census = census.set_index("city_code")
    key = [MUNICIPALITY_CENSUS_CODE.get(a, a) for a in c.adcode]
    c["population"] = census.loc[key, "popu_2020"].to_numpy().round().astype(np.int64)
    c["urban"] = census.loc[key, "popu_urban_2020"].to_numpy()
    # 2020 urban population is missing in the census file for Tonghua, Zhoukou and all of Xinjiang:
    # estimate it as 2020 total x 2010 urban share x the province's 2010->2020 urban-share uplift
    # (ratio over the province's cities that have both years; 1 where none has, i.e. Xinjiang,
    # which leaves the within-province shares used below unaffected).
    c["urban_share_2010"] = (
        census.loc[key, "popu_urban_2010"] / census.loc[key, "popu_2010"]
    ).to_numpy()
    have = c.urban.notna()
    up = (
        c[have].groupby("province").urban.sum()
        / (c[have].population * c[have].urban_share_2010).groupby(c[have].province).sum()
    )
    miss = ~have
    k = c.loc[miss, "province"].map(up).fillna(1.0)
    c.loc[miss, "urban"] = (
        np.minimum(1.0, c.loc[miss, "urban_share_2010"] * k) * c.loc[miss, "population"]
    )
    URBAN_ESTIMATED = c.loc[miss, "adcode"].tolist()
    print("urban population estimated for", len(URBAN_ESTIMATED), "units:", URBAN_ESTIMATED)
    assert (c.population > 0).all() and np.isfinite(c.urban).all()

    gdp = read_pik_table(
        data / "socioeconomic" / "pik_province_gdp_2005_2024_1e8yuan.csv", BASE_YEAR
    )
    pop = read_pik_table(
        data / "socioeconomic" / "pik_province_population_2005_2024_1e4persons.csv", BASE_YEAR
    )
    cars = read_pik_table(
        data / "socioeconomic" / "pik_province_private_cars_2005_2023_1e4veh.csv", BASE_YEAR
    )
    for s in (gdp, pop, cars):
        s.index = [code_of[n] for n in s.index]

    # GDP: provincial GDP shared by 2020 census urban population, per capita over total population.
    city_gdp = np.zeros(len(c))
    cars_out = np.zeros(len(c), dtype=np.int64)
    for p, idx in c.groupby("province").groups.items():
        i = c.index.get_indexer(idx)
        u = c.urban.to_numpy()[i]
        city_gdp[i] = gdp[p] * 1e8 * u / u.sum()
        cars_out[i] = largest_remainder(cars[p] * 1e4, c.population.to_numpy()[i])
    c["gdp_per_capita"] = np.round(city_gdp / c.population.to_numpy()).astype(np.int64)
    c["passenger_cars"] = cars_out
    c["ev_share"] = EV_SHARE

    clim = pd.read_csv(INPUTS / "climate.csv")
    c = c.merge(clim[["adcode", "climate_zone"]], on="adcode", how="left", validate="1:1")
    assert c.climate_zone.notna().all()

    cols = [
        "adcode",
        "name_zh",
        "name_en",
        "name_pinyin",
        "province",
        "level",
        "is_city_297",
        "latitude",
        "longitude",
        "population",
        "gdp_per_capita",
        "passenger_cars",
        "ev_share",
        "climate_zone",
    ]
    out = c[cols].sort_values("adcode").copy()
    out["latitude"] = out.latitude.map(lambda x: f"{x:.6f}")
    out["longitude"] = out.longitude.map(lambda x: f"{x:.6f}")
    out["ev_share"] = out.ev_share.map(lambda x: f"{x:.4f}")
    write_csv(out, INPUTS / "cities.csv")

    # ---- provinces.csv
    pn = province_names(data)
    zh = pd.read_csv(data / "cities" / "modood_nbs2023_provinces.csv")
    zh["province"] = [PREFIX_TO_CODE[int(x)] for x in zh.code]
    zh = zh.set_index("province")
    load = pd.read_csv(
        data / "power_supply" / "pik_provincial_annual_load_2020_2060_MWh.csv", index_col=0
    )["2020"]
    load.index = [code_of[n] for n in load.index]
    mee = pd.read_csv(
        data / "power_supply" / "UNVERIFIED_mee_provincial_grid_emission_factors_2021_2022.csv"
    )
    mee.index = [ZH_SHORT_TO_CODE[n] for n in mee.province_zh_short]
    region_of = {p: r for r, ps in GRID_REGION.items() for p in ps}
    rows = []
    for p, name in zip(pn.province, pn.pik_name, strict=True):
        rows.append(
            {
                "province": p,
                "name_en": "Inner Mongolia" if name == "InnerMongolia" else name,
                "name_zh": zh.loc[p, "name"],
                "adcode": int(zh.loc[p, "code"]) * 10000,
                "grid_region": region_of[p],
                "population": int(round(pop[p] * 1e4)),
                "gdp": int(round(gdp[p] * 1e8)),
                "private_cars": int(round(cars[p] * 1e4)),
                "annual_demand": int(round(load[p])),
                "mee_emission_factor_2021": (
                    f"{mee.loc[p, 'ef_2021_tCO2_per_MWh'] * 1000:.1f}" if p in mee.index else ""
                ),
                "mee_emission_factor_2022": (
                    f"{mee.loc[p, 'ef_2022_tCO2_per_MWh'] * 1000:.1f}" if p in mee.index else ""
                ),
            }
        )
    prov = pd.DataFrame(rows).sort_values("province")
    assert len(prov) == 31 and len(region_of) == 31
    write_csv(prov, INPUTS / "provinces.csv")

    # checks
    chk = c.assign(g=city_gdp).groupby("province").g.sum()
    g2 = (out.population * out.gdp_per_capita).groupby(out.province).sum()
    print(
        "GDP sums: exact max rel err",
        float((chk / (gdp * 1e8) - 1).abs().max()),
        "; after rounding per-capita",
        float((g2 / (gdp * 1e8) - 1).abs().max()),
    )
    print("cars sum", out.passenger_cars.sum(), "== provinces", prov.private_cars.sum())
    print("population 337 units", out.population.sum(), "; provinces (NBS)", prov.population.sum())
    print("annual demand sum [TWh]", prov.annual_demand.sum() / 1e6)
    print(out.level.value_counts().to_dict())


if __name__ == "__main__":
    main()
