"""The patient's phone, in Debian's Chromium: a patient completes an ODI + NRS back + EQ-5D-5L
visit on a 390×844 phone in English (pause and resume, "Skip this question?" asked once), and a
Spanish-speaking patient (language recorded at the clinic) answers on a desktop and switches to
English. On every patient page — visit start, question, review, done, results, home, stop —
axe-core finds no serious or critical violation, no script runs, and the page weighs at most
150 kB transferred on first load (``tests/browser/weight.py``: bytes over the network, cache off),
in English and in Spanish. The weights are written to ``artifacts/page-weights-<backend>.json``.

Oracles: the stored scores equal the instruments' scoring of the answers given (ODI: Fairbank &
Pynsent 2000 rule; EQ-5D-5L: the England value set shipped in the package); a chart marker's
height read back through the chart's grid equals its score.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select, update

from spinetrack import clock, instruments
from spinetrack.instruments.wording import Wording
from spinetrack.store.session import make_engine
from spinetrack.store.tables import PatientIdentityRow, PromResponseRow, SiteRow
from tests.browser.conftest import ARTIFACTS, LiveServer, Visit, assert_no_page_errors, check_axe, new_visit, save_shot
from tests.browser.weight import PATIENT_PAGE_LIMIT, measure

pytestmark = pytest.mark.slow

ODI_ANSWERS = [2, 1, 3, 2, 2, 1, 2, None, 1, 2]  # sex_life skipped ("Skip this question?" → yes)
EQ_ANSWERS = {"MO": 2, "SC": 1, "UA": 2, "PD": 3, "AD": 1}
# The smallest valid PNG (1×1, transparent): the clinic's logo on the pages.
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
                    "0000000d49444154789c6360000002000001e221bc330000000049454e44ae426082")


# ---------------------------------------------------------------------------------- set-up in the database

def _sql(server: LiveServer, fn: Callable[[Any], Any]) -> Any:
    engine = make_engine(server.database_url)
    try:
        with engine.begin() as conn:
            return fn(conn)
    finally:
        engine.dispose()


def _baseline(server: LiveServer, visit: Visit) -> None:
    """Before surgery: ODI all sections at 3 (60 %), back and leg pain both 5 (equal on the chart)."""
    from spinetrack.store.repositories import Actor, Store

    engine = make_engine(server.database_url)
    try:
        store, actor = Store(engine), Actor("browser-tests", "clinician", visit.site_id)
        day = (clock.today() - dt.timedelta(days=50)).isoformat()
        codes = [it.code for it in instruments.get("odi").definition.items]
        store.submit_response(actor, visit.episode_id, {"instrument": "odi", "timepoint": "baseline",
                                                        "collected_on": day, "answers": dict.fromkeys(codes, 3)})
        for code in ("nrs_back", "nrs_leg"):
            store.submit_response(actor, visit.episode_id, {"instrument": code, "timepoint": "baseline",
                                                            "collected_on": day, "answers": {"pain": 5}})
    finally:
        engine.dispose()


def _home_link(server: LiveServer, visit: Visit) -> str:
    from spinetrack.followup.links import new_patient_link

    engine = make_engine(server.database_url)
    try:
        from sqlalchemy.orm import Session

        with Session(engine) as s, s.begin():
            return new_patient_link(s, visit.episode_id, purpose="manual", created_by="browser-tests")
    finally:
        engine.dispose()


def _language(server: LiveServer, visit: Visit, lang: str | None = None, *, read: bool = False) -> str | None:
    if read:
        return _sql(server, lambda c: c.execute(select(PatientIdentityRow.language).where(
            PatientIdentityRow.patient_id == visit.patient_id)).scalar_one())
    _sql(server, lambda c: c.execute(update(PatientIdentityRow).where(
        PatientIdentityRow.patient_id == visit.patient_id).values(language=lang)))
    return lang


def _logo(server: LiveServer, site_id: int, png: bytes | None) -> None:
    _sql(server, lambda c: c.execute(update(SiteRow).where(SiteRow.id == site_id).values(
        logo=png, logo_type="image/png" if png else None)))


# ---------------------------------------------------------------------------------- the browser

WEIGHTS: dict[str, dict[str, int]] = {}


def _weigh(page: Any, name: str, load: Callable[[], Any], *, axe: bool = True) -> None:
    """Load a patient page with the cache off, check its weight, that no script came with it,
    and axe-core; remember the weight."""
    weight = measure(page, load)
    print(weight.describe())
    assert weight.total <= PATIENT_PAGE_LIMIT, weight.describe()
    assert not [url for url, _n in weight.requests if url.endswith(".js")], weight.describe()
    backend = page.live_server.backend
    WEIGHTS.setdefault(backend, {})[name] = weight.total
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"page-weights-{backend}.json").write_text(json.dumps(WEIGHTS[backend], indent=1, sort_keys=True))
    if axe:
        check_axe(page)


def _click_and_wait(page: Any, locator: Any) -> None:
    """Click a control that submits a form and wait until the next page has loaded."""
    with page.expect_navigation(wait_until="load"):
        locator.click()


def _answer_choice(page: Any, value: int, next_name: str = "Next") -> None:
    page.locator(f"input[type=radio][value='{value}']").check()
    _click_and_wait(page, page.get_by_role("button", name=next_name, exact=False).first)


def _chart_values(page: Any, series: str) -> list[tuple[float, float]]:
    """(data-value, height read back through the chart's grid) of each marker of ``series``."""
    return [tuple(v) for v in page.evaluate("""(series) => {
        const out = [];
        for (const svg of document.querySelectorAll('svg.result-chart')) {
          const grid = [...svg.querySelectorAll('line.grid')].map(l => [+l.dataset.value, +l.getAttribute('y1')])
            .sort((a, b) => a[0] - b[0]);
          const [v0, y0] = grid[0], [v1, y1] = grid[grid.length - 1];
          for (const m of svg.querySelectorAll(`.pt[data-series="${series}"]`)) {
            const b = m.getBBox(), cy = b.y + b.height / 2;
            out.push([+m.dataset.value, v0 + (cy - y0) * (v1 - v0) / (y1 - y0)]);
          }
        }
        return out; }""", series)]


def _stored(server: LiveServer, visit: Visit) -> dict[str, Any]:
    return _sql(server, lambda c: {r.instrument: r for r in c.execute(select(
        PromResponseRow.instrument, PromResponseRow.score, PromResponseRow.valid, PromResponseRow.score_detail
    ).where(PromResponseRow.episode_id == visit.episode_id, PromResponseRow.timepoint == "6w"))})


# ---------------------------------------------------------------------------------- the tests

def test_patient_completes_a_visit_on_a_phone(page_phone: Any, live_server: LiveServer) -> None:
    page = page_phone
    visit = new_visit(live_server, site_code="DEMO-S", instruments=("odi", "nrs_back", "eq5d5l"))
    _baseline(live_server, visit)
    _logo(live_server, visit.site_id, PNG)
    try:
        _weigh(page, "visit-en", lambda: page.goto(visit.path))
        assert page.url.endswith("/p/visit")  # the token left the address bar
        assert page.locator(".clinic-name").inner_text() == "Demo spine clinic South"
        assert page.locator("img.logo").evaluate("img => img.complete && img.naturalWidth") == 1
        save_shot(page, f"patient-visit-{live_server.backend}")
        _click_and_wait(page, page.locator("a.button[href='/p/q/odi']"))
        assert page.get_by_role("heading", name=Wording.build("en").title("odi"), exact=True).is_visible()
        _weigh(page, "question-en", lambda: page.goto("/p/q/odi?step=1"))

        for value in ODI_ANSWERS[:4]:  # the first four sections, then pause
            _answer_choice(page, value)
        assert "Question 5 of 10" in page.locator("#progress").inner_text()
        save_shot(page, f"patient-odi-question-{live_server.backend}")
        _click_and_wait(page, page.get_by_role("button", name="Save and finish later"))
        page.goto("/p/visit")  # resume: continues at question 5 with the answers kept
        _click_and_wait(page, page.locator("a.button[href='/p/q/odi']"))
        assert "Question 5 of 10" in page.locator("#progress").inner_text()
        for value in ODI_ANSWERS[4:]:
            if value is None:  # "Next" with no answer asks once
                _click_and_wait(page, page.get_by_role("button", name="Next", exact=True))
                prompt = page.locator("#skip-confirm")
                assert prompt.is_visible() and "Skip this question?" in prompt.inner_text()
                check_axe(page)
                save_shot(page, f"patient-skip-confirm-{live_server.backend}")
                _click_and_wait(page, page.get_by_role("button", name="Yes, skip it"))
            else:
                _answer_choice(page, value)
        assert page.get_by_role("heading", name="Check your answers").is_visible()
        _weigh(page, "review-en", lambda: page.goto("/p/q/odi?step=11"))
        _click_and_wait(page, page.get_by_role("button", name="Send my answers"))
        assert page.get_by_role("heading", name="Thank you").is_visible()
        _weigh(page, "done-en", lambda: page.goto("/p/done?instrument=odi"))

        page.goto("/p/q/nrs_back")
        _answer_choice(page, 5, "Next: check my answers")
        _click_and_wait(page, page.get_by_role("button", name="Send my answers"))
        page.goto("/p/q/eq5d5l")
        for dim in ("MO", "SC", "UA", "PD", "AD"):
            _answer_choice(page, EQ_ANSWERS[dim])
        page.locator("input#answer").fill("70")
        _click_and_wait(page, page.get_by_role("button", name="Next", exact=False).first)
        _click_and_wait(page, page.get_by_role("button", name="Send my answers"))
        save_shot(page, f"patient-done-{live_server.backend}")

        # results: inline SVG drawn by the server, in plain language; equal pain scores both visible
        _weigh(page, "results-en", lambda: page.goto("/p/results"))
        text = page.locator("main").inner_text()
        assert "went from 60.0 to 35.6" in text and "improvement" in text, text  # 16/45 = 35.6 %
        odi = _chart_values(page, "odi")
        assert [v for v, _h in odi] == pytest.approx([60.0, 16 / 45 * 100], abs=0.01)
        assert all(abs(v - h) < 0.05 for v, h in odi)  # each marker drawn at its score
        back, leg = page.locator('.pt[data-series="nrs_back"]'), page.locator('.pt[data-series="nrs_leg"]')
        assert back.count() == 2 and leg.count() == 1
        b, g = back.first.bounding_box(), leg.first.bounding_box()  # both 5 before surgery
        assert b is not None and g is not None and b["x"] + b["width"] <= g["x"] + 1  # side by side
        assert b["width"] > 0 and g["width"] > 0 and abs((b["y"] + b["height"] / 2) - (g["y"] + g["height"] / 2)) < 1
        save_shot(page, f"patient-results-{live_server.backend}")

        # the spent link opens the patient's home; the stop page asks first
        _weigh(page, "home-en", lambda: page.goto(f"/p/h/{_home_link(live_server, visit)}"))
        assert page.get_by_role("heading", name="Your page", exact=True).is_visible()
        assert page.locator(".badge.done").count() == 1
        _weigh(page, "stop-en", lambda: page.goto("/p/home/stop"))
        assert page.get_by_role("heading", name="Stop messages from your clinic?").is_visible()

        # the switch: Spanish, recorded for the patient
        page.goto("/p/home")
        _click_and_wait(page, page.get_by_role("button", name="Español"))
        assert page.get_by_role("heading", name="Su página", exact=True).is_visible()
        assert _language(live_server, visit, read=True) == "es"
        _weigh(page, "home-es", lambda: page.goto("/p/home"))
        _weigh(page, "results-es", lambda: page.goto("/p/home/results"))
        assert "pasó de 60,0 a 35,6" in page.locator("main").inner_text()
        save_shot(page, f"patient-results-es-{live_server.backend}")
        _weigh(page, "stop-es", lambda: page.goto("/p/home/stop"))
        assert_no_page_errors(page)
    finally:
        _logo(live_server, visit.site_id, None)

    rows = _stored(live_server, visit)
    assert set(rows) == {"odi", "nrs_back", "eq5d5l"}
    odi_codes = [it.code for it in instruments.get("odi").definition.items]
    want_odi = instruments.get("odi").score(dict(zip(odi_codes, ODI_ANSWERS, strict=True)))
    assert rows["odi"].score == want_odi.total and rows["odi"].valid
    assert round(rows["odi"].score, 1) == round(sum(v for v in ODI_ANSWERS if v is not None) / 45 * 100, 1)
    assert rows["nrs_back"].score == 5.0
    want_eq = instruments.get("eq5d5l").score({**EQ_ANSWERS, "vas": 70}, value_set="England")
    assert rows["eq5d5l"].score == want_eq.total and rows["eq5d5l"].score_detail["health_state"] == "21231"


def test_a_spanish_speaking_patient_on_a_desktop(page_desktop: Any, live_server: LiveServer) -> None:
    """The language recorded at the clinic wins over the browser's (en-GB); every page is in
    Spanish; the switch back to English is recorded."""
    page = page_desktop
    visit = new_visit(live_server, instruments=("nrs_back", "odi"))
    _baseline(live_server, visit)
    _language(live_server, visit, "es")
    _weigh(page, "visit-es", lambda: page.goto(visit.path))
    assert page.locator("html").get_attribute("lang") == "es"
    assert page.get_by_role("heading", name="Sus cuestionarios").is_visible()
    assert page.locator(".clinic-name").inner_text() == "Demo spine clinic North"
    save_shot(page, f"patient-visit-es-{live_server.backend}")
    _weigh(page, "question-es", lambda: page.goto("/p/q/nrs_back?step=1"))
    assert "Pregunta 1 de 1" in page.locator("#progress").inner_text()
    _answer_choice(page, 4, "Siguiente")
    _weigh(page, "review-es", lambda: page.goto("/p/q/nrs_back?step=2"))
    assert page.get_by_role("heading", name="Revise sus respuestas").is_visible()
    _click_and_wait(page, page.get_by_role("button", name="Enviar mis respuestas"))
    _weigh(page, "done-es", lambda: page.goto("/p/done?instrument=nrs_back"))
    assert page.get_by_role("heading", name="Gracias").is_visible()
    page.goto("/p/q/odi?step=1")  # "Siguiente" without an answer asks once, in Spanish
    _click_and_wait(page, page.get_by_role("button", name="Siguiente", exact=True))
    assert "¿Saltar esta pregunta?" in page.locator("#skip-confirm").inner_text()
    check_axe(page)
    _weigh(page, "results-es-desktop", lambda: page.goto("/p/results"))
    assert "pasó de 5 a 4" in page.locator("main").inner_text()
    _weigh(page, "home-es-desktop", lambda: page.goto(f"/p/h/{_home_link(live_server, visit)}"))
    _click_and_wait(page, page.get_by_role("button", name="English"))
    assert page.get_by_role("heading", name="Your page", exact=True).is_visible()
    assert _language(live_server, visit, read=True) == "en"
    _weigh(page, "stop-en-desktop", lambda: page.goto("/p/home/stop"))
    assert_no_page_errors(page)
