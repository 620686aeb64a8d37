"""Fitted prediction models as data, and how a model directory is read back.

A model directory (``spinetrack models train``; default ``SPINETRACK_MODELS_DIR``)::

    index.json                 the set: snapshot, software version, rules, and for every care
                               group × outcome × option whether the clinic's model is used
                               (and which) or why not
    models/<model_id>.json     one fitted model (PredictionModel.as_dict)
    cards/<model_id>.json      its model card (ModelCard.as_dict)
    cards/<model_id>.md        the same card in Markdown

Every file is plain JSON (no pickles): coefficients, covariance, column names, the
performance, the reliability groups, training counts, the snapshot manifest's id and creation
time, and the spinetrack version that wrote it. :func:`spinetrack.predict.files.load_models` reads a directory back into
a :class:`ModelSet`; :func:`spinetrack.predict.files.write_model_set` writes one (with the cards,
which are made from these classes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from spinetrack.stats._common import to_jsonable
from spinetrack.stats.prediction import ModelPerformance, ReliabilityCurve, SurvivalCalibrationTable

__all__ = ["FORMAT", "FORMAT_VERSION", "ModelSet", "OptionAvailability", "PredictionModel"]


def _json(value: Any) -> dict[str, Any]:
    """``to_jsonable`` of a mapping, typed."""
    out: dict[str, Any] = to_jsonable(value)
    return out

FORMAT = "spinetrack-prediction-models"
FORMAT_VERSION = 2  # 2: AFT distribution chosen by AIC, calibration by risk group, reoperation as time to event


@dataclass(frozen=True)
class PredictionModel:
    """One fitted model: a care group's surgical model (MIS and open, with the approach
    indicator ``x_mis``) or its conservative-care model, for one outcome.

    ``columns`` are the design's columns in order (``intercept`` first); ``coefficients`` and
    ``covariance`` follow them (for an AFT model the covariance has one more row and column,
    for ``log_shape``). ``dropped_columns`` lists the predictors left out and why.
    ``shrinkage`` is the uniform shrinkage factor applied to the covariate effects (``None``:
    none applied); ``performance`` is that of the fitted model before shrinkage, with its
    optimism correction.

    Time-to-event models: ``distribution`` (``weibull``, ``lognormal`` or ``loglogistic``) was
    chosen by AIC among ``distribution_aic``; ``calibration_groups`` is the Kaplan–Meier
    against predicted check by risk group of the chosen fit; ``horizon_days`` is set when the
    risk by that day is reported; ``max_followup_days`` is the longest follow-up in the
    training data (a time quantile beyond it is an extrapolation). Least squares:
    ``residual_sd`` and ``df_resid`` make the interval for one new patient."""

    model_id: str
    care_group: str
    family: str | None
    outcome: str
    arms: tuple[str, ...]
    kind: str
    prediction: str
    unit: str
    method: str
    columns: tuple[str, ...]
    coefficients: tuple[float, ...]
    covariance: tuple[tuple[float, ...], ...]
    log_shape: float | None
    shrinkage: float | None
    residual_sd: float | None
    dropped_columns: tuple[tuple[str, str], ...]
    n: int
    n_events: int | None
    n_by_option: Mapping[str, int]
    events_by_option: Mapping[str, int] | None
    events_per_parameter: float | None
    population: str
    population_rows: int
    sampled: bool
    outcome_definition: str
    performance: ModelPerformance
    reliability: ReliabilityCurve | None
    snapshot: Mapping[str, Any]
    software_version: str
    created_at: str
    notes: tuple[str, ...] = field(default=())
    distribution: str | None = None
    distribution_aic: Mapping[str, float | None] | None = None
    calibration_groups: SurvivalCalibrationTable | None = None
    horizon_days: int | None = None
    max_followup_days: float | None = None
    df_resid: int | None = None

    @cached_property
    def coefficient_array(self) -> np.ndarray:
        """``coefficients`` as a read-only array."""
        a = np.array(self.coefficients, dtype=float)
        a.setflags(write=False)
        return a

    @cached_property
    def covariance_array(self) -> np.ndarray:
        """``covariance`` as a read-only array."""
        a = np.array(self.covariance, dtype=float)
        a.setflags(write=False)
        return a

    @cached_property
    def constant_columns(self) -> dict[str, float]:
        """Predictors dropped because every training patient had the same value: that value."""
        out = {}
        for name, reason in self.dropped_columns:
            if reason.startswith("constant "):
                out[name] = float(reason.split()[1])
        return out

    def as_dict(self) -> dict[str, Any]:
        return _json({
            "model_id": self.model_id, "care_group": self.care_group, "family": self.family, "outcome": self.outcome,
            "arms": list(self.arms), "kind": self.kind, "prediction": self.prediction, "unit": self.unit,
            "method": self.method, "columns": list(self.columns), "coefficients": list(self.coefficients),
            "covariance": [list(r) for r in self.covariance], "log_shape": self.log_shape, "shrinkage": self.shrinkage,
            "residual_sd": self.residual_sd, "dropped_columns": [list(d) for d in self.dropped_columns],
            "n": self.n, "n_events": self.n_events, "n_by_option": dict(self.n_by_option),
            "events_by_option": None if self.events_by_option is None else dict(self.events_by_option),
            "events_per_parameter": self.events_per_parameter, "population": self.population,
            "population_rows": self.population_rows, "sampled": self.sampled,
            "outcome_definition": self.outcome_definition, "performance": self.performance.as_dict(),
            "reliability": None if self.reliability is None else self.reliability.as_dict(),
            "snapshot": dict(self.snapshot), "software_version": self.software_version,
            "created_at": self.created_at, "notes": list(self.notes), "distribution": self.distribution,
            "distribution_aic": None if self.distribution_aic is None else dict(self.distribution_aic),
            "calibration_groups": None if self.calibration_groups is None else self.calibration_groups.as_dict(),
            "horizon_days": self.horizon_days, "max_followup_days": self.max_followup_days,
            "df_resid": self.df_resid,
        })

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> PredictionModel:
        return PredictionModel(
            model_id=d["model_id"], care_group=d["care_group"], family=d["family"], outcome=d["outcome"],
            arms=tuple(d["arms"]), kind=d["kind"], prediction=d["prediction"], unit=d["unit"], method=d["method"],
            columns=tuple(d["columns"]), coefficients=tuple(float(v) for v in d["coefficients"]),
            covariance=tuple(tuple(float(v) for v in r) for r in d["covariance"]), log_shape=d["log_shape"],
            shrinkage=d["shrinkage"],
            residual_sd=d["residual_sd"], dropped_columns=tuple((a, b) for a, b in d["dropped_columns"]),
            n=d["n"], n_events=d["n_events"], n_by_option=MappingProxyType(dict(d["n_by_option"])),
            events_by_option=None if d["events_by_option"] is None else MappingProxyType(dict(d["events_by_option"])),
            events_per_parameter=d["events_per_parameter"], population=d["population"],
            population_rows=d["population_rows"], sampled=d["sampled"], outcome_definition=d["outcome_definition"],
            performance=ModelPerformance.from_dict(d["performance"]),
            reliability=None if d["reliability"] is None else ReliabilityCurve.from_dict(d["reliability"]),
            snapshot=MappingProxyType(dict(d["snapshot"])), software_version=d["software_version"],
            created_at=d["created_at"], notes=tuple(d["notes"]), distribution=d["distribution"],
            distribution_aic=None if d["distribution_aic"] is None else MappingProxyType(dict(d["distribution_aic"])),
            calibration_groups=None if d["calibration_groups"] is None
            else SurvivalCalibrationTable.from_dict(d["calibration_groups"]),
            horizon_days=d["horizon_days"], max_followup_days=d["max_followup_days"], df_resid=d["df_resid"])


@dataclass(frozen=True, slots=True)
class OptionAvailability:
    """Whether one care group × outcome × option is predicted by the clinic's model
    (``source = "clinic"``, ``model_id``) or falls back to the literature (``"fallback"``,
    ``reason``), with the training counts behind the decision."""

    care_group: str
    outcome: str
    option: str
    source: str
    model_id: str | None
    n_patients: int
    n_events: int | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"care_group": self.care_group, "outcome": self.outcome, "option": self.option, "source": self.source,
                "model_id": self.model_id, "n_patients": self.n_patients, "n_events": self.n_events,
                "reason": self.reason}


@dataclass(frozen=True)
class ModelSet:
    """A trained set of models (one ``spinetrack models train`` run)."""

    models: Mapping[str, PredictionModel]
    availability: tuple[OptionAvailability, ...]
    snapshot: Mapping[str, Any]
    software_version: str
    created_at: str
    settings: Mapping[str, Any]
    path: Path | None = None

    @cached_property
    def _entries(self) -> dict[tuple[str, str, str], OptionAvailability]:
        return {(a.care_group, a.outcome, a.option): a for a in self.availability}

    def entry(self, care_group: str, outcome: str, option: str) -> OptionAvailability | None:
        """Whether (and how) the option × outcome of a care group is predicted."""
        return self._entries.get((care_group, outcome, option))

    def as_dict(self) -> dict[str, Any]:
        """The index (``index_dict``) with every model's ``as_dict`` under ``model_files``."""
        return {**self.index_dict(), "model_files": {mid: m.as_dict() for mid, m in sorted(self.models.items())}}

    def index_dict(self) -> dict[str, Any]:
        return _json({"format": FORMAT, "format_version": FORMAT_VERSION,
                            "software_version": self.software_version, "created_at": self.created_at,
                            "snapshot": dict(self.snapshot), "settings": dict(self.settings),
                            "models": sorted(self.models), "availability": [a.as_dict() for a in self.availability]})
