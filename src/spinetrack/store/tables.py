"""ORM tables of the operational store (SQLAlchemy 2). Never returned by the API directly.

The schema is created and changed only by the Alembic migrations in ``migrations/``;
``tests/store`` checks that the migrations and these models agree on SQLite and PostgreSQL.

Conventions: fields carry their unit (``ebl_ml``, ``los_days``); codes are the stable string
values of the enums in :mod:`spinetrack.domain`; dates are calendar dates, timestamps are UTC.
Clinical tables carry the patient's pseudonymous id only; the identifying details a clinic
needs (name, hospital number, contact) live apart in ``patient_identities``, which no export,
researcher view or analysis table ever reads. Secrets (session and invitation tokens) are
stored only as SHA-256 hashes.

The declarative :class:`Base` is in :mod:`spinetrack.store.tables_base`, the interoperability
tables (``api_tokens``, ``source_records``, ``export_jobs``) in :mod:`spinetrack.store.tables_interop`;
both are re-exported here, so every table is imported from this module.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from spinetrack.clock import utcnow
from spinetrack.domain.comparisons import APPROACHES, FAMILIES, TREATMENTS
from spinetrack.domain.procedure import Approach
from spinetrack.store.tables_base import NAMING as NAMING
from spinetrack.store.tables_base import Base

__all__ = [
    "ApiTokenRow",
    "AuditRow",
    "Base",
    "ComplicationRow",
    "CorrectionRow",
    "DecisionPreferenceRow",
    "EpisodeRow",
    "ExportJobRow",
    "FollowupRow",
    "ImagingFindingRow",
    "InvitationRow",
    "LoginThrottleRow",
    "OutboxRow",
    "PasswordLinkRow",
    "PatientHomeSessionRow",
    "PatientIdentityRow",
    "PatientLinkRow",
    "PatientRow",
    "ProcedureRow",
    "PromResponseRow",
    "ReadmissionRow",
    "ReoperationRow",
    "ResponseDraftRow",
    "RolePolicyRow",
    "ScreeningAssessmentRow",
    "SiteRow",
    "SiteScheduleRow",
    "SourceRecordRow",
    "TimepointRow",
    "UserRow",
    "WebSessionRow",
    "WordingPackRow",
]

def _sql_list(codes: Sequence[str]) -> str:
    """Codes as the list of a CHECK constraint's ``IN``: ``('mis','open')`` (the declared codes of
    ``domain``; the migrations keep the text as it was when each was written)."""
    return "(" + ",".join(f"'{c}'" for c in codes) + ")"


class SiteRow(Base):
    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str | None] = mapped_column(String(2))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # how patients reach the clinic (shown on the patient home and in every message)
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    contact_email: Mapped[str | None] = mapped_column(String(200))
    # the clinic's logo on the patient pages and messages (PNG or SVG, at most 20 kB; issue 19)
    logo: Mapped[bytes | None] = mapped_column(LargeBinary)
    logo_type: Mapped[str | None] = mapped_column(String(32))  # image/png, image/svg+xml
    # the site takes part in surgeon-level benchmarking (issue 21): its procedures' surgeon
    # identifiers enter snapshots (pseudonymised when rekeyed); off by default (staff data)
    benchmark_surgeons: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class UserRow(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('clinician','coordinator','researcher','admin')", name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    password_hash: Mapped[str | None] = mapped_column(String(255))  # None: not set yet, or reset by an admin
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    demo: Mapped[bool] = mapped_column(Boolean, default=False)  # a demo login (refused in production)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # two-factor sign-in (TOTP, RFC 6238): the shared secret (base32), when it was confirmed, and
    # the last time step accepted (a code is never accepted twice)
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    totp_last_step: Mapped[int | None] = mapped_column(Integer)


class RolePolicyRow(Base):
    """What an admin requires of a role's sign-in (no row: the defaults, no two-factor)."""

    __tablename__ = "role_policies"
    __table_args__ = (CheckConstraint("role IN ('clinician','coordinator','researcher','admin')", name="role"),)

    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    require_two_factor: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class PatientRow(Base):
    __tablename__ = "patients"
    __table_args__ = (
        CheckConstraint("sex IN ('female','male','other','unknown')", name="sex"),
        CheckConstraint("smoking IS NULL OR smoking IN ('never','former','current')", name="smoking"),
        CheckConstraint("asa_grade IS NULL OR asa_grade BETWEEN 1 AND 5", name="asa_grade"),
        CheckConstraint("bmi IS NULL OR bmi BETWEEN 10 AND 90", name="bmi"),
        CheckConstraint("symptom_duration_weeks IS NULL OR symptom_duration_weeks >= 0", name="symptom_duration"),
        Index("ix_patients_site", "site_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pseudo_id: Mapped[str] = mapped_column(String(64), unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    birth_year: Mapped[int] = mapped_column(Integer)
    sex: Mapped[str] = mapped_column(String(8))
    bmi: Mapped[float | None] = mapped_column(Float)
    smoking: Mapped[str | None] = mapped_column(String(8))
    diabetes: Mapped[bool | None] = mapped_column(Boolean)
    asa_grade: Mapped[int | None] = mapped_column(Integer)
    work_status: Mapped[str | None] = mapped_column(String(24))
    symptom_duration_weeks: Mapped[int | None] = mapped_column(Integer)
    prior_spine_surgery: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    episodes: Mapped[list[EpisodeRow]] = relationship(back_populates="patient")


class EpisodeRow(Base):
    __tablename__ = "episodes"
    __table_args__ = (
        CheckConstraint(f"treatment IS NULL OR treatment IN {_sql_list(sorted(TREATMENTS))}", name="treatment"),
        CheckConstraint(f"treatment_family IS NULL OR treatment_family IN {_sql_list(FAMILIES)}", name="family"),
        CheckConstraint("n_levels BETWEEN 1 AND 5", name="n_levels"),
        Index("ix_episodes_patient", "patient_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    diagnosis_code: Mapped[str] = mapped_column(String(10))
    diagnosis_group: Mapped[str] = mapped_column(String(40))
    levels: Mapped[str] = mapped_column(String(40))  # canonical "L4-L5,L5-S1"
    n_levels: Mapped[int] = mapped_column(Integer)
    conservative_care: Mapped[str | None] = mapped_column(String(64))  # "physiotherapy,medication"
    conservative_care_weeks: Mapped[int | None] = mapped_column(Integer)
    treatment: Mapped[str | None] = mapped_column(String(16))
    treatment_family: Mapped[str | None] = mapped_column(String(16))
    enrolled_on: Mapped[dt.date] = mapped_column(Date)
    index_date: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # the episode ended (follow-up stops): died, withdrew, moved away, ...
    ended_on: Mapped[dt.date | None] = mapped_column(Date)
    end_reason: Mapped[str | None] = mapped_column(String(32))
    # when a clinician released the decision aid to the patient's home (after the screening)
    decision_aid_released_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    patient: Mapped[PatientRow] = relationship(back_populates="episodes")
    findings: Mapped[list[ImagingFindingRow]] = relationship(back_populates="episode", cascade="all, delete-orphan")


class ImagingFindingRow(Base):
    __tablename__ = "imaging_findings"
    __table_args__ = (Index("ix_imaging_findings_episode", "episode_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id", ondelete="CASCADE"))
    level: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(24))
    morphology: Mapped[str | None] = mapped_column(String(16))
    zone: Mapped[str | None] = mapped_column(String(16))
    pfirrmann: Mapped[str | None] = mapped_column(String(4))
    stenosis_grade: Mapped[str | None] = mapped_column(String(2))
    meyerding: Mapped[str | None] = mapped_column(String(4))

    episode: Mapped[EpisodeRow] = relationship(back_populates="findings")


class ProcedureRow(Base):
    __tablename__ = "procedures"
    __table_args__ = (
        CheckConstraint(f"approach IN {_sql_list(APPROACHES)}", name="approach"),
        CheckConstraint(f"family IN {_sql_list(FAMILIES)}", name="family"),
        CheckConstraint(f"(approach = '{Approach.MIS.value}') = (technique IS NOT NULL)", name="technique"),
        CheckConstraint("ebl_ml IS NULL OR ebl_ml >= 0", name="ebl"),
        CheckConstraint("incision_mm IS NULL OR incision_mm >= 0", name="incision"),
        CheckConstraint("op_time_min IS NULL OR op_time_min >= 0", name="op_time"),
        CheckConstraint("fluoro_s IS NULL OR fluoro_s >= 0", name="fluoro_s"),
        CheckConstraint("fluoro_dose_mgy IS NULL OR fluoro_dose_mgy >= 0", name="fluoro_dose"),
        CheckConstraint("los_days IS NULL OR los_days >= 0", name="los"),
        CheckConstraint(f"converted_to_open IS NULL OR converted_to_open = false OR approach = '{Approach.MIS.value}'",
                        name="conversion"),
        Index("ix_procedures_episode", "episode_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id", ondelete="CASCADE"))
    procedure_code: Mapped[str] = mapped_column(String(40))
    family: Mapped[str] = mapped_column(String(16))
    approach: Mapped[str] = mapped_column(String(8))
    technique: Mapped[str | None] = mapped_column(String(40))
    performed_on: Mapped[dt.date] = mapped_column(Date)
    levels: Mapped[str] = mapped_column(String(40))
    n_levels: Mapped[int] = mapped_column(Integer)
    incision_mm: Mapped[float | None] = mapped_column(Float)
    ebl_ml: Mapped[float | None] = mapped_column(Float)
    op_time_min: Mapped[float | None] = mapped_column(Float)
    fluoro_s: Mapped[float | None] = mapped_column(Float)
    fluoro_dose_mgy: Mapped[float | None] = mapped_column(Float)
    los_days: Mapped[float | None] = mapped_column(Float)
    transfusion: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # an MIS procedure converted to open during the operation (analysed as MIS: intention to treat)
    converted_to_open: Mapped[bool | None] = mapped_column(Boolean)
    # the operating surgeon as the clinic identifies its staff (a staff number or initials; no
    # name needed); used only for surgeon-level benchmarking where the site opts in
    surgeon: Mapped[str | None] = mapped_column(String(64))


class ComplicationRow(Base):
    __tablename__ = "complications"
    __table_args__ = (
        CheckConstraint("clavien_dindo IN ('I','II','IIIa','IIIb','IVa','IVb','V')", name="clavien_dindo"),
        Index("ix_complications_episode", "episode_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id", ondelete="CASCADE"))
    procedure_id: Mapped[int | None] = mapped_column(ForeignKey("procedures.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(32))
    clavien_dindo: Mapped[str] = mapped_column(String(4))
    occurred_on: Mapped[dt.date] = mapped_column(Date)
    detail: Mapped[str | None] = mapped_column(Text)  # free text: never exported
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ReadmissionRow(Base):
    __tablename__ = "readmissions"
    __table_args__ = (Index("ix_readmissions_episode", "episode_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id", ondelete="CASCADE"))
    admitted_on: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(Text)  # free text: never exported
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ReoperationRow(Base):
    __tablename__ = "reoperations"
    __table_args__ = (Index("ix_reoperations_episode", "episode_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id", ondelete="CASCADE"))
    performed_on: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(32))
    levels: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class TimepointRow(Base):
    """The follow-up schedule of this installation (seeded from ``domain.TIMEPOINTS``)."""

    __tablename__ = "timepoints"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    label: Mapped[str] = mapped_column(String(64))
    target_days: Mapped[int] = mapped_column(Integer)
    window_from_days: Mapped[int] = mapped_column(Integer)
    window_to_days: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)


class PromResponseRow(Base):
    """One completed questionnaire: the answers exactly as given and the scores beside them."""

    __tablename__ = "prom_responses"
    __table_args__ = (
        UniqueConstraint("episode_id", "timepoint", "instrument", name="uq_prom_responses_episode_tp_instrument"),
        Index("ix_prom_responses_instrument_tp", "instrument", "timepoint"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id", ondelete="CASCADE"))
    timepoint: Mapped[str] = mapped_column(ForeignKey("timepoints.code"))
    instrument: Mapped[str] = mapped_column(String(32))
    instrument_version: Mapped[str] = mapped_column(String(16))
    collected_on: Mapped[dt.date] = mapped_column(Date)
    days_from_index: Mapped[int | None] = mapped_column(Integer)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    score: Mapped[float | None] = mapped_column(Float)
    score_detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    valid: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(16))  # patient, clinician, import, synthetic
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ScreeningAssessmentRow(Base):
    """One red-flag screening of an episode by a clinician (append-only history: rows are only
    ever inserted; the newest per episode, by ``assessed_on`` then ``id``, is the current one).

    ``answers`` maps each question of :class:`spinetrack.domain.screening.ScreeningAnswers` to
    ``yes``, ``no`` or ``unknown``; ``assessed_by`` is the user name of the clinician (unique in
    ``users``), as ``invitations.created_by`` records its author.
    """

    __tablename__ = "screening_assessments"
    __table_args__ = (Index("ix_screening_assessments_episode", "episode_id", "assessed_on"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id", ondelete="CASCADE"))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    assessed_on: Mapped[dt.date] = mapped_column(Date)
    assessed_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class AuditRow(Base):
    """Append-only audit trail; UPDATE and DELETE are refused by database triggers.

    Each row carries the SHA-256 of the previous row's hash and its own content, so that a
    deleted or altered row is detected by :func:`spinetrack.store.audit.verify_chain`.
    """

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "entity", "entity_id"), Index("ix_audit_log_patient", "patient_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(64))
    actor_role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))  # read, create, update, delete, export, login, bulk_load
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    patient_id: Mapped[int | None] = mapped_column(Integer)  # no FK: the trail outlives deletions
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class PatientIdentityRow(Base):
    """Identifying details, kept apart from clinical data (read only by the patient's own site)."""

    __tablename__ = "patient_identities"
    __table_args__ = (UniqueConstraint("site_id", "mrn", name="uq_patient_identities_site_mrn"),
                      CheckConstraint("language IS NULL OR language IN ('en','es')", name="language"))

    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    full_name: Mapped[str] = mapped_column(String(200))
    mrn: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    postal_address: Mapped[str | None] = mapped_column(Text)  # for letters
    # follow-up contact: the preferred channel, whether the patient agreed to be contacted, and
    # when they asked to be contacted no more (honoured by the scheduler)
    channel: Mapped[str | None] = mapped_column(String(8))  # email, sms, letter, none
    contact_consent: Mapped[bool | None] = mapped_column(Boolean)
    opted_out_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # the patient's language for pages and messages (spinetrack.i18n.LANGUAGES); None: the browser's
    language: Mapped[str | None] = mapped_column(String(8))


class WebSessionRow(Base):
    """A signed-in staff session (server side, so it can be revoked); the cookie holds the token."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_user", "user_id"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    notices_since: Mapped[dt.datetime | None] = mapped_column(DateTime)  # the user's previous sign-in


class PasswordLinkRow(Base):
    """A one-time link with which an account's owner sets their password (issued when an admin
    creates the account or resets its password). Only the token's hash is stored; spent on use."""

    __tablename__ = "password_links"
    __table_args__ = (Index("ix_password_links_user", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class LoginThrottleRow(Base):
    """Failed sign-ins counted per key (a user name and client address pair, or an address),
    held in the database so that every server process sees the same count. The key is stored
    as a SHA-256 (no user names or addresses in clear)."""

    __tablename__ = "login_throttle"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failure_at: Mapped[dt.datetime] = mapped_column(DateTime)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime)


class InvitationRow(Base):
    """A patient's personal link for one visit: single use (spent when the visit is complete),
    with an expiry. Only the token's hash is stored."""

    __tablename__ = "invitations"
    __table_args__ = (Index("ix_invitations_episode", "episode_id"),
                      Index("ix_invitations_patient_session", "patient_session_hash"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id", ondelete="CASCADE"))
    timepoint: Mapped[str] = mapped_column(ForeignKey("timepoints.code"))
    instruments: Mapped[list[str]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    opened_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    patient_session_hash: Mapped[str | None] = mapped_column(String(64))
    patient_csrf: Mapped[str | None] = mapped_column(String(64))


class ResponseDraftRow(Base):
    """Answers a patient has given so far (pause and resume); deleted when submitted."""

    __tablename__ = "response_drafts"
    __table_args__ = (UniqueConstraint("invitation_id", "instrument", name="uq_response_drafts_invitation_instrument"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invitation_id: Mapped[int] = mapped_column(ForeignKey("invitations.id", ondelete="CASCADE"))
    instrument: Mapped[str] = mapped_column(String(32))
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)


class SiteScheduleRow(Base):
    """A site's follow-up schedule, one row per timepoint it uses (a site without rows follows
    the default schedule of :mod:`spinetrack.domain.pathway`). Windows in days from the index
    date; ``reminder_offsets``: days after the window opens on which a message goes out
    (``[0, 7, 14]``: when it opens, then a week and two weeks later)."""

    __tablename__ = "site_schedules"
    __table_args__ = (UniqueConstraint("site_id", "timepoint", name="uq_site_schedules_site_timepoint"),
                      CheckConstraint("window_from_days <= window_to_days", name="window"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    timepoint: Mapped[str] = mapped_column(ForeignKey("timepoints.code"))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    window_from_days: Mapped[int] = mapped_column(Integer)
    window_to_days: Mapped[int] = mapped_column(Integer)
    reminder_offsets: Mapped[list[int]] = mapped_column(JSON)
    instruments: Mapped[list[str]] = mapped_column(JSON)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class FollowupRow(Base):
    """One scheduled visit: an episode x timepoint with its due window (at most one per pair:
    the unique constraint is what makes two concurrent scheduler runs safe).

    ``status``: ``pending`` (window not open yet), ``open`` (invitation sent or ready),
    ``completed`` (every questionnaire answered), ``missed`` (window closed unanswered),
    ``stopped`` (``stop_reason``: opted_out, episode_ended, unreachable)."""

    __tablename__ = "followups"
    __table_args__ = (
        UniqueConstraint("episode_id", "timepoint", name="uq_followups_episode_timepoint"),
        CheckConstraint("status IN ('pending','open','completed','missed','stopped')", name="status"),
        Index("ix_followups_status_opens", "status", "opens_on"),
        Index("ix_followups_next_reminder", "next_reminder_on"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id", ondelete="CASCADE"))
    timepoint: Mapped[str] = mapped_column(ForeignKey("timepoints.code"))
    due_on: Mapped[dt.date] = mapped_column(Date)
    opens_on: Mapped[dt.date] = mapped_column(Date)
    closes_on: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12))
    stop_reason: Mapped[str | None] = mapped_column(String(32))
    invitation_id: Mapped[int | None] = mapped_column(ForeignKey("invitations.id", ondelete="SET NULL"))
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    next_reminder_on: Mapped[dt.date | None] = mapped_column(Date)
    unreachable: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class OutboxRow(Base):
    """A message to a patient: queued, claimed by a sender (``sending``), then ``sent`` or
    ``failed``; ``held`` when no channel is configured. No clinical data and no contact details
    are stored here: the sender reads the address from ``patient_identities`` when it sends.
    ``sequence`` is 0 for the invitation and 1, 2, ... for reminders; the unique constraint keeps
    two scheduler runs from queueing the same message twice."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("followup_id", "sequence", name="uq_outbox_followup_sequence"),
        CheckConstraint("channel IN ('email','sms','letter')", name="channel"),
        CheckConstraint("status IN ('queued','sending','sent','failed','held','cancelled')", name="status"),
        Index("ix_outbox_status_due", "status", "due_at"),
        Index("ix_outbox_episode", "episode_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    followup_id: Mapped[int | None] = mapped_column(ForeignKey("followups.id", ondelete="CASCADE"))
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # invitation, reminder, new_link
    sequence: Mapped[int | None] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    due_at: Mapped[dt.datetime] = mapped_column(DateTime)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class PatientLinkRow(Base):
    """A link to a patient's home (one per message, letter or hand-out: many per episode). Only
    the token's hash is stored. Opening a link never spends it; access ends when the episode's
    follow-up access ends or the link is revoked."""

    __tablename__ = "patient_links"
    __table_args__ = (Index("ix_patient_links_episode", "episode_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id", ondelete="CASCADE"))
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id", ondelete="SET NULL"))
    purpose: Mapped[str] = mapped_column(String(16))  # message, letter, manual, new_link
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    last_opened_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class PatientHomeSessionRow(Base):
    """A patient's signed-in session on their home (opened from a link; several may live at once,
    so opening the link again signs nobody out). Only the token's hash is stored."""

    __tablename__ = "patient_home_sessions"
    __table_args__ = (Index("ix_patient_home_sessions_episode", "episode_id"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id", ondelete="CASCADE"))
    link_id: Mapped[int | None] = mapped_column(ForeignKey("patient_links.id", ondelete="SET NULL"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class WordingPackRow(Base):
    """A site's licensed instrument wording, uploaded by an admin (:mod:`spinetrack.instruments.wording`
    validates ``content``). Several packs may be installed (one per instrument and language, say);
    for an instrument and a language the newest active pack that words it is used. Never exported."""

    __tablename__ = "wording_packs"
    __table_args__ = (UniqueConstraint("sha256", name="uq_wording_packs_sha256"),
                      Index("ix_wording_packs_language", "language", "active"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(16))  # as in the pack: "es", "en-GB"
    licence: Mapped[str] = mapped_column(Text)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)  # the validated pack, as uploaded
    sha256: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class CorrectionRow(Base):
    """A correction of a stored value, with its reason: the old value is kept here (and in the
    audit entry), the record holds the new one. Append-only."""

    __tablename__ = "corrections"
    __table_args__ = (Index("ix_corrections_entity", "entity", "entity_id"),
                      Index("ix_corrections_patient", "patient_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity: Mapped[str] = mapped_column(String(32))  # procedure, complication, readmission, reoperation, ...
    entity_id: Mapped[int] = mapped_column(Integer)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    field: Mapped[str] = mapped_column(String(64))
    old_value: Mapped[Any] = mapped_column(JSON, nullable=True)
    new_value: Mapped[Any] = mapped_column(JSON, nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    corrected_by: Mapped[str] = mapped_column(String(64))
    corrected_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class DecisionPreferenceRow(Base):
    """What matters most to the patient, weighed in the decision aid (IPDAS values clarification):
    ``weights`` maps each factor of :data:`spinetrack.domain.preferences.FACTORS` to 0-4. Append-only:
    the newest per episode is the current one."""

    __tablename__ = "decision_preferences"
    __table_args__ = (Index("ix_decision_preferences_episode", "episode_id", "recorded_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id", ondelete="CASCADE"))
    weights: Mapped[dict[str, Any]] = mapped_column(JSON)
    recorded_by: Mapped[str] = mapped_column(String(64))  # "patient", or the clinician's user name
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


# The interoperability tables (api_tokens, source_records, export_jobs), on the same Base; imported
# last so that Base.metadata lists the tables in the order it always has.
from spinetrack.store.tables_interop import ApiTokenRow, ExportJobRow, SourceRecordRow  # noqa: E402
