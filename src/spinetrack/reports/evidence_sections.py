"""What the published studies found, per claim, and the numbered list of the studies cited
(linked only to their DOI or PubMed record), with the CSS of the literature's figures and badges.

Where the literature contradicts the claim or differs from the clinic, plain sentences say so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from spinetrack.reports._format import (
    anchor,
    esc,
    fmt_count,
)
from spinetrack.reports._page_doc import (
    Doc,
    Page,
    lit_badge,
    lit_size,
    lit_value,
)

__all__ = ["LIT_CSS", "literature_block", "references_section"]


LIT_CSS = """
.lit-est { font-weight: 700; white-space: nowrap; font-variant-numeric: tabular-nums; }
.lit-badge { margin-top: 0.2rem; }
.lit-more { display: block; font-size: 0.82rem; }
sup.ref { font-size: 0.72rem; margin-left: 0.1rem; }
.lit-block { border-left: 4px solid #0b4f94; padding: 0.2rem 0 0.2rem 0.8rem; margin: 1rem 0; }
.lit-block li { margin: 0.25rem 0; font-size: 0.92rem; }
.lit-against { border: 2px solid #a4161a; background: #fbeaea; color: #3d0000; padding: 0.4rem 0.7rem; }
.lit-differ { border: 2px solid #8a6d1d; background: #fdf1d6; color: #3d2600; padding: 0.4rem 0.7rem; }
.against-tag { font-weight: 700; color: #a4161a; }
.flag-tag { font-style: italic; color: #5e4200; }
ol.refs li { font-size: 0.85rem; margin: 0.2rem 0; overflow-wrap: anywhere; }
"""




_FINDING_TEXT = {"favours_mis": "favours MIS", "favours_open": "favours open",
                 "no_significant_difference": "no significant difference",
                 "significant_direction_not_stated": "significant, direction not stated", "not_tested": "not tested"}


def _clinic_verdict(r: Doc) -> str | None:
    return str(r.get("verdict")) if r.get("status") == "estimated" and r.get("verdict") else None


def _figure_text(page: Page, lit: Doc) -> str:
    """``−269.5 mL (95% CI −292.9 to −246.2), meta-analysis …, 9 studies · 830 patients`` + refs."""
    value, interval = lit_value(lit)
    cites = ", ".join(esc(c.get("short")) + page.ref(c) for c in lit.get("citations") or [])
    where = "mixed lumbar procedures; " if lit.get("scope") == "mixed_procedures" else ""
    return (f"<strong>{esc(value)}</strong> (95% CI {esc(interval)}), {esc(where)}{esc(lit_size(lit))}; "
            f"{esc(lit.get('outcome_label'))}; {cites}")


def _headline_item(page: Page, r: Doc, lit: Doc) -> tuple[str, list[str], list[str]]:
    """One comparison's line, and the plain sentences it calls for: where the published figure
    contradicts the claim, and where the clinic's verdict differs from the literature's."""
    label = page.label(r["comparison"])
    against: list[str] = []
    differ: list[str] = []
    clinic = _clinic_verdict(r)
    clinic_text = (f"clinic: {clinic}" if clinic else
                   "clinic estimate withheld" if r.get("status") == "withheld" else f"clinic: {r.get('status')}")
    if lit.get("estimate") is not None:
        verdict = str(lit.get("verdict"))
        line = f"{_figure_text(page, lit)} {lit_badge(lit)} <span class=\"muted\">({esc(clinic_text)})</span>"
        if verdict == "contradicted":
            against.append(f"For {label}, the published figure contradicts the claim: its interval lies wholly on "
                           "the side of MIS doing worse.")
        if clinic and clinic != verdict:
            differ.append(f"For {label}, this clinic's estimate is {clinic} while the published figure is {verdict}: "
                          "the clinic's patients, procedures or measurements may differ from the studies', or one of "
                          "the two is imprecise.")
        return line, against, differ
    fams = [f for f in lit.get("by_family") or [] if f.get("estimate") is not None]
    if lit.get("scope") == "by_procedure_family":
        text = esc(lit.get("gap"))
        if fams:
            parts = "; ".join(f"{esc(f.get('comparison'))}: {_figure_text(page, f)} {lit_badge(f)}" for f in fams)
            text += f" Family figures: {parts}."
        shown = {str(x.get("comparison")) for x in page.results if x.get("claim") == r.get("claim")}
        for f in fams:
            if f.get("verdict") == "contradicted" and f.get("comparison") not in shown:
                against.append(f"In {f.get('comparison')}, the published figure contradicts the claim.")
        return f"{text} <span class=\"muted\">({esc(clinic_text)})</span>", against, differ
    return f"no figure: {esc(lit.get('gap'))}", against, differ


def _context_item(page: Page, c: Doc) -> str:
    tag = '<span class="against-tag">Against the claim. </span>' if c.get("against") else ""
    flags = ""
    if c.get("flag_text"):
        flags = f' <span class="flag-tag">Flagged: {esc("; ".join(c["flag_text"]))}.</span>'
    where = {"cross_cutting": "mixed lumbar procedures"}.get(str(c.get("comparison")), str(c.get("comparison")))
    size = ", ".join(x for x in (str(c.get("quality") or ""),
                                 f"{fmt_count(c['n_patients'])} patients" if c.get("n_patients") else "") if x)
    cite = c.get("citation") or {}
    finding = _FINDING_TEXT.get(str(c.get("finding")), str(c.get("finding")))
    figure = str(c.get("figure") or "")
    result = figure if finding in figure else f"{figure} — {finding}"
    return (f"<li>{tag}<strong>{esc(where)}</strong> · {esc(c.get('outcome_label'))} ({esc(c.get('timepoint'))}): "
            f"{esc(result)}; {esc(size)}. "
            f"<span class=\"muted\">{esc(str(c.get('reason') or '').rstrip('.'))}.</span>{flags} "
            f"<span class=\"note\">{esc(cite.get('text'))}</span>{page.ref(cite)}</li>")


def literature_block(page: Page, claim_key: str, rs: Sequence[Doc]) -> str:
    """“What the published studies found”, where they found something for this claim: the figure
    on the claim's own scale per comparison that has one, what contradicts the claim, where the
    clinic and the literature differ, and every published finding against the claim with its
    citation. Comparisons without a published figure get no line (the methods name those claims
    once); the other related findings are listed by ``spinetrack evidence --claim``."""
    entries = [(r, r["literature"]) for r in rs if isinstance(r.get("literature"), Mapping)]
    if not entries:
        return ""
    bid = anchor("literature", claim_key)
    lines, sentences, differ = [], [], []
    for r, lit in entries:
        line, against_here, differ_here = _headline_item(page, r, lit)
        if lit.get("estimate") is not None:
            lines.append(f"<li><strong>{esc(page.label(r['comparison']))}</strong>: {line}</li>")
        sentences += against_here
        differ += differ_here
    context: dict[str, Doc] = {}
    for _r, lit in entries:
        for c in lit.get("context") or []:
            if c.get("against"):
                context.setdefault(str(c.get("id")), c)
    against = list(context.values())
    if against:
        what = "; ".join(f"{c.get('outcome_label')} ({(c.get('citation') or {}).get('short')}, "
                         f"{_FINDING_TEXT.get(str(c.get('finding')), c.get('finding'))})" for c in against)
        sentences.append(f"{len(against)} related published finding{'s go' if len(against) > 1 else ' goes'} "
                         f"against the claim: {what}.")
    if not lines and not sentences:
        return ""
    alert = ('<div class="lit-against" role="note"><p><strong>Evidence against the claim.</strong> '
             + " ".join(esc(x) for x in sentences) + "</p></div>") if sentences else ""
    if differ:
        alert += ('<p class="lit-differ" role="note"><strong>The clinic and the literature differ.</strong> '
                  + " ".join(esc(x) for x in differ) + "</p>")
    figures = ("<p>The published figure on the claim's own scale (MIS − open, or MIS / open), chosen by the "
               "hierarchy under Methods, with the literature's verdict by the clinic's rule:</p>"
               f"<ul>{''.join(lines)}</ul>") if lines else ""
    ctx = ("<p><strong>Published findings against the claim</strong> (other units or measures, proxies, "
           "narratives; never pooled with a figure above):</p>"
           f'<ul class="lit-context">{"".join(_context_item(page, c) for c in against)}</ul>' if against else "")
    return (f'<div class="lit-block" id="{bid}" role="group" aria-labelledby="{bid}-h">'
            f'<h4 id="{bid}-h">What the published studies found</h4>{alert}{figures}{ctx}</div>')


def references_section(page: Page) -> str:
    """The numbered list of the published studies cited; DOI and PubMed links only."""
    if not page.ref_list:
        return ""
    items = []
    for n, c in enumerate(page.ref_list, start=1):
        links = [f'<a href="{esc(c[k])}">{label}</a>' for k, label in (("doi_url", "DOI"), ("pubmed_url", "PubMed"))
                 if c.get(k)]
        study = f" [{esc(c.get('study'))}]" if c.get("study") and not c.get("authors") else ""
        items.append(f'<li id="ref-{n}">{esc(c.get("text"))}{study}'
                     + (f" ({', '.join(links)})" if links else "") + "</li>")
    return ('<section id="references" aria-labelledby="references-h"><h2 id="references-h">Published studies cited'
            "</h2><p>Copied from published abstracts, tables and excerpts; not yet checked against the full papers "
            "(figures flagged so are never pooled or shown as the headline figure). Links go to the DOI or PubMed "
            f'record only.</p><ol class="refs">{"".join(items)}</ol></section>')
