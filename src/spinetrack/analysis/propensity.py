"""One comparison, prepared once: population → attrition → propensity model (IRLS on the engine)
→ optional trimming → a weighted population table → diagnostics.

Every claim of the comparison is then estimated on this one table (``analysis.run``): the
propensity score is fitted once on the whole comparison population (as in a new-user cohort
design, CohortMethod's ``createPs`` on the study population), and each claim's estimating
equations sum over the rows with an observed outcome. The sandwich therefore takes the
propensity information ``H = SUM e(1-e) x x'`` and score outer product ``G = SUM (t-e)^2 x x'``
over the population, computed here in one query.

Diagnostics (shared/STYLE.md habit 7): covariate balance after weighting (max |SMD| ≤ 0.1,
the threshold the issue names) and empirical equipoise (Walker et al. 2013: the share of each
arm with a preference score between 0.3 and 0.7; reported, with the 0.5 share Walker et al.
call equipoise). A failed balance diagnostic withholds the claim's estimate on the scorecard.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spinetrack.analysis.aggregates import column_moments, linear_predictor, logistic_crossprod
from spinetrack.analysis.design import (
    ComparisonSpec,
    attrition_sql,
    covariate_names,
    population_sql,
)
from spinetrack.engines.base import Engine
from spinetrack.stats import (
    ArmMomentSums,
    BalanceTable,
    LogisticFitResult,
    SeparationError,
    compute_balance,
    fit_logistic_irls,
    symmetric_from_triangle,
)

__all__ = ["AttritionStep", "Diagnostics", "PreparedComparison", "drop_constant", "fit_dropping_separators",
           "prepare_comparison",
           "triangle_exprs"]

EQUIPOISE_BOUNDS = (0.3, 0.7)  # Walker AM et al. Comp Eff Res. 2013;3:11-20
EQUIPOISE_MIN_SHARE = 0.5      # ibid.: at least half of each arm within the bounds
BALANCE_THRESHOLD = 0.1        # |SMD| (issue 5; Austin 2009)


@dataclass(frozen=True, slots=True)
class AttritionStep:
    description: str
    n_treated: int
    n_control: int


@dataclass(frozen=True)
class Diagnostics:
    """PASS / FAIL / NOT_EVALUATED per diagnostic, with the values behind them."""

    balance: str
    max_abs_smd_after: float
    max_abs_smd_before: float
    equipoise: str
    equipoise_share_treated: float
    equipoise_share_control: float
    ess_treated: float
    ess_control: float

    @property
    def failed(self) -> tuple[str, ...]:
        return tuple(n for n, v in (("balance", self.balance),) if v == "FAIL")

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "failed": list(self.failed)}


@dataclass(frozen=True)
class PreparedComparison:
    spec: ComparisonSpec
    estimand: str
    trim: float | None
    table: str                     # the weighted population (e, w, dw, r) with every claim's outcome columns
    covariates: tuple[str, ...]    # x_… columns in the model, in order
    dropped_covariates: tuple[str, ...]
    propensity: LogisticFitResult
    info: np.ndarray               # H over the fitted rows
    score_outer: np.ndarray        # G over the fitted rows
    balance_before: BalanceTable
    balance_after: BalanceTable
    diagnostics: Diagnostics
    attrition: tuple[AttritionStep, ...]
    ps_histogram: dict[str, list[float]]  # bin edges and counts per arm (the PS overlap plot)
    p_treated: float
    notes: tuple[str, ...] = field(default=())

    @property
    def design(self) -> list[str]:
        return ["1.0", *self.covariates]


def triangle_exprs(weight: str, xs: list[str]) -> list[str]:
    return [f"SUM({weight} * {xs[i]} * {xs[j]})" for i in range(len(xs)) for j in range(i, len(xs))]


def drop_constant(engine: Engine, view: str, cols: list[str], response: str = "t") -> tuple[list[str], list[str]]:
    """Drop columns with no variation, and 0/1 columns constant within a level of the response
    (they would separate it: the logistic MLE would not exist)."""
    n, s1, s2 = column_moments(engine, view, cols)
    by_arm = {int(r[0]): r[1:] for r in engine.grouped(view, [f"CAST({response} AS INTEGER)"],
                                                       ["COUNT(*)"] + [f"SUM({c})" for c in cols])}
    keep: list[str] = []
    drop: list[str] = []
    for k, (c, a, b) in enumerate(zip(cols, s1, s2, strict=True)):
        var = b / n - (a / n) ** 2 if n else 0.0
        separating = False
        if abs(a - b) < 1e-9 and len(by_arm) == 2:
            for arm_row in by_arm.values():
                n_arm, ones = float(arm_row[0]), float(arm_row[1 + k] or 0.0)
                separating |= ones == 0.0 or ones == n_arm
        (keep if var > 1e-10 and not separating else drop).append(c)
    return keep, drop


def _drop_collinear(engine: Engine, view: str, cols: list[str]) -> tuple[list[str], list[str]]:
    """Greedy rank check on X'X (the β = 0 cross-products): a column whose residual variance
    given the kept ones is numerically zero is dropped."""
    xtwx, _, _ = logistic_crossprod(engine, view, cols)(np.zeros(len(cols) + 1))
    m = xtwx * 4.0
    keep_idx, dropped = [0], []
    for j in range(1, m.shape[0]):
        idx = keep_idx + [j]
        sub = m[np.ix_(idx, idx)]
        resid = sub[-1, -1] - sub[-1, :-1] @ np.linalg.solve(sub[:-1, :-1], sub[:-1, -1])
        if resid > 1e-8 * max(sub[-1, -1], 1.0):
            keep_idx.append(j)
        else:
            dropped.append(cols[j - 1])
    return [cols[j - 1] for j in keep_idx[1:]], dropped


def fit_dropping_separators(engine: Engine, view: str, cols: list[str], response: str = "t", max_drops: int = 5
                            ) -> tuple[LogisticFitResult, list[str], list[str]]:
    """Fit the logistic model; when a covariate (quasi-)separates the response — a rare level
    whose few patients all had one treatment — drop it, say so, and refit (at most
    ``max_drops`` times; then the error stands). Returns (fit, kept columns, dropped columns)."""
    dropped: list[str] = []
    cols = list(cols)
    while True:
        try:
            start = _warm_start(engine, view, cols, response)
            fit = fit_logistic_irls(logistic_crossprod(engine, view, cols, treatment=response), len(cols) + 1,
                                    names=["intercept", *cols], start=start)
            return fit, cols, dropped
        except SeparationError as exc:
            culprit = exc.column
            if culprit not in cols and exc.coefficients is not None and len(cols):
                # the intercept diverges: the separated group is defined by the covariates; drop the
                # covariate whose coefficient runs away fastest
                culprit = cols[int(np.argmax(np.abs(exc.coefficients[1:])))]
            if culprit not in cols or len(dropped) >= max_drops:
                raise
            cols.remove(culprit)
            dropped.append(culprit)


WARM_START_ROWS = 100_000  # above this, start Newton from a fit on a 1-in-16 hashed sample
_SAMPLE_ONE_IN = 16


def _warm_start(engine: Engine, view: str, cols: list[str], response: str) -> np.ndarray | None:
    """Coefficients fitted on a deterministic 1-in-16 sample of a large population: the full
    fit then needs two or three aggregate passes instead of six or seven (Newton converges
    quadratically from a close start; the maximum likelihood estimate itself is unchanged)."""
    (n,), = engine.sql(f"SELECT COUNT(*) FROM {view}")
    if int(n) < WARM_START_ROWS:
        return None
    sample = f"(SELECT * FROM {view} WHERE {engine.sample_predicate('episode_key', _SAMPLE_ONE_IN)}) s"
    try:
        return fit_logistic_irls(logistic_crossprod(engine, sample, cols, treatment=response), len(cols) + 1,
                                 tol=1e-6).coefficients
    except Exception:  # noqa: BLE001 - a sample that separates or is singular simply gives no warm start
        return None


def _fit(engine: Engine, view: str, cols: list[str], notes: list[str], dropped: list[str]
         ) -> tuple[LogisticFitResult, list[str]]:
    fit, kept, sep = fit_dropping_separators(engine, view, cols)
    for c in sep:
        notes.append(f"{c.removeprefix('x_')} dropped from the propensity model: it (quasi-)separates the arms")
    dropped.extend(sep)
    return fit, kept


def _weight_sql(estimand: str, p1: float) -> tuple[str, str]:
    if estimand == "ATO":
        return ("CASE WHEN t = 1 THEN 1.0 - e ELSE e END",
                "CASE WHEN t = 1 THEN -e * (1.0 - e) ELSE e * (1.0 - e) END")
    if estimand == "ATE":  # stabilized IPTW
        c1, c0 = repr(p1), repr(1.0 - p1)
        return (f"CASE WHEN t = 1 THEN {c1} / e ELSE {c0} / (1.0 - e) END",
                f"CASE WHEN t = 1 THEN -{c1} * (1.0 - e) / e ELSE {c0} * e / (1.0 - e) END")
    raise ValueError(f"estimand must be 'ATO' or 'ATE', not {estimand!r}")


def _moments(rows: list[tuple[Any, ...]], k: int, offset: int) -> dict[int, ArmMomentSums]:
    out = {}
    for r in rows:
        v = np.array([np.nan if x is None else float(x) for x in r[1:]])
        n = int(v[0])
        o = offset
        out[int(r[0])] = ArmMomentSums(sum_w=v[o], sum_wx=v[o + 2:o + 2 + k], sum_wx2=v[o + 2 + k:o + 2 + 2 * k],
                                       sum_w2=v[o + 1], n=n)
    return out


def prepare_comparison(engine: Engine, spec: ComparisonSpec, *, estimand: str = "ATO",
                       trim: float | None = None) -> PreparedComparison:
    """Population, propensity model and weights for one comparison (module docstring).

    ``trim`` (α, e.g. 0.1) keeps rows with a propensity score in [α, 1 − α] and refits the model
    on them (Crump et al. 2009); it is meant for ``estimand="ATE"`` (overlap weights need none).
    """
    if trim is not None and not 0.0 < trim < 0.5:
        raise ValueError(f"trim must be in (0, 0.5), got {trim!r}")
    from spinetrack.analysis.claims import CLAIMS
    from spinetrack.analysis.design import PROM_TABLE, analysis_table_sql, prom_wide_sql

    engine.ensure_table(PROM_TABLE, prom_wide_sql(CLAIMS))
    key = spec.key
    pop = f"pop_{key}"
    engine.materialize(pop, population_sql(spec))
    attrition = []
    for desc, q in attrition_sql(spec):
        nt, nc = engine.sql(q)[0]
        attrition.append(AttritionStep(desc, int(nt or 0), int(nc or 0)))
    cols = [f"x_{c}" for c in covariate_names(spec)]
    cols, dropped = drop_constant(engine, pop, cols)
    cols, dropped2 = _drop_collinear(engine, pop, cols)
    notes: list[str] = []
    fit, cols = _fit(engine, pop, cols, notes, dropped2)
    fitted = pop
    if trim is not None:
        eta = linear_predictor(cols, fit.coefficients)
        fitted = f"popk_{key}"
        lo, hi = trim, 1.0 - trim
        engine.materialize(fitted, f"SELECT * FROM {pop} WHERE 1.0 / (1.0 + EXP(-({eta}))) BETWEEN {lo!r} AND {hi!r}")
        nt, nc = engine.sql(f"SELECT SUM(t), SUM(1.0 - t) FROM {fitted}")[0]
        attrition.append(AttritionStep(f"propensity score within [{lo:g}, {hi:g}] (Crump et al. 2009)",
                                       int(nt or 0), int(nc or 0)))
        fit, cols = _fit(engine, fitted, cols, notes, dropped2)
        notes.append(f"trimmed to propensity scores in [{lo:g}, {hi:g}] and refitted on the kept rows")
    (n_t, n_all), = engine.sql(f"SELECT SUM(t), COUNT(*) FROM {fitted}")
    p1 = float(n_t) / float(n_all)
    eta = linear_predictor(cols, fit.coefficients)
    w, dw = _weight_sql(estimand, p1)
    wpop = f"wpop_{key}"
    engine.create_view(wpop, f"SELECT z.*, {w} AS w, {dw} AS dw, t - e AS r FROM "
                             f"(SELECT q.*, 1.0 / (1.0 + EXP(-({eta}))) AS e FROM {fitted} q) z")
    table = f"wide_{key}"
    engine.materialize(table, analysis_table_sql(wpop, CLAIMS))
    xs = ["1.0", *cols]
    p, k = len(xs), len(cols)
    logit_p = math.log(p1 / (1.0 - p1))
    pref = f"1.0 / (1.0 + EXP(-(LN(e / (1.0 - e)) - {logit_p!r})))"
    lo_eq, hi_eq = EQUIPOISE_BOUNDS
    exprs = (["COUNT(*)"] + triangle_exprs("r * r", xs)
             + [f"SUM(CASE WHEN {pref} BETWEEN {lo_eq} AND {hi_eq} THEN 1.0 ELSE 0.0 END)"]
             + ["COUNT(*)", "COUNT(*)"] + [f"SUM({c})" for c in cols] + [f"SUM({c} * {c})" for c in cols]
             + ["SUM(w)", "SUM(w * w)"] + [f"SUM(w * {c})" for c in cols] + [f"SUM(w * {c} * {c})" for c in cols])
    rows = engine.grouped(table, ["CAST(t AS INTEGER)"], exprs)
    tri = p * (p + 1) // 2
    # H = SUM e(1-e) x x' is the information the IRLS fit ended on (same rows, same β)
    H = np.array(fit.information, dtype=float)
    G = np.zeros((p, p))
    eq_share: dict[int, float] = {}
    for r in rows:
        v = np.array([np.nan if x is None else float(x) for x in r[1:]])
        G += symmetric_from_triangle(v[1:1 + tri], p)
        eq_share[int(r[0])] = v[1 + tri] / v[0]
    o = 1 + tri + 1  # offset of the unweighted block (COUNT, COUNT as Σw and Σw²)
    names = [c.removeprefix("x_") for c in cols]
    before = compute_balance(_moments(rows, k, o), names, threshold=BALANCE_THRESHOLD)
    after = compute_balance(_moments(rows, k, o + 2 + 2 * k), names, threshold=BALANCE_THRESHOLD)
    edges = np.linspace(0.0, 1.0, 21)
    hist = {"edges": edges.tolist(), "treated": [0.0] * 20, "control": [0.0] * 20}
    for arm, b, cnt in engine.grouped(table, ["CAST(t AS INTEGER)", "LEAST(CAST(FLOOR(e * 20) AS INTEGER), 19)"],
                                      ["COUNT(*)"]):
        hist["treated" if int(arm) == 1 else "control"][int(b)] = float(cnt)
    eq_t, eq_c = eq_share.get(1, float("nan")), eq_share.get(0, float("nan"))
    diag = Diagnostics(
        balance="PASS" if after.max_abs_smd <= BALANCE_THRESHOLD else "FAIL",
        max_abs_smd_after=float(after.max_abs_smd), max_abs_smd_before=float(before.max_abs_smd),
        equipoise="PASS" if min(eq_t, eq_c) >= EQUIPOISE_MIN_SHARE else "FAIL",
        equipoise_share_treated=eq_t, equipoise_share_control=eq_c,
        ess_treated=float(after.ess_treated or float("nan")), ess_control=float(after.ess_control or float("nan")),
    )
    return PreparedComparison(spec, estimand, trim, table, tuple(cols), tuple(dropped + dropped2), fit, H, G,
                              before, after, diag, tuple(attrition), hist, p1, tuple(notes))
