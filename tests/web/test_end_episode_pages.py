"""Ending an episode's follow-up through the web (SQLite and PostgreSQL): the patient page's form
(CSRF, POST/redirect/GET, a refusal naming the field, "Follow-up ended on …") and
``POST /api/v1/episodes/{id}/end`` (the episode answers ``ended_on`` and ``end_reason``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from spinetrack import clock
from spinetrack.i18n import format_date
from spinetrack.store.tables import AuditRow, EpisodeRow
from tests.web.conftest import World

Client = Callable[[str], TestClient]
TODAY = clock.today()


def _ended(app: Any, episode_id: int) -> tuple[Any, Any]:
    with app.state.engine.connect() as c:
        row = c.execute(select(EpisodeRow.ended_on, EpisodeRow.end_reason).where(EpisodeRow.id == episode_id)).one()
        return row.ended_on, row.end_reason


def test_the_patient_page_ends_an_episodes_follow_up(app: Any, world: World, client_for: Client) -> None:
    c = client_for("coordinator")
    pid, eid = world.patients["A"], world.episodes["A"]
    page = f"/clinic/patients/{pid}?episode={eid}"
    url = f"/clinic/patients/{pid}/episodes/{eid}/end"
    html = c.get(page).text
    assert "End follow-up for this episode" in html and f'action="{url}"' in html

    form = {"ended_on": TODAY.isoformat(), "end_reason": "care_transferred"}
    token = c.headers.pop("X-CSRF-Token")  # the client sends it as a header too: without either, refused
    refused = c.post(url, data=form, follow_redirects=False)
    c.headers["X-CSRF-Token"] = token
    assert refused.status_code in (401, 403) or refused.headers.get("location", "").startswith("/login")
    assert _ended(app, eid) == (None, None)
    bad = c.post(url, data={**form, "end_reason": "lost", "csrf_token": c.headers["X-CSRF-Token"]},
                 follow_redirects=False)
    assert bad.status_code == 422 and "episode.end_reason" in bad.text and 'aria-invalid="true"' in bad.text
    assert _ended(app, eid) == (None, None)

    r = c.post(url, data={**form, "csrf_token": c.headers["X-CSRF-Token"]}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith(f"/clinic/patients/{pid}?episode={eid}")
    assert _ended(app, eid) == (TODAY, "care_transferred")
    shown = c.get(r.headers["location"]).text
    assert f"Follow-up ended on {format_date(TODAY)} (care transferred elsewhere)." in shown
    assert "End follow-up for this episode" not in shown
    # a second end (another tab) is a conflict, shown on the page; nothing changes
    again = c.post(url, data={**form, "end_reason": "other", "csrf_token": c.headers["X-CSRF-Token"]},
                   follow_redirects=False)
    assert again.status_code == 409 and "already ended" in again.text
    assert _ended(app, eid) == (TODAY, "care_transferred")

    # undo (recorded by mistake): the form is offered again; a second undo is a conflict
    undo = f"{url}/undo"
    assert f'action="{undo}"' in shown
    r = c.post(undo, data={"csrf_token": c.headers["X-CSRF-Token"]}, follow_redirects=False)
    assert r.status_code == 303 and _ended(app, eid) == (None, None)
    assert "End follow-up for this episode" in c.get(r.headers["location"]).text
    assert c.post(undo, data={"csrf_token": c.headers["X-CSRF-Token"]}, follow_redirects=False).status_code == 409

    other = client_for("other_clinician")  # site B's clinician: site A's episode is not found
    assert other.post(url, data={**form, "csrf_token": other.headers["X-CSRF-Token"]},
                      follow_redirects=False).status_code == 404


def test_the_api_ends_an_episode_and_shows_it(app: Any, world: World, client_for: Client) -> None:
    c = client_for("clinician")
    eid = world.episodes["A"]
    assert c.get(f"/api/v1/episodes/{eid}").json()["ended_on"] is None
    bad = c.post(f"/api/v1/episodes/{eid}/end", json={"ended_on": "9999-12-31", "reason": "died"})
    assert bad.status_code == 422 and "episode.ended_on" in bad.text
    r = c.post(f"/api/v1/episodes/{eid}/end", json={"ended_on": TODAY.isoformat(), "reason": "withdrew"})
    assert r.status_code == 200, r.text
    assert (r.json()["id"], r.json()["ended_on"], r.json()["end_reason"]) == (eid, TODAY.isoformat(), "withdrew")
    assert c.get(f"/api/v1/episodes/{eid}").json()["end_reason"] == "withdrew"
    assert c.post(f"/api/v1/episodes/{eid}/end", json={"ended_on": TODAY.isoformat(), "reason": "died"}
                  ).status_code == 409
    assert client_for("researcher").post(f"/api/v1/episodes/{eid}/end", json={
        "ended_on": TODAY.isoformat(), "reason": "died"}).status_code == 403
    with app.state.engine.connect() as conn:
        rows = conn.execute(select(AuditRow.actor, AuditRow.detail).where(
            AuditRow.entity == "episode", AuditRow.action == "update")).all()
    assert len(rows) == 1 and rows[0].detail["end_reason"] == "withdrew"
