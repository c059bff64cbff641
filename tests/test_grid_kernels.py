"""Dispatch and flow tracing on hand-computed cases, LP oracles and conservation laws."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from hourlysim._kernels.dispatch import (
    BIOMASS,
    COAL,
    GAS,
    HYDRO,
    N_SOURCES,
    NUCLEAR,
    SOLAR,
    WIND,
    dispatch,
    dispatch_summary,
    hydro_residual,
    merit_order_kernel,
    net_imports,
    schedule_hydro,
)
from hourlysim._kernels.tracing import consumption_intensity

MERIT = np.array([COAL, GAS], np.int64)
# LP costs that encode the stack order: keeping the flat must-run (nuclear + biomass), the
# thermal floor (coal CHP + gas floor), hydro and wind/solar is rewarded (so the LP curtails
# wind/solar first, then hydro, the thermal floor, the flat must-run); coal < gas;
# unserved and unabsorbed energy cost 1000
STACK_COST = np.array([-4.0, -3.0, -2.0, -1.0, 10.0, 20.0])
PENALTY = 1000.0


def _run(
    load,
    nuclear=0.0,
    hydro=0.0,
    chp=0.0,
    wind=0.0,
    solar=0.0,
    coal=0.0,
    gas=0.0,
    corridors=None,
    pool=None,
    hub_capacity=None,
    hub_loss=None,
    dispatchable_hydro=None,
    biomass=0.0,
    gas_floor=0.0,
):
    """Run the kernel on (province, time) arrays; scalars broadcast."""
    load = np.atleast_2d(np.asarray(load, float))
    shape = load.shape
    n_p = shape[0]

    def full(x):
        return np.broadcast_to(np.asarray(x, float), shape).copy()

    frm, to, schedule, loss = corridors or (
        np.zeros(0, np.int64),
        np.zeros(0, np.int64),
        np.zeros((0, shape[1])),
        np.zeros(0),
    )
    return dispatch(
        load,
        full(nuclear),
        full(biomass),
        full(hydro),
        full(0.0 if dispatchable_hydro is None else dispatchable_hydro),
        full(chp),
        full(gas_floor),
        full(wind),
        full(solar),
        np.broadcast_to(np.asarray(coal, float), (n_p,)).copy(),
        np.broadcast_to(np.asarray(gas, float), (n_p,)).copy(),
        MERIT,
        frm,
        to,
        schedule,
        loss,
        np.full(n_p, -1, np.int64) if pool is None else np.asarray(pool, np.int64),
        np.zeros(n_p) if hub_capacity is None else np.asarray(hub_capacity, float),
        np.zeros(n_p) if hub_loss is None else np.asarray(hub_loss, float),
        np.full((frm.size + 2 * n_p, shape[1]), np.nan),  # every entry must be written
    )


def test_stack_hand_case():
    """100 MWh load: 10 nuclear, 20 hydro, 15 wind, 5 solar, then coal 40 (cap) and gas 10."""
    generation, flow, _, _, unserved, surplus, share = _run(
        [[100.0]], nuclear=10, hydro=20, wind=15, solar=5, coal=40, gas=30
    )
    np.testing.assert_allclose(generation[0, :, 0], [40, 10, 20, 10, 15, 5, 0], rtol=1e-12)
    assert unserved[0, 0] == 0 and surplus[0, 0] == 0
    assert share[0, :, 0].tolist() == [0, 1, 0, 0, 0, 0, 0]  # gas is part-loaded


def test_unserved_when_capacity_short():
    generation, _, _, _, unserved, _, share = _run([[100.0]], coal=30, gas=20)
    assert generation[0, COAL, 0] == 30 and generation[0, GAS, 0] == 20
    assert unserved[0, 0] == 50
    # shortage: the last source running (gas) is reported at the margin
    assert share[0, GAS, 0] == 1


def test_curtailment_then_spill_order():
    """Load 20 against must-run 25 (nuclear 10, hydro 15) and 30 wind: wind goes first."""
    generation, _, _, _, unserved, surplus, share = _run(
        [[20.0]], nuclear=10, hydro=15, wind=30, coal=50
    )
    assert generation[0, WIND, 0] == 0
    assert generation[0, HYDRO, 0] == 10
    assert generation[0, NUCLEAR, 0] == 10
    assert unserved[0, 0] == 0 and surplus[0, 0] == 0
    assert share[0, HYDRO, 0] == 1  # hydro is being spilled: it takes the next MWh


def test_curtailed_wind_and_solar_share_the_margin():
    generation, *_, share = _run([[40.0]], nuclear=10, wind=30, solar=10, coal=50)
    assert generation[0, WIND, 0] == pytest.approx(22.5)
    assert generation[0, SOLAR, 0] == pytest.approx(7.5)
    np.testing.assert_allclose(share[0, [WIND, SOLAR], 0], [0.75, 0.25])


def test_chp_must_run_counts_as_coal():
    generation, *_ = _run([[50.0]], chp=20, wind=45, coal=100)
    # CHP floor 20 stays on; wind curtailed to 30
    assert generation[0, COAL, 0] == 20
    assert generation[0, WIND, 0] == pytest.approx(30)


def test_floors_and_flat_must_run_back_down_pro_rata():
    """Load 30 against nuclear 10 + biomass 10, then CHP 10 + gas floor 10: the floor is
    half used, coal and gas alike, and shares the margin half and half."""
    generation, _, _, _, unserved, surplus, share = _run(
        [[30.0]], nuclear=10, biomass=10, chp=10, gas_floor=10, coal=50, gas=20
    )
    np.testing.assert_allclose(generation[0, [NUCLEAR, BIOMASS, COAL, GAS], 0], [10, 10, 5, 5])
    assert unserved[0, 0] == 0 and surplus[0, 0] == 0
    np.testing.assert_allclose(share[0, [COAL, GAS], 0], [0.5, 0.5])


def test_gas_above_its_floor_runs_in_merit_order():
    """Load 100: nuclear 10, biomass 5, CHP 20, gas floor 5 (40 in all); the other 60 from
    coal above its floor (30, all of it), then gas above its floor (30 of 35): gas 5 + 30."""
    generation, _, _, _, unserved, _, share = _run(
        [[100.0]], nuclear=10, biomass=5, chp=20, gas_floor=5, coal=50, gas=40
    )
    np.testing.assert_allclose(generation[0, [NUCLEAR, BIOMASS, COAL, GAS], 0], [10, 5, 50, 35])
    assert unserved[0, 0] == 0 and share[0, GAS, 0] == 1


def test_gas_first_when_cheaper():
    load = np.array([[50.0]])
    z = np.zeros((1, 1))
    generation, *_ = dispatch(
        load, z, z, z, z, z, z, z, z, np.array([40.0]), np.array([30.0]),
        np.array([GAS, COAL], np.int64),
        np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 1)), np.zeros(0),
        np.array([-1], np.int64), np.zeros(1), np.zeros(1), np.empty((2, 1)),
    )  # fmt: skip
    assert generation[0, GAS, 0] == 30 and generation[0, COAL, 0] == 20


def test_dispatch_writes_every_exchange_into_the_callers_array():
    """``flow``, ``to_hub`` and ``from_hub`` are the rows of the caller's ``exchange``, all
    of them written (it starts as NaN); an array of another shape is refused."""
    schedule = _corridor([0], [1], [[5.0, 8.0]])
    pooled = {"pool": [0, 0], "hub_capacity": [30.0, 30.0], "hub_loss": [0.0, 0.0]}
    generation, flow, to_hub, from_hub, *_ = _run(
        [[40.0, 60.0], [20.0, 10.0]], coal=[100.0, 0.0], corridors=schedule, **pooled
    )
    assert flow.shape == (1, 2) and to_hub.shape == from_hub.shape == (2, 2)
    assert np.isfinite(flow).all() and np.isfinite(to_hub).all() and np.isfinite(from_hub).all()
    assert (from_hub[1] > 0).all()  # province 1, without coal, is served through its hub
    z = np.zeros((1, 1))
    with pytest.raises(ValueError, match="one row per corridor and two per province"):
        dispatch(
            z, z, z, z, z, z, z, z, z, np.array([40.0]), np.array([30.0]), MERIT,
            np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 1)), np.zeros(0),
            np.array([-1], np.int64), np.zeros(1), np.zeros(1), np.empty((1, 1)),
        )  # fmt: skip


def _corridor(frm, to, schedule, loss=0.0):
    schedule = np.atleast_2d(np.asarray(schedule, float))
    return (
        np.asarray(frm, np.int64),
        np.asarray(to, np.int64),
        schedule,
        np.full(len(frm), loss),
    )


def test_corridor_is_reduced_when_receiver_is_full():
    # receiver B has 10 load and 25 must-run hydro: it cannot take any import
    generation, flow, _, _, unserved, surplus, _ = _run(
        [[50.0], [10.0]],
        hydro=[[0.0], [25.0]],
        coal=[100.0, 0.0],
        corridors=_corridor([0], [1], [[30.0]]),
    )
    assert flow[0, 0] == pytest.approx(0.0)
    assert generation[0, COAL, 0] == pytest.approx(50)
    assert generation[1, HYDRO, 0] == pytest.approx(10)
    assert surplus.sum() == pytest.approx(0)


def test_sender_short_of_capacity_sends_less():
    """A (load 50, coal 60) is scheduled to send 30 to B: only 10 is left to send."""
    generation, flow, _, _, unserved, _, _ = _run(
        [[50.0], [40.0]],
        coal=[60.0, 0.0],
        gas=[0.0, 100.0],
        corridors=_corridor([0], [1], [[30.0]]),
    )
    assert flow[0, 0] == pytest.approx(10.0)
    assert generation[0, COAL, 0] == pytest.approx(60.0)
    assert generation[1, GAS, 0] == pytest.approx(30.0)
    assert unserved.sum() == pytest.approx(0.0)


def test_corridor_loss_sender_sends_more_than_receiver_gets():
    """B (load 40, no supply) imports 30 over a 10% loss line from A: it gets 27."""
    generation, flow, _, _, unserved, _, _ = _run(
        [[10.0], [40.0]], coal=[100.0, 0.0], corridors=_corridor([0], [1], [[30.0]], 0.1)
    )
    assert flow[0, 0] == pytest.approx(30.0)
    assert generation[0, COAL, 0] == pytest.approx(40.0)
    assert unserved[1, 0] == pytest.approx(13.0)


def _random_system(rng, n_p, n_t):
    load = rng.uniform(10, 100, (n_p, n_t))
    nuclear, hydro, chp, wind, solar = (rng.uniform(0, 30, (n_p, n_t)) for _ in range(5))
    coal = rng.uniform(0, 80, n_p)
    chp = np.minimum(chp, coal[:, None])
    gas = rng.uniform(0, 30, n_p)
    return load, nuclear, hydro, chp, wind, solar, coal, gas


def _random_floors(rng, gas, n_t):
    """Biomass (province, time) and a gas floor at most the gas capacity [MWh]."""
    biomass = rng.uniform(0, 10, (gas.size, n_t)) * rng.integers(0, 2, (gas.size, 1))
    gas_floor = gas[:, None] * rng.uniform(0, 1, (gas.size, 1)) * rng.integers(0, 2, (gas.size, 1))
    return biomass, np.repeat(gas_floor, n_t, axis=1)


def _balance(generation, flow, frm, to, loss, to_hub, from_hub, hub_loss, unserved, surplus):
    """generation + received - sent + unserved - surplus, per province-hour."""
    received = np.zeros_like(unserved)
    np.add.at(received, to, flow * (1 - loss)[:, None])
    np.subtract.at(received, frm, flow)
    received += from_hub * (1 - hub_loss)[:, None] - to_hub
    return generation.sum(axis=1) + received + unserved - surplus


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from([0.0, 0.05]), st.booleans())
def test_energy_balance_random(seed, loss, pooled):
    """Every province-hour balances; flows within schedule, hub links within capacity."""
    rng = np.random.default_rng(seed)
    n_p, n_t, n_k = 6, 24, 6
    load, nuclear, hydro, chp, wind, solar, coal, gas = _random_system(rng, n_p, n_t)
    biomass, gas_floor = _random_floors(rng, gas, n_t)
    frm = rng.integers(0, n_p, n_k)
    to = (frm + rng.integers(1, n_p, n_k)) % n_p
    schedule = rng.uniform(0, 20, (n_k, n_t))
    pool = np.array([0, 0, 0, 1, 1, -1]) if pooled else np.full(n_p, -1)
    hub_capacity = rng.uniform(0, 40, n_p)
    hub_loss = np.full(n_p, loss)
    generation, flow, to_hub, from_hub, unserved, surplus, share = _run(
        load, nuclear, hydro, chp, wind, solar, coal, gas,
        corridors=(frm, to, schedule, np.full(n_k, loss)),
        pool=pool, hub_capacity=hub_capacity, hub_loss=hub_loss,
        biomass=biomass, gas_floor=gas_floor,
    )  # fmt: skip
    np.testing.assert_allclose(
        _balance(generation, flow, frm, to, np.full(n_k, loss), to_hub, from_hub, hub_loss,
                 unserved, surplus),
        load, atol=1e-8,
    )  # fmt: skip
    assert (generation >= -1e-12).all() and (unserved >= 0).all() and (surplus >= 0).all()
    assert (flow <= schedule + 1e-12).all() and (flow >= 0).all()
    assert (generation[:, WIND] <= wind + 1e-12).all()
    assert (generation[:, SOLAR] <= solar + 1e-12).all()
    assert (generation[:, GAS] <= gas[:, None] + 1e-9).all()
    assert (generation[:, BIOMASS] <= biomass + 1e-9).all()
    assert (generation[:, COAL] <= coal[:, None] + 1e-9).all()
    assert (to_hub <= hub_capacity[:, None] + 1e-9).all()
    assert (from_hub <= hub_capacity[:, None] + 1e-9).all()
    assert not ((to_hub > 0) & (from_hub > 0)).any()
    for g in (0, 1):
        members = pool == g
        sent = (to_hub[members] * (1 - loss)).sum(axis=0)
        np.testing.assert_allclose(sent, from_hub[members].sum(axis=0), atol=1e-8)
    assert (to_hub[pool < 0] == 0).all() and (from_hub[pool < 0] == 0).all()
    total_share = share.sum(axis=1)
    assert np.isclose(total_share, 1.0).all()  # every province here has some supply


def _stack_lp(load, stacks, hub_capacity=None):
    """Cost of the optimal dispatch of one hour: provinces alone or pooled through a hub.

    Variables per province: six stack segments, unserved, surplus (then to-hub, from-hub).
    """
    n_p = len(load)
    per = 8 if hub_capacity is None else 10
    cost = np.zeros(n_p * per)
    bounds = []
    a_eq = np.zeros((n_p + (hub_capacity is not None), n_p * per))
    for i in range(n_p):
        base = i * per
        cost[base : base + 6] = STACK_COST
        cost[base + 6 : base + 8] = PENALTY
        bounds += [(0, s) for s in stacks[i]] + [(0, None), (0, None)]
        a_eq[i, base : base + 7] = 1.0
        a_eq[i, base + 7] = -1.0
        if hub_capacity is not None:
            bounds += [(0, hub_capacity[i]), (0, hub_capacity[i])]
            a_eq[i, base + 8] = -1.0  # sent to the hub
            a_eq[i, base + 9] = 1.0  # received from the hub
            a_eq[n_p, base + 8] = 1.0
            a_eq[n_p, base + 9] = -1.0
    b_eq = np.concatenate([load, [0.0] if hub_capacity is not None else []])
    result = linprog(cost, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
    assert result.status == 0
    return result.fun


def _our_cost(generation, unserved, surplus, stacks):
    """Stack cost of the kernel's dispatch, its segments read off the sources.

    Coal and gas fill the thermal floor first, then the first and second merit segments
    (coal, then gas), so their total splits in that order.
    """
    g = generation[:, :, 0]
    thermal = g[:, COAL] + g[:, GAS]
    floor = np.minimum(thermal, stacks[:, 1])
    first = np.minimum(thermal - floor, stacks[:, 4])
    segments = np.stack(
        [g[:, NUCLEAR] + g[:, BIOMASS], floor, g[:, HYDRO], g[:, WIND] + g[:, SOLAR], first,
         thermal - floor - first],
        axis=1,
    )  # fmt: skip
    return (segments * STACK_COST).sum() + PENALTY * (unserved.sum() + surplus.sum())


@pytest.mark.parametrize("pooled", [False, True])
def test_dispatch_matches_lp(pooled):
    """Alone or pooled through a hub (no losses), the dispatch solves its stack LP."""
    rng = np.random.default_rng(3)
    n_p = 4
    for _ in range(60):
        load, nuclear, hydro, chp, wind, solar, coal, gas = _random_system(rng, n_p, 1)
        load = rng.uniform(0, 160, (n_p, 1))
        chp = np.minimum(rng.uniform(0, 30, (n_p, 1)) * rng.integers(0, 2), coal[:, None])
        biomass, gas_floor = _random_floors(rng, gas, 1)
        hub_capacity = rng.uniform(0, 60, n_p) * rng.integers(0, 2, n_p)
        generation, _, to_hub, from_hub, unserved, surplus, _ = _run(
            load, nuclear, hydro, chp, wind, solar, coal, gas,
            pool=np.zeros(n_p, np.int64) if pooled else None, hub_capacity=hub_capacity,
            biomass=biomass, gas_floor=gas_floor,
        )  # fmt: skip
        # the LP sees each floor as its own segment; coal and gas above them as the next
        stacks = np.stack(
            [nuclear[:, 0] + biomass[:, 0], chp[:, 0] + gas_floor[:, 0], hydro[:, 0],
             wind[:, 0] + solar[:, 0], np.maximum(coal - chp[:, 0], 0), gas - gas_floor[:, 0]],
            axis=1,
        )  # fmt: skip
        expected = _stack_lp(load[:, 0], stacks, hub_capacity if pooled else None)
        ours = _our_cost(generation, unserved, surplus, stacks)
        assert ours == pytest.approx(expected, rel=1e-9, abs=1e-7)


def test_pool_hand_case():
    """A (load 20, coal 100) and B (load 50, nothing) share a hub; B's link carries 40."""
    generation, _, to_hub, from_hub, unserved, _, share = _run(
        [[20.0], [50.0]], coal=[100.0, 0.0], pool=[0, 0], hub_capacity=[100.0, 40.0]
    )
    assert to_hub[0, 0] == pytest.approx(40) and from_hub[1, 0] == pytest.approx(40)
    assert generation[0, COAL, 0] == pytest.approx(60)
    assert unserved[1, 0] == pytest.approx(10)
    assert share[0, COAL, 0] == 1  # A's coal is at the margin of A


def test_pool_importer_load_raises_exporter_generation():
    """One more MWh in B (importer) is generated by A's coal through the hub."""
    kwargs = dict(coal=[100.0, 10.0], pool=[0, 0], hub_capacity=[100.0, 100.0])
    before = _run([[20.0], [50.0]], **kwargs)[0]
    after = _run([[20.0], [51.0]], **kwargs)[0]
    increase = after.sum(axis=1) - before.sum(axis=1)
    assert increase.sum() == pytest.approx(1.0)
    assert increase[0, 0] > 0  # the exporter generates part of it


def test_merit_order_hand_case_and_ties():
    net = np.array([-5.0, 0.0, 25.0, 30.0, 45.0, 100.0])
    capacity = np.array([10.0, 20.0, 15.0])
    cost = np.array([5.0, 1.0, 5.0])
    rate = np.array([900.0, 0.0, 400.0])  # tie between 0 and 2: cleaner (2) first
    dispatch_, marginal = merit_order_kernel(
        net, np.broadcast_to(capacity, (6, 3)).copy(), cost, rate
    )
    np.testing.assert_allclose(dispatch_[2], [0, 20, 5])
    np.testing.assert_allclose(dispatch_[3], [0, 20, 10])
    np.testing.assert_allclose(dispatch_[5], [10, 20, 15])
    # exactly at source 1's cap (30 = 20 + 10)? no: 30 = 20 + 10 of source 2 -> 2 part-loaded
    assert marginal.tolist() == [-1, -1, 2, 2, -1, -1]
    dispatch_, marginal = merit_order_kernel(
        np.array([20.0, 35.0]), np.broadcast_to(capacity, (2, 3)).copy(), cost, rate
    )
    # 20 fills source 1 exactly: the next MWh comes from source 2; 35 fills 1 and 2: from 0
    assert marginal.tolist() == [2, 0]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_merit_order_matches_lp(seed):
    """Same cost as HiGHS on random hours (ties, shortage and negative load included);
    same emissions where the tie-break makes them defined (LP with emissions as a
    lexicographic second objective)."""
    rng = np.random.default_rng(seed)
    n_t, n_s = 12, 5
    cost = rng.integers(1, 4, n_s).astype(float)  # small integers: ties are frequent
    rate = rng.choice([0.0, 430.0, 853.0], n_s)
    capacity = rng.uniform(0, 30, (n_t, n_s)) * (rng.random((n_t, n_s)) > 0.2)
    net = rng.uniform(-20, 120, n_t)
    dispatch_, marginal = merit_order_kernel(net, capacity, cost, rate)
    for t in range(n_t):
        demand = max(net[t], 0.0)
        served = min(demand, capacity[t].sum())
        # stage 1: least cost for the energy that can be served
        lp = linprog(
            cost, A_eq=[np.ones(n_s)], b_eq=[served],
            bounds=[(0, c) for c in capacity[t]], method="highs",
        )  # fmt: skip
        assert lp.status == 0
        assert dispatch_[t].sum() == pytest.approx(served, abs=1e-9)
        assert cost @ dispatch_[t] == pytest.approx(lp.fun, rel=1e-9, abs=1e-9)
        # stage 2: least emissions among least-cost dispatches (the tie-break's meaning)
        lp2 = linprog(
            rate, A_eq=[np.ones(n_s), cost], b_eq=[served, lp.fun],
            bounds=[(0, c) for c in capacity[t]], method="highs",
        )  # fmt: skip
        assert lp2.status == 0
        assert rate @ dispatch_[t] == pytest.approx(lp2.fun, rel=1e-7, abs=1e-6)
        assert (dispatch_[t] <= capacity[t] + 1e-12).all()
        if net[t] <= 0 or net[t] >= capacity[t].sum():
            assert marginal[t] == -1
        else:
            m = marginal[t]
            assert dispatch_[t, m] < capacity[t, m]
            # no cheaper (or tied and cleaner) source has room left
            cheaper = (cost < cost[m]) | ((cost == cost[m]) & (rate < rate[m]))
            assert (dispatch_[t, cheaper] >= capacity[t, cheaper] - 1e-9).all()


def test_hydro_schedule_meets_monthly_budget_and_shaves_peaks():
    rng = np.random.default_rng(7)
    n_p, n_t = 3, 60
    starts = np.array([0, 20, 45, 60], np.int64)
    residual = rng.uniform(-20, 100, (n_p, n_t))
    capacity = np.broadcast_to(rng.uniform(10, 40, (n_p, 1)), (n_p, n_t)).copy()
    budget = rng.uniform(0, 600, (n_p, 3))
    budget[0, 1] = 1e6  # more water than the month's capacity: runs at capacity
    hydro = schedule_hydro(residual, capacity, budget, starts)
    assert (hydro >= 0).all() and (hydro <= capacity + 1e-9).all()
    for m in range(3):
        month = slice(starts[m], starts[m + 1])
        monthly_cap = capacity[:, month].sum(axis=1)
        np.testing.assert_allclose(
            hydro[:, month].sum(axis=1), np.minimum(budget[:, m], monthly_cap), rtol=1e-9
        )
        for p in range(n_p):
            h, r, c = hydro[p, month], residual[p, month], capacity[p, month]
            part = (h > 1e-9) & (h < c - 1e-9)
            if part.any():
                level = (r - h)[part][0]
                # peak shaving: partial hours sit at one level; idle hours are below it,
                # full hours above it
                np.testing.assert_allclose((r - h)[part], level, atol=1e-6)
                assert (r[h <= 1e-9] <= level + 1e-6).all()
                assert (r[h >= c - 1e-9] - c[h >= c - 1e-9] >= level - 1e-6).all()


def test_hydro_residual_is_numpys_sum_value_for_value():
    """One pass over the supply gives numpy's broadcast expression to the bit (the same
    additions in the same order), on values whose sums round."""
    rng = np.random.default_rng(11)
    n_p, n_t = 4, 37
    load = rng.uniform(0, 1e4, (n_p, n_t)) / 3.0
    export = rng.uniform(-1e3, 1e3, n_p) / 7.0
    parts = [rng.uniform(0, 2e3, (n_p, n_t)) / 11.0 for _ in range(7)]
    expected = load + export[:, None]
    for part in parts:
        expected = expected - part
    np.testing.assert_array_equal(hydro_residual(load, export, *parts), expected)
    # another order of the terms rounds differently: the test can tell the orders apart
    assert not np.array_equal(hydro_residual(load, export, *parts[::-1]), expected)


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


def _pool_position_by_bisection(members, stacks, cumulative, link):
    """The pool position as found before the search from the last position: bisection over
    the segment boundaries, then over the segment's sorted kinks (plain Python floats)."""
    from hourlysim._kernels.dispatch import N_SEGMENTS

    net, low, high, keep = link

    def balance(lam):
        lam = min(max(lam, 0.0), float(N_SEGMENTS))
        k = min(int(lam), N_SEGMENTS - 1)
        total = 0.0
        for p in members:
            output = cumulative[p, k] + stacks[p, k] * (lam - k)
            x = min(max(output, low[p]), high[p]) - net[p]
            total += x * keep[p] if x > 0.0 else x / keep[p]
        return total

    lo, hi = 0.0, float(N_SEGMENTS)
    value_low, value_high = balance(lo), balance(hi)
    if value_low >= 0.0:
        return 0.0
    if value_high <= 0.0:
        return hi
    while hi - lo > 1.0:
        mid = float(int(0.5 * (lo + hi)))
        v = balance(mid)
        if v <= 0.0:
            lo, value_low = mid, v
        else:
            hi, value_high = mid, v
    k = int(lo)
    kinks = []
    for p in members:
        if stacks[p, k] > 0.0:
            for bound in (low[p], high[p], net[p]):
                if cumulative[p, k] < bound <= cumulative[p, k + 1]:
                    x = k + (bound - cumulative[p, k]) / stacks[p, k]
                    if lo < x < hi:
                        kinks.append(x)
    kinks.sort()
    first, last = 0, len(kinks)
    while first < last:
        mid = (first + last) // 2
        v = balance(kinks[mid])
        if v <= 0.0:
            lo, value_low, first = kinks[mid], v, mid + 1
        else:
            hi, value_high, last = kinks[mid], v, mid
    if value_high > value_low:
        return lo + (0.0 - value_low) * (hi - lo) / (value_high - value_low)
    return lo


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_pool_position_from_the_last_hours_position_is_the_same(seed):
    """A pool's position searched from any guess (the last hour's position) equals the one
    found without a guess and the one of a bisection over the segments and their sorted
    kinks, to the bit: the guess only changes where the search for the two kinks around the
    root starts. Ties (stacks, bounds and net loads on a coarse grid, flat pieces of the
    balance) and stacks that cannot balance (roots 0 and 6) included."""
    from hourlysim._kernels.dispatch import N_SEGMENTS, _pool_positions

    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 6))
    coarse = rng.random() < 0.3
    stacks = rng.uniform(0, 100, (n, N_SEGMENTS)) * (rng.random((n, N_SEGMENTS)) < 0.8)
    if coarse:
        stacks = np.floor(stacks / 10) * 10
    cumulative = np.zeros((n, N_SEGMENTS + 1))
    cumulative[:, 1:] = np.cumsum(stacks, axis=1)
    net = rng.uniform(-50, 1.2 * cumulative[:, -1])
    capacity = rng.uniform(0, 80, n) * (rng.random(n) < 0.9)
    keep = 1.0 - rng.uniform(0, 0.05, n)
    if coarse:
        net, capacity, keep = np.floor(net / 10) * 10, np.floor(capacity / 10) * 10, np.ones(n)
    low, high = net - capacity * keep, net + capacity
    members = np.arange(n, dtype=np.int64)
    link = np.array([net, low, high, keep])  # rows LINK_NET, LINK_LOW, LINK_HIGH, LINK_KEEP
    pool_ptr = np.array([0, n], dtype=np.int64)

    def position(guess):
        roots = np.array([guess], dtype=float)
        _pool_positions(pool_ptr, members, stacks, cumulative, link, np.zeros(3 * n), roots)
        return roots[0]

    cold = position(-1.0)
    assert cold == _pool_position_by_bisection(members, stacks, cumulative, link)
    guesses = [*range(N_SEGMENTS + 1), *rng.uniform(0, N_SEGMENTS, 4), cold]
    for guess in guesses:
        assert position(float(guess)) == cold


def test_dispatch_summary_against_numpy():
    """The one-pass summary equals numpy's products and sums over the sources; a province
    that generates nothing has average intensity 0, and curtailment is never negative."""
    rng = np.random.default_rng(3)
    generation = rng.uniform(0, 50, (4, N_SOURCES, 30))
    generation[2, :, 5] = 0.0
    share = rng.uniform(0, 1, (4, N_SOURCES, 30))
    rates = rng.uniform(0, 900, N_SOURCES)
    wind, solar = rng.uniform(0, 60, (2, 4, 30))
    stored = (np.full(generation.shape, np.nan, np.float32), np.full(share.shape, np.nan))
    results = tuple(np.full((4, 30), np.nan) for _ in range(3))  # average, marginal, curtailment
    emissions, total, average, marginal, curtailment = dispatch_summary(
        generation, share, rates, wind, solar, *stored, *results
    )
    for mine, passed in zip((average, marginal, curtailment), results, strict=True):
        assert mine is passed  # the caller's arrays themselves
    # the copies, in the dtype they are given: float32 rounded once, float64 as it is
    np.testing.assert_array_equal(stored[0], generation.astype(np.float32))
    np.testing.assert_array_equal(stored[1], share)
    np.testing.assert_allclose(emissions, rates @ generation, rtol=1e-14)
    np.testing.assert_allclose(total, generation.sum(axis=1), rtol=1e-14)
    np.testing.assert_allclose(marginal, rates @ share, rtol=1e-14)
    generates = total > 0
    np.testing.assert_allclose(
        average[generates], emissions[generates] / total[generates], rtol=1e-15
    )
    assert average[2, 5] == 0.0
    used = generation[:, WIND] + generation[:, SOLAR]
    np.testing.assert_allclose(curtailment, np.maximum(wind + solar - used, 0.0), rtol=1e-14)
    assert (curtailment == 0.0).any() and (curtailment > 0.0).any()
    # a NaN in the available wind stays NaN (no silent zero)
    wind[1, 7] = np.nan
    assert np.isnan(
        dispatch_summary(generation, share, rates, wind, solar, *stored, *results)[4][1, 7]
    )


def test_net_imports_hand_case():
    """Two provinces and a hub: 0 sends 10 MWh to 1 (10% lost), 1 sends 4 MWh to the hub
    (node 2, not a province), the hub sends 3 MWh to 0 (no loss)."""
    flow = np.array([[10.0, 0.0], [4.0, 1.0], [3.0, 2.0]])
    edge_from = np.array([0, 1, 2])
    edge_to = np.array([1, 2, 0])
    loss = np.array([0.1, 0.0, 0.0])
    out = np.full((2, 2), np.nan)  # overwritten, not added to
    net = net_imports(flow, edge_from, edge_to, loss, out)
    assert net is out
    np.testing.assert_allclose(net, [[-10.0 + 3.0, 2.0], [9.0 - 4.0, -1.0]])
