"""Stage 4: EV and gasoline emissions per city-hour under each accounting method.

Methods (simplest form): ``average`` (production intensity of the city's province),
``consumption`` (flow-traced intensity of what the province consumes), ``marginal``
(short-run marginal source). ``territorial`` and ``consequential`` come with the
accounting issue.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ._kernels.accounting import at_province_rate

METHODS = ("average", "consumption", "marginal")
#: grid output variable holding the intensity each method (or carbon signal) uses
INTENSITY_VARIABLE = {
    "average": "average_intensity",
    "consumption": "consumption_intensity",
    "marginal": "marginal_intensity",
}


def province_index(city_province: xr.DataArray, provinces) -> np.ndarray:
    """Index into ``provinces`` of each city's province (int64)."""
    lookup = {code: i for i, code in enumerate(list(provinces))}
    return np.array([lookup[code] for code in city_province.values], dtype=np.int64)


def ev_grid_draw(charging_load: xr.DataArray, td_loss_fraction: float) -> xr.DataArray:
    """EV electricity at generation level: charger energy grossed up for T&D losses [MWh]."""
    draw = charging_load / (1.0 - td_loss_fraction)
    draw.name = "ev_grid_draw"
    draw.attrs.update(units="MWh", long_name="EV charging energy at generation level")
    return draw


def gasoline_emissions(gasoline_litres: xr.DataArray, kg_co2_per_litre: float) -> xr.DataArray:
    """Well-to-wheel CO2 of the gasoline counterfactual [t] from litres burned [L]."""
    emissions = gasoline_litres * kg_co2_per_litre / 1000.0
    emissions.attrs["units"] = "t"
    return emissions


def account(
    draw: xr.DataArray,
    gasoline_litres: xr.DataArray,
    grid: xr.Dataset,
    city_province: xr.DataArray,
    kg_co2_per_litre: float,
) -> xr.Dataset:
    """EV emissions by method, gasoline counterfactual and the reduction.

    Parameters
    ----------
    draw : xr.DataArray (city, time)
        EV electricity at generation level [MWh].
    gasoline_litres : xr.DataArray (city, time)
        Gasoline the replaced cars would burn [L].
    grid : xr.Dataset
        Output of :func:`hourlysim.grid.simulate_grid` (intensities, import fraction).
    city_province : xr.DataArray (city,)
        Province code of each city.
    kg_co2_per_litre : float
        Well-to-wheel CO2 of gasoline [kg CO2 L-1].

    Returns
    -------
    xr.Dataset
        ``ev_emissions`` (method, city, time) [t], ``gasoline_emissions`` (city, time) [t],
        ``import_share`` (city) [1]. The hourly reduction is
        ``gasoline_emissions - ev_emissions``; it is not stored (one more city-hour array per
        method and strategy), the annual one is (:mod:`hourlysim.inequality`).
    """
    index = province_index(city_province, grid["province"].values)
    values = draw.transpose("city", "time").values
    # intensity [kg MWh-1] x MWh / 1000 = t CO2
    per_method = [
        at_province_rate(values, index, grid[INTENSITY_VARIABLE[m]].values) / 1000.0
        for m in METHODS
    ]
    coords = {"method": list(METHODS), "city": draw["city"].values, "time": draw["time"].values}
    ev = xr.DataArray(np.stack(per_method), dims=("method", "city", "time"), coords=coords)
    gasoline = gasoline_emissions(gasoline_litres, kg_co2_per_litre).transpose("city", "time")
    imported = at_province_rate(values, index, grid["import_fraction"].values)
    total = values.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, imported.sum(axis=1) / np.where(total > 0, total, 1), 0.0)
    result = xr.Dataset(
        {
            "ev_emissions": ev,
            "gasoline_emissions": gasoline,
            "import_share": ("city", share),
        }
    )
    for name, unit in (
        ("ev_emissions", "t"),
        ("gasoline_emissions", "t"),
        ("import_share", "1"),
    ):
        result[name].attrs["units"] = unit
    return result
