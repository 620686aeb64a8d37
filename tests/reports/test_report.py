"""The scorecard report: summary first, HTML structure, numbers as in the document, offline, accessible; PDF.

Most tests render ``scorecard_example.json``: a real ``scorecard_as_dict`` document (20,000
synthetic patients, sensitivity analyses on) trimmed by ``make_fixture.py`` to three
comparisons. The expected strings are the document's own numbers, formatted by hand (e.g.
any complication in discectomy: risk difference −0.040253, 95% CI −0.058083 to −0.022422 →
``−4.0 pp``, ``−5.8 to −2.2``). One end-to-end test renders a document made on the spot from a
small synthetic snapshot, so that a change of the serialiser shows up here.
"""

from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ET
import zlib
from html.parser import HTMLParser
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from spinetrack.reports import ReportDependencyError, figures, render_html, write_pdf
from spinetrack.reports._format import format_interval, format_value

FIXTURE = Path(__file__).with_name("scorecard_example.json")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def page(doc: dict[str, Any]) -> str:
    return render_html(doc)


@pytest.fixture(scope="module")
def withheld_doc(doc: dict[str, Any]) -> dict[str, Any]:
    """Discectomy only, with its balance diagnostic failed: every estimate is withheld."""
    d = copy.deepcopy(doc)
    d["comparisons"] = [c for c in d["comparisons"] if c["key"] == "discectomy"]
    d["comparisons"][0]["diagnostics"].update(balance="FAIL", failed=["balance"])
    d["results"] = [r for r in d["results"] if r["comparison"] == "discectomy"]
    for r in d["results"]:
        r["status"], r["withheld_because"] = "withheld", ["balance"]
    return d


# ------------------------------------------------------------------------------ helpers


class _Checker(HTMLParser):
    """Strict well-formedness: every non-void element closed, in order; collects what the
    accessibility tests need."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.ids: list[str] = []
        self.hrefs: list[str] = []
        self.srcs: list[str] = []
        self.headings: list[int] = []
        self.th_without_scope = 0
        self.html_lang: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._attrs(tag, dict(attrs))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._attrs(tag, dict(attrs))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()

    def _attrs(self, tag: str, a: dict[str, str | None]) -> None:
        if a.get("id"):
            self.ids.append(str(a["id"]))
        for key, bucket in (("href", self.hrefs), ("xlink:href", self.hrefs), ("src", self.srcs)):
            if a.get(key):
                bucket.append(str(a[key]))
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        if tag == "th" and not a.get("scope"):
            self.th_without_scope += 1
        if tag == "html":
            self.html_lang = a.get("lang")


def _check(html: str) -> _Checker:
    c = _Checker()
    c.feed(html)
    c.close()
    return c


SECTIONS = ("summary", "about", "claims", "cohort", "balance", "methods", "limitations")


def _section(html: str, section_id: str) -> str:
    """One top-level section of the page (up to the next one)."""
    start = html.index(f'<section id="{section_id}"')
    later = [html.index(f'<section id="{s}"') for s in SECTIONS[SECTIONS.index(section_id) + 1:]]
    return html[start:min(later, default=len(html))]


def _summary_row(html: str, claim: str) -> str:
    """The summary's row of one claim (its header links to the claim's section)."""
    rows = [row for row in _section(html, "summary").split("<tr") if f'href="#claim-{claim}">' in row]
    assert len(rows) == 1, claim
    return rows[0]


def _scorecard_row(html: str, claim: str, comparison: str) -> str:
    """The summary's cell of one claim in one comparison."""
    cells = [c for c in _summary_row(html, claim).split("<td")[1:] if f'data-comparison="{comparison}"' in c]
    assert len(cells) == 1, (claim, comparison)
    return cells[0]


def _pdf_objects(data: bytes) -> bytes:
    """The PDF's bytes followed by its decompressed streams (WeasyPrint puts most objects,
    pages included, into compressed object streams)."""
    parts = [data]
    for m in re.finditer(rb"stream\r?\n", data):
        end = data.find(b"endstream", m.end())
        try:
            parts.append(zlib.decompress(data[m.end():end]))
        except zlib.error:
            continue
    return b"\n".join(parts)


# ------------------------------------------------------------------------------ scorecard


def test_report_every_claim_and_comparison_in_the_summary_with_verdict_and_estimate(doc, page):
    assert len(doc["results"]) == 69
    for r in doc["results"]:
        cell = _scorecard_row(page, r["claim"], r["comparison"])
        if r["status"] == "estimated":
            assert f"{r['verdict'].replace('_', ' ')}</span>" in cell
            assert format_value(r, r["estimate"], with_unit=False) in cell and format_interval(r) in cell
            assert f'href="#claim-{r["claim"]}--{r["comparison"]}"' in cell  # its row in the claim's table
        else:
            assert r["status"] == "not applicable"
            assert "not applicable</span>" in cell and cell.startswith(' class="v-na"')
            assert 'class="est"' not in cell


@pytest.mark.parametrize(("claim", "comparison", "estimate", "unit", "interval", "verdict"), [
    ("any_complication", "discectomy", "−4.0", "risk difference, pp", "−5.8 to −2.2", "supported"),
    ("incision", "discectomy", "−15.06", "difference in mm", "−15.33 to −14.78", "supported"),
    ("transfusion", "discectomy", "−0.25", "risk difference, pp", "−0.57 to +0.08", "inconclusive"),
    ("back_pain_2w", "discectomy", "+0.24", "difference in NRS points", "+0.14 to +0.34", "contradicted"),
    ("eq5d_12m", "discectomy", "−0.007", "difference in index", "−0.015 to +0.001", "inconclusive"),
    ("reoperation_free", "discectomy", "−8.8", "difference in probability at 730 days, pp", "−11.5 to −6.0",
     "contradicted"),
    ("return_to_activity", "discectomy", "−0.3", "difference in days", "−2.2 to +1.7", "inconclusive"),
])
def test_report_estimates_formatted_from_the_document(page, claim, comparison, estimate, unit, interval, verdict):
    """Expected strings are the fixture's numbers rounded by hand (risks ×100 as pp); the unit is
    stated once, in the claim's row, and every cell of the row is in it."""
    cell = _scorecard_row(page, claim, comparison)
    assert f'<span class="est">{estimate}</span>' in cell
    assert f'<span class="ci">{interval}</span>' in cell
    assert f"{verdict}</span>" in cell
    assert f'<span class="unit">{unit}</span>' in _summary_row(page, claim)


def _claim_block(html: str, claim: str) -> str:
    start = html.index(f'<section id="claim-{claim}"')
    return html[start:html.index("</section>", start)]


def test_report_mcid_reading_in_the_claim_and_no_literature_without_entries(page):
    odi = _claim_block(page, "odi_12m")
    row = odi[odi.index("Arms, confounding"):].split("<tr>")[2]  # the first comparison: discectomy
    assert "MIS vs open discectomy" in row and "below MCID 10" in row
    assert "MCID reading" not in _claim_block(page, "eq5d_12m")  # no EQ-5D MCID in our sources
    assert "lit." not in _section(page, "summary") and 'class="lit-block"' not in page  # no literature here


def test_report_lists_what_cannot_be_measured(doc, page):
    scorecard = _section(page, "about")
    assert "Claims we cannot measure yet" in scorecard
    for item in doc["not_measured"]:
        assert item["what"] in scorecard


def test_report_withheld_rows_show_the_failed_diagnostic_not_the_estimate(withheld_doc):
    html = render_html(withheld_doc)
    for r in withheld_doc["results"]:
        cell = _scorecard_row(html, r["claim"], r["comparison"])
        assert ">withheld</a>" in cell and cell.startswith(' class="v-wh"')
        assert 'class="est"' not in cell and format_interval(r) not in cell
    assert "Withheld: a diagnostic of the comparison failed" in _section(html, "summary")
    assert "withheld: balance failed" in _section(html, "claims")
    claims = _section(html, "claims")
    assert 'class="est"' not in claims
    assert not any(format_interval(r) in claims for r in withheld_doc["results"])
    assert "FAIL</span> — withholds estimates" in _section(html, "balance")
    assert "because the balance diagnostic failed" in _section(html, "limitations")


def test_report_escapes_document_strings(doc):
    d = copy.deepcopy(doc)
    d["results"][0]["promise"] = "<script>alert(1)</script>"
    d["comparisons"][0]["label"] = 'MIS & "open" <b>'
    d["not_measured"][0]["what"] = "<img src=x onerror=alert(1)>"
    d["comparisons"] = d["comparisons"][:1]
    d["results"] = [r for r in d["results"] if r["comparison"] == d["comparisons"][0]["key"]][:3]
    html = render_html(d)
    assert "<script" not in html and "<img" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "MIS &amp; &quot;open&quot; &lt;b&gt;" in html


# ------------------------------------------------------------------------ page as a whole


def test_report_html_is_well_formed_and_offline(page):
    c = _check(page)
    assert not c.errors, c.errors[:5]
    assert c.stack == []
    assert not c.srcs
    assert all(h.startswith("#") for h in c.hrefs), [h for h in c.hrefs if not h.startswith("#")][:5]
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", page)
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert len(c.ids) == len(set(c.ids)), "duplicate ids"
    missing = {h[1:] for h in c.hrefs} - set(c.ids)
    assert not missing, sorted(missing)[:5]


def test_report_sections_in_order(page):
    positions = [page.index(f'<section id="{s}"') for s in SECTIONS]
    assert positions == sorted(positions)
    assert page.index("<h1>") < positions[0]


def test_report_accessibility_basics(page):
    c = _check(page)
    assert c.html_lang == "en"
    assert c.headings[0] == 1
    assert all(b <= a + 1 for a, b in pairwise(c.headings)), "a heading level is skipped"
    assert c.th_without_scope == 0
    for svg in re.findall(r"<svg\b[^>]*>", page):
        assert 'role="img"' in svg and "aria-labelledby=" in svg
    assert page.count("<svg") == page.count("<title id=") == page.count("<desc id=")
    assert 'class="badge badge-supported"><span aria-hidden="true">✓ </span>supported' in page


def test_report_every_svg_parses_as_xml(page):
    svgs = re.findall(r"<svg\b.*?</svg>", page, flags=re.DOTALL)
    # Kaplan–Meier panels of the 2 time-to-event claims of this (schema 1) document, trajectories
    # once per questionnaire (ODI, NRS back, NRS leg, EQ-5D-5L), one love plot for every comparison
    # (the covariates named once); the adjusted intervals are drawn in CSS
    assert len(svgs) == 2 + 4 + 1
    assert len(re.findall(r'<svg id="fig-love"', page)) == 1
    assert page.count('class="fp-ci"') == sum(1 for r in json.loads(FIXTURE.read_text())["results"]
                                               if r["status"] == "estimated")
    for svg in svgs:
        root = ET.fromstring(svg)
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert root[0].tag.endswith("title") and root[1].tag.endswith("desc")


def test_report_header_methods_and_limitations_come_from_the_document(doc, page):
    head = page[: page.index('<main id="main">')]
    assert "2026-11-25 20:53 UTC" in head and "20,000 patients" in head and "ATO (overlap weights)" in head
    about = _section(page, "about")
    assert "duckdb" in about and "ATO — overlap weights" in about and "95% CI" in about
    methods = _section(page, "methods")
    for text in ("procedure family discectomy", "Newton-Raphson/IRLS", "Lunceford &amp; Davidian 2004",
                 "VanderWeele", "Ostelo RW et al. Spine 2008;33(1):90-94", "Xie J, Liu C.", "AIPW", "IPCW",
                 "Supported</strong> when the 95% CI", "this document predates that rule"):
        assert text in methods, text
    limitations = _section(page, "limitations")
    assert "Loss to follow-up at 24 months, MIS vs open discectomy: MIS 29.1%, open 26.8%." in limitations
    assert "the equipoise diagnostic failed" in limitations  # pooled: reported, not gating
    assert "AIPW not estimable" in limitations and "unmeasured" in limitations
    assert "Synthetic data" not in page  # this manifest does not say so


def test_report_synthetic_warning_when_the_manifest_says_so(doc):
    d = copy.deepcopy(doc)
    d["snapshot"]["synthetic"] = {"generator_version": "1", "seed": 7}
    d["comparisons"], d["results"] = d["comparisons"][:1], d["results"][:1]
    html = render_html(d)
    assert html.count("Synthetic data.") == 2  # page 1's banner and limitations
    assert "generator_version 1, seed 7" in html


def test_report_mcid_lines_default_to_the_threshold_table_and_can_be_overridden(doc):
    d = copy.deepcopy(doc)
    d["comparisons"] = d["comparisons"][:1]
    d["results"] = [r for r in d["results"]
                    if r["comparison"] == "discectomy" and r["claim"] in ("odi_12m", "eq5d_12m")]

    def trajectories(html: str) -> list[str]:
        return re.findall(r'<svg id="fig-traj.*?</svg>', html, flags=re.DOTALL)

    odi, eq5d = trajectories(render_html(d))
    assert "1 MCID (10)" in odi and "MCID" not in eq5d.split("</desc>")[1]
    odi, _ = trajectories(render_html(d, mcid={"odi": 15.0}))
    assert "1 MCID (15)" in odi
    odi, _ = trajectories(render_html(d, mcid={}))
    assert "MCID" not in odi.split("</desc>")[1]


# ------------------------------------------------------------------------------- figures


def test_figures_are_self_contained_svg_with_prefixed_ids():
    arms = {"treated": figures.Arm("MIS", "#0b5cad", "o", "-"), "control": figures.Arm("Open", "#a4161a", "s", "--")}
    rows = [figures.ForestRow("A", adjusted=(-1.0, -2.0, 0.5), naive=-1.5), figures.ForestRow("B", message="withheld")]
    one = figures.forest_plot(rows, better="lower", axis_label="x", title="T & <t>", desc="D", fig_id="fa")
    two = figures.forest_plot(rows, better="lower", axis_label="x", title="T & <t>", desc="D", fig_id="fb")
    assert one == figures.forest_plot(rows, better="lower", axis_label="x", title="T & <t>", desc="D", fig_id="fa")
    root = ET.fromstring(one)
    assert root.get("role") == "img" and root[0].text == "T & <t>"
    ids_one = set(re.findall(r'id="([^"]+)"', one)) - {"fa", "fa-title", "fa-desc"}
    ids_two = set(re.findall(r'id="([^"]+)"', two)) - {"fb", "fb-title", "fb-desc"}
    assert not ids_one & ids_two  # many figures can share one page
    assert "<?xml" not in one and "<metadata" not in one and "<style" not in one
    curve = {"time": [5.0, 9.0], "survival": [0.9, 0.8], "ci_low": [0.85, None], "ci_high": [0.95, None]}
    svg = figures.survival_plot([figures.SurvivalPanel("A", arms, {"treated": curve, "control": curve}),
                                 figures.SurvivalPanel("B", arms, message="not applicable")],
                                horizon=10, y_label="event-free", title="t", desc="d", fig_id="k")
    assert ET.fromstring(svg).get("aria-labelledby") == "k-title k-desc"


# ----------------------------------------------------------------------------------- PDF


def test_write_pdf_writes_an_a4_document(doc, tmp_path):
    """Two comparisons and one claim of each kind (kept small: WeasyPrint takes ~0.3 s a page)."""
    keep = {"incision", "any_complication", "back_pain_2w", "odi_12m", "return_to_activity", "reoperation_free"}
    d = copy.deepcopy(doc)
    d["comparisons"] = [c for c in d["comparisons"] if c["key"] in ("discectomy", "surgery_vs_conservative")]
    d["results"] = [r for r in d["results"]
                    if r["comparison"] in ("discectomy", "surgery_vs_conservative") and r["claim"] in keep]
    out = tmp_path / "scorecard.pdf"
    write_pdf(render_html(d), out)
    data = out.read_bytes()
    assert data.startswith(b"%PDF-")
    objects = _pdf_objects(data)
    pages = re.findall(rb"/Type\s*/Page(?![s\w])", objects)
    assert len(pages) >= 3  # the summary, then the details
    media = re.findall(rb"/MediaBox\s*\[\s*0 0 (\d+(?:\.\d+)?) (\d+(?:\.\d+)?)", objects)
    assert media and all(abs(float(w) - 595.28) < 0.5 and abs(float(h) - 841.89) < 0.5 for w, h in media)  # A4


def test_write_pdf_without_weasyprint_says_how_to_install(monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "weasyprint", None)
    with pytest.raises(ReportDependencyError, match="pip install 'weasyprint>=62'"):
        write_pdf("<html lang='en'></html>", tmp_path / "x.pdf")


# ------------------------------------------------------------------- against the pipeline


@pytest.fixture(scope="module")
def live_doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from spinetrack.analysis.claims import CLAIMS
    from spinetrack.analysis.design import COMPARISONS
    from spinetrack.analysis.scorecard import load_manifest, run_scorecard, scorecard_as_dict
    from spinetrack.engines import get_engine
    from tests.analysis.conftest import build_snapshot

    snap = build_snapshot(tmp_path_factory.mktemp("report-snapshot"), patients=3000, seed=3)
    keys = {"blood_loss", "transfusion", "odi_12m", "eq5d_12m", "return_to_activity", "reoperation_free"}
    engine = get_engine("duckdb")
    try:
        engine.register_snapshot(snap)
        sc = run_scorecard(engine, comparisons=[c for c in COMPARISONS if c.key in ("discectomy",
                                                                                   "surgery_vs_conservative")],
                           claims=[c for c in CLAIMS if c.key in keys], snapshot=load_manifest(snap))
        return scorecard_as_dict(sc)
    finally:
        engine.close()


def test_report_renders_a_fresh_scorecard_document(live_doc):
    """The serialiser and the report agree today (patients=3000, seed=3, duckdb)."""
    html = render_html(live_doc)
    methods = _section(html, "methods")
    for text in ("No important difference</strong> when the 95% CI", "Benjamini–Hochberg (false discovery rate)",
                 "Clocks: time-to-event claims count days from the index date", "diagnosis has a surgical option"):
        assert text in methods, text
    assert not _check(html).errors
    assert len(live_doc["results"]) == 12
    for r in live_doc["results"]:
        cell = _scorecard_row(html, r["claim"], r["comparison"])
        if r["status"] == "estimated":
            assert f"{r['verdict'].replace('_', ' ')}</span>" in cell
            assert format_value(r, r["estimate"], with_unit=False) in cell
        elif r["status"] == "withheld":
            assert ">withheld</a>" in cell
        else:
            assert r["status"] in cell
    for svg in re.findall(r"<svg\b.*?</svg>", html, flags=re.DOTALL):
        ET.fromstring(svg)


def test_pdf_refuses_an_outside_resource_and_prints_inline_ones(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The PDF is self-contained: an image from the network is refused with a plain error (with
    WeasyPrint 70 a plain-function fetcher crashed with an AttributeError instead), while an inline
    ``data:`` image prints."""
    from spinetrack.reports.pdf import ReportDependencyError, write_pdf

    with pytest.raises(ReportDependencyError, match="outside resource"):
        write_pdf("<html lang='en'><body><img src='http://198.51.100.7/x.png' alt=''></body></html>",
                  tmp_path / "a.pdf")
    svg = "PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIHdpZHRoPSIxMCIgaGVpZ2h0PSIxMCIvPg=="
    write_pdf(f"<html lang='en'><body><img src='data:image/svg+xml;base64,{svg}' alt=''></body></html>",
              tmp_path / "b.pdf")
    assert (tmp_path / "b.pdf").read_bytes()[:5] == b"%PDF-"
