"""The enrolment form that helps (issue 19 §4): every problem of one POST shown at once, each in
plain words beside its field naming the allowed values, the form keeping what was typed, nothing
stored while any problem remains; the patient's language recorded at enrolment (web and API).

Reference values: the allowed values are the domain's (Schizas A-D for central stenosis,
domain/diagnosis.py; BMI 10 to 90 kg/m2, domain/pathway.py); the messages are checked word for
word because their wording is the feature."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from spinetrack.domain.pathway import EpisodeRecord
from spinetrack.errors import ValidationError
from spinetrack.store.tables import AuditRow, EpisodeRow, PatientIdentityRow, PatientRow
from spinetrack.web.forms import FormErrors, check_enrolment, plain_message
from tests.web.conftest import World
from tests.web.test_clinic_pages import ENROL, count, post

Client = Callable[[str], TestClient]

# six mistakes in one submission, in six different parts of the form
MISTAKES = {
    "full_name": "", "bmi": "200", "birth_year": "nineteen", "email": "ada.example.org",
    "finding0_stenosis_grade": "", "treatment": "mis", "treatment_family": "",
}
EXPECTED = {  # input → its message, word for word
    "full_name": "Full name: enter the patient's name.",
    "bmi": "BMI: “200” is not allowed; enter a number from 10 to 90 kg/m2.",
    "birth_year": "Year of birth: “nineteen” is not a number;",
    "email": "E-mail: “ada.example.org” is not allowed; enter an e-mail address.",
    "finding0_stenosis_grade": "Stenosis grade (finding 1): choose A, B, C or D (Schizas).",
}


def _text(r: Any) -> str:
    return html.unescape(r.text)


def _described(text: str, name: str) -> str:
    """The message the input ``name`` points at with aria-describedby (and is aria-invalid)."""
    m = re.search(rf'<(?:input|select)[^>]*\bname="{re.escape(name)}"[^>]*>', text)
    assert m, name
    tag = m.group(0)
    assert 'aria-invalid="true"' in tag, tag
    ids = re.search(r'aria-describedby="([^"]+)"', tag)
    assert ids, tag
    first = ids.group(1).split()[0]
    p = re.search(rf'<p class="error field-error" id="{re.escape(first)}">(.*?)</p>', text, re.S)
    assert p, (name, first)
    return p.group(1)


def test_one_post_shows_every_problem_at_once_in_plain_words_and_stores_nothing(
        app: Any, world: World, client_for: Client) -> None:
    c = client_for("clinician")
    before = (count(app, PatientRow), count(app, EpisodeRow), count(app, PatientIdentityRow))
    with app.state.engine.connect() as conn:
        audits = len(conn.execute(select(AuditRow.id)).all())
    r = post(c, "/clinic/enrol", {**ENROL, **MISTAKES})
    assert r.status_code == 422
    text = _text(r)
    # the summary at the top: role=alert, one linked item per problem (six of them)
    summary = re.search(r'<div class="error error-summary" role="alert" id="form-error"[^>]*>(.*?)</div>', text, re.S)
    assert summary, text[:2000]
    links = re.findall(r'<li><a href="#([\w-]+)">(.*?)</a></li>', summary.group(1))
    assert [name for name, _ in links] == [
        "full_name", "email", "birth_year", "bmi", "finding0_stenosis_grade", "treatment_family"], links
    assert "Please correct these 6 problems:" in summary.group(1)
    for name, message in links:
        assert re.search(rf'\bid="{name}"', text), name  # every link has its target
        assert _described(text, name) == message
    for name, expected in EXPECTED.items():
        assert dict(links)[name].startswith(expected), (name, dict(links)[name])
    assert dict(links)["treatment_family"] == (
        "Procedure family: required for surgical treatment; choose discectomy, decompression or fusion.")
    # no field is named by its internal path, nothing says "None"
    assert "episode.imaging_findings" not in text and "None is not allowed" not in text
    # what was typed is kept: text, numbers, selects and checkboxes
    assert 'value="200"' in text and 'value="nineteen"' in text and 'value="ada.example.org"' in text
    assert re.search(r'<option value="mis" selected>', text)
    assert re.search(r'value="L3-L4" checked', text) and re.search(r'value="injection" checked', text)
    assert re.search(r'<option value="C"', text) and re.search(r'<option value="IV" selected>', text)
    # nothing stored, nothing audited as created
    assert (count(app, PatientRow), count(app, EpisodeRow), count(app, PatientIdentityRow)) == before
    with app.state.engine.connect() as conn:
        assert len(conn.execute(select(AuditRow.id)).all()) == audits


def test_fixing_everything_enrols_in_one_more_round_trip_with_the_language(
        app: Any, world: World, client_for: Client) -> None:
    c = client_for("clinician")
    assert post(c, "/clinic/enrol", {**ENROL, **MISTAKES}).status_code == 422
    r = post(c, "/clinic/enrol", {**ENROL, "language": "es"})
    assert r.status_code == 303, _text(r)[:3000]
    pid = int(re.search(r"/clinic/patients/(\d+)", r.headers["location"]).group(1))  # type: ignore[union-attr]
    with app.state.engine.connect() as conn:
        row = conn.execute(select(PatientIdentityRow.language, PatientIdentityRow.full_name).where(
            PatientIdentityRow.patient_id == pid)).one()
    assert tuple(row) == ("es", "Ada Example")


def test_a_language_outside_the_choices_is_refused_naming_them(app: Any, world: World, client_for: Client) -> None:
    c = client_for("clinician")
    before = count(app, PatientRow)
    r = post(c, "/clinic/enrol", {**ENROL, "language": "fr"})
    assert r.status_code == 422
    assert _described(_text(r), "language") == "Patient's language: “fr” is not allowed; choose English or Español."
    assert count(app, PatientRow) == before
    page = _text(c.get("/clinic/enrol"))
    assert '<option value="es">Español</option>' in page and '<option value="en">English</option>' in page


def test_a_finding_row_without_a_kind_is_not_dropped_silently(app: Any, world: World, client_for: Client) -> None:
    c = client_for("clinician")
    r = post(c, "/clinic/enrol", {**ENROL, "finding2_level": "L4-L5", "finding2_meyerding": "II"})
    assert r.status_code == 422
    assert _described(_text(r), "finding2_kind").startswith("Kind (finding 3): choose what the finding describes")


def test_a_finding_at_a_level_not_ticked_points_at_the_finding(app: Any, world: World, client_for: Client) -> None:
    c = client_for("clinician")
    r = post(c, "/clinic/enrol", {**ENROL, "levels": ["L4-L5"]})  # finding 2 is at L3-L4
    assert r.status_code == 422
    assert _described(_text(r), "finding1_level") == (
        "Level (finding 2): L3-L4 is not one of the episode's levels; choose L4-L5 or tick the level above.")


def test_the_api_records_the_language_and_refuses_others(app: Any, world: World, client_for: Client) -> None:
    c = client_for("clinician")
    body = {"birth_year": 1970, "sex": "male", "identity": {"full_name": "Ana Ejemplo", "language": "es"}}
    r = c.post("/api/v1/patients", json=body)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    with app.state.engine.connect() as conn:
        assert conn.execute(select(PatientIdentityRow.language).where(
            PatientIdentityRow.patient_id == pid)).scalar_one() == "es"
    before = count(app, PatientRow)
    r = c.post("/api/v1/patients", json={**body, "identity": {"full_name": "X", "language": "fr"}})
    assert r.status_code == 422 and "identity.language" in r.text and "en, es" in r.text
    assert count(app, PatientRow) == before
    schema = c.get("/api/v1/openapi.json").json() if c.get("/api/v1/openapi.json").status_code == 200 \
        else app.openapi()
    assert schema["components"]["schemas"]["IdentityCreate"]["properties"]["language"]["enum"] == ["en", "es", None]


# ---------------------------------------------------------------------------------- unit level


def test_plain_message_names_the_label_and_the_allowed_values() -> None:
    exc = ValidationError(field="episode.imaging_findings[0].stenosis_grade", value=None,
                          allowed=["A", "B", "C", "D"])
    assert plain_message(exc) == "Stenosis grade (finding 1): choose A, B, C or D (Schizas)."
    exc = ValidationError(field="patient.asa_grade", value=7, allowed="1 to 5 (whole numbers)")
    assert plain_message(exc) == "ASA physical status: “7” is not allowed; enter a whole number from 1 to 5."
    exc = ValidationError(field="episode.enrolled_on", value="01/03/2025",
                          allowed="a date from 1900-01-01 to 2026-12-07 (today: not in the future) as YYYY-MM-DD")
    assert plain_message(exc) == (
        "Enrolled on: “01/03/2025” is not allowed; enter a date from 1900-01-01 to today (year-month-day).")


def test_check_enrolment_gathers_problems_the_domain_reports_one_at_a_time() -> None:
    episode = {"diagnosis_code": "M99.99", "levels": [], "imaging_findings": [
        {"level": "L4-L5", "kind": "central_stenosis"}], "enrolled_on": "2025-02-30", "conservative_care": [],
        "conservative_care_weeks": -1, "treatment": None, "treatment_family": None, "index_date": None}
    try:
        EpisodeRecord.create(episode)
    except ValidationError as exc:
        assert exc.field == "episode.diagnosis_code"  # the domain stops at the first
    errors = check_enrolment({"full_name": "A"}, {"birth_year": 1970, "sex": "female"}, episode)
    assert isinstance(errors, FormErrors)
    assert list(errors) == ["diagnosis_code", "enrolled_on", "levels", "finding0_stenosis_grade",
                            "conservative_care_weeks"]  # in the form's order
    assert errors.get("levels") == "Levels: tick one or more of L1-L2, L2-L3, L3-L4, L4-L5 and L5-S1."


def test_the_episode_form_on_the_patient_page_shows_every_problem_at_once(
        app: Any, world: World, client_for: Client) -> None:
    c = client_for("clinician")
    pid = world.patients["A"]
    before = count(app, EpisodeRow)
    r = post(c, f"/clinic/patients/{pid}/episodes", {
        "diagnosis_code": "", "levels": [], "enrolled_on": "2025-13-01", "finding0_kind": "spondylolisthesis",
        "finding0_level": "L4-L5", "treatment": "open", "treatment_family": ""})
    assert r.status_code == 422
    text = _text(r)
    summary = re.search(r'<div class="error error-summary" role="alert"[^>]*>(.*?)</div>', text, re.S)
    assert summary
    links = re.findall(r'<li><a href="#([\w-]+)">(.*?)</a></li>', summary.group(1))
    assert [name for name, _ in links] == ["new-diagnosis_code", "new-enrolled_on", "new-levels",
                                          "new-finding0_meyerding", "new-treatment_family"], links
    assert dict(links)["new-finding0_meyerding"] == (
        "Meyerding grade (finding 1): choose I, II, III, IV or V (Meyerding).")
    for name, _ in links:
        assert re.search(rf'\bid="{name}"', text), name  # the summary's links land on the inputs
    assert re.search(r'<option value="spondylolisthesis" selected>', text)
    assert count(app, EpisodeRow) == before
