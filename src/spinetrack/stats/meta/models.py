"""Pooling: fixed-effect (inverse variance, Mantel–Haenszel) and random-effects meta-analysis.

Methods (``method``)::

    FE    inverse-variance fixed effect:  mu = SUM w y / SUM w,  w = 1/v,  SE = 1/sqrt(SUM w)
    MH    Mantel–Haenszel fixed effect from the 2x2 counts (RR, OR, RD), no continuity
          correction needed; variance of log OR by Robins, Breslow & Greenland (1986), of log
          RR by Greenland & Robins (1985), of RD by Sato, Greenland & Robins (1989)
    DL    random effects, tau^2 by DerSimonian–Laird           } w* = 1/(v + tau^2),
    REML  random effects, tau^2 by restricted max. likelihood   } mu = SUM w* y / SUM w*,
    PM    random effects, tau^2 by Paule–Mandel                 } SE = 1/sqrt(SUM w*)

Inference: Wald z tests and intervals by default. ``hksj=True`` (random effects only) uses the
Hartung–Knapp–Sidik–Jonkman variance ``q / SUM w*`` with ``q = SUM w* (y - mu)^2 / (k - 1)``
and a t distribution with ``k - 1`` degrees of freedom (metafor ``test="knha"``; no truncation
of ``q`` at 1).

Heterogeneity: Cochran's ``Q = SUM (1/v)(y - mu_FE)^2`` (for MH around the MH estimate), df
``k - 1``. For FE and MH ``I^2 = max(0, (Q - df)/Q)`` and ``H^2 = Q/df``; for random effects
``I^2 = tau^2 / (tau^2 + s^2)`` and ``H^2 = (tau^2 + s^2)/s^2`` with the typical sampling
variance ``s^2`` (:func:`~spinetrack.stats.meta.heterogeneity.typical_sampling_variance`),
as metafor reports them; the ``tau^2`` interval is the Q-profile interval, and the ``I^2`` and
``H^2`` intervals are its transforms.

Prediction interval (random effects): ``mu ± c sqrt(tau^2 + SE^2)`` with ``c`` the normal
quantile, or the ``t(k - 1)`` quantile under HKSJ (metafor's ``predict``); with
``prediction_interval="riley"`` a ``t(k - 2)`` quantile (Riley, Higgins & Deeks 2011).

``k = 1``: the result is the single study's estimate and interval; tau^2 is 0 and the
heterogeneity statistics are undefined (None), which a note says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from spinetrack.errors import InputError
from spinetrack.stats._common import (
    check_ci_level,
    freeze,
    normal_quantile,
    to_jsonable,
    two_sided_p_value,
)
from spinetrack.stats.meta._distributions import chi2_sf, t_ppf, t_sf
from spinetrack.stats.meta.effects import EffectSizeTable
from spinetrack.stats.meta.heterogeneity import (
    estimate_tau2,
    q_profile_tau2_ci,
    typical_sampling_variance,
)

__all__ = [
    "METHODS",
    "MetaResult",
    "Method",
    "PredictionInterval",
    "RatioScale",
    "pool_studies",
]

Method = Literal["FE", "MH", "DL", "REML", "PM"]
PredictionInterval = Literal["metafor", "riley"]
METHODS: tuple[str, ...] = ("FE", "MH", "DL", "REML", "PM")
RANDOM_METHODS: tuple[str, ...] = ("DL", "REML", "PM")
_METHOD_NAMES = {
    "FE": "fixed effect, inverse variance",
    "MH": "fixed effect, Mantel-Haenszel",
    "DL": "random effects, DerSimonian-Laird tau^2",
    "REML": "random effects, REML tau^2",
    "PM": "random effects, Paule-Mandel tau^2",
}


@dataclass(frozen=True, slots=True)
class RatioScale:
    """Pooled RR or OR back-transformed from the log scale (``exp``)."""

    estimate: float
    ci_low: float
    ci_high: float
    pi_low: float | None
    pi_high: float | None


@dataclass(frozen=True, eq=False)
class MetaResult:
    """One pooled estimate with its heterogeneity statistics and per-study inputs.

    All estimates are on the analysis scale (log for RR/OR); ``ratio`` holds the
    back-transformed pooled values for RR/OR.

    Attributes
    ----------
    measure, method : str
        Effect measure and pooling method (``"FE"``, ``"MH"``, ``"DL"``, ``"REML"``, ``"PM"``).
    model : str
        ``"fixed"`` or ``"random"``.
    k : int
        Number of studies pooled.
    estimate, standard_error, ci_low, ci_high, ci_level : float
    statistic, statistic_name, df
        Test statistic of ``estimate = 0``: ``"z"`` (df None) or ``"t"`` under HKSJ (df ``k-1``).
    p_value : float
    hksj : bool
    tau2, tau : float
        0 for FE and MH.
    tau2_se : float or None
        Standard error of ``tau^2`` as metafor's ``rma.uni`` gives it for DL, REML and PM
        (:mod:`~spinetrack.stats.meta.heterogeneity`); None for FE and MH, for ``k = 1`` and
        for a ``tau2_fixed`` (not estimated).
    tau2_ci_low, tau2_ci_high : float or None
        Q-profile interval (random effects, ``k >= 2``).
    q, q_df, q_p_value
        Cochran's Q test (``q_p_value`` None for ``k = 1``).
    i2, h2 : float or None
        ``I^2`` in percent and ``H^2`` (None for ``k = 1``).
    i2_ci_low, i2_ci_high, h2_ci_low, h2_ci_high : float or None
        From the Q-profile ``tau^2`` interval (random effects).
    pi_low, pi_high : float or None
        Prediction interval (random effects, ``k >= 2``; ``k >= 3`` for Riley's).
    prediction_interval : str
        ``"metafor"`` or ``"riley"``.
    labels : tuple of str
    yi, vi : ndarray
        Study estimates and sampling variances used.
    study_ci_low, study_ci_high : ndarray
        Per-study Wald intervals (normal quantile) at ``ci_level``.
    weights : ndarray
        Per-study weight in percent of the total (inverse-variance weights of the model; MH
        weights for MH).
    ratio : RatioScale or None
    notes : tuple of str
        What was done and what the reader must know (k = 1, tau^2 at 0, exclusions ...).
    excluded : tuple of (label, reason)
    """

    measure: str
    method: str
    model: str
    k: int
    estimate: float
    standard_error: float
    ci_low: float
    ci_high: float
    ci_level: float
    statistic: float
    statistic_name: str
    df: int | None
    p_value: float
    hksj: bool
    tau2: float
    tau: float
    tau2_se: float | None
    tau2_ci_low: float | None
    tau2_ci_high: float | None
    q: float
    q_df: int
    q_p_value: float | None
    i2: float | None
    i2_ci_low: float | None
    i2_ci_high: float | None
    h2: float | None
    h2_ci_low: float | None
    h2_ci_high: float | None
    pi_low: float | None
    pi_high: float | None
    prediction_interval: str
    labels: tuple[str, ...]
    yi: np.ndarray
    vi: np.ndarray
    study_ci_low: np.ndarray
    study_ci_high: np.ndarray
    weights: np.ndarray
    ratio: RatioScale | None
    notes: tuple[str, ...]
    excluded: tuple[tuple[str, str], ...]

    @property
    def is_ratio(self) -> bool:
        """True for RR and OR (analysed on the log scale)."""
        return self.ratio is not None

    @property
    def description(self) -> str:
        """The method in words (e.g. ``"random effects, REML tau^2, HKSJ"``)."""
        return _METHOD_NAMES[self.method] + (", Hartung-Knapp-Sidik-Jonkman" if self.hksj else "")

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable mapping (NaN becomes null); ``studies`` lists the per-study rows."""
        d: dict[str, Any] = {
            f: getattr(self, f) for f in (
                "measure", "method", "model", "k", "estimate", "standard_error", "ci_low", "ci_high",
                "ci_level", "statistic", "statistic_name", "df", "p_value", "hksj", "tau2", "tau", "tau2_se",
                "tau2_ci_low", "tau2_ci_high", "q", "q_df", "q_p_value", "i2", "i2_ci_low", "i2_ci_high", "h2",
                "h2_ci_low", "h2_ci_high", "pi_low", "pi_high", "prediction_interval")
        }
        d["description"] = self.description
        d["ratio"] = None if self.ratio is None else {
            "estimate": self.ratio.estimate, "ci_low": self.ratio.ci_low, "ci_high": self.ratio.ci_high,
            "pi_low": self.ratio.pi_low, "pi_high": self.ratio.pi_high}
        d["studies"] = [
            {"label": lab, "yi": float(y), "vi": float(v), "ci_low": float(lo), "ci_high": float(hi),
             "weight_pct": float(w)}
            for lab, y, v, lo, hi, w in zip(self.labels, self.yi, self.vi, self.study_ci_low,
                                            self.study_ci_high, self.weights, strict=True)]
        d["notes"] = list(self.notes)
        d["excluded"] = [{"label": lab, "reason": why} for lab, why in self.excluded]
        return dict(to_jsonable(d))


def _mantel_haenszel(table: EffectSizeTable) -> tuple[float, float, np.ndarray]:
    """MH estimate (analysis scale), its standard error and the MH weights."""
    assert table.events1 is not None and table.n1 is not None
    assert table.events2 is not None and table.n2 is not None
    a, c = table.events1.astype(float), table.events2.astype(float)
    n1, n2 = table.n1.astype(float), table.n2.astype(float)
    b, d = n1 - a, n2 - c
    n = n1 + n2
    if table.measure == "OR":
        r_i, s_i = a * d / n, b * c / n
        r, s = float(r_i.sum()), float(s_i.sum())
        if r == 0 or s == 0:
            raise InputError("the Mantel-Haenszel odds ratio is undefined: no events (or no non-events) in one "
                             "arm across all studies")
        p_i, q_i = (a + d) / n, (b + c) / n
        var = 0.5 * (float(np.sum(p_i * r_i)) / r**2 + float(np.sum(p_i * s_i + q_i * r_i)) / (r * s)
                     + float(np.sum(q_i * s_i)) / s**2)
        return math.log(r / s), math.sqrt(var), s_i
    if table.measure == "RR":
        r, s = float(np.sum(a * n2 / n)), float(np.sum(c * n1 / n))
        if r == 0 or s == 0:
            raise InputError("the Mantel-Haenszel risk ratio is undefined: no events in one arm across all studies")
        var = float(np.sum(n1 * n2 * (a + c) / n**2 - a * c / n)) / (r * s)
        return math.log(r / s), math.sqrt(var), c * n1 / n
    w = n1 * n2 / n
    sw = float(w.sum())
    rd = float(np.sum(a * n2 / n - c * n1 / n)) / sw
    var = (rd * float(np.sum(c * (n1 / n) ** 2 - a * (n2 / n) ** 2 + (n1 / n) * (n2 / n) * (n2 - n1) / 2))
           + float(np.sum(a * (n2 - c) / n + c * (n1 - a) / n)) / 2) / sw**2
    return rd, math.sqrt(var), w


def _percent(w: np.ndarray) -> np.ndarray:
    return freeze(100.0 * w / np.sum(w))


def _opt(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def pool_studies(
    table: EffectSizeTable,
    *,
    method: Method = "REML",
    hksj: bool = False,
    ci_level: float = 0.95,
    prediction_interval: PredictionInterval = "metafor",
    tau2_fixed: float | None = None,
) -> MetaResult:
    """Pool the studies of ``table`` by a fixed-effect or random-effects model.

    Parameters
    ----------
    table : EffectSizeTable
        From :mod:`spinetrack.stats.meta.effects` or :mod:`spinetrack.stats.meta.reported`.
    method : {"FE", "MH", "DL", "REML", "PM"}, default "REML"
        See the module docstring. ``"MH"`` needs a table built from 2x2 counts.
    hksj : bool, default False
        Hartung–Knapp–Sidik–Jonkman variance and t(k-1) inference (random effects, k >= 2).
    ci_level : float, default 0.95
    prediction_interval : {"metafor", "riley"}, default "metafor"
        Critical value of the prediction interval: normal (t(k-1) under HKSJ), or t(k-2).
    tau2_fixed : float, optional
        Use this ``tau^2`` instead of estimating it (random-effects methods only; metafor's
        ``tau2=`` argument), e.g. a ``tau^2`` common to several subgroups.

    Returns
    -------
    MetaResult

    References
    ----------
    DerSimonian R, Laird N. Control Clin Trials. 1986;7(3):177-188.
    Mantel N, Haenszel W. J Natl Cancer Inst. 1959;22(4):719-748.
    Robins J, Breslow N, Greenland S. Biometrics. 1986;42(2):311-323.
    Greenland S, Robins JM. Biometrics. 1985;41(1):55-68.
    Sato T, Greenland S, Robins JM. Biometrics. 1989;45(4):1323-1324.
    Hartung J, Knapp G. Stat Med. 2001;20(24):3875-3889.
    Sidik K, Jonkman JN. Stat Med. 2002;21(21):3153-3159.
    Higgins JPT, Thompson SG. Quantifying heterogeneity in a meta-analysis. Stat Med.
    2002;21(11):1539-1558.
    Riley RD, Higgins JPT, Deeks JJ. Interpretation of random effects meta-analyses. BMJ.
    2011;342:d549.
    Viechtbauer W. J Stat Softw. 2010;36(3):1-48 (metafor ``rma.uni``, ``rma.mh``).

    Examples
    --------
    >>> from spinetrack.stats.meta.reported import effect_sizes_from_variances
    >>> t = effect_sizes_from_variances([0.2, 0.4], [0.01, 0.01])
    >>> r = pool_studies(t, method="FE")
    >>> round(r.estimate, 4), round(r.standard_error, 4), round(r.q, 4)
    (0.3, 0.0707, 2.0)
    """
    if method not in METHODS:
        raise InputError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if prediction_interval not in ("metafor", "riley"):
        raise InputError(f"prediction_interval must be 'metafor' or 'riley', got {prediction_interval!r}")
    check_ci_level(ci_level)
    k = table.k
    if k == 0:
        raise InputError("no study to pool")
    random = method in RANDOM_METHODS
    if hksj and not random:
        raise InputError("the Hartung-Knapp-Sidik-Jonkman adjustment applies to random-effects models "
                         "(method DL, REML or PM), not to " + method)
    if hksj and k < 2:
        raise InputError("the Hartung-Knapp-Sidik-Jonkman adjustment needs at least 2 studies")
    if tau2_fixed is not None and not (random and math.isfinite(tau2_fixed) and tau2_fixed >= 0):
        raise InputError("tau2_fixed needs a random-effects method and a non-negative value")
    if method == "MH" and (table.measure not in ("RR", "OR", "RD") or not table.has_counts):
        raise InputError("the Mantel-Haenszel method needs 2x2 counts (measure RR, OR or RD)")
    y, v = np.asarray(table.yi, dtype=float), np.asarray(table.vi, dtype=float)
    notes = list(table.notes)
    z = normal_quantile(ci_level)
    alpha = 1.0 - ci_level
    w_fe = 1.0 / v
    mu_fe = float(np.sum(w_fe * y) / np.sum(w_fe))
    q_df = k - 1

    tau2, tau2_se = 0.0, None
    tau2_ci: tuple[float, float] | None = None
    if method == "MH":
        mu, se, mh_w = _mantel_haenszel(table)
        weights = _percent(mh_w)
        q = float(np.sum(w_fe * (y - mu) ** 2))
    elif not random:
        mu, se = mu_fe, 1.0 / math.sqrt(float(np.sum(w_fe)))
        weights = _percent(w_fe)
        q = float(np.sum(w_fe * (y - mu) ** 2))
    else:
        q = float(np.sum(w_fe * (y - mu_fe) ** 2))
        if tau2_fixed is None:
            est = estimate_tau2(y, v, method)  # type: ignore[arg-type]  # method is DL, REML or PM here
            tau2, tau2_se = est.tau2, est.standard_error
        else:
            tau2 = float(tau2_fixed)
            notes.append(f"tau^2 fixed at {tau2:.6g} (not estimated from these studies)")
        w = 1.0 / (v + tau2)
        mu = float(np.sum(w * y) / np.sum(w))
        se = 1.0 / math.sqrt(float(np.sum(w)))
        if hksj:
            q_hk = float(np.sum(w * (y - mu) ** 2)) / (k - 1)
            se = math.sqrt(q_hk / float(np.sum(w)))
        weights = _percent(w)
        if k >= 2:
            tau2_ci = q_profile_tau2_ci(y, v, ci_level)
    if not math.isfinite(mu) or not se > 0:
        raise InputError("the pooled estimate is undefined for these data")

    if hksj:
        df: int | None = k - 1
        crit = t_ppf(1.0 - alpha / 2.0, k - 1)
        statistic = mu / se
        p_value = 2.0 * t_sf(abs(statistic), k - 1)
        stat_name = "t"
    else:
        df = None
        crit = z
        statistic = mu / se
        p_value = two_sided_p_value(statistic)
        stat_name = "z"

    q_p: float | None = chi2_sf(q, q_df) if k >= 2 else None
    i2: float | None = None
    h2: float | None = None
    i2_ci: tuple[float | None, float | None] = (None, None)
    h2_ci: tuple[float | None, float | None] = (None, None)
    if k >= 2:
        if random:
            s2 = typical_sampling_variance(v)
            i2 = 100.0 * tau2 / (tau2 + s2)
            h2 = (tau2 + s2) / s2
            if tau2_ci is not None:
                i2_ci = tuple(100.0 * t / (t + s2) for t in tau2_ci)  # type: ignore[assignment]
                h2_ci = tuple((t + s2) / s2 for t in tau2_ci)  # type: ignore[assignment]
        else:
            i2 = max(0.0, 100.0 * (q - q_df) / q) if q > 0 else 0.0
            h2 = q / q_df
    else:
        notes.append("only one study: the pooled result is that study's estimate; heterogeneity (tau^2, I^2, "
                     "the Q test) cannot be estimated")

    pi_low = pi_high = None
    if random and k >= 2:
        if prediction_interval == "riley":
            if k >= 3:
                pi_crit = t_ppf(1.0 - alpha / 2.0, k - 2)
                half = pi_crit * math.sqrt(tau2 + se**2)
                pi_low, pi_high = mu - half, mu + half
            else:
                notes.append("Riley's prediction interval needs at least 3 studies (t with k - 2 df): not given")
        else:
            half = crit * math.sqrt(tau2 + se**2)
            pi_low, pi_high = mu - half, mu + half
    if random and k >= 2 and tau2 == 0.0 and tau2_fixed is None:
        notes.append(f"tau^2 estimated at 0 (boundary) by {method}: the random-effects estimate equals the "
                     "fixed-effect one")
    if hksj and k == 2:
        notes.append("HKSJ with 2 studies uses a t distribution with 1 degree of freedom: the interval is very "
                     "wide, and with so few studies no method estimates heterogeneity well")

    ci_low, ci_high = mu - crit * se, mu + crit * se
    study_lo, study_hi = table.study_intervals(ci_level)
    ratio = None
    if table.is_ratio:
        ratio = RatioScale(
            estimate=math.exp(mu), ci_low=math.exp(ci_low), ci_high=math.exp(ci_high),
            pi_low=None if pi_low is None else math.exp(pi_low),
            pi_high=None if pi_high is None else math.exp(pi_high))
    return MetaResult(
        measure=table.measure, method=method, model="random" if random else "fixed", k=k,
        estimate=mu, standard_error=se, ci_low=ci_low, ci_high=ci_high, ci_level=float(ci_level),
        statistic=statistic, statistic_name=stat_name, df=df, p_value=p_value, hksj=hksj,
        tau2=tau2, tau=math.sqrt(tau2), tau2_se=tau2_se,
        tau2_ci_low=None if tau2_ci is None else _opt(tau2_ci[0]),
        tau2_ci_high=None if tau2_ci is None else _opt(tau2_ci[1]),
        q=q, q_df=q_df, q_p_value=q_p, i2=i2, i2_ci_low=i2_ci[0], i2_ci_high=i2_ci[1],
        h2=h2, h2_ci_low=h2_ci[0], h2_ci_high=h2_ci[1],
        pi_low=pi_low, pi_high=pi_high, prediction_interval=prediction_interval,
        labels=table.labels, yi=freeze(y.copy()), vi=freeze(v.copy()),
        study_ci_low=freeze(study_lo), study_ci_high=freeze(study_hi), weights=weights, ratio=ratio,
        notes=tuple(notes), excluded=tuple((e.label, e.reason) for e in table.excluded),
    )
