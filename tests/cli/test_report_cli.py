"""``spinetrack report`` from a saved analysis: ``analyze --save`` keeps the document,
``report --latest`` renders the newest one without analysing again; with none saved, the
message names the field and what to do."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from spinetrack.cli import app
from spinetrack.reports.archive import latest_analysis, save_analysis

runner = CliRunner()
FIXTURE = Path(__file__).parents[1] / "reports" / "scorecard_example.json"


def test_report_latest_renders_the_newest_saved_analysis(tmp_path: Path) -> None:
    directory = tmp_path / "analyses"
    doc = json.loads(FIXTURE.read_text(encoding="utf-8"))
    older = save_analysis({**doc, "spinetrack_version": "older"}, directory)
    newest = save_analysis(doc, directory)
    latest = latest_analysis(directory)
    assert older.id != newest.id and latest is not None and latest.id == newest.id
    out = tmp_path / "report.html"
    r = runner.invoke(app, ["report", "--latest", "--out", str(out), "--json"],
                      env={"SPINETRACK_ANALYSES_DIR": str(directory)})
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"html": str(out), "pdf": None, "claims": len(doc["results"])}
    html = out.read_text(encoding="utf-8")
    assert '<section id="summary"' in html and html.index('<section id="summary"') < html.index('id="claims"')


def test_report_latest_without_a_saved_analysis_says_how_to_make_one(tmp_path: Path) -> None:
    r = runner.invoke(app, ["report", "--latest", "--out", str(tmp_path / "r.html"), "--json"],
                      env={"SPINETRACK_ANALYSES_DIR": str(tmp_path / "none")})
    assert r.exit_code == 2
    err = json.loads(r.stdout)
    assert err["field"] == "latest" and "spinetrack analyze --save" in str(err["allowed"])
    assert not (tmp_path / "r.html").exists()
