"""Stage 4 kernels: attribute provincial intensities to city-hours."""

from __future__ import annotations

import numpy as np

from ._jit import kernel


@kernel
def at_province_rate(ev_grid_draw, city_province, rate):
    """Each city's EV electricity times an hourly rate of its province.

    With ``rate`` an intensity [kg CO2 MWh-1] this gives emissions [kg CO2]; with the
    province's import fraction [1], the imported part of the electricity [MWh].

    Parameters
    ----------
    ev_grid_draw : ndarray (city, time)
        EV electricity at generation level [MWh].
    city_province : ndarray of int64 (city,)
        Province index of each city.
    rate : ndarray (province, time)
        Per-MWh rate of each province and hour [any unit per MWh].

    Returns
    -------
    ndarray (city, time)
        ``ev_grid_draw[c, t] * rate[province(c), t]`` [MWh x rate unit].
    """
    n_city, n_time = ev_grid_draw.shape
    product = np.empty((n_city, n_time))
    for c in range(n_city):
        p = city_province[c]
        for t in range(n_time):
            product[c, t] = ev_grid_draw[c, t] * rate[p, t]
    return product
