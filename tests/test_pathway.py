"""Grid pathways and EV adoption applied to the input set, checked by hand arithmetic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hourlysim import InputError, load_scenario
from hourlysim.pathway import check_scenario, year_inputs

REPO = Path(__file__).resolve().parents[1]


def _scenario(tmp_path, text: str):
    path = tmp_path / "s.yaml"
    path.write_text(f"name: s\ninputs: {REPO / 'inputs'}\n" + text)
    return load_scenario(path)


def _capacity(inputs, source):
    return inputs.provinces["capacity"].sel(capacity_source=source).to_series()


def test_no_pathway_leaves_the_inputs(shipped_inputs, tmp_path):
    assert year_inputs(shipped_inputs, _scenario(tmp_path, ""), 2040) is shipped_inputs


def test_coal_retirement_year_and_province_rule(shipped_inputs, tmp_path):
    scenario = _scenario(
        tmp_path,
        "grid_pathway:\n  capacity:\n    coal:\n      retirement_year: 2060\n"
        "      start_year: 2030\n      by_province: {NM: {retirement_year: 2040}}\n",
    )
    base_coal, base_chp = _capacity(shipped_inputs, "coal"), _capacity(shipped_inputs, "coal_chp")
    for year, national, inner_mongolia in [(2025, 1.0, 0.75), (2035, 25 / 30, 0.25), (2060, 0, 0)]:
        adjusted = year_inputs(shipped_inputs, scenario, year)
        coal, chp = _capacity(adjusted, "coal"), _capacity(adjusted, "coal_chp")
        # NM's own rule starts at the base year 2020: linear to zero in 2040
        assert coal["NM"] == pytest.approx(base_coal["NM"] * inner_mongolia)
        others = coal.drop("NM")
        np.testing.assert_allclose(others, base_coal.drop("NM") * national)
        np.testing.assert_allclose(chp.drop("NM"), base_chp.drop("NM") * national)
        assert (chp <= coal + 1e-9).all()
        # other sources untouched, the base set unchanged
        pd.testing.assert_series_equal(
            _capacity(adjusted, "solar"), _capacity(shipped_inputs, "solar")
        )
    assert _capacity(shipped_inputs, "coal").equals(base_coal)


def test_annual_rate_compounds(shipped_inputs, tmp_path):
    scenario = _scenario(tmp_path, "grid_pathway: {capacity: {gas: {annual_rate: 0.1}}}\n")
    adjusted = year_inputs(shipped_inputs, scenario, 2023)
    np.testing.assert_allclose(
        _capacity(adjusted, "gas"), _capacity(shipped_inputs, "gas") * 0.9**3
    )


def test_wind_targets_are_national_totals(shipped_inputs, tmp_path):
    scenario = _scenario(
        tmp_path, "grid_pathway: {capacity: {wind: {targets: {2030: 800, 2060: 2000}}}}\n"
    )
    base = _capacity(shipped_inputs, "wind_onshore") + _capacity(shipped_inputs, "wind_offshore")
    base_gw = base.sum() / 1000
    for year, total in [(2025, base_gw + (800 - base_gw) / 2), (2045, 1400), (2070, 2000)]:
        adjusted = year_inputs(shipped_inputs, scenario, year)
        wind = _capacity(adjusted, "wind_onshore") + _capacity(adjusted, "wind_offshore")
        assert wind.sum() / 1000 == pytest.approx(total)
        np.testing.assert_allclose(wind / wind.sum(), base / base.sum())  # shares kept


def test_demand_follows_the_projection(shipped_inputs, tmp_path):
    scenario = _scenario(tmp_path, "years: [2032]\ngrid_pathway: {demand: projection}\n")
    projection = pd.read_csv(REPO / "inputs" / "demand_projection.csv", index_col="province")
    adjusted = year_inputs(shipped_inputs, scenario, 2032)
    demand = adjusted.provinces["annual_demand"].to_series()
    expected = projection["demand_2030"] + 0.4 * (
        projection["demand_2035"] - projection["demand_2030"]
    )
    base = shipped_inputs.provinces["annual_demand"].to_series()
    np.testing.assert_allclose(demand, (base * expected / projection["demand_2020"])[demand.index])
    np.testing.assert_allclose(projection["demand_2020"][base.index], base)


def test_city_shares_in_the_year_inputs(shipped_inputs, tmp_path):
    scenario = _scenario(
        tmp_path, "ev_share: {national: {table: {2020: 0.1, 2040: 0.3}}, cities: {110000: 0.7}}\n"
    )
    share = year_inputs(shipped_inputs, scenario, 2030).cities["ev_share"].to_series()
    assert share[110000] == pytest.approx(0.7)
    np.testing.assert_allclose(share.drop(110000), 0.2)


@pytest.mark.parametrize(
    ("text", "column"),
    [
        ("ev_share: {national: 0.2, cities: {999999: 0.5}}\n", "ev_share.cities"),
        (
            "grid_pathway: {capacity: {coal: {retirement_year: 2050, by_province: "
            "{ZZ: {retirement_year: 2040}}}}}\n",
            "grid_pathway.capacity.coal.by_province",
        ),
        ("years: [2065]\ngrid_pathway: {demand: projection}\n", "grid_pathway.demand"),
    ],
)
def test_scenario_checked_against_the_inputs(shipped_inputs, tmp_path, text, column):
    with pytest.raises(InputError, match=rf"column '{column}'"):
        check_scenario(shipped_inputs, _scenario(tmp_path, text))
