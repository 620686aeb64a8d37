"""``spinetrack import``: exit 0 with the counts table, exit 2 with the problems on stderr and
nothing stored, exit 1 for a ``--partial`` import that refused some records (written to the
rejects file), ``--dry-run`` storing nothing, and the ``--json`` document's shape."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from spinetrack.cli import app
from spinetrack.store.session import make_engine
from spinetrack.store.tables import AuditRow, PatientRow, PromResponseRow, SourceRecordRow

runner = CliRunner(mix_stderr=False) if "mix_stderr" in CliRunner.__init__.__code__.co_varnames else CliRunner()
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "import"


def _db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def _count(url: str, table: type) -> int:
    eng = make_engine(url)
    try:
        with eng.connect() as c:
            return int(c.execute(select(func.count()).select_from(table)).scalar_one())
    finally:
        eng.dispose()


def _csv_files(folder: Path) -> list[str]:
    return [str(p) for p in sorted(folder.glob("*.csv"))]


def _bad_copy(tmp_path: Path) -> Path:
    d = tmp_path / "bad"
    shutil.copytree(EXAMPLES / "csv", d)
    p = d / "patients.csv"
    p.write_text(p.read_text(encoding="utf-8").replace("pat-002,site-1,1955,male", "pat-002,site-1,1955,mael"),
                 encoding="utf-8")
    return d


def test_csv_import_then_reimport(tmp_path: Path) -> None:
    url = _db(tmp_path)
    res = runner.invoke(app, ["import", *_csv_files(EXAMPLES / "csv"), "--database-url", url, "--source", "t"])
    assert res.exit_code == 0, res.stderr
    assert "response" in res.stdout and "imported" in res.stderr
    assert _count(url, PromResponseRow) == 10
    res = runner.invoke(app, ["import", *_csv_files(EXAMPLES / "csv"), "--database-url", url, "--source", "t",
                              "--json"])
    doc = json.loads(res.stdout)
    assert res.exit_code == 0 and doc["totals"] == {"created": 0, "updated": 0, "unchanged": 25, "rejected": 0}
    assert _count(url, PromResponseRow) == 10 and _count(url, SourceRecordRow) == 25


def test_invalid_input_exits_2_and_stores_nothing(tmp_path: Path) -> None:
    url = _db(tmp_path)
    res = runner.invoke(app, ["import", *_csv_files(_bad_copy(tmp_path)), "--database-url", url])
    assert res.exit_code == 2
    assert "nothing stored" in res.stderr and "patients.csv:3" in res.stderr and "mael" in res.stderr
    assert _count(url, PatientRow) == 0 and _count(url, AuditRow) == 0


def test_json_shape(tmp_path: Path) -> None:
    res = runner.invoke(app, ["import", *_csv_files(_bad_copy(tmp_path)), "--database-url", _db(tmp_path),
                              "--json"])
    assert res.exit_code == 2
    doc = json.loads(res.stdout)
    assert set(doc) == {"import_id", "source_system", "stored", "dry_run", "partial", "files", "counts", "totals",
                        "n_errors", "errors"}
    assert doc["stored"] is False and doc["n_errors"] == len(doc["errors"]) == 7  # pat-002 and its 6 descendants
    assert set(doc["counts"]) == {"site", "patient", "episode", "procedure", "complication", "readmission",
                                  "reoperation", "response"}
    first = doc["errors"][0]
    assert {k: first[k] for k in ("location", "field", "value", "allowed")} == {
        "location": "patients.csv:3", "field": "patient.sex", "value": "mael",
        "allowed": "female, male, other, unknown"}
    assert len(doc["files"]["patients.csv"]) == 64


def test_partial_writes_rejects_and_exits_1(tmp_path: Path) -> None:
    url = _db(tmp_path)
    rejects = tmp_path / "rejects.csv"
    args = ["import", *_csv_files(_bad_copy(tmp_path)), "--database-url", url, "--partial"]
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "--rejects" in res.stderr  # --partial needs --rejects
    res = runner.invoke(app, [*args, "--rejects", str(rejects)])
    assert res.exit_code == 1, res.stderr
    with rejects.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 7 and rows[0]["location"] == "patients.csv:3"
    assert _count(url, PatientRow) == 3


def test_dry_run_and_bad_options(tmp_path: Path) -> None:
    url = _db(tmp_path)
    res = runner.invoke(app, ["import", *_csv_files(EXAMPLES / "csv"), "--database-url", url, "--dry-run"])
    assert res.exit_code == 0 and "dry run" in res.stderr and _count(url, PatientRow) == 0
    res = runner.invoke(app, ["import", *_csv_files(EXAMPLES / "csv"), "--database-url", url, "--format", "xml"])
    assert res.exit_code == 2 and "csv, redcap, fhir" in res.stderr
    res = runner.invoke(app, ["import", str(tmp_path / "people.csv"), "--database-url", url])
    assert res.exit_code == 2 and "file name must start with" in res.stderr
    res = runner.invoke(app, ["import", *_csv_files(EXAMPLES / "csv"), "--database-url", url, "--site", "NOPE"])
    assert res.exit_code == 2 and "no such site" in res.stderr


def test_redcap_import(tmp_path: Path) -> None:
    url = _db(tmp_path)
    r = EXAMPLES / "redcap"
    res = runner.invoke(app, ["import", str(r / "records_export.csv"), "--format", "redcap", "--mapping",
                              str(r / "mapping.json"), "--dictionary", str(r / "data_dictionary.csv"),
                              "--database-url", url, "--json"])
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["source_system"] == "redcap:example-spine-registry" and doc["counts"]["response"]["created"] == 16
    res = runner.invoke(app, ["import", str(r / "records_export.csv"), "--format", "redcap", "--database-url", url])
    assert res.exit_code == 2 and "--dictionary" in res.stderr


def test_fhir_ndjson_import(tmp_path: Path) -> None:
    """The sample CSV set stored, exported as Bulk NDJSON (pseudonymised), imported into an empty
    database with --format fhir: the same records, then unchanged on a second run."""
    from spinetrack.interop.fhir import FhirScope, stream_resources
    from spinetrack.store.repositories import Store

    first = f"sqlite:///{tmp_path / 'first.db'}"
    assert runner.invoke(app, ["import", *_csv_files(EXAMPLES / "csv"), "--database-url", first]).exit_code == 0
    out = tmp_path / "export"
    out.mkdir()
    eng = make_engine(first)
    try:
        for rtype, res in stream_resources(Store(eng), FhirScope(None, False)):
            with (out / f"{rtype}.ndjson").open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(res) + "\n")
    finally:
        eng.dispose()
    second = f"sqlite:///{tmp_path / 'second.db'}"
    args = ["import", *[str(p) for p in sorted(out.glob("*.ndjson"))], "--format", "fhir", "--database-url", second,
            "--source", "fhir:sample", "--json"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert {e: c["created"] for e, c in doc["counts"].items() if c["created"]} == {
        "site": 1, "patient": 4, "episode": 4, "procedure": 3, "complication": 1, "readmission": 1,
        "reoperation": 1, "response": 10}
    again = json.loads(runner.invoke(app, args).stdout)
    assert again["totals"]["unchanged"] == 25 and again["totals"]["created"] == 0
