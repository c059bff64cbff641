"""Scenario files (YAML) validated once into frozen objects.

A scenario names the input set, the model years, the weather year, the charging strategies,
the EV adoption trajectory, the grid pathway, what to keep in the output and, optionally, a
parameter sweep. Relative paths in the file are resolved against the folder of the scenario
file, so a scenario runs the same from any working directory. Every bad value is refused with
:class:`~hourlysim.errors.InputError` naming the field and the value.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .charging import STRATEGIES
from .errors import InputError
from .inputs import CAPACITY_COLUMNS

#: accounting methods a scenario may keep (the ``method`` dimension of ``ev_emissions``)
ACCOUNTING_METHODS = ("territorial", "average", "consumption", "marginal", "consequential")
#: capacity sources a grid pathway may change (``wind`` = onshore and offshore together;
#: ``coal`` includes its CHP part, which follows coal)
PATHWAY_SOURCES = tuple(c for c in CAPACITY_COLUMNS if c != "coal_chp") + ("wind",)
#: sweep keys besides scenario fields: ``parameters.<name>`` and these shortcuts
SWEEP_SHORTCUTS = ("coal_retirement_year",)
SWEEPABLE_FIELDS = (
    "years",
    "weather_year",
    "strategies",
    "ev_share",
    "carbon_signal",
    "temperature",
    "cities",
    "grid_exchange",
    "grid_pathway",
    "methods",
)

_FROZEN = ConfigDict(frozen=True, extra="forbid")


# ---------------------------------------------------------------- trajectories


class Logistic(BaseModel):
    """Logistic adoption over the years.

    ``share(y) = initial + (saturation - initial) / (1 + exp(-growth_rate (y - midpoint_year)))``

    Attributes
    ----------
    midpoint_year : float
        Year of the inflexion (half-way between ``initial`` and ``saturation``) [year].
    growth_rate : float
        Steepness [year-1], > 0.
    saturation : float
        Share reached in the long run [1].
    initial : float
        Share long before the midpoint [1] (default 0).
    """

    model_config = _FROZEN
    midpoint_year: float = Field(ge=1900, le=2200)
    growth_rate: float = Field(gt=0, le=10)
    saturation: float = Field(ge=0, le=1)
    initial: float = Field(default=0.0, ge=0, le=1)

    def __call__(self, year: int) -> float:
        rise = 1.0 / (1.0 + math.exp(-self.growth_rate * (year - self.midpoint_year)))
        return self.initial + (self.saturation - self.initial) * rise


class Table(BaseModel):
    """``{year: value}`` points, linear between given years and flat outside them."""

    model_config = _FROZEN
    points: dict[int, float]

    @field_validator("points")
    @classmethod
    def _points(cls, points):
        if not points:
            raise ValueError("a table needs at least one {year: value} point")
        return dict(sorted(points.items()))

    def __call__(self, year: int) -> float:
        points = list(self.points.items())
        if year <= points[0][0]:
            return points[0][1]
        for (y0, v0), (y1, v1) in itertools.pairwise(points):
            if y0 <= year <= y1:
                return v0 + (v1 - v0) * (year - y0) / (y1 - y0)
        return points[-1][1]


class Constant(BaseModel):
    """One value for every year."""

    model_config = _FROZEN
    value: float

    def __call__(self, year: int) -> float:
        return self.value


Trajectory = Constant | Table | Logistic


def _trajectory(value: Any) -> Trajectory:
    """A number, ``{year: value}``, ``{table: {year: value}}`` or ``{logistic: {...}}``."""
    if isinstance(value, Constant | Table | Logistic):
        return value
    if isinstance(value, bool):
        raise ValueError(f"expected a number or a trajectory, got {value!r}")
    if isinstance(value, int | float):
        return Constant(value=value)
    if isinstance(value, dict) and set(value) == {"logistic"}:
        if not isinstance(value["logistic"], dict):
            raise ValueError(f"logistic expects a mapping, got {value['logistic']!r}")
        return Logistic(**value["logistic"])
    if isinstance(value, dict) and set(value) == {"table"}:
        return Table(points=value["table"])
    if isinstance(value, dict) and value and all(_is_year(k) for k in value):
        return Table(points=value)
    raise ValueError(
        f"expected a number, {{year: share}}, {{table: {{year: share}}}} or "
        f"{{logistic: {{midpoint_year, growth_rate, saturation, initial}}}}, got {value!r}"
    )


def _is_year(key) -> bool:
    return isinstance(key, int) or (isinstance(key, str) and key.isdigit())


class EvAdoption(BaseModel):
    """EV share of passenger cars over the years: national, with per-city overrides.

    Attributes
    ----------
    national : Trajectory, optional
        Share of every city [1] (default: the ``ev_share`` column of ``cities.csv``).
    cities : dict
        ``{adcode: trajectory}``: cities that follow their own trajectory [1].
    """

    model_config = _FROZEN
    national: Constant | Table | Logistic | None = None
    cities: dict[int, Constant | Table | Logistic] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _forms(cls, value):
        if isinstance(value, dict) and set(value) <= {"national", "cities"} and value:
            national = value.get("national")
            cities = value.get("cities") or {}
            if not isinstance(cities, dict):
                raise ValueError(f"cities expects {{adcode: trajectory}}, got {cities!r}")
            return {
                "national": None if national is None else _trajectory(national),
                "cities": {k: _trajectory(v) for k, v in cities.items()},
            }
        return {"national": _trajectory(value), "cities": {}}

    @model_validator(mode="after")
    def _bounds(self):
        named = [("national", self.national)] + [(f"cities.{k}", t) for k, t in self.cities.items()]
        for where, trajectory in named:
            if trajectory is None:
                continue
            values = {
                Constant: lambda t: [t.value],
                Table: lambda t: list(t.points.values()),
                Logistic: lambda t: [t.initial, t.saturation],
            }[type(trajectory)](trajectory)
            for value in values:
                if not 0.0 <= value <= 1.0:
                    raise ValueError(f"EV share {value} outside [0, 1] ({where})")
        return self

    def share(self, year: int, city: int | None = None) -> float | None:
        """EV share [1] of a city (or the national one) in a year; None: the input's column."""
        if city is not None and city in self.cities:
            return self.cities[city](year)
        return None if self.national is None else self.national(year)


# ---------------------------------------------------------------- grid pathway


class ProvinceRule(BaseModel):
    """A province's own capacity rule: a retirement year or an annual retirement rate."""

    model_config = _FROZEN
    retirement_year: int | None = Field(default=None, ge=1990, le=2200)
    annual_rate: float | None = Field(default=None, ge=0, le=1)
    start_year: int | None = Field(default=None, ge=1990, le=2200)

    @model_validator(mode="after")
    def _one(self):
        given = [n for n in ("retirement_year", "annual_rate") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of retirement_year, annual_rate (got {given or 'none'})"
            )
        return self

    def factor(self, year: int, base_year: int) -> float:
        """Share of the base-year capacity left in ``year`` [1].

        ``retirement_year``: linear from 1 at ``start_year`` (default: the base year) to 0 at
        the retirement year. ``annual_rate``: ``(1 - rate) ** (year - start_year)``.
        """
        start = self.start_year or base_year
        if year <= start:
            return 1.0
        if self.annual_rate is not None:
            return (1.0 - self.annual_rate) ** (year - start)
        if year >= self.retirement_year:
            return 0.0
        return (self.retirement_year - year) / (self.retirement_year - start)


class CapacityRule(BaseModel):
    """How one source's capacity changes over the years.

    Exactly one of ``retirement_year``, ``annual_rate`` (see :class:`ProvinceRule`) or
    ``targets`` (``{year: GW}`` national totals, linear from the base-year total, flat after
    the last target, shared among provinces as in the base year). ``by_province`` gives
    provinces their own retirement rule (not with ``targets``).
    """

    model_config = _FROZEN
    retirement_year: int | None = Field(default=None, ge=1990, le=2200)
    annual_rate: float | None = Field(default=None, ge=0, le=1)
    targets: dict[int, float] | None = None
    start_year: int | None = Field(default=None, ge=1990, le=2200)
    by_province: dict[str, ProvinceRule] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one(self):
        rules = ("retirement_year", "annual_rate", "targets")
        given = [n for n in rules if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {list(rules)} (got {given or 'none'})")
        if self.targets is not None:
            if self.by_province:
                raise ValueError("by_province works with retirement_year or annual_rate only")
            for year, gigawatt in self.targets.items():
                if gigawatt < 0:
                    raise ValueError(f"negative capacity target {gigawatt} GW for {year}")
        return self

    def factor(self, year: int, base_year: int, base_total_mw: float) -> float:
        """National share of the base-year capacity in ``year`` [1]."""
        if self.targets is None:
            rule = ProvinceRule(
                retirement_year=self.retirement_year,
                annual_rate=self.annual_rate,
                start_year=self.start_year,
            )
            return rule.factor(year, base_year)
        if base_total_mw <= 0:
            raise ValueError("a capacity target needs a source with base-year capacity")
        points = {base_year: base_total_mw / 1000.0, **self.targets}
        return Table(points=points)(year) * 1000.0 / base_total_mw


class GridPathway(BaseModel):
    """Capacity by source and province, and annual demand, over the years.

    Attributes
    ----------
    base_year : int, optional
        Year of the input set's capacities and demand (default: parameter ``base_year``).
    demand : {"constant", "projection"}
        ``projection`` scales each province's annual demand by ``inputs/demand_projection.csv``.
    capacity : dict
        ``{source: CapacityRule}``; sources in :data:`PATHWAY_SOURCES`.
    """

    model_config = _FROZEN
    base_year: int | None = Field(default=None, ge=1990, le=2200)
    demand: Literal["constant", "projection"] = "constant"
    capacity: dict[str, CapacityRule] = Field(default_factory=dict)

    @field_validator("capacity")
    @classmethod
    def _sources(cls, capacity):
        for source in capacity:
            if source not in PATHWAY_SOURCES:
                raise ValueError(
                    f"unknown source {source!r}; expected one of {list(PATHWAY_SOURCES)}"
                    " (coal_chp follows coal)"
                )
        if "wind" in capacity and {"wind_onshore", "wind_offshore"} & set(capacity):
            raise ValueError("give wind, or wind_onshore / wind_offshore, not both")
        return capacity


# ---------------------------------------------------------------- scenario


class Scenario(BaseModel):
    """A validated, frozen scenario.

    Attributes
    ----------
    name : str
        Scenario name (also the default output file stem).
    inputs : Path
        Input folder.
    years : tuple of int
        Model years; in YAML a list or ``{start, stop, step}`` (``stop`` included).
    weather_year : int, optional
        Year of the hourly wind/solar weather; must be one the input set ships (default: it).
    strategies : tuple of str
        Charging strategies, each a ``strategy`` slice of the output.
    ev_share : EvAdoption, optional
        EV share trajectory (national, per-city overrides). Default: ``cities.csv``.
    carbon_signal : str
        Intensity that ``carbon_aware`` charging minimises.
    temperature : str
        ``climatology`` or a path to a user's hourly NetCDF/CSV file.
    cities : str
        ``all`` (the 337 units) or ``city_297``.
    grid_pathway : GridPathway, optional
        Capacity and demand over the years (default: the input set's, every year).
    grid_exchange : str
        ``pool`` (default: the provinces of a regional grid dispatch jointly through a hub;
        inter-regional corridors scheduled) or ``scheduled`` (every corridor at its schedule).
    methods : tuple of str, optional
        Accounting methods kept in the output (default: all computed).
    parameters : dict
        Overrides of ``parameters.csv`` values (same units as there).
    resolution : str
        Time resolution of the city and province series in the output.
    variables : tuple of str, optional
        Output variables written (default: all).
    sweep : dict
        ``{key: [values]}``: the scenario is a batch of members, one per combination.
    output : Path
        NetCDF file to write.
    member_of, member_parameters
        Set on the members of a sweep (the parent's name and the member's values).
    """

    model_config = _FROZEN

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    inputs: Path = Path("inputs")
    years: tuple[int, ...] = (2020,)
    weather_year: int | None = None
    strategies: tuple[str, ...] = ("uncontrolled",)
    ev_share: EvAdoption | None = None
    carbon_signal: Literal["average", "consumption", "marginal"] = "average"
    temperature: str = "climatology"
    cities: Literal["all", "city_297"] = "all"
    grid_pathway: GridPathway | None = None
    grid_exchange: Literal["scheduled", "pool"] = "pool"
    methods: tuple[str, ...] | None = None
    parameters: dict[str, float] = Field(default_factory=dict)
    resolution: Literal["hourly", "daily", "monthly", "annual"] = "hourly"
    variables: tuple[str, ...] | None = None
    sweep: dict[str, tuple[Any, ...]] = Field(default_factory=dict)
    output: Path | None = None
    source_file: Path | None = None
    source_hash: str = ""
    member_of: str | None = None
    member_parameters: dict[str, Any] = Field(default_factory=dict)

    @field_validator("years", mode="before")
    @classmethod
    def _year_range(cls, years):
        if isinstance(years, dict):
            if set(years) - {"start", "stop", "step"} or "start" not in years:
                raise ValueError(f"expected {{start, stop, step}} (stop included), got {years!r}")
            start, stop = years["start"], years.get("stop", years["start"])
            step = years.get("step", 1)
            if not all(isinstance(v, int) for v in (start, stop, step)) or step <= 0:
                raise ValueError(f"start, stop, step must be integers, step > 0; got {years!r}")
            return tuple(range(start, stop + 1, step))
        if isinstance(years, int):
            return (years,)
        return years

    @field_validator("years")
    @classmethod
    def _years(cls, years):
        if not years:
            raise ValueError("at least one year is needed")
        for year in years:
            if not 1990 <= year <= 2100:
                raise ValueError(f"year {year} outside 1990..2100")
        if len(set(years)) != len(years):
            raise ValueError(f"years repeat: {list(years)}")
        return years

    @field_validator("strategies", mode="before")
    @classmethod
    def _one_strategy(cls, strategies):
        return (strategies,) if isinstance(strategies, str) else strategies

    @field_validator("strategies")
    @classmethod
    def _strategies(cls, strategies):
        return _names(strategies, STRATEGIES, "strategy")

    @field_validator("methods")
    @classmethod
    def _methods(cls, methods):
        return None if methods is None else _names(methods, ACCOUNTING_METHODS, "method")

    @field_validator("variables")
    @classmethod
    def _variables(cls, variables):
        from .variables import VARIABLES

        return None if variables is None else _names(variables, tuple(VARIABLES), "variable")

    @field_validator("ev_share", mode="before")
    @classmethod
    def _ev_share(cls, share):
        if share is None or isinstance(share, EvAdoption):
            return share
        return EvAdoption.model_validate(share)

    @field_validator("sweep", mode="before")
    @classmethod
    def _sweep(cls, sweep):
        if sweep is None:
            return {}
        if not isinstance(sweep, dict):
            raise ValueError(f"expected {{key: [values]}}, got {sweep!r}")
        for key, values in sweep.items():
            known = key in SWEEPABLE_FIELDS or key in SWEEP_SHORTCUTS
            if not (known or key.startswith("parameters.")):
                raise ValueError(
                    f"cannot sweep {key!r}; expected one of {list(SWEEPABLE_FIELDS)}, "
                    f"{list(SWEEP_SHORTCUTS)} or parameters.<name>"
                )
            if not isinstance(values, list | tuple) or not values:
                raise ValueError(f"sweep {key!r} needs a non-empty list of values, got {values!r}")
        return {key: tuple(values) for key, values in sweep.items()}

    @model_validator(mode="after")
    def _default_output(self):
        if self.output is None:
            object.__setattr__(self, "output", Path("outputs") / f"{self.name}.nc")
        return self

    def ev_share_for(self, year: int) -> float | None:
        """National EV share [1] in a year (None: use the input set's ``ev_share`` column)."""
        return None if self.ev_share is None else self.ev_share.share(year)

    def record(self) -> dict:
        """The scenario's fields as plain data (JSON-compatible; provenance, sweep members)."""
        return json.loads(self.model_dump_json(exclude={"source_file", "source_hash", "output"}))


def _names(given, allowed, what: str) -> tuple[str, ...]:
    if not given:
        raise ValueError(f"at least one {what} is needed")
    for name in given:
        if name not in allowed:
            raise ValueError(f"unknown {what} {name!r}; expected one of {list(allowed)}")
    if len(set(given)) != len(given):
        raise ValueError(f"{what} names repeat: {list(given)}")
    return tuple(given)


# ---------------------------------------------------------------- sweeps


def expand_sweep(scenario: Scenario) -> list[Scenario]:
    """The member scenarios of a sweep (the scenario itself if it declares none).

    One member per combination of the sweep's values (the Cartesian product, keys in the
    order written, the last key varying fastest). A member is named
    ``<name>__<key>-<value>__...`` (values written with letters, digits, ``.``, ``-``, ``_``;
    a value that is a mapping is written as its position, ``<key>-<i>``), writes
    ``<member name>.nc`` beside the scenario's output, and records its values in
    ``member_parameters``.

    Raises
    ------
    InputError
        A member whose values do not validate (the message names the member and field).
    """
    if not scenario.sweep:
        return [scenario]
    keys = list(scenario.sweep)
    members = []
    for combination in itertools.product(*(enumerate(scenario.sweep[k]) for k in keys)):
        data = {k: v for k, v in scenario if k not in {"sweep", "member_of", "member_parameters"}}
        data["parameters"] = dict(scenario.parameters)
        labels, chosen = [], {}
        for key, (index, value) in zip(keys, combination, strict=True):
            chosen[key] = value
            labels.append(f"{key}-{_slug(value, index)}")
            _apply(data, key, value)
        name = "__".join([scenario.name, *labels])
        data.update(
            name=name,
            output=Path(scenario.output).with_name(f"{name}.nc"),
            member_of=scenario.name,
            member_parameters=json.loads(json.dumps(chosen, default=str)),
        )
        try:
            members.append(Scenario(**data))
        except ValidationError as error:
            first = error.errors()[0]
            raise InputError(
                f"sweep member {name}: {first['msg']} (got {first.get('input')!r})",
                file=str(scenario.source_file),
                column=".".join(str(p) for p in first["loc"]),
            ) from error
    return members


def _slug(value, index: int) -> str:
    if isinstance(value, list | tuple) and all(isinstance(v, str | int | float) for v in value):
        text = "+".join(str(v) for v in value)
    elif isinstance(value, str | int | float) and not isinstance(value, bool):
        text = str(value)
    else:
        return str(index)
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text.replace("+", "_"))


def _apply(data: dict, key: str, value) -> None:
    if key.startswith("parameters."):
        data["parameters"][key.split(".", 1)[1]] = value
    elif key == "coal_retirement_year":
        pathway = data.get("grid_pathway") or {}
        pathway = pathway.model_dump() if isinstance(pathway, GridPathway) else dict(pathway)
        capacity = dict(pathway.get("capacity") or {})
        coal = {k: v for k, v in (capacity.get("coal") or {}).items() if v is not None}
        for rule in ("annual_rate", "targets", "retirement_year"):
            coal.pop(rule, None)
        capacity["coal"] = {**coal, "retirement_year": value}
        data["grid_pathway"] = {**pathway, "capacity": capacity}
    else:
        data[key] = value


# ---------------------------------------------------------------- loading


def load_scenario(path: str | Path, **overrides) -> Scenario:
    """Read a scenario YAML file into a validated, frozen :class:`Scenario`.

    Parameters
    ----------
    path : str or Path
        YAML file.
    **overrides
        Field values that replace the file's (e.g. ``output=...``, relative to the current
        directory). Relative paths written in the file are relative to the file's folder.

    Raises
    ------
    InputError
        Missing file, invalid YAML, a field with a bad value (the message names the field
        and the value), or a weather year the input set does not ship.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("scenario file is missing", file=str(path))
    text = path.read_bytes()
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise InputError(f"not valid YAML: {error}", file=str(path)) from error
    if not isinstance(data, dict):
        raise InputError("expected a mapping of scenario fields", file=str(path))
    data.setdefault("name", path.stem)
    in_file_output = data.get("output")
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        scenario = Scenario(**data, source_file=path, source_hash=hashlib.sha256(text).hexdigest())
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first["loc"] if not str(p).startswith("function-"))
        raise InputError(
            f"{first['msg']} (got {first.get('input')!r})", file=str(path), column=field
        ) from error
    base = path.parent
    resolved = {"inputs": _resolve(base, scenario.inputs)}
    if overrides.get("output") is None and in_file_output is not None:
        resolved["output"] = _resolve(base, Path(in_file_output))
    if scenario.temperature != "climatology":
        resolved["temperature"] = str(_resolve(base, Path(scenario.temperature)))
    scenario = scenario.model_copy(update=resolved)
    expand_sweep(scenario)  # every member must validate too
    if scenario.inputs.is_dir():
        from .pathway import check_weather_year

        check_weather_year(scenario)
    return scenario


def _resolve(base: Path, path: Path) -> Path:
    return path if path.is_absolute() else (base / path).resolve()
