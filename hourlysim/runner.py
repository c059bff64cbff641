"""Chain the five stages for a scenario-year and write the results atomically.

A scenario with several years is run year by year; each finished year is written to a part
file (``<output>.parts/<year>.nc``) so an interrupted run resumes from the years already on
disk, and the parts are merged into the output file at the end (temp file + rename, so the
output is never half-written).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from . import __version__
from .accounting import account, ev_grid_draw
from .charging import charging_load
from .demand import driving_demand
from .errors import InputError
from .grid import report_imbalance, simulate_grid
from .inequality import city_indicators
from .inputs import InputSet, load_inputs
from .scenario import Scenario
from .temperature import load_temperature_file, synthesize_hourly_temperature
from .timeaxis import model_time
from .variables import annotate

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]
_SIGNAL = {
    "average": "average_intensity",
    "consumption": "consumption_intensity",
    "marginal": "marginal_intensity",
}
_SUMMED_UNITS = {"MWh", "t", "km", "L"}


def _check_overrides(inputs: InputSet, scenario: Scenario) -> None:
    unknown = sorted(set(scenario.parameters) - set(inputs.parameters.data_vars))
    if unknown:
        raise InputError(
            f"unknown parameter(s) {unknown}; expected names from {inputs.path / 'parameters.csv'}",
            file=str(scenario.source_file),
            column="parameters",
        )


def city_temperature(
    inputs: InputSet, scenario: Scenario, year: int, time: pd.DatetimeIndex
) -> xr.DataArray:
    """Hourly temperature of every city [degC]: climatology or the scenario's file."""
    cities = inputs.cities
    if scenario.temperature == "climatology":
        values = synthesize_hourly_temperature(
            cities["t_jan"].values, cities["t_jul"].values, cities["diurnal_range"].values, year
        )
    else:
        values = load_temperature_file(scenario.temperature, cities["city"].values, year)
    return xr.DataArray(
        values,
        dims=("city", "time"),
        coords={"city": cities["city"].values, "time": time},
        name="temperature",
        attrs={"units": "degC", "long_name": "near-surface air temperature"},
    )


def select_cities(inputs: InputSet, scenario: Scenario) -> InputSet:
    """Restrict the simulated (not the grid's) cities to the scenario's city set."""
    if scenario.cities == "all":
        return inputs
    keep = inputs.cities["is_city_297"] == 1
    return InputSet(**{**inputs.__dict__, "cities": inputs.cities.where(keep, drop=True)})


def simulate_year(
    inputs: InputSet, scenario: Scenario, year: int, progress: Progress | None = None
) -> xr.Dataset:
    """Run the five stages for one year and every strategy of the scenario.

    Parameters
    ----------
    inputs : InputSet
        Validated input set.
    scenario : Scenario
        Validated scenario.
    year : int
        Model year.
    progress : callable, optional
        Called with a short message after each step.

    Returns
    -------
    xr.Dataset
        Hourly results with dims ``strategy``, ``city``, ``province``, ``method``,
        ``source``, ``corridor`` and ``time`` (8,760 local-time hours), units on every variable.
    """
    tell = progress or (lambda message: None)
    overrides = dict(scenario.parameters)

    def p(name):
        return float(overrides.get(name, inputs.parameter(name)))

    time = model_time(year)
    cities = inputs.cities
    temperature = city_temperature(inputs, scenario, year, time)
    demand = driving_demand(
        inputs, temperature, year, ev_share=scenario.ev_share_for(year), parameters=overrides
    )
    tell(f"{year}: driving demand")
    base_grid = simulate_grid(inputs, time, None, overrides)
    report_imbalance(base_grid, f"{year}, grid without EVs: ")
    tell(f"{year}: grid without EVs")
    vehicles = inputs.vehicles
    net_load = base_grid["demand"] - base_grid["generation"].sel(source=["wind", "solar"]).sum(
        "source"
    )
    solar_cf = inputs.hourly["cf_solar"].rename(hour="time").assign_coords(time=time)
    city_province = cities["city_province"]
    td_loss = p("td_loss_fraction")
    gasoline = demand["gasoline_litres"].sum("segment")
    per_strategy = []
    for strategy in scenario.strategies:
        load = charging_load(
            demand["battery_energy"],
            vehicles[["power_kw", "session_kwh", "dwell_hours"]],
            vehicles["arrival_share"].rename(hour_of_day="hour"),
            vehicles["mode_share"],
            strategy=strategy,
            charging_efficiency=p("charging_efficiency"),
            city_province=city_province,
            signal=base_grid[_SIGNAL[scenario.carbon_signal]],
            base_load=net_load,
            solar_cf=solar_cf,
            valley_start_hour=int(p("tou_valley_start_hour")),
        )
        draw = ev_grid_draw(load, td_loss)
        by_province = draw.groupby(city_province.rename("province")).sum("city")
        grid = simulate_grid(inputs, time, by_province, overrides)
        accounting = account(
            draw, gasoline, grid, city_province, p("gasoline_kg_co2_per_l_well_to_wheel")
        )
        indicators = city_indicators(
            accounting, demand["ev_fleet"].sum("segment"), cities["population"]
        )
        per_strategy.append(_strategy_slice(load, draw, grid, accounting, indicators))
        tell(f"{year}: {strategy}")
    result = xr.concat(per_strategy, dim=pd.Index(list(scenario.strategies), name="strategy"))
    result["temperature"] = temperature.astype(np.float32)
    result["driving_km"] = demand["driving_km"].astype(np.float32)
    result["battery_energy"] = demand["battery_energy"].astype(np.float32)
    result["gasoline_emissions"] = accounting["gasoline_emissions"].astype(np.float32)
    result["ev_fleet"] = demand["ev_fleet"].sum("segment")
    result["demand"] = base_grid["demand"].reset_coords(drop=True)
    for name, unit in (
        ("driving_km", "km"),
        ("battery_energy", "MWh"),
        ("gasoline_emissions", "t"),
        ("ev_fleet", "vehicle"),
        ("demand", "MWh"),
    ):
        result[name].attrs["units"] = unit
    result = result.assign_coords(
        {
            name: cities[name]
            for name in (
                "name_en",
                "name_zh",
                "city_province",
                "latitude",
                "longitude",
                "population",
                "gdp_per_capita",
            )
        }
    )
    provinces = inputs.provinces.reset_coords()
    result = result.assign_coords(
        grid_region=provinces["grid_region"], province_name=provinces["name_en"]
    )
    return annotate(result)


def _strategy_slice(load, draw, grid, accounting, indicators) -> xr.Dataset:
    hourly_grid = grid[
        [
            "generation",
            "curtailment",
            "unserved",
            "surplus",
            "net_import",
            "average_intensity",
            "consumption_intensity",
            "marginal_intensity",
            "import_fraction",
            "production_emissions",
            "flow",
        ]
    ]
    pieces = {
        "charging_load": load,
        "ev_grid_draw": draw,
        "ev_emissions": accounting["ev_emissions"],
        "import_share": accounting["import_share"],
        **hourly_grid.data_vars,
        **indicators.data_vars,
    }
    # labels (names, regions) are attached once at the end: drop them from the pieces
    data = xr.Dataset({name: piece.reset_coords(drop=True) for name, piece in pieces.items()})
    for name in ("charging_load", "ev_grid_draw", "ev_emissions", "generation", "flow"):
        attrs = data[name].attrs
        data[name] = data[name].astype(np.float32)
        data[name].attrs.update(attrs)
    return data


def aggregate(dataset: xr.Dataset, resolution: str) -> xr.Dataset:
    """Aggregate hourly series to ``daily``, ``monthly`` or ``annual`` resolution.

    Energy, emissions, km and litres are summed; intensities, fractions and temperature are
    averaged (unweighted).
    """
    if resolution == "hourly":
        return dataset
    out = {}
    for name, data in dataset.data_vars.items():
        if "time" not in data.dims:
            out[name] = data
            continue
        how = "sum" if data.attrs.get("units") in _SUMMED_UNITS else "mean"
        if resolution == "annual":
            reduced = getattr(data, how)("time", keep_attrs=True)
        else:
            freq = {"daily": "D", "monthly": "MS"}[resolution]
            reduced = getattr(data.resample(time=freq), how)(keep_attrs=True)
        out[name] = reduced
    return xr.Dataset(out, attrs=dataset.attrs)


def _encoding(dataset: xr.Dataset) -> dict:
    encoding = {}
    for name, data in dataset.data_vars.items():
        spec = {"zlib": True, "complevel": 1}
        if data.dtype == np.float64 and data.size > 1_000_000:
            spec["dtype"] = "float32"
        if "city" in data.dims and "time" in data.dims:
            spec["chunksizes"] = tuple(
                min(64, data.sizes[d]) if d == "city" else data.sizes[d] if d == "time" else 1
                for d in data.dims
            )
        encoding[name] = spec
    return encoding


def write_netcdf(dataset: xr.Dataset, path: Path) -> Path:
    """Write a dataset to NetCDF4 atomically (temporary file in the same folder + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        dataset.to_netcdf(temporary, engine="netcdf4", encoding=_encoding(dataset))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp creates 0600; use the usual mode
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _provenance(scenario: Scenario, inputs: InputSet) -> dict:
    return {
        "Conventions": "CF-1.8",
        "title": f"hourlysim results for scenario {scenario.name}",
        "source": f"hourlysim {__version__}",
        "scenario": scenario.name,
        "scenario_file": str(scenario.source_file or ""),
        "scenario_sha256": scenario.source_hash,
        "inputs": str(inputs.path),
        "inputs_sha256": inputs.digest,
        "resolution": scenario.resolution,
        "time_convention": "local time (UTC+8); Feb 29 dropped in leap years",
    }


def run(scenario: Scenario, progress: Progress | None = None) -> Path:
    """Run every year of a scenario and write its output file.

    Parameters
    ----------
    scenario : Scenario
        Validated scenario.
    progress : callable, optional
        Called with a short message after each step.

    Returns
    -------
    Path
        The NetCDF file written (``scenario.output``).
    """
    inputs = select_cities(load_inputs(scenario.inputs), scenario)
    _check_overrides(inputs, scenario)
    attrs = _provenance(scenario, inputs)
    output = Path(scenario.output)
    parts = output.with_name(output.name + ".parts")
    parts.mkdir(parents=True, exist_ok=True)
    part_files = []
    for year in scenario.years:
        part = parts / f"{year}.nc"
        if part.exists() and _same_run(part, attrs):
            logger.info("year %d already on disk (%s): resuming", year, part)
            if progress:
                progress(f"{year}: resumed from {part}")
        else:
            result = aggregate(simulate_year(inputs, scenario, year, progress), scenario.resolution)
            result.attrs.update(attrs, model_year=year)
            write_netcdf(result, part)
        part_files.append(part)
    _merge(part_files, scenario.years, output, attrs)
    shutil.rmtree(parts)
    if progress:
        progress(f"written {output}")
    return output


def _same_run(part: Path, attrs: dict) -> bool:
    try:
        with xr.open_dataset(part) as existing:
            return all(
                existing.attrs.get(k) == attrs[k]
                for k in ("scenario_sha256", "inputs_sha256", "source", "resolution")
            )
    except (OSError, ValueError):
        return False


def _merge(part_files: list[Path], years, output: Path, attrs: dict) -> None:
    if len(part_files) == 1:
        with xr.open_dataset(part_files[0]) as single:
            data = single.load()
        data = data.expand_dims(year=list(years))
    else:
        opened = [xr.open_dataset(f) for f in part_files]
        try:
            aligned = [
                d.assign_coords(time=np.arange(d.sizes["time"])) if "time" in d.dims else d
                for d in opened
            ]
            data = xr.concat(aligned, dim=pd.Index(list(years), name="year")).load()
        finally:
            for d in opened:
                d.close()
        data["time"].attrs.update(long_name="step of the model year (see time_convention)")
    data.attrs = {**attrs, "created": datetime.now(UTC).isoformat(timespec="seconds")}
    write_netcdf(data, output)
