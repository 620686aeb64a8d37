"""The claims one by one: for each claim the table of every comparison's adjusted and naive
difference with the sensitivity analyses (the adjusted interval drawn beside it on one axis, in
HTML and CSS: no figure to render), a second table per
comparison (weighted values per arm, E-value, MCID reading) and, where they apply, the weighted
Kaplan–Meier curves and the questionnaire trajectories (drawn once per questionnaire: the claims
on the same questionnaire at other timepoints point to it), then what the published studies found
where they have a figure on the claim's own scale or a finding against it.

A ``withheld`` result never shows its estimate, its verdict or its outcome curves.
"""

from __future__ import annotations

from collections.abc import Sequence

from spinetrack.instruments.registry import display_field
from spinetrack.instruments.registry import get as get_instrument
from spinetrack.reports import figures
from spinetrack.reports._format import (
    anchor,
    ci_label,
    esc,
    fmt_number,
    fmt_patients,
    fmt_share,
    format_interval,
    format_value,
    instrument_short,
    instrument_title,
    is_percent_unit,
    timepoint_label,
    timepoint_order,
    unit_label,
    unit_scale,
)
from spinetrack.reports._page_doc import (
    PROM_INSTRUMENTS,
    Doc,
    Page,
    badge,
    unit_text,
    withheld_text,
)
from spinetrack.reports.evidence_sections import literature_block
from spinetrack.reports.interval_png import interval_img
from spinetrack.reports.scorecard_section import mcid_text
from spinetrack.reports.svg import printing

__all__ = ["claims_section", "evalue_text"]

_DECIMALS: dict[str, int] = display_field("decimals")  # instrument code → decimals of its scores


def _triple(r: Doc, e: Doc | None) -> tuple[float, float, float] | None:
    if not e or e.get("estimate") is None or e.get("ci_low") is None or e.get("ci_high") is None:
        return None
    s = unit_scale(r.get("unit"))
    return (float(e["estimate"]) * s, float(e["ci_low"]) * s, float(e["ci_high"]) * s)


def claims_section(page: Page) -> str:
    out = ['<section id="claims" aria-labelledby="claims-h">', '<h2 id="claims-h">The claims one by one</h2>',
           ("<p>For each claim: the adjusted estimate of every comparison beside the naive (unadjusted) difference "
           "and the sensitivity analyses, then per comparison the weighted value of each arm, the E-value and, for "
           "a questionnaire score, the MCID reading, and where they apply the weighted Kaplan–Meier curves or "
           "questionnaire trajectories. The comparisons a claim does not apply to are named under its table "
           "(n/a in the summary).</p>"),
           ('<p class="note">E-value: the risk ratio an unmeasured confounder would need with both treatment and '
            "outcome to explain the estimate away; for its interval, to move the interval to include no "
            "difference.</p>")]
    drawn: dict[str, str] = {}  # instrument → the claim whose section shows its trajectories
    for claim_key, rs in page.claims.items():
        out.append(_claim_section(page, claim_key, rs, drawn))
    out.append("</section>")
    return "\n".join(out)


def _claim_section(page: Page, claim_key: str, rs: Sequence[Doc], drawn: dict[str, str]) -> str:
    first = rs[0]
    better = str(first.get("better", "lower"))
    sec_id = anchor("claim", claim_key)
    direction = "below" if better == "lower" else "above"
    metric = str(first.get("metric", claim_key))
    return "\n".join([
        f'<section id="{sec_id}" aria-labelledby="{sec_id}-h">',
        f'<h3 id="{sec_id}-h">{esc(str(first.get("promise", "")).capitalize())}: {esc(metric)}</h3>',
        (f'<p class="intro">The claim is supported by a difference {direction} 0 '
        f"({'lower' if better == 'lower' else 'higher'} with the treated arm); {esc(unit_text(first))}.</p>"),
        _claim_table(page, rs),
        _detail_table(page, rs),
        _panels_figure(page, rs, drawn),
        literature_block(page, claim_key, rs),
        "</section>"])


def _claim_table(page: Page, rs: Sequence[Doc]) -> str:
    has_aipw = any(r.get("aipw") for r in rs if r.get("status") == "estimated")
    has_ipcw = any(r.get("ipcw") for r in rs if r.get("status") == "estimated")
    has_rr = any(r.get("risk_ratio") for r in rs if r.get("status") == "estimated")
    lvl = esc(ci_label(page.ci_level))
    unit = esc(unit_label(rs[0].get("unit")))
    head = ['<th scope="col">Comparison</th>', '<th scope="col" class="num">n treated / control</th>',
            f'<th scope="col">Adjusted, {unit} ({lvl})</th>', f'<th scope="col">Naive, {unit}</th>']
    aow = any("augmented overlap" in str((r.get("aipw") or {}).get("method")) for r in rs)
    dr = "Augmented overlap weighting" if aow else "AIPW, ATE"
    head += [f'<th scope="col">{dr} ({lvl})</th>'] if has_aipw else []
    head += [f'<th scope="col">IPCW ({lvl})</th>'] if has_ipcw else []
    head += [f'<th scope="col">Risk ratio ({lvl})</th>'] if has_rr else []
    head += ['<th scope="col">Verdict</th>',
             '<th scope="col">Adjusted, drawn <span class="unit">dashed: 0; green: the claimed side</span></th>']
    axis = _axis(rs)
    body = []
    not_applicable = [r for r in rs if r.get("status") == "not applicable"]
    for r in rs:
        if r.get("status") == "not applicable":  # named once under the table
            continue
        label = f'<th scope="row">{esc(page.label(r["comparison"]))}</th>'
        row_id = f' id="{anchor("claim", r["claim"], r["comparison"])}"'
        att = (r.get("attrition") or [{}])[-1]
        n = f"{esc(fmt_patients(att.get('n_treated')))} / {esc(fmt_patients(att.get('n_control')))}" if att else "—"
        if r.get("status") != "estimated":
            text = withheld_text(r) if r.get("status") == "withheld" else "—"
            span = 2 + has_aipw + has_ipcw + has_rr
            body.append(f"<tr{row_id}>{label}<td class=\"num\">{n}</td><td colspan=\"{span}\">{esc(text)}</td>"
                        f"<td>{badge(r)}</td><td></td></tr>")
            continue
        cells = [f"{esc(format_value(r, r.get('estimate'), with_unit=False))} "
                 f'<span class="ci">({esc(format_interval(r))})</span>',
                 esc(format_value(r, r.get("naive_difference"), with_unit=False))]
        for flag, key in ((has_aipw, "aipw"), (has_ipcw, "ipcw")):
            if flag:
                e = r.get(key)
                cells.append(f"{esc(format_value(r, e['estimate'], with_unit=False))} "
                             f'<span class="ci">({esc(format_interval(r, e["ci_low"], e["ci_high"]))})</span>'
                             if e else "—")
        if has_rr:
            rr = r.get("risk_ratio")
            cells.append(f'{fmt_number(rr["estimate"], 2)} <span class="ci">({fmt_number(rr["ci_low"], 2)} to '
                         f"{fmt_number(rr['ci_high'], 2)})</span>" if rr else "—")
        body.append(f"<tr{row_id}>{label}<td class=\"num\">{n}</td>" + "".join(f"<td>{c}</td>" for c in cells)
                    + f"<td>{badge(r)}</td><td>{_drawn(r, axis)}</td></tr>")
    cap = anchor("claim-table", rs[0]["claim"])
    na = ("" if not not_applicable else
          '<p class="table-note">Not applicable to ' + ", ".join(
              f'<span id="{anchor("claim", r["claim"], r["comparison"])}">{esc(page.label(r["comparison"]))}</span>'
              for r in not_applicable) + ".</p>")
    return (f'<div class="table-scroll keep" role="region" aria-labelledby="{cap}" tabindex="0"><table class="claim">'
            f'<caption id="{cap}">Estimates by comparison (treated − control)</caption>'
            f"<thead><tr>{''.join(head)}</tr></thead><tbody>{''.join(body)}</tbody></table></div>{na}")


def _axis(rs: Sequence[Doc]) -> tuple[float, float, str] | None:
    """The common axis of a claim's drawn intervals: its lowest and highest value (0 included) on
    the displayed scale, and the claimed side (``lower`` or ``higher``)."""
    values = [0.0]
    for r in rs:
        if r.get("status") == "estimated":
            t = _triple(r, r)
            if t is not None:
                values += list(t)
    lo, hi = min(values), max(values)
    if not hi > lo:
        return None
    pad = (hi - lo) * 0.04
    return lo - pad, hi + pad, str(rs[0].get("better", "lower"))


def _drawn(r: Doc, axis: tuple[float, float, str] | None) -> str:
    """The adjusted interval drawn in HTML and CSS (no figure to render: the table gives the numbers,
    so the drawing is hidden from screen readers); on the page to print, the same as a small PNG
    (:mod:`spinetrack.reports.interval_png`)."""
    t = _triple(r, r)
    if axis is None or t is None:
        return ""
    lo, hi, better = axis
    if printing():
        est, low, high, zero = ((x - lo) / (hi - lo) for x in (*t, 0.0))
        return interval_img(est, low, high, zero, claimed_below=better == "lower")

    def at(x: float) -> float:
        return round(100.0 * (x - lo) / (hi - lo), 2)

    zero = at(0.0)
    claim = (f'<span class="fp-claim" style="left:0;width:{zero}%"></span>' if better == "lower" else
             f'<span class="fp-claim" style="left:{zero}%;right:0"></span>')
    return (f'<span class="fp" aria-hidden="true">{claim}<span class="fp-zero" style="left:{zero}%"></span>'
            f'<span class="fp-ci" style="left:{at(t[1])}%;width:{max(at(t[2]) - at(t[1]), 0.5)}%"></span>'
            f'<span class="fp-pt" style="left:{at(t[0])}%"></span></span>')


def evalue_short(r: Doc) -> str:
    """The E-value of a result and that of its interval, as a table cell (``3.29; interval 1``)."""
    ev = r.get("e_value")
    if not ev or ev.get("e_value") is None:
        return "not computed"
    e, eci = float(ev["e_value"]), ev.get("e_value_ci")
    text = _ev(e)
    if eci is not None:
        text += f"; interval {_ev(float(eci))}" + (" (includes no difference)" if float(eci) <= 1.0 else "")
    return text


def evalue_text(r: Doc) -> str:
    """The E-value sentence of a result (plain text)."""
    ev = r.get("e_value")
    if not ev or ev.get("e_value") is None:
        return "No E-value was computed for this estimate."
    e, eci = float(ev["e_value"]), ev.get("e_value_ci")
    if e <= 1.0:
        return "E-value 1: the estimate shows no association that confounding would need to explain away."
    text = (f"An unmeasured confounder would need RR ≥ {_ev(e)} with both treatment and outcome to explain this "
            "away")
    if eci is None:
        return text + "."
    if float(eci) <= 1.0:
        return text + "; the interval already includes no difference."
    return text + f"; ≥ {_ev(float(eci))} to move the interval to include no difference."


def _ev(x: float) -> str:
    return "∞" if x == float("inf") else f"{x:.2f}"


def _mcid_sentence(r: Doc) -> str:
    m = r.get("mcid")
    if not m or r.get("status") != "estimated":
        return ""
    value = f"{m['mcid']:g}"
    if m.get("interval_beyond"):
        reading = "the whole interval lies beyond the MCID in the claimed direction"
    elif m.get("estimate_reaches"):
        reading = "the estimate reaches the MCID, but the interval includes smaller differences"
    elif m.get("interval_excludes"):
        reading = "the whole interval lies within ± the MCID: no clinically important difference"
    else:
        reading = "the interval does not rule out a difference as large as the MCID"
    return f"MCID {value} points: {reading}."


def _arm_values(page: Page, r: Doc) -> str:
    e = r.get("effect") or {}
    arms = page.arms(r["comparison"])
    t, c = arms["treated"].label, arms["control"].label
    mt, mc = e.get("mean_treated"), e.get("mean_control")
    if mt is None or mc is None:
        return ""
    if r.get("kind") == "time_to_event":
        if is_percent_unit(r.get("unit")):
            return (f"Kaplan–Meier at {esc(r.get('horizon_days'))} days: {esc(t)} {fmt_share(mt)}, "
                    f"{esc(c)} {fmt_share(mc)}")
        return (f"restricted mean to {esc(r.get('horizon_days'))} days: {esc(t)} "
                f"{fmt_number(mt, 1)}, {esc(c)} {fmt_number(mc, 1)} {esc(r.get('unit'))}")
    if is_percent_unit(r.get("unit")):
        return f"{esc(r.get('unit'))}: {esc(t)} {fmt_share(mt)}, {esc(c)} {fmt_share(mc)}"
    d = 3 if r.get("unit") == "index" else 1
    return f"means: {esc(t)} {fmt_number(mt, d)}, {esc(c)} {fmt_number(mc, d)} {esc(r.get('unit'))}"


def _detail_table(page: Page, rs: Sequence[Doc]) -> str:
    """Per comparison: the weighted value of each arm, the E-value and, for a questionnaire score,
    the MCID reading (estimated rows only; withheld rows show nothing of their estimate)."""
    shown = [r for r in rs if r.get("status") == "estimated"]
    if not shown:
        return ""
    has_mcid = any(r.get("mcid") for r in shown)
    head = ('<th scope="col">Comparison</th><th scope="col">Weighted value per arm</th>'
            '<th scope="col">E-value; of the interval</th>'
            + ('<th scope="col">MCID reading</th>' if has_mcid else ""))
    body = []
    for r in shown:
        cells = [_arm_values(page, r) or "—", esc(evalue_short(r))]
        if has_mcid:
            why = f'<span class="unit">{_mcid_sentence(r)}</span>' if r.get("mcid") else ""
            cells.append(esc(mcid_text(r)) + why)
        body.append(f'<tr><th scope="row">{esc(page.label(r["comparison"]))}</th>'
                    + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    cap = anchor("claim-detail", rs[0]["claim"])
    return (f'<div class="table-scroll keep" role="region" aria-labelledby="{cap}" tabindex="0"><table class="detail">'
            f'<caption id="{cap}">Arms, confounding and clinical importance by comparison</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")


def _applicable(rs: Sequence[Doc]) -> list[Doc]:
    """The comparisons a claim applies to: no empty panel for the others (named under the claim's
    table)."""
    return [r for r in rs if r.get("status") != "not applicable"]


def _panel_message(r: Doc) -> str | None:
    if r.get("status") == "withheld":
        return withheld_text(r)
    if r.get("status") != "estimated":
        return str(r.get("status"))
    return None


def _panels_figure(page: Page, rs: Sequence[Doc], drawn: dict[str, str]) -> str:
    """Kaplan–Meier panels for a time-to-event claim; trajectory panels for the first claim on a
    questionnaire, and a pointer to them for the others (the same curves, not drawn twice)."""
    first = rs[0]
    if first.get("kind") == "time_to_event" and any(r.get("curves") for r in rs):
        return _km_figure(page, rs)
    inst = first.get("instrument")
    if inst in PROM_INSTRUMENTS:
        if inst in drawn:
            other = drawn[inst]
            metric = next((str(x[0].get("metric")) for k, x in page.claims.items() if k == other), other)
            return (f'<p class="note">The weighted {esc(instrument_title(str(inst)))} of each arm over time is drawn '
                    f'with <a href="#{anchor("fig-traj", other)}">{esc(metric)}</a>.</p>')
        figure = _trajectory_figure(page, rs)
        if figure:
            drawn[str(inst)] = str(first["claim"])
        return figure
    return ""


def _km_figure(page: Page, rs: Sequence[Doc]) -> str:
    first = rs[0]
    if first.get("instrument") == "return_to_activity":
        y_label = "not yet returned to usual activity"
    else:
        y_label = "event-free (" + str(first.get("metric", "")).split(" survival")[0] + ")"
    panels = [figures.SurvivalPanel(page.label(r["comparison"]), page.arms(r["comparison"]),
                                    curves=r.get("curves") if _panel_message(r) is None else None,
                                    message=_panel_message(r)) for r in _applicable(rs)]
    horizon = first.get("horizon_days")
    lvl = ci_label(page.ci_level)
    svg = figures.survival_plot(
        panels, horizon=float(horizon) if horizon else None, y_label=y_label,
        fig_id=anchor("fig-km", first["claim"]),
        title=f"Weighted Kaplan–Meier curves by comparison: {first.get('metric')}",
        desc=(f"One panel per comparison: step curves of the treated arm (solid) and the control arm (dashed or "
              f"dotted) with pointwise {lvl} bands up to {horizon} days. The values at the horizon are given in "
              "the panel of each comparison below."))
    return (f"<figure><div>{svg}</div><figcaption>Weighted Kaplan–Meier curves per arm; shaded: {esc(lvl)}; "
            "dotted line: the horizon.</figcaption></figure>")


def _trajectory_figure(page: Page, rs: Sequence[Doc]) -> str:
    first = rs[0]
    inst = str(first["instrument"])
    points = {r["comparison"]: [p for p in (page.comparisons.get(r["comparison"]) or {}).get("trajectories") or []
                                if p.get("instrument") == inst] for r in rs}
    codes = timepoint_order([p["timepoint"] for pts in points.values() for p in pts])
    if not codes:
        return ""
    tps = [(c, "0" if c == "baseline" else c) for c in codes]
    try:
        higher = bool(get_instrument(inst).definition.higher_is_better)
    except Exception:  # unknown instrument: take the claim's direction
        higher = first.get("better") == "higher"
    mcid = page.mcid_for(inst)
    title_i = instrument_title(inst)
    claimed = [timepoint_label(str(x[0]["timepoint"])) for x in page.claims.values()
               if x[0].get("instrument") == inst and x[0].get("timepoint")]
    panels = [figures.TrajectoryPanel(page.label(r["comparison"]), page.arms(r["comparison"]),
                                      points=points[r["comparison"]] if _panel_message(r) is None else (),
                                      message=_panel_message(r)) for r in _applicable(rs)]
    lvl = ci_label(page.ci_level)
    svg = figures.trajectory_plot(
        panels, timepoints=tps, y_label=f"{instrument_short(inst)} ({'higher' if higher else 'lower'} = better)",
        ci_level=page.ci_level, mcid=mcid, higher_is_better=higher,
        highlight=first.get("timepoint") if len(claimed) == 1 else None,
        fig_id=anchor("fig-traj", first["claim"]),
        title=f"Weighted {title_i} by arm over time, one panel per comparison",
        desc=(f"Weighted mean {title_i} of the treated and control arms at "
              f"{', '.join(timepoint_label(c) for c in codes)}"
              f" (0 = baseline), with {lvl} bars"
              + ("; the claim's timepoint is shaded" if len(claimed) == 1 else "")
              + (f"; a bracket and a dashed line mark one MCID ({mcid:g} points) from the control arm's baseline mean"
                 if mcid else "") + ". The figure data table follows."))
    d = _DECIMALS.get(inst, 1)
    head = "".join(f'<th scope="col" class="num">{esc(timepoint_label(c))}</th>' for c in codes)
    rows = []
    for r in rs:
        if _panel_message(r) is not None:
            continue
        arms = page.arms(r["comparison"])
        by = {(p["arm"], p["timepoint"]): p for p in points[r["comparison"]]}
        for side in ("treated", "control"):
            cells = "".join(
                f'<td class="num">{fmt_number(by[(side, c)]["mean"], d)} ± {fmt_number(by[(side, c)].get("se"), d + 1)}'
                "</td>" if (side, c) in by else '<td class="num">—</td>' for c in codes)
            rows.append(f'<tr><th scope="row">{esc(page.label(r["comparison"]))}: {esc(arms[side].label)}</th>'
                        f"{cells}</tr>")
    table = ('<details><summary>Figure data</summary><div class="table-scroll"><table><caption>Weighted mean ± '
             f'standard error of {esc(title_i)}</caption><thead><tr><th scope="col">Comparison: arm</th>{head}'
             f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div></details>")
    hl = (f"shaded: {esc(timepoint_label(str(first.get('timepoint'))))}, the claim's timepoint; "
          if len(claimed) == 1 else f"the claims on this questionnaire: {esc(', '.join(claimed))}; ")
    return (f"<figure><div>{svg}</div><figcaption>{hl}bars: {esc(lvl)} of the weighted mean; timepoints "
            f"0 (baseline) to {esc(codes[-1])}.</figcaption>{table}</figure>")
