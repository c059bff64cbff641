"""Charging-schedule kernels: one kernel per strategy, sharing the window and fill helpers.

A *cohort* ``k`` needs ``need[k]`` MWh within the hours ``earliest[k] + j`` for
``0 <= j < length[k]`` (hour indices taken modulo the horizon ``T``: the year wraps), at most
``cap[k]`` MW in any hour. Schedules are written into a flat array ``x`` in CSR layout:
``x[ptr[k] + j]`` is the energy of cohort ``k`` in the ``j``-th hour of its window, with
``ptr[k + 1] - ptr[k] == length[k]``. :func:`accumulate` and :func:`split_by_share` reduce those
schedules to hourly loads; :func:`daily_totals` reduces the hourly driving energy to the daily
needs the cohorts are built from.

Inputs are validated by :mod:`hourlysim.charging` (the kernels assume ``0 <= earliest < T``,
``1 <= length <= T``, ``0 <= need <= cap * length`` up to a relative ``1e-12``).
No xarray, no pandas, no I/O here.
"""

from __future__ import annotations

import numpy as np

from hourlysim._kernels._jit import kernel

#: Relative tolerance under which a residual of a cohort's need counts as delivered.
NEED_RTOL = 1e-12
#: Longest window sorted by insertion (longer ones: numpy's stable mergesort).
_INSERTION_MAX = 32
#: Most sweeps valley filling waits before evaluating the full duality gap again after an
#: evaluation that missed the bound (the wait doubles from one sweep up to this).
CHECK_EVERY = 16


# ---------------------------------------------------------------------------------------------
# shared helpers: window indexing, sorting, the three per-cohort fills
# ---------------------------------------------------------------------------------------------
@kernel
def _hour(start, j, n_hours):
    """Hour index of offset ``j`` in a window starting at ``start`` (wrapping at ``n_hours``)."""
    t = start + j
    if t >= n_hours:
        t -= n_hours
    return t


@kernel(inline=True)
def _gather(values, start, n, out):
    """``out[j] = values[(start + j) % T]`` for ``j < n``."""
    n_hours = values.shape[0]
    for j in range(n):
        out[j] = values[_hour(start, j, n_hours)]


@kernel(inline=True)
def _stable_argsort(key, n, order):
    """Stable ascending order of ``key[:n]`` into ``order[:n]`` (ties keep the lower offset)."""
    for j in range(n):
        order[j] = j
    _sort_offsets(key, n, order)


@kernel(inline=True)
def _sort_offsets(key, n, order):
    """Sort the permutation ``order[:n]`` of ``0..n-1`` in place by ``(key[offset], offset)``.

    Short windows: insertion sort, which takes about ``n`` comparisons when ``order`` is nearly
    sorted already (a warm start, e.g. the order of a previous solve). Longer ones: numpy's
    stable mergesort. Either way the result does not depend on the starting permutation.
    """
    if n > _INSERTION_MAX:
        _merge_sort_offsets(key, n, order)
        return
    for j in range(1, n):
        o = order[j]
        v = key[o]
        i = j - 1
        while i >= 0:
            p = order[i]
            w = key[p]
            if w < v or (w == v and p < o):
                break
            order[i + 1] = p
            i -= 1
        order[i + 1] = o


@kernel
def _merge_sort_offsets(key, n, order):
    """``order[:n]``: the offsets sorted by ``(key[offset], offset)`` (numpy's stable mergesort)."""
    sorted_ = np.argsort(key[:n], kind="mergesort")
    for j in range(n):
        order[j] = sorted_[j]


@kernel
def _is_rigid(need, cap, n):
    """True when the cohort has no freedom: one hour, or (about) ``cap`` in every hour."""
    return n == 1 or need >= cap * n * (1.0 - NEED_RTOL)


@kernel
def _fill_from(need, cap, first, n, xk):
    """Charge at ``cap`` from offset ``first`` until ``need`` is met (last hour partial)."""
    for j in range(n):
        xk[j] = 0.0
    remaining = need
    tiny = NEED_RTOL * need
    for j in range(first, n):
        if remaining <= tiny:
            break
        amount = cap if cap < remaining else remaining
        xk[j] = amount
        remaining -= amount


@kernel(inline=True)
def _fill_in_order(need, cap, order, n, xk):
    """Charge at ``cap`` in the offsets ``order[0], order[1], ...`` until ``need`` is met."""
    for j in range(n):
        xk[j] = 0.0
    remaining = need
    tiny = NEED_RTOL * need
    for i in range(n):
        if remaining <= tiny:
            break
        amount = cap if cap < remaining else remaining
        xk[order[i]] = amount
        remaining -= amount


@kernel(inline=True)
def _water_fill(level, need, cap, n, order, xk):
    """Exact minimiser of ``sum_j (level[j] + xk[j])**2`` over ``0 <= xk <= cap, sum xk = need``.

    The solution is ``xk[j] = clip(nu - level[j], 0, cap)`` with the water level ``nu`` found by
    walking the sorted breakpoints ``level[j]`` (hour starts filling) and ``level[j] + cap``
    (hour saturates) of the piecewise-linear, increasing ``f(nu) = sum_j clip(nu - level[j])``.
    ``order[:n]`` must hold a permutation of ``0..n-1`` on entry (e.g. the order of a previous
    solve: a warm start); it is sorted in place by ``(level, offset)``. Returns ``nu`` (``-inf``
    for an empty cohort, ``inf`` for a rigid one: every hour at cap).
    """
    if need <= 0.0:
        for j in range(n):
            xk[j] = 0.0
        return -np.inf
    if _is_rigid(need, cap, n):
        for j in range(n):
            xk[j] = need / n
        return np.inf
    _sort_offsets(level, n, order)
    i_enter = 0
    i_sat = 0
    nu = level[order[0]]
    filled = 0.0
    slope = 0
    while True:
        if i_enter < n:
            b_enter = level[order[i_enter]]
        else:
            b_enter = np.inf
        b_sat = level[order[i_sat]] + cap
        nxt = b_enter if b_enter <= b_sat else b_sat
        reach = filled + slope * (nxt - nu)
        if slope > 0 and reach >= need:
            nu = nu + (need - filled) / slope
            break
        filled = reach
        nu = nxt
        if b_enter <= b_sat:
            slope += 1
            i_enter += 1
        else:
            slope -= 1
            i_sat += 1
            if i_sat == n:  # everything saturated: only reachable through rounding
                break
    for j in range(n):
        v = nu - level[j]
        xk[j] = 0.0 if v <= 0.0 else (cap if v >= cap else v)
    return nu


@kernel(inline=True)
def _common_level(level, xk, cap, n, slack):
    """The water level at which ``xk`` is still the water-filling against ``level - xk``.

    ``level`` includes ``xk``. The conditions: hours charged strictly between 0 and ``cap``
    share one level ``nu``, idle hours lie at or above it and hours at ``cap`` at or below it,
    each up to ``slack`` [MW]. Returns ``nu``, or NaN where the conditions fail (re-solve).
    """
    low = -np.inf  # highest level of an hour at cap
    high = np.inf  # lowest level of an idle hour
    inner_low = np.inf
    inner_high = -np.inf
    for j in range(n):
        v = level[j]
        if xk[j] <= 0.0:
            if v < high:
                high = v
        elif xk[j] >= cap:
            if v > low:
                low = v
        else:
            if v < inner_low:
                inner_low = v
            if v > inner_high:
                inner_high = v
    if inner_high >= inner_low:  # some hour is charged below cap
        if inner_high - inner_low > 2.0 * slack:
            return np.nan
        nu = 0.5 * (inner_low + inner_high)
        if low > nu + slack or high < nu - slack:
            return np.nan
        return nu
    if low > high + slack:
        return np.nan
    return low if low > -np.inf else high


@kernel
def _window_buffers(length):
    """Scratch arrays large enough for the longest window."""
    n_max = 1
    for k in range(length.shape[0]):
        if length[k] > n_max:
            n_max = length[k]
    return np.empty(n_max, np.float64), np.empty(n_max, np.int64)


# ---------------------------------------------------------------------------------------------
# one kernel per strategy
# ---------------------------------------------------------------------------------------------
@kernel
def uncontrolled_schedule(need, earliest, length, cap, ptr, x):
    """Charge each cohort at ``cap`` from its earliest hour until done [MWh per hour step]."""
    for k in range(need.shape[0]):
        xk = x[ptr[k] : ptr[k] + length[k]]
        _fill_from(need[k], cap[k], 0, length[k], xk)


@kernel
def tou_delayed_schedule(need, earliest, length, cap, ptr, hour_of_day, valley_start_hour, x):
    """Delay each cohort to the first valley-tariff start hour inside its window.

    A cohort whose window contains an hour with ``hour_of_day == valley_start_hour`` starts at
    ``cap`` from the first such hour; if it would not finish inside the window from there, it
    starts at the latest offset that still finishes (``length - ceil(need / cap)``). Cohorts
    whose window holds no valley start charge uncontrolled.
    """
    n_hours = hour_of_day.shape[0]
    for k in range(need.shape[0]):
        n = length[k]
        xk = x[ptr[k] : ptr[k] + n]
        first = 0
        if need[k] > 0.0:
            for j in range(n):
                if hour_of_day[_hour(earliest[k], j, n_hours)] == valley_start_hour:
                    hours = int(np.ceil(need[k] / cap[k] * (1.0 - NEED_RTOL)))
                    first = j if j + hours <= n else max(n - hours, 0)
                    break
        _fill_from(need[k], cap[k], first, n, xk)


@kernel(inline=True)
def _shift_offsets(previous, n, order):
    """``order[:n - 1]``: the offsets ``previous[:n]`` of the window starting one hour earlier
    as offsets of this window, in the same relative order (``order`` may be ``previous``).

    Offset ``j`` here was offset ``j + 1`` there; the hour that left (offset 0) is dropped, so
    ``order[n - 1]`` is left for the new last hour.
    """
    i = 0
    for j in range(n):
        o = previous[j]
        if o != 0:
            order[i] = o - 1
            i += 1


@kernel(inline=True)
def _slide_order(key, n, order):
    """Turn the sorted offsets of the window starting one hour earlier into this window's.

    ``order[:n]`` holds the previous window's offsets sorted by ``(key, offset)``; ``key[:n]``
    this window's keys. The others keep their relative order (:func:`_shift_offsets`) and the
    new last hour (offset ``n - 1``, after any equal key) is inserted: ``O(n)``.
    """
    _shift_offsets(order, n, order)
    v = key[n - 1]
    i = n - 2
    while i >= 0 and key[order[i]] > v:
        order[i + 1] = order[i]
        i -= 1
    order[i + 1] = n - 1


@kernel
def carbon_aware_schedule(need, earliest, length, cap, ptr, signal, x):
    """Fill each cohort's lowest-``signal`` hours first at ``cap`` (ties: earliest hour).

    Exact minimiser of ``sum_t signal[t] x_k[t]`` per cohort (a linear cost over a box with
    one equality constraint is minimised greedily). A cohort whose window is the previous
    cohort's shifted by one hour (same length) updates that cohort's sorted hours in ``O(n)``
    (:func:`_slide_order`) instead of sorting its window.
    """
    n_hours = signal.shape[0]
    key, order = _window_buffers(length)
    for k in range(need.shape[0]):
        n = length[k]
        _gather(signal, earliest[k], n, key)
        if k > 0 and length[k - 1] == n and earliest[k] == _hour(earliest[k - 1], 1, n_hours):
            _slide_order(key, n, order)
        else:
            _stable_argsort(key, n, order)
        _fill_in_order(need[k], cap[k], order, n, x[ptr[k] : ptr[k] + n])


@kernel
def _add_schedules(x, earliest, length, ptr, cohorts, level):
    """``level[t] += x_k[t]`` for every cohort ``k`` in ``cohorts`` [MWh per hour step]."""
    n_hours = level.shape[0]
    for i in range(cohorts.shape[0]):
        k = cohorts[i]
        for j in range(length[k]):
            level[_hour(earliest[k], j, n_hours)] += x[ptr[k] + j]


@kernel
def _by_start(earliest, cohorts, n_hours):
    """Cohorts by first hour: ``members[first[t]:first[t + 1]]`` are the positions ``i`` in
    ``cohorts`` with ``earliest[cohorts[i]] == t``."""
    first = np.zeros(n_hours + 1, np.int64)
    for i in range(cohorts.shape[0]):
        first[earliest[cohorts[i]] + 1] += 1
    for t in range(n_hours):
        first[t + 1] += first[t]
    fill = first[:n_hours].copy()
    members = np.empty(cohorts.shape[0], np.int64)
    for i in range(cohorts.shape[0]):
        t = earliest[cohorts[i]]
        members[fill[t]] = i
        fill[t] += 1
    return first, members


@kernel
def _mark_hour(
    t, i, level, x, earliest, length, cap, ptr, cohorts, first, members, max_length, water, dirty
):
    """After the level of hour ``t`` changed (cohort position ``i`` moved): mark for re-solving
    the other cohorts whose window holds ``t`` and whose water-level conditions at ``t`` fail.

    Cohort ``k`` with water level ``water`` [MW] is still optimal at ``t`` if ``x_k[t] == 0``
    and ``level[t] >= water``, or ``x_k[t] == cap`` and ``level[t] <= water``, or it charges
    in between and ``level[t] == water``; each up to half of the ``1e-13 * cap`` below which
    changes are not applied.
    """
    n_hours = level.shape[0]
    for d in range(max_length):  # cohorts starting d hours before t
        e = t - d
        if e < 0:
            e += n_hours
        for c in range(first[e], first[e + 1]):
            other = members[c]
            if dirty[other] or other == i:
                continue
            k = cohorts[other]
            if length[k] <= d:  # the window ends before t
                continue
            xo = x[ptr[k] + d]
            off = level[t] - water[other]
            slack = 0.5e-13 * cap[k]
            if xo == 0.0:
                dirty[other] = off < -slack
            elif xo == cap[k]:
                dirty[other] = off > slack
            else:
                dirty[other] = off > slack or off < -slack


@kernel
def _frank_wolfe_gap(level, need, earliest, length, cap, ptr, x, cohorts, offsets, key, y):
    """``sum_k level . (x_k - y_k)`` over ``cohorts``, ``y_k`` the minimiser of ``level . y_k``.

    ``y_k`` is the greedy fill of the hours in increasing ``level`` (ties: earliest hour).
    ``offsets[ptr[k]:ptr[k + 1]]`` holds a permutation of cohort ``k``'s offsets that warm-starts
    the sort (and is left sorted by level). A cohort whose ``x_k`` fills exactly the hours below
    one level (:func:`_common_level` with no slack: hours at ``cap`` at or below it, idle ones at
    or above, partial ones at it) is a minimiser itself: its term is zero and needs no sort
    (it differs from the greedy ``y_k`` only by rounding, and among hours of equal level). For
    ``F(L) = sum_t (base + L)^2`` the Frank-Wolfe gap ``2 * this`` bounds ``F(L) - F*`` from
    above, and ``||L - L*||^2 <= F(L) - F*`` (``F`` is 2-strongly convex in ``L``).
    """
    gap = 0.0
    for i in range(cohorts.shape[0]):
        k = cohorts[i]
        n = length[k]
        p = ptr[k]
        _gather(level, earliest[k], n, key)
        if not np.isnan(_common_level(key, x[p : p + n], cap[k], n, 0.0)):
            continue  # x_k fills exactly the hours below one level: a minimiser of level . y too
        order = offsets[p : p + n]
        _sort_offsets(key, n, order)
        _fill_in_order(need[k], cap[k], order, n, y)
        ref = key[order[0]]  # sums of x_k and y_k agree: subtracting a constant loses nothing
        for j in range(n):
            gap += (key[j] - ref) * (x[p + j] - y[j])
    return gap


@kernel
def _by_length(length, cohorts, n_hours):
    """``cohorts`` reordered by window length, shortest first (a stable counting sort)."""
    first = np.zeros(n_hours + 2, np.int64)
    for i in range(cohorts.shape[0]):
        first[length[cohorts[i]] + 1] += 1
    for n in range(n_hours + 1):
        first[n + 1] += first[n]
    ordered = np.empty(cohorts.shape[0], np.int64)
    for i in range(cohorts.shape[0]):
        n = length[cohorts[i]]
        ordered[first[n]] = cohorts[i]
        first[n] += 1
    return ordered


@kernel
def _bound(level, base, tol):
    """``tol**2 ||level - base||^2``: the bound on the gap that certifies ``tol`` [MWh2].

    Four running sums (every fourth hour each) let the additions overlap.
    """
    n_hours = base.shape[0]
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    t = 0
    while t + 4 <= n_hours:
        d0 = level[t] - base[t]
        d1 = level[t + 1] - base[t + 1]
        d2 = level[t + 2] - base[t + 2]
        d3 = level[t + 3] - base[t + 3]
        s0 += d0 * d0
        s1 += d1 * d1
        s2 += d2 * d2
        s3 += d3 * d3
        t += 4
    while t < n_hours:
        d0 = level[t] - base[t]
        s0 += d0 * d0
        t += 1
    return tol * tol * ((s0 + s1) + (s2 + s3))


@kernel
def valley_filling_schedule(need, earliest, length, cap, ptr, base, tol, max_sweeps, x):
    """Minimise ``sum_t (base[t] + L[t])**2`` over all cohorts' schedules (coupled convex QP).

    Algorithm: block coordinate descent (Gauss-Seidel) over cohorts. Each block update is the
    exact water-filling of one cohort against the level of everything else
    (:func:`_water_fill`, its sort warm-started from the cohort's previous order), so the
    objective never increases; changes below ``1e-13 * cap`` are not applied. Rigid cohorts
    (``need == cap * length``) and empty ones are set once and enter only the fixed level
    ``base + rigid load``. Every sweep runs forward over the flexible cohorts ordered by window
    length, shortest (least free) first, in input order within a length (:func:`_by_length`):
    on cohorts in time order within a length this takes about half the sweeps of the input
    order with alternating directions. In sweep 1 a
    cohort whose window is the previous cohort's one hour on starts its sort from that
    cohort's order (:func:`_shift_offsets`).

    Only cohorts marked *dirty* are visited (a sweep skips a word of eight clean flags at once).
    Sweep 1 fills every cohort, then marks all. From sweep 2 on, a change of hour ``t`` marks
    the cohorts whose windows hold ``t`` and whose water-level conditions at ``t`` it breaks
    (:func:`_mark_hour`). A visited cohort is first checked against the conditions over its
    whole window, at a possibly shifted water level (:func:`_common_level`: ``O(n)``, no sort);
    only if they fail is it re-solved. Both checks allow half the ``1e-13 * cap`` below which a
    re-solve's changes would not be applied. A cohort that passes is at its block optimum, where
    its term of the gap below vanishes, so late sweeps touch only the still-moving cohorts.

    Stopping rule (a certificate, not a step size): after each sweep from sweep 2 on, the
    gap ``2 sum_k level . (x_k - y_k)`` over the dirty cohorts (``y_k`` the cohort's greedy,
    linear minimiser) estimates the full gap. When it meets the bound, or after a sweep that
    changed nothing, the level is recomputed from scratch and the Frank-Wolfe duality gap
    ``G = 2 sum_k level . (x_k - y_k)`` is evaluated over every flexible cohort (terms of cohorts
    exactly at a water level are zero without a sort: :func:`_frank_wolfe_gap`). Since
    ``||L - L*||^2 <= F(L) - F* <= G``, stopping at ``G <= tol**2 ||L||^2`` guarantees
    ``||L - L*|| <= tol ||L||`` (relative L2 error of the aggregate load). After an evaluation
    that misses the bound, the next waits 1, 2, 4, ... sweeps (at most ``CHECK_EVERY``). If a
    sweep changes nothing but the gap is still above the bound, every cohort is re-solved in
    the next sweep (no shortcut); if that full sweep changes nothing either, the schedule is a
    fixed point to rounding and the kernel returns with ``gap > bound`` (``tol`` below what
    float64 resolves, about 1e-7 in practice). ``max_sweeps`` bounds the number of sweeps.

    Returns
    -------
    sweeps : int
        Sweeps performed.
    gap : float
        Final Frank-Wolfe gap ``G`` [MWh2].
    bound : float
        ``tol**2 ||L||^2`` [MWh2]; converged iff ``gap <= bound``.
    """
    n_hours = base.shape[0]
    n_cohorts = need.shape[0]
    key = _window_buffers(length)[0]
    y = np.empty(key.shape[0], np.float64)
    xk = np.empty(key.shape[0], np.float64)
    # fixed part of the level: base and the rigid cohorts; the flexible cohorts are listed
    x[:] = 0.0
    fixed = base.copy()
    unsorted = np.empty(n_cohorts, np.int64)
    n_flexible = 0
    for k in range(n_cohorts):
        if need[k] > 0.0:
            n = length[k]
            if _is_rigid(need[k], cap[k], n):
                p = ptr[k]
                for j in range(n):
                    x[p + j] = need[k] / n
                    fixed[_hour(earliest[k], j, n_hours)] += x[p + j]
            else:
                unsorted[n_flexible] = k
                n_flexible += 1
    flexible = _by_length(length, unsorted[:n_flexible], n_hours)
    first, members = _by_start(earliest, flexible, n_hours)
    max_length = length[flexible[n_flexible - 1]] if n_flexible > 0 else 0  # longest last
    # each cohort's offsets in the (level, offset) order of its last solve (set in sweep 1)
    offsets = np.empty(ptr[n_cohorts], np.int64)
    level = fixed.copy()
    # dirty flags padded to whole 8-byte words: a sweep skips eight clean cohorts at once
    n_words = (n_flexible + 7) // 8
    dirty_words = np.zeros(n_words, np.uint64)
    dirty = dirty_words.view(np.bool_)
    dirty[:n_flexible] = True
    water = np.full(n_flexible, np.nan)  # water level nu of each cohort's last solve

    pending = np.empty(n_flexible, np.int64)  # the cohorts marked for re-solving
    resweep = False  # the next sweep re-solves every cohort
    next_check = 2  # earliest sweep after which the gap may be evaluated
    wait = 1  # sweeps to wait after a full evaluation that missed the bound
    gap = np.inf
    bound = 0.0
    sweeps = 0
    while sweeps < max_sweeps:
        sweeps += 1
        full_resweep = resweep  # this sweep re-solves every cohort
        resweep = False
        moved = 0
        for w in range(n_words):
            if dirty_words[w] == 0:
                continue
            for i in range(8 * w, 8 * w + 8):
                if not dirty[i]:
                    continue
                k = flexible[i]
                n = length[k]
                start = earliest[k]
                p = ptr[k]
                threshold = 1e-13 * cap[k]
                _gather(level, start, n, key)
                if sweeps > 1 and not full_resweep:  # still the block optimum?
                    nu = _common_level(key, x[p : p + n], cap[k], n, 0.5 * threshold)
                    if not np.isnan(nu):  # yes, perhaps at a shifted water level
                        water[i] = nu
                        dirty[i] = False
                        continue
                if sweeps > 1:  # the level of everything else (sweep 1: nothing scheduled yet)
                    for j in range(n):
                        key[j] -= x[p + j]
                if sweeps == 1:  # warm start: the previous cohort's order, one hour on
                    kp = flexible[i - 1] if i > 0 else k
                    if i > 0 and length[kp] == n and start == _hour(earliest[kp], 1, n_hours):
                        _shift_offsets(offsets[ptr[kp] : ptr[kp] + n], n, offsets[p : p + n])
                        offsets[p + n - 1] = n - 1  # the new last hour: the sort places it
                    else:
                        for j in range(n):
                            offsets[p + j] = j
                water[i] = _water_fill(key, need[k], cap[k], n, offsets[p : p + n], xk)
                for j in range(n):
                    delta = xk[j] - x[p + j]
                    if delta > threshold or delta < -threshold:
                        t = _hour(start, j, n_hours)
                        level[t] += delta
                        x[p + j] = xk[j]
                        moved += 1
                        if sweeps > 1:
                            _mark_hour(
                                t,
                                i,
                                level,
                                x,
                                earliest,
                                length,
                                cap,
                                ptr,
                                flexible,
                                first,
                                members,
                                max_length,
                                water,
                                dirty,
                            )
                dirty[i] = False
        if sweeps == 1:  # cheaper than marking during the first fill: check every cohort
            dirty[:n_flexible] = True
        if moved > 0:
            if sweeps < next_check:
                continue
            # the gap of the cohorts still marked: the others sit at their block optimum
            bound = _bound(level, base, tol)
            n_pending = 0
            for w in range(n_words):
                if dirty_words[w] != 0:
                    for i in range(8 * w, min(8 * w + 8, n_flexible)):
                        pending[n_pending] = flexible[i]
                        n_pending += dirty[i]
            estimate = 2.0 * _frank_wolfe_gap(
                level, need, earliest, length, cap, ptr, x, pending[:n_pending], offsets, key, y
            )
            if estimate > bound:
                continue
        # the certificate: level from scratch, the gap over every cohort
        level[:] = fixed
        _add_schedules(x, earliest, length, ptr, flexible, level)
        gap = 2.0 * _frank_wolfe_gap(
            level, need, earliest, length, cap, ptr, x, flexible, offsets, key, y
        )
        bound = _bound(level, base, tol)
        if gap <= bound:
            break
        next_check = sweeps + wait
        wait = min(2 * wait, CHECK_EVERY)
        if moved == 0:
            if full_resweep:  # a fixed point to rounding: tol is below what is attainable
                break
            dirty[:n_flexible] = True
            resweep = True
    return sweeps, gap, bound


# ---------------------------------------------------------------------------------------------
# reductions of schedules to hourly loads
# ---------------------------------------------------------------------------------------------
@kernel
def daily_totals(values, out):
    """``out[s, c, d] = sum_h values[s, c, 24 d + h]`` in one pass over ``values``.

    ``values`` is hourly energy [MWh per hour step] on a last axis of whole days; ``out`` gets
    the daily totals [MWh]; the returned figures let the caller validate ``values`` without a
    second pass.

    Returns
    -------
    lowest : float
        Smallest value, NaN aside (``-inf`` if present).
    n_nonfinite : int
        Number of NaN or infinite values.
    """
    lowest = np.inf
    n_nonfinite = 0
    for s in range(values.shape[0]):
        for c in range(values.shape[1]):
            series = values[s, c]
            for d in range(out.shape[2]):
                total = 0.0
                for h in range(24 * d, 24 * d + 24):
                    v = series[h]
                    total += v
                    if v < lowest:
                        lowest = v
                out[s, c, d] = total
                if not np.isfinite(total):
                    for h in range(24 * d, 24 * d + 24):
                        if not np.isfinite(series[h]):
                            n_nonfinite += 1
    return lowest, n_nonfinite


@kernel
def mode_need(daily, weight, out):
    """``out[c, d, m] = sum_s daily[s, c, d] * weight[s, m]``, summed in segment order.

    ``daily`` is the daily energy of each segment and city [MWh], ``weight`` the share of each
    segment's energy charged in each mode over the charging efficiency [1]; ``out`` gets the
    energy each city needs per day and mode [MWh]. (A plain loop, not a BLAS product: with two
    segments BLAS spends its time in thread start-up, the more so on a loaded machine.)
    """
    n_segment, n_city, n_days = daily.shape
    n_modes = weight.shape[1]
    for c in range(n_city):
        for d in range(n_days):
            for m in range(n_modes):
                total = 0.0
                for s in range(n_segment):
                    total += daily[s, c, d] * weight[s, m]
                out[c, d, m] = total


@kernel
def accumulate(x, earliest, length, ptr, group, out):
    """``out[group[k], (earliest[k] + j) % T] += x[ptr[k] + j]`` [MWh per hour step]."""
    n_hours = out.shape[1]
    for k in range(earliest.shape[0]):
        g = group[k]
        for j in range(length[k]):
            out[g, _hour(earliest[k], j, n_hours)] += x[ptr[k] + j]


@kernel
def _block_profiles(need, x, earliest, length, ptr, block, block_start, block_total, span, n_hours):
    """Per-unit profile of every block over ``span`` hours from its start, and where it is nonzero.

    ``profile[b, i]`` sums ``x_k[j] / block_total[b]`` over the cohorts ``k`` of block ``b``, in
    cohort order, whose hour ``j`` lies ``i`` hours after ``block_start[b]`` (cohorts with
    ``need[k] == 0``, whose schedule is zero, and blocks with no need are skipped) [share of the
    block's need per hour step].

    Returns
    -------
    profile : ndarray, shape (n_blocks, span)
        The profiles [1 per hour step].
    first, last : ndarray of int64, shape (n_blocks,)
        ``profile[b, i]`` is zero outside ``first[b] <= i < last[b]`` (an empty range when it is
        zero throughout).
    """
    n_blocks = block_start.shape[0]
    profile = np.zeros((n_blocks, span), np.float64)
    for k in range(earliest.shape[0]):
        b = block[k]
        total = block_total[b]
        if need[k] <= 0.0 or total <= 0.0:  # an empty cohort's schedule is zero
            continue
        scale = 1.0 / total
        offset = earliest[k] - block_start[b]
        if offset < 0:
            offset += n_hours
        shape = profile[b, offset : offset + length[k]]
        xk = x[ptr[k] : ptr[k] + length[k]]
        for j in range(length[k]):
            shape[j] += xk[j] * scale
    first = np.empty(n_blocks, np.int64)
    last = np.empty(n_blocks, np.int64)
    for b in range(n_blocks):
        i = 0
        while i < span and profile[b, i] == 0.0:
            i += 1
        first[b] = i
        i = span
        while i > first[b] and profile[b, i - 1] == 0.0:
            i -= 1
        last[b] = i
    return profile, first, last


@kernel
def _add_share(line, start, share, shape):
    """``line[(start + j) % T] += share * shape[j]`` for every offset ``j`` of ``shape``."""
    n_hours = line.shape[0]
    n = shape.shape[0]
    if start + n <= n_hours:  # no wrap: one contiguous stretch of the line
        window = line[start : start + n]
        for j in range(n):
            window[j] += share * shape[j]
    else:
        for j in range(n):
            line[_hour(start, j, n_hours)] += share * shape[j]


@kernel
def _add_shares_of_four(profile, first, last, block_start, shares, rows, out):
    """:func:`_add_share` of every block's profile to the four members ``rows[:4]``.

    ``shares[q, b]`` is member ``q``'s share of block ``b``. Where a block's profile does not
    wrap past the horizon and all four shares are nonzero, one pass over the profile adds to the
    four lines (each profile value loaded once, one loop for four members); otherwise the
    members are added one by one. Either way, every element of ``out`` receives the same
    products in the same (block) order as member-by-member adding.
    """
    n_hours = out.shape[1]
    row_a, row_b, row_c, row_d = rows[0], rows[1], rows[2], rows[3]
    for b in range(block_start.shape[0]):
        start = block_start[b]
        share_a, share_b, share_c, share_d = shares[0, b], shares[1, b], shares[2, b], shares[3, b]
        together = share_a != 0.0 and share_b != 0.0 and share_c != 0.0 and share_d != 0.0
        if together and start + last[b] <= n_hours:
            for i in range(first[b], last[b]):
                value = profile[b, i]
                t = start + i
                out[row_a, t] += share_a * value
                out[row_b, t] += share_b * value
                out[row_c, t] += share_c * value
                out[row_d, t] += share_d * value
            continue
        for q in range(4):
            if shares[q, b] != 0.0:
                shape = profile[b, first[b] : last[b]]
                _add_share(out[rows[q]], start + first[b], shares[q, b], shape)


@kernel
def split_by_share(
    need, x, earliest, length, ptr, block, block_start, block_total, weights, rows, span, out
):
    """Split merged cohorts' schedules among members in proportion to their need.

    Cohort ``k`` belongs to block ``block[k]`` (e.g. a day and a mode) whose merged need is
    ``block_total[b]``; member ``r`` (e.g. a city) holds ``weights[r, b]`` of it and receives
    ``weights[r, b] / block_total[b] * x_k`` for every cohort of the block. The per-unit profile
    of a block, ``sum_k x_k / block_total[b]``, is built once over ``span`` hours from
    ``block_start[b]`` (cohorts with ``need[k] == 0``, whose schedule is zero, are skipped) and
    then scattered over the hours where it is nonzero, adding into ``out[rows[r], :]``
    [MWh per hour step].

    Distinct members are scattered four at a time (:func:`_add_shares_of_four`), the rest one by
    one; each element of ``out`` gets the same sum, term by term in block order, either way.
    """
    n_hours = out.shape[1]
    n_blocks = block_start.shape[0]
    profile, first, last = _block_profiles(
        need, x, earliest, length, ptr, block, block_start, block_total, span, n_hours
    )
    n_members = weights.shape[0]
    n_grouped = n_members - n_members % 4 if np.unique(rows).shape[0] == n_members else 0
    for r in range(0, n_grouped, 4):
        _add_shares_of_four(profile, first, last, block_start, weights[r : r + 4], rows[r:], out)
    for r in range(n_grouped, n_members):
        line = out[rows[r]]
        for b in range(n_blocks):
            if weights[r, b] != 0.0:
                shape = profile[b, first[b] : last[b]]
                _add_share(line, block_start[b] + first[b], weights[r, b], shape)
