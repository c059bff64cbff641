"""Stage 3 kernels: merit-order dispatch, monthly hydro scheduling and regional pools.

Source order in every array: 0 coal, 1 gas, 2 hydro, 3 nuclear, 4 wind, 5 solar, 6 biomass.

The supply stack of one province-hour is a list of six *segments*, used in this order:
flat must-run (nuclear + biomass), the thermal floor (coal CHP in the heating season + the
gas must-run floor), hydro (run-of-river plus the dispatchable hydro scheduled for that
hour), wind + solar, then the two dispatchable sources (coal above its CHP floor, gas above
its floor) in merit order. A segment made of two sources delivers them pro rata to their
availability (see :data:`SEGMENT_SOURCES`). A stack position ``lam`` in [0, 6] says how far
up the stack a province runs: segment ``k`` delivers ``a_k * clip(lam - k, 0, 1)``. Running
below segment 3 means wind and solar are curtailed (then hydro spilled, then the thermal
floor and the flat must-run backed down), in this order, which is the merit order of the LP
whose costs reward keeping nuclear, hydro and wind/solar (see the tests).
"""

from __future__ import annotations

import numpy as np

from ._jit import kernel

COAL, GAS, HYDRO, NUCLEAR, WIND, SOLAR, BIOMASS = 0, 1, 2, 3, 4, 5, 6
N_SOURCES = 7
#: segments of the supply stack (see the module docstring)
SEG_MUST_RUN, SEG_THERMAL_FLOOR, SEG_HYDRO, SEG_VARIABLE, SEG_FIRST, SEG_SECOND = range(6)
N_SEGMENTS = 6
#: the two sources of each segment (a single-source segment names its source twice and
#: keeps its second part at zero); the last two rows are set from the merit order
SEGMENT_SOURCES = np.array(
    [[NUCLEAR, BIOMASS], [COAL, GAS], [HYDRO, HYDRO], [WIND, SOLAR], [COAL, COAL], [GAS, GAS]],
    np.int64,
)
#: rows of the pool members' link table (see :func:`_pool_value`)
LINK_NET, LINK_LOW, LINK_HIGH, LINK_KEEP = range(4)
_MAX_TRANSFER_ROUNDS = 50
_HYDRO_ITERATIONS = 200


# ----------------------------------------------------------------------------------------
# single-node merit order (public through hourlysim.grid.merit_order)


@kernel
def merit_order_kernel(net_load, capacity, cost, emission_rate):
    """Dispatch sources in merit order for every hour of one node.

    Parameters
    ----------
    net_load : ndarray (hour,)
        Load left for the dispatchable sources [MWh].
    capacity : ndarray (hour, source)
        Energy each source can deliver in the hour [MWh].
    cost : ndarray (source,)
        Cost of each source [any currency MWh-1].
    emission_rate : ndarray (source,)
        Emission rate [kg CO2 MWh-1]; breaks cost ties (cleaner first, then lower index).

    Returns
    -------
    dispatch : ndarray (hour, source)
        Energy dispatched [MWh].
    marginal : ndarray of int64 (hour,)
        Source that serves the next increment of load; -1 where net_load <= 0 (no
        dispatchable source runs) or where no source has spare capacity (shortage).
    """
    n_hour, n_source = capacity.shape
    order = np.arange(n_source)
    # insertion sort on (cost, emission_rate, index): stable, n_source is small
    for i in range(1, n_source):
        j = i
        while j > 0:
            a = order[j - 1]
            b = order[j]
            if cost[b] < cost[a] or (cost[b] == cost[a] and emission_rate[b] < emission_rate[a]):
                order[j - 1] = b
                order[j] = a
                j -= 1
            else:
                break
    dispatch = np.zeros((n_hour, n_source))
    marginal = np.full(n_hour, -1, np.int64)
    for t in range(n_hour):
        remaining = net_load[t]
        if remaining <= 0.0:
            continue
        for i in range(n_source):
            s = order[i]
            cap = max(capacity[t, s], 0.0)
            if remaining <= 0.0:
                if cap > 0.0 and marginal[t] < 0:
                    marginal[t] = s
                continue
            g = min(remaining, cap)
            dispatch[t, s] = g
            remaining -= g
            if g < cap and marginal[t] < 0:
                marginal[t] = s
    return dispatch, marginal


# ----------------------------------------------------------------------------------------
# monthly hydro budget


@kernel
def hydro_residual(
    load, nominal_export, nuclear, biomass, run_of_river, chp, gas_must_run, wind, solar
):
    """The residual load that the dispatchable hydro is shifted toward (:func:`schedule_hydro`).

    ``load + nominal_export - nuclear - biomass - run_of_river - chp - gas_must_run - wind -
    solar``, added up in that order for each province-hour: the same operations, value for
    value, as numpy's broadcast expression, in one pass over the inputs instead of one pass
    (and one temporary array) per term.

    Parameters
    ----------
    load : ndarray (province, time)
        Demand to serve inside the province, EVs included [MWh].
    nominal_export : ndarray (province,)
        Scheduled exports less imports, before any curtailment of the schedules [MWh].
    nuclear, biomass, run_of_river, chp, gas_must_run, wind, solar : ndarray (province, time)
        Must-run and variable supply (see :func:`dispatch`) [MWh].

    Returns
    -------
    ndarray (province, time)
        Residual load [MWh].
    """
    n_province, n_time = load.shape
    residual = np.empty((n_province, n_time))
    for p in range(n_province):
        export = nominal_export[p]
        for t in range(n_time):
            residual[p, t] = (
                load[p, t] + export - nuclear[p, t] - biomass[p, t] - run_of_river[p, t]
                - chp[p, t] - gas_must_run[p, t] - wind[p, t] - solar[p, t]
            )  # fmt: skip
    return residual


@kernel
def schedule_hydro(residual, capacity, budget, period_start):
    """Shift each period's hydro energy toward its hours of highest residual load.

    In every period (month) of every province, the dispatchable hydro follows
    ``h_t = clip(r_t - level, 0, c_t)`` with the level chosen so that the period's hours sum
    to its budget (peak shaving by water-filling). Where the budget exceeds the capacity
    of every hour of the period, hydro runs at capacity and the rest cannot be used.

    Parameters
    ----------
    residual : ndarray (province, time)
        Residual load the hydro is shifted toward [MWh].
    capacity : ndarray (province, time)
        Dispatchable hydro capacity available in each hour [MWh].
    budget : ndarray (province, period)
        Dispatchable hydro energy of each period [MWh].
    period_start : ndarray of int64 (period + 1,)
        First hour of each period, then the number of hours.

    Returns
    -------
    ndarray (province, time)
        Scheduled dispatchable hydro [MWh].
    """
    n_province, n_time = residual.shape
    hydro = np.zeros((n_province, n_time))
    for p in range(n_province):
        for m in range(period_start.size - 1):
            start = period_start[m]
            end = period_start[m + 1]
            n = end - start
            target = budget[p, m]
            if target <= 0.0 or n <= 0:
                continue
            # f(level) = sum clip(r - level, 0, c) falls, piecewise linearly, from total_cap
            # at `low` to 0 at `high`: safeguarded Newton (exact once it lands on the right
            # linear piece), bisection where a Newton step leaves the bracket
            total_cap = 0.0
            low = np.inf
            high = -np.inf
            for t in range(start, end):
                c = max(capacity[p, t], 0.0)
                total_cap += c
                low = min(low, residual[p, t] - c)
                high = max(high, residual[p, t])
            if target >= total_cap:
                for t in range(start, end):
                    hydro[p, t] = max(capacity[p, t], 0.0)
                continue
            level = 0.5 * (low + high)
            for _ in range(_HYDRO_ITERATIONS):
                f = 0.0
                partial = 0.0
                for t in range(start, end):
                    c = max(capacity[p, t], 0.0)
                    excess = residual[p, t] - level
                    # without branches (they were mispredicted: 1.6x slower): c at the cap,
                    # the excess on the sloped part, 0 below (adding 0.0 leaves f as it
                    # is), so f sums the same terms in the same hour order
                    f += min(max(excess, 0.0), c)
                    partial += 1.0 if (excess > 0.0) & (excess < c) else 0.0
                if abs(f - target) <= 1e-12 * target:
                    break
                if f > target:
                    low = level
                else:
                    high = level
                step = level + (f - target) / partial if partial > 0.0 else np.nan
                if low < step < high:
                    level = step
                else:
                    mid = 0.5 * (low + high)
                    if mid <= low or mid >= high:
                        break
                    level = mid
            f = 0.0
            for t in range(start, end):
                h = min(max(residual[p, t] - level, 0.0), max(capacity[p, t], 0.0))
                hydro[p, t] = h
                f += h
            if f > 0.0:
                scale = target / f
                for t in range(start, end):
                    hydro[p, t] = min(hydro[p, t] * scale, max(capacity[p, t], 0.0))
    return hydro


# ----------------------------------------------------------------------------------------
# the supply stack of one province-hour


@kernel
def _stack_output(stacks, cumulative, i, lam):
    """Energy the stack ``stacks[i]`` delivers at position ``lam`` [MWh].

    ``cumulative[i, k]`` is the energy of its first ``k`` segments, added up in order, so
    this is one lookup: the same sums, in the same order, as adding every segment's used
    part, in O(1) instead of O(segments).
    """
    lam = min(max(lam, 0.0), float(N_SEGMENTS))
    k = min(int(lam), N_SEGMENTS - 1)
    return cumulative[i, k] + stacks[i, k] * (lam - k)


@kernel
def _stack_position(stacks, i, target):
    """Position where ``stacks[i]`` delivers ``target``; 6 when it cannot (shortage)."""
    if target <= 0.0:
        return 0.0
    cumulative = 0.0
    for k in range(N_SEGMENTS):
        a_k = stacks[i, k]
        if target <= cumulative:
            return float(k)
        if a_k > 0.0 and target <= cumulative + a_k:
            return k + (target - cumulative) / a_k
        cumulative += a_k
    return float(N_SEGMENTS)


@kernel
def _marginal_segment(stacks, i, lam):
    """Segment of ``stacks[i]`` serving the next increment at position ``lam``; -1 if none.

    Where no segment has spare energy (shortage), the last segment in use (the one that
    would serve a decrement) is returned instead.
    """
    first = min(int(np.floor(lam)), N_SEGMENTS)
    for k in range(first, N_SEGMENTS):
        if stacks[i, k] > 0.0 and lam < k + 1:
            return k
    for k in range(N_SEGMENTS - 1, -1, -1):
        if stacks[i, k] > 0.0 and lam > k:
            return k
    return -1


@kernel
def _add_pro_rata(out, t, p, amount, first, second, source_first, source_second):
    """Add ``amount`` to ``out[p, :, t]`` at a segment's two sources, pro rata to their
    availability ``first`` and ``second`` [MWh] (all of it to one where the other is 0)."""
    if second <= 0.0:
        out[p, source_first, t] += amount
    elif first <= 0.0:
        out[p, source_second, t] += amount
    else:
        part = amount * (first / (first + second))
        out[p, source_first, t] += part
        out[p, source_second, t] += amount - part


@kernel
def _write_share(share, p, t, first, second, source_first, source_second):
    """Put a segment as the margin of province p, hour t: ``share[p, :, t]`` gets 1 at its
    two sources, pro rata to their availability ``first`` and ``second`` [MWh] (summed over
    the free members of a pool where the pool's margin is written); nothing where the
    segment has none. Scalars, not the ``parts`` array, so that the call is inlined."""
    if first + second > 0.0:
        _add_pro_rata(share, t, p, 1.0, first, second, source_first, source_second)


# ----------------------------------------------------------------------------------------
# regional pool through a hub


@kernel
def _pool_value(lam, pool_idx, start, end, stacks, cumulative, link):
    """Net energy the hub receives at pool position ``lam`` [MWh].

    The pool's members are ``pool_idx[start:end]`` (bounds rather than a slice, which would
    be a new array: two atomic reference count updates). ``link[:, p]`` holds province p's
    net load, the lower and upper bound of its output (its hub link's capacity) [MWh] and
    the fraction of the energy sent on its hub link that arrives (one minus its loss) [1],
    at rows LINK_NET, LINK_LOW, LINK_HIGH and LINK_KEEP: one array, as each array argument
    of a kernel that is not inlined costs two atomic reference count updates per call.
    """
    total = 0.0
    for j in range(start, end):
        p = pool_idx[j]
        output = _stack_output(stacks, cumulative, p, lam)
        x = min(max(output, link[LINK_LOW, p]), link[LINK_HIGH, p]) - link[LINK_NET, p]
        total += x * link[LINK_KEEP, p] if x > 0.0 else x / link[LINK_KEEP, p]
    return total


@kernel
def _pool_segment(pool_idx, start, end, stacks, cumulative, link):
    """The segment ``k`` of a pool's stacks whose boundaries bracket the root of the hub
    balance, found by bisection: balance(k) <= 0 < balance(k + 1). Returns ``(k, -1.0)``,
    or ``(-1, root)`` where the root is a bound of the stack: 0 where the balance is at
    least 0 at 0, 6 where it is at most 0 at 6 (see :func:`_pool_value` for the arguments).
    """
    if _pool_value(0.0, pool_idx, start, end, stacks, cumulative, link) >= 0.0:
        return -1, 0.0
    if _pool_value(float(N_SEGMENTS), pool_idx, start, end, stacks, cumulative, link) <= 0.0:
        return -1, float(N_SEGMENTS)
    lo = 0
    hi = N_SEGMENTS
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _pool_value(float(mid), pool_idx, start, end, stacks, cumulative, link) <= 0.0:
            lo = mid
        else:
            hi = mid
    return lo, -1.0


# called once an hour for all the pools: each array argument costs two atomic reference
# count updates per call, inlined or not (12 per pool and hour with the members' slice, when
# the position was found pool by pool), and inlined it made dispatch too large for LLVM to
# inline _stack_position and _marginal_segment (scheduled mode 8% slower). With the search
# from the last position: measured 10% faster dispatch in pool mode, bit-identical
@kernel
def _pool_positions(pool_ptr, pool_idx, stacks, cumulative, link, kinks, roots):
    """Common stack position of the free members of each pool (hub balance 0), in [0, 6].

    Pool g's members are ``pool_idx[pool_ptr[g]:pool_ptr[g + 1]]``; ``roots[g]`` holds its
    last position (-1: none) and is replaced by the new one (pools of fewer than two
    members are left alone). ``link`` is as in :func:`_pool_value`; ``kinks`` is scratch of
    at least 3 entries per member of the largest pool.

    The hub balance is piecewise linear and non-decreasing in the position. Its kinks are
    the segment boundaries and, for each member, the positions where its output reaches
    its lower or upper link bound or its own net load (where the loss changes side). The
    root lies between the two neighbouring kinks ``a < b`` with balance(a) <= 0 <
    balance(b) (unique, the balance being non-decreasing, in floating point as well) and is
    interpolated linearly between them: exact, in a few evaluations of the balance, and the
    same to the bit however the two kinks are found. ``cumulative`` holds each stack's
    running totals (see :func:`_stack_output`), so an evaluation and a kink each cost O(1)
    per member.

    The search starts at the kinks around the last position, in its segment, and steps from
    kink to kink: two evaluations where the root is still between the same two kinks (most
    hours), one more per kink it moved past. Where it ends with balance(a) < 0, the balance
    is below 0 at the segment's lower boundary too, so that segment is the one a bisection
    over the boundaries finds (:func:`_pool_segment`) and ``a``, ``b`` are the kinks that
    a bisection over the segment's sorted kinks ends at: the result is the same to the bit.
    Elsewhere (the root left the segment, or a balance of exactly 0 at ``a``) that
    bisection over the boundaries runs, and the search steps up from the lower boundary of
    the segment it finds.
    """
    top = float(N_SEGMENTS)
    for g in range(roots.size):
        start = pool_ptr[g]
        end = pool_ptr[g + 1]
        if end - start < 2:
            continue
        lam = roots[g]  # the last position, where the search starts
        from_guess = 0.0 <= lam <= top
        k = min(int(lam), N_SEGMENTS - 1) if from_guess else -1
        while True:
            if not from_guess:
                k, lam = _pool_segment(pool_idx, start, end, stacks, cumulative, link)
                if k < 0:
                    break  # the root is 0 or 6
                lam = float(k)
            lo = float(k)
            hi = lo + 1.0
            # the segment's kinks (unsorted, as _stack_position would place them) and the two
            # around lam: a <= lam < b
            n = 0
            a = lo
            b = hi
            for j in range(start, end):
                p = pool_idx[j]
                a_k = stacks[p, k]
                if a_k <= 0.0:
                    continue
                for bound in (link[LINK_LOW, p], link[LINK_HIGH, p], link[LINK_NET, p]):
                    if not cumulative[p, k] < bound <= cumulative[p, k + 1]:
                        continue
                    x = k + (bound - cumulative[p, k]) / a_k
                    if lo < x < hi:
                        kinks[n] = x
                        n += 1
                        if x <= lam:
                            a = max(a, x)
                        else:
                            b = min(b, x)
            value_a = _pool_value(a, pool_idx, start, end, stacks, cumulative, link)
            if value_a <= 0.0:
                # step up until the balance is above 0 at b
                value_b = _pool_value(b, pool_idx, start, end, stacks, cumulative, link)
                while value_b <= 0.0 and b < hi:
                    a, value_a = b, value_b
                    b = hi
                    for i in range(n):
                        if a < kinks[i] < b:
                            b = kinks[i]
                    value_b = _pool_value(b, pool_idx, start, end, stacks, cumulative, link)
                found = value_b > 0.0
            else:
                # step down until the balance is at most 0 at a
                b, value_b = a, value_a
                found = False
                while b > lo:
                    a = lo
                    for i in range(n):
                        if a < kinks[i] < b:
                            a = kinks[i]
                    value_a = _pool_value(a, pool_idx, start, end, stacks, cumulative, link)
                    if value_a <= 0.0:
                        found = True
                        break
                    b, value_b = a, value_a
            if found and (value_a < 0.0 or not from_guess):
                lam = a + (0.0 - value_a) * (b - a) / (value_b - value_a)
                break
            if not from_guess:
                lam = a  # reached only where the balance is not ordered (NaN inputs)
                break
            from_guess = False
        roots[g] = lam


# ----------------------------------------------------------------------------------------
# scheduled corridors


@kernel
def _adjust_schedules(
    t, load, own, spare, flow, corridor_from, corridor_to, keep, in_ptr, in_idx, out_ptr, out_idx,
    stale,
):  # fmt: skip
    """Reduce the hour's scheduled flows that a receiver cannot absorb or a sender cannot send.

    A receiver takes imports only to replace its coal and gas (never curtailing its own
    must-run, wind and solar to make room): its incoming flows are reduced pro rata to the
    room left. A sender exports only capacity left after its own load: its outgoing flows are
    reduced pro rata to the shortfall. Repeated until no flow changes.

    A province is checked again only where one of its corridors was reduced since its last
    check (``stale``, boolean scratch of one entry per province): the check reads nothing
    else that changes, so it would find nothing to reduce, and the flows are those of
    checking every province in every round.
    """
    n_province = load.shape[0]
    stale[:] = True
    for _ in range(_MAX_TRANSFER_ROUNDS):
        changed = False
        for p in range(n_province):
            if not stale[p]:
                continue
            stale[p] = False
            inflow = 0.0
            for i in range(in_ptr[p], in_ptr[p + 1]):
                k = in_idx[i]
                inflow += flow[k, t] * keep[k]
            outflow = 0.0
            for i in range(out_ptr[p], out_ptr[p + 1]):
                outflow += flow[out_idx[i], t]
            net = load[p, t] + outflow - inflow
            room = max(0.0, net + inflow - own[p])
            if inflow > room + 1e-9:
                scale = room / inflow
                for i in range(in_ptr[p], in_ptr[p + 1]):
                    k = in_idx[i]
                    flow[k, t] *= scale
                    stale[corridor_from[k]] = True
                stale[p] = True
                changed = True
                continue
            shortfall = net - (own[p] + spare[p])
            if shortfall > 1e-9 and outflow > 0.0:
                scale = max(0.0, 1.0 - shortfall / outflow)
                for i in range(out_ptr[p], out_ptr[p + 1]):
                    k = out_idx[i]
                    flow[k, t] *= scale
                    stale[corridor_to[k]] = True
                stale[p] = True
                changed = True
        if not changed:
            break


@kernel
def _adjacency(ends, n_nodes):
    """CSR lists of the corridors ending (or starting) at each node."""
    ptr = np.zeros(n_nodes + 1, np.int64)
    for k in range(ends.size):
        ptr[ends[k] + 1] += 1
    for p in range(n_nodes):
        ptr[p + 1] += ptr[p]
    idx = np.empty(ends.size, np.int64)
    fill = ptr[:-1].copy()
    for k in range(ends.size):
        idx[fill[ends[k]]] = k
        fill[ends[k]] += 1
    return ptr, idx


# ----------------------------------------------------------------------------------------
# the whole stage


@kernel
def dispatch(
    load,
    nuclear,
    biomass,
    hydro_run_of_river,
    hydro_dispatchable,
    chp_must_run,
    gas_must_run,
    wind,
    solar,
    coal_capacity,
    gas_capacity,
    merit,
    corridor_from,
    corridor_to,
    corridor_schedule,
    corridor_loss,
    pool,
    hub_capacity,
    hub_loss,
    exchange,
):
    """Dispatch every province and hour with scheduled corridors and optional regional pools.

    Parameters
    ----------
    load : ndarray (province, time)
        Demand to serve inside the province, EVs included [MWh].
    nuclear, biomass : ndarray (province, time)
        Flat must-run nuclear and biomass [MWh].
    hydro_run_of_river, hydro_dispatchable : ndarray (province, time)
        Must-run run-of-river hydro and scheduled dispatchable hydro (see
        :func:`schedule_hydro`) [MWh].
    chp_must_run, gas_must_run : ndarray (province, time)
        Coal CHP floor and gas must-run floor [MWh]; each at most its source's capacity.
    wind, solar : ndarray (province, time)
        Available wind and solar (capacity x capacity factor) [MWh].
    coal_capacity, gas_capacity : ndarray (province,)
        Capacity [MW] (CHP is part of coal; each floor is part of its source).
    merit : ndarray of int64 (2,)
        The dispatchable sources in merit order (``[COAL, GAS]`` or ``[GAS, COAL]``).
    corridor_from, corridor_to : ndarray of int64 (corridor,)
        Sending and receiving province of each scheduled corridor.
    corridor_schedule : ndarray (corridor, time)
        Scheduled energy sent [MWh]; reduced where a receiver cannot absorb it or a sender
        cannot send it (see :func:`_adjust_schedules`).
    corridor_loss : ndarray (corridor,)
        Loss fraction: the receiver gets ``flow * (1 - loss)`` [1].
    pool : ndarray of int64 (province,)
        Regional pool of each province (0..n-1), or -1 for none: provinces of one pool
        dispatch jointly through a hub (one stack position for all members whose hub link
        does not bind); a province with -1 balances alone.
    hub_capacity, hub_loss : ndarray (province,)
        Capacity of the province-hub link in each direction (energy sent) [MW] and its loss
        fraction [1].
    exchange : ndarray (corridor + 2 province, time)
        Overwritten with the energy sent on every exchange: the scheduled corridors, then
        each province to its hub, then its hub to each province [MWh] (the rows of
        ``flow``, ``to_hub`` and ``from_hub``, which are views of it): the caller's array,
        so that a caller that needs the flows of every exchange in one array, the network's
        edges, need not copy them together.

    Returns
    -------
    generation : ndarray (province, source, time)
        Generation by source [MWh].
    flow : ndarray (corridor, time)
        Energy sent on each scheduled corridor [MWh] (rows of ``exchange``).
    to_hub, from_hub : ndarray (province, time)
        Energy sent by the province to its hub and by the hub to the province [MWh] (rows
        of ``exchange``).
    unserved, surplus : ndarray (province, time)
        Demand not met, and energy that could not be absorbed [MWh].
    marginal_share : ndarray (province, source, time)
        Share of each source in the next increment of the province's load [1]; all zero
        where no source has energy (a province with no supply at all).
    """
    n_province, n_time = load.shape
    n_corridor = corridor_from.size
    if exchange.shape != (n_corridor + 2 * n_province, n_time):
        raise ValueError("exchange must have one row per corridor and two per province")
    # province-major throughout: an hour reads and writes one entry per row, and the rows'
    # cache lines serve the next hours too, so nothing is transposed in or out
    flow = exchange[:n_corridor]
    flow[:, :] = corridor_schedule  # reduced hour by hour where it cannot be absorbed
    to_hub = exchange[n_corridor : n_corridor + n_province]
    from_hub = exchange[n_corridor + n_province :]
    to_hub[:, :] = 0.0
    from_hub[:, :] = 0.0
    # every entry of these two is written below (each province-hour's row set to zero, then
    # added to): zeroing them here as well would be one more pass over 2 x 15 MB, ~5% of a call
    generation = np.empty((n_province, N_SOURCES, n_time))
    share = np.empty((n_province, N_SOURCES, n_time))
    unserved = np.zeros((n_province, n_time))
    surplus = np.zeros((n_province, n_time))
    keep = 1.0 - corridor_loss
    hub_keep = 1.0 - hub_loss
    coal_first = merit[0] == COAL
    in_ptr, in_idx = _adjacency(corridor_to, n_province)
    out_ptr, out_idx = _adjacency(corridor_from, n_province)
    n_pool = 0
    for p in range(n_province):
        n_pool = max(n_pool, pool[p] + 1)
    pool_ptr, pool_idx = _adjacency(np.where(pool >= 0, pool, n_pool), n_pool + 1)
    stacks = np.zeros((n_province, N_SEGMENTS))
    cumulative = np.zeros((n_province, N_SEGMENTS + 1))  # running totals of each stack
    parts = np.zeros((n_province, N_SEGMENTS, 2))
    kinks = np.zeros(3 * n_province)
    sources = SEGMENT_SOURCES.copy()
    sources[SEG_FIRST, :] = merit[0]
    sources[SEG_SECOND, :] = merit[1]
    own = np.zeros(n_province)
    spare = np.zeros(n_province)
    link = np.zeros((4, n_province))  # see _pool_value
    net = link[LINK_NET]
    low = link[LINK_LOW]
    high = link[LINK_HIGH]
    link[LINK_KEEP] = hub_keep
    position = np.zeros(n_province)
    output = np.zeros(n_province)  # a pool member's output at the pool's position
    target = np.zeros(n_province)
    stale = np.ones(n_province, np.bool_)  # scratch of _adjust_schedules
    free_total = np.zeros((1, N_SEGMENTS))
    roots = np.full(n_pool, -1.0)  # each pool's position, kept as the next hour's guess
    for t in range(n_time):
        for p in range(n_province):
            parts[p, SEG_MUST_RUN, 0] = nuclear[p, t]
            parts[p, SEG_MUST_RUN, 1] = biomass[p, t]
            parts[p, SEG_THERMAL_FLOOR, 0] = chp_must_run[p, t]
            parts[p, SEG_THERMAL_FLOOR, 1] = gas_must_run[p, t]
            parts[p, SEG_HYDRO, 0] = hydro_run_of_river[p, t] + hydro_dispatchable[p, t]
            parts[p, SEG_VARIABLE, 0] = wind[p, t]
            parts[p, SEG_VARIABLE, 1] = solar[p, t]
            coal_extra = max(coal_capacity[p] - chp_must_run[p, t], 0.0)
            gas_extra = max(gas_capacity[p] - gas_must_run[p, t], 0.0)
            parts[p, SEG_FIRST, 0] = coal_extra if coal_first else gas_extra
            parts[p, SEG_SECOND, 0] = gas_extra if coal_first else coal_extra
            running = cumulative[p, 0]  # kept in a register: no reload of what was stored
            for k in range(N_SEGMENTS):
                a_k = parts[p, k, 0] + parts[p, k, 1]
                stacks[p, k] = a_k
                running = running + a_k
                cumulative[p, k + 1] = running
            own[p] = stacks[p, 0] + stacks[p, 1] + stacks[p, 2] + stacks[p, 3]
            spare[p] = stacks[p, 4] + stacks[p, 5]
        _adjust_schedules(
            t, load, own, spare, flow, corridor_from, corridor_to, keep,
            in_ptr, in_idx, out_ptr, out_idx, stale,
        )  # fmt: skip
        for p in range(n_province):
            net[p] = load[p, t]
        for k in range(corridor_from.size):
            net[corridor_from[k]] += flow[k, t]
            net[corridor_to[k]] -= flow[k, t] * keep[k]
        # every province first takes its own target: its net load
        for p in range(n_province):
            target[p] = net[p]
        for i in range(pool_ptr[n_pool]):  # the pooled provinces
            p = pool_idx[i]
            low[p] = net[p] - hub_capacity[p] * hub_keep[p]
            high[p] = net[p] + hub_capacity[p]
        _pool_positions(pool_ptr, pool_idx, stacks, cumulative, link, kinks, roots)
        for g in range(n_pool):
            start = pool_ptr[g]
            end = pool_ptr[g + 1]
            if end - start < 2:
                continue
            lam = roots[g]
            # hub flows at this position, then the hub balanced by scaling the long side
            received = 0.0
            sent = 0.0
            for j in range(start, end):
                p = pool_idx[j]
                output[p] = _stack_output(stacks, cumulative, p, lam)
                x = min(max(output[p], low[p]), high[p]) - net[p]
                if x > 0.0:
                    to_hub[p, t] = x
                    received += x * hub_keep[p]
                else:
                    from_hub[p, t] = -x / hub_keep[p]
                    sent += from_hub[p, t]
            if sent > received and sent > 0.0:
                for j in range(start, end):
                    from_hub[pool_idx[j], t] *= received / sent
            elif received > sent and received > 0.0:
                for j in range(start, end):
                    to_hub[pool_idx[j], t] *= sent / received
            free_total[:] = 0.0
            for j in range(start, end):
                p = pool_idx[j]
                target[p] = net[p] + to_hub[p, t] - from_hub[p, t] * hub_keep[p]
                if low[p] < output[p] < high[p]:
                    for k in range(N_SEGMENTS):
                        free_total[0, k] += stacks[p, k]
            k_pool = -1
            if lam < N_SEGMENTS:
                k_pool = _marginal_segment(free_total, 0, lam)
            if k_pool < 0:
                continue
            # the free members' margin: the pool's marginal segment, split between its two
            # sources as summed over them (only that segment's parts are needed)
            free_first = 0.0
            free_second = 0.0
            for j in range(start, end):
                p = pool_idx[j]
                if low[p] < output[p] < high[p]:
                    free_first += parts[p, k_pool, 0]
                    free_second += parts[p, k_pool, 1]
            for j in range(start, end):
                p = pool_idx[j]
                if low[p] < output[p] < high[p]:
                    for s in range(N_SOURCES):  # share is not zero-initialised
                        share[p, s, t] = 0.0
                    _write_share(
                        share, p, t, free_first, free_second, sources[k_pool, 0],
                        sources[k_pool, 1],
                    )  # fmt: skip
                    position[p] = -1.0  # marks: margin already written
        for p in range(n_province):
            capacity = cumulative[p, N_SEGMENTS]  # the same sum, in the same order
            if target[p] > capacity:
                unserved[p, t] = target[p] - capacity
            elif target[p] < 0.0:
                surplus[p, t] = -target[p]
            # the stack filled up to the target, in order, written here: as a kernel of its
            # own (arrays passed field by field) it was not inlined and cost ~15% more
            for s in range(N_SOURCES):
                generation[p, s, t] = 0.0
            filled = 0.0
            for k in range(N_SEGMENTS):
                a_k = stacks[p, k]
                used_k = min(a_k, max(target[p] - filled, 0.0))
                filled += a_k
                if used_k > 0.0:
                    _add_pro_rata(
                        generation, t, p, used_k, parts[p, k, 0], parts[p, k, 1], sources[k, 0],
                        sources[k, 1],
                    )  # fmt: skip
            if position[p] < 0.0:
                position[p] = 0.0
            else:
                for s in range(N_SOURCES):
                    share[p, s, t] = 0.0
                k = _marginal_segment(stacks, p, _stack_position(stacks, p, target[p]))
                if k >= 0:
                    _write_share(
                        share, p, t, parts[p, k, 0], parts[p, k, 1], sources[k, 0], sources[k, 1]
                    )
    return (
        generation,
        flow,
        to_hub,
        from_hub,
        unserved,
        surplus,
        share,
    )


# ----------------------------------------------------------------------------------------
# what the grid reports of a dispatched year


@kernel
def dispatch_summary(
    generation,
    share,
    emission_rate,
    wind,
    solar,
    stored_generation,
    stored_share,
    average,
    marginal,
    curtailment,
):
    """The province-hour quantities read off a dispatch, in one pass over its outputs, and
    its generation and marginal shares copied into the caller's output arrays on the way.

    Parameters
    ----------
    generation, share : ndarray (province, source, time)
        :func:`dispatch`'s generation [MWh] and marginal source shares [1].
    emission_rate : ndarray (source,)
        Emission rate of each source [kg CO2 MWh-1].
    wind, solar : ndarray (province, time)
        Available wind and solar [MWh].
    stored_generation, stored_share : ndarray (province, source, time)
        Overwritten with ``generation`` and ``share`` in their own float dtype (float32 rows
        of the caller's stacked output, say: each value rounded once), in the loops that
        read them for the sums. A caller that wants no copy passes ``generation`` and
        ``share`` themselves (each value is then written back as it is).
    average, marginal, curtailment : ndarray (province, time)
        Overwritten with the results of those names (below): the caller's arrays (rows of
        its stacked output, say), so they are not copied afterwards.

    Returns
    -------
    emissions : ndarray (province, time)
        Production emissions, ``sum_s rate[s] generation[s]`` [kg CO2].
    total : ndarray (province, time)
        Generation of all sources [MWh].
    average : ndarray (province, time)
        ``emissions / total`` [kg CO2 MWh-1]; 0 where nothing is generated.
    marginal : ndarray (province, time)
        ``sum_s rate[s] share[s]`` [kg CO2 MWh-1].
    curtailment : ndarray (province, time)
        Available wind and solar not generated, at least 0 [MWh].

    Each sum runs over the sources in order, as numpy's ``rate @ generation`` and
    ``generation.sum(axis=1)`` do: source by source over a province's whole row of hours
    (the loops over the hours vectorise), every hour starting from the first source's term.
    """
    n_province, n_source, n_time = generation.shape
    emissions = np.empty((n_province, n_time))
    total = np.empty((n_province, n_time))
    for p in range(n_province):
        emitted, generated, margin = emissions[p], total[p], marginal[p]
        for s in range(n_source):
            rate = emission_rate[s]
            produced = generation[p, s]
            marginal_share = share[p, s]
            # the copies in the same loops as the sums: each source row is read once
            if s == 0:
                for t in range(n_time):
                    emitted[t] = rate * produced[t]
                    generated[t] = produced[t]
                    margin[t] = rate * marginal_share[t]
                    stored_generation[p, s, t] = produced[t]
                    stored_share[p, s, t] = marginal_share[t]
            else:
                for t in range(n_time):
                    emitted[t] += rate * produced[t]
                    generated[t] += produced[t]
                    margin[t] += rate * marginal_share[t]
                    stored_generation[p, s, t] = produced[t]
                    stored_share[p, s, t] = marginal_share[t]
        for t in range(n_time):
            average[p, t] = emitted[t] / generated[t] if generated[t] > 0.0 else 0.0
            unused = (wind[p, t] + solar[p, t]) - (generation[p, WIND, t] + generation[p, SOLAR, t])
            curtailment[p, t] = 0.0 if unused < 0.0 else unused  # a NaN stays NaN
    return emissions, total, average, marginal, curtailment


@kernel
def net_imports(flow, edge_from, edge_to, edge_loss, net):
    """Energy each province receives minus what it sends, every hour [MWh].

    ``flow`` (edge, time) is the energy sent on each edge [MWh]; the receiver gets
    ``1 - edge_loss`` of it. ``net`` (province, time) is overwritten with the result (the
    caller's array) and returned; edge ends at or after its number of rows (hubs) are not
    counted.
    """
    n_province, n_time = net.shape
    net[:, :] = 0.0
    for k in range(flow.shape[0]):
        sender = edge_from[k]
        receiver = edge_to[k]
        keep = 1.0 - edge_loss[k]
        for t in range(n_time):
            if receiver < n_province:
                net[receiver, t] += keep * flow[k, t]
            if sender < n_province:
                net[sender, t] -= flow[k, t]
    return net
