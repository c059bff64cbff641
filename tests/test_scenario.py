from __future__ import annotations

from pathlib import Path

import numpy as np
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


def _load(tmp_path, text: str, inputs: str | None = None):
    path = tmp_path / "s.yaml"
    path.write_text("name: s\n" + (f"inputs: {inputs}\n" if inputs else "") + text)
    return load_scenario(path)


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "scenarios").glob("*.yaml")))
def test_shipped_scenarios_validate(name):
    from hourlysim.scenario import expand_sweep

    scenario = load_scenario(REPO / "scenarios" / name)
    assert scenario.name == Path(name).stem
    assert scenario.weather_year == 2020
    assert expand_sweep(scenario)


def test_year_range_includes_stop(tmp_path):
    scenario = _load(tmp_path, "years: {start: 2025, stop: 2060, step: 5}\n")
    assert scenario.years == (2025, 2030, 2035, 2040, 2045, 2050, 2055, 2060)
    assert _load(tmp_path, "years: {start: 2030}\n").years == (2030,)


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ("years: {start: 2025, stop: 2060, step: 0}\n", "years", "'step': 0"),
        ("years: {begin: 2025}\n", "years", "'begin'"),
        ("years: [2020, 2150]\n", "years", "2150"),
        ("methods: [average, lifecycle]\n", "methods", "'lifecycle'"),
        ("variables: [charging_load, co2]\n", "variables", "'co2'"),
        ("grid_exchange: market\n", "grid_exchange", "'market'"),
        ("resolution: weekly\n", "resolution", "'weekly'"),
        (
            "ev_share: {logistic: {midpoint_year: 2030, growth_rate: -1, saturation: 0.9}}\n",
            "ev_share.growth_rate",
            "-1",
        ),
        (
            "ev_share: {logistic: {midpoint_year: 2030, growth_rate: 0.3, saturation: 1.4}}\n",
            "ev_share.saturation",
            "1.4",
        ),
        ("ev_share: {national: 0.2, cities: {110000: {table: {2030: 2.0}}}}\n", "ev_share", "2.0"),
        ("ev_share: {logistc: {midpoint_year: 2030}}\n", "ev_share", "logistc"),
        (
            "grid_pathway: {capacity: {lignite: {retirement_year: 2040}}}\n",
            "grid_pathway.capacity",
            "'lignite'",
        ),
        (
            "grid_pathway: {capacity: {coal: {retirement_year: 2040, annual_rate: 0.1}}}\n",
            "grid_pathway.capacity.coal",
            "retirement_year",
        ),
        (
            "grid_pathway: {capacity: {coal: {annual_rate: 1.5}}}\n",
            "grid_pathway.capacity.coal.annual_rate",
            "1.5",
        ),
        ("grid_pathway: {demand: growing}\n", "grid_pathway.demand", "'growing'"),
        ("sweep: {ev_shares: [0.1]}\n", "sweep", "'ev_shares'"),
        ("sweep: {ev_share: []}\n", "sweep", "ev_share"),
    ],
)
def test_bad_fields_are_named_with_their_value(tmp_path, text, field, value):
    with pytest.raises(InputError) as error:
        _load(tmp_path, text)
    message = str(error.value)
    assert f"column '{field}" in message, message
    assert value in message, message


def test_weather_year_must_be_shipped(tmp_path):
    with pytest.raises(InputError, match=r"column 'weather_year'.*2019.*available: \[2020\]"):
        _load(tmp_path, "weather_year: 2019\n", inputs=str(REPO / "inputs"))
    assert _load(tmp_path, "", inputs=str(REPO / "inputs")).weather_year is None


def test_logistic_and_table_trajectories(tmp_path):
    scenario = _load(
        tmp_path,
        "ev_share:\n"
        "  national: {logistic: {midpoint_year: 2035, growth_rate: 0.4, saturation: 0.8,"
        " initial: 0.1}}\n"
        "  cities: {110000: {table: {2020: 0.1, 2040: 0.5}}, 310000: 0.3}\n",
    )
    adoption = scenario.ev_share
    assert adoption.share(2035) == pytest.approx(0.45)  # half-way between 0.1 and 0.8
    expected = 0.1 + 0.7 / (1 + np.exp(-0.4 * (2045 - 2035)))
    assert adoption.share(2045) == pytest.approx(expected)
    assert adoption.share(2030, city=110000) == pytest.approx(0.3)
    assert adoption.share(2050, city=110000) == pytest.approx(0.5)
    assert adoption.share(2050, city=310000) == pytest.approx(0.3)
    assert adoption.share(2035, city=440100) == pytest.approx(0.45)
    assert scenario.ev_share_for(2035) == pytest.approx(0.45)


def test_old_ev_share_forms_stay_valid(tmp_path):
    assert _load(tmp_path, "ev_share: 0.25\n").ev_share_for(2040) == 0.25
    assert _load(tmp_path, "ev_share: {table: {2020: 0.0, 2040: 1.0}}\n").ev_share_for(
        2030
    ) == pytest.approx(0.5)
    assert _load(tmp_path, "").ev_share_for(2030) is None


def test_sweep_expands_to_named_members(tmp_path):
    from hourlysim.scenario import expand_sweep

    scenario = _load(
        tmp_path,
        "output: out/s.nc\n"
        "sweep:\n"
        "  ev_share: [0.1, 0.3]\n"
        "  strategies: [uncontrolled, [carbon_aware, valley_filling]]\n"
        "  coal_retirement_year: [2040, 2050]\n"
        "  parameters.charging_efficiency: [0.9]\n",
    )
    members = expand_sweep(scenario)
    assert len(members) == 2 * 2 * 2 * 1
    first, last = members[0], members[-1]
    assert first.name == (
        "s__ev_share-0.1__strategies-uncontrolled__coal_retirement_year-2040"
        "__parameters.charging_efficiency-0.9"
    )
    assert last.name == (
        "s__ev_share-0.3__strategies-carbon_aware_valley_filling__coal_retirement_year-2050"
        "__parameters.charging_efficiency-0.9"
    )
    assert [m.name for m in expand_sweep(scenario)] == [m.name for m in members]
    assert len({m.name for m in members}) == len(members)
    assert last.strategies == ("carbon_aware", "valley_filling")
    assert first.strategies == ("uncontrolled",)
    assert last.ev_share_for(2030) == pytest.approx(0.3)
    assert last.grid_pathway.capacity["coal"].retirement_year == 2050
    assert last.parameters == {"charging_efficiency": 0.9}
    assert last.output == (tmp_path / "out" / f"{last.name}.nc").resolve()
    assert last.member_of == "s"
    assert last.member_parameters["coal_retirement_year"] == 2050
    assert not last.sweep
    assert expand_sweep(_load(tmp_path, "")) == [_load(tmp_path, "")]


def test_sweep_member_with_a_bad_value_is_named(tmp_path):
    with pytest.raises(InputError, match=r"column 'ev_share'.*member s__ev_share-1\.7.*1\.7"):
        _load(tmp_path, "sweep: {ev_share: [0.2, 1.7]}\n")
