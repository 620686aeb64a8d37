"""The one-page summary of the scorecard: every claim (one row each) × every comparison (one
column each), with the verdict, the adjusted difference and its interval in each cell, the
published figures where the literature has one on the claim's own scale, and one footnote that
explains every symbol and abbreviation.

:func:`build_summary` reads the scorecard document (``spinetrack analyze --json``) into plain
values, formatted as the report prints them; :func:`summary_section` turns them into the report's
first page (A4, 8 pt); the research page of the web app renders the same values with its own
template. Nothing is estimated here: every number is the document's, formatted.

Units: a row states the unit of its differences once (``difference, mm``; ``risk difference,
pp``), so a cell's number means what the row's label says: treated minus control, in that unit
(percentage points for risks, shares and probabilities). A ``withheld`` cell (a diagnostic of its
comparison failed) never shows its estimate.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from spinetrack.reports._format import (
    anchor,
    ci_label,
    esc,
    format_interval,
    format_value,
)
from spinetrack.reports._page_doc import VERDICT_SYMBOL, Doc, Page, lit_value, unit_text, verdict_text

__all__ = ["ABBREVIATIONS", "Summary", "SummaryCell", "SummaryLiterature", "SummaryRow", "build_summary",
           "summary_section"]

#: Every abbreviation the summary uses, explained in its footnote.
ABBREVIATIONS: tuple[tuple[str, str], ...] = (
    ("MIS", "minimally invasive surgery"), ("CI", "confidence interval"), ("pp", "percentage points"),
    ("n/a", "not applicable"), ("NRS", "pain scale 0–10"), ("ODI", "Oswestry Disability Index 0–100"),
    ("EQ-5D-5L", "EuroQol health index"), ("MCID", "minimal clinically important difference"),
    ("RR", "risk ratio"), ("mGy", "milligray"), ("ATO", "overlap weights"),
)

_CELL_CLASS = {"supported": "v-sup", "contradicted": "v-con", "no_important_difference": "v-nid",
               "inconclusive": "v-inc"}


@dataclass(frozen=True, slots=True)
class SummaryCell:
    """One claim in one comparison, as printed."""

    comparison: str
    status: str                 # estimated | withheld | not applicable | not estimable ...
    verdict: str | None         # the document's verdict key (None unless estimated)
    verdict_text: str           # "supported", "less with MIS", "withheld", "not applicable" ...
    symbol: str                 # ✓ ✗ ≈ ? (empty when not estimated)
    estimate: str               # "−15.06" in the row's unit ("" unless estimated)
    interval: str               # "−15.33 to −14.78" ("" unless estimated)
    anchor: str                 # the id of this result in the report's details

    @property
    def css(self) -> str:
        if self.status == "withheld":
            return "v-wh"
        if self.status != "estimated":
            return "v-na"
        return _CELL_CLASS.get(str(self.verdict), "v-inc")


@dataclass(frozen=True, slots=True)
class SummaryRow:
    """One claim: its promise, its metric and the unit of its differences, one cell per comparison."""

    claim: str
    promise: str
    metric: str
    unit: str
    harm: bool
    cells: tuple[SummaryCell, ...]


@dataclass(frozen=True, slots=True)
class SummaryLiterature:
    """A published figure on a claim's own scale, beside the clinic's verdict."""

    claim: str
    metric: str
    comparison: str
    comparison_label: str
    value: str                  # "−269.5 mL" or "RR 1.1"
    in_row_unit: str            # as the summary cell prints it: "−269.5" (the row's unit) or "RR 1.1"
    interval: str               # "−292.9 to −246.2"
    verdict: str
    verdict_text: str
    symbol: str
    clinic: str                 # the clinic's verdict in words for the same claim and comparison
    source: str                 # "Park Y et al. 2018"
    citations: tuple[Doc, ...]


@dataclass(frozen=True, slots=True)
class Summary:
    comparisons: tuple[tuple[str, str, str], ...]   # (key, short label "Fusion", contrast "MIS − open")
    rows: tuple[SummaryRow, ...]
    literature: tuple[SummaryLiterature, ...]
    counts: dict[str, int]                          # verdict text → cells; plus "withheld", "not applicable"
    ci_level: float
    no_literature: tuple[str, ...]                  # metrics of the claims with no published figure at all

    @property
    def n_cells(self) -> int:
        return sum(len(r.cells) for r in self.rows)


def summary_unit(r: Doc) -> str:
    """The unit of a claim's differences, as the summary row states it (the report's wording,
    percentage points shortened to pp)."""
    return unit_text(r).replace("percentage points", "pp") or "difference"


def _cell(r: Doc, comparison: str) -> SummaryCell:
    status = str(r.get("status") or "not estimated")
    cid = anchor("claim", str(r["claim"]), comparison)
    if status == "estimated" and r.get("estimate") is not None:
        verdict = str(r.get("verdict") or "inconclusive")
        return SummaryCell(comparison, status, verdict, verdict_text(r), VERDICT_SYMBOL.get(verdict, ""),
                           format_value(r, r.get("estimate"), with_unit=False), format_interval(r), cid)
    return SummaryCell(comparison, status, None, status, "", "", "", cid)


def _missing_cell(claim_key: str, comparison: str) -> SummaryCell:
    return SummaryCell(comparison, "not analysed", None, "not analysed", "", "", "", anchor("claim", claim_key))


def short_label(page: Page, key: str) -> str:
    """A comparison's column heading: its procedure family (``Fusion``), ``All procedure families``,
    or ``Surgery vs conservative care``; the contrast line under it says who is compared."""
    comp = page.comparisons.get(key) or {}
    families = list(comp.get("families") or [])
    control = list(comp.get("control") or [])
    if "conservative" in control:
        return "Surgery vs conservative care" if len(comp.get("treated") or []) > 1 else page.label(key)
    if len(families) == 1:
        return _cap(families[0].replace("_", " "))
    if comp.get("family_covariates") or len(families) > 1:
        return "All procedure families"
    return page.label(key)


def build_summary(doc: Doc, page: Page | None = None) -> Summary:
    """The summary of a scorecard document (see the module docstring)."""
    page = page or Page(doc, None)
    comps = tuple((k, short_label(page, k), page.contrast(k)) for k in page.order)
    rows: list[SummaryRow] = []
    lit: list[SummaryLiterature] = []
    counts: Counter[str] = Counter()
    no_lit: list[str] = []
    for claim_key, rs in page.claims.items():
        by = {r["comparison"]: r for r in rs}
        first = rs[0]
        cells = []
        for key, _label, _contrast in comps:
            r = by.get(key)
            cell = _cell(r, key) if r is not None else _missing_cell(claim_key, key)
            cells.append(cell)
            counts[cell.verdict_text if cell.status == "estimated" else cell.status] += 1
            entry = None if r is None else r.get("literature")
            if isinstance(entry, Mapping) and entry.get("estimate") is not None and r is not None:
                value, interval = lit_value(entry)
                verdict = str(entry.get("verdict") or "inconclusive")
                cites = tuple(entry.get("citations") or ())
                short = value if entry.get("scale") == "ratio" else value.split(" ")[0]
                lit.append(SummaryLiterature(
                    claim_key, str(first.get("metric", claim_key)), key, page.label(key), value, short, interval,
                    verdict,
                    verdict_text({"verdict": verdict, "role": first.get("role")}), VERDICT_SYMBOL.get(verdict, ""),
                    cell.verdict_text, ", ".join(str(c.get("short") or c.get("study") or "") for c in cites), cites))
        if not any(x.claim == claim_key for x in lit):
            no_lit.append(str(first.get("metric", claim_key)))
        rows.append(SummaryRow(claim_key, str(first.get("promise", "")), str(first.get("metric", claim_key)),
                               summary_unit(first), first.get("role") == "harm", tuple(cells)))
    return Summary(comps, tuple(rows), tuple(lit), dict(counts), page.ci_level, tuple(no_lit))


def counts_sentence(s: Summary) -> str:
    """``109 estimates: 23 supported, 7 contradicted, …; 16 not applicable.``"""
    order = ("supported", "less with MIS", "contradicted", "more with MIS", "no important difference", "inconclusive")
    estimated = [(k, s.counts[k]) for k in order if s.counts.get(k)]
    n = sum(v for _k, v in estimated)
    other = [(k, v) for k, v in s.counts.items() if k not in order and v]
    text = f"{n} estimates: " + ", ".join(f"{v} {k}" for k, v in estimated)
    if other:
        text += "; " + ", ".join(f"{v} {k}" for k, v in other)
    return text + "."


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def summary_section(page: Page) -> str:
    """The report's first page: the claims × comparisons grid, the published figures and the footnote."""
    s = build_summary(page.doc, page)
    lvl = ci_label(s.ci_level)
    head = "".join(f'<th scope="col" title="{esc(page.label(k))}"><span class="cmp">{esc(label)}</span>'
                   f'<span class="contrast">{esc(contrast)}</span></th>' for k, label, contrast in s.comparisons)
    lit_of = {(x.claim, x.comparison): x for x in s.literature}
    body = []
    promise = None
    n_cols = len(s.comparisons) + 1
    for row in s.rows:
        if row.promise != promise:
            promise = row.promise
            body.append(f'<tr class="group"><th scope="colgroup" colspan="{n_cols}">{esc(_cap(promise))}</th></tr>')
        cells = []
        for c in row.cells:
            lit = lit_of.get((row.claim, c.comparison))
            if c.status == "estimated":
                inner = (f'<a href="#{c.anchor}"><span class="sym" aria-hidden="true">{esc(c.symbol)}</span> '
                         f'<span class="est">{esc(c.estimate)}</span></a><span class="ci">{esc(c.interval)}</span>'
                         f'<span class="sr-only">{esc(c.verdict_text)}</span>')
            elif c.status == "withheld":
                inner = f'<a href="#{c.anchor}">withheld</a>'
            elif c.status == "not applicable":
                inner = '<span aria-hidden="true">n/a</span><span class="sr-only">not applicable</span>'
            else:
                inner = esc(c.status)
            if lit is not None:
                inner += (f'<span class="lit">lit. <span aria-hidden="true">{esc(lit.symbol)} </span>'
                          f'<span class="sr-only">published figure, {esc(lit.verdict_text)}: </span>'
                          f"{esc(lit.in_row_unit)}{''.join(page.ref(x) for x in lit.citations)}</span>")
            cells.append(f'<td class="{c.css}" data-comparison="{esc(c.comparison)}">{inner}</td>')
        body.append(f'<tr><th scope="row"><a href="#{anchor("claim", row.claim)}">{esc(_cap(row.metric))}</a>'
                    f'<span class="unit">{esc(row.unit)}</span></th>{"".join(cells)}</tr>')
    table = (f'<div class="table-scroll" role="region" aria-labelledby="summary-cap" tabindex="0">'
             f'<table class="summary"><caption id="summary-cap" class="sr-only">Every claim by comparison: verdict, '
             f"adjusted difference (treated − control) and {esc(lvl)}</caption>"
             f'<colgroup><col class="claim-col">{"<col>" * len(s.comparisons)}</colgroup>'
             f'<thead><tr><th scope="col">Claim (unit of the difference)</th>{head}</tr></thead>'
             f"<tbody>{''.join(body)}</tbody></table></div>")
    abbreviations = "; ".join(f"{a} {b}" for a, b in ABBREVIATIONS + ((("lit.", "literature"),) if s.literature
                                                                        else ()))
    withheld = (" Withheld: a diagnostic of the comparison failed (see Balance)."
                if any(c.status == "withheld" for r in s.rows for c in r.cells) else "")
    lit_note = (" lit.: the published figure on the claim's own scale (a ratio: MIS / open), its verdict by the same "
                "rule and [its reference]; its interval is in the claim's section." if s.literature else "")
    foot = (f'<p class="summary-foot">Cell: verdict, adjusted difference treated − control in the row\'s unit, '
            f"{esc(lvl)} below. ✓ supported · ✗ contradicted · ≈ no important difference (interval within ± the MCID) "
            "· ? inconclusive; supported or contradicted needs a Benjamini–Hochberg adjusted p below 0.05. Radiation "
            f"is a harm: ✓ less, ✗ more with MIS.{withheld}{lit_note} Abbreviations: {esc(abbreviations)}.</p>")
    return "\n".join([
        '<section id="summary" aria-labelledby="summary-h">',
        '<h2 id="summary-h">Summary: every claim, every comparison</h2>',
        f'<p class="summary-lede">{esc(counts_sentence(s))}<span class="screen-only"> Select a number for its '
        "details.</span></p>",
        table, foot, "</section>"])
