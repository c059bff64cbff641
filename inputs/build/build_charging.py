# ruff: noqa: E501  (data-provenance strings and URLs are kept on one line)
"""Build inputs/segments.csv, inputs/charging_modes.csv and inputs/charging_arrivals.csv.

Arrivals: L(h) = the 24-h charging-load shape of the PIK/Zhan et al. 2025 passenger profile (the
168 hour-of-week shares; all seven days are identical in the file, so L is their mean by hour).
Each mode's arrival shares are L(h) restricted to that mode's arrival window, renormalised to 1:
  public_fast: all hours (sessions ~0.5 h, so load ~ arrivals);
  home: 17:00-23:00 (evening arrivals of overnight charging);
  work: 07:00-10:00 (morning arrival, public/work peak near 08:00 in REFERENCE_FACTS);
  public_slow: 08:00-22:00.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from _common import INPUTS, parse_args, write_csv

WINDOWS = {
    "home": range(17, 24),
    "work": range(7, 11),
    "public_slow": range(8, 23),
    "public_fast": range(0, 24),
}

TAXI_CRUISING = 1.39e6  # MoT, Oct 2020, via https://ibmwl.com/the-average-daily-order-volume-of-online-car-hailing-in-china-exceeds-21-million/
RIDE_HAILING = 1.111e6  # MoT, 30 Nov 2020 vehicle licences, via http://gy5y.cn/a1/1273
TAXI_KM_PER_DAY = 250.0  # Shenzhen e-taxi driver, https://michelegeraci.com/en/2021/04/13/taxi-trip-in-shenzhen-discovering-a-completely-electric-mobility/
PRIVATE_KM_PER_YEAR = 18900.0  # REFERENCE_FACTS (V)


def main() -> None:
    data = parse_args(__doc__)
    prov = pd.read_csv(INPUTS / "provinces.csv")
    pop = prov.population.sum()

    seg = pd.DataFrame(
        [
            {
                "segment": "private",
                "fleet_basis": "cities.csv passenger_cars x ev_share (private vehicle stock, NBS 2020)",
                "vehicles_per_1000_people": "",
                "km_per_day_weekday": f"{PRIVATE_KM_PER_YEAR / 365:.2f}",
                "km_per_day_weekend": f"{PRIVATE_KM_PER_YEAR / 365:.2f}",
                "share_home": "0.40",
                "share_work": "0.10",
                "share_public_slow": "0.25",
                "share_public_fast": "0.25",
            },
            {
                "segment": "taxi",
                "fleet_basis": (
                    "cruising taxis 1.39 million (MoT, Oct 2020) + ride-hailing vehicles 1.111 "
                    "million (MoT, Nov 2020) per 2020 resident population (provinces.csv)"
                ),
                "vehicles_per_1000_people": f"{(TAXI_CRUISING + RIDE_HAILING) / pop * 1000:.4f}",
                "km_per_day_weekday": f"{TAXI_KM_PER_DAY:.2f}",
                "km_per_day_weekend": f"{TAXI_KM_PER_DAY:.2f}",
                "share_home": "0.00",
                "share_work": "0.00",
                "share_public_slow": "0.10",
                "share_public_fast": "0.90",
            },
        ]
    )
    shares = seg[["share_home", "share_work", "share_public_slow", "share_public_fast"]].astype(
        float
    )
    assert np.allclose(shares.sum(axis=1), 1.0)
    write_csv(seg, INPUTS / "segments.csv")

    modes = pd.DataFrame(
        [
            {
                "mode": "home",
                "power_kw": "7.0",
                "session_kwh": "12.0",
                "dwell_hours": "10.0",
                "source": "ASSUMPTION: 7 kW AC wallbox; session = one day of average private driving "
                "(51.8 km x 0.183 x 1.1765 kWh/km / 0.9 ~ 12 kWh); plugged in overnight",
            },
            {
                "mode": "work",
                "power_kw": "7.0",
                "session_kwh": "12.0",
                "dwell_hours": "8.0",
                "source": "ASSUMPTION: 7 kW AC; one day of driving; a working day parked",
            },
            {
                "mode": "public_slow",
                "power_kw": "7.0",
                "session_kwh": "12.0",
                "dwell_hours": "3.0",
                "source": "ASSUMPTION: 7 kW AC public post; one day of driving; a few hours parked",
            },
            {
                "mode": "public_fast",
                "power_kw": "50.0",
                "session_kwh": "20.0",
                "dwell_hours": "0.5",
                "source": "50 kW typical Chinese DC 'rapid' outlet (Hove, Columbia CGEP, quoted at "
                "https://xerragames.com/china-is-racing-to-electrify-its-future); about half of "
                "public sessions under 30 min (REFERENCE_FACTS, V); 20 kWh = 50 kW x 0.4 h",
            },
        ]
    )
    write_csv(modes, INPUTS / "charging_modes.csv")

    prof = pd.read_csv(data / "hourly" / "pik_ev_charging_weekly_profile_passenger.csv")
    assert len(prof) == 168
    load = prof.groupby("hour")["count"].mean().reindex(range(24)).to_numpy()
    arr = pd.DataFrame({"hour": np.arange(24)})
    for mode, win in WINDOWS.items():
        w = np.where(np.isin(np.arange(24), list(win)), load, 0.0)
        arr[mode] = w / w.sum()
    for mode in WINDOWS:
        assert abs(arr[mode].sum() - 1.0) < 1e-12
    # 6 decimals; put the rounding residual on the largest entry so each column sums to exactly 1
    for mode in WINDOWS:
        v = np.round(arr[mode].to_numpy() * 1e6).astype(np.int64)
        v[np.argmax(v)] += 1_000_000 - v.sum()
        arr[mode] = [f"{x / 1e6:.6f}" for x in v]
    write_csv(arr, INPUTS / "charging_arrivals.csv")
    print(seg.to_string(index=False))
    print(arr.to_string(index=False))


if __name__ == "__main__":
    main()
