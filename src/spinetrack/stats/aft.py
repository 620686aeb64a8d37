"""Parametric accelerated failure time (AFT) models for right-censored times: Weibull,
log-normal and log-logistic, chosen by AIC; predictions of quantiles and of the risk by a
horizon with delta-method intervals; and calibration-in-the-large by risk group against the
Kaplan–Meier estimate.

Model (Kalbfleisch & Prentice 2002, §2.2.2–2.2.3)::

    log T = x'β + σ W,     σ = 1/k,   k = exp(γ)  ("log_shape" γ = log k)

with ``W`` the standard minimum extreme-value (Weibull), normal (log-normal) or logistic
(log-logistic) distribution. With ``z = k (log t − x'β)`` the log-likelihood of a patient is
``log f_W(z) + γ − log t`` for an event (the density of ``T``) and ``log S_W(z)`` when
censored — the likelihood lifelines maximises, so log-likelihoods and AICs compare with its
``log_likelihood_`` and ``AIC_``. Parameters map to lifelines as:

==============  ====================  ===========================================
distribution    lifelines fitter      our ``coefficients`` / ``log_shape``
==============  ====================  ===========================================
``weibull``     ``WeibullAFTFitter``  ``lambda_`` / ``rho_`` (``log ρ``)
``lognormal``   ``LogNormalAFTFitter`` ``mu_`` / −``sigma_`` (lifelines: ``log σ``)
``loglogistic`` ``LogLogisticAFTFitter`` ``alpha_`` / ``beta_`` (``log β``)
==============  ====================  ===========================================

Fitting is Newton–Raphson on ``(β, γ)`` with step halving and a ridge while the information
is not positive definite (as :func:`spinetrack.stats.prediction.fit_weibull_aft`), started
from least squares of ``log t``. One routine serves the three distributions: with ``a`` and
``b`` the first and second derivatives of the patient's log-likelihood in ``z``, the score is
``(−k X'a, Σ(a z + d))`` and the Hessian ``[[k² X'diag(b)X, −k X'(a + b z)], [·, Σ(b z² + a z)]]``.

The normal tail ``log Φ(−z)`` is computed without scipy (the pure core imports only numpy):
the complementary error function by the rational approximations of the Cephes library
(S. L. Moshier, ``ndtr.c``, after Hart et al. *Computer Approximations*, 1968), evaluated on
the log scale so that it neither underflows nor loses precision far in the tail.

:func:`calibrate_survival_groups` (the Greenwood–Nam–D'Agostino test of calibration by risk
group) lives in :mod:`spinetrack.stats.survival_calibration` and is re-exported here.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
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
from spinetrack.stats.glm import ConvergenceWarning
from spinetrack.stats.survival_calibration import SurvivalCalibrationTable, calibrate_survival_groups

__all__ = [
    "DISTRIBUTIONS",
    "AFTFitResult",
    "AFTSelectionResult",
    "SurvivalCalibrationTable",
    "aft_quantile",
    "aft_survival",
    "calibrate_survival_groups",
    "fit_aft",
    "log_normal_sf",
    "predict_aft_quantile",
    "predict_aft_risk",
    "select_aft",
]

DISTRIBUTIONS = ("weibull", "lognormal", "loglogistic")
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_SQRT_HALF = math.sqrt(0.5)

# Cephes ndtr.c: erfc(x) = exp(-x²) P(x)/Q(x) for 1 <= x < 8, exp(-x²) R(x)/S(x) for x >= 8
# (Q and S with a leading coefficient 1), and erf(x) = x T(x²)/U(x²) for |x| < 1.
_P = (2.46196981473530512524e-10, 5.64189564831068821977e-1, 7.46321056442269912687e0, 4.86371970985681366614e1,
      1.96520832956077098242e2, 5.26445194995477358631e2, 9.34528527171957607540e2, 1.02755188689515710272e3,
      5.57535335369399327526e2)
_Q = (1.0, 1.32281951154744992508e1, 8.67072140885989742329e1, 3.54937778887819891062e2, 9.75708501743205489753e2,
      1.82390916687909736289e3, 2.24633760818710981792e3, 1.65666309194161350182e3, 5.57535340817727675546e2)
_R = (5.64189583547755073984e-1, 1.27536670759978104416e0, 5.01905042251180477414e0, 6.16021097993053585195e0,
      7.40974269950448939160e0, 2.97886665372100240670e0)
_S = (1.0, 2.26052863220117276590e0, 9.39603524938001434673e0, 1.20489539808096656605e1, 1.70814450747565897222e1,
      9.60896809063285878198e0, 3.36907645100081516050e0)
_T = (9.60497373987051638749e0, 9.00260197203842689217e1, 2.23200534594684319226e3, 7.00332514112805075473e3,
      5.55923013010394962768e4)
_U = (1.0, 3.35617141647503099647e1, 5.21357949780152679795e2, 4.59432382970980127987e3, 2.26290000613890934246e4,
      4.92673942608635921086e4)


def _polyval(coef: tuple[float, ...], x: np.ndarray) -> np.ndarray:
    out = np.full_like(x, coef[0])
    for c in coef[1:]:
        out = out * x + c
    return out


def _log_erfc_positive(x: np.ndarray) -> np.ndarray:
    """``log erfc(x)`` for ``x >= 1`` (no underflow: ``−x² + log(ratio)``)."""
    big = x >= 8.0
    ratio = np.where(big, _polyval(_R, x) / _polyval(_S, x), _polyval(_P, x) / _polyval(_Q, x))
    out: np.ndarray = -x * x + np.log(ratio)
    return out


def log_normal_sf(z: Any) -> np.ndarray:
    """``log Φ(−z) = log P(Z > z)`` for a standard normal ``Z``, accurate in both tails.

    Examples
    --------
    >>> [round(float(v), 10) for v in log_normal_sf([0.0, 1.959963984540054])]
    [-0.6931471806, -3.6888794541]
    >>> round(float(log_normal_sf([40.0])[0]), 4)   # Φ(−40) underflows to 0; its log does not (scipy log_ndtr)
    -804.6084
    """
    zz = np.asarray(z, dtype=float)
    x = zz * _SQRT_HALF  # Φ(−z) = erfc(z/√2) / 2
    ax = np.abs(x)
    out = np.empty_like(x)
    small = ax < 1.0
    if np.any(small):
        xs = x[small]
        w = xs * xs
        out[small] = np.log1p(-xs * _polyval(_T, w) / _polyval(_U, w)) - math.log(2.0)
    tail = ~small
    if np.any(tail):
        log_erfc = _log_erfc_positive(ax[tail])
        pos = x[tail] > 0
        # x >= 1: Φ(−z) = erfc(x)/2; x <= −1: Φ(−z) = 1 − erfc(|x|)/2
        out[tail] = np.where(pos, log_erfc - math.log(2.0), np.log1p(-0.5 * np.exp(log_erfc)))
    return out


def _softplus(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.logaddexp(0.0, z)
    return out


def _expit(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.exp(-np.logaddexp(0.0, -z))
    return out


def _check_distribution(distribution: str) -> None:
    if distribution not in DISTRIBUTIONS:
        raise InputError(f"distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")


def _terms(distribution: str, z: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per patient: the log-likelihood in ``z`` (``d log f_W(z) + (1 − d) log S_W(z)``), its
    first (``a``) and second (``b``) derivatives in ``z``."""
    if distribution == "weibull":
        u = np.exp(z)
        return d * z - u, d - u, -u
    if distribution == "lognormal":
        log_s = log_normal_sf(z)
        mills = np.exp(-0.5 * z * z - _HALF_LOG_2PI - log_s)  # φ(z) / Φ(−z)
        ll = d * (-0.5 * z * z - _HALF_LOG_2PI) + (1.0 - d) * log_s
        a = -d * z - (1.0 - d) * mills
        b = -d - (1.0 - d) * mills * (mills - z)
        return ll, a, b
    s = _expit(z)
    return d * z - (1.0 + d) * _softplus(z), d - (1.0 + d) * s, -(1.0 + d) * s * (1.0 - s)


def _evaluate(distribution: str, X: np.ndarray, logt: np.ndarray, d: np.ndarray, theta: np.ndarray
              ) -> tuple[float, np.ndarray, np.ndarray]:
    """Log-likelihood, gradient and Hessian in ``theta = (β, γ)`` (``logt`` net of any offset)."""
    beta, gamma = theta[:-1], theta[-1]
    p = X.shape[1]
    bad = (-math.inf, np.zeros_like(theta), np.zeros((p + 1, p + 1)))
    if not abs(gamma) < 700.0:  # exp would overflow (or NaN): a step that step halving undoes
        return bad
    k = math.exp(gamma)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        z = k * (logt - X @ beta)
        ll_z, a, b = _terms(distribution, z, d)
        ll = float(np.sum(ll_z) + np.sum(d) * gamma - np.sum(d * logt))
        if not math.isfinite(ll) or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
            return bad
        grad = np.empty(p + 1)
        grad[:p] = -k * (X.T @ a)
        grad[p] = float(np.sum(a * z + d))
        hess = np.empty((p + 1, p + 1))
        hess[:p, :p] = (k * k) * ((X * b[:, None]).T @ X)
        hess[:p, p] = hess[p, :p] = -k * (X.T @ (a + b * z))
        hess[p, p] = float(np.sum(b * z * z + a * z))
    return ll, grad, hess


# sd of W: π/√6 (extreme value), 1 (normal), π/√3 (logistic) — to start σ from the residual sd
_W_SD = {"weibull": math.pi / math.sqrt(6.0), "lognormal": 1.0, "loglogistic": math.pi / math.sqrt(3.0)}


@dataclass(frozen=True, eq=False)
class AFTFitResult:
    """A fitted AFT model (module docstring). ``coefficients`` are ``β``, ``log_shape`` is
    ``γ = log k = −log σ``; ``covariance`` is the inverse observed information of ``(β, γ)``
    (the last row and column belong to ``γ``)."""

    distribution: str
    coefficients: np.ndarray
    log_shape: float
    covariance: np.ndarray
    log_likelihood: float
    n: int
    n_events: int
    n_iter: int
    converged: bool
    names: tuple[str, ...] | None = None

    @property
    def shape(self) -> float:
        """``k = 1/σ``."""
        return math.exp(self.log_shape)

    @property
    def n_parameters(self) -> int:
        return int(self.coefficients.size) + 1

    @property
    def aic(self) -> float:
        """Akaike's information criterion ``2 (p + 1) − 2 log L``."""
        return 2.0 * self.n_parameters - 2.0 * self.log_likelihood

    @property
    def standard_errors(self) -> np.ndarray:
        out: np.ndarray = np.sqrt(np.diag(self.covariance))
        return out

    @property
    def method(self) -> str:
        return f"{_LABELS[self.distribution]} accelerated failure time, maximum likelihood (Newton-Raphson)"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = to_jsonable({
            "distribution": self.distribution, "coefficients": self.coefficients, "log_shape": self.log_shape,
            "covariance": self.covariance, "log_likelihood": self.log_likelihood, "aic": self.aic, "n": self.n,
            "n_events": self.n_events, "n_iter": self.n_iter, "converged": self.converged,
            "names": list(self.names) if self.names else None, "method": self.method})
        return out


_LABELS = {"weibull": "Weibull", "lognormal": "log-normal", "loglogistic": "log-logistic"}


def fit_aft(X: Any, time: Any, event: Any, distribution: str = "weibull", *, offset: Any = None,
            names: Sequence[str] | None = None, max_iter: int = 100, tol: float = 1e-10) -> AFTFitResult:
    """Fit an AFT model by maximum likelihood (module docstring).

    Parameters
    ----------
    X : ndarray, shape (n, p)
        The design (an intercept column for a usual model).
    time, event : ndarray
        Positive follow-up times and 0/1 event indicators.
    distribution : {"weibull", "lognormal", "loglogistic"}
    offset : ndarray, optional
        A fixed term added to ``x'β`` (``log T = offset + x'β + σW``).
    names : sequence of str, optional
        Column names, kept on the result.

    Returns
    -------
    AFTFitResult

    Raises
    ------
    spinetrack.errors.InputError
        Non-positive times, no events, or a singular information matrix.

    References
    ----------
    Kalbfleisch JD, Prentice RL. The Statistical Analysis of Failure Time Data, 2nd ed. Wiley;
    2002, §2.2 and §3.2.

    Examples
    --------
    >>> X = np.ones((6, 1))
    >>> fit = fit_aft(X, [2.0, 3.0, 5.0, 7.0, 11.0, 13.0], [1, 1, 1, 0, 1, 1], "lognormal")
    >>> round(float(fit.coefficients[0]), 4), round(-fit.log_shape, 4)  # lifelines LogNormalFitter: mu_, log sigma_
    (1.8101, -0.2894)
    """
    _check_distribution(distribution)
    Xa = as_float_array(X, "X", ndim=2)
    n, p = Xa.shape
    t = as_float_array(time, "time", ndim=1)
    d = as_float_array(event, "event", ndim=1)
    if t.size != n or d.size != n:
        raise InputError(f"time and event need {n} rows")
    if not np.all((d == 0.0) | (d == 1.0)):
        raise InputError("event must be 0/1")
    if np.any(t <= 0):
        raise InputError("survival times must be positive")
    if d.sum() == 0:
        raise InputError("no events: an AFT model cannot be fitted")
    logt = np.log(t)
    if offset is not None:
        logt = logt - as_float_array(offset, "offset", ndim=1)
    xtx = Xa.T @ Xa
    chol0 = safe_cholesky(0.5 * (xtx + xtx.T), rtol=1e-12)
    if chol0 is None:
        raise InputError("the design is rank deficient: a column is constant or collinear with others")
    beta0 = np.linalg.solve(chol0.T, np.linalg.solve(chol0, Xa.T @ logt))
    sd = float(np.std(logt - Xa @ beta0)) or 1.0
    theta = np.append(beta0, -math.log(max(sd / _W_SD[distribution], 1e-3)))
    ll, grad, hess = _evaluate(distribution, Xa, logt, d, theta)
    if not math.isfinite(ll):
        raise InputError(f"{_LABELS[distribution]} fit: the starting values give no finite likelihood")
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - the iteration count is returned after the loop
        info = -hess
        ridge = 0.0
        chol = safe_cholesky(info)
        while chol is None:
            ridge = max(2 * ridge, 1e-6 * float(np.max(np.abs(np.diag(info)))) + 1e-8)
            chol = safe_cholesky(info + ridge * np.eye(p + 1))
            if ridge > 1e12:
                raise InputError(f"{_LABELS[distribution]} fit: the information matrix is singular")
        step = np.linalg.solve(chol.T, np.linalg.solve(chol, grad))
        s = 1.0
        for _ in range(50):
            cand = theta + s * step
            ll_c, grad_c, hess_c = _evaluate(distribution, Xa, logt, d, cand)
            if ll_c >= ll - 1e-12 * (1.0 + abs(ll)):
                break
            s *= 0.5
        else:
            raise InputError(f"{_LABELS[distribution]} fit: step halving failed")
        moved = s * step
        theta, ll, grad, hess = cand, ll_c, grad_c, hess_c
        small = float(np.max(np.abs(moved)))
        if ridge == 0.0 and (small <= tol * (1.0 + float(np.max(np.abs(theta))))
                             or (small <= math.sqrt(tol) and abs(float(grad @ moved)) < 1e-14 * (1.0 + abs(ll)))):
            converged = True
            break
    if not converged:
        warnings.warn(f"{_LABELS[distribution]} AFT fit did not converge in {max_iter} iterations",
                      ConvergenceWarning, stacklevel=2)
    chol = safe_cholesky(-hess)
    if chol is None:
        raise InputError(f"{_LABELS[distribution]} fit: the information matrix is singular at the solution")
    cov = np.linalg.solve(chol.T, np.linalg.solve(chol, np.eye(p + 1)))
    cov = 0.5 * (cov + cov.T)
    return AFTFitResult(distribution, freeze(theta[:-1].copy()), float(theta[-1]), freeze(cov), ll, n, int(d.sum()),
                        it, converged, tuple(names) if names is not None else None)


@dataclass(frozen=True, eq=False)
class AFTSelectionResult:
    """The AFT distributions fitted to the same data and the one chosen (smallest AIC).
    ``aic`` holds each distribution's AIC (``None``: the fit failed, with the reason in
    ``failures``)."""

    chosen: str
    fit: AFTFitResult
    aic: Mapping[str, float | None]
    failures: Mapping[str, str]
    method: str = "smallest AIC among the fitted distributions (same data, same predictors)"

    def as_dict(self) -> dict[str, Any]:
        return {"chosen": self.chosen, "aic": dict(self.aic), "failures": dict(self.failures), "method": self.method}


def select_aft(X: Any, time: Any, event: Any, distributions: Sequence[str] = DISTRIBUTIONS, *,
               names: Sequence[str] | None = None) -> AFTSelectionResult:
    """Fit each distribution and keep the one with the smallest AIC (all have ``p + 1``
    parameters, so this is also the largest likelihood). A distribution whose fit fails (no
    convergence, a singular information matrix) is recorded and not chosen.

    References
    ----------
    Akaike H. A new look at the statistical model identification. IEEE Trans Automat Contr.
    1974;19(6):716-723. Collett D. Modelling Survival Data in Medical Research, 3rd ed. CRC;
    2015, §6.6 (comparing AFT distributions by AIC).

    Raises
    ------
    spinetrack.errors.InputError
        When no distribution could be fitted.
    """
    fits: dict[str, AFTFitResult] = {}
    aic: dict[str, float | None] = {}
    failures: dict[str, str] = {}
    for dist in distributions:
        _check_distribution(dist)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", ConvergenceWarning)
                fits[dist] = fit_aft(X, time, event, dist, names=names)
            aic[dist] = fits[dist].aic
        except (InputError, ConvergenceWarning, np.linalg.LinAlgError) as exc:
            aic[dist] = None
            failures[dist] = str(exc)
    if not fits:
        raise InputError("no AFT distribution could be fitted: " + "; ".join(f"{k}: {v}" for k, v in failures.items()))
    chosen = min(fits, key=lambda k: fits[k].aic)
    return AFTSelectionResult(chosen, fits[chosen], aic, failures)


# ----------------------------------------------------------------------------- predictions

def _w_quantile(distribution: str, p: float) -> float:
    """The ``p`` quantile of ``W`` (``P(W <= w) = p``)."""
    if not 0.0 < p < 1.0:
        raise InputError(f"the probability must be in (0, 1), got {p!r}")
    if distribution == "weibull":
        return math.log(-math.log1p(-p))
    if distribution == "lognormal":
        return NormalDist().inv_cdf(p)
    return math.log(p / (1.0 - p))


def _w_cdf(distribution: str, z: np.ndarray) -> np.ndarray:
    if distribution == "weibull":
        out: np.ndarray = -np.expm1(-np.exp(z))
        return out
    if distribution == "lognormal":
        return np.exp(log_normal_sf(-z))
    return _expit(z)


def _design(X: Any, p: int) -> np.ndarray:
    Xa = as_float_array(X, "X")
    Xa = Xa.reshape(1, -1) if Xa.ndim == 1 else Xa
    if Xa.ndim != 2 or Xa.shape[1] != p:
        raise InputError(f"X must have {p} columns, got shape {Xa.shape}")
    return Xa


def aft_quantile(X: Any, coefficients: Any, log_shape: float, distribution: str, probability: float) -> np.ndarray:
    """The time by which a share ``probability`` of patients like each row have had the event:
    ``exp(x'β + σ w_p)`` with ``w_p`` the ``probability`` quantile of ``W``.

    Examples
    --------
    >>> round(float(aft_quantile([1.0], [math.log(100.0)], 0.0, "lognormal", 0.5)[0]), 9)   # log-normal median e^μ
    100.0
    """
    _check_distribution(distribution)
    b = as_float_array(coefficients, "coefficients", ndim=1)
    Xa = _design(X, b.size)
    out: np.ndarray = np.exp(Xa @ b + math.exp(-float(log_shape)) * _w_quantile(distribution, probability))
    return out


def predict_aft_quantile(X: Any, coefficients: Any, log_shape: float, covariance: Any, distribution: str,
                         probability: float = 0.5, ci_level: float = 0.95) -> PredictionEstimate:
    """:func:`aft_quantile` with its delta-method interval built on the log scale (gradient
    ``(x, −σ w_p)`` in ``(β, γ)``): the uncertainty of the quantile of patients like this one,
    not the spread of one patient's time (that spread is the distribution itself).

    Examples
    --------
    >>> pr = predict_aft_quantile([1.0], [math.log(100.0)], 0.0, np.zeros((2, 2)), "weibull")
    >>> round(float(pr.estimate[0]), 4)   # exponential with mean 100: median 100 log 2
    69.3147
    """
    _check_distribution(distribution)
    b = as_float_array(coefficients, "coefficients", ndim=1)
    Xa = _design(X, b.size)
    sigma = math.exp(-float(log_shape))
    w = _w_quantile(distribution, probability)
    log_q = Xa @ b + sigma * w
    G = np.column_stack([Xa, np.full(Xa.shape[0], -sigma * w)])
    cov = as_float_array(covariance, "covariance", ndim=2)
    se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", G, cov, G), 0.0))
    z = normal_quantile(ci_level)
    return PredictionEstimate(np.exp(log_q), np.exp(log_q - z * se), np.exp(log_q + z * se), se, "log", ci_level)


def aft_survival(X: Any, coefficients: Any, log_shape: float, distribution: str, times: Any) -> np.ndarray:
    """``S(t | x)`` for each row of ``X`` (rows) and each of ``times`` (columns).

    Examples
    --------
    >>> np.round(aft_survival([[1.0]], [math.log(100.0)], 0.0, "weibull", [100.0]), 6)   # exp(-1)
    array([[0.367879]])
    """
    _check_distribution(distribution)
    b = as_float_array(coefficients, "coefficients", ndim=1)
    Xa = _design(X, b.size)
    t = as_float_array(times, "times", ndim=1)
    if np.any(t <= 0):
        raise InputError("times must be positive")
    z = math.exp(float(log_shape)) * (np.log(t)[None, :] - (Xa @ b)[:, None])
    out: np.ndarray = 1.0 - _w_cdf(distribution, z)
    return out


def predict_aft_risk(X: Any, coefficients: Any, log_shape: float, covariance: Any, distribution: str,
                     horizon: float, ci_level: float = 0.95) -> PredictionEstimate:
    """The risk of the event by ``horizon``, ``1 − S(horizon | x) = F_W(z_h)`` with
    ``z_h = k (log horizon − x'β)``, and its delta-method interval built on the ``z_h`` scale
    (gradient ``(−k x, z_h)`` in ``(β, γ)``) and transformed back, so it stays within (0, 1).
    ``scale`` is ``"z"`` and ``standard_error`` is that of ``z_h``.

    Examples
    --------
    >>> pr = predict_aft_risk([1.0], [math.log(100.0)], 0.0, np.zeros((2, 2)), "weibull", 100.0)
    >>> round(float(pr.estimate[0]), 6)   # 1 - exp(-1)
    0.632121
    """
    _check_distribution(distribution)
    b = as_float_array(coefficients, "coefficients", ndim=1)
    Xa = _design(X, b.size)
    if not horizon > 0:
        raise InputError(f"the horizon must be positive, got {horizon!r}")
    k = math.exp(float(log_shape))
    zh = k * (math.log(horizon) - Xa @ b)
    G = np.column_stack([-k * Xa, zh])
    cov = as_float_array(covariance, "covariance", ndim=2)
    se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", G, cov, G), 0.0))
    z = normal_quantile(ci_level)
    return PredictionEstimate(_w_cdf(distribution, zh), _w_cdf(distribution, zh - z * se),
                              _w_cdf(distribution, zh + z * se), se, "z", ci_level)
