"""Read and validate an input folder into xarray Datasets with units on every variable.

Every problem found raises :class:`~hourlysim.errors.InputError` naming the file, the line
(1 = header, so the first data row is line 2) or the column, and what was expected. The
checks are declared once, as :class:`TableSpec` objects, so that the loader, the ``validate``
command and the documentation of the input format agree.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .errors import InputError
from .timeaxis import HOURS_PER_LEAP_YEAR, HOURS_PER_YEAR, rows_without_feb29

logger = logging.getLogger(__name__)

GRID_REGIONS = ("north", "northeast", "east", "central", "northwest", "south", "southwest")
CITY_LEVELS = ("municipality", "prefecture_city", "autonomous_prefecture", "prefecture", "league")
CHARGING_MODES = ("home", "work", "public_slow", "public_fast")
CAPACITY_COLUMNS = (
    "coal",
    "coal_chp",
    "gas",
    "hydro",
    "pumped_hydro",
    "nuclear",
    "wind_onshore",
    "wind_offshore",
    "solar",
)
REQUIRED_PARAMETERS = (
    "emission_rate_coal",
    "emission_rate_gas",
    "emission_rate_hydro",
    "emission_rate_nuclear",
    "emission_rate_wind",
    "emission_rate_solar",
    "emission_rate_biomass",
    "ev_kwh_per_km_rated",
    "ev_real_world_factor",
    "ev_cold_coefficient",
    "ev_cold_threshold",
    "ev_hot_coefficient",
    "ev_hot_threshold",
    "gasoline_l_per_100km",
    "gasoline_kg_co2_per_l_tank_to_wheel",
    "gasoline_kg_co2_per_l_well_to_wheel",
    "gasoline_cold_coefficient",
    "gasoline_cold_threshold",
    "charging_efficiency",
    "td_loss_fraction",
    "tou_valley_start_hour",
    "hydro_utilisation_hours",
    "nuclear_utilisation_hours",
    "coal_chp_min_load_fraction",
    "gas_must_run_fraction",
    "biomass_generation_share",
    "hydro_run_of_river_share",
    "merit_cost_coal",
    "merit_cost_gas",
    "heating_season_start_month",
    "heating_season_end_month",
    "base_year",
)


@dataclass(frozen=True)
class Column:
    """A column of an input table and what its values must be.

    Parameters
    ----------
    name : str
        Column header.
    kind : {"float", "int", "str"}
        Value type.
    units : str
        Units of the values ("1" for fractions, "" for text).
    minimum, maximum : float, optional
        Inclusive bounds.
    allow_missing : bool
        Whether empty cells are allowed (else an empty cell is an error).
    choices : tuple, optional
        Allowed values.
    """

    name: str
    kind: str = "float"
    units: str = ""
    minimum: float | None = None
    maximum: float | None = None
    allow_missing: bool = False
    choices: tuple | None = None
    long_name: str = ""


@dataclass(frozen=True)
class TableSpec:
    """An input table: its file, its key column and its columns."""

    file: str
    key: str
    columns: tuple[Column, ...]
    description: str = ""
    extra_columns: bool = False


def _c(name, kind="float", units="", **kw) -> Column:
    return Column(name, kind, units, **kw)


CITIES = TableSpec(
    "cities.csv",
    "adcode",
    (
        _c("adcode", "int", minimum=100000, maximum=999999),
        _c("name_zh", "str"),
        _c("name_en", "str"),
        _c("name_pinyin", "str"),
        _c("province", "str", long_name="province the city belongs to"),
        _c("level", "str", choices=CITY_LEVELS),
        _c("is_city_297", "int", "1", choices=(0, 1)),
        _c("latitude", units="degrees_north", minimum=15, maximum=55),
        _c("longitude", units="degrees_east", minimum=70, maximum=136),
        _c("population", units="person", minimum=0, long_name="2020 census population"),
        _c("gdp_per_capita", units="CNY person-1", minimum=0, long_name="estimated GDP per capita"),
        _c("passenger_cars", units="vehicle", minimum=0, long_name="private passenger cars"),
        _c(
            "ev_share",
            units="1",
            minimum=0,
            maximum=1,
            long_name="base-year share of passenger cars that are electric",
        ),
        _c("climate_zone", "str"),
    ),
    "one row per prefecture-level unit",
)
PROVINCES = TableSpec(
    "provinces.csv",
    "province",
    (
        _c("province", "str"),
        _c("name_en", "str"),
        _c("name_zh", "str"),
        _c("adcode", "int", minimum=100000, maximum=999999),
        _c("grid_region", "str", choices=GRID_REGIONS),
        _c("population", units="person", minimum=0),
        _c("gdp", units="CNY", minimum=0),
        _c("private_cars", units="vehicle", minimum=0),
        _c("annual_demand", units="MWh", minimum=0, long_name="annual electricity demand"),
        _c("mee_emission_factor_2021", units="kg MWh-1", minimum=0, allow_missing=True),
        _c("mee_emission_factor_2022", units="kg MWh-1", minimum=0, allow_missing=True),
    ),
    "one row per province",
)
CAPACITY = TableSpec(
    "capacity.csv",
    "province",
    (_c("province", "str"),) + tuple(_c(s, units="MW", minimum=0) for s in CAPACITY_COLUMNS),
    "installed capacity by province and source",
)
CORRIDORS = TableSpec(
    "corridors.csv",
    "corridor",
    (
        _c("corridor", "str"),
        _c("name_en", "str"),
        _c("name_zh", "str"),
        _c("from_province", "str"),
        _c("to_province", "str"),
        _c("voltage_kv", units="kV", minimum=0),
        _c("current", "str", choices=("AC", "DC")),
        _c("capacity_mw", units="MW", minimum=0),
        _c("annual_energy", units="MWh", minimum=0, long_name="scheduled annual energy sent"),
        _c("annual_energy_basis", "str"),
    ),
    "inter-provincial corridors",
)
HUB_LINKS = TableSpec(
    "hub_links.csv",
    "province",
    (
        _c("province", "str"),
        _c("grid_region", "str", choices=GRID_REGIONS),
        _c("hub", "str"),
        _c("capacity_mw", units="MW", minimum=0, long_name="province-to-hub link capacity"),
        _c("partners", "str", allow_missing=True),
        _c("source", "str"),
    ),
    "province-to-regional-hub link capacity (pool exchange mode)",
)
PARAMETERS = TableSpec(
    "parameters.csv",
    "name",
    (
        _c("name", "str"),
        _c("value"),
        _c("unit", "str", allow_missing=True),
        _c("source", "str"),
        _c("description", "str"),
    ),
    "scalar parameters with units and sources",
)
SEGMENTS = TableSpec(
    "segments.csv",
    "segment",
    (
        _c("segment", "str"),
        _c("fleet_basis", "str"),
        _c(
            "vehicles_per_1000_people",
            units="vehicle (1000 person)-1",
            minimum=0,
            allow_missing=True,
        ),
        _c("km_per_day_weekday", units="km d-1", minimum=0),
        _c("km_per_day_weekend", units="km d-1", minimum=0),
    )
    + tuple(_c(f"share_{m}", units="1", minimum=0, maximum=1) for m in CHARGING_MODES),
    "vehicle segments",
    extra_columns=True,
)
CHARGING_MODES_TABLE = TableSpec(
    "charging_modes.csv",
    "mode",
    (
        _c("mode", "str", choices=CHARGING_MODES),
        _c("power_kw", units="kW", minimum=0),
        _c("session_kwh", units="kWh", minimum=0),
        _c("dwell_hours", units="h", minimum=0),
        _c("source", "str"),
    ),
    "charging modes",
)
CHARGING_ARRIVALS = TableSpec(
    "charging_arrivals.csv",
    "hour",
    (_c("hour", "int", minimum=0, maximum=23),)
    + tuple(_c(m, units="1", minimum=0, maximum=1) for m in CHARGING_MODES),
    "share of sessions arriving in each local hour, by mode",
)
CLIMATE = TableSpec(
    "climate.csv",
    "adcode",
    (
        _c("adcode", "int"),
        _c("climate_zone", "str"),
        _c("t_jan", units="degC", minimum=-40, maximum=35),
        _c("t_jul", units="degC", minimum=-10, maximum=40),
        _c("diurnal_range", units="K", minimum=0, maximum=30),
    ),
    "temperature climatology per city",
)
DRIVING_PROFILE = TableSpec(
    "driving_profile.csv",
    "hour",
    (
        _c("hour", "int", minimum=0, maximum=23),
        _c("weekday", units="1", minimum=0, maximum=1),
        _c("weekend", units="1", minimum=0, maximum=1),
        _c("source", "str"),
    ),
    "share of daily driving in each local hour",
)
PROJECTION_YEARS = tuple(range(2020, 2061, 5))
DEMAND_PROJECTION = TableSpec(
    "demand_projection.csv",
    "province",
    (_c("province", "str"),)
    + tuple(
        _c(f"demand_{y}", units="MWh", minimum=0, long_name=f"projected annual demand {y}")
        for y in PROJECTION_YEARS
    ),
    "optional: provincial annual demand projection 2020-2060 (read by grid pathways)",
)
"""Optional table (not part of :data:`TABLES`): read by :mod:`hourlysim.pathway` when a
scenario's grid pathway scales demand by the projection."""
TABLES = (
    CITIES,
    PROVINCES,
    CAPACITY,
    CORRIDORS,
    HUB_LINKS,
    PARAMETERS,
    SEGMENTS,
    CHARGING_MODES_TABLE,
    CHARGING_ARRIVALS,
    CLIMATE,
    DRIVING_PROFILE,
)

HOURLY_TABLES = {
    # variable name: (file, units, bounds, long_name)
    "demand_shape": (
        "hourly/demand_shape.csv.gz",
        "MW",
        (0.0, None),
        "hourly demand shape (rescaled to annual_demand)",
    ),
    "cf_solar": ("hourly/cf_solar.csv.gz", "1", (0.0, 1.0), "solar capacity factor"),
    "cf_wind_onshore": (
        "hourly/cf_wind_onshore.csv.gz",
        "1",
        (0.0, 1.0),
        "onshore wind capacity factor",
    ),
    "cf_wind_offshore": (
        "hourly/cf_wind_offshore.csv.gz",
        "1",
        (0.0, 1.0),
        "offshore wind capacity factor",
    ),
}
#: the power plants (GEM units), which place a province's emissions in its cities; optional
PLANTS_FILE = "plants.csv"
#: columns ``plants.csv`` must have (``start_year`` is optional)
PLANT_COLUMNS = ("source", "province", "adcode", "latitude", "longitude", "capacity_mw")
# capacity column that an hourly table must cover (a province with capacity needs a column)
_HOURLY_CAPACITY = {
    "cf_solar": "solar",
    "cf_wind_onshore": "wind_onshore",
    "cf_wind_offshore": "wind_offshore",
}


@dataclass(frozen=True)
class InputSet:
    """A validated input set.

    Attributes
    ----------
    cities : xr.Dataset
        Dim ``city`` (adcode): population, GDP, fleet, coordinates, climatology.
    provinces : xr.Dataset
        Dim ``province``: demand, population, ``capacity`` (province, capacity_source) [MW].
    hourly : xr.Dataset
        Dims (province, hour): demand shape [MW] and capacity factors [1].
    corridors : xr.Dataset
        Dim ``corridor``: endpoints, capacity [MW], scheduled annual energy [MWh].
    parameters : xr.Dataset
        Scalar parameters, each with ``units`` and ``source`` attributes.
    vehicles : xr.Dataset
        Segments, charging modes, arrival shares and driving profile.
    path : Path
        Folder the set was read from.
    digest : str
        SHA-256 over the files read (provenance).
    plants : pandas.DataFrame or None
        The power plants of ``plants.csv`` (one row per unit: ``source``, ``province``,
        ``adcode``, ``latitude``, ``longitude``, ``capacity_mw`` [MW], optional
        ``start_year``), which place a province's emissions in its cities; None where the
        folder has no such file.
    """

    cities: xr.Dataset
    provinces: xr.Dataset
    hourly: xr.Dataset
    corridors: xr.Dataset
    parameters: xr.Dataset
    vehicles: xr.Dataset
    path: Path
    digest: str = field(default="")
    plants: pd.DataFrame | None = field(default=None)

    def parameter(
        self, name: str, overrides: dict | None = None, default: float | None = None
    ) -> float:
        """Value of a scalar parameter (units in ``parameters[name].attrs['units']``), or its
        value in ``overrides`` (a scenario's ``parameters``) where that names it.

        ``default``, when given, makes the parameter optional: a set without it gives the
        override where there is one, else ``default``.

        Raises
        ------
        KeyError
            If the set has no such parameter and no ``default`` is given (an override does not
            add one).
        """
        overridden = bool(overrides) and name in overrides
        if default is not None and name not in self.parameters:
            return float(overrides[name]) if overridden else float(default)
        value = float(self.parameters[name])
        return float(overrides[name]) if overridden else value


# ---------------------------------------------------------------- table reading


def _line(position: int) -> int:
    """CSV line number of a data row position (header is line 1)."""
    return int(position) + 2


def read_table(folder: Path, spec: TableSpec) -> pd.DataFrame:
    """Read one CSV table and check it against its spec.

    Parameters
    ----------
    folder : Path
        Input folder.
    spec : TableSpec
        What the table must hold.

    Returns
    -------
    pandas.DataFrame
        One column per spec column, typed, in file order.

    Raises
    ------
    InputError
        Missing file or column, empty cell, non-numeric value, value out of bounds or not
        among the allowed choices, duplicated key.
    """
    path = Path(folder) / spec.file
    if not path.is_file():
        raise InputError(
            f"file is missing; expected {spec.description} ({spec.file})", file=str(path)
        )
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, comment=None)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as error:
        raise InputError(f"cannot be read as CSV: {error}", file=str(path)) from error
    raw.columns = [c.strip() for c in raw.columns]
    table = {}
    for column in spec.columns:
        if column.name not in raw.columns:
            raise InputError(
                f"column is missing; expected columns {[c.name for c in spec.columns]}",
                file=str(path),
                column=column.name,
            )
        table[column.name] = _convert(raw[column.name].str.strip(), column, path)
    frame = pd.DataFrame(table)
    duplicated = frame[spec.key].duplicated(keep=False)
    if duplicated.any():
        positions = np.flatnonzero(duplicated.to_numpy())
        value = frame[spec.key].iloc[positions[0]]
        lines = [_line(p) for p in positions if frame[spec.key].iloc[p] == value]
        raise InputError(
            f"duplicated key {value!r} (lines {lines}); each {spec.key} must appear once",
            file=str(path),
            row=lines[1],
            column=spec.key,
        )
    return frame


def _raise_at_first(bad: pd.Series, message, path: Path, column: str) -> None:
    """Raise InputError at the first True row of ``bad``; ``message(position)`` says what."""
    if bad.any():
        position = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(message(position), file=str(path), row=_line(position), column=column)


def _convert(values: pd.Series, column: Column, path: Path) -> pd.Series:
    units = f" [{column.units}]" if column.units else ""
    missing = values == ""
    if not column.allow_missing:
        _raise_at_first(
            missing, lambda i: f"empty value; expected {column.kind}{units}", path, column.name
        )
    converted = values
    if column.kind != "str":
        converted = pd.to_numeric(values.where(~missing), errors="coerce")
        _raise_at_first(
            converted.isna() & ~missing,
            lambda i: f"value {values.iloc[i]!r} is not a number; expected {column.kind}{units}",
            path,
            column.name,
        )
        if column.kind == "int":
            _raise_at_first(
                (converted % 1 != 0) & ~missing,
                lambda i: f"value {values.iloc[i]!r} is not a whole number",
                path,
                column.name,
            )
            if not missing.any():
                converted = converted.astype(np.int64)
        if column.minimum is not None:
            what = "negative" if column.minimum == 0 else "too small"
            _raise_at_first(
                converted < column.minimum,
                lambda i: f"{what} value {converted.iloc[i]}; expected >= {column.minimum}{units}",
                path,
                column.name,
            )
        if column.maximum is not None:
            _raise_at_first(
                converted > column.maximum,
                lambda i: (
                    f"value {converted.iloc[i]} too large; expected <= {column.maximum}{units}"
                ),
                path,
                column.name,
            )
    if column.choices is not None:
        _raise_at_first(
            ~converted.isin(column.choices) & ~missing,
            lambda i: (
                f"value {values.iloc[i]!r} is not allowed; expected one of {list(column.choices)}"
            ),
            path,
            column.name,
        )
    return converted


def read_hourly_table(
    folder: Path, variable: str, provinces: list[str], required: list[str]
) -> pd.DataFrame:
    """Read an hourly table (``time`` + one column per province) and drop Feb 29.

    Parameters
    ----------
    folder : Path
        Input folder.
    variable : str
        Key of :data:`HOURLY_TABLES`.
    provinces : list of str
        Known province codes; any other column is an error.
    required : list of str
        Province codes that must have a column.

    Returns
    -------
    pandas.DataFrame
        8,760 rows (hour of the model year), one float column per province in the file.
    """
    file, units, (low, high), _ = HOURLY_TABLES[variable]
    path = Path(folder) / file
    if not path.is_file():
        raise InputError(
            f"file is missing; expected an hourly table of {variable} [{units}]", file=str(path)
        )
    try:
        raw = pd.read_csv(path)
    except (
        pd.errors.ParserError,
        UnicodeDecodeError,
        pd.errors.EmptyDataError,
        OSError,
        EOFError,
    ) as error:
        raise InputError(f"cannot be read as CSV: {error}", file=str(path)) from error
    if "time" not in raw.columns:
        raise InputError(
            "column is missing; expected a first column 'time' (local time)",
            file=str(path),
            column="time",
        )
    if len(raw) not in (HOURS_PER_YEAR, HOURS_PER_LEAP_YEAR):
        raise InputError(
            f"has {len(raw)} data rows; expected {HOURS_PER_YEAR} hourly rows "
            f"({HOURS_PER_LEAP_YEAR} for a leap year, whose Feb 29 is dropped)",
            file=str(path),
        )
    columns = [c for c in raw.columns if c != "time"]
    unknown = [c for c in columns if c not in provinces]
    if unknown:
        raise InputError(
            f"unknown province code; expected one of {sorted(provinces)}",
            file=str(path),
            column=unknown[0],
        )
    for code in required:
        if code not in columns:
            raise InputError(
                f"column for province {code} is missing (it has capacity or demand)",
                file=str(path),
                column=code,
            )
    if raw.columns.duplicated().any():
        raise InputError(
            "duplicated column",
            file=str(path),
            column=str(raw.columns[raw.columns.duplicated()][0]),
        )
    values = raw[columns].apply(pd.to_numeric, errors="coerce")
    bound = f"[{low}, {high}]" if high is not None else f">= {low}"
    for code in columns:
        series = values[code]
        _raise_at_first(
            series.isna(),
            lambda i, code=code: (
                f"missing or non-numeric value {raw[code].iloc[i]!r}; expected a number [{units}]"
            ),
            path,
            code,
        )
        outside = (series < low) | (series > high) if high is not None else series < low
        _raise_at_first(
            outside, lambda i, s=series: f"value {s.iloc[i]} outside {bound} [{units}]", path, code
        )
    try:
        keep = rows_without_feb29(len(raw), raw["time"])
    except ValueError as error:
        raise InputError(str(error), file=str(path), column="time") from error
    return values.iloc[keep].reset_index(drop=True)


# ---------------------------------------------------------------- assembling datasets


def _dataset(frame: pd.DataFrame, spec: TableSpec, dim: str) -> xr.Dataset:
    dataset = xr.Dataset(coords={dim: frame[spec.key].to_numpy()})
    for column in spec.columns:
        if column.name == spec.key:
            continue
        dataset[column.name] = (dim, frame[column.name].to_numpy())
        dataset[column.name].attrs["units"] = column.units or "1"
        if column.long_name:
            dataset[column.name].attrs["long_name"] = column.long_name
    return dataset


def _check_reference(
    values: pd.Series, known, spec: TableSpec, column: str, folder: Path, what: str
) -> None:
    known = set(known)
    for position, value in enumerate(values):
        if value == "" or (isinstance(value, float) and np.isnan(value)):
            raise InputError(
                f"empty; every row must name a {what}",
                file=str(Path(folder) / spec.file),
                row=_line(position),
                column=column,
            )
        if value not in known:
            raise InputError(
                f"unknown {what} {value!r}; expected one of {sorted(known)[:40]}",
                file=str(Path(folder) / spec.file),
                row=_line(position),
                column=column,
            )


def _digest(folder: Path) -> str:
    """SHA-256 over every file the set is read from (``plants.csv`` where there is one)."""
    hasher = hashlib.sha256()
    files = [spec.file for spec in TABLES] + [f for f, *_ in HOURLY_TABLES.values()]
    if (Path(folder) / PLANTS_FILE).exists():
        files.append(PLANTS_FILE)
    for name in sorted(files):
        path = Path(folder) / name
        hasher.update(name.encode())
        hasher.update(path.read_bytes())
    return hasher.hexdigest()


def read_plants(folder: str | Path) -> pd.DataFrame | None:
    """The power plants of ``plants.csv`` in ``folder``, checked (None without that file).

    Raises
    ------
    InputError
        If a column of :data:`PLANT_COLUMNS` is missing, or an ``adcode``, ``latitude``,
        ``longitude`` or ``capacity_mw`` is not a finite number (``capacity_mw`` also >= 0).
    """
    path = Path(folder) / PLANTS_FILE
    if not path.exists():
        return None
    frame = pd.read_csv(path)
    for column in PLANT_COLUMNS:
        if column not in frame.columns:
            raise InputError(
                f"column is missing; expected columns {list(PLANT_COLUMNS)}",
                file=str(path),
                column=column,
            )
    for column in ("adcode", "latitude", "longitude", "capacity_mw"):
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = ~np.isfinite(values.to_numpy(float)) | (
            values.to_numpy(float) < 0 if column == "capacity_mw" else False
        )
        if bad.any():
            raise InputError(
                "expected a finite number" + (" >= 0" if column == "capacity_mw" else ""),
                file=str(path),
                row=_line(int(np.flatnonzero(bad)[0])),
                column=column,
            )
        frame[column] = values
    return frame


def load_inputs(path: str | Path) -> InputSet:
    """Read and validate an input folder.

    Parameters
    ----------
    path : str or Path
        Folder holding the tables listed in ``inputs/README.md`` (the shipped default set is
        ``inputs/``).

    Returns
    -------
    InputSet
        Validated datasets with units on every variable.

    Raises
    ------
    InputError
        For any problem, naming the file, line or column and what was expected.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise InputError("input folder does not exist", file=str(folder))
    frames = {spec.file: read_table(folder, spec) for spec in TABLES}

    provinces_frame = frames[PROVINCES.file]
    codes = list(provinces_frame["province"])
    cities_frame = frames[CITIES.file]
    _check_reference(cities_frame["province"], codes, CITIES, "province", folder, "province")
    capacity_frame = frames[CAPACITY.file]
    _check_reference(capacity_frame["province"], codes, CAPACITY, "province", folder, "province")
    missing = sorted(set(codes) - set(capacity_frame["province"]))
    if missing:
        raise InputError(
            f"no row for province(s) {missing}; every province needs one",
            file=str(folder / CAPACITY.file),
            column="province",
        )
    _raise_at_first(
        capacity_frame["coal_chp"] > capacity_frame["coal"],
        lambda i: "coal_chp exceeds coal; expected CHP to be part of coal capacity",
        folder / CAPACITY.file,
        "coal_chp",
    )
    empty_provinces = sorted(set(codes) - set(cities_frame["province"]))
    if empty_provinces:
        raise InputError(
            f"province(s) {empty_provinces} have no city",
            file=str(folder / CITIES.file),
            column="province",
        )
    corridors_frame = frames[CORRIDORS.file]
    for column in ("from_province", "to_province"):
        _check_reference(corridors_frame[column], codes, CORRIDORS, column, folder, "province")
    _raise_at_first(
        corridors_frame["from_province"] == corridors_frame["to_province"],
        lambda i: "corridor connects a province to itself",
        folder / CORRIDORS.file,
        "to_province",
    )
    _raise_at_first(
        corridors_frame["annual_energy"] > corridors_frame["capacity_mw"] * HOURS_PER_YEAR,
        lambda i: "annual_energy exceeds capacity_mw x 8760 h",
        folder / CORRIDORS.file,
        "annual_energy",
    )
    climate_frame = frames[CLIMATE.file]
    _check_reference(
        climate_frame["adcode"],
        cities_frame["adcode"],
        CLIMATE,
        "adcode",
        folder,
        "city adcode (from cities.csv)",
    )
    no_climate = sorted(set(cities_frame["adcode"]) - set(climate_frame["adcode"]))
    if no_climate:
        raise InputError(
            f"no climatology for city adcode(s) {no_climate[:10]}",
            file=str(folder / CLIMATE.file),
            column="adcode",
        )

    parameters_frame = frames[PARAMETERS.file]
    absent = [n for n in REQUIRED_PARAMETERS if n not in set(parameters_frame["name"])]
    if absent:
        raise InputError(
            f"parameter(s) {absent} missing", file=str(folder / PARAMETERS.file), column="name"
        )
    segments_frame = frames[SEGMENTS.file]
    _check_shares(
        segments_frame, [f"share_{m}" for m in CHARGING_MODES], folder, SEGMENTS, by_row=True
    )
    arrivals_frame = frames[CHARGING_ARRIVALS.file]
    if sorted(arrivals_frame["hour"]) != list(range(24)):
        raise InputError(
            "expected one row for each hour 0..23",
            file=str(folder / CHARGING_ARRIVALS.file),
            column="hour",
        )
    _check_shares(arrivals_frame, list(CHARGING_MODES), folder, CHARGING_ARRIVALS, by_row=False)
    modes_frame = frames[CHARGING_MODES_TABLE.file]
    if sorted(modes_frame["mode"]) != sorted(CHARGING_MODES):
        raise InputError(
            f"expected one row for each mode {list(CHARGING_MODES)}",
            file=str(folder / CHARGING_MODES_TABLE.file),
            column="mode",
        )
    profile_frame = frames[DRIVING_PROFILE.file]
    if sorted(profile_frame["hour"]) != list(range(24)):
        raise InputError(
            "expected one row for each hour 0..23",
            file=str(folder / DRIVING_PROFILE.file),
            column="hour",
        )
    _check_shares(profile_frame, ["weekday", "weekend"], folder, DRIVING_PROFILE, by_row=False)

    capacity_indexed = capacity_frame.set_index("province").loc[codes]
    hourly = {}
    for variable in HOURLY_TABLES:
        if variable in _HOURLY_CAPACITY:
            need = capacity_indexed[_HOURLY_CAPACITY[variable]] > 0
            required = list(capacity_indexed.index[need])
        else:
            required = codes
        table = read_hourly_table(folder, variable, codes, required)
        hourly[variable] = table.reindex(columns=codes, fill_value=0.0)

    hubs_frame = frames[HUB_LINKS.file]
    _check_reference(hubs_frame["province"], codes, HUB_LINKS, "province", folder, "province")
    hubs_frame = hubs_frame.set_index("province").reindex(codes)
    mismatch = hubs_frame["grid_region"].to_numpy() != provinces_frame["grid_region"].to_numpy()
    if hubs_frame["capacity_mw"].isna().any() or mismatch.any():
        raise InputError(
            "expected one row per province with the province's grid_region",
            file=str(folder / HUB_LINKS.file),
            column="grid_region",
        )
    provinces_dataset = _provinces_dataset(provinces_frame, capacity_indexed)
    provinces_dataset["hub_capacity"] = ("province", hubs_frame["capacity_mw"].to_numpy(float))
    provinces_dataset["hub_capacity"].attrs.update(
        units="MW", long_name="capacity of the link to the regional hub"
    )
    return InputSet(
        cities=_cities_dataset(cities_frame, climate_frame),
        provinces=provinces_dataset,
        hourly=_hourly_dataset(hourly, codes),
        corridors=_dataset(corridors_frame, CORRIDORS, "corridor"),
        parameters=_parameters_dataset(parameters_frame),
        vehicles=_vehicles_dataset(segments_frame, modes_frame, arrivals_frame, profile_frame),
        path=folder,
        digest=_digest(folder),
        plants=read_plants(folder),
    )


def _check_shares(frame, columns, folder, spec, *, by_row: bool) -> None:
    sums = frame[columns].sum(axis=1 if by_row else 0)
    for label, total in sums.items():
        if abs(total - 1.0) > 1e-6:
            where = {"row": _line(label)} if by_row else {"column": label}
            raise InputError(
                f"shares sum to {total:.6f}; expected 1", file=str(folder / spec.file), **where
            )


def _cities_dataset(cities: pd.DataFrame, climate: pd.DataFrame) -> xr.Dataset:
    dataset = _dataset(cities, CITIES, "city")
    climate = climate.set_index("adcode").loc[cities["adcode"]].reset_index()
    for column in CLIMATE.columns[2:]:
        dataset[column.name] = ("city", climate[column.name].to_numpy())
        dataset[column.name].attrs["units"] = column.units
    labels = ["name_zh", "name_en", "name_pinyin", "province", "level", "climate_zone"]
    dataset = dataset.set_coords(labels).rename({"province": "city_province"})
    dataset["city"].attrs.update(long_name="city administrative code (adcode)", units="1")
    return dataset


def _provinces_dataset(provinces: pd.DataFrame, capacity: pd.DataFrame) -> xr.Dataset:
    dataset = _dataset(provinces, PROVINCES, "province")
    dataset = dataset.set_coords(["name_en", "name_zh", "grid_region"])
    dataset["capacity"] = (
        ("province", "capacity_source"),
        capacity[list(CAPACITY_COLUMNS)].to_numpy(dtype=float),
    )
    dataset = dataset.assign_coords(capacity_source=list(CAPACITY_COLUMNS))
    dataset["capacity"].attrs.update(units="MW", long_name="installed capacity")
    return dataset


def _hourly_dataset(hourly: dict, codes: list[str]) -> xr.Dataset:
    dataset = xr.Dataset(coords={"province": codes, "hour": np.arange(HOURS_PER_YEAR)})
    for variable, frame in hourly.items():
        _, units, _, long_name = HOURLY_TABLES[variable]
        dataset[variable] = (("province", "hour"), frame.to_numpy(dtype=float).T)
        dataset[variable].attrs.update(units=units, long_name=long_name)
    dataset["hour"].attrs.update(long_name="hour of the model year (Feb 29 dropped)", units="1")
    return dataset


def _parameters_dataset(parameters: pd.DataFrame) -> xr.Dataset:
    dataset = xr.Dataset()
    for row in parameters.itertuples(index=False):
        dataset[row.name] = xr.DataArray(
            float(row.value),
            attrs={"units": row.unit or "1", "source": row.source, "long_name": row.description},
        )
    return dataset


def _vehicles_dataset(segments, modes, arrivals, profile) -> xr.Dataset:
    dataset = _dataset(segments, SEGMENTS, "segment")
    shares = segments[[f"share_{m}" for m in CHARGING_MODES]].to_numpy(dtype=float)
    dataset = dataset.drop_vars([f"share_{m}" for m in CHARGING_MODES])
    dataset["mode_share"] = (("segment", "mode"), shares)
    dataset["mode_share"].attrs.update(units="1", long_name="share of energy charged by mode")
    modes = modes.set_index("mode").loc[list(CHARGING_MODES)].reset_index()
    mode_data = _dataset(modes, CHARGING_MODES_TABLE, "mode").drop_vars("source")
    dataset = dataset.assign_coords(mode=list(CHARGING_MODES))
    for name in ("power_kw", "session_kwh", "dwell_hours"):
        dataset[name] = mode_data[name]
    arrivals = arrivals.set_index("hour").sort_index()
    dataset["arrival_share"] = (
        ("mode", "hour_of_day"),
        arrivals[list(CHARGING_MODES)].to_numpy(dtype=float).T,
    )
    dataset["arrival_share"].attrs.update(units="1", long_name="share of sessions arriving")
    profile = profile.set_index("hour").sort_index()
    dataset["driving_profile"] = (
        ("day_type", "hour_of_day"),
        profile[["weekday", "weekend"]].to_numpy(dtype=float).T,
    )
    dataset["driving_profile"].attrs.update(units="1", long_name="share of daily km by hour")
    dataset = dataset.assign_coords(day_type=["weekday", "weekend"], hour_of_day=np.arange(24))
    return dataset


def validate(path: str | Path) -> InputSet:
    """Validate an input folder (same checks as :func:`load_inputs`); return the set."""
    inputs = load_inputs(path)
    logger.info(
        "input set %s is valid (%d cities, %d provinces)",
        path,
        inputs.cities.sizes["city"],
        inputs.provinces.sizes["province"],
    )
    return inputs
