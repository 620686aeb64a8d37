"""Weighted Kaplan–Meier from grouped counts, Greenwood variance, log-log CI, and RMST.

Engine contract. Per arm, one ``GROUP BY time`` query over the rows (``time_i`` the follow-up
time, ``event_i`` 1 for an event and 0 for censoring, ``w_i`` the analysis weight, 1 when
unweighted) returns, for every distinct time at which anyone leaves the risk set::

    time        distinct follow-up time (ascending, >= 0)
    events      SUM_i w_i * event_i                 weighted events at that time
    removals    SUM_i w_i                           weighted count leaving (events + censored)
    removals_w2 SUM_i w_i * w_i                     optional: for the Kish-effective variance

The weighted number at risk just before ``time_j`` is the reverse cumulative sum of the
removals, ``at_risk_j = SUM_{k >= j} removals_k`` (:func:`at_risk_from_removals`) — no row
data needed. Censoring at the same time as an event counts as still at risk at that time
(the usual convention; lifelines and R ``survival`` do the same).

Estimator (Kaplan & Meier 1958, with weights)::

    S(t) = PROD_{t_j <= t} (1 - d_j / n_j)

Variance of ``S`` (Greenwood 1926), ``Var S(t) = S(t)^2 * SUM_{t_j <= t} g_j`` with

* ``variance="greenwood"``: ``g_j = d_j / (n_j (n_j - d_j))`` on the weighted counts — what
  lifelines and R ``survfit`` report for frequency weights. For non-integer (propensity)
  weights it depends on the scale of the weights and is only a rough guide.
* ``variance="kish"``: Greenwood on Kish effective counts: with ``M_j = n_j^2 / SUM_{risk set}
  w^2`` the effective number at risk, ``g_j = d_j / (M_j (n_j - d_j))`` — invariant to
  rescaling the weights and equal to Greenwood for unit weights (in the spirit of Xie & Liu
  2005). Neither accounts for estimation of the propensity score.

Pointwise confidence interval on the log(-log) scale (Kalbfleisch & Prentice 2002; lifelines'
default "exponential Greenwood" interval)::

    se_theta = sqrt(SUM g_j) / |log S(t)|
    ci_low   = S(t) ** exp(+z * se_theta),   ci_high = S(t) ** exp(-z * se_theta)

Where ``S(t) = 1`` (no event yet) the variance is 0 and the interval is ``[1, 1]``; where the
curve reaches 0 the variance and interval are undefined (NaN).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from spinetrack.errors import InputError
from spinetrack.stats._common import (
    as_float_array,
    check_ci_level,
    freeze,
    normal_quantile,
    to_jsonable,
)

__all__ = [
    "GroupedSurvivalCounts",
    "RestrictedMeanEstimate",
    "SurvivalCurve",
    "at_risk_from_removals",
    "grouped_counts_numpy",
    "kaplan_meier_from_counts",
    "restricted_mean_survival_time",
]

VarianceMethod = Literal["greenwood", "kish"]


@dataclass(frozen=True, eq=False)
class GroupedSurvivalCounts:
    """The engine's grouped table for one arm (see the module docstring)."""

    time: np.ndarray
    events: np.ndarray
    removals: np.ndarray
    removals_w2: np.ndarray


@dataclass(frozen=True, eq=False)
class SurvivalCurve:
    """A (weighted) Kaplan–Meier curve, one entry per input time.

    Attributes
    ----------
    time : ndarray
        Distinct times, ascending. ``survival`` is a right-continuous step function: 1 before
        ``time[0]``.
    survival : ndarray
        ``S(time)``.
    variance : ndarray
        Greenwood-type variance of ``S(time)``.
    ci_low, ci_high : ndarray
        Pointwise log(-log) interval.
    ci_level : float
    at_risk, events : ndarray
        Weighted number at risk just before each time and weighted events at it.
    cumulative_variance_term : ndarray
        ``SUM_{t_j <= t} g_j`` (the variance of ``log S``).
    variance_method : str
        ``"greenwood"`` or ``"kish"``.
    ci_method : str
        ``"log-log"``.
    n_initial : float
        Weighted number at risk at the start.
    method : str
    """

    time: np.ndarray
    survival: np.ndarray
    variance: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    ci_level: float
    at_risk: np.ndarray
    events: np.ndarray
    cumulative_variance_term: np.ndarray
    variance_method: str
    ci_method: str
    n_initial: float
    method: str

    def survival_at(self, t: float | np.ndarray) -> np.ndarray:
        """``S(t)`` of the step function at arbitrary times (1 before the first time)."""
        tt = np.asarray(t, dtype=float)
        idx = np.searchsorted(self.time, tt, side="right") - 1
        return np.where(idx >= 0, self.survival[np.maximum(idx, 0)], 1.0)

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable mapping (NaN becomes null)."""
        return to_jsonable({
            "time": self.time,
            "survival": self.survival,
            "variance": self.variance,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "ci_level": self.ci_level,
            "at_risk": self.at_risk,
            "events": self.events,
            "variance_method": self.variance_method,
            "ci_method": self.ci_method,
            "n_initial": self.n_initial,
            "method": self.method,
        })


@dataclass(frozen=True, eq=False)
class RestrictedMeanEstimate:
    """Restricted mean survival time ``integral_0^horizon S(u) du`` with its variance.

    Attributes
    ----------
    estimate : float
    variance : float
    standard_error : float
    ci_low, ci_high : float
        Wald interval ``estimate ± z * standard_error``.
    ci_level : float
    horizon : float
    method : str
    """

    estimate: float
    variance: float
    standard_error: float
    ci_low: float
    ci_high: float
    ci_level: float
    horizon: float
    method: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable mapping."""
        return to_jsonable(dict(self.__dict__))


def at_risk_from_removals(removals: np.ndarray) -> np.ndarray:
    """Number at risk just before each time: the reverse cumulative sum of the removals.

    Parameters
    ----------
    removals : array_like
        Weighted count leaving the risk set at each distinct time (events + censored),
        ascending in time and covering every time at which anyone leaves.

    Returns
    -------
    ndarray

    References
    ----------
    Kalbfleisch JD, Prentice RL. The Statistical Analysis of Failure Time Data, 2nd ed.
    Wiley; 2002, §1.4 (the risk set).

    Examples
    --------
    >>> at_risk_from_removals([2.0, 1.0, 3.0])
    array([6., 4., 3.])
    """
    r = as_float_array(removals, "removals", ndim=1)
    if np.any(r < 0):
        raise InputError("removals must be non-negative")
    return np.cumsum(r[::-1])[::-1]


def grouped_counts_numpy(
    durations: np.ndarray, event_observed: np.ndarray, weights: np.ndarray | None = None
) -> GroupedSurvivalCounts:
    """The engine's grouped survival aggregate computed from row arrays (test oracle).

    Parameters
    ----------
    durations : ndarray
        Follow-up times (>= 0).
    event_observed : ndarray
        1 for an event, 0 for censoring.
    weights : ndarray, optional
        Non-negative weights (ones when omitted).

    Returns
    -------
    GroupedSurvivalCounts

    References
    ----------
    Kaplan EL, Meier P. Nonparametric estimation from incomplete observations. J Am Stat
    Assoc. 1958;53(282):457-481.

    Examples
    --------
    >>> g = grouped_counts_numpy(np.array([2.0, 1.0, 2.0, 3.0]), np.array([1, 0, 1, 0]))
    >>> g.time, g.events, g.removals
    (array([1., 2., 3.]), array([0., 2., 0.]), array([1., 2., 1.]))
    """
    d = as_float_array(durations, "durations", ndim=1)
    ev = as_float_array(event_observed, "event_observed", ndim=1)
    if ev.shape != d.shape:
        raise InputError("durations and event_observed must have the same length")
    if np.any(d < 0):
        raise InputError("durations must be non-negative")
    if np.any((ev != 0) & (ev != 1)):
        raise InputError("event_observed must be 0 or 1")
    w = np.ones_like(d) if weights is None else as_float_array(weights, "weights", ndim=1)
    if w.shape != d.shape or np.any(w < 0):
        raise InputError("weights must be non-negative, one per row")
    time, inverse = np.unique(d, return_inverse=True)
    k = time.size
    return GroupedSurvivalCounts(
        time=time,
        events=np.bincount(inverse, weights=w * ev, minlength=k),
        removals=np.bincount(inverse, weights=w, minlength=k),
        removals_w2=np.bincount(inverse, weights=w * w, minlength=k),
    )


def _variance_terms(
    d: np.ndarray, n: np.ndarray, method: str, at_risk_w2: np.ndarray | None
) -> np.ndarray:
    """Per-time Greenwood increments ``g_j`` (inf where everyone at risk has the event)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "greenwood":
            g = d / (n * (n - d))
        else:
            assert at_risk_w2 is not None
            m_eff = n * n / at_risk_w2
            g = d / (m_eff * (n - d))
    g = np.where(d == 0, 0.0, g)
    return np.where((d > 0) & (n - d <= 0), np.inf, g)


def kaplan_meier_from_counts(
    time: np.ndarray,
    events: np.ndarray,
    *,
    at_risk: np.ndarray | None = None,
    removals: np.ndarray | None = None,
    at_risk_w2: np.ndarray | None = None,
    removals_w2: np.ndarray | None = None,
    ci_level: float = 0.95,
    variance: VarianceMethod = "greenwood",
) -> SurvivalCurve:
    """Weighted Kaplan–Meier curve from grouped counts.

    Parameters
    ----------
    time : array_like, shape (k,)
        Distinct times, strictly increasing, >= 0.
    events : array_like, shape (k,)
        Weighted number of events at each time.
    at_risk : array_like, shape (k,), optional
        Weighted number at risk just before each time. Give this or ``removals``.
    removals : array_like, shape (k,), optional
        Weighted number leaving the risk set at each time (events + censored); the number at
        risk is reconstructed as the reverse cumulative sum. Requires that ``time`` lists
        every time at which anyone leaves.
    at_risk_w2, removals_w2 : array_like, optional
        ``SUM w^2`` over the risk set (or over the rows leaving at each time); needed for
        ``variance="kish"``.
    ci_level : float, default 0.95
    variance : {"greenwood", "kish"}, default "greenwood"
        See the module docstring.

    Returns
    -------
    SurvivalCurve

    References
    ----------
    Kaplan EL, Meier P. J Am Stat Assoc. 1958;53(282):457-481.
    Greenwood M. The natural duration of cancer. Reports on Public Health and Medical
    Subjects 33. London: HMSO; 1926.
    Kalbfleisch JD, Prentice RL. The Statistical Analysis of Failure Time Data, 2nd ed.
    Wiley; 2002, §1.4 (log(-log) interval).
    Xie J, Liu C. Adjusted Kaplan-Meier estimator and log-rank test with inverse probability
    of treatment weighting for survival data. Stat Med. 2005;24(20):3089-3110.

    Examples
    --------
    >>> curve = kaplan_meier_from_counts([1.0, 2.0, 3.0], [1.0, 1.0, 0.0], removals=[1.0, 2.0, 1.0])
    >>> curve.at_risk
    array([4., 3., 1.])
    >>> np.round(curve.survival, 4)   # (1 - 1/4), then * (1 - 1/3)
    array([0.75, 0.5 , 0.5 ])
    >>> np.round(curve.variance, 5)   # S^2 * (1/(4*3) + 1/(3*2))
    array([0.04688, 0.0625 , 0.0625 ])
    """
    check_ci_level(ci_level)
    if variance not in ("greenwood", "kish"):
        raise InputError(f"variance must be 'greenwood' or 'kish', got {variance!r}")
    t = as_float_array(time, "time", ndim=1)
    d = as_float_array(events, "events", ndim=1)
    k = t.size
    if k == 0:
        raise InputError("at least one time is needed")
    if d.shape != (k,):
        raise InputError("events must have one entry per time")
    if np.any(t < 0) or np.any(np.diff(t) <= 0):
        raise InputError("time must be non-negative and strictly increasing")
    if np.any(d < 0):
        raise InputError("events must be non-negative")
    if at_risk is not None and removals is None:
        n = as_float_array(at_risk, "at_risk", ndim=1)
    elif removals is not None and at_risk is None:
        n = at_risk_from_removals(removals)
    else:
        raise InputError("give exactly one of at_risk and removals")
    if n.shape != (k,):
        raise InputError("at_risk/removals must have one entry per time")
    if np.any(d > n * (1 + 1e-12)):
        raise InputError("events cannot exceed the number at risk")
    if np.any(np.diff(n) > 1e-9 * max(1.0, float(n[0]))):
        raise InputError("the number at risk cannot increase over time (no late entry)")
    d = np.minimum(d, n)

    w2: np.ndarray | None = None
    if variance == "kish":
        if (at_risk_w2 is None) == (removals_w2 is None):
            raise InputError("variance='kish' needs exactly one of at_risk_w2 and removals_w2")
        w2 = (as_float_array(at_risk_w2, "at_risk_w2", ndim=1) if at_risk_w2 is not None
              else at_risk_from_removals(removals_w2))  # type: ignore[arg-type]
        if w2.shape != (k,) or np.any((w2 <= 0) & (d > 0)):
            raise InputError("at_risk_w2 must be positive wherever there are events")

    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = np.where(n > 0, d / n, 0.0)
    survival = np.cumprod(1.0 - hazard)
    g = _variance_terms(d, n, variance, w2)
    cum_g = np.cumsum(g)
    zero = survival <= 0.0
    survival = np.where(zero, 0.0, survival)
    with np.errstate(invalid="ignore"):
        var_s = np.where(zero, np.nan, survival * survival * cum_g)

    z = normal_quantile(ci_level)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_s = np.log(np.where(zero, np.nan, survival))
        se_theta = np.sqrt(cum_g) / np.abs(log_s)
        ci_low = survival ** np.exp(z * se_theta)
        ci_high = survival ** np.exp(-z * se_theta)
    at_one = survival >= 1.0
    ci_low = np.where(at_one, 1.0, np.where(zero, np.nan, ci_low))
    ci_high = np.where(at_one, 1.0, np.where(zero, np.nan, ci_high))
    var_s = np.where(at_one, 0.0, var_s)

    return SurvivalCurve(
        time=freeze(t),
        survival=freeze(survival),
        variance=freeze(var_s),
        ci_low=freeze(ci_low),
        ci_high=freeze(ci_high),
        ci_level=float(ci_level),
        at_risk=freeze(n),
        events=freeze(d),
        cumulative_variance_term=freeze(cum_g),
        variance_method=variance,
        ci_method="log-log",
        n_initial=float(n[0]),
        method=f"Kaplan-Meier from grouped (weighted) counts; {variance} variance; log(-log) CI",
    )


def restricted_mean_survival_time(
    curve: SurvivalCurve, horizon: float, *, ci_level: float | None = None
) -> RestrictedMeanEstimate:
    """Restricted mean survival time up to ``horizon`` with a Greenwood-type variance.

    ``RMST(tau) = integral_0^tau S(u) du``, exact for the step function (time origin 0).
    Variance (Klein & Moeschberger 2003, §4.5)::

        Var RMST(tau) = SUM_{t_j <= tau} A_j^2 * g_j,   A_j = integral_{t_j}^tau S(u) du

    with ``g_j`` the same per-time increment as the curve's variance (Greenwood or Kish).
    Without censoring and with unit weights this equals ``(1/n^2) SUM (m_i - mean m)^2`` for
    ``m_i = min(T_i, tau)`` — the plug-in variance of a sample mean.

    Parameters
    ----------
    curve : SurvivalCurve
    horizon : float
        Upper limit ``tau`` (> 0).
    ci_level : float, optional
        Defaults to the curve's level.

    Returns
    -------
    RestrictedMeanEstimate

    References
    ----------
    Klein JP, Moeschberger ML. Survival Analysis: Techniques for Censored and Truncated Data,
    2nd ed. Springer; 2003, §4.5.
    Royston P, Parmar MKB. Restricted mean survival time: an alternative to the hazard ratio
    for the design and analysis of randomized trials with a time-to-event outcome. BMC Med
    Res Methodol. 2013;13:152.

    Examples
    --------
    >>> curve = kaplan_meier_from_counts([1.0, 2.0], [1.0, 1.0], removals=[1.0, 1.0])
    >>> rmst = restricted_mean_survival_time(curve, 3.0)
    >>> rmst.estimate   # 1 * 1 + 0.5 * 1 + 0 * 1
    1.5
    >>> rmst.variance   # uncensored: mean of min(T, 3) = 1.5, (0.25 + 0.25) / 2**2
    0.125
    """
    level = curve.ci_level if ci_level is None else ci_level
    check_ci_level(level)
    tau = float(horizon)
    if not (math.isfinite(tau) and tau > 0):
        raise InputError(f"horizon must be a positive finite number, got {horizon!r}")
    keep = curve.time <= tau
    t = curve.time[keep]
    s = curve.survival[keep]
    # step function: S = 1 on [0, t_1), S(t_j) on [t_j, t_{j+1}), last piece up to tau
    knots = np.concatenate([[0.0], t, [tau]])
    levels = np.concatenate([[1.0], s])
    pieces = levels * np.diff(knots)
    estimate = float(np.sum(pieces))
    # A_j = integral from t_j to tau = sum of the pieces after knot j
    tail = np.cumsum(pieces[::-1])[::-1][1:]
    d = curve.events[keep]
    cum = curve.cumulative_variance_term[keep]
    g = np.diff(np.concatenate([[0.0], cum]))
    g = np.where(d > 0, g, 0.0)
    with np.errstate(invalid="ignore"):
        contrib = np.where(tail > 0, tail * tail * g, 0.0)
    variance = float(np.sum(contrib))
    se = math.sqrt(variance) if math.isfinite(variance) else float("nan")
    z = normal_quantile(level)
    return RestrictedMeanEstimate(
        estimate=estimate,
        variance=variance,
        standard_error=se,
        ci_low=estimate - z * se,
        ci_high=estimate + z * se,
        ci_level=float(level),
        horizon=tau,
        method=f"restricted mean survival time (area under the Kaplan-Meier curve to {tau:g}); "
               f"{curve.variance_method} variance (Klein & Moeschberger 2003, §4.5)",
    )
