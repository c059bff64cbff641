"""Scenario files (YAML) validated once into frozen objects.

A scenario names the input set, the model years, the charging strategies, the EV share
trajectory and the output. Relative paths in the file are resolved against the folder of the
scenario file, so a scenario runs the same from any working directory.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .charging import STRATEGIES
from .errors import InputError


class Scenario(BaseModel):
    """A validated, frozen scenario.

    Attributes
    ----------
    name : str
        Scenario name (also the default output file stem).
    inputs : Path
        Input folder.
    years : list of int
        Model years. The grid and fleet of the input set are used for every year; the EV
        share may follow a trajectory (``ev_share``).
    strategies : list of str
        Charging strategies to simulate, each a separate ``strategy`` slice of the output.
    ev_share : float or dict, optional
        EV share of passenger cars [1]: one value for every city and year, or ``{year: value}``
        (linear interpolation between given years, flat outside). Default: the base-year
        ``ev_share`` column of ``cities.csv``.
    carbon_signal : str
        Intensity that ``carbon_aware`` charging minimises.
    temperature : str
        ``climatology`` (synthesized from ``climate.csv``) or a path to a user's hourly
        NetCDF/CSV file.
    cities : str
        ``all`` (the 337 units) or ``city_297`` (prefecture-level-and-above cities).
    parameters : dict
        Overrides of ``parameters.csv`` values (same units as there).
    resolution : str
        Time resolution of the city and province series in the output.
    output : Path
        NetCDF file to write.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    inputs: Path = Path("inputs")
    years: tuple[int, ...] = (2020,)
    strategies: tuple[str, ...] = ("uncontrolled",)
    ev_share: float | dict[int, float] | None = None
    carbon_signal: Literal["average", "consumption", "marginal"] = "average"
    temperature: str = "climatology"
    cities: Literal["all", "city_297"] = "all"
    parameters: dict[str, float] = Field(default_factory=dict)
    resolution: Literal["hourly", "daily", "monthly", "annual"] = "hourly"
    output: Path | None = None
    source_file: Path | None = None
    source_hash: str = ""

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

    @field_validator("strategies")
    @classmethod
    def _strategies(cls, strategies):
        if not strategies:
            raise ValueError("at least one strategy is needed")
        for strategy in strategies:
            if strategy not in STRATEGIES:
                raise ValueError(
                    f"unknown strategy {strategy!r}; expected one of {list(STRATEGIES)}"
                )
        if len(set(strategies)) != len(strategies):
            raise ValueError(f"strategies repeat: {list(strategies)}")
        return strategies

    @field_validator("ev_share")
    @classmethod
    def _ev_share(cls, share):
        values = share.values() if isinstance(share, dict) else [] if share is None else [share]
        for value in values:
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"EV share {value} outside [0, 1]")
        return share

    @model_validator(mode="after")
    def _default_output(self):
        if self.output is None:
            object.__setattr__(self, "output", Path("outputs") / f"{self.name}.nc")
        return self

    def ev_share_for(self, year: int) -> float | None:
        """EV share [1] for a year (None: use the input set's base-year column)."""
        if self.ev_share is None or isinstance(self.ev_share, float | int):
            return None if self.ev_share is None else float(self.ev_share)
        points = sorted(self.ev_share.items())
        if year <= points[0][0]:
            return points[0][1]
        for (y0, v0), (y1, v1) in zip(points, points[1:], strict=False):
            if y0 <= year <= y1:
                return v0 + (v1 - v0) * (year - y0) / (y1 - y0)
        return points[-1][1]


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
        Missing file, invalid YAML, or a field with a bad value (the message names the field
        and the value).
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
        field = ".".join(str(p) for p in first["loc"])
        raise InputError(
            f"{first['msg']} (got {first.get('input')!r})", file=str(path), column=field
        ) from error
    base = path.parent
    resolved = {"inputs": _resolve(base, scenario.inputs)}
    if overrides.get("output") is None and in_file_output is not None:
        resolved["output"] = _resolve(base, Path(in_file_output))
    if scenario.temperature != "climatology":
        resolved["temperature"] = str(_resolve(base, Path(scenario.temperature)))
    return scenario.model_copy(update=resolved)


def _resolve(base: Path, path: Path) -> Path:
    return path if path.is_absolute() else (base / path).resolve()
