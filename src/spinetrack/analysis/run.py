"""Run one claim for one comparison on an engine: population → propensity model (IRLS, one
aggregate query per iteration) → weights → balance → weighted effect with a sandwich interval
that accounts for the estimated propensity score → verdict.

Every number comes back from the engine as sums; only p×p matrices reach Python.
Continuous and binary claims are implemented here; time-to-event claims (return to activity,
reoperation-free survival) are the next step (weighted Kaplan–Meier from grouped counts is in
:mod:`spinetrack.stats.survival`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spinetrack.analysis.aggregates import column_moments, linear_predictor, logistic_crossprod
from spinetrack.analysis.claims import Claim, MetricKind, Verdict, decide_verdict
from spinetrack.analysis.design import ComparisonSpec, attrition_sql, covariate_names, outcome_sql, population_sql
from spinetrack.engines.base import Engine
from spinetrack.stats import (
    ArmEstimatingSums,
    ArmMomentSums,
    BalanceTable,
    EffectEstimate,
    LogisticFitResult,
    WeightingSums,
    compute_balance,
    estimate_risk_ratio,
    estimate_weighted_difference,
    fit_logistic_irls,
    symmetric_from_triangle,
)

__all__ = ["AttritionStep", "ClaimResult", "run_claim"]


@dataclass(frozen=True, slots=True)
class AttritionStep:
    description: str
    n_treated: int
    n_control: int


@dataclass(frozen=True)
class ClaimResult:
    """One scorecard row with everything behind it."""

    claim: str
    comparison: str
    estimand: str
    effect: EffectEstimate
    ratio: EffectEstimate | None
    naive_difference: float
    verdict: Verdict
    balance: BalanceTable
    propensity: LogisticFitResult
    covariates: tuple[str, ...]
    dropped_covariates: tuple[str, ...]
    attrition: tuple[AttritionStep, ...]
    spec_hash: str
    notes: tuple[str, ...] = field(default=())


def _drop_constant(engine: Engine, view: str, cols: Sequence[str]) -> tuple[list[str], list[str]]:
    """Drop columns with no variation, and 0/1 columns that are constant within an arm (they
    would separate the treatment: the propensity model's MLE would not exist)."""
    n, s1, s2 = column_moments(engine, view, cols)
    by_arm = {int(r[0]): r[1:] for r in engine.grouped(view, ["CAST(t AS INTEGER)"],
                                                       ["COUNT(*)"] + [f"SUM({c})" for c in cols])}
    keep, drop = [], []
    for k, (c, a, b) in enumerate(zip(cols, s1, s2, strict=True)):
        var = b / n - (a / n) ** 2 if n else 0.0
        binary = abs(a - b) < 1e-9
        separating = False
        if binary and len(by_arm) == 2:
            for arm_row in by_arm.values():
                n_arm, ones = float(arm_row[0]), float(arm_row[1 + k] or 0.0)
                separating |= ones == 0.0 or ones == n_arm
        (keep if var > 1e-10 and not separating else drop).append(c)
    return keep, drop


def _drop_collinear(engine: Engine, view: str, cols: list[str]) -> tuple[list[str], list[str]]:
    """Greedy rank check on X'X at β = 0 (the W = 1/4 cross-products): a column whose residual
    variance given the kept ones is (numerically) zero is dropped."""
    xtwx, _, _ = logistic_crossprod(engine, view, cols)(np.zeros(len(cols) + 1))
    m = xtwx * 4.0
    keep_idx = [0]
    dropped = []
    for j in range(1, m.shape[0]):
        idx = keep_idx + [j]
        sub = m[np.ix_(idx, idx)]
        k = sub[:-1, :-1]
        resid = sub[-1, -1] - sub[-1, :-1] @ np.linalg.solve(k, sub[:-1, -1])
        if resid > 1e-8 * max(sub[-1, -1], 1.0):
            keep_idx.append(j)
        else:
            dropped.append(cols[j - 1])
    return [cols[j - 1] for j in keep_idx[1:]], dropped


def _triangle_exprs(weight: str, xs: Sequence[str]) -> list[str]:
    out = []
    for i in range(len(xs)):
        for j in range(i, len(xs)):
            out.append(f"SUM({weight} * {xs[i]} * {xs[j]})")
    return out


def _weighting_sums(engine: Engine, view: str, cols: Sequence[str], beta: np.ndarray, estimand: str
                    ) -> tuple[WeightingSums, dict[int, ArmMomentSums], float]:
    eta = linear_predictor(cols, beta)
    xs = ["1.0"] + [f"x{i}" for i in range(len(cols))]
    base = (f"SELECT t, y, {', '.join(f'{c} AS x{i}' for i, c in enumerate(cols))}, "
            f"1.0 / (1.0 + EXP(-({eta}))) AS e FROM {view}")
    if estimand == "ATO":
        w = "CASE WHEN t = 1 THEN 1.0 - e ELSE e END"
        dw = "CASE WHEN t = 1 THEN -e * (1.0 - e) ELSE e * (1.0 - e) END"
    else:  # unstabilized ATE (stabilizing constants cancel in the Hajek estimate and sandwich)
        w = "CASE WHEN t = 1 THEN 1.0 / e ELSE 1.0 / (1.0 - e) END"
        dw = "CASE WHEN t = 1 THEN -(1.0 - e) / e ELSE e / (1.0 - e) END"
    weighted = f"SELECT z.*, {w} AS w, {dw} AS dw, t - e AS r, e * (1.0 - e) AS v FROM ({base}) z"
    p = len(xs)
    exprs = ["COUNT(*)", "SUM(w)", "SUM(w * y)", "SUM(w * w)", "SUM(w * w * y)", "SUM(w * w * y * y)"]
    exprs += [f"SUM(dw * {x})" for x in xs] + [f"SUM(dw * y * {x})" for x in xs]
    exprs += [f"SUM(w * r * {x})" for x in xs] + [f"SUM(w * r * y * {x})" for x in xs]
    exprs += _triangle_exprs("v", xs) + _triangle_exprs("r * r", xs)
    exprs += [f"SUM(w * {x})" for x in xs[1:]] + [f"SUM(w * {x} * {x})" for x in xs[1:]] + ["SUM(y)"]
    rows = engine.grouped(f"({weighted}) q", ["CAST(t AS INTEGER)"], exprs)
    arms: dict[int, ArmEstimatingSums] = {}
    moments: dict[int, ArmMomentSums] = {}
    naive: dict[int, float] = {}
    tri = p * (p + 1) // 2
    k = len(cols)
    for r in rows:
        arm = int(r[0])
        v = np.array([np.nan if x is None else float(x) for x in r[1:]])
        o = 6
        sdx, sdyx, swrx, swryx = (v[o + i * p:o + (i + 1) * p] for i in range(4))
        o += 4 * p
        svxx = symmetric_from_triangle(v[o:o + tri], p)
        sr2xx = symmetric_from_triangle(v[o + tri:o + 2 * tri], p)
        o += 2 * tri
        arms[arm] = ArmEstimatingSums(int(v[0]), v[1], v[2], v[3], v[4], v[5], sdx, sdyx, swrx, swryx, svxx, sr2xx)
        moments[arm] = ArmMomentSums(sum_w=v[1], sum_wx=v[o:o + k], sum_wx2=v[o + k:o + 2 * k], sum_w2=v[3],
                                     n=int(v[0]))
        naive[arm] = v[o + 2 * k] / v[0]
    return WeightingSums(arms[1], arms[0], estimand), moments, naive[1] - naive[0]


def run_claim(engine: Engine, spec: ComparisonSpec, claim: Claim, *, estimand: str = "ATO",
              ci_level: float = 0.95, population_view: str | None = None) -> ClaimResult:
    """Estimate one claim (continuous or binary) for one comparison."""
    if claim.kind is MetricKind.TIME_TO_EVENT:
        raise NotImplementedError("time-to-event claims: weighted Kaplan–Meier runner not wired yet")
    pop = population_view or f"population_{spec.key}"
    if population_view is None:
        engine.materialize(pop, population_sql(spec))
    attrition = []
    for desc, q in attrition_sql(spec):
        nt, nc = engine.sql(q)[0]
        attrition.append(AttritionStep(desc, int(nt or 0), int(nc or 0)))
    view = f"analysis_{spec.key}_{claim.key}"
    oq = outcome_sql(claim, pop)
    engine.materialize(view, oq.sql)
    nt, nc = engine.sql(f"SELECT SUM(t), SUM(1.0 - t) FROM {view}")[0]
    attrition.append(AttritionStep(oq.description, int(nt or 0), int(nc or 0)))
    cols = [f"x_{c}" for c in covariate_names(spec)]
    cols, dropped = _drop_constant(engine, view, cols)
    cols, dropped2 = _drop_collinear(engine, view, cols)
    fit = fit_logistic_irls(logistic_crossprod(engine, view, cols), len(cols) + 1, names=["intercept", *cols])
    sums, moments, naive = _weighting_sums(engine, view, cols, fit.coefficients, estimand)
    binary = claim.kind is MetricKind.BINARY
    effect = estimate_weighted_difference(sums, ci_level=ci_level,
                                          measure="risk difference" if binary else "mean difference")
    ratio = None
    if binary and sums.treated.sum_wy > 0 and sums.control.sum_wy > 0:
        ratio = estimate_risk_ratio(sums, ci_level=ci_level)
    verdict = decide_verdict(effect.ci_low, effect.ci_high, claim.better)
    balance = compute_balance(moments, [c.removeprefix("x_") for c in cols])
    return ClaimResult(claim.key, spec.key, estimand, effect, ratio, naive, verdict, balance, fit, tuple(cols),
                       tuple(dropped + dropped2), tuple(attrition), spec.spec_hash())


def result_summary(r: ClaimResult) -> dict[str, Any]:
    """The scorecard row as plain data."""
    e = r.effect
    return {"claim": r.claim, "comparison": r.comparison, "estimand": r.estimand, "estimate": e.estimate,
            "ci_low": e.ci_low, "ci_high": e.ci_high, "verdict": str(r.verdict), "naive_difference": r.naive_difference,
            "n_treated": e.n_treated, "n_control": e.n_control,
            "risk_ratio": None if r.ratio is None else r.ratio.estimate}
