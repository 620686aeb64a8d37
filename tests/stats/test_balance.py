"""Standardized mean differences from weighted sums (``spinetrack.stats.balance``).

Oracles: a direct numpy computation on row data (``np.average`` for the weighted mean and
variance, Austin 2009's pooled SD), and Li, Morgan & Zaslavsky (2018) Theorem 3: overlap
weights from a logistic propensity model balance the model's covariates exactly.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from spinetrack.errors import InputError
from spinetrack.stats.balance import ArmMomentSums, balance_sums_numpy, compute_balance
from spinetrack.stats.glm import fit_logistic_irls, logistic_crossprod_numpy
from spinetrack.stats.weighting import expit, overlap_weights, stabilized_iptw


def _cohort(rng: np.random.Generator, n: int = 3000) -> tuple[np.ndarray, np.ndarray, list[str]]:
    age = rng.normal(58, 12, n)
    bmi = rng.normal(28, 5, n)
    smoker = rng.binomial(1, 0.25, n).astype(float)
    diabetes = rng.binomial(1, 0.15, n).astype(float)
    odi = rng.uniform(10, 80, n)
    X = np.column_stack([age, bmi, smoker, diabetes, odi])
    lin = -0.5 + 0.04 * (age - 58) + 0.05 * (bmi - 28) - 0.6 * smoker + 0.3 * diabetes + 0.02 * (odi - 45)
    t = rng.binomial(1, expit(lin)).astype(float)
    return X, t, ["age", "bmi", "smoker", "diabetes", "odi"]


def _smd_rows(X: np.ndarray, t: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Austin (2009): d = (m1 - m0) / sqrt((s1^2 + s0^2) / 2), weighted moments by np.average."""
    out = []
    for j in range(X.shape[1]):
        m, v = [], []
        for arm in (1, 0):
            s = t == arm
            mj = np.average(X[s, j], weights=w[s])
            m.append(mj)
            v.append(np.average((X[s, j] - mj) ** 2, weights=w[s]))
        out.append((m[0] - m[1]) / np.sqrt((v[0] + v[1]) / 2))
    return np.array(out)


@pytest.mark.parametrize("weighting", ["none", "overlap", "iptw"])
def test_smd_matches_direct_numpy_on_rows(weighting: str) -> None:
    """Oracle: direct numpy on the rows (``_smd_rows``). Tolerance rtol 1e-9 (the sums form
    E[x^2] - E[x]^2 loses a few digits to cancellation for age and BMI)."""
    rng = np.random.default_rng(42)
    X, t, names = _cohort(rng)
    e = np.clip(expit(rng.normal(size=t.size)), 0.05, 0.95)
    w = {"none": np.ones_like(t), "overlap": overlap_weights(e, t), "iptw": stabilized_iptw(e, t)}[weighting]
    table = compute_balance(balance_sums_numpy(X, t, w), names)
    np.testing.assert_allclose(table.smd, _smd_rows(X, t, w), rtol=1e-9)
    for arm, mean in ((1, table.mean_treated), (0, table.mean_control)):
        s = t == arm
        np.testing.assert_allclose(mean, np.average(X[s], axis=0, weights=w[s]), rtol=1e-12)
    np.testing.assert_array_equal(table.flagged, np.abs(table.smd) > 0.1)
    assert table.max_abs_smd == pytest.approx(np.max(np.abs(table.smd)))
    assert table.ess_treated == pytest.approx(w[t == 1].sum() ** 2 / (w[t == 1] ** 2).sum(), rel=1e-12)
    assert table.n_treated == int(t.sum()) and table.n_control == int((1 - t).sum())


def test_smd_binary_uses_p_times_one_minus_p() -> None:
    """Oracle: Austin (2009) binary SMD (p1 - p0) / sqrt((p1(1-p1) + p0(1-p0)) / 2) by hand:
    p1 = 3/10, p0 = 1/10 → 0.2 / sqrt((0.21 + 0.09) / 2) = 0.2 / sqrt(0.15). Exact to 1e-15."""
    x1 = np.r_[np.ones(3), np.zeros(7)]
    x0 = np.r_[np.ones(1), np.zeros(9)]
    X = np.r_[x1, x0][:, None]
    t = np.r_[np.ones(10), np.zeros(10)]
    table = compute_balance(balance_sums_numpy(X, t), ["smoker"])
    assert table.smd[0] == pytest.approx(0.2 / np.sqrt(0.15), rel=1e-14)
    assert table.variance_treated[0] == pytest.approx(0.21, rel=1e-14)
    assert bool(table.flagged[0])


def test_overlap_weights_balance_logistic_covariates_exactly() -> None:
    """Oracle: Li, Morgan & Zaslavsky (JASA 2018), Theorem 3 — with e from the logistic MLE,
    overlap-weighted means of every covariate in the model are equal across arms, so each
    SMD is 0. Tolerance: |SMD| < 1e-8 (IRLS converged to tol 1e-10), while the unweighted
    table shows real imbalance (max |SMD| > 0.1)."""
    X, t, names = _cohort(np.random.default_rng(9))
    design = np.column_stack([np.ones(t.size), X])
    fit = fit_logistic_irls(logistic_crossprod_numpy(design, t), design.shape[1])
    e = expit(design @ fit.coefficients)
    before = compute_balance(balance_sums_numpy(X, t), names)
    after = compute_balance(balance_sums_numpy(X, t, overlap_weights(e, t)), names)
    assert before.max_abs_smd > 0.1 and before.n_flagged >= 1
    assert after.max_abs_smd < 1e-8 and after.n_flagged == 0


def test_smd_invariant_to_engine_centering() -> None:
    """Oracle: SMD is location-invariant, so an engine may send sums of x - c (same c in both
    arms). Tolerance rtol 1e-9."""
    rng = np.random.default_rng(3)
    X, t, names = _cohort(rng)
    w = rng.uniform(0.2, 2.0, t.size)
    shift = np.array([58.0, 28.0, 0.0, 0.0, 45.0])
    a = compute_balance(balance_sums_numpy(X, t, w), names)
    b = compute_balance(balance_sums_numpy(X - shift, t, w), names)
    np.testing.assert_allclose(a.smd, b.smd, rtol=1e-9)


def test_threshold_is_strict_and_configurable() -> None:
    """SMD exactly at the threshold is not flagged (|SMD| > threshold)."""
    # treated mean 0.1, control 0, both variances 1 → SMD exactly 0.1
    treated = ArmMomentSums(sum_w=1.0, sum_wx=np.array([0.1]), sum_wx2=np.array([1.01]))
    control = ArmMomentSums(sum_w=1.0, sum_wx=np.array([0.0]), sum_wx2=np.array([1.0]))
    table = compute_balance({"treated": treated, "control": control}, ["x"])
    assert table.smd[0] == pytest.approx(0.1, rel=1e-12)
    assert not bool(table.flagged[0])
    assert bool(compute_balance({1: treated, 0: control}, ["x"], threshold=0.05).flagged[0])


def test_per_covariate_weight_totals_for_missing_values() -> None:
    """Oracle: direct numpy on the non-missing rows of each covariate (the engine sums over
    rows where x_j is not null, so sum_w differs per covariate). rtol 1e-9."""
    rng = np.random.default_rng(5)
    X, t, names = _cohort(rng, n=1500)
    X[rng.random(X.shape) < 0.1] = np.nan
    w = rng.uniform(0.5, 1.5, t.size)
    arms = {}
    for arm in (1, 0):
        s = t == arm
        ok = ~np.isnan(X[s])
        xs = np.where(ok, X[s], 0.0)
        ws = w[s][:, None] * ok
        arms[arm] = ArmMomentSums(sum_w=ws.sum(0), sum_wx=(ws * xs).sum(0), sum_wx2=(ws * xs * xs).sum(0))
    table = compute_balance(arms, names)
    for j in range(X.shape[1]):
        keep = ~np.isnan(X[:, j])
        ref = _smd_rows(X[keep][:, [j]], t[keep], w[keep])
        assert table.smd[j] == pytest.approx(ref[0], rel=1e-9)


def test_constant_covariates_and_serialisation() -> None:
    X = np.column_stack([np.ones(6), np.r_[np.ones(3), np.zeros(3)]])
    t = np.r_[np.ones(3), np.zeros(3)]
    table = compute_balance(balance_sums_numpy(X, t), ["constant", "proxy"])
    assert table.smd[0] == 0.0 and not bool(table.flagged[0])
    assert table.smd[1] == np.inf and bool(table.flagged[1])
    d = json.loads(json.dumps(table.as_dict()))
    assert d["rows"][1]["smd"] is None and d["rows"][1]["flagged"] is True
    assert d["n_flagged"] == 1


def test_balance_refuses_bad_input() -> None:
    arm = ArmMomentSums(sum_w=2.0, sum_wx=np.array([1.0]), sum_wx2=np.array([1.0]))
    with pytest.raises(InputError, match="arm 0"):
        compute_balance({1: arm}, ["x"])
    with pytest.raises(InputError, match="covariate sums"):
        compute_balance({1: arm, 0: arm}, ["x", "y"])
    bad = ArmMomentSums(sum_w=0.0, sum_wx=np.array([1.0]), sum_wx2=np.array([1.0]))
    with pytest.raises(InputError, match="positive"):
        compute_balance({1: arm, 0: bad}, ["x"])
    with pytest.raises(InputError):
        compute_balance({1: arm, 0: arm}, [])
    with pytest.raises(InputError):
        balance_sums_numpy(np.ones((3, 1)), np.array([1, 0, 2]))
