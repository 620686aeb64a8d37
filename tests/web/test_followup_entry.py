"""The clinic's form for questionnaires taken by phone or on paper at any visit of an episode
(/clinic/patients/{id}/answers, spinetrack.web.routes.clinic_answers) through the TestClient, on
SQLite and PostgreSQL: opened from the patient page, every problem beside its field at once with what
was typed kept, nothing stored until all is valid, a scheduled visit completed by the entry, roles,
sites and CSRF.

The world (tests/web/conftest.build_world): a tubular discectomy 40 days ago, so the 2-week window
(days 1-28 of domain.pathway.TIMEPOINTS) has closed, the 6-week one (days 29-63) is open; a baseline
ODI with every section 3. Reference values: ODI 2.1a every section 3 -> 30 / 50 x 100 = 60, every
section 1 -> 10 / 50 x 100 = 20 (Fairbank JC, Pynsent PB, Spine 2000;25(22):2940-52); NRS: the
number given."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from spinetrack import clock
from spinetrack.store.tables import FollowupRow, PromResponseRow, SiteScheduleRow
from tests.web.conftest import ODI_ITEMS, World

Client = Callable[[str], TestClient]
SURGERY = clock.today() - dt.timedelta(days=40)


def post(c: TestClient, url: str, data: dict[str, Any]) -> Any:
    return c.post(url, data={**data, "csrf_token": c.headers["X-CSRF-Token"]}, follow_redirects=False)


def _day(days: int) -> str:
    return (SURGERY + dt.timedelta(days=days)).isoformat()


def _responses(app: Any) -> int:
    with app.state.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(PromResponseRow)).scalar_one())


def test_followup_entry_opens_from_the_patient_page_and_lists_the_project_timepoints(
        app: Any, world: World, client_for: Client) -> None:
    c = client_for("coordinator")
    pid, eid = world.patients["A"], world.episodes["A"]
    page = c.get(f"/clinic/patients/{pid}?episode={eid}")
    assert f'href="/clinic/patients/{pid}/answers?episode={eid}"' in page.text
    form = c.get(f"/clinic/patients/{pid}/answers?episode={eid}")
    assert form.status_code == 200
    options = re.findall(r'<select id="timepoint".*?</select>', form.text, re.S)[0]
    assert re.findall(r'<option value="([^"]*)"', options) == ["", "baseline", "2w", "6w", "3m", "6m", "12m", "24m",
                                                               "5y"]
    assert 'id="answers-form"' not in form.text  # no timepoint chosen yet
    baseline = c.get(f"/clinic/patients/{pid}/answers?episode={eid}&timepoint=baseline")
    stored = re.findall(r'<table class="data" id="stored-table">.*?</table>', baseline.text, re.S)[0]
    assert "Oswestry Disability Index" in stored and "60.0" in stored  # the world's baseline ODI, every section 3
    assert 'name="odi.walking"' not in baseline.text and 'name="nrs_back.pain"' in baseline.text
    assert "No visit is scheduled at this timepoint" in baseline.text


def test_followup_entry_lists_every_problem_beside_its_field_and_keeps_what_was_typed(
        app: Any, world: World, client_for: Client) -> None:
    c = client_for("clinician")
    pid, eid = world.patients["A"], world.episodes["A"]
    before = _responses(app)
    r = post(c, f"/clinic/patients/{pid}/answers", {
        "episode": str(eid), "timepoint": "2w", "source": "paper", "collected_on": _day(35),
        "nrs_back.pain": "11", "eq5d5l.MO": "9", "eq5d5l.SC": "2", "odi.walking": "1"})
    assert r.status_code == 422 and _responses(app) == before
    summary = re.findall(r'<div class="error error-summary" role="alert".*?</div>', r.text, re.S)[0]
    links = re.findall(r'<a href="#([^"]+)">([^<]+)</a>', summary)
    names = [n for n, _m in links]
    assert names == ["collected_on", "nrs_back.pain", "eq5d5l.MO", "eq5d5l.UA", "eq5d5l.PD", "eq5d5l.AD"]
    messages = dict(links)
    # the window of the 2-week timepoint (days 1-28) and the timepoint whose window holds day 35 (6 weeks)
    assert f"a date from {_day(1)} to {_day(28)}" in messages["collected_on"]
    assert "falls in the 6 weeks window" in messages["collected_on"]
    assert messages["nrs_back.pain"].startswith("Back pain (NRS 0-10), ")
    for name in names:  # each message beside its field, which points at it
        assert f'id="{name}-error"' in r.text
        assert re.search(rf'id="{re.escape(name)}"[^>]*aria-invalid="true"', r.text), name
    assert 'value="' + _day(35) + '"' in r.text
    assert re.search(r'<option value="2" selected>', re.findall(
        r'<select id="eq5d5l.SC".*?</select>', r.text, re.S)[0])  # the answer typed is still there
    assert "Nothing was stored." in r.text


def test_followup_entry_stores_an_unscheduled_visit_and_shows_its_scores(
        app: Any, world: World, client_for: Client) -> None:
    """ODI every section 1 -> 20; NRS back 4 -> 4 (module docstring)."""
    c = client_for("coordinator")
    pid, eid = world.patients["A"], world.episodes["A"]
    r = post(c, f"/clinic/patients/{pid}/answers", {
        "episode": str(eid), "timepoint": "2w", "source": "phone", "collected_on": _day(20), "nrs_back.pain": "4",
        **{f"odi.{item}": "1" for item in ODI_ITEMS}})
    assert r.status_code == 303, r.text[:2000]
    assert r.headers["location"] == f"/clinic/patients/{pid}/answers?episode={eid}&timepoint=2w&saved=1#stored"
    with app.state.engine.connect() as conn:
        got = {(row.instrument, row.source, row.collected_on.isoformat(), row.score) for row in conn.execute(
            select(PromResponseRow).where(PromResponseRow.episode_id == eid, PromResponseRow.timepoint == "2w"))}
    assert got == {("nrs_back", "phone", _day(20), 4.0), ("odi", "phone", _day(20), 20.0)}
    shown = c.get(r.headers["location"])
    assert "The answers are stored" in shown.text and "20.0" in shown.text
    again = post(c, f"/clinic/patients/{pid}/answers", {  # answered already: refused, not stored twice
        "episode": str(eid), "timepoint": "2w", "source": "phone", "collected_on": _day(20), "nrs_back.pain": "5"})
    assert again.status_code == 422 and "already answered at this timepoint" in again.text
    assert _responses(app) == 4  # the two world baselines and these two


def test_followup_entry_goes_to_the_open_scheduled_visit_and_completes_it(
        app: Any, world: World, client_for: Client) -> None:
    c = client_for("coordinator")
    pid, eid = world.patients["A"], world.episodes["A"]
    now = clock.utcnow()
    with app.state.store.transaction() as s:
        s.add(SiteScheduleRow(site_id=world.sites["A"], timepoint="6w", enabled=True, window_from_days=29,
                              window_to_days=63, reminder_offsets=[0], instruments=["nrs_back"], updated_by="test",
                              updated_at=now))
        f = FollowupRow(episode_id=eid, timepoint="6w", due_on=SURGERY + dt.timedelta(days=42),
                        opens_on=SURGERY + dt.timedelta(days=29), closes_on=SURGERY + dt.timedelta(days=63),
                        status="open", reminders_sent=0, unreachable=False, created_at=now, updated_at=now)
        s.add(f)
        s.flush()
        fid = f.id
    form = c.get(f"/clinic/patients/{pid}/answers?episode={eid}&timepoint=6w")
    assert "A scheduled 6 weeks visit waits for these answers" in form.text
    assert f'href="/clinic/followup/{fid}/answers"' in form.text
    assert re.findall(r'name="([a-z_0-9]+\.[A-Za-z_0-9]+)"', form.text) == ["nrs_back.pain"]  # the visit's own
    r = post(c, f"/clinic/patients/{pid}/answers", {"episode": str(eid), "timepoint": "6w", "source": "paper",
                                                    "collected_on": clock.today().isoformat(), "nrs_back.pain": "3"})
    assert r.status_code == 303
    with app.state.store.transaction() as s:
        assert s.get(FollowupRow, fid).status == "completed"  # type: ignore[union-attr]
    assert "is complete: no more reminders go out" in c.get(r.headers["location"]).text


def test_followup_entry_is_for_the_patient_s_site_with_its_csrf_token(
        app: Any, world: World, client_for: Client) -> None:
    pid, eid = world.patients["A"], world.episodes["A"]
    data = {"episode": str(eid), "timepoint": "2w", "source": "paper", "collected_on": _day(20), "nrs_back.pain": "4"}
    other = client_for("other_clinician")
    assert other.get(f"/clinic/patients/{pid}/answers").status_code == 404
    assert post(other, f"/clinic/patients/{pid}/answers", data).status_code == 404
    for role in ("researcher", "admin"):
        assert client_for(role).get(f"/clinic/patients/{pid}/answers").status_code == 403
    own = client_for("coordinator")
    token = own.headers.pop("X-CSRF-Token")
    no_token = own.post(f"/clinic/patients/{pid}/answers", data=data, follow_redirects=False)
    own.headers["X-CSRF-Token"] = token
    assert no_token.status_code in (401, 403) or no_token.headers.get("location", "").startswith("/login")
    assert _responses(app) == 2
    # another site's episode on the own patient's form: refused beside the field, nothing stored
    mixed = post(own, f"/clinic/patients/{pid}/answers", {**data, "episode": str(world.episodes["B"])})
    assert mixed.status_code == 422 and 'href="#episode"' in mixed.text
    assert own.get(f"/clinic/patients/{pid}/answers?episode={world.episodes['B']}").status_code == 404
    assert _responses(app) == 2
