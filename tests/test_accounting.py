"""Stage 4: hand-computed two-province cases, a numpy reference and conservation laws."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from hourlysim._kernels.accounting import attribute_ev_emissions
from hourlysim._kernels.tracing import consumption_intensity
from hourlysim.accounting import (
    CARBON_EXPORTER,
    CARBON_IMPORTER,
    METHODS,
    account,
    classify,
    ev_grid_draw,
    ev_grid_draw_by_province,
    gasoline_counterfactual,
    gasoline_emissions,
    plant_cities,
)
from hourlysim.inputs import InputSet, read_plants

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_all import reference_attribution  # noqa: E402  (the plain-numpy accounting)

TIME = pd.date_range("2021-01-01", periods=3, freq="h")
CITIES = [110100, 110200, 220100]  # a1, a2 in province AA; b1 in BB


def _inputs(folder: Path, corridors: bool = True) -> InputSet:
    """Three cities in two provinces; coal plants of 100 MW in a1 and 300 MW in a2."""
    pd.DataFrame(
        {
            "plant": ["p1", "p2", "p3"],
            "source": ["coal", "coal", "wind"],
            "province": ["AA", "AA", "BB"],
            "adcode": [110100, 110281, 220100],  # p2: a county code of a2
            "latitude": [0.0, 1.0, 5.0],
            "longitude": [0.0, 1.0, 5.0],
            "capacity_mw": [100.0, 300.0, 999.0],
            "start_year": [2000, 2000, 2000],
        }
    ).to_csv(folder / "plants.csv", index=False)
    cities = xr.Dataset(
        {
            "latitude": ("city", [0.0, 1.0, 5.0]),
            "longitude": ("city", [0.0, 1.0, 5.0]),
            "population": ("city", [1e6, 2e6, 3e6]),
            "gdp_per_capita": ("city", [100.0, 50.0, 200.0]),
        },
        coords={"city": CITIES, "city_province": ("city", ["AA", "AA", "BB"])},
    )
    table = xr.Dataset(
        {"from_province": ("corridor", ["AA"]), "to_province": ("corridor", ["BB"])},
        coords={"corridor": ["C1"]},
    )
    parameters = xr.Dataset(
        {
            "gasoline_kg_co2_per_l_well_to_wheel": 2.5,
            "gasoline_kg_co2_per_l_tank_to_wheel": 2.0,
        }
    )
    return InputSet(
        cities=cities,
        provinces=xr.Dataset(),
        hourly=xr.Dataset(),
        corridors=table if corridors else table.isel(corridor=[]),
        parameters=parameters,
        vehicles=xr.Dataset(),
        path=folder,
        plants=read_plants(folder),
    )


def _grid(production, generation, flow, **extra):
    """A grid Dataset with what accounting reads (generation as one source)."""
    generation = np.asarray(generation, float)
    production = np.asarray(production, float)
    average = np.divide(
        production * 1000, generation, out=np.zeros_like(generation), where=generation > 0
    )
    data = xr.Dataset(
        {
            "generation": (("province", "source", "time"), generation[:, None, :]),
            "production_emissions": (("province", "time"), production),
            "average_intensity": (("province", "time"), average),
            "marginal_intensity": (("province", "time"), np.full_like(average, 900.0)),
            "import_fraction": (("province", "time"), np.zeros_like(average)),
            "flow": (("corridor", "time"), np.asarray(flow, float)),
        },
        coords={
            "province": ["AA", "BB"],
            "source": ["coal"],
            "time": TIME,
            "corridor": [f"C{k + 1}" for k in range(len(flow))],
        },
    )
    return data.assign_coords(**extra)


def _draw(values):
    return xr.DataArray(
        np.asarray(values, float), dims=("city", "time"), coords={"city": CITIES, "time": TIME}
    )


def _hand_case(tmp_path):
    """Hour 0: AA (100 MWh, 80 t) sends 50 MWh to BB (50 MWh clean); a1 draws 10, b1 20.
    Hour 1: nobody draws but AA's dispatch emits 2 t more. Hour 2: no flow, only a1 draws 6.
    With EVs, AA emits 20, 2, 4 t more and BB 3, 0, 1 t less (it burned gas without EVs)."""
    generation = [[100.0, 100.0, 100.0], [50.0, 50.0, 50.0]]
    grid = _grid([[80.0, 80.0, 80.0], [0.0, 0.0, 0.0]], generation, [[50.0, 50.0, 0.0]])
    base = _grid([[60.0, 78.0, 76.0], [3.0, 0.0, 1.0]], generation, [[50.0, 50.0, 0.0]])
    draw = _draw([[10.0, 0.0, 6.0], [0.0, 0.0, 0.0], [20.0, 0.0, 0.0]])
    litres = _draw([[4.0, 0.0, 0.0], [0.0, 0.0, 0.0], [2.0, 2.0, 0.0]])
    return account(draw, litres, grid, base, _inputs(tmp_path), None)


def test_two_provinces_by_hand(tmp_path):
    result = _hand_case(tmp_path)
    ev = result["ev_emissions"]

    def hourly(method, city):
        return ev.sel({"method": method, "city": city}).values

    # BB's power: half its own (clean), half from AA at 0.8 t/MWh -> 0.4 t/MWh
    np.testing.assert_allclose(hourly("consumption", 110100), [8.0, 0.0, 4.8])
    np.testing.assert_allclose(hourly("consumption", 220100), [8.0, 0.0, 0.0])
    # hour 0: AA's 20 t split 10:10 by EV power drawn from AA (a1 10 x 1, b1 20 x 0.5);
    # BB's -3 t go to b1 alone. Hour 1: AA's 2 t by annual draw (a1 16 : b1 20).
    # Hour 2: AA's 4 t to a1; BB's -1 t supplied no EV: pro rata to that hour's draw (a1).
    np.testing.assert_allclose(hourly("consequential", 110100), [10.0, 2 * 16 / 36, 3.0])
    np.testing.assert_allclose(hourly("consequential", 220100), [7.0, 2 * 20 / 36, 0.0])
    # territorial: EV emissions located at AA (16 t in hour 0, 4.8 t in hour 2) split
    # 100:300 MW between a1 and a2 (p2's county adcode maps to a2); none located in BB
    np.testing.assert_allclose(hourly("territorial", 110100), [4.0, 0.0, 1.2])
    np.testing.assert_allclose(hourly("territorial", 110200), [12.0, 0.0, 3.6])
    np.testing.assert_allclose(hourly("territorial", 220100), 0.0)
    np.testing.assert_allclose(hourly("average", 220100), [0.0, 0.0, 0.0])
    np.testing.assert_allclose(hourly("marginal", 110100), [9.0, 0.0, 5.4])
    np.testing.assert_allclose(result["gasoline_emissions"].sum("time"), [0.01, 0.0, 0.01])
    np.testing.assert_allclose(result["gasoline_tailpipe_emissions"].sum("time"), [0.008, 0, 0.008])
    np.testing.assert_allclose(
        result["ev_caused_emissions"].values, [[20.0, 2.0, 4.0], [-3.0, 0.0, -1.0]]
    )
    burden = result["burden_province"]
    np.testing.assert_allclose(
        burden.sel({"method": "consumption"}).values, [[12.8, 0], [0, 0], [8.0, 0]]
    )
    np.testing.assert_allclose(
        burden.sel({"method": "consequential"}).values,
        [[10 + 2 * 16 / 36 + 4, -1.0], [0, 0], [10 + 2 * 20 / 36, -3.0]],
    )
    # average: each city's own province carries it
    np.testing.assert_allclose(
        burden.sel({"method": "average"}).values, [[12.8, 0], [0, 0], [0, 0]]
    )
    # consumption: located a1 0.25 x 20.8, a2 0.75 x 20.8, b1 0 against attributed 12.8, 0, 8
    classes = result["carbon_class"].sel({"method": "consumption"}).values
    np.testing.assert_array_equal(classes, [CARBON_IMPORTER, CARBON_EXPORTER, CARBON_IMPORTER])
    assert (result["carbon_class"].sel({"method": "territorial"}) == 0).all()
    assert list(result["carbon_class"].attrs["flag_values"]) == [-1, 0, 1]
    # a1 (gdp 100) causes 12.8 t in AA, 3/4 of it located in a2 (gdp 50); b1 (gdp 200)
    # causes 8 t in AA, all located in poorer cities
    poorer = result["emissions_in_poorer_cities"].sel({"method": "consumption"}).values
    np.testing.assert_allclose(poorer, [9.6, 0.0, 8.0])


def test_conservation_in_the_hand_case(tmp_path):
    result = _hand_case(tmp_path)
    ev = result["ev_emissions"]
    by_city = ev.sum("city")
    np.testing.assert_allclose(
        by_city.sel({"method": "consequential"}), result["ev_caused_emissions"].sum("province")
    )
    np.testing.assert_allclose(
        by_city.sel({"method": "territorial"}), by_city.sel({"method": "consumption"})
    )
    np.testing.assert_allclose(result["burden_province"].sum("producer"), ev.sum("time"))
    # the annual sums (taken as the hours are written, or as dot products) are the hours'
    np.testing.assert_allclose(result["annual_ev_emissions"], ev.sum("time"), rtol=1e-12)


def test_emissions_written_into_a_callers_float32_array(tmp_path):
    """``out`` receives the hourly emissions, each rounded once to its dtype; the annual
    sums are the float64 ones; an array of the wrong shape is refused."""
    generation = [[100.0, 100.0, 100.0], [50.0, 50.0, 50.0]]
    grid = _grid([[80.0] * 3, [0.0] * 3], generation, [[50.0, 50.0, 0.0]])
    base = _grid([[60.0, 78.0, 76.0], [3.0, 0.0, 1.0]], generation, [[50.0, 50.0, 0.0]])
    draw = _draw([[10.0, 0.0, 6.0], [0.0, 0.0, 0.0], [20.0, 0.0, 0.0]])
    inputs = _inputs(tmp_path)
    double = account(draw, draw * 0, grid, base, inputs)
    out = np.full((len(METHODS), 3, 3), np.nan, np.float32)
    single = account(draw, draw * 0, grid, base, inputs, out=out)
    assert single["ev_emissions"].values is out
    np.testing.assert_array_equal(out, double["ev_emissions"].values.astype(np.float32))
    xr.testing.assert_identical(single["annual_ev_emissions"], double["annual_ev_emissions"])
    with pytest.raises(ValueError, match="out must be a float array"):
        account(draw, draw * 0, grid, base, inputs, out=np.empty((2, 3, 3)))


def test_import_share_of_each_city_by_hand(tmp_path):
    """A city's import share is its draw weighted by its own province's hourly import
    fraction, traced from the flows: AA (100 MWh of its own) receives 0, 100 and 25 MWh
    from BB, fractions 0, 0.5, 0.2; BB (50 MWh) receives 100/3 MWh in hour 0, fraction 0.4.
    a1 (AA) draws 10, 0, 6; b1 (BB) 20, 0, 0."""
    generation = [[100.0, 100.0, 100.0], [50.0, 150.0, 150.0]]
    grid = _grid([[80.0] * 3, [0.0] * 3], generation, [[100.0 / 3.0, -100.0, -25.0]])
    draw = _draw([[10.0, 0.0, 6.0], [0.0, 0.0, 0.0], [20.0, 0.0, 0.0]])
    result = account(draw, draw * 0, grid, grid, _inputs(tmp_path), None)
    np.testing.assert_allclose(result["import_share"], [1.2 / 16, 0.0, 8.0 / 20], rtol=1e-12)
    np.testing.assert_allclose(
        result["import_fraction"], [[0.0, 0.5, 0.2], [0.4, 0.0, 0.0]], rtol=1e-12, atol=1e-15
    )


def test_counterfactual_given_once_gives_the_same_accounting(tmp_path):
    """A caller that accounts several strategies hands over the year's gasoline
    counterfactual instead of the litres; the result is the same, and a counterfactual
    on other hours, or neither input, is refused."""
    generation = [[100.0, 100.0, 100.0], [50.0, 50.0, 50.0]]
    grid = _grid([[80.0, 80.0, 80.0], [0.0, 0.0, 0.0]], generation, [[50.0, 50.0, 0.0]])
    base = _grid([[60.0, 78.0, 76.0], [3.0, 0.0, 1.0]], generation, [[50.0, 50.0, 0.0]])
    draw = _draw([[10.0, 0.0, 6.0], [0.0, 0.0, 0.0], [20.0, 0.0, 0.0]])
    litres = _draw([[4.0, 0.0, 0.0], [0.0, 0.0, 0.0], [2.0, 2.0, 0.0]])
    inputs = _inputs(tmp_path)
    counterfactual = gasoline_counterfactual(litres, inputs)
    direct = account(draw, litres, grid, base, inputs)
    handed = account(draw, None, grid, base, inputs, counterfactual=counterfactual)
    xr.testing.assert_identical(direct, handed)
    well_to_wheel = inputs.parameter("gasoline_kg_co2_per_l_well_to_wheel")
    np.testing.assert_allclose(
        handed["gasoline_emissions"].values, litres.values * well_to_wheel / 1000.0
    )
    np.testing.assert_allclose(
        handed["annual_gasoline_emissions"].values,
        litres.values.sum(axis=1) * well_to_wheel / 1000.0,
    )
    shifted = counterfactual.assign_coords(time=TIME + pd.Timedelta("1h"))
    with pytest.raises(ValueError, match="differ in their times"):
        account(draw, None, grid, base, inputs, counterfactual=shifted)
    with pytest.raises(ValueError, match="gasoline_litres or its counterfactual"):
        account(draw, None, grid, base, inputs)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_counterfactual_is_gasoline_emissions_value_for_value(tmp_path, dtype):
    """Both hourly series are gasoline_emissions' values (rounded once to the dtype asked
    for); the annual sums are those of the float64 well-to-wheel values."""
    inputs = _inputs(tmp_path)
    litres = _draw(np.random.default_rng(3).uniform(0, 7, (3, 3)) / 3.0)
    counterfactual = gasoline_counterfactual(litres, inputs, dtype=dtype)
    for variable, name in (
        ("gasoline_emissions", "gasoline_kg_co2_per_l_well_to_wheel"),
        ("gasoline_tailpipe_emissions", "gasoline_kg_co2_per_l_tank_to_wheel"),
    ):
        expected = gasoline_emissions(litres, inputs.parameter(name))
        assert counterfactual[variable].dtype == dtype
        assert counterfactual[variable].attrs == {"units": "t"}
        np.testing.assert_array_equal(counterfactual[variable], expected.values.astype(dtype))
    well_to_wheel = gasoline_emissions(
        litres, inputs.parameter("gasoline_kg_co2_per_l_well_to_wheel")
    )
    np.testing.assert_array_equal(
        counterfactual["annual_gasoline_emissions"], well_to_wheel.values.sum(axis=1)
    )
    xr.testing.assert_identical(counterfactual["city"], litres["city"])


def test_draw_summed_by_province_given_gives_the_same_accounting(tmp_path):
    """A caller that has the draw's sums by province (the pass that made the draw took
    them) hands them over: the accounting is the same to the bit; sums of another draw, or
    on a province the grid lacks, are refused."""
    generation = [[100.0, 100.0, 100.0], [50.0, 50.0, 50.0]]
    grid = _grid([[80.0, 80.0, 80.0], [0.0, 0.0, 0.0]], generation, [[50.0, 50.0, 0.0]])
    base = _grid([[60.0, 78.0, 76.0], [3.0, 0.0, 1.0]], generation, [[50.0, 50.0, 0.0]])
    inputs = _inputs(tmp_path)
    load = _draw([[10.0, 0.0, 6.0], [0.3, 0.1, 0.7], [20.0, 0.0, 0.0]])
    draw, by_province, _, _ = ev_grid_draw_by_province(load, 0.07, inputs.cities["city_province"])
    direct = account(draw, draw * 0, grid, base, inputs)
    handed = account(draw, draw * 0, grid, base, inputs, draw_by_province=by_province)
    xr.testing.assert_identical(direct, handed)
    with pytest.raises(ValueError, match="does not add up"):
        account(draw, draw * 0, grid, base, inputs, draw_by_province=by_province * 2)
    elsewhere = by_province.assign_coords(province=["AA", "CC"])
    with pytest.raises(ValueError, match="provinces that the grid lacks"):
        account(draw, draw * 0, grid, base, inputs, draw_by_province=elsewhere)


def test_hub_nodes_and_losses_from_corridor_coords(tmp_path):
    """AA -> hub -> BB with 10% lost on the way into the hub."""
    generation = [[100.0] * 3, [50.0] * 3]
    flow = [[50.0] * 3, [45.0] * 3]
    coords = {
        "from_node": ("corridor", ["AA", "hub_north"]),
        "to_node": ("corridor", ["hub_north", "BB"]),
        "loss_fraction": ("corridor", [0.1, 0.0]),
    }
    grid = _grid([[80.0] * 3, [0.0] * 3], generation, flow, **coords)
    draw = _draw([[0.0] * 3, [0.0] * 3, [19.0] * 3])
    result = account(draw, draw * 0, grid, grid, _inputs(tmp_path, corridors=False), {})
    # BB: 45 MWh at 0.8 t/MWh arrive to 50 clean -> 36 / 95 t/MWh; the 5 MWh lost carry 4 t
    np.testing.assert_allclose(
        result["ev_emissions"].sel({"method": "consumption", "city": 220100}), 19 * 36 / 95
    )
    np.testing.assert_allclose(
        result["burden_province"].sel({"method": "consumption", "city": 220100}),
        [3 * 19 * 36 / 95, 0.0],
    )


def test_plant_cities_exact_prefecture_and_nearest():
    cities = pd.DataFrame(
        {
            "adcode": [130100, 130200, 140100],
            "province": ["HE", "HE", "SX"],
            "latitude": [38.0, 39.6, 37.9],
            "longitude": [114.5, 118.2, 112.5],
        }
    )
    plants = pd.DataFrame(
        {
            "province": ["HE", "HE", "HE", "SX", "HE"],
            "adcode": [130200, 130181, 139001, 140100, 140100],
            "latitude": [0.0, 0.0, 39.5, 0.0, 39.0],
            "longitude": [0.0, 0.0, 118.0, 0.0, 117.0],
        }
    )
    # exact; county 130181 -> 130100; unknown 139001 -> nearest (Tangshan); a code of another
    # province than the plant's -> nearest city of the plant's province
    np.testing.assert_array_equal(
        plant_cities(plants, cities), [130200, 130100, 130200, 140100, 130200]
    )
    # a city code listed twice would make the placement ambiguous
    twice = pd.concat([cities, cities.iloc[:1]], ignore_index=True)
    with pytest.raises(ValueError, match="each adcode once"):
        plant_cities(plants, twice)


def test_every_shipped_coal_plant_lies_in_a_city_of_its_province(shipped_inputs):
    plants = pd.read_csv(shipped_inputs.path / "plants.csv")
    coal = plants[plants["source"] == "coal"]
    cities = shipped_inputs.cities
    table = pd.DataFrame(
        {
            "adcode": cities["city"].values,
            "province": cities["city_province"].values,
            "latitude": cities["latitude"].values,
            "longitude": cities["longitude"].values,
        }
    )
    placed = plant_cities(coal, table)
    province = dict(zip(table["adcode"], table["province"], strict=True))
    assert [province[c] for c in placed] == list(coal["province"])


def test_classify_tolerance():
    np.testing.assert_array_equal(
        classify(np.array([1.0, 1.0, 2.0, 0.0]), np.array([1.0 + 1e-12, 2.0, 1.0, 0.0])),
        [0, -1, 1, 0],
    )


def test_grid_draw_grosses_up_losses():
    load = xr.DataArray([95.0], dims="time")
    assert float(ev_grid_draw(load, 0.05)[0]) == pytest.approx(100.0)


def test_methods_constant():
    assert METHODS == ("territorial", "average", "consumption", "marginal", "consequential")


# ------------------------------------------------------------ kernel against numpy


def _random_case(rng, n_city=9, n_hour=10):
    n_node = 4  # node 3 is a hub
    city_node = rng.integers(0, 3, n_city)
    city_node[:3] = [0, 1, 2]
    draw = rng.uniform(0, 5, (n_city, n_hour)) * (rng.random((n_city, n_hour)) < 0.7)
    draw[:, 0] = 0.0  # an hour without EV draw
    generation = rng.uniform(50, 100, (n_node, n_hour))
    generation[3] = 0.0
    emissions = generation * rng.uniform(0.0, 1.0, (n_node, 1))
    caused = rng.uniform(-1, 3, (n_node, n_hour))
    caused[3] = 0.0
    edge_from = np.array([0, 1, 3, 2, 0], np.int64)
    edge_to = np.array([3, 3, 2, 0, 1], np.int64)
    flow = rng.uniform(0, 10, (5, n_hour))
    flow[2] = rng.uniform(0, 1, n_hour) * (flow[0] + flow[1]) * 0.9
    loss = rng.uniform(0, 0.05, (5, n_hour))
    weight = rng.uniform(0.1, 1, n_city)
    for node in range(3):
        weight[city_node == node] /= weight[city_node == node].sum()
    annual = draw.sum(axis=1) / draw.sum()
    args = (draw, city_node, weight, annual, generation, emissions, caused)
    return args + (edge_from, edge_to, flow, loss, _node_draw(draw, city_node, n_node))


def _node_draw(draw, city_node, n_node):
    """The kernel's ``node_draw``: the cities' draw summed by node, in city order."""
    node_draw = np.zeros((n_node, draw.shape[1]))
    np.add.at(node_draw, city_node, draw)
    return node_draw


def _outputs(draw):
    """The kernel's three (city, time) output arrays, filled with NaN so that an entry it
    failed to write shows."""
    return tuple(np.full(draw.shape, np.nan) for _ in range(3))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_kernel_matches_numpy_and_conserves(seed):
    args = _random_case(np.random.default_rng(seed))
    draw, city_node, _, _, generation, emissions, caused, frm, to, flow, loss, _ = args
    (
        consumption,
        consequential,
        territorial,
        burden_c,
        burden_q,
        unattributed,
        residual,
        annual,
        intensity,
        import_fraction,
    ) = attribute_ev_emissions(*args, *_outputs(draw))
    expected = reference_attribution(args)
    ours = (consumption, consequential, territorial, burden_c, burden_q)
    for mine, theirs in zip(ours, expected, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-9)
    # consequential: all EV-caused emissions, every hour; territorial: the consumption total
    np.testing.assert_allclose(consequential.sum(axis=0), caused.sum(axis=0), atol=1e-9)
    np.testing.assert_allclose(territorial.sum(axis=0), consumption.sum(axis=0), atol=1e-9)
    np.testing.assert_allclose(burden_c.sum(axis=1), consumption.sum(axis=1), rtol=1e-9)
    np.testing.assert_allclose(burden_q.sum(axis=1), consequential.sum(axis=1), atol=1e-9)
    np.testing.assert_array_equal(burden_c[:, 3], 0.0)  # the hub produces nothing
    assert not unattributed.any()
    assert (residual < 1e-9).all()
    # the annual sums it takes as it writes the hours
    hourly = np.stack([consumption, consequential, territorial])
    np.testing.assert_allclose(annual, hourly.sum(axis=2), rtol=1e-12, atol=1e-12)
    # the intensity of every node (hubs too), from the supply shares: the traced one
    traced, traced_import_fraction, _ = consumption_intensity(
        generation, emissions, frm, to, flow, loss
    )
    np.testing.assert_allclose(intensity, traced, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(import_fraction, traced_import_fraction)
    assert (intensity[3] > 0).any()  # the hub passes power on


def test_kernel_reads_constant_losses_from_one_column():
    """Losses that are the same every hour, passed as one column (edge, 1), give exactly
    the results of the same losses repeated over the hours."""
    args = _random_case(np.random.default_rng(11))
    loss = args[10]
    loss[:] = loss[:, :1]
    full = attribute_ev_emissions(*args, *_outputs(args[0]))
    column = attribute_ev_emissions(
        *args[:10], np.ascontiguousarray(loss[:, :1]), *args[11:], *_outputs(args[0])
    )
    for ours, theirs in zip(column, full, strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_kernel_year_without_ev_draw_leaves_the_caused_emissions_unattributed():
    """With no EV draw in the whole year, no city can carry the EV-caused emissions: they
    are returned as unattributed, hour by hour, and every city's emissions are 0; with
    draw in a single hour of the year, the hours without draw go by annual draw instead."""
    args = list(_random_case(np.random.default_rng(5)))
    draw, caused = args[0], args[6]
    draw[:] = 0.0
    args[3] = np.zeros(draw.shape[0])  # no annual draw to share by
    args[11] = _node_draw(draw, args[1], args[11].shape[0])
    result = attribute_ev_emissions(*args, *_outputs(draw))
    consumption, consequential, territorial, burden_c, burden_q, unattributed = result[:6]
    np.testing.assert_allclose(unattributed, caused.sum(axis=0), rtol=1e-12)
    for hourly in (consumption, consequential, territorial):
        np.testing.assert_array_equal(hourly, 0.0)
    np.testing.assert_array_equal(burden_q, 0.0)
    draw[4, 2] = 1.5  # one city draws, in one hour: it carries every hour's change
    args[3] = draw.sum(axis=1) / draw.sum()
    args[11] = _node_draw(draw, args[1], args[11].shape[0])
    result = attribute_ev_emissions(*args, *_outputs(draw))
    assert not result[5].any()
    np.testing.assert_allclose(result[1][4], caused.sum(axis=0), atol=1e-9)
    np.testing.assert_array_equal(np.delete(result[1], 4, axis=0), 0.0)


def test_province_rates_written_and_summed_in_one_pass():
    """``at_province_rate`` writes the first rates' products into the given rows of a
    float32 array and sums every rate's products over the hours in float64."""
    from hourlysim._kernels.accounting import at_province_rate

    rng = np.random.default_rng(4)
    draw = rng.uniform(0, 5, (4, 30))
    city_province = np.array([1, 0, 1, 2])
    rates = rng.uniform(0, 1, (3, 3, 30))
    out = np.full((5, 4, 30), np.nan, np.float32)
    annual = np.full((3, 4), np.nan)
    at_province_rate(draw, city_province, rates, out, np.array([3, 1]), annual)
    expected = draw[None] * rates[:, city_province]  # (rate, city, time)
    np.testing.assert_allclose(out[3], expected[0], rtol=1e-6)
    np.testing.assert_allclose(out[1], expected[1], rtol=1e-6)
    assert np.isnan(out[[0, 2, 4]]).all()  # rows not named are left alone
    np.testing.assert_allclose(annual, expected.sum(axis=2), rtol=1e-13)


def test_kernel_burdens_across_hour_blocks():
    """Burdens are summed block by block (``BURDEN_BLOCK_HOURS``): a year longer than two
    blocks, with a partial last block, agrees with the per-hour reference."""
    from hourlysim._kernels.accounting import BURDEN_BLOCK_HOURS

    args = _random_case(np.random.default_rng(7), n_hour=2 * BURDEN_BLOCK_HOURS + 37)
    # which producers feed a node changes from block to block (entries a block wrote must
    # not linger into the next): node 2 sends to node 0 in the first block only, node 0 to
    # node 1 from the second block on
    flow = args[9]
    flow[3, BURDEN_BLOCK_HOURS:] = 0.0
    flow[4, :BURDEN_BLOCK_HOURS] = 0.0
    result = attribute_ev_emissions(*args, *_outputs(args[0]))
    expected = reference_attribution(args)
    for mine, theirs in zip(result[:5], expected, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-9)


def test_shipped_placement_weights(shipped_inputs):
    """Weights sum to 1 in every province; Beijing (no coal plant in GEM) goes by population."""
    from hourlysim.accounting import city_weights

    cities = shipped_inputs.cities
    weights = city_weights(shipped_inputs, cities, 2020)
    by_province = weights.groupby(cities["city_province"]).sum()
    np.testing.assert_allclose(by_province, 1.0)
    beijing = cities["city_province"] == "BJ"
    population = cities["population"].where(beijing, drop=True)
    np.testing.assert_allclose(
        weights.where(beijing, drop=True), population / population.sum(), rtol=1e-12
    )
    # in a coal province the weights follow coal capacity: a city without coal gets nothing
    plants = pd.read_csv(shipped_inputs.path / "plants.csv")
    started = plants["start_year"].isna() | (plants["start_year"] <= 2020)
    coal_cities = set(plants.loc[(plants["source"] == "coal") & started, "adcode"])
    shanxi = cities["city"].where(cities["city_province"] == "SX", drop=True).values
    for city in shanxi:
        assert (float(weights.sel(city=city)) > 0) == (city in coal_cities)


def test_no_plants_file_places_by_population(tmp_path):
    from hourlysim.accounting import city_weights

    inputs = _inputs(tmp_path)
    (tmp_path / "plants.csv").unlink()
    assert read_plants(tmp_path) is None
    weights = city_weights(replace(inputs, plants=None), inputs.cities)
    np.testing.assert_allclose(weights, [1 / 3, 2 / 3, 1.0])


def test_bad_plants_file_names_row_and_column(tmp_path):
    from hourlysim import InputError

    _inputs(tmp_path)
    frame = pd.read_csv(tmp_path / "plants.csv")
    frame.loc[1, "capacity_mw"] = -5.0
    frame.to_csv(tmp_path / "plants.csv", index=False)
    with pytest.raises(InputError, match=r"plants\.csv, row 3, column 'capacity_mw'"):
        read_plants(tmp_path)
