"""Sensitivity analyses: E-values, how strong unmeasured confounding would have to be to
explain an effect away.

For an observed risk ratio ``RR`` (take ``1 / RR`` when ``RR < 1``), VanderWeele & Ding (2017)
define the E-value as the minimum strength of association, on the risk-ratio scale, that an
unmeasured confounder would need with both the treatment and the outcome, conditional on the
measured covariates, to fully explain away the association::

    E(RR) = RR + sqrt(RR * (RR - 1))

The E-value of the confidence interval is that of the limit closer to 1, or 1 when the
interval includes 1. For a standardized mean difference ``d`` with standard error ``s``, the
approximation ``RR ≈ exp(0.91 d)`` with interval ``exp(0.91 d ± 1.78 s)`` is used (VanderWeele
2017, from Hasselblad & Hedges 1995; as in the R package EValue, ``evalues.MD``).

The doubly robust (augmented) check of an overlap-weighted estimate is in
:mod:`spinetrack.stats.augmented_overlap`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from spinetrack.errors import InputError
from spinetrack.stats._common import (
    to_jsonable,
)

__all__ = [
    "EValueResult",
    "e_value",
    "evalue_mean_difference",
    "evalue_risk_ratio",
    "evalue_smd",
]

_SMD_TO_LOG_RR = 0.91
_SMD_SE_TO_LOG_RR = 1.78  # 0.91 * 1.96, rounded as in VanderWeele & Ding (2017) and EValue


@dataclass(frozen=True)
class EValueResult:
    """E-values for a point estimate and its confidence interval.

    Attributes
    ----------
    e_value : float
        E-value of the point estimate.
    e_value_ci : float or None
        E-value of the interval limit closer to 1 (1 if the interval includes 1); None when no
        interval was given.
    risk_ratio : float
        The risk ratio used (converted, for a standardized mean difference).
    ci_low, ci_high : float or None
        Its interval on the risk-ratio scale.
    measure : str
        What was given: ``"risk ratio"`` or ``"standardized mean difference"``.
    method : str
    """

    e_value: float
    e_value_ci: float | None
    risk_ratio: float
    ci_low: float | None
    ci_high: float | None
    measure: str
    method: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable mapping."""
        return to_jsonable(dict(self.__dict__))


def e_value(risk_ratio: float) -> float:
    """E-value of a single risk ratio: ``RR + sqrt(RR (RR - 1))`` after taking ``RR >= 1``.

    Parameters
    ----------
    risk_ratio : float
        Positive risk ratio (values below 1 are inverted).

    Returns
    -------
    float

    References
    ----------
    VanderWeele TJ, Ding P. Sensitivity analysis in observational research: introducing the
    E-value. Ann Intern Med. 2017;167(4):268-274.

    Examples
    --------
    >>> round(e_value(3.9), 6)
    7.263034
    >>> e_value(1.0)
    1.0
    """
    rr = float(risk_ratio)
    if not (math.isfinite(rr) and rr > 0):
        raise InputError(f"risk ratio must be a positive finite number, got {risk_ratio!r}")
    if rr < 1:
        rr = 1.0 / rr
    return rr + math.sqrt(rr * (rr - 1.0))


def evalue_risk_ratio(
    estimate: float, ci_low: float | None = None, ci_high: float | None = None
) -> EValueResult:
    """E-values for a risk ratio and its confidence interval.

    Parameters
    ----------
    estimate : float
        Risk ratio (> 0).
    ci_low, ci_high : float, optional
        Interval limits; only the one on the null side of the estimate is needed.

    Returns
    -------
    EValueResult

    References
    ----------
    VanderWeele TJ, Ding P. Sensitivity analysis in observational research: introducing the
    E-value. Ann Intern Med. 2017;167(4):268-274.

    Examples
    --------
    Breastfeeding example of VanderWeele & Ding (2017): RR 3.9 (95% CI 1.8 to 8.7).

    >>> res = evalue_risk_ratio(3.9, 1.8, 8.7)
    >>> round(res.e_value, 2), round(res.e_value_ci, 2)
    (7.26, 3.0)
    """
    rr = float(estimate)
    if not (math.isfinite(rr) and rr > 0):
        raise InputError(f"risk ratio must be a positive finite number, got {estimate!r}")
    lo = None if ci_low is None else float(ci_low)
    hi = None if ci_high is None else float(ci_high)
    for name, v in (("ci_low", lo), ("ci_high", hi)):
        if v is not None and not (v > 0 and math.isfinite(v)):
            raise InputError(f"{name} must be a positive finite number, got {v!r}")
    if lo is not None and lo > rr:
        raise InputError("ci_low cannot exceed the estimate")
    if hi is not None and hi < rr:
        raise InputError("ci_high cannot be below the estimate")
    e_ci: float | None
    if rr > 1:
        e_ci = None if lo is None else (1.0 if lo <= 1 else e_value(lo))
    elif rr < 1:
        e_ci = None if hi is None else (1.0 if hi >= 1 else e_value(hi))
    else:
        e_ci = 1.0 if (lo is not None or hi is not None) else None
    return EValueResult(
        e_value=e_value(rr), e_value_ci=e_ci, risk_ratio=rr, ci_low=lo, ci_high=hi,
        measure="risk ratio", method="E-value (VanderWeele & Ding 2017)",
    )


def evalue_smd(d: float, standard_error: float | None = None) -> EValueResult:
    """E-values for a standardized mean difference via ``RR ≈ exp(0.91 d)``.

    Parameters
    ----------
    d : float
        Standardized mean difference (difference in means over the outcome SD).
    standard_error : float, optional
        Its standard error; gives the interval ``exp(0.91 d ± 1.78 se)``.

    Returns
    -------
    EValueResult

    References
    ----------
    VanderWeele TJ, Ding P. Ann Intern Med. 2017;167(4):268-274 (Table: continuous outcomes).
    VanderWeele TJ. On a square-root transformation of the odds ratio for a common outcome.
    Epidemiology. 2017;28(6):e58-e60.
    Hasselblad V, Hedges LV. Meta-analysis of screening and diagnostic tests. Psychol Bull.
    1995;117(1):167-178.

    Examples
    --------
    >>> res = evalue_smd(0.5, 0.25)          # the EValue package's evalues.MD(0.5, 0.25)
    >>> round(res.risk_ratio, 4), round(res.e_value, 4)
    (1.5762, 2.5291)
    """
    dd = float(d)
    if not math.isfinite(dd):
        raise InputError(f"d must be finite, got {d!r}")
    rr = math.exp(_SMD_TO_LOG_RR * dd)
    lo = hi = None
    if standard_error is not None:
        se = float(standard_error)
        if not (math.isfinite(se) and se >= 0):
            raise InputError(f"standard_error must be a non-negative number, got {standard_error!r}")
        lo = math.exp(_SMD_TO_LOG_RR * dd - _SMD_SE_TO_LOG_RR * se)
        hi = math.exp(_SMD_TO_LOG_RR * dd + _SMD_SE_TO_LOG_RR * se)
    base = evalue_risk_ratio(rr, lo, hi)
    return EValueResult(
        e_value=base.e_value, e_value_ci=base.e_value_ci, risk_ratio=rr, ci_low=lo, ci_high=hi,
        measure="standardized mean difference",
        method="E-value (VanderWeele & Ding 2017) after RR ≈ exp(0.91 d), CI exp(0.91 d ± 1.78 se)",
    )


def evalue_mean_difference(
    estimate: float, standard_error: float, outcome_sd: float
) -> EValueResult:
    """E-values for a difference in means, standardized by the outcome's standard deviation.

    ``d = estimate / outcome_sd`` and ``se_d = standard_error / outcome_sd``, then
    :func:`evalue_smd`.

    Parameters
    ----------
    estimate : float
        Difference in means (e.g. ``EffectEstimate.estimate``).
    standard_error : float
        Its standard error.
    outcome_sd : float
        Standard deviation of the outcome (e.g. pooled across arms).

    Returns
    -------
    EValueResult

    References
    ----------
    VanderWeele TJ, Ding P. Ann Intern Med. 2017;167(4):268-274.

    Examples
    --------
    >>> round(evalue_mean_difference(5.0, 2.5, 10.0).e_value, 4)   # d = 0.5
    2.5291
    """
    sd = float(outcome_sd)
    if not (math.isfinite(sd) and sd > 0):
        raise InputError(f"outcome_sd must be positive, got {outcome_sd!r}")
    return evalue_smd(float(estimate) / sd, float(standard_error) / sd)
