"""SQLite connection settings of :func:`spinetrack.store.session.make_engine`: when the write lock
is taken, what read-only transactions hold, and durability.

Oracle: SQLite's documentation. https://www.sqlite.org/lang_transaction.html — ``BEGIN
IMMEDIATE`` takes the write (RESERVED) lock at once, a ``DEFERRED`` transaction only at its first
write; another writer meanwhile gets ``SQLITE_BUSY`` ("database is locked") once its busy
timeout runs out. https://www.sqlite.org/pragma.html#pragma_synchronous — ``synchronous`` reads
back 1 for NORMAL and 2 for FULL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from spinetrack.store import audit
from spinetrack.store.migrate import current_revision, head_revision, upgrade
from spinetrack.store.session import make_engine, read_only
from spinetrack.store.tables import AuditRow


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def _other_writer_locked_out(engine: Engine) -> bool:
    """Whether a second, plain sqlite3 connection (no busy wait) is refused the write lock."""
    other = sqlite3.connect(engine.url.database or "", timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return True
    finally:
        other.close()


def test_sqlite_transaction_holds_the_write_lock_from_its_first_read(sqlite_engine: Engine) -> None:
    """A store transaction that has only read (the audit log's last hash) already excludes other
    writers: nobody can append between its read and its write."""
    with Session(sqlite_engine) as s, s.begin():
        s.execute(select(AuditRow.hash).order_by(AuditRow.id.desc()).limit(1)).scalar()
        assert _other_writer_locked_out(sqlite_engine)
    assert not _other_writer_locked_out(sqlite_engine)


def test_sqlite_read_only_transaction_does_not_block_writers(sqlite_engine: Engine) -> None:
    with read_only(sqlite_engine).connect() as c, c.begin():
        c.execute(select(AuditRow.id).limit(1)).all()
        assert not _other_writer_locked_out(sqlite_engine)


def test_audit_append_refuses_a_read_only_sqlite_transaction(sqlite_engine: Engine) -> None:
    """Appending without the write lock could fork the chain, so it is a programming error."""
    with Session(read_only(sqlite_engine)) as s, s.begin(), pytest.raises(RuntimeError, match="read-only"):
        audit.append(s, actor="x", actor_role="system", action="read", entity="audit_log")


def test_sqlite_store_syncs_every_commit_to_disk(sqlite_engine: Engine) -> None:
    """``synchronous=FULL`` (2): a committed transaction survives a power cut."""
    with sqlite_engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA synchronous").scalar() == 2
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    normal = make_engine(str(sqlite_engine.url), sqlite_synchronous="NORMAL")
    with normal.connect() as c:
        assert c.exec_driver_sql("PRAGMA synchronous").scalar() == 1
    normal.dispose()


def test_in_memory_engine_migrates_and_nests_connections() -> None:
    """``sqlite://`` shares one connection per thread: a nested connection joins the open
    transaction instead of failing on a second BEGIN (status reads the schema revision inside
    its own read)."""
    engine = make_engine("sqlite://")
    upgrade(engine)
    with read_only(engine).connect() as c:
        c.execute(select(AuditRow.id).limit(1)).all()
        assert current_revision(engine) == head_revision()
    engine.dispose()


def test_sign_in_checks_the_password_without_holding_the_write_lock(sqlite_engine: Engine,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 takes a fifth of a second; a sign-in attempt (anyone can make one) must not keep
    every other writer waiting meanwhile."""
    from spinetrack.errors import AuthenticationError
    from spinetrack.store import signin as signin_module
    from spinetrack.store.access import Access
    from spinetrack.store.repositories import Store

    real = signin_module._HASHER
    locked_during_check: list[bool] = []

    class Probe:
        def verify(self, hash_: str, password: str) -> bool:
            locked_during_check.append(_other_writer_locked_out(sqlite_engine))
            return bool(real.verify(hash_, password))

        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

    monkeypatch.setattr(signin_module, "_HASHER", Probe())
    with pytest.raises(AuthenticationError):
        Access(Store(sqlite_engine)).login("nobody", "not-the-password", client="198.51.100.7")
    assert locked_during_check == [False]
