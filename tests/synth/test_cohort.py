"""The synthetic cohort: reproducible, valid by the domain rules, scored as the instruments
score, with realistic loss to follow-up and planted, documented effects."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from spinetrack import instruments
from spinetrack.domain.pathway import (
    ComplicationRecord,
    EpisodeRecord,
    PatientRecord,
    ProcedureRecord,
    PromResponseRecord,
    ReoperationRecord,
)
from spinetrack.store.migrate import upgrade
from spinetrack.store.session import make_engine
from spinetrack.store.tables import Base
from spinetrack.synth import effects
from spinetrack.synth.cohort import generate_chunk
from spinetrack.synth.load import load_demo

TABLES = ("sites", "patients", "episodes", "imaging_findings", "procedures", "complications", "readmissions",
          "reoperations", "prom_responses")


def _rows(c, table: str, where: str, **params):  # type: ignore[no-untyped-def]
    """Typed rows (bools, dates, JSON decoded) of one table."""
    t = Base.metadata.tables[table]
    return c.execute(select(t).where(text(where)).order_by(t.c.id), params).mappings()


def _fresh(path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    return engine


def _digest(engine: Engine) -> dict[str, str]:
    """SHA-256 of every data table's rows in primary-key order (the audit trail has wall-clock times)."""
    out = {}
    with engine.connect() as c:
        for t in TABLES:
            h = hashlib.sha256()
            for row in c.execute(text(f"SELECT * FROM {t} ORDER BY 1")):
                h.update(repr(tuple(row)).encode())
            out[t] = h.hexdigest()
    return out


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    engine = _fresh(tmp_path_factory.mktemp("cohort") / "c.db")
    load_demo(engine, patients=6000, seed=11)
    yield engine
    engine.dispose()


def test_demo_same_seed_gives_byte_identical_rows(tmp_path: Path) -> None:
    a, b, c = (_fresh(tmp_path / f"{k}.db") for k in "abc")
    load_demo(a, patients=700, seed=3)
    load_demo(b, patients=700, seed=3)
    load_demo(c, patients=700, seed=4)
    da, db, dc = _digest(a), _digest(b), _digest(c)
    assert da == db
    assert da["patients"] != dc["patients"] and da["prom_responses"] != dc["prom_responses"]
    for e in (a, b, c):
        e.dispose()


def test_generate_chunk_is_a_pure_function_of_seed_and_chunk() -> None:
    t = dt.datetime(2025, 12, 31)
    one = generate_chunk(5, 2, 10_001, 300, [1, 2, 3], t)
    two = generate_chunk(5, 2, 10_001, 300, [1, 2, 3], t)
    assert one == two
    assert generate_chunk(5, 3, 10_001, 300, [1, 2, 3], t) != one


def test_demo_refuses_a_non_empty_database_and_if_empty_skips(cohort: Engine) -> None:
    from spinetrack.errors import ConflictError, ValidationError

    with pytest.raises(ConflictError):
        load_demo(cohort, patients=10, seed=1)
    assert load_demo(cohort, patients=10, seed=1, if_empty=True).skipped
    with pytest.raises(ValidationError) as err:
        load_demo(cohort, patients=0, seed=1)
    assert err.value.field == "patients"


def test_synthetic_records_pass_the_domain_validation(cohort: Engine) -> None:
    """Every generated record is one the store would accept from a person (first 400 patients)."""
    with cohort.connect() as c:
        for p in _rows(c, "patients", "id <= 400"):
            PatientRecord.create({k: p[k] for k in ("pseudo_id", "birth_year", "sex", "bmi", "smoking", "diabetes",
                                                     "asa_grade", "work_status", "symptom_duration_weeks",
                                                     "prior_spine_surgery")}, today=dt.date(2026, 1, 1))
        episodes = {}
        for e in _rows(c, "episodes", "id <= 400"):
            findings = [
                {k: v for k, v in f.items() if k not in ("id", "episode_id") and v is not None}
                for f in _rows(c, "imaging_findings", "episode_id = :e", e=e["id"])
            ]
            episodes[e["id"]] = EpisodeRecord.create({
                "diagnosis_code": e["diagnosis_code"], "levels": e["levels"], "imaging_findings": findings,
                "conservative_care": e["conservative_care"], "conservative_care_weeks": e["conservative_care_weeks"],
                "treatment": e["treatment"], "treatment_family": e["treatment_family"],
                "enrolled_on": e["enrolled_on"], "index_date": e["index_date"],
            })
            assert episodes[e["id"]].diagnosis.group.value == e["diagnosis_group"]
        n_proc = 0
        for p in _rows(c, "procedures", "episode_id <= 400"):
            rec = ProcedureRecord.create({k: p[k] for k in ("procedure_code", "performed_on", "levels", "incision_mm",
                                                             "ebl_ml", "op_time_min", "fluoro_s", "fluoro_dose_mgy",
                                                             "los_days", "transfusion")})
            rec.check_against_episode(episodes[p["episode_id"]])
            n_proc += 1
            for cpl in _rows(c, "complications", "episode_id = :e", e=p["episode_id"]):
                ComplicationRecord.create({k: cpl[k] for k in ("category", "clavien_dindo", "occurred_on")},
                                          performed_on=rec.performed_on)
            for r in _rows(c, "reoperations", "episode_id = :e", e=p["episode_id"]):
                ReoperationRecord.create({k: r[k] for k in ("performed_on", "reason", "levels")},
                                         index_date=rec.performed_on)
        assert n_proc > 100
        for r in _rows(c, "prom_responses", "episode_id <= 400"):
            ep = episodes[r["episode_id"]]
            rec = PromResponseRecord.create({"instrument": r["instrument"], "timepoint": r["timepoint"],
                                             "collected_on": r["collected_on"], "answers": r["answers"]},
                                            index_date=ep.index_date)
            assert rec.days_from_index == r["days_from_index"]


def test_stored_scores_equal_the_instrument_scoring(cohort: Engine) -> None:
    """Oracle: ``instruments.get(code).score(answers)`` (ODI per Fairbank & Pynsent 2000)."""
    with cohort.connect() as c:
        rows = c.execute(text("SELECT instrument, answers, score, score_detail, valid, instrument_version "
                              "FROM prom_responses WHERE episode_id <= 300")).all()
    seen = set()
    for inst, answers, score, detail, valid, version in rows:
        s = instruments.get(inst).score(json.loads(answers))
        assert (s.total, s.detail(), s.valid, s.version) == (
            score, None if detail is None else json.loads(detail), bool(valid), version)
        seen.add(inst)
    assert seen == {"odi", "nrs_back", "nrs_leg", "eq5d5l", "global_outcome", "return_to_activity"}


def test_about_a_quarter_lost_to_followup_at_24_months(cohort: Engine) -> None:
    """We want about a quarter missing at 24 months and accept 20-30%."""
    with cohort.connect() as c:
        n = c.execute(text("SELECT COUNT(*) FROM episodes")).scalar_one()
        seen = c.execute(text("SELECT COUNT(DISTINCT episode_id) FROM prom_responses "
                              "WHERE timepoint = '24m'")).scalar_one()
        seen_3m = c.execute(text("SELECT COUNT(DISTINCT episode_id) FROM prom_responses "
                                 "WHERE timepoint = '3m'")).scalar_one()
    assert 0.20 <= 1 - seen / n <= 0.30
    assert seen_3m > seen  # loss grows with time


def test_case_mix_covers_every_diagnosis_group_and_treatment(cohort: Engine) -> None:
    with cohort.connect() as c:
        groups = dict(c.execute(text("SELECT diagnosis_group, COUNT(*) FROM episodes GROUP BY 1")).all())
        arms = dict(c.execute(text("SELECT treatment, COUNT(*) FROM episodes GROUP BY 1")).all())
        fam = {tuple(r[:2]): r[2]
               for r in c.execute(text("SELECT family, approach, COUNT(*) FROM procedures GROUP BY 1, 2"))}
        techniques = {r[0] for r in c.execute(text("SELECT DISTINCT technique FROM procedures "
                                                   "WHERE technique IS NOT NULL"))}
        findings = {r[0] for r in c.execute(text("SELECT DISTINCT kind FROM imaging_findings"))}
    assert set(groups) == {g for g in effects.DIAGNOSIS_MIX}
    assert set(arms) == {"conservative", "mis", "open"}
    assert all(fam.get((f, a), 0) > 50 for f in ("discectomy", "decompression", "fusion") for a in ("mis", "open"))
    assert techniques == {"tubular", "full_endoscopic_transforaminal", "full_endoscopic_interlaminar", "percutaneous"}
    assert findings == {"disc_herniation", "disc_degeneration", "central_stenosis", "spondylolisthesis"}


def test_treatment_assignment_is_confounded(cohort: Engine) -> None:
    """Older, sicker, more levels → more often open surgery (the documented confounding)."""
    q = ("SELECT 0, AVG(CAST(strftime('%Y', e.enrolled_on) AS INT) - pa.birth_year), "
         "AVG(pa.asa_grade), AVG(e.n_levels) FROM procedures p JOIN episodes e ON e.id = p.episode_id "
         "JOIN patients pa ON pa.id = e.patient_id WHERE p.approach = :a")
    with cohort.connect() as c:
        _, age_mis, asa_mis, lv_mis = c.execute(text(q), {"a": "mis"}).one()
        _, age_open, asa_open, lv_open = c.execute(text(q), {"a": "open"}).one()
    assert age_open > age_mis + 2
    assert asa_open > asa_mis + 0.1
    assert lv_open > lv_mis


def test_every_planted_effect_names_its_source() -> None:
    """A non-null planted effect must cite a published figure (a study of MIS versus open surgery)."""
    keys = set()
    for e in effects.PLANTED:
        keys.add((e.family, e.outcome))
        assert e.source
        null = (e.scale == "difference" and e.value == 0) or (e.scale == "risk_ratio" and e.value == 1)
        if not null and e.outcome != "incision_mm":
            assert "no published figure" not in e.source and any(ch.isdigit() for ch in e.source)
    for fam in ("discectomy", "decompression", "fusion"):
        for outcome in ("ebl_ml", "op_time_min", "los_days", "fluoro_s", "fluoro_dose_mgy", "incision_mm", "odi",
                        "nrs_leg", "nrs_back", "reoperation_2y", "dural_tear", "ssi", "transfusion"):
            assert (fam, outcome) in keys
