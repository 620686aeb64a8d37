"""Model cards: what each prediction model is, what it was trained on and how well it
performs — generated from the model file, in the spirit of TRIPOD (Collins GS, Reitsma JB,
Altman DG, Moons KGM. BMJ. 2015;350:g7594) and of model cards (Mitchell M et al. FAT* 2019).

:meth:`ModelCard.as_dict` is the one serialisation (``spinetrack models card --json``);
:meth:`ModelCard.markdown` renders the same content as text. Every number comes from the model
file; the card only formats it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from spinetrack.predict.model import ModelSet, OptionAvailability, PredictionModel
from spinetrack.predict.spec import (
    CALIBRATION_ALPHA,
    CARE_GROUPS,
    MIN_EVENTS_PER_PARAMETER,
    MIN_PATIENTS_PER_OPTION,
    PREDICTION_INTERVAL_LEVEL,
    outcome_def,
)

__all__ = ["DESIGN_CHOICE", "INTERVALS", "MISSING_DATA", "RULE", "ModelCard", "model_card"]

DESIGN_CHOICE = (
    "Per outcome and procedure family, one model over the family's MIS and open patients with an approach "
    "indicator (shared covariate slopes), and one conservative-care model per outcome over the conservative patients "
    "with the diagnoses that family treats; an option's prediction is its model at the patient's covariates with the "
    "option's indicator.")
MISSING_DATA = (
    "Missing predictors use the missing-indicator method of the comparative analysis (analysis.design): an indicator "
    "enters the model when some training patients had the value missing, and a patient with it missing is predicted "
    "with that term (for a missing baseline ODI or NRS the prediction says plainly that it does not use the "
    "patient's own score). When no training patient had it missing, a missing baseline score gives no estimate, "
    "and another missing predictor is predicted at the model's reference value, which the prediction names. The "
    "ODI improvement (MCID) is never predicted without the patient's baseline ODI.")
_REFERENCES = (
    ("Harrell FE, Lee KL, Mark DB. Multivariable prognostic models. Stat Med. 1996;15(4):361-387 (bootstrap "
     "optimism correction)."),
    ("Peduzzi P, Concato J, Kemper E, Holford TR, Feinstein AR. J Clin Epidemiol. 1996;49(12):1373-1379 (events "
     "per variable)."),
    ("Collins GS, Reitsma JB, Altman DG, Moons KGM. Transparent reporting of a multivariable prediction model for "
     "individual prognosis or diagnosis (TRIPOD). BMJ. 2015;350:g7594."),
    "Van Calster B et al. Calibration: the Achilles heel of predictive analytics. BMC Med. 2019;17:230.",
    ("Van Houwelingen JC, Le Cessie S. Predictive value of statistical models. Stat Med. 1990;9(11):1303-1325 "
     "(uniform shrinkage)."),
    "Steyerberg EW. Clinical Prediction Models, 2nd ed. Springer; 2019, §13.2 (shrinkage, intercept re-estimated).",
    ("Demler OV, Paynter NP, Cook NR. Tests of calibration and goodness-of-fit in the survival setting. Stat Med. "
     "2015;34(10):1659-1680 (Greenwood-Nam-D'Agostino test)."),
    ("Collett D. Modelling Survival Data in Medical Research, 3rd ed. CRC; 2015, §6.6 (choosing an AFT distribution "
     "by AIC)."),
)
RULE = (
    "An option is predicted from the clinic's data when it has at least {min_patients} patients with the outcome "
    "observed, a binary or time-to-event model has at least {min_epv:g} events per coefficient (Peduzzi et al. 1996), "
    "and a time-to-event model's distribution (chosen by AIC) is calibrated by risk group (Kaplan-Meier against "
    "predicted, Greenwood-Nam-D'Agostino test, p >= {alpha:g}); otherwise it falls back to the published arm of the "
    "evidence package, or to no figure. An overfitted model is shrunk, not discarded: its covariate effects are "
    "multiplied by its optimism-corrected calibration slope when that is below 1 (Van Houwelingen & Le Cessie 1990).")
_PI_LOW, _PI_HIGH = (1 - PREDICTION_INTERVAL_LEVEL) / 2, (1 + PREDICTION_INTERVAL_LEVEL) / 2
INTERVALS = (
    "95% confidence intervals are for the expected outcome of patients like this one (delta method: a mean; a "
    "probability on the logit scale; a time quantile on the log scale; a risk by a horizon on the scale of the "
    "distribution's standardised time). The range for one patient is the prediction interval, "
    f"{PREDICTION_INTERVAL_LEVEL:.0%} of patients "
    "like this one: for a mean, ± t √(residual variance + variance of the mean), cut at the ends of the scale; for "
    f"days to an event, the {_PI_LOW:.0%} and {_PI_HIGH:.0%} quantiles of the fitted distribution (not shown beyond "
    "the longest follow-up in the training data). Probabilities have no such range: the probability is the "
    "prediction.")
_METRIC_LABELS = {
    "c_statistic": "C-statistic", "calibration_intercept": "calibration intercept",
    "calibration_slope": "calibration slope", "brier": "Brier score", "r2": "R²", "rmse": "RMSE",
}


@dataclass(frozen=True)
class ModelCard:
    """The card of one model, with the care group's option availability (which options use the
    model and which fall back, and why)."""

    model: PredictionModel
    availability: tuple[OptionAvailability, ...]
    settings: Mapping[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        m = self.model
        o = outcome_def(m.outcome)
        group = next(g for g in CARE_GROUPS if g.key == m.care_group)
        perf = m.performance
        se = [math.sqrt(max(m.covariance[i][i], 0.0)) for i in range(len(m.coefficients))]
        coefficients = [{"name": c, "estimate": b, "standard_error": s}
                        for c, b, s in zip(m.columns, m.coefficients, se, strict=True)]
        if m.log_shape is not None:
            k = len(m.coefficients)
            coefficients.append({"name": "log_shape", "estimate": m.log_shape,
                                 "standard_error": math.sqrt(max(m.covariance[k][k], 0.0))})
        limitations = [
            ("Observational data: differences between options are adjusted for the listed predictors only; "
             "unmeasured confounding remains, so a predicted difference is not a causal effect."),
            "Internal validation only (bootstrap); the model has not been validated in another clinic or period.",
        ]
        if m.outcome == "reoperation_2y":
            limitations.append("Reoperations are counted as recorded by the hospital up to the data's extraction date; "
                               "a reoperation done elsewhere and not recorded here is missed, which would make the "
                               "risk too low.")
        if m.kind == "time_to_event":
            limitations.append("The AFT model assumes the covariates stretch or shrink the time scale; its "
                               "distribution was chosen by AIC among three and checked against Kaplan-Meier by risk "
                               "group (see calibration by risk group).")
        if m.sampled:
            limitations.append(f"Trained on a deterministic hashed sample of the {m.population_rows} eligible "
                               "patients (row cap).")
        if m.snapshot.get("synthetic"):
            limitations.append("SYNTHETIC DATA: the snapshot was generated by spinetrack demo; these numbers say "
                               "nothing about real patients.")
        if m.arms == ("conservative",):
            title = f"{o.label} — conservative care ({', '.join(d.replace('_', ' ') for d in group.diagnoses)})"
        else:
            title = f"{o.label} — MIS and open {m.family}"
        st = dict(self.settings or {})
        rule = RULE.format(min_patients=st.get("min_patients_per_option", MIN_PATIENTS_PER_OPTION),
                           min_epv=st.get("min_events_per_parameter", MIN_EVENTS_PER_PARAMETER),
                           alpha=st.get("calibration_alpha", CALIBRATION_ALPHA))
        return {
            "model_id": m.model_id,
            "title": title,
            "outcome": {"key": o.key, "label": o.label, "definition": m.outcome_definition, "model_kind": m.kind,
                        "prediction": m.prediction, "unit": m.unit},
            "population": {"care_group": m.care_group, "family": m.family, "diagnoses": list(group.diagnoses),
                           "options": list(m.arms), "description": m.population, "n": m.n, "n_events": m.n_events,
                           "n_by_option": dict(m.n_by_option),
                           "events_by_option": None if m.events_by_option is None else dict(m.events_by_option),
                           "eligible_rows": m.population_rows, "sampled": m.sampled},
            "method": {"model": m.method, "design_choice": DESIGN_CHOICE, "missing_data": MISSING_DATA,
                       "intervals": INTERVALS, "shrinkage": m.shrinkage, "notes": list(m.notes),
                       "distribution": m.distribution,
                       "distribution_aic": None if m.distribution_aic is None else dict(m.distribution_aic),
                       "horizon_days": m.horizon_days},
            "predictors": {"columns": list(m.columns), "dropped": [{"name": n, "reason": r}
                                                                   for n, r in m.dropped_columns]},
            "coefficients": coefficients,
            "residual_sd": m.residual_sd,
            "performance": {
                "n": perf.n, "n_events": perf.n_events, "bootstrap": perf.bootstrap,
                "bootstrap_used": perf.bootstrap_used, "seed": perf.seed, "method": perf.method,
                "metrics": {x.name: {"apparent": _num(x.apparent), "optimism": _num(x.optimism),
                                     "corrected": _num(x.corrected)} for x in perf.metrics},
            },
            "reliability": None if m.reliability is None else m.reliability.as_dict(),
            "calibration_by_group": None if m.calibration_groups is None else m.calibration_groups.as_dict(),
            "minimum_data_rule": {
                "rule": rule,
                "events_per_parameter": m.events_per_parameter,
                "options": [a.as_dict() for a in self.availability],
            },
            "limitations": limitations,
            "training": {"snapshot": dict(m.snapshot), "software_version": m.software_version,
                         "created_at": m.created_at},
            "references": list(_REFERENCES),
        }

    def markdown(self) -> str:
        d = self.as_dict()
        pop, perf = d["population"], d["performance"]
        lines = [f"# Model card: {d['title']}", "", f"Model id `{d['model_id']}`.", "",
                 "## Outcome", "", (f"{d['outcome']['definition']}. Reported as {d['outcome']['prediction']} "
                                    f"({d['outcome']['unit']}); model: {d['method']['model']}."), "",
                 "## Training data", "",
                 (f"{pop['description']}; snapshot `{d['training']['snapshot'].get('id')}` created "
                  f"{d['training']['snapshot'].get('created_at')}."), "",
                 f"- n = {pop['n']}" + (f", events = {pop['n_events']}" if pop["n_events"] is not None else ""),
                 "- per option: " + ", ".join(
                     f"{k} {v}" + (f" ({pop['events_by_option'][k]} events)" if pop["events_by_option"] else "")
                     for k, v in pop["n_by_option"].items()),
                 f"- eligible patients {pop['eligible_rows']}" + (" (hashed sample used)" if pop["sampled"] else ""),
                 "", "## Design", "", d["method"]["design_choice"], "", d["method"]["missing_data"], "",
                 d["method"]["intervals"], ""]
        lines += [f"- {n}" for n in d["method"]["notes"]]
        lines += ["", "## Performance (internal validation)", "",
                  f"{perf['method']}; seed {perf['seed']}.", "",
                  "| measure | apparent | optimism | optimism-corrected |", "|---|---:|---:|---:|"]
        for name, v in perf["metrics"].items():
            lines.append(f"| {_METRIC_LABELS.get(name, name)} | {_fixed(v['apparent'])} | {_fixed(v['optimism'])} | "
                         f"{_fixed(v['corrected'])} |")
        if d["method"]["distribution_aic"]:
            lines += ["", "### Distribution (chosen by AIC)", "", "| distribution | AIC |", "|---|---:|"]
            for k, v in d["method"]["distribution_aic"].items():
                mark = " (chosen)" if k == d["method"]["distribution"] else ""
                lines.append(f"| {k}{mark} | {'not fitted' if v is None else f'{v:.1f}'} |")
        cg = d["calibration_by_group"]
        if cg:
            lines += ["", f"### Calibration by risk group (survival at day {cg['time']:g})", "",
                      f"{cg['method']}: chi-square {cg['chi2']:.2f} on {cg['df']} df, p = {cg['p_value']:.3g}.", "",
                      "| group | n | events by then | predicted survival | observed (Kaplan-Meier) | SE |",
                      "|---:|---:|---:|---:|---:|---:|"]
            for i, g in enumerate(cg["groups"], 1):
                lines.append(f"| {i} | {g['n']} | {g['events']} | {_fmt(g['predicted'])} | {_fmt(g['observed'])} | "
                             f"{_fmt(g['standard_error'])} |")
        if d["reliability"]:
            lines += ["", "### Reliability (groups of equal size by prediction)", "",
                      "| mean predicted | observed | 95% CI | n |", "|---:|---:|---|---:|"]
            for b in d["reliability"]["bins"]:
                lines.append(f"| {_fmt(b['mean_predicted'])} | {_fmt(b['observed'])} | "
                             f"{_fmt(b['ci_low'])} to {_fmt(b['ci_high'])} | {b['n']} |")
        lines += ["", "## Options and the minimum-data rule", "", d["minimum_data_rule"]["rule"], ""]
        if d["minimum_data_rule"]["events_per_parameter"] is not None:
            lines.append(f"Events per coefficient: {d['minimum_data_rule']['events_per_parameter']:.1f}.")
            lines.append("")
        for a in d["minimum_data_rule"]["options"]:
            lines.append(f"- {a['option']}: {a['source']} ({a['n_patients']} patients) — {a['reason']}")
        lines += ["", "## Predictors", "", ", ".join(f"`{c}`" for c in d["predictors"]["columns"]), ""]
        for x in d["predictors"]["dropped"]:
            lines.append(f"- dropped `{x['name']}`: {x['reason']}")
        lines += ["", "| coefficient | estimate | SE |", "|---|---:|---:|"]
        lines += [f"| `{c['name']}` | {_fmt(c['estimate'])} | {_fmt(c['standard_error'])} |" for c in d["coefficients"]]
        lines += ["", "## Limitations", ""] + [f"- {x}" for x in d["limitations"]]
        lines += ["", f"spinetrack {d['training']['software_version']}, trained {d['training']['created_at']}.", "",
                  "## References", ""] + [f"- {r}" for r in d["references"]]
        return "\n".join(lines) + "\n"


def _num(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def _fixed(v: float | None) -> str:
    if v is None:
        return "—"
    text = f"{v:.3f}"
    return "0.000" if text == "-0.000" else text


def _fmt(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v:.4g}"


def model_card(model: PredictionModel, models: ModelSet | None = None) -> ModelCard:
    """The card of ``model``; with the model set, it lists which options use the model."""
    avail: tuple[OptionAvailability, ...] = ()
    if models is not None:
        avail = tuple(a for a in models.availability
                      if a.care_group == model.care_group and a.outcome == model.outcome and a.option in model.arms)
    return ModelCard(model, avail, None if models is None else models.settings)
