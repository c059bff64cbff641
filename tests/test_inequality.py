from __future__ import annotations

import numpy as np
import pytest

from hourlysim.inequality import gini


def test_gini_hand_cases():
    assert gini(np.array([1.0, 1.0, 1.0])) == pytest.approx(0.0)
    # two people, one has everything: G = 1/2
    assert gini(np.array([0.0, 1.0])) == pytest.approx(0.5)
    # weights act like repeated units
    assert gini(np.array([0.0, 1.0]), np.array([3.0, 1.0])) == pytest.approx(
        gini(np.array([0.0, 0.0, 0.0, 1.0]))
    )


def test_gini_matches_pairwise_definition():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 5, 40)
    w = rng.uniform(0.5, 3, 40)
    pairwise = (w[:, None] * w[None, :] * np.abs(x[:, None] - x[None, :])).sum()
    expected = pairwise / (2 * w.sum() ** 2 * (w * x).sum() / w.sum())
    assert gini(x, w) == pytest.approx(expected)
