# ruff: noqa: E501  (data-provenance strings and URLs are kept on one line)
"""Build inputs/capacity.csv (end-2020 MW by province and source) and inputs/plants.csv (GEM plants).

Decisions (see inputs/README.md, "capacity.csv"):
- coal: XZ (yearbook) coal = all coal-fired capacity including CHP units, except where XZ and the
  GEM coal units with start_year <= 2020 differ by more than a factor 2 and more than 1,000 MW
  (Guizhou: XZ 3,560 vs GEM 32,920 MW, a dropped digit; Beijing: XZ 1,902 vs GEM 0 MW): GEM there.
- coal_chp: min(XZ CHP, coal): the part of coal that is CHP; the rest of the XZ CHP figure is
  taken to be gas or other CHP (Beijing, Tianjin).
- hydro: GEM hydro units with start_year <= 2020 (unknown start year counted), border plants split
  evenly, minus PIK pumped hydro (GEM's hydro tracker lists pumped-storage plants without a flag),
  then scaled by one national factor for the small hydro GEM misses (calibrate_grid.hydro_scale:
  hydro energy = 13% of national demand, Ember 2023 mix, V).
- pumped_hydro: PIK.  nuclear: XZ.  gas: XZ OCGT.  wind, solar: XZ.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from _common import INPUTS, parse_args, pik_name_to_code, province_names, write_csv
from calibrate_grid import hydro_scale

GEM_FILE = "power_supply/gem_2023_china_operating_units_coal_hydro_nuclear_wind.csv"


def haversine_km(lat1, lon1, lat2, lon2):
    lat1, lon1, lat2, lon2 = map(np.radians, (lat1, lon1, lat2, lon2))
    a = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * np.arcsin(np.sqrt(a))


def nearest_city(lat, lon, cities: pd.DataFrame) -> int:
    d = haversine_km(lat, lon, cities.latitude.to_numpy(), cities.longitude.to_numpy())
    return int(cities.adcode.to_numpy()[np.argmin(d)])


def load_gem(data, code_of, cities: pd.DataFrame) -> pd.DataFrame:
    """GEM units with a list of candidate provinces (one, two for border plants)."""
    g = pd.read_csv(data / GEM_FILE)
    assert (g.status == "operating").all()
    provs = []
    for pn, lat, lon in zip(g.province_norm, g.lat, g.lon, strict=True):
        if pn.startswith("BORDER:"):
            a, b = pn.split(":", 1)[1].replace("border", "").split(" - ")
            provs.append([code_of[a.strip()], code_of[b.strip()]])
        elif pn == "UNKNOWN":  # locate by the nearest prefecture centroid
            ad = nearest_city(lat, lon, cities)
            provs.append([cities.set_index("adcode").loc[ad, "province"]])
        else:
            provs.append([code_of[pn]])
    g["provs"] = provs
    return g


def split_by_province(units: pd.DataFrame) -> pd.Series:
    rows = []
    for cap, ps in zip(units.capacity_mw, units.provs, strict=True):
        rows += [(p, cap / len(ps)) for p in ps]
    return pd.DataFrame(rows, columns=["p", "mw"]).groupby("p").mw.sum()


def main() -> None:
    data = parse_args(__doc__)
    code_of = pik_name_to_code(data)
    codes = sorted(province_names(data).province)
    cities = pd.read_csv(INPUTS / "cities.csv")
    g = load_gem(data, code_of, cities)

    xz = pd.read_csv(
        data / "power_supply" / "xiaoweiz_pypsa_china_capacity_2020_MW_by_province.csv"
    )
    xz.index = [code_of[n] for n in xz.province]
    psh = pd.read_csv(data / "power_supply" / "pik_pumped_hydro_p_nom_MW.csv")
    psh = pd.Series(psh.MW.to_numpy(float), index=[code_of[n] for n in psh.Region])
    nuc_pik = pd.read_csv(data / "power_supply" / "pik_nuclear_p_nom_MW.csv")
    nuc_pik = pd.Series(
        nuc_pik.nuclear_capacity.to_numpy(float), index=[code_of[n] for n in nuc_pik.Province]
    )

    upto = g.start_year.isna() | (g.start_year <= 2020)
    known = g.start_year.notna() & (g.start_year <= 2020)
    gem_coal = split_by_province(g[(g.tracker == "coal") & known]).reindex(codes, fill_value=0)
    gem_coal_nostart = split_by_province(g[(g.tracker == "coal") & g.start_year.isna()]).reindex(
        codes, fill_value=0
    )
    gem_hydro = split_by_province(g[(g.tracker == "hydro") & upto]).reindex(codes, fill_value=0)
    gem_nuc = split_by_province(g[(g.tracker == "nuclear") & known]).reindex(codes, fill_value=0)
    gem_wind = split_by_province(g[(g.tracker == "wind") & known]).reindex(codes, fill_value=0)

    xz = xz.reindex(codes)
    coal = xz.coal.astype(float).copy()
    override = ((coal - gem_coal).abs() > 1000) & (
        (np.maximum(coal, gem_coal) / np.maximum(np.minimum(coal, gem_coal), 1e-9)) > 2
    )
    coal[override] = gem_coal[override]
    coal_chp = np.minimum(xz.CHP.astype(float), coal)
    hydro = (gem_hydro - psh.reindex(codes, fill_value=0)).clip(lower=0)
    # calibration: GEM misses most small hydro; one national factor brings hydro energy to its
    # 13% share of the 2023 mix (Ember, V) -- see calibrate_grid.py and inputs/README.md
    demand = pd.read_csv(INPUTS / "provinces.csv").annual_demand.astype(float).sum()
    scale = hydro_scale(hydro.sum(), demand)
    print(f"hydro: GEM - PSH {hydro.sum():.0f} MW x {scale:.4f} (small hydro calibration)")
    hydro = hydro * scale

    cap = pd.DataFrame(
        {
            "province": codes,
            "coal": coal.to_numpy(),
            "coal_chp": coal_chp.to_numpy(),
            "gas": xz.OCGT.to_numpy(float),
            "hydro": hydro.to_numpy(),
            "pumped_hydro": psh.reindex(codes, fill_value=0).to_numpy(),
            "nuclear": xz.nuclear.to_numpy(float),
            "wind_onshore": xz.onwind.to_numpy(float),
            "wind_offshore": xz.offwind.to_numpy(float),
            "solar": xz.solar.to_numpy(float),
        }
    )
    assert (cap.coal_chp <= cap.coal).all()
    write_csv(cap, INPUTS / "capacity.csv", float_format="%.1f")

    # comparison tables for the README
    cmp = pd.DataFrame(
        {
            "xz_coal": xz.coal,
            "xz_chp": xz.CHP,
            "gem_coal_le2020": gem_coal.round(0),
            "gem_coal_no_start": gem_coal_nostart.round(0),
            "coal": coal,
            "coal_chp": coal_chp,
            "override": override.map({True: "GEM", False: ""}),
        }
    )
    print(cmp.to_string())
    print("overrides:", list(cmp.index[override]))
    print(
        "hydro: GEM<=2020 incl. unknown start",
        round(gem_hydro.sum()),
        "PSH",
        psh.sum(),
        "GEM-PSH floored",
        round(hydro.sum()),
        "provinces where PSH > GEM hydro:",
        list(psh.index[psh > gem_hydro.reindex(psh.index)]),
    )
    print(
        "hydro unknown start [MW]",
        g[(g.tracker == "hydro") & g.start_year.isna()].capacity_mw.sum(),
    )
    print(
        pd.DataFrame({"xz": xz.nuclear, "pik": nuc_pik.reindex(codes), "gem_le2020": gem_nuc})
        .query("xz > 0 or gem_le2020 > 0")
        .to_string()
    )
    print(
        "wind XZ onshore+offshore",
        (xz.onwind + xz.offwind).sum(),
        "GEM wind<=2020",
        round(gem_wind.sum()),
    )
    tot = cap.drop(columns="province").sum() / 1000
    print("national totals [GW]:", tot.round(1).to_dict())

    # ---- plants.csv: GEM units aggregated to plants
    g["province"] = ""
    for i, (ps, lat, lon) in enumerate(zip(g.provs, g.lat, g.lon, strict=True)):
        if len(ps) == 1:
            g.at[i, "province"] = ps[0]
        else:  # border plant: the province of the nearest centroid among both provinces
            cand = cities[cities.province.isin(ps)]
            g.at[i, "province"] = cand.set_index("adcode").loc[
                nearest_city(lat, lon, cand), "province"
            ]
    plants = (
        g.groupby(["tracker", "plant", "province"], sort=True)
        .agg(
            latitude=("lat", "mean"),
            longitude=("lon", "mean"),
            capacity_mw=("capacity_mw", "sum"),
            start_year=("start_year", "min"),
        )
        .reset_index()
        .rename(columns={"tracker": "source"})
    )
    plants["adcode"] = [
        nearest_city(la, lo, cities[cities.province == p])
        for la, lo, p in zip(plants.latitude, plants.longitude, plants.province, strict=True)
    ]
    plants["latitude"] = plants.latitude.map(lambda x: f"{x:.4f}")
    plants["longitude"] = plants.longitude.map(lambda x: f"{x:.4f}")
    plants["capacity_mw"] = plants.capacity_mw.map(lambda x: f"{x:.1f}")
    plants["start_year"] = plants.start_year.map(lambda x: "" if pd.isna(x) else str(int(x)))
    plants = plants[
        [
            "plant",
            "source",
            "province",
            "adcode",
            "latitude",
            "longitude",
            "capacity_mw",
            "start_year",
        ]
    ].sort_values(["source", "province", "plant"])
    write_csv(plants, INPUTS / "plants.csv")
    print("plants:", len(plants), plants.source.value_counts().to_dict())


if __name__ == "__main__":
    main()
