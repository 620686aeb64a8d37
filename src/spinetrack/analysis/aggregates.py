"""The sums the statistics need, as SQL aggregates over an analysis view.

Each function here writes ONE aggregate query (the "statistics as aggregates" principle) and
returns small numpy arrays; nothing row-level leaves the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from spinetrack.engines.base import Engine
from spinetrack.stats import symmetric_from_triangle

__all__ = ["column_moments", "linear_predictor", "logistic_crossprod", "weighted_moments_by_arm"]


def _fmt(v: float) -> str:
    return repr(float(v))


def linear_predictor(columns: Sequence[str], beta: np.ndarray) -> str:
    """``beta_0 + sum_j beta_j * x_j`` as SQL (the first coefficient is the intercept)."""
    terms = [_fmt(beta[0])] + [f"({_fmt(b)}) * {c}" for b, c in zip(beta[1:], columns, strict=True)]
    return " + ".join(terms)


def column_moments(engine: Engine, view: str, columns: Sequence[str]) -> tuple[float, np.ndarray, np.ndarray]:
    """(n, sum x, sum x²) per column: used to drop columns with no variation."""
    exprs = ["COUNT(*)"] + [f"SUM({c})" for c in columns] + [f"SUM({c} * {c})" for c in columns]
    v = engine.aggregate(view, exprs)
    k = len(columns)
    return float(v[0]), v[1:1 + k], v[1 + k:]


def logistic_crossprod(engine: Engine, view: str, columns: Sequence[str], treatment: str = "t"
                       ) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, float]]:
    """The IRLS callback for a logistic model of ``treatment`` on ``columns`` (plus intercept):
    ``beta ↦ (X'WX, X'(t − μ), log-likelihood)``, one aggregate query per call.

    With η = x'β, μ = expit(η), W = μ(1 − μ); the log-likelihood is Σ t·η − log(1 + e^η),
    written stably as Σ t·η − (max(η, 0) + log(1 + e^{−|η|})).
    """
    xs = ["1.0"] + list(columns)
    p = len(xs)

    def crossprod(beta: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        eta = linear_predictor(columns, beta)
        # layered projections so that e^-eta, mu and w are computed once per row, not once per sum
        inner = (f"SELECT {treatment} AS tt, {', '.join(f'{c} AS c{i}' for i, c in enumerate(xs))}, "
                 f"({eta}) AS eta FROM {view}")
        mid = "SELECT z.*, 1.0 / (1.0 + EXP(-eta)) AS mu FROM (" + inner + ") z"
        outer = ("SELECT m.*, mu * (1.0 - mu) AS w, tt - mu AS res, "
                 "tt * eta - (CASE WHEN eta > 0 THEN eta ELSE 0.0 END + LN(1.0 + EXP(-ABS(eta)))) AS ll "
                 "FROM (" + mid + ") m")
        exprs = []
        for i in range(p):
            for j in range(i, p):
                exprs.append(f"SUM(w * c{i} * c{j})")
        exprs += [f"SUM(res * c{i})" for i in range(p)]
        exprs.append("SUM(ll)")
        v = engine.aggregate(f"({outer}) o", exprs)
        k = p * (p + 1) // 2
        xtwx = symmetric_from_triangle(v[:k], p)
        score = v[k:k + p]
        return xtwx, score, float(v[k + p])

    return crossprod


def weighted_moments_by_arm(engine: Engine, view: str, columns: Sequence[str], weight: str = "w",
                            treatment: str = "t") -> dict[int, tuple[float, float, np.ndarray, np.ndarray]]:
    """Per arm: (Σw, Σw², Σw·x, Σw·x²) for each column — the sums balance and effective sample
    sizes need."""
    exprs = [f"SUM({weight})", f"SUM({weight} * {weight})"]
    exprs += [f"SUM({weight} * {c})" for c in columns] + [f"SUM({weight} * {c} * {c})" for c in columns]
    rows = engine.grouped(view, [f"CAST({treatment} AS INTEGER)"], exprs)
    k = len(columns)
    out = {}
    for r in rows:
        v = np.array([np.nan if x is None else float(x) for x in r[1:]])
        out[int(r[0])] = (float(v[0]), float(v[1]), v[2:2 + k], v[2 + k:])
    return out
