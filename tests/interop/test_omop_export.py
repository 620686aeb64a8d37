"""``spinetrack.interop.omop``: the OMOP CDM 5.4 export, loaded into tables created by the official DDL.

Reference: the official OMOP CDM 5.4 DuckDB DDL (OHDSI/CommonDataModel ``inst/ddl/5.4/duckdb``),
read from ``../shared/omop/OMOPCDM_duckdb_5.4_ddl.sql`` at test time (never copied into the
repository). The oracle for the values is the store itself, read with plain SQLAlchemy queries.
The Athena vocabulary used is a tiny folder this test writes (our own made-up concept ids).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.orm import Session

from spinetrack.errors import ValidationError
from spinetrack.interop import omop_keys
from spinetrack.interop.omop import (
    COMPLICATION_SNOMED,
    GENDER_CONCEPTS,
    INSTRUMENT_CODES,
    PROCEDURE_MEASURES,
    PROCEDURE_SNOMED,
    export_omop,
    item_values,
)
from spinetrack.interop.omop_schema import TABLES
from spinetrack.snapshot import rekey_episode, rekey_patient
from spinetrack.store.session import make_engine
from spinetrack.store.tables import (
    AuditRow,
    ComplicationRow,
    EpisodeRow,
    PatientRow,
    ProcedureRow,
    PromResponseRow,
    ReadmissionRow,
    ReoperationRow,
)
from spinetrack.synth.demo_access import seed_demo_access
from spinetrack.synth.load import load_demo

DDL = Path(__file__).resolve().parents[3] / "shared" / "omop" / "OMOPCDM_duckdb_5.4_ddl.sql"
SECRET = "omop-test-secret-0123456789"
FREE_TEXT = "SENTINEL free text: fell off a ladder in the garden"
# Our tables' primary keys (the CDM 5.4 primary-key DDL names the first *_id column of each; DEATH
# has none there, but one death per person is the CDM's convention).
PRIMARY_KEYS = {"person": "person_id", "observation_period": "observation_period_id",
                "visit_occurrence": "visit_occurrence_id", "condition_occurrence": "condition_occurrence_id",
                "procedure_occurrence": "procedure_occurrence_id", "measurement": "measurement_id",
                "observation": "observation_id", "death": "person_id"}


def official_ddl() -> dict[str, list[tuple[str, str, bool]]]:
    """Parse the official DDL: table → [(column, type lower case, NOT NULL)] in order."""
    if not DDL.is_file():
        pytest.fail(f"the official OMOP DDL is missing at {DDL}")
    tables: dict[str, list[tuple[str, str, bool]]] = {}
    for name, body in re.findall(r"CREATE TABLE @cdmDatabaseSchema\.(\w+) \((.*?)\);", DDL.read_text(), re.S):
        cols = []
        for line in body.strip().splitlines():
            m = re.match(r"\s*\"?(\w+)\"?\s+(\w+(?:\(\d+\))?)\s+(NOT NULL|NULL)", line)
            assert m, line
            cols.append((m.group(1), m.group(2).lower(), m.group(3) == "NOT NULL"))
        tables[name] = cols
    return tables


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, _sqlite_head: Path) -> Iterator[Engine]:
    """The demo cohort (300 patients, seed 5) with identities, free text and one recorded death."""
    path = tmp_path_factory.mktemp("omop") / "store.db"
    shutil.copyfile(_sqlite_head, path)
    eng = make_engine(f"sqlite:///{path}")
    load_demo(eng, patients=300, seed=5)
    seed_demo_access(eng)
    with eng.begin() as c:
        c.execute(text("UPDATE complications SET detail = :t"), {"t": FREE_TEXT})
        c.execute(text("UPDATE readmissions SET reason = :t"), {"t": FREE_TEXT})
        ep = c.execute(select(EpisodeRow.id, EpisodeRow.enrolled_on).order_by(EpisodeRow.id.desc())).first()
        assert ep is not None
        c.execute(update(EpisodeRow).where(EpisodeRow.id == ep.id)
                  .values(ended_on=ep.enrolled_on + dt.timedelta(days=3), end_reason="died"))
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def exported(store: Engine, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out") / "omop"
    export_omop(store, out, rekey_secret=SECRET, now=dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    return out


def _csv(folder: Path, table: str) -> list[dict[str, str]]:
    with (folder / f"{table}.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _count(engine: Engine, row: Any) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(row)).scalar_one())


def _official_db(folder: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the official DDL in schema ``cdm`` and every exported CSV loaded."""
    con = duckdb.connect()
    con.execute("CREATE SCHEMA cdm")
    con.execute(DDL.read_text().replace("@cdmDatabaseSchema.", "cdm."))
    for table in PRIMARY_KEYS | {"cdm_source": ""}:
        con.execute(f"COPY cdm.{table} FROM '{folder / (table + '.csv')}' (FORMAT csv, HEADER true, NULLSTR '')")
    return con


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    row = con.execute(sql).fetchone()
    assert row is not None
    return row[0]


# --------------------------------------------------------------------------- the column specs


def test_our_column_specs_are_the_official_ddl() -> None:
    official = official_ddl()
    for table, cols in TABLES.items():
        assert [(c.name, c.type, c.not_null) for c in cols] == official[table], table


def test_every_csv_header_is_the_official_column_list(exported: Path) -> None:
    official = official_ddl()
    for table in TABLES:
        with (exported / f"{table}.csv").open(encoding="utf-8") as fh:
            assert next(csv.reader(fh)) == [c for c, _, _ in official[table]], table


# --------------------------------------------------------------------------- load into the official DDL


def test_export_loads_into_the_official_ddl_with_unique_keys_and_resolved_references(exported: Path) -> None:
    con = _official_db(exported)  # every NOT NULL holds and every value casts, or COPY fails
    for table, pk in PRIMARY_KEYS.items():
        assert _one(con, f"SELECT count(*) - count(DISTINCT {pk}) FROM cdm.{table}") == 0, table
        assert _one(con, f"SELECT count(*) FROM cdm.{table} WHERE {pk} IS NULL") == 0
    for table in ("observation_period", "visit_occurrence", "condition_occurrence", "procedure_occurrence",
                  "measurement", "observation", "death"):
        orphans = _one(con, f"SELECT count(*) FROM cdm.{table} t LEFT JOIN cdm.person p USING (person_id) "
                            "WHERE p.person_id IS NULL")
        assert orphans == 0, table
    for table in ("condition_occurrence", "procedure_occurrence", "measurement", "observation"):
        orphans = _one(con, f"SELECT count(*) FROM cdm.{table} t LEFT JOIN cdm.visit_occurrence v "
                            "ON v.visit_occurrence_id = t.visit_occurrence_id "
                            "WHERE t.visit_occurrence_id IS NOT NULL AND v.visit_occurrence_id IS NULL")
        assert orphans == 0, table
        # the visit is the same person's
        wrong = _one(con, f"SELECT count(*) FROM cdm.{table} t JOIN cdm.visit_occurrence v "
                          "ON v.visit_occurrence_id = t.visit_occurrence_id WHERE v.person_id <> t.person_id")
        assert wrong == 0, table
    # the Clavien-Dindo grades point at their complication's condition row
    assert _one(con, "SELECT count(*) FROM cdm.observation o LEFT JOIN cdm.condition_occurrence c "
                     "ON c.condition_occurrence_id = o.observation_event_id "
                     "WHERE o.observation_event_id IS NOT NULL AND (c.condition_occurrence_id IS NULL "
                     "OR c.condition_source_value NOT LIKE 'complication:%')") == 0
    # every event lies within its person's observation period
    for table, day in (("condition_occurrence", "condition_start_date"), ("procedure_occurrence", "procedure_date"),
                       ("observation", "observation_date"), ("visit_occurrence", "visit_start_date")):
        outside = _one(con, f"SELECT count(*) FROM cdm.{table} t JOIN cdm.observation_period p USING (person_id) "
                            f"WHERE t.{day} < p.observation_period_start_date "
                            f"OR t.{day} > p.observation_period_end_date")
        assert outside == 0, table
    assert _one(con, "SELECT count(*) FROM cdm.cdm_source") == 1
    assert con.execute("SELECT cdm_version, vocabulary_version, source_release_date FROM cdm.cdm_source").fetchone() \
        == ("5.4", "none", dt.date(2026, 12, 1))


def test_row_counts_equal_the_store(store: Engine, exported: Path) -> None:
    n = {name: _count(store, row) for name, row in (
        ("patients", PatientRow), ("episodes", EpisodeRow), ("procedures", ProcedureRow),
        ("complications", ComplicationRow), ("readmissions", ReadmissionRow), ("reoperations", ReoperationRow))}
    assert n["complications"] and n["readmissions"] and n["reoperations"]  # the cohort exercises every table
    rows = {t: _csv(exported, t) for t in PRIMARY_KEYS}
    assert len(rows["person"]) == len(rows["observation_period"]) == n["patients"]
    assert len(rows["procedure_occurrence"]) == n["procedures"] + n["reoperations"]
    assert len(rows["condition_occurrence"]) == n["episodes"] + n["complications"]
    assert len(rows["visit_occurrence"]) == n["procedures"] + n["reoperations"] + n["readmissions"] + n["episodes"]
    assert len(rows["death"]) == 1
    with store.connect() as c:
        scored = c.execute(select(func.count()).where(PromResponseRow.score.is_not(None))).scalar_one()
        measures = sum(c.execute(select(func.count()).where(getattr(ProcedureRow, m).is_not(None))).scalar_one()
                       for m in PROCEDURE_MEASURES)
        items = sum(len(list(item_values(i, a))) for i, a in c.execute(
            select(PromResponseRow.instrument, PromResponseRow.answers)))
    totals = [r for r in rows["observation"] if "." not in r["observation_source_value"]
              and r["observation_source_value"] != "clavien_dindo"]
    assert len(totals) == scored
    assert len(rows["observation"]) == scored + items + n["complications"]
    assert len(rows["measurement"]) == measures
    assert items > 0


def test_values_match_the_store(store: Engine, exported: Path) -> None:
    persons = {r["person_source_value"]: r for r in _csv(exported, "person")}
    secret = SECRET.encode()
    with store.connect() as c:
        patients = c.execute(select(PatientRow.id, PatientRow.birth_year, PatientRow.sex)).all()
        proc = c.execute(select(ProcedureRow.procedure_code, ProcedureRow.performed_on, ProcedureRow.approach,
                                ProcedureRow.los_days, EpisodeRow.patient_id)
                         .join(EpisodeRow, EpisodeRow.id == ProcedureRow.episode_id)
                         .order_by(ProcedureRow.id)).first()
        died = c.execute(select(EpisodeRow.patient_id, EpisodeRow.ended_on)
                         .where(EpisodeRow.end_reason == "died")).one()
    for pid, birth_year, sex in patients:
        row = persons[rekey_patient(secret, pid)]  # the snapshot's key: the exports link up
        assert int(row["year_of_birth"]) == birth_year
        assert int(row["gender_concept_id"]) == GENDER_CONCEPTS[sex]
        assert row["gender_source_value"] == sex
        assert row["month_of_birth"] == row["day_of_birth"] == row["birth_datetime"] == ""
    by_source = {r["person_source_value"]: int(r["person_id"]) for r in persons.values()}
    assert proc is not None
    first = _csv(exported, "procedure_occurrence")[0]
    assert first["procedure_source_value"] == proc.procedure_code
    assert first["procedure_date"] == proc.performed_on.isoformat()
    assert first["modifier_source_value"].split(":")[0] == proc.approach
    assert int(first["person_id"]) == by_source[rekey_patient(secret, proc.patient_id)]
    visit = next(v for v in _csv(exported, "visit_occurrence")
                 if v["visit_occurrence_id"] == first["visit_occurrence_id"])
    assert visit["visit_source_value"] == "procedure"
    assert visit["visit_concept_id"] == ("9202" if proc.los_days == 0 else "9201")  # interop-codes.md §3
    death = _csv(exported, "death")[0]
    assert int(death["person_id"]) == by_source[rekey_patient(secret, died.patient_id)]
    assert death["death_date"] == died.ended_on.isoformat()
    # PROM totals: patient self-report (32865), source value instrument:timepoint, value the score
    with store.connect() as c:
        resp = c.execute(select(PromResponseRow.instrument, PromResponseRow.timepoint, PromResponseRow.score,
                                PromResponseRow.collected_on, EpisodeRow.patient_id)
                         .join(EpisodeRow, EpisodeRow.id == PromResponseRow.episode_id)
                         .where(PromResponseRow.instrument == "odi", PromResponseRow.score.is_not(None))
                         .order_by(PromResponseRow.id)).first()
    assert resp is not None
    obs = [o for o in _csv(exported, "observation")
           if o["observation_source_value"] == f"odi:{resp.timepoint}"
           and int(o["person_id"]) == by_source[rekey_patient(secret, resp.patient_id)]]
    assert len(obs) == 1
    assert float(obs[0]["value_as_number"]) == resp.score
    assert obs[0]["observation_date"] == resp.collected_on.isoformat()
    assert obs[0]["observation_type_concept_id"] == "32865"
    assert obs[0]["unit_source_value"] == "%"


def test_no_identity_or_free_text_leaves_the_store(store: Engine, exported: Path) -> None:
    with store.connect() as c:
        ident = c.execute(text("SELECT full_name, mrn, email FROM patient_identities LIMIT 5")).all()
        pseudo = c.execute(select(PatientRow.pseudo_id).limit(5)).scalars().all()
    assert ident
    blob = b"".join(p.read_bytes() for p in exported.glob("*.csv"))
    for name, mrn, email in ident:
        assert name.encode() not in blob
        assert f",{mrn},".encode() not in blob
        assert email is None or email.encode() not in blob
    assert FREE_TEXT.encode() not in blob
    person_sources = {r["person_source_value"] for r in _csv(exported, "person")}
    assert not person_sources & set(pseudo)


def test_one_audit_row_with_the_counts(store: Engine, tmp_path: Path) -> None:
    with Session(store) as s:
        before = s.scalar(select(func.count()).select_from(AuditRow).where(AuditRow.entity == "omop"))
    result = export_omop(store, tmp_path / "o")
    with Session(store) as s:
        rows = s.scalars(select(AuditRow).where(AuditRow.entity == "omop").order_by(AuditRow.id)).all()
    assert len(rows) == (before or 0) + 1
    assert rows[-1].action == "export" and rows[-1].actor_role == "system"
    assert rows[-1].detail is not None and rows[-1].detail["row_counts"] == result.row_counts
    assert result.row_counts["person"] == _count(store, PatientRow)
    # without a secret: person_id is the store row id, the source value the snapshot's P<id>
    persons = _csv(tmp_path / "o", "person")
    assert all(p["person_source_value"] == f"P{p['person_id']}" for p in persons)


# --------------------------------------------------------------------------- vocabulary


def _athena(folder: Path) -> Path:
    """A tiny Athena-format folder (tab-separated, YYYYMMDD dates; our own made-up concept ids)."""
    folder.mkdir()
    head = ["concept_id", "concept_name", "domain_id", "vocabulary_id", "concept_class_id", "standard_concept",
            "concept_code", "valid_start_date", "valid_end_date", "invalid_reason"]
    rows = [
        ["9000001", "Disc disorder with radiculopathy, lumbar", "Condition", "ICD10CM", "5-char billing code", "",
         "M51.16", "20070101", "20991231", ""],
        ["9000002", "Lumbar disc prolapse with radiculopathy", "Condition", "SNOMED", "Clinical Finding", "S",
         "202735001", "20020131", "20991231", ""],
        ["9000003", "Discectomy for herniated disc", "Procedure", "SNOMED", "Procedure", "S", "89355001", "20020131",
         "20991231", ""],
        ["9000004", "Oswestry disability index score", "Measurement", "LOINC", "Clinical Observation", "S",
         "97909-6", "20210621", "20991231", ""],
    ]
    (folder / "CONCEPT.csv").write_text("\n".join("\t".join(r) for r in [head, *rows]) + "\n", encoding="utf-8")
    rel = [["concept_id_1", "concept_id_2", "relationship_id", "valid_start_date", "valid_end_date", "invalid_reason"],
           ["9000001", "9000002", "Maps to", "20070101", "20991231", ""]]
    (folder / "CONCEPT_RELATIONSHIP.csv").write_text("\n".join("\t".join(r) for r in rel) + "\n", encoding="utf-8")
    voc = [["vocabulary_id", "vocabulary_name", "vocabulary_reference", "vocabulary_version", "vocabulary_concept_id"],
           ["None", "OMOP Standardized Vocabularies", "OMOP generated", "v5.0 TEST-RELEASE-01", "44819096"]]
    (folder / "VOCABULARY.csv").write_text("\n".join("\t".join(r) for r in voc) + "\n", encoding="utf-8")
    return folder


def test_vocabulary_maps_source_codes_and_the_domain_decides_the_table(store: Engine, tmp_path: Path) -> None:
    out = tmp_path / "omop"
    result = export_omop(store, out, vocabulary=_athena(tmp_path / "athena"))
    assert result.vocabulary_version == "v5.0 TEST-RELEASE-01"
    assert _csv(out, "cdm_source")[0]["vocabulary_version"] == "v5.0 TEST-RELEASE-01"
    conds = [c for c in _csv(out, "condition_occurrence") if not c["condition_source_value"].startswith("complication")]
    m5116 = [c for c in conds if c["condition_source_value"] == "M51.16"]
    assert m5116, "the demo cohort has M51.16 diagnoses"
    assert all(c["condition_concept_id"] == "9000002" and c["condition_source_concept_id"] == "9000001"
               for c in m5116)  # ICD10CM → its 'Maps to' standard SNOMED concept
    assert all(c["condition_concept_id"] == "0" for c in conds if c["condition_source_value"] != "M51.16")
    procs = _csv(out, "procedure_occurrence")
    disc = [p for p in procs if PROCEDURE_SNOMED.get(p["procedure_source_value"]) == "89355001"]
    assert disc and all(p["procedure_concept_id"] == "9000003" for p in disc)
    assert all(p["procedure_concept_id"] == "0" for p in procs if p not in disc)
    # the ODI score's concept sits in the Measurement domain here, so the totals go to MEASUREMENT
    odi_meas = [m for m in _csv(out, "measurement") if m["measurement_source_value"].startswith("odi:")]
    assert odi_meas and all(m["measurement_concept_id"] == "9000004" for m in odi_meas)
    assert all(m["measurement_type_concept_id"] == "32865" for m in odi_meas)
    assert not [o for o in _csv(out, "observation") if o["observation_source_value"].startswith("odi:")]
    # fixed concepts are used with or without a vocabulary
    assert {p["gender_concept_id"] for p in _csv(out, "person")} <= {"8507", "8532", "44814653", "8551"}
    _official_db(out)  # still loads into the official DDL


def test_missing_vocabulary_folder_is_refused(store: Engine, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"CONCEPT\.csv"):
        export_omop(store, tmp_path / "o", vocabulary=tmp_path / "nowhere")
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- targets


def test_duckdb_file_holds_the_same_tables(store: Engine, tmp_path: Path) -> None:
    csv_out = tmp_path / "csv"
    a = export_omop(store, csv_out, rekey_secret=SECRET)
    b = export_omop(store, tmp_path / "cdm.duckdb", rekey_secret=SECRET)
    assert a.row_counts == b.row_counts
    con = duckdb.connect(str(tmp_path / "cdm.duckdb"), read_only=True)
    official = official_ddl()
    for table in TABLES:
        cols = con.execute(f"SELECT column_name, is_nullable FROM information_schema.columns "
                           f"WHERE table_name = '{table}' ORDER BY ordinal_position").fetchall()
        assert [c for c, _ in cols] == [c for c, _, _ in official[table]]
        assert [n == "NO" for _, n in cols] == [nn for _, _, nn in official[table]]
        assert _one(con, f"SELECT count(*) FROM {table}") == a.row_counts[table]
    assert sorted(con.execute("SELECT person_id FROM person").fetchall()) == \
        sorted((int(p["person_id"]),) for p in _csv(csv_out, "person"))
    with pytest.raises(ValidationError, match="exists"):
        export_omop(store, tmp_path / "cdm.duckdb")


@pytest.mark.postgres
def test_postgresql_schema_holds_the_same_tables(store: Engine, tmp_path: Path, pg_database_url: str) -> None:
    a = export_omop(store, pg_database_url, schema="cdm", rekey_secret=SECRET)
    pg = make_engine(pg_database_url)
    try:
        with pg.connect() as c:
            for table in TABLES:
                assert c.execute(text(f"SELECT count(*) FROM cdm.{table}")).scalar_one() == a.row_counts[table]
            q = text("SELECT column_name, is_nullable FROM information_schema.columns "
                     "WHERE table_schema = 'cdm' AND table_name = 'person'")
            nulls: dict[str, str] = {str(k): str(v) for k, v in c.execute(q).all()}
            assert nulls["person_id"] == "NO" and nulls["month_of_birth"] == "YES"
        with pytest.raises(ValidationError, match="tables exist"):
            export_omop(store, pg_database_url, schema="cdm")
        export_omop(store, pg_database_url, schema="cdm", overwrite=True)
    finally:
        pg.dispose()


def test_a_non_empty_directory_is_refused(store: Engine, tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x.txt").write_text("keep me")
    with pytest.raises(ValidationError, match="not empty"):
        export_omop(store, tmp_path / "busy")
    assert (tmp_path / "busy" / "x.txt").read_text() == "keep me"


def test_codes_are_the_fhir_resources_codes() -> None:
    """OMOP and FHIR code a record the same way (both from interop-codes.md)."""
    from spinetrack.interop.fhir import codes

    assert {k: v[0] for k, v in codes.PROCEDURE_SNOMED.items()} == PROCEDURE_SNOMED
    assert {k: v[0] for k, v in codes.COMPLICATION_SNOMED.items()} == COMPLICATION_SNOMED
    vocab = {codes.LOINC: "LOINC", codes.SNOMED: "SNOMED"}
    assert {k: (vocab[s], c) for k, (s, c, _) in codes.INSTRUMENT_SCORE_CODES.items()} == INSTRUMENT_CODES


# --------------------------------------------------------------------------- keys


def test_keys_are_the_snapshots() -> None:
    secret = SECRET.encode()
    for i in (1, 17, 123_456):
        assert omop_keys.patient_key(secret, i) == rekey_patient(secret, i)
        assert omop_keys.episode_key(secret, i) == rekey_episode(secret, i)
        assert omop_keys.patient_key(None, i) == f"P{i}"
        # person_id: the first 31 bits of the patient key
        assert omop_keys.PersonIds.__call__ is not None
        assert omop_keys._h31(secret, b"patient:%d" % i) == int(rekey_patient(secret, i)[:8], 16) & 0x7FFFFFFF


def test_person_ids_stay_unique_when_the_31_bit_hashes_collide(store: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    real = omop_keys._h31
    monkeypatch.setattr(omop_keys, "_h31", lambda s, m: real(s, m) % 400 + (0 if m.endswith(b"7") else 1))
    with store.connect() as c:
        ids = PersonIdsFor(c)
        pids = c.execute(select(PatientRow.id)).scalars().all()
    mapped = [ids(p) for p in pids]
    assert len(set(mapped)) == len(pids)  # 300 patients into 400 values: collisions resolved
    assert ids.overrides and 0 not in mapped
    assert all(0 < m <= omop_keys.INT32_MAX for m in mapped)


def PersonIdsFor(conn: Any) -> omop_keys.PersonIds:
    return omop_keys.PersonIds(conn, SECRET.encode(), batch=37)


def test_small_batches_give_identical_files(store: Engine, exported: Path, tmp_path: Path) -> None:
    """Streaming in batches (here 7 rows) changes nothing: the same bytes as one big batch."""
    out = tmp_path / "small"
    export_omop(store, out, rekey_secret=SECRET, now=dt.datetime(2026, 12, 1, tzinfo=dt.UTC), batch_rows=7)
    for f in exported.glob("*.csv"):
        assert (out / f.name).read_bytes() == f.read_bytes(), f.name
