"""Which literature outcomes inform which scorecard claim, and how far they can be compared.

The scorecard measures each claim of the catalogue (:mod:`spinetrack.domain.claims`) on the site's own patients as
MIS minus open (or MIS / open) on a fixed metric, unit and timepoint. The literature reports
other units (VAS 0-100 instead of NRS points), other measures (odds ratios instead of risk
ratios, medians instead of means), other timepoints, or a related quantity (proportion
reoperated instead of reoperation-free survival). This module records, for every claim key,
which :class:`~spinetrack.evidence.vocab.Outcome` rows inform it and classifies each row with a
:class:`Relation`:

``same_scale``
    Same quantity, unit, direction and timepoint: may be shown next to the site's estimate.
``convertible``
    Same quantity with an exact unit conversion (minutes to seconds, percent to risk); the
    factor is given by :func:`conversion_factor`.
``unit_mismatch``
    Same concept but a different unit, scale, measure or direction: record it, show it, but
    never pool it with or compare it blindly to the site's estimate.
``proxy``
    A related quantity or another timepoint: context only.
``narrative``
    A direction or P value without an effect size.

Claims the retrieved literature does not cover have an empty ``links`` and a ``gap`` saying
why. Each entry's metric, kind, unit and ``better`` direction are taken from the claim of the same
key in :data:`spinetrack.domain.claims.CLAIMS`; the map has one entry per claim, in the
catalogue's order (checked when this module is imported).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from spinetrack.domain.claims import CLAIMS, claim
from spinetrack.errors import ValidationError
from spinetrack.evidence.records import EvidenceRecord
from spinetrack.evidence.vocab import Measure, Outcome, ScaleDirection, Timepoint, Unit

__all__ = [
    "CLAIM_EVIDENCE",
    "ClaimEvidence",
    "OutcomeLink",
    "Relation",
    "claim_evidence",
    "conversion_factor",
    "relation",
]


class Relation(enum.StrEnum):
    """How one literature row relates to a claim's metric (see the module docstring)."""

    SAME_SCALE = "same_scale"
    CONVERTIBLE = "convertible"
    UNIT_MISMATCH = "unit_mismatch"
    PROXY = "proxy"
    NARRATIVE = "narrative"


@dataclass(frozen=True, slots=True)
class OutcomeLink:
    """One literature outcome that informs a claim.

    Parameters
    ----------
    outcome : Outcome
        The literature outcome.
    timepoints : tuple of Timepoint
        Timepoints that match the claim's; empty means any timepoint.
    proxy_timepoints : tuple of Timepoint
        Other timepoints kept as context (classified ``proxy``).
    units : tuple of Unit
        Units on the claim's scale.
    conversions : tuple of (Unit, float)
        Units with an exact factor to the claim's unit.
    proxy : bool
        The outcome itself is only related to the claim's metric.
    note : str
        Why the link is drawn and what to watch for.
    """

    outcome: Outcome
    timepoints: tuple[Timepoint, ...] = ()
    proxy_timepoints: tuple[Timepoint, ...] = ()
    units: tuple[Unit, ...] = ()
    conversions: tuple[tuple[Unit, float], ...] = ()
    proxy: bool = False
    note: str = ""


@dataclass(frozen=True, slots=True)
class ClaimEvidence:
    """The literature mapping of one scorecard claim.

    ``metric``, ``kind`` (``continuous``, ``binary``, ``time_to_event``), ``unit`` and ``better``
    are the claim's, from :data:`spinetrack.domain.claims.CLAIMS`. ``gap`` says what the
    literature lacks; it is required when ``links`` is empty.
    """

    claim: str
    metric: str
    kind: str
    unit: str
    better: str
    links: tuple[OutcomeLink, ...]
    gap: str = ""

    @property
    def covered(self) -> bool:
        """True when at least one literature outcome is linked."""
        return bool(self.links)


_T = Timepoint
_LATER: Final = (_T.M12, _T.M24, _T.UP_TO_24M, _T.MID_TERM, _T.LONG_TERM, _T.UNKNOWN)
_VAS_NOTE: Final = ("VAS 0-100 (mm) and unspecified VAS scales are not NRS points: unit mismatch, never "
                    "rescaled silently.")


def _risk(outcome: Outcome, note: str = "") -> OutcomeLink:
    """A binary outcome: risk ratios on the claim's scale, percentages convertible to risks."""
    return OutcomeLink(outcome, units=(Unit.RATIO,), conversions=((Unit.PERCENT, 0.01),), note=note)


def _ce(key: str, *links: OutcomeLink, gap: str = "") -> ClaimEvidence:
    """The entry of the claim ``key``, its metric, kind, unit and direction from the catalogue."""
    c = claim(key)
    return ClaimEvidence(c.key, c.metric, c.kind.value, c.unit, c.better, tuple(links), gap)


#: One entry per scorecard claim, in the scorecard's order.
CLAIM_EVIDENCE: Final[tuple[ClaimEvidence, ...]] = (
    _ce("incision",
        OutcomeLink(Outcome.INCISION_LENGTH, units=(Unit.MM,), conversions=((Unit.CM, 10.0),),
                    note="The one pooled figure (Int Orthop 2014) prints no unit (cm or mm)."),
        gap="No incision length with a stated unit."),
    _ce("blood_loss",
        OutcomeLink(Outcome.BLOOD_LOSS, units=(Unit.ML,)),
        OutcomeLink(Outcome.POSTOP_BLOOD_LOSS, proxy=True,
                    note="Postoperative drainage / blood loss is not intraoperative EBL.")),
    _ce("transfusion",
        _risk(Outcome.TRANSFUSION), gap="One retrospective cohort only (Rampersaud 2011)."),
    _ce("wrong_level",
        gap="No retrieved source reports wrong-level surgery for MIS versus open."),
    _ce("revision_malposition",
        gap="No retrieved source reports revision for implant malposition for MIS versus open."),
    _ce("fluoro_time",
        OutcomeLink(Outcome.FLUOROSCOPY_TIME, units=(Unit.S,), conversions=((Unit.MIN, 60.0),)),
        OutcomeLink(Outcome.FLUOROSCOPY_COUNT, proxy=True, note="Number of fluoroscopy shots, not time."),
        OutcomeLink(Outcome.RADIATION_EXPOSURE, proxy=True, note="'X-ray exposure' without a stated metric.")),
    _ce("fluoro_dose",
        OutcomeLink(Outcome.RADIATION_DOSE, units=(Unit.MGY,),
                    note="Patient dose per procedure; check that the dose quantity matches the site's."),
        OutcomeLink(Outcome.RADIATION_EXPOSURE, proxy=True, note="'X-ray exposure' without a stated metric.")),
    _ce("back_pain_2w",
        OutcomeLink(Outcome.BACK_PAIN, timepoints=(_T.W2,), proxy_timepoints=(_T.EARLY_POSTOP,),
                    units=(Unit.NRS_0_10,), note=_VAS_NOTE),
        OutcomeLink(Outcome.PAIN_UNSPECIFIED, timepoints=(_T.W2, _T.EARLY_POSTOP), proxy=True,
                    note="Back and leg pain not separated."),
        gap="No back-pain figure at 2 weeks; nearest is a day-7 VAS, back/leg not stated (Zhao 2019)."),
    _ce("leg_pain_2w",
        OutcomeLink(Outcome.LEG_PAIN, timepoints=(_T.W2,), proxy_timepoints=(_T.EARLY_POSTOP,),
                    units=(Unit.NRS_0_10,), note=_VAS_NOTE),
        OutcomeLink(Outcome.PAIN_UNSPECIFIED, timepoints=(_T.W2, _T.EARLY_POSTOP), proxy=True,
                    note="Back and leg pain not separated."),
        gap="No leg-pain figure at 2 weeks; nearest are day-3 NRS (Hartmann 2022, P only) and day-7 VAS."),
    _ce("back_pain_6w",
        gap="No back-pain figure at 6 weeks (or 3 months) in the retrieved evidence."),
    _ce("length_of_stay",
        OutcomeLink(Outcome.LENGTH_OF_STAY, units=(Unit.DAYS,))),
    _ce("return_to_activity",
        OutcomeLink(Outcome.RETURN_TO_WORK, proxy=True,
                    note="Return to work is not return to usual activity, and only P values or statements."),
        gap="No days to return to activity or work in the retrieved evidence."),
    _ce("return_to_activity_from_enrolment",
        gap="No days from enrolment (or referral) to return to activity in the retrieved evidence."),
    _ce("any_complication",
        _risk(Outcome.COMPLICATIONS_ANY, "Odds ratios are not risk ratios; counts may be events, not patients.")),
    _ce("major_complication",
        _risk(Outcome.COMPLICATIONS_MAJOR, "'Severe complications' are not Clavien-Dindo graded."),
        gap="Narrative only (Smith 2013); no Clavien-Dindo-graded figures."),
    _ce("ssi",
        _risk(Outcome.INFECTION, "Park 2018 gives an odds ratio, not a risk ratio.")),
    _ce("dural_tear",
        _risk(Outcome.DURAL_TEAR)),
    _ce("readmission",
        gap="No retrieved source reports readmission for MIS versus open."),
    _ce("odi_12m",
        OutcomeLink(Outcome.ODI, timepoints=(_T.M12,),
                    proxy_timepoints=(_T.M24, _T.UP_TO_24M, _T.LONG_TERM, _T.UNKNOWN),
                    units=(Unit.ODI_POINTS,), note="A change score (Park 2018) is not the 12-month level."),
        OutcomeLink(Outcome.DISABILITY_OTHER, timepoints=_LATER, proxy=True,
                    note="Other instruments (RDQ, JOA, physical function) are not ODI."),
        gap="No ODI figure at 12 months; ODI rows are at 2 years, long term, or an unstated time."),
    _ce("odi_24m",
        OutcomeLink(Outcome.ODI, timepoints=(_T.M24,),
                    proxy_timepoints=(_T.M12, _T.UP_TO_24M, _T.LONG_TERM, _T.UNKNOWN),
                    units=(Unit.ODI_POINTS,), note="A change score (Park 2018) is not the 24-month level."),
        OutcomeLink(Outcome.DISABILITY_OTHER, timepoints=_LATER, proxy=True,
                    note="Other instruments (RDQ, JOA, physical function) are not ODI."),
        gap="At 2 years only a narrative finding (10-year cohort); no ODI estimate at 24 months."),
    _ce("leg_pain_12m",
        OutcomeLink(Outcome.LEG_PAIN, timepoints=(_T.M12,),
                    proxy_timepoints=(_T.M24, _T.UP_TO_24M, _T.LONG_TERM, _T.UNKNOWN),
                    units=(Unit.NRS_0_10,), note=_VAS_NOTE + " Gadjradj 2022 reports medians."),
        OutcomeLink(Outcome.PAIN_UNSPECIFIED, timepoints=_LATER, proxy=True, note="Back and leg pain not separated.")),
    _ce("back_pain_12m",
        OutcomeLink(Outcome.BACK_PAIN, timepoints=(_T.M12,),
                    proxy_timepoints=(_T.M24, _T.UP_TO_24M, _T.LONG_TERM, _T.UNKNOWN),
                    units=(Unit.NRS_0_10,), note=_VAS_NOTE),
        OutcomeLink(Outcome.PAIN_UNSPECIFIED, timepoints=_LATER, proxy=True, note="Back and leg pain not separated."),
        gap="No back-pain figure at 12 months; SIPS gives a VAS difference over 2 years."),
    _ce("eq5d_12m",
        OutcomeLink(Outcome.HEALTH_STATUS, proxy=True, note="SF-36, SF-6D and QALYs are not the EQ-5D-5L index."),
        gap="No EQ-5D figures in the retrieved evidence."),
    _ce("odi_mcid_12m",
        OutcomeLink(Outcome.GOOD_RECOVERY, proxy=True,
                    note="Global perceived (good / excellent) recovery, not the share reaching the ODI MCID."),
        OutcomeLink(Outcome.SATISFACTION, proxy=True, note="Satisfaction, not the ODI MCID."),
        gap="No share reaching the ODI MCID in the retrieved evidence."),
    _ce("reoperation_free",
        OutcomeLink(Outcome.REOPERATION,
                    note="Proportions reoperated (30 days, 2 years, 5 years or more) are not reoperation-free "
                         "survival at 2 years: unit mismatch."),
        OutcomeLink(Outcome.RECURRENCE, proxy=True, note="Recurrent herniation is not reoperation.")),
)

if tuple(ce.claim for ce in CLAIM_EVIDENCE) != tuple(c.key for c in CLAIMS):
    raise RuntimeError("evidence.claims_map.CLAIM_EVIDENCE must map every claim of domain.claims.CLAIMS, in order")

_BY_KEY: Final = {c.claim: c for c in CLAIM_EVIDENCE}
_SAME_MEASURES: Final[dict[str, frozenset[Measure]]] = {
    "continuous": frozenset({Measure.MD, Measure.MEAN_PAIR}),
    "binary": frozenset({Measure.RR, Measure.RD, Measure.PROPORTION_PAIR, Measure.COUNT_PAIR}),
    "time_to_event": frozenset(),
}
_CONTEXT_MEASURES: Final = frozenset({Measure.SINGLE_ARM, Measure.COMBINED_PROPORTION, Measure.RANGE_PAIR})


def claim_evidence(claim: str) -> ClaimEvidence:
    """The mapping of one claim key.

    Raises
    ------
    ValidationError
        For an unknown claim key, listing the known ones.

    Examples
    --------
    >>> claim_evidence("wrong_level").links
    ()
    >>> [link.outcome.value for link in claim_evidence("blood_loss").links]
    ['blood_loss', 'postop_blood_loss']
    """
    try:
        return _BY_KEY[claim]
    except KeyError:
        raise ValidationError(field="claim", value=claim, allowed=list(_BY_KEY)) from None


def _match(ce: ClaimEvidence, row: EvidenceRecord) -> tuple[OutcomeLink, bool] | None:
    """The first link that takes ``row`` and whether the row's timepoint is the claim's."""
    for link in ce.links:
        if link.outcome is not row.outcome:
            continue
        same_time = not link.timepoints or row.timepoint_norm in link.timepoints
        if same_time or row.timepoint_norm in link.proxy_timepoints:
            return link, same_time
    return None


def relation(claim: str, row: EvidenceRecord) -> Relation | None:
    """How ``row`` relates to the metric of ``claim``; ``None`` when it does not inform it.

    Parameters
    ----------
    claim : str
        A scorecard claim key.
    row : PublishedEstimate or ArmSummary
        A literature row.

    Returns
    -------
    Relation or None

    Examples
    --------
    >>> from spinetrack.evidence.studies import load_studies
    >>> rows = {r.id: r for r in load_studies()}
    >>> relation("blood_loss", rows["fus-sun2013-blood-loss"]).value
    'same_scale'
    >>> relation("leg_pain_12m", rows["disc-gadjradj2022-leg-pain-median"]).value
    'unit_mismatch'
    >>> relation("reoperation_free", rows["cc-ramanathan2023-reoperation"]).value
    'unit_mismatch'
    >>> relation("incision", rows["fus-sun2013-blood-loss"]) is None
    True
    """
    ce = claim_evidence(claim)
    found = _match(ce, row)
    if found is None:
        return None
    link, same_time = found
    if link.proxy or not same_time:
        return Relation.PROXY
    if row.measure is Measure.NARRATIVE:
        return Relation.NARRATIVE
    if row.measure in _CONTEXT_MEASURES:
        return Relation.PROXY
    expected = ScaleDirection.LOWER_BETTER if ce.better == "lower" else ScaleDirection.HIGHER_BETTER
    if row.measure not in _SAME_MEASURES[ce.kind] or row.scale_direction is not expected:
        return Relation.UNIT_MISMATCH
    if row.unit in link.units:
        return Relation.SAME_SCALE
    if any(u is row.unit for u, _ in link.conversions):
        return Relation.CONVERTIBLE
    return Relation.UNIT_MISMATCH


def conversion_factor(claim: str, row: EvidenceRecord) -> float | None:
    """The factor taking ``row``'s unit to the claim's unit (1.0 when already the same).

    ``None`` unless :func:`relation` is ``same_scale`` or ``convertible``.

    Examples
    --------
    >>> from spinetrack.evidence.studies import load_studies
    >>> row = next(r for r in load_studies() if r.id == "fus-rampersaud2011-transfusion")
    >>> conversion_factor("transfusion", row)
    0.01
    """
    rel = relation(claim, row)
    if rel is Relation.SAME_SCALE:
        return 1.0
    if rel is not Relation.CONVERTIBLE:
        return None
    found = _match(claim_evidence(claim), row)
    assert found is not None
    return next(f for u, f in found[0].conversions if u is row.unit)
