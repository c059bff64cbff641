"""Hourly air temperature per city: synthetic climatology, or a user's own series from a file.

Both functions return an array of shape (n_city, 8760) in degC on the model's hourly axis:
local time (UTC+8), hour 0 = 1 January 00:00, 8,760 steps; in a leap year 29 February is dropped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hourlysim._kernels.demand import synthetic_temperature
from hourlysim.errors import InputError
from hourlysim.timeaxis import rows_without_feb29

N_HOURS = 8760
#: Day of year (1 = 1 Jan, 365-day calendar) of the warmest point of the annual cosine (19 July);
#: the coldest point falls half a year earlier, on 17-18 January.
WARMEST_DAY = 200.0
#: Local hours of the diurnal minimum and maximum.
DIURNAL_MIN_HOUR = 5.0
DIURNAL_MAX_HOUR = 14.0

_MONTH_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
_MONTH_START = np.concatenate([[0], np.cumsum(_MONTH_DAYS)])  # in days, 365-day calendar
_KELVIN_UNITS = {"k", "kelvin", "kelvins", "degk", "deg_k"}
_CELSIUS_UNITS = {
    "degc",
    "deg_c",
    "c",
    "celsius",
    "degrees_celsius",
    "degree_celsius",
    "°c",
    "degreec",
    "degreesc",
}


def _check_year(year: int) -> None:
    if not isinstance(year, (int, np.integer)) or isinstance(year, bool):
        raise InputError(f"year must be an integer, got {year!r}")


def _annual_shape() -> np.ndarray:
    """Annual cosine [-] per hour of the 365-day year: +1 at WARMEST_DAY, -1 half a year earlier."""
    day = np.arange(N_HOURS) / 24.0 + 1.0  # fractional day of year, 1.0 = 1 Jan 00:00
    return np.cos(2.0 * np.pi * (day - WARMEST_DAY) / 365.0)


def _diurnal_shape() -> np.ndarray:
    """Daily shape [-] per hour of day, -1 at DIURNAL_MIN_HOUR, +1 at DIURNAL_MAX_HOUR.

    Two half-cosines: rising from the minimum to the maximum (9 h) and falling back over the
    remaining 15 h; each half has zero mean over its span, so the daily mean is ~0.
    """
    h = np.arange(24, dtype=float)
    rise = DIURNAL_MAX_HOUR - DIURNAL_MIN_HOUR
    fall = 24.0 - rise
    since_min = (h - DIURNAL_MIN_HOUR) % 24.0
    return np.where(
        since_min <= rise,
        -np.cos(np.pi * since_min / rise),
        np.cos(np.pi * (since_min - rise) / fall),
    )


def _month_mean(x: np.ndarray, month: int) -> np.ndarray:
    a, b = _MONTH_START[month - 1] * 24, _MONTH_START[month] * 24
    return x[..., a:b].mean(axis=-1)


def synthesize_hourly_temperature(t_jan, t_jul, diurnal_range, year: int) -> np.ndarray:
    """Synthetic hourly temperature from January and July means and a diurnal range.

    ``T = m + A * cos(2 pi (day - 200) / 365) + (diurnal_range / 2) * D(hour)``, where the annual
    cosine peaks on day 200 (19 July) and bottoms out half a year earlier (17-18 January), and
    ``D`` is a two-half-cosine daily shape with its minimum at 05:00 and maximum at 14:00 local.
    The mean ``m`` and amplitude ``A`` are solved per city so that the monthly means of January
    and July reproduce ``t_jan`` and ``t_jul`` exactly.

    Parameters
    ----------
    t_jan, t_jul : array_like, shape (n_city,)
        Monthly mean air temperature of January and of July [degC].
    diurnal_range : array_like, shape (n_city,) or scalar
        Daily maximum minus daily minimum [K]; must be >= 0.
    year : int
        Model year; only decides the calendar (29 February is dropped in leap years, so every
        year has 8,760 hours).

    Returns
    -------
    numpy.ndarray, shape (n_city, 8760)
        Hourly air temperature [degC], local time (UTC+8), hour 0 = 1 January 00:00.

    Raises
    ------
    InputError
        If the inputs have mismatched shapes, are not finite, or the diurnal range is negative.
    """
    _check_year(year)
    t_jan = np.atleast_1d(np.asarray(t_jan, dtype=float))
    t_jul = np.atleast_1d(np.asarray(t_jul, dtype=float))
    dr = (
        np.broadcast_to(np.asarray(diurnal_range, dtype=float), t_jan.shape)
        if np.ndim(diurnal_range) == 0
        else np.atleast_1d(np.asarray(diurnal_range, dtype=float))
    )
    if t_jan.ndim != 1 or t_jan.shape != t_jul.shape or dr.shape != t_jan.shape:
        raise InputError("t_jan, t_jul and diurnal_range must be 1-D arrays of one length")
    for name, v in (("t_jan", t_jan), ("t_jul", t_jul), ("diurnal_range", dr)):
        if not np.all(np.isfinite(v)):
            raise InputError(f"{name} must be finite", column=name)
    if np.any(dr < 0):
        raise InputError("diurnal_range must be >= 0 K", column="diurnal_range")

    annual = _annual_shape()
    daily = np.tile(_diurnal_shape(), 365)
    # Monthly means of each component, then solve m + A*c_month + d_month*dr/2 = target.
    c_jan, c_jul = _month_mean(annual, 1), _month_mean(annual, 7)
    d_jan, d_jul = _month_mean(daily, 1), _month_mean(daily, 7)
    rhs_jan = t_jan - 0.5 * dr * d_jan
    rhs_jul = t_jul - 0.5 * dr * d_jul
    amp = (rhs_jul - rhs_jan) / (c_jul - c_jan)
    mean = rhs_jan - amp * c_jan
    out = np.empty((t_jan.shape[0], N_HOURS))
    synthetic_temperature(mean, amp, 0.5 * dr, annual, daily, out)
    return out


def _units_offset(units: str | None, file: str, column: str) -> float:
    """Offset to add to convert to degC, from a units attribute."""
    if units is None:
        raise InputError(
            "temperature variable has no 'units' attribute (expected K or degC)",
            file=file,
            column=column,
        )
    u = str(units).strip().lower().replace(" ", "_")
    if u in _KELVIN_UNITS:
        return -273.15
    if u in _CELSIUS_UNITS:
        return 0.0
    raise InputError(
        f"unknown temperature units {units!r} (expected K or degC)", file=file, column=column
    )


def _finish(values: np.ndarray, file: str, columns: list[str], times=None) -> np.ndarray:
    """values (n_time, n_city) [degC] -> checked (n_city, 8760)."""
    n = values.shape[0]
    if n not in (N_HOURS, N_HOURS + 24):
        raise InputError(f"expected 8760 or 8784 hourly rows, found {n}", file=file)
    bad = np.isnan(values)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise InputError("missing value (NaN)", file=file, row=int(r) + 1, column=columns[c])
    try:
        values = values[rows_without_feb29(n, times)]
    except ValueError as error:
        raise InputError(str(error), file=file) from error
    out_of_range = (values < -70.0) | (values > 60.0)
    if out_of_range.any():
        r, c = np.argwhere(out_of_range)[0]
        raise InputError(
            f"temperature {values[r, c]:.2f} degC outside -70..60 degC",
            file=file,
            row=int(r) + 1,
            column=columns[c],
        )
    return np.ascontiguousarray(values.T, dtype=float)


def _times(raw):
    import pandas as pd

    try:
        t = pd.DatetimeIndex(pd.to_datetime(np.asarray(raw)))
    except (ValueError, TypeError):
        return None
    return t


def load_temperature_file(path, adcodes, year: int) -> np.ndarray:
    """Read a user's hourly temperature series for the given cities.

    Two formats:

    * NetCDF (``.nc``, ERA5-style): a variable ``t2m`` or ``temperature`` with a ``units``
      attribute in K or degC, dimensions ``(time, city)`` (``(city, time)`` is transposed), and a
      ``city`` coordinate holding the 6-digit adcodes.
    * CSV: a ``time`` column and one column per adcode (header = the adcode), values in degC.

    Either may hold 8,760 rows, or 8,784 rows for a leap year (29 February is dropped, located by
    the time stamps where they parse, else rows 1,417-1,440).

    Parameters
    ----------
    path : str or os.PathLike
        The file to read.
    adcodes : array_like of int, shape (n_city,)
        The cities wanted, in the order of the output rows.
    year : int
        Model year the series is for (informational; the series must already be that year's).

    Returns
    -------
    numpy.ndarray, shape (n_city, 8760)
        Hourly air temperature [degC].

    Raises
    ------
    InputError
        Naming the file (and row or column) for: a missing city, a wrong number of rows, a NaN
        (with its 1-based data row), unknown units, or a value outside -70..60 degC.
    """
    _check_year(year)
    path = Path(path)
    file = str(path)
    codes = [int(a) for a in np.atleast_1d(np.asarray(adcodes))]
    if not path.is_file():
        raise InputError("file not found", file=file)
    if path.suffix.lower() in (".nc", ".nc4", ".netcdf"):
        return _load_netcdf(path, file, codes)
    return _load_csv(path, file, codes)


def _load_csv(path: Path, file: str, codes: list[int]) -> np.ndarray:
    import pandas as pd

    try:
        df = pd.read_csv(path)
    except (ValueError, OSError) as e:
        raise InputError(f"cannot read CSV: {e}", file=file) from e
    if "time" not in df.columns:
        raise InputError("no 'time' column", file=file, column="time")
    cols = {}
    for c in df.columns:
        try:
            cols[int(str(c).strip())] = c
        except ValueError:
            continue
    missing = [a for a in codes if a not in cols]
    if missing:
        raise InputError(f"missing city column(s) {missing[:5]}", file=file, column=str(missing[0]))
    names = [cols[a] for a in codes]
    try:
        values = df[names].to_numpy(dtype=float)
    except ValueError as e:
        raise InputError(f"non-numeric temperature values: {e}", file=file) from e
    return _finish(values, file, [str(n) for n in names], _times(df["time"]))


def _load_netcdf(path: Path, file: str, codes: list[int]) -> np.ndarray:
    import xarray as xr

    try:
        ds = xr.open_dataset(path, engine="netcdf4", decode_times=True)
    except (ValueError, OSError) as e:
        raise InputError(f"cannot read NetCDF: {e}", file=file) from e
    with ds:
        var = next((v for v in ("t2m", "temperature") if v in ds.data_vars), None)
        if var is None:
            raise InputError("no variable 't2m' or 'temperature'", file=file)
        da = ds[var]
        if set(da.dims) != {"time", "city"}:
            raise InputError(
                f"variable '{var}' must have dims (time, city), has {da.dims}",
                file=file,
                column=var,
            )
        da = da.transpose("time", "city")
        offset = _units_offset(da.attrs.get("units"), file, var)
        have = [int(a) for a in np.asarray(da["city"].values)]
        pos = {a: i for i, a in enumerate(have)}
        missing = [a for a in codes if a not in pos]
        if missing:
            raise InputError(
                f"missing city {missing[:5]} in coordinate 'city'",
                file=file,
                column=str(missing[0]),
            )
        values = np.asarray(da.values, dtype=float)[:, [pos[a] for a in codes]] + offset
        times = _times(ds["time"].values) if "time" in ds.coords else None
    return _finish(values, file, [str(a) for a in codes], times)
