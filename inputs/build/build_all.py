# ruff: noqa: E501  (data-provenance strings and URLs are kept on one line)
"""Regenerate every shipped file under inputs/ from the shared raw data, in dependency order.

Usage (from the repo root):  .venv/bin/python inputs/build/build_all.py [DATA_DIR]
DATA_DIR defaults to ../shared/data relative to the repo root.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from _common import parse_args

STEPS = [
    "build_climate.py",  # climate.csv (needed by cities.csv)
    "build_cities.py",  # cities.csv, provinces.csv
    "build_capacity.py",  # capacity.csv, plants.csv (needs cities.csv)
    "build_hourly.py",  # hourly/*.csv.gz
    "build_corridors.py",  # corridors.csv (needs provinces.csv)
    "build_parameters.py",  # parameters.csv (uses calibrate_ev_temperature.py)
    "build_charging.py",  # segments.csv, charging_modes.csv, charging_arrivals.csv
    "build_projection.py",  # demand_projection.csv (provincial demand 2020-2060)
]
# build_driving_profile.py (driving_profile.csv) needs no raw data: it takes the output folder.
OUTPUT_DIR_STEPS = ["build_driving_profile.py"]


def main() -> None:
    data = parse_args(__doc__)
    here = Path(__file__).resolve().parent
    for step in STEPS:
        print(f"=== {step}", flush=True)
        subprocess.run([sys.executable, str(here / step), str(data)], check=True, cwd=here)
    for step in OUTPUT_DIR_STEPS:
        print(f"=== {step}", flush=True)
        subprocess.run([sys.executable, str(here / step), str(here.parent)], check=True, cwd=here)


if __name__ == "__main__":
    main()
