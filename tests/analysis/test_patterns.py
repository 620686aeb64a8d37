"""Covariate-pattern sums (analysis.patterns) against the direct numpy computation.

Oracle: ``X' diag(u) X`` and ``X' u`` computed row by row with numpy on the same rows; the
pattern route regroups the same sums, so they must agree to rounding (1e-12 relative).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from spinetrack.analysis.aggregates import design_crossprod_by_arm, grouped_sums, logistic_crossprod
from spinetrack.analysis.patterns import PATTERN_CODE, Design
from spinetrack.engines import get_engine
from spinetrack.stats import logistic_crossprod_numpy


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    rng = np.random.default_rng(11)
    n = 4000
    b1 = (rng.random(n) < 0.4).astype(float)
    b2 = (rng.random(n) < 0.1).astype(float)
    level = rng.integers(0, 3, n)            # a 3-level factor as two indicators
    b3, b4 = (level == 1).astype(float), (level == 2).astype(float)
    c1, c2 = rng.normal(size=n), rng.gamma(2.0, 1.0, n)
    u = rng.uniform(0.1, 2.0, n)
    eta = -0.3 + 0.8 * b1 - 0.5 * b2 + 0.4 * b3 - 0.2 * b4 + 0.6 * c1 - 0.3 * c2
    t = (rng.random(n) < 1.0 / (1.0 + np.exp(-eta))).astype(float)
    bits = {"b1": 0, "b2": 1, "b3": 2, "b4": 3}
    code = (b1 + 2 * b2 + 4 * b3 + 8 * b4).astype(np.int64)
    cols = {"b1": b1, "c1": c1, "b2": b2, "b3": b3, "c2": c2, "b4": b4}  # interleaved on purpose
    return {"cols": cols, "bits": bits, "code": code, "u": u, "t": t, "n": n}


@pytest.fixture(scope="module")
def duck(data: dict[str, Any]) -> Any:
    eng = get_engine("duckdb")
    eng.register_arrays("d", {**data["cols"], PATTERN_CODE: data["code"], "u": data["u"], "t": data["t"]})
    yield eng
    eng.close()


def _x(data: dict[str, Any]) -> np.ndarray:
    return np.column_stack([np.ones(data["n"]), *data["cols"].values()])


def test_vector_matrix_and_squares_equal_the_direct_sums(duck: Any, data: dict[str, Any]) -> None:
    names = list(data["cols"])
    design = Design.of(names, data["bits"])
    assert design.continuous == ["c1", "c2"] and design.keys == [PATTERN_CODE]
    exprs = design.matrix("u") + design.vector("u * t") + design.vector("u") + design.squares("u")
    g = grouped_sums(duck, "d", design, [], exprs)
    X, u, t = _x(data), data["u"], data["t"]
    np.testing.assert_allclose(g.matrix(), X.T @ (X * u[:, None]), rtol=1e-12)
    np.testing.assert_allclose(g.vector(), X.T @ (u * t), rtol=1e-12)
    sx, sx2 = g.vector_and_squares()
    np.testing.assert_allclose(sx, (X[:, 1:] * u[:, None]).sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(sx2, (X[:, 1:] ** 2 * u[:, None]).sum(axis=0), rtol=1e-12)


def test_grouped_by_arm_equals_per_arm_sums(duck: Any, data: dict[str, Any]) -> None:
    names = list(data["cols"])
    by_arm = design_crossprod_by_arm(duck, "d", names, "t", data["bits"])
    X = _x(data)
    for arm in (0, 1):
        rows = data["t"] == arm
        np.testing.assert_allclose(by_arm[arm], X[rows].T @ X[rows], rtol=1e-12)


def test_logistic_crossprod_with_patterns_equals_the_numpy_oracle(duck: Any, data: dict[str, Any]) -> None:
    names = list(data["cols"])
    beta = np.array([-0.2, 0.5, 0.3, -0.4, 0.2, -0.1, 0.05])
    with_patterns = logistic_crossprod(duck, "d", names, "t", data["bits"])(beta)
    direct = logistic_crossprod(duck, "d", names, "t")(beta)
    oracle = logistic_crossprod_numpy(_x(data), data["t"])(beta)
    for got in (with_patterns, direct):
        np.testing.assert_allclose(got[0], oracle[0], rtol=1e-11)
        np.testing.assert_allclose(got[1], oracle[1], rtol=1e-9, atol=1e-9)
        assert got[2] == pytest.approx(oracle[2], rel=1e-12)


def test_without_a_code_the_design_writes_direct_sums() -> None:
    d = Design.of(["a", "b"], None)
    assert d.keys == [] and d.continuous == ["a", "b"]
    assert d.matrix("w") == ["SUM(w)", "SUM((w) * a)", "SUM((w) * b)", "SUM((w) * a * a)", "SUM((w) * a * b)",
                             "SUM((w) * b * b)"]
