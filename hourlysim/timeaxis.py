"""The model year's hourly time axis: 8,760 steps, Feb 29 dropped in leap years."""

from __future__ import annotations

import numpy as np
import pandas as pd

HOURS_PER_YEAR = 8760
HOURS_PER_LEAP_YEAR = 8784
DAYS_PER_YEAR = 365
_FEB29_FIRST_HOUR = (31 + 28) * 24  # hour index of Feb 29 00:00 in a leap year


def model_time(year: int) -> pd.DatetimeIndex:
    """Hourly timestamps (local time, UTC+8) of a model year.

    Parameters
    ----------
    year : int
        Calendar year.

    Returns
    -------
    pandas.DatetimeIndex
        8,760 hourly timestamps; in a leap year Feb 29 is dropped so that every model year
        has 365 days and hour ``h`` of one year matches hour ``h`` of any other.
    """
    hours = pd.date_range(f"{year}-01-01 00:00", f"{year}-12-31 23:00", freq="h")
    hours = hours[~((hours.month == 2) & (hours.day == 29))]
    assert len(hours) == HOURS_PER_YEAR
    return hours


def rows_without_feb29(n_rows: int, times=None) -> np.ndarray:
    """Row positions to keep from an hourly table of a full year (Feb 29 dropped).

    Parameters
    ----------
    n_rows : int
        8,760 (all rows kept) or 8,784.
    times : array_like of datetime, optional
        The table's timestamps. Where given (and all parse), Feb 29 is found by date;
        otherwise it is rows 1,416-1,439 of a year starting on 1 January 00:00.

    Returns
    -------
    ndarray of int
        Positions of the 8,760 rows that are not on Feb 29.

    Raises
    ------
    ValueError
        If the timestamps of an 8,784-row table do not hold exactly one Feb 29 (24 rows).
    """
    positions = np.arange(n_rows)
    if n_rows != HOURS_PER_LEAP_YEAR:
        return positions
    if times is not None:
        stamps = pd.DatetimeIndex(pd.to_datetime(np.asarray(times), errors="coerce"))
        if not stamps.isna().any():
            keep = positions[~((stamps.month == 2) & (stamps.day == 29))]
            if keep.size != HOURS_PER_YEAR:
                raise ValueError("8,784 rows but not exactly one Feb 29 (24 rows) in the times")
            return keep
    return positions[(positions < _FEB29_FIRST_HOUR) | (positions >= _FEB29_FIRST_HOUR + 24)]


def day_of_week(year: int) -> np.ndarray:
    """Day of week (Monday = 0) of each hour step of the model year."""
    return model_time(year).day_of_week.to_numpy()
