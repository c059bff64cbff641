"""inputs/build/ regenerates the shipped input set byte for byte from ../shared/data."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RAW_DATA = REPO.parent / "shared" / "data"


@pytest.mark.skipif(not RAW_DATA.is_dir(), reason="../shared/data (raw public data) not present")
def test_build_regenerates_shipped_files(tmp_path):
    # the scripts write next to themselves (REPO/inputs): run a copy in a scratch repo
    scratch = tmp_path / "repo"
    shutil.copytree(REPO / "inputs" / "build", scratch / "inputs" / "build")
    subprocess.run(
        [sys.executable, str(scratch / "inputs" / "build" / "build_all.py"), str(RAW_DATA)],
        check=True,
        capture_output=True,
        cwd=scratch,
    )
    shipped = sorted(
        p.relative_to(REPO / "inputs")
        for p in (REPO / "inputs").rglob("*")
        if p.is_file() and "build" not in p.parts and p.suffix != ".md"
    )
    assert len(shipped) >= 15
    for relative in shipped:
        rebuilt = scratch / "inputs" / relative
        assert rebuilt.is_file(), f"{relative} was not rebuilt"
        assert filecmp.cmp(rebuilt, REPO / "inputs" / relative, shallow=False), (
            f"{relative} differs from its rebuild"
        )
