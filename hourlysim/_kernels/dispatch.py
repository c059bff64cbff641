"""Stage 3 kernels: merit-order dispatch per province-hour with scheduled transfers.

Source order in every array: 0 coal, 1 gas, 2 hydro, 3 nuclear, 4 wind, 5 solar.
"""

from __future__ import annotations

import numpy as np

from ._jit import kernel

COAL, GAS, HYDRO, NUCLEAR, WIND, SOLAR = 0, 1, 2, 3, 4, 5
N_SOURCES = 6
_MAX_TRANSFER_ROUNDS = 50


@kernel
def _balance_province(
    load,
    nuclear,
    hydro,
    chp_must_run,
    wind,
    solar,
    coal_capacity,
    gas_capacity,
    generation,
    hour,
    province,
):
    """Dispatch one province-hour; return the surplus that could not be absorbed [MWh].

    Must-run nuclear, hydro and CHP and all wind/solar are taken first; coal then gas fill
    the rest. In a surplus, wind and solar are curtailed pro rata first, then hydro is
    spilled, then CHP and nuclear are backed down; what is still left is returned.
    """
    must_run = nuclear + hydro + chp_must_run
    variable = wind + solar
    residual = load - must_run - variable
    g_coal = chp_must_run
    g_gas = 0.0
    g_hydro = hydro
    g_nuclear = nuclear
    g_wind = wind
    g_solar = solar
    surplus = 0.0
    if residual >= 0.0:
        extra_coal = min(residual, max(coal_capacity - chp_must_run, 0.0))
        g_coal += extra_coal
        residual -= extra_coal
        g_gas = min(residual, gas_capacity)
        residual -= g_gas
        surplus = -residual  # <= 0: unserved energy, as a negative surplus
    else:
        excess = -residual
        if variable > 0.0:
            cut = min(excess, variable)
            g_wind = wind * (1.0 - cut / variable)
            g_solar = solar * (1.0 - cut / variable)
            excess -= cut
        cut = min(excess, g_hydro)
        g_hydro -= cut
        excess -= cut
        cut = min(excess, g_coal)
        g_coal -= cut
        excess -= cut
        cut = min(excess, g_nuclear)
        g_nuclear -= cut
        excess -= cut
        surplus = excess
    generation[province, COAL, hour] = g_coal
    generation[province, GAS, hour] = g_gas
    generation[province, HYDRO, hour] = g_hydro
    generation[province, NUCLEAR, hour] = g_nuclear
    generation[province, WIND, hour] = g_wind
    generation[province, SOLAR, hour] = g_solar
    return surplus


@kernel
def _net_load(load, flow, corridor_from, corridor_to, t, net, inflow, outflow):
    """Load plus exports minus imports (``net``), imports and exports in hour t."""
    net[:] = load[:, t]
    inflow[:] = 0.0
    outflow[:] = 0.0
    for k in range(corridor_from.size):
        net[corridor_from[k]] += flow[k, t]
        net[corridor_to[k]] -= flow[k, t]
        inflow[corridor_to[k]] += flow[k, t]
        outflow[corridor_from[k]] += flow[k, t]


@kernel
def _scale_flows(flow, corridor_end, province, scale, t):
    for k in range(corridor_end.size):
        if corridor_end[k] == province:
            flow[k, t] *= scale


@kernel
def dispatch(
    load,
    nuclear,
    hydro,
    chp_must_run,
    wind,
    solar,
    coal_capacity,
    gas_capacity,
    corridor_from,
    corridor_to,
    corridor_schedule,
):
    """Merit-order dispatch of every province and hour with scheduled corridor flows.

    Parameters
    ----------
    load : ndarray (province, time)
        Demand to serve inside the province, EVs included [MWh].
    nuclear, hydro, chp_must_run : ndarray (province, time)
        Must-run generation available [MWh].
    wind, solar : ndarray (province, time)
        Available wind and solar generation (capacity x capacity factor) [MWh].
    coal_capacity, gas_capacity : ndarray (province,)
        Capacity [MW] (CHP is part of coal).
    corridor_from, corridor_to : ndarray of int64 (corridor,)
        Sending and receiving province index of each corridor.
    corridor_schedule : ndarray (corridor, time)
        Scheduled flow [MWh]. Imports only displace the receiver's coal and gas: where a
        receiver's own must-run, wind and solar already cover its load (exports included),
        its incoming flows are reduced pro rata. Exports are sent only from capacity left
        after the sender's own load: a sender short of capacity has its outgoing flows
        reduced pro rata. Both are repeated until no flow changes.

    Returns
    -------
    generation : ndarray (province, source, time)
        Generation by source [MWh].
    flow : ndarray (corridor, time)
        Flows carried [MWh].
    unserved : ndarray (province, time)
        Demand not met [MWh].
    surplus : ndarray (province, time)
        Must-run and import energy that could not be absorbed [MWh] (0 unless the province
        has no corridor to shed it on).
    """
    n_province, n_time = load.shape
    generation = np.zeros((n_province, N_SOURCES, n_time))
    flow = corridor_schedule.copy()
    unserved = np.zeros((n_province, n_time))
    surplus = np.zeros((n_province, n_time))
    balance = np.zeros(n_province)
    net = np.zeros(n_province)
    inflow = np.zeros(n_province)
    outflow = np.zeros(n_province)
    for t in range(n_time):
        for _ in range(_MAX_TRANSFER_ROUNDS):
            _net_load(load, flow, corridor_from, corridor_to, t, net, inflow, outflow)
            changed = False
            for p in range(n_province):
                own = nuclear[p, t] + hydro[p, t] + chp_must_run[p, t] + wind[p, t] + solar[p, t]
                # imports only replace coal and gas: never curtail the receiver's own
                # wind, solar or must-run generation to make room for them
                room = max(0.0, net[p] + inflow[p] - own)
                if inflow[p] > room + 1e-9:
                    _scale_flows(flow, corridor_to, p, room / inflow[p], t)
                    changed = True
                    continue
                # exports are sent only from capacity left after the sender's own load
                supply = own + max(coal_capacity[p] - chp_must_run[p, t], 0.0) + gas_capacity[p]
                shortfall = net[p] - supply
                if shortfall > 1e-9 and outflow[p] > 0.0:
                    _scale_flows(flow, corridor_from, p, max(0.0, 1.0 - shortfall / outflow[p]), t)
                    changed = True
            if not changed:
                break
        _net_load(load, flow, corridor_from, corridor_to, t, net, inflow, outflow)
        for p in range(n_province):
            balance[p] = _balance_province(
                net[p],
                nuclear[p, t],
                hydro[p, t],
                chp_must_run[p, t],
                wind[p, t],
                solar[p, t],
                coal_capacity[p],
                gas_capacity[p],
                generation,
                t,
                p,
            )
        for p in range(n_province):
            if balance[p] < 0.0:
                unserved[p, t] = -balance[p]
            else:
                surplus[p, t] = balance[p]
    return generation, flow, unserved, surplus
