# ruff: noqa: E501  (data-provenance strings and URLs are kept on one line)
"""Build inputs/driving_profile.csv: share of a day's driving in each local hour.

No open hourly driving (vehicle-km) profile for Chinese cities was found in ../shared/data.
This table is therefore a labelled ASSUMPTION, built from published peak times only:
weekday rush hours near 08:00 and 18:00 (the rush-hour windows used for Beijing, Shenzhen,
Shanghai, Hangzhou and Jinan in "Unveiling city jam-prints of urban traffic based on jam
patterns", Communications Physics 2025, doi 10.1038/s42005-025-02049-6, Fig. 4) and the
typical-city commute peaks at 08:00 and 17:00 (Barber 1995, in The Geography of Urban
Transportation, as shown at transportgeography.org). Weekday: a daytime plateau (06-22 h)
carrying 30% of the day's km plus two Gaussian peaks (08:00, sd 1 h, 35%; 18:00, sd 1.5 h,
35%). Weekend: one broad Gaussian centred at 14:00 (sd 4 h) on a small 24 h floor (10%).

The profile only spreads each day's km over its hours: it sets the temperature each km is
driven at and the hourly driving_km output; daily energy (and so charging need) does not
depend on it. Replace the table with measured data where available.

Usage: python inputs/build/build_driving_profile.py [OUTPUT_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

SOURCE = (
    "ASSUMPTION: shape built from published peak hours (08:00, 18:00; Commun. Phys. 2025 "
    "doi 10.1038/s42005-025-02049-6; Barber 1995); see inputs/README.md"
)


def _gaussian(hours: np.ndarray, centre: float, sd: float) -> np.ndarray:
    # circular distance so that the shape wraps over midnight
    distance = np.minimum(np.abs(hours - centre), 24 - np.abs(hours - centre))
    shape = np.exp(-0.5 * (distance / sd) ** 2)
    return shape / shape.sum()


def build(output_dir: Path) -> Path:
    hours = np.arange(24)
    plateau = ((hours >= 6) & (hours <= 22)).astype(float)
    plateau /= plateau.sum()
    weekday = 0.30 * plateau + 0.35 * _gaussian(hours, 8, 1.0) + 0.35 * _gaussian(hours, 18, 1.5)
    weekend = 0.10 * np.full(24, 1 / 24) + 0.90 * _gaussian(hours, 14, 4.0)
    frame = pd.DataFrame(
        {
            "hour": hours,
            "weekday": np.round(weekday / weekday.sum(), 6),
            "weekend": np.round(weekend / weekend.sum(), 6),
            "source": SOURCE,
        }
    )
    # rounding leaves the sum a few 1e-6 off 1: put the remainder on the largest share
    for column in ("weekday", "weekend"):
        frame.loc[frame[column].idxmax(), column] += round(1.0 - frame[column].sum(), 6)
    path = Path(output_dir) / "driving_profile.csv"
    frame.to_csv(path, index=False, float_format="%.6f")
    return path


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
    print(build(target))
