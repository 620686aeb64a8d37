"""Train the prediction models from a snapshot (``train_models``).

Design choice
-------------
Per outcome and per procedure family, ONE model over the family's MIS and open patients with
an approach indicator ``x_mis`` (shared covariate slopes: the covariates are assumed to act
alike under both approaches, so the two options borrow strength from each other), and ONE
conservative-care model per outcome over the conservative patients with the diagnoses that
family treats (``predict.spec.CARE_GROUPS``; nonspecific low back pain has its own). An
option's prediction is its model at the patient's covariates with the option's indicator.
Predictors are the analysis covariates with the same encoding and missing-indicator method
(``analysis.design``); columns without variation in a model's training data are dropped, and
so is a column that is a linear combination of the ones before it (e.g. the last diagnosis
indicator when a family treats only the diagnoses listed) — the card lists both.

Models: least squares for continuous outcomes, logistic regression for binary ones, and for
time-to-event outcomes (days to return to activity; reoperation by day 730) an accelerated
failure time model whose distribution — Weibull, log-normal or log-logistic — is chosen by
AIC on the training data (``stats.aft.select_aft``; the AICs are in the card). The chosen fit
must then pass the calibration-in-the-large check by risk group (``predict.spec`` rule 3:
Kaplan–Meier against mean predicted survival in quintiles of predicted risk, at the reported
horizon — day 730 for reoperation — or at the training data's Kaplan–Meier median for the
median days; Greenwood–Nam–D'Agostino test at ``calibration_alpha``), else it is not used.

Each model gets its internal validation (Harrell's bootstrap optimism correction, ``bootstrap``
resamples, seeded per model from ``seed`` and the model id; an AFT model's distribution is kept
fixed in the resamples) and reliability groups. Overfitting shrinks, it does not discard:
when the optimism-corrected calibration slope is below 1, the covariate effects are
multiplied by it (uniform shrinkage, Van Houwelingen & Le Cessie 1990; Steyerberg 2019, §13.2;
a slope at or below 0 removes them, leaving the clinic's average for the option) and the
intercept (and an AFT model's shape) is re-estimated, so that the predictions are calibrated
on new patients of the same clinic. The approach effect (MIS vs open) is not shrunk: it is the
contrast the decision turns on, and shrinking it would pull every MIS − open difference towards
none. Intervals treat the shrinkage factor as fixed. The reported performance is that of the
fitted model before shrinkage, with its optimism correction (the corrected calibration slope is
the factor used). The literature stands in only where the clinic truly lacks data: too few
patients in the option, or too few events per coefficient (``predict.spec``, rules 1 and 2).

Data: the snapshot is opened on an engine (DuckDB by default, Spark by name); the analysis
table of the scorecard (``analysis.design.analysis_table_sql``) is built once, each
population (care group × surgical or conservative) is materialized with only the columns the
models read, at most :data:`~spinetrack.predict.spec.MAX_TRAINING_ROWS` rows (hashed sample
above it), and pulled into numpy in pages of :data:`PAGE_ROWS` rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import time
import warnings
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from spinetrack.engines.base import Engine
from spinetrack.errors import InputError, ValidationError
from spinetrack.predict.files import write_model_set
from spinetrack.predict.model import ModelSet, OptionAvailability, PredictionModel
from spinetrack.predict.spec import (
    APPROACH_COLUMN,
    CALIBRATION_ALPHA,
    CALIBRATION_GROUPS,
    CARE_GROUPS,
    COVARIATES,
    MAX_TRAINING_ROWS,
    MIN_EVENTS_PER_PARAMETER,
    MIN_PATIENTS_PER_OPTION,
    OUTCOMES,
    CareGroup,
    OutcomeDef,
)
from spinetrack.stats._common import to_jsonable
from spinetrack.stats.glm import ConvergenceWarning, SeparationError
from spinetrack.stats.prediction import (
    AFTSelectionResult,
    SurvivalCalibrationTable,
    aft_survival,
    calibrate_survival_groups,
    fit_linear,
    fit_logistic,
    reliability_curve,
    screen_columns,
    select_aft,
    shrink_coefficients,
    validate_bootstrap,
)

__all__ = ["PAGE_ROWS", "TrainingResult", "planned_models", "train_models"]

PAGE_ROWS = 25_000
_POP_TABLE = "predict_population"
_METHODS = {"continuous": "ordinary least squares",
            "binary": "logistic regression (maximum likelihood, Newton/IRLS)"}
_AFT_LABELS = {"weibull": "Weibull", "lognormal": "log-normal", "loglogistic": "log-logistic"}


def _aft_method(distribution: str) -> str:
    return (f"{_AFT_LABELS[distribution]} accelerated failure time (maximum likelihood, Newton-Raphson), "
            "right-censored; distribution chosen by AIC among Weibull, log-normal and log-logistic")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainingResult:
    """What ``train_models`` did: the model set (also written to ``out_dir``), the engine and
    the wall-clock time."""

    out_dir: Path
    models: ModelSet
    engine: str
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        fitted = []
        for m in self.models.models.values():
            perf = {x.name: {"apparent": x.apparent, "corrected": x.corrected} for x in m.performance.metrics}
            fitted.append({"model_id": m.model_id, "care_group": m.care_group, "outcome": m.outcome,
                           "arms": list(m.arms), "kind": m.kind, "n": m.n, "n_events": m.n_events,
                           "n_by_option": dict(m.n_by_option), "performance": perf})
        counts = {"clinic": 0, "fallback": 0}
        for a in self.models.availability:
            counts[a.source] += 1
        doc: dict[str, Any] = to_jsonable({
            "out_dir": str(self.out_dir), "engine": self.engine, "seconds": round(self.seconds, 2),
            "snapshot": dict(self.models.snapshot), "software_version": self.models.software_version,
            "created_at": self.models.created_at, "settings": dict(self.models.settings),
            "models": fitted, "options": counts, "availability": [a.as_dict() for a in self.models.availability]})
        return doc


def planned_models() -> int:
    """How many models a training run considers (care groups × outcomes × surgical/conservative)."""
    n = 0
    for g in CARE_GROUPS:
        n += sum(1 for o in OUTCOMES if not o.surgical_only)
        if g.family:
            n += len(OUTCOMES)
    return n


def _snapshot_info(snapshot_dir: Path) -> dict[str, Any]:
    p = snapshot_dir / "manifest.json"
    if not p.exists():
        return {"id": None, "created_at": None, "synthetic": None, "path": str(snapshot_dir)}
    raw = p.read_bytes()
    man = json.loads(raw)
    return {"id": hashlib.sha256(raw).hexdigest()[:16], "created_at": man.get("created_at"),
            "synthetic": bool(man.get("synthetic")), "spinetrack_version": man.get("spinetrack_version"),
            "path": str(snapshot_dir)}


def _population_where(group: CareGroup, arm_type: str) -> tuple[str, str]:
    if arm_type == "surgical":
        return (f"q.treatment IN ('mis', 'open') AND q.treatment_family = '{group.family}' AND q.has_procedure",
                f"{group.family} procedures (MIS or open) recorded on the index date, any diagnosis")
    dx = ", ".join(f"'{d}'" for d in group.diagnoses)
    return (f"q.treatment = 'conservative' AND q.dx_group IN ({dx})",
            f"conservative care, diagnosis {' or '.join(d.replace('_', ' ') for d in group.diagnoses)}")


def _fetch(engine: Engine, group: CareGroup, arm_type: str, outcomes: list[OutcomeDef], max_rows: int
           ) -> tuple[dict[str, np.ndarray], int, bool, str]:
    """The population's columns as numpy arrays (at most ``max_rows`` rows), its size before
    sampling, whether it was sampled, and its description."""
    from spinetrack.analysis.design import ANALYSIS_TABLE

    where, description = _population_where(group, arm_type)
    src = (f"(SELECT a.*, ep.diagnosis_group AS dx_group FROM {ANALYSIS_TABLE} a "
           "JOIN episodes ep ON ep.episode_key = a.episode_key) q")
    (total,), = engine.sql(f"SELECT COUNT(*) FROM {src} WHERE {where}")
    total = int(total or 0)
    sampled = total > max_rows
    if sampled:
        where += f" AND {engine.sample_predicate('q.episode_key', math.ceil(total / max_rows))}"
    names = [APPROACH_COLUMN, *COVARIATES]
    exprs = ["CASE WHEN q.treatment = 'mis' THEN 1.0 ELSE 0.0 END", *(f"q.{c}" for c in COVARIATES)]
    for o in outcomes:
        names.append(f"ok__{o.key}")
        exprs.append(f"CASE WHEN ({o.where}) THEN 1.0 ELSE 0.0 END")
        for col, expr in o.columns:
            names.append(f"{col}__{o.key}")
            exprs.append(f"CAST(({expr}) AS DOUBLE)")
    select = ", ".join(f"{e} AS {n}" for e, n in zip(exprs, names, strict=True))
    engine.materialize(_POP_TABLE, f"SELECT ROW_NUMBER() OVER (ORDER BY q.episode_key) AS rn, {select} FROM {src} "
                                   f"WHERE {where}")
    (n_rows,), = engine.sql(f"SELECT COUNT(*) FROM {_POP_TABLE}")
    n_rows = min(int(n_rows or 0), max_rows)
    out = np.empty((n_rows, len(names)))
    for start in range(0, n_rows, PAGE_ROWS):
        stop = min(start + PAGE_ROWS, n_rows)
        rows = engine.sql(f"SELECT {', '.join(names)} FROM {_POP_TABLE} WHERE rn > {start} AND rn <= {stop} "
                          "ORDER BY rn")
        out[start:stop] = np.array(rows, dtype=float).reshape(stop - start, len(names))
    # rows in an order given by their content, not by the pseudonymous keys: a snapshot rekeyed
    # with another secret (every `models train` from the database) then draws the same bootstrap
    # resamples and trains the same models
    out = out[np.lexsort(out.T[::-1])]
    return {n: out[:, j] for j, n in enumerate(names)}, total, sampled, description


def _dropped(X: np.ndarray, names: list[str], keep: np.ndarray) -> list[tuple[str, str]]:
    out = []
    for j in np.flatnonzero(~keep):
        col = X[:, j]
        if np.all(col == col[0]):
            out.append((names[j], f"constant {col[0]:g} in the training data"))
        else:
            out.append((names[j], "a linear combination of the columns before it in the training data"))
    return out


def _fit(kind: str, X: np.ndarray, y: np.ndarray, t: np.ndarray, d: np.ndarray, names: list[str],
         columns: list[str]) -> tuple[Any, list[str], list[tuple[str, str]], AFTSelectionResult | None]:
    """Fit on ``columns`` (of ``X``, whose columns are ``names``), dropping a covariate that
    (quasi-)separates a binary outcome (at most 5 times; never the intercept or the approach
    indicator). A time-to-event model is the AFT distribution with the smallest AIC; a 0/1
    covariate with no event among the patients with it (or among those without it) is dropped
    first, since its time ratio has no finite estimate. Returns (fit, kept columns, dropped,
    the AFT selection or None)."""
    cols = list(columns)
    dropped: list[tuple[str, str]] = []
    if kind == "time_to_event":
        for c in list(cols):
            col = X[:, names.index(c)]
            if c in ("intercept", APPROACH_COLUMN) or not np.all((col == 0.0) | (col == 1.0)):
                continue
            with_it, without = float(d[col == 1.0].sum()), float(d[col == 0.0].sum())
            if with_it == 0.0 or without == 0.0:
                cols.remove(c)
                n_with = int(col.sum())
                who = f"the {n_with} patients with it" if with_it == 0.0 else f"the {col.size - n_with} without it"
                dropped.append((c, f"no event among {who} in the training data (dropped: no finite estimate)"))
    while True:
        idx = [names.index(c) for c in cols]
        Xk = X[:, idx]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", ConvergenceWarning)
                if kind == "continuous":
                    return fit_linear(Xk, y, names=cols), cols, dropped, None
                if kind == "binary":
                    return fit_logistic(Xk, y, names=cols), cols, dropped, None
                selection = select_aft(Xk, t, d, names=cols)
                return selection.fit, cols, dropped, selection
        except SeparationError as exc:
            culprit = exc.column
            if culprit in ("intercept", APPROACH_COLUMN) or culprit not in cols or len(dropped) >= 5:
                raise
            cols.remove(culprit)
            dropped.append((culprit, "separates the outcome in the training data (dropped)"))


def _km_median(t: np.ndarray, d: np.ndarray) -> float:
    """The Kaplan–Meier median of the training data (the last event time when the curve stays
    above one half): where the calibration of a median is checked."""
    from spinetrack.stats.survival import grouped_counts_numpy, kaplan_meier_from_counts

    g = grouped_counts_numpy(t, d)
    curve = kaplan_meier_from_counts(g.time, g.events, removals=g.removals)
    below = np.flatnonzero(curve.survival <= 0.5)
    if below.size:
        return float(curve.time[below[0]])
    return float(t[d == 1].max())


def _calibration_by_group(o: OutcomeDef, Xk: np.ndarray, beta: np.ndarray, log_shape: float, distribution: str,
                          t: np.ndarray, d: np.ndarray, groups: int) -> SurvivalCalibrationTable:
    at = float(o.horizon_days) if o.horizon_days else _km_median(t, d)
    predicted = aft_survival(Xk, beta, log_shape, distribution, [at])[:, 0]
    return calibrate_survival_groups(t, d, predicted, at, groups=groups)


@dataclass(frozen=True)
class _Rules:
    min_patients: int
    min_epv: float
    calibration_alpha: float
    calibration_groups: int
    max_rows: int
    bootstrap: int
    seed: int


def _train_one(o: OutcomeDef, group: CareGroup, arm_type: str, data: Mapping[str, np.ndarray], rules: _Rules,
               meta: dict[str, Any]) -> tuple[PredictionModel | None, list[OptionAvailability]]:
    model_id = f"{group.key}.{o.key}.{arm_type}"
    arms = ("mis", "open") if arm_type == "surgical" else ("conservative",)
    rows = data[f"ok__{o.key}"] == 1.0
    y = data.get(f"y__{o.key}", np.zeros(rows.size))[rows]
    t = data.get(f"time__{o.key}", np.ones(rows.size))[rows]
    d = data.get(f"event__{o.key}", np.zeros(rows.size))[rows]
    mis = data[APPROACH_COLUMN][rows]
    masks = ({"mis": mis == 1.0, "open": mis == 0.0} if arm_type == "surgical"
             else {"conservative": np.ones(mis.size, dtype=bool)})
    n_by = {a: int(masks[a].sum()) for a in arms}
    ev = y if o.kind == "binary" else d if o.kind == "time_to_event" else None
    ev_by = None if ev is None else {a: int(ev[masks[a]].sum()) for a in arms}
    names = ["intercept", *COVARIATES] + ([APPROACH_COLUMN] if arm_type == "surgical" else [])
    X = np.column_stack([np.ones(int(rows.sum()))] + [data[c][rows] for c in names[1:]])

    def unavailable(reason: str) -> tuple[None, list[OptionAvailability]]:
        return None, [OptionAvailability(group.key, o.key, a, "fallback", None, n_by[a],
                                         None if ev_by is None else ev_by[a], reason) for a in arms]

    ok_arms = [a for a in arms if n_by[a] >= rules.min_patients]
    if not ok_arms:
        counts = ", ".join(f"{a} {n_by[a]}" for a in arms)
        return unavailable(f"fewer than {rules.min_patients} patients with the outcome observed in the clinic's data "
                           f"({counts}); minimum-data rule")
    keep = screen_columns(X)
    dropped = _dropped(X, names, keep)
    kept = [n for n, k in zip(names, keep, strict=True) if k]
    n_params = len(kept) - 1
    epv = None
    n_events = None
    if ev is not None:
        n_events = int(ev.sum())
        limiting = min(n_events, int(rows.sum()) - n_events) if o.kind == "binary" else n_events
        epv = limiting / max(n_params, 1)
        if epv < rules.min_epv:
            what = "outcomes of the rarer kind" if o.kind == "binary" else "events"
            return unavailable(f"{limiting} {what} for {n_params} coefficients ({epv:.1f} per coefficient; at least "
                               f"{rules.min_epv:g} needed, Peduzzi et al. 1996); minimum-data rule")
    try:
        fit, kept, sep, selection = _fit(o.kind, X, y, t, d, names, kept)
    except (InputError, ConvergenceWarning, np.linalg.LinAlgError) as exc:
        return unavailable(f"the model could not be fitted: {exc}")
    dropped += sep
    idx = [names.index(c) for c in kept]
    Xk = X[:, idx]
    log_shape = getattr(fit, "log_shape", None)
    distribution = None if selection is None else selection.chosen
    rng = [rules.seed, zlib.crc32(model_id.encode())]
    tte = o.kind == "time_to_event"
    try:
        perf = validate_bootstrap(o.kind, Xk, y=None if tte else y, time=t if tte else None,
                                  event=d if tte else None, coefficients=fit.coefficients,
                                  log_shape=log_shape or 0.0, bootstrap=rules.bootstrap, rng=rng,
                                  distribution=distribution or "weibull")
    except (InputError, ConvergenceWarning, np.linalg.LinAlgError) as exc:
        return unavailable(f"the model's performance could not be computed: {exc}")
    slope = perf.metric("calibration_slope").corrected
    notes = []
    if arm_type == "surgical":
        notes.append("shared covariate slopes for MIS and open (no approach-by-covariate interaction): on the model's "
                     "scale the MIS - open difference is the same for every patient")
    beta = np.asarray(fit.coefficients, dtype=float)
    cov = np.asarray(fit.covariance, dtype=float)
    calibration = None
    miscalibrated = None
    if selection is not None:
        aics = ", ".join(f"{_AFT_LABELS[k]} {v:.1f}" if v is not None else f"{_AFT_LABELS[k]} not fitted"
                         for k, v in selection.aic.items())
        notes.append(f"distribution chosen by AIC (smaller is better): {aics}; the choice is not repeated in the "
                     "bootstrap resamples")
        try:
            calibration = _calibration_by_group(o, Xk, beta, float(log_shape or 0.0), selection.chosen, t, d,
                                                rules.calibration_groups)
        except InputError as exc:
            notes.append(f"calibration by risk group not evaluated: {exc}")
        if calibration is not None and calibration.p_value < rules.calibration_alpha:
            miscalibrated = (
                f"the {_AFT_LABELS[selection.chosen]} model (best by AIC) is not calibrated by risk group: observed "
                f"(Kaplan-Meier) and predicted survival at day {calibration.time:g} differ beyond chance "
                f"(Greenwood-Nam-D'Agostino chi-square {calibration.chi2:.1f} on {calibration.df} df, "
                f"p = {calibration.p_value:.2g} < {rules.calibration_alpha:g}); minimum-data rule 3")
    shrinkage = None
    if not rules.bootstrap or slope is None:
        notes.append("overfitting check and shrinkage not evaluated (no bootstrap)")
    elif slope < 1.0:
        shrinkage = min(1.0, max(0.0, float(slope)))
        exempt = [kept.index(APPROACH_COLUMN)] if APPROACH_COLUMN in kept else []
        try:
            beta, new_shape = shrink_coefficients(o.kind, Xk, beta, shrinkage, y=y, time=t, event=d, exempt=exempt,
                                                  distribution=distribution or "weibull")
        except (InputError, ConvergenceWarning, np.linalg.LinAlgError) as exc:
            return unavailable(f"the model could not be shrunk: {exc}")
        if new_shape is not None:
            log_shape = new_shape
        scale = np.full(cov.shape[0], shrinkage)
        scale[0] = 1.0
        scale[exempt] = 1.0
        scale[len(kept):] = 1.0  # log k
        cov = cov * np.outer(scale, scale)
        notes.append(f"covariate effects shrunk by the optimism-corrected calibration slope {shrinkage:.3f} (uniform "
                     "shrinkage, Van Houwelingen & Le Cessie 1990) and the intercept re-estimated"
                     + ("; the approach effect is not shrunk" if exempt else "")
                     + "; intervals treat the factor as fixed")
        if shrinkage == 0.0:
            notes.append(f"the optimism-corrected calibration slope is {slope:.3f}: the covariates carry no signal "
                         "that holds on new patients, so the model predicts the clinic's average for each option")
    lp = Xk @ beta
    reliability = None
    if o.kind == "binary":
        reliability = reliability_curve(y, 1.0 / (1.0 + np.exp(-lp)), kind="binary")
    elif o.kind == "continuous":
        reliability = reliability_curve(y, lp, kind="continuous")
    else:
        notes.append("no reliability diagram for a censored outcome; calibration: the slope of the linear predictor "
                     "in an AFT refit, and Kaplan-Meier against predicted survival by risk group")
    model = PredictionModel(
        model_id=model_id, care_group=group.key, family=group.family, outcome=o.key, arms=arms, kind=o.kind,
        prediction=o.prediction, unit=o.unit,
        method=_aft_method(distribution) if distribution else _METHODS[o.kind], columns=tuple(kept),
        coefficients=tuple(float(v) for v in beta), covariance=tuple(tuple(float(v) for v in r) for r in cov),
        log_shape=None if log_shape is None else float(log_shape), shrinkage=shrinkage,
        residual_sd=getattr(fit, "sigma", None), dropped_columns=tuple(dropped), n=int(rows.sum()),
        n_events=n_events, n_by_option=MappingProxyType(n_by),
        events_by_option=None if ev_by is None else MappingProxyType(ev_by), events_per_parameter=epv,
        population=meta["description"], population_rows=meta["total"], sampled=meta["sampled"],
        outcome_definition=o.definition, performance=perf, reliability=reliability,
        snapshot=MappingProxyType(meta["snapshot"]), software_version=meta["version"], created_at=meta["created_at"],
        notes=tuple(notes), distribution=distribution,
        distribution_aic=None if selection is None else MappingProxyType(dict(selection.aic)),
        calibration_groups=calibration, horizon_days=o.horizon_days,
        max_followup_days=float(t.max()) if tte else None, df_resid=getattr(fit, "df_resid", None))
    avail = []
    for a in arms:
        n_ev = None if ev_by is None else ev_by[a]
        if miscalibrated is not None:
            avail.append(OptionAvailability(group.key, o.key, a, "fallback", None, n_by[a], n_ev, miscalibrated))
        elif a in ok_arms:
            avail.append(OptionAvailability(group.key, o.key, a, "clinic", model_id, n_by[a], n_ev,
                                            "minimum-data rule met"))
        else:
            avail.append(OptionAvailability(group.key, o.key, a, "fallback", None, n_by[a], n_ev,
                                            f"{n_by[a]} {a} patients with the outcome observed in the clinic's data; "
                                            f"at least {rules.min_patients} needed (minimum-data rule)"))
    return model, avail


def train_models(snapshot_dir: str | Path, engine_name: str, out_dir: str | Path,
                 bootstrap: int = 200, seed: int = 20_240_607, *, engine_options: Mapping[str, Any] | None = None,
                 min_patients_per_option: int = MIN_PATIENTS_PER_OPTION,
                 min_events_per_parameter: float = MIN_EVENTS_PER_PARAMETER,
                 calibration_alpha: float = CALIBRATION_ALPHA, calibration_groups: int = CALIBRATION_GROUPS,
                 max_rows: int = MAX_TRAINING_ROWS, outcomes: Sequence[str] | None = None,
                 progress: Progress | None = None) -> TrainingResult:
    """Fit every prediction model on a snapshot, validate it, and write the model set.

    Parameters
    ----------
    snapshot_dir : path
        A directory written by ``spinetrack snapshot``.
    engine_name : {"duckdb", "spark"}
        The analytics engine that reads the snapshot.
    out_dir : path
        Where to write the models and cards (``predict.files``); the command line passes its
        ``models_dir`` setting (``SPINETRACK_MODELS_DIR``), read there, at the edge.
    bootstrap : int
        Bootstrap resamples per model for the optimism correction (0: apparent performance only).
    seed : int
        Seed of the resamples (each model's stream is seeded by ``[seed, crc32(model_id)]``).
    min_patients_per_option, min_events_per_parameter, max_rows
        The minimum-data rule and the row cap (``predict.spec``).
    outcomes : sequence of str, optional
        Train only these outcomes (keys of ``predict.spec.OUTCOMES``); default all.
    calibration_alpha, calibration_groups
        The calibration-in-the-large check of the time-to-event models (``predict.spec`` rule 3):
        the level of the Greenwood-Nam-D'Agostino test and the number of risk groups.
    progress : callable, optional
        Called with a short message after each model.

    Returns
    -------
    TrainingResult

    Raises
    ------
    spinetrack.errors.ValidationError
        An unknown engine, a bad number, or a directory that is not a snapshot.
    """
    from spinetrack import __version__
    from spinetrack.analysis.propensity import prepare_snapshot
    from spinetrack.engines import ENGINES, get_engine

    if engine_name not in ENGINES:
        raise ValidationError(field="engine", value=engine_name, allowed=list(ENGINES))
    for name, value, low in (("bootstrap", bootstrap, 0), ("min_patients_per_option", min_patients_per_option, 1),
                             ("max_rows", max_rows, 1), ("calibration_groups", calibration_groups, 2)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValidationError(field=name, value=value, allowed=f"an integer >= {low}")
    if isinstance(min_events_per_parameter, bool) or not isinstance(min_events_per_parameter, (int, float)) \
            or not min_events_per_parameter >= 0:
        raise ValidationError(field="min_events_per_parameter", value=min_events_per_parameter,
                              allowed="a number >= 0")
    if isinstance(calibration_alpha, bool) or not isinstance(calibration_alpha, (int, float)) \
            or not 0 <= calibration_alpha < 1:
        raise ValidationError(field="calibration_alpha", value=calibration_alpha, allowed="a number from 0 to below 1")
    known = [o.key for o in OUTCOMES]
    wanted = None if outcomes is None else list(outcomes)
    if wanted is not None and (not wanted or any(k not in known for k in wanted)):
        raise ValidationError(field="outcomes", value=wanted, allowed=known)
    started = time.perf_counter()
    snap = Path(snapshot_dir)
    rules = _Rules(min_patients_per_option, float(min_events_per_parameter), float(calibration_alpha),
                   calibration_groups, max_rows, bootstrap, int(seed))
    created = dt.datetime.now(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    info = _snapshot_info(snap)
    models: dict[str, PredictionModel] = {}
    availability: list[OptionAvailability] = []
    engine = get_engine(engine_name, **dict(engine_options or {}))
    try:
        engine.register_snapshot(snap)
        prepare_snapshot(engine)
        for group in CARE_GROUPS:
            for arm_type in (("surgical", "conservative") if group.family else ("conservative",)):
                todo = [o for o in OUTCOMES if (arm_type == "surgical" or not o.surgical_only)
                        and (wanted is None or o.key in wanted)]
                if not todo:
                    continue
                data, total, sampled, description = _fetch(engine, group, arm_type, todo, max_rows)
                meta = {"description": description, "total": total, "sampled": sampled, "snapshot": info,
                        "version": __version__, "created_at": created}
                for o in todo:
                    model, avail = _train_one(o, group, arm_type, data, rules, meta)
                    if model is not None:
                        models[model.model_id] = model
                    availability += avail
                    if progress is not None:
                        progress(f"{group.key} {o.key} {arm_type}")
    finally:
        engine.close()
    settings = {"engine": engine_name, "bootstrap": bootstrap, "seed": int(seed),
                "min_patients_per_option": min_patients_per_option,
                "min_events_per_parameter": float(min_events_per_parameter),
                "calibration_alpha": float(calibration_alpha), "calibration_groups": calibration_groups,
                "max_rows": max_rows, "outcomes": wanted}
    model_set = ModelSet(MappingProxyType(models), tuple(availability), MappingProxyType(info), __version__, created,
                         MappingProxyType(settings), Path(out_dir))
    write_model_set(model_set, out_dir)
    return TrainingResult(Path(out_dir), model_set, engine_name, time.perf_counter() - started)
