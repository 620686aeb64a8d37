"""Propensity-score weights, trimming and effective sample size — formulas the engine mirrors.

The propensity score of row ``i`` is computed row-wise by the analytics engine from the fitted
coefficients (:func:`spinetrack.stats.glm.fit_logistic_irls`)::

    e_i = 1 / (1 + exp(-x_i' beta))

Every function here is a small vectorised numpy formula. Each docstring gives the SQL
expression the engine uses for the same quantity, so that the engine and this module can be
tested against each other (``t`` is the 0/1 treatment column, ``e`` the propensity score).

=====================  ======================================  ==================================
weights                treated (t = 1)                         control (t = 0)
=====================  ======================================  ==================================
overlap (ATO)          ``1 - e``                               ``e``
stabilized IPTW (ATE)  ``P(T=1) / e``                          ``P(T=0) / (1 - e)``
=====================  ======================================  ==================================

Weight derivatives with respect to the linear predictor ``eta = x' beta`` (``de/deta =
e (1 - e)``), needed by the M-estimation sandwich in :mod:`spinetrack.stats.effects`, are given
by :func:`weight_derivative`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from spinetrack.errors import InputError
from spinetrack.stats._common import as_float_array

__all__ = [
    "ESTIMANDS",
    "Estimand",
    "compute_weights",
    "effective_sample_size",
    "expit",
    "overlap_weights",
    "stabilized_iptw",
    "trim_by_propensity",
    "trimming_bounds",
    "weight_derivative",
]

Estimand = Literal["ATO", "ATE"]
ESTIMANDS: tuple[str, ...] = ("ATO", "ATE")


def _check_e_t(e: np.ndarray | float, t: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    ea = as_float_array(e, "e")
    ta = as_float_array(t, "t")
    if ea.shape != ta.shape:
        raise InputError(f"e and t must have the same shape, got {ea.shape} and {ta.shape}")
    if np.any((ea <= 0) | (ea >= 1)):
        raise InputError("propensity scores must lie strictly between 0 and 1")
    if np.any((ta != 0) & (ta != 1)):
        raise InputError("treatment t must be 0 or 1")
    return ea, ta


def expit(eta: np.ndarray | float) -> np.ndarray:
    """The logistic function ``1 / (1 + exp(-eta))``, evaluated without overflow.

    SQL: ``CASE WHEN eta >= 0 THEN 1 / (1 + exp(-eta)) ELSE exp(eta) / (1 + exp(eta)) END``.

    Parameters
    ----------
    eta : array_like
        Linear predictor ``x' beta``.

    Returns
    -------
    ndarray
        Probabilities in (0, 1).

    References
    ----------
    McCullagh P, Nelder JA. Generalized Linear Models, 2nd ed. Chapman & Hall; 1989, §4.3.

    Examples
    --------
    >>> expit([0.0, 800.0, -800.0])
    array([0.5, 1. , 0. ])
    """
    z = as_float_array(eta, "eta", finite=False)
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def overlap_weights(e: np.ndarray | float, t: np.ndarray | float) -> np.ndarray:
    """Overlap weights (target: the average treatment effect in the overlap population, ATO).

    Treated rows get ``1 - e``, control rows get ``e``. They are bounded by 1, need no
    trimming, and with a logistic propensity model that includes a covariate give exact
    mean balance on it (Li, Morgan & Zaslavsky 2018, Theorem 3).

    SQL: ``CASE WHEN t = 1 THEN 1 - e ELSE e END``.

    Parameters
    ----------
    e : array_like
        Propensity scores in (0, 1).
    t : array_like
        Treatment indicators (0/1), same shape as ``e``.

    Returns
    -------
    ndarray

    References
    ----------
    Li F, Morgan KL, Zaslavsky AM. Balancing covariates via propensity score weighting.
    J Am Stat Assoc. 2018;113(521):390-400.

    Examples
    --------
    >>> overlap_weights([0.2, 0.2, 0.7], [1, 0, 1])
    array([0.8, 0.2, 0.3])
    """
    ea, ta = _check_e_t(e, t)
    return np.where(ta == 1, 1.0 - ea, ea)


def stabilized_iptw(
    e: np.ndarray | float, t: np.ndarray | float, p_treated: float | None = None
) -> np.ndarray:
    """Stabilized inverse-probability-of-treatment weights (target: the ATE).

    Treated rows get ``P(T=1) / e``, control rows ``P(T=0) / (1 - e)``. The stabilizing
    constants make the weights average about 1 in each arm; they cancel in every ratio
    (Hajek) estimator, so estimates and their sandwich variances are the same as with the
    unstabilized ``1/e``, ``1/(1-e)``.

    SQL (after one aggregate ``p_treated = AVG(t)``): ``CASE WHEN t = 1 THEN :p_treated / e
    ELSE (1 - :p_treated) / (1 - e) END``.

    Parameters
    ----------
    e : array_like
        Propensity scores in (0, 1).
    t : array_like
        Treatment indicators (0/1).
    p_treated : float, optional
        Marginal share treated; by default the mean of ``t``.

    Returns
    -------
    ndarray

    References
    ----------
    Robins JM, Hernán MA, Brumback B. Marginal structural models and causal inference in
    epidemiology. Epidemiology. 2000;11(5):550-560.
    Austin PC, Stuart EA. Moving towards best practice when using inverse probability of
    treatment weighting (IPTW) using the propensity score to estimate causal treatment effects
    in observational studies. Stat Med. 2015;34(28):3661-3679.

    Examples
    --------
    >>> stabilized_iptw([0.25, 0.5], [1, 0], p_treated=0.5)
    array([2., 1.])
    """
    ea, ta = _check_e_t(e, t)
    p1 = float(np.mean(ta)) if p_treated is None else float(p_treated)
    if not 0.0 < p1 < 1.0:
        raise InputError(f"p_treated must lie strictly between 0 and 1, got {p1!r}")
    return np.where(ta == 1, p1 / ea, (1.0 - p1) / (1.0 - ea))


def compute_weights(
    e: np.ndarray | float,
    t: np.ndarray | float,
    estimand: Estimand = "ATO",
    *,
    p_treated: float | None = None,
) -> np.ndarray:
    """Weights for ``estimand``: overlap weights for ``"ATO"``, stabilized IPTW for ``"ATE"``.

    Parameters
    ----------
    e, t : array_like
        Propensity scores and treatment indicators.
    estimand : {"ATO", "ATE"}, default "ATO"
    p_treated : float, optional
        For ``"ATE"``: the marginal share treated (default: mean of ``t``).

    Returns
    -------
    ndarray

    References
    ----------
    Li F, Morgan KL, Zaslavsky AM. J Am Stat Assoc. 2018;113(521):390-400.

    Examples
    --------
    >>> compute_weights([0.2, 0.6], [1, 0], "ATO")
    array([0.8, 0.6])
    """
    if estimand == "ATO":
        return overlap_weights(e, t)
    if estimand == "ATE":
        return stabilized_iptw(e, t, p_treated)
    raise InputError(f"estimand must be one of {ESTIMANDS}, got {estimand!r}")


def weight_derivative(
    e: np.ndarray | float,
    t: np.ndarray | float,
    estimand: Estimand = "ATO",
    *,
    p_treated: float | None = None,
) -> np.ndarray:
    """Derivative ``dw/deta`` of each row's weight with respect to its linear predictor.

    With ``de/deta = e (1 - e)``:

    * ATO: treated ``w = 1 - e`` → ``-e (1 - e)``; control ``w = e`` → ``e (1 - e)``.
    * ATE (stabilized): treated ``w = c1 / e`` → ``-c1 (1 - e) / e``; control
      ``w = c0 / (1 - e)`` → ``c0 e / (1 - e)``, with ``c1 = P(T=1)``, ``c0 = P(T=0)``.

    SQL (ATO): ``CASE WHEN t = 1 THEN -e * (1 - e) ELSE e * (1 - e) END``;
    (ATE): ``CASE WHEN t = 1 THEN -:p1 * (1 - e) / e ELSE (1 - :p1) * e / (1 - e) END``.
    The derivative must use the same stabilizing constants as the weights themselves.

    Parameters
    ----------
    e, t : array_like
        Propensity scores and treatment indicators.
    estimand : {"ATO", "ATE"}, default "ATO"
    p_treated : float, optional
        For ``"ATE"``: the same marginal share used for the weights.

    Returns
    -------
    ndarray

    References
    ----------
    Lunceford JK, Davidian M. Stratification and weighting via the propensity score in
    estimation of causal treatment effects: a comparative study. Stat Med.
    2004;23(19):2937-2960 (M-estimation with an estimated propensity score).

    Examples
    --------
    >>> weight_derivative([0.2, 0.2], [1, 0], "ATO")
    array([-0.16,  0.16])
    """
    ea, ta = _check_e_t(e, t)
    if estimand == "ATO":
        v = ea * (1.0 - ea)
        return np.where(ta == 1, -v, v)
    if estimand == "ATE":
        p1 = float(np.mean(ta)) if p_treated is None else float(p_treated)
        if not 0.0 < p1 < 1.0:
            raise InputError(f"p_treated must lie strictly between 0 and 1, got {p1!r}")
        return np.where(ta == 1, -p1 * (1.0 - ea) / ea, (1.0 - p1) * ea / (1.0 - ea))
    raise InputError(f"estimand must be one of {ESTIMANDS}, got {estimand!r}")


def trimming_bounds(alpha: float = 0.1) -> tuple[float, float]:
    """The propensity-score interval ``[alpha, 1 - alpha]`` kept by the trimming rule.

    Crump et al. (2009) show that the variance-optimal subpopulation for the average
    treatment effect keeps units with ``alpha <= e(x) <= 1 - alpha``, and that ``alpha = 0.1``
    (keep ``[0.1, 0.9]``) is a good rule of thumb for a wide range of propensity-score
    distributions. Trimming changes the estimand to the trimmed population: report it.

    Parameters
    ----------
    alpha : float, default 0.1
        Trimming threshold in [0, 0.5).

    Returns
    -------
    tuple of float
        ``(alpha, 1 - alpha)``.

    References
    ----------
    Crump RK, Hotz VJ, Imbens GW, Mitnik OA. Dealing with limited overlap in estimation of
    average treatment effects. Biometrika. 2009;96(1):187-199.

    Examples
    --------
    >>> trimming_bounds()
    (0.1, 0.9)
    """
    a = float(alpha)
    if not 0.0 <= a < 0.5:
        raise InputError(f"alpha must lie in [0, 0.5), got {alpha!r}")
    return a, 1.0 - a


def trim_by_propensity(e: np.ndarray | float, alpha: float = 0.1) -> np.ndarray:
    """Boolean mask of the rows kept by the Crump et al. (2009) rule ``alpha <= e <= 1 - alpha``.

    SQL: ``WHERE e BETWEEN :alpha AND 1 - :alpha`` (inclusive at both ends). After trimming,
    refit the propensity model on the kept rows before weighting (Crump et al. 2009, §5).

    Parameters
    ----------
    e : array_like
        Propensity scores.
    alpha : float, default 0.1
        Trimming threshold in [0, 0.5).

    Returns
    -------
    ndarray of bool

    References
    ----------
    Crump RK, Hotz VJ, Imbens GW, Mitnik OA. Biometrika. 2009;96(1):187-199.

    Examples
    --------
    >>> trim_by_propensity([0.05, 0.1, 0.5, 0.9, 0.95])
    array([False,  True,  True,  True, False])
    """
    low, high = trimming_bounds(alpha)
    ea = as_float_array(e, "e")
    return (ea >= low) & (ea <= high)


def effective_sample_size(sum_w: float | np.ndarray, sum_w2: float | np.ndarray) -> float | np.ndarray:
    """Kish's effective sample size ``(SUM w)^2 / SUM w^2`` from two sums.

    The engine returns ``SUM(w)`` and ``SUM(w * w)`` per arm; equal weights give the row count,
    and the more variable the weights the smaller the effective size.

    Parameters
    ----------
    sum_w : float or ndarray
        Sum of the weights.
    sum_w2 : float or ndarray
        Sum of the squared weights.

    Returns
    -------
    float or ndarray

    References
    ----------
    Kish L. Survey Sampling. New York: Wiley; 1965, §11.7.

    Examples
    --------
    >>> effective_sample_size(4.0, 4.0)
    4.0
    >>> effective_sample_size(1.0 + 3.0, 1.0 + 9.0)
    1.6
    """
    sw = as_float_array(sum_w, "sum_w")
    sw2 = as_float_array(sum_w2, "sum_w2")
    if np.any(sw2 <= 0) or np.any(sw < 0):
        raise InputError("sum_w must be non-negative and sum_w2 positive")
    out = sw * sw / sw2
    return float(out) if out.ndim == 0 else out
