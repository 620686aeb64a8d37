"""The research page's background exports: OMOP CDM 5.4 or flat CSV, zipped for download.

A job of :mod:`spinetrack.store.export_jobs` (kind ``omop`` or ``csv``), run in a daemon thread
of the serving process (:func:`start_research_export`): it claims the job, runs
:func:`spinetrack.interop.omop.export_omop` or :func:`spinetrack.interop.flat_csv.export_csv` into
the job's folder (``<export dir>/<job id>/work``) as the researcher who asked (their name is on
the export's audit row), reporting progress (and a heartbeat) at most every
:data:`PROGRESS_SECONDS`, then packs the files into one ZIP (``spinetrack-omop-<date>.zip``,
deflated, written file by file: memory stays bounded), removes the loose files, and completes the
job (the job's own audit row with the counts). An error fails the job with a plain message; a
job deleted while it runs stops at its next progress report and leaves no files.

Always pseudonymised (the exports carry no names, hospital numbers, contact details or free
text; year of birth only); with a rekeying secret the keys are HMACs of the store's ids. The
secret is handed to the thread only: it is never stored in the job.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

from spinetrack.clock import utcnow
from spinetrack.errors import SpinetrackError
from spinetrack.interop.flat_csv import export_csv
from spinetrack.interop.omop import export_omop
from spinetrack.store import export_jobs
from spinetrack.store.repositories import Store

__all__ = ["KINDS", "PROGRESS_SECONDS", "run_research_export", "running_here", "start_research_export", "zip_file"]

KINDS = ("omop", "csv")
PROGRESS_SECONDS = 2.0
_log = logging.getLogger(__name__)
_RUNNING: set[str] = set()
_LOCK = threading.Lock()


class _Cancelled(Exception):
    """The job was deleted (or failed as stale) while it ran."""


def running_here() -> frozenset[str]:
    """The ids of the research exports this process is running (never failed as stale)."""
    with _LOCK:
        return frozenset(_RUNNING)


def zip_file(job: export_jobs.ExportJob) -> Path | None:
    """The finished job's ZIP file, or None (not finished, or its files are gone)."""
    if job.status != "completed" or not job.output_dir or not job.manifest:
        return None
    name = str(job.manifest.get("file") or "")
    path = Path(job.output_dir) / name
    return path if name and "/" not in name and path.is_file() else None


def run_research_export(store: Store, job_id: str, *, rekey_secret: str | None = None) -> None:
    """Run one ``omop`` or ``csv`` job to its end (completed or failed); see the module docstring."""
    if not export_jobs.claim_job(store, job_id):
        return
    job = export_jobs.get_job(store, job_id)
    if job is None or job.output_dir is None:
        return
    out = Path(job.output_dir)
    work = out / "work"
    last = [0.0]

    def progress(table: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] < PROGRESS_SECONDS:
            return
        last[0] = now
        text = f"{table}: {done:,} of {total:,} rows" if total else f"{table}: {done:,} rows"
        if not export_jobs.update_progress(store, job_id, text):
            raise _Cancelled

    try:
        out.mkdir(parents=True, exist_ok=True)
        common: dict[str, Any] = {"rekey_secret": rekey_secret, "progress": progress, "actor": job.requested_by,
                                  "actor_role": job.requester_role}
        if job.kind == "omop":
            result = export_omop(store.engine, work, **common)
            counts, extra = result.row_counts, {"vocabulary_version": result.vocabulary_version}
        elif job.kind == "csv":
            csv_result = export_csv(store.engine, work, **common)
            counts, extra = csv_result.row_counts, {}
        else:
            raise SpinetrackError(f"unknown research export kind {job.kind!r}")
        name = f"spinetrack-{job.kind}-{utcnow():%Y%m%d-%H%M%S}.zip"
        with zipfile.ZipFile(out / name, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for f in sorted(work.iterdir()):
                zf.write(f, arcname=f"spinetrack-{job.kind}/{f.name}")
        shutil.rmtree(work, ignore_errors=True)
        manifest = {"file": name, "kind": job.kind, "row_counts": counts, "rekeyed": rekey_secret is not None,
                    "bytes": (out / name).stat().st_size, **extra}
        if not export_jobs.complete_job(store, job_id, manifest=manifest, counts=counts):
            shutil.rmtree(out, ignore_errors=True)  # deleted meanwhile
    except _Cancelled:
        shutil.rmtree(out, ignore_errors=True)
    except SpinetrackError as exc:
        export_jobs.fail_job(store, job_id, str(exc))
    except Exception:
        _log.exception("research export %s failed", job_id)
        export_jobs.fail_job(store, job_id, "the export failed because of an unexpected error; the server log "
                                            "has the details")


def start_research_export(store: Store, job_id: str, *, rekey_secret: str | None = None) -> threading.Thread:
    """Run :func:`run_research_export` in a daemon thread of this process; returns the thread."""
    with _LOCK:
        _RUNNING.add(job_id)  # before the thread starts: a look in between must not think it stale

    def target() -> None:
        try:
            run_research_export(store, job_id, rekey_secret=rekey_secret)
        finally:
            with _LOCK:
                _RUNNING.discard(job_id)

    thread = threading.Thread(target=target, name=f"research-export-{job_id[:8]}", daemon=True)
    thread.start()
    return thread
