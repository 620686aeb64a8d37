"""Clinical prediction models and their validation (TRIPOD): fits, predictions with confidence
intervals, discrimination, calibration and bootstrap optimism correction.

Pure numpy (no scipy): normal quantiles come from :mod:`spinetrack.stats._common`.

Models (implemented in the private :mod:`spinetrack.stats._regression`, re-exported here)
----------------------------------------------------------------------------------------
:func:`fit_linear` (least squares), :func:`fit_logistic` (maximum likelihood, IRLS) and
:func:`fit_weibull_aft` (Weibull accelerated failure time for right-censored times; lifelines'
``WeibullAFTFitter`` parametrisation: its ``lambda_`` coefficients are our ``β``, its ``rho_``
intercept our ``log k``); predictions with delta-method intervals (:func:`predict_mean`,
:func:`predict_probability` on the logit scale, :func:`predict_median_time` on the log scale);
:func:`screen_columns`; :func:`shrink_coefficients` (uniform shrinkage, intercept re-estimated).
Log-normal and log-logistic AFT models beside the Weibull, their choice by AIC, quantiles and the
risk by a horizon come from :mod:`spinetrack.stats.aft`, calibration by risk group from
:mod:`spinetrack.stats.survival_calibration`;
:func:`predict_observation` gives the interval for one new patient's value of a continuous
outcome (a prediction interval, not the interval of the mean).

Performance (:mod:`spinetrack.stats.performance`, re-exported here)
------------------------------------------------------------------
Discrimination (:func:`c_statistic`, :func:`harrell_c`), calibration (:func:`calibrate_binary`,
:func:`calibrate_continuous`, :func:`calibrate_survival`, and by risk group
:func:`~spinetrack.stats.survival_calibration.calibrate_survival_groups`), :func:`brier_score` and
:func:`reliability_curve`.

Internal validation (:func:`validate_bootstrap`, Harrell FE, Lee KL, Mark DB. Stat Med.
1996;15(4):361-387, §5.3): apparent performance of the model on its own data; for each of ``B``
bootstrap resamples the whole fitting procedure (including dropping columns without variation) is
repeated, and the optimism is the performance on the resample minus the performance of that
refit on the original data, averaged over the resamples; corrected = apparent − optimism.
Resamples whose refit fails (separation, a singular design, no convergence) are skipped and
counted (``bootstrap_used``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from spinetrack.errors import InputError
from spinetrack.stats._common import as_float_array
from spinetrack.stats._regression import (
    LinearFitResult,
    PredictionEstimate,
    WeibullAFTResult,
    _json,
    fit_linear,
    fit_logistic,
    fit_weibull_aft,
    predict_mean,
    predict_median_time,
    predict_observation,
    predict_probability,
    screen_columns,
    shrink_coefficients,
)
from spinetrack.stats._regression import binary as _binary
from spinetrack.stats._regression import expit as _expit
from spinetrack.stats._regression import vector as _vector
from spinetrack.stats.aft import (
    DISTRIBUTIONS,
    AFTFitResult,
    AFTSelectionResult,
    aft_quantile,
    aft_survival,
    fit_aft,
    predict_aft_quantile,
    predict_aft_risk,
    select_aft,
)
from spinetrack.stats.glm import ConvergenceWarning
from spinetrack.stats.performance import (
    CalibrationResult,
    ReliabilityBin,
    ReliabilityCurve,
    brier_score,
    c_statistic,
    calibrate_binary,
    calibrate_continuous,
    calibrate_survival,
    harrell_c,
    reliability_curve,
    wilson_interval,
)
from spinetrack.stats.survival_calibration import SurvivalCalibrationTable, calibrate_survival_groups

__all__ = [
    "DISTRIBUTIONS",
    "METRICS",
    "AFTFitResult",
    "AFTSelectionResult",
    "CalibrationResult",
    "LinearFitResult",
    "ModelKind",
    "ModelPerformance",
    "PerformanceMetric",
    "PredictionEstimate",
    "ReliabilityBin",
    "ReliabilityCurve",
    "SurvivalCalibrationTable",
    "WeibullAFTResult",
    "aft_quantile",
    "aft_survival",
    "brier_score",
    "c_statistic",
    "calibrate_binary",
    "calibrate_continuous",
    "calibrate_survival",
    "calibrate_survival_groups",
    "fit_aft",
    "fit_linear",
    "fit_logistic",
    "fit_weibull_aft",
    "harrell_c",
    "predict_aft_quantile",
    "predict_aft_risk",
    "predict_mean",
    "predict_median_time",
    "predict_observation",
    "predict_probability",
    "reliability_curve",
    "screen_columns",
    "select_aft",
    "shrink_coefficients",
    "validate_bootstrap",
    "wilson_interval",
]



ModelKind = Literal["binary", "continuous", "time_to_event"]
#: The metrics reported per kind of model, in order.
METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("c_statistic", "calibration_intercept", "calibration_slope", "brier"),
    "continuous": ("r2", "rmse", "calibration_intercept", "calibration_slope"),
    "time_to_event": ("c_statistic", "calibration_slope"),
}


# ----------------------------------------------------------------------------- validation

@dataclass(frozen=True, slots=True)
class PerformanceMetric:
    """One performance measure: apparent, bootstrap optimism and optimism-corrected values."""

    name: str
    apparent: float
    optimism: float | None
    corrected: float | None

    def as_dict(self) -> dict[str, Any]:
        return _json({"name": self.name, "apparent": self.apparent, "optimism": self.optimism,
                            "corrected": self.corrected})


@dataclass(frozen=True)
class ModelPerformance:
    """Internal validation of one model (TRIPOD item 10d/16): the metrics of :data:`METRICS` for
    its kind, ``n`` patients, ``n_events`` (binary and time-to-event models), ``bootstrap``
    resamples requested and ``bootstrap_used`` (refit succeeded), the ``seed``."""

    kind: str
    n: int
    n_events: int | None
    bootstrap: int
    bootstrap_used: int
    seed: int | list[int] | None
    metrics: tuple[PerformanceMetric, ...]
    method: str

    def metric(self, name: str) -> PerformanceMetric:
        for m in self.metrics:
            if m.name == name:
                return m
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        return _json({"kind": self.kind, "n": self.n, "n_events": self.n_events, "bootstrap": self.bootstrap,
                            "bootstrap_used": self.bootstrap_used, "seed": self.seed, "method": self.method,
                            "metrics": [m.as_dict() for m in self.metrics]})

    @staticmethod
    def from_dict(d: dict[str, Any]) -> ModelPerformance:
        def num(v: Any) -> float:
            return float("nan") if v is None else float(v)

        metrics = tuple(PerformanceMetric(m["name"], num(m["apparent"]), m["optimism"], m["corrected"])
                        for m in d["metrics"])
        return ModelPerformance(d["kind"], d["n"], d["n_events"], d["bootstrap"], d["bootstrap_used"], d["seed"],
                                metrics, d["method"])


def _refit(kind: str, X: np.ndarray, y: np.ndarray | None, t: np.ndarray | None, d: np.ndarray | None,
           distribution: str = "weibull") -> tuple[np.ndarray, float]:
    """The fitting procedure replayed in each resample: screen the columns, fit, and return the
    full-length coefficients (0 for dropped columns) and ``log k`` (time to event; else 0)."""
    keep = screen_columns(X)
    beta = np.zeros(X.shape[1])
    Xk = X[:, keep]
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        if kind == "continuous":
            beta[keep] = fit_linear(Xk, y).coefficients
            return beta, 0.0
        if kind == "binary":
            beta[keep] = fit_logistic(Xk, y).coefficients
            return beta, 0.0
        fit = fit_aft(Xk, t, d, distribution)
        beta[keep] = fit.coefficients
        return beta, fit.log_shape


def _intercept_slope(c: CalibrationResult) -> tuple[float, float]:
    return c.intercept, c.slope


def _performance(kind: str, X: np.ndarray, beta: np.ndarray, log_shape: float, y: np.ndarray | None,
                 t: np.ndarray | None, d: np.ndarray | None, *, own_data: bool = False,
                 distribution: str = "weibull") -> dict[str, float]:
    """The metrics of a model on data. ``own_data``: the data the model was fitted on by
    maximum likelihood (with an intercept) — its calibration intercept is then exactly 0 and its
    slope exactly 1 (the score equations of the intercept and of the linear predictor), so the
    two refits are not run."""
    lp = X @ beta
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        if kind == "binary":
            assert y is not None
            cal = (0.0, 1.0) if own_data else _intercept_slope(calibrate_binary(y, lp))
            return {"c_statistic": c_statistic(y, lp), "calibration_intercept": cal[0],
                    "calibration_slope": cal[1], "brier": brier_score(y, _expit(lp))}
        if kind == "continuous":
            assert y is not None
            cal = (0.0, 1.0) if own_data else _intercept_slope(calibrate_continuous(y, lp))
            resid = y - lp
            tss = float(np.sum((y - y.mean()) ** 2))
            return {"r2": 1.0 - float(resid @ resid) / tss if tss > 0 else float("nan"),
                    "rmse": math.sqrt(float(np.mean(resid ** 2))), "calibration_intercept": cal[0],
                    "calibration_slope": cal[1]}
        assert t is not None and d is not None
        # the log median is lp plus a constant: the ranking and the slope are those of lp
        slope = 1.0 if own_data else calibrate_survival(t, d, lp, distribution).slope
        return {"c_statistic": harrell_c(t, d, lp), "calibration_slope": slope}


def validate_bootstrap(kind: str, X: Any, *, y: Any = None, time: Any = None, event: Any = None,
                       coefficients: Any = None, log_shape: float = 0.0, bootstrap: int = 200,
                       rng: np.random.Generator | int | Sequence[int] | None = None,
                       distribution: str = "weibull") -> ModelPerformance:
    """Apparent and optimism-corrected performance of a model (module docstring).

    Parameters
    ----------
    kind : {"binary", "continuous", "time_to_event"}
        The model: logistic, least squares or an AFT model of ``distribution``.
    X : ndarray, shape (n, p)
        The design the model was fitted on (first column the intercept).
    y, time, event : ndarray
        The outcome (``y``), or the times and event indicators.
    coefficients, log_shape : optional
        The fitted model; refitted here (with the same procedure) when omitted.
    bootstrap : int
        Number of resamples ``B`` (0: apparent performance only).
    rng : Generator or seed
        Randomness of the resamples; an int or a sequence of ints is recorded as the seed.
    distribution : {"weibull", "lognormal", "loglogistic"}
        The AFT distribution of a time-to-event model (kept fixed in the resamples).

    Returns
    -------
    ModelPerformance

    References
    ----------
    Harrell FE, Lee KL, Mark DB. Stat Med. 1996;15(4):361-387. Steyerberg EW. Clinical Prediction
    Models, 2nd ed. Springer; 2019, §17.2.

    Examples
    --------
    >>> import numpy as np
    >>> g = np.random.default_rng(1)
    >>> X = np.column_stack([np.ones(200), g.normal(size=(200, 3))])
    >>> y = (g.random(200) < 1 / (1 + np.exp(-X[:, 1]))).astype(float)
    >>> perf = validate_bootstrap("binary", X, y=y, bootstrap=20, rng=3)
    >>> m = perf.metric("calibration_slope")
    >>> round(m.apparent, 6), m.corrected < 1.0
    (1.0, True)
    """
    if kind not in METRICS:
        raise InputError(f"kind must be one of {sorted(METRICS)}, got {kind!r}")
    Xa = as_float_array(X, "X", ndim=2)
    n = Xa.shape[0]
    ya = ta = da = None
    if kind == "binary":
        ya = _binary(y, "y", n)
        n_events: int | None = int(ya.sum())
    elif kind == "continuous":
        ya = _vector(y, "y", n)
        n_events = None
    else:
        ta = _vector(time, "time", n)
        da = _binary(event, "event", n)
        n_events = int(da.sum())
    if coefficients is None:
        beta, gamma = _refit(kind, Xa, ya, ta, da, distribution)
    else:
        beta, gamma = as_float_array(coefficients, "coefficients", ndim=1), float(log_shape)
    apparent = _performance(kind, Xa, beta, gamma, ya, ta, da, distribution=distribution)
    seed: int | list[int] | None = None
    if isinstance(rng, (int, np.integer)):
        seed = int(rng)
    elif isinstance(rng, Sequence):
        seed = [int(s) for s in rng]
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(seed)
    optimism: dict[str, list[float]] = {m: [] for m in METRICS[kind]}
    used = 0
    for _ in range(int(bootstrap)):
        idx = gen.integers(0, n, n)
        sub = (None if a is None else a[idx] for a in (ya, ta, da))
        yb, tb, db = sub
        try:
            bb, gb = _refit(kind, Xa[idx], yb, tb, db, distribution)
            on_boot = _performance(kind, Xa[idx], bb, gb, yb, tb, db, own_data=True, distribution=distribution)
            on_orig = _performance(kind, Xa, bb, gb, ya, ta, da, distribution=distribution)
        except (InputError, ConvergenceWarning, np.linalg.LinAlgError):
            continue  # e.g. an outcome separated in this resample: skipped and counted
        used += 1
        for m, values in optimism.items():
            values.append(on_boot[m] - on_orig[m])
    metrics = []
    for m in METRICS[kind]:
        opt = float(np.mean(optimism[m])) if optimism[m] else None
        metrics.append(PerformanceMetric(m, float(apparent[m]), opt, None if opt is None else apparent[m] - opt))
    method = (f"apparent performance and Harrell's bootstrap optimism correction ({used} of {int(bootstrap)} "
              "resamples refitted)" if bootstrap else "apparent performance only (no bootstrap)")
    return ModelPerformance(kind, n, n_events, int(bootstrap), used, seed, tuple(metrics), method)
