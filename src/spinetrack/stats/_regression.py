"""Regression models for clinical prediction (private; public through
:mod:`spinetrack.stats.prediction`): least squares, logistic regression, the Weibull accelerated
failure time model, predictions with delta-method intervals, column screening and uniform
shrinkage.

* :func:`fit_linear` — ordinary least squares (normal equations through a Cholesky factor);
  covariance ``s² (X'X)⁻¹`` with ``s² = RSS / (n − p)``.
* :func:`fit_logistic` — maximum likelihood by Newton/IRLS (:func:`spinetrack.stats.glm.fit_logistic_irls`
  on :func:`~spinetrack.stats.glm.logistic_crossprod_numpy`).
* :func:`fit_weibull_aft` — Weibull accelerated failure time model for right-censored times,
  by Newton–Raphson on ``(β, log k)`` (:func:`spinetrack.stats.aft.fit_aft`). Parametrisation:
  ``log T = x'β + σ W`` with ``W`` the standard (minimum) extreme-value distribution and ``σ = 1/k``, i.e.
  ``S(t | x) = exp(−(t/λ)^k)`` with ``λ = exp(x'β)``. lifelines' ``WeibullAFTFitter`` uses the
  same model: its ``lambda_`` coefficients are ``β`` and its ``rho_`` intercept is ``log k``.
  The log-likelihood is that of the density of ``T`` (events ``log f(t)``, censored ``log S(t)``).
* predictions with intervals by the delta method (:class:`PredictionEstimate`): means
  (:func:`predict_mean`), probabilities on the logit scale (:func:`predict_probability`) and the
  Weibull median ``λ (log 2)^{1/k}`` on the log scale (:func:`predict_median_time`).
* :func:`predict_observation` — the interval for one new patient's value (a prediction interval).
* :func:`shrink_coefficients` — uniform shrinkage of the predictor effects with the intercept
  (and an AFT model's shape) re-estimated; :func:`refit_intercept` is its step for least squares
  and logistic models.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from spinetrack.errors import InputError
from spinetrack.stats._common import (
    PredictionEstimate,
    as_float_array,
    freeze,
    normal_quantile,
    safe_cholesky,
    to_jsonable,
)
from spinetrack.stats.aft import fit_aft
from spinetrack.stats.glm import (
    ConvergenceWarning,
    LogisticFitResult,
    fit_logistic_irls,
    logistic_crossprod_numpy,
)
from spinetrack.stats.meta._distributions import t_ppf

__all__ = [
    "LinearFitResult",
    "PredictionEstimate",
    "WeibullAFTResult",
    "fit_linear",
    "fit_logistic",
    "fit_weibull_aft",
    "predict_mean",
    "predict_median_time",
    "predict_observation",
    "predict_probability",
    "refit_intercept",
    "screen_columns",
    "shrink_coefficients",
]


def _json(value: Any) -> dict[str, Any]:
    """``to_jsonable`` of a mapping, typed."""
    out: dict[str, Any] = to_jsonable(value)
    return out

LOG_LOG_2 = math.log(math.log(2.0))


def expit(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.exp(-np.logaddexp(0.0, -x))
    return out


def vector(value: Any, name: str, n: int | None = None) -> np.ndarray:
    arr = as_float_array(value, name, ndim=1)
    if n is not None and arr.shape[0] != n:
        raise InputError(f"{name} has {arr.shape[0]} rows, expected {n}")
    return arr


def binary(y: Any, name: str = "y", n: int | None = None) -> np.ndarray:
    arr = vector(y, name, n)
    if not np.all((arr == 0.0) | (arr == 1.0)):
        raise InputError(f"{name} must be 0/1")
    return arr


def screen_columns(X: np.ndarray, *, tol: float = 1e-8) -> np.ndarray:
    """Keep-mask of the columns of a design whose first column is the intercept: left to right,
    a column is dropped when its residual sum of squares given the columns kept before it (the
    intercept first, so a column without variation goes) is below ``tol`` times its own sum of
    squares — a constant column, or a linear combination of earlier ones.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.column_stack([np.ones(4), [1.0, 0, 1, 0], [0.0, 1, 0, 1], [2.0, 2, 2, 2], [1.0, 2, 3, 5]])
    >>> screen_columns(X).tolist()
    [True, True, False, False, True]
    """
    Xa = as_float_array(X, "X", ndim=2)
    p = Xa.shape[1]
    S = Xa.T @ Xa  # Schur complement of the kept columns, updated as columns are kept
    diag = np.diag(S).copy()
    keep = np.zeros(p, dtype=bool)
    for j in range(p):
        if j > 0 and S[j, j] <= tol * diag[j]:
            continue  # no variation left once the kept columns (the intercept first) are accounted for
        keep[j] = True
        if S[j, j] > 0:
            S = S - np.outer(S[:, j], S[j, :]) / S[j, j]
    return keep


@dataclass(frozen=True, eq=False)
class LinearFitResult:
    """An ordinary least-squares fit: coefficients, their covariance ``s² (X'X)⁻¹``, the residual
    standard deviation ``s`` (``n − p`` degrees of freedom) and ``R²``."""

    coefficients: np.ndarray
    standard_errors: np.ndarray
    covariance: np.ndarray
    sigma: float
    df_resid: int
    r2: float
    n: int
    names: tuple[str, ...] | None = None
    method: str = "ordinary least squares"

    def as_dict(self) -> dict[str, Any]:
        return _json({"coefficients": self.coefficients, "standard_errors": self.standard_errors,
                            "covariance": self.covariance, "sigma": self.sigma, "df_resid": self.df_resid,
                            "r2": self.r2, "n": self.n, "names": list(self.names) if self.names else None,
                            "method": self.method})


def _normal_equations(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares coefficients and ``(X'X)⁻¹`` by a Cholesky factor of ``X'X`` (refusing a
    rank-deficient design, judged on the correlation scale)."""
    xtx = X.T @ X
    chol = safe_cholesky(0.5 * (xtx + xtx.T), rtol=1e-12)
    if chol is None:
        raise InputError("the design is rank deficient: a column is constant or collinear with others")
    inv = np.linalg.solve(chol.T, np.linalg.solve(chol, np.eye(X.shape[1])))
    inv = 0.5 * (inv + inv.T)
    return inv @ (X.T @ y), inv


def fit_linear(X: Any, y: Any, *, names: Sequence[str] | None = None) -> LinearFitResult:
    """Ordinary least squares (normal equations solved through a Cholesky factor).

    Raises :class:`~spinetrack.errors.InputError` when the design is rank deficient.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.column_stack([np.ones(5), [1.0, 2, 3, 4, 5]])
    >>> fit = fit_linear(X, [2.0, 4.1, 5.9, 8.2, 9.8])
    >>> np.round(fit.coefficients, 4).tolist(), round(fit.r2, 4)
    ([0.09, 1.97], 0.9977)
    """
    Xa = as_float_array(X, "X", ndim=2)
    ya = vector(y, "y", Xa.shape[0])
    n, p = Xa.shape
    if n <= p:
        raise InputError(f"least squares needs more rows ({n}) than coefficients ({p})")
    beta, inv = _normal_equations(Xa, ya)
    resid = ya - Xa @ beta
    rss = float(resid @ resid)
    s2 = rss / (n - p)
    cov = s2 * inv
    tss = float(np.sum((ya - ya.mean()) ** 2))
    r2 = 1.0 - rss / tss if tss > 0 else float("nan")
    return LinearFitResult(freeze(beta), freeze(np.sqrt(np.diag(cov))), freeze(cov), math.sqrt(s2), n - p, r2, n,
                           tuple(names) if names is not None else None)


def fit_logistic(X: Any, y: Any, *, names: Sequence[str] | None = None, max_iter: int = 50) -> LogisticFitResult:
    """Logistic regression by maximum likelihood (Newton/IRLS, :mod:`spinetrack.stats.glm`).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.column_stack([np.ones(6), [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]])
    >>> np.round(fit_logistic(X, [0, 0, 1, 0, 1, 1]).coefficients, 4).tolist()  # statsmodels Logit
    [-3.0351, 1.214]
    """
    Xa = as_float_array(X, "X", ndim=2)
    ya = binary(y, "y", Xa.shape[0])
    return fit_logistic_irls(logistic_crossprod_numpy(Xa, ya), Xa.shape[1], names=names, max_iter=max_iter)


@dataclass(frozen=True, eq=False)
class WeibullAFTResult:
    """A fitted Weibull AFT model. ``coefficients`` are ``β`` (``log λ = x'β``), ``log_shape`` is
    ``log k`` (``σ = 1/k``); ``covariance`` is the inverse observed information of
    ``(β, log k)`` (the last row and column belong to ``log k``)."""

    coefficients: np.ndarray
    log_shape: float
    covariance: np.ndarray
    log_likelihood: float
    n: int
    n_events: int
    n_iter: int
    converged: bool
    names: tuple[str, ...] | None = None
    method: str = "Weibull accelerated failure time, Newton-Raphson"

    @property
    def shape(self) -> float:
        """``k`` (lifelines' ``rho``)."""
        return math.exp(self.log_shape)

    @property
    def standard_errors(self) -> np.ndarray:
        return np.sqrt(np.diag(self.covariance))

    def as_dict(self) -> dict[str, Any]:
        return _json({"coefficients": self.coefficients, "log_shape": self.log_shape,
                            "covariance": self.covariance, "log_likelihood": self.log_likelihood, "n": self.n,
                            "n_events": self.n_events, "n_iter": self.n_iter, "converged": self.converged,
                            "names": list(self.names) if self.names else None, "method": self.method})


def fit_weibull_aft(X: Any, time: Any, event: Any, *, names: Sequence[str] | None = None, max_iter: int = 100,
                    tol: float = 1e-10) -> WeibullAFTResult:
    """Weibull AFT regression for right-censored times by Newton–Raphson (module docstring).

    The Weibull case of :func:`spinetrack.stats.aft.fit_aft` (one Newton–Raphson fit for every
    AFT distribution: step halving when the log-likelihood would fall, a ridge added to the
    information while it is not positive definite, started from least squares of ``log t``),
    returned as a :class:`WeibullAFTResult`. Times must be positive.

    References
    ----------
    Kalbfleisch JD, Prentice RL. The Statistical Analysis of Failure Time Data, 2nd ed. Wiley;
    2002, §2.2.2 and §3.2 (Weibull regression on log time).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.ones((6, 1))
    >>> fit = fit_weibull_aft(X, [2.0, 3.0, 5.0, 7.0, 11.0, 13.0], [1, 1, 1, 0, 1, 1])
    >>> round(float(fit.coefficients[0]), 4), round(fit.shape, 4)  # lifelines WeibullFitter: log λ, ρ
    (2.1384, 1.6943)
    """
    Xa = as_float_array(X, "X", ndim=2)
    n = Xa.shape[0]
    fit = fit_aft(Xa, vector(time, "time", n), binary(event, "event", n), "weibull", names=names,
                  max_iter=max_iter, tol=tol)
    return WeibullAFTResult(fit.coefficients, fit.log_shape, fit.covariance, fit.log_likelihood, fit.n,
                            fit.n_events, fit.n_iter, fit.converged, fit.names)


# ----------------------------------------------------------------------------- predictions

def _linear_se(X: np.ndarray, cov: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", X, cov, X), 0.0))
    return out


def _design(X: Any, p: int) -> np.ndarray:
    Xa = as_float_array(X, "X")
    Xa = Xa.reshape(1, -1) if Xa.ndim == 1 else Xa
    if Xa.ndim != 2 or Xa.shape[1] != p:
        raise InputError(f"X must have {p} columns, got shape {Xa.shape}")
    return Xa


def predict_mean(X: Any, coefficients: Any, covariance: Any, ci_level: float = 0.95) -> PredictionEstimate:
    """``x'β`` with the interval ``x'β ± z √(x'Σx)`` (the mean, not a new patient's value).

    Examples
    --------
    >>> import numpy as np
    >>> pr = predict_mean([1.0, 2.0], [1.0, 0.5], np.diag([0.04, 0.01]))
    >>> float(pr.estimate[0]), round(float(pr.standard_error[0]), 6)
    (2.0, 0.282843)
    """
    b = as_float_array(coefficients, "coefficients", ndim=1)
    Xa = _design(X, b.size)
    eta = Xa @ b
    se = _linear_se(Xa, as_float_array(covariance, "covariance", ndim=2))
    z = normal_quantile(ci_level)
    return PredictionEstimate(eta, eta - z * se, eta + z * se, se, "identity", ci_level)


def predict_probability(X: Any, coefficients: Any, covariance: Any, ci_level: float = 0.95) -> PredictionEstimate:
    """``expit(x'β)`` with the interval built on the logit scale and transformed back.

    Examples
    --------
    >>> import numpy as np
    >>> pr = predict_probability([1.0, 0.0], [0.0, 1.0], np.diag([0.25, 0.1]))
    >>> float(pr.estimate[0]), [round(float(v), 4) for v in (pr.ci_low[0], pr.ci_high[0])]
    (0.5, [0.2729, 0.7271])
    """
    b = as_float_array(coefficients, "coefficients", ndim=1)
    Xa = _design(X, b.size)
    eta = Xa @ b
    se = _linear_se(Xa, as_float_array(covariance, "covariance", ndim=2))
    z = normal_quantile(ci_level)
    return PredictionEstimate(expit(eta), expit(eta - z * se), expit(eta + z * se), se, "logit", ci_level)


def predict_median_time(X: Any, coefficients: Any, log_shape: float, covariance: Any,
                        ci_level: float = 0.95) -> PredictionEstimate:
    """Weibull AFT median ``exp(x'β + σ log log 2)`` (``σ = 1/k``) with the interval built on the
    log scale; the gradient for the delta method is ``(x, −σ log log 2)``.

    Examples
    --------
    >>> import numpy as np
    >>> pr = predict_median_time([1.0], [np.log(100.0)], 0.0, np.zeros((2, 2)))
    >>> round(float(pr.estimate[0]), 4)   # exponential with mean 100: median 100 log 2
    69.3147
    """
    b = as_float_array(coefficients, "coefficients", ndim=1)
    Xa = _design(X, b.size)
    sigma = math.exp(-float(log_shape))
    log_m = Xa @ b + sigma * LOG_LOG_2
    G = np.column_stack([Xa, np.full(Xa.shape[0], -sigma * LOG_LOG_2)])
    se = _linear_se(G, as_float_array(covariance, "covariance", ndim=2))
    z = normal_quantile(ci_level)
    return PredictionEstimate(np.exp(log_m), np.exp(log_m - z * se), np.exp(log_m + z * se), se, "log", ci_level)


def _offset_intercept_logistic(y: np.ndarray, offset: np.ndarray) -> float:
    def crossprod(beta: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        eta = offset + beta[0]
        e = expit(eta)
        return (np.array([[float(np.sum(e * (1 - e)))]]), np.array([float(np.sum(y - e))]),
                float(np.sum(y * eta - np.logaddexp(0.0, eta))))
    return float(fit_logistic_irls(crossprod, 1).coefficients[0])


def refit_intercept(kind: str, X: Any, coefficients: Any, *, y: Any) -> np.ndarray:
    """Re-estimate the intercept (column 0) of a least-squares (``continuous``) or logistic
    (``binary``) model with the other coefficients fixed as an offset: the mean residual, or the
    logistic intercept. The step after uniform shrinkage
    (:func:`shrink_coefficients`).

    >>> import numpy as np
    >>> X = np.column_stack([np.ones(4), [0.0, 1.0, 2.0, 3.0]])
    >>> refit_intercept("continuous", X, [9.0, 1.0], y=[1.0, 3.0, 5.0, 7.0]).tolist()  # 4 - 1.5
    [2.5, 1.0]
    """
    Xa = as_float_array(X, "X", ndim=2)
    beta = as_float_array(coefficients, "coefficients", ndim=1).copy()
    offset = Xa[:, 1:] @ beta[1:]
    if kind == "continuous":
        beta[0] = float(np.mean(vector(y, "y", Xa.shape[0]) - offset))
    elif kind == "binary":
        beta[0] = _offset_intercept_logistic(binary(y, "y", Xa.shape[0]), offset)
    else:
        raise InputError(f"kind must be continuous or binary, got {kind!r}")
    return beta


def predict_observation(X: Any, coefficients: Any, covariance: Any, residual_sd: float, df_resid: int,
                        level: float = 0.90) -> PredictionEstimate:
    """Interval for ONE new patient's value of a continuous outcome (a prediction interval):
    ``x'β ± t_{df} √(s² + x'Σx)`` — the spread of patients like this one (``s²``, the residual
    variance) plus the uncertainty of their mean (``x'Σx``). A share ``level`` of new patients
    like this one fall within it when the model holds and its residuals are normal.
    ``standard_error`` is ``√(s² + x'Σx)``.

    References
    ----------
    Draper NR, Smith H. Applied Regression Analysis, 3rd ed. Wiley; 1998, §3.4 (the interval
    for a new observation; statsmodels ``get_prediction().summary_frame()["obs_ci_*"]``).

    Examples
    --------
    >>> pr = predict_observation([1.0, 2.0], [1.0, 0.5], np.diag([0.04, 0.01]), 3.0, 1_000_000, 0.95)
    >>> round(float(pr.ci_low[0]), 3), round(float(pr.ci_high[0]), 3)   # 2 ± 1.96 √(9 + 0.08)
    (-3.906, 7.906)
    """
    b = as_float_array(coefficients, "coefficients", ndim=1)
    Xa = as_float_array(X, "X")
    Xa = Xa.reshape(1, -1) if Xa.ndim == 1 else Xa
    if Xa.shape[1] != b.size:
        raise InputError(f"X must have {b.size} columns, got shape {Xa.shape}")
    if not (0.0 < level < 1.0) or not residual_sd >= 0 or df_resid < 1:
        raise InputError("need 0 < level < 1, residual_sd >= 0 and df_resid >= 1")
    cov = as_float_array(covariance, "covariance", ndim=2)
    eta = Xa @ b
    se = np.sqrt(residual_sd ** 2 + np.maximum(np.einsum("ij,jk,ik->i", Xa, cov, Xa), 0.0))
    q = t_ppf(0.5 + level / 2.0, float(df_resid))
    return PredictionEstimate(eta, eta - q * se, eta + q * se, se, "identity", level)


def shrink_coefficients(kind: str, X: Any, coefficients: Any, factor: float, *, y: Any = None, time: Any = None,
                        event: Any = None, exempt: Sequence[int] = (), distribution: str = "weibull"
                        ) -> tuple[np.ndarray, float | None]:
    """Uniform shrinkage: multiply the predictor effects (every coefficient but the intercept,
    column 0, and the ``exempt`` columns) by ``factor`` in [0, 1] and re-estimate the intercept
    on the same data with the shrunken linear predictor as offset — the mean residual (least
    squares), a logistic intercept, or an AFT intercept and shape of ``distribution``
    (``kind``: ``continuous``, ``binary``, ``time_to_event``). ``factor`` 0 removes the
    predictor effects: the model then predicts the average of its data (with the exempt terms).
    Returns the coefficients and, for an AFT model, the re-estimated ``log k`` (else ``None``).

    References
    ----------
    Van Houwelingen JC, Le Cessie S. Predictive value of statistical models. Stat Med.
    1990;9(11):1303-1325. Steyerberg EW. Clinical Prediction Models, 2nd ed. Springer; 2019,
    §13.2.

    Examples
    --------
    >>> X = np.column_stack([np.ones(4), [0.0, 1.0, 2.0, 3.0]])
    >>> b, _ = shrink_coefficients("continuous", X, [1.0, 2.0], 0.5, y=[1.0, 3.0, 5.0, 7.0])
    >>> b.tolist()   # slope halved; intercept = mean(y - 1.0 x) = 4 - 1.5
    [2.5, 1.0]
    """
    Xa = as_float_array(X, "X", ndim=2)
    beta = as_float_array(coefficients, "coefficients", ndim=1).copy()
    if isinstance(factor, bool) or not (isinstance(factor, (int, float)) and 0.0 <= factor <= 1.0):
        raise InputError(f"the shrinkage factor must be in [0, 1], got {factor!r}")
    scale = np.full(beta.size, float(factor))
    scale[0] = 1.0
    scale[list(exempt)] = 1.0
    beta = beta * scale
    if kind != "time_to_event":
        return refit_intercept(kind, Xa, beta, y=y), None
    t = vector(time, "time", Xa.shape[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        fit = fit_aft(np.ones((t.size, 1)), t, event, distribution, offset=Xa[:, 1:] @ beta[1:])
    beta[0] = float(fit.coefficients[0])
    return beta, fit.log_shape
