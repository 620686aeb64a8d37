"""Expected outcomes of each treatment option for one patient (:func:`predict_options`).

For every outcome and every option open to the patient (``predict.spec``: conservative care,
and MIS and open surgery within the family that treats the diagnosis), one
:class:`OptionPrediction`:

* ``source = "clinic"`` — the clinic's model at the patient's covariates with the option's
  indicator, with two intervals that answer different questions:

  - the 95% **confidence interval** (``ci_low``, ``ci_high``) of the expected value for patients
    like this one (delta method: a mean; a probability on the logit scale; a time quantile on
    the log scale; a risk by a horizon on the distribution's standardised-time scale) — how
    sure the clinic's data make us of the average;
  - the **prediction interval** (``pi_low``, ``pi_high``, ``pi_level`` = 0.90) for one patient
    like this one: for a mean, ``ŷ ± t √(s² + x'Σx)`` with ``s²`` the model's residual variance;
    for days to an event, the 5% and 95% quantiles of
    the fitted distribution (``pi_high`` is ``None`` when it lies beyond the longest follow-up
    of the training data, ``pi_beyond_days``). "9 in 10 people like you had …". A probability
    has no prediction interval: it already describes one person's chance. A least-squares mean,
    its confidence interval and its prediction interval are cut at the ends of the outcome's
    scale (ODI 0–100, NRS 0–10, days ≥ 0): a linear model can step past them, the outcome cannot.
* ``source = "literature"`` — the clinic's data do not meet the minimum-data rule for this
  option × outcome; the published arm figure of the evidence package for the average patient
  of that study, with its citation (``predict.literature``); for a mean with a published SD,
  the range of 9 in 10 of that study's patients (normal approximation).
* ``source = "none"`` — no number, and the reason.

The ODI improvement (``odi_mcid_12m``: baseline − 12-month ODI ≥ the MCID) is the 12-month ODI
cut at a threshold that depends on the patient's own baseline ODI. When its own logistic model
is not available — in most clinics, because the outcome is so common (or so rare) that the rarer
kind falls short of the events rule (``predict.spec`` rule 2) — and the clinic's 12-month ODI
model for the option is, the chance is read from that model's predictive distribution:
``P(Y ≤ ODI₀ − MCID) = F_t((ODI₀ − MCID − ŷ) / √(s² + x'Σx))`` (Student's t with the model's
residual degrees of freedom; the same distribution as its prediction interval), its 95% interval
from the ends of the mean's confidence interval put through the same function. Dichotomising a
continuous outcome discards information (Altman DG, Royston P. The cost of dichotomising
continuous variables. BMJ 2006;332:1080), so the continuous model needs far fewer patients for
the same precision; the cell is labelled as coming from the clinic's ODI model (``note``,
``model_id``).

Missing baseline scores (ODI, NRS back and leg): the ODI improvement (MCID) is not predicted
without the baseline ODI (it is measured from it); other outcomes use the model's term for a
missing score and say plainly that the estimate does not use the patient's own scores
(``uses_baseline_scores`` False), or give no estimate when no training patient lacked the
score. Another missing predictor without a term of its own is predicted at the model's
reference value, which the note names.

Surgical outcomes (length of stay, complications, reoperation) are not predicted for
conservative care.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from spinetrack.predict.literature import LiteratureFigure, literature_figure
from spinetrack.predict.model import ModelSet, PredictionModel
from spinetrack.predict.profile import ASSUMED_WHEN_MISSING, BASELINE_SCORES, PatientProfile, encode_profile
from spinetrack.predict.spec import APPROACH_COLUMN, OUTCOMES, PREDICTION_INTERVAL_LEVEL, OutcomeDef, care_group_of
from spinetrack.stats._common import normal_quantile
from spinetrack.stats.meta._distributions import t_sf
from spinetrack.stats.prediction import (
    aft_quantile,
    predict_aft_quantile,
    predict_aft_risk,
    predict_mean,
    predict_observation,
    predict_probability,
)

__all__ = ["OptionPrediction", "OptionPredictions", "predict_options"]

# profile field → the covariate whose missing indicator it sets
_MISSING_COLUMN = {"age_years": "x_age10", "bmi": "x_bmi5", "smoking": "x_smoker_current", "diabetes": "x_diabetes",
                   "asa_grade": "x_asa", "odi_pct": "x_odi0", "nrs_back": "x_back0", "nrs_leg": "x_leg0",
                   "symptom_duration_weeks": "x_log_symptom_weeks", "prior_spine_surgery": "x_prior_surgery"}
_FIELD_WORDS = {"age_years": "age", "bmi": "BMI", "smoking": "smoking", "diabetes": "diabetes",
                "asa_grade": "ASA grade",
                "odi_pct": "ODI", "nrs_back": "NRS back pain", "nrs_leg": "NRS leg pain",
                "symptom_duration_weeks": "symptom duration", "prior_spine_surgery": "earlier spine surgery"}


@dataclass(frozen=True, slots=True)
class OptionPrediction:
    """One option × outcome for one patient (module docstring). ``kind`` is ``probability``,
    ``mean`` or ``median_days``; ``estimate`` and the intervals are ``None`` when ``source`` is
    ``none``. ``ci_*`` is the 95% confidence interval of the expected value, ``pi_*`` the
    prediction interval for one patient (``pi_level``), ``uses_baseline_scores`` whether the
    patient's own baseline ODI and NRS scores went into a clinic estimate."""

    option: str
    outcome: str
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    unit: str
    kind: str
    source: str
    n_patients: int | None
    model_id: str | None
    citation: str | None
    note: str
    pi_low: float | None = None
    pi_high: float | None = None
    pi_level: float | None = None
    pi_beyond_days: float | None = None
    uses_baseline_scores: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"option": self.option, "outcome": self.outcome, "estimate": self.estimate, "ci_low": self.ci_low,
                "ci_high": self.ci_high, "pi_low": self.pi_low, "pi_high": self.pi_high, "pi_level": self.pi_level,
                "pi_beyond_days": self.pi_beyond_days, "uses_baseline_scores": self.uses_baseline_scores,
                "unit": self.unit, "kind": self.kind, "source": self.source, "n_patients": self.n_patients,
                "model_id": self.model_id, "citation": self.citation, "note": self.note}


@dataclass(frozen=True)
class OptionPredictions:
    """Every option × outcome for one patient, with the model set's provenance."""

    profile: PatientProfile
    care_group: str
    family: str | None
    options: tuple[str, ...]
    predictions: tuple[OptionPrediction, ...]
    notes: tuple[str, ...]
    snapshot: dict[str, Any]
    models_created_at: str
    software_version: str

    def get(self, option: str, outcome: str) -> OptionPrediction:
        for p in self.predictions:
            if p.option == option and p.outcome == outcome:
                return p
        raise KeyError((option, outcome))

    def as_dict(self) -> dict[str, Any]:
        return {"profile": self.profile.as_dict(), "care_group": self.care_group, "family": self.family,
                "options": list(self.options), "predictions": [p.as_dict() for p in self.predictions],
                "notes": list(self.notes), "snapshot": dict(self.snapshot),
                "models_created_at": self.models_created_at, "software_version": self.software_version}


def _row(model: PredictionModel, x: dict[str, float], option: str) -> np.ndarray:
    values = {"intercept": 1.0, APPROACH_COLUMN: 1.0 if option == "mis" else 0.0, **x}
    return np.array([values[c] for c in model.columns])


def _names(fields: list[str]) -> str:
    words = [_FIELD_WORDS[f] for f in fields]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _input_notes(model: PredictionModel, missing: tuple[str, ...], x: dict[str, float]) -> list[str]:
    notes = []
    scores = [f for f in missing if f in BASELINE_SCORES]
    if scores:
        notes.append(f"baseline {_names(scores)} not recorded: this estimate does not use the patient's own "
                     f"score{'s' if len(scores) > 1 else ''} (it uses the clinic's patients whose score was not "
                     "recorded either) and is less personal")
    for f in missing:
        col = _MISSING_COLUMN.get(f)
        if col is None or f in BASELINE_SCORES:
            continue
        if f"{col}_missing" in model.columns:
            notes.append(f"{_FIELD_WORDS[f]} not recorded: the model's term for an unknown value is used")
        else:
            notes.append(f"{_FIELD_WORDS[f]} not recorded, and every patient the model was fitted on had it: the "
                         f"estimate assumes {ASSUMED_WHEN_MISSING[f]}")
    for name, value in model.constant_columns.items():
        if name in x and x[name] != value:
            notes.append(f"{name.removeprefix('x_')} = {x[name]:g} but every training patient had {value:g}: "
                         "that term is not in the model")
    return notes


@dataclass(frozen=True, slots=True)
class _Numbers:
    estimate: float
    ci_low: float | None
    ci_high: float | None
    pi_low: float | None = None
    pi_high: float | None = None
    pi_level: float | None = None
    pi_beyond_days: float | None = None


def _cut(value: float, scale: tuple[float, float | None] | None) -> float:
    if scale is None:
        return value
    low, high = scale
    return min(max(value, low), high) if high is not None else max(value, low)


def _clinic(model: PredictionModel, o: OutcomeDef, x: dict[str, float], option: str, ci_level: float,
            pi_level: float) -> _Numbers:
    row = _row(model, x, option)
    beta, cov = model.coefficient_array, model.covariance_array
    if model.kind == "continuous":
        pr = predict_mean(row, beta, cov, ci_level)
        est = _Numbers(*(_cut(float(v[0]), o.scale) for v in (pr.estimate, pr.ci_low, pr.ci_high)))
        if model.residual_sd is None or not model.df_resid:
            return est
        pi = predict_observation(row, beta, cov, model.residual_sd, model.df_resid, pi_level)
        return _Numbers(est.estimate, est.ci_low, est.ci_high, _cut(float(pi.ci_low[0]), o.scale),
                        _cut(float(pi.ci_high[0]), o.scale), pi_level)
    if model.kind == "binary":
        pr = predict_probability(row, beta, cov, ci_level)
        return _Numbers(float(pr.estimate[0]), float(pr.ci_low[0]), float(pr.ci_high[0]))
    assert model.log_shape is not None
    dist = model.distribution or "weibull"
    if model.horizon_days:
        pr = predict_aft_risk(row, beta, model.log_shape, cov, dist, float(model.horizon_days), ci_level)
        return _Numbers(float(pr.estimate[0]), float(pr.ci_low[0]), float(pr.ci_high[0]))
    pr = predict_aft_quantile(row, beta, model.log_shape, cov, dist, 0.5, ci_level)
    low = float(aft_quantile(row, beta, model.log_shape, dist, (1.0 - pi_level) / 2.0)[0])
    high = float(aft_quantile(row, beta, model.log_shape, dist, (1.0 + pi_level) / 2.0)[0])
    beyond = None
    if model.max_followup_days is not None and high > model.max_followup_days:
        high, beyond = None, model.max_followup_days  # type: ignore[assignment]
    return _Numbers(float(pr.estimate[0]), float(pr.ci_low[0]), float(pr.ci_high[0]), low, high, pi_level, beyond)


MCID_OUTCOME = "odi_mcid_12m"
MCID_SOURCE_OUTCOME = "odi_12m"


def _odi_mcid_threshold() -> float:
    from spinetrack.instruments import thresholds

    absolute = thresholds.get("odi").absolute
    if absolute is None:  # pragma: no cover - the shipped threshold table has it
        raise RuntimeError("the ODI threshold table has no absolute MCID")
    return float(absolute)


def _mcid_from_odi_model(model: PredictionModel, x: dict[str, float], option: str, odi0: float,
                         ci_level: float) -> _Numbers | None:
    """The chance of an ODI improvement of at least the MCID, from the 12-month ODI model's
    predictive t distribution (module docstring); ``None`` when the model has no residual SD."""
    if model.residual_sd is None or not model.df_resid:
        return None
    threshold = odi0 - _odi_mcid_threshold()
    if threshold < 0.0:  # the score cannot fall below 0: this improvement is out of reach
        return _Numbers(0.0, 0.0, 0.0)
    row = _row(model, x, option)
    beta, cov = model.coefficient_array, model.covariance_array
    pr = predict_mean(row, beta, cov, ci_level)
    var_mean = float(row @ cov @ row)
    spread = math.sqrt(model.residual_sd ** 2 + max(var_mean, 0.0))
    df = float(model.df_resid)

    def below(mean: float) -> float:
        return 1.0 - t_sf((threshold - mean) / spread, df)

    est = below(float(pr.estimate[0]))
    return _Numbers(est, below(float(pr.ci_high[0])), below(float(pr.ci_low[0])))


def _literature_range(fig: LiteratureFigure, o: OutcomeDef, pi_level: float) -> tuple[float | None, float | None]:
    """The range of ``pi_level`` of one study arm's patients, from its mean and SD (normal
    approximation, plus the uncertainty of the mean: ``√(1 + 1/n)``)."""
    if fig.sd is None or not fig.n_patients or o.prediction != "mean":
        return None, None
    half = normal_quantile(pi_level) * fig.sd * math.sqrt(1.0 + 1.0 / fig.n_patients)
    return _cut(fig.estimate - half, o.scale), _cut(fig.estimate + half, o.scale)


def _derived_mcid(models: ModelSet, care_group: str, option: str, x: dict[str, float], odi0: float,
                  missing: tuple[str, ...], ci_level: float, why: str) -> OptionPrediction | None:
    """The ODI-improvement cell from the clinic's 12-month ODI model, when that option × outcome
    meets the minimum-data rule (module docstring); ``None`` otherwise."""
    entry = models.entry(care_group, MCID_SOURCE_OUTCOME, option)
    if entry is None or entry.source != "clinic" or entry.model_id is None or entry.model_id not in models.models:
        return None
    model = models.models[entry.model_id]
    if any(f"{_MISSING_COLUMN[f]}_missing" not in model.columns for f in BASELINE_SCORES if f in missing):
        return None
    num = _mcid_from_odi_model(model, x, option, odi0, ci_level)
    if num is None:
        return None
    o = next(d for d in OUTCOMES if d.key == MCID_OUTCOME)
    note = "; ".join([
        f"from the clinic's 12-month ODI model of {entry.n_patients} {option} patients ({model.population}): the "
        f"chance that the 12-month ODI is at least {_odi_mcid_threshold():g} points below the baseline, from the "
        "model's predictive t distribution (its own logistic model is not used: " + why + ")",
        *_input_notes(model, missing, x)])
    return OptionPrediction(option, o.key, num.estimate, num.ci_low, num.ci_high, o.unit, o.prediction, "clinic",
                            entry.n_patients, model.model_id, None, note, None, None, None, None,
                            not [f for f in BASELINE_SCORES if f in missing])


def predict_options(profile: PatientProfile, models: ModelSet, *, ci_level: float = 0.95,
                    pi_level: float = PREDICTION_INTERVAL_LEVEL) -> OptionPredictions:
    """Expected outcomes of each option for this patient (module docstring).

    Parameters
    ----------
    profile : PatientProfile
        The patient's predictors at the episode's baseline (``PatientProfile.from_records``
        builds it from the store's records).
    models : ModelSet
        From :func:`~spinetrack.predict.load_models` or ``train_models(...).models``.
    ci_level : float
        Level of the confidence intervals of the expected value (0.95).
    pi_level : float
        Level of the prediction intervals for one patient (0.90: "9 in 10 people like you").

    Returns
    -------
    OptionPredictions
    """
    group = care_group_of(profile.diagnosis_group)
    x = encode_profile(profile)
    missing = profile.missing()
    missing_scores = [f for f in BASELINE_SCORES if f in missing]
    preds = []
    for o in OUTCOMES:
        for option in group.options:
            if option == "conservative" and o.surgical_only:
                continue
            if o.key == "odi_mcid_12m" and profile.odi_pct is None:
                preds.append(OptionPrediction(option, o.key, None, None, None, o.unit, o.prediction, "none", None, None,
                                              None, "the patient's baseline ODI is not recorded: the improvement "
                                                    "is measured from it, so it is not estimated (record the "
                                                    "baseline ODI)"))
                continue
            entry = models.entry(group.key, o.key, option)
            if entry is not None and entry.source == "clinic" and entry.model_id is not None \
                    and entry.model_id in models.models:
                model = models.models[entry.model_id]
                lacking = [f for f in missing_scores if f"{_MISSING_COLUMN[f]}_missing" not in model.columns]
                if lacking:
                    preds.append(OptionPrediction(
                        option, o.key, None, None, None, o.unit, o.prediction, "none", None, None, None,
                        f"baseline {_names(lacking)} not recorded, and every patient the clinic's model was fitted on "
                        "had it: no estimate without the patient's own score"))
                    continue
                num = _clinic(model, o, x, option, ci_level, pi_level)
                source_note = (f"model of {entry.n_patients} {option} patients in the clinic's data "
                               f"({model.population})")
                note = "; ".join([source_note, *_input_notes(model, missing, x)])
                preds.append(OptionPrediction(option, o.key, num.estimate, num.ci_low, num.ci_high, o.unit,
                                              o.prediction, "clinic", entry.n_patients, model.model_id, None, note,
                                              num.pi_low, num.pi_high, num.pi_level, num.pi_beyond_days,
                                              not missing_scores))
                continue
            why = entry.reason if entry is not None else "no model was trained for this option and outcome"
            if o.key == MCID_OUTCOME and profile.odi_pct is not None:
                derived = _derived_mcid(models, group.key, option, x, float(profile.odi_pct), missing, ci_level, why)
                if derived is not None:
                    preds.append(derived)
                    continue
            fig = literature_figure(group.family, option, o.key)
            if isinstance(fig, LiteratureFigure):
                lo, hi = _literature_range(fig, o, pi_level)
                note = f"{why}; {fig.note}"
                if lo is not None:
                    note += (f"; range of {pi_level:.0%} of that arm's patients from its published mean and SD (normal "
                             "approximation)")
                preds.append(OptionPrediction(option, o.key, fig.estimate, fig.ci_low, fig.ci_high, o.unit,
                                              o.prediction, "literature", fig.n_patients, None, fig.citation, note,
                                              lo, hi, pi_level if lo is not None else None))
            else:
                preds.append(OptionPrediction(option, o.key, None, None, None, o.unit, o.prediction, "none", None,
                                              None, None, f"{why}; {fig}"))
    notes = ["surgical outcomes (length of stay, complications, reoperation) are not predicted for conservative care"]
    if group.family is None:
        notes.append("nonspecific low back pain: no surgical option")
    else:
        notes.append(f"surgical options: MIS and open {group.family}, the procedure family for this diagnosis")
    if missing_scores:
        notes.append(f"baseline {_names(missing_scores)} not recorded: the estimates do not use the patient's own "
                     "scores and are less personal"
                     + ("; the ODI improvement is not estimated without the baseline ODI"
                        if "odi_pct" in missing_scores else ""))
    if models.snapshot.get("synthetic"):
        notes.append("SYNTHETIC DATA: the models were trained on a synthetic snapshot (spinetrack demo)")
    return OptionPredictions(profile, group.key, group.family, group.options, tuple(preds), tuple(notes),
                             dict(models.snapshot), models.created_at, models.software_version)
