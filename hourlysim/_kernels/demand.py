"""Stage 1 kernels: hourly driving distance, EV battery energy and gasoline use."""

from __future__ import annotations

import numpy as np

from ._jit import kernel


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
        t = flat[i]
        f = 1.0
        if t < cold_threshold:
            f += cold_coefficient * (cold_threshold - t)
        if t > hot_threshold:
            f += hot_coefficient * (t - hot_threshold)
        factor[i] = f
    return factor.reshape(temperature.shape)


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
    per_hour = np.empty(n_time)
    for h in range(n_time):
        d = day_type[h]
        per_hour[h] = km_per_day[d] * driving_profile[d, h % 24]
    for c in range(vehicles.size):
        for h in range(n_time):
            km[c, h] = vehicles[c] * per_hour[h]
    return km
