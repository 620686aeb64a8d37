"""The patient home pages (routes/patient_home.py): a link opens the home without signing anyone
out, a visit started from the home is answered on the usual questionnaire pages and leads back
home, the opt-out asks before it acts, an ended home offers a fresh link with the same answer for
everyone, the decision aid only once released, and a link made before its window tells the
dates. SQLite and PostgreSQL (the ``engine`` fixture)."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from spinetrack import clock
from spinetrack.store.home import hash_link_token
from spinetrack.store.repositories import Actor
from spinetrack.store.tables import (
    AuditRow,
    EpisodeRow,
    FollowupRow,
    InvitationRow,
    OutboxRow,
    PatientIdentityRow,
    PatientLinkRow,
    ScreeningAssessmentRow,
    SiteRow,
)
from tests.web.conftest import World
from tests.web.test_patient_pages import csrf_of, post_answer, review_and_submit


def _link(app: Any, eid: int, created_at: dt.datetime | None = None) -> str:
    token = secrets.token_urlsafe(32)
    with app.state.store.transaction() as s:
        s.add(PatientLinkRow(token_hash=hash_link_token(token), episode_id=eid, purpose="message",
                             created_by="test", created_at=created_at or clock.utcnow(), revoked=False))
    return token


def _invitation_id(app: Any, eid: int) -> int:
    with app.state.engine.connect() as c:
        return int(c.execute(select(InvitationRow.id).where(InvitationRow.episode_id == eid,
                                                            InvitationRow.timepoint == "6w")).scalar_one())


def test_the_link_opens_the_home_and_opening_it_again_signs_nobody_out(app: Any, world: World) -> None:
    eid = world.episodes["A"]
    with app.state.store.transaction() as s:
        site = s.get(SiteRow, world.sites["A"])
        assert site is not None
        site.contact_phone, site.contact_email = "01632 960001", "followup@site-a.example.org"
    token = _link(app, eid)
    phone, laptop = TestClient(app), TestClient(app)
    r = phone.get(f"/p/h/{token}")
    assert r.status_code == 200 and "Your page" in r.text and "st_home=" in r.headers["set-cookie"]
    assert "01632 960001" in r.text and "followup@site-a.example.org" in r.text and "Site A" in r.text
    assert f'action="/p/home/visit/{_invitation_id(app, eid)}"' in r.text  # the open 6-week visit
    again = phone.get(f"/p/h/{token}")  # the same browser: its session kept, no new cookie
    assert again.status_code == 200 and "set-cookie" not in again.headers
    assert laptop.get(f"/p/h/{token}").status_code == 200  # another device (or a mail scanner)
    assert phone.get("/p/home").status_code == 200 and laptop.get("/p/home").status_code == 200
    assert TestClient(app).get("/p/h/not-a-valid-token").status_code == 401
    assert TestClient(app).get("/p/home").status_code == 401
    leave = phone.post("/p/home/leave", data={"csrf_token": csrf_of(again.text)})
    assert leave.status_code == 200 and phone.get("/p/home").status_code == 401
    assert laptop.get("/p/home").status_code == 200
    phone.close()
    laptop.close()


def test_a_visit_started_from_the_home_is_answered_and_leads_back_home(app: Any, world: World) -> None:
    eid = world.episodes["A"]
    token = _link(app, eid)
    with TestClient(app) as c:
        home = c.get(f"/p/h/{token}")
        inv = _invitation_id(app, eid)
        refused = c.post(f"/p/home/visit/{inv}", data={}, follow_redirects=False)
        assert refused.status_code == 401  # no CSRF token
        r = c.post(f"/p/home/visit/{inv}", data={"csrf_token": csrf_of(home.text)}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/p/visit" and "st_patient=" in r.headers["set-cookie"]
        visit = c.get("/p/visit")
        assert visit.status_code == 200 and 'href="/p/home"' in visit.text
        for code, n in (("odi", 10), ("nrs_back", 1)):
            for step in range(1, n + 1):
                assert post_answer(c, code, step, 2).status_code == 303
            assert review_and_submit(c, code)[0].status_code == 303
        for item in ("MO", "SC", "UA", "PD", "AD"):
            assert post_answer(c, "eq5d5l", ["MO", "SC", "UA", "PD", "AD"].index(item) + 1, 1).status_code == 303
        assert post_answer(c, "eq5d5l", 6, 80).status_code == 303
        submitted, _ = review_and_submit(c, "eq5d5l")
        done = c.get(submitted.headers["location"])
        assert "every questionnaire" in done.text and 'href="/p/home">Back to your page' in done.text
        after = c.get("/p/home")
        assert after.status_code == 200 and 'class="badge done"' in after.text
        assert f'action="/p/home/visit/{inv}"' not in after.text
        results = c.get("/p/home/results")
        assert results.status_code == 200 and "Your progress" in results.text and 'href="/p/home"' in results.text
        assert "from 60 to 40" in results.text  # ODI: baseline all 3 → 60 %; all 2 → 40 % (Fairbank & Pynsent 2000)
    with app.state.engine.connect() as conn:
        actors = {a for a, in conn.execute(select(AuditRow.actor).where(AuditRow.patient_id == world.patients["A"]))}
    assert f"patient:home/{eid}" in actors


def test_the_opt_out_asks_first_then_stops_the_followups(app: Any, world: World) -> None:
    eid, pid = world.episodes["A"], world.patients["A"]
    today = clock.today()
    with app.state.store.transaction() as s:
        s.add(FollowupRow(episode_id=eid, timepoint="3m", due_on=today + dt.timedelta(days=50),
                          opens_on=today + dt.timedelta(days=24), closes_on=today + dt.timedelta(days=96),
                          status="pending", reminders_sent=0, unreachable=False))
    token = _link(app, eid)
    with TestClient(app) as c:
        page = c.get(f"/p/h/{token}/stop")
        assert page.status_code == 200 and "Yes, stop the messages" in page.text
        with app.state.engine.connect() as conn:
            assert conn.execute(select(PatientIdentityRow.opted_out_at).where(
                PatientIdentityRow.patient_id == pid)).scalar_one() is None  # a GET changes nothing
        r = c.post(f"/p/h/{token}/stop")
        assert r.status_code == 200 and "Messages stopped" in r.text
        assert c.post("/p/h/not-a-valid-token/stop").status_code == 401
    with app.state.engine.connect() as conn:
        assert conn.execute(select(PatientIdentityRow.opted_out_at).where(
            PatientIdentityRow.patient_id == pid)).scalar_one() is not None
        assert conn.execute(select(FollowupRow.status, FollowupRow.stop_reason)).one() == ("stopped", "opted_out")


def test_an_ended_home_offers_a_fresh_link_with_the_same_answer_for_everyone(app: Any, world: World) -> None:
    eid, pid = world.episodes["A"], world.patients["A"]
    with app.state.store.transaction() as s:
        s.get(PatientIdentityRow, pid).email = "patient.a@example.org"  # type: ignore[union-attr]
    token = _link(app, eid)
    app.state.access.patient_access_days = -30  # every window closed more than the access period ago
    with TestClient(app) as c:
        page = c.get(f"/p/h/{token}")
        assert page.status_code == 410 and "Your page has closed" in page.text and "E-mail me a new link" in page.text
        known = c.post(f"/p/h/{token}/new-link")
        unknown = c.post(f"/p/h/{'x' * 43}/new-link")
        assert known.status_code == unknown.status_code == 200
        strip = re.compile(r'name="(?:csrf_token|next)" value="[^"]*"')  # the page's own address
        assert strip.sub("", known.text) == strip.sub("", unknown.text)
    with app.state.engine.connect() as conn:
        rows = conn.execute(select(OutboxRow.kind, OutboxRow.episode_id, OutboxRow.status)).all()
    assert [tuple(r) for r in rows] == [("new_link", eid, "queued")]


def test_the_decision_aid_opens_only_once_released_and_screened(app: Any, world: World) -> None:
    eid = world.episodes["A"]
    token = _link(app, eid)
    with TestClient(app) as c:
        home = c.get(f"/p/h/{token}")
        assert "/p/home/decision-aid" not in home.text
        assert c.get("/p/home/decision-aid").status_code == 404
        with app.state.store.transaction() as s:
            s.get(EpisodeRow, eid).decision_aid_released_at = clock.utcnow()  # type: ignore[union-attr]
            s.add(ScreeningAssessmentRow(episode_id=eid, assessed_on=clock.today(), assessed_by="a.clinician",
                                         answers={}))
        assert 'href="/p/home/decision-aid"' in c.get("/p/home").text
        aid = c.get("/p/home/decision-aid")
        assert aid.status_code == 200 and 'id="decision-aid"' in aid.text
        # the home session is not a staff session: the clinic's pages stay closed
        assert c.get(f"/clinic/patients/{world.patients['A']}/decision-aid", follow_redirects=False).status_code in (
            303, 401)


def test_a_link_made_before_its_window_tells_the_dates(app: Any, world: World) -> None:
    """World: operated 40 days ago; the 3-month window opens on day 64 (``domain.pathway.TIMEPOINTS``)."""
    from babel.dates import format_date

    actor = Actor("setup", "clinician", world.sites["A"])
    _, token = app.state.access.create_invitation(actor, world.episodes["A"], timepoint="3m",
                                                  instrument_codes=["nrs_back"])
    opens = clock.today() + dt.timedelta(days=24)
    with TestClient(app) as c:
        r = c.get(f"/p/{token}", follow_redirects=False)
        assert r.status_code == 200 and "not open yet" in r.text
        # the date in words (Unicode CLDR's long format of the page's language, as Babel ships it)
        assert f"opens on {format_date(opens, 'long', locale='en')}" in r.text and "set-cookie" not in r.headers


def test_the_api_follows_the_link_rules(app: Any, world: World, client_for: Any) -> None:
    """World: operated 40 days ago. 12 months opens on day 274 (far ahead), baseline closed at the
    operation, 3 months opens on day 64 (within 28 days: the link waits, valid 14 days from then)."""
    c = client_for("clinician")
    url = f"/api/v1/episodes/{world.episodes['A']}/invitations"
    for timepoint, words in (("12m", "more than 28 days"), ("baseline", "closed on")):
        r = c.post(url, json={"timepoint": timepoint, "instruments": ["odi"]})
        assert r.status_code == 422 and "invitation.timepoint" in r.text and words in r.text, r.text
    r = c.post(url, json={"timepoint": "3m", "instruments": ["odi"]})
    assert r.status_code == 201, r.text
    opens = clock.today() + dt.timedelta(days=24)
    assert r.json()["expires_at"].startswith((opens + dt.timedelta(days=14)).isoformat())


def test_the_results_show_the_registry_band_of_the_same_treatment(app: Any, world: World) -> None:
    """Baseline ODI of six minimally invasive patients (all sections at 1, 2, 3, 3, 4, 5 → 20, 40,
    60, 60, 80, 100 %; Fairbank & Pynsent 2000): the shaded band is their interquartile range,
    numpy.percentile([20, 40, 60, 60, 80, 100], [25, 75]) (linear) = 45 and 75; the patient's
    own line is their 60."""
    import numpy as np

    from tests.web.chart_svg import band, charts, markers
    from tests.web.conftest import ODI_ITEMS

    store = app.state.store
    actor = Actor("setup", "clinician", world.sites["A"])
    scores = []
    for value in (1, 2, 4, 5):
        pid = store.add_patient(actor, world.sites["A"], {"birth_year": 1970, "sex": "male"})
        eid = store.add_episode(actor, pid, {"diagnosis_code": "M51.16", "levels": "L4-L5", "enrolled_on": "2026-01-05",
                                             "treatment": "mis", "treatment_family": "discectomy"})
        store.submit_response(actor, eid, {"instrument": "odi", "timepoint": "baseline", "collected_on": "2026-01-06",
                                           "answers": dict.fromkeys(ODI_ITEMS, value)})
        scores.append(value * 20)
    expected = np.percentile([*scores, 60, 60], [25, 75])
    token = _link(app, world.episodes["A"])
    with TestClient(app) as c:
        c.get(f"/p/h/{token}")
        page = c.get("/p/home/results")
    assert page.status_code == 200 and "middle half of the registry" in page.text
    svg = charts(page.text)["chart-odi"]
    assert band(svg, "odi") == [(expected[0], expected[1])] and expected[1] == 75.0
    assert [(m.timepoint, round(m.plotted, 6)) for m in markers(svg)] == [("baseline", 60.0)]


def test_a_fresh_link_asked_for_arrives_by_mail_and_opens_the_home_again(app: Any, world: World) -> None:
    """An ended home → "E-mail me a new link" → the scheduler's sender delivers it to an aiosmtpd
    server on 127.0.0.1 → the new link opens the home (a new link opens access for the period again)."""
    import email
    import email.policy
    import socket

    from aiosmtpd.controller import Controller

    from spinetrack.followup import run
    from spinetrack.followup.channels import Channels, SmtpChannel

    class Inbox:
        def __init__(self) -> None:
            self.messages: list[Any] = []

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            self.messages.append((list(envelope.rcpt_tos),
                                  email.message_from_bytes(envelope.content, policy=email.policy.default)))
            return "250 Message accepted"

    eid, pid = world.episodes["A"], world.patients["A"]
    with app.state.store.transaction() as s:
        s.get(PatientIdentityRow, pid).email = "patient.a@example.org"  # type: ignore[union-attr]
    old = _link(app, eid, clock.utcnow() - dt.timedelta(days=200))
    app.state.access.patient_access_days = 7  # the world's visit link expires in 14 days: access ends in 21
    later = clock.utcnow() + dt.timedelta(days=30)
    assert app.state.access.open_patient_link(old, now=later).outcome == "ended"
    app.state.access.request_new_link(old, client="127.0.0.1", now=later)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        channels = Channels(email=SmtpChannel(host="127.0.0.1", port=port, mail_from="Site A <followup@a.example.org>"))
        report = run(app.state.store, now=later, channels=channels, link_base="http://testserver")
    finally:
        controller.stop()
    mails = [m for rcpt, m in inbox.messages if rcpt == ["patient.a@example.org"]]
    assert report.messages_failed == 0 and len(mails) == 1
    body = mails[0].get_body(preferencelist=("plain",)).get_content()
    [token] = set(re.findall(r"http://testserver/p/h/([A-Za-z0-9_-]{20,})(?![A-Za-z0-9_/-])", body))
    assert app.state.access.open_patient_link(token, now=later).outcome == "home"


def test_home_link_tokens_and_letter_codes_are_redacted_from_logs() -> None:
    """A letter's 12-character code is short enough to escape the long-segment rule: the home
    link's own pattern redacts it; the home's pages keep their paths."""
    from spinetrack.web.logredact import redact

    assert redact("GET /p/h/ABCD-EFGH-JKMN HTTP/1.1") == "GET /p/h/[redacted] HTTP/1.1"
    assert redact("POST /p/h/7Q2KX9MB4TZD/new-link") == "POST /p/h/[redacted]/new-link"
    assert redact(f"GET /p/h/{secrets.token_urlsafe(32)}/stop") == "GET /p/h/[redacted]/stop"
    assert redact("GET /p/home/visit/12") == "GET /p/home/visit/12"
