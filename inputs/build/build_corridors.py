# ruff: noqa: E501  (data-provenance strings and URLs are kept on one line)
"""Build inputs/corridors.csv from the PIK 2022 list of 59 inter-provincial corridors, and
inputs/hub_links.csv (province-to-regional-hub capacity for the pool exchange mode) from the PIK
2022 inter-provincial capacity matrix.

hub_links.csv: a province's link to its regional hub (provinces.csv grid_region) has the capacity
of all its lines to the other provinces of the same region (sum of its row of the symmetric PIK
matrix over same-region columns). A star aggregation: a line between two members counts in both
members' links, so the hub never limits more than the lines themselves do.

Fixes: receiving cities -> provinces (福州 -> FJ, 广州 -> GD); two receivers (北京、天津; 广东、广西)
-> two rows sharing the capacity equally; English names checked against the Chinese ones;
two duplicate listings dropped (see DROP). Annual energy = capacity x H, one utilisation-hours
figure H calibrated so that Inner Mongolia's total scheduled outflow equals 246.7 TWh (2021,
REFERENCE_FACTS V), with each receiver's total scheduled imports capped at IMPORT_CAP x its
annual demand (corridors into a capped receiver scaled down proportionally; H re-solved).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from _common import INPUTS, ZH_SHORT_TO_CODE, parse_args, write_csv

NM_OUTFLOW_MWH = 246.7e6  # Inner Mongolia 2021 outflow (REFERENCE_FACTS, V)
SX_CHECK_MWH = 117.55e6  # Shanxi Jan-Oct 2022 outflow (REFERENCE_FACTS, V)
SX_CHECK_GEN_MWH = 341.25e6  # Shanxi Jan-Oct 2022 generation (REFERENCE_FACTS, V)
IMPORT_CAP = 0.5  # ASSUMPTION: scheduled imports <= 50% of the receiver's demand

CITY_TO_PROVINCE = {"福州": "FJ", "广州": "GD"}

# English-name corrections, by source row number (序号); reasons in inputs/README.md.
NAME_FIX = {
    5: "Gaoling Back-to-Back ±125kV DC",
    6: "Suizhong-Huabei 500kV AC",
    12: "Tuanlin-Fengjing ±500kV DC",
    15: "Baihetan-Zhejiang ±800kV DC",
    16: "Baihetan-Jiangsu ±800kV DC",
    19: "Jiangling-Echeng ±500kV DC",
    20: "Fugu/Jinjie-Huabei 500kV AC",
    24: "Neimeng-Hebei 500kV AC",
    50: "Tian-Guang ±500kV DC",
    54: "Xiluodu-Guangdong ±500kV DC",
    56: "Diannan 500kV AC",
}
# Duplicate listings of one line: row 37 (准东-皖南 ±1100 kV) is the same line as row 29 (吉泉直流,
# Changji-Guquan; the PIK capacity matrix holds XJ-AH 12,000 MW once); row 42 repeats row 25
# (蒙西-山西-北京-天津 1000 kV, listed in both the inter-regional and the intra-regional lists).
DROP = {
    37: "duplicate of row 29 (Changji-Guquan = Zhundong-Wannan UHVDC)",
    42: "duplicate of row 25 (Mengxi-Tianjinnan UHVAC listed twice)",
}


def solve(df: pd.DataFrame, demand: pd.Series) -> tuple[float, pd.Series]:
    """Fixed point: H from the NM target given per-receiver scales; scales from the import cap."""
    scale = pd.Series(1.0, index=df.index)
    for _ in range(100):
        nm = df.from_province == "NM"
        h = NM_OUTFLOW_MWH / (df.capacity_mw[nm] * scale[nm]).sum()
        energy = df.capacity_mw * scale * h
        imports = energy.groupby(df.to_province).sum()
        cap = IMPORT_CAP * demand.reindex(imports.index)
        over = (imports / cap).clip(lower=1.0)
        new = scale / df.to_province.map(over)
        if np.allclose(new, scale, rtol=0, atol=1e-12):
            break
        scale = new
    return h, scale


def main() -> None:
    data = parse_args(__doc__)
    src = pd.read_csv(data / "transmission" / "pik_hist_2022_interprovincial_corridors_59.csv")
    src.columns = [
        "kind",
        "no",
        "from_region",
        "name_zh",
        "kv",
        "cap_10mw",
        "to_region",
        "from_zh",
        "to_zh",
        "name_en",
    ]
    prov = pd.read_csv(INPUTS / "provinces.csv").set_index("province")
    rows = []
    for r in src.itertuples():
        if r.no in DROP:
            continue
        name_en = NAME_FIX.get(r.no, r.name_en).strip()
        kv = abs(float(str(r.kv).replace("±", "")))
        is_dc = "直流" in r.name_zh or "背靠背" in r.name_zh or "±" in str(r.kv)
        current = "DC" if is_dc else "AC"
        assert (" DC" in name_en or "DC" in name_en.split()[-1]) == is_dc or r.no in NAME_FIX, (
            r.no,
            name_en,
        )
        frm = ZH_SHORT_TO_CODE[r.from_zh]
        receivers = [
            CITY_TO_PROVINCE.get(x, ZH_SHORT_TO_CODE.get(x)) for x in re.split("[、,，]", r.to_zh)
        ]
        assert all(receivers), r
        for k, to in enumerate(receivers):
            suffix = "" if len(receivers) == 1 else "ab"[k]
            rows.append(
                {
                    "corridor": f"C{r.no:02d}{suffix}",
                    "name_en": name_en + ("" if len(receivers) == 1 else f" (share to {to})"),
                    "name_zh": r.name_zh.strip(),
                    "from_province": frm,
                    "to_province": to,
                    "voltage_kv": kv,
                    "current": current,
                    "capacity_mw": float(r.cap_10mw) * 10.0 / len(receivers),
                }
            )
    df = pd.DataFrame(rows)
    assert (df.from_province != df.to_province).all()
    h, scale = solve(df, prov.annual_demand.astype(float))
    df["annual_energy"] = df.capacity_mw * scale * h
    capped = sorted(df.to_province[scale < 1].unique())
    df["annual_energy_basis"] = [
        (
            f"estimate: capacity x {h:.0f} h (single utilisation-hours figure calibrated to Inner "
            f"Mongolia's 246.7 TWh outflow in 2021)"
            + (
                ""
                if s == 1
                else f" x {s:.3f} (receiver's scheduled imports capped at "
                f"{IMPORT_CAP:.0%} of its annual demand)"
            )
        )
        for s in scale
    ]
    df = df.sort_values("corridor")
    out = df.copy()
    out["voltage_kv"] = out.voltage_kv.map(lambda x: f"{x:.0f}")
    out["capacity_mw"] = out.capacity_mw.map(lambda x: f"{x:.1f}")
    out["annual_energy"] = out.annual_energy.map(lambda x: f"{x:.0f}")
    write_csv(out, INPUTS / "corridors.csv")
    hubs = hub_links(data)
    write_csv(hubs, INPUTS / "hub_links.csv")
    print(hubs[["province", "hub", "capacity_mw", "partners"]].to_string(index=False))

    e = df.annual_energy
    print(f"rows {len(df)}; H = {h:.1f} h; capped receivers: {capped}")
    print("NM outflow [TWh]", round(e[df.from_province == "NM"].sum() / 1e6, 2))
    sx = e[df.from_province == "SX"].sum()
    print(
        f"SX outflow [TWh/yr] {sx / 1e6:.1f}; published Jan-Oct 2022 {SX_CHECK_MWH / 1e6} "
        f"(x12/10 = {SX_CHECK_MWH * 1.2 / 1e6:.1f}); share of generation published "
        f"{SX_CHECK_MWH / SX_CHECK_GEN_MWH:.1%}, modelled outflow/(demand+outflow) "
        f"{sx / (sx + prov.annual_demand['SX']):.1%}"
    )
    imp = e.groupby(df.to_province).sum()
    exp = e.groupby(df.from_province).sum()
    t = pd.DataFrame(
        {"imports_TWh": imp / 1e6, "exports_TWh": exp / 1e6, "demand_TWh": prov.annual_demand / 1e6}
    ).fillna(0)
    t["import_share"] = t.imports_TWh / t.demand_TWh
    print(t.round(2).sort_values("import_share", ascending=False).to_string())


def hub_links(data) -> pd.DataFrame:
    """Province-to-hub capacity: row sums of the PIK matrix over the province's own region."""
    matrix = pd.read_csv(
        data / "transmission" / "pik_hist_2022_interprovincial_capacity_matrix_MW.csv", index_col=0
    )
    assert (matrix.to_numpy() == matrix.to_numpy().T).all()
    prov = pd.read_csv(INPUTS / "provinces.csv").set_index("province")
    rows = []
    for p in sorted(prov.index):
        region = prov.grid_region[p]
        partners = [q for q in matrix.columns if q != p and prov.grid_region.get(q) == region]
        rows.append(
            {
                "province": p,
                "grid_region": region,
                "hub": f"hub_{region}",
                "capacity_mw": f"{matrix.loc[p, partners].sum():.1f}",
                "partners": " ".join(q for q in partners if matrix.loc[p, q] > 0),
                "source": "PIK pik_hist_2022_interprovincial_capacity_matrix_MW.csv: sum over same-region partners",
            }
        )
    return pd.DataFrame(rows)


if __name__ == "__main__":
    main()
