"""What the research exports (OMOP and flat CSV) share: pseudonymous keys, one consistent read of
the store, and streaming its rows in batches.

Keys follow the Parquet snapshot's scheme (:mod:`spinetrack.snapshot`), byte for byte, so the
three exports of one store under one secret link up: a patient is ``P<row id>`` or, with a
rekeying secret, ``HMAC-SHA256(secret, "patient:<row id>")`` as hex cut to 16 characters; an
episode is its row id or the first 8 bytes of ``HMAC-SHA256(secret, "episode:<row id>")`` as a
non-negative int64. (The snapshot package sits beside ``interop`` in the layers, so the few lines
are repeated here; ``tests/interop`` checks they give the snapshot's keys.)

OMOP's ``person_id`` is a 32-bit integer, so it cannot hold the 64-bit keys: :class:`PersonIds`
gives the store's row id without a secret, and with one the patient key's first 31 bits, with
the rare collisions resolved (see its docstring).
"""

from __future__ import annotations

import hmac
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from spinetrack.errors import ValidationError
from spinetrack.store import audit
from spinetrack.store.keys import (  # the snapshot's keys and checks, re-exported
    MIN_SECRET_LENGTH,
    check_dir_target,
    check_secret,
    episode_key,
    patient_key,
    surgeon_key,
)
from spinetrack.store.session import read_only
from spinetrack.store.tables import PatientRow

__all__ = [
    "INT32_MAX",
    "MIN_SECRET_LENGTH",
    "PersonIds",
    "audit_export",
    "check_dir_target",
    "check_secret",
    "commit_dir",
    "episode_key",
    "patient_key",
    "read_transaction",
    "stream",
    "surgeon_key",
]

INT32_MAX = 2**31 - 1


def _h31(secret: bytes, message: bytes) -> int:
    return int.from_bytes(hmac.digest(secret, message, "sha256")[:4], "big") & INT32_MAX


class PersonIds:
    """Store patient id → OMOP ``person_id`` (a positive 32-bit integer), stable across exports.

    Without a secret: the store's row id (an export refuses ids above 2^31 − 1). With one: the
    first 31 bits of ``HMAC-SHA256(secret, "patient:<id>")`` (the bits the person key starts
    with). Two patients may share those bits (about n²/2^32 pairs: one among 65,000 patients, 230
    among a million): the patient with the lower row id keeps them, the other takes
    ``HMAC-SHA256(secret, "patient:<id>#<k>")`` for k = 1, 2, … until free; 0 is never used.
    Finding collisions reads every patient id once, holding 16 bytes per patient; the
    exceptions kept afterwards are only the collided patients.
    """

    def __init__(self, conn: Connection, secret: bytes | None, batch: int = 50_000) -> None:
        self.secret = secret
        self.overrides: dict[int, int] = {}
        if secret is None:
            top = conn.execute(select(PatientRow.id).order_by(PatientRow.id.desc()).limit(1)).scalar()
            if top is not None and top > INT32_MAX:
                raise ValidationError(field="rekey", value=None, allowed="a rekeying secret",
                                      reason="patient row ids exceed OMOP's 32-bit person_id; pass --rekey")
            return
        parts_ids: list[np.ndarray] = []
        parts_h: list[np.ndarray] = []
        for rows in stream(conn, select(PatientRow.id).order_by(PatientRow.id), batch):
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            parts_ids.append(ids)
            parts_h.append(np.fromiter((_h31(secret, b"patient:%d" % i) for i in ids), dtype=np.int64,
                                       count=len(ids)))
        if not parts_ids:
            return
        ids = np.concatenate(parts_ids)
        hashes = np.concatenate(parts_h)
        del parts_ids, parts_h
        order = np.lexsort((ids, hashes))  # by hash, then row id
        hs, idx = hashes[order], ids[order]
        clash = np.zeros(len(hs), dtype=bool)
        clash[1:] = hs[1:] == hs[:-1]  # every member of a run but the first (lowest row id)
        clash |= hs == 0
        taken = hs[~clash]
        extra: set[int] = set()
        for pid in idx[clash].tolist():
            k = 1
            while True:
                h = _h31(secret, b"patient:%d#%d" % (pid, k))
                pos = int(np.searchsorted(taken, h))
                if h != 0 and h not in extra and not (pos < len(taken) and int(taken[pos]) == h):
                    break
                k += 1
            extra.add(h)
            self.overrides[int(pid)] = h

    def __call__(self, patient_id: int) -> int:
        if self.secret is None:
            return patient_id
        found = self.overrides.get(patient_id)
        return found if found is not None else _h31(self.secret, b"patient:%d" % patient_id)


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """One connection holding one read transaction for a whole export (PostgreSQL: ``REPEATABLE
    READ READ ONLY``; SQLite: a deferred ``BEGIN``, one WAL snapshot, no write lock), so every table
    comes from the same picture of the store."""
    with read_only(engine).connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        conn.begin()
        try:
            yield conn
        finally:
            conn.rollback()


def stream(conn: Connection, query: Select[Any] | Any, batch: int) -> Iterator[Sequence[Any]]:
    """The rows of ``query`` in batches of at most ``batch`` (a server-side cursor on PostgreSQL;
    SQLite's cursor steps through the result by itself), holding one batch at a time."""
    result = conn.execution_options(stream_results=True, yield_per=batch).execute(query)
    try:
        yield from result.partitions(batch)
    finally:
        result.close()


def audit_export(engine: Engine, *, entity: str, detail: dict[str, Any], actor: str, actor_role: str) -> None:
    """Append the export's one audit row (action ``export``)."""
    with Session(engine) as s, s.begin():
        audit.append(s, actor=actor, actor_role=actor_role, action="export", entity=entity, detail=detail)


def commit_dir(engine: Engine, tmp: Path, target: Path, *, entity: str, detail: dict[str, Any], actor: str,
               actor_role: str) -> None:
    """Move the finished files of ``tmp`` into ``target`` and append the audit row: neither stays
    without the other (a failed audit takes the files back out and restores what was there)."""
    final = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-", dir=target.parent))
    for f in tmp.iterdir():
        os.replace(f, final / f.name)
    old: Path | None = None
    try:
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.replace(target, old / "previous")
        os.replace(final, target)
        try:
            audit_export(engine, entity=entity, detail=detail, actor=actor, actor_role=actor_role)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            if old is not None:
                os.replace(old / "previous", target)
            raise
    finally:
        shutil.rmtree(final, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
