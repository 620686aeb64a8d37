"""Small numerical helpers shared by the ``spinetrack.stats`` modules (private).

Only the standard library and numpy: normal quantiles and p-values come from
:class:`statistics.NormalDist` and :func:`math.erfc`, so that the pure core needs no scipy at
run time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from spinetrack.errors import InputError

__all__ = [
    "PredictionEstimate",
    "as_float_array",
    "check_ci_level",
    "freeze",
    "normal_quantile",
    "safe_cholesky",
    "to_jsonable",
    "two_sided_p_value",
]

_STANDARD_NORMAL = NormalDist()


@dataclass(frozen=True, eq=False)
class PredictionEstimate:
    """Predictions for the rows of a design with their delta-method interval; ``scale`` is where
    the interval was built (``identity``, ``logit`` or ``log``) and ``standard_error`` is on
    that scale."""

    estimate: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    standard_error: np.ndarray
    scale: str
    ci_level: float


def normal_quantile(ci_level: float) -> float:
    """The two-sided standard normal critical value for ``ci_level`` (1.959963... for 0.95)."""
    check_ci_level(ci_level)
    return _STANDARD_NORMAL.inv_cdf(0.5 + ci_level / 2.0)


def two_sided_p_value(z: float) -> float:
    """Two-sided p-value of a standard normal statistic, ``P(|Z| >= |z|)`` = erfc(|z|/sqrt 2)."""
    if not math.isfinite(z):
        return 0.0 if math.isinf(z) else float("nan")
    return math.erfc(abs(z) / math.sqrt(2.0))


def check_ci_level(ci_level: float) -> None:
    if not (isinstance(ci_level, (int, float)) and 0.0 < float(ci_level) < 1.0):
        raise InputError(f"ci_level must be strictly between 0 and 1, got {ci_level!r}")


def as_float_array(value: Any, name: str, *, ndim: int | None = None, finite: bool = True) -> np.ndarray:
    """``value`` as a float array (a copy), refusing wrong dimensions and non-finite entries."""
    try:
        arr = np.array(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be numeric: {exc}") from exc
    if ndim is not None and arr.ndim != ndim:
        raise InputError(f"{name} must be {ndim}-dimensional, got shape {arr.shape}")
    if finite and not np.all(np.isfinite(arr)):
        raise InputError(f"{name} contains NaN or infinite values")
    return arr


def freeze(arr: np.ndarray) -> np.ndarray:
    """Mark an array read-only so that a frozen result cannot be changed through it."""
    arr = np.asarray(arr)
    arr.setflags(write=False)
    return arr


def to_jsonable(value: Any) -> Any:
    """Arrays to (nested) lists and numpy scalars to Python scalars; NaN/inf become None."""
    if isinstance(value, np.ndarray):
        if (value.ndim and value.dtype.kind in "biu") or (value.dtype.kind == "f" and np.isfinite(value).all()):
            return value.tolist()  # already JSON scalars (the common case: no per-element walk)
        return [to_jsonable(v) for v in value.tolist()] if value.ndim else to_jsonable(value.item())
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def safe_cholesky(mat: np.ndarray, *, rtol: float = 1e-13) -> np.ndarray | None:
    """Cholesky factor of a symmetric positive definite matrix, or None when it is singular.

    Singularity is judged on the correlation-scaled matrix ``D^-1/2 M D^-1/2`` (so that
    columns on very different scales do not matter): a squared pivot below ``rtol`` means a
    column is a linear combination of the others up to rounding (variance inflation > 1/rtol).
    """
    d = np.diag(mat)
    if np.any(~np.isfinite(d)) or np.any(d <= 0):
        return None
    scale = 1.0 / np.sqrt(d)
    try:
        chol_scaled = np.linalg.cholesky(mat * scale[:, None] * scale[None, :])
    except np.linalg.LinAlgError:
        return None
    if np.min(np.diag(chol_scaled)) ** 2 < rtol:
        return None
    return chol_scaled / scale[:, None]
