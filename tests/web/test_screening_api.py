"""Red-flag screening through the REST API (``/api/v1/episodes/{id}/screening``): clinicians
record and read it, every other role is refused, every success is audited, and a bad answer is
a 422 problem naming ``screening.<field>`` and the allowed values. SQLite and PostgreSQL.

The world's site-A episode (conftest): disc herniation with radiculopathy (M51.16), MIS
discectomy, no conservative care and no imaging findings recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from spinetrack import clock
from spinetrack.config import Settings
from spinetrack.store.tables import AuditRow, ScreeningAssessmentRow
from spinetrack.web.app import create_app
from tests.web.conftest import World
from tests.web.test_api import (
    V1,
    fast_password_hashing,  # noqa: F401  (autouse fixture: applies here too)
    open_patient_session,
)

TODAY = clock.today()
RED_FLAG_QUESTIONS = ("saddle_anaesthesia", "bladder_bowel_dysfunction", "bilateral_leg_symptoms",
                      "suspected_infection", "suspected_malignancy", "suspected_fracture",
                      "progressive_motor_deficit", "severe_motor_deficit")
NO_FLAGS = dict.fromkeys(RED_FLAG_QUESTIONS, "no")


def _url(world: World, site: str = "A") -> str:
    return f"{V1}/episodes/{world.episodes[site]}/screening"


def _stored(app: Any) -> int:
    with app.state.engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(ScreeningAssessmentRow)).scalar_one())


def _audit(app: Any, actor: str) -> list[tuple[str, str, int | None]]:
    with app.state.engine.connect() as c:
        return [tuple(r) for r in c.execute(select(AuditRow.action, AuditRow.entity, AuditRow.patient_id)
                                            .where(AuditRow.actor == actor, AuditRow.entity == "screening")
                                            .order_by(AuditRow.id)).all()]


def test_clinician_records_and_reads_screening_with_audit(app: Any, world: World, client_for: Any) -> None:
    c = client_for("clinician")
    before = c.get(_url(world))
    assert before.status_code == 200, before.text
    b = before.json()
    assert (b["episode_id"], b["recorded"], b["urgent"], b["assessed_on"], b["answers"], b["message"]) == (
        world.episodes["A"], False, False, None, None, None)
    assert b["unanswered"] == list(RED_FLAG_QUESTIONS) and {f["status"] for f in b["red_flags"]} == {"unknown"}
    assert [(k["key"], k["status"]) for k in b["criteria"]] == [("disc_imaging_concordant", "unknown"),
                                                              ("disc_persistent_after_conservative", "unknown")]

    r = c.post(_url(world), json={**NO_FLAGS, "imaging_concordant": "yes", "persistent_after_conservative": "no",
                                  "assessed_on": TODAY.isoformat()})
    assert r.status_code == 201, r.text
    d = r.json()
    assert (d["recorded"], d["urgent"], d["message"], d["unanswered"]) == (True, False, None, [])
    assert d["assessed_on"] == TODAY.isoformat() and d["diagnosis_group"] == "disc_herniation_radiculopathy"
    assert d["answers"]["persistent_after_conservative"] == "no"
    assert d["answers"]["symptoms_limit_function"] == "unknown"
    assert {f["flag"]: f["status"] for f in d["red_flags"]} == {
        "cauda_equina": "absent", "infection": "absent", "malignancy": "absent", "fracture": "absent",
        "motor_deficit": "absent"}
    criteria = {k["key"]: k for k in d["criteria"]}
    assert criteria["disc_imaging_concordant"]["status"] == "met"
    assert criteria["disc_persistent_after_conservative"]["status"] == "not_met"
    assert "No conservative care is recorded" in criteria["disc_persistent_after_conservative"]["detail"]
    assert criteria["disc_imaging_concordant"]["citation"].startswith(
        "NASS evidence-based clinical guideline: diagnosis and treatment of lumbar disc herniation with radiculopathy")
    assert c.get(_url(world)).json() == d
    assert _audit(app, "a.clinician") == [("read", "screening", world.patients["A"]),
                                          ("create", "screening", world.patients["A"]),
                                          ("read", "screening", world.patients["A"]),
                                          ("read", "screening", world.patients["A"])]


@pytest.mark.parametrize("question", RED_FLAG_QUESTIONS)
def test_any_red_flag_makes_the_screening_urgent_without_criteria(
        app: Any, world: World, client_for: Any, question: str) -> None:
    c = client_for("clinician")
    r = c.post(_url(world), json={**NO_FLAGS, question: "yes", "imaging_concordant": "yes",
                                  "persistent_after_conservative": "yes", "symptoms_limit_function": "yes"})
    assert r.status_code == 201, r.text
    d = r.json()
    assert d["urgent"] is True and d["criteria"] == []
    assert "urgent assessment" in d["message"] and "no treatment comparison" in d["message"]
    [present] = [f for f in d["red_flags"] if f["status"] == "present"]
    assert present["raised_by"] == [question]
    assert present["citation"] == "NICE NG59: Low back pain and sciatica in over 16s: assessment and management"
    assert c.get(_url(world)).json()["urgent"] is True


@pytest.mark.parametrize(("body", "field", "allowed"), [
    ({"saddle_anaesthesia": "maybe"}, "screening.saddle_anaesthesia", "yes, no, unknown"),
    ({"severe_motor_deficit": 2}, "screening.severe_motor_deficit", "yes, no, unknown"),
    ({"cauda_equina": "yes"}, "screening.cauda_equina", "saddle_anaesthesia"),
    ({"assessed_on": "31/12/2025"}, "screening.assessed_on", "YYYY-MM-DD"),
    ({"assessed_on": "2999-01-01"}, "screening.assessed_on", "(today)"),
    ({"assessed_on": "0001-01-01"}, "screening.assessed_on", "a date from 1900-01-01"),
    ({"saddle_anaesthesia": True}, "screening.saddle_anaesthesia", "yes, no, unknown"),
    ({"suspected_fracture": "n\x00o"}, "screening.suspected_fracture", "without NUL"),
])
def test_bad_screening_is_a_422_naming_the_field_and_allowed_values(
        app: Any, world: World, client_for: Any, body: dict[str, Any], field: str, allowed: str) -> None:
    c = client_for("clinician")
    r = c.post(_url(world), json=body)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["error"] == "ValidationError" and problem["field"] == field
    assert allowed in problem["allowed"] and problem["message"].startswith(f"{field}: ")
    assert _stored(app) == 0 and _audit(app, "a.clinician") == []


def test_only_clinicians_of_the_site_may_record_or_read_screening(app: Any, world: World, client_for: Any) -> None:
    url = _url(world)
    for role, expected in (("coordinator", 403), ("researcher", 403), ("admin", 403), ("other_clinician", 404)):
        c = client_for(role)
        assert c.post(url, json=NO_FLAGS).status_code == expected, role
        assert c.get(url).status_code == expected, role
    assert client_for("anonymous").get(url).status_code == 401
    phone = open_patient_session(app, world.invitations["A"])
    assert phone.get(url).status_code == 401 and phone.post(url, json=NO_FLAGS).status_code == 401
    phone.close()
    assert _stored(app) == 0
    with app.state.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(AuditRow).where(AuditRow.entity == "screening")
                         ).scalar_one() == 0
    # site B's clinician records on their own episode
    assert client_for("other_clinician").post(_url(world, "B"), json=NO_FLAGS).status_code == 201


def test_openapi_documents_the_screening_endpoints(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'openapi.db'}"))
    with TestClient(app) as client:
        doc = client.get("/openapi.json").json()
    path = doc["paths"][f"{V1}/episodes/{{episode_id}}/screening"]
    assert {"get", "post"} <= set(path) and "201" in path["post"]["responses"]
    create = doc["components"]["schemas"]["ScreeningCreate"]
    assert create["additionalProperties"] is False
    assert {"enum": ["yes", "no", "unknown"], "type": "string"} in create["properties"]["saddle_anaesthesia"]["anyOf"]
    assert create["properties"]["saddle_anaesthesia"]["description"].endswith("?")
