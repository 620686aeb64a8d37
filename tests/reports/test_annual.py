"""The annual registry report page: every section, a page per site, a clinic's page naming only
its own site, numbers with their n, the small-cell rule kept, and the PDF.

The document is built by :func:`spinetrack.analysis.annual.annual_data` on a small synthetic
snapshot, with the hand-made benchmark document ``benchmark_example.json`` (its sites are the
demo sites) and the scorecard fixture ``scorecard_example.json``.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path
from typing import Any

import pytest

from spinetrack.analysis.annual import annual_data, annual_view
from spinetrack.engines import get_engine
from spinetrack.reports.annual import render_annual_html, render_annual_pdf
from tests.analysis.conftest import build_snapshot

HERE = Path(__file__).parent
SECTIONS = ("summary", "cohort", "followup", "outcomes", "funnels", "cusum", "scorecard", "methods")


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    snap = build_snapshot(tmp_path_factory.mktemp("annual-report"), patients=500, seed=4)
    bench = json.loads((HERE / "benchmark_example.json").read_text(encoding="utf-8"))
    scorecard = json.loads((HERE / "scorecard_example.json").read_text(encoding="utf-8"))
    eng = get_engine("duckdb")
    try:
        eng.register_snapshot(snap)
        years = eng.sql("SELECT index_year, COUNT(*) AS n FROM episodes GROUP BY index_year ORDER BY n DESC")
        return annual_data(eng, int(years[0][0]), benchmark=bench, scorecard=scorecard)
    finally:
        eng.close()


@pytest.fixture(scope="module")
def page(doc: dict[str, Any]) -> str:
    return render_annual_html(doc)


def test_page_has_every_section_in_order_and_a_page_per_site(doc: dict[str, Any], page: str) -> None:
    positions = [page.index(f'<section id="{s}"') for s in SECTIONS]
    assert positions == sorted(positions)
    for site in doc["sites"]:
        assert f'<section id="site-{site}" class="site-page"' in page
        assert f"Site page: {site}</h2>" in page
    assert page.index('id="methods"') < page.index('class="site-page"')
    # one funnel per benchmarked outcome in the comparison section, and one per outcome on each site page
    n_out = len(doc["benchmark"]["outcomes"])
    assert page.count('<title id="funnel-') == n_out * (1 + len(doc["sites"]))
    assert page.count('<title id="cusum-') == len(doc["benchmark"]["cusum"]["units"]) * 2
    assert "Spiegelhalter DJ" in page and "Steiner SH" in page


def test_page_is_self_contained(page: str) -> None:
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org", "")
    assert not re.search(r"""(src|href)=["']https?://""", page)
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids))  # figures repeated on the site pages get their own ids
    for svg in re.findall(r"<svg.*?</svg>", page, flags=re.DOTALL):
        ET.fromstring(svg)


def test_numbers_come_with_their_n(doc: dict[str, Any], page: str) -> None:
    reg = next(b for b in doc["cohort"] if b["site"] is None)
    assert f"<td class=\"num\">{reg['episodes']['n']:,}</td>" in page
    row = next(r for r in doc["outcomes"]["rows"] if r["dimension"] == "all" and r["site"] is None)
    comp = row["values"]["any_complication"]
    assert f"{comp['events']:,} of {comp['n']:,}" in page
    fu = next(c for c in doc["followup"] if c["site"] is None and c["timepoint"] == "12m")
    assert f"{fu['returned']:,} of {fu['due']:,}" in page


def test_suppressed_cells_show_as_fewer_than_5(doc: dict[str, Any], page: str) -> None:
    small = [c for b in doc["cohort"] for cs in b["categories"].values() for c in cs if c["suppressed"]]
    assert small, "the synthetic cohort has small cells"
    assert "&lt;5" in page
    # the benchmark's unit of 3 patients: listed as suppressed, never drawn
    assert "DEMO-W" in page and "<td class=\"num\">&lt;5</td>" in page


def test_clinic_page_names_only_its_own_site(doc: dict[str, Any]) -> None:
    own = doc["sites"][0]
    page = render_annual_html(doc, site=own)
    others = [s for s in doc["sites"] if s != own] + ["DEMO-W"]
    assert own in page and not any(o in page for o in others)
    assert f"Site page: {own}</h2>" in page and "Site page: Site 1</h2>" in page
    assert "Spine registry annual report" in page and f"— {own}</title>" in page
    assert render_annual_html(annual_view(doc, own_site=own), site=own) == page


@pytest.mark.slow
def test_pdf_is_written(doc: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "annual.pdf"
    render_annual_pdf(doc, out, site=doc["sites"][0])
    data = out.read_bytes()
    assert data[:5] == b"%PDF-"
    # a page per section and per site page at least (each starts on a new page): the page objects,
    # counted in the file's compressed object streams (zlib, PDF 1.7 section 7.5.7)
    pages = 0
    for m in re.finditer(rb"stream\r?\n", data):
        try:
            text = zlib.decompressobj().decompress(data[m.end():])
        except zlib.error:
            continue
        pages += len(re.findall(rb"/Type\s*/Page[^s]", text))
    assert pages >= len(SECTIONS) + len(doc["sites"])
