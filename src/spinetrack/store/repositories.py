"""Repositories: validated writes and audited reads of the operational store.

:class:`Store` owns every commit. Each public write validates the whole record with the
domain rules first, then inserts it together with its audit row in **one transaction**: a
record that fails validation, or a database constraint, leaves nothing behind. Each read of
patient data appends an audit row too.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Engine, Row, Table, bindparam, func, insert, select, update
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from spinetrack import instruments
from spinetrack.clock import utcnow
from spinetrack.domain import check_text
from spinetrack.domain.diagnosis import format_levels, get_diagnosis, parse_levels
from spinetrack.domain.pathway import (
    ComplicationRecord,
    EpisodeEnd,
    EpisodeRecord,
    PatientRecord,
    ProcedureRecord,
    PromResponseRecord,
    ReadmissionRecord,
    ReoperationRecord,
    Timepoint,
    TreatmentArm,
    check_episode_end,
)
from spinetrack.domain.procedure import ProcedureFamily
from spinetrack.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError, ValidationError
from spinetrack.i18n import LANGUAGES
from spinetrack.instruments.eq5d5l import value_sets
from spinetrack.store import audit
from spinetrack.store.session import make_session_factory
from spinetrack.store.tables import (
    ComplicationRow,
    EpisodeRow,
    FollowupRow,
    ImagingFindingRow,
    OutboxRow,
    PatientIdentityRow,
    PatientRow,
    ProcedureRow,
    PromResponseRow,
    ReadmissionRow,
    ReoperationRow,
    SiteRow,
    TimepointRow,
)

__all__ = ["PSEUDO_ID_ALPHABET", "SITE_ROLES", "SYSTEM", "Actor", "Store", "authorize_patient", "new_pseudo_id",
           "validate_identity"]

RESPONSE_SOURCES = ("patient", "clinician", "import", "synthetic", "phone", "paper")  # phone, paper: store.worklist

# The statements of a PROM submission, built once (Core on the tables: no ORM objects to load).
_RESPONSES = cast(Table, PromResponseRow.__table__)
_UNDER_KEY = select(_RESPONSES.c.id, _RESPONSES.c.episode_id, _RESPONSES.c.instrument, _RESPONSES.c.timepoint,
                    _RESPONSES.c.answers).where(_RESPONSES.c.idempotency_key == bindparam("key"))
_ANSWERED = select(_RESPONSES.c.id).where(_RESPONSES.c.episode_id == bindparam("episode_id"),
                                          _RESPONSES.c.timepoint == bindparam("timepoint"),
                                          _RESPONSES.c.instrument == bindparam("instrument"))
_INSERT_RESPONSE = insert(_RESPONSES)
_TIMEPOINTS = TimepointRow.__table__
_SCHEDULE = select(_TIMEPOINTS.c.code, _TIMEPOINTS.c.label, _TIMEPOINTS.c.target_days, _TIMEPOINTS.c.window_from_days,
                   _TIMEPOINTS.c.window_to_days).order_by(_TIMEPOINTS.c.position)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: recorded in every audit row, and checked against every patient record.

    Roles that may touch patient-level data: ``clinician`` and ``coordinator`` (their own site
    only), ``patient`` (their own record, through an invitation), ``system`` (loaders and
    imports). ``researcher`` and ``admin`` see no patient-level data: the store refuses them.
    """

    name: str
    role: str
    site_id: int | None = None
    patient_id: int | None = None


SYSTEM = Actor("system", "system")
SITE_ROLES = ("clinician", "coordinator")


def authorize_patient(actor: Actor, patient_id: int, site_id: int) -> None:
    """Refuse ``actor`` unless it may see this patient. Another site's patient is reported as
    not found (its existence is not revealed); a role without patient access is refused."""
    if actor.role == "system":
        return
    if actor.role in SITE_ROLES:
        if actor.site_id != site_id:
            raise NotFoundError(entity="patient", key=patient_id)
        return
    if actor.role == "patient":
        if actor.patient_id != patient_id:
            raise NotFoundError(entity="patient", key=patient_id)
        return
    raise PermissionDeniedError(f"role {actor.role!r} has no access to patient-level data", role=actor.role)


PSEUDO_ID_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"
"""The letters and digits of a pseudonymous id: no look-alikes (no I, L, O, U, 0 or 1)."""


def new_pseudo_id() -> str:
    """A random pseudonymous patient id, e.g. ``ST-7K2M9QX4TB`` (50 bits, no look-alike letters)."""
    return "ST-" + "".join(secrets.choice(PSEUDO_ID_ALPHABET) for _ in range(10))


def validate_identity(identity: Mapping[str, Any]) -> dict[str, Any]:
    """Check identifying details: ``full_name`` required; ``mrn``, ``email``, ``phone`` and
    ``language`` (the patient's language, :data:`spinetrack.i18n.LANGUAGES`) optional."""
    if not isinstance(identity, Mapping):
        raise ValidationError(field="identity", value=identity,
                              allowed="an object with full_name, mrn, email, phone, language")
    extra = set(identity) - {"full_name", "mrn", "email", "phone", "language"}
    if extra:
        raise ValidationError(field=f"identity.{sorted(extra)[0]}", value=None,
                              allowed=["full_name", "mrn", "email", "phone", "language"], reason="unknown field")
    out: dict[str, Any] = {}
    for name, limit in (("full_name", 200), ("mrn", 64), ("email", 200), ("phone", 40)):
        value = identity.get(name)
        if isinstance(value, str):
            value = value.strip() or None
        out[name] = check_text(value, f"identity.{name}", max_length=limit)
    if not out["full_name"]:
        raise ValidationError(field="identity.full_name", value=identity.get("full_name"), allowed="the patient's name")
    if out["email"] and ("@" not in out["email"] or " " in out["email"]):
        raise ValidationError(field="identity.email", value=out["email"], allowed="an e-mail address")
    if "language" in identity:
        language = identity["language"] or None
        if language is not None and language not in LANGUAGES:
            raise ValidationError(field="identity.language", value=language, allowed=list(LANGUAGES))
        out["language"] = language
    return out




def _rowcount(result: Any) -> int:
    """Rows an UPDATE matched (``CursorResult.rowcount``; never negative)."""
    return max(int(getattr(result, "rowcount", 0) or 0), 0)


def _row_dict(row: Any, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key not in exclude}


class Store:
    """The operational store behind one SQLAlchemy engine."""

    def __init__(self, engine: Engine, *, eq5d_value_set: str = "England") -> None:
        """``eq5d_value_set``: the national EQ-5D-5L value set used to score EQ-5D responses
        on write (``SPINETRACK_EQ5D_VALUE_SET``); the health state is stored too, so any other
        set can be applied later."""
        if eq5d_value_set not in value_sets():
            raise ValidationError(field="eq5d_value_set", value=eq5d_value_set, allowed=value_sets())
        self.engine = engine
        self.eq5d_value_set = eq5d_value_set
        self._factory = make_session_factory(engine)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        session = self._factory()
        try:
            yield session
            session.commit()
        except IntegrityError as exc:
            session.rollback()
            raise ConflictError(f"the database refused the record: {exc.orig}") from exc
        except DataError as exc:  # e.g. a NUL character or an out-of-range number PostgreSQL refuses
            session.rollback()
            raise InputError(f"the database refused a value: {str(exc.orig).splitlines()[0]}") from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    # ---------------------------------------------------------------- schedule

    def timepoints(self) -> tuple[Timepoint, ...]:
        with self.transaction() as s:
            rows = s.execute(select(TimepointRow).order_by(TimepointRow.position)).scalars().all()
            return tuple(Timepoint(r.code, r.label, r.target_days, r.window_from_days, r.window_to_days) for r in rows)

    # ---------------------------------------------------------------- sites

    def add_site(self, actor: Actor, *, code: str, name: str, country: str | None = None) -> int:
        if actor.role not in ("admin", "system"):
            raise PermissionDeniedError("only an admin may create sites", role=actor.role)
        if not check_text(code, "site.code", max_length=32, optional=False):
            raise ValidationError(field="site.code", value=code, allowed="1 to 32 characters")
        if not (check_text(name, "site.name", max_length=200, optional=False) or "").strip():
            raise ValidationError(field="site.name", value=name, allowed="1 to 200 characters")
        if country is not None and (not isinstance(country, str) or len(country) != 2 or not country.isalpha()):
            raise ValidationError(field="site.country", value=country, allowed="a two-letter ISO 3166 country code")
        with self.transaction() as s:
            if s.execute(select(SiteRow.id).where(SiteRow.code == code)).first():
                raise ConflictError(f"site {code!r} already exists", field="site.code")
            row = SiteRow(code=code, name=name, country=country)
            s.add(row)
            s.flush()
            audit.append(s, actor=actor.name, actor_role=actor.role, action="create", entity="site", entity_id=row.id)
            return row.id

    def set_surgeon_benchmarking(self, actor: Actor, site_id: int, take_part: Any) -> bool:
        """A site opts in to (or out of) surgeon-level benchmarking: its procedures' surgeon
        identifiers enter the snapshots from then on (``snapshot.export``). Admins only; audited.
        Returns whether anything changed."""
        if actor.role not in ("admin", "system"):
            raise PermissionDeniedError("only an admin may change a site's benchmarking", role=actor.role)
        with self.transaction() as s:
            row = s.get(SiteRow, site_id)
            if row is None:
                raise NotFoundError(entity="site", key=site_id)
            if not isinstance(take_part, bool):
                raise ValidationError(field="site.benchmark_surgeons", value=take_part, allowed=["yes", "no"])
            if bool(row.benchmark_surgeons) == take_part:
                return False
            row.benchmark_surgeons = take_part
            audit.append(s, actor=actor.name, actor_role=actor.role, action="update", entity="site",
                         entity_id=site_id, detail={"benchmark_surgeons": take_part})
            return True

    # ---------------------------------------------------------------- patients

    def add_patient(self, actor: Actor, site_id: int, data: Mapping[str, Any], *, today: dt.date | None = None,
                    identity: Mapping[str, Any] | None = None) -> int:
        """Enrol a patient; ``identity`` (name, hospital number, contact) is stored apart from the
        clinical record, in the same transaction. A pseudonymous id is drawn when none is given."""
        if not data.get("pseudo_id"):
            data = {**data, "pseudo_id": new_pseudo_id()}
        rec = PatientRecord.create(data, today=today)
        ident = validate_identity(identity) if identity is not None else None
        if actor.role not in (*SITE_ROLES, "system"):
            raise PermissionDeniedError(f"role {actor.role!r} may not enrol patients", role=actor.role)
        if actor.role in SITE_ROLES and actor.site_id != site_id:
            raise NotFoundError(entity="site", key=site_id)
        with self.transaction() as s:
            if s.get(SiteRow, site_id) is None:
                raise NotFoundError(entity="site", key=site_id)
            if s.execute(select(PatientRow.id).where(PatientRow.pseudo_id == rec.pseudo_id)).first():
                raise ConflictError(f"patient {rec.pseudo_id!r} already exists", field="patient.pseudo_id")
            row = PatientRow(
                pseudo_id=rec.pseudo_id, site_id=site_id, birth_year=rec.birth_year, sex=rec.sex.value, bmi=rec.bmi,
                smoking=rec.smoking.value if rec.smoking else None, diabetes=rec.diabetes,
                asa_grade=int(rec.asa_grade) if rec.asa_grade else None,
                work_status=rec.work_status.value if rec.work_status else None,
                symptom_duration_weeks=rec.symptom_duration_weeks, prior_spine_surgery=rec.prior_spine_surgery,
            )
            s.add(row)
            s.flush()
            if ident is not None:
                if ident["mrn"] and s.execute(select(PatientIdentityRow.patient_id).where(
                        PatientIdentityRow.site_id == site_id, PatientIdentityRow.mrn == ident["mrn"])).first():
                    raise ConflictError(f"hospital number {ident['mrn']!r} is already used at this site",
                                        field="identity.mrn")
                s.add(PatientIdentityRow(patient_id=row.id, site_id=site_id, updated_at=utcnow(), **ident))
            audit.append(s, actor=actor.name, actor_role=actor.role, action="create", entity="patient",
                         entity_id=row.id, patient_id=row.id)
            return row.id

    def get_patient(self, actor: Actor, patient_id: int) -> dict[str, Any]:
        with self.transaction() as s:
            row = self._patient(s, patient_id, actor)
            audit.append(s, actor=actor.name, actor_role=actor.role, action="read", entity="patient",
                         entity_id=row.id, patient_id=row.id)
            return _row_dict(row)

    # ---------------------------------------------------------------- episodes

    def add_episode(self, actor: Actor, patient_id: int, data: Mapping[str, Any]) -> int:
        rec = EpisodeRecord.create(data)
        with self.transaction() as s:
            self._patient(s, patient_id, actor)
            row = EpisodeRow(
                patient_id=patient_id, diagnosis_code=rec.diagnosis.code, diagnosis_group=rec.diagnosis.group.value,
                levels=format_levels(rec.levels), n_levels=len(rec.levels),
                conservative_care=",".join(o.value for o in rec.conservative_care) or None,
                conservative_care_weeks=rec.conservative_care_weeks,
                treatment=rec.treatment.value if rec.treatment else None,
                treatment_family=rec.treatment_family.value if rec.treatment_family else None,
                enrolled_on=rec.enrolled_on, index_date=rec.index_date,
            )
            row.findings = [
                ImagingFindingRow(
                    level=f.level.value, kind=f.kind.value,
                    morphology=f.morphology.value if f.morphology else None, zone=f.zone.value if f.zone else None,
                    pfirrmann=f.pfirrmann.value if f.pfirrmann else None,
                    stenosis_grade=f.stenosis_grade.value if f.stenosis_grade else None,
                    meyerding=f.meyerding.value if f.meyerding else None,
                )
                for f in rec.imaging_findings
            ]
            s.add(row)
            s.flush()
            audit.append(s, actor=actor.name, actor_role=actor.role, action="create", entity="episode",
                         entity_id=row.id, patient_id=patient_id)
            return row.id

    def end_episode(self, actor: Actor, episode_id: int, *, ended_on: Any, reason: Any,
                    undo: bool = False) -> EpisodeEnd | None:
        """Record that an episode's follow-up ended (clinic staff of the patient's site, or
        ``system``): ``episodes.ended_on`` / ``end_reason`` (:func:`check_episode_end`: a date from
        enrolment to today, a reason of :class:`~spinetrack.domain.pathway.EpisodeEndReason`).
        In the same transaction its pending and open visits become ``stopped`` (``episode_ended``)
        and their unsent messages (queued, held, failed) ``cancelled``, so nothing more goes out
        even before the scheduler's next run. An episode already ended is a conflict.

        ``undo=True`` takes back an end recorded by mistake (``ended_on`` and ``reason`` are then
        ignored): the visits it stopped are ``open`` again (``pending`` if they never opened) and
        the scheduler's next run carries on (it misses those whose window has closed meanwhile);
        cancelled messages stay cancelled. Audited either way (``update`` ``episode``)."""
        if actor.role not in (*SITE_ROLES, "system"):
            raise PermissionDeniedError(f"role {actor.role!r} may not end an episode's follow-up", role=actor.role)
        now = utcnow()
        with self.transaction() as s:
            ep = self._episode(s, episode_id, actor)
            if undo:
                if ep.ended_on is None:
                    raise ConflictError("this episode's follow-up has not ended", field="episode.ended_on")
                detail: dict[str, Any] = {"undo": "end", "was_ended_on": ep.ended_on.isoformat(),
                                          "was_reason": ep.end_reason}
                ep.ended_on, ep.end_reason = None, None
                stopped = (FollowupRow.episode_id == ep.id, FollowupRow.status == "stopped",
                           FollowupRow.stop_reason == "episode_ended")
                reopened = s.execute(update(FollowupRow).where(*stopped, FollowupRow.invitation_id.is_not(None))
                                     .values(status="open", stop_reason=None, next_reminder_on=now.date(),
                                             updated_at=now))
                pending = s.execute(update(FollowupRow).where(*stopped, FollowupRow.invitation_id.is_(None))
                                    .values(status="pending", stop_reason=None, updated_at=now))
                detail["followups_restored"] = _rowcount(reopened) + _rowcount(pending)
                audit.append(s, actor=actor.name, actor_role=actor.role, action="update", entity="episode",
                             entity_id=ep.id, patient_id=ep.patient_id, detail=detail)
                return None
            end = check_episode_end(ended_on, reason, enrolled_on=ep.enrolled_on)
            if ep.ended_on is not None:
                raise ConflictError(f"this episode's follow-up already ended on {ep.ended_on.isoformat()} "
                                    f"({ep.end_reason}); undo that first to record another end",
                                    field="episode.ended_on")
            ep.ended_on, ep.end_reason = end.ended_on, end.reason.value
            ids = list(s.execute(update(FollowupRow).where(
                FollowupRow.episode_id == ep.id, FollowupRow.status.in_(("pending", "open")))
                .values(status="stopped", stop_reason="episode_ended", next_reminder_on=None, updated_at=now)
                .returning(FollowupRow.id)).scalars())
            cancelled = _rowcount(s.execute(update(OutboxRow).where(
                OutboxRow.followup_id.in_(ids), OutboxRow.status.in_(("queued", "held", "failed")))
                .values(status="cancelled"))) if ids else 0
            audit.append(s, actor=actor.name, actor_role=actor.role, action="update", entity="episode",
                         entity_id=ep.id, patient_id=ep.patient_id,
                         detail={"ended_on": end.ended_on.isoformat(), "end_reason": end.reason.value,
                                 "followups_stopped": len(ids), "messages_cancelled": cancelled})
            return end

    @staticmethod
    def _patient(s: Session, patient_id: int, actor: Actor) -> PatientRow:
        row = s.get(PatientRow, patient_id)
        if row is None:
            raise NotFoundError(entity="patient", key=patient_id)
        authorize_patient(actor, row.id, row.site_id)
        return row

    @staticmethod
    def _episode(s: Session, episode_id: int, actor: Actor) -> EpisodeRow:
        row = s.get(EpisodeRow, episode_id)
        if row is None:
            raise NotFoundError(entity="episode", key=episode_id)
        try:
            authorize_patient(actor, row.patient_id, row.patient.site_id)
        except NotFoundError:
            raise NotFoundError(entity="episode", key=episode_id) from None
        return row

    @staticmethod
    def _episode_record(row: EpisodeRow) -> EpisodeRecord:
        return EpisodeRecord(
            diagnosis=get_diagnosis(row.diagnosis_code), levels=parse_levels(row.levels), enrolled_on=row.enrolled_on,
            treatment=TreatmentArm(row.treatment) if row.treatment else None,
            treatment_family=ProcedureFamily(row.treatment_family) if row.treatment_family else None,
            index_date=row.index_date,
        )

    def get_episode(self, actor: Actor, episode_id: int) -> dict[str, Any]:
        with self.transaction() as s:
            row = self._episode(s, episode_id, actor)
            out = _row_dict(row)
            out["imaging_findings"] = [_row_dict(f, ("id", "episode_id")) for f in row.findings]
            audit.append(s, actor=actor.name, actor_role=actor.role, action="read", entity="episode",
                         entity_id=row.id, patient_id=row.patient_id)
            return out

    # ---------------------------------------------------------------- procedures and events

    def add_procedure(self, actor: Actor, episode_id: int, data: Mapping[str, Any]) -> int:
        rec = ProcedureRecord.create(data)
        with self.transaction() as s:
            ep = self._episode(s, episode_id, actor)
            rec.check_against_episode(self._episode_record(ep))
            if ep.index_date is not None and rec.performed_on != ep.index_date:
                raise ValidationError(field="procedure.performed_on", value=rec.performed_on.isoformat(),
                                      allowed=ep.index_date.isoformat(),
                                      reason="the episode's index date is the procedure date")
            if ep.index_date is None:
                ep.index_date = rec.performed_on
            row = ProcedureRow(
                episode_id=episode_id, procedure_code=rec.entry.code, family=rec.entry.family.value,
                approach=rec.entry.approach.value, technique=rec.entry.technique.value if rec.entry.technique else None,
                performed_on=rec.performed_on, levels=format_levels(rec.levels), n_levels=len(rec.levels),
                incision_mm=rec.incision_mm, ebl_ml=rec.ebl_ml, op_time_min=rec.op_time_min, fluoro_s=rec.fluoro_s,
                fluoro_dose_mgy=rec.fluoro_dose_mgy, los_days=rec.los_days, transfusion=rec.transfusion,
                converted_to_open=rec.converted_to_open, surgeon=rec.surgeon,
            )
            s.add(row)
            s.flush()
            audit.append(s, actor=actor.name, actor_role=actor.role, action="create", entity="procedure",
                         entity_id=row.id, patient_id=ep.patient_id)
            return row.id

    def _index_procedure(self, s: Session, episode_id: int) -> ProcedureRow:
        proc = s.execute(select(ProcedureRow).where(ProcedureRow.episode_id == episode_id)
                         .order_by(ProcedureRow.performed_on)).scalars().first()
        if proc is None:
            raise ValidationError(field="episode_id", value=episode_id, allowed="an episode with a recorded procedure")
        return proc

    def add_complication(self, actor: Actor, episode_id: int, data: Mapping[str, Any]) -> int:
        with self.transaction() as s:
            ep = self._episode(s, episode_id, actor)
            proc = self._index_procedure(s, episode_id)
            rec = ComplicationRecord.create(data, performed_on=proc.performed_on)
            row = ComplicationRow(episode_id=episode_id, procedure_id=proc.id, category=rec.category.value,
                                  clavien_dindo=rec.clavien_dindo.value, occurred_on=rec.occurred_on, detail=rec.detail)
            s.add(row)
            s.flush()
            audit.append(s, actor=actor.name, actor_role=actor.role, action="create", entity="complication",
                         entity_id=row.id, patient_id=ep.patient_id)
            return row.id

    def add_readmission(self, actor: Actor, episode_id: int, data: Mapping[str, Any]) -> int:
        with self.transaction() as s:
            ep = self._episode(s, episode_id, actor)
            proc = self._index_procedure(s, episode_id)
            rec = ReadmissionRecord.create(data, performed_on=proc.performed_on)
            row = ReadmissionRow(episode_id=episode_id, admitted_on=rec.admitted_on, reason=rec.reason)
            s.add(row)
            s.flush()
            audit.append(s, actor=actor.name, actor_role=actor.role, action="create", entity="readmission",
                         entity_id=row.id, patient_id=ep.patient_id)
            return row.id

    def add_reoperation(self, actor: Actor, episode_id: int, data: Mapping[str, Any]) -> int:
        with self.transaction() as s:
            ep = self._episode(s, episode_id, actor)
            proc = self._index_procedure(s, episode_id)
            rec = ReoperationRecord.create(data, index_date=proc.performed_on)
            row = ReoperationRow(episode_id=episode_id, performed_on=rec.performed_on, reason=rec.reason.value,
                                 levels=format_levels(rec.levels) if rec.levels else None)
            s.add(row)
            s.flush()
            audit.append(s, actor=actor.name, actor_role=actor.role, action="create", entity="reoperation",
                         entity_id=row.id, patient_id=ep.patient_id)
            return row.id

    # ---------------------------------------------------------------- PROM responses

    def submit_response(
        self,
        actor: Actor,
        episode_id: int,
        data: Mapping[str, Any],
        *,
        source: str = "clinician",
        idempotency_key: str | None = None,
    ) -> int:
        """Validate, score and store one PROM response; answers, scores and the audit row in one
        transaction.

        A repeated ``idempotency_key`` with the same payload returns the stored response id
        instead of storing a duplicate; with a different payload it is a conflict.
        """
        with self.transaction() as s:
            ep = self._episode(s, episode_id, actor)
            prior = self.response_under_key(s, idempotency_key) if idempotency_key is not None else None
            if prior is not None:
                return self.replay_response(prior, episode_id, data)
            return self.insert_response(s, actor, data, episode_id=ep.id, patient_id=ep.patient_id,
                                        index_date=ep.index_date, source=source, idempotency_key=idempotency_key)

    @staticmethod
    def response_under_key(s: Session, idempotency_key: str) -> Row[Any, Any, Any, Any, Any] | None:
        """In the caller's transaction: the response stored under ``idempotency_key`` (id,
        episode, instrument, timepoint, answers), or None when the key is new."""
        return s.connection().execute(_UNDER_KEY, {"key": idempotency_key}).first()

    @staticmethod
    def replay_response(prior: Row[Any, Any, Any, Any, Any], episode_id: int, data: Mapping[str, Any]) -> int:
        """The stored response's id when ``data`` is the submission stored as ``prior`` (see
        :meth:`response_under_key`); :class:`ConflictError` when the key was used for another."""
        answers = data.get("answers") if isinstance(data, Mapping) else None
        if not isinstance(data, Mapping) or prior.episode_id != episode_id or \
                prior.instrument != data.get("instrument") or prior.timepoint != data.get("timepoint") or \
                prior.answers != (dict(answers) if isinstance(answers, Mapping) else answers):
            raise ConflictError("this idempotency key was used for a different response", field="idempotency_key")
        return int(prior.id)

    def insert_response(self, s: Session, actor: Actor, data: Mapping[str, Any], *, episode_id: int,
                        patient_id: int, index_date: dt.date | None, source: str,
                        idempotency_key: str | None, answered: bool | None = None) -> int:
        """In the caller's transaction (the episode already authorized for ``actor``): validate
        and score ``data``, insert the response and append its audit row; returns the new id.
        ``answered``: whether the episode has this instrument at this timepoint already, when
        the caller read it in this transaction (None: looked up here)."""
        if source not in RESPONSE_SOURCES:
            raise ValidationError(field="response.source", value=source, allowed=RESPONSE_SOURCES)
        if not isinstance(data, Mapping):
            raise ValidationError(field="response", value=type(data).__name__, allowed="an object")
        if not isinstance(data.get("answers"), Mapping):
            raise ValidationError(field="response.answers", value=data.get("answers"),
                                  allowed="an object of item code → value")
        conn = s.connection()
        schedule = tuple(Timepoint(*r) for r in conn.execute(_SCHEDULE))
        rec = PromResponseRecord.create(data, index_date=index_date, schedule=schedule)
        inst = instruments.get(rec.instrument, "response.instrument")
        options: dict[str, Any] = {"value_set": self.eq5d_value_set} if inst.definition.value_set else {}
        score = inst.score(rec.answers, **options)
        if answered if answered is not None else conn.execute(_ANSWERED, {
                "episode_id": episode_id, "timepoint": rec.timepoint.code, "instrument": rec.instrument}).first():
            raise ConflictError(
                f"a {rec.instrument} response at {rec.timepoint.code} already exists for this episode",
                field="response.timepoint")
        key = conn.execute(_INSERT_RESPONSE, {
            "episode_id": episode_id, "timepoint": rec.timepoint.code, "instrument": rec.instrument,
            "instrument_version": score.version, "collected_on": rec.collected_on,
            "days_from_index": rec.days_from_index, "answers": dict(rec.answers), "score": score.total,
            "score_detail": score.detail(), "valid": score.valid, "source": source,
            "idempotency_key": idempotency_key, "created_at": utcnow()}).inserted_primary_key
        assert key is not None, "an INSERT of one row returns its key"
        rid = key[0]
        audit.append(s, actor=actor.name, actor_role=actor.role, action="create", entity="prom_response",
                     entity_id=rid, patient_id=patient_id,
                     detail={"instrument": rec.instrument, "timepoint": rec.timepoint.code})
        return int(rid)

    def list_responses(self, actor: Actor, episode_id: int) -> list[dict[str, Any]]:
        with self.transaction() as s:
            ep = self._episode(s, episode_id, actor)
            rows = s.execute(select(PromResponseRow).where(PromResponseRow.episode_id == episode_id)
                             .order_by(PromResponseRow.collected_on, PromResponseRow.id)).scalars().all()
            audit.append(s, actor=actor.name, actor_role=actor.role, action="read", entity="prom_response",
                         entity_id=None, patient_id=ep.patient_id, detail={"episode_id": episode_id, "n": len(rows)})
            return [_row_dict(r) for r in rows]

    # ---------------------------------------------------------------- counts

    def count(self, table: type[Any]) -> int:
        with self.transaction() as s:
            return int(s.execute(select(func.count()).select_from(table)).scalar_one())
