"""The one table of variables: name, units, dimensions and description.

It drives the ``units`` and ``long_name`` attributes of every output variable, the checks
that every variable carries units, and the variable list in the documentation. The same
name is used in Python, in the scenario YAML and in the NetCDF file.
"""

from __future__ import annotations

from dataclasses import dataclass

import xarray as xr


@dataclass(frozen=True)
class Variable:
    """One output or input variable.

    Parameters
    ----------
    name : str
        Name used everywhere (Python, YAML, NetCDF).
    units : str
        UDUNITS-style units string.
    dims : tuple of str
        Dimensions, in order.
    long_name : str
        One-line description (NetCDF ``long_name``).
    """

    name: str
    units: str
    dims: tuple[str, ...]
    long_name: str


_TABLE = [
    # stage 1: driving demand
    Variable(
        "driving_km", "km", ("city", "time"), "distance driven by electric cars per hour step"
    ),
    Variable(
        "battery_energy",
        "MWh",
        ("city", "time"),
        "energy drawn from EV batteries by driving per hour step",
    ),
    Variable(
        "ev_kwh_per_km",
        "kWh km-1",
        ("city", "time"),
        "temperature-dependent EV energy use per km (fleet average)",
    ),
    Variable(
        "gasoline_litres",
        "L",
        ("city", "time"),
        "gasoline the replaced cars would burn for the same km per hour step",
    ),
    Variable("temperature", "degC", ("city", "time"), "near-surface air temperature"),
    # stage 2: charging
    Variable(
        "charging_load",
        "MWh",
        ("city", "time"),
        "EV charging energy at the charger per hour step (mean power in MW)",
    ),
    Variable(
        "ev_grid_draw",
        "MWh",
        ("city", "time"),
        "EV charging energy at generation level, grossed up for T&D losses, per hour step",
    ),
    # stage 3: grid
    Variable("demand", "MWh", ("province", "time"), "provincial demand without EVs per hour step"),
    Variable(
        "generation",
        "MWh",
        ("province", "source", "time"),
        "generation by source per hour step",
    ),
    Variable("curtailment", "MWh", ("province", "time"), "curtailed wind and solar per hour step"),
    Variable("unserved", "MWh", ("province", "time"), "demand not met per hour step"),
    Variable("net_import", "MWh", ("province", "time"), "scheduled net imports per hour step"),
    Variable(
        "production_emissions",
        "t",
        ("province", "time"),
        "CO2 emitted by generation inside the province per hour step",
    ),
    Variable(
        "average_intensity",
        "kg MWh-1",
        ("province", "time"),
        "average CO2 intensity of generation in the province (production-based)",
    ),
    Variable(
        "consumption_intensity",
        "kg MWh-1",
        ("province", "time"),
        "CO2 intensity of electricity consumed in the province, by proportional flow tracing",
    ),
    Variable(
        "marginal_intensity",
        "kg MWh-1",
        ("province", "time"),
        "CO2 intensity of the marginal source (short-run)",
    ),
    # stage 4: accounting
    Variable(
        "ev_emissions",
        "t",
        ("method", "city", "time"),
        "CO2 attributed to EV charging per hour step, by accounting method",
    ),
    Variable(
        "gasoline_emissions",
        "t",
        ("city", "time"),
        "well-to-wheel CO2 of the gasoline counterfactual per hour step",
    ),
    Variable(
        "emission_reduction",
        "t",
        ("method", "city", "time"),
        "gasoline counterfactual minus EV emissions per hour step",
    ),
    Variable(
        "import_share",
        "1",
        ("city",),
        "share of the city's EV electricity imported from other provinces",
    ),
    # stage 5: inequality
    Variable(
        "reduction_per_capita",
        "t",
        ("method", "city"),
        "annual emission reduction per resident",
    ),
    Variable(
        "reduction_per_vehicle",
        "t",
        ("method", "city"),
        "annual emission reduction per electric car",
    ),
    Variable(
        "ev_to_gasoline_ratio",
        "1",
        ("method", "city"),
        "annual EV emissions divided by gasoline counterfactual emissions",
    ),
    Variable("gini", "1", ("method",), "Gini coefficient of per-capita reductions over cities"),
]

VARIABLES: dict[str, Variable] = {v.name: v for v in _TABLE}


def annotate(dataset: xr.Dataset) -> xr.Dataset:
    """Set ``units`` and ``long_name`` of every data variable from the table.

    Parameters
    ----------
    dataset : xr.Dataset
        Dataset whose data variables are named as in :data:`VARIABLES`.

    Returns
    -------
    xr.Dataset
        The same dataset with attributes set (in place, and returned).

    Raises
    ------
    KeyError
        If a data variable is not in the table (every output must be documented).
    """
    for name, data in dataset.data_vars.items():
        if name not in VARIABLES:
            if "units" in data.attrs and "long_name" in data.attrs:
                continue
            raise KeyError(f"variable '{name}' is not in hourlysim.variables.VARIABLES")
        variable = VARIABLES[name]
        data.attrs["units"] = variable.units
        data.attrs["long_name"] = variable.long_name
    return dataset
