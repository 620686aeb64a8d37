"""Guideline candidacy criteria (pure): the criteria of each diagnosis group, loaded from
``domain/data/guideline_criteria.csv`` (our own words, each with its source), and their
evaluation from the clinician's screening answers and the episode record. No number is invented:
where a guideline speaks of a period of conservative care, the weeks recorded are shown, never
compared with a threshold.

References
----------
- National Institute for Health and Care Excellence. NICE NG59: Low back pain and sciatica in
  over 16s: assessment and management. https://www.nice.org.uk/guidance/ng59
- North American Spine Society. NASS evidence-based clinical guideline: diagnosis and treatment
  of lumbar disc herniation with radiculopathy.
- North American Spine Society. NASS evidence-based clinical guideline: diagnosis and treatment
  of degenerative lumbar spinal stenosis.
"""

from __future__ import annotations

import csv
import enum
import io
from dataclasses import dataclass
from importlib import resources

from spinetrack.domain.diagnosis import DiagnosisGroup, ImagingFinding
from spinetrack.domain.pathway import EpisodeRecord
from spinetrack.domain.procedure import ProcedureFamily
from spinetrack.domain.screening_questions import ANSWER_FIELDS, Answer, ScreeningAnswers

__all__ = [
    "GUIDELINE_CRITERIA",
    "GUIDELINE_SOURCES",
    "RED_FLAG_SOURCE",
    "CriterionResult",
    "CriterionStatus",
    "Evaluation",
    "GuidelineCriterion",
    "criteria_for",
    "evaluate_criteria",
]

# ------------------------------------------------------------------------------------ criteria


class CriterionStatus(enum.Enum):
    MET = "met"
    NOT_MET = "not_met"
    UNKNOWN = "unknown"


class Evaluation(enum.Enum):
    """How a criterion's status is found (the ``evaluation`` column of the CSV).

    ``answer``                        the clinician's answer to ``answer_field``: yes → met,
                                      no → not met, unknown → unknown.
    ``answer_unless_severe_deficit``  as ``answer``, but met by exception when a severe motor
                                      deficit is recorded.
    ``episode_conservative_care``     from the episode: conservative care (options or weeks)
                                      recorded → met; 0 weeks and no option → not met;
                                      nothing recorded → unknown.
    ``clinician_question``            a caution for the clinician; always unknown.
    """

    ANSWER = "answer"
    ANSWER_UNLESS_SEVERE_DEFICIT = "answer_unless_severe_deficit"
    EPISODE_CONSERVATIVE_CARE = "episode_conservative_care"
    CLINICIAN_QUESTION = "clinician_question"


_TAKES_FIELD = (Evaluation.ANSWER, Evaluation.ANSWER_UNLESS_SEVERE_DEFICIT)


@dataclass(frozen=True, slots=True)
class GuidelineCriterion:
    """One candidacy criterion: a question for the clinician, the diagnosis groups it applies
    to, how its status is found, and the keys of its sources (:data:`GUIDELINE_SOURCES`)."""

    key: str
    diagnosis_groups: tuple[DiagnosisGroup, ...]
    question: str
    evaluation: Evaluation
    answer_field: str | None
    sources: tuple[str, ...]

    @property
    def citation(self) -> str:
        """The full names of the sources, ``"; "``-separated."""
        return "; ".join(GUIDELINE_SOURCES[s] for s in self.sources)


@dataclass(frozen=True, slots=True)
class CriterionResult:
    """A criterion evaluated for one episode."""

    key: str
    question: str
    status: CriterionStatus
    detail: str
    citation: str

    def as_dict(self) -> dict[str, str]:
        return {"key": self.key, "question": self.question, "status": self.status.value, "detail": self.detail,
                "citation": self.citation}


def _load_criteria() -> tuple[dict[str, str], tuple[GuidelineCriterion, ...]]:
    """Read ``data/guideline_criteria.csv``: the ``# source <key>: <citation>`` header lines
    and one criterion per row. A malformed row raises ``ValueError`` naming it."""
    text = resources.files("spinetrack.domain").joinpath("data/guideline_criteria.csv").read_text("utf-8")
    sources: dict[str, str] = {}
    lines = []
    for line in text.splitlines():
        if line.startswith("# source "):
            key, citation = line[len("# source "):].split(":", 1)
            sources[key.strip()] = citation.strip()
        elif line.strip() and not line.startswith("#"):
            lines.append(line)
    criteria = []
    for n, row in enumerate(csv.DictReader(io.StringIO("\n".join(lines))), start=1):
        where = f"guideline_criteria.csv row {n} ({row.get('key')!r})"
        kind, _, answer_field = row["evaluation"].partition(":")
        evaluation = Evaluation(kind)
        if (evaluation in _TAKES_FIELD) != bool(answer_field) or (answer_field and answer_field not in ANSWER_FIELDS):
            raise ValueError(f"{where}: evaluation {row['evaluation']!r} needs one of {ANSWER_FIELDS} exactly "
                             f"when it is one of {[e.value for e in _TAKES_FIELD]}")
        keys = tuple(s.strip() for s in row["sources"].split(";") if s.strip())
        if not keys or any(k not in sources for k in keys):
            raise ValueError(f"{where}: sources {row['sources']!r} must be among {sorted(sources)}")
        groups = tuple(DiagnosisGroup(g.strip()) for g in row["diagnosis_groups"].split(";") if g.strip())
        if not groups or not row["question"].strip():
            raise ValueError(f"{where}: needs diagnosis groups and a question")
        criteria.append(GuidelineCriterion(row["key"], groups, row["question"].strip(), evaluation,
                                           answer_field or None, keys))
    if len({c.key for c in criteria}) != len(criteria):
        raise ValueError("guideline_criteria.csv: keys must be unique")
    return sources, tuple(criteria)


GUIDELINE_SOURCES, GUIDELINE_CRITERIA = _load_criteria()
"""Source key → full citation, and every criterion, as read from ``data/guideline_criteria.csv``."""

RED_FLAG_SOURCE = "nice_ng59"


def criteria_for(group: DiagnosisGroup) -> tuple[GuidelineCriterion, ...]:
    """The criteria that apply to a diagnosis group, in file order.

    Examples
    --------
    >>> [c.key for c in criteria_for(DiagnosisGroup.DISC_HERNIATION_RADICULOPATHY)]
    ['disc_imaging_concordant', 'disc_persistent_after_conservative']
    """
    return tuple(c for c in GUIDELINE_CRITERIA if group in c.diagnosis_groups)


# ------------------------------------------------------------------------------------ evaluation

_FROM_ANSWER = {Answer.YES: CriterionStatus.MET, Answer.NO: CriterionStatus.NOT_MET,
                Answer.UNKNOWN: CriterionStatus.UNKNOWN}
_ANSWER_TEXT = {Answer.YES: "Recorded by the clinician: yes.", Answer.NO: "Recorded by the clinician: no.",
                Answer.UNKNOWN: "Not answered yet."}


def _finding_text(f: ImagingFinding) -> str:
    grades = [g.value for g in (f.morphology, f.zone, f.pfirrmann, f.stenosis_grade, f.meyerding) if g is not None]
    return f"{f.level.value} {f.kind.value.replace('_', ' ')}" + (f" ({', '.join(grades)})" if grades else "")


def _imaging_text(episode: EpisodeRecord) -> str:
    if not episode.imaging_findings:
        return "No imaging findings are recorded on this episode."
    return "Imaging recorded on this episode: " + "; ".join(_finding_text(f) for f in episode.imaging_findings) + "."


def _care_text(episode: EpisodeRecord) -> str:
    options = ", ".join(o.value for o in episode.conservative_care)
    weeks = episode.conservative_care_weeks
    if not options and weeks is None:
        return "No conservative care is recorded on this episode."
    duration = "duration not recorded" if weeks is None else f"{weeks} week{'' if weeks == 1 else 's'}"
    return f"Conservative care recorded on this episode: {options or 'options not recorded'}; {duration}."


_NO_THRESHOLD = "spinetrack sets no minimum duration: the clinician judges whether the period was enough."


def _evaluate(c: GuidelineCriterion, answers: ScreeningAnswers | None, episode: EpisodeRecord) -> CriterionResult:
    def result(status: CriterionStatus, detail: str) -> CriterionResult:
        return CriterionResult(c.key, c.question, status, detail, c.citation)

    if c.evaluation is Evaluation.CLINICIAN_QUESTION:
        if episode.treatment_family is ProcedureFamily.FUSION:
            recorded = "Fusion is the treatment recorded on this episode."
        elif episode.treatment is not None:
            family = f" {episode.treatment_family.value}" if episode.treatment_family else ""
            recorded = f"The treatment recorded on this episode is {episode.treatment.value}{family}."
        else:
            recorded = "No treatment is recorded on this episode yet."
        return result(CriterionStatus.UNKNOWN,
                      f"A question for the clinician; spinetrack does not decide it. {recorded}")
    if c.evaluation is Evaluation.EPISODE_CONSERVATIVE_CARE:
        weeks = episode.conservative_care_weeks
        if episode.conservative_care or (weeks is not None and weeks > 0):
            return result(CriterionStatus.MET, _care_text(episode))
        if weeks == 0:
            return result(CriterionStatus.NOT_MET, "The episode records 0 weeks of conservative care.")
        return result(CriterionStatus.UNKNOWN, _care_text(episode))
    assert c.answer_field is not None  # checked when the CSV is loaded
    answer = answers.get(c.answer_field) if answers is not None else Answer.UNKNOWN
    if c.evaluation is Evaluation.ANSWER_UNLESS_SEVERE_DEFICIT:
        care = f"{_care_text(episode)} {_NO_THRESHOLD}"
        if answers is not None and answers.severe_motor_deficit is Answer.YES:
            return result(CriterionStatus.MET,
                          "Met by exception: a severe motor deficit is recorded, so a period of conservative care "
                          f"is not required first. A severe motor deficit is also a red flag (urgent referral). {care}")
        return result(_FROM_ANSWER[answer], f"{_ANSWER_TEXT[answer]} {care}")
    detail = _ANSWER_TEXT[answer]
    if c.answer_field == "imaging_concordant":
        detail += " " + _imaging_text(episode)
    return result(_FROM_ANSWER[answer], detail)


def evaluate_criteria(answers: ScreeningAnswers | None, episode: EpisodeRecord) -> tuple[CriterionResult, ...]:
    """Evaluate the criteria of the episode's diagnosis group, ignoring red flags.

    Use :func:`screen` to show criteria to anyone: it withholds them when a red flag is
    present. ``answers=None`` evaluates what the episode record allows (the rest is unknown).

    Examples
    --------
    >>> import datetime as dt
    >>> from spinetrack.domain.diagnosis import get_diagnosis, Level
    >>> from spinetrack.domain.pathway import EpisodeRecord
    >>> ep = EpisodeRecord(get_diagnosis("M48.062"), (Level.L4_L5,), dt.date(2025, 1, 6), conservative_care_weeks=12)
    >>> for r in evaluate_criteria(None, ep):
    ...     print(r.key, r.status.value)
    stenosis_imaging_concordant unknown
    stenosis_function_limited unknown
    stenosis_conservative_care_tried met
    """
    return tuple(_evaluate(c, answers, episode) for c in criteria_for(episode.diagnosis.group))


