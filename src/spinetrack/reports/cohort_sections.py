"""The cohort flow (the episodes left after each filter of every comparison, and the questionnaires
returned per timepoint as a table: the counts say it without a chart) and the covariate
balance (standardised mean differences before and after weighting, with the diagnostics that
decide whether a comparison's estimates are shown; overlap is reported as the share of each arm
in empirical equipoise) of the report."""

from __future__ import annotations

from typing import Any

from spinetrack.reports import figures
from spinetrack.reports._format import (
    MIN_CELL,
    anchor,
    covariate_label,
    esc,
    fmt_count,
    fmt_followup,
    fmt_number,
    fmt_patients,
    fmt_share,
    timepoint_label,
)
from spinetrack.reports._page_doc import (
    Page,
)

__all__ = ["balance_section", "cohort_section"]


def cohort_section(page: Page) -> str:
    out = ['<section id="cohort" aria-labelledby="cohort-h">', '<h2 id="cohort-h">Cohort flow</h2>',
           ("<p>Who was analysed in each comparison, and who returned the questionnaires at each timepoint. Each "
           "claim then keeps the patients with its outcome recorded (the “n treated / control” column of its "
           f"table). Counts of patients from 1 to {MIN_CELL - 1} are shown as “&lt;{MIN_CELL}” (the registry's "
           "small-cell rule), and a share that would give one away is bounded instead.</p>")]
    for key in page.order:
        comp = page.comparisons.get(key)
        if not comp:
            continue
        arms = page.arms(key)
        t, c = esc(arms["treated"].label), esc(arms["control"].label)
        att = "".join(f'<tr><th scope="row">{esc(a.get("description"))}</th>'
                      + "".join(f'<td class="num">{esc(fmt_patients(a.get(arm)))}</td>'
                                for arm in ("n_treated", "n_control")) + "</tr>"
                      for a in comp.get("attrition") or [])
        out.append(f'<h3 id="{anchor("cohort", key)}">{esc(page.label(key))}</h3>')
        out.append(f'<div class="pair"><div class="table-scroll keep"><table><caption>Attrition: patients, eligible, '
                   f'analysed</caption><thead><tr><th scope="col">Step</th><th scope="col" class="num">{t}</th>'
                   f'<th scope="col" class="num">{c}</th></tr></thead><tbody>{att}</tbody></table></div>')
        fu = comp.get("followup") or []
        if fu:
            rows = "".join(
                f'<tr><th scope="row">{esc(timepoint_label(f["timepoint"]))}</th>'
                + "".join(f'<td class="num">{esc(cell)}</td>' for arm in ("treated", "control")
                          for cell in fmt_followup(f.get(f"returned_{arm}"), f.get(f"population_{arm}"),
                                                   f.get(f"lost_{arm}")))
                + "</tr>" for f in fu)
            out.append(
                '<div class="table-scroll keep"><table><caption>Questionnaires returned per timepoint</caption><thead>'
                f'<tr><th scope="col">Timepoint</th><th scope="col" class="num">{t}: returned</th>'
                f'<th scope="col" class="num">{t}: lost</th><th scope="col" class="num">{c}: returned</th>'
                f'<th scope="col" class="num">{c}: lost</th></tr></thead><tbody>{rows}</tbody></table></div></div>')
        else:
            out.append("</div>")
    out.append("</section>")
    return "\n".join(out)


# ---------------------------------------------------------------------------------- balance


def _pass_fail(value: Any) -> str:
    v = str(value)
    cls = {"PASS": "pass", "FAIL": "fail"}.get(v, "muted")
    return f'<span class="{cls}">{esc(v)}</span>'


def balance_section(page: Page) -> str:
    out = ['<section id="balance" aria-labelledby="balance-h">', '<h2 id="balance-h">Balance and overlap</h2>',
           ("<p>Weighting should make the arms alike in every covariate (absolute standardised mean difference "
           "below the threshold), and the propensity scores of the arms should overlap. A failed diagnostic "
           "that gates results withholds the comparison's estimates from the scorecard.</p>")]
    panels: list[figures.BalancePanel] = []
    for key in page.order:
        comp = page.comparisons.get(key)
        if not comp:
            continue
        arms = page.arms(key)
        diag = comp.get("diagnostics") or {}
        before, after = comp.get("balance_before") or {}, comp.get("balance_after") or {}
        threshold = float(after.get("threshold") or before.get("threshold") or 0.1)
        gating = set(diag.get("failed") or [])
        rows = [
            ("Balance: max |SMD| after weighting", (f"{fmt_number(diag.get('max_abs_smd_after'), 3)} "
             f"(before {fmt_number(diag.get('max_abs_smd_before'), 3)}; threshold {threshold:g})"),
             _pass_fail(diag.get("balance")) + (" — withholds estimates" if "balance" in gating else "")),
            ("Equipoise: share of each arm in empirical equipoise",
             (f"{esc(arms['treated'].label)} {fmt_share(diag.get('equipoise_share_treated'))}, "
             f"{esc(arms['control'].label)} {fmt_share(diag.get('equipoise_share_control'))}"),
             _pass_fail(diag.get("equipoise")) + (
                 " — withholds estimates" if "equipoise" in gating else
                 " — reported; does not withhold estimates" if diag.get("equipoise") == "FAIL" else "")),
            ("Effective sample size after weighting",
             (f"{esc(arms['treated'].label)} {fmt_count(diag.get('ess_treated'))} of "
             f"{esc(fmt_patients(after.get('n_treated')))}, {esc(arms['control'].label)} "
             f"{fmt_count(diag.get('ess_control'))} of {esc(fmt_patients(after.get('n_control')))}"), "reported"),
        ]
        table = "".join(f'<tr><th scope="row">{a}</th><td>{b}</td><td>{c}</td></tr>' for a, b, c in rows)
        bid = anchor("balance", key)
        out.append(f'<h3 id="{bid}">{esc(page.label(key))}</h3>')
        out.append(f'<div class="table-scroll keep"><table><caption>Diagnostics</caption><thead><tr><th scope="col">'
                   'Diagnostic</th><th scope="col">Value</th><th scope="col">Result</th></tr></thead>'
                   f"<tbody>{table}</tbody></table></div>")
        if before.get("rows"):
            panels.append(figures.BalancePanel(page.label(key), before["rows"], after.get("rows") or [], threshold))
    if panels:
        out.append(_love_figure(panels))
    out.append("</section>")
    return "\n".join(out)


def _love_figure(panels: list[figures.BalancePanel]) -> str:
    """One love plot for every comparison (the covariates named once), and its data as a table."""
    names = list(dict.fromkeys(r["name"] for p in panels for r in p.before))
    labels = {k: covariate_label(k) for k in names}
    thresholds = ", ".join(f"{t:g}" for t in sorted({p.threshold for p in panels}))
    svg = figures.love_plot(
        panels, labels=labels, fig_id="fig-love",
        title="Covariate balance before and after weighting, one panel per comparison",
        desc=(f"Love plot: absolute standardised mean difference of {len(names)} covariates before (open circles) "
              f"and after (filled squares) weighting, one panel per comparison "
              f"({', '.join(p.label for p in panels)}); dashed line at the balance threshold ({thresholds}). "
              "The covariate table follows."))
    smd = [({r["name"]: r["smd"] for r in p.before}, {r["name"]: r["smd"] for r in p.after}) for p in panels]
    head = "".join(f'<th scope="col" class="num">{esc(p.label)}: before</th><th scope="col" class="num">after</th>'
                   for p in panels)
    trs = "".join(f'<tr><th scope="row">{esc(labels[k])}</th>'
                  + "".join(f'<td class="num">{fmt_number(b.get(k), 3)}</td><td class="num">{fmt_number(a.get(k), 3)}'
                            "</td>" for b, a in smd) + "</tr>" for k in names)
    return ('<h3 id="balance-covariates">Covariate balance, every comparison</h3>'
            f'<figure class="wide"><div>{svg}</div><figcaption>|SMD| per covariate and comparison; dashed: the '
            f"threshold ({esc(thresholds)}).</figcaption><details><summary>Covariate table</summary>"
            '<div class="table-scroll"><table><caption>Standardised mean differences before and after weighting'
            f'</caption><thead><tr><th scope="col">Covariate</th>{head}</tr></thead><tbody>{trs}</tbody></table>'
            "</div></details></figure>")
