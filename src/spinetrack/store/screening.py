"""Red-flag screening assessments of an episode: validated, audited writes and reads.

The history is append-only: :func:`save_screening` inserts one ``screening_assessments`` row
per assessment and nothing here updates or deletes one. The **current** assessment of an
episode is the newest by ``assessed_on``, then by insertion order (a late entry of an older
assessment does not replace a newer one; a second entry on the same day does).

Who may do what (checked here, not only by the routes):

* record an assessment: a ``clinician`` of the patient's site (or ``system`` for loaders);
  every other role is refused (:class:`~spinetrack.errors.PermissionDeniedError`), another
  site's episode is not found;
* read it: whoever may see the patient (:func:`~spinetrack.store.repositories.authorize_patient`:
  clinic staff of the site, the patient through their own visit, ``system``), so that a
  decision aid can check for red flags before it shows any comparison. The web routes that
  show screening to staff admit clinicians only.

Every call appends one audit row in the same transaction (``create`` / ``read``, entity
``screening``); the audit detail names the episode only, never an answer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from spinetrack import clock
from spinetrack.domain.diagnosis import ImagingFinding, get_diagnosis, parse_levels
from spinetrack.domain.pathway import EpisodeRecord, TreatmentArm
from spinetrack.domain.procedure import ConservativeOption, ProcedureFamily
from spinetrack.domain.screening import ScreeningAnswers, ScreeningResult, screen
from spinetrack.errors import PermissionDeniedError
from spinetrack.store import audit
from spinetrack.store.repositories import Actor, Store
from spinetrack.store.tables import EpisodeRow, ScreeningAssessmentRow

__all__ = ["RECORDING_ROLES", "episode_record", "get_latest_screening", "save_screening", "screen_episode"]

ENTITY = "screening"
RECORDING_ROLES = ("clinician", "system")
"""Roles that may record a screening assessment."""

_GRADES = ("morphology", "zone", "pfirrmann", "stenosis_grade", "meyerding")


def episode_record(row: EpisodeRow) -> EpisodeRecord:
    """The full domain record of a stored episode: diagnosis, levels, imaging findings,
    conservative care and its weeks, treatment and index date."""
    findings = tuple(
        ImagingFinding.create({"level": f.level, "kind": f.kind,
                               **{g: getattr(f, g) for g in _GRADES if getattr(f, g) is not None}})
        for f in row.findings
    )
    care = tuple(ConservativeOption(c) for c in row.conservative_care.split(",")) if row.conservative_care else ()
    return EpisodeRecord(
        diagnosis=get_diagnosis(row.diagnosis_code), levels=parse_levels(row.levels), enrolled_on=row.enrolled_on,
        imaging_findings=findings, conservative_care=care, conservative_care_weeks=row.conservative_care_weeks,
        treatment=TreatmentArm(row.treatment) if row.treatment else None,
        treatment_family=ProcedureFamily(row.treatment_family) if row.treatment_family else None,
        index_date=row.index_date,
    )


def _latest(s: Session, episode_id: int) -> ScreeningAssessmentRow | None:
    return s.execute(select(ScreeningAssessmentRow).where(ScreeningAssessmentRow.episode_id == episode_id)
                     .order_by(ScreeningAssessmentRow.assessed_on.desc(), ScreeningAssessmentRow.id.desc())
                     .limit(1)).scalar()


def _answers(row: ScreeningAssessmentRow) -> ScreeningAnswers:
    return ScreeningAnswers.create({**row.answers, "assessed_on": row.assessed_on})


def save_screening(store: Store, actor: Actor, episode_id: int, data: Mapping[str, Any], *,
                   today: dt.date | None = None) -> int:
    """Record one screening assessment of an episode; return its id.

    ``data`` is validated whole by :meth:`ScreeningAnswers.create` before anything is written
    (``assessed_on`` defaults to ``today``, :func:`spinetrack.clock.today` unless given, and may
    not be later); the row and its audit row are then written in one transaction.

    Raises
    ------
    PermissionDeniedError
        The actor is not a clinician (or ``system``).
    ValidationError
        A field is refused, naming ``screening.<field>`` and the allowed values.
    NotFoundError
        No such episode, or another site's.
    """
    if actor.role not in RECORDING_ROLES:
        raise PermissionDeniedError(f"only a clinician may record red-flag screening; you are {actor.role}",
                                    role=actor.role)
    answers = ScreeningAnswers.create(data, today=today or clock.today())
    stored = answers.as_dict()
    stored.pop("assessed_on")
    with store.transaction() as s:
        ep = Store._episode(s, episode_id, actor)
        row = ScreeningAssessmentRow(episode_id=ep.id, answers=stored, assessed_on=answers.assessed_on,
                                     assessed_by=actor.name)
        s.add(row)
        s.flush()
        audit.append(s, actor=actor.name, actor_role=actor.role, action="create", entity=ENTITY, entity_id=row.id,
                     patient_id=ep.patient_id, detail={"episode_id": ep.id})
        return row.id


def get_latest_screening(store: Store, actor: Actor, episode_id: int) -> ScreeningAnswers | None:
    """The current screening answers of an episode, or ``None`` when none is recorded.
    One audit row (``read`` ``screening``), also when nothing is found."""
    with store.transaction() as s:
        _, row = _read_latest(s, actor, episode_id)
        return _answers(row) if row is not None else None


def screen_episode(store: Store, actor: Actor, episode_id: int) -> ScreeningResult:
    """The episode's current screening result (:func:`spinetrack.domain.screening.screen` of
    its latest answers and its record), read in one transaction with one audit row. With no
    assessment recorded the result has ``recorded=False``."""
    with store.transaction() as s:
        ep, row = _read_latest(s, actor, episode_id)
        return screen(_answers(row) if row is not None else None, episode_record(ep))


def _read_latest(s: Session, actor: Actor, episode_id: int) -> tuple[EpisodeRow, ScreeningAssessmentRow | None]:
    """The episode (role-checked) and its latest assessment, with the one ``read`` audit row
    both public reads write (also when nothing is recorded)."""
    ep = Store._episode(s, episode_id, actor)
    row = _latest(s, ep.id)
    audit.append(s, actor=actor.name, actor_role=actor.role, action="read", entity=ENTITY,
                 entity_id=row.id if row is not None else None, patient_id=ep.patient_id,
                 detail={"episode_id": ep.id, "found": row is not None})
    return ep, row
