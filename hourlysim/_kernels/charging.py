"""Charging-schedule kernels: one kernel per strategy, sharing the window and fill helpers.

A *cohort* ``k`` needs ``need[k]`` MWh within the hours ``earliest[k] + j`` for
``0 <= j < length[k]`` (hour indices taken modulo the horizon ``T``: the year wraps), at most
``cap[k]`` MW in any hour. Schedules are written into a flat array ``x`` in CSR layout:
``x[ptr[k] + j]`` is the energy of cohort ``k`` in the ``j``-th hour of its window, with
``ptr[k + 1] - ptr[k] == length[k]``. :func:`accumulate` and :func:`split_by_share` reduce those
schedules to hourly loads.

Inputs are validated by :mod:`hourlysim.charging` (the kernels assume ``0 <= earliest < T``,
``1 <= length <= T``, ``0 <= need <= cap * length`` up to a relative ``1e-12``).
No xarray, no pandas, no I/O here.
"""

from __future__ import annotations

import numpy as np

from hourlysim._kernels._jit import kernel

#: Relative tolerance under which a residual of a cohort's need counts as delivered.
NEED_RTOL = 1e-12
_INSERTION_MAX = 32
#: Most sweeps between two evaluations of the valley-filling duality gap (each costs about a
#: sweep; in between, the next evaluation is placed where the gap's observed linear rate of
#: decrease predicts it meets the bound).
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


@kernel
def _gather(values, start, n, out):
    """``out[j] = values[(start + j) % T]`` for ``j < n``."""
    n_hours = values.shape[0]
    for j in range(n):
        out[j] = values[_hour(start, j, n_hours)]


@kernel
def _stable_argsort(key, n, order):
    """Stable ascending order of ``key[:n]`` into ``order[:n]`` (ties keep the lower offset)."""
    if n <= _INSERTION_MAX:
        for j in range(n):
            order[j] = j
        for j in range(1, n):
            o = order[j]
            v = key[o]
            i = j - 1
            while i >= 0 and key[order[i]] > v:
                order[i + 1] = order[i]
                i -= 1
            order[i + 1] = o
    else:
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


@kernel
def _greedy_fill(need, cap, key, n, order, xk):
    """Exact minimiser of ``key . xk`` over ``0 <= xk <= cap, sum xk = need``.

    Fills the lowest-key offsets first at ``cap``; ties go to the earliest offset.
    """
    _stable_argsort(key, n, order)
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


@kernel
def _water_fill(level, need, cap, n, order, xk):
    """Exact minimiser of ``sum_j (level[j] + xk[j])**2`` over ``0 <= xk <= cap, sum xk = need``.

    The solution is ``xk[j] = clip(nu - level[j], 0, cap)`` with the water level ``nu`` found by
    walking the sorted breakpoints ``level[j]`` (hour starts filling) and ``level[j] + cap``
    (hour saturates) of the piecewise-linear, increasing ``f(nu) = sum_j clip(nu - level[j])``.
    """
    if need <= 0.0:
        for j in range(n):
            xk[j] = 0.0
        return
    if _is_rigid(need, cap, n):
        for j in range(n):
            xk[j] = need / n
        return
    _stable_argsort(level, n, order)
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


@kernel
def carbon_aware_schedule(need, earliest, length, cap, ptr, signal, x):
    """Fill each cohort's lowest-``signal`` hours first at ``cap`` (ties: earliest hour).

    Exact minimiser of ``sum_t signal[t] x_k[t]`` per cohort (a linear cost over a box with
    one equality constraint is minimised greedily).
    """
    key, order = _window_buffers(length)
    for k in range(need.shape[0]):
        n = length[k]
        _gather(signal, earliest[k], n, key)
        _greedy_fill(need[k], cap[k], key, n, order, x[ptr[k] : ptr[k] + n])


@kernel
def _level_from_scratch(base, x, earliest, length, ptr, level):
    """``level = base + sum_k x_k`` (removes drift accumulated by incremental updates)."""
    n_hours = base.shape[0]
    for t in range(n_hours):
        level[t] = base[t]
    for k in range(earliest.shape[0]):
        for j in range(length[k]):
            level[_hour(earliest[k], j, n_hours)] += x[ptr[k] + j]


@kernel
def _frank_wolfe_gap(level, need, earliest, length, cap, ptr, x, flexible, key, order, y):
    """``sum_k level . (x_k - y_k)`` with ``y_k`` the linear minimiser of ``level . y_k``.

    For ``F(L) = sum_t (base + L)^2`` the Frank-Wolfe gap ``2 * this`` bounds ``F(L) - F*``
    from above, and ``||L - L*||^2 <= F(L) - F*`` (``F`` is 2-strongly convex in ``L``).
    """
    gap = 0.0
    for k in range(need.shape[0]):
        if not flexible[k]:
            continue
        n = length[k]
        _gather(level, earliest[k], n, key)
        _greedy_fill(need[k], cap[k], key, n, order, y)
        ref = key[order[0]]  # sums of x_k and y_k agree: subtracting a constant loses nothing
        for j in range(n):
            gap += (key[j] - ref) * (x[ptr[k] + j] - y[j])
    return gap


@kernel
def valley_filling_schedule(need, earliest, length, cap, ptr, base, tol, max_sweeps, x):
    """Minimise ``sum_t (base[t] + L[t])**2`` over all cohorts' schedules (coupled convex QP).

    Algorithm: block coordinate descent (Gauss-Seidel) over cohorts. Each block update is the
    exact water-filling of one cohort against the level of everything else
    (:func:`_water_fill`), so the objective never increases; sweeps alternate forward and
    backward in cohort order. A cohort is re-solved only when some hour of its window changed
    since its last update (its water-filling would otherwise return the same schedule), so late
    sweeps touch only the still-moving cohorts; changes below ``1e-13 * cap`` are not applied.
    Rigid cohorts (``need == cap * length``) and empty ones are set once.

    Stopping rule (a certificate, not a step size): after sweep 2, after a sweep that changed
    nothing, and then where the gap's observed linear rate predicts it meets the bound (at most
    ``CHECK_EVERY`` sweeps later), the level is recomputed from scratch and the Frank-Wolfe
    duality gap ``G = 2 sum_k level . (x_k - y_k)`` is evaluated, ``y_k`` the cohort's greedy
    (linear) minimiser. Since ``||L - L*||^2 <= F(L) - F* <= G``, stopping at ``G <= tol**2
    ||L||^2`` guarantees ``||L - L*|| <= tol ||L||`` (relative L2 error of the aggregate load).
    If a sweep changes nothing but the gap is still above the bound, every cohort is marked for
    re-solving; if that full sweep changes nothing either, the schedule is a fixed point to
    rounding and the kernel returns with ``gap > bound`` (``tol`` below what float64 resolves,
    about 1e-7 in practice). ``max_sweeps`` bounds the number of sweeps.

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
    key, order = _window_buffers(length)
    y = np.empty(key.shape[0], np.float64)
    xk = np.empty(key.shape[0], np.float64)
    flexible = np.zeros(n_cohorts, np.bool_)
    level = np.empty(n_hours, np.float64)
    for k in range(n_cohorts):
        n = length[k]
        for j in range(n):
            x[ptr[k] + j] = 0.0
        if need[k] > 0.0:
            if _is_rigid(need[k], cap[k], n):
                for j in range(n):
                    x[ptr[k] + j] = need[k] / n
            else:
                flexible[k] = True
    _level_from_scratch(base, x, earliest, length, ptr, level)

    # changed[t]: update counter at which hour t last moved; solved[k]: counter of k's last solve
    changed = np.zeros(n_hours, np.int64)
    solved = np.full(n_cohorts, -1, np.int64)
    counter = 0
    full_resweep = False  # the sweep in progress re-solves every cohort
    next_check = 2
    last_check = 0
    last_gap = np.inf
    gap = np.inf
    bound = 0.0
    sweeps = 0
    while sweeps < max_sweeps:
        sweeps += 1
        moved = 0
        for i in range(n_cohorts):
            k = i if sweeps % 2 == 1 else n_cohorts - 1 - i
            if not flexible[k]:
                continue
            n = length[k]
            start = earliest[k]
            p = ptr[k]
            if solved[k] >= 0:
                dirty = False
                for j in range(n):
                    if changed[_hour(start, j, n_hours)] > solved[k]:
                        dirty = True
                        break
                if not dirty:
                    continue
            counter += 1
            for j in range(n):
                key[j] = level[_hour(start, j, n_hours)] - x[p + j]
            _water_fill(key, need[k], cap[k], n, order, xk)
            threshold = 1e-13 * cap[k]
            for j in range(n):
                delta = xk[j] - x[p + j]
                if delta > threshold or delta < -threshold:
                    t = _hour(start, j, n_hours)
                    level[t] += delta
                    x[p + j] = xk[j]
                    changed[t] = counter
                    moved += 1
            solved[k] = counter
        if moved == 0 or sweeps >= next_check:
            _level_from_scratch(base, x, earliest, length, ptr, level)
            gap = 2.0 * _frank_wolfe_gap(
                level, need, earliest, length, cap, ptr, x, flexible, key, order, y
            )
            norm2 = 0.0
            for t in range(n_hours):
                load = level[t] - base[t]
                norm2 += load * load
            bound = tol * tol * norm2
            if gap <= bound:
                break
            # next check where the gap's observed linear rate predicts it meets the bound
            step = 1
            if 0.0 < gap < last_gap and bound > 0.0:
                rate = (gap / last_gap) ** (1.0 / (sweeps - last_check))
                predicted = np.log(bound / gap) / np.log(rate)
                if predicted > 1.0:
                    step = int(min(np.ceil(predicted), CHECK_EVERY))
            next_check = sweeps + step
            last_gap = gap
            last_check = sweeps
            if moved == 0:
                if full_resweep:  # a fixed point to rounding: tol is below what is attainable
                    break
                for k in range(n_cohorts):
                    solved[k] = -1
                full_resweep = True
                continue
        full_resweep = False
    return sweeps, gap, bound


# ---------------------------------------------------------------------------------------------
# reductions of schedules to hourly loads
# ---------------------------------------------------------------------------------------------
@kernel
def accumulate(x, earliest, length, ptr, group, out):
    """``out[group[k], (earliest[k] + j) % T] += x[ptr[k] + j]`` [MWh per hour step]."""
    n_hours = out.shape[1]
    for k in range(earliest.shape[0]):
        g = group[k]
        for j in range(length[k]):
            out[g, _hour(earliest[k], j, n_hours)] += x[ptr[k] + j]


@kernel
def split_by_share(
    x, earliest, length, ptr, block, block_start, block_total, weights, rows, span, out
):
    """Split merged cohorts' schedules among members in proportion to their need.

    Cohort ``k`` belongs to block ``block[k]`` (e.g. a mode and a day) whose merged need is
    ``block_total[b]``; member ``r`` (e.g. a city) holds ``weights[r, b]`` of it and receives
    ``weights[r, b] / block_total[b] * x_k`` for every cohort of the block. The per-unit profile
    of a block, ``sum_k x_k / block_total[b]``, is built once over ``span`` hours from
    ``block_start[b]`` and then scattered, adding into ``out[rows[r], :]``.
    """
    n_hours = out.shape[1]
    n_blocks = block_start.shape[0]
    profile = np.zeros((n_blocks, span), np.float64)
    first = np.full(n_blocks, span, np.int64)
    last = np.zeros(n_blocks, np.int64)
    for k in range(earliest.shape[0]):
        b = block[k]
        total = block_total[b]
        if total <= 0.0:
            continue
        offset = earliest[k] - block_start[b]
        if offset < 0:
            offset += n_hours
        for j in range(length[k]):
            v = x[ptr[k] + j]
            if v != 0.0:
                i = offset + j
                profile[b, i] += v / total
                if i < first[b]:
                    first[b] = i
                if i + 1 > last[b]:
                    last[b] = i + 1
    for r in range(weights.shape[0]):
        row = rows[r]
        for b in range(n_blocks):
            w = weights[r, b]
            if w == 0.0:
                continue
            start = block_start[b]
            for i in range(first[b], last[b]):
                out[row, _hour(start, i, n_hours)] += w * profile[b, i]
