"""``spinetrack.stats.prediction`` against established implementations.

Oracles (named in each test): lifelines ``concordance_index`` and ``WeibullAFTFitter``,
statsmodels ``OLS``, ``Logit``, ``GLM`` (with offset) and ``proportion_confint``, and the
definitions themselves (Brier score, reliability groups). Data are simulated with fixed seeds;
tolerances are stated per test.
"""

from __future__ import annotations

import doctest
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from lifelines import WeibullAFTFitter
from lifelines.utils import concordance_index
from statsmodels.stats.proportion import proportion_confint

from spinetrack.errors import InputError
from spinetrack.stats import _regression as R
from spinetrack.stats import prediction as P


def _binary_data(seed: int, n: int = 500) -> tuple[np.ndarray, np.ndarray]:
    g = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), g.normal(size=n), (g.random(n) < 0.3).astype(float), g.normal(size=n)])
    eta = -0.4 + 0.8 * X[:, 1] - 0.7 * X[:, 2] + 0.2 * X[:, 3]
    y = (g.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    return X, y


def _survival_data(seed: int, n: int = 400) -> pd.DataFrame:
    """Weibull times (shape 1.5, log λ = 3 + 0.4 x1 − 0.6 x2), uniform censoring, whole days
    (so there are tied times)."""
    g = np.random.default_rng(seed)
    x1, x2 = g.normal(size=n), (g.random(n) < 0.4).astype(float)
    T = np.exp(3 + 0.4 * x1 - 0.6 * x2) * (-np.log(g.random(n))) ** (1 / 1.5)
    C = g.uniform(5, 60, n)
    return pd.DataFrame({"x1": x1, "x2": x2, "t": np.round(np.minimum(T, C)) + 1.0, "e": (T <= C).astype(float)})


@pytest.mark.parametrize("module", [P, R], ids=["prediction", "_regression"])
def test_docstring_examples_run(module) -> None:  # type: ignore[no-untyped-def]
    """Oracle: the expected output written in each docstring (doctest)."""
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 5 and result.failed == 0


def test_prediction_import_is_pure() -> None:
    """Importing ``spinetrack.stats.prediction`` loads no scipy, pandas, statsmodels, lifelines,
    engines or I/O libraries (the pure-core rule)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys\nimport spinetrack.stats.prediction\n"
            "bad = {'pandas', 'scipy', 'statsmodels', 'lifelines', 'duckdb', 'pyspark', 'matplotlib', 'sqlalchemy'}\n"
            "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in bad)))\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2] / "src")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", proc.stdout


# ----------------------------------------------------------------------------- discrimination

def test_c_statistic_binary_against_lifelines_concordance_index() -> None:
    """Oracle: lifelines.utils.concordance_index(y, score) with every row 'observed' — pairs with
    different y are the comparable pairs, ties in the score count ½. Scores rounded to one
    decimal so that there are many ties. Tolerance 1e-12."""
    X, y = _binary_data(1)
    score = np.round(X[:, 1], 1)
    assert P.c_statistic(y, score) == pytest.approx(concordance_index(y, score), abs=1e-12)


def test_harrell_c_against_lifelines_with_censoring_and_ties() -> None:
    """Oracle: lifelines.utils.concordance_index(time, predicted_time, event) on censored data
    with tied times (whole days), tied predictions and events and censorings at the same time.
    Tolerance 1e-12."""
    df = _survival_data(2)
    pred = np.round(0.4 * df.x1 - 0.6 * df.x2, 1).to_numpy()
    got = P.harrell_c(df.t, df.e, pred)
    assert got == pytest.approx(concordance_index(df.t, pred, df.e), abs=1e-12)
    assert 0.6 < got < 0.8  # the prediction carries the planted signal


def test_harrell_c_large_sample_against_lifelines() -> None:
    """Oracle: lifelines.utils.concordance_index on 20,000 rows with 364 distinct times and
    heavy ties in the prediction (the bit-decomposition count must agree exactly)."""
    g = np.random.default_rng(3)
    t = g.integers(1, 365, 20_000).astype(float)
    e = (g.random(20_000) < 0.7).astype(float)
    pred = np.round(g.normal(size=20_000) + t / 100, 1)
    assert P.harrell_c(t, e, pred) == pytest.approx(concordance_index(t, pred, e), abs=1e-12)


def test_c_statistic_refuses_one_class() -> None:
    with pytest.raises(InputError):
        P.c_statistic([1, 1, 1], [0.2, 0.3, 0.4])


# ----------------------------------------------------------------------------- fits

def test_linear_fit_against_statsmodels_ols() -> None:
    """Oracle: statsmodels OLS(y, X).fit() — params, bse, scale (s²) and rsquared. Tolerance
    1e-8 (relative)."""
    g = np.random.default_rng(4)
    X = np.column_stack([np.ones(300), g.normal(size=300), g.normal(size=300) * 10, (g.random(300) < 0.5)])
    y = X @ np.array([25.0, -3.2, 0.4, 2.0]) + g.normal(0, 8, 300)
    ours = P.fit_linear(X, y)
    ref = sm.OLS(y, X).fit()
    np.testing.assert_allclose(ours.coefficients, ref.params, rtol=1e-8)
    np.testing.assert_allclose(ours.standard_errors, ref.bse, rtol=1e-8)
    assert ours.sigma ** 2 == pytest.approx(ref.scale, rel=1e-8)
    assert ours.r2 == pytest.approx(ref.rsquared, rel=1e-8)


def test_logistic_fit_against_statsmodels_logit() -> None:
    """Oracle: statsmodels Logit(y, X).fit(method="newton", tol=1e-12) — params and bse.
    Tolerance 1e-8."""
    X, y = _binary_data(5)
    ours = P.fit_logistic(X, y)
    ref = sm.Logit(y, X).fit(method="newton", tol=1e-12, disp=0)
    np.testing.assert_allclose(ours.coefficients, ref.params, atol=1e-8)
    np.testing.assert_allclose(ours.standard_errors, ref.bse, atol=1e-8)


def test_weibull_aft_against_lifelines() -> None:
    """Oracle: lifelines WeibullAFTFitter().fit(df, "t", "e") (no penalty). Parametrisation:
    lifelines' lambda_ coefficients are our β (log λ = x'β) and its rho_ intercept is our
    log k (σ = 1/k); both log-likelihoods are of the density of T. Tolerance 1e-5 (lifelines
    stops its optimiser earlier than our Newton iterations)."""
    df = _survival_data(6)
    X = np.column_stack([np.ones(len(df)), df.x1, df.x2])
    ours = P.fit_weibull_aft(X, df.t, df.e)
    ref = WeibullAFTFitter().fit(df, "t", "e")
    lam = ref.params_["lambda_"]
    np.testing.assert_allclose(ours.coefficients, [lam["Intercept"], lam["x1"], lam["x2"]], atol=1e-5)
    assert ours.log_shape == pytest.approx(ref.params_["rho_"]["Intercept"], abs=1e-5)
    assert ours.log_likelihood == pytest.approx(ref.log_likelihood_, abs=1e-5)
    se = ref.standard_errors_
    np.testing.assert_allclose(ours.standard_errors, [se["lambda_"]["Intercept"], se["lambda_"]["x1"],
                                                      se["lambda_"]["x2"], se["rho_"]["Intercept"]], atol=1e-5)
    assert ours.converged and ours.n_events == int(df.e.sum())
    # the predicted median: lifelines predict_median = λ (log 2)^{1/ρ}
    pr = P.predict_median_time(X[:5], ours.coefficients, ours.log_shape, ours.covariance)
    np.testing.assert_allclose(pr.estimate, ref.predict_median(df.iloc[:5]).to_numpy(), rtol=1e-5)


def test_weibull_refuses_non_positive_times() -> None:
    with pytest.raises(InputError):
        P.fit_weibull_aft(np.ones((3, 1)), [0.0, 1.0, 2.0], [1, 1, 0])


def test_weibull_with_tied_times_fails_cleanly_not_with_an_overflow() -> None:
    """Identical event times have no finite maximum-likelihood shape (the log-likelihood rises
    without bound as k → ∞): the fit must stop with the package's errors, which the bootstrap
    and the trainer catch (a failed resample; a model that falls back), never an OverflowError
    from exp(log k). (A bootstrap resample of a small arm hit this in CI.)"""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", P.ConvergenceWarning)  # as the bootstrap refits run
        with pytest.raises((InputError, P.ConvergenceWarning)):
            P.fit_weibull_aft(np.ones((6, 1)), [5.0] * 6, [1] * 6)
    with pytest.warns(P.ConvergenceWarning), pytest.raises(InputError, match="singular"):
        P.fit_weibull_aft(np.ones((6, 1)), [5.0] * 6, [1] * 6)


# ----------------------------------------------------------------------------- predictions

def test_predicted_probability_interval_against_statsmodels_glm() -> None:
    """Oracle: statsmodels GLM(y, X, Binomial()).fit().get_prediction(X).summary_frame() — the
    interval for the mean built on the logit (link) scale and transformed back. Tolerance 1e-7."""
    X, y = _binary_data(7)
    fit = P.fit_logistic(X, y)
    ref = sm.GLM(y, X, family=sm.families.Binomial()).fit(tol=1e-12).get_prediction(X[:10]).summary_frame()
    pr = P.predict_probability(X[:10], fit.coefficients, fit.covariance)
    np.testing.assert_allclose(pr.estimate, ref["mean"], atol=1e-7)
    np.testing.assert_allclose(pr.ci_low, ref["mean_ci_lower"], atol=1e-7)
    np.testing.assert_allclose(pr.ci_high, ref["mean_ci_upper"], atol=1e-7)


def test_predicted_mean_standard_error_against_statsmodels_ols() -> None:
    """Oracle: statsmodels OLS get_prediction(X).se_mean (√(x'Σx)); the interval here uses the
    normal quantile (statsmodels uses Student t), so only the SE is compared. Tolerance 1e-8."""
    g = np.random.default_rng(8)
    X = np.column_stack([np.ones(200), g.normal(size=200)])
    y = 3 + 2 * X[:, 1] + g.normal(size=200)
    fit = P.fit_linear(X, y)
    ref = sm.OLS(y, X).fit().get_prediction(X[:5])
    pr = P.predict_mean(X[:5], fit.coefficients, fit.covariance)
    np.testing.assert_allclose(pr.standard_error, ref.se_mean, rtol=1e-8)
    np.testing.assert_allclose(pr.ci_high - pr.estimate, 1.959963984540054 * pr.standard_error, rtol=1e-12)


def test_median_time_interval_is_the_delta_method_on_the_log_scale() -> None:
    """Oracle: the delta method written out independently — the gradient of
    log m(β, γ) = x'β + e^{−γ} log log 2 taken by central finite differences, then
    exp(log m ± 1.959964 √(g'Σg)). Tolerance 1e-6."""
    df = _survival_data(9)
    X = np.column_stack([np.ones(len(df)), df.x1, df.x2])
    fit = P.fit_weibull_aft(X, df.t, df.e)
    theta = np.append(fit.coefficients, fit.log_shape)
    x = X[3]

    def log_median(th: np.ndarray) -> float:
        return float(x @ th[:-1] + math.exp(-th[-1]) * math.log(math.log(2.0)))

    h = 1e-6
    grad = np.array([(log_median(theta + h * e) - log_median(theta - h * e)) / (2 * h) for e in np.eye(theta.size)])
    se = math.sqrt(grad @ fit.covariance @ grad)
    pr = P.predict_median_time(x, fit.coefficients, fit.log_shape, fit.covariance)
    assert pr.ci_low[0] == pytest.approx(math.exp(log_median(theta) - 1.959963984540054 * se), rel=1e-6)
    assert pr.ci_high[0] == pytest.approx(math.exp(log_median(theta) + 1.959963984540054 * se), rel=1e-6)


# ----------------------------------------------------------------------------- calibration

def test_binary_calibration_against_statsmodels() -> None:
    """Oracle: calibration intercept = statsmodels GLM(y, 1, Binomial(), offset=lp) intercept
    (and its SE); calibration slope = statsmodels Logit(y, [1, lp]) coefficient of lp (and its
    SE). The linear predictor comes from a model fitted on other data (a miscalibrated
    prediction). Tolerance 1e-7."""
    X, y = _binary_data(10)
    X2, y2 = _binary_data(11)
    lp = X2 @ P.fit_logistic(X, y).coefficients * 1.3 + 0.2
    cal = P.calibrate_binary(y2, lp)
    off = sm.GLM(y2, np.ones((len(y2), 1)), family=sm.families.Binomial(), offset=lp).fit(tol=1e-12)
    slope = sm.Logit(y2, np.column_stack([np.ones(len(y2)), lp])).fit(method="newton", tol=1e-12, disp=0)
    assert cal.intercept == pytest.approx(off.params[0], abs=1e-7)
    assert cal.intercept_se == pytest.approx(off.bse[0], abs=1e-7)
    assert cal.slope == pytest.approx(slope.params[1], abs=1e-7)
    assert cal.slope_se == pytest.approx(slope.bse[1], abs=1e-7)
    assert cal.slope < 1.0  # predictions made too extreme by the factor 1.3


def test_continuous_calibration_against_statsmodels() -> None:
    """Oracle: statsmodels GLM(y, 1, Gaussian(), offset=ŷ) intercept (= mean residual) and
    OLS(y, [1, ŷ]) slope. Tolerance 1e-8."""
    g = np.random.default_rng(12)
    pred = g.normal(40, 10, 300)
    y = 5 + 0.8 * pred + g.normal(0, 6, 300)
    cal = P.calibrate_continuous(y, pred)
    off = sm.GLM(y, np.ones((300, 1)), family=sm.families.Gaussian(), offset=pred).fit()
    ols = sm.OLS(y, np.column_stack([np.ones(300), pred])).fit()
    assert cal.intercept == pytest.approx(off.params[0], rel=1e-8)
    assert cal.intercept_se == pytest.approx(off.bse[0], rel=1e-8)
    assert cal.slope == pytest.approx(ols.params[1], rel=1e-8)
    assert cal.slope_model_intercept == pytest.approx(ols.params[0], rel=1e-8)


def test_brier_score_is_the_mean_squared_error_of_the_probability() -> None:
    """Oracle: the definition, Brier (1950): (1/n) Σ (p_i − y_i)², written as a loop."""
    X, y = _binary_data(13)
    p = 1 / (1 + np.exp(-(X @ P.fit_logistic(X, y).coefficients)))
    direct = sum((pi - yi) ** 2 for pi, yi in zip(p.tolist(), y.tolist(), strict=True)) / len(y)
    assert P.brier_score(y, p) == pytest.approx(direct, rel=1e-12)


def test_reliability_curve_groups_and_wilson_interval() -> None:
    """Oracle: the definition (10 groups of equal size by predicted risk: mean prediction and
    observed share per group) and statsmodels proportion_confint(method="wilson") for the
    interval. Tolerance 1e-12."""
    X, y = _binary_data(14, n=503)
    p = 1 / (1 + np.exp(-(X @ P.fit_logistic(X, y).coefficients)))
    rc = P.reliability_curve(y, p)
    assert len(rc.bins) == 10 and sum(b.n for b in rc.bins) == 503
    order = np.argsort(p, kind="mergesort")
    for b, idx in zip(rc.bins, np.array_split(order, 10), strict=True):
        assert b.mean_predicted == pytest.approx(p[idx].mean(), rel=1e-12)
        assert b.observed == pytest.approx(y[idx].mean(), rel=1e-12)
        lo, hi = proportion_confint(y[idx].sum(), len(idx), method="wilson")
        assert (b.ci_low, b.ci_high) == pytest.approx((lo, hi), abs=1e-12)
    assert [b.mean_predicted for b in rc.bins] == sorted(b.mean_predicted for b in rc.bins)


# ----------------------------------------------------------------------------- bootstrap

def test_bootstrap_is_deterministic_given_the_seed() -> None:
    X, y = _binary_data(15, n=300)
    a = P.validate_bootstrap("binary", X, y=y, bootstrap=25, rng=42)
    b = P.validate_bootstrap("binary", X, y=y, bootstrap=25, rng=42)
    c = P.validate_bootstrap("binary", X, y=y, bootstrap=25, rng=43)
    assert a.as_dict() == b.as_dict()
    assert a.as_dict() != c.as_dict()
    assert a.seed == 42 and a.bootstrap == 25 and a.n == 300 and a.n_events == int(y.sum())
    assert P.ModelPerformance.from_dict(a.as_dict()).as_dict() == a.as_dict()


def test_bootstrap_corrects_an_overfit_model() -> None:
    """An overfit logistic model (120 patients, 25 pure-noise predictors, one real one): the
    apparent C-statistic is optimistic, so the corrected C is smaller, and the corrected
    calibration slope is below 1 (the apparent slope of an ML fit is exactly 1). Harrell,
    Lee & Mark, Stat Med 1996, §5.3."""
    g = np.random.default_rng(16)
    n = 120
    X = np.column_stack([np.ones(n), g.normal(size=(n, 26))])
    y = (g.random(n) < 1 / (1 + np.exp(-0.8 * X[:, 1]))).astype(float)
    perf = P.validate_bootstrap("binary", X, y=y, bootstrap=60, rng=7)
    c, slope = perf.metric("c_statistic"), perf.metric("calibration_slope")
    assert slope.apparent == pytest.approx(1.0, abs=1e-8)
    assert c.optimism is not None and c.optimism > 0.03
    assert c.corrected is not None and c.corrected < c.apparent - 0.03
    assert slope.corrected is not None and slope.corrected < 0.8
    assert perf.bootstrap_used >= 50


def test_bootstrap_corrects_r2_and_runs_for_weibull() -> None:
    g = np.random.default_rng(17)
    n = 80
    X = np.column_stack([np.ones(n), g.normal(size=(n, 15))])
    y = 2 * X[:, 1] + g.normal(size=n)
    perf = P.validate_bootstrap("continuous", X, y=y, bootstrap=40, rng=1)
    r2 = perf.metric("r2")
    assert r2.corrected is not None and r2.corrected < r2.apparent
    df = _survival_data(18, n=200)
    Xs = np.column_stack([np.ones(200), df.x1, df.x2])
    perf_s = P.validate_bootstrap("time_to_event", Xs, time=df.t, event=df.e, bootstrap=10, rng=2)
    assert perf_s.metric("calibration_slope").apparent == pytest.approx(1.0, abs=1e-6)
    assert perf_s.metric("c_statistic").apparent == pytest.approx(
        concordance_index(df.t, Xs @ P.fit_weibull_aft(Xs, df.t, df.e).coefficients, df.e), abs=1e-9)


def test_screen_columns_drops_constant_and_collinear_columns() -> None:
    g = np.random.default_rng(19)
    a = (g.random(50) < 0.5).astype(float)
    X = np.column_stack([np.ones(50), a, 1 - a, np.zeros(50), g.normal(size=50)])
    assert P.screen_columns(X).tolist() == [True, True, False, False, True]


# ----------------------------------------------------------------------------- shrinkage

def test_shrinkage_reestimates_the_intercept_against_statsmodels_and_lifelines() -> None:
    """Uniform shrinkage (Van Houwelingen & Le Cessie 1990): slopes × s, intercept re-estimated
    with the shrunken linear predictor as offset. Oracles: statsmodels GLM(y, 1, Binomial(),
    offset) for the logistic intercept; the mean residual for least squares (GLM Gaussian with
    offset); lifelines WeibullFitter on t·exp(−offset) for the Weibull intercept (log λ) and shape
    (log ρ) — the same likelihood, since log T − offset = β0 + σW. Tolerances 1e-7 / 1e-5."""
    from lifelines import WeibullFitter

    X, y = _binary_data(20)
    fit = P.fit_logistic(X, y)
    b, shape = P.shrink_coefficients("binary", X, fit.coefficients, 0.8, y=y)
    assert shape is None
    np.testing.assert_allclose(b[1:], 0.8 * np.asarray(fit.coefficients[1:]), rtol=1e-15)
    off = X[:, 1:] @ b[1:]
    ref = sm.GLM(y, np.ones((len(y), 1)), family=sm.families.Binomial(), offset=off).fit(tol=1e-12)
    assert b[0] == pytest.approx(ref.params[0], abs=1e-7)

    g = np.random.default_rng(21)
    Xc = np.column_stack([np.ones(200), g.normal(size=200), g.random(200) < 0.5])
    yc = Xc @ np.array([5.0, 1.0, -2.0]) + g.normal(size=200)
    fc = P.fit_linear(Xc, yc)
    bc, _ = P.shrink_coefficients("continuous", Xc, fc.coefficients, 0.9, y=yc, exempt=[2])
    assert bc[2] == fc.coefficients[2] and bc[1] == pytest.approx(0.9 * fc.coefficients[1])
    ref_c = sm.GLM(yc, np.ones((200, 1)), family=sm.families.Gaussian(), offset=Xc[:, 1:] @ bc[1:]).fit()
    assert bc[0] == pytest.approx(ref_c.params[0], rel=1e-10)

    df = _survival_data(22)
    Xs = np.column_stack([np.ones(len(df)), df.x1, df.x2])
    fs = P.fit_weibull_aft(Xs, df.t, df.e)
    bs, log_k = P.shrink_coefficients("time_to_event", Xs, fs.coefficients, 0.85, time=df.t, event=df.e)
    wf = WeibullFitter().fit(df.t * np.exp(-(Xs[:, 1:] @ bs[1:])), df.e)
    assert bs[0] == pytest.approx(math.log(wf.lambda_), abs=1e-5)
    assert log_k == pytest.approx(math.log(wf.rho_), abs=1e-5)


# ----------------------------------------------------------------------------- prediction intervals, AFT shrinkage

def test_prediction_interval_for_one_patient_against_statsmodels_obs_ci() -> None:
    """The interval for one new patient's value, ŷ ± t_{n−p} √(s² + x'Σx).
    Oracle: statsmodels OLS(y, X).fit().get_prediction(X).summary_frame(alpha=0.1)
    ``obs_ci_lower`` / ``obs_ci_upper`` (the 90% interval for a new observation). Tolerance 1e-8.
    The interval of the mean (``mean_ci_*``) is much narrower: it is not a range for one
    patient."""
    g = np.random.default_rng(30)
    X = np.column_stack([np.ones(150), g.normal(size=150), (g.random(150) < 0.4).astype(float)])
    y = X @ np.array([30.0, -4.0, 6.0]) + g.normal(0, 9, 150)
    fit = P.fit_linear(X, y)
    ref = sm.OLS(y, X).fit().get_prediction(X[:6]).summary_frame(alpha=0.1)
    pr = P.predict_observation(X[:6], fit.coefficients, fit.covariance, fit.sigma, fit.df_resid, 0.90)
    np.testing.assert_allclose(pr.ci_low, ref["obs_ci_lower"], rtol=1e-8)
    np.testing.assert_allclose(pr.ci_high, ref["obs_ci_upper"], rtol=1e-8)
    assert np.all(pr.ci_high - pr.ci_low > 3 * (ref["mean_ci_upper"] - ref["mean_ci_lower"]))


def test_shrinkage_of_a_log_normal_aft_against_lifelines() -> None:
    """Uniform shrinkage of an AFT model of another distribution: slopes × s,
    then intercept and shape re-estimated with the shrunken linear predictor as offset. Oracle:
    lifelines LogNormalFitter on t·exp(−offset) — the same likelihood, since
    log T − offset = μ + σZ: its ``mu_`` is our intercept and −log ``sigma_`` our log k.
    Tolerance 5e-5 (lifelines' optimiser stops a little earlier: our likelihood of the
    intercept-and-shape refit is at least its own)."""
    from lifelines import LogNormalFitter

    df = _survival_data(31)
    Xs = np.column_stack([np.ones(len(df)), df.x1, df.x2])
    f = P.fit_aft(Xs, df.t, df.e, "lognormal")
    b, log_k = P.shrink_coefficients("time_to_event", Xs, f.coefficients, 0.8, time=df.t, event=df.e,
                                     distribution="lognormal")
    np.testing.assert_allclose(b[1:], 0.8 * np.asarray(f.coefficients[1:]), rtol=1e-15)
    offset = Xs[:, 1:] @ b[1:]
    ref = LogNormalFitter().fit(df.t * np.exp(-offset), df.e)
    assert b[0] == pytest.approx(ref.mu_, abs=5e-5)
    assert log_k == pytest.approx(-math.log(ref.sigma_), abs=5e-5)
    refit = P.fit_aft(np.ones((len(df), 1)), df.t, df.e, "lognormal", offset=offset)
    assert refit.log_likelihood >= ref.log_likelihood_ - 1e-9


def test_shrinkage_by_zero_leaves_the_average_against_statsmodels() -> None:
    """A corrected calibration slope at or below 0 shrinks every predictor effect to 0 but the
    exempt one: the model is then the average of its data by the exempt column. Oracle:
    statsmodels Logit of y on [1, exempt column] has the same two coefficients (the intercept
    re-estimated with the exempt term as offset gives the ML intercept when the exempt
    coefficient is that model's). Here: the exempt coefficient is taken from that model, so
    the re-estimated intercept must equal its intercept. Tolerance 1e-7."""
    X, y = _binary_data(32)
    ref = sm.Logit(y, X[:, [0, 2]]).fit(method="newton", tol=1e-12, disp=0)
    coef = np.array([0.0, 0.7, ref.params[1], -0.3])
    b, _ = P.shrink_coefficients("binary", X, coef, 0.0, y=y, exempt=[2])
    assert b[1] == 0.0 and b[3] == 0.0 and b[2] == ref.params[1]
    assert b[0] == pytest.approx(ref.params[0], abs=1e-7)
    with pytest.raises(InputError):
        P.shrink_coefficients("binary", X, coef, 1.2, y=y)


def test_bootstrap_of_a_log_normal_model() -> None:
    """``validate_bootstrap`` with ``distribution="lognormal"``: the apparent calibration slope of
    the ML fit is 1 and the apparent C is Harrell's C of the linear predictor (oracle: lifelines
    concordance_index on x'β); the refits use the log-normal model."""
    df = _survival_data(33, n=200)
    Xs = np.column_stack([np.ones(200), df.x1, df.x2])
    fit = P.fit_aft(Xs, df.t, df.e, "lognormal")
    perf = P.validate_bootstrap("time_to_event", Xs, time=df.t, event=df.e, bootstrap=10, rng=4,
                                distribution="lognormal")
    assert perf.metric("calibration_slope").apparent == pytest.approx(1.0, abs=1e-6)
    assert perf.metric("c_statistic").apparent == pytest.approx(
        concordance_index(df.t, Xs @ fit.coefficients, df.e), abs=1e-9)
    assert perf.bootstrap_used == 10
    cal = P.calibrate_survival(df.t, df.e, Xs @ fit.coefficients, "lognormal")
    assert cal.slope == pytest.approx(1.0, abs=1e-6) and "log-normal" in cal.method
