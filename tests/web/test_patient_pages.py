"""Patient pages: invitation link, one question per screen, pause and resume, review and
idempotent submit, refusals (spent link, out-of-range value, CSRF, another patient's session)
and the results page. Runs on SQLite and PostgreSQL (the ``engine`` fixture).

Expected scores come from the instruments themselves (``instruments.get(code).score``); the
ODI numbers are the manual's formula (Fairbank & Pynsent, Spine 2000): all ten sections at 2
→ 20 / 50 × 100 = 40 %; the baseline of the ``world`` fixture (all sections at 3) is 60 %.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from spinetrack import clock, instruments
from spinetrack.config import Settings
from spinetrack.store.repositories import Actor
from spinetrack.store.tables import InvitationRow, PromResponseRow, ResponseDraftRow
from spinetrack.web.app import create_app
from spinetrack.web.errors import PATIENT_MESSAGES
from tests.web.chart_svg import charts, markers, values
from tests.web.conftest import ODI_ITEMS, World, build_world

EQ5D_ANSWERS = {"MO": 2, "SC": 1, "UA": 2, "PD": 3, "AD": 1, "vas": 70}


# --------------------------------------------------------------------------------- helpers

@pytest.fixture
def patient(app: Any) -> Iterator[Any]:
    """``patient(token)``: a fresh browser (TestClient) that opened this invitation link."""
    clients: list[TestClient] = []

    def make(token: str) -> TestClient:
        c = TestClient(app, base_url="http://testserver")
        clients.append(c)
        r = c.get(f"/p/{token}", follow_redirects=False)
        assert r.status_code == 303, r.text
        return c

    yield make
    for c in clients:
        c.close()


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token in the form"
    return m.group(1)


def key_of(html: str) -> str:
    m = re.search(r'name="idempotency_key" value="([^"]+)"', html)
    assert m, "no idempotency key in the review form"
    return m.group(1)


def post_answer(c: TestClient, instrument: str, step: int, answer: Any = None, action: str = "next") -> Any:
    """Answer one screen the way the browser does: read the form (and its CSRF token), post it."""
    page = c.get(f"/p/q/{instrument}?step={step}")
    assert page.status_code == 200, page.text
    data = {"csrf_token": csrf_of(page.text), "step": str(step), "action": action}
    if answer is not None:
        data["answer"] = str(answer)
    return c.post(f"/p/q/{instrument}", data=data, follow_redirects=False)


def review_and_submit(c: TestClient, instrument: str) -> tuple[Any, dict[str, str]]:
    n = len(instruments.get(instrument).definition.items)
    review = c.get(f"/p/q/{instrument}?step={n + 1}")
    assert review.status_code == 200 and "Check your answers" in review.text, review.text
    form = {"csrf_token": csrf_of(review.text), "idempotency_key": key_of(review.text)}
    return c.post(f"/p/q/{instrument}/submit", data=form, follow_redirects=False), form


def fill_in(c: TestClient, instrument: str, answers: dict[str, Any]) -> Any:
    """Answer every screen (skipping items absent from ``answers``), then submit."""
    items = instruments.get(instrument).definition.items
    for step, item in enumerate(items, start=1):
        value = answers.get(item.code)
        r = post_answer(c, instrument, step, value, "next" if value is not None else "skip")
        assert r.status_code == 303, r.text
        assert r.headers["location"] == f"/p/q/{instrument}?step={step + 1}"
    r, _ = review_and_submit(c, instrument)
    assert r.status_code == 303 and r.headers["location"] == f"/p/done?instrument={instrument}", r.text
    return r


def stored(app: Any, episode_id: int, instrument: str, timepoint: str = "6w") -> list[Any]:
    with app.state.engine.connect() as conn:
        return list(conn.execute(select(PromResponseRow).where(
            PromResponseRow.episode_id == episode_id, PromResponseRow.instrument == instrument,
            PromResponseRow.timepoint == timepoint)).all())


def n_drafts(app: Any) -> int:
    with app.state.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ResponseDraftRow)).scalar_one())




# --------------------------------------------------------------------------------- the link

def test_link_sets_a_strict_httponly_cookie_and_redirects_the_token_away(app: Any, world: World) -> None:
    with TestClient(app) as c:
        token = world.invitations["A"]
        r = c.get(f"/p/{token}", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/p/visit"
        cookie = r.headers["set-cookie"]
        assert cookie.startswith("st_patient=") and "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
        page = c.get("/p/visit")
        assert page.status_code == 200 and token not in page.text
        assert '<html lang="en">' in page.text and 'class="patient"' in page.text
        assert page.text.count('class="badge due"') == 3 and 'class="badge done"' not in page.text
        for code in ("odi", "nrs_back", "eq5d5l"):
            assert f'href="/p/q/{code}"' in page.text
        assert "6 weeks" in page.text and "/p/results" not in page.text


def test_unknown_link_and_no_session_get_the_contact_your_clinic_page(app: Any, world: World) -> None:
    with TestClient(app) as c:
        r = c.get("/p/not-a-real-token")
        assert r.status_code == 401 and "contact your clinic" in r.text and "st_patient" not in c.cookies
        for path in ("/p/visit", "/p/q/odi", "/p/results", "/p/done"):
            r = c.get(path, follow_redirects=False)
            assert r.status_code == 401 and "contact your clinic" in r.text, path
        r = c.post("/p/q/odi", data={"step": "1", "answer": "2"}, follow_redirects=False)
        assert r.status_code == 401


def test_expired_link_opens_the_home_and_after_access_ends_offers_a_fresh_link(app: Any, world: World) -> None:
    """An expired visit link opens the patient's home while home access lasts (90 days after the
    last window or expiry, ``store/home.py``); afterwards the page says so and offers a new link."""
    actor = Actor("setup", "clinician", world.sites["A"])
    store = app.state.store
    today = clock.today()
    surgery = today - dt.timedelta(days=100)
    eid = store.add_episode(actor, world.patients["A"], {"diagnosis_code": "M51.16", "levels": "L5-S1",
                                                         "enrolled_on": (surgery - dt.timedelta(days=9)).isoformat(),
                                                         "treatment": "mis", "treatment_family": "discectomy"})
    store.add_procedure(actor, eid, {"procedure_code": "discectomy_tubular", "performed_on": surgery.isoformat(),
                                     "levels": "L5-S1"})
    then = dt.datetime.combine(surgery + dt.timedelta(days=42), dt.time(9))  # the 6-week window was open
    _, token = app.state.access.create_invitation(actor, eid, timepoint="6w", instrument_codes=["nrs_back"],
                                                  valid_days=1, now=then)
    with TestClient(app) as c:
        r = c.get(f"/p/{token}")
        assert r.status_code == 200 and "Your page" in r.text and "Open now" not in r.text
        assert "6 weeks" in r.text and "closed" in r.text
    app.state.access.patient_access_days = 30  # the setting: access ended 30 days after the link expired
    with TestClient(app) as c:
        r = c.get(f"/p/{token}")
        assert r.status_code == 410 and "E-mail me a new link" in r.text and f'action="/p/h/{token}/new-link"' in r.text


# --------------------------------------------------------------------------------- the visit

def test_patient_completes_the_visit_and_the_stored_scores_match_the_instruments(
        app: Any, world: World, patient: Any) -> None:
    c = patient(world.invitations["A"])
    odi = dict.fromkeys(ODI_ITEMS, 2)
    fill_in(c, "odi", odi)
    done = c.get("/p/done?instrument=odi")
    assert "received" in done.text and 'href="/p/q/nrs_back"' in done.text  # the next one is offered
    fill_in(c, "nrs_back", {"pain": 3})
    fill_in(c, "eq5d5l", EQ5D_ANSWERS)

    eid = world.episodes["A"]
    expected = {"odi": (odi, 40.0), "nrs_back": ({"pain": 3}, 3.0),
                "eq5d5l": (EQ5D_ANSWERS, instruments.get("eq5d5l").score(EQ5D_ANSWERS).total)}
    for code, (answers, total) in expected.items():
        rows = stored(app, eid, code)
        assert len(rows) == 1, code
        assert rows[0].answers == {k: answers.get(k) for k in instruments.get(code).definition.item_codes}
        assert rows[0].score == pytest.approx(instruments.get(code).score(answers).total) == pytest.approx(total)
        assert rows[0].source == "patient" and rows[0].valid
    assert n_drafts(app) == 0  # drafts are removed once submitted

    page = c.get("/p/done?instrument=eq5d5l")
    assert page.status_code == 200 and "every questionnaire" in page.text and 'href="/p/results"' in page.text
    visit = c.get("/p/visit")
    assert visit.status_code == 200 and visit.text.count('class="badge done"') == 3
    assert 'class="badge due"' not in visit.text and 'href="/p/results"' in visit.text
    with app.state.engine.connect() as conn:
        assert conn.execute(select(InvitationRow.completed_at).where(
            InvitationRow.episode_id == eid, InvitationRow.timepoint == "6w")).scalar_one() is not None
    # The spent link now opens the patient's home (the visit shown done); the spent session can no longer write.
    with TestClient(app) as again:
        r = again.get(f"/p/{world.invitations['A']}")
        assert r.status_code == 200 and "Your page" in r.text and "st_home" in r.headers["set-cookie"]
        assert "6 weeks" in r.text and 'class="badge done"' in r.text
    assert c.get("/p/q/odi").status_code == 401
    r = c.post("/p/q/nrs_back", data={"csrf_token": csrf_of(visit.text), "step": "1", "answer": "5"})
    assert r.status_code == 401 and len(stored(app, eid, "nrs_back")) == 1


def test_one_question_per_screen_with_progress_fieldset_and_scale(app: Any, world: World, patient: Any) -> None:
    c = patient(world.invitations["A"])
    page = c.get("/p/q/odi?step=3")
    assert "Question 3 of 10" in page.text and page.text.count("<fieldset") == 1
    assert "<legend>Lifting</legend>" in page.text and page.text.count('type="radio"') == 6
    assert 'for="answer-0"' in page.text and 'id="answer-0"' in page.text  # labels tied to inputs
    assert "skip this question if it does not apply" in page.text and 'value="skip"' in page.text
    for label in ("Next", "Back", "Save and finish later"):
        assert f">{label}</button>" in page.text
    nrs = c.get("/p/q/nrs_back?step=1")
    assert 'class="choices scale"' in nrs.text and nrs.text.count('type="radio"') == 11
    assert 'value="skip"' not in nrs.text and " required" in nrs.text  # the single pain item is required
    vas = c.get("/p/q/eq5d5l?step=6")
    assert 'type="number"' in vas.text and 'min="0' in vas.text and 'max="100' in vas.text
    assert '<label for="answer">' in vas.text
    assert "<script>" not in page.text + nrs.text + vas.text  # no inline script (CSP)


def test_back_and_a_missing_required_answer(app: Any, world: World, patient: Any) -> None:
    c = patient(world.invitations["A"])
    assert post_answer(c, "odi", 1, 1).headers["location"] == "/p/q/odi?step=2"
    r = post_answer(c, "odi", 2, 4, action="back")
    assert r.status_code == 303 and r.headers["location"] == "/p/q/odi?step=1"
    assert app.state.access.get_draft(app.state.access.resolve_patient_session(c.cookies["st_patient"]), "odi") == \
        {"pain_intensity": 1, "personal_care": 4}  # going back keeps the answer just given
    assert post_answer(c, "odi", 1, action="back").headers["location"] == "/p/visit"
    r = post_answer(c, "nrs_back", 1)  # Next without an answer on a required question
    assert r.status_code == 422 and 'role="alert"' in r.text and "Please choose an answer" in r.text
    assert "Allowed: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10" in r.text


def test_next_without_an_answer_asks_once_before_skipping(app: Any, world: World, patient: Any) -> None:
    """Issue 19: "Next" with no answer on an optional question asks "Skip this question?" (the
    question again, nothing stored, a plain prompt with "answer it" and "skip it"); a second
    "Next" with no answer skips it; "Yes, skip it" skips at once. Works without JavaScript."""
    c = patient(world.invitations["A"])
    assert post_answer(c, "odi", 1, 2).status_code == 303
    first = post_answer(c, "odi", 2)  # Next, nothing chosen
    assert first.status_code == 200 and "Skip this question?" in first.text
    assert 'name="asked" value="1"' in first.text and 'id="skip-confirm"' in first.text
    assert "Question 2 of 10" in first.text and first.text.count('type="radio"') == 6  # the question again
    assert 'href="#question"' in first.text and ">Yes, skip it</button>" in first.text
    view = app.state.access.resolve_patient_session(c.cookies["st_patient"])
    assert app.state.access.get_draft(view, "odi") == {"pain_intensity": 2}  # nothing changed yet
    again = c.post("/p/q/odi", data={"csrf_token": csrf_of(first.text), "step": "2", "action": "next", "asked": "1"},
                   follow_redirects=False)  # the second Next with no answer skips
    assert again.status_code == 303 and again.headers["location"] == "/p/q/odi?step=3"
    assert app.state.access.get_draft(view, "odi") == {"pain_intensity": 2}
    asked = post_answer(c, "odi", 3)
    assert "Skip this question?" in asked.text
    r = c.post("/p/q/odi", data={"csrf_token": csrf_of(asked.text), "step": "3", "action": "skip", "asked": "1"},
               follow_redirects=False)  # "Yes, skip it"
    assert r.status_code == 303 and r.headers["location"] == "/p/q/odi?step=4"
    answered = c.post("/p/q/odi", data={"csrf_token": csrf_of(asked.text), "step": "4", "action": "next",
                                        "asked": "1", "answer": "1"}, follow_redirects=False)  # answered after all
    assert answered.status_code == 303 and app.state.access.get_draft(view, "odi") == {
        "pain_intensity": 2, "walking": 1}
    required = post_answer(c, "nrs_back", 1)  # a required question still refuses, asked or not
    assert required.status_code == 422 and "Skip this question?" not in required.text
    r = c.post("/p/q/nrs_back", data={"csrf_token": csrf_of(required.text), "step": "1", "action": "next",
                                      "asked": "1"}, follow_redirects=False)
    assert r.status_code == 422 and "Please choose an answer to go on." in r.text


def test_pause_and_resume_keeps_the_answers(app: Any, world: World, patient: Any) -> None:
    c = patient(world.invitations["A"])
    for step, value in ((1, 4), (2, 0), (3, 5)):
        assert post_answer(c, "odi", step, value).status_code == 303
    r = post_answer(c, "odi", 4, 1, action="save")
    assert r.status_code == 303 and r.headers["location"] == "/p/visit?saved=odi"
    assert "are saved" in c.get(r.headers["location"]).text
    c.close()  # the browser is closed ...

    again = patient(world.invitations["A"])  # ... and the link opened again
    visit = again.get("/p/visit")
    assert 'href="/p/q/odi">Continue' in visit.text and 'href="/p/q/nrs_back">Start' in visit.text
    resumed = again.get("/p/q/odi")
    assert resumed.status_code == 200 and "Question 5 of 10" in resumed.text  # after the last answer given
    step2 = again.get("/p/q/odi?step=2")
    assert re.search(r'value="0" checked', step2.text) and step2.text.count(" checked") == 1
    step4 = again.get("/p/q/odi?step=4")
    assert re.search(r'value="1" checked', step4.text)
    for step in range(5, 11):
        assert post_answer(again, "odi", step, 2).status_code == 303
    r, _ = review_and_submit(again, "odi")
    assert r.status_code == 303
    rows = stored(app, world.episodes["A"], "odi")
    expected = {**dict.fromkeys(ODI_ITEMS, 2), "pain_intensity": 4, "personal_care": 0, "lifting": 5, "walking": 1}
    assert len(rows) == 1 and rows[0].answers == expected
    assert rows[0].score == pytest.approx(instruments.get("odi").score(expected).total)


def test_odi_sections_may_be_skipped_but_at_most_two(app: Any, world: World, patient: Any) -> None:
    c = patient(world.invitations["A"])
    answers = {code: 3 for code in ODI_ITEMS if code not in ("sex_life", "travelling", "lifting")}
    items = instruments.get("odi").definition.items
    for step, item in enumerate(items, start=1):
        value = answers.get(item.code)
        assert post_answer(c, "odi", step, value, "next" if value is not None else "skip").status_code == 303
    review = c.get("/p/q/odi?step=11")
    assert 'role="alert"' in review.text and "Too many questions were skipped" in review.text
    assert "Send my answers" not in review.text and 'href="/p/q/odi?step=8"' in review.text
    forced = c.post("/p/q/odi/submit", data={"csrf_token": csrf_of(c.get("/p/q/odi?step=1").text),
                                             "idempotency_key": "00000000-0000-4000-8000-000000000001"})
    assert forced.status_code == 422 and stored(app, world.episodes["A"], "odi") == []
    assert post_answer(c, "odi", 3, 1).status_code == 303  # answer one more: two skipped is fine
    review = c.get("/p/q/odi?step=11")
    assert "Send my answers" in review.text and review.text.count("Skipped") == 2
    r, _ = review_and_submit(c, "odi")
    assert r.status_code == 303
    [row] = stored(app, world.episodes["A"], "odi")
    given = {**answers, "lifting": 1}
    assert row.valid and row.score == pytest.approx(sum(given.values()) / (5 * 8) * 100)


# --------------------------------------------------------------------------------- refusals

def test_replayed_submit_with_the_same_idempotency_key_stores_once(app: Any, world: World, patient: Any) -> None:
    c = patient(world.invitations["A"])
    eid = world.episodes["A"]
    assert post_answer(c, "nrs_back", 1, 6).status_code == 303
    r, form = review_and_submit(c, "nrs_back")
    assert r.status_code == 303
    replay = c.post("/p/q/nrs_back/submit", data=form, follow_redirects=False)  # double tap / retry
    assert replay.status_code == 303 and replay.headers["location"] == "/p/done?instrument=nrs_back"
    assert len(stored(app, eid, "nrs_back")) == 1 and stored(app, eid, "nrs_back")[0].score == 6.0
    # The final questionnaire spends the link; replaying it still lands on the confirmation.
    fill_in(c, "odi", dict.fromkeys(ODI_ITEMS, 1))
    for step, item in enumerate(instruments.get("eq5d5l").definition.items, start=1):
        assert post_answer(c, "eq5d5l", step, EQ5D_ANSWERS[item.code]).status_code == 303
    r, form = review_and_submit(c, "eq5d5l")
    assert r.status_code == 303
    replay = c.post("/p/q/eq5d5l/submit", data=form, follow_redirects=False)
    assert replay.status_code == 303 and replay.headers["location"] == "/p/done?instrument=eq5d5l"
    assert [len(stored(app, eid, code)) for code in ("odi", "nrs_back", "eq5d5l")] == [1, 1, 1]
    with app.state.engine.connect() as conn:
        keys = conn.execute(select(PromResponseRow.idempotency_key).where(
            PromResponseRow.instrument == "eq5d5l")).scalars().all()
    assert keys == [form["idempotency_key"]]


def test_a_submit_racing_another_tab_lands_on_the_confirmation(
        app: Any, world: World, patient: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two tabs send the same questionnaire at once: the other tab's request stores it between
    this request's check and its own write; this one must end on the confirmation, not a 409."""
    c = patient(world.invitations["A"])
    assert post_answer(c, "nrs_back", 1, 4).status_code == 303
    access = app.state.access
    real_submit = access.submit_visit

    def other_tab_first(session: Any, instrument: str, answers: Any, **kw: Any) -> Any:
        real_submit(session, instrument, answers, idempotency_key="11111111-1111-4111-8111-111111111111")
        return real_submit(session, instrument, answers, **kw)

    monkeypatch.setattr(access, "submit_visit", other_tab_first)
    r, _ = review_and_submit(c, "nrs_back")
    assert r.status_code == 303 and r.headers["location"] == "/p/done?instrument=nrs_back"
    rows = stored(app, world.episodes["A"], "nrs_back")
    assert len(rows) == 1 and rows[0].idempotency_key == "11111111-1111-4111-8111-111111111111"


@pytest.mark.parametrize(("instrument", "step", "value", "allowed"), [
    ("nrs_back", 1, "11", "Allowed: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10"),
    ("nrs_back", 1, "-1", "Allowed: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10"),
    ("nrs_back", 1, "two", "Allowed: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10"),
    ("odi", 1, "6", "Allowed: 0, 1, 2, 3, 4, 5"),
    ("eq5d5l", 6, "150", "Allowed: 0 to 100 (whole numbers)"),
    ("eq5d5l", 6, "70.5", "Allowed: 0 to 100 (whole numbers)"),
])
def test_an_out_of_range_answer_is_refused_naming_what_is_allowed(
        app: Any, world: World, patient: Any, instrument: str, step: int, value: str, allowed: str) -> None:
    c = patient(world.invitations["A"])
    r = post_answer(c, instrument, step, value)
    assert r.status_code == 422
    assert 'role="alert"' in r.text and allowed in r.text and "<fieldset" in r.text  # the item is shown again
    assert 'aria-invalid="true"' in r.text
    assert n_drafts(app) == 0 and stored(app, world.episodes["A"], instrument) == []


def test_posts_without_the_csrf_token_are_refused(app: Any, world: World, patient: Any) -> None:
    c = patient(world.invitations["A"])
    page = c.get("/p/q/nrs_back?step=1")
    token = csrf_of(page.text)
    for data in ({"step": "1", "answer": "4"}, {"step": "1", "answer": "4", "csrf_token": "forged"}):
        r = c.post("/p/q/nrs_back", data=data, follow_redirects=False)
        assert r.status_code == 401 and PATIENT_MESSAGES[401] in r.text  # plain words, not "CSRF token"
    assert n_drafts(app) == 0
    assert c.post("/p/q/nrs_back", data={"step": "1", "answer": "4", "csrf_token": token},
                  follow_redirects=False).status_code == 303
    review = c.get("/p/q/nrs_back?step=2")
    r = c.post("/p/q/nrs_back/submit", data={"idempotency_key": key_of(review.text)})
    assert r.status_code == 401 and stored(app, world.episodes["A"], "nrs_back") == []
    assert c.post("/p/leave", data={}).status_code == 401


def test_each_session_sees_only_its_own_visit(app: Any, world: World, patient: Any) -> None:
    a = patient(world.invitations["A"])
    b = patient(world.invitations["B"])
    assert post_answer(a, "nrs_back", 1, 7).status_code == 303  # A's draft
    b_page = b.get("/p/q/nrs_back?step=1")
    assert " checked" not in b_page.text  # B does not see A's draft
    fill_in(b, "odi", dict.fromkeys(ODI_ITEMS, 4))  # B: 80 %
    assert len(stored(app, world.episodes["B"], "odi")) == 1 and stored(app, world.episodes["A"], "odi") == []
    a_visit = a.get("/p/visit")
    assert a_visit.text.count('class="badge due"') == 3 and 'class="badge done"' not in a_visit.text
    assert 'href="/p/q/nrs_back">Continue' in a_visit.text
    assert values(a.get("/p/results").text, "odi") == [60.0]  # A's baseline only, not B's 80
    assert values(b.get("/p/results").text, "odi") == [60.0, 80.0]
    assert re.search(r'value="7" checked', a.get("/p/q/nrs_back?step=1").text)
    # A's session cannot post with B's CSRF token (and so not into B's visit).
    b_token = csrf_of(b.get("/p/q/nrs_back?step=1").text)
    r = a.post("/p/q/nrs_back", data={"csrf_token": b_token, "step": "1", "answer": "2"}, follow_redirects=False)
    assert r.status_code == 401
    # A questionnaire outside one's own visit is not found.
    assert a.get("/p/q/nrs_leg").status_code == 404


def test_results_show_the_trajectory_and_plain_sentences(app: Any, world: World, patient: Any) -> None:
    store, eid = app.state.store, world.episodes["A"]
    clinician = Actor("setup", "clinician", world.sites["A"])
    surgery = clock.today() - dt.timedelta(days=40)
    for code, value, tp, day in (("nrs_back", 6, "baseline", -10), ("nrs_leg", 2, "baseline", -10),
                                 ("nrs_leg", 5, "6w", 0)):
        store.submit_response(clinician, eid, {"instrument": code, "timepoint": tp, "answers": {"pain": value},
                                               "collected_on": (surgery + dt.timedelta(days=day)).isoformat()
                                               if day else clock.today().isoformat()})
    c = patient(world.invitations["A"])
    fill_in(c, "odi", dict.fromkeys(ODI_ITEMS, 2))
    fill_in(c, "nrs_back", {"pain": 3})
    fill_in(c, "eq5d5l", EQ5D_ANSWERS)
    page = c.get("/p/results")  # after completion the link is spent, the results stay readable
    assert page.status_code == 200
    svgs = charts(page.text)
    assert set(svgs) == {"chart-odi", "chart-pain"}
    odi = markers(svgs["chart-odi"])
    assert [(m.timepoint, m.value) for m in odi] == [("baseline", 60.0), ("6w", 40.0)]
    assert [round(m.plotted, 6) for m in odi] == [60.0, 40.0]  # drawn where the grid says 60 and 40
    pain = markers(svgs["chart-pain"])
    back = [m for m in pain if m.series == "nrs_back"]
    leg = [m for m in pain if m.series == "nrs_leg"]
    assert [round(m.plotted, 6) for m in back] == [6.0, 3.0] and [round(m.plotted, 6) for m in leg] == [2.0, 5.0]
    assert {m.shape for m in back} == {"circle"} and {m.shape for m in leg} == {"rect"}  # not colour alone
    assert "plotly" not in page.text.lower() and "<script" not in page.text  # no script on the page at all
    text = " ".join(page.text.split())
    assert ("Your back-related disability score went from 60 to 40 (lower is better): an improvement larger than "
            "the minimal important change of 10 points.") in text
    assert ("Your back pain score went from 6 to 3 (lower is better): an improvement larger than the minimal "
            "important change of 2 points.") in text
    assert ("Your leg pain score went from 2 to 5 (lower is better): a worsening larger than the minimal "
            "important change of 2 points.") in text
    table = text.split("<table", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr><th scope="row">(.*?)</th>(.*?)</tr>', table)
    cells = {label: re.findall(r'<td class="num">([^<]*)<', tds) for label, tds in rows}
    assert cells["Before treatment"][0] == "60" and cells["6 weeks"] == ["40", "3", "5"]
    assert "Ostelo" in text  # the threshold's source is named


def test_results_before_any_follow_up_say_so(app: Any, world: World, patient: Any) -> None:
    c = patient(world.invitations["A"])
    text = " ".join(c.get("/p/results").text.split())
    assert "Your back-related disability score was 60 (before treatment; 0 to 100, lower is better)." in text
    assert values(text, "odi") == [60.0]
    assert "chart-pain" not in text


def test_leave_forgets_the_session_on_this_device(app: Any, world: World, patient: Any) -> None:
    c = patient(world.invitations["A"])
    token = csrf_of(c.get("/p/q/odi?step=1").text)
    r = c.post("/p/leave", data={"csrf_token": token})
    assert r.status_code == 200 and "closed on this device" in r.text and "st_patient" not in c.cookies
    assert c.get("/p/visit").status_code == 401


def test_a_sites_wording_pack_replaces_the_neutral_labels(engine: Any, tmp_path: Path) -> None:
    pack = {"name": "Test pack", "language": "en-GB", "licence": "test only",
            "instruments": {"odi": {"title": "Pack title", "items": {
                "lifting": {"text": "Pack lifting text", "options": {"0": "Pack option zero"}}}}}}
    path = tmp_path / "pack.json"
    path.write_text(json.dumps(pack), encoding="utf-8")
    url = engine.url.render_as_string(hide_password=False)
    app = create_app(Settings(database_url=url, wording_pack=str(path)), engine=engine)
    world = build_world(app.state.store, app.state.access)
    with TestClient(app) as c:
        c.get(f"/p/{world.invitations['A']}")
        page = c.get("/p/q/odi?step=3")
        assert "<legend>Pack lifting text</legend>" in page.text and "Pack option zero" in page.text
        assert "Pack title" in page.text and "Statement 2 of 6" in page.text  # options the pack leaves out


def test_rmdq_is_a_tick_box_per_statement_and_unticked_statements_count_as_no(
        app: Any, world: World, patient: Any) -> None:
    """Oracle: the RMDQ authors' rule (Roland & Morris, Spine
    1983;8(2):141-144; Roland & Fairbank, Spine 2000;25(24):3115-3124): the patient ticks the
    statements that apply today, an unticked statement counts as "no" (no yes/no is forced on
    each statement, on screen as on paper), score = number ticked. Ticking statements 2, 5, 9, 14
    and 21 and leaving the other 19 empty stores a valid 5."""
    actor = Actor("setup", "clinician", world.sites["A"])
    _, token = app.state.access.create_invitation(actor, world.episodes["A"], timepoint="6w",
                                                  instrument_codes=["rmdq"])
    c = patient(token)
    page = c.get("/p/q/rmdq?step=1")
    assert page.status_code == 200 and "Question 1 of 24" in page.text
    assert page.text.count('type="checkbox"') == 1 and 'type="radio"' not in page.text
    assert " required" not in page.text and 'value="skip"' not in page.text  # nothing forces an answer
    assert 'type="hidden" name="answer" value="0"' in page.text and 'for="answer-tick"' in page.text
    ticked = {2, 5, 9, 14, 21}
    for step in range(1, 25):
        form = csrf_of(c.get(f"/p/q/rmdq?step={step}").text)
        # what a browser posts: the hidden "0", then "1" only when the box is ticked
        answer = ["0", "1"] if step in ticked else ["0"]
        r = c.post("/p/q/rmdq", data={"csrf_token": form, "step": str(step), "action": "next", "answer": answer},
                   follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == f"/p/q/rmdq?step={step + 1}", r.text
    again = c.get("/p/q/rmdq?step=5")
    assert re.search(r'type="checkbox" id="answer-tick" name="answer" value="1" checked', again.text)
    assert " checked" not in c.get("/p/q/rmdq?step=6").text
    review = c.get("/p/q/rmdq?step=25")
    assert 'role="alert"' not in review.text and review.text.count(">ticked<") == 5
    assert review.text.count(">not ticked<") == 19
    r, _ = review_and_submit(c, "rmdq")
    assert r.status_code == 303 and r.headers["location"] == "/p/done?instrument=rmdq", r.text
    rows = stored(app, world.episodes["A"], "rmdq")
    assert len(rows) == 1 and rows[0].valid and rows[0].score == 5.0
    assert rows[0].answers == {f"s{i:02d}": int(i in ticked) for i in range(1, 25)}
