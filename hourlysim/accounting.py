"""Stage 4: EV and gasoline emissions per city-hour under each accounting method.

Methods (:data:`METHODS`), all in t CO2 per city-hour:

- ``territorial``: tailpipe emissions (0: the model's EVs are battery-electric) plus the
  EV-caused emissions physically located inside the city's boundary, from any city's EVs,
  under the consumption attribution and the plant placement below. Summed over cities it
  equals the consumption total, but it sits where the plants are.
- ``average``: EV electricity x production intensity of the city's province.
- ``consumption``: EV electricity x flow-traced intensity of what the province consumes
  (supply shares of the grid with EVs; the emissions of energy lost on corridors reach no
  consumer, see :mod:`hourlysim.flow_tracing`).
- ``marginal``: EV electricity x short-run marginal intensity of the city's province.
- ``consequential``: ``ev_caused_emissions`` (with-EV minus without-EV production emissions
  per producing province-hour) attributed to consuming cities: a producer's change is
  shared among the cities whose EV power it supplies, in proportion to EV draw x supply
  share (tracing of the grid with EVs); when no EV power traces to it that hour, among all
  cities in proportion to their EV draw that hour; when no city draws that hour, in
  proportion to their annual EV draw. The change can be negative in a province-hour.

Plant placement (where a province's emissions physically occur, by city):
ASSUMPTION: a province's emissions (all from coal and gas units in this model) are located
in its cities in proportion to the coal capacity of ``inputs/plants.csv`` (GEM) there
(plants starting after the model year left out). Gas
units are not in GEM (licence): ASSUMPTION: gas is placed like the province's coal; in a
province without coal plants (e.g. Beijing), all its emissions are placed in proportion to
population. A plant's city is its ``adcode`` when that is a city of the set, else the
prefecture code (first 4 digits + ``00``), else the nearest city centroid of its province.

Burden location (``burden_province``, annual, by producing province): for ``consumption``
and ``consequential`` from the tracing above; for ``average`` and ``marginal`` (which do not
say where the power came from) and ``territorial`` (emissions inside the city) the city's
own province carries all of it.

The grid with EVs is traced here, once: the solve of its supply shares also gives its
consumption intensity and import fractions, which :func:`account` returns, so the runner
simulates that grid without tracing it (``GridYear.simulate(draw, trace=False)``). The import
share of a city uses these traced import fractions, not a grid's ``import_fraction`` variable.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import xarray as xr

from ._kernels.accounting import (
    at_province_rate,
    attribute_ev_emissions,
    draw_with_group_sums,
    gasoline_co2,
    located_share_below,
    sum_by_group,
)
from .inputs import PLANTS_FILE, InputSet

logger = logging.getLogger(__name__)

METHODS = ("territorial", "average", "consumption", "marginal", "consequential")
#: grid output variable holding the intensity each method (or carbon signal) uses
INTENSITY_VARIABLE = {
    "average": "average_intensity",
    "consumption": "consumption_intensity",
    "marginal": "marginal_intensity",
}
#: relative tolerance under which attributed and located emissions count as balanced
BALANCE_TOLERANCE = 1e-9
#: carbon_class flags
CARBON_EXPORTER, BALANCED, CARBON_IMPORTER = -1, 0, 1


def province_index(city_province: xr.DataArray, provinces) -> np.ndarray:
    """Index into ``provinces`` of each city's province (int64)."""
    lookup = {code: i for i, code in enumerate(list(provinces))}
    return np.array([lookup[code] for code in city_province.values], dtype=np.int64)


#: name and attributes of the EV draw at generation level (on top of the charging load's)
_DRAW_NAME = "ev_grid_draw"
_DRAW_ATTRIBUTES = {"units": "MWh", "long_name": "EV charging energy at generation level"}


def ev_grid_draw(charging_load: xr.DataArray, td_loss_fraction: float) -> xr.DataArray:
    """EV electricity at generation level: charger energy grossed up for T&D losses [MWh]."""
    draw = charging_load / (1.0 - td_loss_fraction)
    draw.name = _DRAW_NAME
    draw.attrs.update(_DRAW_ATTRIBUTES)
    return draw


def ev_grid_draw_by_province(
    charging_load: xr.DataArray,
    td_loss_fraction: float,
    city_province: xr.DataArray,
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[xr.DataArray, xr.DataArray, xr.DataArray, xr.DataArray]:
    """:func:`ev_grid_draw` of every city, its sum over each province's cities (as
    ``groupby().sum()``, provinces sorted), and the load and draw copied into output arrays,
    in one pass over the load (:func:`hourlysim._kernels.accounting.draw_with_group_sums`).

    Parameters
    ----------
    charging_load : xr.DataArray (city, time)
        Charger energy of each city [MWh].
    td_loss_fraction : float
        Share of the energy at generation level lost in transmission and distribution [1].
    city_province : xr.DataArray (city,)
        Province code of each city, in the order of ``charging_load``'s cities.
    out : (ndarray, ndarray) (city, time), optional
        Where to copy the load and the draw, in any float dtype (float32 rows of a caller's
        stacked output, say: each value rounded once); float32 arrays when absent.

    Returns
    -------
    draw : xr.DataArray (city, time)
        :func:`ev_grid_draw`, value for value [MWh].
    by_province : xr.DataArray (province, time)
        ``draw`` summed by province [MWh]. Nothing is skipped: a NaN value makes its
        province's sums NaN, which the grid then refuses.
    stored_load, stored_draw : xr.DataArray (city, time)
        The load and the draw on ``out``, with the names and attributes of
        ``charging_load`` and ``draw`` [MWh].

    Raises
    ------
    ValueError
        If ``city_province`` labels its cities in another order than ``charging_load``.
    """
    load = charging_load.transpose("city", "time")
    if "city" in city_province.indexes and not city_province.indexes["city"].equals(
        load.indexes["city"]
    ):
        raise ValueError("city_province and the load list their cities in different orders")
    codes, provinces = pd.factorize(city_province.values, sort=True)
    values = np.asarray(load.values, dtype=np.float64)
    if out is None:
        out = (np.empty(values.shape, np.float32), np.empty(values.shape, np.float32))
    draw = np.empty(values.shape)
    summed = np.empty((len(provinces), values.shape[1]))
    draw_with_group_sums(values, 1.0 - td_loss_fraction, codes.astype(np.int64), draw, summed, *out)
    attrs = {**load.attrs, **_DRAW_ATTRIBUTES}

    def labelled(data, name, attributes):
        # the load's labels as they are (a new DataArray would build its indexes again)
        result = load.copy(deep=False, data=data)
        result.name, result.attrs = name, attributes
        return result

    by_province = xr.DataArray(
        summed,
        dims=("province", "time"),
        coords={"province": pd.Index(provinces), "time": load.get_index("time")},
        name=_DRAW_NAME,
        attrs=attrs,
    )
    return (
        labelled(draw, _DRAW_NAME, attrs),
        by_province,
        labelled(out[0], load.name, dict(load.attrs)),
        labelled(out[1], _DRAW_NAME, attrs),
    )


def gasoline_emissions(gasoline_litres: xr.DataArray, kg_co2_per_litre: float) -> xr.DataArray:
    """CO2 of the gasoline counterfactual [t] from litres burned [L] and kg CO2 per litre."""
    emissions = gasoline_litres * (kg_co2_per_litre / 1000.0)
    emissions.attrs["units"] = "t"
    return emissions


def gasoline_counterfactual(
    gasoline_litres: xr.DataArray,
    inputs: InputSet,
    parameters: dict | None = None,
    dtype: np.dtype | type = np.float64,
) -> xr.Dataset:
    """The gasoline counterfactual of every city-hour: well-to-wheel and tank-to-wheel CO2.

    The same for every charging strategy of a year, so a caller that accounts several
    strategies computes it once and hands it to :func:`account`.

    Parameters
    ----------
    gasoline_litres : xr.DataArray (city, time)
        Gasoline the replaced cars would burn [L].
    inputs : InputSet
        Input set (parameters ``gasoline_kg_co2_per_l_well_to_wheel`` and
        ``gasoline_kg_co2_per_l_tank_to_wheel`` [kg CO2 L-1]).
    parameters : dict, optional
        Overrides of those parameters.
    dtype : float dtype, optional
        Of the hourly series: float32, the output's precision, rounds each value once, as
        it is computed (no float64 copy and cast); float64 by default.

    Returns
    -------
    xr.Dataset
        ``gasoline_emissions`` (well-to-wheel) and ``gasoline_tailpipe_emissions``
        (tank-to-wheel), (city, time) [t], :func:`gasoline_emissions` of each, value for
        value (rounded to ``dtype``); ``annual_gasoline_emissions`` (city) [t], the
        well-to-wheel emissions summed over the hours in float64, before any rounding (once
        a year, not once per strategy: :func:`account` hands it on to
        :func:`hourlysim.inequality.city_indicators`).
    """
    litres = gasoline_litres.transpose("city", "time")
    names = {
        "gasoline_emissions": "gasoline_kg_co2_per_l_well_to_wheel",
        "gasoline_tailpipe_emissions": "gasoline_kg_co2_per_l_tank_to_wheel",
    }
    # t per litre, as gasoline_emissions scales them: one pass over the litres for both
    per_litre = np.array([inputs.parameter(name, parameters) / 1000.0 for name in names.values()])
    values = np.ascontiguousarray(litres.values, dtype=np.float64)
    hourly = np.empty((len(names), *values.shape), dtype)
    exact = hourly[0] if hourly.dtype == np.float64 else np.empty(values.shape)
    gasoline_co2(values, per_litre, hourly, exact)
    by_city_hour = ("city", "time")
    return xr.Dataset(
        {
            **{
                variable: (by_city_hour, hourly[i], {"units": "t"})
                for i, variable in enumerate(names)
            },
            "annual_gasoline_emissions": (
                "city",
                exact.sum(axis=1, dtype=np.float64),
                {"units": "t"},
            ),
        },
        coords=litres.coords,
    )


# ---------------------------------------------------------------- plant placement


def plant_cities(plants: pd.DataFrame, cities: pd.DataFrame) -> np.ndarray:
    """City (adcode) of every plant.

    Parameters
    ----------
    plants : pandas.DataFrame
        ``province``, ``adcode``, ``latitude``, ``longitude`` of each plant.
    cities : pandas.DataFrame
        ``adcode``, ``province``, ``latitude``, ``longitude`` of each city of the set.

    Returns
    -------
    ndarray of int64
        The plant's ``adcode`` when it is a city of its province in the set, else the
        prefecture code (first 4 digits + ``00``) when that is, else the nearest city
        centroid (great circle) among the cities of its province (of the whole set when the
        province has none); -1 when the set is empty.
    """
    result = np.full(len(plants), -1, dtype=np.int64)
    if cities.empty:
        return result
    codes = cities["adcode"].to_numpy(np.int64)
    provinces = cities["province"].to_numpy()
    province_of = pd.Series(provinces, index=pd.Index(codes))
    if not province_of.index.is_unique:
        raise ValueError("cities must list each adcode once")
    # the plant's own code, then its prefecture's, where that is a city of its province (all
    # plants at once: a row-by-row lookup cost more than the rest of the weights)
    plant_province = plants["province"].to_numpy()
    adcode = plants["adcode"].to_numpy(np.int64)
    for candidate in (adcode, adcode // 100 * 100):
        found = (result < 0) & (province_of.reindex(candidate).to_numpy() == plant_province)
        result[found] = candidate[found]
    # else the nearest city centroid of its province (of the whole set when it has none)
    lat = np.radians(cities["latitude"].to_numpy(float))
    lon = np.radians(cities["longitude"].to_numpy(float))
    for row in np.flatnonzero(result < 0):
        inside = provinces == plant_province[row]
        pool = inside if inside.any() else np.ones(len(codes), bool)
        phi = np.radians(float(plants["latitude"].iloc[row]))
        lam = np.radians(float(plants["longitude"].iloc[row]))
        cosine = np.sin(phi) * np.sin(lat[pool]) + np.cos(phi) * np.cos(lat[pool]) * np.cos(
            lon[pool] - lam
        )
        result[row] = codes[pool][int(np.argmax(cosine))]
    return result


def city_weights(inputs: InputSet, cities: xr.Dataset, year: int | None = None) -> xr.DataArray:
    """Share of its province's emissions located in each city [1].

    Coal capacity of the plants placed in the city over that of the province's cities;
    population share in a province without coal plants (both ASSUMPTIONs, see the module
    docstring). Sums to 1 over the cities of each province of ``cities``.

    Parameters
    ----------
    inputs : InputSet
        Input set: its ``plants`` (``plants.csv``, read and checked with the set; None
        without that file).
    cities : xr.Dataset (city,)
        The simulated cities: ``city_province``, ``latitude``, ``longitude``,
        ``population``.
    year : int, optional
        Model year: plants with a later ``start_year`` are left out (unknown years kept).
    """
    table = pd.DataFrame(
        {
            "adcode": cities["city"].values.astype(np.int64),
            "province": cities["city_province"].values,
            "latitude": cities["latitude"].values,
            "longitude": cities["longitude"].values,
        }
    )
    capacity = pd.Series(0.0, index=table["adcode"])
    plants = inputs.plants
    if plants is None:
        logger.warning("no %s in %s: emissions placed by population", PLANTS_FILE, inputs.path)
    else:
        keep = (plants["source"] == "coal") & plants["province"].isin(table["province"])
        if year is not None and "start_year" in plants.columns:
            start = pd.to_numeric(plants["start_year"], errors="coerce")
            keep &= start.isna() | (start <= year)
        coal = plants[keep]
        placed = plant_cities(coal, table)
        capacity = capacity.add(
            pd.Series(coal["capacity_mw"].to_numpy(float), index=placed).groupby(level=0).sum(),
            fill_value=0.0,
        ).reindex(table["adcode"])
    population = pd.Series(cities["population"].values.astype(float), index=table["adcode"])
    province = pd.Series(table["province"].to_numpy(), index=table["adcode"])
    coal_total = capacity.groupby(province).transform("sum")
    people_total = population.groupby(province).transform("sum")
    weight = np.where(
        coal_total > 0,
        capacity / coal_total.where(coal_total > 0, 1.0),
        population / people_total.where(people_total > 0, 1.0),
    )
    return xr.DataArray(
        weight, dims="city", coords={"city": cities["city"].values}, attrs={"units": "1"}
    )


# ---------------------------------------------------------------- accounting


def _nodes(grid: xr.Dataset, inputs: InputSet):
    """Node names (provinces, then hubs) and each corridor's endpoint indices and losses.
    (Read from the dataset's Variables: a DataArray per read cost more than the reads.)"""
    variables = grid.variables
    provinces = [str(p) for p in variables["province"].values]
    flow_variable = variables["flow"]
    if "from_node" in grid.coords and "to_node" in grid.coords:
        ends_from = [str(v) for v in variables["from_node"].values]
        ends_to = [str(v) for v in variables["to_node"].values]
    else:
        table = inputs.corridors.sel(corridor=grid["flow"]["corridor"].values)
        ends_from = [str(v) for v in table["from_province"].values]
        ends_to = [str(v) for v in table["to_province"].values]
    nodes = list(provinces)
    for name in ends_from + ends_to:
        if name not in nodes:
            nodes.append(name)
    index = {name: i for i, name in enumerate(nodes)}
    flow = np.ascontiguousarray(flow_variable.transpose("corridor", "time").values, np.float64)
    # (corridor, 1) when the same every hour: the kernel reads the one column every hour
    if "loss_fraction" not in variables:
        loss = np.zeros((flow.shape[0], 1))
    elif variables["loss_fraction"].dims == ("corridor",):  # the grid's own: one per corridor
        loss = np.ascontiguousarray(variables["loss_fraction"].values[:, None], np.float64)
    else:
        fraction = grid["loss_fraction"].broadcast_like(grid["flow"])
        loss = np.ascontiguousarray(fraction.transpose("corridor", "time").values, np.float64)
    return (
        nodes,
        np.array([index[n] for n in ends_from], np.int64),
        np.array([index[n] for n in ends_to], np.int64),
        flow,
        loss,
    )


def _on_nodes(data: xr.Variable, n_node: int) -> np.ndarray:
    """(province, time) values padded with zero rows for the hub nodes; a variable with a
    ``source`` dimension is summed over it (in plain numpy: nothing skipped, a NaN stays).
    A dataset's Variable, not a DataArray: building one per call cost more than the copy."""
    if "source" in data.dims:
        values = data.transpose("province", "source", "time").values.sum(axis=1)
    else:
        values = data.transpose("province", "time").values
    padded = np.zeros((n_node, values.shape[1]))
    padded[: values.shape[0]] = values
    return padded


def _on_cities(data, city: np.ndarray):
    """``data`` (a Dataset or DataArray with a ``city`` index) on ``city``, in that order:
    selected only where its own order differs."""
    if data.indexes["city"].equals(pd.Index(city)):
        return data
    return data.sel(city=city)


def attribution_arguments(
    draw: xr.DataArray,
    grid: xr.Dataset,
    base_grid: xr.Dataset,
    inputs: InputSet,
    city_weight: xr.DataArray | None = None,
    draw_by_province: xr.DataArray | None = None,
) -> tuple:
    """The arguments of the accounting kernel (:func:`attribute_ev_emissions`) for one
    strategy-year, in its order: plain float64 / int64 arrays on the network's nodes
    (provinces, then hubs).

    Parameters
    ----------
    draw : xr.DataArray (city, time)
        EV electricity at generation level [MWh].
    grid, base_grid : xr.Dataset
        :func:`hourlysim.grid.simulate_grid` with and without the EV draw.
    inputs : InputSet
        Input set (cities, ``plants.csv``, corridors).
    city_weight : xr.DataArray (city,), optional
        :func:`city_weights` of the draw's cities and year [1]; computed when absent.
    draw_by_province : xr.DataArray (province, time), optional
        ``draw`` summed by province, as :func:`ev_grid_draw_by_province` returns it with
        the draw [MWh]; summed here when absent.

    Returns
    -------
    tuple
        ``(draw [MWh], city_node, city_weight [1], annual_draw_share [1], generation [MWh],
        emissions [t], ev_caused [t], edge_from, edge_to, flow [MWh], loss [1], node_draw
        [MWh])``; ``loss`` is (edge, 1) when it is the same every hour.

    Raises
    ------
    ValueError
        If ``draw_by_province`` names a province the grid lacks, covers other hours, or
        does not add up to the draw's annual sums by province.
    """
    return _attribution_arguments(draw, grid, base_grid, inputs, city_weight, draw_by_province)[0]


def _node_draw(
    values: np.ndarray,
    city_node: np.ndarray,
    annual: np.ndarray,
    n_node: int,
    provinces: list[str],
    draw_by_province: xr.DataArray | None,
) -> np.ndarray:
    """The cities' draw ``values`` (city, time) summed over each node's cities, in city
    order (node, time) [MWh]: ``draw_by_province`` placed on the nodes where given (the
    sums the pass that made the draw took, value for value the same), else summed here.
    A given one is checked against the cities' ``annual`` draw [MWh], summed by node."""
    n_time = values.shape[1]
    if draw_by_province is None:
        return sum_by_group(values, city_node, np.empty((n_node, n_time)))
    node = pd.Index(provinces).get_indexer(draw_by_province.get_index("province"))
    if (node < 0).any():
        raise ValueError("draw_by_province names provinces that the grid lacks")
    summed = draw_by_province.variable.transpose("province", "time").values
    if summed.shape[1] != n_time:
        raise ValueError(f"draw_by_province covers {summed.shape[1]} hours, the draw {n_time}")
    node_draw = np.zeros((n_node, n_time))
    node_draw[node] = summed
    expected = np.bincount(city_node, weights=annual, minlength=n_node)
    if not np.allclose(node_draw.sum(axis=1), expected, rtol=1e-9, equal_nan=True):
        raise ValueError("draw_by_province does not add up to the draw summed by province")
    return node_draw


def _attribution_arguments(
    draw, grid, base_grid, inputs, city_weight, draw_by_province=None
) -> tuple:
    """:func:`attribution_arguments`, and each city's annual draw [MWh] they were built
    from (for :func:`account`'s import shares, so the draw is summed once)."""
    city = draw["city"].values
    cities = _on_cities(inputs.cities, city)
    if not grid.indexes["province"].equals(base_grid.indexes["province"]):
        raise ValueError("the grids with and without EVs list their provinces differently")
    provinces = [str(v) for v in grid["province"].values]
    nodes, edge_from, edge_to, flow, loss = _nodes(grid, inputs)
    n_node = len(nodes)
    city_node = province_index(cities["city_province"], provinces)
    if city_weight is None:
        year = int(pd.DatetimeIndex(draw["time"].values)[0].year) if draw.sizes["time"] else None
        city_weight = city_weights(inputs, cities, year)
    values = np.ascontiguousarray(draw.transpose("city", "time").values, dtype=np.float64)
    annual = values.sum(axis=1)
    total_draw = annual.sum()
    annual_share = annual / total_draw if total_draw > 0 else np.zeros_like(annual)
    emissions = _on_nodes(grid.variables["production_emissions"], n_node)
    # the grid's own sum over the sources where it reports it (a grid built otherwise, say
    # by hand, is summed here: the same sums, source by source)
    total = "total_generation" if "total_generation" in grid.data_vars else "generation"
    arguments = (
        values,
        city_node,
        _on_cities(city_weight, city).values,
        annual_share,
        _on_nodes(grid.variables[total], n_node),
        emissions,
        emissions - _on_nodes(base_grid.variables["production_emissions"], n_node),
        edge_from,
        edge_to,
        flow,
        loss,
        _node_draw(values, city_node, annual, n_node, provinces, draw_by_province),
    )
    return arguments, annual


def account(
    draw: xr.DataArray,
    gasoline_litres: xr.DataArray | None,
    grid: xr.Dataset,
    base_grid: xr.Dataset,
    inputs: InputSet,
    parameters: dict | None = None,
    city_weight: xr.DataArray | None = None,
    counterfactual: xr.Dataset | None = None,
    out: np.ndarray | None = None,
    draw_by_province: xr.DataArray | None = None,
) -> xr.Dataset:
    """EV emissions by method, the gasoline counterfactual and where the emissions occur.

    Parameters
    ----------
    draw : xr.DataArray (city, time)
        EV electricity at generation level [MWh].
    gasoline_litres : xr.DataArray (city, time) or None
        Gasoline the replaced cars would burn over the same km [L]; may be None when
        ``counterfactual`` is given.
    grid, base_grid : xr.Dataset
        :func:`hourlysim.grid.simulate_grid` with and without the EV draw.
    inputs : InputSet
        Input set (cities with ``city_province``, coordinates, population,
        ``gdp_per_capita``; ``plants.csv``; corridors; parameters).
    parameters : dict, optional
        Overrides of scalar parameters (``gasoline_kg_co2_per_l_well_to_wheel``,
        ``gasoline_kg_co2_per_l_tank_to_wheel``).
    city_weight : xr.DataArray (city,), optional
        :func:`city_weights` of the draw's cities and year [1], when the caller already has
        it (it is the same for every strategy of a year); computed here otherwise.
    counterfactual : xr.Dataset, optional
        :func:`gasoline_counterfactual` of the same cities and hours, when the caller already
        has it (the same for every strategy of a year); computed from ``gasoline_litres``
        otherwise.
    out : ndarray (method, city, time), optional
        Where to write the hourly EV emissions, methods in the order of :data:`METHODS`, in
        any float dtype (a float32 row of a caller's stacked output, say: each value is
        rounded once, as it is written); a float64 array is made when absent. Every sum
        over the hours is taken in float64, before that rounding.
    draw_by_province : xr.DataArray (province, time), optional
        ``draw`` summed by province, when the caller already has it
        (:func:`ev_grid_draw_by_province`); summed here otherwise.

    Returns
    -------
    xr.Dataset
        ``ev_emissions`` (method, city, time) [t] (``out`` when given) and its sum over the hours,
        ``annual_ev_emissions`` (method, city) [t]; ``gasoline_emissions`` (well-to-wheel)
        and ``gasoline_tailpipe_emissions`` (tank-to-wheel) (city, time) [t], and
        ``annual_gasoline_emissions`` (city) [t] where the counterfactual carries it (one
        from :func:`gasoline_counterfactual` does); ``import_share`` (city) [1];
        ``ev_caused_emissions`` (province, time) [t];
        ``consumption_intensity`` (province, time) [kg MWh-1] and ``import_fraction``
        (province, time) [1] of the grid with EVs as traced here (the intensity as one more
        column of the supply shares' solve, by the grid's own tracing's sums; the import
        fractions value for value), so a caller can skip that (``GridYear.simulate(...,
        trace=False)``);
        ``burden_province`` (method, city, producer) [t] annual; ``emissions_in_poorer_cities``
        (method, city) [t] annual; ``carbon_class`` (method, city) int8 (1 importer: the EV
        emissions attributed to the city exceed the EV-caused emissions located in it;
        -1 exporter; 0 balanced within :data:`BALANCE_TOLERANCE`; ``territorial`` is 0 by
        definition). The hourly reduction is ``gasoline_emissions - ev_emissions``; it is
        not stored.

    Raises
    ------
    ValueError
        If neither ``gasoline_litres`` nor ``counterfactual`` is given, ``out`` is not a
        float array of the (method, city, time) shape, or ``draw_by_province`` is not the
        draw summed by province (see :func:`attribution_arguments`).
    """
    if counterfactual is None:
        if gasoline_litres is None:
            raise ValueError("account needs gasoline_litres or its counterfactual")
        counterfactual = gasoline_counterfactual(gasoline_litres, inputs, parameters)
    city = draw["city"].values
    cities = _on_cities(inputs.cities, city)
    provinces = [str(v) for v in grid["province"].values]
    n_province = len(provinces)
    arguments, annual = _attribution_arguments(
        draw, grid, base_grid, inputs, city_weight, draw_by_province
    )
    values, city_node, weights = arguments[:3]
    caused = arguments[6][:n_province]
    # each method's hourly emissions written straight into one (method, city, time) array:
    # the traced methods by the kernel, average and marginal below
    shape = (len(METHODS), *values.shape)
    if out is None:
        ev = np.empty(shape)
    elif out.shape != shape or out.dtype.kind != "f":
        raise ValueError(f"out must be a float array of shape {shape}, got {out.dtype} {out.shape}")
    else:
        ev = out
    row = {method: m for m, method in enumerate(METHODS)}
    traced = ("consumption", "consequential", "territorial")  # the kernel's order
    (
        _,
        _,
        _,
        burden_consumption,
        burden_consequential,
        unattributed,
        residual,
        annual_traced,
        traced_intensity,
        traced_import_fraction,
    ) = attribute_ev_emissions(*arguments, *(ev[row[method]] for method in traced))
    if residual.max(initial=0.0) > 1e-8:
        logger.warning(
            "accounting: tracing residual up to %.3g in %d hours",
            residual.max(),
            int((residual > 1e-8).sum()),
        )
    if np.abs(unattributed).sum() > 0:
        logger.warning(
            "accounting: %.6g t of EV-caused emissions with no EV draw in the year to carry them",
            unattributed.sum(),
        )
    # average and marginal: intensity [kg MWh-1] / 1000 x MWh = t CO2, written hour by
    # hour and summed over the year, and each city's annual imported electricity [MWh] (at
    # the traced import fractions), in one pass over the draw
    at_province = ("average", "marginal")
    import_fraction = traced_import_fraction[:n_province]
    rates = np.empty((len(at_province) + 1, *import_fraction.shape))
    for position, method in enumerate(at_province):
        intensity = grid.variables[INTENSITY_VARIABLE[method]].transpose("province", "time")
        intensity = intensity.values
        np.divide(intensity, 1000.0, out=rates[position])
    rates[-1] = import_fraction
    annual_rates = np.empty((len(rates), len(city)))
    at_province_rate(
        values, city_node, rates, ev, np.array([row[m] for m in at_province]), annual_rates
    )
    *annual_at_province, imported = annual_rates
    annual_ev = np.empty((len(METHODS), len(city)))
    for method, annual_method in zip(
        traced + at_province, (*annual_traced, *annual_at_province), strict=True
    ):
        annual_ev[row[method]] = annual_method
    burden = np.zeros((len(METHODS), len(city), n_province))
    for m, method in enumerate(METHODS):
        if method == "consumption":
            burden[m] = burden_consumption[:, :n_province]
        elif method == "consequential":
            burden[m] = burden_consequential[:, :n_province]
        else:
            burden[m, np.arange(len(city)), city_node] = annual_ev[m]
    _warn_unplaced(burden, city_node, n_province)
    gdp = cities["gdp_per_capita"].values.astype(np.float64)
    poorer = np.zeros((len(METHODS), len(city)))
    carbon_class = np.zeros((len(METHODS), len(city)), np.int8)
    for m, method in enumerate(METHODS):
        if method == "territorial":
            continue  # the city's territorial emissions are inside it: none elsewhere
        poorer[m] = located_share_below(burden[m], city_node, weights, gdp)
        located = weights * burden[m].sum(axis=0)[city_node]
        carbon_class[m] = classify(annual_ev[m], located)

    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(annual > 0, imported / np.where(annual > 0, annual, 1), 0.0)
    # the labels as the draw and the grid index them (not built again from their values)
    labels = {dim: draw.get_index(dim) for dim in ("city", "time")}
    for dim in ("city", "time"):
        if not counterfactual.get_index(dim).equals(labels[dim]):
            raise ValueError(f"the gasoline counterfactual and the draw differ in their {dim}s")
    # its Variables in (city, time) order (a transposed Dataset, or a DataArray per variable,
    # cost more than the rest of the labelling)
    gasoline = {
        name: variable.transpose(*(dim for dim in ("city", "time") if dim in variable.dims))
        for name, variable in counterfactual.variables.items()
        if name in counterfactual.data_vars
    }
    by_city_hour, by_method_city, by_province_hour = (
        ("method", "city", "time"),
        ("method", "city"),
        ("province", "time"),
    )
    # units given with the data (setting them afterwards built a DataArray each)
    return xr.Dataset(
        {
            "ev_emissions": (by_city_hour, ev, {"units": "t"}),
            "annual_ev_emissions": (by_method_city, annual_ev, {"units": "t"}),
            **{
                name: (
                    gasoline[name].dims,
                    gasoline[name].data,
                    {**gasoline[name].attrs, "units": "t"},
                )
                for name in (
                    "gasoline_emissions",
                    "gasoline_tailpipe_emissions",
                    "annual_gasoline_emissions",
                )
                if name in gasoline
            },
            "import_share": ("city", share, {"units": "1"}),
            "ev_caused_emissions": (by_province_hour, caused, {"units": "t"}),
            "consumption_intensity": (
                by_province_hour,
                traced_intensity[:n_province] * 1e3,
                {"units": "kg MWh-1"},
            ),
            "import_fraction": (by_province_hour, import_fraction, {"units": "1"}),
            "burden_province": (("method", "city", "producer"), burden, {"units": "t"}),
            "emissions_in_poorer_cities": (by_method_city, poorer, {"units": "t"}),
            "carbon_class": (
                by_method_city,
                carbon_class,
                {
                    "units": "1",
                    "flag_values": np.array([CARBON_EXPORTER, BALANCED, CARBON_IMPORTER], np.int8),
                    "flag_meanings": "carbon_exporter balanced carbon_importer",
                },
            ),
        },
        coords={
            "method": list(METHODS),
            **labels,
            # a pandas index names its dimension: the producers' is renamed
            **{dim: grid.get_index("province").rename(dim) for dim in ("province", "producer")},
        },
    )


def classify(attributed: np.ndarray, located: np.ndarray) -> np.ndarray:
    """Carbon class of each city: 1 importer, -1 exporter, 0 balanced (int8).

    Parameters
    ----------
    attributed : ndarray (city,)
        EV emissions attributed to the city (its consumption) [t].
    located : ndarray (city,)
        EV-caused emissions located in the city [t].
    """
    difference = attributed - located
    scale = np.maximum(np.abs(attributed), np.abs(located))
    balanced = np.abs(difference) <= BALANCE_TOLERANCE * scale
    return np.where(balanced, BALANCED, np.sign(difference)).astype(np.int8)


def _warn_unplaced(burden: np.ndarray, city_node: np.ndarray, n_province: int) -> None:
    """Log EV emissions that occur in a province none of the simulated cities lie in."""
    without = np.setdiff1d(np.arange(n_province), city_node)
    if without.size and burden[:, :, without].any():
        logger.warning(
            "accounting: EV emissions occur in %d provinces without simulated cities; "
            "territorial emissions there are not located in any city",
            without.size,
        )
