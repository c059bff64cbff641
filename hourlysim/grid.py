"""Stage 3: provincial dispatch, transfers and carbon intensities (xarray layer).

Per province-hour: must-run nuclear (flat at its utilisation hours) and biomass (flat, a
share of the province's annual demand), run-of-river hydro (a share of each month's hydro
energy, flat within the month), the coal CHP floor in the heating season and the gas
must-run floor (a fraction of gas capacity, every hour); then wind and solar (capacity x
capacity factor, the surplus curtailed); then dispatchable hydro, whose monthly energy
budget is shifted toward the hours of highest residual load
(:func:`hourlysim._kernels.dispatch.schedule_hydro`); then coal and gas above their floors
in merit order of their cost parameters. Unserved demand is reported, never hidden.

:func:`simulate_grid` is :func:`prepare_grid` (everything that does not depend on the EV
draw, once a year) followed by :meth:`GridYear.simulate` (one EV draw, or none).

Exchange between provinces, ``exchange=``:

``"scheduled"``
    every corridor carries its scheduled annual energy evenly over the hours, reduced where
    a receiver cannot absorb it (imports never curtail the receiver's own must-run, wind and
    solar) or a sender has no capacity left after its own load.
``"pool"``
    the provinces of one regional grid (provinces.csv ``grid_region``) dispatch jointly
    through a regional hub (node ``hub_<region>``): one stack position for every member
    whose hub link does not bind, the link capacities of ``hub_links.csv`` respected. The
    corridors inside a region carry nothing (their capacity is part of the hub links); the
    inter-regional corridors stay scheduled. An exporter's generation then follows the
    importers' load. Hub links are extra entries of the ``corridor`` dimension (one per
    direction), so ``flow`` and the flow tracing see every exchange.

Marginal source: the source serving the next increment of a province's load. In pool mode a
free member's increment is served by the pool (the marginal segment of all free members);
a member whose hub link binds is served locally. Wind and solar curtailed at the margin are
reported as shares of both (pro rata to their availability), each at its own rate (zero).
In a shortage hour the last source running (the one a decrement would relieve) is reported.
``marginal_intensity`` is the share-weighted rate; the shares only mix sources where the
increment really is mixed (wind and solar curtailed together), so the weighting is a real
increment's rate.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from ._kernels.dispatch import (
    COAL,
    GAS,
    N_SOURCES,
    SOLAR,
    WIND,
    dispatch,
    dispatch_summary,
    hydro_residual,
    merit_order_kernel,
    net_imports,
    schedule_hydro,
)
from ._kernels.tracing import consumption_intensity
from .errors import InputError
from .flow_tracing import trace_flows  # noqa: F401  (public: hourlysim.grid.trace_flows)
from .inputs import InputSet
from .timeaxis import HOURS_PER_YEAR

logger = logging.getLogger(__name__)

SOURCES = ("coal", "gas", "hydro", "nuclear", "wind", "solar", "biomass")
EXCHANGES = ("scheduled", "pool")
#: unserved or surplus energy above this share of a province's annual load is reported
REPORT_SHARE = 1e-3
assert len(SOURCES) == N_SOURCES
assert (SOURCES.index("wind"), SOURCES.index("solar")) == (WIND, SOLAR)  # the kernels' order


def merit_order(
    net_load: np.ndarray, capacity: np.ndarray, cost: np.ndarray, emission_rate: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Dispatch sources in order of cost for every hour of one node.

    Parameters
    ----------
    net_load : ndarray (hours,)
        Load left after must-run and variable sources [MWh]; <= 0 dispatches nothing.
    capacity : ndarray (hours, sources) or (sources,)
        Energy each source can deliver in each hour [MWh].
    cost : ndarray (sources,)
        Cost of each source [currency MWh-1]. Ties are broken by the lower emission rate,
        then the lower source index, so emissions are defined under ties.
    emission_rate : ndarray (sources,)
        Emission rate of each source [kg CO2 MWh-1].

    Returns
    -------
    dispatch : ndarray (hours, sources)
        Energy dispatched [MWh]; demand beyond the total capacity is left unserved.
    marginal : ndarray of int64 (hours,)
        Index of the source that serves the next increment of load (the partly loaded
        source, or, when the load ends exactly at a source's cap, the next source with
        capacity). -1 where ``net_load <= 0`` (no dispatchable source is at the margin) or
        where every source is at its cap (shortage).
    """
    net_load = np.ascontiguousarray(net_load, dtype=float)
    cost = np.ascontiguousarray(cost, dtype=float)
    emission_rate = np.ascontiguousarray(emission_rate, dtype=float)
    capacity = np.asarray(capacity, dtype=float)
    if net_load.ndim != 1:
        raise ValueError(f"net_load must be 1-D (hours,), got shape {net_load.shape}")
    if capacity.ndim == 1:
        capacity = np.broadcast_to(capacity, (net_load.size, capacity.size))
    if capacity.shape != (net_load.size, cost.size) or emission_rate.shape != cost.shape:
        raise ValueError(
            f"shapes disagree: net_load {net_load.shape}, capacity {capacity.shape}, "
            f"cost {cost.shape}, emission_rate {emission_rate.shape}"
        )
    if np.isnan(net_load).any() or np.isnan(capacity).any() or np.isnan(cost).any():
        raise ValueError("NaN in net_load, capacity or cost")
    return merit_order_kernel(net_load, np.ascontiguousarray(capacity), cost, emission_rate)


def emission_rates(inputs: InputSet, overrides: dict | None = None) -> xr.DataArray:
    """Direct emission rate of each source [kg CO2 MWh-1]."""
    values = [inputs.parameter(f"emission_rate_{s}", overrides) for s in SOURCES]
    return xr.DataArray(
        values,
        dims="source",
        coords={"source": list(SOURCES)},
        attrs={"units": "kg MWh-1", "long_name": "direct CO2 emission rate"},
    )


def base_demand(inputs: InputSet, time: pd.DatetimeIndex) -> xr.DataArray:
    """Provincial demand without EVs: the hourly shape scaled to the annual demand [MWh]."""
    data = xr.DataArray(
        _base_demand(inputs),
        dims=("province", "time"),
        coords={"province": inputs.provinces["province"].values, "time": time},
        name="demand",
    )
    data.attrs["units"] = "MWh"
    return data


def _base_demand(inputs: InputSet) -> np.ndarray:
    shape = inputs.hourly["demand_shape"].transpose("province", "hour").values
    annual = inputs.provinces["annual_demand"].values.astype(float)
    return shape / shape.sum(axis=1, keepdims=True) * annual[:, None]


def variable_renewables(
    inputs: InputSet, time: pd.DatetimeIndex, parameters: dict | None = None
) -> xr.Dataset:
    """Available wind and solar energy per province-hour [MWh]."""
    wind, solar = _renewables(inputs, parameters)
    coords = {"province": inputs.provinces["province"].values, "time": time}
    dims = ("province", "time")
    return xr.Dataset(
        {
            "wind": xr.DataArray(wind, dims=dims, coords=coords, attrs={"units": "MWh"}),
            "solar": xr.DataArray(solar, dims=dims, coords=coords, attrs={"units": "MWh"}),
        }
    )


def _renewables(inputs: InputSet, overrides: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Wind and solar [MWh]: capacity x capacity factor x its calibration scale, capped at 1.

    The scales (parameters ``wind_capacity_factor_scale``, ``solar_capacity_factor_scale``,
    1 where absent) bring the national full-load hours to published figures; a capacity
    factor times its scale is capped at 1 (no plant runs above its capacity).
    """
    overrides = overrides or {}
    capacity = inputs.provinces["capacity"]
    hourly = inputs.hourly
    scale = {
        "wind": inputs.parameter("wind_capacity_factor_scale", overrides, 1.0),
        "solar": inputs.parameter("solar_capacity_factor_scale", overrides, 1.0),
    }
    if min(scale.values()) < 0:
        raise InputError("capacity factor scales must be >= 0", file="parameters.csv")

    def cf(name, kind):
        values = hourly[name].transpose("province", "hour").values
        return values if scale[kind] == 1.0 else np.minimum(values * scale[kind], 1.0)

    def cap(name):
        return capacity.sel(capacity_source=name).values.astype(float)[:, None]

    wind = cap("wind_onshore") * cf("cf_wind_onshore", "wind") + cap("wind_offshore") * cf(
        "cf_wind_offshore", "wind"
    )
    return wind, cap("solar") * cf("cf_solar", "solar")


def hydro_monthly_shape(inputs: InputSet, overrides: dict | None = None) -> np.ndarray:
    """Share of the annual hydro energy in each month [1] (12 values summing to 1).

    Read from parameters ``hydro_share_month_01`` .. ``_12`` where present (the shipped
    set: an ASSUMPTION, flat by days in the month, for want of a monthly source); flat by
    days in the month where absent. Shares are normalised to sum to 1.
    """
    overrides = overrides or {}
    days = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], float)
    shape = days / days.sum()
    names = [f"hydro_share_month_{m:02d}" for m in range(1, 13)]
    present = [n in overrides or n in inputs.parameters for n in names]
    if any(present):
        if not all(present):
            raise InputError(
                "either all or none of hydro_share_month_01..12 must be given",
                file="parameters.csv",
                column="name",
            )
        shape = np.array([inputs.parameter(n, overrides) for n in names])
        if (shape < 0).any() or shape.sum() <= 0:
            raise InputError(
                "hydro_share_month_* must be >= 0 with a positive sum",
                file="parameters.csv",
                column="value",
            )
        shape = shape / shape.sum()
    return shape


def _fraction(name: str, value: float, one: bool = False) -> float:
    """``value`` if it lies in [0, 1) (in [0, 1] with ``one``); else an InputError naming
    the parameter and parameters.csv."""
    if not (0.0 <= value <= 1.0 if one else 0.0 <= value < 1.0):
        interval = "[0, 1]" if one else "[0, 1)"
        raise InputError(f"{name} must be in {interval}, got {value}", file="parameters.csv")
    return value


def _months(time: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """Month (0..11) of each hour and the first hour of each month (13 entries)."""
    month = np.asarray(time.month, dtype=np.int64) - 1
    if (np.diff(month) < 0).any():
        raise ValueError("time must be in chronological order within one year")
    return month, np.searchsorted(month, np.arange(13)).astype(np.int64)


def simulate_grid(
    inputs: InputSet,
    time: pd.DatetimeIndex,
    ev_grid_draw: xr.DataArray | None = None,
    parameters: dict | None = None,
    exchange: str = "pool",
) -> xr.Dataset:
    """Dispatch every province-hour and compute carbon intensities.

    Parameters
    ----------
    inputs : InputSet
        Validated input set.
    time : pandas.DatetimeIndex
        The model year's 8,760 hours.
    ev_grid_draw : xr.DataArray (province, time), optional
        EV charging energy at generation level (after T&D losses) [MWh].
    parameters : dict, optional
        Overrides of scalar parameters.
    exchange : {"pool", "scheduled"}
        Inter-provincial exchange (see the module docstring). ``"pool"`` is the default: on
        the shipped inputs it matches more provinces' published 2022 factors (22 of 30 within
        15%, against 18 with ``"scheduled"``) and leaves almost no demand unserved (Beijing
        has no AC tie in the scheduled corridor list: 22% unserved there), see
        inputs/build/calibrate_grid.py.

    Returns
    -------
    xr.Dataset
        ``demand``, ``load``, ``generation`` (province, source, time) and its sum over the
        sources ``total_generation``, ``curtailment``, ``unserved``, ``surplus``,
        ``net_import``, ``production_emissions``,
        ``average_intensity``, ``consumption_intensity``, ``marginal_intensity``,
        ``marginal_source_share`` (province, source, time), ``import_fraction``,
        ``tracing_residual`` (time) and ``flow`` (corridor, time) with the ``corridor``
        coordinates ``from_node``, ``to_node`` and ``loss_fraction``.
    """
    return prepare_grid(inputs, time, parameters, exchange).simulate(ev_grid_draw)


def prepare_grid(
    inputs: InputSet,
    time: pd.DatetimeIndex,
    parameters: dict | None = None,
    exchange: str = "pool",
) -> GridYear:
    """Everything :func:`simulate_grid` needs that does not depend on the EV draw, once
    per year: demand, must-run and variable sources, hydro budgets, corridors and hubs,
    emission rates. :meth:`GridYear.simulate` then dispatches with any EV draw, so a
    caller that simulates a year with and without EVs, or under several charging
    strategies, prepares it once.

    Parameters are those of :func:`simulate_grid`.

    Returns
    -------
    GridYear

    Raises
    ------
    ValueError, InputError
        As :func:`simulate_grid`, for the inputs other than the EV draw.
    """
    if exchange not in EXCHANGES:
        raise ValueError(f"exchange must be one of {EXCHANGES}, got {exchange!r}")
    overrides = parameters or {}

    def p(name):
        return inputs.parameter(name, overrides)

    provinces = inputs.provinces
    codes = [str(c) for c in provinces["province"].values]
    n_province = len(codes)
    n_time = len(time)
    if n_time != HOURS_PER_YEAR:
        raise ValueError(f"time must have {HOURS_PER_YEAR} hours, got {n_time}")
    capacity = provinces["capacity"]

    def cap(name):
        return capacity.sel(capacity_source=name).values.astype(float)

    demand = _base_demand(inputs)
    wind, solar = _renewables(inputs, overrides)
    nuclear = np.repeat(
        (cap("nuclear") * (p("nuclear_utilisation_hours") / HOURS_PER_YEAR))[:, None],
        n_time,
        axis=1,
    )
    month, month_start = _months(time)
    start, end = int(p("heating_season_start_month")), int(p("heating_season_end_month"))
    months = month + 1
    heating = (
        (months >= start) | (months <= end) if start > end else (months >= start) & (months <= end)
    )
    chp = cap("coal_chp")[:, None] * (p("coal_chp_min_load_fraction") * heating.astype(float))
    gas_fraction = _fraction("gas_must_run_fraction", p("gas_must_run_fraction"), one=True)
    biomass_share = _fraction("biomass_generation_share", p("biomass_generation_share"))
    gas_must_run = np.repeat((cap("gas") * gas_fraction)[:, None], n_time, axis=1)
    biomass = np.repeat((biomass_share * demand.sum(axis=1) / n_time)[:, None], n_time, axis=1)

    # hydro: monthly energy = capacity x utilisation hours x monthly share; a run-of-river
    # share of it is must-run, flat within the month; the rest is dispatchable
    hydro_capacity = cap("hydro")
    monthly = (
        hydro_capacity[:, None]
        * p("hydro_utilisation_hours")
        * hydro_monthly_shape(inputs, overrides)
    )
    hours_in_month = np.diff(month_start).astype(float)
    ror_share = p("hydro_run_of_river_share")
    run_of_river = (ror_share * monthly / hours_in_month)[:, month]
    hydro_room = np.maximum(hydro_capacity[:, None] - run_of_river, 0.0)

    # corridors: scheduled ones (intra-regional ones idle in pool mode), then hub links
    corridors = inputs.corridors
    index = {code: i for i, code in enumerate(codes)}
    corridor_from = np.array([index[c] for c in corridors["from_province"].values], np.int64)
    corridor_to = np.array([index[c] for c in corridors["to_province"].values], np.int64)
    region = np.array([str(r) for r in provinces["grid_region"].values])
    annual = corridors["annual_energy"].values.astype(float)
    if exchange == "pool":
        annual = np.where(region[corridor_from] == region[corridor_to], 0.0, annual)
    hourly_schedule = annual / HOURS_PER_YEAR
    schedule = np.repeat(hourly_schedule[:, None], n_time, axis=1)
    corridor_loss, hub_loss = (
        np.full(size, _fraction(name, inputs.parameter(name, overrides, 0.0)))
        for name, size in (
            ("corridor_loss_fraction", corridor_from.size),
            ("hub_loss_fraction", n_province),
        )
    )
    if exchange == "pool":
        regions = sorted(set(region))
        pool = np.array([regions.index(r) for r in region], np.int64)
        hub_capacity = _hub_capacity(inputs)
    else:
        regions = []
        pool = np.full(n_province, -1, np.int64)
        hub_capacity = np.zeros(n_province)
    incidence = np.zeros((n_province, corridor_from.size))
    incidence[corridor_from, np.arange(corridor_from.size)] += 1.0
    incidence[corridor_to, np.arange(corridor_from.size)] -= 1.0 - corridor_loss
    nominal_export = incidence @ hourly_schedule

    costs = np.array([p("merit_cost_coal"), p("merit_cost_gas")])
    merit = np.array([COAL, GAS] if costs[0] <= costs[1] else [GAS, COAL], np.int64)

    # every exchange as a corridor between nodes (provinces, then hubs)
    nodes = codes + [f"hub_{r}" for r in regions]
    names = [str(c) for c in corridors["corridor"].values]
    from_node = [codes[i] for i in corridor_from]
    to_node = [codes[i] for i in corridor_to]
    all_from, all_to = list(corridor_from), list(corridor_to)
    loss = list(corridor_loss)
    members = np.flatnonzero(pool >= 0)
    hub_node = n_province + pool[members]
    for direction in ("to", "from"):
        for i, h in zip(members, hub_node, strict=True):
            hub = nodes[h]
            if direction == "to":
                names.append(f"{codes[i]}>{hub}")
                from_node.append(codes[i]), to_node.append(hub)
                all_from.append(i), all_to.append(h)
            else:
                names.append(f"{hub}>{codes[i]}")
                from_node.append(hub), to_node.append(codes[i])
                all_from.append(h), all_to.append(i)
            loss.append(hub_loss[i])
    edge_from = np.array(all_from, np.int64)
    edge_to = np.array(all_to, np.int64)
    edge_loss = np.array(loss, float)
    return GridYear(
        time=time,
        exchange=exchange,
        provinces=codes,
        nodes=nodes,
        demand=demand,
        nuclear=nuclear,
        biomass=biomass,
        run_of_river=run_of_river,
        chp=chp,
        gas_must_run=gas_must_run,
        wind=np.ascontiguousarray(wind),
        solar=np.ascontiguousarray(solar),
        nominal_export=nominal_export,
        hydro_room=hydro_room,
        hydro_budget=(1.0 - ror_share) * monthly,
        month_start=month_start,
        coal_capacity=cap("coal"),
        gas_capacity=cap("gas"),
        merit=merit,
        emission_rate=emission_rates(inputs, overrides).values,
        corridor_from=corridor_from,
        corridor_to=corridor_to,
        schedule=schedule,
        corridor_loss=corridor_loss,
        pool=pool,
        hub_capacity=hub_capacity,
        hub_loss=hub_loss,
        pool_members=members,
        edge_names=names,
        edge_from_node=from_node,
        edge_to_node=to_node,
        edge_from=edge_from,
        edge_to=edge_to,
        edge_loss=edge_loss,
    )


#: the variables of :meth:`GridYear.simulate` whose copies :func:`dispatch_summary` writes
#: into the caller's arrays (its ``out``), in the order of its arguments
OUT_COPIES = ("generation", "marginal_source_share")
#: the (province, time) variables of :meth:`GridYear.simulate` written into the caller's
#: arrays where its ``out`` holds them
OUT_RESULTS = (
    "average_intensity",
    "marginal_intensity",
    "curtailment",
    "net_import",
    "production_emissions",
)

#: units and long names of the variables of :meth:`GridYear.simulate`
_ATTRIBUTES = {
    "demand": {"units": "MWh", "long_name": "provincial demand without EVs"},
    "load": {"units": "MWh", "long_name": "demand served in the province, EVs included"},
    "generation": {"units": "MWh"},
    "total_generation": {"units": "MWh", "long_name": "generation of all sources"},
    "curtailment": {"units": "MWh"},
    "unserved": {"units": "MWh"},
    "surplus": {"units": "MWh", "long_name": "must-run and imported energy not absorbed"},
    "net_import": {"units": "MWh"},
    "production_emissions": {"units": "t"},
    "average_intensity": {"units": "kg MWh-1"},
    "consumption_intensity": {"units": "kg MWh-1"},
    "marginal_intensity": {"units": "kg MWh-1"},
    "marginal_source_share": {"units": "1"},
    "import_fraction": {"units": "1", "long_name": "share of supply that was imported"},
    "flow": {"units": "MWh", "long_name": "energy sent on each corridor (hub links included)"},
    "tracing_residual": {"units": "1", "long_name": "largest relative residual of tracing"},
}


@dataclass(frozen=True, eq=False)
class GridYear:
    """The EV-independent inputs of one year's dispatch (from :func:`prepare_grid`), as
    (province, time) arrays [MWh] unless noted. Nothing in it is changed by
    :meth:`simulate`, so one prepared year serves every EV draw."""

    time: pd.DatetimeIndex
    exchange: str
    #: province codes, then the nodes of the tracing network (provinces, then hubs)
    provinces: list[str]
    nodes: list[str]
    #: demand without EVs; must-run nuclear, biomass, run-of-river hydro, coal CHP and gas
    #: floors; available wind and solar
    demand: np.ndarray
    nuclear: np.ndarray
    biomass: np.ndarray
    run_of_river: np.ndarray
    chp: np.ndarray
    gas_must_run: np.ndarray
    wind: np.ndarray
    solar: np.ndarray
    #: scheduled net export of each province, (province,) [MWh per hour]
    nominal_export: np.ndarray
    #: dispatchable hydro: room in each hour, energy of each (province, month), month starts
    hydro_room: np.ndarray
    hydro_budget: np.ndarray
    month_start: np.ndarray
    #: coal and gas capacity (province,) [MW]; their merit order; each source's emission
    #: rate (source,) [kg CO2 MWh-1]
    coal_capacity: np.ndarray
    gas_capacity: np.ndarray
    merit: np.ndarray
    emission_rate: np.ndarray
    #: scheduled corridors: ends, hourly schedule (corridor, time), loss fraction [1]
    corridor_from: np.ndarray
    corridor_to: np.ndarray
    schedule: np.ndarray
    corridor_loss: np.ndarray
    #: regional pools: pool of each province (-1: none), hub link capacity [MW] and loss [1],
    #: and the provinces that belong to a pool
    pool: np.ndarray
    hub_capacity: np.ndarray
    hub_loss: np.ndarray
    pool_members: np.ndarray
    #: every exchange as an edge of the network (corridors, then hub links): name, end
    #: names and node indices, loss fraction [1]
    edge_names: list[str]
    edge_from_node: list[str]
    edge_to_node: list[str]
    edge_from: np.ndarray
    edge_to: np.ndarray
    edge_loss: np.ndarray

    def simulate(
        self,
        ev_grid_draw: xr.DataArray | None = None,
        trace: bool = True,
        out: dict[str, np.ndarray] | None = None,
    ) -> xr.Dataset:
        """Dispatch the year with ``ev_grid_draw`` (province, time) [MWh] added to the
        demand (none: the grid without EVs); the result of :func:`simulate_grid`.

        With ``trace=False`` the flows are not traced through the network: the result lacks
        ``consumption_intensity``, ``import_fraction`` and ``tracing_residual``. For a
        caller that traces the same grid itself, as :func:`hourlysim.accounting.account`
        does for its supply shares (and returns the intensity and import fractions).

        ``out`` may hold the caller's arrays for some of the result's variables (rows of its
        stacked output, say), so that they are written once and never copied:

        - ``generation`` and ``marginal_source_share``, (province, source, time), any float
          dtype: copies of those variables, written as the dispatch is summed (float32: each
          value rounded once, with no pass of its own). The result holds them in float64
          all the same;
        - ``average_intensity``, ``marginal_intensity``, ``curtailment``, ``net_import``
          and ``production_emissions``, (province, time), float64: written there, and the
          result holds these very arrays.

        Raises ``ValueError`` for an array of another shape (or dtype, for the latter)."""
        codes, n_province = self.provinces, len(self.provinces)
        n_time = len(self.time)
        demand = self.demand.copy()  # the result's own: the plan serves other draws
        load = demand
        if ev_grid_draw is not None:
            draw = ev_grid_draw
            if not draw.get_index("province").equals(pd.Index(codes)):  # else no copy
                draw = draw.reindex(province=codes, fill_value=0.0)
            draw = np.asarray(draw.transpose("province", "time").values, dtype=float)
            if draw.shape != demand.shape or not np.isfinite(draw).all():
                raise ValueError("ev_grid_draw must be finite with dims (province, time) over time")
            load = demand + draw
        # dispatchable hydro shifted toward the hours of highest residual load
        residual = hydro_residual(
            load, self.nominal_export, self.nuclear, self.biomass, self.run_of_river, self.chp,
            self.gas_must_run, self.wind, self.solar,
        )  # fmt: skip
        dispatchable_hydro = schedule_hydro(
            residual, self.hydro_room, self.hydro_budget, self.month_start
        )
        exchange = np.empty((self.corridor_from.size + 2 * n_province, n_time))
        generation, flow, to_hub, from_hub, unserved, surplus, share = dispatch(
            np.ascontiguousarray(load),
            self.nuclear,
            self.biomass,
            self.run_of_river,
            dispatchable_hydro,
            self.chp,
            self.gas_must_run,
            self.wind,
            self.solar,
            self.coal_capacity,
            self.gas_capacity,
            self.merit,
            self.corridor_from,
            self.corridor_to,
            self.schedule,
            self.corridor_loss,
            self.pool,
            self.hub_capacity,
            self.hub_loss,
            exchange,
        )
        members = self.pool_members
        # the network's edges: the corridors, then the pooled provinces' links to and from
        # their hubs; where every province is pooled, the rows the dispatch wrote, in order
        if members.size == n_province:
            all_flow = exchange
        else:
            all_flow = np.concatenate([flow, to_hub[members], from_hub[members]], axis=0)

        # the caller's arrays where given (checked), else new ones: float32 scratch for the
        # copies nobody reads (the summary writes them in any case), float64 results
        written = dict(out or {})
        for name in (*OUT_COPIES, *OUT_RESULTS):
            shape = generation.shape if name in OUT_COPIES else demand.shape
            dtype = "a float dtype" if name in OUT_COPIES else "float64"
            if name not in written:
                written[name] = np.empty(shape, np.float32 if name in OUT_COPIES else float)
            elif written[name].shape != shape or (
                written[name].dtype != np.float64
                if name in OUT_RESULTS
                else written[name].dtype.kind != "f"
            ):
                raise ValueError(
                    f"out['{name}'] must be of shape {shape} and {dtype}, "
                    f"not {written[name].shape} {written[name].dtype}"
                )
        emissions_kg, total, average, marginal, curtailment = dispatch_summary(
            generation, share, self.emission_rate, self.wind, self.solar,
            *(written[name] for name in OUT_COPIES),
            written["average_intensity"], written["marginal_intensity"], written["curtailment"],
        )  # fmt: skip
        dims = ("province", "time")
        intensity, imported, residual = {}, {}, {}  # the traced variables, if traced
        if trace:
            n_node = len(self.nodes)
            node_total = np.zeros((n_node, n_time))
            node_total[:n_province] = total
            node_emissions = np.zeros((n_node, n_time))
            node_emissions[:n_province] = emissions_kg
            # flows are the energy sent; the receiver gets (1 - loss) of it (emissions of the
            # lost energy reach no consumer: see hourlysim.flow_tracing)
            traced, import_fraction, tracing_residual = consumption_intensity(
                node_total, node_emissions, self.edge_from, self.edge_to, all_flow, self.edge_loss
            )
            intensity = {"consumption_intensity": (dims, traced[:n_province])}
            imported = {"import_fraction": (dims, import_fraction[:n_province])}
            residual = {"tracing_residual": ("time", tracing_residual)}
        net_import = net_imports(
            all_flow, self.edge_from, self.edge_to, self.edge_loss, written["net_import"]
        )
        production_emissions = np.divide(emissions_kg, 1000.0, out=written["production_emissions"])

        variables = {
            "demand": (dims, demand),
            "load": (dims, load),
            "generation": (("province", "source", "time"), generation),
            "total_generation": (dims, total),  # summed anyway (for average_intensity)
            "curtailment": (dims, curtailment),
            "unserved": (dims, unserved),
            "surplus": (dims, surplus),
            "net_import": (dims, net_import),
            "production_emissions": (dims, production_emissions),
            "average_intensity": (dims, average),
            **intensity,
            "marginal_intensity": (dims, marginal),
            "marginal_source_share": (("province", "source", "time"), share),
            **imported,
            "flow": (("corridor", "time"), all_flow),
            **residual,
        }
        # attributes given with the data (setting them afterwards built a DataArray each)
        return xr.Dataset(
            {name: (*spec, dict(_ATTRIBUTES[name])) for name, spec in variables.items()},
            coords=self._coordinates,
            attrs={"exchange": self.exchange},
        )

    @functools.cached_property
    def _coordinates(self) -> xr.Coordinates:
        """The labels of every :meth:`simulate` result, built once: xarray reuses their
        indexes instead of building them again for each result."""
        return xr.Coordinates(
            {
                "province": self.provinces,
                "time": self.time,
                "source": list(SOURCES),
                "corridor": self.edge_names,
                "from_node": ("corridor", self.edge_from_node),
                "to_node": ("corridor", self.edge_to_node),
                "loss_fraction": (
                    "corridor",
                    self.edge_loss,
                    {"units": "1", "long_name": "share of the flow lost"},
                ),
            }
        )


def _hub_capacity(inputs: InputSet) -> np.ndarray:
    """Capacity of each province's link to its regional hub [MW]."""
    if "hub_capacity" not in inputs.provinces:
        raise InputError(
            "pool exchange needs hub_links.csv (province-to-hub capacity)", file="hub_links.csv"
        )
    return inputs.provinces["hub_capacity"].values.astype(float)


def report_imbalance(grid: xr.Dataset, label: str = "") -> None:
    """Log provinces whose unserved or unabsorbed energy is a notable share of their load.

    Parameters
    ----------
    grid : xr.Dataset
        Output of :func:`simulate_grid`.
    label : str
        Prefix of the log message (e.g. the year).
    """

    # on the variables' arrays: a DataArray per sum cost more than the sums (once a year)
    def annual(name):
        return np.nansum(grid.variables[name].transpose("province", "time").values, axis=1)

    load = annual("load")
    for name in ("unserved", "surplus"):
        share = annual(name) / load
        notable = [
            f"{c} {100 * float(s):.1f}%"
            for c, s in zip(grid["province"].values, share, strict=True)
            if s > REPORT_SHARE
        ]
        if notable:
            logger.warning(
                "%s%s energy as share of annual load: %s", label, name, ", ".join(notable)
            )
