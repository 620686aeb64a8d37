"""Engine and session factory built from a database URL (never at import time).

SQLite connections get ``journal_mode=WAL``, ``foreign_keys=ON``, ``synchronous=FULL`` (a
committed transaction survives a power cut, not only a crash of the process) and a busy
timeout; the same models run on PostgreSQL (``postgresql+psycopg://…``).

On SQLite every transaction starts with ``BEGIN IMMEDIATE``, SQLAlchemy's documented recipe for
pysqlite (its own transaction handling is switched off and the engine's "begin" event emits the
``BEGIN``): the write lock is held from the first statement, so a transaction that reads and
then writes (the audit log's last hash, an idempotency key, a count of failed sign-ins) cannot
be interleaved with another writer. Every transaction of the operational store writes (each read
of patient data appends an audit row), so nothing is serialised that would not be anyway. A
long read that writes nothing (a snapshot export, the status counts) uses :func:`read_only`,
which begins a deferred transaction: one consistent WAL snapshot that never blocks writers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["make_engine", "make_session_factory", "read_only", "session_scope", "takes_write_lock"]

_SQLITE_BEGIN = "sqlite_begin"  # execution option: the BEGIN statement an SQLite transaction starts with


def _normalise_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def make_engine(url: str, *, sqlite_synchronous: str = "FULL", **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys, ``synchronous=FULL`` (``sqlite_synchronous``:
    ``NORMAL`` only to measure what FULL costs, bench/bench_crash.py), a busy timeout and
    ``BEGIN IMMEDIATE`` transactions on every connection (see the module docstring)."""
    if sqlite_synchronous not in ("FULL", "NORMAL"):
        raise ValueError(f"sqlite_synchronous must be FULL or NORMAL, not {sqlite_synchronous!r}")
    url = _normalise_url(url)
    kwargs.setdefault("json_serializer", _compact_json)
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # pysqlite emits no BEGIN/COMMIT of its own; _sqlite_begin does
            cur = dbapi_conn.cursor()
            if url not in ("sqlite://", "sqlite:///:memory:"):
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=10000")
            cur.execute(f"PRAGMA synchronous={sqlite_synchronous}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            options = conn.get_execution_options()
            if options.get("isolation_level") == "AUTOCOMMIT":
                return
            if conn.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
                return  # an in-memory database's one shared connection, nested: joins the open transaction
            conn.exec_driver_sql("BEGIN " + options.get(_SQLITE_BEGIN, "IMMEDIATE"))

    return engine


def takes_write_lock(conn: Connection) -> bool:
    """Whether an SQLite transaction on ``conn`` began with ``BEGIN IMMEDIATE`` (not :func:`read_only`)."""
    return conn.get_execution_options().get(_SQLITE_BEGIN, "IMMEDIATE") == "IMMEDIATE"


def read_only(engine: Engine) -> Engine:
    """The same engine (and connection pool) for transactions that only read: on SQLite they
    begin ``DEFERRED`` and take no write lock; elsewhere nothing changes.

    Examples
    --------
    >>> engine = make_engine("sqlite://")
    >>> with read_only(engine).connect() as c:
    ...     c.exec_driver_sql("SELECT 1").scalar()
    1
    """
    return engine.execution_options(**{_SQLITE_BEGIN: "DEFERRED"})


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit on success, roll back everything on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
