"""``hourlysim report`` on small synthetic cubes: files written, figures valid PNGs, and the
summary states the figures computed here, independently, from the synthetic data."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

from hourlysim.cli import main
from hourlysim.inequality import city_indicators
from hourlysim.timeaxis import model_time

FULL = ["territorial", "average", "consumption", "marginal", "consequential"]
OLD = ["average", "consumption", "marginal"]
STRATEGIES = ["uncontrolled", "carbon_aware"]
NAMES = ["Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot"]
PROVINCES = ["NM", "NM", "SC", "SC", "GD", "GD"]
REGIONS = {"NM": "north", "SC": "southwest", "GD": "south"}
FLEET = np.array([100.0, 500.0, 50.0, 300.0, 800.0, 200.0])
POPULATION = np.array([1e5, 4e5, 2e5, 3e5, 9e5, 2e5])
GDP = np.array([30e3, 50e3, 40e3, 60e3, 120e3, 90e3])
PNG = b"\x89PNG\r\n\x1a\n"
FIGURES = (
    "map_reduction_per_vehicle.png",
    "lorenz_by_method.png",
    "marginal_intensity_heatmap.png",
    "strategy_comparison.png",
    "ev_versus_gasoline.png",
)


def pct(share: float) -> str:
    return f"{100 * share:.1f}%"


def _raw(methods: list[str], year: int = 2021, seed: int = 0) -> dict:
    """Hourly arrays of one year: (strategy, method, city, time) EV CO2 and the rest."""
    rng = np.random.default_rng(seed)
    time = model_time(year)
    # cold and heat weights differ by month, so that every month of a season counts
    winter = np.array([1.0, 0.6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.2])[time.month - 1]
    summer = np.array([0, 0, 0, 0, 0, 0.1, 0.4, 0.25, 0, 0, 0, 0])[time.month - 1]
    n, hours = len(NAMES), time.size
    gasoline = (
        rng.uniform(0.5, 1.5, n)[:, None] * (1 + 0.1 * winter) * rng.uniform(0.8, 1.2, (n, hours))
    )
    factor = rng.uniform(0.4, 1.15, (len(STRATEGIES), len(methods), n))
    cold = rng.uniform(0.0, 0.8, n)
    hot = rng.uniform(0.0, 0.5, n)
    ev = (
        gasoline[None, None]
        * factor[..., None]
        * (1 + cold[:, None] * winter + hot[:, None] * summer)[None, None]
        / (1 + 0.3 * cold[:, None])
    )
    if "territorial" in methods:
        ev[:, methods.index("territorial")] *= 0.5
    # part of each city's annual EV CO2 emitted in poorer cities (consumption, consequential)
    located = [methods.index(m) for m in ("consumption", "consequential") if m in methods]
    poorer = ev[:, located].sum(axis=-1) * rng.uniform(0.0, 1.0, (len(STRATEGIES), len(located), n))
    return {
        "poorer": poorer,
        "time": time,
        "gasoline": gasoline,
        "ev": ev,
        "draw": rng.uniform(1.0, 3.0, (len(STRATEGIES), n, hours))
        * rng.uniform(0.2, 5.0, n)[:, None],
        "import_share": rng.uniform(0.0, 0.6, (len(STRATEGIES), n)),
        "carbon_class": rng.choice(np.array([-1, 0, 1], dtype=np.int8), (2, len(methods), n)),
        "marginal": rng.choice([0.0, 430.0, 853.0], (len(STRATEGIES), 3, hours)),
        "net_import": np.array([-5.0, 1.0, 4.0])[None, :, None] * np.ones((2, 3, hours)),
    }


def _cube(raw: dict, methods: list[str], carbon_class: bool = True) -> xr.Dataset:
    """One year of the output cube as the runner writes it (hourly)."""
    cities = np.arange(len(NAMES)) + 110000
    provinces = ["GD", "NM", "SC"]
    coords = {
        "strategy": STRATEGIES,
        "method": methods,
        "city": cities,
        "time": raw["time"],
        "province": provinces,
        "name_en": ("city", NAMES),
        "city_province": ("city", PROVINCES),
        "latitude": ("city", [40.0, 42.0, 30.0, 29.0, 23.0, 22.5]),
        "longitude": ("city", [111.0, 115.0, 104.0, 106.0, 113.0, 114.0]),
        "population": ("city", POPULATION),
        "gdp_per_capita": ("city", GDP),
        "grid_region": ("province", [REGIONS[p] for p in provinces]),
        "province_name": ("province", ["Guangdong", "Inner Mongolia", "Sichuan"]),
    }
    st = ("strategy",)
    data = xr.Dataset(
        {
            "ev_emissions": (st + ("method", "city", "time"), raw["ev"].astype(np.float32)),
            "gasoline_emissions": (("city", "time"), raw["gasoline"].astype(np.float32)),
            "ev_grid_draw": (st + ("city", "time"), raw["draw"].astype(np.float32)),
            "import_share": (st + ("city",), raw["import_share"]),
            "marginal_intensity": (st + ("province", "time"), raw["marginal"]),
            "net_import": (st + ("province", "time"), raw["net_import"]),
            "ev_fleet": (("city",), FLEET),
        },
        coords=coords,
    )
    accounting = ["ev_emissions", "gasoline_emissions"]
    if carbon_class:
        data["carbon_class"] = (st + ("method", "city"), raw["carbon_class"])
    if "consequential" in methods:  # the full contract: burden located for two methods
        data["emissions_in_poorer_cities"] = xr.DataArray(
            raw["poorer"],
            dims=("strategy", "method", "city"),
            coords={"method": ["consumption", "consequential"]},
        )
        accounting.append("emissions_in_poorer_cities")
    fleet, population = data["ev_fleet"], data["population"]
    indicators = [
        city_indicators(
            data.sel(strategy=s)[accounting],
            fleet,
            population,
            data["gdp_per_capita"],
            data["city_province"],
            xr.DataArray([REGIONS[p] for p in PROVINCES], dims="city"),
        )
        for s in STRATEGIES
    ]
    return xr.merge([data, xr.concat(indicators, dim="strategy")], compat="override")


def _write(cube: xr.Dataset, path: Path, years=(2021,), resolution="hourly") -> Path:
    cube = cube.expand_dims(year=list(years))
    cube.attrs.update(scenario="synthetic", resolution=resolution, source="hourlysim test")
    cube.to_netcdf(path, engine="netcdf4")
    return path


def _invoke(*args: str):
    result = CliRunner().invoke(main, ["report", *args])
    return result


def _assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG, path
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200


def _section(summary: str, title: str) -> str:
    """The text of the summary section whose heading starts with ``title``."""
    start = summary.index(f"## {title}")
    end = summary.find("\n## ", start + 1)
    return summary[start : end if end >= 0 else None]


def _row(summary: str, start: str) -> str:
    rows = [line for line in summary.splitlines() if line.startswith(start)]
    assert rows, f"no row starting with {start!r}"
    return rows[0]


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    folder = tmp_path_factory.mktemp("full")
    raw = _raw(FULL)
    path = _write(_cube(raw, FULL), folder / "cube.nc")
    result = _invoke(str(path), "--top", "2")
    assert result.exit_code == 0, result.output
    return raw, folder / "cube_report", (folder / "cube_report" / "summary.md").read_text()


def test_full_cube_writes_every_file(full):
    _, folder, summary = full
    for name in FIGURES:
        _assert_png(folder / name)
        assert f"`{name}`" in summary
    table = (folder / "importer_exporter.md").read_text()
    assert all(name in table for name in NAMES)
    assert "## Missing from this cube" not in summary or "carbon_class`:" not in summary


def test_full_cube_importer_shares(full):
    raw, _, summary = full
    for m, method in enumerate(FULL):
        classes = raw["carbon_class"][0, m]  # strategy uncontrolled
        importers, exporters = int((classes == 1).sum()), int((classes == -1).sum())
        row = _row(summary, f"| {method} | {importers} | {exporters} |")
        assert pct(importers / len(NAMES)) in row


def test_full_cube_import_share_of_ev_electricity(full):
    raw, _, summary = full
    weights = raw["draw"][0].astype(np.float32).sum(axis=1, dtype=float)
    share = raw["import_share"][0]
    overall = (weights * share).sum() / weights.sum()
    assert f"all 6 cities: {pct(overall)}" in summary
    top = np.argsort(-FLEET)[:2]  # the two largest fleets: Echo, Bravo
    advanced = (weights[top] * share[top]).sum() / weights[top].sum()
    assert f"Echo, Bravo): {pct(advanced)}" in summary
    assert "~42%" in summary  # the reference figure, set beside ours


def test_full_cube_ev_versus_gasoline_by_season(full):
    raw, _, summary = full
    months = raw["time"].month
    ev = raw["ev"][0].astype(np.float32).astype(float)
    gasoline = raw["gasoline"].astype(np.float32).astype(float)
    periods = {
        "annual": np.ones(months.size, bool),
        "winter (Dec-Feb)": np.isin(months, (12, 1, 2)),
        "summer (Jun-Aug)": np.isin(months, (6, 7, 8)),
    }
    checked = 0
    # territorial CO2 is what sits inside a boundary, not the city's own cars': not compared
    assert "| territorial | annual |" not in summary
    for m, method in enumerate(FULL):
        if method == "territorial":
            continue
        for period, mask in periods.items():
            ratio = ev[m][:, mask].sum(axis=1) / gasoline[:, mask].sum(axis=1)
            row = _row(summary, f"| {method} | {period} |")
            above = ratio > 1
            assert f"| {int(above.sum())} |" in row
            if above.any():
                worst = int(np.argmax(ratio))
                assert f"+{pct(ratio[worst] - 1)} | {NAMES[worst]}" in row
                checked += 1
    assert checked >= 3  # the synthetic data has cities above 1 in several rows


def test_full_cube_territorial_versus_consumption(full):
    raw, _, summary = full
    annual = raw["ev"][0].astype(np.float32).sum(axis=-1, dtype=float)
    shift = annual[FULL.index("consumption")] - annual[FULL.index("territorial")]
    shrink = int((shift > 0).sum())
    assert f"instead of `territorial`: {shrink} of 6 cities ({pct(shrink / 6)})" in summary
    assert f"{shift[shift > 0].sum() / 1e6:.3f} Mt in all" in summary


def test_full_cube_inequality_table(full):
    raw, _, summary = full
    ev = raw["ev"][0].astype(np.float32).sum(axis=-1, dtype=float)
    gasoline = raw["gasoline"].astype(np.float32).sum(axis=-1, dtype=float)
    checked = False
    for m, method in enumerate(FULL):
        x = (gasoline - ev[m]) / POPULATION
        w = POPULATION
        mean = (w * x).sum() / w.sum()
        pairwise = (w[:, None] * w[None, :] * np.abs(x[:, None] - x[None, :])).sum()
        expected = pairwise / (2 * w.sum() ** 2 * mean)
        assert f"| {method} | {expected:.3f} |" in summary
        if (x < 0).any():
            negative = int((x < 0).sum())
            told = f"{negative} {'city has' if negative == 1 else 'cities have'} a negative"
            assert f"Theil T for `{method}` is undefined: {told}" in summary
        else:
            shares = w * x / (w * x).sum()
            theil = float(np.sum(shares * np.log(x / mean)))
            assert f"| {method} | {expected:.3f} | {theil:.3f} |" in summary
            checked = True
    assert checked  # territorial reductions are all positive in the synthetic data


def test_full_cube_share_of_ev_emissions_in_poorer_cities(full):
    raw, _, summary = full
    table = _section(summary, "Inequality")
    annual = raw["ev"][0].astype(np.float32).sum(axis=-1, dtype=float)
    for k, method in enumerate(("consumption", "consequential")):
        share = raw["poorer"][0, k].sum() / annual[FULL.index(method)].sum()
        assert _row(table, f"| {method} |").endswith(f"| {pct(share)} |")
    # not located for the other methods
    assert _row(table, "| average |").endswith("| n/a |")


def test_old_cube_says_what_is_missing(tmp_path):
    raw = _raw(OLD, seed=1)
    cube = _cube(raw, OLD, carbon_class=False)
    cube = cube.drop_vars(
        ["lorenz", "theil", "concentration_index"]
        + [v for v in cube.data_vars if v.startswith("theil_")]
    )
    path = _write(cube, tmp_path / "old.nc")
    out = tmp_path / "elsewhere"
    result = _invoke(str(path), "-o", str(out), "--provinces", "SC,GD")
    assert result.exit_code == 0, result.output
    summary = (out / "summary.md").read_text()
    for name in FIGURES:
        _assert_png(out / name)
    missing = summary[summary.index("## Missing from this cube") :]
    assert "`carbon_class`" in missing
    assert "method `territorial`" in missing
    assert "`theil`" in missing and "computed by the report" in missing
    # proxy importer share: cities in provinces with net_import > 0 (SC and GD): 4 of 6
    assert f"Proxy (not a carbon class): {pct(4 / 6)} of the 6 cities" in summary
    assert "mean marginal intensity by hour of day and month in SC, GD" in summary


def _daily(cube: xr.Dataset, steps: bool) -> xr.Dataset:
    """Daily sums of a cube (intensities averaged), time as the day step or the date."""
    out = {}
    for name, data in cube.data_vars.items():
        if "time" not in data.dims:
            out[name] = data
            continue
        reduced = data.resample(time="D")
        out[name] = reduced.mean() if name == "marginal_intensity" else reduced.sum()
    daily = xr.Dataset(out)
    if steps:
        daily = daily.assign_coords(time=np.arange(daily.sizes["time"]))
    return daily


def test_daily_cube_with_several_years(tmp_path):
    raw_first, raw = _raw(OLD, 2021, seed=2), _raw(OLD, 2022, seed=3)
    first = _daily(_cube(raw_first, OLD), steps=True)
    second = _daily(_cube(raw, OLD), steps=True)
    both = xr.concat([first, second], dim="year").assign_coords(year=[2021, 2022])
    both.attrs.update(scenario="years", resolution="daily")
    path = tmp_path / "years.nc"
    both.to_netcdf(path, engine="netcdf4")
    result = _invoke(str(path), "--year", "2022", "--strategy", "carbon_aware")
    assert result.exit_code == 0, result.output
    folder = tmp_path / "years_report"
    summary = (folder / "summary.md").read_text()
    assert "year 2022, strategy carbon_aware" in summary
    assert "Hour-of-day heatmap skipped: the cube is daily, not hourly." in summary
    assert not (folder / "marginal_intensity_heatmap.png").exists()
    # seasons from the day steps of 2022, strategy carbon_aware
    months = raw["time"].month
    ev = raw["ev"][1].astype(np.float32).astype(float)
    gasoline = raw["gasoline"].astype(np.float32).astype(float)
    winter = np.isin(months, (12, 1, 2))
    ratio = ev[0][:, winter].sum(axis=1) / gasoline[:, winter].sum(axis=1)
    row = _row(summary, "| average | winter (Dec-Feb) |")
    assert f"| {int((ratio > 1).sum())} |" in row
    if (ratio > 1).any():
        assert f"+{pct(ratio.max() - 1)}" in row
    for name in FIGURES:
        if name != "marginal_intensity_heatmap.png":
            _assert_png(folder / name)


def test_annual_cube_skips_seasons(tmp_path):
    raw = _raw(OLD, seed=4)
    cube = _cube(raw, OLD)
    annual = xr.Dataset(
        {
            name: data.mean("time")
            if name == "marginal_intensity"
            else data.sum("time")
            if "time" in data.dims
            else data
            for name, data in cube.data_vars.items()
        }
    )
    path = _write(annual, tmp_path / "annual.nc", resolution="annual")
    result = _invoke(str(path))
    assert result.exit_code == 0, result.output
    summary = (tmp_path / "annual_report" / "summary.md").read_text()
    assert "Seasonal EV/gasoline ratios skipped" in summary
    assert "heatmap skipped: the cube is annual" in summary
    assert "| average | winter" not in summary


def test_bad_year_or_province_is_refused(tmp_path):
    raw = _raw(OLD, seed=5)
    path = _write(_cube(raw, OLD), tmp_path / "c.nc")
    result = _invoke(str(path), "--year", "1999")
    assert result.exit_code == 1
    assert "no year 1999" in result.output
    result = _invoke(str(path), "--provinces", "XX")
    assert result.exit_code == 1
    assert "unknown province code(s) ['XX']" in result.output
    result = _invoke(str(path), "--strategy", "nope")
    assert result.exit_code == 1
    assert "no strategy 'nope'" in result.output


def test_calendar_of_step_axes():
    """With several years ``time`` is the step of the model year: months and hours follow
    the model year (Feb 29 dropped), for hourly, daily and monthly steps."""
    from hourlysim.report import _calendar

    hourly = xr.Dataset(coords={"time": np.arange(8760)})
    months, hours, resolution = _calendar(hourly, 2024, "hourly")
    assert resolution == "hourly"
    assert (months[0], months[-1], months[59 * 24]) == (1, 12, 3)  # day 60 is 1 March
    np.testing.assert_array_equal(hours, np.arange(8760) % 24)
    daily = xr.Dataset(coords={"time": np.arange(365)})
    months, hours, resolution = _calendar(daily, 2024, "daily")
    assert hours is None and resolution == "daily"
    assert np.bincount(months)[1:].tolist() == [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    monthly = xr.Dataset(coords={"time": np.arange(12)})
    months, hours, _ = _calendar(monthly, 2024, "monthly")
    assert months.tolist() == list(range(1, 13)) and hours is None
