"""Logistic regression by IRLS from aggregate cross-products (``spinetrack.stats.glm``).

Oracles: statsmodels ``GLM(family=Binomial())`` and ``Logit`` (coefficients, standard errors,
log-likelihood), statsmodels ``freq_weights`` and the fit on row-expanded data for case
weights.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import statsmodels.api as sm

from spinetrack.errors import InputError
from spinetrack.stats.glm import (
    ConvergenceWarning,
    SeparationError,
    fit_logistic_irls,
    logistic_crossprod_numpy,
    symmetric_from_triangle,
)


def _design(rng: np.random.Generator, n: int = 5000) -> tuple[np.ndarray, np.ndarray]:
    """Intercept + 8 covariates on clinical scales (age, BMI, binaries, a score, a count)."""
    age = rng.normal(58.0, 12.0, n)
    bmi = rng.normal(28.0, 5.0, n)
    female = rng.binomial(1, 0.5, n)
    smoker = rng.binomial(1, 0.25, n)
    diabetes = rng.binomial(1, 0.15, n)
    odi = rng.uniform(10.0, 80.0, n)
    levels = rng.integers(1, 4, n)
    z = rng.normal(size=n)
    X = np.column_stack([np.ones(n), age, bmi, female, smoker, diabetes, odi, levels, z])
    beta = np.array([-2.0, 0.02, 0.03, -0.3, 0.4, 0.2, -0.01, 0.35, 0.5])
    y = rng.binomial(1, 1.0 / (1.0 + np.exp(-(X @ beta))))
    return X, y.astype(float)


def test_irls_matches_statsmodels_glm_and_logit() -> None:
    """Oracle: statsmodels ``sm.GLM(y, X, family=Binomial()).fit(tol=1e-12)`` and
    ``sm.Logit(y, X).fit()`` on a seeded n=5000, 8-covariate data set.

    Tolerance: coefficients and standard errors rtol 1e-8 (atol 1e-10 for coefficients near
    zero); log-likelihood rtol 1e-10. GLM's default ``tol=1e-8`` (on the deviance) stops one
    IRLS iteration early and its standard errors, computed at the previous iterate, are then
    only good to ~1e-7; ``tol=1e-12`` lets statsmodels converge fully.
    """
    X, y = _design(np.random.default_rng(20240501))
    fit = fit_logistic_irls(logistic_crossprod_numpy(X, y), p=X.shape[1])
    glm = sm.GLM(y, X, family=sm.families.Binomial()).fit(tol=1e-12)
    logit = sm.Logit(y, X).fit(disp=0)
    assert fit.converged
    for ref in (glm, logit):
        np.testing.assert_allclose(fit.coefficients, ref.params, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(fit.standard_errors, ref.bse, rtol=1e-8)
        np.testing.assert_allclose(fit.covariance, ref.cov_params(), rtol=1e-7, atol=1e-14)
        np.testing.assert_allclose(fit.log_likelihood, ref.llf, rtol=1e-10)
    low, high = fit.confidence_intervals(0.95)
    np.testing.assert_allclose(np.column_stack([low, high]), logit.conf_int(0.05), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(fit.p_values, logit.pvalues, rtol=1e-6, atol=1e-300)


def test_irls_frequency_weights_match_statsmodels_and_expanded_rows() -> None:
    """Oracles: statsmodels ``GLM(..., freq_weights=w).fit(tol=1e-12)``, and our own fit on
    the data with each row repeated ``w`` times (frequency weights mean exactly that).

    Tolerance: rtol 1e-8 on coefficients and standard errors (atol 1e-10 on coefficients).
    """
    rng = np.random.default_rng(7)
    X, y = _design(rng, n=3000)
    w = rng.integers(1, 5, X.shape[0]).astype(float)
    fit = fit_logistic_irls(logistic_crossprod_numpy(X, y, w), p=X.shape[1],
                            weights_note="frequency weights")
    ref = sm.GLM(y, X, family=sm.families.Binomial(), freq_weights=w).fit(tol=1e-12)
    np.testing.assert_allclose(fit.coefficients, ref.params, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(fit.standard_errors, ref.bse, rtol=1e-8)
    np.testing.assert_allclose(fit.log_likelihood, ref.llf, rtol=1e-10)
    reps = w.astype(int)
    expanded = fit_logistic_irls(logistic_crossprod_numpy(np.repeat(X, reps, axis=0), np.repeat(y, reps)),
                                 p=X.shape[1])
    np.testing.assert_allclose(fit.coefficients, expanded.coefficients, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(fit.standard_errors, expanded.standard_errors, rtol=1e-8)
    assert "frequency weights" in fit.method


def test_irls_engine_contract_triangle_and_working_response() -> None:
    """Oracle: the array callback. A fake engine that returns only the p(p+1)/2 upper-triangle
    sums of X'WX and X'Wz (working response) instead of the score must give the same fit.

    Tolerance: rtol 1e-10 (same arithmetic, different summation order).
    """
    X, y = _design(np.random.default_rng(11), n=2000)
    p = X.shape[1]
    iu = np.triu_indices(p)

    def engine(beta: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        eta = X @ beta
        e = 1.0 / (1.0 + np.exp(-eta))
        v = e * (1.0 - e)
        upper = np.array([np.sum(v * X[:, j] * X[:, k]) for j, k in zip(*iu, strict=True)])
        z = eta + (y - e) / v
        xwz = X.T @ (v * z)
        loglik = float(np.sum(y * eta - (np.maximum(eta, 0) + np.log1p(np.exp(-np.abs(eta))))))
        return symmetric_from_triangle(upper, p), xwz, loglik

    a = fit_logistic_irls(engine, p, gradient="working_response")
    b = fit_logistic_irls(logistic_crossprod_numpy(X, y), p)
    np.testing.assert_allclose(a.coefficients, b.coefficients, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(a.standard_errors, b.standard_errors, rtol=1e-10)


def test_irls_one_query_per_iteration() -> None:
    """Oracle: counting callback invocations. Newton from zero on a well-posed problem needs
    a handful of iterations, each ONE engine query (no step halving needed here)."""
    X, y = _design(np.random.default_rng(3), n=2000)
    calls = []
    inner = logistic_crossprod_numpy(X, y)

    def counting(beta: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        calls.append(beta.copy())
        return inner(beta)

    fit = fit_logistic_irls(counting, X.shape[1])
    assert fit.converged and 3 <= fit.n_iter <= 10
    assert len(calls) == fit.n_iter + 1  # the start, then one query per iteration


def test_irls_complete_separation_raises() -> None:
    """Oracle: Albert & Anderson (1984): with x > 0 exactly when y = 1 the MLE does not exist."""
    rng = np.random.default_rng(1)
    x = np.r_[np.zeros(50), np.ones(50)]
    X = np.column_stack([np.ones(100), x, rng.normal(size=100)])
    with pytest.raises(SeparationError, match="separate"):
        fit_logistic_irls(logistic_crossprod_numpy(X, x.copy()), 3, names=["const", "mis", "z"])


def test_irls_quasi_separation_raises() -> None:
    """Oracle: Albert & Anderson (1984) quasi-complete separation: every x=1 row has y=1 while
    x=0 rows are mixed; the coefficient of x diverges."""
    rng = np.random.default_rng(2)
    x = np.r_[np.zeros(60), np.ones(40)]
    y = x.copy()
    y[:20] = 1.0
    X = np.column_stack([np.ones(100), x, rng.normal(size=100)])
    with pytest.raises(SeparationError):
        fit_logistic_irls(logistic_crossprod_numpy(X, y), 3)


def test_irls_non_convergence_warns() -> None:
    """Two Newton steps from zero cannot reach tol=1e-10: a ConvergenceWarning and
    ``converged=False`` (not an exception)."""
    X, y = _design(np.random.default_rng(5), n=1000)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        fit = fit_logistic_irls(logistic_crossprod_numpy(X, y), X.shape[1], max_iter=2)
    assert not fit.converged and fit.n_iter == 2


def test_irls_refuses_bad_input() -> None:
    X, y = _design(np.random.default_rng(6), n=200)
    collinear = np.column_stack([X, 2.0 * X[:, 1]])
    with pytest.raises(InputError, match="singular"):
        fit_logistic_irls(logistic_crossprod_numpy(collinear, y), collinear.shape[1])
    with pytest.raises(InputError, match="shapes"):
        fit_logistic_irls(lambda b: (np.eye(2), np.zeros(3), -1.0), 2)
    with pytest.raises(InputError, match="non-finite"):
        fit_logistic_irls(lambda b: (np.eye(2), np.zeros(2), float("nan")), 2)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        logistic_crossprod_numpy(X, y + 1.0)
    with pytest.raises(InputError):
        logistic_crossprod_numpy(X, y, -np.ones_like(y))
    with pytest.raises(InputError):
        fit_logistic_irls(logistic_crossprod_numpy(X, y), 0)
    with pytest.raises(InputError):
        symmetric_from_triangle([1.0, 2.0], 2)
    assert issubclass(SeparationError, ValueError)


def test_irls_result_is_frozen_and_serialisable() -> None:
    X, y = _design(np.random.default_rng(8), n=500)
    names = [f"x{j}" for j in range(X.shape[1])]
    fit = fit_logistic_irls(logistic_crossprod_numpy(X, y), X.shape[1], names=names)
    with pytest.raises(AttributeError):
        fit.converged = False  # type: ignore[misc]
    with pytest.raises(ValueError):
        fit.coefficients[0] = 1.0
    d = json.loads(json.dumps(fit.as_dict()))
    assert d["names"] == names and len(d["covariance"]) == X.shape[1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit_logistic_irls(logistic_crossprod_numpy(X, y), X.shape[1])
