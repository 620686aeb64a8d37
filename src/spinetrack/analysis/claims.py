"""The claims made for minimally invasive spine surgery, each as a measurable metric.

One row of the scorecard per :class:`Claim`. The table follows shared/DESIGN.md ("claim made
for MISS" → "what spinetrack measures"); every metric names the snapshot table and column it
reads, its type, and which direction would *support* the claim. Metrics the operational store
does not record yet (postoperative day-1 pain, opioid use, imaging–diagnosis concordance,
return to work as distinct from return to usual activity) are listed in
:data:`NOT_MEASURED` so the report can say so instead of silently leaving them out.

Verdict rule (issue 5): ``supported`` when the 95% interval excludes no difference in the
claimed direction, ``contradicted`` when it excludes it in the opposite direction,
``inconclusive`` otherwise; a PROM claim also reports whether the difference reaches the
instrument's MCID.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["CLAIMS", "NOT_MEASURED", "Claim", "MetricKind", "Verdict", "claim", "decide_verdict"]


class MetricKind(enum.StrEnum):
    CONTINUOUS = "continuous"        # difference in means (MIS − open)
    BINARY = "binary"                # risk difference and risk ratio (MIS / open)
    TIME_TO_EVENT = "time_to_event"  # weighted Kaplan–Meier: survival at a horizon or restricted mean


class Verdict(enum.StrEnum):
    SUPPORTED = "supported"
    CONTRADICTED = "contradicted"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True, slots=True)
class Claim:
    """One measurable promise. ``better`` is the direction of MIS − open (or log RR) that
    supports the claim: ``"lower"`` or ``"higher"``."""

    key: str
    promise: str
    metric: str
    kind: MetricKind
    table: str
    column: str
    better: str
    unit: str
    timepoint: str | None = None      # PROM timepoint (outcomes table)
    instrument: str | None = None     # PROM instrument (for the MCID)
    event_filter: str | None = None   # complications: category / grade filter, documented
    horizon_days: int | None = None   # time-to-event horizon
    functional: str | None = None     # time-to-event: "survival" at the horizon or "rmst" up to it


def _c(*args: object, **kw: object) -> Claim:
    return Claim(*args, **kw)  # type: ignore[arg-type]


CLAIMS: tuple[Claim, ...] = (
    # smaller incisions, less tissue trauma
    _c("incision", "smaller incisions", "incision length", MetricKind.CONTINUOUS, "procedures", "incision_mm",
       "lower", "mm"),
    _c("blood_loss", "less tissue trauma", "estimated blood loss", MetricKind.CONTINUOUS, "procedures", "ebl_ml",
       "lower", "mL"),
    _c("transfusion", "less tissue trauma", "transfusion", MetricKind.BINARY, "procedures", "transfusion",
       "lower", "risk"),
    # precision through imaging
    _c("fluoro_time", "precision through imaging", "fluoroscopy time", MetricKind.CONTINUOUS, "procedures",
       "fluoro_s", "lower", "s"),
    _c("fluoro_dose", "precision through imaging", "fluoroscopy dose", MetricKind.CONTINUOUS, "procedures",
       "fluoro_dose_mgy", "lower", "mGy"),
    _c("wrong_level", "precision through imaging", "wrong-level surgery", MetricKind.BINARY, "complications",
       "category", "lower", "risk", event_filter="category = 'wrong_level'"),
    # less postoperative pain
    _c("back_pain_2w", "less postoperative pain", "back pain NRS at 2 weeks", MetricKind.CONTINUOUS, "outcomes",
       "score", "lower", "NRS points", timepoint="2w", instrument="nrs_back"),
    _c("leg_pain_2w", "less postoperative pain", "leg pain NRS at 2 weeks", MetricKind.CONTINUOUS, "outcomes",
       "score", "lower", "NRS points", timepoint="2w", instrument="nrs_leg"),
    _c("back_pain_6w", "less postoperative pain", "back pain NRS at 6 weeks", MetricKind.CONTINUOUS, "outcomes",
       "score", "lower", "NRS points", timepoint="6w", instrument="nrs_back"),
    # shorter recovery
    _c("length_of_stay", "shorter recovery", "length of stay", MetricKind.CONTINUOUS, "procedures", "los_days",
       "lower", "days"),
    _c("return_to_activity", "shorter recovery", "days to return to usual activity (restricted mean within a year)",
       MetricKind.TIME_TO_EVENT, "outcomes", "score", "lower", "days", instrument="return_to_activity",
       horizon_days=365, functional="rmst"),
    # fewer complications and infections
    _c("any_complication", "fewer complications", "any complication", MetricKind.BINARY, "complications",
       "category", "lower", "risk", event_filter="any"),
    _c("major_complication", "fewer complications", "Clavien–Dindo grade III or higher", MetricKind.BINARY,
       "complications", "clavien_dindo", "lower", "risk",
       event_filter="clavien_dindo IN ('IIIa','IIIb','IVa','IVb','V')"),
    _c("ssi", "fewer infections", "surgical-site infection", MetricKind.BINARY, "complications", "category",
       "lower", "risk", event_filter="category IN ('ssi_superficial','ssi_deep','ssi_organ_space')"),
    _c("dural_tear", "fewer complications", "dural tear", MetricKind.BINARY, "complications", "category",
       "lower", "risk", event_filter="category = 'dural_tear'"),
    _c("readmission", "fewer complications", "readmission", MetricKind.BINARY, "readmissions", "episode_key",
       "lower", "risk"),
    # long-term effectiveness
    _c("odi_12m", "lasting relief", "ODI at 12 months", MetricKind.CONTINUOUS, "outcomes", "score", "lower",
       "ODI points", timepoint="12m", instrument="odi"),
    _c("odi_24m", "lasting relief", "ODI at 24 months", MetricKind.CONTINUOUS, "outcomes", "score", "lower",
       "ODI points", timepoint="24m", instrument="odi"),
    _c("leg_pain_12m", "lasting relief", "leg pain NRS at 12 months", MetricKind.CONTINUOUS, "outcomes", "score",
       "lower", "NRS points", timepoint="12m", instrument="nrs_leg"),
    _c("back_pain_12m", "lasting relief", "back pain NRS at 12 months", MetricKind.CONTINUOUS, "outcomes", "score",
       "lower", "NRS points", timepoint="12m", instrument="nrs_back"),
    _c("eq5d_12m", "lasting relief", "EQ-5D-5L index at 12 months", MetricKind.CONTINUOUS, "outcomes", "score",
       "higher", "index", timepoint="12m", instrument="eq5d5l"),
    _c("odi_mcid_12m", "lasting relief", "share improved by the ODI MCID at 12 months", MetricKind.BINARY,
       "outcomes", "score", "higher", "share", timepoint="12m", instrument="odi"),
    _c("reoperation_free", "lasting relief", "reoperation-free survival to 2 years", MetricKind.TIME_TO_EVENT,
       "reoperations", "days_from_index", "higher", "probability", horizon_days=730, functional="survival"),
)

NOT_MEASURED: tuple[tuple[str, str], ...] = (
    ("less postoperative pain", "pain on day 1 (the first follow-up timepoint is 2 weeks)"),
    ("less postoperative pain", "opioid use (not recorded in the operational store)"),
    ("precision through imaging", "imaging–diagnosis concordance (not recorded)"),
    ("shorter recovery", "return to work as distinct from usual activity (one item covers both)"),
)


def claim(key: str) -> Claim:
    for c in CLAIMS:
        if c.key == key:
            return c
    raise KeyError(key)


def decide_verdict(ci_low: float, ci_high: float, better: str, *, null: float = 0.0) -> Verdict:
    """``supported`` when the interval lies wholly on the claimed side of ``null``,
    ``contradicted`` when wholly on the other side, else ``inconclusive``.

    >>> decide_verdict(-12.0, -3.0, "lower").value
    'supported'
    >>> decide_verdict(1.0, 4.0, "lower").value
    'contradicted'
    >>> decide_verdict(-1.0, 4.0, "higher").value
    'inconclusive'
    """
    if better not in ("lower", "higher"):
        raise ValueError(f"better must be 'lower' or 'higher', not {better!r}")
    below, above = ci_high < null, ci_low > null
    if (below and better == "lower") or (above and better == "higher"):
        return Verdict.SUPPORTED
    if (above and better == "lower") or (below and better == "higher"):
        return Verdict.CONTRADICTED
    return Verdict.INCONCLUSIVE
