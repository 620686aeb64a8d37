"""The append-only audit trail: who did what to which record, and when.

Every read and write of patient data appends one row. Rows are chained: each row stores
the hash of the previous row and ``hash = SHA-256(prev_hash | canonical JSON of the row)``,
so that :func:`verify_chain` detects a removed, inserted or altered row even if someone
bypasses the database triggers that refuse UPDATE and DELETE, and reports every such row.

Appends are serialised, so that no two rows link to the same predecessor: on PostgreSQL by an
advisory transaction lock taken here, on SQLite by the write lock every transaction takes at
``BEGIN IMMEDIATE`` (:mod:`spinetrack.store.session`). On PostgreSQL a transaction's rows are
written as it commits, so the lock, which every writer waits for, is held only for the commit
itself; the chain's order is then the order of the commits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

from sqlalchemy import Connection, Table, event, func, insert, select, text
from sqlalchemy.orm import Session, SessionTransaction

from spinetrack.store.session import takes_write_lock
from spinetrack.store.tables import AuditRow

__all__ = ["GENESIS_HASH", "BadAuditRow", "ChainVerification", "append", "verify_chain"]

GENESIS_HASH = "0" * 64
_PG_LOCK_KEY = 7_351_902_114  # advisory lock that serialises appends on PostgreSQL
_PG_LOCK = text("SELECT pg_advisory_xact_lock(:k)")
_LAST_HASH = select(AuditRow.__table__.c.hash).order_by(AuditRow.__table__.c.id.desc()).limit(1)
_INSERT = insert(cast(Table, AuditRow.__table__))
_PENDING = "spinetrack.audit.pending"  # Session.info key: PostgreSQL rows to write at commit


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
    """Append one audit row in the caller's transaction (it commits or rolls back with the data).

    The last row's hash is read under a lock that the transaction keeps until it ends (see the
    module docstring), so concurrent appends form one chain. On PostgreSQL the row is written
    when the transaction commits (:func:`_write_pending`, SQLAlchemy's ``before_commit``), so
    that the lock is held from there to the end of the commit only, not through the rest of the
    transaction's work; the row returned then has no id or hash yet."""
    conn = session.connection()  # Core on the session's connection: no ORM object to flush
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
    if conn.dialect.name == "postgresql" and not session.in_nested_transaction():
        session.info.setdefault(_PENDING, []).append(values)
        return AuditRow(**values)
    if conn.dialect.name == "sqlite" and not takes_write_lock(conn):
        raise RuntimeError("an audit row cannot be appended in a read-only transaction (the chain would fork)")
    return _write(conn, [values])[0]


def _write(conn: Connection, rows: list[dict[str, Any]]) -> list[AuditRow]:
    """Insert ``rows`` at the end of the chain, in order (on PostgreSQL under the advisory lock,
    which the transaction keeps until it ends)."""
    if conn.dialect.name == "postgresql":
        conn.execute(_PG_LOCK, {"k": _PG_LOCK_KEY})
    prev_hash = conn.execute(_LAST_HASH).scalar() or GENESIS_HASH
    out = []
    for values in rows:
        digest = _digest(prev_hash, _fields(values))
        key = conn.execute(_INSERT, {**values, "prev_hash": prev_hash, "hash": digest}).inserted_primary_key
        if key is None:  # every backend spinetrack runs on returns the new id
            raise RuntimeError("the database returned no id for the new audit row")
        row_id = key[0]
        out.append(AuditRow(id=row_id, **values, prev_hash=prev_hash, hash=digest))  # as stored (not in the session)
        prev_hash = digest
    return out


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    """PostgreSQL: the audit rows this transaction appended, written just before it commits."""
    pending = session.info.pop(_PENDING, None)
    if pending:
        _write(session.connection(), pending)


@event.listens_for(Session, "after_transaction_end")
def _drop_pending(session: Session, transaction: SessionTransaction) -> None:
    """A transaction that ends without committing (rolled back, closed) stores none of its
    audit rows, as none of its data."""
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


class BadAuditRow(NamedTuple):
    """One audit row that does not fit the chain, and why."""

    id: int
    reason: str


LINK_BROKEN = ("previous-hash link broken: the row before it was removed, a row was inserted, "
               "or two rows were written at once")
CONTENT_ALTERED = "row content does not match its hash (altered)"


@dataclass(frozen=True, slots=True)
class ChainVerification:
    """The outcome of :func:`verify_chain`: rows checked, and every row that does not fit.

    ``bad_rows`` lists the first ``max_listed`` bad rows in id order; ``n_bad`` counts them all.
    """

    ok: bool
    n_rows: int
    n_bad: int = 0
    bad_rows: tuple[BadAuditRow, ...] = ()

    @property
    def first_bad_id(self) -> int | None:
        return self.bad_rows[0].id if self.bad_rows else None

    @property
    def reason(self) -> str | None:
        return self.bad_rows[0].reason if self.bad_rows else None

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "rows_checked": self.n_rows, "bad_count": self.n_bad,
                "bad_rows": [{"id": b.id, "reason": b.reason} for b in self.bad_rows]}


_CHAIN_COLUMNS = (AuditRow.id, AuditRow.prev_hash, AuditRow.hash, AuditRow.at, AuditRow.actor, AuditRow.actor_role,
                  AuditRow.action, AuditRow.entity, AuditRow.entity_id, AuditRow.patient_id, AuditRow.detail)


def verify_chain(session: Session, *, batch: int = 10_000, max_listed: int = 1_000,
                 progress: Callable[[int, int], None] | None = None) -> ChainVerification:
    """Recompute every hash in id order and report every row that does not fit.

    A row's link is broken when its stored ``prev_hash`` is not the hash of the row before it (a
    row removed or inserted there, or a fork); its content is altered when its own hash does not
    match ``prev_hash`` and its fields. After a bad row the check goes on from that row's stored
    hash, so each removal, insertion or fork shows as one broken link and each altered row as
    one altered row, and later tampering is still found.

    Parameters
    ----------
    session:
        Reads only; verification of a long log is best run in a read-only transaction
        (:func:`spinetrack.store.session.read_only`) so that writers are not held up.
    batch:
        Rows fetched per query.
    max_listed:
        How many bad rows to list (all are counted).
    progress:
        Called with ``(rows checked, rows in the log)`` after each batch.

    Returns
    -------
    ChainVerification
        ``ok``, the rows checked, the number of bad rows and the first ``max_listed`` of them.

    Examples
    --------
    >>> from spinetrack.store.migrate import upgrade
    >>> from spinetrack.store.session import make_engine
    >>> engine = make_engine("sqlite://")
    >>> upgrade(engine)
    >>> with Session(engine) as s, s.begin():
    ...     _ = append(s, actor="cli:root", actor_role="system", action="verify", entity="audit_log")
    ...     verify_chain(s)
    ChainVerification(ok=True, n_rows=1, n_bad=0, bad_rows=())
    """
    total = int(session.execute(select(func.count()).select_from(AuditRow)).scalar_one()) if progress else 0
    expected = GENESIS_HASH
    n = n_bad = 0
    last_id = 0
    bad: list[BadAuditRow] = []
    while True:
        rows = session.execute(select(*_CHAIN_COLUMNS).where(AuditRow.id > last_id).order_by(AuditRow.id)
                               .limit(batch)).mappings().all()
        if not rows:
            return ChainVerification(n_bad == 0, n, n_bad, tuple(bad))
        for row in rows:
            reasons = []
            if row["prev_hash"] != expected:
                reasons.append(LINK_BROKEN)
            if _digest(row["prev_hash"], _fields(dict(row))) != row["hash"]:
                reasons.append(CONTENT_ALTERED)
            if reasons:
                n_bad += 1
                if len(bad) < max_listed:
                    bad.append(BadAuditRow(row["id"], "; ".join(reasons)))
            expected = row["hash"]
            n += 1
        last_id = rows[-1]["id"]
        if progress is not None:
            progress(n, max(total, n))
