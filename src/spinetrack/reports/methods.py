"""The Methods and Limitations sections, written from the scorecard document alone.

Only what the document records is stated: the populations come from the attrition step
descriptions, the estimators from the ``method`` strings of the results, the MCIDs from their
``source``; references are listed when a method string or a recorded analysis names them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from spinetrack.reports._format import (
    arm_label,
    ci_label,
    covariate_label,
    esc,
    fmt_patients,
    fmt_share,
    instrument_title,
    timepoint_label,
)

__all__ = ["limitations_section", "methods_section", "synthetic_note"]

Doc = Mapping[str, Any]

# Full citations of the methods the pipeline names; a reference is
# listed when its key phrase appears in the document's method strings (or, for the last two,
# when the analysis they describe was run).
_REFERENCES: tuple[tuple[str, str], ...] = (
    ("Lunceford & Davidian 2004", ("Lunceford JK, Davidian M. Stratification and weighting via the propensity score "
     "in estimation of causal treatment effects: a comparative study. Stat Med. 2004;23(19):2937-2960.")),
    ("Xie & Liu 2005", ("Xie J, Liu C. Adjusted Kaplan-Meier estimator and log-rank test with inverse probability "
     "of treatment weighting for survival data. Stat Med. 2005;24(20):3089-3110.")),
    ("Stefanski & Boos 2002", "Stefanski LA, Boos DD. The calculus of M-estimation. Am Stat. 2002;56(1):29-38."),
    ("Austin 2009", ("Austin PC. Balance diagnostics for comparing the distribution of baseline covariates between "
     "treatment groups in propensity-score matched samples. Stat Med. 2009;28(25):3083-3107.")),
    ("VanderWeele & Ding 2017", ("VanderWeele TJ, Ding P. Sensitivity analysis in observational research: "
     "introducing the E-value. Ann Intern Med. 2017;167(4):268-274.")),
    ("0.91 d", ("Hasselblad V, Hedges LV. Meta-analysis of screening and diagnostic tests. Psychol Bull. "
     "1995;117(1):167-178 (the conversion RR ≈ exp(0.91 d)).")),
    ("overlap weights", ("Li F, Morgan KL, Zaslavsky AM. Balancing covariates via propensity score weighting. "
     "J Am Stat Assoc. 2018;113(521):390-400.")),
    ("equipoise", ("Walker AM, Patrick AR, Lauer MS, et al. A tool for assessing the feasibility of comparative "
     "effectiveness research. Comp Eff Res. 2013;3:11-20.")),
)


def synthetic_note(snapshot: Mapping[str, Any] | None) -> str | None:
    """The synthetic-data warning when the snapshot manifest marks its data as synthetic.

    Looks for a truthy ``synthetic`` entry at the top of the manifest or in its ``source``; a
    mapping there may say how the data were made (``generator``, ``generator_version``,
    ``seed``, ``patients``). Returns None when the manifest says nothing.
    """
    if not snapshot:
        return None
    flag = snapshot.get("synthetic")
    if not flag and isinstance(snapshot.get("source"), Mapping):
        flag = snapshot["source"].get("synthetic")
    if not flag:
        return None
    text = ("The snapshot's manifest marks these data as synthetic: the patients are simulated, and the effects "
            "found are those planted by the generator, not evidence about any treatment.")
    if isinstance(flag, Mapping):
        detail = ", ".join(f"{k} {v}" for k, v in flag.items() if v is not None and not isinstance(v, (list, dict)))
        if detail:
            text += f" ({detail})"
    return text


def _unique(values: Iterable[Any]) -> list[Any]:
    return [v for v in dict.fromkeys(v for v in values if v)]


def _method_strings(doc: Doc) -> list[str]:
    out: list[str] = []
    for r in doc.get("results") or []:
        for key in ("effect", "risk_ratio", "aipw", "ipcw", "e_value"):
            if r.get(key):
                out.append(str(r[key].get("method") or ""))
        for curve in (r.get("curves") or {}).values():
            out.append(str(curve.get("method") or ""))
    for c in doc.get("comparisons") or []:
        for key in ("balance_before", "balance_after", "propensity"):
            if c.get(key):
                out.append(str(c[key].get("method") or ""))
    return _unique(out)


def _covariate_table(comps: list[Doc]) -> str:
    """Covariates × comparisons: used in the propensity model, or dropped in that population."""
    names = _unique(n for c in comps for key in ("covariates", "dropped_covariates") for n in c.get(key) or [])
    if not names:
        return ""
    head = "".join(f'<th scope="col">{esc(c.get("label"))}</th>' for c in comps)
    rows = []
    for n in names:
        cells = []
        for c in comps:
            if n in (c.get("covariates") or []):
                cells.append("<td>used</td>")
            elif n in (c.get("dropped_covariates") or []):
                cells.append('<td class="muted">dropped</td>')
            else:
                cells.append('<td class="muted">—</td>')
        rows.append(f'<tr><th scope="row">{esc(covariate_label(n))}</th>{"".join(cells)}</tr>')
    return ('<div class="table-scroll" role="region" aria-labelledby="covariates-cap" tabindex="0"><table>'
            '<caption id="covariates-cap">Covariates of the propensity model per comparison (dropped: no variation, '
            "separating the arms or collinear in that population)</caption>"
            f'<thead><tr><th scope="col">Covariate</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>')


def _ul(items: Iterable[str]) -> str:
    lis = "".join(f"<li>{i}</li>" for i in items)
    return f"<ul>{lis}</ul>" if lis else ""


def methods_section(doc: Doc) -> str:
    """The Methods section (HTML) of a scorecard document."""
    comps = list(doc.get("comparisons") or [])
    results = list(doc.get("results") or [])
    level = ci_label(doc.get("ci_level"))
    snap = doc.get("snapshot") or {}
    out = ['<section id="methods" aria-labelledby="methods-h">', '<h2 id="methods-h">Methods</h2>',
           "<p>Generated from the analysis document; it states what was run.</p>"]
    settings = doc.get("settings")
    if isinstance(settings, Mapping):
        def chosen(key: str) -> str:
            return ", ".join(settings.get(key) or ()) or "all"

        trim_set = settings.get("trim")
        out.append(f"<p>Analysis settings (hash <code>{esc(doc.get('settings_hash') or '?')}</code>): engine "
                   f"{esc(settings.get('engine', '?'))}, estimand {esc(settings.get('estimand', '?'))}, trimming "
                   f"{esc('none' if trim_set is None else trim_set)}, sensitivity analyses "
                   f"{'on' if settings.get('sensitivity') else 'off'}, comparisons {esc(chosen('comparisons'))}, "
                   f"claims {esc(chosen('claims'))}, {esc(ci_label(settings.get('ci_level')))}s.</p>")

    src = snap.get("source") or {}
    data = [(f"Snapshot created {esc(snap.get('created_at') or 'at an unrecorded time')}, manifest schema "
            f"{esc(snap.get('schema_version', '?'))}")]
    if src:
        data.append(f"exported from a {esc(src.get('dialect', '?'))} store at migration "
                    f"{esc(src.get('alembic_revision', '?'))}")
    if "rekeyed" in snap:
        data.append("pseudonyms re-keyed" if snap.get("rekeyed") else "pseudonyms not re-keyed")
    out.append('<h3 id="methods-data">Data</h3><p>' + "; ".join(data) + ".</p>")
    if snap.get("excluded"):
        out.append(f"<p>{esc(snap['excluded'])}</p>")

    out.append('<h3 id="methods-populations">Comparisons and populations</h3>')
    items = []
    for c in comps:
        steps = [a for a in c.get("attrition") or []]
        filters = "; ".join(esc(a.get("description")) for a in steps[1:]) or "all episodes"
        last = steps[-1] if steps else {}
        items.append(f"<strong>{esc(c.get('label'))}</strong>: treated {esc(arm_label(c.get('treated') or []))}, "
                     f"control {esc(arm_label(c.get('control') or []))}; "
                     f"from {esc(steps[0]['description']) if steps else 'all episodes'}, "
                     f"kept: {filters} ({esc(fmt_patients(last.get('n_treated')))} treated, "
                     f"{esc(fmt_patients(last.get('n_control')))} "
                     "control). Each claim then keeps the patients whose outcome is recorded.")
    out.append(_ul(items))

    out.append('<h3 id="methods-ps">Propensity score and weights</h3>')
    ps_methods = _unique(str((c.get("propensity") or {}).get("method") or "") for c in comps)
    engine = esc(doc.get("engine", "?"))
    conv = [f"{esc(c.get('label'))}: "
            f"{'converged' if (c.get('propensity') or {}).get('converged') else 'NOT converged'} "
            f"in {esc((c.get('propensity') or {}).get('n_iter', '?'))} iterations" for c in comps]
    out.append(f"<p>The probability of treatment given the covariates was modelled by "
               f"{esc('; '.join(ps_methods) or 'logistic regression')}, fitted on the {engine} engine "
               f"({'; '.join(conv)}).</p>")
    out.append(_covariate_table(comps))
    if any(str(n).endswith("_missing") for c in comps for n in c.get("covariates") or []):
        out.append("<p>Missing covariate values enter with a missing-value indicator (the covariates ending in "
                   "“missing”).</p>")
    estimand, trim = doc.get("estimand"), doc.get("trim")
    if estimand == "ATO":
        out.append("<p>Weights: overlap weights (estimand ATO; the treated weighted by 1 − e, the controls by e, "
                   "where e is the propensity score; Li, Morgan &amp; Zaslavsky 2018). No trimming.</p>")
    elif estimand == "ATE":
        trim_text = (f"propensity scores trimmed to [α, 1 − α] with α = {esc(trim)} (see the weighting notes)"
                     if trim is not None else "no trimming")
        out.append(f"<p>Weights: stabilised inverse probability of treatment weights (estimand ATE); {trim_text}.</p>")
    notes = _unique(n for c in comps for n in c.get("notes") or [])
    if notes:
        out.append("<p>Weighting notes: " + "; ".join(esc(n) for n in notes) + ".</p>")

    out.append('<h3 id="methods-estimation">Estimation</h3>')
    by_kind: dict[str, list[str]] = {}
    for r in results:
        for key in ("effect", "risk_ratio"):
            if r.get(key):
                by_kind.setdefault(str(r.get("kind")), []).append(str(r[key].get("method") or ""))
    kind_names = {"continuous": "Continuous outcomes", "binary": "Binary outcomes",
                  "time_to_event": "Time-to-event outcomes"}
    out.append(f"<p>Differences are treated minus control with {esc(level)}s. The estimators, as recorded with "
               "each result:</p>" + _ul(f"{kind_names.get(k, esc(k))}: " + "; ".join(esc(m) for m in _unique(v))
                                        for k, v in by_kind.items()))
    tte = _unique((str(r.get("metric")), str((r.get("effect") or {}).get("measure")), r.get("horizon_days"))
                  for r in results if r.get("kind") == "time_to_event" and r.get("effect"))
    if tte:
        out.append("<p>Time-to-event claims use weighted Kaplan–Meier curves per arm: "
                   + "; ".join(f"{esc(m)}: {esc(meas)} at {esc(h)} days" for m, meas, h in tte) + ".</p>")
    curve_methods = _unique(str(c.get("method") or "") for r in results for c in (r.get("curves") or {}).values())
    if curve_methods:
        out.append("<p>Curves drawn: " + "; ".join(esc(m) for m in curve_methods) + ".</p>")
    out.append("<p>Questionnaire trajectories are the weighted means per arm of the questionnaires returned at each "
               f"timepoint, with bars of {esc(level)} from their standard errors.</p>")

    if doc.get("sensitivity"):
        out.append('<h3 id="methods-sensitivity">Sensitivity analyses</h3>')
        sens = [f"{label}: " + "; ".join(esc(m) for m in ms) for label, ms in (
            ("Augmented overlap weighting (doubly robust)" if any(
                "augmented overlap" in str((r.get("aipw") or {}).get("method")) for r in results) else "AIPW",
             _unique(str(r["aipw"].get("method") or "") for r in results if r.get("aipw"))),
            ("IPCW", _unique(str(r["ipcw"].get("method") or "") for r in results if r.get("ipcw")))) if ms]
        models = _unique(tp for c in comps for tp in (c.get("ipcw_models") or {}))
        if models:
            sens.append("IPCW response models (probability of a returned questionnaire given the covariates and the "
                        "arm, logistic regression) at " + ", ".join(esc(timepoint_label(t)) for t in models))
        out.append(_ul(sens) or "<p>Requested, but no result records a sensitivity estimate.</p>")

    out.append('<h3 id="methods-diagnostics">Diagnostics</h3>')
    bal = _unique(str((c.get("balance_after") or {}).get("method") or "") for c in comps)
    thr = _unique(str((c.get("balance_after") or {}).get("threshold")) for c in comps if c.get("balance_after"))
    gated = _unique(f for c in comps for f in (c.get("diagnostics") or {}).get("failed") or [])
    out.append(f"<p>Balance: {esc('; '.join(bal) or 'standardised mean differences')}, before and after weighting, "
               f"threshold |SMD| ≤ {esc(', '.join(thr) or '?')}. Empirical equipoise (Walker et al. 2013) is "
               "reported as the share of each arm in equipoise. A comparison whose gating diagnostic fails has its "
               "estimates withheld: "
               + (f"in this run, {esc(', '.join(gated))}." if gated else "none failed in this run.") + "</p>")

    out.append('<h3 id="methods-evalue">E-values and MCIDs</h3>')
    evm = _unique(str(r["e_value"].get("method") or "") for r in results if r.get("e_value"))
    out.append("<p>E-values: the strength of association, on the risk-ratio scale, that an unmeasured confounder "
               "would need with both treatment and outcome to explain an estimate away; "
               + esc("; ".join(evm) or "not computed") + ".</p>")
    mcids = _unique((m.get("instrument"), m.get("mcid"), m.get("source")) for r in results
                    for m in [r.get("mcid")] if m)
    if mcids:
        out.append("<p>Minimal clinically important differences: "
                   + "; ".join(f"{esc(instrument_title(i))} {esc(f'{v:g}')} points ({esc(s)})" for i, v, s in mcids)
                   + ". A group difference is compared with the MCID; the scorecard says whether the estimate "
                     "reaches it and whether the interval lies beyond or within it.</p>")
    rule = doc.get("verdict_rule")
    if rule is None:  # a document of schema version 1: the rule it was made with
        out.append('<h3 id="methods-verdict">Verdict rule</h3>'
                   f"<p><strong>Supported</strong> when the {esc(level)} lies wholly on the side of no difference "
                   "that the claim predicts, <strong>contradicted</strong> when it lies wholly on the other side, "
                   "<strong>inconclusive</strong> otherwise (no allowance for the number of claims tested, no "
                   "margin of no important difference: this document predates that rule).</p>")
    else:
        method = {"fdr_bh": "Benjamini–Hochberg (false discovery rate)",
                  "holm": "Holm (family-wise error rate)"}.get(str(rule.get("multiplicity")), "no adjustment")
        out.append('<h3 id="methods-verdict">Verdict rule</h3>'
                   f"<p><strong>No important difference</strong> when the {esc(level)} lies wholly within ± the "
                   "claim's margin, the minimal clinically important difference of its questionnaire (claims without "
                   "a published margin never get this verdict). Otherwise <strong>supported</strong> when the "
                   "difference lies on the side the claim predicts and its p-value, adjusted across every estimated "
                   f"row of this scorecard by {esc(method)}, is below {esc(rule.get('alpha', 0.05))}; "
                   "<strong>contradicted</strong> when it lies on the other side under the same condition; "
                   "<strong>inconclusive</strong> otherwise. Radiation exposure is reported as a harm (less or more "
                   "with MIS), not as a promise.</p>"
                   "<p>Clocks: time-to-event claims count days from the index date — the operation for surgery, the "
                   "start of conservative care — so the wait before an operation is not in “days to return to usual "
                   "activity”; the claim “days from enrolment to return to usual activity” counts from enrolment and "
                   "includes it. Reoperations are counted from hospital records up to the data's extraction date, "
                   "whether or not the patient returned questionnaires. Surgery is compared with conservative care "
                   "only in patients whose diagnosis has a surgical option.</p>")

    out.append(_literature_methods(results))

    text = " ".join(_method_strings(doc)) + (" overlap weights" if estimand == "ATO" else "") + (
        " equipoise" if any((c.get("diagnostics") or {}).get("equipoise") for c in comps) else "")
    refs = [ref for key, ref in _REFERENCES if key in text]
    refs += _unique(str(s) for _i, _v, s in mcids)
    out.append('<h3 id="methods-references">References</h3>' + (
        "<ol>" + "".join(f"<li>{esc(r)}</li>" for r in refs) + "</ol>" if refs else "<p>None recorded.</p>"))
    out.append("</section>")
    return "\n".join(out)


_LITERATURE_REFERENCES = (
    "Viechtbauer W. Conducting meta-analyses in R with the metafor package. J Stat Softw. 2010;36(3):1-48.",
    ("Hartung J, Knapp G. A refined method for the meta-analysis of controlled clinical trials with binary "
     "outcome. Stat Med. 2001;20(24):3875-3889."),
    "Sidik K, Jonkman JN. A simple confidence interval for meta-analysis. Stat Med. 2002;21(21):3153-3159.",
    ("Higgins JPT, Thomas J, Chandler J, et al. (eds). Cochrane Handbook for Systematic Reviews of "
     "Interventions, version 6.4; 2023, chapters 6 and 10."),
)


def _literature_entries(results: Iterable[Doc]) -> list[Doc]:
    """The literature entries of the results (and the family figures of the pooled comparison)."""
    out: list[Doc] = []
    for r in results:
        lit = r.get("literature")
        if isinstance(lit, Mapping):
            out.append(lit)
            out += [f for f in lit.get("by_family") or [] if isinstance(f, Mapping)]
    return out


def _literature_methods(results: list[Doc]) -> str:
    """How the published figures beside the clinic's estimates were chosen and pooled."""
    entries = _literature_entries(results)
    if not entries:
        return ""
    shown = [e for e in entries if e.get("estimate") is not None]
    levels = _unique(str(e.get("level_label")) for e in shown)
    pooled_here = any(e.get("level") == "pooled_here" for e in shown)
    computed = any(str(e.get("effect_source") or "").startswith("computed") for e in shown)
    flagged = _unique(str(c.get("id")) for e in entries for c in e.get("context") or [] if c.get("flags"))
    items = [
        ("Which figure. Only a published figure on the claim's own scale (the same quantity, unit and direction, or an "
         "exact unit conversion such as minutes to seconds or percent to risk), with an interval and without a "
         "verification flag, is set beside the clinic's estimate. Figures of the comparison's own procedure family "
         "come first; figures of mixed lumbar procedures only when the family has none. Hierarchy, best first: "
         "meta-analysis of RCTs; meta-analysis including observational studies; a meta-analysis printed in a "
         "conference abstract; our own pool of at least two independent primary studies; a single RCT; a single "
         "observational study. Within a level, a source with a DOI or PMID (it can be checked) comes before one known "
         "only from a web page, then more studies, more patients, the more recent."),
        ("The comparison of all procedure families together gets no single published figure: the studies compare MIS "
         "with open surgery within one family, and one family's figure would misrepresent the others (by procedure "
         "family: each family's figure stands with that family's comparison). Surgery versus conservative care has "
         "none in the evidence base (it compares MIS with open surgery only)."),
        ("Pooling. Published meta-analyses are shown as published and never re-pooled, neither with each other (they "
         "share trials) nor with their own trials. Our own pools combine at least two independent primary studies "
         "(not meta-analyses or reviews) of one comparison, outcome, timepoint and effect family: arm means and SDs "
         "give mean differences (a standardised mean difference only when no two studies share a unit, and then "
         "said so), events give risk ratios, published estimates with a 95% interval give their back-calculated "
         "variance; random effects with the REML estimate of tau², the Hartung–Knapp–Sidik–Jonkman interval (t with "
         "k − 1 degrees of freedom; very wide with two studies) and a prediction interval, reporting tau², I² and "
         "Cochran's Q. Rows with a verification flag, medians, narrative findings and rows without usable arm data "
         "are listed with the reason and never pooled."
         + (" In this document none of the published figures comes from our own pool: no group had two independent "
            "primary studies with a usable effect." if not pooled_here else "")),
        ("Verdict. The literature's verdict uses the clinic's rule on the published interval: supported when it lies "
         "wholly on the claimed side of no difference (0 for a difference, 1 for a ratio), contradicted when wholly "
         "on the other side, inconclusive otherwise. Evidence against a claim (more radiation, more recurrence, "
         "longer operations, equal long-term outcomes) is listed with each claim as plainly as evidence for it."),
        ("Source of the figures. The evidence base was compiled from published abstracts, tables and excerpts; the "
         "numbers have not yet been checked against the full papers. Rows flagged “not yet checked against the full "
         "text”, “unverified”, “unit not stated”, “printed numbers inconsistent” or “medians” are shown as context "
         f"only ({len(flagged)} such rows are listed in this report)."
         + (" Where a source gives only arm means and SDs or events per arm, the difference or risk ratio shown was "
            "computed here with a Wald interval and is labelled so." if computed else "")),
    ]
    used = f"<p>Levels of the figures shown in this document: {esc('; '.join(levels))}.</p>" if levels else (
        "<p>No claim × comparison in this document has a published figure on its own scale.</p>")
    covered = {str(r.get("claim")) for r in results
               if isinstance(r.get("literature"), Mapping) and r["literature"].get("estimate") is not None}
    metrics = _unique(str(r.get("metric") or r.get("claim")) for r in results
                      if isinstance(r.get("literature"), Mapping) and str(r.get("claim")) not in covered)
    if metrics:
        used += (f"<p>Claims with no published figure on their own scale in any comparison ({len(metrics)}; the "
                 "report shows no literature line for them): " + "; ".join(esc(m) for m in metrics) + ".</p>")
    return ('<h3 id="methods-literature">Published evidence</h3>' + _ul(esc(i) for i in items) + used
            + "<p>Methods cited: " + " ".join(esc(r) for r in _LITERATURE_REFERENCES) + "</p>")


def limitations_section(doc: Doc) -> str:
    """The Limitations section (HTML) of a scorecard document."""
    comps = list(doc.get("comparisons") or [])
    labels = {c["key"]: str(c.get("label", c["key"])) for c in comps}
    results = list(doc.get("results") or [])
    items: list[str] = []

    nm = doc.get("not_measured") or []
    if nm:
        items.append("Claims we cannot measure yet: " + "; ".join(
            f"{esc(x.get('promise'))} — {esc(x.get('what'))}" for x in nm) + ".")

    withheld: dict[str, list[str]] = {}
    for r in results:
        if r.get("status") == "withheld":
            withheld.setdefault(r["comparison"], []).append(str(r.get("metric") or r["claim"]))
    for key, metrics in withheld.items():
        failed = _unique(f for r in results if r["comparison"] == key for f in r.get("withheld_because") or [])
        items.append(f"Withheld in {esc(labels.get(key, key))}: {len(metrics)} estimates, because the "
                     f"{esc(', '.join(failed) or 'a')} diagnostic failed.")
    if not withheld:
        items.append("No estimate was withheld: no gating diagnostic failed.")
    for c in comps:
        diag = c.get("diagnostics") or {}
        gating = set(diag.get("failed") or [])
        for name in ("balance", "equipoise"):
            if diag.get(name) == "FAIL" and name not in gating:
                extra = ""
                if name == "equipoise":
                    extra = (f" (share in equipoise: treated {fmt_share(diag.get('equipoise_share_treated'))}, "
                             f"control {fmt_share(diag.get('equipoise_share_control'))})")
                items.append(f"{esc(labels[c['key']])}: the {name} diagnostic failed{extra}; it is reported and does "
                             "not withhold the estimates.")
        if (c.get("propensity") or {}).get("converged") is False:
            items.append(f"{esc(labels[c['key']])}: the propensity model did not converge.")

    na = [r for r in results if r.get("status") not in ("estimated", "withheld")]
    if na:
        items.append(f"{len(na)} claim × comparison pairs are not applicable: "
                     + "; ".join(esc(n) for n in _unique(n for r in na for n in r.get("notes") or [])) + ".")

    for c in comps:
        fu = c.get("followup") or []
        if not fu:
            continue
        last = fu[-1]
        t, ctl = arm_label(c.get("treated") or []), arm_label(c.get("control") or [])
        items.append(f"Loss to follow-up at {esc(timepoint_label(last['timepoint']))}, {esc(labels[c['key']])}: "
                     f"{esc(t)} {fmt_share(last.get('lost_treated'))}, {esc(ctl)} "
                     f"{fmt_share(last.get('lost_control'))}.")
    if comps:
        items.append("Questionnaire outcomes are analysed in those who returned them; "
                     + ("the IPCW sensitivity analysis re-weights for loss to follow-up (see each claim's table)."
                        if doc.get("sensitivity") else
                        "no IPCW sensitivity analysis was run, so this assumes loss to follow-up unrelated to the "
                        "outcome given the covariates."))

    notes: dict[str, list[str]] = {}
    for r in results:
        if r.get("status") not in ("estimated", "withheld"):
            continue
        for n in list(r.get("notes") or []) + list((r.get("effect") or {}).get("warnings") or []):
            notes.setdefault(str(n), []).append(f"{r.get('metric')} ({labels.get(r['comparison'], r['comparison'])})")
    for n, where in notes.items():
        items.append(f"{esc(n)} — {esc('; '.join(_unique(where)))}.")

    lit = _literature_entries(results)
    if lit:
        flagged = _unique(str(c.get("id")) for e in lit for c in e.get("context") or [] if c.get("flags"))
        missing = sum(1 for r in results if isinstance(r.get("literature"), Mapping)
                      and r["literature"].get("estimate") is None)
        items.append("Published figures come from abstracts, tables and excerpts that have not yet been checked "
                     f"against the full papers; {len(flagged)} related rows carry a verification flag and are shown "
                     "as context only, never pooled or set beside the clinic's estimate.")
        items.append(f"{missing} claim × comparison pairs have nothing published on the claim's own scale (see "
                     "Methods, Published evidence); the related findings against a claim are listed with it, not "
                     "compared.")
        items.append("A published figure describes other patients, surgeons, techniques and timepoints: a difference "
                     "between the literature's verdict and the clinic's is a reason to look closer, not a test of "
                     "either.")
    items.append("Observational data: the arms were made comparable in the measured covariates only; unmeasured "
                 "confounding can remain (see the E-values beside each estimate).")
    if any(r.get("mcid") for r in results):
        items.append("MCIDs describe change within a patient; comparing a difference between groups with them is "
                     "a conservative reading.")
    warn = synthetic_note(doc.get("snapshot"))
    if warn:
        items.append(f"<strong>Synthetic data.</strong> {esc(warn)}")
    return ('<section id="limitations" aria-labelledby="limitations-h"><h2 id="limitations-h">Limitations</h2>'
            + _ul(items) + f"<p class=\"note\">Intervals are {esc(ci_label(doc.get('ci_level')))}s; they do not "
            "account for multiple claims and comparisons.</p></section>")
