"""Chain the five stages for a scenario-year and run scenario batches on dask.

:class:`YearContext` holds what the strategies of one scenario-year share (temperature,
driving demand, the grid without EVs) on the year's input set (grid pathway and EV adoption
applied, :mod:`hourlysim.pathway`). :func:`plan` turns a scenario (every member of its sweep)
into :class:`Task` objects, one per year for the strategy-independent part and one per
(year, strategy); :func:`run` computes them in this process or on a dask.distributed cluster
(a LocalCluster, a scheduler address or a client), each task writing its own part file
(``<output>.parts/``), so a worker holds one scenario-year and one task and an interrupted
batch resumes from the tasks on disk (``resume=True``). A scenario's parts are merged into
its output file when its last task is done (temp file + rename, so the output is never
half-written), one part variable in memory at a time.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import netCDF4
import numpy as np
import pandas as pd
import xarray as xr

from . import __version__
from .accounting import (
    INTENSITY_VARIABLE,
    METHODS,
    account,
    city_weights,
    ev_grid_draw_by_province,
    gasoline_counterfactual,
)
from .allocator import keep_freed_memory
from .charging import ChargingPlan, plan_charging
from .demand import year_demand
from .errors import InputError
from .grid import OUT_COPIES, OUT_RESULTS, SOURCES, prepare_grid, report_imbalance
from .inequality import city_indicators
from .inputs import InputSet, load_inputs
from .pathway import check_scenario, check_weather_year, projection_digest, year_inputs
from .scenario import Scenario, expand_sweep
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
        # the year's capacities, demand and EV shares (grid pathway, adoption trajectory)
        inputs = year_inputs(inputs, scenario, year)
        self.inputs = inputs
        self.scenario = scenario
        self.year = year
        self.overrides = dict(scenario.parameters)
        self.time = model_time(year)
        self.temperature = city_temperature(inputs, scenario, year, self.time)
        # the distance in its output precision and the litres summed over the segments
        self.demand = year_demand(inputs, self.temperature, year, parameters=self.overrides)
        # strategy-independent sums, once per year (NaN propagates: no silent zeros)
        self.gasoline_litres = self.demand["gasoline_litres"]
        self.ev_fleet = self.demand["ev_fleet"].sum("segment", skipna=False)
        self.city_weight = city_weights(inputs, inputs.cities, year)
        # in the output's precision: the accounting reads only its annual sums (float64)
        self.counterfactual = gasoline_counterfactual(
            self.gasoline_litres, inputs, self.overrides, dtype=np.float32
        )
        tell(f"{year}: driving demand")
        # the grid's EV-independent inputs, once for the grid without EVs and every strategy
        self.grid_year = prepare_grid(
            inputs, self.time, self.overrides, exchange=scenario.grid_exchange
        )
        # traced only where its consumption intensity is used: as the carbon signal (the
        # accounting traces each grid with EVs itself; nothing else reads this tracing)
        self.base_grid = self.grid_year.simulate(
            None, trace=scenario.carbon_signal == "consumption"
        )
        report_imbalance(self.base_grid, f"{year}, grid without EVs: ")
        tell(f"{year}: grid without EVs")

    def parameter(self, name: str) -> float:
        return self.inputs.parameter(name, self.overrides)

    def common(self) -> xr.Dataset:
        """Strategy-independent outputs (inputs to the stages and the counterfactual)."""
        return self._label(self._common_variables())

    def _common_variables(self) -> xr.Dataset:
        """:meth:`common`'s variables, without labels."""
        demand = self.demand
        return xr.Dataset(
            {
                "temperature": self.temperature.astype(np.float32),
                "driving_km": demand["driving_km"],  # float32 already (year_demand)
                "battery_energy": demand["battery_energy"].astype(np.float32),
                **{  # float32 already (gasoline_counterfactual)
                    name: self.counterfactual[name]
                    for name in ("gasoline_emissions", "gasoline_tailpipe_emissions")
                },
                "ev_fleet": self.ev_fleet,
                "demand": self.base_grid["demand"].reset_coords(drop=True),
            }
        )

    def charging(self, strategy: str) -> xr.DataArray:
        """Charging load of every city under one strategy [MWh per hour step].

        Signals come from the grid without EVs: ``carbon_aware`` minimises the scenario's
        ``carbon_signal`` intensity, ``valley_filling`` flattens demand minus wind and solar,
        ``solar_aligned`` follows the solar capacity factor.
        """
        return self.charging_plan.load(
            strategy,
            signal=self.base_grid[INTENSITY_VARIABLE[self.scenario.carbon_signal]],
            base_load=self.net_load,
            solar_cf=self.solar_cf,
            valley_start_hour=int(self.parameter("tou_valley_start_hour")),
        )

    @functools.cached_property
    def charging_plan(self) -> ChargingPlan:
        """The year's charging cohorts, laid out once for every strategy."""
        vehicles = self.inputs.vehicles
        return plan_charging(
            self.demand["battery_energy"],
            vehicles[["power_kw", "session_kwh", "dwell_hours"]],
            vehicles["arrival_share"].rename(hour_of_day="hour"),
            vehicles["mode_share"],
            charging_efficiency=self.parameter("charging_efficiency"),
            city_province=self.inputs.cities["city_province"],
        )

    @functools.cached_property
    def net_load(self) -> xr.DataArray:
        """Demand less wind and solar of the grid without EVs, (province, time) [MWh]."""
        base_grid = self.base_grid
        renewables = base_grid["generation"].sel(source=["wind", "solar"])
        return base_grid["demand"] - renewables.sum("source", skipna=False)

    @functools.cached_property
    def solar_cf(self) -> xr.DataArray:
        """Solar capacity factor on the model hours, (province, time) [1]."""
        return self.inputs.hourly["cf_solar"].rename(hour="time").assign_coords(time=self.time)

    @functools.cached_property
    def city_region(self) -> xr.DataArray:
        """Regional grid of each city, (city,)."""
        cities = self.inputs.cities
        region = self.inputs.provinces["grid_region"].sel(province=cities["city_province"].values)
        return xr.DataArray(region.values, dims="city", coords={"city": cities["city"]})

    def strategy(self, strategy: str) -> xr.Dataset:
        """Charging, grid with EVs, accounting and indicators under one strategy: one
        labelled dataset with a ``strategy`` dimension of length 1 (what a task writes)."""
        pieces = self.strategy_pieces(strategy)
        data = assemble(_single_precision(pieces))
        return self._label(data.expand_dims(strategy=[strategy]))

    def output_arrays(self, n_strategy: int | None = None) -> dict[str, np.ndarray]:
        """Empty arrays for the outputs that a strategy's stages write in place
        (:data:`WRITTEN_IN_PLACE`), of one strategy or of ``n_strategy`` strategies
        stacked, in their output precision (float32 where :data:`SINGLE_PRECISION` lists
        them)."""
        stacked = () if n_strategy is None else (n_strategy,)
        sizes = {
            "method": len(METHODS),
            "city": self.inputs.cities.sizes["city"],
            "province": len(self.grid_year.provinces),
            "source": len(SOURCES),
            "time": len(self.time),
        }
        return {
            name: np.empty(
                stacked + tuple(sizes[dim] for dim in dims), _output_dtype(name, np.float64)
            )
            for name, dims in WRITTEN_IN_PLACE.items()
        }

    def strategy_pieces(
        self, strategy: str, out: dict[str, np.ndarray] | None = None
    ) -> dict[str, xr.DataArray]:
        """The output variables of one strategy without labels (:func:`simulate_year`
        stacks them, :meth:`strategy` assembles them); those of :data:`WRITTEN_IN_PLACE`
        in their output precision, the others at the precision they were computed in.

        ``out`` (:meth:`output_arrays` of one strategy, or one strategy's rows of the
        stacked arrays) is where the stages write those variables (the charging load and
        draw by :func:`hourlysim.accounting.ev_grid_draw_by_province`; the generation,
        marginal source shares and five province-hour results by
        :meth:`hourlysim.grid.GridYear.simulate`; the hourly EV emissions by
        :func:`hourlysim.accounting.account`): the caller's output, so that they are
        written once, in their output precision, and never copied. New arrays when
        absent."""
        inputs, cities = self.inputs, self.inputs.cities
        city_province = cities["city_province"]
        out = self.output_arrays() if out is None else out
        draw, by_province, stored_load, stored_draw = ev_grid_draw_by_province(
            self.charging(strategy),
            self.parameter("td_loss_fraction"),
            city_province,
            out=(out["charging_load"], out["ev_grid_draw"]),
        )
        # traced by the accounting; its variables in out written there (see simulate)
        grid = self.grid_year.simulate(
            by_province, trace=False, out={name: out[name] for name in OUT_COPIES + OUT_RESULTS}
        )
        accounting = account(
            draw,
            None,
            grid,
            self.base_grid,
            inputs,
            self.overrides,
            city_weight=self.city_weight,
            counterfactual=self.counterfactual,
            out=out["ev_emissions"],
            draw_by_province=by_province,
        )
        indicators = city_indicators(
            accounting,
            self.ev_fleet,
            cities["population"],
            gdp_per_capita=cities["gdp_per_capita"],
            province=city_province,
            grid_region=self.city_region,
        )
        # the copies of generation and marginal shares, labelled as the grid's variables
        stored_grid = {name: grid[name].copy(data=out[name]) for name in OUT_COPIES}
        return _strategy_pieces(stored_load, stored_draw, grid, accounting, indicators, stored_grid)

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
        tables = []
        if "city" in data.dims:
            tables.append(("city", cities, {name: name for name in names}))
        if "province" in data.dims:
            provinces = self.inputs.provinces.reset_coords()
            tables.append(
                ("province", provinces, {"grid_region": "grid_region", "province_name": "name_en"})
            )
        return annotate(with_labels(data, tables))


def with_labels(data: xr.Dataset, tables) -> xr.Dataset:
    """``data`` with labels from tables along its dimensions, assigned at once.

    Parameters
    ----------
    data : xr.Dataset
        Dataset to label.
    tables : sequence of (dim, xr.Dataset, dict)
        For a dimension of ``data``: a table indexed along it, and the labels to take
        from it (``{label: the table's variable}``).

    Returns
    -------
    xr.Dataset
        ``data.assign_coords`` of the labels' DataArrays: the labels, the table's
        coordinates on the dimension (which each DataArray carries along, and which come
        first) and the table's attributes of the dimension's index. Where a table lists
        the same labels in the same order as ``data``, the same dataset is made from the
        table's Variables, without aligning them (aligning 11 DataArrays cost more than
        the rest of the labelling).
    """
    labels, index_attrs = {}, {}
    for dim, table, wanted in tables:
        if not table.indexes[dim].equals(data.indexes[dim]):
            labels.update({label: table[name] for label, name in wanted.items()})
            continue
        variables = table.variables
        carried = [
            name for name in table.coords if name != dim and set(variables[name].dims) <= {dim}
        ]
        labels.update({name: variables[name] for name in carried})
        labels.update(
            {label: variables[name] for label, name in wanted.items() if label not in labels}
        )
        index_attrs[dim] = variables[dim].attrs
    if not labels:
        return data
    labelled = data.assign_coords(labels)
    for dim, attrs in index_attrs.items():
        labelled.variables[dim].attrs.update(attrs)  # the new dataset's own copy of the index
    return labelled


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
    stacked = stack_strategies(context, list(scenario.strategies), tell)
    common = context._common_variables()
    # both parts hold the same year's labels: put side by side without aligning (checked
    # alike on shared dimensions), then labelled and annotated once
    parts = [(part, part.indexes) for part in (stacked, common)]
    return context._label(
        _without_alignment(
            (name, part.variables[name], indexes)
            for part, indexes in parts
            for name in part.data_vars
        )
    )


def stack_strategies(
    context: YearContext, strategies: list[str], tell: Progress | None = None
) -> xr.Dataset:
    """Every strategy's outputs, stacked along a ``strategy`` dimension (unlabelled).

    The first strategy fixes each variable's dims, labels, dtype and attributes; every
    strategy is then cast straight into its row of one preallocated array per variable
    (float32 for :data:`SINGLE_PRECISION`), so no per-strategy copy is made or kept.

    Raises
    ------
    ValueError
        If a strategy lays a variable out unlike the first (other dims or labels).
    """
    tell = tell or (lambda message: None)
    stacked: dict[str, tuple] = {}
    layout = None
    # the stages write each strategy's WRITTEN_IN_PLACE outputs straight into its rows
    written = context.output_arrays(len(strategies))
    for position, strategy in enumerate(strategies):
        pieces = context.strategy_pieces(
            strategy, {name: values[position] for name, values in written.items()}
        )
        if layout is None:
            layout = assemble(pieces)
            # the first strategy's dims of each variable; its labels are the layout's
            first = {name: layout.variables[name].dims for name in pieces}
            for name, piece in pieces.items():
                values = written.get(name)
                if values is None:
                    values = np.empty(
                        (len(strategies), *piece.shape), _output_dtype(name, piece.dtype)
                    )
                stacked[name] = (("strategy", *piece.dims), values, piece.attrs)
        for name, piece in pieces.items():
            _check_like(first[name], layout, piece, name, strategy)
            row = stacked[name][1][position]
            if not _same_memory(piece.values, row):
                row[...] = piece.values
        del pieces
        tell(f"{context.year}: {strategy}")
    return xr.Dataset(
        stacked,
        coords={**{dim: layout.indexes[dim] for dim in layout.dims}, "strategy": strategies},
    )


def _same_memory(first: np.ndarray, second: np.ndarray) -> bool:
    """Whether two arrays are views of the same memory with the same layout."""
    return (
        first.shape == second.shape
        and first.dtype == second.dtype
        and first.strides == second.strides
        and first.__array_interface__["data"][0] == second.__array_interface__["data"][0]
    )


def _check_like(
    dims: tuple, layout: xr.Dataset, piece: xr.DataArray, name: str, strategy: str
) -> None:
    """Refuse a strategy's variable whose dims or labels differ from the first strategy's
    (stacking by position must not mix up cities or hours): ``dims`` are that variable's
    dims in the first strategy, whose labels are those of ``layout`` (:func:`assemble`)."""
    # get_index, not .indexes: building the Indexes mapping costs more than the comparison
    if piece.dims != dims or any(
        not piece.get_index(dim).equals(layout.get_index(dim)) for dim in piece.dims
    ):
        raise ValueError(f"'{name}' of strategy {strategy} is laid out unlike the first's")


#: outputs that a strategy's stages write straight into the caller's arrays
#: (:meth:`YearContext.output_arrays`), with their dimensions
WRITTEN_IN_PLACE = {
    "ev_emissions": ("method", "city", "time"),
    "charging_load": ("city", "time"),
    "ev_grid_draw": ("city", "time"),
    **dict.fromkeys(OUT_COPIES, ("province", "source", "time")),
    **dict.fromkeys(OUT_RESULTS, ("province", "time")),
}

#: output variables stored in single precision (the large hourly arrays; the engine computes
#: in float64 and every sum over hours is taken before this cast)
SINGLE_PRECISION = frozenset(
    {"charging_load", "ev_grid_draw", "ev_emissions", "generation", "marginal_source_share", "flow"}
)


def _output_dtype(name: str, computed: np.dtype) -> np.dtype:
    """The dtype a variable is stored in: float32 for :data:`SINGLE_PRECISION`, else the
    dtype it was computed in."""
    return np.dtype(np.float32) if name in SINGLE_PRECISION else np.dtype(computed)


def _single_precision(pieces: dict[str, xr.DataArray]) -> dict[str, xr.DataArray]:
    """``pieces`` with the :data:`SINGLE_PRECISION` variables cast to float32."""
    return {
        name: piece.astype(np.float32, keep_attrs=True, copy=False)
        if name in SINGLE_PRECISION
        else piece
        for name, piece in pieces.items()
    }


def _strategy_pieces(load, draw, grid, accounting, indicators, stored_grid) -> dict:
    # the grid with EVs is traced once, by the accounting (its supply shares give that
    # grid's consumption intensity and import fractions): it is simulated without tracing
    traced = ("consumption_intensity", "import_fraction")

    def hourly(name):
        if name in traced:
            return accounting[name]
        # the variables the grid also wrote to the caller's arrays come from there
        return stored_grid[name] if name in stored_grid else grid[name]

    hourly_grid = {
        name: hourly(name)
        for name in (
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
        )
    }
    pieces = {
        "charging_load": load,
        "ev_grid_draw": draw,
        "ev_emissions": accounting["ev_emissions"],
        "import_share": accounting["import_share"],
        "ev_caused_emissions": accounting["ev_caused_emissions"],
        "burden_province": accounting["burden_province"],
        "emissions_in_poorer_cities": accounting["emissions_in_poorer_cities"],
        "carbon_class": accounting["carbon_class"],
        **hourly_grid,
        **indicators.data_vars,
    }
    return pieces


def assemble(pieces: dict[str, xr.DataArray]) -> xr.Dataset:
    """One dataset of ``pieces`` on their dimension coordinates, without realignment.

    Labels that are not dimension coordinates (names, regions) are dropped: they are attached
    once, at the end. Every piece must carry the same labels on a shared dimension (checked,
    so a piece in another city order fails here instead of being silently reindexed).

    Raises
    ------
    ValueError
        If two pieces label one dimension differently.
    """
    return _without_alignment(
        (name, piece.variable, piece.indexes) for name, piece in pieces.items()
    )


def _without_alignment(entries) -> xr.Dataset:
    """One dataset of ``(name, variable, indexes)`` entries, on the entries' dimension
    coordinates, without realignment: every entry must carry the same labels on a shared
    dimension, and each name come once (both checked; see :func:`assemble`)."""
    indexes: dict[str, tuple[str, pd.Index]] = {}
    variables: dict[str, xr.Variable] = {}
    for name, variable, own in entries:
        if name in variables:
            raise ValueError(f"two pieces are named '{name}'")
        variables[name] = variable
        for dim, index in own.items():
            if dim not in indexes:
                indexes[dim] = (name, index)
            elif not index.equals(indexes[dim][1]):
                raise ValueError(
                    f"'{name}' and '{indexes[dim][0]}' label dimension '{dim}' differently"
                )
    return xr.Dataset(variables, coords={dim: index for dim, (_, index) in indexes.items()})


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


_VARIABLE_CACHE = (0, 1, 1.0)
_ONE_PER_CHUNK = {"year", "strategy", "method", "segment"}
_CITY_BLOCK = 64


def _encoding(dataset: xr.Dataset, compress: bool = True) -> dict:
    """zlib (unless ``compress`` is False), float32 for large float64 arrays, and chunks of
    (one year, strategy, method or segment) x (a block of 64 cities) x (the full length of
    every other dimension)."""
    encoding = {}
    for name, data in dataset.data_vars.items():
        spec = {"zlib": compress, "complevel": 1}
        if data.dtype == np.float64 and data.size > 1_000_000:
            spec["dtype"] = "float32"
        if data.ndim:
            spec["chunksizes"] = tuple(
                1 if d in _ONE_PER_CHUNK else min(_CITY_BLOCK, n) if d == "city" else n
                for d, n in data.sizes.items()
            )
        encoding[name] = spec
    return encoding


#: HDF5 (under netCDF4) is not thread-safe: one netCDF file operation at a time per process,
#: so that threaded dask workers (several tasks in one process) never write concurrently
_NETCDF_LOCK = threading.RLock()


@contextmanager
def _atomic(path: Path):
    """Yield a temporary path beside ``path``; rename it to ``path`` only on success.

    Holds the process's netCDF lock throughout (HDF5 is not thread-safe).

    Meanwhile the HDF5 chunk cache is kept to 1 MB per variable (netCDF's default, 64 MB per
    variable and kept until the file closes, adds up to gigabytes over a cube's variables;
    every write here is of whole chunks, so the cache only holds memory).
    """
    path = Path(path)
    with _NETCDF_LOCK:
        yield from _atomic_locked(path)


def _atomic_locked(path: Path):
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


def write_netcdf(dataset: xr.Dataset, path: Path, compress: bool = True) -> Path:
    """Write a dataset to NetCDF4 atomically (temporary file in the same folder + rename);
    zlib-compressed unless ``compress`` is False."""
    with _atomic(path) as temporary:
        dataset.to_netcdf(temporary, engine="netcdf4", encoding=_encoding(dataset, compress))
    return Path(path)


class UnfinishedRun(RuntimeError):
    """Parts of an earlier, unfinished run are on disk and neither resume nor fresh was asked."""


class TaskFailed(RuntimeError):
    """A (scenario, year, strategy) task failed for good (after its retries)."""


@dataclass(frozen=True)
class Task:
    """One unit of work: the strategy-independent part (``common``) or one strategy of a
    scenario-year, written to its own part file.

    Attributes
    ----------
    scenario : Scenario
        The (member) scenario.
    year : int
        Model year.
    part : str
        ``common`` or a strategy name.
    path : Path
        Part file to write.
    attrs : dict
        Provenance attributes written to the part (and checked on resume).
    """

    scenario: Scenario
    year: int
    part: str
    path: Path
    attrs: dict

    def describe(self) -> str:
        what = "strategy-independent part" if self.part == "common" else f"strategy {self.part}"
        return f"scenario {self.scenario.name}, year {self.year}, {what}"


def _provenance(scenario: Scenario, inputs: InputSet, weather_year: int) -> dict:
    attrs = {
        "Conventions": "CF-1.8",
        "title": f"hourlysim results for scenario {scenario.name}",
        "source": f"hourlysim {__version__}",
        "hourlysim_version": __version__,
        "scenario": scenario.name,
        "scenario_file": str(scenario.source_file or ""),
        "scenario_sha256": scenario.source_hash,
        "inputs": str(inputs.path),
        "inputs_sha256": inputs.digest,
        "weather_year": np.int32(weather_year),
        "demand_shape_year": np.int32(_demand_shape_year(inputs)),
        "grid_exchange": scenario.grid_exchange,
        "carbon_signal": scenario.carbon_signal,
        "resolution": scenario.resolution,
        "time_convention": "local time (UTC+8); Feb 29 dropped in leap years",
        "scenario_fields": json.dumps(scenario.record(), sort_keys=True),
    }
    pathway = scenario.grid_pathway
    if pathway is not None and pathway.demand == "projection":
        attrs["demand_projection_sha256"] = projection_digest(inputs)
    if scenario.member_of is not None:
        attrs["sweep_of"] = scenario.member_of
        attrs["sweep_parameters"] = json.dumps(scenario.member_parameters, sort_keys=True)
    return attrs


def _demand_shape_year(inputs: InputSet) -> int:
    from .pathway import shipped_years

    return shipped_years(Path(inputs.path)).get("demand_shape", -1)


#: attributes that must match for a part on disk to be reused
_RESUME_KEYS = (
    "source",
    "scenario",
    "scenario_sha256",
    "scenario_fields",
    "inputs_sha256",
    "demand_projection_sha256",
    "weather_year",
    "sweep_parameters",
)


def plan(scenario: Scenario) -> list[Task]:
    """The tasks of a scenario (every sweep member, year and part), in a fixed order.

    Also checks the scenario against its input set (parameter names, weather year, per-city
    EV shares, pathway years) so a batch fails before it starts.
    """
    tasks = []
    loaded: dict[Path, InputSet] = {}  # sweep members usually share one input folder
    for member in expand_sweep(scenario):
        if member.inputs not in loaded:
            loaded[member.inputs] = load_inputs(member.inputs)
        full = loaded[member.inputs]
        check_scenario(full, member)
        inputs = select_cities(full, member)
        _check_overrides(inputs, member)
        attrs = _provenance(member, inputs, check_weather_year(member))
        parts = _parts_folder(Path(member.output))
        for year in member.years:
            for part in ("common", *member.strategies):
                tasks.append(Task(member, year, part, parts / f"{year}_{part}.nc", attrs))
    return tasks


def _parts_folder(output: Path) -> Path:
    return output.with_name(output.name + ".parts")


def _run_task(task: Task) -> Path:
    """Compute one task and write its part file (runs on a worker, or in this process)."""
    import dask

    keep_freed_memory()  # once per process: see hourlysim.allocator
    scenario = task.scenario
    # no nested scheduling inside a task: its dask arrays (city chunks of the demand stage)
    # and xarray's choice of write lock use this thread only, never a client of the cluster
    with dask.config.set(scheduler="synchronous"):
        context = _year_context(task)
        data = context.common() if task.part == "common" else context.strategy(task.part)
        data = aggregate(_select(data, scenario), scenario.resolution)
        data = data.expand_dims(year=[task.year])
        data.attrs.update(task.attrs, created=_now())
        # a part is written once and read once by the merge, which compresses the output:
        # zlib here would cost ~1.8 s per hourly strategy-year (0.13 s uncompressed), for
        # parts about 2x smaller on disk
        write_netcdf(data, task.path, compress=False)
    return task.path


_CACHE: dict[int, dict] = {}  # per worker thread: the inputs and the scenario-year context
_CACHE_LOCK = threading.Lock()


def _year_context(task: Task) -> YearContext:
    """The task's scenario-year context, reused by the next task of the same scenario-year
    on this worker thread (one context held per thread; :func:`forget_contexts` frees it)."""
    with _CACHE_LOCK:
        cache = _CACHE.setdefault(threading.get_ident(), {})
    key = (task.attrs["scenario_fields"], task.attrs["inputs_sha256"], task.year)
    cached = cache.get("context")
    if cached is not None and cached[0] == key:
        return cached[1]
    cache.pop("context", None)  # free the previous year before building the next
    where = (str(task.scenario.inputs), task.scenario.cities)
    inputs = cache.get("inputs")
    if inputs is None or inputs[0] != where:
        inputs = (where, select_cities(load_inputs(task.scenario.inputs), task.scenario))
        cache["inputs"] = inputs
    if inputs[1].digest != task.attrs["inputs_sha256"]:
        raise InputError(
            "the input set changed while the batch ran", file=str(task.scenario.inputs)
        )
    context = YearContext(inputs[1], task.scenario, task.year, lambda message: None)
    cache["context"] = (key, context)
    return context


def forget_contexts() -> None:
    """Free the scenario-year contexts and inputs held for reuse (in this process)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _select(data: xr.Dataset, scenario: Scenario) -> xr.Dataset:
    """Keep the scenario's output variables and accounting methods."""
    if scenario.variables is not None:
        data = data[[name for name in data.data_vars if name in scenario.variables]]
    if scenario.methods is not None and "method" in data.dims:
        missing = sorted(set(scenario.methods) - set(data["method"].values.tolist()))
        if missing:
            raise InputError(
                f"accounting method(s) {missing} are not computed by this version; "
                f"available: {data['method'].values.tolist()}",
                file=str(scenario.source_file),
                column="methods",
            )
        data = data.sel(method=list(scenario.methods))
    return data


def run(
    scenario: Scenario,
    progress: Progress | None = None,
    *,
    scheduler: str | None = "serial",
    workers: int | None = None,
    client=None,
    resume: bool = False,
    fresh: bool = False,
    retries: int = 1,
) -> Path | list[Path]:
    """Run every year and strategy of a scenario (every member of a sweep) and write it.

    Each (year, strategy) task and each year's strategy-independent part is written to its
    own part file in ``<output>.parts/`` as soon as it is computed, so a worker holds one
    scenario-year and one task at a time and an interrupted run resumes from the parts
    already on disk. When a scenario's (or sweep member's) tasks are all done, its parts are
    streamed into its output file, written atomically, and the parts are removed.

    Parameters
    ----------
    scenario : Scenario
        Validated scenario.
    progress : callable, optional
        Called with a short message after each task (and each file written).
    scheduler : str, optional
        ``serial`` (this process, no dask cluster; the default here), ``local`` (a
        dask.distributed LocalCluster of ``workers`` processes, one thread each; default:
        one per core, at most one per task) or the address of a running distributed
        scheduler (``tcp://host:8786``).
    workers : int, optional
        Worker processes of the ``local`` cluster.
    client : distributed.Client, optional
        Run on this client's cluster (overrides ``scheduler``).
    resume : bool
        Reuse the parts of an earlier, unfinished run (parts of another scenario file,
        input set or package version are recomputed).
    fresh : bool
        Delete the parts of an earlier run and start over.
    retries : int
        Times a failing task is retried before the batch fails.

    Returns
    -------
    Path or list of Path
        The NetCDF file written, or one per member for a sweep.

    Raises
    ------
    UnfinishedRun
        Parts of an earlier run exist and neither ``resume`` nor ``fresh`` is set.
    TaskFailed
        A task failed for good; the message names its scenario, year and strategy.
    """
    if resume and fresh:
        raise ValueError("resume and fresh exclude each other")
    tell = progress or (lambda message: None)
    tasks = plan(scenario)
    by_output: dict[Path, list[Task]] = {}
    for task in tasks:
        by_output.setdefault(Path(task.scenario.output), []).append(task)
    todo = _prepare_parts(by_output, resume=resume, fresh=fresh, tell=tell)
    written = []

    def finished(task: Task) -> None:
        remaining[Path(task.scenario.output)] -= 1
        tell(f"{task.scenario.name} {task.year} {task.part}")
        if remaining[Path(task.scenario.output)] == 0:
            written.append(_finish(by_output[Path(task.scenario.output)], tell))

    remaining = {output: 0 for output in by_output}
    for task in todo:
        remaining[Path(task.scenario.output)] += 1
    for output, count in remaining.items():
        if count == 0:
            written.append(_finish(by_output[output], tell))
    if todo:
        if client is None and scheduler == "serial":
            _run_serial(todo, finished, retries)
        else:
            _run_distributed(todo, finished, retries, client, scheduler, workers)
    order = list(by_output)
    written.sort(key=order.index)
    return written if scenario.sweep else written[0]


def _prepare_parts(by_output, *, resume: bool, fresh: bool, tell: Progress) -> list[Task]:
    """Decide which tasks to compute, given the parts already on disk."""
    todo = []
    for output, tasks in by_output.items():
        parts = _parts_folder(output)
        found = sorted(parts.glob("*.nc")) if parts.is_dir() else []
        if found and not (resume or fresh):
            raise UnfinishedRun(
                f"{parts} holds {len(found)} part file(s) of an earlier, unfinished run: "
                "pass --resume to continue it (resume=True) or --fresh to start over "
                "(fresh=True)"
            )
        if fresh and parts.is_dir():
            shutil.rmtree(parts)
        parts.mkdir(parents=True, exist_ok=True)
        for task in tasks:
            if resume and _same_run(task.path, task.attrs):
                logger.info("%s already on disk: resuming", task.describe())
                tell(f"{task.scenario.name} {task.year} {task.part} (on disk)")
            else:
                todo.append(task)
    return todo


def _finish(tasks: list[Task], tell: Progress) -> Path:
    output = Path(tasks[0].scenario.output)
    part_files: dict[int, dict[str, Path]] = {}
    for task in tasks:
        part_files.setdefault(task.year, {})[task.part] = task.path
    _merge(part_files, output)
    shutil.rmtree(_parts_folder(output))
    tell(f"written {output}")
    return output


def _failure(task: Task, error: BaseException) -> BaseException:
    if isinstance(error, InputError):
        return error
    return TaskFailed(f"task failed for good: {task.describe()}: {error!r}")


def _run_serial(tasks: list[Task], finished, retries: int) -> None:
    try:
        for task in tasks:
            for attempt in range(retries + 1):
                try:
                    _run_task(task)
                    break
                except Exception as error:
                    if attempt == retries or isinstance(error, InputError):
                        raise _failure(task, error) from error
                    logger.warning("%s failed (%r); retrying", task.describe(), error)
            finished(task)
    finally:
        forget_contexts()


def _run_distributed(tasks, finished, retries, client, scheduler, workers) -> None:
    from distributed import Client, LocalCluster, as_completed

    own = []
    try:
        if client is None:
            if scheduler in (None, "local"):
                count = min(workers or os.cpu_count() or 1, len(tasks))
                cluster = LocalCluster(
                    n_workers=count,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",
                )
                own.append(cluster)
                client = Client(cluster)
            else:
                client = Client(scheduler)
            own.insert(0, client)
        token = uuid.uuid4().hex[:8]
        futures = {
            client.submit(
                _run_task,
                task,
                key=f"hourlysim-{task.scenario.name}-{task.year}-{task.part}-{token}",
                retries=retries,
                pure=False,
            ): task
            for task in tasks
        }
        try:
            for future in as_completed(futures):
                task = futures[future]
                if future.status != "finished":
                    error = future.exception()
                    client.cancel(list(futures))
                    raise _failure(task, error) from error
                future.release()
                finished(task)
        except BaseException:
            client.cancel(list(futures))
            raise
        finally:
            with suppress(Exception):  # a broken client must not hide the first error
                client.run(forget_contexts)
    finally:
        for resource in own:
            resource.close()


def _same_run(part: Path, attrs: dict) -> bool:
    if not part.is_file():
        return False
    try:
        with _NETCDF_LOCK, xr.open_dataset(part) as existing:
            return all(
                str(existing.attrs.get(k)) == str(attrs[k]) for k in _RESUME_KEYS if k in attrs
            ) and all(k in attrs for k in _RESUME_KEYS if k in existing.attrs)
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
            strategies = [d.drop_vars("strategy", errors="ignore") for d in strategies]
            labels = pd.Index(names, name="strategy", dtype=object)
            if strategies[0].data_vars:
                joined = xr.concat(
                    strategies,
                    dim=labels,
                    data_vars="minimal",
                    coords="minimal",
                    compat="override",
                )
            else:  # the scenario's variables are all strategy-independent
                joined = xr.Dataset(coords={"strategy": labels})
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
        # the parts carry units, long names and the table's dimension order already
        # (annotate() would refuse aggregated variables, which have lost their time dim)
        layout.attrs = {**opened[0].attrs, "created": _now()}
        with _atomic(output) as temporary:
            # coordinates and attributes through xarray (CF encoding), then the data
            # variables defined empty and filled part by part: memory holds one part variable
            layout.drop_vars(list(layout.data_vars)).to_netcdf(temporary, engine="netcdf4")
            with netCDF4.Dataset(temporary, "r+") as target:
                _define_variables(target, layout)
                # close the lazily opened parts before reading their data: xarray shares
                # one netCDF handle per file, and an open handle keeps every chunk read in
                # its per-variable HDF5 chunk caches (about one part's data per part)
                for dataset in opened:
                    dataset.close()
                opened.clear()
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
        if _VARIABLE_CACHE is not None:
            variable.set_var_chunk_cache(*_VARIABLE_CACHE)


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
