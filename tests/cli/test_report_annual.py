"""``spinetrack report --annual YEAR``: a bad year (not a whole number, or no episodes indexed in
it) exits with status 2 naming the field and the years on record, before any work; a good one
writes the report (HTML, and the clinic's version with --site)."""

from __future__ import annotations

import importlib
import json
import sys
import types
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from spinetrack.cli import app
from tests.analysis.conftest import build_snapshot

runner = CliRunner()
REPORTS = Path(__file__).parents[1] / "reports"


@pytest.fixture(scope="module")
def snap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_snapshot(tmp_path_factory.mktemp("annual-cli"), patients=300, seed=8)


def _years(snap: Path) -> list[str]:
    years = pd.read_parquet(snap / "episodes.parquet")["index_year"].dropna().unique()
    return [str(int(y)) for y in sorted(years)]


@pytest.mark.parametrize("year", ["twenty", "2021.5", "1901"])
def test_bad_year_exits_2_naming_the_field_and_the_years(snap: Path, tmp_path: Path, year: str) -> None:
    out = tmp_path / "annual.html"
    r = runner.invoke(app, ["report", "--annual", year, "--out", str(out), "--snapshot", str(snap), "--json"],
                      env={"SPINETRACK_ANALYSES_DIR": str(tmp_path / "none")})
    assert r.exit_code == 2, r.output
    err = json.loads(r.stdout)
    assert err["field"] == "year" and err["allowed"] == ", ".join(_years(snap))
    assert not out.exists()


def test_bad_year_message_on_stderr(snap: Path, tmp_path: Path) -> None:
    r = runner.invoke(app, ["report", "--annual", "nineteen", "--out", str(tmp_path / "a.html"),
                            "--snapshot", str(snap)])
    assert r.exit_code == 2
    assert "year" in r.stderr and _years(snap)[0] in r.stderr


@pytest.fixture
def benchmark_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lead's ``spinetrack.analysis.benchmark`` when it is there; until then a stand-in giving
    the hand-made document of schema version 1 (``tests/reports/benchmark_example.json``)."""
    try:
        importlib.import_module("spinetrack.analysis.benchmark")
    except ImportError:
        doc = json.loads((REPORTS / "benchmark_example.json").read_text(encoding="utf-8"))
        fake = types.ModuleType("spinetrack.analysis.benchmark")
        fake.run_benchmark = lambda engine, **kw: doc  # type: ignore[attr-defined]
        fake.benchmark_as_dict = lambda b: b  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "spinetrack.analysis.benchmark", fake)


@pytest.mark.slow  # the registry benchmark and 18 figures: over 10 s on 2 shared cores
def test_annual_report_written_for_a_clinic(snap: Path, tmp_path: Path, benchmark_module: Any) -> None:
    year = _years(snap)[1]
    out = tmp_path / "annual.html"
    r = runner.invoke(app, ["report", "--annual", year, "--out", str(out), "--snapshot", str(snap), "--site",
                            "DEMO-S", "--results", str(REPORTS / "scorecard_example.json"), "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary == {"html": str(out), "pdf": None, "year": int(year), "site": "DEMO-S", "sites": 3}
    page = out.read_text(encoding="utf-8")
    assert f"Spine registry annual report {year} — DEMO-S" in page
    assert "DEMO-N" not in page and "DEMO-C" not in page
    assert 'id="scorecard"' in page and "Claims scorecard" in page


def test_unknown_site_exits_2(snap: Path, tmp_path: Path, benchmark_module: Any) -> None:
    r = runner.invoke(app, ["report", "--annual", _years(snap)[1], "--out", str(tmp_path / "a.html"),
                            "--snapshot", str(snap), "--site", "NOWHERE",
                            "--results", str(REPORTS / "scorecard_example.json"), "--json"])
    assert r.exit_code == 2
    err = json.loads(r.stdout)
    assert err["field"] == "site" and "DEMO-S" in err["allowed"]
