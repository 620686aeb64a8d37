"""The decision-support document (``spinetrack.predict.decision.build_decision_support``) over a
real store (SQLite, and PostgreSQL when available: the ``engine`` fixture) and the models trained
in ``conftest.trained``.

What is checked: every red flag overrides everything — no option, outcome or model
leaves the builder; an unscreened episode still gets its numbers but says it is unscreened; the
numbers are exactly ``predict_options`` at the stored patient's profile; with no trained models
every cell falls back to the literature or to "none", labelled so; reads are audited.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from spinetrack.domain.screening import RED_FLAG_FIELDS
from spinetrack.errors import NotFoundError
from spinetrack.predict import PatientProfile, predict_options
from spinetrack.predict.decision import build_decision_support
from spinetrack.store.repositories import SYSTEM, Actor, Store
from spinetrack.store.screening import save_screening
from spinetrack.store.tables import AuditRow

CLIN = Actor("dr.decide", "clinician", 1)
TODAY = dt.date(2026, 11, 26)
NO_FLAGS = dict.fromkeys(RED_FLAG_FIELDS, "no")


@pytest.fixture
def store(engine: Engine) -> Store:
    return Store(engine)


@pytest.fixture
def patient(store: Store) -> tuple[int, int]:
    """A 56-year-old with an L4-L5 disc herniation, baseline ODI 48 and NRS leg 7 / back 5."""
    sid = store.add_site(SYSTEM, code="S1", name="Site one")
    pid = store.add_patient(CLIN, sid, {"pseudo_id": "P-DEC-1", "birth_year": 1970, "sex": "female", "bmi": 27.5,
                                        "smoking": "never", "diabetes": False, "asa_grade": 2,
                                        "symptom_duration_weeks": 14, "prior_spine_surgery": False})
    eid = store.add_episode(CLIN, pid, {"diagnosis_code": "M51.16", "levels": "L4-L5", "enrolled_on": "2026-11-02",
                                        "conservative_care": ["physiotherapy"], "conservative_care_weeks": 10})
    from spinetrack.instruments import registry

    for code, answers in (("nrs_leg", {"score": 7}), ("nrs_back", {"score": 5})):
        inst = registry.get(code)
        item = inst.definition.items[0].code
        store.submit_response(CLIN, eid, {"instrument": code, "timepoint": "baseline", "collected_on": "2026-11-02",
                                          "answers": {item: answers["score"]}})
    return pid, eid


def _models_dir(trained: Any) -> Path:
    return Path(trained.out_dir)


@pytest.mark.parametrize("flag", RED_FLAG_FIELDS)
def test_every_red_flag_overrides_everything(store: Store, patient: tuple[int, int], trained: Any, flag: str) -> None:
    pid, eid = patient
    save_screening(store, CLIN, eid, {**NO_FLAGS, flag: "yes", "imaging_concordant": "yes",
                                      "persistent_after_conservative": "yes", "assessed_on": TODAY.isoformat()},
                   today=TODAY)
    doc = build_decision_support(store, CLIN, pid, models_dir=_models_dir(trained), today=TODAY)
    assert doc["screening"]["urgent"] is True and doc["screening"]["message"]
    assert doc["options"] == [] and doc["outcomes"] == [] and doc["models"] == []
    assert doc["screening"]["criteria"] == []
    assert "profile" not in doc  # the builder stopped before predicting


def test_clean_screening_gives_every_option_and_the_numbers_of_predict_options(
        store: Store, patient: tuple[int, int], trained: Any) -> None:
    pid, eid = patient
    save_screening(store, CLIN, eid, {**NO_FLAGS, "imaging_concordant": "yes", "persistent_after_conservative": "yes",
                                      "assessed_on": TODAY.isoformat()}, today=TODAY)
    doc = build_decision_support(store, CLIN, pid, models_dir=_models_dir(trained), today=TODAY)
    assert doc["screening"]["recorded"] and not doc["screening"]["urgent"]
    assert [o["key"] for o in doc["options"]] == ["conservative", "mis", "open"]
    assert doc["episode"]["family"] == "discectomy"
    assert {c["status"] for c in doc["screening"]["criteria"]} == {"met"}
    # the stored patient's profile, built independently here: age 2026 - 1970, baseline NRS from the store
    profile = PatientProfile("disc_herniation_radiculopathy", 1, age_years=56.0, sex="female", bmi=27.5,
                             smoking="never", diabetes=False, asa_grade=2, nrs_back=5.0, nrs_leg=7.0,
                             symptom_duration_weeks=14, prior_spine_surgery=False)
    assert doc["profile"] == profile.as_dict()
    expected = predict_options(profile, trained.models)
    n_cells = 0
    for row in doc["outcomes"]:
        for option, cell in row["by_option"].items():
            p = expected.get(option, row["key"])
            assert (cell["estimate"], cell["ci_low"], cell["ci_high"], cell["source"]) == \
                (p.estimate, p.ci_low, p.ci_high, p.source)
            n_cells += 1
    assert n_cells == len(expected.predictions)
    assert any(c["source"] == "clinic" for r in doc["outcomes"] for c in r["by_option"].values())
    assert {m["model_id"] for m in doc["models"]} == {p.model_id for p in expected.predictions if p.model_id}
    rta = next(m for m in doc["models"] if m["outcome"] == "return_to_activity")
    card = trained.models.models[rta["model_id"]]
    assert (rta["distribution"], rta["shrinkage"]) == (card.distribution, card.shrinkage)
    assert rta["calibration_by_group"]["p_value"] == card.calibration_groups.p_value
    assert "length_of_stay" not in {k for r in doc["outcomes"] for k in r["by_option"] if k == "conservative"}


def test_unscreened_episode_is_flagged_and_still_predicted(store: Store, patient: tuple[int, int],
                                                           trained: Any) -> None:
    pid, _ = patient
    doc = build_decision_support(store, CLIN, pid, models_dir=_models_dir(trained), today=TODAY)
    assert doc["screening"]["recorded"] is False and doc["screening"]["urgent"] is False
    assert len(doc["screening"]["unanswered"]) == len(RED_FLAG_FIELDS)
    assert doc["outcomes"]


def test_without_models_every_cell_falls_back_and_says_why(store: Store, patient: tuple[int, int],
                                                           tmp_path: Path) -> None:
    pid, _ = patient
    doc = build_decision_support(store, CLIN, pid, models_dir=tmp_path / "no-models", today=TODAY)
    cells = [c for r in doc["outcomes"] for c in r["by_option"].values()]
    assert cells and {c["source"] for c in cells} <= {"literature", "none"}
    assert any(c["source"] == "literature" and c["citation"] for c in cells)
    assert all(c["estimate"] is None for c in cells if c["source"] == "none")
    assert doc["models"] == [] and "no prediction models" in doc["notes"][0]


def test_reads_are_audited_and_other_sites_see_nothing(store: Store, patient: tuple[int, int], engine: Engine,
                                                       trained: Any) -> None:
    pid, _ = patient
    build_decision_support(store, CLIN, pid, models_dir=_models_dir(trained), today=TODAY)
    with engine.connect() as c:
        rows = c.execute(select(AuditRow.actor, AuditRow.action, AuditRow.entity)
                         .where(AuditRow.patient_id == pid, AuditRow.action == "read")).all()
    assert {r.entity for r in rows if r.actor == CLIN.name} >= {"patient", "episode", "prom_response", "screening"}
    store.add_site(SYSTEM, code="S2", name="Site two")
    with pytest.raises(NotFoundError):
        build_decision_support(store, Actor("dr.other", "clinician", 2), pid, models_dir=None, today=TODAY)


def test_patient_text_of_the_real_document_reads_at_or_below_grade_8(store: Store, patient: tuple[int, int],
                                                                      trained: Any) -> None:
    """The generated patient text, here from the builder's own document (clinic-model,
    literature and "no estimate" cells together), stays at or below school grade 8 by the
    Flesch–Kincaid formula (Kincaid et al. 1975; ``spinetrack.reports.readability``)."""
    from spinetrack.reports.decision_aid import patient_text
    from spinetrack.reports.readability import measure_readability

    pid, eid = patient
    save_screening(store, CLIN, eid, {**NO_FLAGS, "assessed_on": TODAY.isoformat()}, today=TODAY)
    doc = build_decision_support(store, CLIN, pid, models_dir=_models_dir(trained), today=TODAY)
    sources = {c["source"] for r in doc["outcomes"] for c in r["by_option"].values()}
    assert {"clinic", "literature", "none"} <= sources
    r = measure_readability(patient_text(doc))
    assert r.words > 200 and r.flesch_kincaid_grade <= 8.0, (r.flesch_kincaid_grade, patient_text(doc))


def test_an_old_episode_is_predicted_with_the_age_at_its_baseline(store: Store, trained: Any) -> None:
    """A 2019 episode with its 2019 baseline scores, opened in 2026, is
    predicted for the patient as they were then — age 2019 − 1970 = 49 (the rule of the
    snapshot's ``age_at_index``, which the models were trained on), not today's 56. Oracle:
    ``predict_options`` at the profile written out by hand with age 49."""
    from spinetrack.instruments import registry

    sid = store.add_site(SYSTEM, code="S9", name="Site nine")
    pid = store.add_patient(CLIN, sid, {"pseudo_id": "P-OLD-1", "birth_year": 1970, "sex": "male", "bmi": 24.0,
                                        "smoking": "never", "diabetes": False, "asa_grade": 1,
                                        "symptom_duration_weeks": 10, "prior_spine_surgery": False})
    eid = store.add_episode(CLIN, pid, {"diagnosis_code": "M51.16", "levels": "L5-S1", "enrolled_on": "2019-03-01"})
    for code in ("nrs_leg", "nrs_back"):
        item = registry.get(code).definition.items[0].code
        store.submit_response(CLIN, eid, {"instrument": code, "timepoint": "baseline", "collected_on": "2019-03-01",
                                          "answers": {item: 6}})
    save_screening(store, CLIN, eid, {**NO_FLAGS, "assessed_on": TODAY.isoformat()}, today=TODAY)
    doc = build_decision_support(store, CLIN, pid, models_dir=_models_dir(trained), today=TODAY)
    assert doc["patient"]["age"] == 56 and doc["episode"]["age_at_baseline"] == 49
    assert doc["episode"]["baseline_date"] == "2019-03-01" and doc["profile"]["age_years"] == 49.0
    profile = PatientProfile("disc_herniation_radiculopathy", 1, age_years=49.0, sex="male", bmi=24.0,
                             smoking="never", diabetes=False, asa_grade=1, nrs_back=6.0, nrs_leg=6.0,
                             symptom_duration_weeks=10, prior_spine_surgery=False)
    expected = predict_options(profile, trained.models)
    row = next(r for r in doc["outcomes"] if r["key"] == "leg_pain_12m")
    assert row["by_option"]["mis"]["estimate"] == expected.get("mis", "leg_pain_12m").estimate


def test_missing_baseline_scores_are_said_plainly(store: Store, patient: tuple[int, int], trained: Any) -> None:
    """This patient has no baseline ODI. The ODI improvement (measured from
    the baseline) is not estimated; every other clinic estimate says in words that it does not
    use the patient's own score; the document names the missing scores; no jargon about
    "centring" values is left anywhere."""
    import json

    pid, eid = patient
    save_screening(store, CLIN, eid, {**NO_FLAGS, "assessed_on": TODAY.isoformat()}, today=TODAY)
    doc = build_decision_support(store, CLIN, pid, models_dir=_models_dir(trained), today=TODAY)
    assert doc["baseline_scores_missing"] == ["odi_pct"]
    mcid = next(r for r in doc["outcomes"] if r["key"] == "odi_mcid_12m")
    for cell in mcid["by_option"].values():
        assert cell["source"] == "none" and cell["estimate"] is None and "baseline ODI is not recorded" in cell["note"]
    clinic = [c for r in doc["outcomes"] for c in r["by_option"].values() if c["source"] == "clinic"]
    assert clinic and all(c["uses_baseline_scores"] is False for c in clinic)
    assert all("does not use the patient's own score" in c["note"] for c in clinic)
    assert "centring" not in json.dumps(doc) and any("less personal" in n for n in doc["notes"])


def test_a_row_that_mixes_sources_says_so(store: Store, patient: tuple[int, int], trained: Any,
                                          tmp_path: Path) -> None:
    """When one option of a row comes from the clinic's model and another from
    published studies, the row says so (``mixed_sources``, ``sources_note``) — here the MIS
    length of stay is sent to the literature (as when MIS has fewer than 100 patients) while
    open surgery keeps the clinic's model. Rows from one source carry no such note."""
    from dataclasses import replace

    from spinetrack.predict.files import write_model_set
    from spinetrack.predict.model import OptionAvailability

    ms = trained.models
    avail = tuple(OptionAvailability(a.care_group, a.outcome, a.option, "fallback", None, a.n_patients, a.n_events,
                                     "fewer than 100 mis patients (test); minimum-data rule")
                  if (a.care_group, a.outcome, a.option) == ("discectomy", "length_of_stay", "mis") else a
                  for a in ms.availability)
    write_model_set(replace(ms, availability=avail), tmp_path / "mixed")
    pid, eid = patient
    from spinetrack.instruments import registry

    odi_items = {i.code: 2 for i in registry.get("odi").definition.items}  # 20/50: ODI 40
    store.submit_response(CLIN, eid, {"instrument": "odi", "timepoint": "baseline", "collected_on": "2026-11-02",
                                      "answers": odi_items})
    save_screening(store, CLIN, eid, {**NO_FLAGS, "assessed_on": TODAY.isoformat()}, today=TODAY)
    doc = build_decision_support(store, CLIN, pid, models_dir=tmp_path / "mixed", today=TODAY)
    los = next(r for r in doc["outcomes"] if r["key"] == "length_of_stay")
    assert doc["profile"]["odi_pct"] == 40.0
    assert (los["by_option"]["mis"]["source"], los["by_option"]["open"]["source"]) == ("literature", "clinic")
    assert los["mixed_sources"] is True
    assert "Sources differ in this row" in los["sources_note"] and "published studies" in los["sources_note"]
    assert "Minimally invasive surgery" in los["sources_note"] and "Open surgery" in los["sources_note"]
    for r in doc["outcomes"]:
        if r["key"] != "length_of_stay":
            sources = {c["source"] for c in r["by_option"].values()} - {"none"}
            assert r["mixed_sources"] is (len(sources) > 1) and (r["sources_note"] is None) == (len(sources) < 2)
