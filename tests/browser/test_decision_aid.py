"""Decision support in Debian's Chromium, end to end on the real server (demo data, SQLite and
PostgreSQL): a clinician records a red-flag screening with the clinic form, opens the clinician
view and the patient version at phone (390×844) and desktop (1280×900) sizes, downloads the PDF;
axe-core runs on every page and every page is saved as a screenshot (tests/browser/artifacts/).

* A demo patient of the North site with a disc herniation (``M51.16``-group diagnosis): screened
  with every red-flag question answered "no" → both views show options and numbers.
* A fresh patient screened with saddle anaesthesia answered "yes" (a cauda equina red flag) →
  both views show the urgent message only: no option, no number, no icon array, no table.
* A fresh patient never screened → the patient version shows only that the safety questions
  come first; the clinician version warns above the numbers.

These tests use the real ``spinetrack.predict.decision.build_decision_support`` and whatever
models the server can load; nothing here is stubbed.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from sqlalchemy import select

from spinetrack import clock
from spinetrack.store.session import make_engine
from spinetrack.store.tables import AuditRow, EpisodeRow, PatientRow, SiteRow
from tests.browser.conftest import LiveServer, assert_no_page_errors, check_axe, save_shot
from tests.browser.test_clinician_flow import _sign_in

CLINICIAN = "north.clinician"
SITE = "DEMO-N"
RED_FLAG_QUESTIONS = ("saddle_anaesthesia", "bladder_bowel_dysfunction", "bilateral_leg_symptoms",
                      "suspected_infection", "suspected_malignancy", "suspected_fracture",
                      "progressive_motor_deficit", "severe_motor_deficit")
CANDIDACY_QUESTIONS = ("imaging_concordant", "persistent_after_conservative", "symptoms_limit_function")
OPTION_WORDS = ("Keyhole", "Open surgery", "without surgery", "Conservative", "discectomy", "Out of 100")


def _demo_patient(server: LiveServer) -> int:
    """The first demo patient of the North site whose latest episode is a disc herniation."""
    engine = make_engine(server.database_url)
    try:
        with engine.connect() as c:
            latest = (select(EpisodeRow.patient_id, EpisodeRow.diagnosis_group, EpisodeRow.id)
                      .join(PatientRow, PatientRow.id == EpisodeRow.patient_id)
                      .join(SiteRow, SiteRow.id == PatientRow.site_id)
                      .where(SiteRow.code == SITE).order_by(EpisodeRow.patient_id, EpisodeRow.id.desc()))
            seen: set[int] = set()
            for pid, group, _ in c.execute(latest):
                if pid in seen:
                    continue
                seen.add(pid)
                if group == "disc_herniation_radiculopathy":
                    return int(pid)
    finally:
        engine.dispose()
    raise AssertionError(f"no demo patient with a disc herniation at {SITE}")


def _fresh_patient(server: LiveServer, label: str) -> int:
    """A new patient at the North site with one disc-herniation episode, treatment not decided."""
    from spinetrack.store.repositories import Actor, Store

    engine = make_engine(server.database_url)
    try:
        with engine.connect() as c:
            site_id = c.execute(select(SiteRow.id).where(SiteRow.code == SITE)).scalar_one()
        store = Store(engine)
        actor = Actor("browser-tests", "clinician", site_id)
        n = uuid.uuid4().hex[:8]
        pid = store.add_patient(actor, site_id, {"birth_year": 1975, "sex": "male", "bmi": 27.0, "smoking": "never",
                                                 "diabetes": False, "asa_grade": 1},
                                identity={"full_name": f"Decision {label} {n}", "mrn": f"DA-{n}"})
        store.add_episode(actor, pid, {"diagnosis_code": "M51.16", "levels": "L5-S1",
                                       "enrolled_on": (clock.today() - dt.timedelta(days=30)).isoformat()})
        return pid
    finally:
        engine.dispose()


def _record_screening(page: Any, patient_id: int, answers: dict[str, str]) -> None:
    """Record a screening with the clinic form on the patient page (questions not given: "not known")."""
    page.goto(f"/clinic/patients/{patient_id}")
    page.eval_on_selector("#screening details", "d => { d.open = true; }")
    for question, value in answers.items():
        page.locator(f"#screening-{question}-{value}").check()
    page.get_by_role("button", name="Record screening").click()
    page.wait_for_url(re.compile(r".*notice=screening-saved.*"))


def _last_audit_id(server: LiveServer) -> int:
    engine = make_engine(server.database_url)
    try:
        with engine.connect() as c:
            return int(c.execute(select(AuditRow.id).order_by(AuditRow.id.desc()).limit(1)).scalar_one())
    finally:
        engine.dispose()


def _main_text(page: Any) -> str:
    return str(page.locator("main").inner_text())


def _fits_the_screen(page: Any) -> bool:
    """No sideways scrolling of the page itself (a phone's layout viewport can grow to fit
    wide content, so compare with the viewport the test set, not window.innerWidth)."""
    return int(page.evaluate("() => document.documentElement.scrollWidth")) <= page.viewport_size["width"] + 1


def test_clinician_and_patient_views_at_phone_and_desktop(page_desktop: Any, page_phone: Any,
                                                          live_server: LiveServer) -> None:
    pid = _demo_patient(live_server)
    page = page_desktop
    _sign_in(page, CLINICIAN)
    _record_screening(page, pid, {**dict.fromkeys(RED_FLAG_QUESTIONS, "no"),
                                  **dict.fromkeys(CANDIDACY_QUESTIONS, "yes")})
    audit_before = _last_audit_id(live_server)

    # clinician view, desktop
    page.goto(f"/clinic/patients/{pid}/decision-support")
    assert "Decision support" in page.locator("h1").inner_text()
    assert page.locator("#screening-warning").count() == 0 and page.locator("#urgent-message").count() == 0
    assert page.locator("#outcomes-table").is_visible()
    assert page.locator("#outcomes-table .ds-cell .est").count() >= 1      # at least one number with its source
    # the session's models (conftest.models_dir) give clinic-model cells and literature fall-backs side by side
    assert page.locator("#outcomes-table .badge.src-clinic").count() >= 1
    assert page.locator("#outcomes-table .badge.src-literature").count() >= 1
    assert page.locator("#models-table").is_visible()
    assert page.locator("#red-flags-table").is_visible()
    check_axe(page)
    save_shot(page, f"decision-support-desktop-{live_server.backend}")

    # patient version, desktop, opened from the clinician view
    page.locator("#open-patient-version").click()
    page.wait_for_url(re.compile(rf".*/clinic/patients/{pid}/decision-aid$"))
    assert page.locator("h1").inner_text().startswith("Your choices for")
    assert page.locator("table.aid-grid").is_visible()
    assert "c_statistic" not in page.content()
    for svg in page.locator("svg.icon-array").all():
        assert svg.get_attribute("role") == "img" and svg.get_attribute("aria-labelledby")
    check_axe(page)
    save_shot(page, f"decision-aid-desktop-{live_server.backend}")

    pdf = page.request.get(f"/clinic/patients/{pid}/decision-aid.pdf")
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.body()[:5] == b"%PDF-"
    assert_no_page_errors(page)

    # the same two pages on a phone
    phone = page_phone
    _sign_in(phone, CLINICIAN)
    phone.goto(f"/clinic/patients/{pid}/decision-support")
    assert phone.locator("#outcomes-table").count() == 1
    assert _fits_the_screen(phone)  # wide tables scroll inside their own region
    check_axe(phone)
    save_shot(phone, f"decision-support-phone-{live_server.backend}")
    phone.goto(f"/clinic/patients/{pid}/decision-aid")
    assert phone.locator("table.aid-grid").count() == 1
    assert _fits_the_screen(phone)
    size = phone.evaluate("() => parseFloat(getComputedStyle(document.querySelector('.aid-intro p')).fontSize)")
    assert size >= 18  # large type: 1.2rem
    check_axe(phone)
    save_shot(phone, f"decision-aid-phone-{live_server.backend}")
    assert_no_page_errors(phone)

    # every view was an audited read of the patient's data by the clinician
    engine = make_engine(live_server.database_url)
    try:
        with engine.connect() as c:
            reads = c.execute(select(AuditRow.id).where(
                AuditRow.actor == CLINICIAN, AuditRow.patient_id == pid, AuditRow.action == "read",
                AuditRow.id > audit_before)).all()
    finally:
        engine.dispose()
    assert len(reads) >= 5  # 2 × clinician view, 2 × patient version, the PDF


def test_red_flag_patient_sees_only_the_urgent_message(page_phone: Any, page_desktop: Any,
                                                       live_server: LiveServer) -> None:
    pid = _fresh_patient(live_server, "Redflag")
    page = page_phone
    _sign_in(page, CLINICIAN)
    _record_screening(page, pid, {"saddle_anaesthesia": "yes"})

    page.goto(f"/clinic/patients/{pid}/decision-aid")
    message = page.locator(".aid-message.aid-urgent")
    assert message.is_visible() and message.get_attribute("role") == "alert"
    text = _main_text(page)
    assert "a doctor needs to check your back today" in text
    for word in OPTION_WORDS:
        assert word.lower() not in text.lower(), word
    assert not re.search(r"\d", text), text
    assert page.locator("main svg, main table").count() == 0
    check_axe(page)
    save_shot(page, f"decision-aid-red-flag-phone-{live_server.backend}")

    page.goto(f"/clinic/patients/{pid}/decision-support")
    assert page.locator("#urgent-message").is_visible()
    assert page.locator("#outcomes-table, #models-table, #open-patient-version").count() == 0
    check_axe(page)
    save_shot(page, f"decision-support-red-flag-phone-{live_server.backend}")
    assert_no_page_errors(page)

    # a patient never screened: the patient version waits for the screening
    unscreened = _fresh_patient(live_server, "Unscreened")
    desk = page_desktop
    _sign_in(desk, CLINICIAN)
    desk.goto(f"/clinic/patients/{unscreened}/decision-aid")
    assert desk.locator(".aid-message.aid-unscreened").is_visible()
    assert "Safety questions first" in _main_text(desk) and "Keyhole" not in _main_text(desk)
    check_axe(desk)
    save_shot(desk, f"decision-aid-unscreened-desktop-{live_server.backend}")
    desk.goto(f"/clinic/patients/{unscreened}/decision-support")
    assert "not recorded" in desk.locator("#screening-warning").inner_text()
    check_axe(desk)
    save_shot(desk, f"decision-support-unscreened-desktop-{live_server.backend}")
    assert_no_page_errors(desk)
