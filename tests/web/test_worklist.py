"""The follow-up worklist pages (/clinic/followup) through the TestClient, on SQLite and
PostgreSQL: roles, site scoping, CSRF, POST/redirect/GET, the CSV, phone entry and the
completeness plot."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from spinetrack import clock, i18n
from spinetrack.domain.pathway import TIMEPOINTS
from spinetrack.store.tables import (
    EpisodeRow,
    FollowupRow,
    OutboxRow,
    PatientIdentityRow,
    PatientRow,
    PromResponseRow,
)
from tests.web.conftest import World

Client = Callable[[str], TestClient]
WINDOWS = {tp.code: tp for tp in TIMEPOINTS}


def post(c: TestClient, url: str, data: dict[str, Any] | None = None) -> Any:
    return c.post(url, data={**(data or {}), "csrf_token": c.headers["X-CSRF-Token"]}, follow_redirects=False)


@pytest.fixture
def visits(app: Any, world: World) -> dict[str, int]:
    """Each site's episode (procedure 40 days ago) gets a 2-week visit (window closed: missed),
    a 6-week visit (open, due in 2 days: due) and a 3-month visit (upcoming); site A's patient
    has an e-mail address on file and agreed to be contacted."""
    out: dict[str, int] = {}
    now = dt.datetime(2026, 1, 1)
    with app.state.store.transaction() as s:
        for key in ("A", "B"):
            ep = s.get(EpisodeRow, world.episodes[key])
            assert ep is not None and ep.index_date is not None
            for tp in ("2w", "6w", "3m"):
                w = WINDOWS[tp]
                row = FollowupRow(episode_id=ep.id, timepoint=tp, due_on=ep.index_date + dt.timedelta(w.target_days),
                                  opens_on=ep.index_date + dt.timedelta(w.window_from_days),
                                  closes_on=ep.index_date + dt.timedelta(w.window_to_days),
                                  status="open" if tp == "6w" else "pending", reminders_sent=0, unreachable=False,
                                  created_at=now, updated_at=now)
                s.add(row)
                s.flush()
                out[f"{key}{tp}"] = row.id
        s.execute(update(PatientIdentityRow).where(PatientIdentityRow.patient_id == world.patients["A"])
                  .values(email="patient.a@example.org", channel="email", contact_consent=True))
    return out


def _outbox(app: Any) -> int:
    with app.state.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(OutboxRow)).scalar_one())


def _pseudo(app: Any, world: World, key: str) -> str:
    with app.state.engine.connect() as conn:
        return str(conn.execute(select(PatientRow.pseudo_id).where(PatientRow.id == world.patients[key])).scalar_one())


def test_worklist_is_refused_to_researchers_and_anonymous(app: Any, world: World, visits: dict[str, int],
                                                          client_for: Client) -> None:
    assert client_for("researcher").get("/clinic/followup").status_code == 403
    assert client_for("researcher").get("/clinic/followup.csv").status_code == 403
    assert client_for("anonymous").get("/clinic/followup", follow_redirects=False).status_code in (303, 401)
    assert post(client_for("admin"), f"/clinic/followup/{visits['A6w']}/resend").status_code == 403


def test_worklist_shows_own_site_with_names_and_refuses_admins(app: Any, world: World, visits: dict[str, int],
                                                               client_for: Client) -> None:
    a, b = _pseudo(app, world, "A"), _pseudo(app, world, "B")
    page = client_for("clinician").get("/clinic/followup")
    assert page.status_code == 200
    assert a in page.text and "Patient A Example" in page.text
    assert b not in page.text and "Patient B Example" not in page.text
    assert f'id="visit-{visits["A6w"]}" data-status="due"' in page.text
    assert f'id="visit-{visits["A2w"]}" data-status="missed"' in page.text
    assert f'id="visit-{visits["A3m"]}" data-status="upcoming"' in page.text
    assert "<svg" in page.text  # the 2-week windows closed: completeness has a month to plot
    admin = client_for("admin").get("/clinic/followup")  # admins see no patient data (README, security model)
    assert admin.status_code == 403 and a not in admin.text and b not in admin.text
    assert client_for("clinician").get(f"/clinic/followup?site={world.sites['B']}").status_code == 403
    only_due = client_for("coordinator").get("/clinic/followup?status=due").text
    assert f"visit-{visits['A6w']}" in only_due and f"visit-{visits['A2w']}" not in only_due


def test_worklist_actions_need_the_csrf_token_and_the_site(app: Any, world: World, visits: dict[str, int],
                                                           client_for: Client) -> None:
    c = client_for("coordinator")
    del c.headers["X-CSRF-Token"]  # a form without its token, then with a wrong one
    for data in ({}, {"csrf_token": "wrong"}):  # refused as unauthenticated: the page sends to the sign-in
        r = c.post(f"/clinic/followup/{visits['A6w']}/resend", data=data, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert _outbox(app) == 0
    other = client_for("other_clinician")
    assert post(other, f"/clinic/followup/{visits['A6w']}/resend").status_code == 404
    assert post(other, f"/clinic/followup/{visits['A6w']}/unreachable").status_code == 404
    assert _outbox(app) == 0


def test_resend_redirects_and_a_reload_sends_nothing_more(app: Any, world: World, visits: dict[str, int],
                                                          client_for: Client) -> None:
    c = client_for("coordinator")
    r = post(c, f"/clinic/followup/{visits['A6w']}/resend", {"back_status": "due"})
    assert r.status_code == 303 and r.headers["location"] == "/clinic/followup?status=due&notice=resent"
    assert _outbox(app) == 1
    for _ in range(2):  # reloading the page the redirect led to repeats nothing
        page = c.get(r.headers["location"])
        assert page.status_code == 200 and "The message is queued" in page.text
    assert _outbox(app) == 1
    assert "invitation 0 · email · queued" in page.text
    refused = post(c, f"/clinic/followup/{visits['A2w']}/resend")  # window closed
    assert refused.status_code == 422 and "followup.status" in refused.text
    assert _outbox(app) == 1


def test_mark_unreachable_stops_the_visit(app: Any, world: World, visits: dict[str, int], client_for: Client) -> None:
    c = client_for("clinician")
    assert post(c, f"/clinic/followup/{visits['A6w']}/unreachable").status_code == 303
    with app.state.engine.connect() as conn:
        row = conn.execute(select(FollowupRow.status, FollowupRow.stop_reason).where(
            FollowupRow.id == visits["A6w"])).one()
    assert tuple(row) == ("stopped", "unreachable")
    assert f'id="visit-{visits["A6w"]}" data-status="stopped"' in c.get("/clinic/followup").text


def test_worklist_csv_has_pseudonymous_ids_and_names_for_the_site_only(app: Any, world: World,
                                                                       visits: dict[str, int],
                                                                       client_for: Client) -> None:
    r = client_for("coordinator").get("/clinic/followup.csv?timepoint=6w")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    ep = visits["A6w"]
    with app.state.engine.connect() as conn:
        f = conn.execute(select(FollowupRow).where(FollowupRow.id == ep)).one()
    assert rows == [{"pseudo_id": _pseudo(app, world, "A"), "full_name": "Patient A Example", "site": "SITE-A",
                     "timepoint": "6w", "opens_on": f.opens_on.isoformat(), "due_on": f.due_on.isoformat(),
                     "closes_on": f.closes_on.isoformat(), "status": "due", "stop_reason": "", "messages_sent": "0",
                     "last_message_status": "", "last_sent_on": ""}]
    assert client_for("admin").get("/clinic/followup.csv").status_code == 403
    assert client_for("coordinator").get("/clinic/followup.csv?status=late").status_code == 422
    with app.state.store.transaction() as s:  # a name a spreadsheet would run as a formula is defused
        s.execute(update(PatientIdentityRow).where(PatientIdentityRow.patient_id == world.patients["A"])
                  .values(full_name="=HYPERLINK(\"http://x\")"))
    cell = next(csv.DictReader(io.StringIO(client_for("coordinator").get("/clinic/followup.csv?timepoint=6w").text)))
    assert cell["full_name"] == "'=HYPERLINK(\"http://x\")"


def test_status_api_reports_scheduled_visits(app: Any, world: World, visits: dict[str, int],
                                             client_for: Client) -> None:
    body = client_for("researcher").get("/api/v1/status").json()
    assert body["followup_visits"]["6w"]["due"] == 2 and body["followup_visits"]["2w"]["missed"] == 2
    assert [(r["timepoint"], r["eligible"], r["responded"]) for r in body["followup_scheduled_completeness"]] == [
        ("2w", 2, 0)]


def test_phone_answers_are_stored_or_nothing_is(app: Any, world: World, visits: dict[str, int],
                                                client_for: Client) -> None:
    c = client_for("coordinator")
    form = c.get(f"/clinic/followup/{visits['A6w']}/answers")
    assert form.status_code == 200 and 'name="odi.pain_intensity"' in form.text
    before = _responses(app)
    too_early = post(c, f"/clinic/followup/{visits['A6w']}/answers",
                     {"source": "phone", "collected_on": (clock.today() - dt.timedelta(days=30)).isoformat(),
                      "nrs_back.pain": "4"})
    assert too_early.status_code == 422 and "Nothing was stored" in too_early.text
    bad = post(c, f"/clinic/followup/{visits['A6w']}/answers",
               {"source": "phone", "collected_on": clock.today().isoformat(), "nrs_back.pain": "4",
                "eq5d5l.MO": "9"})
    assert bad.status_code == 422 and _responses(app) == before
    ok = post(c, f"/clinic/followup/{visits['A6w']}/answers",
              {"source": "paper", "collected_on": clock.today().isoformat(), "nrs_back.pain": "4"})
    assert ok.status_code == 303 and ok.headers["location"] == "/clinic/followup?notice=answers-saved"
    with app.state.engine.connect() as conn:
        got = conn.execute(select(PromResponseRow.instrument, PromResponseRow.source, PromResponseRow.score).where(
            PromResponseRow.episode_id == world.episodes["A"], PromResponseRow.timepoint == "6w")).all()
    assert [tuple(r) for r in got] == [("nrs_back", "paper", 4.0)]
    assert client_for("other_clinician").get(f"/clinic/followup/{visits['A6w']}/answers").status_code == 404


def _responses(app: Any) -> int:
    with app.state.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(PromResponseRow)).scalar_one())


def test_patient_page_lists_visits_and_records_contact_preferences(app: Any, world: World, visits: dict[str, int],
                                                               client_for: Client) -> None:
    c = client_for("coordinator")
    pid = world.patients["A"]
    page = c.get(f"/clinic/patients/{pid}")
    assert page.text.count('<tr data-status="') == 3 and '<tr data-status="due">' in page.text
    bad = post(c, f"/clinic/patients/{pid}/contact", {"channel": "sms", "contact_consent": "yes"})  # no phone
    assert bad.status_code == 422 and "contact.channel" in bad.text
    r = post(c, f"/clinic/patients/{pid}/contact", {"channel": "letter", "contact_consent": "yes",
                                                    "postal_address": "1 Example Road", "opted_out": "yes"})
    assert r.status_code == 303 and r.headers["location"].endswith("notice=contact-saved#contact")
    with app.state.engine.connect() as conn:
        row = conn.execute(select(PatientIdentityRow.channel, PatientIdentityRow.contact_consent,
                                  PatientIdentityRow.postal_address, PatientIdentityRow.opted_out_at)
                           .where(PatientIdentityRow.patient_id == pid)).one()
    assert row[:3] == ("letter", True, "1 Example Road") and row[3] is not None
    shown = c.get(r.headers["location"]).text
    # dates on the staff pages in the page's language (spinetrack.i18n.format_date, English by default)
    assert 'id="opted-out"' in shown and f"Opted out of follow-up messages on {i18n.format_date(row[3])}" in shown
    assert '<tr data-status="stopped">' in shown  # the opt-out stops the open visits
    assert post(client_for("other_clinician"), f"/clinic/patients/{pid}/contact",
                {"channel": "none", "contact_consent": "no"}).status_code == 404


def test_decision_aid_release_needs_a_screening_and_a_clinician(app: Any, world: World, client_for: Client) -> None:
    pid, eid = world.patients["A"], world.episodes["A"]
    url = f"/clinic/patients/{pid}/episodes/{eid}/decision-aid"
    c = client_for("clinician")
    assert "Record the red-flag screening first" in c.get(f"/clinic/patients/{pid}").text
    refused = post(c, url)
    assert refused.status_code == 422 and "screening" in refused.text
    assert post(client_for("coordinator"), url).status_code == 403
    answers = {"assessed_on": clock.today().isoformat()}
    assert post(c, f"/clinic/patients/{pid}/episodes/{eid}/screening", answers).status_code == 303
    r = post(c, url)
    assert r.status_code == 303 and "notice=aid-released" in r.headers["location"]
    with app.state.engine.connect() as conn:
        released = conn.execute(select(EpisodeRow.decision_aid_released_at).where(EpisodeRow.id == eid)).scalar_one()
    assert released is not None
    assert f"Released to the patient's home on {i18n.format_date(released)}" in c.get(r.headers["location"]).text
