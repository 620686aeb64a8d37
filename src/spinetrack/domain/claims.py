"""The claims made for minimally invasive spine surgery, each as a measurable metric: the
catalogue of the claims scorecard, as data.

One row of the scorecard per :class:`Claim`: the promise made for MIS ("smaller incisions",
"shorter recovery", ...) and what measures it — the metric, its kind (continuous, binary, time
to event), the snapshot table and column it reads, its unit, the PROM instrument and timepoint
where it is a questionnaire score, and which direction (``better``) would *support* the claim.
Metrics the operational store does not record yet (postoperative day-1 pain, opioid use,
imaging–diagnosis concordance, return to work as distinct from return to usual activity) are
listed in :data:`NOT_MEASURED` so the report can say so instead of silently leaving them out.

Harms (``role == "harm"``): radiation exposure is not a promise of minimally invasive surgery
but a cost of its reliance on imaging, so it is reported as a harm: ``better`` still says which
direction is good for the patient (less), and the report words the verdict as "less / more
with MIS".

The analysis (``analysis.claims``, ``analysis.design``) measures each claim on the site's
patients; the literature base (``evidence.claims_map``) links each claim key to the published
outcomes that inform it. Pure data: imports only the standard library.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["CLAIMS", "NOT_MEASURED", "Claim", "MetricKind", "claim"]


class MetricKind(enum.StrEnum):
    CONTINUOUS = "continuous"        # difference in means (MIS − open)
    BINARY = "binary"                # risk difference and risk ratio (MIS / open)
    TIME_TO_EVENT = "time_to_event"  # weighted Kaplan–Meier: survival at a horizon or restricted mean


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
