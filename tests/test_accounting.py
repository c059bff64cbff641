"""Stage 4 on a hand-computable case."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hourlysim.accounting import account, ev_grid_draw


def test_account_hand_case():
    time = pd.date_range("2021-01-01", periods=2, freq="h")
    draw = xr.DataArray(
        [[10.0, 0.0], [5.0, 5.0]], dims=("city", "time"), coords={"city": [1, 2], "time": time}
    )
    grid = xr.Dataset(
        {
            "average_intensity": (("province", "time"), [[800.0, 600.0], [100.0, 300.0]]),
            "consumption_intensity": (("province", "time"), [[700.0, 700.0], [200.0, 200.0]]),
            "marginal_intensity": (("province", "time"), [[900.0, 900.0], [0.0, 450.0]]),
            "import_fraction": (("province", "time"), [[0.5, 0.0], [0.1, 0.3]]),
        },
        coords={"province": ["AA", "BB"], "time": time},
    )
    city_province = xr.DataArray(["BB", "AA"], dims="city", coords={"city": [1, 2]})
    litres = xr.DataArray(
        [[4.0, 0.0], [2.0, 2.0]], dims=("city", "time"), coords={"city": [1, 2], "time": time}
    )
    result = account(draw, litres, grid, city_province, 2.5)
    ev = result["ev_emissions"]
    # city 1 is in BB: 10 MWh x 100 kg/MWh = 1 t (average), x 200 = 2 t (consumption)
    assert float(ev.sel({"method": "average", "city": 1}).sum()) == pytest.approx(1.0)
    assert float(ev.sel({"method": "consumption", "city": 1}).sum()) == pytest.approx(2.0)
    # city 2 is in AA: 5 x 900 + 5 x 900 = 9 t marginal
    assert float(ev.sel({"method": "marginal", "city": 2}).sum()) == pytest.approx(9.0)
    # gasoline: litres x 2.5 kg/L
    np.testing.assert_allclose(result["gasoline_emissions"].sum("time"), [0.010, 0.010])
    # imported share: city 1: 10 x 0.1 / 10; city 2: (5 x 0.5 + 5 x 0) / 10
    np.testing.assert_allclose(result["import_share"], [0.1, 0.25])


def test_grid_draw_grosses_up_losses():
    load = xr.DataArray([95.0], dims="time")
    assert float(ev_grid_draw(load, 0.05)[0]) == pytest.approx(100.0)
