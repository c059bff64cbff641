"""Stage 4 kernels: attribute provincial intensities to city-hours."""

from __future__ import annotations

import numpy as np

from ._jit import kernel
from .tracing import network_workspace, trace_hour


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


@kernel
def attribute_ev_emissions(
    draw,
    city_node,
    city_weight,
    annual_draw_share,
    generation,
    emissions,
    ev_caused,
    edge_from,
    edge_to,
    flow,
    loss,
):
    """Consumption, consequential and territorial EV emissions, and where they occur.

    Each hour the supply-share matrix ``S[j, p]`` (share of the power leaving node ``j``
    generated at node ``p``) of the grid with EVs is traced (:func:`tracing.solve_hour`);
    a city at node ``j`` drawing ``d`` MWh is supplied ``d S[j, p]`` by producer ``p``.

    - consumption: ``d S[j, p] a[p]`` summed over ``p`` (``a`` = production intensity);
    - consequential: producer ``p``'s EV-caused change ``dE[p]`` is shared among cities in
      proportion to ``d S[j, p]``; if no EV power traces to ``p`` that hour, in proportion
      to every city's draw that hour; if no city draws that hour, to every city's annual
      draw (``annual_draw_share``);
    - territorial: the consumption emissions located at producer ``p`` (from every city's
      EVs), placed in the cities of ``p`` by ``city_weight``.

    Parameters
    ----------
    draw : ndarray (city, time)
        EV electricity at generation level [MWh].
    city_node : ndarray of int64 (city,)
        Node (province) index of each city.
    city_weight : ndarray (city,)
        Share of its province's emissions located in the city [1] (sums to 1 over the
        cities of a province that has cities).
    annual_draw_share : ndarray (city,)
        City's share of the annual EV draw of all cities [1].
    generation : ndarray (node, time)
        Generation with EVs [MWh] (0 at hubs).
    emissions : ndarray (node, time)
        Production emissions with EVs [t].
    ev_caused : ndarray (node, time)
        With-EV minus without-EV production emissions [t].
    edge_from, edge_to : ndarray of int64 (edge,)
        Node indices of each corridor's ends.
    flow : ndarray (edge, time)
        Power sent [MWh].
    loss : ndarray (edge, time)
        Fraction lost on the way [1].

    Returns
    -------
    consumption, consequential, territorial : ndarray (city, time)
        EV emissions under each method [t].
    burden_consumption, burden_consequential : ndarray (city, node)
        Annual EV emissions of each city by the node where they are emitted [t].
    unattributed : ndarray (time,)
        EV-caused emissions that no city could carry (no EV draw in the whole year) [t].
    residual : ndarray (time,)
        Relative residual of the tracing solve [1].
    """
    n_city, n_time = draw.shape
    n_node = generation.shape[0]
    # hour-major copies: each hour reads and writes contiguous memory
    draw_hour = np.ascontiguousarray(draw.T)
    flow_hour = np.ascontiguousarray(flow.T)
    loss_hour = np.ascontiguousarray(loss.T)
    generation_hour = np.ascontiguousarray(generation.T)
    consumption = np.zeros((n_time, n_city))
    consequential = np.zeros((n_time, n_city))
    territorial = np.zeros((n_time, n_city))
    burden_consumption = np.zeros((n_city, n_node))
    burden_consequential = np.zeros((n_city, n_node))
    unattributed = np.zeros(n_time)
    residual = np.zeros(n_time)
    rhs = np.zeros((n_node, n_node))
    share = np.zeros((n_node, n_node))
    space = network_workspace(n_node, edge_from.size, n_node)
    rate = np.zeros(n_node)
    node_draw = np.zeros(n_node)
    supplied = np.zeros(n_node)
    per_supply = np.zeros(n_node)
    has_annual_draw = annual_draw_share.sum() > 0.0
    for t in range(n_time):
        for j in range(n_node):
            g = generation_hour[t, j]
            rhs[j, j] = g
            rate[j] = emissions[j, t] / g if g > 0.0 else 0.0
            node_draw[j] = 0.0
        _, _, residual[t] = trace_hour(
            generation_hour[t], edge_from, edge_to, flow_hour[t], loss_hour[t], rhs, share, space
        )
        d = draw_hour[t]
        hour_draw = 0.0
        for c in range(n_city):
            node_draw[city_node[c]] += d[c]
            hour_draw += d[c]
        # supplied[p]: EV power this hour generated at p, from every city; per_supply[p]:
        # EV-caused emissions at p per MWh of EV power it supplies
        for p in range(n_node):
            supplied[p] = 0.0
            for j in range(n_node):
                supplied[p] += node_draw[j] * share[j, p]
            per_supply[p] = ev_caused[p, t] / supplied[p] if supplied[p] > 0.0 else 0.0
        for c in range(n_city):
            j = city_node[c]
            # territorial: consumption emissions located at the city's own node
            territorial[t, c] = city_weight[c] * supplied[j] * rate[j]
            if d[c] == 0.0:
                continue
            for p in range(n_node):
                supply = d[c] * share[j, p]
                if supply == 0.0:
                    continue
                consumption[t, c] += supply * rate[p]
                burden_consumption[c, p] += supply * rate[p]
                consequential[t, c] += supply * per_supply[p]
                burden_consequential[c, p] += supply * per_supply[p]
        for p in range(n_node):
            change = ev_caused[p, t]
            if change == 0.0 or supplied[p] > 0.0:
                continue
            # no EV power traces to p: every city's draw this hour, else its annual draw
            if hour_draw <= 0.0 and not has_annual_draw:
                unattributed[t] += change
                continue
            for c in range(n_city):
                weight = d[c] / hour_draw if hour_draw > 0.0 else annual_draw_share[c]
                consequential[t, c] += change * weight
                burden_consequential[c, p] += change * weight
    return (
        np.ascontiguousarray(consumption.T),
        np.ascontiguousarray(consequential.T),
        np.ascontiguousarray(territorial.T),
        burden_consumption,
        burden_consequential,
        unattributed,
        residual,
    )


@kernel
def located_share_below(burden, city_node, city_weight, gdp_per_capita):
    """Annual emissions each city's EVs cause in cities poorer than itself.

    Parameters
    ----------
    burden : ndarray (city, node)
        Annual EV emissions of each city by producing node [t].
    city_node : ndarray of int64 (city,)
        Node (province) index of each city.
    city_weight : ndarray (city,)
        Share of its province's emissions located in the city [1].
    gdp_per_capita : ndarray (city,)
        GDP per capita [any currency person-1].

    Returns
    -------
    ndarray (city,)
        ``sum_p burden[c, p] * sum_{k in p, gdp[k] < gdp[c]} weight[k]`` [t].
    """
    n_city = burden.shape[0]
    result = np.zeros(n_city)
    for c in range(n_city):
        for k in range(n_city):
            if gdp_per_capita[k] < gdp_per_capita[c]:
                result[c] += burden[c, city_node[k]] * city_weight[k]
    return result
