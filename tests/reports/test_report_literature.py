"""The literature in the report: the scorecard's Literature column, each claim's “What the
published studies found” block, the numbered reference list, and the Methods / Limitations text.

The document is ``scorecard_example.json`` with its ``literature`` entries filled exactly as
``claim_result_as_dict`` fills them (``literature_for(claim, comparison).as_dict()``). The fixture
has no fusion comparison, so its discectomy rows are copied as “MIS vs open fusion” (clinic
numbers unchanged) to show the fusion figures. Expected literature strings are the published
numbers of the rows named in each test, as the report prints them.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from spinetrack.evidence import literature_for
from spinetrack.reports import render_html
from tests.reports.test_report import _check, _scorecard_row, _section

FIXTURE = Path(__file__).with_name("scorecard_example.json")


def _with_literature(doc: dict[str, Any]) -> dict[str, Any]:
    for r in doc["results"]:
        e = literature_for(r["claim"], r["comparison"])
        r["literature"] = None if e is None else json.loads(json.dumps(e.as_dict()))
    return doc


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    d = json.loads(FIXTURE.read_text(encoding="utf-8"))
    disc = next(c for c in d["comparisons"] if c["key"] == "discectomy")
    fusion = copy.deepcopy(disc)
    fusion.update(key="fusion", label="MIS vs open fusion", families=["fusion"])
    d["comparisons"].insert(1, fusion)
    copies = []
    for r in d["results"]:
        if r["comparison"] == "discectomy":
            c = copy.deepcopy(r)
            c["comparison"] = "fusion"
            copies.append(c)
    d["results"] += copies
    return _with_literature(d)


@pytest.fixture(scope="module")
def page(doc: dict[str, Any]) -> str:
    return render_html(doc)


def _block(html: str, claim: str) -> str:
    start = html.index(f'<div class="lit-block" id="literature-{claim}"')
    return html[start:html.index("</section>", start)]


def _ref_item(html: str, n: str) -> str:
    start = html.index(f'<li id="ref-{n}">')
    return html[start:html.index("</li>", start)]


def _ref_numbers(fragment: str) -> list[str]:
    return re.findall(r'<sup class="ref"><a href="#ref-(\d+)"', fragment)


# ------------------------------------------------------------------------------ the column


def test_literature_cell_shows_figure_verdict_and_reference(page: str) -> None:
    """Park 2018 (literature.md §3 row 12, doi:10.3349/ymj.2018.59.4.524): 269.5 mL less
    (246.2 to 292.9), 9 studies, meta-analysis including observational studies. The summary
    cell shows the figure and its verdict; the claim's block its interval, size and quality."""
    cell = _scorecard_row(page, "blood_loss", "fusion")
    assert '<span class="lit">lit. <span aria-hidden="true">✓ </span>' in cell and "−269.5<sup" in cell
    (n,) = _ref_numbers(cell)
    ref = _ref_item(page, n)
    assert "Park Y, Seok SO, Lee SB, Ha JW" in ref and "doi:10.3349/ymj.2018.59.4.524" in ref
    assert '<a href="https://doi.org/10.3349/ymj.2018.59.4.524">DOI</a>' in ref
    assert '<a href="https://pubmed.ncbi.nlm.nih.gov/29749136/">PubMed</a>' in ref
    block = _block(page, "blood_loss")
    assert "<strong>−269.5 mL</strong> (95% CI −292.9 to −246.2)" in block
    assert "meta-analysis including observational studies, 9 studies" in block
    assert 'class="badge badge-supported lit-badge"><span aria-hidden="true">✓ </span>literature: supported' in block


def test_literature_cell_for_a_contradicting_figure(page: str) -> None:
    """Park 2018 (§3 row 15): radiation exposure time 25.4 s longer (22.0 to 28.8) with MIS fusion."""
    cell = _scorecard_row(page, "fluoro_time", "fusion")
    assert "+25.4<sup" in cell and '<span aria-hidden="true">✗ </span><span class="sr-only">published figure, ' in cell
    assert "<strong>+25.4 s</strong> (95% CI +22 to +28.8)" in _block(page, "fluoro_time")


def test_no_literature_line_without_a_published_figure(page: str) -> None:
    """Only pairs with a figure on the claim's own scale get a literature line; the methods name
    once the claims that have none in any comparison."""
    assert "lit." not in _scorecard_row(page, "blood_loss", "pooled")
    assert "lit." not in _scorecard_row(page, "blood_loss", "surgery_vs_conservative")
    assert "lit." not in _scorecard_row(page, "wrong_level", "pooled")
    details = page[page.index('<section id="about"'):]
    assert details.count("no published figure") == 1
    methods = _section(page, "methods")
    assert "Claims with no published figure on their own scale in any comparison" in methods
    assert "wrong-level surgery" in methods.split("Claims with no published figure")[1]
    assert "by procedure family (no figure" not in page and "not studied: the literature" not in page


# ---------------------------------------------------------------------- the claim blocks


def test_block_lists_the_figures_and_only_the_findings_against_the_claim(page: str) -> None:
    block = _block(page, "blood_loss")
    assert "What the published studies found" in block
    assert "<strong>−269.5 mL</strong> (95% CI −292.9 to −246.2)" in block
    # Sun 2013 (§3 row 6, -232.91 mL) and Li 2018 (§3 row 1, flagged) support the claim or are
    # context: not listed (spinetrack evidence --claim blood_loss lists them)
    assert "MD -232.91" not in block and "Sun ZJ" not in block and "Flagged:" not in block
    # the pooled comparison gets no line: its families' figures stand with their own comparisons
    assert "Family figures" not in block and "MIS vs open, all procedure families" not in block


def test_block_says_plainly_where_the_literature_contradicts_the_claim(page: str) -> None:
    block = _block(page, "fluoro_time")
    assert 'class="lit-against"' in block
    assert "For MIS vs open fusion, the published figure contradicts the claim" in block
    assert "this clinic&#x27;s estimate is inconclusive while the published figure is contradicted" in block
    reop = _block(page, "reoperation_free")
    # Int Orthop 2014 (§1 row 1): recurrence RR 1.95 (1.19-3.19), AGAINST
    assert "recurrent disc herniation" in reop and "RR 1.95 (1.19 to 3.19)" in reop
    assert '<span class="against-tag">Against the claim. </span>' in reop
    assert "go against the claim" in reop


def test_clinic_and_literature_disagreement_is_a_sentence(page: str) -> None:
    """Length of stay: the clinic's fusion estimate (copied from discectomy) is inconclusive;
    Park 2018 (§3 row 13: 1.3 days shorter, 1.1 to 1.5) supports the claim."""
    block = _block(page, "length_of_stay")
    assert "<strong>−1.3 days</strong> (95% CI −1.5 to −1.1)" in block
    assert ("For MIS vs open fusion, this clinic&#x27;s estimate is inconclusive while the published figure is "
            "supported") in block


def test_withheld_clinic_estimates_are_not_revealed_by_the_block(doc: dict[str, Any]) -> None:
    d = copy.deepcopy(doc)
    d["results"] = [r for r in d["results"] if r["claim"] == "fluoro_time"]
    for r in d["results"]:
        if r["comparison"] == "fusion":
            r["status"], r["withheld_because"] = "withheld", ["balance"]
    block = _block(render_html(d), "fluoro_time")
    assert "clinic estimate withheld" in block and "this clinic&#x27;s estimate is" not in block


# ------------------------------------------------------------------------ references, page


def test_every_reference_number_points_to_a_listed_citation(page: str) -> None:
    numbers = {int(n) for n in _ref_numbers(page)}
    refs = _section(page, "limitations")[_section(page, "limitations").index('<section id="references"'):]
    listed = [int(n) for n in re.findall(r'<li id="ref-(\d+)">', refs)]
    assert listed == list(range(1, len(listed) + 1)) and numbers == set(listed)
    assert '<a href="#references">Published studies cited</a>' in page
    assert "not yet checked against the full papers" in refs


def test_page_stays_well_formed_and_offline_except_citation_links(page: str) -> None:
    c = _check(page)
    assert not c.errors and c.stack == []
    assert len(c.ids) == len(set(c.ids)), "duplicate ids"
    internal = {h[1:] for h in c.hrefs if h.startswith("#")}
    assert internal <= set(c.ids), sorted(internal - set(c.ids))[:5]
    external = [h for h in c.hrefs if not h.startswith("#")]
    assert external and all(h.startswith(("https://doi.org/", "https://pubmed.ncbi.nlm.nih.gov/")) for h in external)
    assert not c.srcs and "<script" not in page and "<link" not in page
    assert all(b <= a + 1 for a, b in zip(c.headings, c.headings[1:], strict=False)), "a heading level is skipped"
    assert c.th_without_scope == 0


def test_methods_and_limitations_say_how_figures_were_chosen_and_where_they_come_from(page: str) -> None:
    methods = _section(page, "methods")
    for text in ("Published evidence", "meta-analysis of RCTs; meta-analysis including observational studies",
                 "our own pool of at least two independent primary studies", "never re-pooled",
                 "REML estimate of tau²", "Hartung–Knapp–Sidik–Jonkman",
                 "have not yet been checked against the full papers", "by procedure family",
                 "none of the published figures comes from our own pool",
                 "Levels of the figures shown in this document", "Hartung J, Knapp G."):
        assert text in methods, text
    limitations = _section(page, "limitations")
    assert "not yet been checked against the full papers" in limitations
    assert "claim × comparison pairs have nothing published on the claim's own scale" in limitations


def test_literature_strings_are_escaped(doc: dict[str, Any]) -> None:
    d = copy.deepcopy(doc)
    d["results"] = [r for r in d["results"] if r["claim"] == "blood_loss" and r["comparison"] == "fusion"]
    d["comparisons"] = [c for c in d["comparisons"] if c["key"] == "fusion"]
    r = d["results"][0]
    r["literature"]["outcome_label"] = "<script>alert(1)</script>"
    r["literature"]["citations"][0]["text"] = "<img src=x>"
    html = render_html(d)
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
