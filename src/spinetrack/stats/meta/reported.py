"""Effect-size tables from estimates as studies report them: with their sampling variances, their
standard errors, or (Wald) confidence intervals from which the variance is back-calculated
(metafor ``conv.wald``; Cochrane Handbook §6.5.2).

The tables are :class:`~spinetrack.stats.meta.effects.EffectSizeTable` objects, as for effect
sizes computed from arm summaries (:mod:`spinetrack.stats.meta.effects`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from spinetrack.errors import InputError
from spinetrack.stats._common import as_float_array, check_ci_level, freeze, normal_quantile
from spinetrack.stats.meta.effects import (
    MEASURES,
    RATIO_MEASURES,
    EffectSizeTable,
    Measure,
    _labels,
    _rows,
    _vectors,
)

__all__ = ["effect_sizes_from_ci", "effect_sizes_from_se", "effect_sizes_from_variances"]


def effect_sizes_from_variances(
    yi: Sequence[float] | np.ndarray,
    vi: Sequence[float] | np.ndarray,
    *,
    measure: Measure = "GEN",
    labels: Sequence[str] | None = None,
) -> EffectSizeTable:
    """A table from estimates already on the analysis scale and their sampling variances.

    For RR and OR, ``yi`` must be the LOG ratio (as metafor's ``yi``); for a standard error
    instead of a variance, pass ``se**2``.

    Parameters
    ----------
    yi, vi : array_like
        Estimates and their sampling variances (positive).
    measure : str, default "GEN"
        One of :data:`MEASURES`; it only labels the result and decides the back-transformation.
    labels : sequence of str, optional

    Returns
    -------
    EffectSizeTable

    Examples
    --------
    >>> effect_sizes_from_variances([0.1, 0.3], [0.04, 0.09]).k
    2
    """
    if measure not in MEASURES:
        raise InputError(f"measure must be one of {', '.join(MEASURES)}, got {measure!r}")
    v = _vectors("yi", yi=yi, vi=vi)
    if np.any(v["vi"] <= 0):
        raise InputError(f"vi must be positive (studies {_rows(v['vi'] <= 0)})")
    k = v["yi"].size
    scale = " (log scale)" if measure in RATIO_MEASURES else ""
    return EffectSizeTable(
        measure=measure, labels=_labels(labels, k), yi=freeze(v["yi"]), vi=freeze(v["vi"]),
        events1=None, n1=None, events2=None, n2=None,
        continuity_corrected=freeze(np.zeros(k, dtype=bool)), excluded=(), notes=(),
        method=f"estimates and sampling variances as given{scale}", source_index=freeze(np.arange(k)),
    )


def effect_sizes_from_se(
    estimate: Sequence[float] | np.ndarray,
    standard_error: Sequence[float] | np.ndarray,
    *,
    measure: Measure = "GEN",
    labels: Sequence[str] | None = None,
) -> EffectSizeTable:
    """A table from estimates on the analysis scale with their standard errors (``vi = se^2``).

    As regression output reports them: for RR and OR the estimate is the LOG ratio and the
    standard error is that of the log (metafor ``rma(yi, sei=...)``).

    Parameters
    ----------
    estimate, standard_error : array_like
    measure : str, default "GEN"
    labels : sequence of str, optional

    Returns
    -------
    EffectSizeTable

    Examples
    --------
    >>> round(float(effect_sizes_from_se([0.5], [0.2]).vi[0]), 12)
    0.04
    """
    se = as_float_array(standard_error, "standard_error", ndim=1)
    if np.any(se <= 0):
        raise InputError(f"standard_error must be positive (studies {_rows(se <= 0)})")
    return effect_sizes_from_variances(estimate, se**2, measure=measure, labels=labels)


def effect_sizes_from_ci(
    estimate: Sequence[float] | np.ndarray,
    ci_low: Sequence[float] | np.ndarray,
    ci_high: Sequence[float] | np.ndarray,
    *,
    measure: Measure = "GEN",
    ci_level: float = 0.95,
    labels: Sequence[str] | None = None,
) -> EffectSizeTable:
    """A table from reported estimates with (Wald) confidence intervals.

    ``vi = ((ci_high - ci_low) / (2 z))^2`` on the analysis scale; for RR and OR the estimate
    and limits are given as ratios and converted to logs first (metafor ``conv.wald`` with
    ``transf=log``; Cochrane Handbook §6.5.2). A note lists studies whose estimate is not near
    the middle of its interval (on the analysis scale), where the back-calculation is suspect.

    Parameters
    ----------
    estimate, ci_low, ci_high : array_like
        As reported (natural scale: ratios for RR/OR).
    measure : str, default "GEN"
    ci_level : float, default 0.95
        Level of the reported intervals.
    labels : sequence of str, optional

    Returns
    -------
    EffectSizeTable

    References
    ----------
    Higgins JPT, Li T, Deeks JJ (eds). Chapter 6: Choosing effect measures and computing
    estimates of effect. In: Cochrane Handbook for Systematic Reviews of Interventions,
    version 6.4; 2023, §6.5.2.3.

    Examples
    --------
    >>> t = effect_sizes_from_ci([0.64], [0.33], [1.22], measure="OR")
    >>> float(np.round(t.yi[0], 4)), float(np.round(t.vi[0], 4))
    (-0.4463, 0.1113)
    """
    if measure not in MEASURES:
        raise InputError(f"measure must be one of {', '.join(MEASURES)}, got {measure!r}")
    check_ci_level(ci_level)
    v = _vectors("estimate", estimate=estimate, ci_low=ci_low, ci_high=ci_high)
    est, lo, hi = v["estimate"], v["ci_low"], v["ci_high"]
    if np.any(lo >= hi):
        raise InputError(f"ci_low must be below ci_high (studies {_rows(lo >= hi)})")
    if measure in RATIO_MEASURES:
        if np.any((est <= 0) | (lo <= 0)):
            raise InputError(f"ratios and their limits must be positive (studies {_rows((est <= 0) | (lo <= 0))})")
        est, lo, hi = np.log(est), np.log(lo), np.log(hi)
    if np.any((est < lo) | (est > hi)):
        raise InputError(f"the estimate must lie inside its interval (studies {_rows((est < lo) | (est > hi))})")
    z = normal_quantile(ci_level)
    vi = ((hi - lo) / (2 * z)) ** 2
    k = est.size
    names = _labels(labels, k)
    skew = np.abs((est - lo) - (hi - est)) > 0.1 * (hi - lo)
    notes: tuple[str, ...] = ()
    if np.any(skew):
        who = ", ".join(names[i] for i in np.flatnonzero(skew))
        notes = ((f"estimate not near the middle of its interval for {who}: the interval may not be a Wald "
                  "interval on the analysis scale, so the back-calculated variance is approximate"),)
    scale = "log " if measure in RATIO_MEASURES else ""
    return EffectSizeTable(
        measure=measure, labels=names, yi=freeze(est), vi=freeze(vi),
        events1=None, n1=None, events2=None, n2=None,
        continuity_corrected=freeze(np.zeros(k, dtype=bool)), excluded=(), notes=notes,
        method=f"variance back-calculated from the reported {ci_level:.0%} interval on the {scale}scale "
               "(((high - low) / (2 z))^2)",
        source_index=freeze(np.arange(k)),
    )
