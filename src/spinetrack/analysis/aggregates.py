"""The sums the statistics need, as SQL aggregates over an analysis view.

Each function here writes ONE aggregate query (the "statistics as aggregates" principle) and
returns small numpy arrays; nothing row-level leaves the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from spinetrack.analysis.patterns import Design, GroupedSums
from spinetrack.engines.base import Engine

__all__ = [
    "column_moments",
    "design_crossprod_by_arm",
    "grouped_sums",
    "linear_predictor",
    "logistic_crossprod",
    "sql_float",
    "weighted_moments_by_arm",
]


def sql_float(v: float) -> str:
    """A DOUBLE literal that round-trips ``v`` exactly. Written in exponent form: both DuckDB
    and Spark read a plain ``0.0456`` as a DECIMAL, and DECIMAL arithmetic in a linear
    predictor made each IRLS pass about four times slower (measured at a million rows)."""
    r = repr(float(v))
    if r in ("inf", "-inf", "nan"):
        raise ValueError(f"not a finite number: {v!r}")
    return r if "e" in r else f"{r}e0"


def linear_predictor(columns: Sequence[str], beta: np.ndarray) -> str:
    """``beta_0 + sum_j beta_j * x_j`` as SQL (the first coefficient is the intercept)."""
    terms = [sql_float(beta[0])] + [f"({sql_float(b)}) * {c}" for b, c in zip(beta[1:], columns, strict=True)]
    return " + ".join(terms)


def column_moments(engine: Engine, view: str, columns: Sequence[str]) -> tuple[float, np.ndarray, np.ndarray]:
    """(n, sum x, sum x²) per column: used to drop columns with no variation."""
    exprs = ["COUNT(*)"] + [f"SUM({c})" for c in columns] + [f"SUM({c} * {c})" for c in columns]
    v = engine.aggregate(view, exprs)
    k = len(columns)
    return float(v[0]), v[1:1 + k], v[1 + k:]


def grouped_sums(engine: Engine, view: str, design: Design, groups: Sequence[str], exprs: Sequence[str]
                 ) -> GroupedSums:
    """ONE aggregate query over ``view`` grouped by ``groups`` (e.g. the arm) and the design's
    pattern code (``analysis.patterns``), read back as :class:`GroupedSums`."""
    keys = list(groups) + design.keys
    rows = engine.grouped(view, keys, exprs) if keys else engine.sql(f"SELECT {', '.join(exprs)} FROM {view}")
    return GroupedSums(design, rows, len(groups))


def _logistic_rows(view: str, design: Design, treatment: str, beta: np.ndarray) -> str:
    """Layered projections so that e^-eta, mu and the weights are computed once per row, not
    once per sum: the design's columns and ``tt`` (the response), ``eta``, ``mu``, ``w``
    (= mu(1 − mu)), ``res`` (= tt − mu) and ``ll`` (the row's log-likelihood, written stably
    as tt·η − (max(η, 0) + log(1 + e^{−|η|})))."""
    eta = linear_predictor(design.columns, beta)
    carried = ", ".join([*dict.fromkeys(design.columns), *design.keys])
    inner = f"SELECT {treatment} AS tt{', ' + carried if carried else ''}, ({eta}) AS eta FROM {view}"
    mid = "SELECT z.*, 1.0 / (1.0 + EXP(-eta)) AS mu FROM (" + inner + ") z"
    return ("SELECT m.*, mu * (1.0 - mu) AS w, tt - mu AS res, "
            "tt * eta - (CASE WHEN eta > 0 THEN eta ELSE 0.0 END + LN(1.0 + EXP(-ABS(eta)))) AS ll "
            "FROM (" + mid + ") m")


def logistic_crossprod(engine: Engine, view: str, columns: Sequence[str], treatment: str = "t",
                       bits: dict[str, int] | None = None
                       ) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, float]]:
    """The IRLS callback for a logistic model of ``treatment`` on ``columns`` (plus intercept):
    ``beta ↦ (X'WX, X'(t − μ), log-likelihood)``, one aggregate query per call
    (η = x'β, μ = expit(η), W = μ(1 − μ)). With ``bits`` (0/1 columns packed in the view's
    pattern code) the sums are grouped by covariate pattern (``analysis.patterns``)."""
    design = Design.of(columns, bits)

    def crossprod(beta: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        exprs = design.matrix("w") + design.vector("res") + ["SUM(ll)"]
        g = grouped_sums(engine, f"({_logistic_rows(view, design, treatment, beta)}) o", design, [], exprs)
        info, score = g.matrix(), g.vector()
        return info, score, float(g.scalars(1)[0])

    return crossprod


def design_crossprod_by_arm(engine: Engine, view: str, columns: Sequence[str], response: str = "t",
                            bits: dict[str, int] | None = None) -> dict[int, np.ndarray]:
    """Per level of ``response`` (0/1): the unweighted cross-product matrix ``X'X`` of the
    design (intercept first) — counts, sums and sums of squares and products in one query;
    used to drop constant, arm-constant and collinear columns before fitting."""
    design = Design.of(columns, bits)
    g = grouped_sums(engine, view, design, [f"CAST({response} AS INTEGER)"], design.matrix("1.0"))
    return {int(k[0]): g.select(k).matrix() for k in g.group_keys()}


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
