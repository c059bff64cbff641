# ruff: noqa: E501  (data-provenance strings and URLs are kept on one line)
"""Build inputs/parameters.csv: one row per scalar default (name, value, unit, source, description)."""

from __future__ import annotations

import pandas as pd
from _common import INPUTS, parse_args, write_csv
from calibrate_ev_temperature import calibrate
from calibrate_grid import SOLAR_HOURS, WIND_HOURS, gas_must_run_fraction, renewable_scales

RF = "data/REFERENCE_FACTS.md"
JAN_AUG_DAYS = 243  # 1 Jan - 31 Aug (non-leap)


def main() -> None:
    parse_args(__doc__)
    cal = calibrate()
    cf_scale = renewable_scales(INPUTS)
    # Coal rate: back out coal from the MEE fossil-only factor 2022 (832.5 kg/MWh, V) with gas's share
    # of fossil generation 3/63 (Ember 2023 mix, V) at the gas rate below.
    gas = (370 + 490) / 2
    gas_share = 3 / 63
    coal = round((832.5 - gas_share * gas) / (1 - gas_share))
    rows = [
        (
            "emission_rate_coal",
            coal,
            "kg CO2 MWh-1",
            f"{RF}: MEE fossil-only factor 2022 0.8325 (V), Ember 2023 mix coal 60%/gas ~3% (V); "
            "Chinese coal fleet 0.80-0.85 (R)",
            "direct combustion rate of coal generation: (832.5 - 3/63 x 430) / (60/63); "
            "just above the fleet range 800-850 because the fossil-only factor includes lower-rate gas",
        ),
        (
            "emission_rate_gas",
            gas,
            "kg CO2 MWh-1",
            f"{RF}: gas 370-490 g/kWh (V), midpoint",
            "direct combustion rate of gas generation",
        ),
        (
            "emission_rate_hydro",
            0,
            "kg CO2 MWh-1",
            "direct emissions only (no combustion)",
            "direct rate of hydro generation",
        ),
        (
            "emission_rate_nuclear",
            0,
            "kg CO2 MWh-1",
            "direct emissions only (no combustion)",
            "direct rate of nuclear generation",
        ),
        (
            "emission_rate_wind",
            0,
            "kg CO2 MWh-1",
            "direct emissions only (no combustion)",
            "direct rate of wind generation",
        ),
        (
            "emission_rate_solar",
            0,
            "kg CO2 MWh-1",
            "direct emissions only (no combustion)",
            "direct rate of solar generation",
        ),
        (
            "emission_rate_biomass",
            0,
            "kg CO2 MWh-1",
            f"{RF}: biogenic CO2 counted as zero, as in the MEE grid factors, which count fossil "
            "generation only (national 0.5366 = fossil-only 0.8325 x a 64.5% fossil share, 2022, V)",
            "direct fossil CO2 rate of biomass generation",
        ),
        (
            "ev_kwh_per_km_rated",
            0.183,
            "kWh km-1",
            f"{RF}: ICCT/NDANEV 2023 test consumption at 8-10 C 15.6-21 kWh/100 km (V), midpoint",
            "rated (test-cycle) BEV consumption",
        ),
        (
            "ev_real_world_factor",
            round(cal["ev_real_world_factor"], 4),
            "1",
            f"{RF}: real-world range 15% below rated (V); factor 1/(1-0.15)",
            "real-world / rated consumption in mild weather",
        ),
        (
            "ev_cold_coefficient",
            round(cal["ev_cold_coefficient"], 5),
            "K-1",
            f"{RF}: range 20-35% below rated at <=0 C, 30-50% at <=-7 C (V); midpoints; "
            "inputs/build/calibrate_ev_temperature.py",
            "fractional consumption increase per K below ev_cold_threshold",
        ),
        (
            "ev_cold_threshold",
            round(cal["ev_cold_threshold"], 2),
            "degC",
            "calibrated with ev_cold_coefficient (two-point fit)",
            "temperature below which cabin/battery heating raises consumption",
        ),
        (
            "ev_hot_coefficient",
            round(cal["ev_hot_coefficient"], 5),
            "K-1",
            "Recurrent US fleet data: range loss 5% at 32 C, 15% at 35 C, via "
            "https://principia-scientific.com/heres-how-hot-weather-affects-electric-car-range",
            "fractional consumption increase per K above ev_hot_threshold (air conditioning)",
        ),
        (
            "ev_hot_threshold",
            round(cal["ev_hot_threshold"], 2),
            "degC",
            "calibrated with ev_hot_coefficient (two-point fit)",
            "temperature above which air conditioning raises consumption",
        ),
        (
            "gasoline_l_per_100km",
            round(5.6 * 1.37, 3),
            "L (100 km)-1",
            f"{RF}: 5.6 L/100 km test (2020) x 1.37 real-world (V)",
            "real-world gasoline car fuel use",
        ),
        (
            "gasoline_kg_co2_per_l_tank_to_wheel",
            2.25,
            "kg CO2 L-1",
            f"{RF}: 2.2-2.3 kg CO2/L tailpipe (NDRC 2007, V derived), midpoint",
            "tailpipe CO2 per litre",
        ),
        (
            "gasoline_kg_co2_per_l_well_to_wheel",
            round(2.25 * 1.20, 3),
            "kg CO2 L-1",
            f"{RF}: well-to-tank adds 15-25% (R), midpoint 20%",
            "well-to-wheel CO2 per litre",
        ),
        (
            "gasoline_cold_coefficient",
            round(cal["gasoline_cold_coefficient"], 5),
            "K-1",
            "US DOE/EPA: fuel economy 12% lower at 20 F than 77 F, city driving, "
            "https://www.energy.gov/eere/vehicles/fact-818-april-21-2014-effect-winter-weather-fuel-economy",
            "fractional fuel-use increase per K below gasoline_cold_threshold",
        ),
        (
            "gasoline_cold_threshold",
            cal["gasoline_cold_threshold"],
            "degC",
            "the 77 F reference temperature of the DOE/EPA figure",
            "no cold penalty above it",
        ),
        (
            "charging_efficiency",
            0.90,
            "1",
            f"{RF}: grid-to-battery 85-95% (R), midpoint",
            "battery energy / grid energy",
        ),
        (
            "td_loss_fraction",
            0.05,
            "1",
            f"{RF}: T&D losses about 5% nationally (R)",
            "transmission and distribution losses as a fraction of generation sent out",
        ),
        (
            "tou_valley_start_hour",
            23,
            "h",
            f"{RF}: public charging peaks near 23:00, private EVs charge overnight (V)",
            "local hour when the valley tariff starts (tou_delayed strategy)",
        ),
        (
            "hydro_utilisation_hours",
            round(1984 * 365 / JAN_AUG_DAYS),
            "h yr-1",
            f"{RF}: hydro Jan-Aug 2023 1,984 h (V), annualised x 365/243",
            "annual full-load hours of conventional hydro (sets the energy budget)",
        ),
        (
            "nuclear_utilisation_hours",
            round(5116 * 365 / JAN_AUG_DAYS),
            "h yr-1",
            f"{RF}: nuclear Jan-Aug 2023 5,116 h (V), annualised x 365/243",
            "annual full-load hours of nuclear (must-run level)",
        ),
        (
            "hydro_run_of_river_share",
            0.5,
            "1",
            "ASSUMPTION: no source in data/ for the run-of-river share of Chinese hydro energy; "
            "half, replaceable (see inputs/README.md, grid)",
            "share of each month's hydro energy that is run-of-river (must-run, flat within the month); "
            "the rest is dispatchable within the month",
        ),
        *[
            (
                f"hydro_share_month_{m:02d}",
                round(d / 365, 6),
                "1",
                "ASSUMPTION: flat by days in the month (no monthly hydro series in data/); replace all "
                "12 with a monthly profile (normalised to sum 1)",
                f"share of the annual hydro energy generated in month {m}",
            )
            for m, d in enumerate([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], start=1)
        ],
        (
            "merit_cost_coal",
            1.0,
            "1",
            "ASSUMPTION: relative short-run cost, only the order matters (coal before gas in China's "
            "dispatch; gas is mostly peaking, Ember 2023 mix gas ~3% (V))",
            "merit-order cost of coal above its CHP floor (lower runs first)",
        ),
        (
            "merit_cost_gas",
            2.0,
            "1",
            "ASSUMPTION: as merit_cost_coal",
            "merit-order cost of gas (lower runs first)",
        ),
        (
            "corridor_loss_fraction",
            0.0,
            "1",
            "no per-corridor loss figure in data/ (only national T&D ~5% (R), counted in td_loss_fraction)",
            "share of the energy sent on a scheduled corridor that is lost before the receiver",
        ),
        (
            "hub_loss_fraction",
            0.0,
            "1",
            "as corridor_loss_fraction",
            "share of the energy sent on a province-hub link (pool mode) that is lost",
        ),
        (
            "wind_capacity_factor_scale",
            round(cf_scale["wind"], 4),
            "1",
            f"{RF}: wind Jan-Aug 2023 1,538 h (V), annualised x 365/243 = {WIND_HOURS:.0f} h; "
            "inputs/build/calibrate_grid.py",
            "factor on the hourly wind capacity factors (capped at 1) that gives the national full-load "
            "hours with the shipped capacity (the ERA5/atlite profiles give ~1,450 h)",
        ),
        (
            "solar_capacity_factor_scale",
            round(cf_scale["solar"], 4),
            "1",
            f"{RF}: solar Jan-Aug 2023 907 h (V), annualised x 365/243 = {SOLAR_HOURS:.0f} h; "
            "inputs/build/calibrate_grid.py",
            "factor on the hourly solar capacity factors (capped at 1) that gives the national "
            "full-load hours with the shipped capacity",
        ),
        (
            "coal_chp_min_load_fraction",
            0.5,
            "1",
            "ASSUMPTION (no published figure found; see inputs/README.md)",
            "heating-season must-run floor of coal CHP as a fraction of coal_chp capacity",
        ),
        (
            "gas_must_run_fraction",
            round(float(gas_must_run_fraction(INPUTS)), 4),
            "1",
            f"{RF}: gas ~3% of the 2023 generation mix (Ember, V); inputs/build/calibrate_grid.py. "
            "ASSUMPTION: flat over the year (gas CHP and contracted gas; no hourly or provincial gas "
            "output in data/)",
            "share of gas capacity that runs every hour, set so that gas gives 3% of national demand; "
            "gas above it is dispatched in merit order",
        ),
        (
            "biomass_generation_share",
            0.02,
            "1",
            f"{RF}: biomass ~2% of the 2023 generation mix (Ember, V). ASSUMPTION: the same share in "
            "every province, flat over the year (no provincial biomass capacity in data/)",
            "biomass generation (must-run) as a share of each province's annual demand",
        ),
        (
            "heating_season_start_month",
            11,
            "month",
            "R: northern district heating runs mid-November to mid-March (commonly cited, e.g. Beijing "
            "15 Nov - 15 Mar); not checked against a source",
            "first month of the CHP must-run season (northern provinces)",
        ),
        (
            "heating_season_end_month",
            3,
            "month",
            "as heating_season_start_month",
            "last month of the CHP must-run season (inclusive)",
        ),
        (
            "base_year",
            2020,
            "year",
            "cars, population, GDP, capacity, annual demand and wind/solar weather describe 2020",
            "year the fleet and grid figures describe (EV share is end-2023, see cities.csv)",
        ),
    ]
    rows = [(n, repr(v) if isinstance(v, float) else str(v), *rest) for n, v, *rest in rows]
    df = pd.DataFrame(rows, columns=["name", "value", "unit", "source", "description"], dtype=str)
    assert df.name.is_unique
    write_csv(df, INPUTS / "parameters.csv")
    print(df[["name", "value", "unit"]].to_string(index=False))


if __name__ == "__main__":
    main()
