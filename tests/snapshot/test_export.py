"""``spinetrack snapshot``: pseudonymised Parquet tables streamed from the store, on SQLite and
PostgreSQL (the ``engine`` fixture), checked against the store row by row.

The oracle is the store itself, read here with plain SQLAlchemy queries (never the identity
table except to know which names and hospital numbers must not appear in the export).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from spinetrack import clock
from spinetrack.cli import app
from spinetrack.errors import ValidationError
from spinetrack.snapshot import SCHEMA_VERSION, SCHEMAS, TABLES, export_snapshot, rekey_episode, rekey_patient
from spinetrack.snapshot import export as export_mod
from spinetrack.store.audit import verify_chain
from spinetrack.store.migrate import head_revision
from spinetrack.store.session import make_engine
from spinetrack.store.tables import (
    AuditRow,
    ComplicationRow,
    EpisodeRow,
    PatientIdentityRow,
    PatientRow,
    ProcedureRow,
    PromResponseRow,
    ReadmissionRow,
    ReoperationRow,
    SiteRow,
)
from spinetrack.synth.demo_access import seed_demo_access
from spinetrack.synth.load import load_demo

SECRET_A = "a-secret-of-some-length-1"
SECRET_B = "another-secret-entirely-2"
FREE_TEXT = "SENTINEL free text: patient fell down the stairs at home"

# The contract other code is written against.
EXPECTED_COLUMNS = {
    "patients": ["patient_key", "site", "birth_year", "sex", "bmi", "smoking", "diabetes", "asa_grade",
                 "work_status", "symptom_duration_weeks", "prior_spine_surgery"],
    "episodes": ["episode_key", "patient_key", "diagnosis_code", "diagnosis_group", "n_levels", "levels",
                 "conservative_care", "conservative_care_weeks", "treatment", "treatment_family", "index_year",
                 "age_at_index", "has_procedure", "enrolment_days", "followup_days"],
    "procedures": ["episode_key", "procedure_code", "family", "approach", "technique", "days_from_index", "n_levels",
                   "incision_mm", "ebl_ml", "op_time_min", "fluoro_s", "fluoro_dose_mgy", "los_days", "transfusion",
                   "surgeon"],
    "complications": ["episode_key", "category", "clavien_dindo", "days_from_index"],
    "readmissions": ["episode_key", "days_from_index"],
    "reoperations": ["episode_key", "reason", "days_from_index"],
    "outcomes": ["patient_key", "episode_key", "instrument", "timepoint", "days_from_index", "score", "valid",
                 "returned"],
}
STORE_TABLES = {"patients": PatientRow, "episodes": EpisodeRow, "procedures": ProcedureRow,
                "complications": ComplicationRow, "readmissions": ReadmissionRow, "reoperations": ReoperationRow,
                "outcomes": PromResponseRow}
runner = CliRunner()


def _load(engine: Engine) -> None:
    """The demo cohort (300 patients, seed 5) with synthetic identities and some free text."""
    load_demo(engine, patients=300, seed=5)
    seed_demo_access(engine)
    with engine.begin() as c:
        c.execute(text("UPDATE complications SET detail = :t"), {"t": FREE_TEXT})
        c.execute(text("UPDATE readmissions SET reason = :t"), {"t": FREE_TEXT})


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def _loaded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The store of :func:`_load`, built once per backend: an SQLite file, or the name of a
    PostgreSQL database that the tests' databases are copied from."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("loaded") / "store.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_head"), path)
        eng = make_engine(f"sqlite:///{path}")
        _load(eng)
        eng.dispose()
        yield "sqlite", str(path)
        return
    with request.getfixturevalue("pg_new_database")(request.getfixturevalue("_pg_head")) as url:
        eng = make_engine(url)
        _load(eng)
        eng.dispose()
        yield "postgresql", url.rsplit("/", 1)[1]


@pytest.fixture
def store(_loaded: tuple[str, str], request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A test's own copy of the loaded store (tests append audit rows and write patients)."""
    kind, source = _loaded
    if kind == "sqlite":
        path = tmp_path / "spinetrack.db"
        shutil.copyfile(source, path)
        eng = make_engine(f"sqlite:///{path}")
        yield eng
        eng.dispose()
        return
    with request.getfixturevalue("pg_new_database")(source) as url:
        eng = make_engine(url)
        yield eng
        eng.dispose()


def _read(path: Path) -> dict[str, pa.Table]:
    return {t: pq.read_table(path / f"{t}.parquet") for t in TABLES}


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_snapshot_row_counts_equal_the_store(store: Engine, tmp_path: Path) -> None:
    result = export_snapshot(store, tmp_path / "snap")
    tables = _read(result.path)
    with store.connect() as c:
        expected = {t: c.execute(select(func.count()).select_from(row)).scalar_one() for t, row in STORE_TABLES.items()}
    assert expected["patients"] == 300
    assert all(expected[t] > 0 for t in TABLES)
    assert {t: tables[t].num_rows for t in TABLES} == expected
    assert result.row_counts == expected
    assert sorted(p.name for p in result.path.iterdir()) == sorted([f"{t}.parquet" for t in TABLES] + ["manifest.json"])


def test_snapshot_schema_is_the_contract(store: Engine, tmp_path: Path) -> None:
    tables = _read(export_snapshot(store, tmp_path / "snap").path)
    assert {t: tables[t].column_names for t in TABLES} == EXPECTED_COLUMNS
    for t in TABLES:
        assert tables[t].schema.remove_metadata() == SCHEMAS[t], t
    types = {(t, f.name): f.type for t in TABLES for f in tables[t].schema}
    assert types[("patients", "birth_year")] == pa.int16()
    assert types[("patients", "asa_grade")] == pa.int8()
    assert types[("episodes", "episode_key")] == pa.int64()
    assert types[("episodes", "index_year")] == pa.int16()
    assert types[("procedures", "days_from_index")] == pa.int32()
    assert types[("outcomes", "returned")] == pa.bool_()


def test_snapshot_values_match_the_store_row_by_row(store: Engine, tmp_path: Path) -> None:
    tables = {t: tab.to_pylist() for t, tab in _read(export_snapshot(store, tmp_path / "snap").path).items()}
    with Session(store) as s:
        sites = dict(s.execute(select(SiteRow.id, SiteRow.code)).all())
        patients = s.execute(select(PatientRow).order_by(PatientRow.id)).scalars().all()
        episodes = {e.id: e for e in s.execute(select(EpisodeRow)).scalars()}
        pseudo = {p.id: f"P{p.id}" for p in patients}  # the store's key, never the pseudonymous id
        site_of = {p.id: p.site_id for p in patients}
        for row, p in list(zip(tables["patients"], patients, strict=True))[:25]:
            assert row == {"patient_key": f"P{p.id}", "site": sites[p.site_id], "birth_year": p.birth_year,
                           "sex": p.sex, "bmi": p.bmi, "smoking": p.smoking, "diabetes": p.diabetes,
                           "asa_grade": p.asa_grade, "work_status": p.work_status,
                           "symptom_duration_weeks": p.symptom_duration_weeks,
                           "prior_spine_surgery": p.prior_spine_surgery}
        with_proc = set(s.execute(select(ProcedureRow.episode_id)).scalars())
        for row in tables["episodes"]:
            e = episodes[row["episode_key"]]
            birth = next(p.birth_year for p in patients if p.id == e.patient_id)
            assert row == {"episode_key": e.id, "patient_key": pseudo[e.patient_id],
                           "diagnosis_code": e.diagnosis_code, "diagnosis_group": e.diagnosis_group,
                           "n_levels": e.n_levels, "levels": e.levels, "conservative_care": e.conservative_care,
                           "conservative_care_weeks": e.conservative_care_weeks, "treatment": e.treatment,
                           "treatment_family": e.treatment_family, "index_year": e.index_date.year,
                           "age_at_index": e.index_date.year - birth, "has_procedure": e.id in with_proc,
                           "enrolment_days": (e.index_date - e.enrolled_on).days,
                           "followup_days": (clock.today() - e.index_date).days}
        assert any(r["has_procedure"] for r in tables["episodes"])
        assert not all(r["has_procedure"] for r in tables["episodes"])

        procs = s.execute(select(ProcedureRow).order_by(ProcedureRow.id)).scalars().all()
        for row, p in zip(tables["procedures"], procs, strict=True):
            assert row == {"episode_key": p.episode_id, "procedure_code": p.procedure_code, "family": p.family,
                           "approach": p.approach, "technique": p.technique,
                           "days_from_index": (p.performed_on - episodes[p.episode_id].index_date).days,
                           "n_levels": p.n_levels, "incision_mm": p.incision_mm, "ebl_ml": p.ebl_ml,
                           "op_time_min": p.op_time_min, "fluoro_s": p.fluoro_s,
                           "fluoro_dose_mgy": p.fluoro_dose_mgy, "los_days": p.los_days,
                           "transfusion": p.transfusion,
                           # the demo sites take part in surgeon-level benchmarking (synth.load)
                           "surgeon": f"{sites[site_of[episodes[p.episode_id].patient_id]]}/{p.surgeon}"}
            assert row["days_from_index"] == 0  # every demo procedure is the index procedure

        def offset(episode_id: int, day: dt.date) -> int:
            return (day - episodes[episode_id].index_date).days

        comps = s.execute(select(ComplicationRow).order_by(ComplicationRow.id)).scalars().all()
        assert tables["complications"] == [
            {"episode_key": c.episode_id, "category": c.category, "clavien_dindo": c.clavien_dindo,
             "days_from_index": offset(c.episode_id, c.occurred_on)} for c in comps]
        readm = s.execute(select(ReadmissionRow).order_by(ReadmissionRow.id)).scalars().all()
        assert tables["readmissions"] == [
            {"episode_key": r.episode_id, "days_from_index": offset(r.episode_id, r.admitted_on)} for r in readm]
        assert all(r["days_from_index"] > 0 for r in tables["readmissions"])
        reops = s.execute(select(ReoperationRow).order_by(ReoperationRow.id)).scalars().all()
        assert tables["reoperations"] == [
            {"episode_key": r.episode_id, "reason": r.reason, "days_from_index": offset(r.episode_id, r.performed_on)}
            for r in reops]

        responses = s.execute(select(PromResponseRow).order_by(PromResponseRow.id)).scalars().all()
        assert len(responses) == len(tables["outcomes"])
        for row, r in zip(tables["outcomes"], responses, strict=True):
            returned = r.score_detail.get("returned") if r.instrument == "return_to_activity" else None
            score = r.score
            if returned and score is None and r.score_detail.get("date"):
                # a return answered by date: days from the index date, the clock of every other event
                score = float((dt.date.fromisoformat(r.score_detail["date"]) - episodes[r.episode_id].index_date).days)
            assert row == {"patient_key": pseudo[episodes[r.episode_id].patient_id], "episode_key": r.episode_id,
                           "instrument": r.instrument, "timepoint": r.timepoint,
                           "days_from_index": r.days_from_index, "score": score, "valid": r.valid,
                           "returned": returned}
    rta = [r for r in tables["outcomes"] if r["instrument"] == "return_to_activity"]
    assert {r["returned"] for r in rta} == {True, False}
    assert all(r["score"] is None for r in rta if r["returned"] is False)
    assert any(r["days_from_index"] < 0 for r in tables["outcomes"] if r["timepoint"] == "baseline")


def test_snapshot_holds_no_identity_free_text_or_dates(store: Engine, tmp_path: Path) -> None:
    with store.connect() as c:  # only to know what must not appear
        names, mrns = zip(*c.execute(select(PatientIdentityRow.full_name, PatientIdentityRow.mrn)).all(), strict=True)
    assert len(names) == 300 and all(n.startswith("Demo patient ") for n in names)
    forbidden = set(names) | set(mrns)
    for rekey in (None, SECRET_A):
        out = export_snapshot(store, tmp_path / f"snap-{rekey is not None}", rekey_secret=rekey)
        strings: list[str] = []
        for t, tab in _read(out.path).items():
            for f in tab.schema:
                assert not pa.types.is_temporal(f.type), (t, f.name)
                assert not re.search(r"(_on|_at|_date|date)$", f.name), (t, f.name)
                assert f.name not in {"detail", "reason_text", "answers", "score_detail", "full_name", "mrn",
                                      "email", "phone", "name", "created_at"}, (t, f.name)
                if pa.types.is_string(f.type):
                    strings += [v for v in tab.column(f.name).to_pylist() if v is not None]
        assert strings
        for v in strings:
            assert "demo patient" not in v.lower()
            assert not re.fullmatch(r"D\d+", v), v
            assert v not in forbidden
            assert "SENTINEL" not in v and " " not in v  # codes only: no free text
        manifest = (out.path / "manifest.json").read_text()
        assert "Demo patient" not in manifest and not re.search(r"\bD\d+\b", manifest)
        assert str(store.url.database) not in manifest and "@" not in manifest
    reasons = _read(out.path)["reoperations"].column("reason").to_pylist()
    assert all(re.fullmatch(r"[a-z_]+", r) for r in reasons)


def test_rekeying_is_deterministic_per_secret_and_differs_between_secrets(store: Engine, tmp_path: Path) -> None:
    plain = _read(export_snapshot(store, tmp_path / "plain").path)
    a1 = _read(export_snapshot(store, tmp_path / "a1", rekey_secret=SECRET_A).path)
    a2 = _read(export_snapshot(store, tmp_path / "a2", rekey_secret=SECRET_A, batch_rows=97).path)
    b = _read(export_snapshot(store, tmp_path / "b", rekey_secret=SECRET_B).path)
    for t in TABLES:
        assert a1[t].equals(a2[t]), t
    pk = {name: tab["patients"].column("patient_key").to_pylist() for name, tab in
          (("plain", plain), ("a", a1), ("b", b))}
    assert all(re.fullmatch(r"[0-9a-f]{16}", k) for k in pk["a"] + pk["b"])
    assert len(set(pk["a"])) == len(set(pk["b"])) == 300
    assert set(pk["a"]).isdisjoint(pk["b"]) and set(pk["a"]).isdisjoint(pk["plain"])
    # the documented construction, with the reference implementation
    assert all(re.fullmatch(r"P\d+", k) for k in pk["plain"])
    ids = [int(k[1:]) for k in pk["plain"]]
    assert pk["a"] == [hmac.new(SECRET_A.encode(), f"patient:{i}".encode(), hashlib.sha256).hexdigest()[:16]
                       for i in ids]
    assert pk["a"] == [rekey_patient(SECRET_A.encode(), i) for i in ids]
    ek_plain = plain["episodes"].column("episode_key").to_pylist()
    ek_a = a1["episodes"].column("episode_key").to_pylist()
    ek_b = b["episodes"].column("episode_key").to_pylist()
    assert ek_a == [int.from_bytes(hmac.new(SECRET_A.encode(), f"episode:{e}".encode(), hashlib.sha256).digest()[:8],
                                   "big") & (2**63 - 1) for e in ek_plain]
    assert ek_a == [rekey_episode(SECRET_A.encode(), e) for e in ek_plain]
    assert len(set(ek_a)) == 300 and set(ek_a).isdisjoint(ek_b) and set(ek_a).isdisjoint(ek_plain)
    # keys stay consistent across tables, and nothing else changes (the surgeon is keyed too: its own test)
    keyed = ("patient_key", "episode_key", "surgeon")
    for t in TABLES:
        assert a1[t].drop_columns([c for c in keyed if c in a1[t].column_names]).equals(
            plain[t].drop_columns([c for c in keyed if c in plain[t].column_names])), t
    to_a = dict(zip(ek_plain, ek_a, strict=True))
    p_to_a = dict(zip(pk["plain"], pk["a"], strict=True))
    for t in ("procedures", "complications", "readmissions", "reoperations", "outcomes"):
        assert a1[t].column("episode_key").to_pylist() == [to_a[e] for e in plain[t].column("episode_key").to_pylist()]
    assert a1["outcomes"].column("patient_key").to_pylist() == [
        p_to_a[p] for p in plain["outcomes"].column("patient_key").to_pylist()]
    assert a1["episodes"].column("patient_key").to_pylist() == [
        p_to_a[p] for p in plain["episodes"].column("patient_key").to_pylist()]


def test_rekeying_refuses_a_short_secret(store: Engine, tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as err:
        export_snapshot(store, tmp_path / "snap", rekey_secret="pw-xyzzy")
    assert err.value.field == "rekey"
    assert "xyzzy" not in str(err.value)  # the secret is not echoed
    assert not (tmp_path / "snap").exists()


def test_manifest_lists_counts_schema_and_source(store: Engine, tmp_path: Path) -> None:
    from spinetrack import __version__

    result = export_snapshot(store, tmp_path / "snap", rekey_secret=SECRET_A)
    m = json.loads((result.path / "manifest.json").read_text())
    assert m == result.manifest
    assert m["schema_version"] == SCHEMA_VERSION == "3"
    assert m["spinetrack_version"] == __version__
    assert m["rekeyed"] is True
    created = dt.datetime.fromisoformat(m["created_at"])
    assert created.utcoffset() == dt.timedelta(0)
    assert abs(dt.datetime.now(dt.UTC) - created) < dt.timedelta(minutes=5)
    assert m["source"] == {"dialect": store.dialect.name, "alembic_revision": head_revision()}
    tables = _read(result.path)
    assert m["row_counts"] == {t: tables[t].num_rows for t in TABLES}
    for t in TABLES:
        assert m["tables"][t]["file"] == f"{t}.parquet"
        assert m["tables"][t]["rows"] == tables[t].num_rows
        assert m["tables"][t]["columns"] == EXPECTED_COLUMNS[t]
        assert m["tables"][t]["types"] == {f.name: str(f.type) for f in SCHEMAS[t]}
    for word in ("names", "contact", "free text", "dates"):
        assert word in m["excluded"]
    # the declared keys hold in the data (the engines rely on them: engines.base.snapshot_unique_keys)
    assert m["keys"] == {"patients": ["patient_key"], "episodes": ["episode_key"],
                         "outcomes": ["episode_key", "instrument", "timepoint"]}
    for t, cols in m["keys"].items():
        keyed = tables[t].group_by(cols).aggregate([([], "count_all")])
        assert keyed.num_rows == tables[t].num_rows > 0, t
    assert pq.read_schema(result.path / "outcomes.parquet").metadata[b"spinetrack.snapshot.schema_version"] == b"3"


def test_manifest_marks_synthetic_responses_and_the_report_warns(store: Engine, tmp_path: Path) -> None:
    """The demo cohort's questionnaire responses are stored with source 'synthetic': the manifest
    counts responses by source and flags the snapshot, so every report made from it says the data
    are synthetic (reports.methods.synthetic_note). A store of real responses is not flagged."""
    from spinetrack.reports.methods import synthetic_note

    with Session(store) as s:
        total = s.scalar(select(func.count()).select_from(PromResponseRow))
        synthetic = s.scalar(select(func.count()).where(PromResponseRow.source == "synthetic"))
    assert total and synthetic == total  # the demo cohort is all synthetic
    m = export_snapshot(store, tmp_path / "demo").manifest
    assert m["response_sources"] == {"synthetic": total}
    assert m["synthetic"] == {"generator": "spinetrack demo", "responses": total, "of_responses": total}
    note = synthetic_note(m)
    assert note is not None and "synthetic" in note and f"responses {total}" in note

    with store.begin() as c:  # as if every answer had come from patients
        c.execute(text("UPDATE prom_responses SET source = 'patient'"))
    m = export_snapshot(store, tmp_path / "real").manifest
    assert m["synthetic"] is False and m["response_sources"] == {"patient": total}
    assert synthetic_note(m) is None


def test_refuses_a_non_empty_directory_unless_overwrite(store: Engine, tmp_path: Path) -> None:
    base = tmp_path / "exports"
    out = base / "snap"
    out.mkdir(parents=True)
    export_snapshot(store, out)  # an existing empty directory is fine
    with pytest.raises(ValidationError) as err:
        export_snapshot(store, out)
    assert err.value.field == "out"
    (base / "file").write_text("x")
    with pytest.raises(ValidationError):
        export_snapshot(store, base / "file", overwrite=True)

    res = runner.invoke(app, ["snapshot", "--out", str(out), "--database-url", _url(store)])
    assert res.exit_code == 2
    assert "out" in res.output and "--overwrite" in res.output
    res = runner.invoke(app, ["snapshot", "--out", str(out), "--database-url", _url(store), "--json"])
    assert res.exit_code == 2
    assert json.loads(res.stdout)["field"] == "out"

    (out / "stale.txt").write_text("old")
    res = runner.invoke(app, ["snapshot", "--out", str(out), "--overwrite", "--database-url", _url(store), "--json"])
    assert res.exit_code == 0, res.output
    assert not (out / "stale.txt").exists()
    assert json.loads(res.stdout)["row_counts"]["patients"] == 300
    assert sorted(p.name for p in base.iterdir()) == ["file", "snap"]  # no temporary directories left


def test_cli_prints_the_manifest_and_rekeys_from_the_environment(store: Engine, tmp_path: Path) -> None:
    out = tmp_path / "snap"
    res = runner.invoke(app, ["snapshot", "--out", str(out), "--database-url", _url(store), "--json"],
                        env={"SPINETRACK_SNAPSHOT_SECRET": SECRET_A})
    assert res.exit_code == 0, res.output
    manifest = json.loads(res.stdout)
    assert manifest == json.loads((out / "manifest.json").read_text())
    assert manifest["rekeyed"] is True
    assert SECRET_A not in res.output and SECRET_A not in (out / "manifest.json").read_text()
    res = runner.invoke(app, ["snapshot", "--out", str(tmp_path / "x"), "--rekey", "short", "--json",
                              "--database-url", _url(store)])
    assert res.exit_code == 2
    assert json.loads(res.stdout)["field"] == "rekey"
    res = runner.invoke(app, ["snapshot", "--out", str(tmp_path / "plain"), "--database-url", _url(store)])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "plain" / "outcomes.parquet").is_file()


def test_export_appends_one_audit_row(store: Engine, tmp_path: Path) -> None:
    result = export_snapshot(store, tmp_path / "snap", rekey_secret=SECRET_A)
    with Session(store) as s:
        rows = s.execute(select(AuditRow).where(AuditRow.action == "export")).scalars().all()
        assert len(rows) == 1
        row = rows[0]
        assert (row.actor, row.actor_role, row.entity) == ("cli", "system", "snapshot")
        assert row.detail == {"schema_version": SCHEMA_VERSION, "row_counts": result.row_counts, "rekeyed": True}
        assert verify_chain(s).ok
    export_snapshot(store, tmp_path / "snap2")
    with store.connect() as c:
        assert c.execute(select(func.count()).select_from(AuditRow).where(AuditRow.action == "export")).scalar() == 2


def test_same_database_exported_twice_gives_identical_tables(store: Engine, tmp_path: Path) -> None:
    one = export_snapshot(store, tmp_path / "one")
    two = export_snapshot(store, tmp_path / "two", batch_rows=13)  # many small batches: same content
    for t in TABLES:
        assert _read(one.path)[t].equals(_read(two.path)[t]), t
    three = export_snapshot(store, tmp_path / "three")
    for t in TABLES:
        assert (one.path / f"{t}.parquet").read_bytes() == (three.path / f"{t}.parquet").read_bytes(), t


def test_failed_export_leaves_no_snapshot_and_no_audit_row(store: Engine, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    real = export_mod._write_table

    def failing(conn: Any, table: str, *args: Any, **kwargs: Any) -> int:
        if table == "outcomes":
            raise RuntimeError("disk full")
        return real(conn, table, *args, **kwargs)

    monkeypatch.setattr(export_mod, "_write_table", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        export_snapshot(store, tmp_path / "exports" / "snap")
    assert list((tmp_path / "exports").iterdir()) == []
    with store.connect() as c:
        assert c.execute(select(func.count()).select_from(AuditRow).where(AuditRow.action == "export")).scalar() == 0


def test_progress_reports_every_table(store: Engine, tmp_path: Path) -> None:
    seen: dict[str, list[tuple[int, int]]] = {}
    result = export_snapshot(store, tmp_path / "snap", batch_rows=1000,
                             progress=lambda t, done, total: seen.setdefault(t, []).append((done, total)))
    assert list(seen) == list(TABLES)
    for t, calls in seen.items():
        assert calls[0][0] == 0
        assert calls[-1] == (result.row_counts[t], result.row_counts[t])


def test_export_reads_one_consistent_snapshot_while_the_store_is_written(store: Engine, tmp_path: Path) -> None:
    """A patient and episode committed by another connection mid-export are in none of the tables."""
    with store.connect() as c:
        site_id = c.execute(select(SiteRow.id)).scalars().first()

    def write_meanwhile(table: str, done: int, total: int) -> None:
        if table == "episodes" and done == 0:
            with store.begin() as c:
                c.execute(text("INSERT INTO patients (id, pseudo_id, site_id, birth_year, sex, created_at) "
                               "VALUES (9001, 'Plate', :s, 1970, 'female', :t)"),
                          {"s": site_id, "t": dt.datetime.now()})
                c.execute(text("INSERT INTO episodes (id, patient_id, diagnosis_code, diagnosis_group, levels, "
                               "n_levels, enrolled_on, created_at) VALUES (9001, 9001, 'M51.16', "
                               "'disc_herniation_radiculopathy', 'L4-L5', 1, :d, :t)"),
                          {"d": dt.date(2024, 1, 1), "t": dt.datetime.now()})

    result = export_snapshot(store, tmp_path / "snap", progress=write_meanwhile)
    assert result.row_counts["patients"] == result.row_counts["episodes"] == 300
    tables = _read(result.path)
    assert "P9001" not in tables["patients"].column("patient_key").to_pylist()
    assert 9001 not in tables["episodes"].column("episode_key").to_pylist()
    with store.connect() as c:
        assert c.execute(select(func.count()).select_from(EpisodeRow)).scalar() == 301


def test_surgeons_only_where_the_site_opts_in_and_keyed_when_rekeyed(store: Engine, tmp_path: Path) -> None:
    """A procedure's surgeon enters the snapshot only for a site that takes part in surgeon-level
    benchmarking (``sites.benchmark_surgeons``), as ``<site>/<surgeon>``; a rekeyed snapshot keeps
    the site and replaces the staff identifier by a keyed hash (the same surgeon, the same key)."""
    with Session(store) as s:
        sites = dict(s.execute(select(SiteRow.id, SiteRow.code)).all())
        first = min(sites)
        s.execute(update(SiteRow).where(SiteRow.id == first).values(benchmark_surgeons=False))
        s.commit()
    try:
        plain = _read(export_snapshot(store, tmp_path / "plain").path)["procedures"].to_pylist()
        keyed = _read(export_snapshot(store, tmp_path / "keyed", rekey_secret=SECRET_A).path)["procedures"].to_pylist()
    finally:
        with Session(store) as s:
            s.execute(update(SiteRow).where(SiteRow.id == first).values(benchmark_surgeons=True))
            s.commit()
    opted_out = [r for r in plain if r["surgeon"] is None]
    assert opted_out and sum(r["surgeon"] is None for r in keyed) == len(opted_out)
    named = [r["surgeon"] for r in plain if r["surgeon"] is not None]
    assert named and not any(r.startswith(sites[first] + "/") for r in named)
    hashed = [r["surgeon"] for r in keyed if r["surgeon"] is not None]
    assert len(hashed) == len(named)
    assert not any("SURG-" in h for h in hashed)
    assert {h.split("/")[0] for h in hashed} == {n.split("/")[0] for n in named}
    assert len(set(hashed)) == len(set(named))  # one key per surgeon
