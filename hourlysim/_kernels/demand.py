"""Stage 1 kernels: hourly driving distance, EV battery energy and gasoline use."""

from __future__ import annotations

import numpy as np

from ._jit import kernel


@kernel
def _factor(t, cold_threshold, cold_coefficient, hot_threshold, hot_coefficient):
    """``1 + cold * max(0, T_cold - T) + hot * max(0, T - T_hot)`` for one temperature."""
    f = 1.0
    if t < cold_threshold:
        f += cold_coefficient * (cold_threshold - t)
    if t > hot_threshold:
        f += hot_coefficient * (t - hot_threshold)
    return f


@kernel
def temperature_factor(
    temperature, cold_threshold, cold_coefficient, hot_threshold, hot_coefficient
):
    """Multiplier on energy use per km for each temperature.

    ``1 + cold * max(0, T_cold - T) + hot * max(0, T - T_hot)``.

    Parameters
    ----------
    temperature : ndarray (..., time)
        Air temperature [degC].
    cold_threshold, hot_threshold : float
        Temperatures below / above which the penalties start [degC].
    cold_coefficient, hot_coefficient : float
        Relative increase per kelvin beyond the threshold [K-1].

    Returns
    -------
    ndarray, same shape
        Multiplier [1].
    """
    flat = temperature.ravel()
    factor = np.empty(flat.size)
    for i in range(flat.size):
        factor[i] = _factor(
            flat[i], cold_threshold, cold_coefficient, hot_threshold, hot_coefficient
        )
    return factor.reshape(temperature.shape)


@kernel
def scaled_temperature_factor(
    temperature, scale, cold_threshold, cold_coefficient, hot_threshold, hot_coefficient, out
):
    """``out = scale * temperature_factor(temperature, ...)`` in one pass (e.g. kWh per km).

    Parameters
    ----------
    temperature : ndarray (city, time)
        Air temperature [degC].
    scale : float
        Value at a neutral temperature (e.g. [kWh km-1]).
    cold_threshold, cold_coefficient, hot_threshold, hot_coefficient : float
        As for :func:`temperature_factor`.
    out : ndarray (city, time)
        Receives ``scale`` times the multiplier [unit of ``scale``]. (Allocated by the caller:
        numpy backs large arrays with huge pages, numba's allocator does not, and first-touch
        page faults would cost more than the arithmetic.)
    """
    for c in range(temperature.shape[0]):
        for h in range(temperature.shape[1]):
            out[c, h] = scale * _factor(
                temperature[c, h], cold_threshold, cold_coefficient, hot_threshold, hot_coefficient
            )


@kernel
def hourly_driving_km(vehicles, km_per_day, driving_profile, day_type):
    """Distance driven in each hour by a fleet.

    Parameters
    ----------
    vehicles : ndarray (city,)
        Electric vehicles of one segment in each city [vehicle].
    km_per_day : ndarray (2,)
        Distance per vehicle and day on weekdays (0) and weekend days (1) [km d-1].
    driving_profile : ndarray (2, 24)
        Share of a day's distance driven in each local hour, by day type [1].
    day_type : ndarray of int64 (time,)
        0 on weekdays, 1 on weekend days, for each hour step.

    Returns
    -------
    ndarray (city, time)
        Distance driven in each hour step [km].
    """
    n_time = day_type.size
    km = np.empty((vehicles.size, n_time))
    per_hour = km_per_vehicle_hour(km_per_day, driving_profile, day_type)
    for c in range(vehicles.size):
        for h in range(n_time):
            km[c, h] = vehicles[c] * per_hour[h]
    return km


@kernel
def km_per_vehicle_hour(km_per_day, driving_profile, day_type):
    """Distance one vehicle drives in each hour step [km]: ``km_per_day[d] * profile[d, h]``.

    Parameters
    ----------
    km_per_day, driving_profile, day_type
        As for :func:`hourly_driving_km`.

    Returns
    -------
    ndarray (time,)
        Distance per vehicle [km].
    """
    n_time = day_type.size
    per_hour = np.empty(n_time)
    for h in range(n_time):
        d = day_type[h]
        per_hour[h] = km_per_day[d] * driving_profile[d, h % 24]
    return per_hour


@kernel
def hourly_demand(
    vehicles,
    per_vehicle_km,
    temperature,
    ev_kwh_per_km,
    ev_cold_threshold,
    ev_cold_coefficient,
    ev_hot_threshold,
    ev_hot_coefficient,
    gasoline_l_per_km,
    gasoline_cold_threshold,
    gasoline_cold_coefficient,
    driving_km,
    battery_energy,
    gasoline_litres,
):
    """Distance, EV battery energy and gasoline of every segment, city and hour in one pass.

    ``km = vehicles * per_vehicle_km``; ``battery = km * kwh_per_km(T) / 1000`` with
    ``kwh_per_km(T) = ev_kwh_per_km * temperature_factor(T, ev thresholds and coefficients)``;
    ``litres = km * gasoline_l_per_km * (1 + cold_g * max(0, T_g - T))``.

    Parameters
    ----------
    vehicles : ndarray (segment, city)
        Electric vehicles [vehicle].
    per_vehicle_km : ndarray (segment, 1, time)
        Distance one vehicle of the segment drives in each hour step [km].
    temperature : ndarray (city, time)
        Air temperature [degC].
    ev_kwh_per_km : float
        EV energy use at a neutral temperature [kWh km-1].
    ev_cold_threshold, ev_cold_coefficient, ev_hot_threshold, ev_hot_coefficient : float
        As for :func:`temperature_factor`.
    gasoline_l_per_km : float
        Gasoline use at a neutral temperature [L km-1].
    gasoline_cold_threshold, gasoline_cold_coefficient : float
        Cold penalty of gasoline use (no hot penalty).
    driving_km, battery_energy : ndarray (segment, city, time)
        Receive the distance driven [km] and the energy drawn from EV batteries [MWh]
        (allocated by the caller, see :func:`scaled_temperature_factor`). ``driving_km``
        may be of any float dtype (a float32 output array, say: each value rounded once).
    gasoline_litres : ndarray (segment, city, time) or (1, city, time)
        Receives the gasoline the same distance would burn [L], per segment; or, with one
        row, summed over the segments in segment order (the sum ``numpy`` takes over the
        segment axis, value for value).
    """
    n_segment, n_city = vehicles.shape
    n_time = temperature.shape[1]
    summed = gasoline_litres.shape[0] == 1 and n_segment > 1
    kwh = np.empty(n_time)
    lpk = np.empty(n_time)
    for c in range(n_city):
        t_row = temperature[c]
        for h in range(n_time):
            kwh[h] = ev_kwh_per_km * _factor(
                t_row[h],
                ev_cold_threshold,
                ev_cold_coefficient,
                ev_hot_threshold,
                ev_hot_coefficient,
            )
            lpk[h] = gasoline_l_per_km * _factor(
                t_row[h], gasoline_cold_threshold, gasoline_cold_coefficient, np.inf, 0.0
            )
        for s in range(n_segment):
            v = vehicles[s, c]
            per_hour = per_vehicle_km[s, 0]
            km_row = driving_km[s, c]
            battery_row = battery_energy[s, c]
            litres_row = gasoline_litres[0 if summed else s, c]
            add = summed and s > 0  # to the segments before it
            for h in range(n_time):
                k = v * per_hour[h]
                km_row[h] = k
                battery_row[h] = k * kwh[h] / 1000.0
                litres = k * lpk[h]
                litres_row[h] = litres_row[h] + litres if add else litres


@kernel
def synthetic_temperature(mean, amplitude, half_range, annual, daily, out):
    """``out[c, h] = mean[c] + amplitude[c] * annual[h] + half_range[c] * daily[h]`` [degC].

    Parameters
    ----------
    mean, amplitude, half_range : ndarray (city,)
        Annual mean [degC], amplitude of the annual cosine [K] and half the diurnal range [K].
    annual, daily : ndarray (time,)
        Annual and diurnal shapes [1].
    out : ndarray (city, time)
        Receives the hourly temperature [degC] (allocated by the caller).
    """
    for c in range(mean.shape[0]):
        for h in range(annual.shape[0]):
            out[c, h] = (mean[c] + amplitude[c] * annual[h]) + half_range[c] * daily[h]
