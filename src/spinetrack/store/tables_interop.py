"""ORM tables of the interoperability features (SQLAlchemy 2), on the operational store's
:class:`~spinetrack.store.tables_base.Base`: machine clients' API tokens (``api_tokens``), where
imported records came from (``source_records``) and background export runs (``export_jobs``).

Why a module of its own: :mod:`spinetrack.store.tables` holds the clinical schema; these three
tables serve the REST and FHIR clients, the import writer and the exports, not the clinical
record. They are on the same ``Base`` (so ``Base.metadata``, which Alembic and the
model-versus-migration test read, holds them), taken from :mod:`spinetrack.store.tables_base`
because :mod:`spinetrack.store.tables` imports this module (to re-export the three classes, so
``from spinetrack.store.tables import ApiTokenRow`` keeps working) and sibling modules stay
acyclic.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from spinetrack.store.tables_base import Base

__all__ = ["ApiTokenRow", "ExportJobRow", "SourceRecordRow"]


class ApiTokenRow(Base):
    """A machine client's API token, created by an admin (:mod:`spinetrack.store.tokens`). Only the
    token's SHA-256 hash is stored; the token itself is shown once. Scoped to a role (and, for the
    clinic roles, a site) and to ``scopes`` (``read``, ``write``, ``export``); expires; revocable."""

    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint("role IN ('clinician','coordinator','researcher','admin')", name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))  # what the client is, e.g. "registry upload"
    role: Mapped[str] = mapped_column(String(16))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(64))


class SourceRecordRow(Base):
    """Where an imported record came from: (source system, entity, source id) names one stored
    row, so that importing the same source again updates that row instead of adding a duplicate."""

    __tablename__ = "source_records"
    __table_args__ = (UniqueConstraint("source_system", "entity", "source_id", name="uq_source_records_key"),
                      Index("ix_source_records_entity", "entity", "entity_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_system: Mapped[str] = mapped_column(String(200))  # e.g. a REDCap URL, a FHIR base, "csv:<name>"
    entity: Mapped[str] = mapped_column(String(32))  # site, patient, episode, procedure, complication, ...
    source_id: Mapped[str] = mapped_column(String(200))
    entity_id: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str | None] = mapped_column(String(64))  # the source record's content, to skip unchanged
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)


class ExportJobRow(Base):
    """An export run in the background: a FHIR Bulk Data ``$export`` or a researcher's OMOP / CSV
    export started from the web. Its files live under ``output_dir``; ``manifest`` lists them."""

    __tablename__ = "export_jobs"
    __table_args__ = (Index("ix_export_jobs_requested_by", "requested_by", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # random, unguessable
    kind: Mapped[str] = mapped_column(String(16))  # fhir, omop, csv
    requested_by: Mapped[str] = mapped_column(String(64))  # user name, or "token:<id>"
    requester_role: Mapped[str] = mapped_column(String(16))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))  # None: every site
    params: Mapped[dict[str, Any]] = mapped_column(JSON)  # _type, _since, level, group id, ...
    status: Mapped[str] = mapped_column(String(12))  # accepted, running, completed, failed, cancelled
    progress: Mapped[str | None] = mapped_column(String(200))
    request_url: Mapped[str | None] = mapped_column(Text)
    output_dir: Mapped[str | None] = mapped_column(Text)
    manifest: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime)  # the runner's last sign of life
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
