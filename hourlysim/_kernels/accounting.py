"""Stage 4 kernels: attribute provincial intensities to city-hours."""

from __future__ import annotations

import numpy as np

from ._jit import kernel


@kernel
def attribute_emissions(ev_grid_draw, city_province, intensity):
    """CO2 of each city's EV electricity at its province's intensity.

    Parameters
    ----------
    ev_grid_draw : ndarray (city, time)
        EV electricity at generation level [MWh].
    city_province : ndarray of int64 (city,)
        Province index of each city.
    intensity : ndarray (province, time)
        Carbon intensity [kg CO2 MWh-1].

    Returns
    -------
    ndarray (city, time)
        Emissions [t CO2].
    """
    n_city, n_time = ev_grid_draw.shape
    emissions = np.empty((n_city, n_time))
    for c in range(n_city):
        p = city_province[c]
        for t in range(n_time):
            emissions[c, t] = ev_grid_draw[c, t] * intensity[p, t] / 1000.0
    return emissions
