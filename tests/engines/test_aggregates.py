"""The engine-side aggregates equal the same sums computed with numpy on the rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from spinetrack.analysis.aggregates import column_moments, logistic_crossprod, weighted_moments_by_arm


@pytest.fixture
def data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(42)
    n = 3000
    x1, x2 = rng.normal(size=n), rng.binomial(1, 0.3, n).astype(float)
    t = rng.binomial(1, 1 / (1 + np.exp(-(0.3 + 0.8 * x1 - 0.5 * x2))), n).astype(float)
    return {"x1": x1, "x2": x2, "t": t, "w": rng.uniform(0.2, 2.0, n)}


def test_logistic_crossprod_matches_numpy(data: dict[str, np.ndarray], any_engine: Any) -> None:
    X = np.column_stack([np.ones(len(data["t"])), data["x1"], data["x2"]])
    beta = np.array([0.1, 0.5, -0.2])
    eta = X @ beta
    mu = 1 / (1 + np.exp(-eta))
    want_xtwx = X.T @ (X * (mu * (1 - mu))[:, None])
    want_score = X.T @ (data["t"] - mu)
    want_ll = float(np.sum(data["t"] * eta - np.log1p(np.exp(eta))))
    any_engine.register_arrays("d", data)
    xtwx, score, ll = logistic_crossprod(any_engine, "d", ["x1", "x2"])(beta)
    np.testing.assert_allclose(xtwx, want_xtwx, rtol=1e-12)
    np.testing.assert_allclose(score, want_score, rtol=1e-10, atol=1e-9)
    assert ll == pytest.approx(want_ll, rel=1e-12)


def test_moments_match_numpy(data: dict[str, np.ndarray], any_engine: Any) -> None:
    any_engine.register_arrays("d", data)
    n, s1, s2 = column_moments(any_engine, "d", ["x1", "x2"])
    by_arm = weighted_moments_by_arm(any_engine, "d", ["x1", "x2"])
    assert n == len(data["t"])
    np.testing.assert_allclose(s1, [data["x1"].sum(), data["x2"].sum()], rtol=1e-12)
    np.testing.assert_allclose(s2, [(data["x1"] ** 2).sum(), (data["x2"] ** 2).sum()], rtol=1e-12)
    for arm in (0, 1):
        m = data["t"] == arm
        w = data["w"][m]
        sw, sw2, swx, swx2 = by_arm[arm]
        assert sw == pytest.approx(w.sum(), rel=1e-12) and sw2 == pytest.approx((w * w).sum(), rel=1e-12)
        np.testing.assert_allclose(swx, [(w * data["x1"][m]).sum(), (w * data["x2"][m]).sum()], rtol=1e-12)
        np.testing.assert_allclose(swx2, [(w * data["x1"][m] ** 2).sum(), (w * data["x2"][m] ** 2).sum()],
                                   rtol=1e-12)
