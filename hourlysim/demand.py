"""Stage 1: driving demand per city-hour and vehicle segment (xarray layer).

``driving_km[s, c, h] = vehicles[s, c] * km_per_day[s, daytype(h)] * profile[daytype(h), hour]``
``battery_energy = driving_km * kwh_per_km(T) / 1000``, with
``kwh_per_km(T) = rated * real_world * (1 + cold * max(0, T_cold - T) + hot * max(0, T - T_hot))``;
the gasoline counterfactual drives the same km at ``L/100 km * (1 + cold_g * max(0, T_g - T))``.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ._kernels.demand import hourly_demand, km_per_vehicle_hour, scaled_temperature_factor
from .inputs import InputSet
from .timeaxis import day_of_week


def ev_fleet(inputs: InputSet, ev_share: float | None = None) -> xr.DataArray:
    """Electric vehicles per segment and city.

    Private cars: ``passenger_cars x ev_share``. Taxis and ride-hailing cars:
    ``population / 1000 x vehicles_per_1000_people x ev_share``.

    Parameters
    ----------
    inputs : InputSet
        Validated input set.
    ev_share : float, optional
        EV share of every segment in every city [1]; default: the ``ev_share`` column of
        ``cities.csv``.

    Returns
    -------
    xr.DataArray (segment, city)
        Electric vehicles [vehicle].
    """
    # plain arrays: xarray's alignment of a few hundred values cost more than the products
    cities = inputs.cities
    share = cities["ev_share"].values
    if ev_share is not None:
        share = np.full_like(share, ev_share)
    per_1000 = inputs.vehicles["vehicles_per_1000_people"]
    segments = per_1000["segment"].values
    vehicles = np.empty((segments.size, share.size), np.result_type(share, float))
    for row, segment_per_1000 in enumerate(per_1000.values):
        if np.isnan(segment_per_1000):
            fleet = cities["passenger_cars"].values
        else:
            fleet = cities["population"].values / 1000.0 * float(segment_per_1000)
        vehicles[row] = fleet * share
    return xr.DataArray(
        vehicles,
        dims=("segment", "city"),
        coords={"segment": segments, "city": cities["city"].variable},
        name="ev_fleet",
        attrs={"units": "vehicle", "long_name": "electric passenger cars"},
    )


def driving_demand(
    inputs: InputSet,
    temperature: xr.DataArray,
    year: int,
    *,
    ev_share: float | None = None,
    parameters: dict | None = None,
) -> xr.Dataset:
    """Hourly driving distance, EV battery energy and gasoline counterfactual.

    Parameters
    ----------
    inputs : InputSet
        Validated input set (fleet, segments, driving profile, parameters).
    temperature : xr.DataArray (city, time)
        Hourly air temperature [degC].
    year : int
        Model year (sets weekdays and weekends).
    ev_share : float, optional
        Uniform EV share [1] replacing the input set's base-year shares.
    parameters : dict, optional
        Overrides of scalar parameters.

    Returns
    -------
    xr.Dataset
        ``driving_km`` (segment, city, time) [km], ``battery_energy`` (segment, city, time)
        [MWh], ``ev_kwh_per_km`` (city, time) [kWh km-1], ``gasoline_litres``
        (segment, city, time) [L], ``ev_fleet`` (segment, city) [vehicle].
    """
    vehicles, per_vehicle_km, ev_law, gasoline = _demand_arguments(
        inputs, temperature, year, ev_share, parameters
    )
    # one pass over the city-hours for the three (segment, city, time) arrays
    driving_km, battery_energy, gasoline_litres = xr.apply_ufunc(
        _hourly_demand,
        vehicles.astype(float).transpose("segment", "city"),
        per_vehicle_km,
        temperature,
        *ev_law,
        *gasoline,
        input_core_dims=[[], ["time"], ["time"]] + [[]] * 8,
        output_core_dims=[["time"]] * 3,
        dask="parallelized",
        output_dtypes=[float] * 3,
        dask_gufunc_kwargs={"allow_rechunk": True},
        keep_attrs=False,
    )
    kwh_per_km = xr.apply_ufunc(
        _kwh_per_km,
        temperature,
        *ev_law,
        dask="parallelized",
        output_dtypes=[float],
        keep_attrs=False,
    )
    result = xr.Dataset(
        {
            "driving_km": driving_km,
            "battery_energy": battery_energy,
            "ev_kwh_per_km": kwh_per_km,
            "gasoline_litres": gasoline_litres,
            "ev_fleet": vehicles,
        }
    )
    units = {
        "driving_km": "km",
        "battery_energy": "MWh",
        "ev_kwh_per_km": "kWh km-1",
        "gasoline_litres": "L",
        "ev_fleet": "vehicle",
    }
    for name, unit in units.items():
        result[name].attrs["units"] = unit
    return result.transpose("segment", "city", "time")


def year_demand(
    inputs: InputSet, temperature: xr.DataArray, year: int, parameters: dict | None = None
) -> xr.Dataset:
    """What one scenario-year uses of :func:`driving_demand`, in one pass over the
    city-hours (eager: numpy arrays, no dask).

    The same values as :func:`driving_demand`'s, in the form the year keeps them: the
    distance already in its output precision, the gasoline already summed over the segments,
    and no ``ev_kwh_per_km`` (nothing in a scenario-year reads it). Writing them so spares
    a scenario-year two (segment, city, time) float64 arrays and the passes that rounded and
    summed them.

    Parameters
    ----------
    inputs, temperature, year, parameters
        As for :func:`driving_demand` (the input set's own EV shares).

    Returns
    -------
    xr.Dataset
        ``driving_km`` (segment, city, time) [km] in float32 (each value rounded once);
        ``battery_energy`` (segment, city, time) [MWh]; ``gasoline_litres`` (city, time) [L],
        summed over the segments as ``driving_demand(...)["gasoline_litres"].sum("segment")``
        sums them; ``ev_fleet`` (segment, city) [vehicle].
    """
    vehicles, per_vehicle_km, ev_law, gasoline = _demand_arguments(
        inputs, temperature, year, None, parameters
    )
    temperature = temperature.transpose("city", "time")
    shape = (vehicles.sizes["segment"], *temperature.shape)
    driving_km = np.empty(shape, np.float32)
    battery_energy = np.empty(shape)
    gasoline_litres = np.empty((1, *temperature.shape))
    hourly_demand(
        np.ascontiguousarray(vehicles.transpose("segment", "city").values, dtype=np.float64),
        np.ascontiguousarray(per_vehicle_km.transpose("segment", "time").values[:, None, :]),
        np.ascontiguousarray(temperature.values, dtype=np.float64),
        *ev_law,
        *gasoline,
        driving_km,
        battery_energy,
        gasoline_litres,
    )
    by_segment = ("segment", "city", "time")
    return xr.Dataset(
        {
            "driving_km": (by_segment, driving_km, {"units": "km"}),
            "battery_energy": (by_segment, battery_energy, {"units": "MWh"}),
            "gasoline_litres": (("city", "time"), gasoline_litres[0], {"units": "L"}),
            "ev_fleet": vehicles.assign_attrs(units="vehicle"),
        },
        coords={"time": temperature.get_index("time")},
    )


def _demand_arguments(inputs, temperature, year, ev_share, parameters):
    """The fleet and the laws of :func:`hourly_demand`, as :func:`driving_demand` and
    :func:`year_demand` pass them.

    Returns
    -------
    vehicles : xr.DataArray (segment, city)
        :func:`ev_fleet` on ``temperature``'s cities [vehicle].
    per_vehicle_km : xr.DataArray (segment, time)
        Distance one vehicle of each segment drives in each hour step [km].
    ev_law : tuple of float
        EV energy use at a neutral temperature [kWh km-1], then its cold threshold [degC]
        and coefficient [K-1] and hot threshold and coefficient.
    gasoline : tuple of float
        Gasoline use at a neutral temperature [L km-1], its cold threshold [degC] and
        coefficient [K-1].
    """
    overrides = parameters or {}

    def p(name):
        return inputs.parameter(name, overrides)

    vehicles = ev_fleet(inputs, ev_share).assign_coords(city=temperature["city"].values)
    segments = inputs.vehicles
    day_type = (day_of_week(year) >= 5).astype(np.int64)
    km_per_day = np.stack(
        [segments["km_per_day_weekday"].values, segments["km_per_day_weekend"].values], axis=1
    ).astype(float)
    profile = segments["driving_profile"].transpose("day_type", "hour_of_day").values
    per_vehicle_km = xr.DataArray(
        np.stack([km_per_vehicle_hour(km, profile, day_type) for km in km_per_day]),
        dims=("segment", "time"),
        coords={"segment": vehicles["segment"].values, "time": temperature["time"].values},
    )
    ev_law = (
        p("ev_kwh_per_km_rated") * p("ev_real_world_factor"),
        p("ev_cold_threshold"),
        p("ev_cold_coefficient"),
        p("ev_hot_threshold"),
        p("ev_hot_coefficient"),
    )
    gasoline = (
        p("gasoline_l_per_100km") / 100.0,
        p("gasoline_cold_threshold"),
        p("gasoline_cold_coefficient"),
    )
    return vehicles, per_vehicle_km, ev_law, gasoline


def _hourly_demand(vehicles, per_vehicle_km, temperature, *parameters):
    """:func:`hourly_demand` on one block of cities, into arrays numpy allocates."""
    shape = (vehicles.shape[0], temperature.shape[0], temperature.shape[1])
    outputs = tuple(np.empty(shape) for _ in range(3))
    hourly_demand(
        np.ascontiguousarray(vehicles, dtype=np.float64),
        np.ascontiguousarray(per_vehicle_km, dtype=np.float64),
        np.ascontiguousarray(temperature, dtype=np.float64),
        *parameters,
        *outputs,
    )
    return outputs


def _kwh_per_km(temperature, *parameters):
    """:func:`scaled_temperature_factor` on one block, into an array numpy allocates."""
    temperature = np.ascontiguousarray(temperature, dtype=np.float64)
    out = np.empty(temperature.shape)
    scaled_temperature_factor(
        temperature.reshape(-1, temperature.shape[-1]),
        *parameters,
        out.reshape(-1, temperature.shape[-1]),
    )
    return out
