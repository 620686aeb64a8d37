"""Background export jobs in the store (``spinetrack.store.export_jobs``): claimed once, progress
stops a deleted job, stale jobs fail, expired jobs are purged with their files, and another
requester is told the job does not exist. SQLite and PostgreSQL (the ``engine`` fixture)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from spinetrack.errors import NotFoundError, ValidationError
from spinetrack.store import export_jobs
from spinetrack.store.repositories import Actor, Store
from spinetrack.store.tables import AuditRow

R = Actor("r1", "researcher")
T0 = dt.datetime(2026, 12, 1, 12, 0)


@pytest.fixture
def store(engine: Engine) -> Store:
    return Store(engine)


def _job(store: Store, tmp_path: Path, **kw: object) -> export_jobs.ExportJob:
    args: dict[str, Any] = {"kind": "omop", "params": {"a": 1}, "site_id": None, "output_root": tmp_path}
    args.update(kw)
    return export_jobs.create_job(store, R, **args)


def test_life_of_a_job(store: Store, tmp_path: Path) -> None:
    job = _job(store, tmp_path, now=T0)
    assert job.status == "accepted" and len(job.id) == 32 and job.expires_at == T0 + export_jobs.DEFAULT_TTL
    assert job.output_dir == str(tmp_path / job.id)
    assert export_jobs.claim_job(store, job.id)
    assert not export_jobs.claim_job(store, job.id)  # only once
    assert export_jobs.update_progress(store, job.id, "half way")
    assert export_jobs.job_for(store, job.id, "r1").progress == "half way"
    with pytest.raises(NotFoundError):
        export_jobs.job_for(store, job.id, "r2")
    assert export_jobs.complete_job(store, job.id, manifest={"files": []}, counts={"person": 3, "visit": 4})
    done = export_jobs.get_job(store, job.id)
    assert done is not None and done.status == "completed" and done.done and done.manifest == {"files": []}
    assert not export_jobs.update_progress(store, job.id, "late")
    with store.transaction() as s:
        rows = s.execute(select(AuditRow).where(AuditRow.entity == "export_job")).scalars().all()
    assert [(r.action, r.actor, (r.detail or {})["total"]) for r in rows] == [("export", "r1", 7)]
    assert [j.id for j in export_jobs.list_jobs(store, requested_by="r1", kind="omop")] == [job.id]
    assert export_jobs.list_jobs(store, requested_by="r2") == []


def test_unknown_kind_is_refused(store: Store, tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        _job(store, tmp_path, kind="xml")


def test_delete_removes_files_and_stops_the_runner(store: Store, tmp_path: Path) -> None:
    job = _job(store, tmp_path)
    export_jobs.claim_job(store, job.id)
    Path(job.output_dir or "").mkdir()
    (Path(job.output_dir or "") / "f.csv").write_text("x")
    with pytest.raises(NotFoundError):
        export_jobs.delete_job(store, Actor("r2", "researcher"), job.id)
    export_jobs.delete_job(store, R, job.id)
    assert not Path(job.output_dir or "").exists()
    assert not export_jobs.update_progress(store, job.id, "still here?")
    assert not export_jobs.complete_job(store, job.id, manifest={}, counts={})


def test_stale_running_jobs_fail_unless_kept(store: Store, tmp_path: Path) -> None:
    a, b, c = (_job(store, tmp_path) for _ in range(3))
    d = _job(store, tmp_path, kind="csv")
    for j in (a, b, c, d):
        export_jobs.claim_job(store, j.id, now=T0)
    export_jobs.update_progress(store, c.id, "alive", now=T0 + dt.timedelta(minutes=9))
    failed = export_jobs.fail_stale_jobs(store, keep={b.id}, kind="omop", now=T0 + dt.timedelta(minutes=10))
    assert failed == [a.id]  # not b (kept), not c (alive), not d (another kind)
    assert export_jobs.fail_stale_jobs(store, keep={b.id}, now=T0 + dt.timedelta(minutes=10)) == [d.id]
    job = export_jobs.get_job(store, a.id)
    assert job is not None and job.status == "failed" and "stopped" in (job.error or "")
    assert not export_jobs.fail_job(store, a.id, "again")


def test_expired_jobs_are_purged_with_their_files(store: Store, tmp_path: Path) -> None:
    old = _job(store, tmp_path, now=T0)
    Path(old.output_dir or "").mkdir()
    new = _job(store, tmp_path, now=T0 + dt.timedelta(hours=20))
    assert export_jobs.purge_expired(store, now=T0 + dt.timedelta(hours=25)) == 1
    assert export_jobs.get_job(store, old.id) is None and not Path(old.output_dir or "").exists()
    assert export_jobs.get_job(store, new.id) is not None
