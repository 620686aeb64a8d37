"""The claims made for minimally invasive spine surgery, each as a measurable metric.

One row of the scorecard per :class:`Claim`. The table follows shared/DESIGN.md ("claim made
for MISS" → "what spinetrack measures"); every metric names the snapshot table and column it
reads, its type, and which direction would *support* the claim. Metrics the operational store
does not record yet (postoperative day-1 pain, opioid use, imaging–diagnosis concordance,
return to work as distinct from return to usual activity) are listed in
:data:`NOT_MEASURED` so the report can say so instead of silently leaving them out.

Verdict rule (issue 15; :func:`decide_verdict`): a difference only counts when it is both
statistically clear after allowing for the number of claims tested together, and not too
small to matter.

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

Harms (``role == "harm"``): radiation exposure is not a promise of minimally invasive surgery
but a cost of its reliance on imaging, so it is reported as a harm: ``better`` still says which
direction is good for the patient (less), and the report words the verdict as "less / more
with MIS".
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["ALPHA", "CLAIMS", "NOT_MEASURED", "Claim", "MetricKind", "Verdict", "adjust_p_values", "claim",
           "decide_verdict", "margin_of"]


class MetricKind(enum.StrEnum):
    CONTINUOUS = "continuous"        # difference in means (MIS − open)
    BINARY = "binary"                # risk difference and risk ratio (MIS / open)
    TIME_TO_EVENT = "time_to_event"  # weighted Kaplan–Meier: survival at a horizon or restricted mean


class Verdict(enum.StrEnum):
    SUPPORTED = "supported"
    CONTRADICTED = "contradicted"
    NO_IMPORTANT_DIFFERENCE = "no_important_difference"
    INCONCLUSIVE = "inconclusive"


#: Significance level of the verdicts, applied to Benjamini–Hochberg adjusted p-values.
ALPHA = 0.05


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
    role: str = "promise"             # "promise" (a claim made for MIS) or "harm" (a cost to report)
    families: tuple[str, ...] | None = None  # only for these procedure families (None: all)
    clock: str = "index"              # time-to-event: days from the "index" date or from "enrolment"


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
    # precision through imaging: operating at the right level, implants where they belong
    _c("wrong_level", "precision through imaging", "wrong-level surgery", MetricKind.BINARY, "complications",
       "category", "lower", "risk", event_filter="category = 'wrong_level'"),
    _c("revision_malposition", "precision through imaging",
       "free of revision for a malpositioned implant to 2 years", MetricKind.TIME_TO_EVENT, "reoperations",
       "days_from_index", "higher", "probability", horizon_days=730, functional="survival", families=("fusion",)),
    # radiation: a harm of imaging-guided surgery, not a promise
    _c("fluoro_time", "radiation exposure (a harm)", "fluoroscopy time", MetricKind.CONTINUOUS, "procedures",
       "fluoro_s", "lower", "s", role="harm"),
    _c("fluoro_dose", "radiation exposure (a harm)", "fluoroscopy dose", MetricKind.CONTINUOUS, "procedures",
       "fluoro_dose_mgy", "lower", "mGy", role="harm"),
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
    _c("return_to_activity_from_enrolment", "shorter recovery",
       "days from enrolment to return to usual activity, the wait for treatment included (restricted mean "
       "within a year)", MetricKind.TIME_TO_EVENT, "outcomes", "score", "lower", "days",
       instrument="return_to_activity", horizon_days=365, functional="rmst", clock="enrolment"),
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


def margin_of(c: Claim) -> tuple[float, str] | None:
    """The claim's margin of no important difference and its source: the instrument's absolute
    MCID for a questionnaire score (``instruments.thresholds``), else ``None`` (no published
    margin in our sources; see the module docstring)."""
    if c.kind is not MetricKind.CONTINUOUS or c.instrument is None:
        return None
    from spinetrack.instruments import thresholds

    try:
        th = thresholds.get(c.instrument)
    except Exception:  # noqa: BLE001 - no threshold in our sources (e.g. EQ-5D)
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
    from spinetrack.stats.multiplicity import adjust

    return adjust(p_values, method).tolist()
