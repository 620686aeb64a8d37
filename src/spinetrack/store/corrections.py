"""Correcting a stored record with a reason, keeping the old value; the patient's language.

A correction changes one field of a procedure, complication, readmission, reoperation or
episode (diagnosis, levels). In **one transaction** it

1. reads the record (the patient's own site's clinician or coordinator only; another site's
   record is "not found", as everywhere in the store),
2. builds the whole record again with the new value and runs the domain validation on it
   (:class:`~spinetrack.domain.pathway.ProcedureRecord` and the others, plus the checks against
   the episode that a new record gets): a value the domain refuses stores nothing,
3. writes the new value to the record, a ``corrections`` row (old value, new value, reason, who,
   when; append-only) and an audit entry (``update``) whose detail holds both values.

The reason is required (1 to 1000 characters). Values are kept as JSON: dates as ISO text,
levels as their canonical text (``L4-L5,L5-S1``), yes/no as true/false.

Correcting the procedure date moves the episode's index date with it (the index date *is* the
procedure date), recomputes the days from index of the episode's questionnaire answers, and
shifts the scheduled visits that have not opened yet by the same number of days; visits already
open, completed, missed or stopped keep their dates. The date must stay on or after enrolment and
before every complication, readmission and reoperation of the episode.

Conversion to open (``procedure.converted_to_open``) is recorded and corrected like any field;
the analyses stay intention-to-treat (an MIS procedure converted to open is analysed as MIS).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from spinetrack.clock import utcnow
from spinetrack.domain import check_text
from spinetrack.domain.diagnosis import format_levels
from spinetrack.domain.pathway import (
    ComplicationRecord,
    EpisodeRecord,
    ProcedureRecord,
    ReadmissionRecord,
    ReoperationRecord,
)
from spinetrack.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from spinetrack.i18n import LANGUAGES
from spinetrack.store import audit
from spinetrack.store.repositories import SITE_ROLES, Actor, Store
from spinetrack.store.tables import (
    ComplicationRow,
    CorrectionRow,
    EpisodeRow,
    FollowupRow,
    PatientIdentityRow,
    ProcedureRow,
    PromResponseRow,
    ReadmissionRow,
    ReoperationRow,
)

__all__ = ["CORRECTABLE", "Correction", "correct", "corrections_of_patient", "patient_language", "set_language"]

MAX_REASON = 1000

# entity -> the fields a correction may change (in the order the form offers them)
CORRECTABLE: dict[str, tuple[str, ...]] = {
    "procedure": ("performed_on", "levels", "converted_to_open", "incision_mm", "ebl_ml", "op_time_min",
                  "fluoro_s", "fluoro_dose_mgy", "los_days", "transfusion"),
    "complication": ("category", "clavien_dindo", "occurred_on", "detail"),
    "readmission": ("admitted_on", "reason"),
    "reoperation": ("performed_on", "reason", "levels"),
    "episode": ("diagnosis_code", "levels"),
}


@dataclass(frozen=True, slots=True)
class Correction:
    """One stored correction (a ``corrections`` row)."""

    id: int
    entity: str
    entity_id: int
    patient_id: int
    field: str
    old_value: Any
    new_value: Any
    reason: str
    corrected_by: str
    corrected_at: dt.datetime


def _plain(value: Any) -> Any:
    """A value as JSON keeps it: dates as ISO text, levels as their canonical text."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, tuple):
        return format_levels(value) if value else None
    if hasattr(value, "value") and not isinstance(value, (int, float, str, bool)):
        return value.value  # an enum
    return value


def _check_reason(reason: Any) -> str:
    text = check_text(reason, "correction.reason", max_length=MAX_REASON)
    text = (text or "").strip()
    if not text:
        raise ValidationError(field="correction.reason", value=reason, allowed="why the value is corrected",
                              reason="a correction needs its reason")
    return text


def _check_field(entity: Any, field: Any) -> tuple[str, str]:
    if entity not in CORRECTABLE:
        raise ValidationError(field="correction.entity", value=entity, allowed=sorted(CORRECTABLE))
    if field not in CORRECTABLE[entity]:
        raise ValidationError(field="correction.field", value=field, allowed=list(CORRECTABLE[entity]))
    return entity, field


# ------------------------------------------------------------------------------ per-entity rules


def _levels_list(text: str | None) -> list[str]:
    return [x for x in (text or "").split(",") if x]


def _procedure_data(row: ProcedureRow) -> dict[str, Any]:
    return {"procedure_code": row.procedure_code, "performed_on": row.performed_on.isoformat(),
            "levels": _levels_list(row.levels), "incision_mm": row.incision_mm, "ebl_ml": row.ebl_ml,
            "op_time_min": row.op_time_min, "fluoro_s": row.fluoro_s, "fluoro_dose_mgy": row.fluoro_dose_mgy,
            "los_days": row.los_days, "transfusion": row.transfusion, "converted_to_open": row.converted_to_open}


def _episode_rows(s: Session, episode_id: int) -> dict[str, list[Any]]:
    return {name: list(s.execute(select(table).where(table.episode_id == episode_id)).scalars())
            for name, table in (("procedures", ProcedureRow), ("complications", ComplicationRow),
                                ("readmissions", ReadmissionRow), ("reoperations", ReoperationRow))}


def _correct_procedure(s: Session, row: ProcedureRow, ep: EpisodeRow, field: str, new: Any) -> tuple[Any, Any]:
    rec = ProcedureRecord.create({**_procedure_data(row), field: new})
    rec.check_against_episode(Store._episode_record(ep))
    value = getattr(rec, field)
    old = getattr(row, field)
    if field == "performed_on":
        others = _episode_rows(s, ep.id)
        for c in others["complications"]:
            if c.occurred_on < value:
                raise ValidationError(field="procedure.performed_on", value=value.isoformat(),
                                      allowed=f"on or before the complication of {c.occurred_on.isoformat()}")
        for r in others["readmissions"]:
            if r.admitted_on < value:
                raise ValidationError(field="procedure.performed_on", value=value.isoformat(),
                                      allowed=f"on or before the readmission of {r.admitted_on.isoformat()}")
        for r in others["reoperations"]:
            if r.performed_on <= value:
                raise ValidationError(field="procedure.performed_on", value=value.isoformat(),
                                      allowed=f"before the reoperation of {r.performed_on.isoformat()}")
        _move_index_date(s, ep, value)
        row.performed_on = value
    elif field == "levels":
        row.levels, row.n_levels = format_levels(value), len(value)
    else:
        setattr(row, field, value)
    return old, value


def _move_index_date(s: Session, ep: EpisodeRow, new_index: dt.date) -> None:
    """The index date follows the procedure date: answers' days from index are recomputed and
    the visits not opened yet move by the same number of days."""
    old_index = ep.index_date
    ep.index_date = new_index
    for r in s.execute(select(PromResponseRow).where(PromResponseRow.episode_id == ep.id)).scalars():
        r.days_from_index = (r.collected_on - new_index).days if r.collected_on is not None else None
    if old_index is not None and old_index != new_index:
        shift = new_index - old_index
        for v in s.execute(select(FollowupRow).where(FollowupRow.episode_id == ep.id,
                                                     FollowupRow.status == "pending")).scalars():
            v.due_on, v.opens_on, v.closes_on = v.due_on + shift, v.opens_on + shift, v.closes_on + shift
            v.updated_at = utcnow()


def _index_performed_on(s: Session, ep: EpisodeRow) -> dt.date:
    proc = s.execute(select(ProcedureRow.performed_on).where(ProcedureRow.episode_id == ep.id)
                     .order_by(ProcedureRow.performed_on)).scalars().first()
    if proc is None:  # pragma: no cover - an event is stored only against a procedure
        raise ConflictError("the episode has no procedure", field="episode_id")
    return proc


def _correct_complication(s: Session, row: ComplicationRow, ep: EpisodeRow, field: str, new: Any
                          ) -> tuple[Any, Any]:
    data = {"category": row.category, "clavien_dindo": row.clavien_dindo,
            "occurred_on": row.occurred_on.isoformat(), "detail": row.detail}
    rec = ComplicationRecord.create({**data, field: new}, performed_on=_index_performed_on(s, ep))
    old, value = getattr(row, field), getattr(rec, field)
    if field in ("category", "clavien_dindo"):
        value = value.value
    setattr(row, field, value)
    return old, value


def _correct_readmission(s: Session, row: ReadmissionRow, ep: EpisodeRow, field: str, new: Any
                         ) -> tuple[Any, Any]:
    data = {"admitted_on": row.admitted_on.isoformat(), "reason": row.reason}
    rec = ReadmissionRecord.create({**data, field: new}, performed_on=_index_performed_on(s, ep))
    old, value = getattr(row, field), getattr(rec, field)
    setattr(row, field, value)
    return old, value


def _correct_reoperation(s: Session, row: ReoperationRow, ep: EpisodeRow, field: str, new: Any
                         ) -> tuple[Any, Any]:
    data = {"performed_on": row.performed_on.isoformat(), "reason": row.reason, "levels": _levels_list(row.levels)}
    rec = ReoperationRecord.create({**data, field: new}, index_date=_index_performed_on(s, ep))
    old = getattr(row, field)
    if field == "levels":
        extra = [lvl.value for lvl in rec.levels if lvl.value not in _levels_list(ep.levels)]
        if extra:
            raise ValidationError(field="reoperation.levels", value=extra[0], allowed=_levels_list(ep.levels),
                                  reason="reoperated levels must be among the episode's levels")
        value: Any = format_levels(rec.levels) if rec.levels else None
    elif field == "reason":
        value = rec.reason.value
    else:
        value = rec.performed_on
    setattr(row, field, value)
    return old, value


def _correct_episode(s: Session, row: EpisodeRow, ep: EpisodeRow, field: str, new: Any) -> tuple[Any, Any]:
    data = {"diagnosis_code": row.diagnosis_code, "levels": _levels_list(row.levels),
            "imaging_findings": [{k: getattr(f, k) for k in ("level", "kind", "morphology", "zone", "pfirrmann",
                                                              "stenosis_grade", "meyerding") if getattr(f, k)}
                                 for f in row.findings],
            "conservative_care": _levels_list(row.conservative_care),
            "conservative_care_weeks": row.conservative_care_weeks, "treatment": row.treatment,
            "treatment_family": row.treatment_family, "enrolled_on": row.enrolled_on.isoformat(),
            "index_date": row.index_date.isoformat() if row.index_date else None}
    rec = EpisodeRecord.create({**data, field: new})
    old = getattr(row, field)
    if field == "diagnosis_code":
        row.diagnosis_code, row.diagnosis_group = rec.diagnosis.code, rec.diagnosis.group.value
        return old, rec.diagnosis.code
    levels = {lvl.value for lvl in rec.levels}
    rows = _episode_rows(s, row.id)
    for p in rows["procedures"]:
        outside = [x for x in _levels_list(p.levels) if x not in levels]
        if outside:
            raise ValidationError(field="episode.levels", value=format_levels(rec.levels),
                                  allowed=f"levels that include the operated level {outside[0]}")
    for r in rows["reoperations"]:
        outside = [x for x in _levels_list(r.levels) if x not in levels]
        if outside:
            raise ValidationError(field="episode.levels", value=format_levels(rec.levels),
                                  allowed=f"levels that include the reoperated level {outside[0]}")
    row.levels, row.n_levels = format_levels(rec.levels), len(rec.levels)
    return old, row.levels


_Rule = Callable[[Session, Any, EpisodeRow, str, Any], tuple[Any, Any]]
_RULES: dict[str, tuple[type[Any], _Rule]] = {
    "procedure": (ProcedureRow, _correct_procedure),
    "complication": (ComplicationRow, _correct_complication),
    "readmission": (ReadmissionRow, _correct_readmission),
    "reoperation": (ReoperationRow, _correct_reoperation),
    "episode": (EpisodeRow, _correct_episode),
}


def _check_actor(actor: Actor, what: str) -> None:
    if actor.role not in (*SITE_ROLES, "system"):
        raise PermissionDeniedError(f"only clinicians and coordinators {what}", role=actor.role)


def correct(store: Store, actor: Actor, entity: str, entity_id: int, field: str, new_value: Any, reason: Any,
            *, patient_id: int | None = None) -> Correction:
    """Correct ``entity`` ``entity_id``'s ``field`` to ``new_value`` with ``reason`` (see the
    module docstring). ``patient_id``, when given, must be the record's patient (else "not
    found"). Returns the stored correction; a value equal to the current one is refused."""
    _check_actor(actor, "correct a record")
    entity, field = _check_field(entity, field)
    text = _check_reason(reason)
    table, rule = _RULES[entity]
    with store.transaction() as s:
        row = s.get(table, entity_id)
        if row is None:
            raise NotFoundError(entity=entity, key=entity_id)
        episode_id = row.id if entity == "episode" else row.episode_id
        try:
            ep = Store._episode(s, episode_id, actor)
        except NotFoundError:
            raise NotFoundError(entity=entity, key=entity_id) from None
        if patient_id is not None and ep.patient_id != patient_id:
            raise NotFoundError(entity=entity, key=entity_id)
        old, new = rule(s, row, ep, field, new_value)
        old_plain, new_plain = _plain(old), _plain(new)
        if old_plain == new_plain:
            raise ValidationError(field=f"{entity}.{field}", value=new_plain, allowed="a value other than the "
                                  "current one", reason="nothing to correct")
        now = utcnow()
        c = CorrectionRow(entity=entity, entity_id=entity_id, patient_id=ep.patient_id, field=field,
                          old_value=old_plain, new_value=new_plain, reason=text, corrected_by=actor.name,
                          corrected_at=now)
        s.add(c)
        s.flush()
        free_text = (entity, field) in (("complication", "detail"), ("readmission", "reason"))
        audit.append(s, actor=actor.name, actor_role=actor.role, action="update", entity=entity,
                     entity_id=entity_id, patient_id=ep.patient_id,
                     detail={"correction": c.id, "field": field,
                             "old": "(free text)" if free_text and old_plain else old_plain,
                             "new": "(free text)" if free_text and new_plain else new_plain,
                             "reason": text})
        return Correction(c.id, entity, entity_id, ep.patient_id, field, old_plain, new_plain, text,
                          actor.name, now)


def corrections_of_patient(store: Store, actor: Actor, patient_id: int) -> list[Correction]:
    """Every correction of the patient's records, oldest first (audited as one read)."""
    with store.transaction() as s:
        Store._patient(s, patient_id, actor)
        rows = s.execute(select(CorrectionRow).where(CorrectionRow.patient_id == patient_id)
                         .order_by(CorrectionRow.corrected_at, CorrectionRow.id)).scalars().all()
        audit.append(s, actor=actor.name, actor_role=actor.role, action="read", entity="correction",
                     entity_id=None, patient_id=patient_id, detail={"n": len(rows)})
        return [Correction(r.id, r.entity, r.entity_id, r.patient_id, r.field, r.old_value, r.new_value, r.reason,
                           r.corrected_by, r.corrected_at) for r in rows]


def set_language(store: Store, actor: Actor, patient_id: int, language: Any) -> str | None:
    """Record the patient's language (``en``, ``es``; None or empty: not recorded, the browser's
    is used). Needs the patient's identity. Audited (old → new) when it changes."""
    _check_actor(actor, "record a patient's language")
    value = language.strip() if isinstance(language, str) else language
    value = value or None
    if value is not None and value not in LANGUAGES:
        raise ValidationError(field="contact.language", value=language, allowed=list(LANGUAGES))
    with store.transaction() as s:
        p = Store._patient(s, patient_id, actor)
        row = s.get(PatientIdentityRow, patient_id)
        if row is None:
            raise ValidationError(field="contact.language", value=value, allowed="a patient with an identity",
                                  reason="record the patient's identity first")
        if row.language != value:
            audit.append(s, actor=actor.name, actor_role=actor.role, action="update", entity="patient_language",
                         entity_id=patient_id, patient_id=p.id, detail={"changes": {"language": [row.language, value]}})
            row.language = value
            row.updated_at = utcnow()
        return value


def patient_language(store: Store, actor: Actor, patient_id: int) -> str | None:
    """The patient's recorded language (None: not recorded), for the patient's own site's staff;
    audited as a read of the identity."""
    with store.transaction() as s:
        Store._patient(s, patient_id, actor)
        row = s.get(PatientIdentityRow, patient_id)
        audit.append(s, actor=actor.name, actor_role=actor.role, action="read", entity="patient_language",
                     entity_id=patient_id, patient_id=patient_id)
        return row.language if row is not None else None
