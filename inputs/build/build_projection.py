# ruff: noqa: E501  (data-provenance strings and URLs are kept on one line)
"""demand_projection.csv: PIK provincial annual electricity demand 2020-2060 [MWh], by province code.

Source: power_supply/pik_provincial_annual_load_2020_2060_MWh.csv (PIK, CC BY 4.0), copied as is
(rounded to whole MWh), one column per projection year. The 2020 column equals annual_demand of
provinces.csv (same source and rounding).
"""

from __future__ import annotations

import pandas as pd
from _common import INPUTS, parse_args, pik_name_to_code, write_csv


def main() -> None:
    data = parse_args(__doc__)
    code_of = pik_name_to_code(data)
    load = pd.read_csv(
        data / "power_supply" / "pik_provincial_annual_load_2020_2060_MWh.csv", index_col=0
    )
    load.index = [code_of[n] for n in load.index]
    out = pd.DataFrame({"province": load.index})
    for year in load.columns:
        out[f"demand_{int(year)}"] = [int(round(v)) for v in load[year]]
    out = out.sort_values("province")
    assert len(out) == 31
    write_csv(out, INPUTS / "demand_projection.csv")
    print("national demand [TWh]", (out.drop(columns="province").sum() / 1e6).round(1).to_dict())


if __name__ == "__main__":
    main()
