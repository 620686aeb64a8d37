"""Augmented IPW (doubly robust, ATE) — :func:`estimate_aipw`, finished from engine sums.

After the propensity model (:mod:`spinetrack.stats.effects`, whose notation this module shares:
``x`` = the propensity design row including the intercept, ``t`` = treatment 0/1, ``y`` =
outcome, ``e = expit(x' beta)``), two more queries:

(a) per arm, the least-squares cross-products of the outcome regression,
``sum_xx = SUM v x x'`` and ``sum_xy = SUM v x y`` (``v`` = 1 for OLS, or any fixed
regression weight) → :func:`fit_outcome_regression` gives ``gamma_1``, ``gamma_0``;
(b) over all rows, with ``m_a = x' gamma_a``::

    psi1 = m1 + t (y - m1) / e
    psi0 = m0 + (1 - t) (y - m0) / (1 - e)
    psi  = psi1 - psi0
    n, SUM t, SUM psi, SUM psi^2, SUM psi1, SUM psi0

The estimate is ``mean(psi)`` and its variance ``(SUM psi^2 - n mean(psi)^2) / n^2``: the
empirical influence-function variance, which treats the nuisance models as known
(consistent when both models are correct; Lunceford & Davidian 2004, §3.3).

The outcome design for (a) may differ from the propensity design.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from spinetrack.errors import InputError
from spinetrack.stats._common import as_float_array, check_ci_level, normal_quantile, safe_cholesky, two_sided_p_value
from spinetrack.stats.effects import _MEASURES, EffectEstimate, _check_rows

__all__ = [
    "AIPWSums",
    "OutcomeRegressionSums",
    "aipw_sums_numpy",
    "estimate_aipw",
    "fit_outcome_regression",
    "outcome_regression_sums_numpy",
]


@dataclass(frozen=True, eq=False)
class OutcomeRegressionSums:
    """Least-squares cross-products of one arm's outcome regression: ``X'VX``, ``X'Vy``."""

    sum_xx: np.ndarray
    sum_xy: np.ndarray
    n: int


@dataclass(frozen=True)
class AIPWSums:
    """Sums of the AIPW influence terms over all rows (module docstring, item 2b)."""

    n: int
    n_treated: int
    sum_psi: float
    sum_psi2: float
    sum_psi1: float
    sum_psi0: float


def outcome_regression_sums_numpy(
    X: np.ndarray, t: np.ndarray, y: np.ndarray, v: np.ndarray | None = None
) -> dict[int, OutcomeRegressionSums]:
    """Per-arm least-squares cross-products ``X'VX``, ``X'Vy`` from arrays (oracle).

    Parameters
    ----------
    X : ndarray, shape (n, q)
        Outcome-model design, intercept included.
    t, y : ndarray, shape (n,)
    v : ndarray, shape (n,), optional
        Fixed regression weights (ones: OLS).

    Returns
    -------
    dict
        ``{1: OutcomeRegressionSums, 0: OutcomeRegressionSums}``.

    References
    ----------
    Lunceford JK, Davidian M. Stat Med. 2004;23(19):2937-2960, §3.3.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.column_stack([np.ones(4), [0.0, 1.0, 0.0, 1.0]])
    >>> s = outcome_regression_sums_numpy(X, np.array([1, 1, 0, 0]), np.array([1.0, 3.0, 0.0, 1.0]))
    >>> fit_outcome_regression(s[1])
    array([1., 2.])
    """
    ya = as_float_array(y, "y", ndim=1)
    Xa, ta = _check_rows(X, t, (ya, "y"))
    va = np.ones(Xa.shape[0]) if v is None else as_float_array(v, "v", ndim=1)
    if va.shape != ta.shape or np.any(va < 0):
        raise InputError("v must hold one non-negative weight per row")
    out = {}
    for arm in (1, 0):
        s = ta == arm
        xs, vs = Xa[s], va[s]
        out[arm] = OutcomeRegressionSums(sum_xx=(xs * vs[:, None]).T @ xs, sum_xy=xs.T @ (vs * ya[s]),
                                         n=int(s.sum()))
    return out


def fit_outcome_regression(sums: OutcomeRegressionSums) -> np.ndarray:
    """Least-squares coefficients ``(X'VX)^-1 X'Vy`` of one arm's outcome regression.

    Parameters
    ----------
    sums : OutcomeRegressionSums

    Returns
    -------
    ndarray

    References
    ----------
    Lunceford JK, Davidian M. Stat Med. 2004;23(19):2937-2960, §3.3.

    Examples
    --------
    >>> import numpy as np
    >>> fit_outcome_regression(OutcomeRegressionSums(np.array([[2.0]]), np.array([3.0]), n=2))
    array([1.5])
    """
    xx = as_float_array(sums.sum_xx, "sum_xx", ndim=2)
    xy = as_float_array(sums.sum_xy, "sum_xy", ndim=1)
    q = xy.shape[0]
    if xx.shape != (q, q):
        raise InputError(f"sum_xx must be ({q}, {q}), got {xx.shape}")
    chol = safe_cholesky(0.5 * (xx + xx.T))
    if chol is None:
        raise InputError("the outcome-regression cross-product X'VX is singular (collinear "
                         "or constant covariates within an arm)")
    return np.linalg.solve(chol.T, np.linalg.solve(chol, xy))


def aipw_sums_numpy(
    X: np.ndarray,
    t: np.ndarray,
    y: np.ndarray,
    e: np.ndarray,
    gamma_treated: np.ndarray,
    gamma_control: np.ndarray,
) -> AIPWSums:
    """The engine's AIPW aggregate (module docstring, (b)) from arrays (oracle).

    Parameters
    ----------
    X : ndarray, shape (n, q)
        Outcome-model design (as used for ``gamma``).
    t, y, e : ndarray, shape (n,)
        Treatment, outcome, propensity score.
    gamma_treated, gamma_control : ndarray, shape (q,)
        Outcome-regression coefficients per arm.

    Returns
    -------
    AIPWSums

    References
    ----------
    Robins JM, Rotnitzky A, Zhao LP. Estimation of regression coefficients when some
    regressors are not always observed. J Am Stat Assoc. 1994;89(427):846-866.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.ones((2, 1))
    >>> s = aipw_sums_numpy(X, np.array([1, 0]), np.array([2.0, 1.0]), np.full(2, 0.5),
    ...                     np.array([2.0]), np.array([1.0]))
    >>> s.sum_psi
    2.0
    """
    ya = as_float_array(y, "y", ndim=1)
    ea = as_float_array(e, "e", ndim=1)
    Xa, ta = _check_rows(X, t, (ya, "y"), (ea, "e"))
    if np.any((ea <= 0) | (ea >= 1)):
        raise InputError("propensity scores must lie strictly between 0 and 1")
    m1 = Xa @ as_float_array(gamma_treated, "gamma_treated", ndim=1)
    m0 = Xa @ as_float_array(gamma_control, "gamma_control", ndim=1)
    psi1 = m1 + ta * (ya - m1) / ea
    psi0 = m0 + (1.0 - ta) * (ya - m0) / (1.0 - ea)
    psi = psi1 - psi0
    return AIPWSums(n=int(ta.size), n_treated=int(ta.sum()), sum_psi=float(psi.sum()),
                    sum_psi2=float(psi @ psi), sum_psi1=float(psi1.sum()), sum_psi0=float(psi0.sum()))


def estimate_aipw(
    sums: AIPWSums,
    *,
    ci_level: float = 0.95,
    measure: Literal["mean difference", "risk difference"] = "mean difference",
) -> EffectEstimate:
    """Augmented IPW (doubly robust) ATE with an influence-function interval.

    Parameters
    ----------
    sums : AIPWSums
        The engine's aggregate (module docstring, (b)) or :func:`aipw_sums_numpy`.
    ci_level : float, default 0.95
    measure : {"mean difference", "risk difference"}
        Label only.

    Returns
    -------
    EffectEstimate

    References
    ----------
    Robins JM, Rotnitzky A, Zhao LP. J Am Stat Assoc. 1994;89(427):846-866.
    Lunceford JK, Davidian M. Stat Med. 2004;23(19):2937-2960, §3.3 (estimator and its
    influence-function variance).

    Examples
    --------
    >>> s = AIPWSums(n=4, n_treated=2, sum_psi=8.0, sum_psi2=20.0, sum_psi1=12.0, sum_psi0=4.0)
    >>> est = estimate_aipw(s)
    >>> est.estimate, est.standard_error   # mean 2, (20 - 4 * 4) / 16 = 0.25
    (2.0, 0.5)
    """
    check_ci_level(ci_level)
    if measure not in _MEASURES:
        raise InputError(f"measure must be one of {_MEASURES}, got {measure!r}")
    n = int(sums.n)
    if n < 2 or not 0 < sums.n_treated < n:
        raise InputError("AIPW needs at least one row in each arm")
    mean = sums.sum_psi / n
    var = (sums.sum_psi2 - n * mean * mean) / (n * n)
    se = math.sqrt(max(var, 0.0))
    z = normal_quantile(ci_level)
    return EffectEstimate(
        estimate=mean,
        ci_low=mean - z * se,
        ci_high=mean + z * se,
        ci_level=float(ci_level),
        standard_error=se,
        p_value=two_sided_p_value(mean / se) if se > 0 else float("nan"),
        measure=measure,
        estimand="ATE",
        scale="difference",
        null_value=0.0,
        mean_treated=sums.sum_psi1 / n,
        mean_control=sums.sum_psi0 / n,
        n_treated=int(sums.n_treated),
        n_control=n - int(sums.n_treated),
        ess_treated=None,
        ess_control=None,
        method="augmented inverse probability weighting (doubly robust), linear outcome "
               "regressions per arm; influence-function variance (Lunceford & Davidian 2004)",
    )
