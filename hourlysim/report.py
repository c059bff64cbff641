"""Figures and a Markdown summary from an hourlysim output cube.

:func:`write_report` reads one output file (dims ``year``, ``strategy``, ``city``,
``province``, ``method``, ``source``, ``time``; see :mod:`hourlysim.variables`) and writes
into a folder:

- ``summary.md``: the headline figures, each computed from the cube and set beside the
  reference study's published figures (``REFERENCE_*`` below, from
  ``shared/data/REFERENCE_FACTS.md``), with what explains the differences;
- ``importer_exporter.md``: one row per city (import share, carbon class per method);
- PNG figures: ``map_reduction_per_vehicle.png``, ``lorenz_by_method.png``,
  ``marginal_intensity_heatmap.png`` (hourly cubes only), ``strategy_comparison.png``,
  ``ev_versus_gasoline.png``.

One year (``year``, default the first) and one charging strategy (``strategy``, default
``uncontrolled`` when present) are reported, except in the strategy comparison. Variables
that older cubes lack are listed in the summary and the parts that need them are skipped;
hour-of-day figures are skipped (with a note) for daily, monthly or annual cubes, and the
seasonal comparison for annual ones. Figures are drawn on :class:`matplotlib.figure.Figure`
objects with the Agg canvas (no pyplot, no display needed).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize, TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, StrMethodFormatter

from .errors import InputError
from .inequality import (
    concentration_index,
    gini,
    lorenz_curve,
    poorer_city_share,
    theil,
    theil_decomposition,
)
from .timeaxis import HOURS_PER_YEAR, model_time

logger = logging.getLogger(__name__)

#: the reference study (Liu, Zheng, Du et al., Nature Cities 2026, as reported in the press;
#: shared/data/REFERENCE_FACTS.md): targets to compare with, never used in a computation
REFERENCE_CITIES = 285
REFERENCE_ADVANCED_IMPORT_SHARE = 0.42
REFERENCE_IMPORTER_SHARE_TEXT = "nearly half"
REFERENCE_MAX_EXCESS_OVER_GASOLINE = 0.52

#: provinces of the heatmap when none are given: a coal exporter with wind (Inner Mongolia),
#: a hydro exporter (Sichuan), a hydro and solar province (Qinghai), a large importer
#: (Guangdong)
DEFAULT_PROVINCES = ("NM", "SC", "QH", "GD")
WINTER_MONTHS = (12, 1, 2)
SUMMER_MONTHS = (6, 7, 8)
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_CLASS_NAMES = {1: "importer", -1: "exporter", 0: "balanced"}


def percent(share: float) -> str:
    """A share [1] as the summary writes it: ``0.4231 -> '42.3%'`` (``'n/a'`` for NaN)."""
    return "n/a" if not np.isfinite(share) else f"{100 * share:.1f}%"


def number(value: float, digits: int = 3) -> str:
    """A float as the summary writes it (``'n/a'`` for NaN)."""
    return "n/a" if not np.isfinite(value) else f"{value:.{digits}f}"


@dataclass
class _Context:
    """One year and strategy of a cube, and what the report found missing or skipped."""

    path: Path
    source: xr.Dataset  # the file as opened (closed at the end)
    cube: xr.Dataset  # one year, every strategy
    data: xr.Dataset  # one year, one strategy
    year: int | None
    strategy: str | None
    months: np.ndarray | None
    hours: np.ndarray | None
    resolution: str
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: EV over gasoline CO2 per period, method and city (filled by the summary)
    ratios: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    def has(self, *names: str) -> bool:
        return all(name in self.data.variables for name in names)

    def need(self, what: str, *names: str) -> bool:
        """True if every variable is there; else record what is skipped for lack of them."""
        absent = [name for name in names if name not in self.data.variables]
        if absent:
            self.missing.append(f"{', '.join(f'`{n}`' for n in absent)}: {what} skipped")
        return not absent

    @property
    def cities(self) -> np.ndarray:
        return self.data["city"].values

    def label(self, name: str, default=None) -> np.ndarray:
        """A per-city coordinate (name, province, lat, lon, population, GDP) or ``default``."""
        if name in self.data.coords and self.data[name].dims == ("city",):
            return self.data[name].values
        if default is None:
            return np.full(self.cities.size, np.nan)
        return np.asarray(default)

    @property
    def names(self) -> np.ndarray:
        return self.label("name_en", self.cities.astype(str))

    @property
    def methods(self) -> list[str]:
        return [str(m) for m in self.data["method"].values] if "method" in self.data.dims else []


def _annual(data: xr.DataArray) -> xr.DataArray:
    """Sum over ``time`` where the variable still has it (annual cubes have none)."""
    return data.sum("time") if "time" in data.dims else data


def _by_method(data: xr.DataArray, method: str) -> np.ndarray:
    return data.sel({"method": method}).transpose("city", ...).values


def _calendar(
    data: xr.Dataset, year: int | None, resolution: str
) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """Month (1-12) and hour of day (0-23, hourly cubes only) of every time step."""
    if "time" not in data.dims:
        return None, None, "annual"
    time = data["time"]
    steps = time.size
    if np.issubdtype(time.dtype, np.datetime64):
        stamps = pd.DatetimeIndex(time.values)
        hourly = steps > 1 and (stamps[1] - stamps[0]) == pd.Timedelta(hours=1)
        return (
            np.asarray(stamps.month),
            np.asarray(stamps.hour) if hourly else None,
            "hourly" if hourly else resolution,
        )
    # several years: time is the step of the model year (see runner._merge)
    base = model_time(year if year is not None else 2001)
    if steps == HOURS_PER_YEAR:
        return np.asarray(base.month), np.asarray(base.hour), "hourly"
    if steps == HOURS_PER_YEAR // 24:
        return np.asarray(base.month[::24]), None, "daily"
    if steps == 12:
        return np.arange(1, 13), None, "monthly"
    return None, None, resolution


def _context(path: Path, year: int | None, strategy: str | None) -> _Context:
    path = Path(path)
    try:
        source = xr.open_dataset(path)
    except (OSError, ValueError) as error:
        raise InputError(f"cannot read the output cube: {error}", file=str(path)) from error
    try:
        cube, data, chosen_year, chosen = _select(source, path, year, strategy)
    except InputError:
        source.close()
        raise
    resolution = str(source.attrs.get("resolution", "unknown"))
    months, hours, resolution = _calendar(data, chosen_year, resolution)
    return _Context(path, source, cube, data, chosen_year, chosen, months, hours, resolution)


def _select(
    cube: xr.Dataset, path: Path, year: int | None, strategy: str | None
) -> tuple[xr.Dataset, xr.Dataset, int | None, str | None]:
    chosen_year = None
    if "year" in cube.dims:
        years = [int(y) for y in cube["year"].values]
        chosen_year = years[0] if year is None else int(year)
        if chosen_year not in years:
            raise InputError(f"no year {year} in the cube; it has {years}", file=str(path))
        cube = cube.sel(year=chosen_year)
    elif year is not None:
        raise InputError(f"the cube has no year dimension; --year {year} given", file=str(path))
    data = cube
    chosen = None
    if "strategy" in cube.dims:
        strategies = [str(s) for s in cube["strategy"].values]
        if strategy is None:
            chosen = "uncontrolled" if "uncontrolled" in strategies else strategies[0]
        elif strategy in strategies:
            chosen = strategy
        else:
            raise InputError(
                f"no strategy '{strategy}' in the cube; it has {strategies}", file=str(path)
            )
        data = cube.sel(strategy=chosen)
    return cube, data, chosen_year, chosen


# ---------------------------------------------------------------------------------------
# numbers
# ---------------------------------------------------------------------------------------


def _ev_electricity(context: _Context) -> tuple[np.ndarray, str]:
    """Annual EV electricity per city [MWh] and what it is (weights for shares)."""
    for name, what in (
        ("ev_grid_draw", "EV electricity at generation level (`ev_grid_draw`)"),
        ("charging_load", "EV charging energy (`charging_load`)"),
    ):
        if context.has(name):
            return _annual(context.data[name]).transpose("city").values.astype(float), what
    context.missing.append("`ev_grid_draw`, `charging_load`: import shares are unweighted")
    return np.ones(context.cities.size), "equal weights (no EV electricity in the cube)"


def _weighted(values: np.ndarray, weights: np.ndarray) -> float:
    total = weights.sum()
    return float((values * weights).sum() / total) if total > 0 else float("nan")


def _top(values: np.ndarray, count: int) -> np.ndarray:
    """Positions of the ``count`` largest finite values (largest first)."""
    finite = np.flatnonzero(np.isfinite(values))
    order = finite[np.argsort(-values[finite], kind="stable")]
    return order[:count]


def importer_counts(context: _Context) -> dict[str, dict[str, int]]:
    """Per method, the number of carbon importer, exporter and balanced cities."""
    classes = context.data["carbon_class"]
    counts = {}
    for method in [str(m) for m in classes["method"].values]:
        values = _by_method(classes, method)
        counts[method] = {name: int(np.sum(values == flag)) for flag, name in _CLASS_NAMES.items()}
    return counts


def seasonal_ratio(context: _Context, months: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Per method, each city's EV over gasoline CO2 summed over ``months`` [1] (NaN where
    the gasoline counterfactual is 0)."""
    mask = np.isin(context.months, months)
    gasoline = context.data["gasoline_emissions"].transpose("city", "time").values[:, mask]
    gasoline = gasoline.sum(axis=1, dtype=float)
    ev = context.data["ev_emissions"]
    out = {}
    for method in context.methods:
        emitted = _by_method(ev, method)[:, mask].sum(axis=1, dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[method] = np.where(gasoline > 0, emitted / gasoline, np.nan)
    return out


def annual_ratio(context: _Context) -> dict[str, np.ndarray]:
    """Per method, each city's annual EV over gasoline CO2 [1]."""
    if context.has("ev_to_gasoline_ratio"):
        ratio = context.data["ev_to_gasoline_ratio"]
        return {m: _by_method(ratio, m).astype(float) for m in context.methods}
    ev = _annual(context.data["ev_emissions"])
    gasoline = _annual(context.data["gasoline_emissions"]).transpose("city").values
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            m: np.where(gasoline > 0, _by_method(ev, m) / gasoline, np.nan) for m in context.methods
        }


# ---------------------------------------------------------------------------------------
# summary sections
# ---------------------------------------------------------------------------------------


def _section_importers(context: _Context, lines: list[str]) -> None:
    lines += ["## Carbon importers and exporters", ""]
    n = context.cities.size
    reference = (
        f"Reference study: {REFERENCE_IMPORTER_SHARE_TEXT} of its {REFERENCE_CITIES} cities "
        "are carbon importers."
    )
    if context.has("carbon_class"):
        counts = importer_counts(context)
        classes = context.data["carbon_class"]
        meaning = classes.attrs.get("long_name") or classes.attrs.get("flag_meanings", "")
        meaning = f" ({meaning})" if meaning else ""
        lines += [
            f"From `carbon_class`{meaning}; {n} cities.",
            "",
            "| method | importers | exporters | balanced | share of importers |",
            "|---|---:|---:|---:|---:|",
        ]
        for method, count in counts.items():
            lines.append(
                f"| {method} | {count['importer']} | {count['exporter']} | "
                f"{count['balanced']} | {percent(count['importer'] / n)} |"
            )
        shares = {m: c["importer"] / n for m, c in counts.items()}
        best = max(shares, key=lambda m: shares[m])
        lines += [
            "",
            f"{reference} Here the largest share is {percent(shares[best])} ({best}). "
            "The class follows the accounting stage's definition (the variable's attributes); "
            "the reference study's definition is not in its press figures, so the comparison "
            "is of orders of magnitude.",
            "",
        ]
    else:
        context.missing.append("`carbon_class`: the share of carbon importers is not computed")
        lines += [f"`carbon_class` is not in this cube: no carbon importer classes. {reference}"]
        if context.has("net_import") and "city_province" in context.data.coords:
            net = _annual(context.data["net_import"])
            importing = {str(p) for p in net["province"].values[net.values > 0]}
            provinces = context.label("city_province").astype(str)
            share = float(np.mean([p in importing for p in provinces]))
            lines += [
                "",
                f"Proxy (not a carbon class): {percent(share)} of the {n} cities lie in a "
                f"province that is a net electricity importer over the year "
                f"({len(importing)} of {net.sizes['province']} provinces, `net_import` > 0), "
                f"against {REFERENCE_IMPORTER_SHARE_TEXT} in the reference study. This counts "
                "electricity, not the CO2 embodied in it, and classes a whole province at once.",
            ]
        lines.append("")


def _section_import_share(context: _Context, lines: list[str], top: int) -> None:
    lines += ["## Import share of EV electricity", ""]
    if not context.need("the import share of EV electricity", "import_share"):
        lines += ["`import_share` is not in this cube.", ""]
        return
    share = context.data["import_share"].transpose("city").values.astype(float)
    weights, what = _ev_electricity(context)
    overall = _weighted(share, weights)
    lines += [
        f"Share of EV electricity imported from other provinces, weighted by {what}:",
        "",
        f"- all {context.cities.size} cities: {percent(overall)} "
        f"(median city {percent(float(np.median(share)))}, "
        f"highest {percent(float(share.max()))} in {context.names[int(np.argmax(share))]});",
    ]
    advanced = None
    if context.has("ev_fleet"):
        fleet = context.data["ev_fleet"].transpose("city").values.astype(float)
        picked = _top(fleet, top)
        advanced = _weighted(share[picked], weights[picked])
        lines.append(
            f"- the {picked.size} most advanced cities, defined as the {picked.size} largest "
            f"EV fleets (`ev_fleet`: {', '.join(context.names[picked])}): {percent(advanced)};"
        )
    gdp = context.label("gdp_per_capita").astype(float)
    if np.isfinite(gdp).any():
        picked = _top(gdp, top)
        richest = _weighted(share[picked], weights[picked])
        lines.append(
            f"- the {picked.size} cities with the highest GDP per capita "
            f"({', '.join(context.names[picked])}): {percent(richest)}."
        )
        advanced = richest if advanced is None else advanced
    if advanced is not None:
        lines += [
            "",
            f"Reference study: the most advanced cities import ~"
            f"{100 * REFERENCE_ADVANCED_IMPORT_SHARE:.0f}% of their EV electricity; here "
            f"{percent(advanced)}. This model counts only inter-provincial imports (each city "
            "takes its province's hourly import fraction; power from other cities of the same "
            "province is not an import), so it is a lower bound for a city-level import "
            "share; corridors also carry their scheduled annual energy, not traded spot "
            "flows.",
        ]
    lines.append("")


def _own_car_methods(context: _Context) -> list[str]:
    """The cube's methods that give the CO2 of a city's own cars: all but ``territorial``,
    which is the EV CO2 emitted inside a city's boundary by any city's cars, so it is not
    compared with the city's gasoline counterfactual."""
    return [m for m in context.methods if m != "territorial"]


def _section_gasoline(context: _Context, lines: list[str]) -> None:
    lines += ["## Where an EV emits more than a gasoline car", ""]
    if not context.need("the EV versus gasoline comparison", "ev_emissions", "gasoline_emissions"):
        lines += ["`ev_emissions` or `gasoline_emissions` is not in this cube.", ""]
        return
    names = context.names
    periods = {"annual": annual_ratio(context)}
    if context.months is not None:
        periods["winter (Dec-Feb)"] = seasonal_ratio(context, WINTER_MONTHS)
        periods["summer (Jun-Aug)"] = seasonal_ratio(context, SUMMER_MONTHS)
    else:
        context.notes.append(
            "Seasonal EV/gasoline ratios skipped: the cube has no time axis (annual resolution)."
        )
    context.ratios = periods
    lines += [
        "Cities where the EV's CO2 exceeds the gasoline counterfactual's "
        "(ratio of EV to gasoline CO2 > 1), by accounting method; winter and summer from "
        "the sums of `ev_emissions` and `gasoline_emissions` over those months of the model "
        "year (December and January-February of the same year).",
        "",
        "| method | period | cities > 1 | largest excess | city | median excess of those |",
        "|---|---|---:|---:|---|---:|",
    ]
    worst = (np.nan, "", "", "")
    for method in _own_car_methods(context):
        for period, ratios in periods.items():
            ratio = ratios[method]
            above = np.flatnonzero(ratio > 1)
            if above.size:
                i = above[np.argmax(ratio[above])]
                excess = ratio[i] - 1
                median = float(np.median(ratio[above]) - 1)
                lines.append(
                    f"| {method} | {period} | {above.size} | +{percent(excess)} | {names[i]} | "
                    f"+{percent(median)} |"
                )
                if not excess <= worst[0]:
                    worst = (excess, method, period, names[i])
            else:
                lines.append(f"| {method} | {period} | 0 | - | - | - |")
    lines.append("")
    if "territorial" in context.methods:
        lines += [
            "`territorial` is left out: it counts the EV CO2 emitted inside a city's boundary "
            "by any city's cars, not the CO2 of the city's own cars.",
            "",
        ]
    reference = (
        f"Reference study: in coal-heavy exporter cities an EV can emit up to "
        f"{100 * REFERENCE_MAX_EXCESS_OVER_GASOLINE:.0f}% more than a gasoline car."
    )
    if np.isfinite(worst[0]):
        lines.append(
            f"{reference} Here the largest excess over all methods and periods is "
            f"+{percent(worst[0])} ({worst[3]}, {worst[1]}, {worst[2]}). The excess "
            "depends on the method: `marginal` charges the EV at the marginal plant's rate, "
            "`average` and `consumption` at the mix's; winter adds the cold-weather "
            "consumption penalty of the EV, which is larger than the gasoline car's."
        )
    else:
        lines.append(f"{reference} Here no city's EV emits more than the gasoline car.")
    lines.append("")


def _section_territorial(context: _Context, lines: list[str]) -> None:
    lines += ["## Territorial versus consumption-based reductions", ""]
    if not context.need("the reduction by method", "ev_emissions", "gasoline_emissions"):
        lines += ["`ev_emissions` or `gasoline_emissions` is not in this cube.", ""]
        return
    ev = _annual(context.data["ev_emissions"])
    gasoline = float(_annual(context.data["gasoline_emissions"]).sum())
    lines += [
        f"National annual reduction (gasoline counterfactual {gasoline / 1e6:.3f} Mt CO2 "
        "minus EV CO2):",
        "",
        "| method | EV CO2 [Mt] | reduction [Mt] | reduction / gasoline |",
        "|---|---:|---:|---:|",
    ]
    for method in context.methods:
        emitted = float(_by_method(ev, method).sum())
        lines.append(
            f"| {method} | {emitted / 1e6:.3f} | {(gasoline - emitted) / 1e6:.3f} | "
            f"{percent((gasoline - emitted) / gasoline if gasoline > 0 else np.nan)} |"
        )
    lines.append("")
    if "consumption" not in context.methods:
        lines += ["No `consumption` method in this cube: no comparison.", ""]
        return
    if "territorial" in context.methods:
        base = "territorial"
    elif "average" in context.methods:
        base = "average"
        context.missing.append(
            "method `territorial`: compared with `average` (production-based) instead"
        )
        lines += [
            "This cube has no `territorial` method; the production-based `average` method "
            "(each city's EVs charged at its own province's generation intensity) stands in "
            "for it.",
            "",
        ]
    else:
        lines += ["Neither `territorial` nor `average` is in this cube: no comparison.", ""]
        return
    shift = _by_method(ev, "consumption") - _by_method(ev, base)
    more = shift > 0
    lines += [
        f"Per city, counting EV CO2 where the electricity was consumed (`consumption`) "
        f"instead of `{base}`: {int(more.sum())} of {shift.size} cities "
        f"({percent(float(more.mean()))}) see their reduction shrink, by "
        f"{shift[more].sum() / 1e6:.3f} Mt in all"
        + (
            f"; {int((shift < 0).sum())} see it grow, by {-shift[shift < 0].sum() / 1e6:.3f} Mt."
            if (shift < 0).any()
            else "; none sees it grow."
        ),
    ]
    if more.any():
        i = int(np.argmax(shift))
        lines.append(
            f"The largest shift is {shift[i] / 1e3:.1f} kt in {context.names[i]}. "
            "The reference study reports that territorial accounting hides this shift, which "
            "consumption-based accounting shows."
        )
    lines.append("")


_INEQUALITY_COLUMNS = (
    ("gini", "Gini"),
    ("theil", "Theil T"),
    ("theil_between_province", "between provinces"),
    ("theil_within_province", "within provinces"),
    ("theil_between_grid_region", "between grid regions"),
    ("theil_within_grid_region", "within grid regions"),
    ("concentration_index", "concentration vs GDP"),
    ("national_poorer_city_emission_share", "EV CO2 in poorer cities"),
)


def _city_regions(context: _Context) -> np.ndarray | None:
    """Regional grid of each city, from the province coordinates ``grid_region`` and the
    city coordinate ``city_province``."""
    if "grid_region" not in context.data.coords or "city_province" not in context.data.coords:
        return None
    regions = dict(
        zip(
            context.data["province"].values.astype(str),
            context.data["grid_region"].values.astype(str),
            strict=True,
        )
    )
    provinces = context.label("city_province").astype(str)
    if not set(provinces) <= set(regions):
        return None
    return np.array([regions[p] for p in provinces])


def _index_functions(context: _Context) -> dict:
    """Functions of per-capita reductions [t person-1] that compute each index here, for
    the indices a cube lacks (only those whose inputs the cube carries)."""
    population = context.label("population").astype(float)
    if not (np.isfinite(population).all() and population.sum() > 0):
        return {}
    functions = {
        "gini": lambda x: gini(x, population),
        "theil": lambda x: theil(x, population),
    }
    groupings = {"province": None, "grid_region": _city_regions(context)}
    if "city_province" in context.data.coords:
        groupings["province"] = context.label("city_province").astype(str)
    for suffix, groups in groupings.items():
        if groups is None:
            continue
        for column, part in ((1, "between"), (2, "within")):
            functions[f"theil_{part}_{suffix}"] = lambda x, g=groups, c=column: theil_decomposition(
                x, g, population
            )[c]
    gdp = context.label("gdp_per_capita").astype(float)
    if np.isfinite(gdp).all():
        functions["concentration_index"] = lambda x: concentration_index(x, gdp, population)
    return functions


def _defined(function, *arguments) -> float:
    """``function(*arguments)``, NaN where it raises ``ValueError`` (index undefined)."""
    try:
        return float(function(*arguments))
    except ValueError:
        return float("nan")


def inequality_indices(context: _Context) -> tuple[dict[str, dict[str, float]], list[str]]:
    """Each inequality index per method: from the cube, or, where the cube lacks it,
    computed here from ``reduction_per_capita`` and the city coordinates.

    Returns
    -------
    values : dict
        ``{index name: {method: value}}`` [1]; NaN where the index is undefined.
    computed : list of str
        The names computed here rather than read from the cube.
    """
    values: dict[str, dict[str, float]] = {}
    computed = []
    functions = _index_functions(context) if context.has("reduction_per_capita") else {}
    poorer = context.has("emissions_in_poorer_cities", "annual_ev_emissions")
    for name, _ in _INEQUALITY_COLUMNS:
        if context.has(name):
            data = context.data[name]
            values[name] = {m: float(data.sel({"method": m})) for m in context.methods}
            continue
        if name == "national_poorer_city_emission_share" and poorer:
            located = context.data["emissions_in_poorer_cities"]
            covered = {str(m) for m in located["method"].values}
            annual = context.data["annual_ev_emissions"]
            values[name] = {
                m: _defined(poorer_city_share, _by_method(located, m), _by_method(annual, m))
                if m in covered
                else np.nan
                for m in context.methods
            }
        elif name in functions:
            per_capita = context.data["reduction_per_capita"]
            values[name] = {
                m: _defined(functions[name], _by_method(per_capita, m)) for m in context.methods
            }
        else:
            continue
        computed.append(name)
    return values, computed


def _section_inequality(context: _Context, lines: list[str]) -> None:
    lines += ["## Inequality of per-capita reductions across cities", ""]
    values, computed = inequality_indices(context)
    absent = [name for name, _ in _INEQUALITY_COLUMNS if name not in values]
    if computed:
        context.missing.append(
            f"{', '.join(f'`{n}`' for n in computed)}: computed by the report from "
            "`reduction_per_capita` and the city coordinates"
        )
    if absent:
        context.missing.append(
            f"{', '.join(f'`{n}`' for n in absent)}: not in the cube and not computable from "
            "it; left out of the inequality table"
        )
    if not values:
        lines += ["No inequality indices in (or computable from) this cube.", ""]
        return
    present = [(name, title) for name, title in _INEQUALITY_COLUMNS if name in values]
    lines += [
        "Population-weighted indices of per-capita reductions over cities (see "
        "`hourlysim.inequality`); `*`: computed by the report, not in the cube.",
        "",
        "| method | "
        + " | ".join(title + ("*" if name in computed else "") for name, title in present)
        + " |",
        "|---|" + "---:|" * len(present),
    ]
    for method in context.methods:
        cells = [
            percent(values[name][method])
            if name.startswith("national_")
            else number(values[name][method])
            for name, _ in present
        ]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    lines.append("")
    if "theil" in values and context.has("reduction_per_capita"):
        per_capita = context.data["reduction_per_capita"]
        for method in context.methods:
            if np.isnan(values["theil"][method]):
                negative = int((_by_method(per_capita, method) < 0).sum())
                lines.append(
                    f"- Theil T for `{method}` is undefined: {negative} "
                    f"{'city has' if negative == 1 else 'cities have'} a "
                    "negative reduction (an EV emitting more than the gasoline car), and the "
                    "Theil index has no value for negative quantities (no shift is applied)."
                )
        lines.append("")
    _burden_theil(context, lines)


def burden_theil(context: _Context) -> dict[str, tuple[float, ...]] | None:
    """Per method, the Theil T of per-capita EV CO2 (never negative, so always defined) and
    its between/within split by province and by grid region [1]; None if the cube lacks
    the inputs."""
    population = context.label("population").astype(float)
    regions = _city_regions(context)
    if (
        not context.has("annual_ev_emissions")
        or "city_province" not in context.data.coords
        or regions is None
        or not np.isfinite(population).all()
    ):
        return None
    provinces = context.label("city_province").astype(str)
    out = {}
    for method in context.methods:
        per_capita = _by_method(context.data["annual_ev_emissions"], method) / population
        try:
            total, between_p, within_p = theil_decomposition(per_capita, provinces, population)
            _, between_r, within_r = theil_decomposition(per_capita, regions, population)
        except ValueError:
            total = between_p = within_p = between_r = within_r = float("nan")
        out[method] = (total, between_p, within_p, between_r, within_r)
    return out


def _burden_theil(context: _Context, lines: list[str]) -> None:
    table = burden_theil(context)
    if table is None:
        return
    lines += [
        "Theil T of per-capita EV CO2 (the burden side, never negative, so always defined), "
        "population-weighted, computed by the report:",
        "",
        "| method | Theil T | between provinces | within provinces | between grid regions "
        "| within grid regions |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for method, row in table.items():
        lines.append(f"| {method} | " + " | ".join(number(v) for v in row) + " |")
    lines.append("")


# ---------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------


def _save(figure: Figure, path: Path) -> Path:
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=120)
    return path


def _grid_shape(count: int) -> tuple[int, int]:
    columns = min(3, count)
    return -(-count // columns), columns


def figure_map(context: _Context, path: Path) -> Path | None:
    """Cities at their coordinates coloured by the annual reduction per EV, one panel per
    accounting method."""
    if not context.need("the city map", "reduction_per_vehicle"):
        return None
    lat, lon = context.label("latitude").astype(float), context.label("longitude").astype(float)
    if not (np.isfinite(lat).any() and np.isfinite(lon).any()):
        context.missing.append("city `latitude`/`longitude` coordinates: the city map skipped")
        return None
    methods = context.methods
    values = {m: _by_method(context.data["reduction_per_vehicle"], m) for m in methods}
    low = min(float(np.nanmin(v)) for v in values.values())
    high = max(float(np.nanmax(v)) for v in values.values())
    norm = (
        TwoSlopeNorm(vmin=low, vcenter=0.0, vmax=high)
        if low < 0 < high
        else Normalize(vmin=low, vmax=high)
    )
    rows, columns = _grid_shape(len(methods))
    aspect = 1.0 / np.cos(np.deg2rad(np.nanmean(lat)))
    spread = (np.nanmax(lon) - np.nanmin(lon)) / max(
        aspect * (np.nanmax(lat) - np.nanmin(lat)), 1e-6
    )
    width = float(np.clip(3.4 * spread, 2.8, 6.0))  # panel width for a 3.4-inch-high map
    figure = Figure(figsize=(width * columns + 1.6, 3.9 * rows + 0.4), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    points = None
    for ax, method in zip(axes.flat, methods, strict=False):
        points = ax.scatter(
            lon,
            lat,
            c=values[method],
            s=16,
            cmap="RdBu",
            norm=norm,
            edgecolors="0.5",
            linewidths=0.3,
        )
        ax.set_title(f"{method}")
        ax.set_xlabel("longitude [deg E]")
        ax.set_ylabel("latitude [deg N]")
        ax.set_aspect(aspect)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(methods) :]:
        ax.set_visible(False)
    if points is not None:
        ticks = MaxNLocator(5).tick_values(max(low, 0.0), high)
        if low < 0:
            ticks = np.concatenate([[low, low / 2], ticks[ticks >= 0]])
        colorbar = figure.colorbar(
            points,
            ax=axes,
            label="annual CO2 reduction per EV [t CO2 vehicle-1]\n(< 0: the EV emits more)",
            shrink=0.8,
        )
        colorbar.set_ticks(ticks[(ticks >= low) & (ticks <= high)])
        colorbar.ax.yaxis.set_major_formatter(StrMethodFormatter("{x:.3g}"))
    figure.suptitle(f"Reduction per electric car, {_title(context)}")
    return _save(figure, path)


def figure_lorenz(context: _Context, path: Path) -> Path | None:
    """Lorenz curves of per-capita reductions, one per accounting method."""
    figure = Figure(figsize=(6.4, 5.6), layout="constrained")
    ax = figure.subplots()
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="equality")
    drawn = 0
    if context.has("lorenz"):
        curves = context.data["lorenz"]
        shares = curves["population_share"].values
        for method in context.methods:
            curve = curves.sel({"method": method}).values
            if np.isfinite(curve).all():
                ax.plot(shares, curve, label=_lorenz_label(context, method))
                drawn += 1
            else:
                context.notes.append(
                    f"Lorenz curve for `{method}` not drawn: undefined in the cube (national "
                    "reduction <= 0)."
                )
    elif context.need("Lorenz curves", "reduction_per_capita"):
        population = context.label("population").astype(float)
        if not np.isfinite(population).all():
            context.notes.append("No city population in the cube: Lorenz curves are unweighted.")
            population = np.ones(context.cities.size)
        for method in context.methods:
            try:
                shares, curve = lorenz_curve(
                    _by_method(context.data["reduction_per_capita"], method), population
                )
            except ValueError as error:
                context.notes.append(f"Lorenz curve for `{method}` not drawn: {error}.")
                continue
            ax.plot(shares, curve, label=_lorenz_label(context, method))
            drawn += 1
    if not drawn:
        return None
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xlim(0, 1)
    ax.set_xlabel("cumulative share of population\n(cities ordered by per-capita reduction)")
    ax.set_ylabel("cumulative share of the national CO2 reduction [1]")
    ax.set_title(f"Lorenz curves of per-capita reductions\n{_title(context)}")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    return _save(figure, path)


def _lorenz_label(context: _Context, method: str) -> str:
    if context.has("gini"):
        return f"{method} (Gini {number(float(context.data['gini'].sel({'method': method})), 2)})"
    return method


def _province_names(context: _Context) -> dict[str, str]:
    if "province_name" in context.data.coords:
        return dict(
            zip(
                context.data["province"].values.astype(str),
                context.data["province_name"].values.astype(str),
                strict=True,
            )
        )
    return {}


def figure_heatmap(context: _Context, path: Path, provinces: list[str]) -> Path | None:
    """Mean marginal intensity by hour of day and month for a few provinces."""
    if not context.need("the marginal-intensity heatmap", "marginal_intensity"):
        return None
    if context.hours is None:
        context.notes.append(
            f"Hour-of-day heatmap skipped: the cube is {context.resolution}, not hourly."
        )
        return None
    intensity = context.data["marginal_intensity"]
    cells = {}
    for code in provinces:
        series = intensity.sel(province=code).values.astype(float)
        table = np.full((24, 12), np.nan)
        for month in range(1, 13):
            for hour in range(24):
                picked = (context.months == month) & (context.hours == hour)
                if picked.any():
                    table[hour, month - 1] = series[picked].mean()
        cells[code] = table
    low = min(float(np.nanmin(t)) for t in cells.values())
    high = max(float(np.nanmax(t)) for t in cells.values())
    rows, columns = _grid_shape(len(provinces))
    columns = min(columns, 2) if len(provinces) == 4 else columns
    rows = -(-len(provinces) // columns)
    figure = Figure(figsize=(4.4 * columns + 1.4, 3.8 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    names = _province_names(context)
    image = None
    for ax, code in zip(axes.flat, provinces, strict=False):
        image = ax.imshow(
            cells[code],
            origin="lower",
            aspect="auto",
            cmap="magma_r",
            vmin=low,
            vmax=high,
            extent=(0.5, 12.5, -0.5, 23.5),
        )
        ax.set_title(f"{code} {names.get(code, '')}".strip())
        ax.set_xticks(range(1, 13), [m[0] for m in _MONTH_NAMES])
        ax.set_yticks(range(0, 24, 3))
        ax.set_xlabel("month")
        ax.set_ylabel("hour of day (local time)")
    for ax in list(axes.flat)[len(provinces) :]:
        ax.set_visible(False)
    if image is not None:
        figure.colorbar(image, ax=axes, label="mean marginal intensity [kg CO2 MWh-1]", shrink=0.8)
    figure.suptitle(f"Marginal CO2 intensity by hour and month, {_title(context)}")
    return _save(figure, path)


def figure_ev_versus_gasoline(context: _Context, path: Path) -> Path | None:
    """Distribution over cities of EV over gasoline CO2, annual and by season, per method."""
    methods = _own_car_methods(context)
    if not context.ratios or not methods:
        return None
    rows, columns = _grid_shape(len(methods))
    figure = Figure(
        figsize=(4.4 * columns, 2.2 + 0.5 * len(context.ratios) * rows), layout="constrained"
    )
    axes = figure.subplots(rows, columns, squeeze=False)
    periods = list(context.ratios)
    finite = np.concatenate(
        [context.ratios[p][m][np.isfinite(context.ratios[p][m])] for p in periods for m in methods]
    )
    low, high = min(float(finite.min()), 1.0), max(float(finite.max()), 1.0)
    margin = 0.05 * (high - low)
    for ax, method in zip(axes.flat, methods, strict=False):
        data = [context.ratios[p][method] for p in periods]
        data = [d[np.isfinite(d)] for d in data]
        ax.boxplot(data, orientation="horizontal", widths=0.6, flierprops={"markersize": 3})
        ax.set_yticks(range(1, len(periods) + 1), periods)
        ax.invert_yaxis()
        ax.axvline(1.0, color="firebrick", linestyle="--", linewidth=1)
        ax.set_xlim(low - margin, high + margin)
        ax.set_title(method)
        ax.set_xlabel("EV CO2 / gasoline car CO2 [1]")
        ax.grid(axis="x", alpha=0.3)
    for ax in list(axes.flat)[len(methods) :]:
        ax.set_visible(False)
    figure.suptitle(
        f"EV over gasoline CO2 across cities (> 1: the EV emits more), {_title(context)}"
    )
    return _save(figure, path)


def figure_strategies(context: _Context, path: Path) -> tuple[Path | None, pd.DataFrame | None]:
    """National annual EV CO2 by charging strategy and accounting method [Mt]."""
    cube = context.cube
    if "annual_ev_emissions" in cube:
        emissions = cube["annual_ev_emissions"].sum("city")
    elif "ev_emissions" in cube:
        emissions = _annual(cube["ev_emissions"]).sum("city")
    else:
        context.missing.append("`ev_emissions`: the strategy comparison skipped")
        return None, None
    if "strategy" not in emissions.dims:
        emissions = emissions.expand_dims(strategy=["(one)"])
    table = (emissions / 1e6).transpose("strategy", "method").to_pandas()
    table.index = table.index.astype(str)
    table.columns = table.columns.astype(str)
    reference = str(table.index[0])
    figure = Figure(figsize=(max(10.0, 2.4 * len(table) + 3.0), 4.8), layout="constrained")
    absolute, change = figure.subplots(1, 2, width_ratios=(3, 2))
    width = 0.8 / len(table.columns)
    positions = np.arange(len(table))
    labels = [s.replace("_", " ") for s in table.index]
    for k, method in enumerate(table.columns):
        offset = positions + (k - (len(table.columns) - 1) / 2) * width
        absolute.bar(offset, table[method], width, label=method, color=f"C{k}")
        change.bar(offset, table[method] - table.loc[reference, method], width, color=f"C{k}")
    if "gasoline_emissions" in cube:
        gasoline = float(_annual(cube["gasoline_emissions"]).sum()) / 1e6
        absolute.axhline(
            gasoline, color="black", linestyle="--", linewidth=1, label="gasoline counterfactual"
        )
        absolute.set_ylim(0, 1.12 * max(gasoline, float(table.to_numpy().max())))
    absolute.set_xticks(positions, labels, rotation=20, ha="right", rotation_mode="anchor")
    absolute.set_ylabel("national EV CO2 [Mt CO2 per year]")
    absolute.set_title("national EV CO2")
    absolute.grid(axis="y", alpha=0.3)
    change.axhline(0, color="black", linewidth=0.6)
    change.set_xticks(positions, labels, rotation=20, ha="right", rotation_mode="anchor")
    change.set_ylabel(f"change from {reference.replace('_', ' ')} [Mt CO2 per year]")
    change.set_title(f"difference from {reference.replace('_', ' ')}")
    change.grid(axis="y", alpha=0.3)
    figure.legend(loc="outside right center", fontsize="small")
    figure.suptitle(f"EV CO2 by charging strategy and accounting method, {_year_title(context)}")
    return _save(figure, path), table


def _year_title(context: _Context) -> str:
    return f"year {context.year}" if context.year is not None else "one year"


def _title(context: _Context) -> str:
    if context.strategy is None:
        return _year_title(context)
    return f"{_year_title(context)}, strategy {context.strategy}"


# ---------------------------------------------------------------------------------------
# the city table and the report
# ---------------------------------------------------------------------------------------


def importer_table(context: _Context) -> list[str]:
    """Markdown table, one row per city, sorted by import share (largest first)."""
    header = ["city", "province", "GDP per capita [CNY]", "EV fleet", "import share"]
    share = (
        context.data["import_share"].transpose("city").values.astype(float)
        if context.has("import_share")
        else np.full(context.cities.size, np.nan)
    )
    fleet = (
        context.data["ev_fleet"].transpose("city").values.astype(float)
        if context.has("ev_fleet")
        else np.full(context.cities.size, np.nan)
    )
    classes = {}
    if context.has("carbon_class"):
        for method in [str(m) for m in context.data["carbon_class"]["method"].values]:
            classes[method] = _by_method(context.data["carbon_class"], method)
            header.append(f"class ({method})")
    provinces = context.label("city_province", np.full(context.cities.size, "")).astype(str)
    gdp = context.label("gdp_per_capita").astype(float)
    lines = ["| " + " | ".join(header) + " |", "|---|---|" + "---:|" * (len(header) - 2)]
    order = np.argsort(-np.nan_to_num(share, nan=-1.0), kind="stable")
    for i in order:
        cells = [
            str(context.names[i]),
            provinces[i],
            "n/a" if not np.isfinite(gdp[i]) else f"{gdp[i]:,.0f}",
            "n/a" if not np.isfinite(fleet[i]) else f"{fleet[i]:,.0f}",
            percent(share[i]),
        ]
        cells += [_CLASS_NAMES.get(int(values[i]), str(values[i])) for values in classes.values()]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _heatmap_provinces(context: _Context, provinces: list[str] | None) -> list[str]:
    known = (
        [str(p) for p in context.data["province"].values] if "province" in context.data.dims else []
    )
    if provinces:
        unknown = [p for p in provinces if p not in known]
        if unknown:
            raise InputError(
                f"unknown province code(s) {unknown}; the cube has {known}",
                file=str(context.path),
                column="--provinces",
            )
        return list(provinces)
    chosen = [p for p in DEFAULT_PROVINCES if p in known]
    return chosen or known[:4]


def write_report(
    path: Path,
    folder: Path | None = None,
    year: int | None = None,
    strategy: str | None = None,
    provinces: list[str] | None = None,
    top: int = 10,
) -> Path:
    """Write the figures, the city table and ``summary.md`` for one output cube.

    Parameters
    ----------
    path : Path
        Output NetCDF file of ``hourlysim run``.
    folder : Path, optional
        Where to write; default ``<file stem>_report/`` beside the file.
    year : int, optional
        Year to report; default the cube's first.
    strategy : str, optional
        Charging strategy of the per-city figures; default ``uncontrolled`` when present,
        else the first.
    provinces : list of str, optional
        Province codes of the marginal-intensity heatmap; default :data:`DEFAULT_PROVINCES`
        (those in the cube).
    top : int
        Number of "most advanced" cities (largest EV fleets) and richest cities compared.

    Returns
    -------
    Path
        The folder written.

    Raises
    ------
    InputError
        If the file cannot be read, or the year, strategy or a province is not in it.
    """
    path = Path(path)
    folder = Path(folder) if folder is not None else path.with_name(f"{path.stem}_report")
    context = _context(path, year, strategy)
    with context.source:
        chosen_provinces = _heatmap_provinces(context, provinces)
        folder.mkdir(parents=True, exist_ok=True)
        context.data = context.data.load()
        lines: list[str] = []
        _section_importers(context, lines)
        _section_import_share(context, lines, top)
        _section_gasoline(context, lines)
        _section_territorial(context, lines)
        _section_inequality(context, lines)
        figures = {
            "map_reduction_per_vehicle.png": "cities coloured by the annual CO2 reduction per "
            "EV, one panel per accounting method",
            "lorenz_by_method.png": "Lorenz curves of per-capita reductions by method",
            "marginal_intensity_heatmap.png": "mean marginal intensity by hour of day and "
            f"month in {', '.join(chosen_provinces)}",
            "strategy_comparison.png": "national EV CO2 by charging strategy and method",
            "ev_versus_gasoline.png": "EV over gasoline CO2 across cities, annual and by "
            "season, per method",
        }
        written = {
            "map_reduction_per_vehicle.png": figure_map(
                context, folder / "map_reduction_per_vehicle.png"
            ),
            "lorenz_by_method.png": figure_lorenz(context, folder / "lorenz_by_method.png"),
            "marginal_intensity_heatmap.png": figure_heatmap(
                context, folder / "marginal_intensity_heatmap.png", chosen_provinces
            ),
        }
        written["ev_versus_gasoline.png"] = figure_ev_versus_gasoline(
            context, folder / "ev_versus_gasoline.png"
        )
        strategy_file, strategy_table = figure_strategies(
            context, folder / "strategy_comparison.png"
        )
        written["strategy_comparison.png"] = strategy_file
        (folder / "importer_exporter.md").write_text(
            f"# Cities by import share of EV electricity ({_title(context)})\n\n"
            + "\n".join(importer_table(context))
            + "\n"
        )
    head = [
        f"# hourlysim report: {context.cube.attrs.get('scenario', path.stem)}",
        "",
        f"Cube `{path.name}` ({context.cube.attrs.get('source', 'hourlysim')}, created "
        f"{context.cube.attrs.get('created', 'unknown')}); {_title(context)}; "
        f"{context.cities.size} cities (the reference study has {REFERENCE_CITIES}; a "
        "scenario's `cities: all` runs every prefecture-level unit, `city_297` the "
        "prefecture-level-and-above cities, so shares below are over a different set); "
        f"methods {', '.join(context.methods)}; {context.resolution} resolution. "
        "Every figure below is computed from the cube; the reference figures are those of "
        "Liu, Zheng, Du et al. (Nature Cities 2026) as reported in the press.",
        "",
    ]
    if strategy_table is not None:
        lines += [
            "## National EV CO2 by charging strategy [Mt CO2]",
            "",
            "| strategy | " + " | ".join(strategy_table.columns) + " |",
            "|---|" + "---:|" * len(strategy_table.columns),
        ]
        for name, row in strategy_table.iterrows():
            lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in row.values) + " |")
        lines.append("")
    lines += ["## Figures and tables", ""]
    for name, caption in figures.items():
        if written.get(name) is not None:
            lines.append(f"- `{name}`: {caption}")
    lines += ["- `importer_exporter.md`: every city's import share and carbon class", ""]
    if context.missing:
        lines += ["## Missing from this cube", ""]
        lines += [f"- {item}" for item in dict.fromkeys(context.missing)]
        lines.append("")
    if context.notes:
        lines += ["## Notes", ""]
        lines += [f"- {item}" for item in dict.fromkeys(context.notes)]
        lines.append("")
    (folder / "summary.md").write_text("\n".join(head + lines))
    logger.info("report written to %s", folder)
    return folder
