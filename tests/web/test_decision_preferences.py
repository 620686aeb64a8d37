"""What matters most to the patient (IPDAS values clarification): the store
(``store.preferences``: validated, append-only, the newest current, audited, role- and
site-checked) and the pages (the patient weighs the four factors on their own aid, from their
home; the clinician sees the newest weights on the clinic's aid and decision-support pages; the
take-home PDF carries them, in the patient's language). SQLite and PostgreSQL (``engine``)."""

from __future__ import annotations

import re
import secrets
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from spinetrack import clock
from spinetrack.errors import NotFoundError, PermissionDeniedError, ValidationError
from spinetrack.store.home import hash_link_token
from spinetrack.store.preferences import current_preferences, preference_history, save_preferences
from spinetrack.store.repositories import Actor
from spinetrack.store.screening import save_screening
from spinetrack.store.tables import AuditRow, DecisionPreferenceRow, EpisodeRow, PatientLinkRow
from tests.web.conftest import World

RED_FLAG_QUESTIONS = ("saddle_anaesthesia", "bladder_bowel_dysfunction", "bilateral_leg_symptoms",
                      "suspected_infection", "suspected_malignancy", "suspected_fracture",
                      "progressive_motor_deficit", "severe_motor_deficit")


def _clinician(world: World, site: str = "A") -> Actor:
    return Actor(f"{site.lower()}.clinician", "clinician", world.sites[site])


def _patient(world: World, site: str = "A") -> Actor:
    return Actor(f"patient:home/{world.episodes[site]}", "patient", world.sites[site], world.patients[site])


# ---------------------------------------------------------------------------------- the store


def test_weights_are_stored_append_only_and_the_newest_is_current(app: Any, world: World) -> None:
    store, eid = app.state.store, world.episodes["A"]
    assert current_preferences(store, _clinician(world), eid) is None
    first = save_preferences(store, _patient(world), eid, {"pain_relief": "4", "avoid_surgery": 1})
    second = save_preferences(store, _clinician(world), eid, {"pain_relief": 3, "recovery_time": 2,
                                                              "complication_risk": 4, "avoid_surgery": 0})
    assert first.weights == {"pain_relief": 4, "avoid_surgery": 1} and first.recorded_by == _patient(world).name
    now = current_preferences(store, _clinician(world), eid)
    assert now is not None and now.id == second.id and now.recorded_by == "a.clinician"
    assert now.weights == {"recovery_time": 2, "pain_relief": 3, "complication_risk": 4, "avoid_surgery": 0}
    assert [p.id for p in preference_history(store, _patient(world), eid)] == [second.id, first.id]  # both kept
    with app.state.engine.connect() as c:
        rows = c.execute(select(AuditRow.actor, AuditRow.action, AuditRow.entity, AuditRow.patient_id)
                         .where(AuditRow.entity == "decision_preferences").order_by(AuditRow.id)).all()
    pid = world.patients["A"]
    assert [tuple(r) for r in rows] == [
        ("a.clinician", "read", "decision_preferences", pid),
        (_patient(world).name, "create", "decision_preferences", pid),
        ("a.clinician", "create", "decision_preferences", pid),
        ("a.clinician", "read", "decision_preferences", pid),
        (_patient(world).name, "read", "decision_preferences", pid)]


@pytest.mark.parametrize(("weights", "field", "allowed"), [
    ({"pain_relief": 5}, "preferences.pain_relief", "a whole number from 0 to 4"),
    ({"pain_relief": "-1"}, "preferences.pain_relief", "a whole number from 0 to 4"),
    ({"pain_relief": True}, "preferences.pain_relief", "a whole number from 0 to 4"),
    ({"cost": 2}, "preferences.cost", "recovery_time, pain_relief, complication_risk, avoid_surgery"),
    ({}, "preferences", "at least one of recovery_time, pain_relief, complication_risk, avoid_surgery"),
])
def test_bad_weights_are_refused_naming_the_field_and_nothing_is_stored(app: Any, world: World,
                                                                        weights: dict[str, Any], field: str,
                                                                        allowed: str) -> None:
    with pytest.raises(ValidationError) as err:
        save_preferences(app.state.store, _patient(world), world.episodes["A"], weights)
    assert err.value.field == field and allowed in err.value.allowed
    with app.state.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(DecisionPreferenceRow)).scalar_one() == 0


def test_roles_and_sites_are_checked(app: Any, world: World) -> None:
    store, eid = app.state.store, world.episodes["A"]
    save_preferences(store, _patient(world), eid, {"pain_relief": 2})
    for role in ("coordinator", "researcher", "admin"):
        with pytest.raises(PermissionDeniedError):
            save_preferences(store, Actor(f"x.{role}", role, world.sites["A"]), eid, {"pain_relief": 1})
    for role in ("researcher", "admin"):
        with pytest.raises(PermissionDeniedError):
            current_preferences(store, Actor(f"x.{role}", role, world.sites["A"]), eid)
    assert current_preferences(store, Actor("a.coord", "coordinator", world.sites["A"]), eid) is not None
    with pytest.raises(NotFoundError):  # another site's clinician: the episode is not found
        current_preferences(store, _clinician(world, "B"), eid)
    with pytest.raises(NotFoundError):  # another patient
        save_preferences(store, _patient(world, "B"), eid, {"pain_relief": 1})


# ---------------------------------------------------------------------------------- the pages


def _home(app: Any, world: World) -> str:
    """A home link for episode A, its aid released and a complete red-flag screening recorded."""
    eid = world.episodes["A"]
    token = secrets.token_urlsafe(32)
    with app.state.store.transaction() as s:
        s.add(PatientLinkRow(token_hash=hash_link_token(token), episode_id=eid, purpose="message",
                             created_by="test", created_at=clock.utcnow(), revoked=False))
        s.get(EpisodeRow, eid).decision_aid_released_at = clock.utcnow()  # type: ignore[union-attr]
    save_screening(app.state.store, _clinician(world), eid, dict.fromkeys(RED_FLAG_QUESTIONS, "no"))
    return token


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m
    return m.group(1)


def test_the_patient_weighs_what_matters_and_the_clinician_sees_it(app: Any, world: World,
                                                                  client_for: Any) -> None:
    token = _home(app, world)
    with TestClient(app) as c:
        c.get(f"/p/h/{token}")
        page = c.get("/p/home/decision-aid")
        assert page.status_code == 200
        html = page.text
        assert "What matters most to you?" in html and "does not change any of the numbers" in html
        assert html.count('type="radio"') == 4 * 5 and " checked" not in html  # nothing chosen beforehand
        # the step sits after the summary table and before the details
        assert html.index('id="aid-grid"') < html.index('id="aid-prefs"') < html.index('id="aid-details"')
        bad = c.post("/p/home/decision-aid/preferences", data={"csrf_token": _csrf(html), "pain_relief": "9"})
        assert bad.status_code == 400
        assert "Please choose one of the answers from 0 to 4 for: Less pain in my leg or back." in bad.text
        assert 'value="9"' not in bad.text  # only the five answers are offered again
        assert c.post("/p/home/decision-aid/preferences", data={"pain_relief": "4"}).status_code in (401, 403)  # CSRF
        ok = c.post("/p/home/decision-aid/preferences", follow_redirects=False,
                    data={"csrf_token": _csrf(html), "pain_relief": "4", "recovery_time": "1", "avoid_surgery": "0"})
        assert ok.status_code == 303 and ok.headers["location"].startswith("/p/home/decision-aid?saved=1")
        again = c.get("/p/home/decision-aid?saved=1").text
        assert "Your answers are saved" in again
        assert re.search(r'name="pain_relief" value="4" checked', again)
        pdf = c.get("/p/home/decision-aid.pdf")
        assert pdf.status_code == 200 and pdf.content[:5] == b"%PDF-"
    with app.state.engine.connect() as conn:
        stored = conn.execute(select(DecisionPreferenceRow.weights, DecisionPreferenceRow.recorded_by)).all()
    assert [tuple(r) for r in stored] == [({"recovery_time": 1, "pain_relief": 4, "avoid_surgery": 0},
                                           f"patient:home/{world.episodes['A']}")]
    clinic = client_for("clinician")
    pid = world.patients["A"]
    support = clinic.get(f"/clinic/patients/{pid}/decision-support").text
    section = support[support.index('id="patient-preferences"'):support.index('id="outcomes"')]
    assert "Less pain in my leg or back" in section and "4 / 4" in section and "Matters most to me" in section
    assert "Not having an operation" in section and "0 / 4" in section
    assert "A low chance of problems" not in section  # not weighed: not shown as if it were
    aid = clinic.get(f"/clinic/patients/{pid}/decision-aid").text
    assert "Matters most to me" in aid and "does not change any of the numbers" in aid


def test_the_home_aid_speaks_spanish_to_a_spanish_speaking_patient(app: Any, world: World) -> None:
    from spinetrack.store.tables import PatientIdentityRow

    token = _home(app, world)
    with app.state.store.transaction() as s:
        s.get(PatientIdentityRow, world.patients["A"]).language = "es"  # type: ignore[union-attr]
    with TestClient(app) as c:
        c.get(f"/p/h/{token}")
        html = c.get("/p/home/decision-aid").text
        assert "¿Qué es lo que más le importa?" in html and "Es lo que más me importa" in html
        assert "Sus opciones" in html and "Descargar una copia para guardar (PDF)" in html
        assert "What matters most" not in html
