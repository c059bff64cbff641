from __future__ import annotations

from pathlib import Path

import pytest

from hourlysim import InputError, load_scenario

REPO = Path(__file__).resolve().parents[1]


def test_baseline_scenario_loads():
    scenario = load_scenario(REPO / "scenarios" / "baseline.yaml")
    assert scenario.name == "baseline"
    assert scenario.inputs == (REPO / "inputs").resolve()
    assert scenario.output == (REPO / "outputs" / "baseline.nc").resolve()
    assert len(scenario.strategies) == 5


def test_bad_strategy_names_field(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nstrategies: [uncontrolled, overnight]\n")
    with pytest.raises(InputError, match=r"s\.yaml, column 'strategies'.*'overnight'"):
        load_scenario(path)


def test_unknown_field(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nyeers: [2020]\n")
    with pytest.raises(InputError, match=r"column 'yeers'"):
        load_scenario(path)


def test_ev_share_trajectory(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nyears: [2020, 2025, 2030]\nev_share: {2020: 0.1, 2030: 0.5}\n")
    scenario = load_scenario(path)
    assert scenario.ev_share_for(2025) == pytest.approx(0.3)
    assert scenario.ev_share_for(2040) == pytest.approx(0.5)
    with pytest.raises(Exception):  # noqa: B017 - frozen model
        scenario.years = (2021,)


def test_ev_share_out_of_range(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nev_share: 1.5\n")
    with pytest.raises(InputError, match="ev_share"):
        load_scenario(path)
