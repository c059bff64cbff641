"""Shared fixtures: the shipped input set, and small copies of it to mutate or run fast."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SHIPPED_INPUTS = REPO / "inputs"
SMALL_PROVINCES = ("BJ", "TJ", "HE", "SX")


@pytest.fixture(scope="session")
def shipped_inputs():
    """The default China input set, loaded once."""
    from hourlysim import load_inputs

    return load_inputs(SHIPPED_INPUTS)


@pytest.fixture
def inputs_copy(tmp_path) -> Path:
    """A writable copy of the shipped input set (to break one file per test)."""
    target = tmp_path / "inputs"
    shutil.copytree(SHIPPED_INPUTS, target, ignore=shutil.ignore_patterns("build", "*.md"))
    return target


def write_small_inputs(target: Path, provinces=SMALL_PROVINCES) -> Path:
    """Write a valid input set restricted to a few provinces (fast end-to-end runs)."""
    shutil.copytree(SHIPPED_INPUTS, target, ignore=shutil.ignore_patterns("build", "*.md"))
    keep = set(provinces)
    for name, column in (
        ("provinces.csv", "province"),
        ("capacity.csv", "province"),
        ("hub_links.csv", "province"),
        ("cities.csv", "province"),
    ):
        frame = pd.read_csv(target / name, dtype=str, keep_default_na=False)
        frame[frame[column].isin(keep)].to_csv(target / name, index=False)
    cities = pd.read_csv(target / "cities.csv", dtype=str)
    climate = pd.read_csv(target / "climate.csv", dtype=str, keep_default_na=False)
    climate[climate["adcode"].isin(cities["adcode"])].to_csv(target / "climate.csv", index=False)
    corridors = pd.read_csv(target / "corridors.csv", dtype=str, keep_default_na=False)
    inside = corridors["from_province"].isin(keep) & corridors["to_province"].isin(keep)
    corridors[inside].to_csv(target / "corridors.csv", index=False)
    for path in (target / "hourly").glob("*.csv.gz"):
        frame = pd.read_csv(path, dtype=str)
        columns = ["time"] + [c for c in frame.columns if c in keep]
        with gzip.open(path, "wt", newline="") as handle:
            frame[columns].to_csv(handle, index=False)
    return target


@pytest.fixture(scope="session")
def small_inputs(tmp_path_factory) -> Path:
    """Input set of four northern provinces (Beijing, Tianjin, Hebei, Shanxi)."""
    return write_small_inputs(tmp_path_factory.mktemp("small") / "inputs")
