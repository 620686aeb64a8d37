"""Weighted effect estimates with intervals for estimated weights (``spinetrack.stats.effects``).

Oracles: statsmodels ``TreatmentEffect`` (IPW with GMM standard errors that include the
propensity model; AIPW), statsmodels OLS with HC0 errors (no-covariate case), a generic
row-level M-estimation sandwich with numerically differentiated bread, a seeded
nonparametric bootstrap, and coverage of a planted effect over 200 seeds.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import statsmodels.api as sm
from statsmodels.treatment.treatment_effects import TreatmentEffect

from spinetrack.errors import InputError
from spinetrack.stats.aipw import (
    AIPWSums,
    aipw_sums_numpy,
    estimate_aipw,
    fit_outcome_regression,
    outcome_regression_sums_numpy,
)
from spinetrack.stats.effects import (
    EffectEstimate,
    estimate_risk_ratio,
    estimate_weighted_difference,
    weighted_mean_from_sums,
    weighting_sums_numpy,
)
from spinetrack.stats.glm import fit_logistic_irls, logistic_crossprod_numpy
from spinetrack.stats.weighting import compute_weights, expit

EFFECT = 2.0
BETA_PS = np.array([-0.3, 0.8, -0.5, 0.3])
GAMMA_Y = np.array([1.0, 1.0, 0.5, -0.7])


def _simulate(
    rng: np.random.Generator, n: int, binary: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Confounded cohort: Z1 raises both the chance of treatment and the outcome.

    Continuous outcome: y = X gamma + 2 t + N(0, 1), a constant effect, so ATE = ATO = 2.
    Binary outcome: P(y = 1) = expit(-1 + 0.6 Z1 - 0.4 Z2 + 0.5 t).
    """
    Z = rng.normal(size=(n, 3))
    X = np.column_stack([np.ones(n), Z])
    t = rng.binomial(1, expit(X @ BETA_PS)).astype(float)
    if binary:
        y = rng.binomial(1, expit(-1.0 + 0.6 * Z[:, 0] - 0.4 * Z[:, 1] + 0.5 * t)).astype(float)
    else:
        y = X @ GAMMA_Y + EFFECT * t + rng.normal(size=n)
    return X, t, y


def _propensity(X: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    fit = fit_logistic_irls(logistic_crossprod_numpy(X, t), X.shape[1])
    return fit.coefficients, expit(X @ fit.coefficients)


def _estimate(X: np.ndarray, t: np.ndarray, y: np.ndarray, estimand: str) -> EffectEstimate:
    _, e = _propensity(X, t)
    return estimate_weighted_difference(weighting_sums_numpy(X, t, y, e, estimand))  # type: ignore[arg-type]


def _aipw(X: np.ndarray, t: np.ndarray, y: np.ndarray) -> EffectEstimate:
    _, e = _propensity(X, t)
    reg = outcome_regression_sums_numpy(X, t, y)
    g1, g0 = fit_outcome_regression(reg[1]), fit_outcome_regression(reg[0])
    return estimate_aipw(aipw_sums_numpy(X, t, y, e, g1, g0))


def _numeric_sandwich(psi, theta: np.ndarray, h: float = 1e-6) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Generic M-estimation sandwich A^-1 B A^-T from row-level estimating functions, with
    A = -d(sum psi)/d theta by central differences (Stefanski & Boos 2002)."""
    k = theta.size
    rows = psi(theta)
    B = rows.T @ rows
    A = np.empty((k, k))
    for j in range(k):
        step = np.zeros(k)
        step[j] = h
        A[:, j] = -(psi(theta + step).sum(0) - psi(theta - step).sum(0)) / (2 * h)
    Ainv = np.linalg.inv(A)
    return Ainv @ B @ Ainv.T


@pytest.mark.parametrize("estimand", ["ATO", "ATE"])
def test_sandwich_from_sums_equals_row_level_m_estimation(estimand: str) -> None:
    """Oracle: the stacked estimating equations (PS score, psi_1, psi_0) evaluated row by row,
    sandwich with a numerically differentiated bread (``_numeric_sandwich``). Checks that the
    engine sums and the finishing algebra are the same M-estimator. Tolerance rtol 1e-6 (finite
    differences); the risk ratio's log-scale SE by the delta method likewise."""
    X, t, _ = _simulate(np.random.default_rng(123), 3000)
    y_bin = np.random.default_rng(124).binomial(1, expit(-0.5 + 0.4 * X[:, 1] + 0.3 * t)).astype(float)
    beta, e = _propensity(X, t)
    for y in (X @ GAMMA_Y + EFFECT * t + np.random.default_rng(125).normal(size=t.size), y_bin):
        sums = weighting_sums_numpy(X, t, y, e, estimand)  # type: ignore[arg-type]
        diff = estimate_weighted_difference(sums)

        def psi(theta: np.ndarray, y: np.ndarray = y) -> np.ndarray:
            b, mu1, mu0 = theta[:-2], theta[-2], theta[-1]
            ee = expit(X @ b)
            w = compute_weights(ee, t, estimand)  # type: ignore[arg-type]
            return np.column_stack([(t - ee)[:, None] * X, t * w * (y - mu1), (1 - t) * w * (y - mu0)])

        V = _numeric_sandwich(psi, np.r_[beta, diff.mean_treated, diff.mean_control])
        se_diff = math.sqrt(V[-2, -2] + V[-1, -1] - 2 * V[-2, -1])
        assert diff.standard_error == pytest.approx(se_diff, rel=1e-6)
        if set(np.unique(y)) <= {0.0, 1.0}:
            rr = estimate_risk_ratio(sums)
            m1, m0 = diff.mean_treated, diff.mean_control
            se_log = math.sqrt(V[-2, -2] / m1**2 + V[-1, -1] / m0**2 - 2 * V[-2, -1] / (m1 * m0))
            assert rr.standard_error == pytest.approx(se_log, rel=1e-6)
            assert rr.estimate == pytest.approx(m1 / m0, rel=1e-14)


def test_iptw_matches_statsmodels_treatment_effect_gmm() -> None:
    """Oracle: statsmodels ``TreatmentEffect(OLS(y, X), t, results_select=Logit(t, X).fit(
    tol=1e-12)).ipw()`` — normalized IPW ATE with GMM standard errors that stack the logit
    score (exactly identified, HC0). Tolerance: estimate rtol 1e-8, SE rtol 1e-7 (statsmodels
    differentiates its moments numerically). The propensity scores stay inside statsmodels'
    clipping range [0.01, 0.99]."""
    X, t, y = _simulate(np.random.default_rng(5), 4000)
    _, e = _propensity(X, t)
    assert e.min() > 0.01 and e.max() < 0.99
    ours = estimate_weighted_difference(weighting_sums_numpy(X, t, y, e, "ATE"))
    select = sm.Logit(t, X).fit(disp=0, tol=1e-12)
    ref = TreatmentEffect(sm.OLS(y, X), t, results_select=select).ipw(return_results=True)
    frame = ref.summary_frame()
    assert ours.estimate == pytest.approx(float(frame.loc["ATE", "coef"]), rel=1e-8)
    assert ours.standard_error == pytest.approx(float(frame.loc["ATE", "std err"]), rel=1e-7)
    assert ours.mean_control == pytest.approx(float(frame.loc["POM0", "coef"]), rel=1e-8)


@pytest.mark.parametrize("estimand", ["ATO", "ATE"])
def test_no_covariates_gives_difference_in_means_with_hc0_se(estimand: str) -> None:
    """Oracle: statsmodels ``OLS(y, [1, t]).fit(cov_type="HC0")``. With an intercept-only
    propensity model e = n1/n for everyone, so the weights are constant within each arm: the
    estimate is the plain difference in means and the PS correction term vanishes (A_mu,beta =
    -dw * SUM_arm (y - mu) = 0), leaving SE^2 = SUM_1 (y - ybar1)^2 / n1^2 + SUM_0 ... / n0^2,
    which is exactly the HC0 variance of the OLS slope. Tolerance rtol 1e-8."""
    rng = np.random.default_rng(31)
    n = 2500
    t = rng.binomial(1, 0.35, n).astype(float)
    y = rng.normal(10 + 3 * t, 2 + t, n)
    X = np.ones((n, 1))
    est = _estimate(X, t, y, estimand)
    ols = sm.OLS(y, sm.add_constant(t)).fit(cov_type="HC0")
    assert est.estimate == pytest.approx(ols.params[1], rel=1e-8)
    assert est.standard_error == pytest.approx(ols.bse[1], rel=1e-8)
    # risk ratio without covariates: Var log RR = (1 - p1) / (n1 p1) + (1 - p0) / (n0 p0)
    yb = (y > 11.5).astype(float)
    _, e = _propensity(X, t)
    rr = estimate_risk_ratio(weighting_sums_numpy(X, t, yb, e, estimand))  # type: ignore[arg-type]
    p1, p0, n1, n0 = yb[t == 1].mean(), yb[t == 0].mean(), t.sum(), n - t.sum()
    assert rr.estimate == pytest.approx(p1 / p0, rel=1e-12)
    se_log = math.sqrt((1 - p1) / (n1 * p1) + (1 - p0) / (n0 * p0))
    assert rr.standard_error == pytest.approx(se_log, rel=1e-8)


@pytest.mark.parametrize("estimand", ["ATO", "ATE"])
def test_sandwich_se_agrees_with_bootstrap(estimand: str) -> None:
    """Oracle: nonparametric bootstrap (B = 400 row resamples, seeded) re-running the whole
    pipeline (IRLS propensity fit, weights, estimate), so it reflects the estimated weights.
    Monte Carlo band: SE ratio in [0.85, 1.15] (bootstrap SE has ~3.5% relative sd)."""
    rng = np.random.default_rng(2718)
    X, t, y = _simulate(rng, 2000)
    est = _estimate(X, t, y, estimand)
    boot = np.empty(400)
    for b in range(boot.size):
        idx = rng.integers(0, t.size, t.size)
        boot[b] = _estimate(X[idx], t[idx], y[idx], estimand).estimate
    assert 0.85 <= est.standard_error / boot.std(ddof=1) <= 1.15


def test_coverage_of_planted_effect_over_200_seeds() -> None:
    """Oracle: the planted constant effect (2.0, so ATE = ATO = 2). Over 200 seeds (n = 1000
    each) the 95% intervals of the ATO, ATE and AIPW estimates cover it with frequency in
    [0.90, 0.99] (binomial sd at 0.95 is 1.5%); the naive difference in means, confounded by
    Z1, covers it in under half of the seeds (the test can fail if the simulation is not
    confounded)."""
    covered = {"ATO": 0, "ATE": 0, "AIPW": 0, "naive": 0}
    seeds = range(1000, 1200)
    for seed in seeds:
        X, t, y = _simulate(np.random.default_rng(seed), 1000)
        for estimand in ("ATO", "ATE"):
            est = _estimate(X, t, y, estimand)
            covered[estimand] += est.ci_low <= EFFECT <= est.ci_high
        dr = _aipw(X, t, y)
        covered["AIPW"] += dr.ci_low <= EFFECT <= dr.ci_high
        y1, y0 = y[t == 1], y[t == 0]
        d = y1.mean() - y0.mean()
        se = math.sqrt(y1.var(ddof=1) / y1.size + y0.var(ddof=1) / y0.size)
        covered["naive"] += abs(d - EFFECT) <= 1.959964 * se
    rate = {k: v / len(seeds) for k, v in covered.items()}
    for k in ("ATO", "ATE", "AIPW"):
        assert 0.90 <= rate[k] <= 0.99, rate
    assert rate["naive"] < 0.5, rate


def _true_risks(estimand: str) -> tuple[float, float]:
    """Population risks under both treatments for the binary simulation, by Monte Carlo over
    2,000,000 covariate draws (seeded): ATE weights everyone equally, ATO weights by
    e(1 - e) (Li et al. 2018). Monte Carlo error ~3e-4, far below the SE (~0.03)."""
    Z = np.random.default_rng(99).normal(size=(2_000_000, 3))
    e = expit(np.column_stack([np.ones(len(Z)), Z]) @ BETA_PS)
    tilt = np.ones(len(Z)) if estimand == "ATE" else e * (1 - e)
    base = -1.0 + 0.6 * Z[:, 0] - 0.4 * Z[:, 1]
    return (float(np.average(expit(base + 0.5), weights=tilt)),
            float(np.average(expit(base), weights=tilt)))


@pytest.mark.parametrize("estimand", ["ATO", "ATE"])
def test_risk_ratio_coverage_over_200_seeds(estimand: str) -> None:
    """Oracle: the true marginal risk ratio of the binary simulation (``_true_risks``). Over
    200 seeds (n = 1500) the log-scale 95% interval covers it with frequency in [0.90, 0.99]."""
    r1, r0 = _true_risks(estimand)
    truth = r1 / r0
    hits = 0
    for seed in range(500, 700):
        X, t, y = _simulate(np.random.default_rng(seed), 1500, binary=True)
        _, e = _propensity(X, t)
        rr = estimate_risk_ratio(weighting_sums_numpy(X, t, y, e, estimand))  # type: ignore[arg-type]
        hits += rr.ci_low <= truth <= rr.ci_high
    assert 0.90 <= hits / 200 <= 0.99


def test_stabilizing_constant_cancels() -> None:
    """Oracle: algebra — stabilized weights P(T=a)/e differ from 1/e by a constant per arm,
    which cancels in the Hajek means and in every block of the sandwich. rtol 1e-12."""
    X, t, y = _simulate(np.random.default_rng(8), 1500)
    _, e = _propensity(X, t)
    a = estimate_weighted_difference(weighting_sums_numpy(X, t, y, e, "ATE", p_treated=0.2))
    b = estimate_weighted_difference(weighting_sums_numpy(X, t, y, e, "ATE", p_treated=0.7))
    assert a.estimate == pytest.approx(b.estimate, rel=1e-12)
    assert a.standard_error == pytest.approx(b.standard_error, rel=1e-12)


def test_engine_may_center_the_outcome() -> None:
    """Oracle: location equivariance — sums of y - c with ``y_offset=c`` reproduce the same
    difference, SE and arm means (rtol 1e-9)."""
    X, t, y = _simulate(np.random.default_rng(17), 1500)
    y = y + 500.0
    _, e = _propensity(X, t)
    a = estimate_weighted_difference(weighting_sums_numpy(X, t, y, e, "ATO"))
    b = estimate_weighted_difference(weighting_sums_numpy(X, t, y - 500.0, e, "ATO"), y_offset=500.0)
    assert b.estimate == pytest.approx(a.estimate, rel=1e-9)
    assert b.standard_error == pytest.approx(a.standard_error, rel=1e-9)
    assert b.mean_treated == pytest.approx(a.mean_treated, rel=1e-12)


def test_aipw_matches_statsmodels_treatment_effect() -> None:
    """Oracle: statsmodels ``TreatmentEffect(OLS(y, X), t, results_select=Logit(...)).aipw()``
    — the same estimator (unweighted OLS outcome model per arm). Point estimate and both
    potential-outcome means: rtol 1e-8. statsmodels' SE stacks all nuisance models (GMM); ours
    is the influence-function SE treating them as known — asymptotically equal when both
    models are correct (Lunceford & Davidian 2004), so: relative difference < 3% at n = 4000."""
    X, t, y = _simulate(np.random.default_rng(44), 4000)
    select = sm.Logit(t, X).fit(disp=0, tol=1e-12)
    e = expit(X @ select.params)
    reg = outcome_regression_sums_numpy(X, t, y)
    g1, g0 = fit_outcome_regression(reg[1]), fit_outcome_regression(reg[0])
    ours = estimate_aipw(aipw_sums_numpy(X, t, y, e, g1, g0))
    ref = TreatmentEffect(sm.OLS(y, X), t, results_select=select).aipw(return_results=True)
    frame = ref.summary_frame()
    assert ours.estimate == pytest.approx(float(frame.loc["ATE", "coef"]), rel=1e-8)
    assert ours.mean_control == pytest.approx(float(frame.loc["POM0", "coef"]), rel=1e-8)
    assert ours.mean_treated == pytest.approx(float(frame.loc["POM1", "coef"]), rel=1e-8)
    assert abs(ours.standard_error / float(frame.loc["ATE", "std err"]) - 1) < 0.03


def test_weighted_mean_from_sums_matches_rows() -> None:
    """Oracle: direct numpy — ``np.average`` for the mean and variance, and
    sqrt(SUM w^2 (y - m)^2) / SUM w for the fixed-weight SE; the Kish fallback
    sqrt(variance / ESS). rtol 1e-10."""
    rng = np.random.default_rng(3)
    y = rng.normal(40, 15, 800)
    w = rng.uniform(0.2, 3.0, 800)
    m = np.average(y, weights=w)
    full = weighted_mean_from_sums(w.sum(), w @ y, w @ (y * y), sum_w2=w @ w, sum_w2y=(w * w) @ y,
                                   sum_w2y2=(w * w) @ (y * y))
    assert full.estimate == pytest.approx(m, rel=1e-12)
    assert full.variance == pytest.approx(np.average((y - m) ** 2, weights=w), rel=1e-10)
    se_fixed = math.sqrt(np.sum(w * w * (y - m) ** 2)) / w.sum()
    assert full.standard_error == pytest.approx(se_fixed, rel=1e-10)
    assert full.effective_n == pytest.approx(w.sum() ** 2 / (w @ w), rel=1e-12)
    kish = weighted_mean_from_sums(w.sum(), w @ y, w @ (y * y), sum_w2=w @ w)
    assert kish.standard_error == pytest.approx(math.sqrt(full.variance / full.effective_n), rel=1e-10)
    assert "Kish" in kish.method
    bare = weighted_mean_from_sums(w.sum(), w @ y)
    assert math.isnan(bare.standard_error) and bare.estimate == pytest.approx(m)


def test_effect_estimate_is_frozen_and_serialisable() -> None:
    X, t, y = _simulate(np.random.default_rng(2), 600)
    est = _estimate(X, t, y, "ATO")
    d = json.loads(json.dumps(est.as_dict()))
    assert d["estimand"] == "ATO" and d["measure"] == "mean difference" and d["null_value"] == 0.0
    assert d["ci_low"] < d["estimate"] < d["ci_high"] and d["n_treated"] + d["n_control"] == 600
    assert 0 < est.ess_treated <= est.n_treated  # type: ignore[operator]
    with pytest.raises(AttributeError):
        est.estimate = 0.0  # type: ignore[misc]


def test_effects_refuse_bad_input() -> None:
    X, t, y = _simulate(np.random.default_rng(1), 300)
    _, e = _propensity(X, t)
    sums = weighting_sums_numpy(X, t, y, e, "ATO")
    with pytest.raises(InputError, match="measure"):
        estimate_weighted_difference(sums, measure="odds ratio")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="positive weighted risk"):
        estimate_risk_ratio(weighting_sums_numpy(X, t, np.zeros_like(y), e, "ATO"))
    with pytest.raises(InputError, match="both arms"):
        weighting_sums_numpy(X, np.ones_like(t), y, e, "ATO")
    with pytest.raises(InputError, match="estimand"):
        weighting_sums_numpy(X, t, y, e, "ATT")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="singular"):
        fit_outcome_regression(outcome_regression_sums_numpy(np.column_stack([X, X[:, 1]]), t, y)[1])
    with pytest.raises(InputError):
        estimate_aipw(AIPWSums(n=3, n_treated=0, sum_psi=1.0, sum_psi2=1.0, sum_psi1=1.0, sum_psi0=0.0))
    with pytest.raises(InputError):
        weighted_mean_from_sums(0.0, 1.0)
