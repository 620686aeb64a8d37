"""``spinetrack.stats.aft``: Weibull, log-normal and log-logistic AFT models, their choice by
AIC, quantiles, survival and risk by a horizon, and calibration by risk group.

Oracles (named in each test): lifelines ``WeibullAFTFitter``, ``LogNormalAFTFitter`` and
``LogLogisticAFTFitter`` (coefficients, standard errors, log-likelihood, AIC, medians,
percentiles and survival functions), scipy ``special.log_ndtr`` and ``stats.chi2``, statsmodels
``SurvfuncRight`` (Kaplan–Meier with Greenwood standard errors), and the delta method written
out by finite differences. Data are simulated with fixed seeds; tolerances are stated per test.
"""

from __future__ import annotations

import doctest
import math

import numpy as np
import pandas as pd
import pytest
from lifelines import LogLogisticAFTFitter, LogNormalAFTFitter, WeibullAFTFitter
from scipy import special
from scipy import stats as sps
from statsmodels.duration.survfunc import SurvfuncRight

from spinetrack.errors import InputError
from spinetrack.stats import aft as A

# lifelines fitter, its location parameter, its shape parameter, and the sign that turns its
# shape parameter into our log_shape (log k = -log sigma)
LIFELINES = {"weibull": (WeibullAFTFitter, "lambda_", "rho_", 1.0),
             "lognormal": (LogNormalAFTFitter, "mu_", "sigma_", -1.0),
             "loglogistic": (LogLogisticAFTFitter, "alpha_", "beta_", 1.0)}


def _data(seed: int, n: int = 400, dist: str = "lognormal") -> pd.DataFrame:
    """log T = 3 + 0.4 x1 − 0.6 x2 + 0.7 W (W of ``dist``), uniform censoring on (5, 60), whole
    days (tied times)."""
    g = np.random.default_rng(seed)
    x1, x2 = g.normal(size=n), (g.random(n) < 0.4).astype(float)
    w = {"lognormal": g.normal(size=n), "weibull": np.log(-np.log(g.random(n))),
         "loglogistic": g.logistic(size=n)}[dist]
    T = np.exp(3 + 0.4 * x1 - 0.6 * x2 + 0.7 * w)
    C = g.uniform(5, 60, n)
    return pd.DataFrame({"x1": x1, "x2": x2, "t": np.round(np.minimum(T, C)) + 1.0, "e": (T <= C).astype(float)})


def _X(df: pd.DataFrame) -> np.ndarray:
    return np.column_stack([np.ones(len(df)), df.x1, df.x2])


def test_docstring_examples_run() -> None:
    """Oracle: the expected output written in each docstring (doctest; the log-normal example
    is lifelines' LogNormalFitter on the same six times, the tail value scipy's log_ndtr)."""
    result = doctest.testmod(A, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 8 and result.failed == 0


def test_log_normal_sf_against_scipy_log_ndtr() -> None:
    """Oracle: scipy.special.log_ndtr(-z) on z in [-40, 40] (both tails, and the ±1 and ±8
    boundaries of the Cephes approximations). Tolerance: relative 1e-12 where |log Φ(−z)| is
    above 1e-300 (our Cephes evaluation is accurate to about 6e-14)."""
    z = np.concatenate([np.linspace(-40, 40, 40001), [-11.3137, -11.3138, -1.41421, -1.41422, 0.0, 1.41421,
                                                      1.41422, 11.3137, 11.3138]])
    ours, ref = A.log_normal_sf(z), special.log_ndtr(-z)
    keep = np.abs(ref) > 1e-300
    np.testing.assert_allclose(ours[keep], ref[keep], rtol=1e-12, atol=0)
    assert np.all(ours[~keep] <= 0) and np.all(ours[~keep] > -1e-290)


@pytest.mark.parametrize("dist", ["weibull", "lognormal", "loglogistic"])
def test_fit_against_lifelines(dist: str) -> None:
    """Oracle: lifelines ``<Dist>AFTFitter().fit(df, "t", "e")`` — coefficients, the shape
    parameter (lifelines' ``rho_``/``beta_`` is our log k, its ``sigma_`` is −log k), standard
    errors, log-likelihood and AIC. Tolerances: 1e-5 for Weibull and log-normal; lifelines'
    optimiser stops earlier on the log-logistic likelihood, so there 2e-3 on the parameters and
    our log-likelihood must be at least lifelines' (we found the higher maximum)."""
    df = _data(6, dist=dist)
    fitter, loc, shape, sign = LIFELINES[dist]
    ref = fitter().fit(df, "t", "e")
    ours = A.fit_aft(_X(df), df.t, df.e, dist)
    tol = 2e-3 if dist == "loglogistic" else 1e-5
    lam = ref.params_[loc]
    np.testing.assert_allclose(ours.coefficients, [lam["Intercept"], lam["x1"], lam["x2"]], atol=tol)
    assert ours.log_shape == pytest.approx(sign * ref.params_[shape]["Intercept"], abs=tol)
    se = ref.standard_errors_
    np.testing.assert_allclose(ours.standard_errors, [se[loc]["Intercept"], se[loc]["x1"], se[loc]["x2"],
                                                      se[shape]["Intercept"]], atol=tol)
    if dist == "loglogistic":
        assert ours.log_likelihood >= ref.log_likelihood_ - 1e-9
        assert ours.log_likelihood == pytest.approx(ref.log_likelihood_, abs=1e-3)
    else:
        assert ours.log_likelihood == pytest.approx(ref.log_likelihood_, abs=1e-5)
        assert ours.aic == pytest.approx(ref.AIC_, abs=1e-5)
    assert ours.converged and ours.n_events == int(df.e.sum()) and ours.distribution == dist


@pytest.mark.parametrize("dist", ["weibull", "lognormal"])
def test_quantiles_survival_and_risk_against_lifelines(dist: str) -> None:
    """Oracle: lifelines ``predict_median``, ``predict_percentile(p=0.1)`` (the time by which
    90% have had the event: lifelines' percentile is of the survival function) and
    ``predict_survival_function(times=[10, 30])`` of the same fit; our risk by 30 days is
    ``1 − S(30)``. Tolerance: relative 1e-4 (the fits agree to 1e-5)."""
    df = _data(7, dist=dist)
    fitter, *_ = LIFELINES[dist]
    ref = fitter().fit(df, "t", "e")
    f = A.fit_aft(_X(df), df.t, df.e, dist)
    X5, d5 = _X(df)[:5], df.iloc[:5]
    np.testing.assert_allclose(A.aft_quantile(X5, f.coefficients, f.log_shape, dist, 0.5),
                               ref.predict_median(d5).to_numpy(), rtol=1e-4)
    np.testing.assert_allclose(A.aft_quantile(X5, f.coefficients, f.log_shape, dist, 0.9),
                               ref.predict_percentile(d5, p=0.1).to_numpy(), rtol=1e-4)
    sf = ref.predict_survival_function(d5, times=[10.0, 30.0]).to_numpy().T
    np.testing.assert_allclose(A.aft_survival(X5, f.coefficients, f.log_shape, dist, [10.0, 30.0]), sf, rtol=1e-4)
    risk = A.predict_aft_risk(X5, f.coefficients, f.log_shape, f.covariance, dist, 30.0)
    np.testing.assert_allclose(risk.estimate, 1.0 - sf[:, 1], rtol=1e-4)
    med = A.predict_aft_quantile(X5, f.coefficients, f.log_shape, f.covariance, dist)
    np.testing.assert_allclose(med.estimate, ref.predict_median(d5).to_numpy(), rtol=1e-4)


@pytest.mark.parametrize("dist", ["weibull", "lognormal", "loglogistic"])
def test_risk_and_quantile_intervals_are_the_delta_method(dist: str) -> None:
    """Oracle: the delta method written out independently — the gradient of
    ``z_h = k (log h − x'β)`` (risk) and of ``log t_p = x'β + σ w_p`` (quantile) by central finite
    differences in ``(β, log k)``, then ``F_W(z_h ± 1.959964 se)`` and ``exp(log t_p ± 1.959964 se)``.
    Tolerance: relative 1e-6."""
    df = _data(8, dist=dist)
    f = A.fit_aft(_X(df), df.t, df.e, dist)
    theta = np.append(f.coefficients, f.log_shape)
    x = _X(df)[4]
    zq = 1.959963984540054

    def z_h(th: np.ndarray) -> float:
        return math.exp(th[-1]) * (math.log(30.0) - float(x @ th[:-1]))

    def log_q(th: np.ndarray) -> float:
        return float(math.log(A.aft_quantile(x, th[:-1], th[-1], dist, 0.75)[0]))

    def grad(fun):  # type: ignore[no-untyped-def]
        h = 1e-6
        return np.array([(fun(theta + h * e) - fun(theta - h * e)) / (2 * h) for e in np.eye(theta.size)])

    cdf = {"weibull": lambda z: 1 - math.exp(-math.exp(z)), "lognormal": lambda z: sps.norm.cdf(z),
           "loglogistic": lambda z: 1 / (1 + math.exp(-z))}[dist]
    g = grad(z_h)
    se = math.sqrt(g @ f.covariance @ g)
    risk = A.predict_aft_risk(x, f.coefficients, f.log_shape, f.covariance, dist, 30.0)
    assert (risk.ci_low[0], risk.estimate[0], risk.ci_high[0]) == pytest.approx(
        (cdf(z_h(theta) - zq * se), cdf(z_h(theta)), cdf(z_h(theta) + zq * se)), rel=1e-6)
    g = grad(log_q)
    se = math.sqrt(g @ f.covariance @ g)
    q = A.predict_aft_quantile(x, f.coefficients, f.log_shape, f.covariance, dist, 0.75)
    assert (q.ci_low[0], q.ci_high[0]) == pytest.approx(
        (math.exp(log_q(theta) - zq * se), math.exp(log_q(theta) + zq * se)), rel=1e-6)


def test_select_aft_chooses_the_generating_distribution_by_lifelines_aic() -> None:
    """Oracle: lifelines' ``AIC_`` of the three fitters on the same data (log-normal times, n =
    2000): the distribution we choose is the one with lifelines' smallest AIC, and it is the
    generating one. Our AICs agree with lifelines' to 1e-4 (Weibull, log-normal) and 1e-2
    (log-logistic, where lifelines stops early)."""
    df = _data(9, n=2000, dist="lognormal")
    sel = A.select_aft(_X(df), df.t, df.e)
    ref = {d: LIFELINES[d][0]().fit(df, "t", "e").AIC_ for d in A.DISTRIBUTIONS}
    assert sel.chosen == min(ref, key=ref.get) == "lognormal"  # type: ignore[arg-type]
    for d in A.DISTRIBUTIONS:
        assert sel.aic[d] == pytest.approx(ref[d], abs=1e-2 if d == "loglogistic" else 1e-4)
    assert sel.fit.distribution == "lognormal" and not sel.failures


def test_calibration_by_group_against_statsmodels_km_and_scipy_chi2() -> None:
    """Greenwood–Nam–D'Agostino: per group of predicted risk, the Kaplan–Meier survival at t and
    its Greenwood SE (oracle: statsmodels SurvfuncRight ``surv_prob`` / ``surv_prob_se``), the
    mean predicted survival, χ² = Σ (KM − S̄)² / SE² and its p-value on G − 1 df (oracle:
    scipy.stats.chi2.sf). Tolerance 1e-10."""
    df = _data(10, n=1000, dist="lognormal")
    f = A.fit_aft(_X(df), df.t, df.e, "lognormal")
    at = 20.0
    s = A.aft_survival(_X(df), f.coefficients, f.log_shape, "lognormal", [at])[:, 0]
    tab = A.calibrate_survival_groups(df.t, df.e, s, at, groups=5)
    order = np.argsort(s, kind="mergesort")
    chi2 = 0.0
    assert len(tab.n) == 5  # every quintile has at least 5 events by day 20: no merging
    for k, idx in enumerate(np.array_split(order, 5)):
        sf = SurvfuncRight(df.t.to_numpy()[idx], df.e.to_numpy()[idx])
        j = np.searchsorted(sf.surv_times, at, side="right") - 1
        assert tab.observed[k] == pytest.approx(sf.surv_prob[j], abs=1e-10)
        assert tab.standard_error[k] == pytest.approx(sf.surv_prob_se[j], abs=1e-10)
        assert tab.predicted[k] == pytest.approx(s[idx].mean(), abs=1e-12)
        chi2 += (sf.surv_prob[j] - s[idx].mean()) ** 2 / sf.surv_prob_se[j] ** 2
    assert tab.chi2 == pytest.approx(chi2, rel=1e-10) and tab.df == 4
    assert tab.p_value == pytest.approx(sps.chi2.sf(chi2, 4), rel=1e-8)


def test_calibration_gate_rejects_a_weibull_fitted_to_log_normal_times() -> None:
    """On log-normal times (n = 3000, the truth is known), the Weibull AFT is
    miscalibrated by risk group at the Kaplan–Meier median — p < 0.01, the level of
    ``predict.spec.CALIBRATION_ALPHA`` — while the log-normal fit is not. Oracle: the
    simulation's generating distribution; the test itself is checked against statsmodels and
    scipy above."""
    df = _data(11, n=3000, dist="lognormal")
    at = float(np.median(df.t[df.e == 1]))
    p = {}
    for dist in ("weibull", "lognormal"):
        f = A.fit_aft(_X(df), df.t, df.e, dist)
        s = A.aft_survival(_X(df), f.coefficients, f.log_shape, dist, [at])[:, 0]
        p[dist] = A.calibrate_survival_groups(df.t, df.e, s, at).p_value
    assert p["weibull"] < 0.01 <= p["lognormal"], p


def test_calibration_groups_with_few_events_are_merged() -> None:
    """Demler et al. (2015): a group with fewer than 5 events by t is merged with its neighbour
    (the last group with the one before). Hand-made data: 40 patients ordered by predicted
    survival, 5 groups of 8 with 6, 2, 6, 0 and 0 events by t = 10 (and events after t, which do
    not count): groups 2 and 3 merge (8 events), then 4 and 5 (0 events) merge and join them —
    two groups, of 8 patients with 6 events and of 32 with 8."""
    t = np.full(40, 50.0)
    e = np.zeros(40)
    for i in [*range(6), 8, 9, *range(16, 22)]:
        t[i], e[i] = 5.0, 1.0
    e[30:35] = 1.0  # events at day 50: after t
    s = np.linspace(0.5, 0.99, 40)
    tab = A.calibrate_survival_groups(t, e, s, 10.0, groups=5)
    assert tab.n == (8, 32) and tab.events == (6, 8) and tab.df == 1
    with pytest.raises(InputError, match="at least two groups"):
        A.calibrate_survival_groups(t[:8], e[:8], s[:8], 10.0)


def test_fit_refuses_bad_input() -> None:
    with pytest.raises(InputError):
        A.fit_aft(np.ones((3, 1)), [0.0, 1.0, 2.0], [1, 1, 0], "lognormal")
    with pytest.raises(InputError):
        A.fit_aft(np.ones((3, 1)), [1.0, 1.0, 2.0], [0, 0, 0], "weibull")
    with pytest.raises(InputError, match="distribution"):
        A.fit_aft(np.ones((3, 1)), [1.0, 1.0, 2.0], [1, 0, 1], "gamma")
