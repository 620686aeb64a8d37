"""The append-only audit trail: who did what to which record, and when.

Every read and write of patient data appends one row. Rows are chained: each row stores
the hash of the previous row and ``hash = SHA-256(prev_hash | canonical JSON of the row)``,
so that :func:`verify_chain` detects a removed, inserted or altered row even if someone
bypasses the database triggers that refuse UPDATE and DELETE.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from spinetrack.store.tables import AuditRow

__all__ = ["GENESIS_HASH", "ChainVerification", "append", "verify_chain"]

GENESIS_HASH = "0" * 64
_PG_LOCK_KEY = 7_351_902_114  # advisory lock that serialises appends on PostgreSQL


def _digest(prev_hash: str, fields: dict[str, Any]) -> str:
    payload = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + "|" + payload).encode("utf-8")).hexdigest()


def _fields(row: AuditRow | dict[str, Any]) -> dict[str, Any]:
    get = row.get if isinstance(row, dict) else lambda k: getattr(row, k)
    at = get("at")
    return {
        "at": at.isoformat(timespec="microseconds") if isinstance(at, dt.datetime) else at,
        "actor": get("actor"),
        "actor_role": get("actor_role"),
        "action": get("action"),
        "entity": get("entity"),
        "entity_id": get("entity_id"),
        "patient_id": get("patient_id"),
        "detail": get("detail"),
    }


def append(
    session: Session,
    *,
    actor: str,
    actor_role: str,
    action: str,
    entity: str,
    entity_id: Any = None,
    patient_id: int | None = None,
    detail: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> AuditRow:
    """Append one audit row in the caller's transaction (it commits or rolls back with the data)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    prev = session.execute(select(AuditRow.hash).order_by(AuditRow.id.desc()).limit(1)).scalar()
    prev_hash = prev or GENESIS_HASH
    at = (at or dt.datetime.now(dt.UTC)).replace(tzinfo=None)
    values = {
        "at": at,
        "actor": actor,
        "actor_role": actor_role,
        "action": action,
        "entity": entity,
        "entity_id": None if entity_id is None else str(entity_id),
        "patient_id": patient_id,
        "detail": detail,
    }
    row = AuditRow(**values, prev_hash=prev_hash, hash=_digest(prev_hash, _fields(values)))
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True, slots=True)
class ChainVerification:
    ok: bool
    n_rows: int
    first_bad_id: int | None = None
    reason: str | None = None


def verify_chain(session: Session, batch: int = 10_000) -> ChainVerification:
    """Recompute every hash in id order; report the first row that does not fit."""
    prev_hash = GENESIS_HASH
    n = 0
    last_id = 0
    while True:
        rows = session.execute(select(AuditRow).where(AuditRow.id > last_id).order_by(AuditRow.id).limit(batch)).scalars().all()
        if not rows:
            return ChainVerification(True, n)
        for row in rows:
            if row.prev_hash != prev_hash:
                return ChainVerification(False, n, row.id, "previous-hash link broken (a row was removed or inserted)")
            if _digest(prev_hash, _fields(row)) != row.hash:
                return ChainVerification(False, n, row.id, "row content does not match its hash (altered)")
            prev_hash = row.hash
            n += 1
            last_id = row.id
        session.expunge_all()
