"""Weighted Kaplan–Meier survival difference with a sandwich that includes the propensity model.

Oracles: lifelines ``KaplanMeierFitter(weights=...)`` for each arm's S(tau) (1e-10), and a
nonparametric bootstrap (Efron & Tibshirani 1993, ch. 6) that refits the propensity model in
every replicate for the standard error (within 12%: the Monte Carlo error of a 400-replicate
bootstrap SE is about 3.5%)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from spinetrack.errors import InputError
from spinetrack.stats import (
    compute_weights,
    fit_logistic_irls,
    kaplan_meier_from_counts,
    logistic_crossprod_numpy,
    restricted_mean_survival_time,
    weight_derivative,
)
from spinetrack.stats.survival_difference import (
    estimate_survival_difference,
    influence_lookup,
    survival_sums_numpy,
)

HORIZON = 300.0


def _cohort(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    z = rng.normal(size=(n, 2))
    X = np.column_stack([np.ones(n), z])
    t = (rng.random(n) < 1 / (1 + np.exp(-(0.3 + 0.8 * z[:, 0] - 0.5 * z[:, 1])))).astype(float)
    rate = np.exp(-6.0 + 0.6 * z[:, 0] + 0.3 * z[:, 1] - 0.4 * t)
    event_time = np.ceil(rng.exponential(1 / rate))
    censor = np.ceil(rng.uniform(50, 700, size=n))
    time = np.minimum(event_time, censor)
    return X, t, time, (event_time <= censor).astype(float)


def _estimate(X: np.ndarray, t: np.ndarray, time: np.ndarray, event: np.ndarray, estimand: str):  # type: ignore[no-untyped-def]
    fit = fit_logistic_irls(logistic_crossprod_numpy(X, t), X.shape[1])
    e = 1 / (1 + np.exp(-X @ fit.coefficients))
    w = compute_weights(e, t, estimand)  # type: ignore[arg-type]
    dw = weight_derivative(e, t, estimand)  # type: ignore[arg-type]
    curves, sums = survival_sums_numpy(time, event, t, X, e, w, dw, HORIZON)
    v = e * (1 - e)
    H = (X * v[:, None]).T @ X
    G = (X * ((t - e) ** 2)[:, None]).T @ X
    s1, s0 = float(curves[1].survival_at(HORIZON)), float(curves[0].survival_at(HORIZON))
    est = estimate_survival_difference(sums[1], sums[0], s1, s0, H, G, estimand=estimand)
    return est, w, curves


@pytest.mark.parametrize("estimand", ["ATO", "ATE"])
def test_arm_survival_equals_lifelines_weighted_km(estimand: str) -> None:
    """lifelines.KaplanMeierFitter().fit(T, E, weights=w).survival_function_at_times(300)."""
    from lifelines import KaplanMeierFitter

    X, t, time, event = _cohort(np.random.default_rng(3), 1500)
    est, w, _ = _estimate(X, t, time, event, estimand)
    s = {}
    for arm in (1, 0):
        m = t == arm
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            km = KaplanMeierFitter().fit(time[m], event[m], weights=w[m])
        s[arm] = float(km.survival_function_at_times(HORIZON).iloc[0])
    assert est.mean_treated == pytest.approx(s[1], abs=1e-10)
    assert est.mean_control == pytest.approx(s[0], abs=1e-10)
    assert est.estimate == pytest.approx(s[1] - s[0], abs=1e-10)


@pytest.mark.parametrize("estimand", ["ATO", "ATE"])
def test_sandwich_se_agrees_with_a_bootstrap_that_refits_the_propensity_model(estimand: str) -> None:
    rng = np.random.default_rng(20261125)
    X, t, time, event = _cohort(rng, 3000)
    est, _, _ = _estimate(X, t, time, event, estimand)
    boot = []
    for _ in range(400):
        i = rng.integers(0, len(t), len(t))
        boot.append(_estimate(X[i], t[i], time[i], event[i], estimand)[0].estimate)
    se_boot = float(np.std(boot, ddof=1))
    assert est.standard_error == pytest.approx(se_boot, rel=0.12), (est.standard_error, se_boot)


def test_complement_reports_cumulative_incidence() -> None:
    X, t, time, event = _cohort(np.random.default_rng(5), 800)
    est, _, _ = _estimate(X, t, time, event, "ATO")
    fit = fit_logistic_irls(logistic_crossprod_numpy(X, t), 3)
    e = 1 / (1 + np.exp(-X @ fit.coefficients))
    w, dw = compute_weights(e, t, "ATO"), weight_derivative(e, t, "ATO")
    _curves, sums = survival_sums_numpy(time, event, t, X, e, w, dw, HORIZON)
    H = (X * (e * (1 - e))[:, None]).T @ X
    G = (X * ((t - e) ** 2)[:, None]).T @ X
    inc = estimate_survival_difference(sums[1], sums[0], est.mean_treated, est.mean_control, H, G,
                                       estimand="ATO", complement=True)
    assert inc.estimate == pytest.approx(-est.estimate)
    assert inc.standard_error == pytest.approx(est.standard_error)
    assert inc.mean_treated == pytest.approx(1 - est.mean_treated)
    assert inc.measure == "cumulative incidence difference"


def _estimate_rmst(X: np.ndarray, t: np.ndarray, time: np.ndarray, event: np.ndarray):  # type: ignore[no-untyped-def]
    fit = fit_logistic_irls(logistic_crossprod_numpy(X, t), X.shape[1])
    e = 1 / (1 + np.exp(-X @ fit.coefficients))
    w, dw = compute_weights(e, t, "ATO"), weight_derivative(e, t, "ATO")
    curves, sums = survival_sums_numpy(time, event, t, X, e, w, dw, HORIZON, "rmst")
    H = (X * (e * (1 - e))[:, None]).T @ X
    G = (X * ((t - e) ** 2)[:, None]).T @ X
    r1, r0 = (restricted_mean_survival_time(curves[a], HORIZON).estimate for a in (1, 0))
    return estimate_survival_difference(sums[1], sums[0], r1, r0, H, G, estimand="ATO",
                                        measure="restricted mean difference"), curves


def test_rmst_lookup_value_equals_the_integral_of_the_curve() -> None:
    """restricted_mean_survival_time (itself checked against lifelines) is the oracle, 1e-12."""
    X, t, time, event = _cohort(np.random.default_rng(8), 1200)
    _, curves = _estimate_rmst(X, t, time, event)
    for arm in (1, 0):
        lk = influence_lookup(curves[arm], HORIZON, "rmst")
        assert lk.value == pytest.approx(restricted_mean_survival_time(curves[arm], HORIZON).estimate, abs=1e-9)


def test_rmst_sandwich_agrees_with_a_bootstrap_that_refits_the_propensity_model() -> None:
    rng = np.random.default_rng(99)
    X, t, time, event = _cohort(rng, 3000)
    est, _ = _estimate_rmst(X, t, time, event)
    boot = []
    for _ in range(400):
        i = rng.integers(0, len(t), len(t))
        boot.append(_estimate_rmst(X[i], t[i], time[i], event[i])[0].estimate)
    assert est.standard_error == pytest.approx(float(np.std(boot, ddof=1)), rel=0.12)


def test_rmst_influence_is_finite_when_every_remaining_row_has_the_event() -> None:
    """All rows at risk at the last time have the event: S reaches 0 before the horizon."""
    c = kaplan_meier_from_counts([1.0, 2.0, 3.0], [1.0, 0.0, 2.0], removals=[1.0, 1.0, 2.0])
    lk = influence_lookup(c, 10.0, "rmst")
    assert np.all(np.isfinite(lk.cum)) and np.all(np.isfinite(lk.jump))
    assert lk.value == pytest.approx(restricted_mean_survival_time(c, 10.0).estimate)
    with pytest.raises(InputError, match="restricted mean"):
        influence_lookup(c, 10.0, "survival")
