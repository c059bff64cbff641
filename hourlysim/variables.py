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
    Variable("temperature", "degC", ("city", "time"), "near-surface air temperature (model input)"),
    Variable(
        "driving_km",
        "km",
        ("segment", "city", "time"),
        "distance driven by electric cars per hour step",
    ),
    Variable(
        "battery_energy",
        "MWh",
        ("segment", "city", "time"),
        "energy drawn from EV batteries by driving per hour step",
    ),
    Variable(
        "gasoline_emissions",
        "t",
        ("city", "time"),
        "well-to-wheel CO2 of the gasoline counterfactual per hour step",
    ),
    Variable(
        "gasoline_tailpipe_emissions",
        "t",
        ("city", "time"),
        "tank-to-wheel CO2 of the gasoline counterfactual per hour step",
    ),
    Variable("ev_fleet", "vehicle", ("city",), "electric passenger cars"),
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
        "EV charging energy at generation level (T&D losses included) per hour step",
    ),
    Variable(
        "ev_emissions",
        "t",
        ("method", "city", "time"),
        "CO2 attributed to EV charging per hour step, by accounting method",
    ),
    Variable(
        "import_share",
        "1",
        ("city",),
        "share of the city's EV electricity imported from other provinces",
    ),
    Variable(
        "ev_caused_emissions",
        "t",
        ("province", "time"),
        "production CO2 with EVs minus without EVs per producing province and hour step",
    ),
    Variable(
        "burden_province",
        "t",
        ("method", "city", "producer"),
        "annual CO2 of the city's EV charging by the province where it is emitted",
    ),
    Variable(
        "emissions_in_poorer_cities",
        "t",
        ("method", "city"),
        "annual CO2 of the city's EV charging emitted in cities with lower GDP per capita",
    ),
    Variable(
        "carbon_class",
        "1",
        ("method", "city"),
        "1 carbon importer, -1 carbon exporter, 0 balanced: EV CO2 attributed vs located",
    ),
    Variable("demand", "MWh", ("province", "time"), "provincial demand without EVs per hour step"),
    Variable(
        "generation", "MWh", ("province", "source", "time"), "generation by source per hour step"
    ),
    Variable("curtailment", "MWh", ("province", "time"), "curtailed wind and solar per hour step"),
    Variable("unserved", "MWh", ("province", "time"), "demand not met per hour step"),
    Variable(
        "surplus",
        "MWh",
        ("province", "time"),
        "must-run and imported energy that could not be absorbed per hour step",
    ),
    Variable(
        "net_import",
        "MWh",
        ("province", "time"),
        "net energy received over corridors per hour step",
    ),
    Variable(
        "average_intensity",
        "kg MWh-1",
        ("province", "time"),
        "production-based average CO2 intensity of generation in the province",
    ),
    Variable(
        "consumption_intensity",
        "kg MWh-1",
        ("province", "time"),
        "consumption-based CO2 intensity (proportional flow tracing)",
    ),
    Variable(
        "marginal_intensity",
        "kg MWh-1",
        ("province", "time"),
        "CO2 intensity of the marginal source (short-run)",
    ),
    Variable(
        "marginal_source_share",
        "1",
        ("province", "source", "time"),
        "share of each source in the next increment of the province's load (short-run margin)",
    ),
    Variable(
        "import_fraction",
        "1",
        ("province", "time"),
        "share of the province's supply that was imported",
    ),
    Variable(
        "production_emissions",
        "t",
        ("province", "time"),
        "CO2 emitted by generation in the province per hour step",
    ),
    Variable(
        "flow",
        "MWh",
        ("corridor", "time"),
        "energy sent on each corridor per hour step (pool mode: hub links included)",
    ),
    Variable("annual_ev_emissions", "t", ("method", "city"), "annual CO2 of EV charging"),
    Variable(
        "annual_gasoline_emissions", "t", ("city",), "annual CO2 of the gasoline counterfactual"
    ),
    Variable(
        "annual_reduction", "t", ("method", "city"), "annual gasoline counterfactual minus EV CO2"
    ),
    Variable(
        "reduction_per_capita",
        "t person-1",
        ("method", "city"),
        "annual CO2 reduction per resident",
    ),
    Variable(
        "reduction_per_vehicle",
        "t vehicle-1",
        ("method", "city"),
        "annual CO2 reduction per electric car",
    ),
    Variable(
        "ev_to_gasoline_ratio",
        "1",
        ("method", "city"),
        "annual EV CO2 over gasoline counterfactual CO2",
    ),
    Variable(
        "gini",
        "1",
        ("method",),
        "population-weighted Gini coefficient of per-capita reductions over cities "
        "(NaN where the mean reduction is not positive)",
    ),
    Variable(
        "theil",
        "1",
        ("method",),
        "population-weighted Theil T index of per-capita reductions over cities "
        "(NaN where a city's reduction is negative)",
    ),
    Variable(
        "theil_between_province",
        "1",
        ("method",),
        "between-province part of the Theil T index of per-capita reductions",
    ),
    Variable(
        "theil_within_province",
        "1",
        ("method",),
        "within-province part of the Theil T index of per-capita reductions",
    ),
    Variable(
        "theil_between_grid_region",
        "1",
        ("method",),
        "between-regional-grid part of the Theil T index of per-capita reductions",
    ),
    Variable(
        "theil_within_grid_region",
        "1",
        ("method",),
        "within-regional-grid part of the Theil T index of per-capita reductions",
    ),
    Variable(
        "lorenz",
        "1",
        ("method", "population_share"),
        "Lorenz curve: share of the national reduction held by the population share with "
        "the lowest per-capita reductions",
    ),
    Variable(
        "concentration_index",
        "1",
        ("method",),
        "population-weighted concentration index of per-capita reductions against GDP per "
        "capita (> 0: concentrated in richer cities)",
    ),
    Variable(
        "poorer_city_emission_share",
        "1",
        ("method", "city"),
        "share of the city's EV emissions emitted in cities with a lower GDP per capita",
    ),
    Variable(
        "national_poorer_city_emission_share",
        "1",
        ("method",),
        "share of all EV emissions emitted in cities poorer than the city that consumed "
        "the electricity",
    ),
]

VARIABLES: dict[str, Variable] = {v.name: v for v in _TABLE}


def annotate(dataset: xr.Dataset) -> xr.Dataset:
    """Set ``units`` and ``long_name`` from the table and put dims in the table's order.

    Dimensions not in the table entry (``year``, ``strategy``) lead, in the order given. A
    variable along ``strategy`` loses a ``strategy`` attribute (the dimension labels it).

    Parameters
    ----------
    dataset : xr.Dataset
        Dataset whose data variables are all named in :data:`VARIABLES`.

    Returns
    -------
    xr.Dataset
        A new dataset with attributes set and dimensions ordered.

    Raises
    ------
    KeyError
        If a data variable is not in the table (every output must be documented), or its
        dimensions differ from the table's.
    """
    annotated = {}
    # the dataset's Variables (a DataArray per variable, with its coordinates picked out,
    # cost more than the rest of the annotation)
    for name in dataset.data_vars:
        data = dataset.variables[name]
        if name not in VARIABLES:
            raise KeyError(f"variable '{name}' is not in hourlysim.variables.VARIABLES")
        variable = VARIABLES[name]
        leading = [d for d in data.dims if d not in variable.dims]
        if set(variable.dims) - set(data.dims) or set(leading) - {"year", "strategy"}:
            raise KeyError(
                f"variable '{name}' has dims {data.dims}; the table says "
                f"{variable.dims} (plus year, strategy)"
            )
        # on the Variable: the dataset's coordinates are already aligned, so the new
        # dataset takes them as they are (no realignment of every variable)
        ordered = data.transpose(*[d for d in ("year", "strategy") if d in leading], *variable.dims)
        ordered.attrs.update(units=variable.units, long_name=variable.long_name)
        if "strategy" in ordered.dims:  # labelled by the dimension: one strategy's name
            ordered.attrs.pop("strategy", None)  # (charging_load's) would mislabel the rest
        annotated[name] = ordered
    return xr.Dataset(annotated, coords=dataset.coords, attrs=dataset.attrs)
