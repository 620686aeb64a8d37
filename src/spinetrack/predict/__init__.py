"""Per-patient expected outcomes for each treatment option (decision support).

:func:`train_models` fits, validates and writes the models from a snapshot;
:func:`load_models` reads them back; :func:`predict_options` gives, for one
:class:`PatientProfile`, the expected outcome of conservative care and of MIS and open surgery
(within the procedure family for the diagnosis) — from the clinic's models when its data meet
the minimum-data rule, else from the published arms of the evidence package, else nothing, and
says which. The outcomes, options, predictors and the rule are in :mod:`spinetrack.predict.spec`;
the design choice in :mod:`spinetrack.predict.training`; the models as data (and reading them
back) in :mod:`spinetrack.predict.model`; the cards in :mod:`spinetrack.predict.card`; writing a
model directory in :mod:`spinetrack.predict.files`.

This package sits between ``analysis`` (whose covariates and outcome columns it reuses) and the
reports, interop and snapshot layer; it reaches the data only through an ``Engine``.
"""

from __future__ import annotations

from spinetrack.predict.card import ModelCard, model_card
from spinetrack.predict.files import load_models
from spinetrack.predict.model import ModelSet, OptionAvailability, PredictionModel
from spinetrack.predict.options import OptionPrediction, OptionPredictions, predict_options
from spinetrack.predict.profile import PatientProfile, encode_profile
from spinetrack.predict.spec import (
    CARE_GROUPS,
    FAMILY_BY_DIAGNOSIS,
    MAX_TRAINING_ROWS,
    MIN_EVENTS_PER_PARAMETER,
    MIN_PATIENTS_PER_OPTION,
    OPTIONS,
    OUTCOMES,
)
from spinetrack.predict.training import TrainingResult, planned_models, train_models

__all__ = [
    "CARE_GROUPS",
    "FAMILY_BY_DIAGNOSIS",
    "MAX_TRAINING_ROWS",
    "MIN_EVENTS_PER_PARAMETER",
    "MIN_PATIENTS_PER_OPTION",
    "OPTIONS",
    "OUTCOMES",
    "ModelCard",
    "ModelSet",
    "OptionAvailability",
    "OptionPrediction",
    "OptionPredictions",
    "PatientProfile",
    "PredictionModel",
    "TrainingResult",
    "encode_profile",
    "load_models",
    "model_card",
    "planned_models",
    "predict_options",
    "train_models",
]
