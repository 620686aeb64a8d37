"""Work status and analgesic use, the two patient-reported items of the ICHOM Low Back Pain
Standard Set (Clement RC et al., Acta Orthop 2015;86(5):523-533) that spinetrack words itself.

Reference values: the work-status categories are spinetrack's ``domain.pathway.WorkStatus`` (the
baseline case-mix vocabulary, so a follow-up answer and the baseline record agree); the analgesic
categories are the ones documented in ``instruments/analgesics.py`` and docs/ichom.md (ICHOM's own
answer options were not available: /work/shared/interop-codes.md, "Not found"). Both are
categorical: no total score. ICHOM's patient-reported set (NRS back and leg, ODI, EQ-5D, work
status, analgesic use) is what a visit asks by default.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from spinetrack import clock, instruments
from spinetrack.config import Settings
from spinetrack.domain.pathway import PatientRecord, WorkStatus
from spinetrack.errors import ValidationError
from spinetrack.instruments.base import Listing
from spinetrack.interop.questionnaire import answer_system, from_questionnaire_response, to_questionnaire
from spinetrack.store.repositories import SYSTEM, Actor
from spinetrack.store.tables import PromResponseRow
from spinetrack.web.app import create_app

WORK = instruments.get("work_status")
ANALGESICS = instruments.get("analgesics")


# ------------------------------------------------------------------------------ work status

def test_work_status_categories_are_the_baseline_vocabulary() -> None:
    item = WORK.definition.item("status")
    assert [o.code for o in item.options] == [ws.value for ws in WorkStatus]
    assert [o.value for o in item.options] == list(range(1, len(WorkStatus) + 1))
    # every answer code is accepted as the baseline record's patient.work_status
    for o in item.options:
        rec = PatientRecord.create({"pseudo_id": "P-1", "birth_year": 1970, "sex": "female", "work_status": o.code},
                                   today=dt.date(2025, 1, 1))
        assert rec.work_status is WorkStatus(o.code)


def test_work_status_has_no_total_and_gives_the_category() -> None:
    for o in WORK.definition.item("status").options:
        s = WORK.score({"status": o.value})
        assert s.valid and s.total is None and s.band == o.code
        assert s.subscales["working"] is (o.code == "employed")
        assert s.detail() == {"band": o.code, "working": o.code == "employed"}
    with pytest.raises(ValidationError) as err:
        WORK.score({"status": 8})
    assert err.value.field == "work_status.status" and err.value.allowed == "1, 2, 3, 4, 5, 6, 7"
    with pytest.raises(ValidationError) as err:
        WORK.score({})
    assert err.value.reason == "required"


# ------------------------------------------------------------------------------ analgesics

def test_analgesics_frequency_band_and_classes() -> None:
    s = ANALGESICS.score({"frequency": 2, "opioid": 1, "nerve_pain": 0})
    assert s.total is None and s.valid and s.band == "daily" and s.n_answered == 3
    assert s.subscales == {"any_use": True, "opioid": True, "nerve_pain": False}
    some = ANALGESICS.score({"frequency": 1, "opioid": 2})  # "not sure" is an answer, not a yes or no
    assert some.band == "some_days" and some.subscales == {"any_use": True} and some.n_answered == 2
    none = ANALGESICS.score({"frequency": 0})
    assert none.band == "none" and none.subscales == {"any_use": False} and none.n_answered == 1
    assert ANALGESICS.score({"frequency": 0, "opioid": 0, "nerve_pain": 2}).valid


@pytest.mark.parametrize("item", ["opioid", "nerve_pain"])
def test_no_medicine_and_yes_to_a_class_is_refused_naming_the_item(item: str) -> None:
    with pytest.raises(ValidationError) as err:
        ANALGESICS.score({"frequency": 0, item: 1})
    assert err.value.field == f"analgesics.{item}" and "no pain medicine" in (err.value.reason or "")
    many = ANALGESICS.score_many({"frequency": np.array([0.0, 1.0]), item: np.array([1.0, 1.0])})
    assert many.valid.tolist() == [False, True] and np.isnan(many.total).all()
    assert many.subscales[item].tolist() == [False, True]


def test_analgesics_requires_the_frequency_and_refuses_unknown_values() -> None:
    with pytest.raises(ValidationError) as err:
        ANALGESICS.score({"opioid": 0})
    assert err.value.field == "analgesics.frequency" and err.value.reason == "required"
    with pytest.raises(ValidationError) as err:
        ANALGESICS.score({"frequency": 1, "opioid": 3})
    assert err.value.field == "analgesics.opioid" and err.value.allowed == "0, 1, 2"


# ------------------------------------------------------------------------------ lists, FHIR

def test_a_visit_asks_ichoms_patient_reported_set_by_default() -> None:
    """ICHOM LBP PROMs: NRS back and leg, ODI 2.1a, EQ-5D, work status, analgesic use."""
    assert set(instruments.listed(Listing.VISIT_DEFAULT)) == {
        "odi", "nrs_back", "nrs_leg", "eq5d5l", "work_status", "analgesics"}
    # categorical: not in the analysed score grid, the timelines or the patient's result plots
    for listing in (Listing.ANALYSED, Listing.TIMELINE, Listing.PATIENT_RESULTS):
        assert not {"work_status", "analgesics"} & set(instruments.listed(listing))


@pytest.mark.parametrize("code", ["work_status", "analgesics"])
def test_fhir_questionnaire_renders_and_a_response_round_trips(code: str) -> None:
    inst = instruments.get(code)
    q = to_questionnaire(inst)
    assert [it["linkId"] for it in q["item"]] == list(inst.definition.item_codes)
    first = q["item"][0]
    codes = [o["valueCoding"]["code"] for o in first["answerOption"]]
    assert codes == [o.code for o in inst.definition.items[0].options]
    assert first["answerOption"][0]["valueCoding"]["system"] == answer_system(inst, inst.definition.items[0])
    assert "code" not in q  # no LOINC code invented for our own items
    answers = {"status": 2} if code == "work_status" else {"frequency": 1, "opioid": 0, "nerve_pain": 1}
    qr = {"resourceType": "QuestionnaireResponse", "status": "completed", "questionnaire": q["url"],
          "item": [{"linkId": k, "answer": [{"valueCoding": {
              "system": answer_system(inst, k),
              "code": next(o.code for o in inst.definition.item(k).options if o.value == v)}}]}
              for k, v in answers.items()]}
    got = from_questionnaire_response(inst, qr)
    assert {k: v for k, v in got.items() if v is not None} == answers


# ------------------------------------------------------------------------------ the patient pages

def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token"
    return m.group(1)


def _visit(engine: Engine) -> tuple[Any, int, str]:
    """The app, and an operated episode 40 days ago with an open 6-week visit asking work status
    and analgesic use: ``(app, episode id, link token)``."""
    app = create_app(Settings(database_url=engine.url.render_as_string(hide_password=False)), engine=engine)
    store, access = app.state.store, app.state.access
    site = store.add_site(SYSTEM, code="SITE-A", name="Site A", country="GB")
    actor = Actor("setup", "clinician", site)
    surgery = clock.today() - dt.timedelta(days=40)
    pid = store.add_patient(actor, site, {"birth_year": 1968, "sex": "female"},
                            identity={"full_name": "Patient Example", "mrn": "MRN-1"})
    eid = store.add_episode(actor, pid, {"diagnosis_code": "M51.16", "levels": "L4-L5",
                                         "enrolled_on": (surgery - dt.timedelta(days=20)).isoformat(),
                                         "treatment": "mis", "treatment_family": "discectomy"})
    store.add_procedure(actor, eid, {"procedure_code": "discectomy_tubular", "performed_on": surgery.isoformat(),
                                     "levels": "L4-L5"})
    _, token = access.create_invitation(actor, eid, timepoint="6w", instrument_codes=["work_status", "analgesics"])
    return app, eid, token


def _answer_all(c: TestClient, code: str, answers: dict[str, Any]) -> Any:
    """Answer every screen as the browser does (skipping items absent from ``answers``), then
    submit from the review page; returns the submit's response."""
    items = instruments.get(code).definition.items
    for step, item in enumerate(items, start=1):
        html = c.get(f"/p/q/{code}?step={step}").text
        value = answers.get(item.code)
        data = {"csrf_token": _csrf(html), "step": str(step), "action": "next" if value is not None else "skip"}
        if value is not None:
            data["answer"] = str(value)
        r = c.post(f"/p/q/{code}", data=data, follow_redirects=False)
        assert r.status_code == 303, r.text
    review = c.get(f"/p/q/{code}?step={len(items) + 1}").text
    key = re.search(r'name="idempotency_key" value="([^"]+)"', review)
    assert key, review
    return c.post(f"/p/q/{code}/submit", data={"csrf_token": _csrf(review), "idempotency_key": key.group(1)},
                  follow_redirects=False)


def test_a_patient_answers_both_on_the_questionnaire_pages(engine: Engine) -> None:
    app, eid, token = _visit(engine)
    want: dict[str, dict[str, Any]] = {"work_status": {"status": 2}, "analgesics": {"frequency": 2, "opioid": 1}}
    with TestClient(app, base_url="http://testserver") as c:
        assert c.get(f"/p/{token}").status_code == 200
        page = c.get("/p/q/work_status?step=1")
        assert page.status_code == 200 and page.text.count('type="radio"') == len(WorkStatus)
        assert "Off work on sick leave" in page.text and "Which best describes what you mainly do now?" in page.text
        for code, answers in want.items():
            r = _answer_all(c, code, answers)
            assert r.status_code == 303 and r.headers["location"] == f"/p/done?instrument={code}", r.text
    with engine.connect() as conn:
        rows = {r.instrument: r for r in conn.execute(select(PromResponseRow).where(
            PromResponseRow.episode_id == eid)).all()}
    assert rows["work_status"].score is None and rows["work_status"].valid
    assert rows["work_status"].score_detail == {"band": "sick_leave", "working": False}
    assert rows["analgesics"].score_detail == {"n_answered": 2, "band": "daily", "any_use": True, "opioid": True}
    assert {k: v for k, v in rows["analgesics"].answers.items() if v is not None} == want["analgesics"]


def test_a_contradictory_answer_is_shown_on_the_review_and_not_stored(engine: Engine) -> None:
    """'Not at all' then 'yes' to an opioid: the review names the question to change and offers
    no send button; a forged submit is refused (422)."""
    app, eid, token = _visit(engine)
    with TestClient(app, base_url="http://testserver") as c:
        assert c.get(f"/p/{token}").status_code == 200
        for step, value in ((1, 0), (2, 1), (3, None)):
            html = c.get(f"/p/q/analgesics?step={step}").text
            data = {"csrf_token": _csrf(html), "step": str(step), "action": "next" if value is not None else "skip"}
            if value is not None:
                data["answer"] = str(value)
            assert c.post("/p/q/analgesics", data=data, follow_redirects=False).status_code == 303
        review = c.get("/p/q/analgesics?step=4").text
        assert 'role="alert"' in review and "no pain medicine" in review
        assert 'href="/p/q/analgesics?step=2"' in review and 'name="idempotency_key"' not in review
        csrf = _csrf(c.get("/p/q/analgesics?step=1").text)
        r = c.post("/p/q/analgesics/submit", data={"csrf_token": csrf, "idempotency_key": str(uuid.uuid4())},
                   follow_redirects=False)
        assert r.status_code == 422
    with engine.connect() as conn:
        assert not conn.execute(select(PromResponseRow).where(PromResponseRow.episode_id == eid)).all()
