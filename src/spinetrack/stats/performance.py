"""Performance of clinical prediction models (Steyerberg EW. *Clinical Prediction Models*, 2nd ed.
Springer; 2019, ch. 15): discrimination, calibration, the Brier score and reliability curves.

Pure numpy (no scipy): normal quantiles come from :mod:`spinetrack.stats._common`. The names are
re-exported by :mod:`spinetrack.stats.prediction`, whose bootstrap validation uses them.

* discrimination: :func:`c_statistic` (binary: the Mann–Whitney probability that a patient with
  the event has a higher predicted risk than one without, ties counted ½) and :func:`harrell_c`
  (time to event: Harrell's concordance over the usable pairs, ties in the prediction ½; the
  pair rules of lifelines' ``concordance_index``);
* calibration: :func:`calibrate_binary` — the calibration intercept (calibration-in-the-large:
  logistic regression of ``y`` on an intercept with the linear predictor as offset) and the
  calibration slope (logistic regression of ``y`` on the linear predictor);
  :func:`calibrate_continuous` — the same with least squares (intercept with the prediction as
  offset = the mean residual; slope of ``y`` on the prediction); :func:`calibrate_survival` —
  the slope of the log predicted median in a Weibull AFT refit (van Houwelingen's calibration
  slope for an AFT model; with ``distribution`` the refit uses the model's own distribution);
  :func:`~spinetrack.stats.survival_calibration.calibrate_survival_groups` — calibration-in-the-large of a
  survival model by group of predicted risk (Kaplan–Meier against predicted);
* :func:`brier_score`, and for continuous outcomes ``R²`` and RMSE;
* :func:`reliability_curve` — groups of equal size by predicted value (deciles), each with the
  mean prediction, the observed proportion (Wilson 95% interval, :func:`wilson_interval`) or mean
  (normal interval) and ``n``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from spinetrack.errors import InputError
from spinetrack.stats._common import normal_quantile
from spinetrack.stats._regression import _json, fit_linear, fit_logistic
from spinetrack.stats._regression import binary as _binary
from spinetrack.stats._regression import expit as _expit
from spinetrack.stats._regression import vector as _vector
from spinetrack.stats.aft import fit_aft
from spinetrack.stats.glm import fit_logistic_irls

__all__ = [
    "CalibrationResult",
    "ReliabilityBin",
    "ReliabilityCurve",
    "brier_score",
    "c_statistic",
    "calibrate_binary",
    "calibrate_continuous",
    "calibrate_survival",
    "harrell_c",
    "reliability_curve",
    "wilson_interval",
]


# ----------------------------------------------------------------------------- small helpers

def wilson_interval(events: float, n: float, ci_level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion ``events / n``.

    References
    ----------
    Wilson EB. Probable inference, the law of succession, and statistical inference. J Am Stat
    Assoc. 1927;22(158):209-212.

    Examples
    --------
    >>> [round(v, 4) for v in wilson_interval(15, 100)]
    [0.0931, 0.2328]
    """
    if n <= 0 or not 0 <= events <= n:
        raise InputError(f"need 0 <= events <= n and n > 0, got {events}/{n}")
    z = normal_quantile(ci_level)
    p = events / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


# ----------------------------------------------------------------------------- discrimination

def c_statistic(y: Any, score: Any) -> float:
    """The C-statistic (area under the ROC curve) of a binary outcome: the share of (event,
    non-event) pairs in which the event has the higher score, ties counted ½ (Mann–Whitney).

    References
    ----------
    Hanley JA, McNeil BJ. The meaning and use of the area under a receiver operating
    characteristic (ROC) curve. Radiology. 1982;143(1):29-36.

    Examples
    --------
    >>> c_statistic([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    >>> c_statistic([0, 1], [0.5, 0.5])
    0.5
    """
    ya = _binary(y)
    s = _vector(score, "score", ya.size)
    n1 = int(ya.sum())
    n0 = ya.size - n1
    if n1 == 0 or n0 == 0:
        raise InputError("the C-statistic needs both events and non-events")
    order = np.argsort(s, kind="mergesort")
    _, inverse, counts = np.unique(s[order], return_inverse=True, return_counts=True)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    midrank = start + (counts + 1) / 2.0
    ranks = np.empty(s.size)
    ranks[order] = midrank[inverse]
    return float((ranks[ya == 1].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def _count_ge(rank: np.ndarray, starts: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """For each query ``j``: ``#{i >= starts[j] : rank[i] >= thresholds[j]}`` (``i`` indexes the
    points in order), by splitting ``rank >= q`` at the highest bit where they differ: one sort
    and two binary searches per bit, ``O(n log² n)`` in numpy."""
    n = rank.size
    width = n + 1
    out = np.zeros(thresholds.size, dtype=np.int64)
    pos = np.arange(n, dtype=np.int64)
    top = max(int(max(rank.max(initial=0), thresholds.max(initial=0))).bit_length(), 1)

    def add(group_pts: np.ndarray, pts_mask: np.ndarray, group_q: np.ndarray, q_mask: np.ndarray) -> None:
        keys = np.sort(group_pts[pts_mask] * width + pos[pts_mask])
        gq = group_q[q_mask]
        lo = np.searchsorted(keys, gq * width + starts[q_mask], side="left")
        hi = np.searchsorted(keys, (gq + 1) * width, side="left")
        out[q_mask] += hi - lo

    add(rank, np.ones(n, dtype=bool), thresholds, np.ones(thresholds.size, dtype=bool))  # equal ranks
    for k in range(top):
        add(rank >> (k + 1), ((rank >> k) & 1) == 1, thresholds >> (k + 1), ((thresholds >> k) & 1) == 0)
    return out


def harrell_c(time: Any, event: Any, predicted_time: Any) -> float:
    """Harrell's concordance index for right-censored data: over the usable pairs — a patient
    with an event at ``t`` and one observed beyond ``t`` (or censored at ``t``) — the share in
    which the patient who lasted longer has the longer predicted time; ties in the prediction
    count ½, two events at the same time form no pair (the rules of lifelines'
    ``concordance_index``). For a risk score, pass its negative.

    References
    ----------
    Harrell FE, Lee KL, Mark DB. Multivariable prognostic models. Stat Med. 1996;15(4):361-387.

    Examples
    --------
    >>> harrell_c([1.0, 2.0, 3.0, 4.0], [1, 1, 0, 1], [1.0, 3.0, 2.0, 4.0])
    0.8
    """
    t = _vector(time, "time")
    d = _binary(event, "event", t.size)
    pred = _vector(predicted_time, "predicted_time", t.size)
    order = np.lexsort((1.0 - d, t))  # by time, events before censorings at the same time
    ts, ds, ps = t[order], d[order], pred[order]
    _, rank = np.unique(ps, return_inverse=True)
    rank = rank.astype(np.int64)
    ev = np.flatnonzero(ds == 1)
    if ev.size == 0:
        raise InputError("Harrell's C needs at least one event")
    block = np.searchsorted(ts, ts[ev], side="left")
    ev_times, ev_counts = np.unique(ts[ev], return_counts=True)
    starts = (block + ev_counts[np.searchsorted(ev_times, ts[ev])]).astype(np.int64)
    pairs = float(np.sum(t.size - starts))
    if pairs == 0:
        raise InputError("Harrell's C: no usable pairs")
    gt = _count_ge(rank, starts, rank[ev] + 1)
    ge = _count_ge(rank, starts, rank[ev])
    return float((gt.sum() + 0.5 * (ge - gt).sum()) / pairs)


# ----------------------------------------------------------------------------- calibration

@dataclass(frozen=True)
class CalibrationResult:
    """Calibration of predictions against outcomes.

    ``intercept`` is the calibration intercept (calibration-in-the-large: the intercept of a
    model with the prediction — the linear predictor for binary outcomes — as offset, slope fixed
    at 1; 0 when calibrated); ``slope`` the calibration slope (1 when calibrated) and
    ``slope_model_intercept`` the intercept of that second model."""

    intercept: float
    intercept_se: float
    slope: float
    slope_se: float
    slope_model_intercept: float
    n: int
    method: str

    def as_dict(self) -> dict[str, Any]:
        return _json(dict(self.__dict__))


def _offset_crossprod(
    y: np.ndarray, offset: np.ndarray
) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, float]]:
    def crossprod(beta: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        eta = offset + beta[0]
        e = _expit(eta)
        return (np.array([[float(np.sum(e * (1 - e)))]]), np.array([float(np.sum(y - e))]),
                float(np.sum(y * eta - np.logaddexp(0.0, eta))))
    return crossprod


def calibrate_binary(y: Any, linear_predictor: Any) -> CalibrationResult:
    """Calibration intercept (logistic regression ``logit P(y) = a + lp``, ``lp`` as offset) and
    slope (``logit P(y) = a' + b lp``) of predicted risks ``expit(lp)``.

    References
    ----------
    Cox DR. Two further applications of a model for binary regression. Biometrika.
    1958;45:562-565. Van Calster B et al. Calibration: the Achilles heel of predictive analytics.
    BMC Med. 2019;17:230.
    """
    ya = _binary(y)
    lp = _vector(linear_predictor, "linear_predictor", ya.size)
    cil = fit_logistic_irls(_offset_crossprod(ya, lp), 1)
    slope = fit_logistic(np.column_stack([np.ones(ya.size), lp]), ya)
    return CalibrationResult(float(cil.coefficients[0]), float(cil.standard_errors[0]),
                             float(slope.coefficients[1]), float(slope.standard_errors[1]),
                             float(slope.coefficients[0]), int(ya.size),
                             "logistic: intercept with the linear predictor as offset; slope on the linear predictor")


def calibrate_continuous(y: Any, prediction: Any) -> CalibrationResult:
    """Calibration intercept (the mean of ``y − ŷ``: least squares of ``y`` on an intercept with
    ``ŷ`` as offset) and slope (least squares of ``y`` on ``ŷ``) of continuous predictions."""
    ya = _vector(y, "y")
    pr = _vector(prediction, "prediction", ya.size)
    n = ya.size
    resid = ya - pr
    fit = fit_linear(np.column_stack([np.ones(n), pr]), ya)
    return CalibrationResult(float(resid.mean()), float(resid.std(ddof=1) / math.sqrt(n)), float(fit.coefficients[1]),
                             float(fit.standard_errors[1]), float(fit.coefficients[0]), n,
                             "least squares: intercept with the prediction as offset; slope on the prediction")


def calibrate_survival(time: Any, event: Any, log_predicted_median: Any, distribution: str = "weibull"
                       ) -> CalibrationResult:
    """Calibration slope of a time-to-event prediction: the coefficient of the log predicted
    median in an AFT refit of the model's own ``distribution`` (1 when calibrated; below 1 when
    the predictions are too extreme). ``intercept`` is that refit's intercept (reported, not
    interpreted: it absorbs the distribution's median constant)."""
    lm = _vector(log_predicted_median, "log_predicted_median")
    fit = fit_aft(np.column_stack([np.ones(lm.size), lm]), time, event, distribution)
    se = fit.standard_errors
    return CalibrationResult(float(fit.coefficients[0]), float(se[0]), float(fit.coefficients[1]), float(se[1]),
                             float(fit.coefficients[0]), lm.size, f"{fit.method}: refit on the log predicted median")


def brier_score(y: Any, probability: Any) -> float:
    """Mean squared difference between the predicted probability and the 0/1 outcome.

    References
    ----------
    Brier GW. Verification of forecasts expressed in terms of probability. Mon Weather Rev.
    1950;78(1):1-3.

    Examples
    --------
    >>> round(brier_score([0, 1, 1], [0.2, 0.7, 1.0]), 6)   # (0.04 + 0.09 + 0) / 3
    0.043333
    """
    ya = _binary(y)
    p = _vector(probability, "probability", ya.size)
    return float(np.mean((p - ya) ** 2))


@dataclass(frozen=True, slots=True)
class ReliabilityBin:
    """One group of a reliability diagram."""

    mean_predicted: float
    observed: float
    ci_low: float
    ci_high: float
    n: int

    def as_dict(self) -> dict[str, Any]:
        return {"mean_predicted": self.mean_predicted, "observed": self.observed, "ci_low": self.ci_low,
                "ci_high": self.ci_high, "n": self.n}


@dataclass(frozen=True)
class ReliabilityCurve:
    """Observed against predicted by groups of predicted value (``kind``: ``binary`` — observed
    proportion with a Wilson interval; ``continuous`` — observed mean with a normal interval)."""

    bins: tuple[ReliabilityBin, ...]
    kind: str
    ci_level: float
    grouping: str

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "ci_level": self.ci_level, "grouping": self.grouping,
                "bins": [b.as_dict() for b in self.bins]}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> ReliabilityCurve:
        return ReliabilityCurve(tuple(ReliabilityBin(**b) for b in d["bins"]), d["kind"], d["ci_level"], d["grouping"])


def reliability_curve(y: Any, prediction: Any, *, groups: int = 10, kind: str = "binary",
                      ci_level: float = 0.95) -> ReliabilityCurve:
    """Split the patients, ordered by prediction, into ``groups`` groups of (nearly) equal size
    (deciles by default) and give each group's mean prediction, observed proportion or mean with
    its interval, and ``n``.

    Examples
    --------
    >>> rc = reliability_curve([0, 0, 1, 1], [0.1, 0.2, 0.7, 0.9], groups=2)
    >>> [(b.mean_predicted, b.observed, b.n) for b in rc.bins]
    [(0.15000000000000002, 0.0, 2), (0.8, 1.0, 2)]
    """
    if kind not in ("binary", "continuous"):
        raise InputError(f"kind must be 'binary' or 'continuous', got {kind!r}")
    ya = _binary(y) if kind == "binary" else _vector(y, "y")
    pr = _vector(prediction, "prediction", ya.size)
    g = max(1, min(int(groups), ya.size))
    z = normal_quantile(ci_level)
    bins = []
    for idx in np.array_split(np.argsort(pr, kind="mergesort"), g):
        yy, n = ya[idx], idx.size
        if kind == "binary":
            lo, hi = wilson_interval(float(yy.sum()), n, ci_level)
        else:
            half = z * float(yy.std(ddof=1)) / math.sqrt(n) if n > 1 else float("nan")
            lo, hi = float(yy.mean()) - half, float(yy.mean()) + half
        bins.append(ReliabilityBin(float(pr[idx].mean()), float(yy.mean()), lo, hi, int(n)))
    return ReliabilityCurve(tuple(bins), kind, ci_level, f"{g} groups of equal size by predicted value")
