"""The report's first page: the summary of every claim, on one A4 page, checked on the PDF.

The document is ``scorecard_demo.json``: the scorecard of the README's demo (``spinetrack demo
--patients 2000 --seed 7``, then ``spinetrack analyze``), trimmed by ``make_fixture.py --demo``
but with all five comparisons and every claim, so the page holds the real 25 × 5 grid. The list
of claims is the catalogue's (``spinetrack.domain.claims.CLAIMS``); the published figures are
those the document carries (``evidence.literature``: 7 of its 125 claim × comparison pairs).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from spinetrack.domain.claims import CLAIMS
from spinetrack.reports import render_html
from spinetrack.reports.print_report import write_report
from spinetrack.reports.summary import build_summary

FIXTURE = Path(__file__).with_name("scorecard_demo.json")
A4 = (595.28, 841.89)  # ISO 216: 210 × 297 mm in PostScript points

pytestmark = pytest.mark.slow  # one full PDF of the demo report (about 50 pages)


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def html(doc: dict[str, Any]) -> str:
    return render_html(doc)


@pytest.fixture(scope="module")
def pdf(doc: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> PdfReader:
    """The PDF as ``spinetrack report --pdf`` prints it (figures as PNG images, drawn beside the
    printing)."""
    folder = tmp_path_factory.mktemp("summary")
    write_report(doc, folder / "report.html", folder / "report.pdf")
    return PdfReader(folder / "report.pdf")


def test_print_rendering_draws_the_same_figures_as_images(doc: dict[str, Any], html: str) -> None:
    printed = render_html(doc, for_print=True)
    svg_ids = re.findall(r'<svg id="([^"]+)"', html)
    img_ids = re.findall(r'<img id="([^"]+)" class="figure-img" src="data:image/png;base64,', printed)
    assert svg_ids and img_ids == svg_ids and "<svg" not in printed


def _text(page: Any) -> str:
    return re.sub(r"\s+", " ", page.extract_text())


def test_page_one_is_a4_and_holds_the_whole_summary(pdf: PdfReader) -> None:
    first = pdf.pages[0]
    assert abs(float(first.mediabox.width) - A4[0]) <= 1 and abs(float(first.mediabox.height) - A4[1]) <= 1
    one, two = _text(pdf.pages[0]), _text(pdf.pages[1])
    assert "Summary: every claim, every comparison" in one
    assert "Abbreviations:" in one and "ATO overlap weights" in one  # the footnote: the summary's last line
    assert "About this report" not in one and "About this report" in two  # the first detail heading
    assert "Abbreviations:" not in two and "Summary: every claim" not in two
    assert len(pdf.pages) > 10  # the details follow


def test_page_one_names_every_claim_and_every_comparison(pdf: PdfReader, doc: dict[str, Any]) -> None:
    one = _text(pdf.pages[0])
    assert len(CLAIMS) == 25
    for c in CLAIMS:
        assert (c.metric[:1].upper() + c.metric[1:]) in one, c.key
    for label in ("Discectomy", "Decompression", "Fusion", "All procedure families", "Surgery vs conservative care"):
        assert label in one


def test_page_one_verdicts_and_estimates_are_the_documents(pdf: PdfReader, doc: dict[str, Any]) -> None:
    """Every verdict of the document is on page 1 (the counts sentence adds them up), and every
    estimate and interval as the report formats them."""
    one = _text(pdf.pages[0])
    s = build_summary(doc)
    verdicts = Counter(c.verdict_text for r in s.rows for c in r.cells if c.status == "estimated")
    assert sum(verdicts.values()) == sum(1 for r in doc["results"] if r["status"] == "estimated") == 109
    for text, n in verdicts.items():
        assert f"{n} {text}" in one
    for row in s.rows:
        for c in row.cells:
            if c.status == "estimated":
                assert f"{c.symbol} {c.estimate} {c.interval}" in one, (row.claim, c.comparison)


def test_page_one_shows_each_published_figure(pdf: PdfReader, doc: dict[str, Any]) -> None:
    one = _text(pdf.pages[0])
    with_figure = [r for r in doc["results"] if (r.get("literature") or {}).get("estimate") is not None]
    assert len(with_figure) == 7
    s = build_summary(doc)
    assert len(s.literature) == 7
    for x in s.literature:
        assert f"lit. {x.symbol} {x.in_row_unit}" in one, (x.claim, x.comparison)


def test_page_one_text_is_at_least_8_points(pdf: PdfReader) -> None:
    sizes: Counter[float] = Counter()

    def visit(text: str, cm: list[float], tm: list[float], font: Any, size: float) -> None:
        if text.strip():
            sizes[round(math.hypot(tm[2], tm[3]) * math.hypot(cm[2], cm[3]) * size, 1)] += len(text)

    pdf.pages[0].extract_text(visitor_text=visit)
    assert sizes and min(sizes) >= 8.0, sorted(sizes)


def test_no_literature_row_without_a_figure_in_the_details(pdf: PdfReader, html: str) -> None:
    """108 rows used to say “no published figure on this scale”: the phrase is now said once, in
    the methods, naming the claims without any figure."""
    details = " ".join(_text(p) for p in pdf.pages[1:])
    assert details.count("no published figure") == 1
    assert "Claims with no published figure on their own scale in any comparison" in details
    assert "no published figure on this scale" not in html
    assert "not studied: the literature compares MIS with open only" not in html


def test_a_cells_note_stands_on_its_own_line_in_the_details(pdf: PdfReader) -> None:
    """The note under a claim table's value (the MCID reading's sentence) used to run on from the
    value: “below MCID 2MCID 2 points: the whole interval …” (33 cells of the demo report)."""
    details = " ".join(_text(p) for p in pdf.pages[1:])
    assert "MCID 2 points: the whole interval" in details
    assert not re.findall(r"\dMCID \d", details)
