"""Validated, audited writes and reads through :class:`spinetrack.store.repositories.Store`,
on SQLite and on PostgreSQL (the ``engine`` fixture runs each test on both)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text

from spinetrack.errors import ConflictError, NotFoundError, ValidationError
from spinetrack.store import audit
from spinetrack.store.repositories import SYSTEM, Actor, Store
from spinetrack.store.tables import AuditRow, EpisodeRow, ImagingFindingRow, PatientRow, ProcedureRow, PromResponseRow

CLIN = Actor("dr.demo", "clinician", 1)
ODI_ALL_2 = dict.fromkeys(("pain_intensity", "personal_care", "lifting", "walking", "sitting", "standing", "sleeping",
                           "sex_life", "social_life", "travelling"), 2)


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as c:
        return {t.__tablename__: c.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (PatientRow, EpisodeRow, ImagingFindingRow, ProcedureRow, PromResponseRow, AuditRow)}


@pytest.fixture
def store(engine: Engine) -> Store:
    return Store(engine)


@pytest.fixture
def surgical_episode(store: Store) -> tuple[int, int]:
    sid = store.add_site(SYSTEM, code="S1", name="Site one")
    pid = store.add_patient(CLIN, sid, {"pseudo_id": "P-0001", "birth_year": 1961, "sex": "female", "bmi": 27.5,
                                        "smoking": "never", "diabetes": False, "asa_grade": 2})
    eid = store.add_episode(CLIN, pid, {
        "diagnosis_code": "M51.16", "levels": "L4-L5", "enrolled_on": "2024-01-10", "treatment": "mis",
        "treatment_family": "discectomy", "conservative_care": ["physiotherapy", "medication"],
        "conservative_care_weeks": 8,
        "imaging_findings": [{"level": "L4-L5", "kind": "disc_herniation", "morphology": "extrusion",
                              "zone": "subarticular"}],
    })
    store.add_procedure(CLIN, eid, {"procedure_code": "discectomy_tubular", "performed_on": "2024-02-01",
                                    "levels": "L4-L5", "ebl_ml": 25, "incision_mm": 18, "op_time_min": 70,
                                    "los_days": 1, "transfusion": False})
    return pid, eid


def test_store_records_a_full_pathway_and_audits_each_write(store: Store, engine: Engine,
                                                            surgical_episode: tuple[int, int]) -> None:
    _pid, eid = surgical_episode
    ep = store.get_episode(CLIN, eid)
    assert ep["index_date"].isoformat() == "2024-02-01"  # set from the procedure date
    assert ep["imaging_findings"][0]["morphology"] == "extrusion"
    with engine.connect() as c:
        actions = c.execute(select(AuditRow.action, AuditRow.entity).order_by(AuditRow.id)).all()
    assert actions == [("create", "site"), ("create", "patient"), ("create", "episode"), ("create", "procedure"),
                       ("read", "episode")]


def test_store_scores_a_response_on_write(store: Store, surgical_episode: tuple[int, int]) -> None:
    """ODI 2.1a worked example (Fairbank & Pynsent, Spine 2000;25(22):2940-52): 16 points over 9
    answered sections = 16/45 × 100 = 35.6%."""
    _, eid = surgical_episode
    answers: dict[str, Any] = {**ODI_ALL_2, "pain_intensity": 0, "sex_life": None}
    store.submit_response(CLIN, eid, {"instrument": "odi", "timepoint": "baseline", "collected_on": "2024-01-10",
                                      "answers": answers})
    [row] = store.list_responses(CLIN, eid)
    assert row["answers"] == answers  # stored as given
    assert row["score"] == pytest.approx(35.555, abs=1e-3)
    assert row["score_detail"] == {"n_answered": 9, "band": "moderate disability"}
    assert row["days_from_index"] == -22


def test_store_scores_eq5d_with_the_configured_value_set(engine: Engine, surgical_episode: tuple[int, int]) -> None:
    """Germany 55555 = -0.661 (Ludwig et al., Pharmacoeconomics 2018, the published minimum);
    the store uses the value set it was configured with and keeps the health state."""
    _, eid = surgical_episode
    german = Store(engine, eq5d_value_set="Germany")
    german.submit_response(CLIN, eid, {"instrument": "eq5d5l", "timepoint": "baseline", "collected_on": "2024-01-10",
                                       "answers": {"MO": 5, "SC": 5, "UA": 5, "PD": 5, "AD": 5, "vas": 10}})
    [row] = german.list_responses(CLIN, eid)
    assert round(row["score"], 3) == -0.661
    assert row["score_detail"] == {"health_state": "55555", "vas": 10, "value_set": "Germany"}
    with pytest.raises(ValidationError) as err:
        Store(engine, eq5d_value_set="Atlantis")
    assert err.value.field == "eq5d_value_set" and "England" in err.value.allowed


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"instrument": "odi", "timepoint": "3m", "collected_on": "2024-01-20", "answers": ODI_ALL_2},
         "response.collected_on"),  # a follow-up before the procedure date
        ({"instrument": "odi", "timepoint": "baseline", "collected_on": "2024-01-20",
          "answers": {**ODI_ALL_2, "walking": 6}}, "odi.walking"),  # answer out of range
        ({"instrument": "odi", "timepoint": "baseline", "collected_on": "2024-01-20",
          "answers": {**ODI_ALL_2, "jogging": 1}}, "odi.jogging"),  # unknown item
        ({"instrument": "sf36", "timepoint": "baseline", "collected_on": "2024-01-20", "answers": {}},
         "response.instrument"),
        ({"instrument": "nrs_leg", "timepoint": "9m", "collected_on": "2024-01-20", "answers": {"pain": 3}},
         "response.timepoint"),  # 9 months is not one of spinetrack's timepoints (domain.pathway.TIMEPOINTS)
    ],
)
def test_store_refuses_a_bad_response_and_stores_nothing(store: Store, engine: Engine,
                                                          surgical_episode: tuple[int, int],
                                                          data: dict[str, Any], field: str) -> None:
    _, eid = surgical_episode
    before = _counts(engine)
    with pytest.raises(ValidationError) as err:
        store.submit_response(CLIN, eid, data)
    assert err.value.field == field and err.value.allowed
    assert _counts(engine) == before


@pytest.mark.parametrize(
    ("method", "data", "field"),
    [
        ("add_patient", {"pseudo_id": "P-2", "birth_year": 1950, "sex": "x"}, "patient.sex"),
        ("add_patient", {"pseudo_id": "P-2", "birth_year": 1950, "sex": "male", "asa_grade": 7}, "patient.asa_grade"),
        ("add_episode", {"diagnosis_code": "M54.5", "levels": "L4-L5", "enrolled_on": "2024-01-01"},
         "episode.diagnosis_code"),
        ("add_episode", {"diagnosis_code": "M48.062", "levels": "L5-L6", "enrolled_on": "2024-01-01"},
         "episode.levels"),
        ("add_episode", {"diagnosis_code": "M48.062", "levels": "L4-L5", "enrolled_on": "2024-01-01",
                         "imaging_findings": [{"level": "L4-L5", "kind": "central_stenosis", "stenosis_grade": "E"}]},
         "episode.imaging_findings[0].stenosis_grade"),
    ],
)
def test_store_refuses_bad_records_with_the_field_named(store: Store, engine: Engine,
                                                         surgical_episode: tuple[int, int], method: str,
                                                         data: dict[str, Any], field: str) -> None:
    pid, _ = surgical_episode
    before = _counts(engine)
    target = 1 if method == "add_patient" else pid
    with pytest.raises(ValidationError) as err:
        getattr(store, method)(CLIN, target, data)
    assert err.value.field == field
    assert _counts(engine) == before


def test_store_refuses_negative_blood_loss_and_a_mismatched_procedure(store: Store, engine: Engine,
                                                                      surgical_episode: tuple[int, int]) -> None:
    pid, _ = surgical_episode
    eid = store.add_episode(CLIN, pid, {"diagnosis_code": "M43.16", "levels": "L4-L5", "enrolled_on": "2024-03-01",
                                        "treatment": "open", "treatment_family": "fusion"})
    before = _counts(engine)
    with pytest.raises(ValidationError) as err:
        store.add_procedure(CLIN, eid, {"procedure_code": "fusion_open_tlif", "performed_on": "2024-04-01",
                                        "levels": "L4-L5", "ebl_ml": -10})
    assert err.value.field == "procedure.ebl_ml" and err.value.allowed == "0 to 20000 mL"
    with pytest.raises(ValidationError) as err:
        store.add_procedure(CLIN, eid, {"procedure_code": "fusion_mis_tlif", "performed_on": "2024-04-01",
                                        "levels": "L4-L5"})
    assert err.value.field == "procedure.procedure_code" and "fusion_open_tlif" in err.value.allowed
    assert _counts(engine) == before


def test_store_submission_is_idempotent_under_a_key(store: Store, engine: Engine,
                                                    surgical_episode: tuple[int, int]) -> None:
    _, eid = surgical_episode
    data = {"instrument": "nrs_leg", "timepoint": "baseline", "collected_on": "2024-01-12", "answers": {"pain": 7}}
    first = store.submit_response(CLIN, eid, data, idempotency_key="abc-1")
    again = store.submit_response(CLIN, eid, data, idempotency_key="abc-1")
    assert first == again
    with pytest.raises(ConflictError):
        store.submit_response(CLIN, eid, {**data, "answers": {"pain": 8}}, idempotency_key="abc-1")
    with pytest.raises(ConflictError):  # a second baseline NRS leg without a key
        store.submit_response(CLIN, eid, data)
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(PromResponseRow)).scalar_one() == 1


def test_store_reports_missing_records(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.get_patient(CLIN, 999)
    with pytest.raises(NotFoundError):
        store.add_episode(CLIN, 999, {"diagnosis_code": "M48.062", "levels": "L4-L5", "enrolled_on": "2024-01-01"})


def test_audit_chain_verifies_and_detects_an_altered_row(store: Store, engine: Engine,
                                                         surgical_episode: tuple[int, int]) -> None:
    pid, _ = surgical_episode
    store.get_patient(CLIN, pid)
    with store.transaction() as s:
        result = audit.verify_chain(s)
    assert result.ok and result.n_rows == 5  # 4 creates (site, patient, episode, procedure) + 1 read
    # Someone with database access disables the guard and rewrites history:
    with engine.begin() as c:
        if engine.dialect.name == "sqlite":
            c.execute(text("DROP TRIGGER audit_log_no_update"))
        else:
            c.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update"))
        c.execute(text("UPDATE audit_log SET actor = 'someone.else' WHERE id = 2"))
    with store.transaction() as s:
        result = audit.verify_chain(s)
    assert not result.ok and result.first_bad_id == 2 and "altered" in (result.reason or "")
