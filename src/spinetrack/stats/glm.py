"""Logistic regression by Newton–Raphson / IRLS, one aggregate query per iteration.

The propensity-score model is fitted without ever pulling rows into Python. For the current
coefficients ``beta`` the analytics engine evaluates, in ONE aggregate query over all rows
``i`` (``x_i`` the covariate row *including* the intercept column, ``y_i`` in {0, 1}, ``w_i`` a
non-negative case / frequency weight, 1 when unweighted)::

    eta_i = x_i' beta
    e_i   = 1 / (1 + exp(-eta_i))                      # fitted probability
    info[j, k] = SUM_i  w_i * e_i * (1 - e_i) * x_ij * x_ik   # X'WX, W = diag(w e (1-e))
    score[j]   = SUM_i  w_i * (y_i - e_i) * x_ij              # X'(w (y - e)), the gradient
    loglik     = SUM_i  w_i * (y_i * eta_i - log(1 + exp(eta_i)))

(``p (p + 1) / 2`` distinct sums for ``info`` — see :func:`symmetric_from_triangle` — plus
``p`` for ``score`` and one for ``loglik``.) In SQL, ``log(1 + exp(eta))`` is best written
``greatest(eta, 0) + ln(1 + exp(-abs(eta)))`` to avoid overflow. An engine that prefers the
classical IRLS form may return ``X'Wz`` with the working response
``z_i = eta_i + (y_i - e_i) / (e_i (1 - e_i))`` instead of the score; pass
``gradient="working_response"`` and the score is recovered as ``X'Wz - X'WX beta``.

:func:`fit_logistic_irls` does the Newton updates ``beta += info^-1 score`` (with step halving
when the log-likelihood would fall), stops when the step is below ``tol`` relative to the size
of ``beta`` (or the log-likelihood can no longer improve at machine precision), and returns
the coefficients with standard errors from the inverse observed information at the solution.
With frequency weights these equal the fit on the expanded data (statsmodels ``freq_weights``).
With sampling or inverse-probability weights the model-based standard errors are NOT
design-consistent; use a sandwich instead.

:func:`logistic_crossprod_numpy` builds the same callback from in-memory arrays: the oracle
for the engine's SQL and a fallback for small data.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from spinetrack.errors import InputError, SpinetrackError
from spinetrack.stats._common import (
    as_float_array,
    freeze,
    normal_quantile,
    safe_cholesky,
    to_jsonable,
)

__all__ = [
    "ConvergenceWarning",
    "CrossprodFn",
    "LogisticFitResult",
    "SeparationError",
    "fit_logistic_irls",
    "logistic_crossprod_numpy",
    "symmetric_from_triangle",
]

CrossprodFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, float]]
"""``crossprod(beta) -> (info, gradient, loglik)``: the engine's aggregate for one iteration."""

class ConvergenceWarning(SpinetrackError, UserWarning):
    """An iterative fit stopped at ``max_iter`` without meeting its convergence criterion."""


class SeparationError(InputError):
    """The outcome is (quasi-)perfectly separated by the covariates: the MLE does not exist.

    Some coefficient runs off to infinity. Typical causes: a covariate level in which every
    patient got the same treatment, or a covariate that is a proxy for the treatment.
    ``column`` names the coefficient that diverges fastest (its index when no names were given).
    """

    def __init__(self, message: str, *, column: str | None = None, coefficients: np.ndarray | None = None,
                 names: Sequence[str] | None = None) -> None:
        super().__init__(message)
        self.column = column
        self.coefficients = None if coefficients is None else np.array(coefficients, dtype=float)
        self.names = None if names is None else tuple(names)


@dataclass(frozen=True, eq=False)
class LogisticFitResult:
    """A fitted logistic regression.

    Attributes
    ----------
    coefficients : ndarray, shape (p,)
        Maximum likelihood estimates, in the column order of the design.
    standard_errors : ndarray, shape (p,)
        Square roots of the diagonal of ``covariance``.
    covariance : ndarray, shape (p, p)
        Inverse of the observed (= expected, canonical link) information at the solution.
    log_likelihood : float
        Log-likelihood at the solution (weighted when case weights were used).
    n_iter : int
        Number of Newton iterations (each one aggregate query; step halving adds queries).
    converged : bool
        Whether the convergence criterion was met.
    method : str
        Description of the fit.
    names : tuple of str or None
        Column names, when given.
    weights_note : str or None
        What the case weights were, as told by the caller (e.g. ``"frequency weights"``).
    """

    coefficients: np.ndarray
    standard_errors: np.ndarray
    covariance: np.ndarray
    log_likelihood: float
    n_iter: int
    converged: bool
    method: str
    names: tuple[str, ...] | None = None
    weights_note: str | None = None
    information: np.ndarray | None = None  # X'WX at the solution (the inverse of ``covariance``)

    @property
    def z_values(self) -> np.ndarray:
        """Wald statistics ``coefficients / standard_errors``."""
        return self.coefficients / self.standard_errors

    @property
    def p_values(self) -> np.ndarray:
        """Two-sided Wald p-values."""
        z = np.abs(self.z_values)
        return np.array([math.erfc(v / math.sqrt(2.0)) for v in z])

    def confidence_intervals(self, ci_level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Wald intervals ``(ci_low, ci_high)`` for the coefficients."""
        z = normal_quantile(ci_level)
        return self.coefficients - z * self.standard_errors, self.coefficients + z * self.standard_errors

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable mapping of the result."""
        return to_jsonable({
            "coefficients": self.coefficients,
            "standard_errors": self.standard_errors,
            "covariance": self.covariance,
            "log_likelihood": self.log_likelihood,
            "n_iter": self.n_iter,
            "converged": self.converged,
            "method": self.method,
            "names": list(self.names) if self.names is not None else None,
            "weights_note": self.weights_note,
        })


def symmetric_from_triangle(values: Sequence[float] | np.ndarray, p: int) -> np.ndarray:
    """Rebuild a symmetric ``p x p`` matrix from its upper triangle in row-major order.

    An engine returns the ``p (p + 1) / 2`` distinct sums of a symmetric cross-product
    ``SUM_i a_i x_ij x_ik`` for ``j <= k``, ordered ``(0,0), (0,1), ..., (0,p-1), (1,1), ...``
    (the order of :func:`numpy.triu_indices`).

    Parameters
    ----------
    values : array_like, shape (p (p + 1) / 2,)
        The upper-triangle entries.
    p : int
        Matrix dimension.

    Returns
    -------
    ndarray, shape (p, p)

    References
    ----------
    NumPy ``triu_indices`` documentation (row-major upper-triangle ordering).

    Examples
    --------
    >>> symmetric_from_triangle([1.0, 2.0, 3.0], 2)
    array([[1., 2.],
           [2., 3.]])
    """
    vals = as_float_array(values, "values", ndim=1)
    if p < 1 or vals.size != p * (p + 1) // 2:
        raise InputError(f"expected {p * (p + 1) // 2} upper-triangle values for p={p}, got {vals.size}")
    out = np.zeros((p, p))
    iu = np.triu_indices(p)
    out[iu] = vals
    out[(iu[1], iu[0])] = vals
    return out


def _log1pexp(eta: np.ndarray) -> np.ndarray:
    """``log(1 + exp(eta))`` without overflow."""
    return np.logaddexp(0.0, eta)


def _expit(eta: np.ndarray) -> np.ndarray:
    out = np.empty_like(eta)
    pos = eta >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-eta[pos]))
    ez = np.exp(eta[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def logistic_crossprod_numpy(
    X: np.ndarray, y: np.ndarray, w: np.ndarray | None = None
) -> CrossprodFn:
    """The per-iteration aggregate of :func:`fit_logistic_irls`, computed from arrays.

    This is the row-level oracle for the engine's query (and a fallback for small data): it
    returns exactly the sums listed in the module docstring.

    Parameters
    ----------
    X : ndarray, shape (n, p)
        Design matrix, including the intercept column if wanted.
    y : ndarray, shape (n,)
        Outcome in [0, 1] (0/1, or a proportion when ``w`` holds binomial totals).
    w : ndarray, shape (n,), optional
        Non-negative case (frequency) weights; all ones when omitted.

    Returns
    -------
    callable
        ``crossprod(beta) -> (info, score, loglik)``.

    References
    ----------
    McCullagh P, Nelder JA. Generalized Linear Models, 2nd ed. Chapman & Hall; 1989, §2.5
    (iteratively reweighted least squares) and §4.4 (binary data).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.column_stack([np.ones(4), [0.0, 1.0, 2.0, 3.0]])
    >>> info, score, loglik = logistic_crossprod_numpy(X, np.array([0, 0, 1, 1]))(np.zeros(2))
    >>> info
    array([[1. , 1.5],
           [1.5, 3.5]])
    >>> score
    array([0., 2.])
    >>> round(loglik, 6)  # 4 * log(1/2)
    -2.772589
    """
    Xa = as_float_array(X, "X", ndim=2)
    ya = as_float_array(y, "y", ndim=1)
    n, p = Xa.shape
    if ya.shape[0] != n:
        raise InputError(f"y has {ya.shape[0]} rows but X has {n}")
    if np.any((ya < 0) | (ya > 1)):
        raise InputError("y must lie in [0, 1]")
    if w is None:
        wa = np.ones(n)
    else:
        wa = as_float_array(w, "w", ndim=1)
        if wa.shape[0] != n:
            raise InputError(f"w has {wa.shape[0]} rows but X has {n}")
        if np.any(wa < 0):
            raise InputError("case weights must be non-negative")

    def crossprod(beta: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        b = np.asarray(beta, dtype=float)
        if b.shape != (p,):
            raise InputError(f"beta must have shape ({p},), got {b.shape}")
        eta = Xa @ b
        e = _expit(eta)
        info = (Xa * (wa * e * (1.0 - e))[:, None]).T @ Xa
        score = Xa.T @ (wa * (ya - e))
        loglik = float(np.sum(wa * (ya * eta - _log1pexp(eta))))
        return info, score, loglik

    return crossprod


def _evaluate(
    crossprod: CrossprodFn, beta: np.ndarray, p: int, gradient: str
) -> tuple[np.ndarray, np.ndarray, float]:
    try:
        out = crossprod(beta.copy())
        info_raw, grad_raw, ll_raw = out
    except (TypeError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"crossprod(beta) must return (info, gradient, loglik): {exc}") from exc
    info = as_float_array(info_raw, "crossprod info", ndim=2)
    grad = as_float_array(grad_raw, "crossprod gradient", ndim=1)
    if info.shape != (p, p) or grad.shape != (p,):
        raise InputError(
            f"crossprod returned shapes {info.shape} and {grad.shape}; "
            f"expected ({p}, {p}) and ({p},)"
        )
    ll = float(ll_raw)
    if not math.isfinite(ll):
        raise InputError("crossprod returned a non-finite log-likelihood")
    info = 0.5 * (info + info.T)
    score = grad - info @ beta if gradient == "working_response" else grad
    return info, score, ll


def _cholesky(info: np.ndarray) -> np.ndarray | None:
    return safe_cholesky(info)


def _solve_chol(chol: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    return np.linalg.solve(chol.T, np.linalg.solve(chol, rhs))


def fit_logistic_irls(
    crossprod: CrossprodFn,
    p: int,
    *,
    max_iter: int = 50,
    tol: float = 1e-10,
    start: np.ndarray | None = None,
    names: Sequence[str] | None = None,
    weights_note: str | None = None,
    gradient: Literal["score", "working_response"] = "score",
) -> LogisticFitResult:
    """Fit a logistic regression by Newton–Raphson (= IRLS) from aggregate cross-products.

    Parameters
    ----------
    crossprod : callable
        ``crossprod(beta) -> (info, gradient, loglik)`` for the current coefficients; the
        engine computes it in one aggregate query (sums listed in the module docstring).
    p : int
        Number of coefficients (columns of the design, intercept included).
    max_iter : int, default 50
        Maximum number of Newton iterations.
    tol : float, default 1e-10
        Convergence when ``max |step| <= tol * (1 + max |beta|)``.
    start : ndarray, optional
        Starting coefficients; zeros by default.
    names : sequence of str, optional
        Column names, carried into the result.
    weights_note : str, optional
        What the case weights mean (carried into the result and its ``method``).
    gradient : {"score", "working_response"}, default "score"
        Whether ``crossprod`` returns the score ``X'(w (y - e))`` or ``X'Wz``.

    Returns
    -------
    LogisticFitResult

    Raises
    ------
    spinetrack.errors.InputError
        Bad arguments, a callback returning wrong shapes or non-finite values, or a singular
        information matrix at the start (collinear or constant columns).
    SeparationError
        The covariates separate the outcome (the MLE does not exist).

    Warns
    -----
    ConvergenceWarning
        ``max_iter`` reached without convergence (and no sign of separation); the result has
        ``converged=False``.

    References
    ----------
    McCullagh P, Nelder JA. Generalized Linear Models, 2nd ed. Chapman & Hall; 1989, §2.5.
    Albert A, Anderson JA. On the existence of maximum likelihood estimates in logistic
    regression models. Biometrika. 1984;71(1):1-10 (separation).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.column_stack([np.ones(6), [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]])
    >>> y = np.array([0, 0, 1, 0, 1, 1])
    >>> fit = fit_logistic_irls(logistic_crossprod_numpy(X, y), p=2)
    >>> fit.converged
    True
    >>> np.round(fit.coefficients, 4)   # statsmodels Logit: -3.0351, 1.2140
    array([-3.0351,  1.214 ])
    >>> np.round(fit.standard_errors, 4)
    array([2.5457, 0.9126])
    """
    if not isinstance(p, (int, np.integer)) or p < 1:
        raise InputError(f"p must be a positive integer, got {p!r}")
    if not (isinstance(max_iter, (int, np.integer)) and max_iter >= 1):
        raise InputError(f"max_iter must be a positive integer, got {max_iter!r}")
    if not (tol > 0):
        raise InputError(f"tol must be positive, got {tol!r}")
    if gradient not in ("score", "working_response"):
        raise InputError(f"gradient must be 'score' or 'working_response', got {gradient!r}")
    if names is not None:
        names = tuple(str(n) for n in names)
        if len(names) != p:
            raise InputError(f"{len(names)} names given for {p} coefficients")
    beta = np.zeros(p) if start is None else as_float_array(start, "start", ndim=1)
    if beta.shape != (p,):
        raise InputError(f"start must have shape ({p},), got {beta.shape}")

    info, score, ll = _evaluate(crossprod, beta, p, gradient)
    chol = _cholesky(info)
    if chol is None:
        raise InputError(
            "the information matrix X'WX is singular at the start: a covariate is constant, "
            "duplicated or collinear with others (or a weight column is all zero)"
        )

    converged = False
    n_iter = 0
    size_history: list[float] = []
    for n_iter in range(1, max_iter + 1):
        step = _solve_chol(chol, score)
        scale = 1.0 + float(np.max(np.abs(beta)))
        # At the optimum, rounding noise can keep the step just above ``tol``; stop when the
        # predicted gain in log-likelihood is at machine precision AND the step is small.
        if (0.5 * float(score @ step) <= 1e-15 * (1.0 + abs(ll))
                and float(np.max(np.abs(step))) <= math.sqrt(tol) * scale):
            converged = True
            n_iter -= 1
            break
        t = 1.0
        for _ in range(40):
            cand = beta + t * step
            info_c, score_c, ll_c = _evaluate(crossprod, cand, p, gradient)
            if ll_c >= ll - 1e-12 * (1.0 + abs(ll)):
                break
            t *= 0.5
        else:
            raise InputError(
                "step halving failed: the callback's log-likelihood is inconsistent with its score"
            )
        moved = t * step
        beta, info, score, ll = cand, info_c, score_c, ll_c
        size_history.append(float(np.max(np.abs(beta))))
        chol = _cholesky(info)
        if chol is None:
            # X'WX was positive definite at the start, so it can only lose rank because the
            # weights e(1 - e) vanished: fitted probabilities of 0 or 1, i.e. separation.
            raise SeparationError(_separation_message(beta, names), column=_diverging(beta, names), coefficients=beta,
                                  names=names)
        if ll > -1e-8:
            raise SeparationError(_separation_message(beta, names), column=_diverging(beta, names), coefficients=beta,
                                  names=names)  # complete separation
        if float(np.max(np.abs(moved))) <= tol * (1.0 + float(np.max(np.abs(beta)))):
            converged = True
            break

    if not converged:
        recent = size_history[-6:]
        if n_iter >= 20 and len(recent) == 6 and all(b > a for a, b in itertools.pairwise(recent)):
            # Newton on a concave likelihood with a finite maximum converges in a handful of
            # iterations; coefficients still growing after 20 means the maximum is at infinity.
            raise SeparationError(_separation_message(beta, names), column=_diverging(beta, names), coefficients=beta,
                                  names=names)
        warnings.warn(
            f"logistic regression did not converge in {max_iter} iterations "
            f"(last log-likelihood {ll:.6g}); the result has converged=False",
            ConvergenceWarning,
            stacklevel=2,
        )
    assert chol is not None
    cov = _solve_chol(chol, np.eye(p))
    cov = 0.5 * (cov + cov.T)
    method = "logistic regression, Newton-Raphson/IRLS on aggregate cross-products"
    if weights_note:
        method += f" ({weights_note})"
    return LogisticFitResult(
        coefficients=freeze(beta.copy()),
        standard_errors=freeze(np.sqrt(np.diag(cov))),
        covariance=freeze(cov),
        information=freeze(0.5 * (info + info.T)),
        log_likelihood=ll,
        n_iter=n_iter,
        converged=converged,
        method=method,
        names=names,
        weights_note=weights_note,
    )


def _diverging(beta: np.ndarray, names: Sequence[str] | None) -> str:
    j = int(np.argmax(np.abs(beta)))
    return names[j] if names is not None else str(j)


def _separation_message(beta: np.ndarray, names: Sequence[str] | None) -> str:
    j = int(np.argmax(np.abs(beta)))
    label = names[j] if names is not None else f"column {j}"
    return (
        f"the covariates (quasi-)perfectly separate the outcome: coefficient of {label} is "
        f"diverging ({beta[j]:.3g}); the maximum likelihood estimate does not exist. Remove or "
        "merge the covariate level in which every patient had the same outcome/treatment."
    )
