"""Background export jobs (table ``export_jobs``): FHIR Bulk Data ``$export`` and the research
page's OMOP and CSV exports.

The life of a job, all of it in the database so that any server process (or worker) answers
for any job::

    create_job ──► accepted ──claim_job──► running ──complete_job──► completed
                                              │  └──fail_job──────► failed
                                              └──delete_job───────► (row and files gone)

* :func:`create_job` records the request (``kind`` ``fhir``, ``omop`` or ``csv``; who asked;
  the site, or None for every site; the request's parameters) with an unguessable id (128
  random bits) and an expiry (:data:`DEFAULT_TTL` after creation); its files go under
  ``output_root/<id>``.
* :func:`claim_job` moves it to ``running`` exactly once (a conditional update), so that two
  runners never run one job. The runner then calls :func:`update_progress` now and then: it
  writes the progress text and a heartbeat, and answers False once the job was deleted, so the
  runner stops.
* A job found ``running`` whose heartbeat is older than :data:`STALE_AFTER` — its process
  stopped or restarted — is marked failed by :func:`fail_stale_jobs` ("the server stopped
  while this export ran; please start it again"). The process that runs a job passes its own
  job ids in ``keep`` so it never fails them.
* :func:`complete_job` and :func:`fail_job` end a job and write its one audit row (``export``
  or ``export_failed`` with the counts per type); :func:`delete_job` removes its files and its
  row (audited), also while it runs.
* :func:`purge_expired` removes jobs past their ``expires_at`` (files and rows).
* :func:`job_for` returns a job only to the one who asked for it (same user name, or same
  ``token:<id>``); anyone else is told it does not exist.
"""

from __future__ import annotations

import datetime as dt
import secrets
import shutil
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, update

from spinetrack.clock import utcnow
from spinetrack.errors import NotFoundError, ValidationError
from spinetrack.store import audit
from spinetrack.store.repositories import Actor, Store
from spinetrack.store.tables import ExportJobRow

__all__ = [
    "DEFAULT_TTL",
    "JOB_KINDS",
    "JOB_STATUSES",
    "STALE_AFTER",
    "ExportJob",
    "claim_job",
    "complete_job",
    "create_job",
    "delete_job",
    "fail_job",
    "fail_stale_jobs",
    "get_job",
    "job_for",
    "list_jobs",
    "purge_expired",
    "update_progress",
]

JOB_KINDS = ("fhir", "omop", "csv")
JOB_STATUSES = ("accepted", "running", "completed", "failed")
DEFAULT_TTL = dt.timedelta(hours=24)
STALE_AFTER = dt.timedelta(minutes=2)
STALE_MESSAGE = "the server stopped while this export ran; please start it again"


@dataclass(frozen=True, slots=True)
class ExportJob:
    """One export job as stored."""

    id: str
    kind: str
    requested_by: str
    requester_role: str
    site_id: int | None
    params: dict[str, Any]
    status: str
    progress: str | None
    request_url: str | None
    output_dir: str | None
    manifest: dict[str, Any] | None
    error: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    expires_at: dt.datetime

    @property
    def done(self) -> bool:
        return self.status in ("completed", "failed")

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "requested_by": self.requested_by, "site_id": self.site_id,
                "params": self.params, "status": self.status, "progress": self.progress,
                "manifest": self.manifest, "error": self.error,
                "created_at": self.created_at.isoformat(),
                "started_at": self.started_at.isoformat() if self.started_at else None,
                "finished_at": self.finished_at.isoformat() if self.finished_at else None,
                "expires_at": self.expires_at.isoformat()}


def _job(row: ExportJobRow) -> ExportJob:
    return ExportJob(row.id, row.kind, row.requested_by, row.requester_role, row.site_id, dict(row.params or {}),
                     row.status, row.progress, row.request_url, row.output_dir,
                     dict(row.manifest) if row.manifest is not None else None, row.error, row.created_at,
                     row.started_at, row.finished_at, row.expires_at)


def create_job(store: Store, actor: Actor, *, kind: str, params: Mapping[str, Any], site_id: int | None,
               output_root: Path, request_url: str | None = None, ttl: dt.timedelta = DEFAULT_TTL,
               now: dt.datetime | None = None) -> ExportJob:
    """Record a new job (status ``accepted``) whose files will go under ``output_root/<id>``.

    Who may export what is the caller's decision (the route checks role, site and scope); this
    records it. ``params`` must be JSON-serialisable."""
    if kind not in JOB_KINDS:
        raise ValidationError(field="export.kind", value=kind, allowed=JOB_KINDS)
    now = now or utcnow()
    job_id = secrets.token_hex(16)
    while job_id.isdigit():  # never all digits: web.app reads an all-digit *_id path parameter as a number
        job_id = secrets.token_hex(16)
    row = ExportJobRow(id=job_id, kind=kind, requested_by=actor.name, requester_role=actor.role, site_id=site_id,
                       params=dict(params), status="accepted", progress="waiting to start", request_url=request_url,
                       output_dir=str(Path(output_root) / job_id), created_at=now, expires_at=now + ttl)
    with store.transaction() as s:
        s.add(row)
        s.flush()
        return _job(row)


def get_job(store: Store, job_id: str) -> ExportJob | None:
    """The job, or None."""
    with store.transaction() as s:
        row = s.get(ExportJobRow, job_id)
        return _job(row) if row is not None else None


def job_for(store: Store, job_id: str, requested_by: str) -> ExportJob:
    """The job when ``requested_by`` asked for it; :class:`NotFoundError` otherwise (another
    person's job is reported as not found: its existence is not revealed)."""
    job = get_job(store, job_id) if isinstance(job_id, str) and len(job_id) <= 64 else None
    if job is None or not secrets.compare_digest(job.requested_by.encode(), requested_by.encode()):
        raise NotFoundError(entity="export", key=job_id)
    return job


def list_jobs(store: Store, *, requested_by: str | None = None, kind: str | None = None,
              limit: int = 100) -> list[ExportJob]:
    """Jobs, newest first, optionally of one requester and one kind."""
    q = select(ExportJobRow).order_by(ExportJobRow.created_at.desc(), ExportJobRow.id).limit(limit)
    if requested_by is not None:
        q = q.where(ExportJobRow.requested_by == requested_by)
    if kind is not None:
        q = q.where(ExportJobRow.kind == kind)
    with store.transaction() as s:
        return [_job(r) for r in s.execute(q).scalars()]


def claim_job(store: Store, job_id: str, *, now: dt.datetime | None = None) -> bool:
    """Move an ``accepted`` job to ``running``; False when it is not (already claimed, deleted)."""
    now = now or utcnow()
    with store.transaction() as s:
        result = s.execute(update(ExportJobRow).where(ExportJobRow.id == job_id, ExportJobRow.status == "accepted")
                           .values(status="running", started_at=now, heartbeat_at=now, progress="started"))
        return bool(getattr(result, "rowcount", 0) == 1)


def update_progress(store: Store, job_id: str, progress: str, *, now: dt.datetime | None = None) -> bool:
    """Record the running job's progress and heartbeat; False when it is no longer running
    (deleted, or failed as stale): the runner then stops."""
    with store.transaction() as s:
        result = s.execute(update(ExportJobRow).where(ExportJobRow.id == job_id, ExportJobRow.status == "running")
                           .values(progress=progress[:200], heartbeat_at=now or utcnow()))
        return bool(getattr(result, "rowcount", 0) == 1)


def complete_job(store: Store, job_id: str, *, manifest: Mapping[str, Any], counts: Mapping[str, int],
                 now: dt.datetime | None = None) -> bool:
    """Mark the running job completed with its manifest, and audit it (``export``, with the
    counts per type). False when the job was deleted meanwhile (nothing is recorded)."""
    now = now or utcnow()
    with store.transaction() as s:
        row = s.get(ExportJobRow, job_id)
        if row is None or row.status != "running":
            return False
        row.status, row.manifest, row.finished_at, row.heartbeat_at = "completed", dict(manifest), now, now
        row.progress = f"done: {sum(counts.values())} records"
        audit.append(s, actor=row.requested_by, actor_role=row.requester_role, action="export",
                     entity="export_job", entity_id=row.id,
                     detail={"kind": row.kind, "site_id": row.site_id, "params": row.params,
                             "counts": dict(counts), "total": sum(counts.values())})
        return True


def fail_job(store: Store, job_id: str, error: str, *, now: dt.datetime | None = None) -> bool:
    """Mark the job failed with a plain message, and audit it (``export_failed``). The files
    written so far are removed. False when the job is gone or already finished."""
    now = now or utcnow()
    with store.transaction() as s:
        row = s.get(ExportJobRow, job_id)
        if row is None or row.status in ("completed", "failed"):
            return False
        _fail(s, row, error, now)
    return True


def _fail(s: Any, row: ExportJobRow, error: str, now: dt.datetime) -> None:
    row.status, row.error, row.finished_at, row.progress = "failed", error[:2000], now, "failed"
    audit.append(s, actor=row.requested_by, actor_role=row.requester_role, action="export_failed",
                 entity="export_job", entity_id=row.id,
                 detail={"kind": row.kind, "site_id": row.site_id, "params": row.params, "error": error[:500]})
    _remove_files(row.output_dir)


def fail_stale_jobs(store: Store, *, keep: Collection[str] = (), kind: str | None = None,
                    now: dt.datetime | None = None) -> list[str]:
    """Fail every ``running`` job (of ``kind``, when given) whose heartbeat is older than
    :data:`STALE_AFTER` (its process stopped), except the ids in ``keep`` (jobs this process
    runs). Returns their ids. A runner keeps its job alive by calling :func:`update_progress`
    at least once a minute."""
    now = now or utcnow()
    failed: list[str] = []
    q = select(ExportJobRow).where(ExportJobRow.status == "running", ExportJobRow.heartbeat_at < now - STALE_AFTER)
    if kind is not None:
        q = q.where(ExportJobRow.kind == kind)
    with store.transaction() as s:
        rows = s.execute(q).scalars().all()
        for row in rows:
            if row.id in keep:
                continue
            _fail(s, row, STALE_MESSAGE, now)
            failed.append(row.id)
    return failed


def delete_job(store: Store, actor: Actor, job_id: str) -> None:
    """Delete the job and its files (the one who asked for it; audited as ``delete``). A running
    job stops at its next progress update (:func:`update_progress` answers False)."""
    with store.transaction() as s:
        row = s.get(ExportJobRow, job_id)
        if row is None or row.requested_by != actor.name:
            raise NotFoundError(entity="export", key=job_id)
        output_dir, status = row.output_dir, row.status
        s.execute(delete(ExportJobRow).where(ExportJobRow.id == job_id))
        audit.append(s, actor=actor.name, actor_role=actor.role, action="delete", entity="export_job",
                     entity_id=job_id, detail={"kind": row.kind, "status": status})
    _remove_files(output_dir)


def purge_expired(store: Store, *, now: dt.datetime | None = None) -> int:
    """Remove every job past its ``expires_at`` that is not running, with its files. Returns how many."""
    now = now or utcnow()
    with store.transaction() as s:
        rows = s.execute(select(ExportJobRow.id, ExportJobRow.output_dir).where(
            ExportJobRow.expires_at < now, ExportJobRow.status != "running")).all()
        if rows:
            s.execute(delete(ExportJobRow).where(ExportJobRow.id.in_([r.id for r in rows])))
    for r in rows:
        _remove_files(r.output_dir)
    return len(rows)


def _remove_files(output_dir: str | None) -> None:
    if output_dir:
        shutil.rmtree(output_dir, ignore_errors=True)
