# ruff: noqa: E501  (data-provenance strings and URLs are kept on one line)
"""Shared helpers for the input-set build scripts (paths, province codes, deterministic writers)."""

from __future__ import annotations

import argparse
import gzip
import io
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
INPUTS = REPO / "inputs"
BUILD = INPUTS / "build"
DEFAULT_DATA = REPO.parent / "shared" / "data"

# MEE regional-grid grouping (REFERENCE_FACTS.md regional factors).
GRID_REGION = {
    "north": ["BJ", "TJ", "HE", "SX", "SD", "NM"],
    "northeast": ["LN", "JL", "HL"],
    "east": ["SH", "JS", "ZJ", "AH", "FJ"],
    "central": ["HA", "HB", "HN", "JX"],
    "northwest": ["SN", "GS", "QH", "NX", "XJ"],
    "south": ["GD", "GX", "YN", "GZ", "HI"],
    "southwest": ["SC", "CQ", "XZ"],
}

# 2-digit NBS province prefix -> 2-letter code.
PREFIX_TO_CODE = {
    11: "BJ",
    12: "TJ",
    13: "HE",
    14: "SX",
    15: "NM",
    21: "LN",
    22: "JL",
    23: "HL",
    31: "SH",
    32: "JS",
    33: "ZJ",
    34: "AH",
    35: "FJ",
    36: "JX",
    37: "SD",
    41: "HA",
    42: "HB",
    43: "HN",
    44: "GD",
    45: "GX",
    46: "HI",
    50: "CQ",
    51: "SC",
    52: "GZ",
    53: "YN",
    54: "XZ",
    61: "SN",
    62: "GS",
    63: "QH",
    64: "NX",
    65: "XJ",
}

# Short Chinese province names (as in the MEE and corridor tables) -> code.
ZH_SHORT_TO_CODE = {
    "北京": "BJ",
    "天津": "TJ",
    "河北": "HE",
    "山西": "SX",
    "内蒙": "NM",
    "内蒙古": "NM",
    "辽宁": "LN",
    "吉林": "JL",
    "黑龙江": "HL",
    "上海": "SH",
    "江苏": "JS",
    "浙江": "ZJ",
    "安徽": "AH",
    "福建": "FJ",
    "江西": "JX",
    "山东": "SD",
    "河南": "HA",
    "湖北": "HB",
    "湖南": "HN",
    "广东": "GD",
    "广西": "GX",
    "海南": "HI",
    "重庆": "CQ",
    "四川": "SC",
    "贵州": "GZ",
    "云南": "YN",
    "西藏": "XZ",
    "陕西": "SN",
    "甘肃": "GS",
    "青海": "QH",
    "宁夏": "NX",
    "新疆": "XJ",
}


def parse_args(description: str) -> Path:
    """Parse the common ``data_dir`` argument; return it as an absolute Path."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "data_dir",
        nargs="?",
        default=str(DEFAULT_DATA),
        help="the shared raw data folder (default ../shared/data from the repo root)",
    )
    a = p.parse_args()
    d = Path(a.data_dir).resolve()
    if not d.is_dir():
        raise SystemExit(f"data dir not found: {d}")
    return d


def province_names(data: Path) -> pd.DataFrame:
    """PIK English names (as used in PIK/THU/XZ files) and 2-letter codes, 31 mainland provinces."""
    pc = pd.read_csv(data / "cities" / "pik_province_codes.csv")
    pc = pc.rename(columns={"Full name": "pik_name", "Code": "province"})
    pc = pc[~pc.province.isin(["HK", "MO", "TW"])].reset_index(drop=True)
    assert len(pc) == 31
    return pc


class _NameMap(dict):
    """English province name -> code, ignoring case, spaces and the GEM/THU spelling variants."""

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.replace(" ", "").lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.replace(" ", "").lower())


def pik_name_to_code(data: Path) -> _NameMap:
    pn = province_names(data)
    return _NameMap({n.lower(): c for n, c in zip(pn.pik_name, pn.province, strict=True)})


def write_csv(df: pd.DataFrame, path: Path, float_format: str | None = None) -> None:
    """Write a CSV deterministically (UTF-8, LF, no index); .gz paths are gzip'd with mtime 0."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    df.to_csv(buf, index=False, float_format=float_format, lineterminator="\n")
    data = buf.getvalue().encode("utf-8")
    if path.suffix == ".gz":
        data = gzip.compress(data, compresslevel=9, mtime=0)
    path.write_bytes(data)


def fmt(x: float, nd: int) -> str:
    """Fixed-decimals string with negative zero removed."""
    s = f"{x:.{nd}f}"
    return "0" + s[2:] if s.startswith("-0") and float(s) == 0 else s


def largest_remainder(total: float, weights: np.ndarray) -> np.ndarray:
    """Integers proportional to weights that sum exactly to round(total)."""
    total = int(round(total))
    w = np.asarray(weights, dtype=float)
    raw = total * w / w.sum()
    base = np.floor(raw).astype(np.int64)
    rest = total - base.sum()
    order = np.argsort(-(raw - base), kind="stable")
    base[order[:rest]] += 1
    return base
