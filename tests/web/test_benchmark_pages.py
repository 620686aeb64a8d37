"""The benchmarking page and API: who sees what, and every read audited.

The document is ``tests/web/benchmark_fixture.json``, a real ``spinetrack benchmark --json`` of a
3,000-patient synthetic registry of 12 sites (two outcomes), saved as ``spinetrack benchmark
--save`` saves it; its site DEMO-N is renamed SITE-A, the test world's first site, so that
SITE-A's clinic staff see themselves named (``analysis.benchmark.view_for``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from spinetrack.reports.archive import StoredAnalysis, save_analysis
from spinetrack.store.tables import AuditRow

FIXTURE = Path(__file__).with_name("benchmark_fixture.json")


@pytest.fixture
def doc() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text(encoding="utf-8").replace('"DEMO-N"', '"SITE-A"'))


@pytest.fixture
def stored(analyses: Path, doc: dict[str, Any]) -> StoredAnalysis:
    return save_analysis(doc, analyses, kind="benchmark", tag="site")


def _codes(doc: dict[str, Any]) -> set[str]:
    return {u["unit"] for o in doc["outcomes"] for u in o["units"]}


def _audit(app: Any) -> list[Any]:
    with app.state.engine.connect() as c:
        return list(c.execute(select(AuditRow.actor, AuditRow.entity, AuditRow.entity_id, AuditRow.detail)
                              .where(AuditRow.entity == "benchmark")).all())


def test_a_clinic_sees_itself_named_and_the_others_numbered(app: Any, client_for: Any, stored: StoredAnalysis,
                                                          doc: dict[str, Any]) -> None:
    c = client_for("clinician")  # a clinician of SITE-A
    r = c.get("/api/v1/benchmark")
    assert r.status_code == 200
    body = r.json()
    for o in body["outcomes"]:
        own = [u for u in o["units"] if u["own"]]
        assert [u["label"] for u in own] == ["SITE-A"]
        src = next(s for s in doc["outcomes"] if s["key"] == o["key"])
        mine = next(u for u in src["units"] if u["unit"] == "SITE-A")
        assert own[0]["adjusted"] == mine["adjusted"] and own[0]["flag"] == mine["flag"]
    for code in _codes(doc) - {"SITE-A"}:
        assert code not in r.text
    page = c.get("/benchmark")
    assert page.status_code == 200
    assert "SITE-A" in page.text and "<svg" in page.text
    for code in _codes(doc) - {"SITE-A"}:
        assert code not in page.text
    # the clinic's own CUSUM chart only
    assert page.text.count('class="cusum-chart"') == 1
    rows = _audit(app)
    assert [(r.entity, r.entity_id, r.detail["view"]) for r in rows] == [("benchmark", stored.id, "api"),
                                                                          ("benchmark", stored.id, "page")]


def test_a_researcher_sees_every_site_numbered(client_for: Any, stored: StoredAnalysis, doc: dict[str, Any]) -> None:
    c = client_for("researcher")
    r = c.get("/api/v1/benchmark")
    assert r.status_code == 200
    assert not any(u["own"] for o in r.json()["outcomes"] for u in o["units"])
    page = c.get("/benchmark")
    for code in _codes(doc):
        assert code not in r.text and code not in page.text
    n_sites = len(_codes(doc))
    assert page.text.count('class="cusum-chart"') == n_sites


@pytest.mark.parametrize("role", ["admin"])
def test_admins_see_no_clinical_data(app: Any, client_for: Any, stored: StoredAnalysis, role: str) -> None:
    c = client_for(role)
    for url in ("/benchmark", "/api/v1/benchmark", "/benchmark/annual-report.html?year=2021"):
        assert c.get(url).status_code == 403, url
    assert _audit(app) == []


def test_without_a_saved_benchmark(client_for: Any, analyses: Path) -> None:
    c = client_for("coordinator")
    assert c.get("/api/v1/benchmark").status_code == 404
    page = c.get("/benchmark")
    assert page.status_code == 200 and "spinetrack benchmark --save" in page.text


def test_anonymous_is_sent_to_sign_in(anonymous: Any, stored: StoredAnalysis) -> None:
    r = anonymous.get("/benchmark", follow_redirects=False)
    assert r.status_code in (303, 401)
    assert anonymous.get("/api/v1/benchmark").status_code == 401


def test_bad_level_names_the_field(client_for: Any, stored: StoredAnalysis) -> None:
    r = client_for("researcher").get("/api/v1/benchmark?level=ward")
    assert r.status_code == 422 and "level" in r.text


def test_an_admin_opts_a_site_in_and_out_of_surgeon_benchmarking(app: Any, client_for: Any, world: Any) -> None:
    from spinetrack.store.tables import SiteRow

    c = client_for("admin")
    site = world.sites["A"]

    def flag() -> bool:
        with app.state.engine.connect() as conn:
            return bool(conn.execute(select(SiteRow.benchmark_surgeons).where(SiteRow.id == site)).scalar_one())

    assert flag() is False  # off by default: surgeon identifiers are staff data
    page = c.get("/admin")
    assert "Surgeon-level benchmarking" in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    token = csrf.group(1)
    r = c.post(f"/admin/sites/{site}/surgeon-benchmarking", data={"csrf_token": token, "take_part": "yes"},
               follow_redirects=False)
    assert r.status_code == 303 and flag() is True
    r = c.post(f"/admin/sites/{site}/surgeon-benchmarking", data={"csrf_token": token, "take_part": "maybe"})
    assert r.status_code == 422 and "take_part" in r.text and flag() is True
    with app.state.engine.connect() as conn:
        rows = conn.execute(select(AuditRow.detail).where(AuditRow.entity == "site", AuditRow.action == "update")).all()
    assert [r.detail for r in rows] == [{"benchmark_surgeons": True}]
    assert client_for("coordinator").post(f"/admin/sites/{site}/surgeon-benchmarking",
                                          data={"take_part": "no"}).status_code == 403


@pytest.fixture(scope="module")
def annual_doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A real annual-report document (``analysis.annual.annual_snapshot``) of a small synthetic
    registry of 12 sites, its DEMO-N renamed SITE-A (the test world's first site)."""
    from spinetrack.analysis.annual import annual_snapshot
    from tests.analysis.test_benchmark import build

    snap = build(tmp_path_factory.mktemp("annual"), patients=1500, seed=5, sites=12)
    doc = annual_snapshot(snap, 2021)
    return dict(json.loads(json.dumps(doc).replace('"DEMO-N"', '"SITE-A"').replace('"DEMO-N/', '"SITE-A/')))


def test_the_annual_report_as_each_audience_may_see_it(app: Any, client_for: Any, analyses: Path,
                                                      annual_doc: dict[str, Any]) -> None:
    stored = save_analysis(annual_doc, analyses, kind="annual", tag="2021")
    codes = set(annual_doc["sites"])
    assert "SITE-A" in codes and len(codes) == 12
    clinic = client_for("coordinator").get("/benchmark/annual-report.html?year=2021")
    assert clinic.status_code == 200 and clinic.headers["content-disposition"].endswith('2021-SITE-A.html"')
    assert "SITE-A" in clinic.text
    for code in codes - {"SITE-A"}:
        assert code not in clinic.text, code
    research = client_for("researcher").get("/benchmark/annual-report.html?year=2021")
    assert research.status_code == 200
    for code in codes:
        assert code not in research.text, code
    assert client_for("researcher").get("/benchmark/annual-report.html?year=2019").status_code == 404
    assert client_for("researcher").get("/benchmark/annual-report.html?year=twenty").status_code == 422
    with app.state.engine.connect() as conn:
        rows = conn.execute(select(AuditRow.actor_role, AuditRow.entity_id).where(
            AuditRow.entity == "annual_report")).all()
    assert [(r.actor_role, r.entity_id) for r in rows] == [("coordinator", stored.id), ("researcher", stored.id)]
    page = client_for("researcher").get("/benchmark")
    assert "annual-report.pdf?year=2021" in page.text and "No benchmark has been saved yet" in page.text


@pytest.mark.slow
def test_the_annual_report_pdf(client_for: Any, analyses: Path, annual_doc: dict[str, Any]) -> None:
    save_analysis(annual_doc, analyses, kind="annual", tag="2021")
    r = client_for("clinician").get("/benchmark/annual-report.pdf?year=2021")
    assert r.status_code == 200 and r.content.startswith(b"%PDF") and len(r.content) > 20_000
