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


def drop_feb29_rows(n_rows: int) -> np.ndarray:
    """Row positions to keep from an hourly table of a full year.

    Parameters
    ----------
    n_rows : int
        8,760 or 8,784.

    Returns
    -------
    ndarray of int
        Positions of the 8,760 rows that are not on Feb 29.
    """
    positions = np.arange(n_rows)
    if n_rows == HOURS_PER_LEAP_YEAR:
        keep = (positions < _FEB29_FIRST_HOUR) | (positions >= _FEB29_FIRST_HOUR + 24)
        return positions[keep]
    return positions


def hour_of_day(n_hours: int = HOURS_PER_YEAR) -> np.ndarray:
    """Local hour of day (0-23) of each step of the model year."""
    return np.arange(n_hours) % 24


def day_of_week(year: int) -> np.ndarray:
    """Day of week (Monday = 0) of each hour step of the model year."""
    return model_time(year).day_of_week.to_numpy()
