"""FHIR Bulk Data export files: the NDJSON writer, the completion manifest, and the job runner.

The HTTP side (kick-off, status, files) is :mod:`spinetrack.web.routes.fhir_bulk`; this module
turns a stream of FHIR resources into files, bounded in memory whatever the size of the store:

* :class:`NdjsonWriter` writes each resource as one line of its type's file as it arrives
  (``Patient.1.ndjson``, ``Condition.1.ndjson`` …), UTF-8, no pretty printing; a file holds at
  most ``max_per_file`` resources (default :data:`MAX_PER_FILE`), then ``Patient.2.ndjson``
  begins. Only one line is in memory at a time, plus one open file per type.
* :func:`build_manifest` is the completion manifest of the Bulk Data Access IG
  (https://hl7.org/fhir/uv/bulkdata/export.html): ``transactionTime``, ``request``,
  ``requiresAccessToken`` (true: the files are served only to the one who asked, signed in or
  with the same API token), ``output`` (one entry per file: ``type``, ``url``, ``count``) and
  ``error`` (empty: a resource that cannot be mapped fails the whole export instead).
* :func:`run_fhir_export` runs one job from :mod:`spinetrack.store.export_jobs`: claims it,
  streams :func:`spinetrack.interop.fhir.stream_resources` into the writer, records progress
  (and a heartbeat) every :data:`PROGRESS_EVERY` resources, then completes the job (one audit
  row with the counts per type) or fails it with a plain message. When the job is deleted
  while it runs, the runner stops at its next progress update and removes its files.
* :func:`start_fhir_export` runs it in a daemon thread of the serving process. The job's state
  is in the database, so any worker answers the status polls; a job left ``running`` by a
  process that stopped is failed by :func:`spinetrack.store.export_jobs.fail_stale_jobs` once
  its heartbeat is older than two minutes (the ids this process runs, :func:`running_here`, are
  never failed that way).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import shutil
import threading
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from spinetrack.clock import utcnow
from spinetrack.store import export_jobs
from spinetrack.store.repositories import Store

__all__ = [
    "MAX_PER_FILE",
    "NDJSON_MEDIA_TYPE",
    "OUTPUT_FORMATS",
    "PROGRESS_EVERY",
    "NdjsonWriter",
    "OutputFile",
    "build_manifest",
    "file_path",
    "format_instant",
    "parse_instant",
    "run_fhir_export",
    "running_here",
    "start_fhir_export",
]

log = logging.getLogger("spinetrack.interop.bulk")

NDJSON_MEDIA_TYPE = "application/fhir+ndjson"
OUTPUT_FORMATS = ("application/fhir+ndjson", "application/ndjson", "ndjson")
MAX_PER_FILE = 100_000
PROGRESS_EVERY = 2_000
FILE_NAME = re.compile(r"(?P<type>[A-Z][A-Za-z]{1,63})\.(?P<part>[1-9][0-9]{0,5})\.ndjson")
_INSTANT = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):([0-5][0-9]):"
                      r"([0-5][0-9]|60)(\.[0-9]{1,9})?(Z|[+-](?:(?:0[0-9]|1[0-3]):[0-5][0-9]|14:00))")

_RUNNING: set[str] = set()
_RUNNING_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class OutputFile:
    """One written file: its resource type, file name (in the job's folder), resources and bytes."""

    type: str
    name: str
    count: int
    size: int


class _Stopped(Exception):
    """The job was deleted while it ran."""


class NdjsonWriter:
    """Writes FHIR resources as NDJSON, one file per type (split every ``max_per_file``)."""

    def __init__(self, out_dir: Path, *, max_per_file: int = MAX_PER_FILE) -> None:
        if max_per_file < 1:
            raise ValueError("max_per_file must be at least 1")
        self.out_dir = Path(out_dir)
        self.max_per_file = max_per_file
        self._open: dict[str, tuple[IO[str], str, int, int]] = {}  # type → (file, name, count, part)
        self._done: list[OutputFile] = []
        self._parts: dict[str, int] = {}
        self.total = 0

    def __enter__(self) -> NdjsonWriter:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for rtype in list(self._open):
            self._close(rtype)

    def write(self, resource_type: str, resource: dict[str, Any]) -> None:
        """Append one resource (a JSON object whose ``resourceType`` is ``resource_type``)."""
        entry = self._open.get(resource_type)
        if entry is None or entry[2] >= self.max_per_file:
            if entry is not None:
                self._close(resource_type)
            if not FILE_NAME.fullmatch(f"{resource_type}.1.ndjson"):
                raise ValueError(f"not a FHIR resource type: {resource_type!r}")
            part = self._parts.get(resource_type, 0) + 1
            self._parts[resource_type] = part
            name = f"{resource_type}.{part}.ndjson"
            entry = (open(self.out_dir / name, "w", encoding="utf-8", newline="\n"), name, 0, part)  # noqa: SIM115
        handle, name, count, part = entry
        handle.write(json.dumps(resource, ensure_ascii=False, separators=(",", ":")))
        handle.write("\n")
        self._open[resource_type] = (handle, name, count + 1, part)
        self.total += 1

    def _close(self, resource_type: str) -> None:
        handle, name, count, _ = self._open.pop(resource_type)
        try:
            handle.flush()
            size = os.fstat(handle.fileno()).st_size  # also when the folder was removed meanwhile
        finally:
            handle.close()
        self._done.append(OutputFile(resource_type, name, count, size))

    def files(self) -> list[OutputFile]:
        """The files written (after the writer is closed): types in the order they first came
        (the stream yields referenced resources first), then parts in order."""
        order = {t: i for i, t in enumerate(self._parts)}
        return sorted(self._done, key=lambda f: (order[f.type], int(f.name.split(".")[1])))

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self._done:
            out[f.type] = out.get(f.type, 0) + f.count
        return out


def format_instant(moment: dt.datetime) -> str:
    """A naive UTC time as a FHIR instant (``2026-12-08T00:04:05.123Z``)."""
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def parse_instant(value: str) -> dt.datetime:
    """A FHIR instant (seconds and a time zone required) as naive UTC; ValueError otherwise."""
    if not _INSTANT.fullmatch(value):
        raise ValueError(f"{value!r} is not a FHIR instant (e.g. 2026-01-31T00:00:00Z)")
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.astimezone(dt.UTC).replace(tzinfo=None)


def build_manifest(*, transaction_time: dt.datetime, request_url: str, files: Iterable[OutputFile],
                   file_url: Callable[[OutputFile], str]) -> dict[str, Any]:
    """The completion manifest (Bulk Data Access IG, "Response - Complete Status")."""
    return {"transactionTime": format_instant(transaction_time), "request": request_url,
            "requiresAccessToken": True,
            "output": [{"type": f.type, "url": file_url(f), "count": f.count} for f in files],
            "error": []}


def file_path(output_dir: str, name: str) -> Path | None:
    """The path of file ``name`` of a job, or None when the name is not one of ours (no path
    tricks: only ``<Type>.<part>.ndjson``) or the file does not exist."""
    if not FILE_NAME.fullmatch(name):
        return None
    path = Path(output_dir) / name
    return path if path.is_file() else None


def running_here() -> frozenset[str]:
    """The ids of the jobs this process is running."""
    with _RUNNING_LOCK:
        return frozenset(_RUNNING)


def run_fhir_export(store: Store, job_id: str, *, scope: Any, types: Collection[str] | None,
                    since: dt.datetime | None, file_base_url: str, max_per_file: int = MAX_PER_FILE,
                    batch: int = 1000) -> str:
    """Run export job ``job_id`` to its end; returns its final status (``completed``, ``failed``,
    ``deleted``, or ``skipped`` when another runner had claimed it).

    ``scope`` is a :class:`spinetrack.interop.fhir.FhirScope` (which sites, identified or
    pseudonymised: the caller decided who may have what). ``file_base_url``: the files' URLs in
    the manifest are ``<file_base_url>/<file name>``."""
    from spinetrack.interop.fhir import stream_resources

    job = export_jobs.get_job(store, job_id)
    if job is None or not export_jobs.claim_job(store, job_id):
        return "skipped"
    out_dir = Path(job.output_dir or "")
    transaction_time = utcnow()
    with _RUNNING_LOCK:
        _RUNNING.add(job_id)
    try:
        writer = NdjsonWriter(out_dir, max_per_file=max_per_file)
        with writer:
            for rtype, resource in stream_resources(store, scope, types=types, since=since, batch=batch):
                writer.write(rtype, resource)
                if writer.total % PROGRESS_EVERY == 0 and not export_jobs.update_progress(
                        store, job_id, f"{writer.total} resources written"):
                    raise _Stopped
        if not export_jobs.update_progress(store, job_id, f"{writer.total} resources written; finishing"):
            raise _Stopped
        manifest = build_manifest(transaction_time=transaction_time, request_url=job.request_url or "",
                                  files=writer.files(), file_url=lambda f: f"{file_base_url.rstrip('/')}/{f.name}")
        if not export_jobs.complete_job(store, job_id, manifest=manifest, counts=writer.counts()):
            raise _Stopped
        return "completed"
    except _Stopped:
        shutil.rmtree(out_dir, ignore_errors=True)
        return "deleted"
    except Exception as exc:
        log.exception("FHIR export %s failed", job_id[:8])
        try:
            export_jobs.fail_job(store, job_id, f"the export could not be completed ({type(exc).__name__}); "
                                                "the server log has the details")
        except Exception:  # the database itself is gone: the stale-job check fails it later
            log.exception("FHIR export %s: could not record the failure", job_id[:8])
        return "failed"
    finally:
        with _RUNNING_LOCK:
            _RUNNING.discard(job_id)


def start_fhir_export(store: Store, job_id: str, **kwargs: Any) -> threading.Thread:
    """Run :func:`run_fhir_export` in a daemon thread of this process; returns the thread."""
    with _RUNNING_LOCK:
        _RUNNING.add(job_id)  # before the thread starts: a poll in between must not think it stale

    def target() -> None:
        try:
            run_fhir_export(store, job_id, **kwargs)
        finally:
            with _RUNNING_LOCK:
                _RUNNING.discard(job_id)

    thread = threading.Thread(target=target, name=f"fhir-export-{job_id[:8]}", daemon=True)
    thread.start()
    return thread
