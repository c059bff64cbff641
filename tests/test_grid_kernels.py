"""Dispatch and flow tracing on hand-computed cases and conservation laws."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from hourlysim._kernels.dispatch import COAL, GAS, HYDRO, NUCLEAR, SOLAR, WIND, dispatch
from hourlysim._kernels.tracing import consumption_intensity

NO_CORRIDOR = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 1)))


def _one(value):
    return np.array([[float(value)]])


def test_merit_order_hand_case():
    """100 MWh load: 10 nuclear, 20 hydro, 15 wind, 5 solar, then coal 40 (cap) and gas 10."""
    generation, flow, unserved, surplus = dispatch(
        _one(100),
        _one(10),
        _one(20),
        _one(0),
        _one(15),
        _one(5),
        np.array([40.0]),
        np.array([30.0]),
        *NO_CORRIDOR,
    )
    assert generation[0, :, 0].tolist() == [40, 10, 20, 10, 15, 5]
    assert unserved[0, 0] == 0 and surplus[0, 0] == 0


def test_unserved_when_capacity_short():
    generation, _, unserved, _ = dispatch(
        _one(100),
        _one(0),
        _one(0),
        _one(0),
        _one(0),
        _one(0),
        np.array([30.0]),
        np.array([20.0]),
        *NO_CORRIDOR,
    )
    assert generation[0, COAL, 0] == 30 and generation[0, GAS, 0] == 20
    assert unserved[0, 0] == 50


def test_curtailment_then_spill_order():
    """Load 20 against must-run 25 (nuclear 10, hydro 15) and 30 wind: wind goes first."""
    generation, _, unserved, surplus = dispatch(
        _one(20),
        _one(10),
        _one(15),
        _one(0),
        _one(30),
        _one(0),
        np.array([50.0]),
        np.array([0.0]),
        *NO_CORRIDOR,
    )
    assert generation[0, WIND, 0] == 0
    assert generation[0, HYDRO, 0] == 10
    assert generation[0, NUCLEAR, 0] == 10
    assert unserved[0, 0] == 0 and surplus[0, 0] == 0


def test_chp_must_run_counts_as_coal():
    generation, *_ = dispatch(
        _one(50),
        _one(0),
        _one(0),
        _one(20),
        _one(45),
        _one(0),
        np.array([100.0]),
        np.array([0.0]),
        *NO_CORRIDOR,
    )
    # CHP floor 20 stays on; wind curtailed to 30
    assert generation[0, COAL, 0] == 20
    assert generation[0, WIND, 0] == pytest.approx(30)


def test_corridor_moves_energy_and_is_reduced_when_receiver_is_full():
    load = np.array([[50.0], [10.0]])
    zeros = np.zeros((2, 1))
    schedule = np.array([[30.0]])
    # receiver B has 10 load and 25 must-run hydro: it cannot take any import
    hydro = np.array([[0.0], [25.0]])
    generation, flow, unserved, surplus = dispatch(
        load,
        zeros,
        hydro,
        zeros,
        zeros,
        zeros,
        np.array([100.0, 0.0]),
        np.zeros(2),
        np.array([0], np.int64),
        np.array([1], np.int64),
        schedule,
    )
    assert flow[0, 0] == pytest.approx(0.0)
    assert generation[0, COAL, 0] == pytest.approx(50)
    assert generation[1, HYDRO, 0] == pytest.approx(10)
    assert surplus.sum() == pytest.approx(0)


def test_sender_short_of_capacity_sends_less():
    """A (load 50, coal 60) is scheduled to send 30 to B: only 10 is left to send."""
    load = np.array([[50.0], [40.0]])
    zeros = np.zeros((2, 1))
    generation, flow, unserved, surplus = dispatch(
        load,
        zeros,
        zeros,
        zeros,
        zeros,
        zeros,
        np.array([60.0, 0.0]),
        np.array([0.0, 100.0]),
        np.array([0], np.int64),
        np.array([1], np.int64),
        np.array([[30.0]]),
    )
    assert flow[0, 0] == pytest.approx(10.0)
    assert generation[0, COAL, 0] == pytest.approx(60.0)
    assert generation[1, GAS, 0] == pytest.approx(30.0)
    assert unserved.sum() == pytest.approx(0.0)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_energy_balance_random(seed):
    """generation + imports - exports = load - unserved + surplus, every province-hour."""
    rng = np.random.default_rng(seed)
    n_p, n_t, n_k = 5, 24, 6
    load = rng.uniform(10, 100, (n_p, n_t))
    nuclear, hydro, chp, wind, solar = (rng.uniform(0, 30, (n_p, n_t)) for _ in range(5))
    coal = rng.uniform(0, 80, n_p)
    chp = np.minimum(chp, coal[:, None])
    gas = rng.uniform(0, 30, n_p)
    frm = rng.integers(0, n_p, n_k)
    to = (frm + rng.integers(1, n_p, n_k)) % n_p
    schedule = rng.uniform(0, 20, (n_k, n_t))
    generation, flow, unserved, surplus = dispatch(
        load, nuclear, hydro, chp, wind, solar, coal, gas, frm, to, schedule
    )
    net_in = np.zeros((n_p, n_t))
    np.add.at(net_in, to, flow)
    np.subtract.at(net_in, frm, flow)
    np.testing.assert_allclose(
        generation.sum(axis=1) + net_in, load - unserved + surplus, atol=1e-9
    )
    assert (generation >= -1e-12).all()
    assert (flow <= schedule + 1e-12).all() and (flow >= 0).all()
    assert (generation[:, WIND] <= wind + 1e-12).all()
    assert (generation[:, SOLAR] <= solar + 1e-12).all()
    assert (generation[:, GAS] <= gas[:, None] + 1e-12).all()


def test_single_province_dispatch_matches_lp():
    """Without transfers, the dispatch solves the LP of its priority order.

    Costs encode the order: keeping nuclear (-4), hydro (-2), wind and solar (-1) is
    rewarded, so the LP curtails wind and solar first, then hydro, then nuclear; coal (10)
    is cheaper than gas (20); unserved energy costs 1000.
    """
    rng = np.random.default_rng(3)
    for _ in range(50):
        load, nuclear, hydro, wind, solar = rng.uniform(0, 60, 5)
        coal, gas = rng.uniform(0, 60, 2)
        generation, _, unserved, surplus = dispatch(
            _one(load),
            _one(nuclear),
            _one(hydro),
            _one(0),
            _one(wind),
            _one(solar),
            np.array([coal]),
            np.array([gas]),
            *NO_CORRIDOR,
        )
        # variables: coal, gas, hydro, nuclear, wind, solar, unserved
        cost = np.array([10, 20, -2, -4, -1, -1, 1000])
        upper = [coal, gas, hydro, nuclear, wind, solar, None]
        result = linprog(
            cost,
            A_eq=[[1, 1, 1, 1, 1, 1, 1]],
            b_eq=[load],
            bounds=[(0, u) for u in upper],
            method="highs",
        )
        assert result.status == 0
        ours = cost[:6] @ generation[0, :, 0] + 1000 * unserved[0, 0]
        assert ours == pytest.approx(result.fun, rel=1e-9, abs=1e-9)
        assert surplus[0, 0] == pytest.approx(0.0)


def test_tracing_hand_case():
    """A burns 100 MWh coal at 800 kg/MWh and sends 50 to B, which has 50 MWh of hydro."""
    generation = np.array([[100.0], [50.0]])
    emissions = np.array([[80_000.0], [0.0]])
    intensity, imported, residual = consumption_intensity(
        generation, emissions, np.array([0], np.int64), np.array([1], np.int64), np.array([[50.0]])
    )
    np.testing.assert_allclose(intensity[:, 0], [800.0, 400.0])
    np.testing.assert_allclose(imported[:, 0], [0.0, 0.5])
    assert residual[0] < 1e-12


def test_tracing_province_without_supply_is_zero():
    generation = np.array([[10.0], [0.0]])
    emissions = np.array([[5000.0], [0.0]])
    intensity, _, _ = consumption_intensity(
        generation, emissions, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 1))
    )
    np.testing.assert_allclose(intensity[:, 0], [500.0, 0.0])


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_tracing_conserves_emissions(seed):
    """Emissions consumed (net of exports) add up to emissions produced, also around loops."""
    rng = np.random.default_rng(seed)
    n_p, n_k = 6, 9
    generation = rng.uniform(10, 100, (n_p, 1))
    emissions = generation * rng.uniform(0, 1000, (n_p, 1))
    frm = rng.integers(0, n_p, n_k)
    to = (frm + rng.integers(1, n_p, n_k)) % n_p
    flow = rng.uniform(0, 5, (n_k, 1))
    intensity, _, residual = consumption_intensity(generation, emissions, frm, to, flow)
    inflow = np.zeros(n_p)
    outflow = np.zeros(n_p)
    np.add.at(inflow, to, flow[:, 0])
    np.add.at(outflow, frm, flow[:, 0])
    consumed = generation[:, 0] + inflow - outflow
    np.testing.assert_allclose((intensity[:, 0] * consumed).sum(), emissions.sum(), rtol=1e-9)
    assert (intensity >= -1e-9).all()
    assert residual[0] < 1e-9
