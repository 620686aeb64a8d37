"""The audit chain under concurrent appends, and a verifier that reports every bad row, on SQLite
and PostgreSQL (the ``engine`` fixture runs each test on both backends).

Oracles: the chain's definition in :mod:`spinetrack.store.audit` (each row stores the hash of the
row before it, and its own hash over that link and its content), and SQLite's documented locking
(https://www.sqlite.org/lang_transaction.html): a deferred transaction takes no lock until its
first write, so two appenders can read the same last hash and fork the chain; ``BEGIN IMMEDIATE``
takes the write lock before the first read. PostgreSQL serialises appends with an advisory lock.
The concurrency tests use real threads on a file-backed database (an in-memory SQLite database
has a single connection and cannot show the race).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from typer.testing import CliRunner

from spinetrack.errors import AuthenticationError
from spinetrack.store import audit
from spinetrack.store.access import Access
from spinetrack.store.repositories import SYSTEM, Actor, Store
from spinetrack.store.tables import AuditRow

THREADS = 10
CLIN = Actor("dr.concurrent", "clinician", 1)


def _together(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(0..n-1)`` on ``n`` threads released at the same moment; re-raise any error."""
    start = threading.Barrier(n)

    def run(i: int) -> Any:
        start.wait()
        return work(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return [f.result() for f in [pool.submit(run, i) for i in range(n)]]


def _audit_rows(engine: Engine) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(AuditRow)).scalar_one())


def _verify(store: Store) -> audit.ChainVerification:
    with store.transaction() as s:
        return audit.verify_chain(s)


@pytest.fixture
def patient(engine: Engine) -> tuple[Store, int]:
    store = Store(engine)
    sid = store.add_site(SYSTEM, code="S1", name="Site one")
    pid = store.add_patient(CLIN, sid, {"birth_year": 1970, "sex": "male", "bmi": 26.0, "smoking": "never",
                                        "diabetes": False, "asa_grade": 2})
    return store, pid


def test_audit_chain_does_not_fork_under_concurrent_reads(engine: Engine, patient: tuple[Store, int]) -> None:
    """10 threads x 10 audited reads of one patient as one clinician (before the fix the chain broke at
    row 17 with 16 forks on SQLite). Every read appends one row; the chain must stay one line."""
    store, pid = patient
    before = _audit_rows(engine)

    def reads(_: int) -> None:
        for _ in range(10):
            store.get_patient(CLIN, pid)

    _together(THREADS, reads)
    result = _verify(store)
    assert result.ok, result
    assert result.bad_rows == () and result.n_bad == 0
    assert result.n_rows == _audit_rows(engine) == before + THREADS * 10


def test_audit_chain_does_not_fork_under_concurrent_failed_sign_ins(engine: Engine, patient: tuple[Store, int],
                                                                    _fast_password_hashing: None) -> None:
    """10 simultaneous failed sign-ins for unknown names (no account needed), each from its own
    address, three rounds: every one is audited and the chain stays intact. Cheap argon2
    parameters keep the threads in step (the production hash staggers them and hides the race
    more often)."""
    store, _ = patient
    access = Access(store)
    before = _audit_rows(engine)

    def fail(i: int) -> None:
        for round_ in range(3):
            with pytest.raises(AuthenticationError):
                access.login(f"nobody-{round_}-{i}", "not-the-password", client=f"198.51.100.{i}")

    _together(THREADS, fail)
    result = _verify(store)
    assert result.ok, result
    assert result.bad_rows == () and result.n_bad == 0 and result.n_rows == before + THREADS * 3
    with engine.connect() as c:
        failed = c.execute(select(func.count()).select_from(AuditRow).where(AuditRow.action == "login_failed"))
        assert failed.scalar_one() == THREADS * 3


def test_postgresql_writes_a_transactions_audit_rows_as_it_commits(engine: Engine, patient: tuple[Store, int]) -> None:
    """PostgreSQL: the chain's lock is taken at commit, not at the first append, so a transaction
    that has appended a row (and then goes on working) does not hold up other writers; its rows
    are written in order when it commits, after the rows of transactions that committed first,
    and a transaction that rolls back leaves none. Before, the second writer below waited for the
    first to end (the advisory lock was taken at the append)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises whole write transactions (BEGIN IMMEDIATE); nothing to defer")
    store, pid = patient
    before = _audit_rows(engine)
    with store.transaction() as slow:
        audit.append(slow, actor="slow", actor_role="system", action="read", entity="patient", patient_id=pid)
        audit.append(slow, actor="slow", actor_role="system", action="create", entity="note", patient_id=pid)
        assert _audit_rows(engine) == before  # not written yet
        other = threading.Thread(target=store.get_patient, args=(CLIN, pid))  # an audited read, committed
        other.start()
        other.join(timeout=20)
        assert not other.is_alive(), "the other writer waited for this transaction's lock"
        assert _audit_rows(engine) == before + 1
    with engine.connect() as c:
        rows = c.execute(select(AuditRow.actor, AuditRow.action).order_by(AuditRow.id)).all()[before:]
    assert [tuple(r) for r in rows] == [(CLIN.name, "read"), ("slow", "read"), ("slow", "create")]
    with pytest.raises(RuntimeError), store.transaction() as doomed:
        audit.append(doomed, actor="doomed", actor_role="system", action="read", entity="patient")
        raise RuntimeError("the work failed")
    assert _audit_rows(engine) == before + 3
    result = _verify(store)
    assert result.ok and result.n_rows == before + 3, result


def _tamper(engine: Engine, *statements: str) -> None:
    """Someone with database access switches the append-only guard off and rewrites history."""
    with engine.begin() as c:
        for verb in ("update", "delete"):
            if engine.dialect.name == "sqlite":
                c.execute(text(f"DROP TRIGGER audit_log_no_{verb}"))
            else:
                c.execute(text(f"ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_{verb}"))
        for sql in statements:
            c.execute(text(sql))


def _audited_history(store: Store, pid: int, reads: int) -> None:
    for _ in range(reads):
        store.get_patient(CLIN, pid)


def test_verify_chain_reports_every_bad_row(engine: Engine, patient: tuple[Store, int]) -> None:
    """An altered row (id 3) breaks its own content hash; a deleted row (id 7) breaks the link of the
    row after it (id 8); a row re-hashed after editing (id 10) breaks the link of id 11. All three
    are reported, each once, and the rows after each break are still checked."""
    store, pid = patient
    _audited_history(store, pid, 10)  # 12 rows: site, patient, 10 reads
    assert _verify(store).ok
    _tamper(engine,
            "UPDATE audit_log SET actor = 'someone.else' WHERE id = 3",
            "DELETE FROM audit_log WHERE id = 7",
            "UPDATE audit_log SET hash = '" + "f" * 64 + "' WHERE id = 10")
    result = _verify(store)
    assert not result.ok
    assert result.n_rows == 11 and result.n_bad == 4
    by_id = dict(result.bad_rows)
    assert sorted(by_id) == [3, 8, 10, 11]
    assert "altered" in by_id[3] and "altered" in by_id[10]
    assert "link" in by_id[8] and "link" in by_id[11]
    assert result.first_bad_id == 3


def test_verify_chain_keeps_a_bounded_list(engine: Engine, patient: tuple[Store, int]) -> None:
    """With more bad rows than the list keeps, the count is still exact."""
    store, pid = patient
    _audited_history(store, pid, 6)  # 8 rows
    _tamper(engine, "UPDATE audit_log SET actor = 'x' WHERE id > 2")
    with store.transaction() as s:
        result = audit.verify_chain(s, max_listed=2, batch=3)
    assert result.n_rows == 8 and result.n_bad == 6
    assert [bad.id for bad in result.bad_rows] == [3, 4]


def test_cli_audit_verify_json_lists_bad_rows(engine: Engine, patient: tuple[Store, int]) -> None:
    """``spinetrack audit verify --json``: exit 0 and ok on an intact chain, non-zero with every
    bad row after tampering; the verification itself is audited under the system actor."""
    from spinetrack.cli import app

    store, pid = patient
    _audited_history(store, pid, 4)  # 6 rows
    url = engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify", "--json", "--database-url", url])
    assert ok.exit_code == 0, ok.output
    doc = json.loads(ok.stdout)
    assert doc == {"ok": True, "rows_checked": 6, "bad_count": 0, "bad_rows": []}
    with engine.connect() as c:
        last = c.execute(select(AuditRow.action, AuditRow.entity, AuditRow.actor_role, AuditRow.detail)
                         .order_by(AuditRow.id.desc()).limit(1)).one()
    assert tuple(last) == ("verify", "audit_log", "system", {"ok": True, "rows_checked": 6, "bad_count": 0})

    _tamper(engine, "UPDATE audit_log SET actor = 'x' WHERE id = 2", "DELETE FROM audit_log WHERE id = 5")
    bad = runner.invoke(app, ["audit", "verify", "--json", "--database-url", url])
    assert bad.exit_code == 1, bad.output
    doc = json.loads(bad.stdout)
    assert doc["ok"] is False and doc["rows_checked"] == 6 and doc["bad_count"] == 2
    assert [(r["id"], "altered" in r["reason"]) for r in doc["bad_rows"]] == [(2, True), (6, False)]
    text_out = runner.invoke(app, ["audit", "verify", "--database-url", url])
    assert text_out.exit_code == 1
    assert "row 2" in text_out.output and "row 6" in text_out.output


def test_admin_audit_page_shows_every_bad_row(app: Any, world: Any, client_for: Callable[[str], Any]) -> None:
    """The admin page shows the count and each bad row's id and reason, as the CLI does."""
    _tamper(app.state.engine, "UPDATE audit_log SET actor = 'x' WHERE id = 2", "DELETE FROM audit_log WHERE id = 5")
    page = client_for("admin").get("/admin/audit")
    assert page.status_code == 200
    assert "BROKEN at row 2: 2 of" in page.text and "Verified" not in page.text
    table = page.text.split('id="chain-bad-rows"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr><td class="num">(\d+)</td><td>([^<]*)</td></tr>', table)
    assert [(int(i), "altered" in why, "link" in why) for i, why in rows] == [(2, True, False), (6, False, True)]
