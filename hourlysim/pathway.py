"""A scenario-year's input set: the grid pathway and EV adoption applied to the base inputs.

The grid, demand and charging code read capacities, annual demand and EV shares from an
:class:`~hourlysim.inputs.InputSet`; a pathway is applied by producing, per model year, an
adjusted copy of it (capacity by source and province scaled, annual demand scaled by the
provincial projection, the ``ev_share`` column set from the trajectory), so those stages do
not change.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import logging

import numpy as np
import pandas as pd
import xarray as xr

from .errors import InputError
from .inputs import DEMAND_PROJECTION, HOURLY_TABLES, PROJECTION_YEARS, InputSet, read_table
from .scenario import GridPathway, Scenario

logger = logging.getLogger(__name__)

#: hourly tables whose timestamps give the weather year (wind and solar weather)
WEATHER_TABLES = ("cf_solar", "cf_wind_onshore", "cf_wind_offshore")


def _table_year(path) -> int:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as handle:
        handle.readline()
        first = handle.readline()
    return int(first[:4])


def shipped_years(folder) -> dict[str, int]:
    """Year of the timestamps of each hourly table of an input folder (``{variable: year}``)."""
    years = {}
    for variable, (file, *_) in HOURLY_TABLES.items():
        path = folder / file
        if path.is_file():
            years[variable] = _table_year(path)
    return years


def weather_years(folder) -> list[int]:
    """The weather years an input folder ships (years of its wind and solar tables)."""
    years = shipped_years(folder)
    return sorted({years[v] for v in WEATHER_TABLES if v in years})


def check_weather_year(scenario: Scenario) -> int:
    """The scenario's weather year, checked against the input set (default: the shipped one).

    Raises
    ------
    InputError
        The input set does not ship that weather year (the message names the ones it ships).
    """
    available = weather_years(scenario.inputs)
    if scenario.weather_year is None:
        if len(available) != 1:
            raise InputError(
                f"the input set ships weather years {available}; choose one",
                file=str(scenario.source_file),
                column="weather_year",
            )
        return available[0]
    if scenario.weather_year not in available:
        raise InputError(
            f"weather year {scenario.weather_year} is not in the input set {scenario.inputs}; "
            f"available: {available} (hourly wind and solar weather; the demand shape is "
            f"{shipped_years(scenario.inputs).get('demand_shape')} based)",
            file=str(scenario.source_file),
            column="weather_year",
        )
    return scenario.weather_year


def base_year(inputs: InputSet, pathway: GridPathway | None) -> int:
    """Year of the input set's capacities and demand."""
    if pathway is not None and pathway.base_year is not None:
        return pathway.base_year
    return int(inputs.parameter("base_year"))


def check_scenario(inputs: InputSet, scenario: Scenario) -> None:
    """Check a scenario against the (whole) input set: city overrides, pathway years.

    Raises
    ------
    InputError
        A per-city EV share for an adcode the input set lacks, a province rule for an unknown
        province, or a demand projection outside its years.
    """
    field = str(scenario.source_file)
    if scenario.ev_share is not None:
        unknown = sorted(set(scenario.ev_share.cities) - set(inputs.cities["city"].values.tolist()))
        if unknown:
            raise InputError(
                f"no city with adcode(s) {unknown} in {inputs.path / 'cities.csv'}",
                file=field,
                column="ev_share.cities",
            )
    pathway = scenario.grid_pathway
    if pathway is None:
        return
    provinces = set(inputs.provinces["province"].values.tolist())
    for source, rule in pathway.capacity.items():
        unknown = sorted(set(rule.by_province) - provinces)
        if unknown:
            raise InputError(
                f"unknown province(s) {unknown}; expected codes from provinces.csv",
                file=field,
                column=f"grid_pathway.capacity.{source}.by_province",
            )
    if pathway.demand == "projection":
        first, last = PROJECTION_YEARS[0], PROJECTION_YEARS[-1]
        years = [*scenario.years, base_year(inputs, pathway)]
        outside = [y for y in years if not first <= y <= last]
        if outside:
            raise InputError(
                f"year(s) {outside} outside the demand projection {first}-{last}",
                file=field,
                column="grid_pathway.demand",
            )


def demand_projection(inputs: InputSet) -> xr.DataArray:
    """Projected annual demand (province, projection_year) [MWh] of the input folder."""
    frame = read_table(inputs.path, DEMAND_PROJECTION).set_index("province")
    codes = inputs.provinces["province"].values.tolist()
    missing = sorted(set(codes) - set(frame.index))
    if missing:
        raise InputError(
            f"no row for province(s) {missing}",
            file=str(inputs.path / DEMAND_PROJECTION.file),
            column="province",
        )
    values = frame.loc[codes, [f"demand_{y}" for y in PROJECTION_YEARS]].to_numpy(float)
    return xr.DataArray(
        values,
        dims=("province", "projection_year"),
        coords={"province": codes, "projection_year": list(PROJECTION_YEARS)},
        attrs={"units": "MWh"},
    )


def projection_digest(inputs: InputSet) -> str:
    """SHA-256 of the demand projection file (provenance of pathway runs)."""
    return hashlib.sha256((inputs.path / DEMAND_PROJECTION.file).read_bytes()).hexdigest()


def _interpolate(projection: xr.DataArray, year: int) -> np.ndarray:
    return projection.interp(projection_year=year).values


def capacity_for_year(inputs: InputSet, pathway: GridPathway, year: int) -> xr.DataArray:
    """Installed capacity (province, capacity_source) [MW] in ``year`` under the pathway."""
    capacity = inputs.provinces["capacity"]
    base = base_year(inputs, pathway)
    provinces = capacity["province"].values.tolist()
    out = capacity.values.astype(float).copy()
    sources = capacity["capacity_source"].values.tolist()
    for source, rule in pathway.capacity.items():
        columns = {
            "coal": ["coal", "coal_chp"],
            "wind": ["wind_onshore", "wind_offshore"],
        }.get(source, [source])
        index = [sources.index(c) for c in columns]
        # coal includes its CHP part; wind is onshore + offshore
        total = float(capacity.values[:, index if source == "wind" else index[0]].sum())
        try:
            national = rule.factor(year, base, total)
        except ValueError as error:
            raise InputError(str(error), column=f"grid_pathway.capacity.{source}") from error
        factors = np.full(len(provinces), national)
        for province, own in rule.by_province.items():
            if province in provinces:
                factors[provinces.index(province)] = own.factor(year, base)
        out[:, index] = capacity.values[:, index] * factors[:, None]
    return capacity.copy(data=out)


def year_inputs(inputs: InputSet, scenario: Scenario, year: int) -> InputSet:
    """The input set of one model year: pathway capacities and demand, EV shares.

    Parameters
    ----------
    inputs : InputSet
        The base input set (its capacities and demand are those of the base year).
    scenario : Scenario
        The scenario (its ``grid_pathway`` and ``ev_share``).
    year : int
        Model year.

    Returns
    -------
    InputSet
        A copy with ``provinces['capacity']``, ``provinces['annual_demand']`` and
        ``cities['ev_share']`` of the year; the base set itself when nothing changes.
    """
    provinces, cities = inputs.provinces, inputs.cities
    pathway = scenario.grid_pathway
    if pathway is not None:
        provinces = provinces.copy()
        if pathway.capacity:
            provinces["capacity"] = capacity_for_year(inputs, pathway, year)
        if pathway.demand == "projection":
            projection = demand_projection(inputs)
            scale = _interpolate(projection, year) / _interpolate(
                projection, base_year(inputs, pathway)
            )
            demand = provinces["annual_demand"]
            provinces["annual_demand"] = demand.copy(data=demand.values * scale)
    adoption = scenario.ev_share
    if adoption is not None:
        adcodes = cities["city"].values.tolist()
        share = cities["ev_share"].values.astype(float).copy()
        if adoption.national is not None:
            share[:] = adoption.national(year)
        for adcode, trajectory in adoption.cities.items():
            if adcode in adcodes:
                share[adcodes.index(adcode)] = trajectory(year)
        cities = cities.copy()
        cities["ev_share"] = cities["ev_share"].copy(data=share)
    if provinces is inputs.provinces and cities is inputs.cities:
        return inputs
    return dataclasses.replace(inputs, provinces=provinces, cities=cities)


def pathway_table(inputs: InputSet, scenario: Scenario) -> pd.DataFrame:
    """National capacity by source [GW] and demand [TWh] for each model year (a summary)."""
    rows = []
    for year in scenario.years:
        adjusted = year_inputs(inputs, scenario, year)
        capacity = adjusted.provinces["capacity"].sum("province") / 1000.0
        row = {"year": year, **{str(k): float(v) for k, v in capacity.to_series().items()}}
        row["demand_TWh"] = float(adjusted.provinces["annual_demand"].sum()) / 1e6
        rows.append(row)
    return pd.DataFrame(rows).set_index("year")
