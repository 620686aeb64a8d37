"""The scorecard section of the report: one table per comparison, one row per claim, with the
clinic's estimate, its verdict, the MCID reading and the published figure; then the claims that
cannot be measured yet.

A ``withheld`` result shows which diagnostic failed and never its estimate.
"""

from __future__ import annotations

from collections.abc import Mapping

from spinetrack.reports._format import (
    anchor,
    ci_label,
    esc,
    format_difference,
    format_interval,
)
from spinetrack.reports._page_doc import (
    PROM_INSTRUMENTS,
    Doc,
    Page,
    badge,
    lit_badge,
    lit_size,
    lit_value,
    unit_text,
    withheld_text,
)

__all__ = ["mcid_text", "scorecard_section"]


def _estimate_cell(page: Page, r: Doc) -> str:
    status = r.get("status")
    if status == "withheld":
        return f'<span class="withheld-text">{esc(withheld_text(r))}</span>'
    if status != "estimated" or r.get("estimate") is None:
        return '<span aria-label="no estimate">—</span>'
    return (f'<span class="est">{esc(format_difference(r))}</span>'
            f'<span class="ci">{esc(ci_label(page.ci_level))} {esc(format_interval(r))}</span>')



def mcid_text(r: Doc) -> str:
    """Short MCID reading of a PROM result for the scorecard (``below MCID 10`` …)."""
    if r.get("status") != "estimated":
        return "—"
    m = r.get("mcid")
    if not m:
        if r.get("instrument") in PROM_INSTRUMENTS and r.get("kind") == "continuous":
            return "no MCID set"
        return "—"
    value = f"{m['mcid']:g}"
    if m.get("interval_beyond"):
        return f"beyond MCID {value}"
    if m.get("estimate_reaches"):
        return f"reaches MCID {value}"
    if m.get("interval_excludes"):
        return f"below MCID {value}"
    return f"MCID {value} not excluded"



def scorecard_section(page: Page) -> str:
    out = ['<section id="scorecard" aria-labelledby="scorecard-h">', '<h2 id="scorecard-h">Scorecard</h2>',
           ("<p>One table per comparison, one row per claim. The difference is treated minus control, adjusted "
           "for the covariates listed under Methods; risks and probabilities are in percentage points (pp). "
           "<strong>No important difference</strong>: the interval lies wholly within the smallest difference "
           "that matters to patients (the questionnaire's MCID) either way. Otherwise <strong>supported</strong> "
           "or <strong>contradicted</strong>: the difference is clear on the side the claim predicts, or on the "
           "other side, after allowing for the number of claims tested together (Benjamini–Hochberg adjusted "
           "p below 0.05); <strong>inconclusive</strong>: neither. Radiation is a harm, not a promise: its rows "
           "say <strong>less</strong> or <strong>more with MIS</strong>. <strong>Withheld</strong>: a diagnostic "
           "of the comparison failed, so the estimate is not shown. MCID: whether the difference reaches the "
           "minimal clinically important difference of the questionnaire. Select a metric for its figures.</p>")]
    for key in page.order:
        rows = [r for r in page.results if r["comparison"] == key]
        if not rows:
            continue
        cap_id = anchor("scorecard", key)
        body = []
        for r in rows:
            cls = {"withheld": ' class="row-withheld"', "estimated": ""}.get(str(r.get("status")), ' class="row-na"')
            notes = ""
            if r.get("status") not in ("estimated", "withheld") and r.get("notes"):
                notes = "".join(f'<span class="unit">{esc(n)}</span>' for n in r["notes"])
            body.append(
                f"<tr{cls}><td>{esc(r.get('promise'))}</td>"
                f'<th scope="row"><a href="#{anchor("claim", r["claim"], key)}">{esc(r.get("metric"))}</a>'
                f'<span class="unit">{esc(unit_text(r))}</span></th>'
                f"<td>{_estimate_cell(page, r)}</td><td>{badge(r)}{notes}</td>"
                f"<td>{esc(mcid_text(r))}</td>"
                f"<td>{_literature_cell(page, r)}</td></tr>")
        out.append(
            f'<h3 id="{anchor("scorecard-h", key)}">{esc(page.label(key))}</h3>'
            f'<div class="table-scroll" role="region" aria-labelledby="{cap_id}" tabindex="0">'
            f'<table class="scorecard"><caption id="{cap_id}" class="sr-only">{esc(page.label(key))}: difference '
            f"{esc(page.contrast(key))}</caption>"
            '<thead><tr><th scope="col">Promise</th><th scope="col">Metric</th>'
            f'<th scope="col">Clinic estimate ({esc(page.contrast(key))}) and {esc(ci_label(page.ci_level))}</th>'
            '<th scope="col">Verdict</th><th scope="col">MCID</th><th scope="col">Literature</th></tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")
    if page.has_literature:
        out.append('<p class="table-note">Literature: the published figure on the claim\'s own scale (MIS − open, '
                   "or MIS / open for a risk ratio) with its 95% CI, its size and quality label, and the literature's "
                   "verdict by the same rule as the clinic's; the superscript number is its reference. — means no "
                   "published figure on that scale: each claim's “What the published studies found” lists the "
                   "related findings, including those against the claim.</p>")
    else:
        out.append('<p class="table-note">Literature: — means not yet available; this column is filled by the '
                   "evidence engine (reserved).</p>")
    nm = page.doc.get("not_measured") or []
    if nm:
        items = "".join(f"<li><strong>{esc(x.get('promise'))}</strong>: {esc(x.get('what'))}</li>" for x in nm)
        out.append(f'<h3 id="not-measured">Claims we cannot measure yet</h3><ul>{items}</ul>')
    out.append("</section>")
    return "\n".join(out)



def _literature_cell(page: Page, r: Doc) -> str:
    lit = r.get("literature")
    if lit is None:
        return ('<span aria-hidden="true" title="filled by the evidence engine">—</span>'
                '<span class="sr-only">not yet available: filled by the evidence engine</span>')
    if not isinstance(lit, Mapping):
        return esc(lit)
    more = f'<a class="lit-more" href="#{anchor("literature", str(r["claim"]))}">published findings</a>'
    if lit.get("estimate") is None:
        scope = lit.get("scope")
        families = any(f.get("estimate") is not None for f in lit.get("by_family") or [])
        text = {"by_procedure_family": "by procedure family (no figure covers all families)" if families else
                "no published figure on this scale in any procedure family",
                "not_covered": "not studied: the literature compares MIS with open only"}.get(
            str(scope), "no published figure on this scale")
        link = more if scope != "not_covered" else ""
        return f'<span aria-hidden="true">—</span><span class="unit">{esc(text)}</span>{link}'
    value, interval = lit_value(lit)
    cites = "".join(page.ref(c) for c in lit.get("citations") or [])
    where = ('<span class="unit">mixed lumbar procedures</span>' if lit.get("scope") == "mixed_procedures" else "")
    return (f'<span class="lit-est">{esc(value)}</span>{cites}<span class="ci">95% CI {esc(interval)}</span>'
            f'<span class="unit">{esc(lit_size(lit))}</span>{where}{lit_badge(lit)}')
