# ruff: noqa: E501  (data-provenance strings and URLs are kept on one line)
"""Calibrate the EV temperature law  kWh/km(T) = rated * rwf * (1 + cold*max(0, Tc - T) + hot*max(0, T - Th)).

Cold branch: ICCT/NDANEV 2023 range losses relative to rated (REFERENCE_FACTS, V), midpoints
27.5% at T = 0 C and 40% at T = -7 C, a range loss L read as a consumption factor 1/(1 - L):
    rwf * (1 + cold * (Tc - 0))  = 1 / (1 - 0.275)
    rwf * (1 + cold * (Tc + 7))  = 1 / (1 - 0.40)
with rwf = 1 / (1 - 0.15) (overall real-world range 15% below rated). Subtracting gives cold, then Tc.
Hot branch: Recurrent (US fleet data, ~7,500 EVs) range loss 5% at 90 F (32 C) and 15% at 95 F (35 C),
relative to mild weather (0% at 75 F / 24 C), found at
https://principia-scientific.com/heres-how-hot-weather-affects-electric-car-range :
    1 + hot * (32 - Th) = 1 / (1 - 0.05)
    1 + hot * (35 - Th) = 1 / (1 - 0.15)
Gasoline cold term: US DOE/EPA, fuel economy 12% lower at 20 F (-6.7 C) than at 77 F (25 C) in city
driving (https://www.energy.gov/eere/vehicles/fact-818-april-21-2014-effect-winter-weather-fuel-economy):
    1 + gcold * (25 - (-6.67)) = 1 / (1 - 0.12),  threshold 25 C.
Run it to print the solution; build_parameters.py imports calibrate().
"""

from __future__ import annotations

RANGE_LOSS_OVERALL = 0.15
COLD_POINTS = ((0.0, 0.275), (-7.0, 0.40))  # (T [C], range loss vs rated)
HOT_POINTS = ((32.0, 0.05), (35.0, 0.15))  # (T [C], range loss vs mild weather)
GASOLINE_COLD = ((25.0, 0.0), ((20.0 - 32.0) * 5.0 / 9.0, 0.12))  # (T [C], fuel-economy loss)


def two_point(points, base: float = 1.0) -> tuple[float, float]:
    """Solve base*(1 + k*|T - T0|) = 1/(1-L) at two points; return (k [1/K], T0 [C])."""
    (t1, l1), (t2, l2) = points
    f1, f2 = 1.0 / (1.0 - l1) / base - 1.0, 1.0 / (1.0 - l2) / base - 1.0
    k = (f2 - f1) / abs(t2 - t1)
    # f1 = k * |t1 - T0| with T0 on the far side of t1 from t2
    t0 = t1 + f1 / k if t2 < t1 else t1 - f1 / k
    return k, t0


def calibrate() -> dict[str, float]:
    rwf = 1.0 / (1.0 - RANGE_LOSS_OVERALL)
    cold, t_cold = two_point(COLD_POINTS, base=rwf)
    hot, t_hot = two_point(HOT_POINTS)
    (tg0, _), (tg1, lg1) = GASOLINE_COLD
    gcold = (1.0 / (1.0 - lg1) - 1.0) / (tg0 - tg1)
    return {
        "ev_real_world_factor": rwf,
        "ev_cold_coefficient": cold,
        "ev_cold_threshold": t_cold,
        "ev_hot_coefficient": hot,
        "ev_hot_threshold": t_hot,
        "gasoline_cold_coefficient": gcold,
        "gasoline_cold_threshold": tg0,
    }


if __name__ == "__main__":
    p = calibrate()
    for k, v in p.items():
        print(f"{k} = {v:.6f}")
    rwf, c, tc = p["ev_real_world_factor"], p["ev_cold_coefficient"], p["ev_cold_threshold"]
    for t, loss in COLD_POINTS:
        f = rwf * (1 + c * max(0.0, tc - t))
        print(f"check T={t:+.0f} C: factor {f:.4f} vs 1/(1-{loss}) = {1 / (1 - loss):.4f}")
