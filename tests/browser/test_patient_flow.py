"""A patient completes an ODI + NRS back + EQ-5D-5L visit on a phone (390×844) in Debian's
Chromium, with a pause and resume; every patient page passes axe-core (no serious or critical
violations); the stored scores equal the instruments' scoring of the answers given (ODI:
Fairbank & Pynsent 2000 rule; EQ-5D-5L: the England value set shipped in the
package)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from spinetrack import clock, instruments
from spinetrack.store.session import make_engine
from spinetrack.store.tables import PromResponseRow
from tests.browser.conftest import LiveServer, assert_no_page_errors, check_axe, new_visit, save_shot

ODI_ANSWERS = [2, 1, 3, 2, 2, 1, 2, None, 1, 2]  # sex_life skipped ("if it does not apply")
EQ_ANSWERS = {"MO": 2, "SC": 1, "UA": 2, "PD": 3, "AD": 1}


def _baseline_odi(server: LiveServer, visit: Any, value: int) -> None:
    import datetime as dt

    from spinetrack.store.repositories import Actor, Store

    engine = make_engine(server.database_url)
    try:
        codes = [it.code for it in instruments.get("odi").definition.items]
        Store(engine).submit_response(Actor("browser-tests", "clinician", visit.site_id), visit.episode_id, {
            "instrument": "odi", "timepoint": "baseline",
            "collected_on": (clock.today() - dt.timedelta(days=50)).isoformat(),
            "answers": dict.fromkeys(codes, value)})
    finally:
        engine.dispose()


def _click_and_wait(page: Any, locator: Any) -> None:
    """Click a control that submits a form and wait until the next page has loaded (a new
    navigation started before that would abort it)."""
    with page.expect_navigation(wait_until="load"):
        locator.click()


def _answer_choice(page: Any, value: int) -> None:
    page.locator(f"input[type=radio][value='{value}']").check()
    _click_and_wait(page, page.get_by_role("button", name="Next", exact=False).first)


def test_patient_completes_a_visit_on_a_phone(page_phone: Any, live_server: LiveServer) -> None:
    page = page_phone
    visit = new_visit(live_server, instruments=("odi", "nrs_back", "eq5d5l"))
    _baseline_odi(live_server, visit, value=3)  # 30/50 = 60 % before surgery
    page.goto(visit.path)
    assert page.url.endswith("/p/visit")  # the token left the address bar
    check_axe(page)
    save_shot(page, f"patient-visit-{live_server.backend}")
    _click_and_wait(page, page.locator("a.button[href='/p/q/odi']"))

    # ODI: first four sections, then pause
    for value in ODI_ANSWERS[:4]:
        _answer_choice(page, value)
    assert "Question 5 of 10" in page.locator("#progress").inner_text()
    check_axe(page)
    save_shot(page, f"patient-odi-question-{live_server.backend}")
    _click_and_wait(page, page.get_by_role("button", name="Save and finish later"))
    # resume from the link's visit page: continues at question 5 with the answers kept
    page.goto("/p/visit")
    _click_and_wait(page, page.locator("a.button[href='/p/q/odi']"))
    assert "Question 5 of 10" in page.locator("#progress").inner_text()
    for value in ODI_ANSWERS[4:]:
        if value is None:
            _click_and_wait(page, page.get_by_role("button", name="Skip (if it does not apply)"))
        else:
            _answer_choice(page, value)
    assert page.get_by_role("heading", name="Check your answers").is_visible()
    check_axe(page)
    _click_and_wait(page, page.get_by_role("button", name="Send my answers"))
    assert page.get_by_role("heading", name="Thank you").is_visible()
    check_axe(page)

    # NRS back pain
    page.goto("/p/q/nrs_back")
    _answer_choice(page, 4)
    _click_and_wait(page, page.get_by_role("button", name="Send my answers"))

    # EQ-5D-5L: five dimensions and the VAS
    page.goto("/p/q/eq5d5l")
    for dim in ("MO", "SC", "UA", "PD", "AD"):
        _answer_choice(page, EQ_ANSWERS[dim])
    page.locator("input#answer").fill("70")
    _click_and_wait(page, page.get_by_role("button", name="Next", exact=False).first)
    _click_and_wait(page, page.get_by_role("button", name="Send my answers"))
    assert page.get_by_role("heading", name="Thank you").is_visible()
    save_shot(page, f"patient-done-{live_server.backend}")

    # results: the plot is drawn by Plotly from local assets, in plain language
    page.goto("/p/results")
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=15_000)
    text = page.locator("main").inner_text()
    # 60 % → 16/45 = 35.6 %, beyond the 10-point MCID
    assert "went from 60 to 35.6" in text and "improvement" in text, text
    check_axe(page)
    save_shot(page, f"patient-results-{live_server.backend}")
    assert_no_page_errors(page)

    # the spent link opens the patient's home (the visit shown done), no longer a 410
    resp = page.goto(visit.path)
    assert resp is not None and resp.status == 200
    assert page.get_by_role("heading", name="Your page", exact=True).is_visible()
    assert page.locator(".badge.done").count() == 1
    assert_no_page_errors(page)

    engine = make_engine(live_server.database_url)
    try:
        with engine.connect() as c:
            rows = {r.instrument: r for r in c.execute(select(
                PromResponseRow.instrument, PromResponseRow.score, PromResponseRow.valid, PromResponseRow.score_detail
            ).where(PromResponseRow.episode_id == visit.episode_id, PromResponseRow.timepoint == "6w"))}
    finally:
        engine.dispose()
    assert set(rows) == {"odi", "nrs_back", "eq5d5l"}
    odi_codes = [it.code for it in instruments.get("odi").definition.items]
    want_odi = instruments.get("odi").score(dict(zip(odi_codes, ODI_ANSWERS, strict=True)))
    assert rows["odi"].score == want_odi.total and rows["odi"].valid
    assert round(rows["odi"].score, 1) == round(sum(v for v in ODI_ANSWERS if v is not None) / 45 * 100, 1)
    assert rows["nrs_back"].score == 4.0
    want_eq = instruments.get("eq5d5l").score({**EQ_ANSWERS, "vas": 70}, value_set="England")
    assert rows["eq5d5l"].score == want_eq.total and rows["eq5d5l"].score_detail["health_state"] == "21231"
