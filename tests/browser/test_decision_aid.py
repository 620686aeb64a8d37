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
* The patient's own aid: the clinician releases it; the patient opens it from their home on a
  phone (390×844): summary first (the side-by-side table, no column cut off: every cell inside
  the viewport), details folded; weighs what matters most to them; takes the PDF home (its text
  read with pypdf); reads it in Spanish after the language switch (desktop). The page weighs at
  most 150 kB on first load (``tests/browser/weight.py``). The clinician then sees the patient's
  weights on the decision-support page and the clinic's aid.

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


def _demo_patient(server: LiveServer, nth: int = 0) -> int:
    """The ``nth`` (from 0) demo patient of the North site whose latest episode is a disc herniation."""
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
                    if nth == 0:
                        return int(pid)
                    nth -= 1
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


def _cells_inside(page: Any) -> list[str]:
    """The cells of the side-by-side table whose box reaches past the viewport's width (a column
    cut off), as "text (left–right)"; empty when every cell is inside."""
    width = page.viewport_size["width"]
    out = []
    for cell in page.locator("table.aid-grid th, table.aid-grid td").all():
        box = cell.bounding_box()
        if box is None:  # hidden (the stacked table's column heads)
            continue
        if box["x"] < -0.5 or box["x"] + box["width"] > width + 0.5:
            out.append(f"{cell.inner_text()[:40]!r} ({box['x']:.0f}-{box['x'] + box['width']:.0f})")
    return out


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
    assert _cells_inside(phone) == []  # the table stacks: no column is cut off
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


def _episode_of(server: LiveServer, patient_id: int) -> int:
    engine = make_engine(server.database_url)
    try:
        with engine.connect() as c:
            return int(c.execute(select(EpisodeRow.id).where(EpisodeRow.patient_id == patient_id)
                                 .order_by(EpisodeRow.id.desc()).limit(1)).scalar_one())
    finally:
        engine.dispose()


def _home_link(server: LiveServer, episode_id: int) -> str:
    from sqlalchemy.orm import Session

    from spinetrack.followup.links import new_patient_link

    engine = make_engine(server.database_url)
    try:
        with Session(engine) as s, s.begin():
            return new_patient_link(s, episode_id, purpose="manual", created_by="browser-tests")
    finally:
        engine.dispose()


def _pdf_text(body: bytes) -> str:
    import io

    import pypdf

    return re.sub(r"\s+", " ", " ".join(p.extract_text() or "" for p in pypdf.PdfReader(io.BytesIO(body)).pages))


def test_the_patient_weighs_what_matters_on_their_own_aid_and_takes_it_home(page_phone: Any, page_desktop: Any,
                                                                             live_server: LiveServer) -> None:
    from tests.browser.weight import PATIENT_PAGE_LIMIT, measure

    pid = _demo_patient(live_server, nth=1)
    clinic = page_desktop
    _sign_in(clinic, CLINICIAN)
    _record_screening(clinic, pid, {**dict.fromkeys(RED_FLAG_QUESTIONS, "no"),
                                    **dict.fromkeys(CANDIDACY_QUESTIONS, "yes")})
    clinic.goto(f"/clinic/patients/{pid}#decision-aid")
    if clinic.get_by_role("button", name="Release the decision aid").count():
        clinic.get_by_role("button", name="Release the decision aid").click()
        clinic.wait_for_url(re.compile(r".*notice=aid-released.*"))
    token = _home_link(live_server, _episode_of(live_server, pid))

    # the patient, on a phone: the home, then the aid from its link
    phone = page_phone
    phone.goto(f"/p/h/{token}")
    link = phone.locator('a[href="/p/home/decision-aid"]')
    assert link.count() == 1
    weight = measure(phone, lambda: link.click())
    print(weight.describe())
    assert phone.url.endswith("/p/home/decision-aid")
    assert weight.total <= PATIENT_PAGE_LIMIT, weight.describe()
    assert not [url for url, _n in weight.requests if url.endswith(".js")], weight.describe()
    assert phone.locator("h1").inner_text().startswith("Your choices for")
    # summary first: the table, then what matters most, then the details, folded
    order = phone.evaluate("""() => ['#aid-grid', '#aid-prefs', '#aid-details'].map(
        s => document.querySelector(s).getBoundingClientRect().top + window.scrollY)""")
    assert order == sorted(order), order
    assert phone.locator("details[open]").count() == 0 and phone.locator("details").count() >= 9
    assert _fits_the_screen(phone) and _cells_inside(phone) == []
    cells = phone.locator("table.aid-grid td").all_inner_texts()
    assert cells and all(re.search(r"in 100 people|scale \((lower|higher) is better\)|days?|weeks?|does not apply",
                                   c) for c in cells), cells
    assert not [c for c in cells if "no estimate" in c and "Keyhole" in c]
    assert check_axe(phone) == [], "axe-core: violations of any impact"
    save_shot(phone, f"decision-aid-home-phone-{live_server.backend}")

    # what matters most: nothing chosen beforehand; choose, save, see it kept
    assert phone.locator("#aid-prefs input[type=radio]:checked").count() == 0
    for factor, answer in (("Less pain in my leg or back", "Matters most to me"),
                           ("Getting back to my usual activities quickly", "Matters a lot"),
                           ("A low chance of problems from the treatment", "Matters somewhat"),
                           ("Not having an operation", "Does not matter to me")):
        phone.get_by_role("group", name=factor).get_by_label(answer).check()
    phone.get_by_role("button", name="Save my answers").click()
    phone.wait_for_url(re.compile(r".*/p/home/decision-aid\?saved=1.*"))
    assert "Your answers are saved" in _main_text(phone)
    assert phone.locator("#aid-prefs input[type=radio]:checked").count() == 4
    check_axe(phone)
    save_shot(phone, f"decision-aid-home-saved-phone-{live_server.backend}")

    # the take-home copy: a PDF with every detail and the patient's answers
    pdf = phone.request.get("/p/home/decision-aid.pdf")
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    text = _pdf_text(pdf.body())
    assert "Your choices for" in text and "What matters most to you" in text and "Matters most to me" in text
    assert "in 100 people" in text and "does not change any of the numbers" in text
    # printing the page itself: the page chrome and the buttons stay off the paper
    phone.emulate_media(media="print")
    assert not phone.locator(".aid-actions").is_visible()
    phone.emulate_media(media="screen")
    assert_no_page_errors(phone)

    # the same patient on a desktop, in Spanish (the language switch)
    desk = page_desktop.context.browser.new_context(base_url=live_server.base_url, viewport={"width": 1280,
                                                                                               "height": 900})
    try:
        es = desk.new_page()
        es.goto(f"/p/h/{token}")
        es.goto("/p/home/decision-aid")
        es.get_by_role("button", name="Español").click()
        es.wait_for_url(re.compile(r".*/p/home/decision-aid.*"))
        assert es.locator("h1").inner_text().startswith("Sus opciones para")
        assert "¿Qué es lo que más le importa?" in es.locator("main").inner_text()
        assert es.locator("#aid-prefs input[type=radio]:checked").count() == 4  # the answers kept
        assert _cells_inside(es) == [] and _fits_the_screen(es)
        assert check_axe(es) == []
        save_shot(es, f"decision-aid-home-es-desktop-{live_server.backend}")
        text_es = _pdf_text(es.request.get("/p/home/decision-aid.pdf").body())
        assert "Sus opciones para" in text_es and "de cada 100 personas" in text_es
        assert "Es lo que más me importa" in text_es
    finally:
        desk.close()

    # the clinician sees what matters most to the patient, beside the numbers
    clinic.goto(f"/clinic/patients/{pid}/decision-support")
    prefs = clinic.locator("#patient-preferences").inner_text()
    assert "Less pain in my leg or back" in prefs and "4 / 4" in prefs and "Not having an operation" in prefs
    assert "do not change any number" in prefs
    check_axe(clinic)
    save_shot(clinic, f"decision-support-preferences-desktop-{live_server.backend}")
    clinic.goto(f"/clinic/patients/{pid}/decision-aid")
    assert "Matters most to me" in clinic.locator("#aid-prefs-h + dl, .aid-prefs").first.inner_text()
    assert_no_page_errors(clinic)
