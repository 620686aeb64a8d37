"""Red-flag screening and guideline candidacy criteria for one episode of care (pure).

A clinician records :class:`ScreeningAnswers` for an episode: eight red-flag questions and
three candidacy facts, each answered ``yes``, ``no`` or ``unknown``. :func:`screen` turns them,
together with the episode record, into a :class:`ScreeningResult`. The questions and red flags
are declared in :mod:`spinetrack.domain.screening_questions`, the criteria and their evaluation in
:mod:`spinetrack.domain.guideline_criteria`; this module combines them and exports all names.

Rules (NICE NG59 for the red flags; the NASS guidelines for the candidacy criteria)
-----------------------------------------------------------------------------------
* **Red flags override everything.** Suspected cauda equina syndrome (saddle anaesthesia, new
  bladder or bowel dysfunction, bilateral leg symptoms), suspected spinal infection, malignancy
  or fracture, and a progressive or severe motor deficit each call for urgent referral. A flag
  is *present* when any one of its questions is answered ``yes`` (:data:`RED_FLAG_TRIGGERS`),
  *absent* when all of them are ``no``, and *unknown* otherwise. With any flag present the
  result is ``urgent``, carries the urgent-referral message and **no** candidacy criteria
  (``criteria == ()``), so that nothing downstream shows a treatment comparison.
* **Candidacy criteria are questions, not rules.** They are data
  (``domain/data/guideline_criteria.csv``, with its provenance header), phrased in our own
  words as questions for the clinician, each with its source. No number is invented: where a
  guideline speaks of a period of conservative care, the weeks recorded on the episode are
  shown in the criterion's ``detail`` and never compared with a threshold.
* Whether a criterion is met is read from the clinician's answers or, where it is a fact of the
  record (conservative care tried), from the episode. A criterion that is a caution for the
  clinician (fusion for low back pain alone, NICE NG59) is always ``unknown``: spinetrack does
  not decide it.

The disc-herniation criterion "symptoms persist despite conservative care" is met *by
exception* when a severe motor deficit is recorded (:func:`evaluate_criteria` says so in the
detail). A severe motor deficit is also a red flag, so :func:`screen` shows the urgent message
instead of any criterion in that case; the exception is visible when the criteria are
evaluated on their own.

References
----------
- National Institute for Health and Care Excellence. NICE NG59: Low back pain and sciatica in
  over 16s: assessment and management. https://www.nice.org.uk/guidance/ng59
- North American Spine Society. NASS evidence-based clinical guideline: diagnosis and treatment
  of lumbar disc herniation with radiculopathy.
- North American Spine Society. NASS evidence-based clinical guideline: diagnosis and treatment
  of degenerative lumbar spinal stenosis.

Examples
--------
>>> import datetime as dt
>>> from spinetrack.domain.diagnosis import get_diagnosis, Level
>>> from spinetrack.domain.pathway import EpisodeRecord
>>> episode = EpisodeRecord(get_diagnosis("M51.16"), (Level.L4_L5,), dt.date(2025, 1, 6))
>>> answers = ScreeningAnswers.create({"assessed_on": "2025-01-06", "saddle_anaesthesia": "yes"})
>>> result = screen(answers, episode)
>>> result.urgent, result.criteria
(True, ())
>>> [f.flag.value for f in result.red_flags if f.status is RedFlagStatus.PRESENT]
['cauda_equina']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from spinetrack.domain.diagnosis import DiagnosisGroup
from spinetrack.domain.guideline_criteria import (
    GUIDELINE_CRITERIA,
    GUIDELINE_SOURCES,
    RED_FLAG_SOURCE,
    CriterionResult,
    CriterionStatus,
    Evaluation,
    GuidelineCriterion,
    criteria_for,
    evaluate_criteria,
)
from spinetrack.domain.pathway import EpisodeRecord
from spinetrack.domain.screening_questions import (
    ANSWER_FIELDS,
    CANDIDACY_FIELDS,
    LABELS,
    QUESTIONS,
    RED_FLAG_FIELDS,
    RED_FLAG_TRIGGERS,
    Answer,
    RedFlag,
    RedFlagFinding,
    RedFlagStatus,
    ScreeningAnswers,
)

__all__ = [
    "ANSWER_FIELDS",
    "CANDIDACY_FIELDS",
    "GUIDELINE_CRITERIA",
    "GUIDELINE_SOURCES",
    "LABELS",
    "QUESTIONS",
    "RED_FLAG_FIELDS",
    "RED_FLAG_TRIGGERS",
    "Answer",
    "CriterionResult",
    "CriterionStatus",
    "Evaluation",
    "GuidelineCriterion",
    "RedFlag",
    "RedFlagFinding",
    "RedFlagStatus",
    "ScreeningAnswers",
    "ScreeningResult",
    "criteria_for",
    "evaluate_criteria",
    "screen",
]

# ------------------------------------------------------------------------------------ result


@dataclass(frozen=True, slots=True)
class ScreeningResult:
    """The screening of one episode: red flags first, then (only without a red flag) the
    candidacy criteria of its diagnosis group.

    ``recorded`` is False when no answers exist (every flag unknown). ``urgent`` is True when
    any flag is present; then ``message`` says so in plain words and ``criteria`` is empty.
    ``unanswered`` lists the red-flag questions still unknown.
    """

    recorded: bool
    urgent: bool
    red_flags: tuple[RedFlagFinding, ...]
    unanswered: tuple[str, ...]
    message: str | None
    criteria: tuple[CriterionResult, ...]
    diagnosis_group: DiagnosisGroup
    answers: ScreeningAnswers | None = None

    @property
    def present(self) -> tuple[RedFlagFinding, ...]:
        """The red flags that are present."""
        return tuple(f for f in self.red_flags if f.status is RedFlagStatus.PRESENT)

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable, enum values as strings."""
        return {
            "recorded": self.recorded,
            "urgent": self.urgent,
            "assessed_on": self.answers.assessed_on.isoformat() if self.answers is not None else None,
            "answers": self.answers.as_dict() if self.answers is not None else None,
            "red_flags": [f.as_dict() for f in self.red_flags],
            "unanswered": list(self.unanswered),
            "message": self.message,
            "criteria": [c.as_dict() for c in self.criteria],
            "diagnosis_group": self.diagnosis_group.value,
        }


def _flag_status(answers: ScreeningAnswers | None, flag: RedFlag) -> tuple[RedFlagStatus, tuple[str, ...]]:
    if answers is None:
        return RedFlagStatus.UNKNOWN, ()
    given = {q: answers.get(q) for q in RED_FLAG_TRIGGERS[flag]}
    raised = tuple(q for q, a in given.items() if a is Answer.YES)
    if raised:
        return RedFlagStatus.PRESENT, raised
    if all(a is Answer.NO for a in given.values()):
        return RedFlagStatus.ABSENT, ()
    return RedFlagStatus.UNKNOWN, ()


def _urgent_message(present: list[RedFlag]) -> str:
    flags = "; ".join(f.label.lower() for f in present)
    return (f"Red flag: {flags}. Urgent referral: the patient needs urgent assessment. "
            "No candidacy criteria and no treatment comparison are shown while a red flag is present.")


def screen(answers: ScreeningAnswers | None, episode: EpisodeRecord) -> ScreeningResult:
    """Screen one episode: red flags, and candidacy criteria only when no red flag is present.

    Parameters
    ----------
    answers:
        The latest answers recorded for the episode, or ``None`` when none are recorded
        (``recorded=False``, every flag unknown, criteria as far as the episode allows).
    episode:
        The episode: its diagnosis group chooses the criteria; conservative care, its weeks,
        imaging findings and treatment appear in the criteria's details.

    Returns
    -------
    ScreeningResult
        ``urgent=True``, the urgent-referral ``message`` and ``criteria=()`` when any red flag is
        present, whatever the candidacy answers.

    References
    ----------
    NICE NG59: Low back pain and sciatica in over 16s: assessment and management (red flags);
    the NASS evidence-based clinical guidelines for lumbar disc herniation with radiculopathy and
    for degenerative lumbar spinal stenosis (candidacy criteria).

    Examples
    --------
    >>> import datetime as dt
    >>> from spinetrack.domain.diagnosis import get_diagnosis, Level
    >>> from spinetrack.domain.pathway import EpisodeRecord
    >>> ep = EpisodeRecord(get_diagnosis("M51.16"), (Level.L5_S1,), dt.date(2025, 1, 6))
    >>> r = screen(None, ep)
    >>> r.recorded, r.urgent, len(r.unanswered), [c.status.value for c in r.criteria]
    (False, False, 8, ['unknown', 'unknown'])
    """
    citation = GUIDELINE_SOURCES[RED_FLAG_SOURCE]
    findings = []
    for flag in RedFlag:
        status, raised = _flag_status(answers, flag)
        findings.append(RedFlagFinding(flag, status, raised, citation))
    present = [f.flag for f in findings if f.status is RedFlagStatus.PRESENT]
    unanswered = tuple(q for q in RED_FLAG_FIELDS if answers is None or answers.get(q) is Answer.UNKNOWN)
    urgent = bool(present)
    return ScreeningResult(
        recorded=answers is not None,
        urgent=urgent,
        red_flags=tuple(findings),
        unanswered=unanswered,
        message=_urgent_message(present) if urgent else None,
        criteria=() if urgent else evaluate_criteria(answers, episode),
        diagnosis_group=episode.diagnosis.group,
        answers=answers,
    )

