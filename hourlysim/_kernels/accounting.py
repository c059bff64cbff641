"""Stage 4 kernels: attribute provincial intensities to city-hours."""

from __future__ import annotations

import numpy as np

from ._jit import kernel
from .tracing import hour_import_fractions, hour_row, network_workspace, trace_hour

#: hours per block of the city x producer burden products: 64 h keep the block's rates at
#: 1.2 MB (2 methods x 38 nodes x 64 h x 32 columns; 5 MB at 256 h), and fewer producer
#: columns are nonzero somewhere in a shorter block, so fewer are packed and multiplied
BURDEN_BLOCK_HOURS = 64


@kernel
def at_province_rate(ev_grid_draw, city_province, rates, out, out_rows, annual):
    """Each city's EV electricity times hourly rates of its province, written hour by hour
    and summed over the hours, in one pass over the electricity.

    With an intensity [t CO2 MWh-1] as rate this gives emissions [t CO2]; with the
    province's import fraction [1], the imported part of the electricity [MWh].

    Parameters
    ----------
    ev_grid_draw : ndarray (city, time)
        EV electricity at generation level [MWh].
    city_province : ndarray of int64 (city,)
        Province index of each city.
    rates : ndarray (rate, province, time)
        Per-MWh rates of each province and hour [any unit per MWh].
    out : ndarray (row, city, time)
        The first ``out_rows.size`` rates' products, ``ev_grid_draw[c, t] * rates[r,
        province(c), t]``, are written into ``out[out_rows[r]]`` [MWh x rate unit] (any
        float dtype: the caller's result array, so nothing is allocated or copied here).
    out_rows : ndarray of int64 (written,)
        Row of ``out`` for each of the first rates; the rates after them are only summed.
    annual : ndarray (rate, city)
        Overwritten with the sums over the hours of every rate's products, taken in
        float64 before any rounding to ``out``'s dtype (:func:`_products`) [MWh x rate
        unit].

    Returns
    -------
    out, annual
    """
    for c in range(ev_grid_draw.shape[0]):
        p = city_province[c]
        draw = ev_grid_draw[c]
        for r in range(rates.shape[0]):
            if r < out_rows.size:
                annual[r, c] = _products(draw, rates[r, p], out[out_rows[r], c], True)
            else:
                annual[r, c] = _products(draw, rates[r, p], draw, False)
    return out, annual


@kernel
def _products(draw, rate, row, write):
    """``sum_t draw[t] * rate[t]``, each product also written into ``row`` if ``write``.
    Four running sums (hours ``t mod 4``), added pairwise at the end, so that the additions
    need not wait on each other."""
    n_time = draw.size
    n_quad = n_time - n_time % 4
    s0 = s1 = s2 = s3 = 0.0
    for t in range(0, n_quad, 4):
        v0 = draw[t] * rate[t]
        v1 = draw[t + 1] * rate[t + 1]
        v2 = draw[t + 2] * rate[t + 2]
        v3 = draw[t + 3] * rate[t + 3]
        if write:
            row[t] = v0
            row[t + 1] = v1
            row[t + 2] = v2
            row[t + 3] = v3
        s0 += v0
        s1 += v1
        s2 += v2
        s3 += v3
    for t in range(n_quad, n_time):
        v0 = draw[t] * rate[t]
        if write:
            row[t] = v0
        s0 += v0
    return (s0 + s1) + (s2 + s3)


@kernel
def sum_by_group(values, group, out):
    """Rows of ``values`` summed by group, into ``out`` (the inverse of
    :func:`at_province_rate`'s spreading: cities summed into their province).

    Parameters
    ----------
    values : ndarray (row, time)
        Values to sum [any unit].
    group : ndarray of int64 (row,)
        Group (row of ``out``) of each row.
    out : ndarray (group, time)
        Overwritten with the sums, rows in the order of ``values`` [the unit of
        ``values``]. Nothing is skipped: a NaN makes its group's sums NaN.

    Returns
    -------
    ndarray (group, time)
        ``out``.
    """
    out[:, :] = 0.0
    for row in range(values.shape[0]):
        g = group[row]
        for t in range(values.shape[1]):
            out[g, t] += values[row, t]
    return out


@kernel
def draw_with_group_sums(
    charging_load, kept_fraction, group, draw, group_draw, charging_copy, draw_copy
):
    """EV electricity at generation level, its sums by group, and both arrays rounded into
    the caller's output arrays, in one pass over the charging load.

    ``draw[c, t] = charging_load[c, t] / kept_fraction`` (the same division, value for value,
    as :func:`hourlysim.accounting.ev_grid_draw`), summed over the rows of each group in row
    order (as :func:`sum_by_group`).

    Parameters
    ----------
    charging_load : ndarray (row, time)
        Charger energy [MWh].
    kept_fraction : float
        Share of the energy at generation level that reaches the charger, ``1 - T&D loss
        fraction`` [1].
    group : ndarray of int64 (row,)
        Group (row of ``group_draw``) of each row, e.g. a city's province.
    draw : ndarray (row, time)
        Overwritten with the energy at generation level [MWh].
    group_draw : ndarray (group, time)
        Overwritten with the sums of ``draw`` by group [MWh]. Nothing is skipped: a NaN
        makes its group's sums NaN.
    charging_copy, draw_copy : ndarray (row, time)
        Overwritten with ``charging_load`` and ``draw`` in their own float dtype (a float32
        row of the caller's output, say: each value rounded once) [MWh].

    Returns
    -------
    draw, group_draw
    """
    group_draw[:, :] = 0.0
    for row in range(charging_load.shape[0]):
        g = group[row]
        for t in range(charging_load.shape[1]):
            load = charging_load[row, t]
            value = load / kept_fraction
            draw[row, t] = value
            group_draw[g, t] += value
            charging_copy[row, t] = load
            draw_copy[row, t] = value
    return draw, group_draw


@kernel
def gasoline_co2(litres, per_litre, hourly, exact):
    """CO2 of the gasoline burned, at each rate per litre, in one pass over the litres.

    Parameters
    ----------
    litres : ndarray (city, time)
        Gasoline burned [L].
    per_litre : ndarray (rate,)
        CO2 per litre of each rate (well-to-wheel, tank-to-wheel, say) [t L-1].
    hourly : ndarray (rate, city, time)
        Overwritten with ``litres * per_litre[r]`` in its own float dtype (float32, the
        output's precision, say: each value rounded once) [t].
    exact : ndarray (city, time)
        Overwritten with the first rate's products in float64, the values a caller sums
        over the hours before any rounding [t]; may be ``hourly[0]`` when that is float64.

    Returns
    -------
    hourly, exact
    """
    n_city, n_time = litres.shape
    for c in range(n_city):
        amount = litres[c]
        first = exact[c]
        rate = per_litre[0]
        for t in range(n_time):
            first[t] = amount[t] * rate
        for r in range(per_litre.size):
            row = hourly[r, c]
            rate = per_litre[r]
            for t in range(n_time):
                row[t] = amount[t] * rate
    return hourly, exact


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
    node_draw,
    consumption,
    consequential,
    territorial,
):
    """Consumption, consequential and territorial EV emissions, and where they occur.

    Each hour the supply-share matrix ``S[j, p]`` (share of the power leaving node ``j``
    generated at node ``p``) of the grid with EVs is traced, with the consumption intensity
    as one more column of the same solve (:func:`tracing.trace_hour` on the right-hand side
    ``diag(G)``, then the emissions); a city at node ``j`` drawing ``d`` MWh is supplied
    ``d S[j, p]`` by producer ``p``.

    - consumption: ``d S[j, p] a[p]`` summed over ``p`` (``a`` = production intensity);
    - consequential: producer ``p``'s EV-caused change ``dE[p]`` is shared among cities in
      proportion to ``d S[j, p]``; if no EV power traces to ``p`` that hour, in proportion
      to every city's draw that hour; if no city draws that hour, to every city's annual
      draw (``annual_draw_share``);
    - territorial: the consumption emissions located at producer ``p`` (from every city's
      EVs), placed in the cities of ``p`` by ``city_weight``.

    Every one of these is a city's draw times a rate of its node and hour, so the city-hours
    cost one multiplication each; the annual city x producer burdens are, per node ``j``,
    the product of its cities' draw (city x hour) with ``S[j, p]`` times the producer's rate
    (hour x producer), taken in blocks of :data:`BURDEN_BLOCK_HOURS` hours by BLAS on the
    producer columns that are nonzero in some hour of the block. Only
    producers get a share column: the leading nodes up to the last one that generates or
    whose emissions the EVs change (the hubs, numbered after the provinces, never do).

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
    loss : ndarray (edge, time) or (edge, 1)
        Fraction lost on the way [1]; one column when it is the same every hour.
    node_draw : ndarray (node, time)
        ``draw`` summed over the cities of each node, in city order (:func:`sum_by_group`
        by ``city_node``; 0 at a node without cities) [MWh]: the caller has these sums
        from the pass that made the draw (:func:`draw_with_group_sums`), which spares
        this kernel a pass over the draw of its own.
    consumption, consequential, territorial : ndarray (city, time)
        Outputs, overwritten: the caller's result arrays (rows of its method x city x time
        array, say), so the hourly emissions are written once and never copied here.

    Returns
    -------
    consumption, consequential, territorial : ndarray (city, time)
        The output arrays: EV emissions under each method [t].
    burden_consumption, burden_consequential : ndarray (city, node)
        Annual EV emissions of each city by the node where they are emitted [t].
    unattributed : ndarray (time,)
        EV-caused emissions that no city could carry (no EV draw in the whole year) [t].
    residual : ndarray (time,)
        Relative residual of the tracing solve [1]; 0 in an hour solved by substitution
        alone (no loop), whose residual is rounding only (see ``solve_hour``).
    annual : ndarray (3, city)
        The sums over the hours of ``consumption``, ``consequential`` and ``territorial``
        (in that order) [t], taken as they are written (no second pass over the outputs).
    intensity : ndarray (node, time)
        Consumption intensity of the power leaving each node, ``sum_p S[j, p] a[p]``
        [t MWh-1]: :func:`tracing.trace_intensity`'s, by the same sums (value for value
        where every node that emits generates); 0 where a node neither generates nor
        receives.
    import_fraction : ndarray (node, time)
        Share of the power through each node that arrived from other nodes [1]
        (:func:`tracing.trace_intensity`'s, value for value).
    """
    n_city, n_time = draw.shape
    n_node = generation.shape[0]
    block = BURDEN_BLOCK_HOURS
    # cities grouped by node: by_node[first[j]:first[j + 1]] are the cities of node j
    first = np.zeros(n_node + 1, np.int64)
    for c in range(n_city):
        first[city_node[c] + 1] += 1
    for j in range(n_node):
        first[j + 1] += first[j]
    by_node = np.argsort(city_node, kind="mergesort")
    # the cities' draw summed by node, hour-major (each hour reads one contiguous row)
    node_draw_hour = np.ascontiguousarray(node_draw.T)
    flow_hour = np.ascontiguousarray(flow.T)
    loss_hour = np.ascontiguousarray(loss.T)
    generation_hour = np.ascontiguousarray(generation.T)
    # per node and hour: t per MWh drawn (consumption, consequential), t located (territorial)
    consumption_rate = np.zeros((n_node, n_time))
    consequential_rate = np.zeros((n_node, n_time))
    located = np.zeros((n_node, n_time))
    # EV-caused emissions no EV power traces to, in hours without any EV draw (shared by
    # annual draw), and their sum per producer
    without_draw = np.zeros(n_time)
    without_draw_by_node = np.zeros(n_node)
    unattributed = np.zeros(n_time)
    residual = np.zeros(n_time)
    burden_consumption = np.zeros((n_city, n_node))
    burden_consequential = np.zeros((n_city, n_node))
    # producers: the leading nodes, up to the last one that generates or whose emissions the
    # EVs change; the nodes after it (hubs) would only add share columns of zeros
    n_producer = 0
    for j in range(n_node):
        for t in range(n_time):
            if generation[j, t] != 0.0 or ev_caused[j, t] != 0.0:
                n_producer = j + 1
                break
    # a traced row: the producers' supply shares, the consumption intensity, then zeros up
    # to a multiple of 16 columns, so that the loops over a row vectorise without a scalar
    # tail; the per-producer rates below are 0 beyond the producers
    width = (n_producer // 16 + 1) * 16
    rhs = np.zeros((n_node, width))  # diag(generation), then the producers' emissions
    share = np.zeros((n_node, width))
    space = network_workspace(n_node, edge_from.size, width)
    total = space[4]  # power through each node this hour, once traced
    # one block of hours: node x hour x column rates (every row written each hour), and the
    # draw of the cities by node
    consumption_block = np.zeros((n_node, block, width))
    consequential_block = np.zeros((n_node, block, width))
    draw_block = np.zeros((n_city, block))
    # per node, nonzero where a producer's column is nonzero in some hour of the block (the
    # sum of its shares' magnitudes): those columns are packed for the products
    used = np.zeros((n_node, width))
    columns = np.empty(n_producer, np.int64)
    packed = np.empty(2 * block * n_producer)
    # and their products with the cities' draw, written here rather than into a new array
    # for each node and block
    most_cities = 0
    for j in range(n_node):
        most_cities = max(most_cities, first[j + 1] - first[j])
    products = np.empty(most_cities * 2 * n_producer)
    # producers whose EV-caused change no EV power traces to, this hour
    spread_list = np.empty(n_producer, np.int64)
    import_fraction = np.zeros((n_time, n_node))
    rate = np.zeros(width)
    supplied = np.zeros(width)
    per_supply = np.zeros(width)
    spread = np.zeros(width)
    to_node = np.zeros(n_node)
    has_annual_draw = annual_draw_share.sum() > 0.0
    for start in range(0, n_time, block):
        stop = min(start + block, n_time)
        for t in range(start, stop):
            b = t - start
            for p in range(n_producer):
                g = generation_hour[t, p]
                e = emissions[p, t] if g > 0.0 else 0.0
                rate[p] = e / g if g > 0.0 else 0.0
                rhs[p, p] = g
                rhs[p, n_producer] = e
            _, _, residual[t] = trace_hour(
                generation_hour[t],
                edge_from,
                edge_to,
                flow_hour[t],
                hour_row(loss_hour, t),
                rhs,
                share,
                space,
                False,
            )
            hour_import_fractions(generation_hour[t], total, import_fraction[t])
            hour_draw = 0.0
            for j in range(n_node):
                hour_draw += node_draw_hour[t, j]
            # per_supply[p]: EV-caused emissions at p per MWh of EV power it supplies;
            # spread[p]: those no EV power traces to, per MWh of this hour's draw
            supplied[:] = 0.0
            for j in range(n_node):
                nd = node_draw_hour[t, j]
                if nd != 0.0:
                    for p in range(width):
                        supplied[p] += nd * share[j, p]
            spread_total = 0.0
            n_spread = 0
            for p in range(n_producer):
                located[p, t] = supplied[p] * rate[p]
                change = ev_caused[p, t]
                per_supply[p] = 0.0
                spread[p] = 0.0
                if supplied[p] > 0.0:
                    per_supply[p] = change / supplied[p]
                elif change != 0.0:
                    if hour_draw > 0.0:
                        spread[p] = change / hour_draw
                        spread_total += spread[p]
                        spread_list[n_spread] = p
                        n_spread += 1
                    elif has_annual_draw:
                        without_draw[t] += change
                        without_draw_by_node[p] += change
                    else:
                        unattributed[t] += change
            np.dot(share, per_supply, to_node)  # sum_p S[j, p] per_supply[p], every node
            for j in range(n_node):
                consumption_rate[j, t] = share[j, n_producer]
                consequential_rate[j, t] = to_node[j] + spread_total
                if first[j + 1] == first[j]:
                    continue  # a node where no city draws (a hub) keeps only its rates
                # indexed in place, not through row views made every node and hour (each
                # view's reference count is updated atomically): with the products' output
                # below, 4.5% less time in this kernel, the same values
                for p in range(width):
                    consumption_block[j, b, p] = share[j, p] * rate[p]
                    consequential_block[j, b, p] = share[j, p] * per_supply[p] + spread[p]
                    used[j, p] += abs(share[j, p])
                for q in range(n_spread):
                    used[j, spread_list[q]] = 1.0
        # the block's burdens, node by node: (cities x hours) @ (hours x producers)
        n_hour = stop - start
        for position in range(n_city):
            c = by_node[position]
            for t in range(start, stop):
                draw_block[position, t - start] = draw[c, t]
            for b in range(n_hour, block):
                draw_block[position, b] = 0.0
        for j in range(n_node):
            if first[j + 1] == first[j]:
                continue
            # only the producer columns that are nonzero in some hour of the block
            n_column = 0
            for p in range(n_producer):
                if used[j, p] != 0.0:
                    columns[n_column] = p
                    n_column += 1
            used[j] = 0.0
            if n_column == 0:
                continue
            # both methods' columns side by side: one product per node and block; zeros in
            # the hours after the last one (a short block)
            on_rates = packed[: 2 * block * n_column].reshape((block, 2 * n_column))
            for b in range(n_hour):
                for q in range(n_column):
                    on_rates[b, q] = consumption_block[j, b, columns[q]]
                    on_rates[b, n_column + q] = consequential_block[j, b, columns[q]]
            on_rates[n_hour:] = 0.0
            n_here = first[j + 1] - first[j]
            on_cities = products[: n_here * 2 * n_column].reshape((n_here, 2 * n_column))
            np.dot(draw_block[first[j] : first[j + 1]], on_rates, on_cities)
            for position in range(first[j], first[j + 1]):
                c = by_node[position]
                for q in range(n_column):
                    p = columns[q]
                    burden_consumption[c, p] += on_cities[position - first[j], q]
                    burden_consequential[c, p] += on_cities[position - first[j], n_column + q]
    # the hourly outputs, and their sums over the year as they are written
    annual = np.zeros((3, n_city))
    for c in range(n_city):
        j = city_node[c]
        sum_consumption = 0.0
        sum_consequential = 0.0
        sum_territorial = 0.0
        for t in range(n_time):
            d = draw[c, t]
            value = d * consumption_rate[j, t]
            consumption[c, t] = value
            sum_consumption += value
            value = d * consequential_rate[j, t] + annual_draw_share[c] * without_draw[t]
            consequential[c, t] = value
            sum_consequential += value
            value = city_weight[c] * located[j, t]
            territorial[c, t] = value
            sum_territorial += value
        annual[0, c] = sum_consumption
        annual[1, c] = sum_consequential
        annual[2, c] = sum_territorial
        for p in range(n_node):
            burden_consequential[c, p] += annual_draw_share[c] * without_draw_by_node[p]
    return (
        consumption,
        consequential,
        territorial,
        burden_consumption,
        burden_consequential,
        unattributed,
        residual,
        annual,
        consumption_rate,
        np.ascontiguousarray(import_fraction.T),
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
