"""Red-flag screening assessments in the store (``spinetrack.store.screening``): validated,
append-only, audited writes and reads, on SQLite and on PostgreSQL (the ``engine`` fixture)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from spinetrack import clock
from spinetrack.domain.screening import Answer, CriterionStatus, RedFlag, ScreeningAnswers
from spinetrack.errors import NotFoundError, PermissionDeniedError, ValidationError
from spinetrack.store.repositories import SYSTEM, Actor, Store
from spinetrack.store.screening import get_latest_screening, save_screening, screen_episode
from spinetrack.store.tables import AuditRow, ScreeningAssessmentRow

CLIN = Actor("dr.screen", "clinician", 1)
NO_FLAGS = dict.fromkeys(("saddle_anaesthesia", "bladder_bowel_dysfunction", "bilateral_leg_symptoms",
                          "suspected_infection", "suspected_malignancy", "suspected_fracture",
                          "progressive_motor_deficit", "severe_motor_deficit"), "no")
TODAY = clock.today()


@pytest.fixture
def store(engine: Engine) -> Store:
    return Store(engine)


@pytest.fixture
def episode(store: Store) -> tuple[int, int]:
    """Site 1's patient with a disc herniation episode: 8 weeks of physiotherapy and medication,
    an L4-L5 extrusion on imaging."""
    sid = store.add_site(SYSTEM, code="S1", name="Site one")
    assert sid == CLIN.site_id
    store.add_site(SYSTEM, code="S2", name="Site two")
    pid = store.add_patient(CLIN, sid, {"pseudo_id": "P-SCR-1", "birth_year": 1970, "sex": "male"})
    eid = store.add_episode(CLIN, pid, {
        "diagnosis_code": "M51.16", "levels": "L4-L5", "enrolled_on": "2025-01-06",
        "conservative_care": ["physiotherapy", "medication"], "conservative_care_weeks": 8,
        "imaging_findings": [{"level": "L4-L5", "kind": "disc_herniation", "morphology": "extrusion",
                              "zone": "subarticular"}]})
    return pid, eid


def _rows(engine: Engine) -> list[Any]:
    with engine.connect() as c:
        return list(c.execute(select(ScreeningAssessmentRow).order_by(ScreeningAssessmentRow.id)).all())


def _audit(engine: Engine, entity: str = "screening") -> list[Any]:
    with engine.connect() as c:
        return list(c.execute(select(AuditRow.actor, AuditRow.actor_role, AuditRow.action, AuditRow.entity_id,
                                     AuditRow.patient_id, AuditRow.detail)
                              .where(AuditRow.entity == entity).order_by(AuditRow.id)).all())


def test_save_and_read_latest_screening_with_audit(store: Store, engine: Engine, episode: tuple[int, int]) -> None:
    pid, eid = episode
    assert get_latest_screening(store, CLIN, eid) is None
    rid = save_screening(store, CLIN, eid, {**NO_FLAGS, "imaging_concordant": "yes", "assessed_on": "2025-01-20"})
    got = get_latest_screening(store, CLIN, eid)
    assert isinstance(got, ScreeningAnswers)
    assert got.assessed_on == dt.date(2025, 1, 20) and got.imaging_concordant is Answer.YES
    assert got.saddle_anaesthesia is Answer.NO and got.symptoms_limit_function is Answer.UNKNOWN
    [row] = _rows(engine)
    assert (row.id, row.episode_id, row.assessed_on, row.assessed_by) == (rid, eid, dt.date(2025, 1, 20), "dr.screen")
    assert row.answers["imaging_concordant"] == "yes" and "assessed_on" not in row.answers
    assert isinstance(row.created_at, dt.datetime)
    assert [(a.actor, a.actor_role, a.action, a.entity_id, a.patient_id, a.detail) for a in _audit(engine)] == [
        ("dr.screen", "clinician", "read", None, pid, {"episode_id": eid, "found": False}),
        ("dr.screen", "clinician", "create", str(rid), pid, {"episode_id": eid}),
        ("dr.screen", "clinician", "read", str(rid), pid, {"episode_id": eid, "found": True}),
    ]


def test_screening_history_is_appended_and_the_newest_assessment_is_current(
        store: Store, engine: Engine, episode: tuple[int, int]) -> None:
    _, eid = episode
    save_screening(store, CLIN, eid, {**NO_FLAGS, "assessed_on": "2025-02-01"})
    save_screening(store, CLIN, eid, {**NO_FLAGS, "suspected_fracture": "yes", "assessed_on": "2025-03-01"})
    # a late entry of an older assessment does not replace the newer one ...
    save_screening(store, CLIN, eid, {**NO_FLAGS, "assessed_on": "2025-01-15"})
    latest = get_latest_screening(store, CLIN, eid)
    assert latest is not None and (latest.assessed_on, latest.suspected_fracture) == (dt.date(2025, 3, 1), Answer.YES)
    # ... a second entry on the same day does
    save_screening(store, CLIN, eid, {**NO_FLAGS, "suspected_fracture": "no", "assessed_on": "2025-03-01"})
    latest = get_latest_screening(store, CLIN, eid)
    assert latest is not None and latest.suspected_fracture is Answer.NO
    assert [r.assessed_on.isoformat() for r in _rows(engine)] == ["2025-02-01", "2025-03-01", "2025-01-15",
                                                                  "2025-03-01"]


@pytest.mark.parametrize(("data", "field"), [
    ({"saddle_anaesthesia": "maybe"}, "screening.saddle_anaesthesia"),
    ({"red_flag": "yes"}, "screening.red_flag"),
    ({"assessed_on": "yesterday"}, "screening.assessed_on"),
    ({"assessed_on": (TODAY + dt.timedelta(days=1)).isoformat()}, "screening.assessed_on"),
])
def test_invalid_screening_stores_nothing_and_names_the_field(
        store: Store, engine: Engine, episode: tuple[int, int], data: dict[str, Any], field: str) -> None:
    _, eid = episode
    audit_before = len(_audit(engine))
    with pytest.raises(ValidationError) as info:
        save_screening(store, CLIN, eid, {**NO_FLAGS, **data})
    assert info.value.field == field
    assert _rows(engine) == [] and len(_audit(engine)) == audit_before


def test_screening_date_defaults_to_today(store: Store, episode: tuple[int, int]) -> None:
    _, eid = episode
    save_screening(store, CLIN, eid, {"suspected_infection": "no"})
    latest = get_latest_screening(store, CLIN, eid)
    assert latest is not None and latest.assessed_on == TODAY and latest.suspected_infection is Answer.NO


@pytest.mark.parametrize("actor", [
    Actor("coord", "coordinator", 1), Actor("res", "researcher"), Actor("adm", "admin"),
    Actor("patient:invitation/1", "patient", patient_id=1),
])
def test_only_a_clinician_records_screening(store: Store, engine: Engine, episode: tuple[int, int],
                                            actor: Actor) -> None:
    _, eid = episode
    with pytest.raises(PermissionDeniedError):
        save_screening(store, actor, eid, NO_FLAGS)
    assert _rows(engine) == [] and _audit(engine) == []


def test_another_sites_clinician_neither_records_nor_reads(store: Store, engine: Engine,
                                                           episode: tuple[int, int]) -> None:
    _, eid = episode
    save_screening(store, CLIN, eid, NO_FLAGS)
    other = Actor("dr.other", "clinician", 2)
    for call in (lambda: save_screening(store, other, eid, NO_FLAGS), lambda: get_latest_screening(store, other, eid),
                 lambda: screen_episode(store, other, eid)):
        with pytest.raises(NotFoundError):
            call()
    with pytest.raises(PermissionDeniedError):
        get_latest_screening(store, Actor("res", "researcher"), eid)
    with pytest.raises(NotFoundError):
        save_screening(store, CLIN, 999_999, NO_FLAGS)
    assert len(_rows(engine)) == 1
    assert {a.actor for a in _audit(engine)} == {"dr.screen"}


def test_screen_episode_uses_the_stored_episode_record(store: Store, engine: Engine,
                                                       episode: tuple[int, int]) -> None:
    pid, eid = episode
    empty = screen_episode(store, CLIN, eid)
    assert not empty.recorded and not empty.urgent and len(empty.unanswered) == 8
    save_screening(store, CLIN, eid, {**NO_FLAGS, "imaging_concordant": "yes", "persistent_after_conservative": "yes",
                                      "assessed_on": "2025-02-01"})
    ok = screen_episode(store, CLIN, eid)
    assert ok.recorded and not ok.urgent
    assert [(c.key, c.status) for c in ok.criteria] == [("disc_imaging_concordant", CriterionStatus.MET),
                                                        ("disc_persistent_after_conservative", CriterionStatus.MET)]
    assert "L4-L5 disc herniation (extrusion, subarticular)" in ok.criteria[0].detail
    assert "physiotherapy, medication; 8 weeks" in ok.criteria[1].detail
    save_screening(store, CLIN, eid, {**NO_FLAGS, "bilateral_leg_symptoms": "yes", "imaging_concordant": "yes",
                                      "persistent_after_conservative": "yes", "assessed_on": "2025-02-02"})
    urgent = screen_episode(store, CLIN, eid)
    assert urgent.urgent and urgent.criteria == () and [f.flag for f in urgent.present] == [RedFlag.CAUDA_EQUINA]
    # a coordinator of the site may read it through the store (the web routes admit clinicians only)
    assert screen_episode(store, Actor("coord", "coordinator", 1), eid).urgent
    with engine.connect() as c:
        reads = c.execute(select(func.count()).select_from(AuditRow).where(
            AuditRow.entity == "screening", AuditRow.action == "read", AuditRow.patient_id == pid)).scalar_one()
    assert reads == 4
