"""Chain the five stages for a scenario-year and write the results atomically.

:class:`YearContext` holds what the strategies of one scenario-year share (temperature,
driving demand, the grid without EVs); each (year, strategy) task is computed from it and
written to its own part file (``<output>.parts/``), so memory holds one task at a time and an
interrupted run resumes from the tasks on disk. The parts are merged into the output file at
the end (temp file + rename, so the output is never half-written).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import netCDF4
import numpy as np
import pandas as pd
import xarray as xr

from . import __version__
from .accounting import INTENSITY_VARIABLE, account, ev_grid_draw, gasoline_emissions
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
    return InputSet(
        **{**inputs.__dict__, "cities": inputs.cities.isel(city=np.flatnonzero(keep.values))}
    )


class YearContext:
    """One scenario-year: what every strategy shares (temperature, demand, the grid without
    EVs and the signals derived from it), and the per-strategy stages."""

    def __init__(self, inputs: InputSet, scenario: Scenario, year: int, tell: Progress):
        self.inputs = inputs
        self.scenario = scenario
        self.year = year
        self.overrides = dict(scenario.parameters)
        self.time = model_time(year)
        self.temperature = city_temperature(inputs, scenario, year, self.time)
        self.demand = driving_demand(
            inputs,
            self.temperature,
            year,
            ev_share=scenario.ev_share_for(year),
            parameters=self.overrides,
        )
        tell(f"{year}: driving demand")
        self.base_grid = simulate_grid(inputs, self.time, None, self.overrides)
        report_imbalance(self.base_grid, f"{year}, grid without EVs: ")
        tell(f"{year}: grid without EVs")

    def parameter(self, name: str) -> float:
        return float(self.overrides.get(name, self.inputs.parameter(name)))

    def common(self) -> xr.Dataset:
        """Strategy-independent outputs (inputs to the stages and the counterfactual)."""
        demand = self.demand
        gasoline = gasoline_emissions(
            demand["gasoline_litres"].sum("segment"),
            self.parameter("gasoline_kg_co2_per_l_well_to_wheel"),
        )
        data = xr.Dataset(
            {
                "temperature": self.temperature.astype(np.float32),
                "driving_km": demand["driving_km"].astype(np.float32),
                "battery_energy": demand["battery_energy"].astype(np.float32),
                "gasoline_emissions": gasoline.astype(np.float32),
                "gasoline_tailpipe_emissions": gasoline_emissions(
                    demand["gasoline_litres"].sum("segment"),
                    self.parameter("gasoline_kg_co2_per_l_tank_to_wheel"),
                ).astype(np.float32),
                "ev_fleet": demand["ev_fleet"].sum("segment"),
                "demand": self.base_grid["demand"].reset_coords(drop=True),
            }
        )
        return self._label(data)

    def charging(self, strategy: str) -> xr.DataArray:
        """Charging load of every city under one strategy [MWh per hour step].

        Signals come from the grid without EVs: ``carbon_aware`` minimises the scenario's
        ``carbon_signal`` intensity, ``valley_filling`` flattens demand minus wind and solar,
        ``solar_aligned`` follows the solar capacity factor.
        """
        inputs, vehicles, base_grid = self.inputs, self.inputs.vehicles, self.base_grid
        net_load = base_grid["demand"] - base_grid["generation"].sel(source=["wind", "solar"]).sum(
            "source"
        )
        solar_cf = inputs.hourly["cf_solar"].rename(hour="time").assign_coords(time=self.time)
        return charging_load(
            self.demand["battery_energy"],
            vehicles[["power_kw", "session_kwh", "dwell_hours"]],
            vehicles["arrival_share"].rename(hour_of_day="hour"),
            vehicles["mode_share"],
            strategy=strategy,
            charging_efficiency=self.parameter("charging_efficiency"),
            city_province=inputs.cities["city_province"],
            signal=base_grid[INTENSITY_VARIABLE[self.scenario.carbon_signal]],
            base_load=net_load,
            solar_cf=solar_cf,
            valley_start_hour=int(self.parameter("tou_valley_start_hour")),
        )

    def strategy(self, strategy: str) -> xr.Dataset:
        """Charging, grid with EVs, accounting and indicators under one strategy."""
        inputs, cities, demand = self.inputs, self.inputs.cities, self.demand
        city_province = cities["city_province"]
        load = self.charging(strategy)
        draw = ev_grid_draw(load, self.parameter("td_loss_fraction"))
        by_province = draw.groupby(city_province.rename("province")).sum("city")
        grid = simulate_grid(inputs, self.time, by_province, self.overrides)
        accounting = account(
            draw,
            demand["gasoline_litres"].sum("segment"),
            grid,
            self.base_grid,
            inputs,
            self.overrides,
        )
        indicators = city_indicators(
            accounting, demand["ev_fleet"].sum("segment"), cities["population"]
        )
        data = _strategy_slice(load, draw, grid, accounting, indicators)
        return self._label(data.expand_dims(strategy=[strategy]))

    def _label(self, data: xr.Dataset) -> xr.Dataset:
        cities = self.inputs.cities
        names = (
            "name_en",
            "name_zh",
            "city_province",
            "latitude",
            "longitude",
            "population",
            "gdp_per_capita",
        )
        if "city" in data.dims:
            data = data.assign_coords({name: cities[name] for name in names})
        if "province" in data.dims:
            provinces = self.inputs.provinces.reset_coords()
            data = data.assign_coords(
                grid_region=provinces["grid_region"], province_name=provinces["name_en"]
            )
        return annotate(data)


def simulate_year(
    inputs: InputSet, scenario: Scenario, year: int, progress: Progress | None = None
) -> xr.Dataset:
    """Run the five stages for one year and every strategy of the scenario, in memory.

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
        ``segment``, ``source``, ``corridor`` and ``time`` (8,760 local-time hours), units
        on every variable. (:func:`run` writes each strategy to disk as it is done instead.)
    """
    tell = progress or (lambda message: None)
    context = YearContext(inputs, scenario, year, tell)
    slices = []
    for strategy in scenario.strategies:
        slices.append(context.strategy(strategy))
        tell(f"{year}: {strategy}")
    return annotate(
        xr.merge([xr.concat(slices, dim="strategy"), context.common()], combine_attrs="drop")
    )


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
            "marginal_source_share",
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
        "ev_caused_emissions": accounting["ev_caused_emissions"],
        "burden_province": accounting["burden_province"],
        "emissions_in_poorer_cities": accounting["emissions_in_poorer_cities"],
        "carbon_class": accounting["carbon_class"],
        **hourly_grid.data_vars,
        **indicators.data_vars,
    }
    # labels (names, regions) are attached once at the end: drop them from the pieces
    data = xr.Dataset({name: piece.reset_coords(drop=True) for name, piece in pieces.items()})
    for name in (
        "charging_load",
        "ev_grid_draw",
        "ev_emissions",
        "generation",
        "marginal_source_share",
        "flow",
    ):
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


_ONE_PER_CHUNK = {"year", "strategy", "method", "segment"}
_CITY_BLOCK = 64


def _encoding(dataset: xr.Dataset) -> dict:
    """zlib, float32 for large float64 arrays, and chunks of (one year, strategy, method or
    segment) x (a block of 64 cities) x (the full length of every other dimension)."""
    encoding = {}
    for name, data in dataset.data_vars.items():
        spec = {"zlib": True, "complevel": 1}
        if data.dtype == np.float64 and data.size > 1_000_000:
            spec["dtype"] = "float32"
        if data.ndim:
            spec["chunksizes"] = tuple(
                1 if d in _ONE_PER_CHUNK else min(_CITY_BLOCK, n) if d == "city" else n
                for d, n in data.sizes.items()
            )
        encoding[name] = spec
    return encoding


@contextmanager
def _atomic(path: Path):
    """Yield a temporary path beside ``path``; rename it to ``path`` only on success.

    Meanwhile the HDF5 chunk cache is kept to 1 MB per variable (netCDF's default, 64 MB per
    variable and kept until the file closes, adds up to gigabytes over a cube's variables;
    every write here is of whole chunks, so the cache only holds memory).
    """
    path = Path(path)
    cache = netCDF4.get_chunk_cache()
    netCDF4.set_chunk_cache(1 << 20, 1, 1.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        yield temporary
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp creates 0600; use the usual mode
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    finally:
        netCDF4.set_chunk_cache(*cache)


def write_netcdf(dataset: xr.Dataset, path: Path) -> Path:
    """Write a dataset to NetCDF4 atomically (temporary file in the same folder + rename)."""
    with _atomic(path) as temporary:
        dataset.to_netcdf(temporary, engine="netcdf4", encoding=_encoding(dataset))
    return Path(path)


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
    """Run every year and strategy of a scenario and write its output file.

    Each (year, strategy) task and each year's strategy-independent variables are written to
    their own part file in ``<output>.parts/`` as soon as they are computed, so memory holds
    one task at a time and an interrupted run resumes from the parts already on disk (parts
    of a different scenario file, input set or package version are recomputed). The parts
    are then streamed into the output file, written atomically.

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
    tell = progress or (lambda message: None)
    inputs = select_cities(load_inputs(scenario.inputs), scenario)
    _check_overrides(inputs, scenario)
    attrs = _provenance(scenario, inputs)
    output = Path(scenario.output)
    parts = output.with_name(output.name + ".parts")
    parts.mkdir(parents=True, exist_ok=True)
    part_files: dict[int, dict[str, Path]] = {}
    for year in scenario.years:
        tasks = {"common": parts / f"{year}_common.nc"}
        tasks.update({s: parts / f"{year}_{s}.nc" for s in scenario.strategies})
        part_files[year] = tasks
        todo = {name: path for name, path in tasks.items() if not _same_run(path, attrs)}
        for name in set(tasks) - set(todo):
            logger.info("%d %s already on disk: resuming", year, name)
            tell(f"{year}: {name} resumed")
        if not todo:
            continue
        context = YearContext(inputs, scenario, year, tell)
        for name, path in todo.items():
            data = context.common() if name == "common" else context.strategy(name)
            data = aggregate(data, scenario.resolution).expand_dims(year=[year])
            data.attrs.update(attrs, created=_now())
            write_netcdf(data, path)
            if name != "common":
                tell(f"{year}: {name}")
    _merge(part_files, output)
    shutil.rmtree(parts)
    tell(f"written {output}")
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


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _merge(part_files: dict[int, dict[str, Path]], output: Path) -> None:
    """Join the part files into the output file, one part variable in memory at a time.

    The output's layout (dims, coordinates, attributes, encoding) comes from the parts joined
    lazily; its variables are defined without data and then filled part by part. With several
    years ``time`` becomes the step of the model year, since the years' timestamps differ.
    """
    opened = []
    try:
        years = []
        for tasks in part_files.values():
            common = xr.open_dataset(tasks["common"], chunks={})
            names = [name for name in tasks if name != "common"]
            strategies = [xr.open_dataset(tasks[name], chunks={}) for name in names]
            opened.extend([common, *strategies])
            # the strategy labels come from the task names: NetCDF stores each part's label
            # with its own string width, which concat would truncate to the first one's
            strategies = [d.drop_vars("strategy") for d in strategies]
            joined = xr.concat(
                strategies,
                dim=pd.Index(names, name="strategy", dtype=object),
                data_vars="minimal",
                coords="minimal",
                compat="override",
            )
            years.append(xr.merge([joined, common], combine_attrs="override", compat="override"))
        if len(years) > 1:
            years = [
                y.assign_coords(time=np.arange(y.sizes["time"])) if "time" in y.dims else y
                for y in years
            ]
        layout = xr.concat(
            years,
            dim="year",
            data_vars="minimal",
            coords="minimal",
            compat="override",
            join="override",
            combine_attrs="override",
        )
        if len(years) > 1 and "time" in layout.dims:
            layout["time"].attrs.update(
                long_name="step of the model year (see time_convention)", units="1"
            )
        layout = annotate(layout)
        layout.attrs = {**opened[0].attrs, "created": _now()}
        with _atomic(output) as temporary:
            # coordinates and attributes through xarray (CF encoding), then the data
            # variables defined empty and filled part by part: memory holds one part variable
            layout.drop_vars(list(layout.data_vars)).to_netcdf(temporary, engine="netcdf4")
            with netCDF4.Dataset(temporary, "r+") as target:
                _define_variables(target, layout)
                for year_index, tasks in enumerate(part_files.values()):
                    for strategy_index, name in enumerate(tasks):
                        _fill(target, tasks[name], year_index, strategy_index - 1)
    finally:
        for dataset in opened:
            dataset.close()


def _define_variables(target, layout: xr.Dataset) -> None:
    """Create the layout's data variables (no data) with their encoding and attributes."""
    encoding = _encoding(layout)
    for name, data in layout.data_vars.items():
        spec = encoding[name]
        dtype = np.dtype(spec.get("dtype", data.dtype))
        variable = target.createVariable(
            name,
            dtype,
            data.dims,
            zlib=True,
            complevel=spec["complevel"],
            chunksizes=spec.get("chunksizes"),
            fill_value=np.nan if dtype.kind == "f" else None,
        )
        labels = [
            c
            for c in layout.coords
            if c not in layout.dims and set(layout[c].dims) <= set(data.dims)
        ]
        attrs = dict(data.attrs)
        if labels:
            attrs["coordinates"] = " ".join(sorted(labels))
        variable.setncatts(attrs)


def _fill(target, part: Path, year_index: int, strategy_index: int) -> None:
    """Copy every data variable of one part file into its slot of the output file."""
    with xr.open_dataset(part) as source:
        for name, data in source.data_vars.items():
            variable = target[name]
            dims = variable.dimensions
            index = tuple(
                year_index if d == "year" else strategy_index if d == "strategy" else slice(None)
                for d in dims
            )
            values = data.isel(year=0).transpose(*[d for d in dims if d != "year"])
            if "strategy" in values.dims:
                values = values.isel(strategy=0)
            variable[index] = values.values
