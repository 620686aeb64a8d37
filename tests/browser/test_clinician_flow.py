"""A clinician enrols a patient, records a minimally invasive procedure and sees the timeline
plot; a clinician of another site is refused; the clinic overview draws its plots. In Debian's
Chromium on SQLite and PostgreSQL, with axe-core on each page."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from sqlalchemy import select

from spinetrack import clock
from spinetrack.store.session import make_engine
from spinetrack.store.tables import AuditRow, EpisodeRow, PatientIdentityRow, ProcedureRow
from tests.browser.conftest import DEMO_PASSWORD, LiveServer, assert_no_page_errors, check_axe, save_shot


def _sign_in(page: Any, username: str) -> None:
    page.goto("/login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/clinic.*"))


def test_clinician_enrols_records_mis_procedure_and_sees_timeline(page_desktop: Any, live_server: LiveServer) -> None:
    page = page_desktop
    _sign_in(page, "north.clinician")
    check_axe(page)
    save_shot(page, f"clinic-list-{live_server.backend}")

    name = f"Enrolled Browser {uuid.uuid4().hex[:6]}"
    surgery = clock.today() - dt.timedelta(days=3)
    page.goto("/clinic/enrol")
    page.locator("#full_name").fill(name)
    page.locator("#mrn").fill(f"BR-{uuid.uuid4().hex[:6]}")
    page.locator("#birth_year").fill("1972")
    page.locator("#sex").select_option("male")
    page.locator("#bmi").fill("28.5")
    page.locator("#diagnosis_code").select_option("M51.16")
    page.locator("#enrolled_on").fill((surgery - dt.timedelta(days=30)).isoformat())
    page.locator("input[name=levels][value='L4-L5']").check()
    page.locator("#treatment").select_option("mis")
    page.locator("#treatment_family").select_option("discectomy")
    check_axe(page)
    page.get_by_role("button", name="Enrol patient").click()
    page.wait_for_url(re.compile(r".*/clinic/patients/\d+.*"))
    assert name in page.locator("h1").inner_text()
    patient_id = int(re.search(r"/clinic/patients/(\d+)", page.url).group(1))  # type: ignore[union-attr]

    page.locator("#procedure_code").select_option("discectomy_tubular")
    page.locator("#performed_on").fill(surgery.isoformat())
    page.locator("#incision_mm").fill("18")
    page.locator("#ebl_ml").fill("25")
    page.locator("#op_time_min").fill("70")
    page.locator("#fluoro_s").fill("40")
    page.locator("#los_days").fill("1")
    page.get_by_role("button", name="Record procedure").click()
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=15_000)  # the timeline plot is drawn
    check_axe(page)
    save_shot(page, f"clinic-patient-timeline-{live_server.backend}")
    assert_no_page_errors(page)

    engine = make_engine(live_server.database_url)
    try:
        with engine.connect() as c:
            ident = c.execute(select(PatientIdentityRow.full_name).where(
                PatientIdentityRow.patient_id == patient_id)).scalar_one()
            proc = c.execute(select(ProcedureRow.approach, ProcedureRow.technique, ProcedureRow.incision_mm,
                                    ProcedureRow.ebl_ml, ProcedureRow.op_time_min)
                             .join(EpisodeRow, EpisodeRow.id == ProcedureRow.episode_id)
                             .where(EpisodeRow.patient_id == patient_id)).one()
            audited = c.execute(select(AuditRow.action, AuditRow.entity).where(
                AuditRow.patient_id == patient_id, AuditRow.actor == "north.clinician")).all()
    finally:
        engine.dispose()
    assert ident == name
    assert tuple(proc) == ("mis", "tubular", 18, 25, 70)
    assert ("create", "patient") in audited and ("create", "procedure") in audited and ("read", "patient") in [
        (a, e) for a, e in audited]

    # another site's clinician is refused and sees nothing of the patient
    other = page.context.browser.new_context(base_url=live_server.base_url)
    try:
        p2 = other.new_page()
        _sign_in(p2, "central.clinician")
        resp = p2.goto(f"/clinic/patients/{patient_id}")
        assert resp is not None and resp.status in (403, 404)
        assert name not in p2.content()
        api = p2.request.get(f"/api/v1/patients/{patient_id}")
        assert api.status == 404 and name not in api.text()
        save_shot(p2, f"clinic-other-site-refused-{live_server.backend}")
    finally:
        other.close()


def test_clinic_overview_draws_its_plots_for_a_researcher(page_desktop: Any, live_server: LiveServer) -> None:
    page = page_desktop
    _sign_in(page, "researcher")
    page.goto("/clinic/overview")
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=15_000)
    check_axe(page)
    save_shot(page, f"clinic-overview-researcher-{live_server.backend}")
    assert_no_page_errors(page)
    resp = page.goto("/clinic")
    assert resp is not None and resp.status == 403  # no patient list for researchers
