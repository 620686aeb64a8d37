"""``spinetrack export omop|csv``: the commands end to end (JSON output, files written, exit 2 with the
message on stderr for bad input, as every spinetrack command; cli/common.py)."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from spinetrack.cli import app
from spinetrack.store.session import make_engine
from spinetrack.store.tables import PatientRow, ProcedureRow, ReoperationRow
from spinetrack.synth.load import load_demo

runner = CliRunner()
SECRET = "cli-export-secret-0000"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory, _sqlite_head: Path) -> Iterator[tuple[str, Engine]]:
    path = tmp_path_factory.mktemp("cli") / "store.db"
    shutil.copyfile(_sqlite_head, path)
    eng = make_engine(f"sqlite:///{path}")
    load_demo(eng, patients=60, seed=3)
    yield f"sqlite:///{path}", eng
    eng.dispose()


def _n(eng: Engine, row: Any) -> int:
    with eng.connect() as c:
        return int(c.execute(select(func.count()).select_from(row)).scalar_one())


def test_export_omop_json_and_files(db: tuple[str, Engine], tmp_path: Path) -> None:
    url, eng = db
    out = tmp_path / "omop"
    res = runner.invoke(app, ["export", "omop", "--out", str(out), "--rekey", SECRET, "--database-url", url, "--json"])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert payload["kind"] == "csv" and payload["rekeyed"] is True
    assert payload["row_counts"]["person"] == _n(eng, PatientRow)
    assert payload["row_counts"]["procedure_occurrence"] == _n(eng, ProcedureRow) + _n(eng, ReoperationRow)
    assert payload["vocabulary_version"] == "none"
    with (out / "person.csv").open(encoding="utf-8") as fh:
        assert sum(1 for _ in csv.DictReader(fh)) == payload["row_counts"]["person"]


def test_export_omop_to_duckdb(db: tuple[str, Engine], tmp_path: Path) -> None:
    url, _ = db
    res = runner.invoke(app, ["export", "omop", "--out", str(tmp_path / "cdm.duckdb"), "--database-url", url])
    assert res.exit_code == 0, res.output
    assert "OMOP CDM 5.4 written" in res.output and (tmp_path / "cdm.duckdb").is_file()


def test_export_csv_json(db: tuple[str, Engine], tmp_path: Path) -> None:
    url, eng = db
    res = runner.invoke(app, ["export", "csv", "--out", str(tmp_path / "flat"), "--database-url", url, "--json"])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert payload["row_counts"]["patients"] == _n(eng, PatientRow)
    assert (tmp_path / "flat" / "data_dictionary.csv").is_file()


def test_bad_input_exits_2_with_the_message_on_stderr(db: tuple[str, Engine], tmp_path: Path) -> None:
    url, _ = db
    res = runner.invoke(app, ["export", "csv", "--out", str(tmp_path / "x"), "--rekey", "short",
                              "--database-url", url, "--json"])
    assert res.exit_code == 2
    assert json.loads(res.stderr)["field"] == "rekey"
    res = runner.invoke(app, ["export", "omop", "--out", str(tmp_path / "y"), "--vocabulary", str(tmp_path / "none"),
                              "--database-url", url])
    assert res.exit_code == 2 and "CONCEPT.csv" in res.stderr
    assert not (tmp_path / "y").exists()
