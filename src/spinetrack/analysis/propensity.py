"""One comparison, prepared once: population → attrition → propensity model (IRLS on the engine)
→ optional trimming → a weighted population table → diagnostics.

Every claim of the comparison is then estimated on this one table (``analysis.run``): the
propensity score is fitted once on the whole comparison population (as in a new-user cohort
design, CohortMethod's ``createPs`` on the study population), and each claim's estimating
equations sum over the rows with an observed outcome. The sandwich therefore takes the
propensity information ``H = SUM e(1-e) x x'`` and score outer product ``G = SUM (t-e)^2 x x'``
over the population, computed here in one query.

Cost at scale (a million episodes, ``bench/bench_analyze.py``): the population is one filter on
the analysis table built once per snapshot (``analysis.design``), materialized with only the
columns the model and the claims read; every sum over the design is grouped by covariate
pattern (``analysis.patterns``: 45 sums per pass instead of 465 for 30 covariates); above
:data:`WARM_START_ROWS` the fit starts from a 1-in-16 sample; the weights are added to the
table as columns once (``Engine.add_columns``).

Diagnostics: covariate balance after weighting (max |SMD| ≤ 0.1, Austin 2009) over every
candidate covariate — those dropped from the model
as constant, collinear or separating included, so that a covariate left out of the model
cannot hide an imbalance, and empirical equipoise (Walker et al. 2013: the share of each
arm with a preference score between 0.3 and 0.7; reported, with the 0.5 share Walker et al.
call equipoise). A failed balance diagnostic withholds the claim's estimate on the scorecard.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spinetrack.analysis.aggregates import (
    design_crossprod_by_arm,
    grouped_sums,
    linear_predictor,
    logistic_crossprod,
    sql_float,
)
from spinetrack.analysis.claims import CLAIMS
from spinetrack.analysis.design import (
    ANALYSIS_TABLE,
    PROM_TABLE,
    TIMEPOINTS,
    ComparisonSpec,
    analysis_table_sql,
    attrition_sql,
    comparison_sql,
    covariate_names,
    outcome_columns,
    pattern_bits,
    prom_wide_sql,
)
from spinetrack.analysis.patterns import PATTERN_CODE, Design
from spinetrack.engines.base import Engine
from spinetrack.stats import (
    ArmMomentSums,
    BalanceTable,
    LogisticFitResult,
    SeparationError,
    compute_balance,
    fit_logistic_irls,
)

__all__ = ["WARM_START_ROWS", "AttritionStep", "Diagnostics", "PreparedComparison", "WarmStartSample", "drop_constant",
           "fit_dropping_separators", "prepare_comparison", "prepare_snapshot", "warm_start_sample"]

EQUIPOISE_BOUNDS = (0.3, 0.7)  # Walker AM et al. Comp Eff Res. 2013;3:11-20
EQUIPOISE_MIN_SHARE = 0.5      # ibid.: at least half of each arm within the bounds
BALANCE_THRESHOLD = 0.1        # |SMD| (Austin 2009)


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
    sample: WarmStartSample | None = None  # the warm-start sample of the population, for other models on it

    @property
    def design(self) -> list[str]:
        return ["1.0", *self.covariates]


def _screen(engine: Engine, view: str, cols: list[str], response: str, collinear: bool,
            bits: dict[str, int] | None = None) -> tuple[list[str], list[str], list[str]]:
    """ONE query (the design's X'X per level of the response) → columns with no variation or
    0/1 columns constant within a level of the response (they would separate it: the logistic
    MLE would not exist), then — when ``collinear`` — a greedy rank check on X'X: a column whose
    residual variance given the kept ones is numerically zero. Returns (kept, dropped as
    constant, dropped as collinear)."""
    by_arm = design_crossprod_by_arm(engine, view, cols, response, bits)
    total = sum(by_arm.values(), np.zeros((len(cols) + 1, len(cols) + 1)))
    n = total[0, 0]
    keep: list[str] = []
    drop: list[str] = []
    for k, c in enumerate(cols):
        a, b = total[0, 1 + k], total[1 + k, 1 + k]
        var = b / n - (a / n) ** 2 if n else 0.0
        separating = False
        if abs(a - b) < 1e-9 and len(by_arm) == 2:
            for xx in by_arm.values():
                n_arm, ones = xx[0, 0], xx[0, 1 + k]
                separating |= ones == 0.0 or ones == n_arm
        (keep if var > 1e-10 and not separating else drop).append(c)
    if not collinear:
        return keep, drop, []
    idx_of = {c: 1 + k for k, c in enumerate(cols)}
    m = total[np.ix_([0] + [idx_of[c] for c in keep], [0] + [idx_of[c] for c in keep])]
    keep_idx, dropped = [0], []
    for j in range(1, m.shape[0]):
        idx = [*keep_idx, j]
        sub = m[np.ix_(idx, idx)]
        resid = sub[-1, -1] - sub[-1, :-1] @ np.linalg.solve(sub[:-1, :-1], sub[:-1, -1])
        if resid > 1e-8 * max(sub[-1, -1], 1.0):
            keep_idx.append(j)
        else:
            dropped.append(keep[j - 1])
    return [keep[j - 1] for j in keep_idx[1:]], drop, dropped


def drop_constant(engine: Engine, view: str, cols: list[str], response: str = "t",
                  bits: dict[str, int] | None = None) -> tuple[list[str], list[str]]:
    """Drop columns with no variation, and 0/1 columns constant within a level of the response
    (they would separate it: the logistic MLE would not exist)."""
    keep, drop, _ = _screen(engine, view, cols, response, collinear=False, bits=bits)
    return keep, drop


WARM_START_ROWS = 100_000  # above this, start from a fit on a 1-in-16 hashed sample
_SAMPLE_ONE_IN = 16


@dataclass(frozen=True)
class WarmStartSample:
    """A materialized 1-in-16 hashed sample of a large population (``table``, ``rows`` of the
    population's ``population_rows``), shared by every model fitted on that population."""

    table: str
    rows: int
    population_rows: int


def warm_start_sample(engine: Engine, view: str, name: str, *, min_rows: int = WARM_START_ROWS,
                      columns: Sequence[str] = ("*",)) -> WarmStartSample | None:
    """Materialize the sample (of ``columns``: those the models read) when ``view`` has at least
    ``min_rows`` rows (else ``None``)."""
    (n,), = engine.sql(f"SELECT COUNT(*) FROM {view}")
    if int(n) < min_rows:
        return None
    engine.materialize(name, f"SELECT {', '.join(columns)} FROM {view} "
                             f"WHERE {engine.sample_predicate('episode_key', _SAMPLE_ONE_IN)}")
    (ns,), = engine.sql(f"SELECT COUNT(*) FROM {name}")
    return WarmStartSample(name, int(ns), int(n)) if int(ns) > 0 else None


def _fit_logistic(engine: Engine, view: str, cols: list[str], response: str, sample: WarmStartSample | None,
                  bits: dict[str, int] | None) -> LogisticFitResult:
    """The maximum likelihood fit by Newton/IRLS on ``view``, started from the fit on the
    warm-start sample when there is one (Newton converges quadratically from a close start: two
    or three passes over the full data instead of six or seven; the estimate is unchanged)."""
    p = len(cols) + 1
    names = ["intercept", *cols]
    start = None
    if sample is not None:
        try:
            start = fit_logistic_irls(logistic_crossprod(engine, sample.table, cols, response, bits), p,
                                      tol=1e-6).coefficients
        except Exception:  # a sample that separates or is singular simply gives no warm start
            start = None
    return fit_logistic_irls(logistic_crossprod(engine, view, cols, response, bits), p, names=names, start=start)


def fit_dropping_separators(engine: Engine, view: str, cols: list[str], response: str = "t", max_drops: int = 5,
                            *, sample: WarmStartSample | None = None, bits: dict[str, int] | None = None
                            ) -> tuple[LogisticFitResult, list[str], list[str]]:
    """Fit the logistic model; when a covariate (quasi-)separates the response — a rare level
    whose few patients all had one treatment — drop it, say so, and refit (at most
    ``max_drops`` times; then the error stands). Returns (fit, kept columns, dropped columns)."""
    dropped: list[str] = []
    cols = list(cols)
    while True:
        try:
            return _fit_logistic(engine, view, cols, response, sample, bits), cols, dropped
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


def _fit(engine: Engine, view: str, cols: list[str], notes: list[str], dropped: list[str],
         sample: WarmStartSample | None) -> tuple[LogisticFitResult, list[str]]:
    fit, kept, sep = fit_dropping_separators(engine, view, cols, sample=sample, bits=pattern_bits())
    for c in sep:
        notes.append(f"{c.removeprefix('x_')} dropped from the propensity model: it (quasi-)separates the arms")
    dropped.extend(sep)
    return fit, kept


def _weight_sql(estimand: str, p1: float) -> tuple[str, str]:
    if estimand == "ATO":
        return ("CASE WHEN t = 1 THEN 1.0 - e ELSE e END",
                "CASE WHEN t = 1 THEN -e * (1.0 - e) ELSE e * (1.0 - e) END")
    if estimand == "ATE":  # stabilized IPTW
        c1, c0 = sql_float(p1), sql_float(1.0 - p1)
        return (f"CASE WHEN t = 1 THEN {c1} / e ELSE {c0} / (1.0 - e) END",
                f"CASE WHEN t = 1 THEN -{c1} * (1.0 - e) / e ELSE {c0} * e / (1.0 - e) END")
    raise ValueError(f"estimand must be 'ATO' or 'ATE', not {estimand!r}")


def _moments_by_arm(engine: Engine, table: str, cols: list[str], bits: dict[str, int]
                    ) -> tuple[dict[int, ArmMomentSums], dict[int, ArmMomentSums]]:
    """Unweighted and weighted (``w``) first and second moments of ``cols`` per arm: ONE grouped
    aggregate."""
    design = Design.of(cols, bits)
    exprs = ["COUNT(*)", "SUM(w)", "SUM(w * w)", *design.vector("1.0"), *design.squares("1.0"),
             *design.vector("w"), *design.squares("w")]
    sums = grouped_sums(engine, table, design, ["CAST(t AS INTEGER)"], exprs)
    raw: dict[int, ArmMomentSums] = {}
    weighted: dict[int, ArmMomentSums] = {}
    for group in sums.group_keys():
        arm = int(group[0])
        g = sums.select(group)
        n, sw, sw2 = g.scalars(3)
        sx, sx2 = g.vector_and_squares()
        raw[arm] = ArmMomentSums(sum_w=n, sum_wx=sx, sum_wx2=sx2, sum_w2=n, n=int(n))
        swx, swx2 = g.vector_and_squares()
        weighted[arm] = ArmMomentSums(sum_w=sw, sum_wx=swx, sum_wx2=swx2, sum_w2=sw2, n=int(n))
    return raw, weighted


def prepare_snapshot(engine: Engine) -> None:
    """The tables every comparison reads, built once per registered snapshot: the PROM pivot
    and the analysis table (``analysis.design``)."""
    engine.ensure_table(PROM_TABLE, prom_wide_sql(CLAIMS, engine))
    engine.ensure_table(ANALYSIS_TABLE, analysis_table_sql(CLAIMS))


def prepare_comparison(engine: Engine, spec: ComparisonSpec, *, estimand: str = "ATO",
                       trim: float | None = None, warm_start_rows: int = WARM_START_ROWS) -> PreparedComparison:
    """Population, propensity model and weights for one comparison (module docstring).

    ``trim`` (α, e.g. 0.1) keeps rows with a propensity score in [α, 1 − α] and refits the model
    on them (Crump et al. 2009); it is meant for ``estimand="ATE"`` (overlap weights need none).
    Populations of at least ``warm_start_rows`` episodes start the fit from a 1-in-16 sample
    (:func:`warm_start_sample`); the estimate does not depend on it.
    """
    if trim is not None and not 0.0 < trim < 0.5:
        raise ValueError(f"trim must be in (0, 0.5), got {trim!r}")
    prepare_snapshot(engine)
    key = spec.key
    # the population, materialized with only the columns the model and the claims read (the
    # engine scans a column store: the IRLS passes touch only the model's columns)
    source = f"popv_{key}"
    engine.create_view(source, comparison_sql(spec))
    cols = [f"x_{c}" for c in covariate_names(spec)]
    pop = f"pop_{key}"
    keep = ", ".join(dict.fromkeys(["episode_key", "t", *cols, *outcome_columns(CLAIMS)]))
    engine.materialize(pop, f"SELECT {keep} FROM {source}")
    descriptions, att_query = attrition_sql(spec)
    counts = engine.sql(att_query)[0]
    attrition = [AttritionStep(d, int(counts[2 * i] or 0), int(counts[2 * i + 1] or 0))
                 for i, d in enumerate(descriptions)]
    bits = pattern_bits()
    cols, dropped, dropped2 = _screen(engine, pop, cols, "t", collinear=True, bits=bits)
    model_columns = ["episode_key", "t", PATTERN_CODE, *[f"fu__{tp}" for tp in TIMEPOINTS], *cols]
    sample = warm_start_sample(engine, pop, f"pops_{key}", min_rows=warm_start_rows, columns=model_columns)
    notes: list[str] = []
    fit, cols = _fit(engine, pop, cols, notes, dropped2, sample)
    fitted = pop
    if trim is not None:
        eta = linear_predictor(cols, fit.coefficients)
        lo, hi = trim, 1.0 - trim
        fitted = f"popk_{key}"
        engine.materialize(fitted, f"SELECT * FROM {pop} WHERE 1.0 / (1.0 + EXP(-({eta}))) "
                                   f"BETWEEN {sql_float(lo)} AND {sql_float(hi)}")
        nt, nc = engine.sql(f"SELECT SUM(t), SUM(1.0 - t) FROM {fitted}")[0]
        attrition.append(AttritionStep(f"propensity score within [{lo:g}, {hi:g}] (Crump et al. 2009)",
                                       int(nt or 0), int(nc or 0)))
        sample = warm_start_sample(engine, fitted, f"popks_{key}", min_rows=warm_start_rows, columns=model_columns)
        fit, cols = _fit(engine, fitted, cols, notes, dropped2, sample)
        notes.append(f"trimmed to propensity scores in [{lo:g}, {hi:g}] and refitted on the kept rows")
    (n_t, n_all), = engine.sql(f"SELECT SUM(t), COUNT(*) FROM {fitted}")
    p1 = float(n_t) / float(n_all)
    eta = linear_predictor(cols, fit.coefficients)
    w, dw = _weight_sql(estimand, p1)
    table = f"wide_{key}"
    engine.add_columns(fitted, [("e", f"1.0 / (1.0 + EXP(-({eta})))"), ("w", w), ("dw", dw), ("r", "t - e")], table)
    design = Design.of(cols, bits)
    logit_p = math.log(p1 / (1.0 - p1))
    pref = f"1.0 / (1.0 + EXP(-(LN(e / (1.0 - e)) - {sql_float(logit_p)})))"
    lo_eq, hi_eq = EQUIPOISE_BOUNDS
    exprs = ["COUNT(*)", "SUM(w)", "SUM(w * w)",
             f"SUM(CASE WHEN {pref} BETWEEN {lo_eq} AND {hi_eq} THEN 1.0 ELSE 0.0 END)",
             *design.matrix("r * r"), *design.vector("1.0"), *design.squares("1.0"),
             *design.vector("w"), *design.squares("w")]
    sums = grouped_sums(engine, table, design, ["CAST(t AS INTEGER)"], exprs)
    # H = SUM e(1-e) x x' is the information the IRLS fit ended on (same rows, same β)
    H = np.array(fit.information, dtype=float)
    G = np.zeros((design.p, design.p))
    eq_share: dict[int, float] = {}
    raw: dict[int, ArmMomentSums] = {}
    weighted: dict[int, ArmMomentSums] = {}
    for group in sums.group_keys():
        arm = int(group[0])
        g = sums.select(group)
        n, sw, sw2, eq = g.scalars(4)
        G += g.matrix()
        eq_share[arm] = eq / n
        sx, sx2 = g.vector_and_squares()
        raw[arm] = ArmMomentSums(sum_w=n, sum_wx=sx, sum_wx2=sx2, sum_w2=n, n=int(n))
        swx, swx2 = g.vector_and_squares()
        weighted[arm] = ArmMomentSums(sum_w=sw, sum_wx=swx, sum_wx2=swx2, sum_w2=sw2, n=int(n))
    candidates = [f"x_{c}" for c in covariate_names(spec)]
    if candidates != cols:  # balance is judged on every candidate covariate, dropped ones included
        raw, weighted = _moments_by_arm(engine, table, candidates, bits)
    names = [c.removeprefix("x_") for c in candidates]
    before = compute_balance(raw, names, threshold=BALANCE_THRESHOLD)
    after = compute_balance(weighted, names, threshold=BALANCE_THRESHOLD)
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
                              before, after, diag, tuple(attrition), hist, p1, tuple(notes), sample)
