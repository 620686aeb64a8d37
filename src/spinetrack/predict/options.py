"""Expected outcomes of each treatment option for one patient (:func:`predict_options`).

For every outcome and every option open to the patient (``predict.spec``: conservative care,
and MIS and open surgery within the family that treats the diagnosis), one
:class:`OptionPrediction`:

* ``source = "clinic"`` — the clinic's model at the patient's covariates with the option's
  indicator, with its 95% interval (delta method: a mean; a probability on the logit scale; a
  Weibull median on the log scale). The interval is that of the expected value for patients
  like this one, not a range for one patient's result.
* ``source = "literature"`` — the clinic's data do not meet the minimum-data rule for this
  option × outcome; the published arm figure of the evidence package for the average patient
  of that study, with its citation (``predict.literature``).
* ``source = "none"`` — neither: no number, and the reason.

Surgical outcomes (length of stay, complications, reoperation) are not predicted for
conservative care.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from spinetrack.predict.literature import LiteratureFigure, literature_figure
from spinetrack.predict.model import ModelSet, PredictionModel
from spinetrack.predict.profile import PatientProfile, encode_profile
from spinetrack.predict.spec import APPROACH_COLUMN, OUTCOMES, care_group_of
from spinetrack.stats.prediction import predict_mean, predict_median_time, predict_probability

__all__ = ["OptionPrediction", "OptionPredictions", "predict_options"]

# profile field → the covariate whose missing indicator it sets
_MISSING_COLUMN = {"age_years": "x_age10", "bmi": "x_bmi5", "smoking": "x_smoker_current", "diabetes": "x_diabetes",
                   "asa_grade": "x_asa", "odi_pct": "x_odi0", "nrs_back": "x_back0", "nrs_leg": "x_leg0",
                   "symptom_duration_weeks": "x_log_symptom_weeks", "prior_spine_surgery": "x_prior_surgery"}


@dataclass(frozen=True, slots=True)
class OptionPrediction:
    """One option × outcome for one patient (module docstring). ``kind`` is ``probability``,
    ``mean`` or ``median_days``; ``estimate`` and the interval are ``None`` when ``source`` is
    ``none``."""

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

    def as_dict(self) -> dict[str, Any]:
        return {"option": self.option, "outcome": self.outcome, "estimate": self.estimate, "ci_low": self.ci_low,
                "ci_high": self.ci_high, "unit": self.unit, "kind": self.kind, "source": self.source,
                "n_patients": self.n_patients, "model_id": self.model_id, "citation": self.citation,
                "note": self.note}


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


def _input_notes(model: PredictionModel, missing: tuple[str, ...], x: dict[str, float]) -> list[str]:
    notes = []
    for f in missing:
        col = _MISSING_COLUMN.get(f)
        if col is None:
            continue
        if f"{col}_missing" in model.columns:
            notes.append(f"{f} unknown: the model's missing-value term is used")
        else:
            notes.append(f"{f} unknown and no training patient had it missing: predicted at the encoding's centring "
                         "value (not a clinical value)")
    for name, value in model.constant_columns.items():
        if name in x and x[name] != value:
            notes.append(f"{name.removeprefix('x_')} = {x[name]:g} but every training patient had {value:g}: "
                         "that term is not in the model")
    return notes


def _clinic(model: PredictionModel, x: dict[str, float], option: str, ci_level: float) -> tuple[float, float, float]:
    row = _row(model, x, option)
    beta, cov = model.coefficient_array, model.covariance_array
    if model.kind == "continuous":
        pr = predict_mean(row, beta, cov, ci_level)
    elif model.kind == "binary":
        pr = predict_probability(row, beta, cov, ci_level)
    else:
        assert model.log_shape is not None
        pr = predict_median_time(row, beta, model.log_shape, cov, ci_level)
    return float(pr.estimate[0]), float(pr.ci_low[0]), float(pr.ci_high[0])


def predict_options(profile: PatientProfile, models: ModelSet, *, ci_level: float = 0.95) -> OptionPredictions:
    """Expected outcomes of each option for this patient (module docstring).

    Parameters
    ----------
    profile : PatientProfile
        The patient's predictors (``PatientProfile.from_records`` builds it from the store's
        records).
    models : ModelSet
        From :func:`~spinetrack.predict.load_models` or ``train_models(...).models``.
    ci_level : float
        Level of the intervals (0.95).

    Returns
    -------
    OptionPredictions
    """
    group = care_group_of(profile.diagnosis_group)
    x = encode_profile(profile)
    missing = profile.missing()
    preds = []
    for o in OUTCOMES:
        for option in group.options:
            if option == "conservative" and o.surgical_only:
                continue
            entry = models.entry(group.key, o.key, option)
            if entry is not None and entry.source == "clinic" and entry.model_id is not None \
                    and entry.model_id in models.models:
                model = models.models[entry.model_id]
                est, lo, hi = _clinic(model, x, option, ci_level)
                source_note = (f"model of {entry.n_patients} {option} patients in the clinic's data "
                               f"({model.population})")
                note = "; ".join([source_note, *_input_notes(model, missing, x)])
                preds.append(OptionPrediction(option, o.key, est, lo, hi, o.unit, o.prediction, "clinic",
                                              entry.n_patients, model.model_id, None, note))
                continue
            why = entry.reason if entry is not None else "no model was trained for this option and outcome"
            fig = literature_figure(group.family, option, o.key)
            if isinstance(fig, LiteratureFigure):
                preds.append(OptionPrediction(option, o.key, fig.estimate, fig.ci_low, fig.ci_high, o.unit,
                                              o.prediction, "literature", fig.n_patients, None, fig.citation,
                                              f"{why}; {fig.note}"))
            else:
                preds.append(OptionPrediction(option, o.key, None, None, None, o.unit, o.prediction, "none", None,
                                              None, None, f"{why}; {fig}"))
    notes = ["surgical outcomes (length of stay, complications, reoperation) are not predicted for conservative care"]
    if group.family is None:
        notes.append("nonspecific low back pain: no surgical option")
    else:
        notes.append(f"surgical options: MIS and open {group.family}, the procedure family for this diagnosis")
    if models.snapshot.get("synthetic"):
        notes.append("SYNTHETIC DATA: the models were trained on a synthetic snapshot (spinetrack demo)")
    return OptionPredictions(profile, group.key, group.family, group.options, tuple(preds), tuple(notes),
                             dict(models.snapshot), models.created_at, models.software_version)
