"""Propensity-score weights, trimming and effective sample size (``spinetrack.stats.weighting``).

Oracles: the defining formulas evaluated by hand (written in each test), central finite
differences for the weight derivatives, and Kish's definition of the effective sample size.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from spinetrack.errors import InputError
from spinetrack.stats.weighting import (
    compute_weights,
    effective_sample_size,
    expit,
    overlap_weights,
    stabilized_iptw,
    trim_by_propensity,
    trimming_bounds,
    weight_derivative,
)


def test_overlap_weights_follow_li_morgan_zaslavsky() -> None:
    """Oracle: Li, Morgan & Zaslavsky (JASA 2018) Table 1 — treated 1 - e, control e. Exact."""
    e = np.array([0.1, 0.4, 0.4, 0.85])
    t = np.array([1, 1, 0, 0])
    np.testing.assert_array_equal(overlap_weights(e, t), [0.9, 0.6, 0.4, 0.85])
    np.testing.assert_array_equal(compute_weights(e, t, "ATO"), overlap_weights(e, t))


def test_stabilized_iptw_hand_values() -> None:
    """Oracle: Robins, Hernán & Brumback (2000) — treated P(T=1)/e, control P(T=0)/(1-e).
    With P(T=1) = 0.5 (mean of t): 0.5/0.25 = 2, 0.5/0.5 = 1, 0.5/(1-0.75) = 2, 0.5/0.5 = 1."""
    e = np.array([0.25, 0.5, 0.75, 0.5])
    t = np.array([1, 1, 0, 0])
    np.testing.assert_allclose(stabilized_iptw(e, t), [2.0, 1.0, 2.0, 1.0], rtol=1e-15)
    np.testing.assert_allclose(stabilized_iptw(e, t, p_treated=0.2), [0.8, 0.4, 3.2, 1.6], rtol=1e-15)
    # a constant propensity equal to the treated share makes every stabilized weight 1
    t2 = np.array([1, 0, 0, 0, 1])
    np.testing.assert_allclose(compute_weights(np.full(5, 0.4), t2, "ATE"), np.ones(5), rtol=1e-15)


@pytest.mark.parametrize("estimand", ["ATO", "ATE"])
def test_weight_derivative_matches_finite_differences(estimand: str) -> None:
    """Oracle: central finite differences of ``w(expit(eta))`` in ``eta`` (h = 1e-6);
    tolerance rtol 1e-7."""
    rng = np.random.default_rng(0)
    eta = rng.normal(0.0, 1.5, 50)
    t = rng.binomial(1, 0.5, 50)
    h = 1e-6

    def w(x: np.ndarray) -> np.ndarray:
        return compute_weights(expit(x), t, estimand, p_treated=0.3)

    numeric = (w(eta + h) - w(eta - h)) / (2 * h)
    np.testing.assert_allclose(weight_derivative(expit(eta), t, estimand, p_treated=0.3), numeric, rtol=1e-7)


def test_trimming_rule_crump_default_and_inclusive_bounds() -> None:
    """Oracle: Crump, Hotz, Imbens & Mitnik (Biometrika 2009) rule of thumb — keep
    0.1 <= e <= 0.9; the bounds themselves are kept."""
    assert trimming_bounds() == (0.1, 0.9)
    assert trimming_bounds(0.05) == (0.05, 0.95)
    e = np.array([0.0999, 0.1, 0.5, 0.9, 0.9001, 0.03])
    np.testing.assert_array_equal(trim_by_propensity(e), [False, True, True, True, False, False])
    np.testing.assert_array_equal(trim_by_propensity(e, alpha=0.0), np.ones(6, dtype=bool))
    with pytest.raises(InputError):
        trimming_bounds(0.5)
    with pytest.raises(InputError):
        trimming_bounds(-0.1)


def test_effective_sample_size_kish() -> None:
    """Oracle: Kish (1965) n_eff = (sum w)^2 / sum w^2: equal weights give n; weights (1, 3)
    give 16 / 10 = 1.6; invariant to rescaling the weights. Exact (rtol 1e-15)."""
    w = np.full(7, 0.3)
    assert effective_sample_size(w.sum(), (w * w).sum()) == pytest.approx(7.0, rel=1e-15)
    assert effective_sample_size(4.0, 10.0) == 1.6
    rng = np.random.default_rng(1)
    w = rng.uniform(0.1, 5.0, 100)
    assert effective_sample_size(w.sum(), w @ w) == pytest.approx(
        effective_sample_size(3 * w.sum(), 9 * (w @ w)), rel=1e-14)
    out = effective_sample_size(np.array([2.0, 4.0]), np.array([2.0, 16.0]))
    np.testing.assert_allclose(out, [2.0, 1.0])
    with pytest.raises(InputError):
        effective_sample_size(1.0, 0.0)


def test_expit_is_stable_at_extremes() -> None:
    """Oracle: 1 / (1 + exp(-x)) evaluated where it does not overflow; no RuntimeWarning at
    |eta| = 800 (pytest turns warnings into errors)."""
    x = np.array([-30.0, -1.0, 0.0, 2.0, 30.0])
    np.testing.assert_allclose(expit(x), 1.0 / (1.0 + np.exp(-x)), rtol=1e-15)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = expit(np.array([-800.0, 800.0]))
    np.testing.assert_array_equal(out, [0.0, 1.0])


def test_weights_refuse_bad_input() -> None:
    with pytest.raises(InputError, match="strictly between"):
        overlap_weights([0.0, 0.5], [1, 0])
    with pytest.raises(InputError, match="0 or 1"):
        overlap_weights([0.2, 0.5], [2, 0])
    with pytest.raises(InputError, match="shape"):
        stabilized_iptw([0.2, 0.5], [1, 0, 1])
    with pytest.raises(InputError):
        stabilized_iptw([0.2, 0.5], [1, 0], p_treated=1.0)
    with pytest.raises(InputError, match="estimand"):
        compute_weights([0.2], [1], "ATT")  # type: ignore[arg-type]
    with pytest.raises(InputError):
        weight_derivative([0.2], [1], "ATT")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="NaN"):
        overlap_weights([np.nan], [1])
