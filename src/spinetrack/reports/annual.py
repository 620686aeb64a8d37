"""The annual registry report: one static, self-contained HTML page (and its PDF) from the
document of :func:`spinetrack.analysis.annual.annual_data`.

Sections, in order: summary; cohort and case mix; follow-up completeness per timepoint and site;
outcomes by diagnosis and by procedure family (MIS vs open); the funnel plots (one per
benchmarked outcome); the CUSUM charts (one per site); the claims scorecard summary; methods;
then a page per site (its own numbers, its points ringed on the funnel plots, its CUSUM chart).
Printed (A4, WeasyPrint), every section and every site page starts on a new page.

With ``site=CODE`` the page is a clinic's: its own site named, every other site "Site 1" …
"Site k" (:func:`spinetrack.analysis.annual.annual_view`). Every string taken from the
document is HTML-escaped; every number is formatted with its unit and its n, none is estimated
here. Cells of fewer than 5 patients arrive suppressed and are shown as "<5".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from spinetrack.reports._format import anchor, covariate_label, esc, fmt_count, fmt_number, fmt_share
from spinetrack.reports._style import CSS
from spinetrack.reports.benchmark_plots import FLAG_STYLE, cusum_svg, funnel_svg
from spinetrack.reports.methods import synthetic_note

__all__ = ["render_annual_html", "render_annual_pdf"]

Doc = Mapping[str, Any]
_CSS = """
.site-page { margin-top: 2rem; }
table.annual td.num { white-space: nowrap; }
table.annual .n { display: block; font-size: 0.8rem; color: #4d4d4d; }
.flag-alert { color: #8a4b08; font-weight: 700; }
.flag-alarm { color: #a4161a; font-weight: 700; }
.kpi { display: grid; grid-template-columns: repeat(auto-fill, minmax(14rem, 1fr)); gap: 0.6rem; margin: 0.8rem 0; }
.kpi div { border: 1px solid #d5dae0; border-radius: 0.4rem; padding: 0.5rem 0.7rem; }
.kpi strong { display: block; font-size: 1.3rem; }
@media print { .site-page { break-before: page; } .kpi { display: block; }
  .kpi div { display: inline-block; width: 32%; margin: 0 0 0.4rem; vertical-align: top; } }
"""
_SMALL = "&lt;5"
_SECTIONS = (("summary", "Summary"), ("cohort", "Cohort and case mix"), ("followup", "Follow-up completeness"),
             ("outcomes", "Outcomes by diagnosis and procedure"), ("funnels", "Risk-adjusted comparison of sites"),
             ("cusum", "Monitoring complications over time (CUSUM)"), ("scorecard", "Claims scorecard summary"),
             ("methods", "Methods"))


def render_annual_html(doc: Doc, *, site: str | None = None, for_print: bool = False) -> str:
    """Render the annual report as one self-contained HTML page (no scripts, no external resources).

    Parameters
    ----------
    doc : dict
        The document of :func:`spinetrack.analysis.annual.annual_data` (or a view of it,
        :func:`spinetrack.analysis.annual.annual_view`).
    site : str, optional
        A site code: the clinic's report (its site named, the others anonymised).
    for_print : bool, optional
        Figures as PNG images (for the PDF; WeasyPrint draws inline SVG element by element).

    Returns
    -------
    str
        The HTML document.

    Examples
    --------
    >>> page = render_annual_html({"year": 2024, "sites": [], "cohort": [], "followup": [],
    ...                            "outcomes": {"measures": [], "rows": []}, "benchmark": None})
    >>> page.startswith("<!DOCTYPE html>") and 'id="methods"' in page
    True
    """
    if for_print:
        from spinetrack.reports.svg import raster_figures

        with raster_figures():
            return render_annual_html(doc, site=site)
    if site is not None and (doc.get("view") or {}).get("own_site") != site:
        from spinetrack.analysis.annual import annual_view

        doc = annual_view(doc, own_site=site)
    own = (doc.get("view") or {}).get("own_site")
    year = doc.get("year")
    title = f"Spine registry annual report {esc(year)}" + (f" — {esc(own)}" if own else "")
    sites = [str(s) for s in doc.get("sites") or []]
    nav = "".join(f'<li><a href="#{a}">{t}</a></li>' for a, t in _SECTIONS)
    nav += "".join(f'<li><a href="#{anchor("site", s)}">Site page: {esc(s)}</a></li>' for s in sites)
    warn = synthetic_note(doc.get("snapshot") or {})
    banner = (f'<p class="banner" role="note"><strong>Synthetic data.</strong> {esc(warn)}</p>' if warn else "")
    body = [
        f"<header><h1>{title}</h1>",
        f'<p class="lede">Patients whose treatment started in {esc(year)} · data as of {esc(doc.get("as_of") or "—")}'
        f" · {len(sites)} sites.</p>{banner}",
        f'<nav class="toc" aria-label="Contents"><h2 class="sr-only">Contents</h2><ol>{nav}</ol></nav></header>',
        '<main id="main">',
        _summary(doc), _cohort(doc, sites), _followup(doc, sites), _outcomes(doc, None),
        _funnels(doc, own), _cusums(doc), _scorecard(doc), _methods(doc),
        *(_site_page(doc, s) for s in sites),
        "</main>",
        "<footer><p>Generated by spinetrack from an annual report document (schema version "
        f"{esc(doc.get('schema_version', ''))}). A static page: no scripts, no external resources.</p></footer>",
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{title}</title>\n<style>{CSS}{_CSS}</style>\n</head>\n<body>\n"
            '<a class="skip-link" href="#main">Skip to the summary</a>\n' + "\n".join(body) + "\n</body>\n</html>\n")


def render_annual_pdf(doc: Doc, path: str | Path, *, site: str | None = None) -> None:
    """Print the annual report to a PDF file (A4, WeasyPrint; figures as PNG; a page break
    before each section and each site page). Raises
    :class:`spinetrack.reports.pdf.ReportDependencyError` when WeasyPrint is missing."""
    from spinetrack.reports.pdf import write_pdf

    write_pdf(render_annual_html(doc, site=site, for_print=True), Path(path))


# ----------------------------------------------------------------------------- formatting


def _count(cell: Mapping[str, Any] | None) -> str:
    if not cell:
        return "—"
    return _SMALL if cell.get("suppressed") else fmt_count(cell.get("n"))


def _value(m: Mapping[str, Any], v: Mapping[str, Any] | None) -> str:
    """A mean (``26.4 points``, ``n = 128``) or a share (``8.5%``, ``14 of 165``)."""
    if not v or v.get("n") in (None, 0):
        return f'<span class="n">{_SMALL + " patients" if v and v.get("suppressed") else "no patients"}</span>'
    if m.get("kind") == "share" and v.get("bound") is not None:
        n = int(v["n"])
        if v["bound"] == "fewer_than_5":
            return (f'<span class="est">under {fmt_share(5 / n)}</span>'
                    f'<span class="n">{_SMALL} of {fmt_count(n)}</span>')
        return (f'<span class="est">over {fmt_share(1 - 5 / n)}</span>'
                f'<span class="n">over {fmt_count(n - 5)} of {fmt_count(n)}</span>')
    if m.get("kind") == "share":
        return (f'<span class="est">{fmt_share(v.get("value"))}</span>'
                f'<span class="n">{fmt_count(v.get("events"))} of {fmt_count(v.get("n"))}</span>')
    return (f'<span class="est">{fmt_number(v.get("mean"), 1)} {esc(m.get("unit"))}</span>'
            f'<span class="n">n = {fmt_count(v.get("n"))}, SD {fmt_number(v.get("sd"), 1)}</span>')


def _table(caption: str, head: Sequence[str], rows: Sequence[Sequence[str]], *, scope: str = "all") -> str:
    """A table with its caption; ``scope`` (the site page's key) keeps the caption's id unique."""
    cap = anchor("cap", scope, re.sub(r"<[^>]+>|&[a-z]+;", "", caption)[:40])
    th = "".join(f'<th scope="col"{" class=num" if i else ""}>{h}</th>' for i, h in enumerate(head))
    body = []
    for r in rows:
        cells = [f'<th scope="row">{r[0]}</th>']
        cells += [f'<td class="num">{c}</td>' for c in r[1:]]
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (f'<div class="table-scroll" role="region" aria-labelledby="{cap}" tabindex="0"><table class="annual">'
            f'<caption id="{cap}">{caption}</caption><thead><tr>{th}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _section(key: str, title: str, content: str) -> str:
    return f'<section id="{key}" aria-labelledby="{key}-h"><h2 id="{key}-h">{title}</h2>{content}</section>'


def _block(doc: Doc, site: str | None) -> Mapping[str, Any]:
    return next((b for b in doc.get("cohort") or [] if b.get("site") == site), {})


def _measure(doc: Doc, key: str) -> Mapping[str, Any]:
    return next((m for m in (doc.get("outcomes") or {}).get("measures") or [] if m.get("key") == key), {})


def _row(doc: Doc, dim: str, group: str, site: str | None) -> Mapping[str, Any]:
    return next((r for r in (doc.get("outcomes") or {}).get("rows") or []
                 if r.get("dimension") == dim and r.get("group") == group and r.get("site") == site), {})


# ----------------------------------------------------------------------------- sections


def _kpis(doc: Doc, site: str | None) -> str:
    block = _block(doc, site)
    total = _row(doc, "all", "all", site).get("values") or {}
    fu = next((c for c in doc.get("followup") or [] if c.get("site") == site and c.get("timepoint") == "12m"), None)
    items = [("Episodes of care", _count(block.get("episodes")), "patients whose treatment started this year"),
             ("Patients", _count(block.get("patients")), "")]
    if site is None and block.get("sites") is not None:
        items.append(("Sites", fmt_count(block.get("sites")), "taking part"))
    if fu is not None:
        items.append(("Questionnaires returned at 12 months", _fu_text(fu), "of those due by the data's date"))
    for key in ("any_complication", "odi_mcid_12m"):
        m = _measure(doc, key)
        v = total.get(key) or {}
        if m:
            items.append((str(m.get("label")), _value(m, v), ""))
    return '<div class="kpi">' + "".join(f"<div>{esc(k)}<strong>{v}</strong><span class='n'>{esc(n)}</span></div>"
                                         for k, v, n in items) + "</div>"


def _flags(doc: Doc, site: str | None = None) -> list[str]:
    out = []
    for o in (doc.get("benchmark") or {}).get("outcomes") or []:
        for u in o.get("units") or []:
            if u.get("suppressed") or u.get("flag") not in ("alert", "alarm"):
                continue
            if site is not None and u.get("label") != site:
                continue
            direction = {"worse": "worse than expected", "better": "better than expected"}.get(
                str(u.get("direction")), "outside the limits")
            out.append(f"{esc(u.get('label'))}: {esc(o.get('label'))} — <span class='flag-{esc(u.get('flag'))}'>"
                       f"{esc(u.get('flag'))}</span> ({direction}; {fmt_count(u.get('n'))} patients)")
    return out


def _summary(doc: Doc) -> str:
    flags = _flags(doc)
    bench = ("<p>Every site's results were within the expected range (no alert or alarm on the funnel plots).</p>"
             if doc.get("benchmark") and not flags else
             "<p>Sites outside the expected range on the funnel plots:</p><ul>"
             + "".join(f"<li>{f}</li>" for f in flags) + "</ul>" if flags else "<p>No benchmark was run.</p>")
    alarms = [(u.get("label"), a.get("date"), a.get("direction"))
              for u in ((doc.get("benchmark") or {}).get("cusum") or {}).get("units") or []
              for a in u.get("alarms") or []]
    cus = ("<p>CUSUM alarms: " + "; ".join(f"{esc(lab)} on {esc(d)} ({esc(dr)} than expected)"
                                          for lab, d, dr in alarms) + ".</p>") if alarms else (
        "<p>No CUSUM alarm this year.</p>" if doc.get("benchmark") else "")
    return _section("summary", "Summary", _kpis(doc, None) + bench + cus)


def _cohort(doc: Doc, sites: list[str]) -> str:
    head = ["", "All sites"] + [esc(s) for s in sites]
    blocks = [_block(doc, None)] + [_block(doc, s) for s in sites]
    rows: list[list[str]] = [["Episodes of care"] + [_count(b.get("episodes")) for b in blocks],
                             ["Patients"] + [_count(b.get("patients")) for b in blocks]]
    for key, label, unit in (("age_years", "Age", "years"), ("bmi", "BMI", "kg/m²")):
        rows.append([f"{label}, mean (SD), {unit}"] + [_mean_sd(b.get(key)) for b in blocks])
    names = {"sex": "Sex", "smoking": "Smoking", "diabetes": "Diabetes", "asa_grade": "ASA grade",
             "diagnosis_group": "Diagnosis", "treatment": "Treatment (procedure family, approach)"}
    for var, name in names.items():
        levels: dict[str, str] = {}
        for b in blocks:
            for c in (b.get("categories") or {}).get(var) or []:
                levels.setdefault(str(c["level"]), str(c.get("label", c["level"])))
        for level, label in levels.items():
            cells = []
            for b in blocks:
                c = next((c for c in (b.get("categories") or {}).get(var) or [] if c["level"] == level), None)
                total = (b.get("episodes") or {}).get("n")
                cells.append(_count_share(c, total))
            rows.append([f"{esc(name)}: {esc(label)}", *cells])
    return _section("cohort", "Cohort and case mix", (
        "<p>The patients whose treatment started this year (one row per episode of care), by site: numbers of "
        "patients with the share of the site's episodes in brackets.</p>"
        + _table("Case mix, numbers of episodes (share of the column)", head, rows)))


def _mean_sd(s: Mapping[str, Any] | None) -> str:
    if not s or not s.get("n"):
        return _SMALL if s and s.get("suppressed") else "—"
    return (f"{fmt_number(s.get('mean'), 1)} ({fmt_number(s.get('sd'), 1)})"
            f"<span class='n'>n = {fmt_count(s['n'])}</span>")


def _count_share(c: Mapping[str, Any] | None, total: Any) -> str:
    if c is None:
        return "0"
    if c.get("suppressed"):
        return _SMALL
    n = c.get("n")
    return f"{fmt_count(n)} ({fmt_share(n / total if total else None, 0)})"


def _fu_text(c: Mapping[str, Any]) -> str:
    if c.get("due") is None:
        return f"{_SMALL} due"
    due = int(c["due"])
    if c.get("bound") == "fewer_than_5":
        return f"{_SMALL} of {due:,}"
    if c.get("bound") == "all_but_fewer_than_5":
        return f"over {due - 5:,} of {due:,}"
    if not due:
        return "none due yet"
    return f"{fmt_count(c.get('returned'))} of {due:,} ({fmt_share(c.get('share'), 0)})"


def _followup(doc: Doc, sites: list[str], only: str | None = None) -> str:
    cells = doc.get("followup") or []
    tps = list(dict.fromkeys((c["timepoint"], c["label"]) for c in cells))
    cols: list[str | None] = [only] if only else [None, *sites]
    head = ["Timepoint"] + ["All sites" if s is None else esc(s) for s in cols]
    rows = []
    for tp, label in tps:
        row = [f"{esc(label)}<span class='n'>day {next(c['target_days'] for c in cells if c['timepoint'] == tp)}"
               "</span>"]
        for s in cols:
            c = next((c for c in cells if c["timepoint"] == tp and c.get("site") == s), None)
            row.append(_fu_text(c) if c else "—")
        rows.append(row)
    table = _table("Questionnaires returned of those due (share)", head, rows, scope=only or "all")
    if only:
        return table
    return _section("followup", "Follow-up completeness", (
        "<p>For each follow-up timepoint: how many of this year's patients returned a questionnaire, of those "
        "whose timepoint had come by the data's date (a timepoint is due when its day after the start of treatment "
        "lies on or before that date). Baseline is the questionnaire before treatment.</p>" + table))


def _outcome_table(doc: Doc, dim: str, site: str | None, caption: str) -> str:
    """One row per group of ``dim`` (diagnosis or procedure), one column per outcome."""
    measures = (doc.get("outcomes") or {}).get("measures") or []
    rows = [r for r in (doc.get("outcomes") or {}).get("rows") or []
            if r.get("dimension") == dim and r.get("site") == site]
    head = [("Diagnosis" if dim == "diagnosis" else "Procedure family, approach"), "Episodes"]
    head += [f"{esc(m['label'])}<span class='n'>{'share' if m['kind'] == 'share' else 'mean'}, "
             f"{esc(m['unit'])}</span>" for m in measures]
    body = [[esc(r["label"]), _count(r.get("episodes"))] + [_value(m, (r.get("values") or {}).get(m["key"]))
                                                           for m in measures] for r in rows]
    return _table(caption, head, body, scope=site or "all")


def _outcomes(doc: Doc, site: str | None) -> str:
    mcid = doc.get("mcid") or {}
    text = ("<p>Crude (not risk-adjusted) results of this year's patients. Shares are of the patients with the "
            "outcome recorded (numbers below each share); means come with their n and standard deviation (SD). "
            f"ODI improved by the MCID: at least {fmt_number(mcid.get('absolute'), 0)} points lower at 12 months "
            f"than before treatment ({esc(mcid.get('source'))}). Complications and readmissions count as none when "
            "none is recorded; reoperations are counted up to the data's date, so this year's figure is not yet "
            "complete. Compare MIS and open surgery within a procedure family: the patients differ, and the "
            "risk-adjusted comparison is the claims scorecard's.</p>")
    tables = (_outcome_table(doc, "diagnosis", site, "Outcomes by diagnosis")
              + _outcome_table(doc, "procedure", site, "Outcomes by procedure family and approach (MIS vs open)"))
    if site is not None:
        return tables
    return _section("outcomes", "Outcomes by diagnosis and procedure", text + tables)


def _unit_rows(o: Mapping[str, Any]) -> list[list[str]]:
    pct = o.get("unit") == "%"
    d = 1

    def val(x: Any) -> str:
        return "—" if x is None else (fmt_number(float(x) * 100, d) + "%" if pct else fmt_number(float(x), d))

    rows = []
    for u in o.get("units") or []:
        if u.get("suppressed"):
            rows.append([esc(u.get("label")) + (" (own)" if u.get("own") else ""), _SMALL, "—", "—", "—", "—",
                         "suppressed"])
            continue
        flag = str(u.get("flag") or "ok")
        word = FLAG_STYLE.get(flag, FLAG_STYLE["ok"])[2]
        rows.append([esc(u.get("label")) + (" (own)" if u.get("own") else ""), fmt_count(u.get("n")),
                     fmt_number(u.get("observed"), 1), fmt_number(u.get("expected"), 1),
                     f"{fmt_number(u.get('oe'), 2)} ({fmt_number(u.get('oe_low'), 2)} to "
                     f"{fmt_number(u.get('oe_high'), 2)})",
                     f"{val(u.get('adjusted'))} ({val(u.get('adjusted_low'))} to {val(u.get('adjusted_high'))})",
                     f"<span class='flag-{esc(flag)}'>{esc(word)}</span>"])
    return rows


def _funnel_block(o: Mapping[str, Any], highlight: str | None, suffix: str) -> str:
    svg = funnel_svg(o, highlight=highlight, fig_id=anchor("funnel", str(o.get("key")), suffix))
    pct = o.get("unit") == "%"
    obs = "events" if o.get("kind") == "binary" else f"mean, {esc(o.get('unit'))}"
    head = ["Site", "Patients", f"Observed ({obs})", f"Expected ({obs})", "Observed / expected (95% interval)",
            f"Risk-adjusted {'rate' if pct else 'mean'} (95% interval)", "Flag"]
    od = o.get("overdispersion") or {}
    cap = (f"<figcaption>{esc(o.get('label'))}: {fmt_count(o.get('n'))} patients; registry "
           f"{fmt_share(o.get('overall')) if pct else fmt_number(o.get('overall'), 1) + ' ' + esc(o.get('unit'))}; "
           f"{esc(o.get('better'))} is better. Overdispersion: {esc(od.get('method'))} — {esc(od.get('reason'))}"
           "</figcaption>")
    return (f'<figure class="wide">{svg}{cap}</figure>'
            + _table(f"{esc(o.get('label'))}: each site against the registry", head, _unit_rows(o)))


def _funnels(doc: Doc, own: str | None) -> str:
    bench = doc.get("benchmark")
    if not bench:
        return _section("funnels", "Risk-adjusted comparison of sites", "<p>No benchmark in this document.</p>")
    intro = ("<p><strong>How to read a funnel plot.</strong> Each point is a site: across, how many patients (or "
             "expected events) its figure rests on; up, its risk-adjusted result. The horizontal line is the whole "
             "registry. The funnel-shaped lines are the range a site's result would be expected to fall in by chance "
             "alone: the inner (dashed) lines hold 95% of such results, the outer (dotted) lines 99.8%. Small sites "
             "sit to the left where the funnel is wide, because a few patients more or less move their figure a lot. "
             "A site outside the inner lines is an <em>alert</em> (triangle), outside the outer lines an "
             "<em>alarm</em> (square): worth a closer look, not a verdict. Sites with fewer than 5 patients are not "
             "drawn.</p>")
    blocks = [f'<h3 id="{anchor("funnel-h", str(o.get("key")))}">{esc(o.get("label"))}</h3>'
              + _funnel_block(o, own, "all") for o in bench.get("outcomes") or []]
    return _section("funnels", "Risk-adjusted comparison of sites", intro + "".join(blocks))


def _cusum_block(doc: Doc, u: Mapping[str, Any], suffix: str) -> str:
    c = (doc.get("benchmark") or {}).get("cusum") or {}
    svg = cusum_svg(u, h_worse=float(c.get("h_worse") or 0), h_better=float(c.get("h_better") or 0),
                    fig_id=anchor("cusum", str(u.get("label")), suffix),
                    outcome_label=str(c.get("outcome", "complications")).replace("_", " "))
    alarms = u.get("alarms") or []
    text = ("no alarm" if not alarms else "; ".join(f"alarm on {esc(a.get('date'))} ({esc(a.get('direction'))} than "
                                                     "expected)" for a in alarms))
    return (f'<figure class="wide">{svg}<figcaption>{esc(u.get("label"))}: {fmt_count(u.get("n"))} operations; '
            f"{text}.</figcaption></figure>")


def _cusums(doc: Doc) -> str:
    c = (doc.get("benchmark") or {}).get("cusum")
    if not c:
        return _section("cusum", "Monitoring complications over time (CUSUM)", "<p>No CUSUM in this document.</p>")
    intro = ("<p><strong>How to read a CUSUM chart.</strong> Each operation moves the line: up a little when a "
             "patient has a complication that the risk model thought unlikely, down a little when an expected "
             "complication does not happen. The red line above zero builds up evidence that results are worse than "
             "expected, the green line below zero that they are better; both restart at zero when the evidence "
             "fades. Crossing a dashed control limit raises an alarm (marked with its date), after which the chart "
             "restarts. The limits are set so that a site performing exactly as expected would raise a false alarm "
             f"only once in about {fmt_count(c.get('arl0'))} operations on average.</p>")
    return _section("cusum", "Monitoring complications over time (CUSUM)",
                    intro + "".join(_cusum_block(doc, u, "all") if not u.get("suppressed") else
                                    f"<p>{esc(u.get('label'))}: fewer than 5 operations, no chart.</p>"
                                    for u in c.get("units") or []))


def _scorecard(doc: Doc) -> str:
    sc = doc.get("scorecard")
    if not sc:
        return _section("scorecard", "Claims scorecard summary",
                        "<p>No claims scorecard was given (run <code>spinetrack analyze --save</code>).</p>")
    counts = ", ".join(f"{n} {esc(str(k).replace('_', ' '))}" for k, n in (sc.get("counts") or {}).items())
    rows = []
    for r in sc.get("rows") or []:
        if r.get("status") != "estimated":
            est = f"withheld: {esc(', '.join(r.get('withheld_because') or [])) or 'not estimated'}"
        else:
            pct = r.get("unit") in ("risk", "share", "probability")
            s = 100.0 if pct else 1.0
            u = "percentage points" if pct else esc(r.get("unit"))
            est = (f"{fmt_number((r.get('estimate') or 0) * s, 1, sign=True)} {u} "
                   f"({fmt_number((r.get('ci_low') or 0) * s, 1, sign=True)} to "
                   f"{fmt_number((r.get('ci_high') or 0) * s, 1, sign=True)})")
        rows.append([esc(r.get("metric")), esc(r.get("comparison_label")), est,
                     esc(str(r.get("verdict") or r.get("status") or "").replace("_", " "))])
    text = (f"<p>The claims made for minimally invasive surgery, checked on the registry's patients of every year "
            f"(analysis of {esc(sc.get('created_at') or '—')}, {esc(sc.get('estimand'))} weights): {counts}. "
            "Differences are MIS minus the comparator with their 95% confidence interval.</p>")
    return _section("scorecard", "Claims scorecard summary",
                    text + _table("Claims scorecard", ["Claim", "Comparison", "Difference (95% CI)", "Verdict"], rows))


def _methods(doc: Doc) -> str:
    bench = doc.get("benchmark") or {}
    od_rows = []
    for o in bench.get("outcomes") or []:
        od = o.get("overdispersion") or {}
        model = o.get("model") or {}
        covariates = [covariate_label(str(c)) for c in model.get("covariates") or []]
        od_rows.append([esc(o.get("label")), esc(", ".join(covariates)) or "—",
                        esc(od.get("method")), fmt_number(od.get("phi"), 2), fmt_number(od.get("tau2"), 4),
                        fmt_number(od.get("p_value"), 3), esc(od.get("reason"))])
    c = bench.get("cusum") or {}
    min_cell = doc.get("min_cell", 5)
    parts = [
        "<h3>Cohort and outcomes</h3><p>The cohort is every episode of care whose index date (the operation, or the "
        "start of conservative care) falls in the year. Outcomes are defined as on the claims scorecard: the same "
        "columns of the same analysis table.</p>",
        "<h3>Risk model and indirect standardisation</h3><p>For each outcome a registry-wide model (logistic "
        "regression for events, linear regression for days) on the case-mix covariates gives each patient an "
        "expected value. A site's observed total is compared with the sum of its patients' expected values "
        "(indirect standardisation): observed / expected (O/E) above 1 means more events than its case mix "
        "predicts. The risk-adjusted rate is O/E times the registry rate; the risk-adjusted mean is the site's "
        "observed mean minus its expected mean plus the registry mean.</p>",
        "<h3>Funnel limits and overdispersion</h3><p>Control limits at 95% and 99.8% around the registry value, as a "
        "function of each site's precision (Spiegelhalter 2005). When sites differ more than chance allows "
        "(overdispersion, tested with the winsorised z-scores' chi-square), the limits are widened: "
        "multiplicatively (φ) or with an additive between-site variance (τ²), as the paper describes. The method "
        "chosen for each outcome and why:</p>"
        + _table("Risk models and overdispersion", ["Outcome", "Covariates", "Overdispersion", "φ", "τ²", "p-value",
                                                     "Why"], od_rows),
        (f"<h3>CUSUM</h3><p>Risk-adjusted CUSUM of {esc(str(c.get('outcome', '')).replace('_', ' '))} (Steiner et al. "
         f"2000): log-likelihood-ratio scores testing odds ratio {fmt_number(c.get('odds_ratio_worse'), 1)} (worse) "
         f"and {fmt_number(c.get('odds_ratio_better'), 1)} (better) against 1, each patient's risk from the risk "
         f"model. Control limits h = {fmt_number(c.get('h_worse'), 2)} (worse) and "
         f"{fmt_number(c.get('h_better'), 2)} (better), chosen for an in-control average run length of "
         f"{fmt_count(c.get('arl0'))} operations; the chart restarts at zero after an alarm.</p>") if c else "",
        f"<h3>Small cells</h3><p>Counts of 1 to {int(min_cell) - 1} patients are shown as “&lt;{int(min_cell)}”, and "
        f"no mean or share is shown for fewer than {int(min_cell)} patients (the registry's small-cell rule, as in "
        "its aggregates API). A share or a follow-up count that would give away fewer than 5 patients with or "
        "without the event (or the questionnaire) is bounded instead (“under 9.1%”, “&lt;5 of 55”). In the case "
        "mix, where a hidden count could be worked out from the totals, a second count is hidden with it. Sites "
        "with fewer than 5 patients are left off the funnel plots.</p>",
        "<h3>References</h3><ol><li>Spiegelhalter DJ. Funnel plots for comparing institutional performance. Stat "
        "Med 2005;24(8):1185-1202.</li><li>Steiner SH, Cook RJ, Farewell VT, Treasure T. Monitoring surgical "
        "performance using risk-adjusted cumulative sum charts. Biostatistics 2000;1(4):441-452.</li></ol>",
    ]
    return _section("methods", "Methods", "".join(parts))


def _site_page(doc: Doc, site: str) -> str:
    key = anchor("site", site)
    bench = doc.get("benchmark") or {}
    flags = _flags(doc, site)
    funnels = "".join(
        f"<h4>{esc(o.get('label'))}</h4><figure class=\"wide\">"
        f"{funnel_svg(o, highlight=site, fig_id=anchor('funnel', str(o.get('key')), key))}</figure>"
        for o in bench.get("outcomes") or [])
    cus = next((u for u in (bench.get("cusum") or {}).get("units") or []
                if u.get("label") == site and not u.get("suppressed")), None)
    parts = [
        _kpis(doc, site),
        ("<p>On the funnel plots: " + "; ".join(flags) + ".</p>") if flags else (
            "<p>Within the expected range on every funnel plot.</p>" if bench else ""),
        "<h3>Follow-up completeness</h3>", _followup(doc, [], only=site),
        "<h3>Outcomes</h3>", _outcomes(doc, site),
        "<h3>Against the registry</h3>" + funnels if funnels else "",
        "<h3>Complications over time</h3>" + _cusum_block(doc, cus, key) if cus else "",
    ]
    return (f'<section id="{key}" class="site-page" aria-labelledby="{key}-h"><h2 id="{key}-h">Site page: '
            f"{esc(site)}</h2>{''.join(parts)}</section>")
