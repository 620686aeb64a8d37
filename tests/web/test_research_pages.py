"""The research page: the newest saved scorecard as a summary, its report to download.

Researchers only (the README's role matrix: pseudonymised aggregates over all sites); clinic
roles and admins get 403, no session the sign-in. Every view and download leaves an audit row.
The analysis is ``tests/reports/scorecard_example.json`` (a real ``scorecard_as_dict`` document,
20,000 synthetic patients, three comparisons) saved with ``save_analysis`` as ``spinetrack
analyze --save`` saves it; the verdicts expected on the page are the document's own.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from spinetrack.reports.archive import StoredAnalysis, save_analysis
from spinetrack.reports.summary import build_summary
from spinetrack.store.tables import AuditRow

FIXTURE = Path(__file__).parents[1] / "reports" / "scorecard_example.json"


@pytest.fixture
def stored(analyses: Path) -> StoredAnalysis:
    return save_analysis(json.loads(FIXTURE.read_text(encoding="utf-8")), analyses)


def _audit(app: Any) -> list[Any]:
    with app.state.engine.connect() as c:
        return list(c.execute(select(AuditRow.actor, AuditRow.action, AuditRow.entity, AuditRow.entity_id,
                                     AuditRow.detail).where(AuditRow.entity == "scorecard")).all())


@pytest.mark.parametrize("role", ["clinician", "coordinator", "other_clinician", "admin"])
def test_other_staff_roles_are_refused_and_nothing_is_audited(app: Any, client_for: Any, stored: StoredAnalysis,
                                                              role: str) -> None:
    c = client_for(role)
    for url in ("/research", "/research/report.pdf", "/research/report.html"):
        r = c.get(url)
        assert r.status_code == 403, (url, r.status_code)
        assert "supported" not in r.text and stored.id not in r.text
    assert _audit(app) == []


def test_without_a_session_the_page_asks_to_sign_in(anonymous: Any, stored: StoredAnalysis) -> None:
    r = anonymous.get("/research", follow_redirects=False)
    assert r.status_code in (303, 401)
    assert stored.id not in r.text and "Every claim, every comparison" not in r.text


def test_a_researcher_sees_the_verdicts_the_analysis_gives(app: Any, client_for: Any,
                                                          stored: StoredAnalysis) -> None:
    r = client_for("researcher").get("/research")
    assert r.status_code == 200
    page = r.text
    assert stored.id in page and "Every claim, every comparison" in page
    assert 'href="/research">' in page  # the researcher's navigation link
    s = build_summary(stored.doc)
    n_estimated = sum(1 for r in stored.doc["results"] if r["status"] == "estimated")
    assert f'<p id="verdict-counts">{n_estimated} estimates:' in page
    checked = 0
    for row in s.rows:
        tr = page[page.index(f'<tr id="claim-{row.claim}">'):]
        tr = tr[:tr.index("</tr>")]
        for c in row.cells:
            cell = re.search(rf'data-comparison="{c.comparison}">(.*?)</td>', tr, flags=re.S)
            assert cell is not None, (row.claim, c.comparison)
            if c.status == "estimated":
                assert f"{c.verdict_text}</strong>" in cell.group(1) and c.estimate in cell.group(1)
                checked += 1
            else:
                assert c.status in cell.group(1)
    assert checked == sum(1 for r in stored.doc["results"] if r["status"] == "estimated")
    # e.g. any complication, discectomy: −4.0 pp (−5.8 to −2.2), supported (tests/reports/test_report.py)
    tr = page[page.index('<tr id="claim-any_complication">'):]
    assert re.search(r'data-comparison="discectomy">.*?supported</strong><br>−4.0<br>'
                     r'<span class="hint">\(−5.8 to −2.2\)', tr, flags=re.S)
    assert [(a.actor, a.action, a.entity_id, a.detail) for a in _audit(app)] == [
        ("researcher", "read", stored.id, {"view": "page"})]


def test_without_a_saved_analysis_the_page_says_how_to_make_one(app: Any, client_for: Any, analyses: Path) -> None:
    c = client_for("researcher")
    r = c.get("/research")
    assert r.status_code == 200
    assert "No analysis has been saved yet" in r.text and "spinetrack analyze --save" in r.text
    assert c.get("/research/report.pdf").status_code == 404
    assert [a.entity_id for a in _audit(app)] == ["none", "none"]


@pytest.mark.slow
def test_the_report_downloads_as_pdf_and_html_and_each_download_is_audited(app: Any, client_for: Any,
                                                                          stored: StoredAnalysis) -> None:
    c = client_for("researcher")
    pdf = c.get("/research/report.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    assert pdf.headers["content-disposition"] == f'attachment; filename="{stored.id}.pdf"'
    html = c.get("/research/report.html")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "<h2 id=\"summary-h\">Summary: every claim, every comparison</h2>" in html.text
    assert c.get("/research/report.pdf").content == pdf.content  # rendered once, kept
    assert [(a.entity_id, a.detail["view"]) for a in _audit(app)] == [
        (stored.id, "report.pdf"), (stored.id, "report.html"), (stored.id, "report.pdf")]
