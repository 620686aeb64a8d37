"""The import writer :func:`spinetrack.store.imports.write_records`, on SQLite and PostgreSQL (the
``engine`` fixture runs each test on both): validation before any write, all-or-nothing without
``partial``, idempotent re-imports through ``source_records``, the audit row with the files'
hashes, the clinic roles' site scope, and responses scored as the store scores them.

Reference for the scores: the ODI rule of STANDARDS.md (Fairbank & Pynsent 2000): score =
sum of answered sections / (5 x answered sections) x 100; 16 over 9 answered sections is
16/45 x 100 = 35.6 %.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from spinetrack.errors import PermissionDeniedError, ValidationError
from spinetrack.store.imports import SourceRecord, write_records
from spinetrack.store.repositories import SYSTEM, Actor, Store
from spinetrack.store.tables import (
    AuditRow,
    ComplicationRow,
    EpisodeRow,
    PatientIdentityRow,
    PatientRow,
    ProcedureRow,
    PromResponseRow,
    SiteRow,
    SourceRecordRow,
)

TABLES = (SiteRow, PatientRow, PatientIdentityRow, EpisodeRow, ProcedureRow, ComplicationRow, PromResponseRow,
          SourceRecordRow, AuditRow)
ODI_16_OF_45 = {"pain_intensity": 3, "personal_care": 1, "lifting": 3, "walking": 2, "sitting": 2, "standing": 2,
                "sleeping": 1, "social_life": 1, "travelling": 1}  # sex_life not answered


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as c:
        return {t.__tablename__: int(c.execute(select(func.count()).select_from(t)).scalar_one()) for t in TABLES}


def _cohort(n: int = 2, *, site: str | None = "S1", mrn: str = "M") -> list[SourceRecord]:
    recs = [SourceRecord("site", "site-a", {"code": "S1", "name": "Site one", "country": "GB"}, None, "sites:1")]
    for i in range(1, n + 1):
        p, e = f"p{i}", f"e{i}"
        recs += [
            SourceRecord("patient", p, {"birth_year": 1960 + i, "sex": "female", "full_name": f"Test Person {i}",
                                        "mrn": f"{mrn}{i}"}, site, f"patients:{i}"),
            SourceRecord("episode", e, {"diagnosis_code": "M51.16", "levels": "L4-L5", "enrolled_on": "2024-01-08",
                                        "treatment": "mis", "treatment_family": "discectomy"}, p, f"episodes:{i}"),
            SourceRecord("procedure", e, {"procedure_code": "discectomy_tubular", "performed_on": "2024-02-05",
                                          "levels": "L4-L5", "ebl_ml": 40}, e, f"procedures:{i}"),
            SourceRecord("complication", f"c{i}", {"category": "dural_tear", "clavien_dindo": "I",
                                                   "occurred_on": "2024-02-05"}, e, f"complications:{i}"),
            SourceRecord("response", f"r{i}", {"instrument": "odi", "timepoint": "baseline",
                                               "collected_on": "2024-01-08", "answers": ODI_16_OF_45}, e,
                         f"responses:{i}"),
            SourceRecord("response", f"r{i}-3m", {"instrument": "nrs_leg", "timepoint": "3m",
                                                  "collected_on": "2024-05-06", "answers": {"pain": 2}}, e,
                         f"responses:{i}b"),
        ]
    return recs


@pytest.fixture
def store(engine: Engine) -> Store:
    return Store(engine)


def test_creates_every_record_with_ids_and_scores(store: Store, engine: Engine) -> None:
    res = write_records(store, SYSTEM, source_system="test", records=_cohort(2))
    assert res.ok and res.stored
    assert {e: c.created for e, c in res.counts.items() if c.created} == {
        "site": 1, "patient": 2, "episode": 2, "procedure": 2, "complication": 2, "response": 4}
    with engine.connect() as c:
        pid = res.ids["patient"]["p1"]
        assert c.execute(select(PatientIdentityRow.full_name).where(PatientIdentityRow.patient_id == pid)
                         ).scalar_one() == "Test Person 1"
        eid = res.ids["episode"]["e1"]
        # the index date comes from the procedure, as Store.add_procedure sets it
        assert str(c.execute(select(EpisodeRow.index_date).where(EpisodeRow.id == eid)).scalar_one()) == "2024-02-05"
        score, days, source = c.execute(select(PromResponseRow.score, PromResponseRow.days_from_index,
                                               PromResponseRow.source)
                                        .where(PromResponseRow.id == res.ids["response"]["r1"])).one()
        assert score == pytest.approx(16 / 45 * 100) and days == -28 and source == "import"
        proc = c.execute(select(ComplicationRow.procedure_id).where(
            ComplicationRow.id == res.ids["complication"]["c1"])).scalar_one()
        assert proc == res.ids["procedure"]["e1"]


def test_reimport_is_idempotent_and_updates_a_changed_record(store: Store, engine: Engine) -> None:
    write_records(store, SYSTEM, source_system="test", records=_cohort(2))
    before = _counts(engine)
    again = write_records(store, SYSTEM, source_system="test", records=_cohort(2))
    assert again.totals().created == 0 and again.totals().updated == 0 and again.totals().unchanged == 13
    after = _counts(engine)
    assert {k: v for k, v in after.items() if k != "audit_log"} == {k: v for k, v in before.items()
                                                                   if k != "audit_log"}
    changed = _cohort(2)
    i = next(i for i, r in enumerate(changed) if r.source_id == "r1")
    changed[i] = SourceRecord("response", "r1", {**changed[i].fields, "answers": {**ODI_16_OF_45, "sex_life": 4}},
                              "e1", "responses:1")
    third = write_records(store, SYSTEM, source_system="test", records=changed)
    assert third.counts["response"].updated == 1 and third.totals().updated == 1
    with engine.connect() as c:
        assert c.execute(select(PromResponseRow.score).where(PromResponseRow.id == third.ids["response"]["r1"])
                         ).scalar_one() == pytest.approx(20 / 50 * 100)
    assert _counts(engine)["prom_responses"] == before["prom_responses"]
    # another source system with the same ids is another set of records (its site matched by code);
    # a hospital number already used at the site refuses the patient (the store's rule)
    other = write_records(store, SYSTEM, source_system="other", records=_cohort(1))
    assert not other.stored and [(p.field, p.value) for p in other.errors] == [("patient.mrn", "M1")]
    other = write_records(store, SYSTEM, source_system="other", records=_cohort(1, mrn="N"))
    assert other.counts["site"].unchanged == 1 and other.counts["patient"].created == 1


def test_one_invalid_record_stores_nothing(store: Store, engine: Engine) -> None:
    before = _counts(engine)
    recs = _cohort(2)
    recs.append(SourceRecord("response", "bad", {"instrument": "odi", "timepoint": "baseline",
                                                 "collected_on": "2024-01-08",
                                                 "answers": {**ODI_16_OF_45, "lifting": 6}}, "e2", "responses:9"))
    res = write_records(store, SYSTEM, source_system="test", records=recs)
    assert not res.stored and res.n_errors == 1
    (p,) = res.errors
    assert (p.location, p.field, p.value, p.allowed) == ("responses:9", "odi.lifting", 6, "0, 1, 2, 3, 4, 5")
    assert _counts(engine) == before


def test_partial_keeps_valid_records_and_their_children(store: Store, engine: Engine) -> None:
    recs = _cohort(2)
    recs[1] = SourceRecord("patient", "p1", {"birth_year": 1961, "sex": "x"}, "S1", "patients:1")
    res = write_records(store, SYSTEM, source_system="test", records=recs, partial=True, chunk_size=3)
    assert res.stored
    assert res.counts["patient"].created == 1 and res.counts["patient"].rejected == 1
    # p1's episode, procedure, complication and responses are refused with it
    assert {(p.entity, p.source_id) for p in res.errors} == {
        ("patient", "p1"), ("episode", "e1"), ("procedure", "e1"), ("complication", "c1"), ("response", "r1"),
        ("response", "r1-3m")}
    assert _counts(engine)["patients"] == 1 and _counts(engine)["prom_responses"] == 2
    # one audit row per chunk transaction, every one naming the import
    with engine.connect() as c:
        rows = c.execute(select(AuditRow.entity_id).where(AuditRow.action == "import")).scalars().all()
    assert len(rows) >= 2 and set(rows) == {res.import_id}


def test_audit_row_carries_file_hashes_and_counts(store: Store, engine: Engine) -> None:
    res = write_records(store, SYSTEM, source_system="test", records=_cohort(1), files={"patients.csv": "ab" * 32})
    with engine.connect() as c:
        rows = c.execute(select(AuditRow.actor, AuditRow.entity_id, AuditRow.detail)
                         .where(AuditRow.action == "import")).all()
    assert len(rows) == 1
    actor, import_id, detail = rows[0]
    assert actor == "system" and import_id == res.import_id
    assert detail["files"] == {"patients.csv": "ab" * 32} and detail["source_system"] == "test"
    assert detail["counts"]["response"]["created"] == 2


def test_dry_run_counts_without_storing(store: Store, engine: Engine) -> None:
    before = _counts(engine)
    res = write_records(store, SYSTEM, source_system="test", records=_cohort(2), dry_run=True)
    assert not res.stored and res.ok and res.counts["response"].created == 4
    assert _counts(engine) == before


@pytest.mark.parametrize("spill_at", [None, 1], ids=["facts-in-memory", "facts-on-disk"])
def test_children_of_records_stored_by_an_earlier_import(store: Store, engine: Engine, spill_at: int | None,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    if spill_at is not None:
        monkeypatch.setattr("spinetrack.store.imports.SPILL_AT", spill_at)
    write_records(store, SYSTEM, source_system="test", records=_cohort(1))
    later = [SourceRecord("response", "r1-12m", {"instrument": "odi", "timepoint": "12m", "collected_on": "2025-02-03",
                                                 "answers": ODI_16_OF_45}, "e1", "later:1"),
             SourceRecord("response", "r1-24m", {"instrument": "odi", "timepoint": "12m", "collected_on": "2026-02-03",
                                                 "answers": ODI_16_OF_45}, "e1", "later:2"),
             SourceRecord("readmission", "x1", {"admitted_on": "2024-02-20"}, "e-unknown", "later:3")]
    res = write_records(store, SYSTEM, source_system="test", records=later)
    assert [(p.location, p.field) for p in res.errors] == [
        ("later:2", "response.collected_on"), ("later:3", "readmission.episode_source_id")]
    res = write_records(store, SYSTEM, source_system="test", records=later[:1])
    assert res.ok and res.counts["response"].created == 1


@pytest.mark.parametrize("spill_at", [None, 1], ids=["facts-in-memory", "facts-on-disk"])
def test_one_shot_iterator_and_unordered_input(store: Store, spill_at: int | None,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    if spill_at is not None:
        monkeypatch.setattr("spinetrack.store.imports.SPILL_AT", spill_at)
    recs = _cohort(2)

    def gen() -> Iterator[SourceRecord]:
        yield from reversed(recs)  # children before their parents

    res = write_records(store, SYSTEM, source_system="test", records=gen())
    assert res.ok and res.counts["response"].created == 4 and res.counts["patient"].created == 2


def test_write_time_conflict_rolls_back_everything(store: Store, engine: Engine) -> None:
    write_records(store, SYSTEM, source_system="first", records=[
        *_cohort(0), SourceRecord("patient", "q", {"birth_year": 1970, "sex": "male", "pseudo_id": "TAKEN-1"}, "S1",
                                  "x:1")])
    before = _counts(engine)
    recs = [*_cohort(2), SourceRecord("patient", "z", {"birth_year": 1970, "sex": "male", "pseudo_id": "TAKEN-1"},
                                      "S1", "x:2")]
    res = write_records(store, SYSTEM, source_system="second", records=recs)
    assert not res.stored and [(p.location, p.field) for p in res.errors] == [("x:2", "patient.pseudo_id")]
    assert {k: v for k, v in _counts(engine).items()} == before
    res = write_records(store, SYSTEM, source_system="second", records=recs, partial=True)
    assert res.stored and res.counts["patient"].created == 2 and res.counts["patient"].rejected == 1


def test_site_scope_of_clinic_roles(store: Store, engine: Engine) -> None:
    s1 = store.add_site(SYSTEM, code="S1", name="Site one")
    store.add_site(SYSTEM, code="S2", name="Site two")
    clin = Actor("dr.a", "clinician", s1)
    recs = [r for r in _cohort(1, site=None) if r.entity != "site"]
    res = write_records(store, clin, source_system="fhir", records=recs)
    assert res.ok
    with engine.connect() as c:
        assert c.execute(select(PatientRow.site_id)).scalars().all() == [s1]
    with pytest.raises(ValidationError):
        write_records(store, clin, source_system="fhir", records=recs, site_code="S2")
    other_site = [SourceRecord("site", "site-b", {"code": "S2", "name": "Site two"}, None, "sites:2"),
                  *_cohort(1, mrn="N")[1:]]
    refused = write_records(store, clin, source_system="fhir2", records=other_site)
    assert [(p.entity, p.source_id, p.reason) for p in refused.errors] == [
        ("site", "site-b", "a clinic may import into its own site only")]
    with pytest.raises(PermissionDeniedError):
        write_records(store, Actor("r", "researcher"), source_system="x", records=recs)


def test_site_option_and_unknown_site(store: Store, engine: Engine) -> None:
    store.add_site(SYSTEM, code="HOME", name="Home")
    recs: list[Any] = [r for r in _cohort(1, site="NOWHERE") if r.entity != "site"]
    res = write_records(store, SYSTEM, source_system="t", records=recs)
    first, *children = res.errors
    assert (first.field, first.reason) == ("patient.site", "no such site in this import or the database")
    assert "HOME" in first.allowed and {p.reason for p in children} == {"its patient was rejected",
                                                                         "its episode was rejected"}
    res = write_records(store, SYSTEM, source_system="t", records=recs, site_code="HOME")
    assert res.ok and res.stored
    with pytest.raises(ValidationError):
        write_records(store, SYSTEM, source_system="t", records=recs, site_code="NOWHERE")


def test_repeated_ids_and_a_repeated_answer_are_found_exactly(store: Store) -> None:
    """Repeated source ids of procedures and answers (found by hash, then checked exactly) and two
    answers for one episode, timepoint and instrument under different ids."""
    recs = _cohort(2)
    proc = next(r for r in recs if r.entity == "procedure" and r.source_id == "e2")
    recs.append(SourceRecord("procedure", "e1", proc.fields, "e2", "procedures:dup"))
    recs.append(SourceRecord("response", "r2", {"instrument": "nrs_back", "timepoint": "baseline",
                                                "collected_on": "2024-01-08", "answers": {"pain": 3}}, "e2",
                             "responses:dup-id"))
    recs.append(SourceRecord("response", "r9", {"instrument": "odi", "timepoint": "baseline",
                                                "collected_on": "2024-01-09", "answers": ODI_16_OF_45}, "e1",
                             "responses:dup-key"))
    res = write_records(store, SYSTEM, source_system="test", records=recs)
    got = {(p.location, p.field, p.reason) for p in res.errors}
    assert got == {
        ("procedures:1", "procedure.source_id",
         "another procedure record of this import has the same source id (this is the first)"),
        ("procedures:dup", "procedure.source_id", "another procedure record of this import has the same source id"),
        ("responses:2", "response.source_id",
         "another response record of this import has the same source id (this is the first)"),
        ("responses:dup-id", "response.source_id", "another response record of this import has the same source id"),
        ("responses:dup-key", "response.timepoint", "this episode has another odi response at baseline in this import"),
    }
    assert not res.stored
