"""Stage 3: provincial dispatch, transfers and carbon intensities (xarray layer).

Simplest form (see README "What is still simple"): nuclear and hydro run flat at their
annual utilisation hours, CHP runs at a floor in the heating season, wind and solar follow
their capacity factors, coal then gas fill the rest in merit order; corridors carry their
scheduled annual energy evenly over the hours (reduced when a receiver cannot absorb it).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import xarray as xr

from ._kernels.dispatch import N_SOURCES, dispatch
from ._kernels.tracing import consumption_intensity
from .inputs import InputSet
from .timeaxis import HOURS_PER_YEAR

logger = logging.getLogger(__name__)

SOURCES = ("coal", "gas", "hydro", "nuclear", "wind", "solar")
#: unserved or surplus energy above this share of a province's annual load is reported
REPORT_SHARE = 1e-3
assert len(SOURCES) == N_SOURCES


def emission_rates(inputs: InputSet, overrides: dict | None = None) -> xr.DataArray:
    """Direct emission rate of each source [kg CO2 MWh-1]."""
    overrides = overrides or {}
    values = [
        float(overrides.get(f"emission_rate_{s}", inputs.parameter(f"emission_rate_{s}")))
        for s in SOURCES
    ]
    return xr.DataArray(
        values,
        dims="source",
        coords={"source": list(SOURCES)},
        attrs={"units": "kg MWh-1", "long_name": "direct CO2 emission rate"},
    )


def base_demand(inputs: InputSet, time: pd.DatetimeIndex) -> xr.DataArray:
    """Provincial demand without EVs: the hourly shape scaled to the annual demand [MWh]."""
    shape = inputs.hourly["demand_shape"]
    scaled = shape / shape.sum("hour") * inputs.provinces["annual_demand"]
    return _on_time(scaled, time, "demand", "MWh")


def variable_renewables(inputs: InputSet, time: pd.DatetimeIndex) -> xr.Dataset:
    """Available wind and solar energy per province-hour [MWh]."""
    capacity = inputs.provinces["capacity"]
    hourly = inputs.hourly
    wind = (
        capacity.sel(capacity_source="wind_onshore") * hourly["cf_wind_onshore"]
        + capacity.sel(capacity_source="wind_offshore") * hourly["cf_wind_offshore"]
    )
    solar = capacity.sel(capacity_source="solar") * hourly["cf_solar"]
    return xr.Dataset(
        {
            "wind": _on_time(
                wind.drop_vars("capacity_source", errors="ignore"), time, "wind", "MWh"
            ),
            "solar": _on_time(
                solar.drop_vars("capacity_source", errors="ignore"), time, "solar", "MWh"
            ),
        }
    )


def _on_time(data: xr.DataArray, time: pd.DatetimeIndex, name: str, units: str):
    data = data.rename(hour="time").assign_coords(time=time).transpose("province", "time")
    data.name = name
    data.attrs["units"] = units
    return data


def simulate_grid(
    inputs: InputSet,
    time: pd.DatetimeIndex,
    ev_grid_draw: xr.DataArray | None = None,
    parameters: dict | None = None,
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

    Returns
    -------
    xr.Dataset
        ``demand``, ``generation`` (province, source, time), ``curtailment``, ``unserved``,
        ``net_import``, ``production_emissions``, ``average_intensity``,
        ``consumption_intensity``, ``marginal_intensity``, ``import_fraction`` and
        ``flow`` (corridor, time), all with units.
    """
    overrides = parameters or {}

    def p(name):
        return float(overrides.get(name, inputs.parameter(name)))

    provinces = inputs.provinces
    codes = list(provinces["province"].values)
    capacity = provinces["capacity"]
    demand = base_demand(inputs, time)
    load = (
        demand
        if ev_grid_draw is None
        else demand + ev_grid_draw.reindex(province=codes, fill_value=0.0)
    )
    renewables = variable_renewables(inputs, time)
    ones = np.ones(HOURS_PER_YEAR)
    nuclear = (
        capacity.sel(capacity_source="nuclear").values[:, None]
        * (p("nuclear_utilisation_hours") / HOURS_PER_YEAR)
        * ones
    )
    hydro = (
        capacity.sel(capacity_source="hydro").values[:, None]
        * (p("hydro_utilisation_hours") / HOURS_PER_YEAR)
        * ones
    )
    start, end = int(p("heating_season_start_month")), int(p("heating_season_end_month"))
    months = time.month.to_numpy()
    heating = (
        (months >= start) | (months <= end)
        if start > end
        else ((months >= start) & (months <= end))
    )
    chp = capacity.sel(capacity_source="coal_chp").values[:, None] * (
        p("coal_chp_min_load_fraction") * heating.astype(float)
    )
    corridors = inputs.corridors
    index = {code: i for i, code in enumerate(codes)}
    corridor_from = np.array([index[c] for c in corridors["from_province"].values], np.int64)
    corridor_to = np.array([index[c] for c in corridors["to_province"].values], np.int64)
    schedule = (corridors["annual_energy"].values / HOURS_PER_YEAR)[:, None] * ones
    generation, flow, unserved, surplus = dispatch(
        load.transpose("province", "time").values.astype(float),
        nuclear,
        hydro,
        chp,
        renewables["wind"].values,
        renewables["solar"].values,
        capacity.sel(capacity_source="coal").values.astype(float),
        capacity.sel(capacity_source="gas").values.astype(float),
        corridor_from,
        corridor_to,
        schedule,
    )
    rates = emission_rates(inputs, overrides)
    emissions_kg = np.einsum("pst,s->pt", generation, rates.values)
    total = generation.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        average = np.where(total > 0, emissions_kg / np.where(total > 0, total, 1.0), 0.0)
    traced, import_fraction, residual = consumption_intensity(
        total, emissions_kg, corridor_from, corridor_to, flow
    )
    marginal = _marginal_intensity(generation, chp, capacity, rates.values)
    available = renewables["wind"].values + renewables["solar"].values
    curtailment = available - generation[:, 4, :] - generation[:, 5, :]
    net_import = np.zeros_like(total)
    np.add.at(net_import, corridor_to, flow)
    np.subtract.at(net_import, corridor_from, flow)
    coords = {"province": codes, "time": time}
    dims = ("province", "time")
    result = xr.Dataset(
        {
            "demand": demand,
            "load": (dims, load.transpose("province", "time").values),
            "generation": (("province", "source", "time"), generation),
            "curtailment": (dims, np.maximum(curtailment, 0.0)),
            "unserved": (dims, unserved),
            "surplus": (dims, surplus),
            "net_import": (dims, net_import),
            "production_emissions": (dims, emissions_kg / 1000.0),
            "average_intensity": (dims, average),
            "consumption_intensity": (dims, traced),
            "marginal_intensity": (dims, marginal),
            "import_fraction": (dims, import_fraction),
            "flow": (("corridor", "time"), flow),
            "tracing_residual": ("time", residual),
        },
        coords={**coords, "source": list(SOURCES), "corridor": corridors["corridor"].values},
    )
    units = {
        "demand": "MWh",
        "load": "MWh",
        "generation": "MWh",
        "curtailment": "MWh",
        "unserved": "MWh",
        "surplus": "MWh",
        "net_import": "MWh",
        "production_emissions": "t",
        "average_intensity": "kg MWh-1",
        "consumption_intensity": "kg MWh-1",
        "marginal_intensity": "kg MWh-1",
        "import_fraction": "1",
        "flow": "MWh",
        "tracing_residual": "1",
    }
    for name, unit in units.items():
        result[name].attrs["units"] = unit
    result["load"].attrs["long_name"] = "demand served in the province, EVs included"
    result["surplus"].attrs["long_name"] = "must-run and imported energy not absorbed"
    result["import_fraction"].attrs["long_name"] = "share of supply that was imported"
    result["flow"].attrs["long_name"] = "energy carried by each corridor"
    result["tracing_residual"].attrs["long_name"] = "largest relative residual of tracing"
    return result


def report_imbalance(grid: xr.Dataset, label: str = "") -> None:
    """Log provinces whose unserved or unabsorbed energy is a notable share of their load.

    Parameters
    ----------
    grid : xr.Dataset
        Output of :func:`simulate_grid`.
    label : str
        Prefix of the log message (e.g. the year).
    """
    annual = grid["load"].sum("time")
    for name in ("unserved", "surplus"):
        share = grid[name].sum("time") / annual
        notable = [
            f"{c} {100 * float(s):.1f}%"
            for c, s in zip(grid["province"].values, share.values, strict=True)
            if s > REPORT_SHARE
        ]
        if notable:
            logger.warning(
                "%s%s energy as share of annual load: %s", label, name, ", ".join(notable)
            )


def _marginal_intensity(generation, chp, capacity, rates) -> np.ndarray:
    """Emission rate of the last dispatched source [kg MWh-1].

    Gas if any gas runs; else coal if coal runs above its CHP floor; else the must-run /
    variable sources are at the margin (hydro spilled or wind and solar curtailed): their
    rate, taken as the lowest-emitting source that is running.
    """
    gas_running = generation[:, 1, :] > 1e-9
    coal_above_floor = generation[:, 0, :] > chp + 1e-9
    marginal = np.where(gas_running, rates[1], np.where(coal_above_floor, rates[0], np.nan))
    clean = np.min(rates[2:])
    return np.where(np.isnan(marginal), clean, marginal)
