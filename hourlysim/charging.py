"""Stage 2: hourly EV charging load under a charging strategy.

Two layers:

* array level (:func:`uncontrolled`, :func:`tou_delayed`, :func:`carbon_aware`,
  :func:`solar_aligned`, :func:`valley_filling`): cohorts given as plain arrays, validated here,
  scheduled by the numba kernels of :mod:`hourlysim._kernels.charging`, returned as the aggregate
  load per hour (or per group and hour);
* xarray level (:func:`charging_load`): builds the cohorts of every city, day, charging mode and
  arrival hour from the driving energy, and returns the ``charging_load`` DataArray. It is
  :func:`plan_charging` (validation and cohort layout, which do not depend on the strategy)
  followed by :meth:`ChargingPlan.load` (one strategy's schedule): a caller charging one fleet
  under several strategies plans once.

A cohort ``k`` needs ``need[k]`` [MWh] within the hours ``earliest[k] <= t < latest[k]``, at most
``cap[k]`` [MW] in any hour. Hour ``t`` stands for ``t % T``: the year is continuous and a window
that runs past the last hour wraps to the first. Windows are never truncated per day.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import xarray as xr

from hourlysim._kernels import charging as _k
from hourlysim.errors import InputError

__all__ = [
    "STRATEGIES",
    "MODES",
    "ConvergenceError",
    "uncontrolled",
    "tou_delayed",
    "carbon_aware",
    "solar_aligned",
    "valley_filling",
    "charging_load",
    "plan_charging",
    "ChargingPlan",
]

logger = logging.getLogger(__name__)

#: Charging strategies understood by :func:`charging_load`.
STRATEGIES: tuple[str, ...] = (
    "uncontrolled",
    "tou_delayed",
    "valley_filling",
    "carbon_aware",
    "solar_aligned",
)
#: Charging modes expected on the ``mode`` dimension.
MODES: tuple[str, ...] = ("home", "work", "public_slow", "public_fast")

_NEED_RTOL = _k.NEED_RTOL


class ConvergenceError(RuntimeError):
    """Valley filling did not reach its certified tolerance within the allowed sweeps."""


# ---------------------------------------------------------------------------------------------
# array level
# ---------------------------------------------------------------------------------------------
class _Cohorts:
    """Validated cohort arrays in the kernels' layout (float64 / int64, CSR schedule pointers)."""

    __slots__ = ("need", "earliest", "length", "cap", "ptr", "n_hours")

    def __init__(self, need, earliest, latest, cap, n_hours: int) -> None:
        n_hours = int(n_hours)
        if n_hours < 1:
            raise InputError(f"the horizon must hold at least one hour, got {n_hours}")
        need = np.ascontiguousarray(need, dtype=np.float64)
        cap = np.ascontiguousarray(cap, dtype=np.float64)
        earliest_in = np.asarray(earliest)
        latest_in = np.asarray(latest)
        arrays = {"need": need, "earliest": earliest_in, "latest": latest_in, "cap": cap}
        for name, values in arrays.items():
            if values.ndim != 1 or values.shape != need.shape:
                raise InputError(
                    f"'{name}' must be one-dimensional with one value per cohort, "
                    f"like 'need' {need.shape}; got shape {values.shape}",
                    column=name,
                )
        for name in ("earliest", "latest"):
            values = arrays[name]
            if values.dtype.kind not in "iu" and not (
                values.dtype.kind == "f"
                and np.all(np.isfinite(values))
                and np.all(values == np.round(values))
            ):
                raise InputError(f"'{name}' must hold integer hour indices", column=name)
        earliest = earliest_in.astype(np.int64)
        latest = latest_in.astype(np.int64)
        length = latest - earliest
        for name, bad, what in (
            ("need", ~np.isfinite(need) | (need < 0), "a finite need >= 0 [MWh]"),
            ("cap", ~np.isfinite(cap) | (cap < 0), "a finite cap >= 0 [MW]"),
            ("earliest", (earliest < 0) | (earliest >= n_hours), f"0 <= earliest < {n_hours}"),
            ("latest", length < 1, "latest > earliest"),
            ("latest", length > n_hours, f"a window of at most {n_hours} hours"),
            (
                "need",
                need > cap * length * (1.0 + _NEED_RTOL),
                "need <= cap x window length (the cohort cannot be served)",
            ),
        ):
            if np.any(bad):
                k = int(np.flatnonzero(bad)[0])
                raise InputError(
                    f"cohort {k} is invalid: expected {what}; need={float(need[k])!r} MWh, "
                    f"cap={float(cap[k])!r} MW, earliest={earliest[k]}, latest={latest[k]} "
                    f"({int(np.count_nonzero(bad))} cohort(s) affected)",
                    row=k,
                    column=name,
                )
        self.need = need
        self.earliest = np.ascontiguousarray(earliest)
        self.length = np.ascontiguousarray(length)
        self.cap = cap
        self.ptr = np.zeros(need.shape[0] + 1, np.int64)
        np.cumsum(length, out=self.ptr[1:])
        self.n_hours = n_hours

    @classmethod
    def trusted(cls, need, earliest, length, cap, ptr, n_hours: int) -> _Cohorts:
        """Cohorts built internally from validated inputs (no checks)."""
        self = cls.__new__(cls)
        self.need, self.earliest, self.length, self.cap = need, earliest, length, cap
        self.ptr, self.n_hours = ptr, n_hours
        return self

    def empty_schedule(self) -> np.ndarray:
        return np.zeros(int(self.ptr[-1]), np.float64)

    def reduce(self, x: np.ndarray, group, n_groups) -> np.ndarray:
        """Aggregate per-cohort schedules to ``(T,)`` or ``(n_groups, T)``."""
        n = self.need.shape[0]
        if group is None:
            if n_groups is not None:
                raise InputError("'n_groups' is given without 'group'", column="n_groups")
            out = np.zeros((1, self.n_hours))
            _k.accumulate(x, self.earliest, self.length, self.ptr, np.zeros(n, np.int64), out)
            return out[0]
        group = np.asarray(group)
        if group.shape != (n,) or group.dtype.kind not in "iu":
            raise InputError(f"'group' must be {n} integers, one per cohort", column="group")
        group = group.astype(np.int64)
        if n_groups is None:
            n_groups = int(group.max()) + 1 if n else 0
        if n and (group.min() < 0 or group.max() >= n_groups):
            raise InputError(f"'group' values must lie in [0, {n_groups})", column="group")
        out = np.zeros((int(n_groups), self.n_hours))
        _k.accumulate(x, self.earliest, self.length, self.ptr, group, out)
        return out


def _hourly(values, name: str, n_hours: int | None = None) -> np.ndarray:
    values = np.ascontiguousarray(values, dtype=np.float64)
    if values.ndim != 1 or values.shape[0] < 1:
        raise InputError(f"'{name}' must be a non-empty one-dimensional hourly series", column=name)
    if n_hours is not None and values.shape[0] != n_hours:
        raise InputError(f"'{name}' must hold {n_hours} hours, got {values.shape[0]}", column=name)
    if not np.all(np.isfinite(values)):
        t = int(np.flatnonzero(~np.isfinite(values))[0])
        raise InputError(f"'{name}' must be finite; hour {t} is {values[t]!r}", column=name)
    return values


def uncontrolled(
    need: np.ndarray,
    earliest: np.ndarray,
    latest: np.ndarray,
    cap: np.ndarray,
    *,
    n_hours: int = 8760,
    group: np.ndarray | None = None,
    n_groups: int | None = None,
) -> np.ndarray:
    """Charge each cohort at its cap from its earliest hour until done.

    Parameters
    ----------
    need : ndarray
        Energy each cohort needs [MWh].
    earliest : ndarray of int
        First hour of each cohort's window, ``0 <= earliest < n_hours`` [h].
    latest : ndarray of int
        End of each window (exclusive), ``earliest < latest <= earliest + n_hours``; hours at or
        past ``n_hours`` wrap to the start of the horizon [h].
    cap : ndarray
        Most energy a cohort can take in one hour step [MW].
    n_hours : int
        Length ``T`` of the horizon [h].
    group : ndarray of int, optional
        Group index of each cohort; with it the load is returned per group.
    n_groups : int, optional
        Number of groups (default ``group.max() + 1``).

    Returns
    -------
    ndarray
        Charging load, shape ``(T,)`` or ``(n_groups, T)`` [MWh per hour step]. The last
        charging hour of a cohort is partial.

    Raises
    ------
    InputError
        For a cohort with a negative need or cap, ``latest <= earliest``, a window longer than
        ``T``, or ``need > cap * (latest - earliest)`` (beyond a relative 1e-12); the message
        names the first such cohort and its figures.
    """
    c = _Cohorts(need, earliest, latest, cap, n_hours)
    x = c.empty_schedule()
    _k.uncontrolled_schedule(c.need, c.earliest, c.length, c.cap, c.ptr, x)
    return c.reduce(x, group, n_groups)


def tou_delayed(
    need: np.ndarray,
    earliest: np.ndarray,
    latest: np.ndarray,
    cap: np.ndarray,
    hour_of_day: np.ndarray,
    valley_start_hour: int = 23,
    *,
    group: np.ndarray | None = None,
    n_groups: int | None = None,
) -> np.ndarray:
    """Delay each cohort to the valley-tariff start, then charge at its cap.

    A cohort whose window contains an hour with ``hour_of_day == valley_start_hour`` starts at
    cap from the first such hour at or after its arrival; if it would not finish inside its
    window from there, it starts at the latest hour that still finishes
    (``latest - ceil(need / cap)``). A cohort whose window holds no valley start charges as
    :func:`uncontrolled`.

    Parameters
    ----------
    need, earliest, latest, cap, group, n_groups
        As for :func:`uncontrolled`.
    hour_of_day : ndarray of int
        Local hour of day of each hour of the horizon, 0..23; its length is ``T`` [h].
    valley_start_hour : int
        Local hour at which the valley (off-peak) tariff starts [h].

    Returns
    -------
    ndarray
        Charging load, shape ``(T,)`` or ``(n_groups, T)`` [MWh per hour step].
    """
    hour_of_day = np.asarray(hour_of_day)
    if hour_of_day.ndim != 1 or hour_of_day.dtype.kind not in "iu":
        raise InputError("'hour_of_day' must be a one-dimensional integer array", column="hour")
    if not 0 <= int(valley_start_hour) <= 23:
        raise InputError(
            f"'valley_start_hour' must lie in 0..23, got {valley_start_hour!r}",
            column="valley_start_hour",
        )
    c = _Cohorts(need, earliest, latest, cap, hour_of_day.shape[0])
    x = c.empty_schedule()
    _k.tou_delayed_schedule(
        c.need,
        c.earliest,
        c.length,
        c.cap,
        c.ptr,
        np.ascontiguousarray(hour_of_day, dtype=np.int64),
        np.int64(valley_start_hour),
        x,
    )
    return c.reduce(x, group, n_groups)


def carbon_aware(
    need: np.ndarray,
    earliest: np.ndarray,
    latest: np.ndarray,
    cap: np.ndarray,
    signal: np.ndarray,
    *,
    group: np.ndarray | None = None,
    n_groups: int | None = None,
) -> np.ndarray:
    """Charge each cohort in the lowest-signal hours of its window.

    Each cohort solves ``min sum_t signal[t] x[t]`` subject to ``0 <= x[t] <= cap`` inside its
    window and ``sum_t x[t] = need``; the exact optimum fills the hours in increasing signal
    order at cap, ties going to the earliest hour of the window (deterministic).

    Parameters
    ----------
    need, earliest, latest, cap, group, n_groups
        As for :func:`uncontrolled`.
    signal : ndarray
        Cost of one MWh in each hour, e.g. grid carbon intensity; its length is ``T``
        [kg CO2 MWh-1].

    Returns
    -------
    ndarray
        Charging load, shape ``(T,)`` or ``(n_groups, T)`` [MWh per hour step].
    """
    signal = _hourly(signal, "signal")
    c = _Cohorts(need, earliest, latest, cap, signal.shape[0])
    x = c.empty_schedule()
    _k.carbon_aware_schedule(c.need, c.earliest, c.length, c.cap, c.ptr, signal, x)
    return c.reduce(x, group, n_groups)


def solar_aligned(
    need: np.ndarray,
    earliest: np.ndarray,
    latest: np.ndarray,
    cap: np.ndarray,
    solar_cf: np.ndarray,
    *,
    group: np.ndarray | None = None,
    n_groups: int | None = None,
) -> np.ndarray:
    """Charge each cohort in the sunniest hours of its window.

    :func:`carbon_aware` with ``signal = -solar_cf``: hours of higher solar capacity factor
    first, ties (e.g. the night, all zero) going to the earliest hour.

    Parameters
    ----------
    need, earliest, latest, cap, group, n_groups
        As for :func:`uncontrolled`.
    solar_cf : ndarray
        Solar capacity factor of each hour; its length is ``T`` [-].

    Returns
    -------
    ndarray
        Charging load, shape ``(T,)`` or ``(n_groups, T)`` [MWh per hour step].
    """
    solar_cf = _hourly(solar_cf, "solar_cf")
    return carbon_aware(need, earliest, latest, cap, -solar_cf, group=group, n_groups=n_groups)


#: multiple of eps * ||level||^2 below which a stalled gap is rounding noise (see _run_valley)
_ROUNDING_FLOOR = 4.0


def _run_valley(c: _Cohorts, base: np.ndarray, tol: float, max_sweeps: int) -> np.ndarray:
    if not (np.isfinite(tol) and tol > 0):
        raise InputError(f"'tol' must be a positive number, got {tol!r}", column="tol")
    if int(max_sweeps) < 1:
        raise InputError(f"'max_sweeps' must be >= 1, got {max_sweeps!r}", column="max_sweeps")
    x = c.empty_schedule()
    sweeps, gap, bound = _k.valley_filling_schedule(
        c.need, c.earliest, c.length, c.cap, c.ptr, base, float(tol), int(max_sweeps), x
    )
    stalled = sweeps < max_sweeps
    if stalled and not gap <= bound:
        # a fixed point to rounding: the water levels resolve only to eps * |level|, so the
        # computed gap carries noise of order eps * ||level||^2 (||level|| <= ||base|| + ||L||,
        # ||L|| = sqrt(bound) / tol); below that floor the schedule is as exact as float64 allows
        load_norm = np.sqrt(bound) / tol
        floor = _ROUNDING_FLOOR * np.finfo(float).eps * (np.linalg.norm(base) + load_norm) ** 2
        if gap <= floor:
            logger.debug("valley filling: gap %.3e at the float64 floor %.3e", gap, floor)
            return x
    if not gap <= bound:
        why = (
            "stalled at a fixed point to rounding; tol is below what float64 resolves"
            if sweeps < max_sweeps
            else "raise max_sweeps or tol"
        )
        raise ConvergenceError(
            f"valley filling did not converge in {sweeps} sweeps: duality gap {gap:.3e} MWh2 "
            f"> tol^2 ||L||^2 = {bound:.3e} MWh2 (tol={tol}); {why}"
        )
    logger.debug("valley filling: %d sweeps, gap %.3e <= %.3e", sweeps, gap, bound)
    return x


def valley_filling(
    need: np.ndarray,
    earliest: np.ndarray,
    latest: np.ndarray,
    cap: np.ndarray,
    base_load: np.ndarray,
    *,
    group: np.ndarray | None = None,
    n_groups: int | None = None,
    tol: float = 1e-4,
    max_sweeps: int = 10_000,
) -> np.ndarray:
    """Schedule all cohorts jointly to flatten ``base_load + charging load``.

    Solves the convex QP ``min sum_t (base_load[t] + L[t])**2`` with ``L = sum_k x_k``, subject
    to every cohort's window, cap and need. Method: block coordinate descent over cohorts, each
    update an exact water-filling of one cohort against the level of all others (the objective
    never increases; a fixed point satisfies the KKT conditions: within a cohort, hours charged
    strictly between 0 and cap share one level ``base + L``, idle hours lie at or above it,
    hours at cap at or below it). Sweeps run forward over the cohorts, shortest window first,
    and revisit only cohorts whose water-level conditions a change in their window broke; a
    revisited cohort whose conditions still hold (at a shifted level) is not re-solved.

    Stopping rule: the Frank-Wolfe duality gap ``G`` (computed exactly with a greedy linear
    minimisation per cohort) bounds ``F(L) - F*`` and hence ``||L - L*||**2``; the iteration
    stops when ``G <= tol**2 * ||L||**2``, which certifies ``||L - L*|| <= tol * ||L||``. ``G``
    is evaluated over every cohort, with the level recomputed from scratch, once the gap of the
    cohorts still marked for re-solving (the others sit at their block optimum) meets the
    bound. The optimal aggregate ``L*`` is unique; per-cohort schedules need not be.

    Parameters
    ----------
    need, earliest, latest, cap, group, n_groups
        As for :func:`uncontrolled`.
    base_load : ndarray
        Load to flatten (e.g. provincial net load); its length is ``T`` [MW].
    tol : float
        Certified relative L2 accuracy of the aggregate charging load [-].
    max_sweeps : int
        Most sweeps over the cohorts before giving up.

    Returns
    -------
    ndarray
        Charging load, shape ``(T,)`` or ``(n_groups, T)`` [MWh per hour step].

    Raises
    ------
    ConvergenceError
        If the certificate is not reached within ``max_sweeps`` sweeps.
    """
    base = _hourly(base_load, "base_load")
    c = _Cohorts(need, earliest, latest, cap, base.shape[0])
    x = _run_valley(c, base, tol, max_sweeps)
    return c.reduce(x, group, n_groups)


# ---------------------------------------------------------------------------------------------
# xarray level
# ---------------------------------------------------------------------------------------------
_NEEDS = {"carbon_aware": "signal", "valley_filling": "base_load", "solar_aligned": "solar_cf"}


def _values(
    da: xr.DataArray, dims: tuple[str, ...], name: str, check_finite: bool = True
) -> np.ndarray:
    if not isinstance(da, xr.DataArray):
        raise InputError(f"'{name}' must be an xarray.DataArray", column=name)
    if set(da.dims) != set(dims):
        raise InputError(f"'{name}' must have dims {dims}, got {da.dims}", column=name)
    values = np.asarray(da.transpose(*dims).values, dtype=np.float64)
    if check_finite and not np.all(np.isfinite(values)):
        raise InputError(f"'{name}' holds non-finite values", column=name)
    return values


def _province_rows(
    da: xr.DataArray | None, name: str, provinces: list[str], n_hours: int
) -> dict[str, np.ndarray]:
    values = _values(da, ("province", "time"), name)
    if values.shape[1] != n_hours:
        raise InputError(f"'{name}' must hold {n_hours} hours, got {values.shape[1]}", column=name)
    codes = [str(p) for p in da["province"].values] if "province" in da.coords else None
    if codes is None:
        raise InputError(f"'{name}' needs a 'province' coordinate of codes", column=name)
    missing = sorted(set(provinces) - set(codes))
    if missing:
        raise InputError(f"'{name}' lacks provinces {missing}", column=name)
    return {p: np.ascontiguousarray(values[codes.index(p)]) for p in provinces}


def _on_modes(da: xr.DataArray, name: str, modes: list[str]) -> xr.DataArray:
    if "mode" not in da.dims:
        raise InputError(f"'{name}' must have a 'mode' dimension", column=name)
    present = [str(m) for m in da["mode"].values]
    if sorted(present) != sorted(modes):
        raise InputError(
            f"'{name}' modes {present} differ from charging modes {modes}", column=name
        )
    return da.sel(mode=modes)


def _mode_windows(charging_modes: xr.Dataset, n_hours: int):
    """Window length [h] and cap per MWh of need [h-1] of every mode; infeasible modes raise."""
    for var in ("power_kw", "session_kwh", "dwell_hours"):
        if var not in charging_modes:
            raise InputError(f"charging_modes lacks '{var}'", column=var)
    modes = [str(m) for m in charging_modes["mode"].values]
    power = _values(charging_modes["power_kw"], ("mode",), "power_kw")
    session = _values(charging_modes["session_kwh"], ("mode",), "session_kwh")
    dwell = _values(charging_modes["dwell_hours"], ("mode",), "dwell_hours")
    for i, mode in enumerate(modes):
        figures = f"power_kw={power[i]!r}, session_kwh={session[i]!r}, dwell_hours={dwell[i]!r}"
        if not (power[i] > 0 and session[i] > 0 and dwell[i] > 0):
            raise InputError(f"mode '{mode}' needs positive figures ({figures})", row=mode)
        if dwell[i] * (1.0 + _NEED_RTOL) < session[i] / power[i]:
            raise InputError(
                f"mode '{mode}' is infeasible: a session of {session[i]} kWh at {power[i]} kW "
                f"takes {session[i] / power[i]:.4g} h > dwell {dwell[i]} h ({figures})",
                row=mode,
                column="dwell_hours",
            )
    length = np.maximum(np.ceil(dwell - 1e-9), 1).astype(np.int64)
    if np.any(length > n_hours - 24):
        raise InputError(f"dwell_hours must be shorter than {n_hours - 24} h", column="dwell_hours")
    return modes, length, power / session


def _shares(da: xr.DataArray, dims: tuple[str, str], name: str, modes: list[str]) -> np.ndarray:
    da = _on_modes(da, name, modes)
    values = _values(da, dims, name)
    if np.any(values < 0):
        raise InputError(f"'{name}' holds negative shares", column=name)
    axis = dims.index("mode") if name == "mode_share" else dims.index("hour")
    sums = values.sum(axis=axis, keepdims=True)
    if not np.allclose(sums, 1.0, rtol=0, atol=1e-6):
        raise InputError(f"'{name}' must sum to 1 over '{dims[axis]}', got {sums.ravel()}")
    return values / sums  # exact unit sums: energy is conserved to rounding


def charging_load(
    battery_energy: xr.DataArray,
    charging_modes: xr.Dataset,
    charging_arrivals: xr.DataArray,
    mode_share: xr.DataArray,
    *,
    strategy: str,
    charging_efficiency: float,
    city_province: xr.DataArray,
    signal: xr.DataArray | None = None,
    base_load: xr.DataArray | None = None,
    solar_cf: xr.DataArray | None = None,
    valley_start_hour: int = 23,
    tol: float = 1e-4,
    max_sweeps: int = 10_000,
) -> xr.DataArray:
    """Hourly grid-side charging load of every city under a charging strategy.

    Cohorts: one per city, day ``d``, mode ``m`` and local arrival hour ``h`` with a positive
    arrival share, arriving at hour ``24 d + h``. It replenishes that day's driving energy:
    ``need = sum_segment E[segment, city, d] * mode_share[segment, m] * arrivals[m, h] / eta``
    [MWh] (``E`` the day's battery energy, ``eta`` the charging efficiency); its window is
    ``[24 d + h, 24 d + h + ceil(dwell_hours[m]))`` (dwell rounded up to whole hours: a vehicle
    plugged in for part of an hour can charge in it), wrapping from the last day to the first;
    its cap is ``need * power_kw / session_kwh`` [MW] (``need / session`` vehicles, each at the
    charger's power).

    Merging (exact, and the reason this is fast): in one province all cities' cohorts of the
    same mode and arrival hour share the window, and ``cap / need = power / session`` is the
    same for all of them. Their merged cohort (summed need and cap) is scheduled once, and each
    city receives the merged schedule times its share of the merged need. Each city's part is
    feasible (its cap is the same share of the merged cap) and the parts add up to the merged
    schedule. For ``uncontrolled``, ``tou_delayed``, ``carbon_aware`` and ``solar_aligned`` the
    per-unit schedule of a cohort does not depend on its size, so every city gets exactly the
    schedule it would get alone. For ``valley_filling`` the province's joint problem only sees
    the aggregate load; any city-level schedule merges to a feasible merged schedule with the
    same aggregate, so the merged optimum is the joint optimum. The per-unit profiles of a
    (day, mode) block are summed over its arrival hours before being scattered to cities, all
    modes of a province in one pass over its cities' rows.

    Parameters
    ----------
    battery_energy : xr.DataArray
        Energy drawn from EV batteries by driving, dims (segment, city, time), ``time`` a whole
        number of local days (day ``d`` = hours ``24 d .. 24 d + 23``) [MWh per hour step].
    charging_modes : xr.Dataset
        On dim ``mode``: ``power_kw`` per-vehicle charger power [kW], ``session_kwh`` energy per
        session [kWh], ``dwell_hours`` plug-in time after arrival [h].
    charging_arrivals : xr.DataArray
        Dims (mode, hour), hour 0..23: share of each mode's sessions arriving in each local
        hour, summing to 1 per mode [-].
    mode_share : xr.DataArray
        Dims (segment, mode): share of each segment's energy charged in each mode, summing to 1
        per segment [-].
    strategy : str
        One of :data:`STRATEGIES`: ``uncontrolled``; ``tou_delayed`` (home cohorts delayed to
        the valley start, other modes uncontrolled); ``valley_filling`` (all cohorts, jointly
        per province); ``carbon_aware`` (all cohorts); ``solar_aligned`` (work cohorts in the
        sunniest hours, other modes uncontrolled).
    charging_efficiency : float
        Battery energy per unit of grid energy at the charger, in (0, 1] [-].
    city_province : xr.DataArray
        Province code (2 letters) of each city, on dim ``city``.
    signal : xr.DataArray, optional
        Dims (province, time): the signal ``carbon_aware`` minimises [kg CO2 MWh-1].
    base_load : xr.DataArray, optional
        Dims (province, time): provincial net load ``valley_filling`` flattens [MW].
    solar_cf : xr.DataArray, optional
        Dims (province, time): solar capacity factor for ``solar_aligned`` [-].
    valley_start_hour : int
        Local hour at which the valley tariff starts, for ``tou_delayed`` [h].
    tol, max_sweeps
        Accuracy and sweep limit of valley filling (see :func:`valley_filling`).

    Returns
    -------
    xr.DataArray
        ``charging_load``, dims (city, time): energy drawn from the grid at the charger in each
        hour step [MWh].

    Raises
    ------
    InputError
        Unknown strategy, missing input for the strategy, an infeasible charging mode (dwell
        shorter than ``session_kwh / power_kw``), or malformed inputs.
    ConvergenceError
        If valley filling does not converge.
    """
    signals = {"signal": signal, "base_load": base_load, "solar_cf": solar_cf}
    _check_strategy(strategy, signals, valley_start_hour)
    plan = plan_charging(
        battery_energy,
        charging_modes,
        charging_arrivals,
        mode_share,
        charging_efficiency=charging_efficiency,
        city_province=city_province,
    )
    return plan.load(
        strategy, **signals, valley_start_hour=valley_start_hour, tol=tol, max_sweeps=max_sweeps
    )


def _check_strategy(strategy: str, signals: dict, valley_start_hour: int) -> None:
    """Refuse an unknown strategy, a missing signal it needs, or a bad valley start hour."""
    if strategy not in STRATEGIES:
        raise InputError(
            f"unknown charging strategy {strategy!r}; expected one of {STRATEGIES}",
            column="strategy",
        )
    if strategy in _NEEDS and signals[_NEEDS[strategy]] is None:
        raise InputError(
            f"strategy {strategy!r} needs '{_NEEDS[strategy]}' (province, time)",
            column=_NEEDS[strategy],
        )
    if not 0 <= int(valley_start_hour) <= 23:
        raise InputError(
            f"valley_start_hour must lie in 0..23, got {valley_start_hour!r}",
            column="valley_start_hour",
        )


def plan_charging(
    battery_energy: xr.DataArray,
    charging_modes: xr.Dataset,
    charging_arrivals: xr.DataArray,
    mode_share: xr.DataArray,
    *,
    charging_efficiency: float,
    city_province: xr.DataArray,
) -> ChargingPlan:
    """Validate the inputs of :func:`charging_load` and lay out its cohorts, once for every
    strategy: the daily need of each city and mode, and the cohorts of one province.

    Parameters are those of :func:`charging_load`; :meth:`ChargingPlan.load` then schedules
    a strategy. A caller that charges the same fleet under several strategies (one
    scenario-year) plans once and loads each strategy from the plan.

    Returns
    -------
    ChargingPlan

    Raises
    ------
    InputError
        As :func:`charging_load`, for the inputs other than the strategy's.
    """
    eta = float(charging_efficiency)
    if not 0.0 < eta <= 1.0:
        raise InputError(
            f"charging_efficiency must lie in (0, 1], got {charging_efficiency!r}",
            column="charging_efficiency",
        )
    energy = _values(battery_energy, ("segment", "city", "time"), "battery_energy", False)
    n_seg, n_city, n_hours = energy.shape
    if n_hours % 24 or n_hours < 48:
        raise InputError(f"'time' must hold whole days (>= 2), got {n_hours} hours", column="time")
    n_days = n_hours // 24
    # daily energy [MWh], checked in the same pass over the (large) hourly array
    daily = np.empty((n_seg, n_city, n_days))
    lowest, n_nonfinite = _k.daily_totals(energy, daily)
    if n_nonfinite or not np.all(np.isfinite(daily)):
        raise InputError("'battery_energy' holds non-finite values", column="battery_energy")
    if lowest < 0:
        raise InputError("'battery_energy' holds negative values", column="battery_energy")
    modes, length, ratio = _mode_windows(charging_modes, n_hours)
    arrivals = _shares(charging_arrivals, ("mode", "hour"), "charging_arrivals", modes)
    if arrivals.shape[1] != 24:
        raise InputError("'charging_arrivals' must hold hours 0..23", column="hour")
    share = _shares(mode_share, ("segment", "mode"), "mode_share", modes)
    if "segment" in battery_energy.coords and "segment" in mode_share.coords:
        order = [
            list(mode_share["segment"].values).index(s) for s in battery_energy["segment"].values
        ]
        share = share[order]
    if share.shape[0] != n_seg:
        raise InputError("'mode_share' segments differ from battery_energy's", column="segment")

    if "city" in battery_energy.coords and "city" in city_province.coords:
        city_province = city_province.sel(city=battery_energy["city"].values)
    codes = np.array([str(p) for p in np.asarray(city_province.values).ravel()])
    if codes.shape[0] != n_city:
        raise InputError("'city_province' must give one province per city", column="city")
    provinces = list(dict.fromkeys(codes.tolist()))
    rows_of = {p: np.flatnonzero(codes == p).astype(np.int64) for p in provinces}

    # city need per day and mode [MWh]
    city_need = np.empty((n_city, n_days, share.shape[1]))  # (city, day, mode)
    _k.mode_need(daily, share / eta, city_need)

    # cohort layout of one province, by mode m then start s = 24 d + h; arrival hours with a
    # zero share hold no cohort
    n_modes = len(modes)
    earliest_mode, arrival_mode, block_mode = [], [], []
    for m in range(n_modes):
        hours = np.flatnonzero(arrivals[m] > 0)
        earliest_mode.append((24 * np.arange(n_days)[:, None] + hours[None, :]).ravel())
        arrival_mode.append(np.tile(arrivals[m, hours], n_days))
        block_mode.append(np.repeat(np.arange(n_days) * n_modes + m, hours.shape[0]))
    n_mode = np.array([e.shape[0] for e in earliest_mode])
    first_cohort = np.concatenate([[0], np.cumsum(n_mode)])
    earliest_all = np.concatenate(earliest_mode).astype(np.int64)
    arrival_all = np.concatenate(arrival_mode)
    # blocks (day, mode), day-major, for the split among cities
    block_all = np.concatenate(block_mode).astype(np.int64)
    block_start = np.repeat(np.arange(n_days, dtype=np.int64) * 24, n_modes)
    len_all = np.repeat(length, n_mode)
    ptr_all = np.zeros(earliest_all.shape[0] + 1, np.int64)
    np.cumsum(len_all, out=ptr_all[1:])
    ratio_all = np.repeat(ratio, n_mode)
    span = np.int64(24 + length.max() - 1)
    # each mode's cohorts and schedule entries in the province layout, and its own pointers
    mode_cohorts = [slice(first_cohort[m], first_cohort[m + 1]) for m in range(n_modes)]
    mode_entries = [
        slice(ptr_all[first_cohort[m]], ptr_all[first_cohort[m + 1]]) for m in range(n_modes)
    ]
    mode_ptr = [np.arange(n_mode[m] + 1, dtype=np.int64) * length[m] for m in range(n_modes)]
    # each province's cohorts: the same for every strategy
    cohorts_of = {}
    for p in provinces:
        rows = rows_of[p]
        weights = city_need[rows].reshape(rows.shape[0], n_days * n_modes)
        block_need = weights.sum(axis=0)  # (block,)
        need = block_need[block_all] * arrival_all
        cohorts_of[p] = ProvinceCohorts(rows, weights, block_need, need, need * ratio_all)
    # built once: every strategy's load reuses the indexes
    coords = xr.Coordinates(
        {
            dim: battery_energy[dim].variable
            for dim in ("city", "time")
            if dim in battery_energy.coords
        }
    )
    return ChargingPlan(
        modes=modes,
        provinces=provinces,
        cohorts_of=cohorts_of,
        city_need=city_need,
        n_hours=n_hours,
        n_days=n_days,
        earliest=earliest_all,
        block=block_all,
        block_start=block_start,
        length=len_all,
        ptr=ptr_all,
        span=span,
        mode_cohorts=mode_cohorts,
        mode_entries=mode_entries,
        mode_ptr=mode_ptr,
        coords=coords,
        charging_efficiency=eta,
    )


class ProvinceCohorts(NamedTuple):
    """One province's cohorts in a :class:`ChargingPlan` (the plan's cohort layout)."""

    #: rows of the province's cities in the result
    rows: np.ndarray
    #: each city's need per (day, mode) block, (city, block) [MWh]
    weights: np.ndarray
    #: the province's need per block, (block,) [MWh]
    block_need: np.ndarray
    #: need and hourly cap of each cohort, (cohort,) [MWh], [MW]
    need: np.ndarray
    cap: np.ndarray


@dataclass(frozen=True, eq=False)
class ChargingPlan:
    """Validated charging inputs in the kernels' layout (from :func:`plan_charging`).

    Nothing in it is changed by :meth:`load`, so one plan serves every strategy.
    """

    #: charging modes, in the order of the mode axes
    modes: list[str]
    #: province codes in the order their cities first appear, and each one's cohorts
    provinces: list[str]
    cohorts_of: dict[str, ProvinceCohorts]
    #: energy each city needs per day and mode, (city, day, mode) [MWh]
    city_need: np.ndarray
    n_hours: int
    n_days: int
    #: one province's cohorts, by mode then start hour: start hour, (day, mode) block,
    #: window length [h], schedule pointers (their need and cap: :attr:`cohorts_of`)
    earliest: np.ndarray
    block: np.ndarray
    length: np.ndarray
    ptr: np.ndarray
    #: first hour of each block, and the hours a block's schedules can span
    block_start: np.ndarray
    span: np.int64
    #: each mode's cohorts, schedule entries and own schedule pointers
    mode_cohorts: list[slice]
    mode_entries: list[slice]
    mode_ptr: list[np.ndarray]
    #: ``city`` and ``time`` coordinates of the result (indexes built once)
    coords: xr.Coordinates
    #: battery energy per unit of grid energy at the charger [1]
    charging_efficiency: float

    def load(
        self,
        strategy: str,
        *,
        signal: xr.DataArray | None = None,
        base_load: xr.DataArray | None = None,
        solar_cf: xr.DataArray | None = None,
        valley_start_hour: int = 23,
        tol: float = 1e-4,
        max_sweeps: int = 10_000,
    ) -> xr.DataArray:
        """Hourly charging load of every city under ``strategy`` (see :func:`charging_load`,
        whose strategy arguments these are) [MWh per hour step]."""
        signals = {"signal": signal, "base_load": base_load, "solar_cf": solar_cf}
        _check_strategy(strategy, signals, valley_start_hour)
        n_modes = len(self.modes)
        hour_of_day = np.arange(self.n_hours, dtype=np.int64) % 24
        series = {}
        if strategy in _NEEDS:
            name = _NEEDS[strategy]
            series = _province_rows(signals[name], name, self.provinces, self.n_hours)
        mode_kernel = {
            "uncontrolled": ("uncontrolled",) * n_modes,
            "tou_delayed": tuple("tou" if m == "home" else "uncontrolled" for m in self.modes),
            "carbon_aware": ("greedy",) * n_modes,
            "solar_aligned": tuple("greedy" if m == "work" else "uncontrolled" for m in self.modes),
            "valley_filling": ("valley",) * n_modes,
        }[strategy]
        key = None  # the per-province signal of the greedy kernel

        out = np.zeros((self.city_need.shape[0], self.n_hours))
        for p in self.provinces:
            rows, weights, province_need, need, cap = self.cohorts_of[p]
            if strategy == "valley_filling":
                cohorts = _Cohorts.trusted(
                    need, self.earliest, self.length, cap, self.ptr, self.n_hours
                )
                x_all = _run_valley(cohorts, series[p], tol, max_sweeps)
            else:
                if strategy == "solar_aligned":
                    key = np.ascontiguousarray(-series[p])
                elif strategy == "carbon_aware":
                    key = series[p]
                x_all = np.empty(self.ptr[-1])
                for m in range(n_modes):
                    cohort = self.mode_cohorts[m]
                    x = x_all[self.mode_entries[m]]
                    args = (
                        need[cohort],
                        self.earliest[cohort],
                        self.length[cohort],
                        cap[cohort],
                        self.mode_ptr[m],
                    )
                    kind = mode_kernel[m]
                    if kind == "uncontrolled":
                        _k.uncontrolled_schedule(*args, x)
                    elif kind == "tou":
                        start = np.int64(int(valley_start_hour))
                        _k.tou_delayed_schedule(*args, hour_of_day, start, x)
                    else:
                        _k.carbon_aware_schedule(*args, key, x)
            _k.split_by_share(
                need,
                x_all,
                self.earliest,
                self.length,
                self.ptr,
                self.block,
                self.block_start,
                province_need,
                weights,
                rows,
                self.span,
                out,
            )
        return xr.DataArray(
            out,
            dims=("city", "time"),
            coords=self.coords,
            name="charging_load",
            attrs={
                "units": "MWh",
                "long_name": "EV charging load drawn from the grid at the charger per hour step",
                "strategy": strategy,
                "charging_efficiency": self.charging_efficiency,
            },
        )
