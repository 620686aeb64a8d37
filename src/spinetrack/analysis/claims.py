"""The verdict of each claim of the scorecard, from its estimate, interval and adjusted p-value.

The catalogue of claims (:class:`Claim`, :data:`CLAIMS`, :data:`NOT_MEASURED`, :func:`claim`) is
pure data and lives in :mod:`spinetrack.domain.claims`; it is re-exported here.

Verdict rule (:func:`decide_verdict`): a difference only counts when it is both statistically
clear after allowing for the number of claims tested together, and not too small to matter.

* ``no_important_difference`` — the 95% interval lies wholly inside ± the claim's margin: any
  difference there may be is smaller than the smallest that matters to patients. The margin
  is the instrument's minimal clinically important difference for a questionnaire score
  (``instruments.thresholds``: ODI 10 points, NRS 2 points, Ostelo 2008) — :func:`margin_of`.
  Claims with no published margin (operative measures, complication risks, days, EQ-5D) have
  none, and never get this verdict: we do not invent one.
* ``supported`` / ``contradicted`` — otherwise, when the difference is statistically clear in
  the claimed direction / the opposite one: its p-value adjusted across every claim of the
  scorecard (Benjamini–Hochberg, ``analysis.scorecard``) is below 0.05.
* ``inconclusive`` — everything else.
"""

from __future__ import annotations

import enum

from spinetrack.domain.claims import CLAIMS, NOT_MEASURED, Claim, MetricKind, claim
from spinetrack.errors import ValidationError
from spinetrack.instruments import thresholds
from spinetrack.stats.multiplicity import adjust

__all__ = ["ALPHA", "CLAIMS", "NOT_MEASURED", "Claim", "MetricKind", "Verdict", "adjust_p_values", "claim",
           "decide_verdict", "margin_of"]


class Verdict(enum.StrEnum):
    SUPPORTED = "supported"
    CONTRADICTED = "contradicted"
    NO_IMPORTANT_DIFFERENCE = "no_important_difference"
    INCONCLUSIVE = "inconclusive"


#: Significance level of the verdicts, applied to Benjamini–Hochberg adjusted p-values.
ALPHA = 0.05


def margin_of(c: Claim) -> tuple[float, str] | None:
    """The claim's margin of no important difference and its source: the instrument's absolute
    MCID for a questionnaire score (``instruments.thresholds``), else ``None`` (no published
    margin in our sources; see the module docstring)."""
    if c.kind is not MetricKind.CONTINUOUS or c.instrument is None:
        return None
    try:
        th = thresholds.get(c.instrument)
    except ValidationError:  # no threshold in our sources (e.g. EQ-5D)
        return None
    if th.absolute is None:
        return None
    return float(th.absolute), f"minimal clinically important difference of {c.instrument}: {th.source}"


def decide_verdict(estimate: float, ci_low: float, ci_high: float, better: str, *, p_adjusted: float,
                   margin: float | None = None, alpha: float = ALPHA, null: float = 0.0) -> Verdict:
    """The verdict of one scorecard row (module docstring): ``no_important_difference`` when the
    interval lies within ``null`` ± ``margin``; else ``supported`` / ``contradicted`` when the
    adjusted p-value is below ``alpha`` and the estimate lies on the claimed / the other side
    of ``null``; else ``inconclusive``.

    >>> decide_verdict(-7.5, -12.0, -3.0, "lower", p_adjusted=0.001).value
    'supported'
    >>> decide_verdict(2.5, 1.0, 4.0, "lower", p_adjusted=0.01).value
    'contradicted'
    >>> decide_verdict(0.30, 0.20, 0.41, "lower", p_adjusted=1e-6, margin=2.0).value
    'no_important_difference'
    >>> decide_verdict(0.008, 0.0013, 0.0145, "lower", p_adjusted=0.27).value
    'inconclusive'
    """
    if better not in ("lower", "higher"):
        raise ValueError(f"better must be 'lower' or 'higher', not {better!r}")
    if margin is not None and null - margin < ci_low and ci_high < null + margin:
        return Verdict.NO_IMPORTANT_DIFFERENCE
    if p_adjusted < alpha and estimate != null:
        lower = estimate < null
        return Verdict.SUPPORTED if lower == (better == "lower") else Verdict.CONTRADICTED
    return Verdict.INCONCLUSIVE


def adjust_p_values(p_values: list[float], method: str = "fdr_bh") -> list[float]:
    """Adjusted p-values across a scorecard: Benjamini–Hochberg (``"fdr_bh"``, the default) or
    Holm (``"holm"``) — :func:`spinetrack.stats.multiplicity.adjust`."""
    return adjust(p_values, method).tolist()
