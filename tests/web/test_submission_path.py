"""A PROM submission over HTTP is one transaction.

The oracle is the requirement itself: resolving the patient session, the CSRF and
idempotency checks, scoring, the response with its audit row, the draft's removal and the
invitation's completion with its audit row are all or nothing, in one database transaction.
Before this change they were seven transactions (a failure while spending the invitation left the
response stored, and a submission committed six times); these tests fail on that code.
On both backends (the ``engine`` fixture); on SQLite concurrent submissions share a commit
(a group commit, each in its own savepoint), which the concurrent test exercises.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from typer.testing import CliRunner

from spinetrack.cli import app as cli_app
from spinetrack.store import access as access_module
from spinetrack.store import audit
from spinetrack.store.repositories import Actor
from spinetrack.store.tables import AuditRow, InvitationRow, PromResponseRow, ResponseDraftRow
from tests.web.conftest import World
from tests.web.test_api import open_patient_session

V1 = "/api/v1"
NRS = {"pain": 4}


def _count(app: Any, *where: Any) -> int:
    with app.state.engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(PromResponseRow).where(*where)).scalar_one())


def _audit(app: Any, action: str, entity: str) -> int:
    with app.state.engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(AuditRow).where(
            AuditRow.action == action, AuditRow.entity == entity)).scalar_one())


@pytest.fixture
def one_question_visit(app: Any, world: World) -> tuple[int, str]:
    """A second open 6-week invitation at site A with one questionnaire (NRS leg): its first
    submission is also its last, so it spends the invitation."""
    actor = Actor("setup", "clinician", world.sites["A"])
    return app.state.access.create_invitation(actor, world.episodes["A"], timepoint="6w",
                                              instrument_codes=["nrs_leg"])


@pytest.fixture
def commits(app: Any) -> Iterator[list[int]]:
    """Commits of the app's engine, counted with SQLAlchemy's ``commit`` event."""
    seen: list[int] = []

    def on_commit(_conn: Any) -> None:
        seen.append(1)

    event.listen(app.state.engine, "commit", on_commit)
    yield seen
    event.remove(app.state.engine, "commit", on_commit)


def test_submission_over_http_commits_once(app: Any, world: World, commits: list[int]) -> None:
    """Oracle: one transaction per submission -> exactly one COMMIT, replay included."""
    phone = open_patient_session(app, world.invitations["A"])
    commits.clear()
    r = phone.post(f"{V1}/visit/responses", json={"instrument": "nrs_back", "answers": NRS},
                   headers={"Idempotency-Key": "one-commit"})
    assert r.status_code == 201, r.text
    assert len(commits) == 1
    commits.clear()
    again = phone.post(f"{V1}/visit/responses", json={"instrument": "nrs_back", "answers": NRS},
                       headers={"Idempotency-Key": "one-commit"})
    assert again.status_code == 200 and again.json()["response_id"] == r.json()["response_id"]
    assert len(commits) == 1


def test_failure_while_spending_the_invitation_stores_no_response(
        app: Any, world: World, one_question_visit: tuple[int, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Oracle: all or nothing. The last questionnaire's audit row for the invitation's
    completion fails: no response, no 'create' audit row, the invitation still open, and the
    draft kept; the same submission then goes through once the fault is gone."""
    inv_id, token = one_question_visit
    phone = open_patient_session(app, token)
    assert phone.put(f"{V1}/visit/drafts/nrs_leg", json={"answers": NRS}).status_code == 200
    creates = _audit(app, "create", "prom_response")
    real_append = audit.append

    def failing_append(session: Any, **kw: Any) -> Any:
        if kw.get("action") == "complete" and kw.get("entity") == "invitation":
            raise RuntimeError("injected fault while spending the invitation")
        return real_append(session, **kw)

    monkeypatch.setattr(access_module.audit, "append", failing_append)
    broken = TestClient(app, base_url="http://testserver", raise_server_exceptions=False,
                        cookies=dict(phone.cookies), headers=dict(phone.headers))
    r = broken.post(f"{V1}/visit/responses", json={"instrument": "nrs_leg", "answers": NRS},
                    headers={"Idempotency-Key": "fault-1"})
    assert r.status_code == 500
    assert _count(app, PromResponseRow.episode_id == world.episodes["A"], PromResponseRow.timepoint == "6w",
                  PromResponseRow.instrument == "nrs_leg") == 0
    assert _audit(app, "create", "prom_response") == creates
    with app.state.engine.connect() as c:
        assert c.execute(select(InvitationRow.completed_at).where(InvitationRow.id == inv_id)).scalar() is None
        assert c.execute(select(func.count()).select_from(ResponseDraftRow).where(
            ResponseDraftRow.invitation_id == inv_id)).scalar_one() == 1

    monkeypatch.setattr(access_module.audit, "append", real_append)
    ok = phone.post(f"{V1}/visit/responses", json={"instrument": "nrs_leg", "answers": NRS},
                    headers={"Idempotency-Key": "fault-1"})
    assert ok.status_code == 201 and ok.json()["done"] is True and ok.json()["due"] == []
    assert _audit(app, "create", "prom_response") == creates + 1
    assert _audit(app, "complete", "invitation") == 1
    with app.state.engine.connect() as c:
        assert c.execute(select(InvitationRow.completed_at).where(InvitationRow.id == inv_id)).scalar() is not None
        assert c.execute(select(func.count()).select_from(ResponseDraftRow).where(
            ResponseDraftRow.invitation_id == inv_id)).scalar_one() == 0


def test_wrong_csrf_token_or_conflicting_replay_stores_nothing(app: Any, world: World) -> None:
    """The CSRF check runs inside the transaction, before any write: 401 and nothing stored. A
    key reused with other answers is 409; without a session cookie, 401 at once."""
    phone = open_patient_session(app, world.invitations["A"])
    forged = phone.post(f"{V1}/visit/responses", json={"instrument": "nrs_back", "answers": NRS},
                        headers={"Idempotency-Key": "csrf-1", "X-CSRF-Token": "forged"})
    assert forged.status_code == 401 and "CSRF" in forged.text
    assert _count(app, PromResponseRow.episode_id == world.episodes["A"], PromResponseRow.timepoint == "6w") == 0
    first = phone.post(f"{V1}/visit/responses", json={"instrument": "nrs_back", "answers": NRS},
                       headers={"Idempotency-Key": "csrf-1"})
    assert first.status_code == 201 and first.json()["due"] == ["odi", "eq5d5l"] and first.json()["done"] is False
    other = phone.post(f"{V1}/visit/responses", json={"instrument": "nrs_back", "answers": {"pain": 9}},
                       headers={"Idempotency-Key": "csrf-1"})
    assert other.status_code == 409
    with TestClient(app, base_url="http://testserver") as stranger:
        anonymous = stranger.post(f"{V1}/visit/responses", json={"instrument": "nrs_back", "answers": NRS})
        assert anonymous.status_code == 401
    assert _count(app, PromResponseRow.episode_id == world.episodes["A"], PromResponseRow.timepoint == "6w") == 1


def test_expired_session_is_refused_before_anything_is_stored(app: Any, world: World) -> None:
    """The session expiry rules hold in the one transaction: past its expiry an open visit takes
    no new submission (401)."""
    phone = open_patient_session(app, world.invitations["A"])
    with app.state.engine.begin() as c:
        c.execute(InvitationRow.__table__.update().values(expires_at=dt.datetime(2000, 1, 1)))
    r = phone.post(f"{V1}/visit/responses", json={"instrument": "nrs_back", "answers": NRS},
                   headers={"Idempotency-Key": "late-1"})
    assert r.status_code == 401
    assert _count(app, PromResponseRow.episode_id == world.episodes["A"], PromResponseRow.timepoint == "6w") == 0


def test_concurrent_submissions_each_all_or_nothing_and_one_chain(
        app: Any, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Twelve one-questionnaire baseline visits (twelve episodes of patient A, no procedure yet)
    submitted at once from twelve threads, one of which fails
    while spending its invitation: the other eleven are stored and spent, the failing one leaves
    nothing, and the audit chain verifies (on SQLite the submissions share commits, each in its
    own savepoint)."""
    actor = Actor("setup", "clinician", world.sites["A"])
    access = app.state.access
    views = []
    enrolled = (dt.date.today() - dt.timedelta(days=7)).isoformat()
    for _ in range(12):
        eid = app.state.store.add_episode(actor, world.patients["A"], {
            "diagnosis_code": "M51.16", "levels": "L4-L5", "enrolled_on": enrolled, "treatment": "mis",
            "treatment_family": "discectomy"})
        _, token = access.create_invitation(actor, eid, timepoint="baseline", instrument_codes=["nrs_back"])
        views.append(access.open_invitation(token))
    doomed = views[5][1].invitation_id
    real_append = audit.append

    def failing_append(session: Any, **kw: Any) -> Any:
        if kw.get("action") == "complete" and kw.get("entity_id") == doomed:
            raise RuntimeError("injected fault")
        return real_append(session, **kw)

    monkeypatch.setattr(access_module.audit, "append", failing_append)
    start = threading.Barrier(len(views))
    outcome: dict[int, Any] = {}

    def submit(i: int) -> None:
        session, _view = views[i]
        start.wait()
        try:
            outcome[i] = access.submit_visit(session, "nrs_back", {"pain": i % 11}, idempotency_key=f"k{i}",
                                             authorize=None)
        except RuntimeError as exc:
            outcome[i] = exc

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(len(views))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert isinstance(outcome[5], RuntimeError)
    stored = [i for i in range(len(views)) if i != 5]
    assert all(outcome[i].created and outcome[i].view.done for i in stored)
    with app.state.engine.connect() as c:
        by_key = dict(c.execute(select(PromResponseRow.idempotency_key, PromResponseRow.id).where(
            PromResponseRow.idempotency_key.like("k%"))).all())
        spent = dict(c.execute(select(InvitationRow.id, InvitationRow.completed_at).where(
            InvitationRow.id.in_([v.invitation_id for _, v in views]))).all())
    assert sorted(by_key) == sorted(f"k{i}" for i in stored)
    assert all(by_key[f"k{i}"] == outcome[i].response_id for i in stored)
    assert spent[doomed] is None and all(spent[views[i][1].invitation_id] is not None for i in stored)
    with app.state.store.transaction() as s:
        chain = audit.verify_chain(s)
    assert chain.ok, chain


def test_serve_refuses_several_workers_on_sqlite(tmp_path: Any) -> None:
    """SQLite has one writer: ``serve --workers 2`` on it stops with a plain message (exit 2)."""
    result = CliRunner().invoke(cli_app, ["serve", "--workers", "2", "--database-url",
                                          f"sqlite:///{tmp_path / 'one-writer.db'}"])
    assert result.exit_code == 2
    assert "SQLite has one writer" in " ".join(result.output.split())
