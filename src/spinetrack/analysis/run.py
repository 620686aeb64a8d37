"""Estimate one claim on a prepared comparison (``analysis.propensity``).

* Continuous and binary claims: ONE grouped aggregate (per arm) over the rows with an observed
  outcome gives the sums of :mod:`spinetrack.stats.effects`; the sandwich takes the propensity
  model's ``H`` and ``G`` over the comparison population. Binary claims add the risk ratio.
* Time-to-event claims: one grouped count query (per arm and day, days past the horizon in one
  group) gives the weighted Kaplan–Meier curves; a small lookup table goes back to the engine
  and one more aggregate gives the influence-function sums of
  :mod:`spinetrack.stats.survival_difference`.
* Sensitivity analyses (``sensitivity=True``): augmented IPW (doubly robust, ATE) for continuous
  and binary claims; inverse probability of censoring weights for PROM claims when the
  scorecard supplies them (``analysis.scorecard``).
* Each result carries the E-value (VanderWeele & Ding 2017) and, for PROM claims, whether the
  difference reaches the instrument's MCID (``instruments.thresholds``).

Only sums leave the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spinetrack.analysis.aggregates import grouped_sums
from spinetrack.analysis.claims import Claim, MetricKind, Verdict, decide_verdict, margin_of
from spinetrack.analysis.design import ComparisonSpec, OutcomeSpec, outcome_spec, pattern_bits
from spinetrack.analysis.patterns import Design, GroupedSums
from spinetrack.analysis.propensity import (
    AttritionStep,
    PreparedComparison,
    prepare_comparison,
)
from spinetrack.engines.base import Engine
from spinetrack.errors import InputError
from spinetrack.stats import (
    AIPWSums,
    ArmEstimatingSums,
    ArmMomentSums,
    AugmentedArmSums,
    AugmentedVarianceSums,
    AugmentedWeightingSums,
    BalanceTable,
    EffectEstimate,
    EValueResult,
    LogisticFitResult,
    OutcomeRegressionSums,
    SurvivalCurve,
    WeightingSums,
    compute_augmented_influence,
    compute_balance,
    estimate_aipw,
    estimate_augmented_overlap,
    estimate_risk_ratio,
    estimate_weighted_difference,
    evalue_mean_difference,
    evalue_risk_ratio,
    fit_outcome_regression,
    kaplan_meier_from_counts,
    restricted_mean_survival_time,
)
from spinetrack.stats.survival_difference import (
    SurvivalArmSums,
    estimate_survival_difference,
    influence_lookup,
)

__all__ = ["AttritionStep", "ClaimResult", "McidCheck", "NotEstimableError", "applicable", "run_claim", "run_claims"]

class NotEstimableError(InputError):
    """The data cannot support this claim's estimate (an empty arm, no events, a singular model)."""


_SURGICAL_TABLES = ("procedures", "complications", "readmissions", "reoperations")


@dataclass(frozen=True)
class McidCheck:
    """Does the adjusted difference reach the instrument's minimal clinically important
    difference? (The MCID is defined for change within a patient; comparing a group difference
    with it is the usual, conservative reading.)"""

    instrument: str
    mcid: float
    source: str
    estimate_reaches: bool      # |estimate| ≥ MCID in the claimed direction
    interval_beyond: bool       # the whole interval lies beyond the MCID in the claimed direction
    interval_excludes: bool     # the whole interval lies inside ±MCID: no important difference

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ClaimResult:
    """One scorecard row with everything behind it. ``status`` is ``estimated``, ``withheld``
    (a diagnostic failed: the estimate is kept here but the scorecard does not show it),
    ``not applicable`` or ``not estimable`` (the data cannot support an estimate; see notes)."""

    claim: str
    comparison: str
    estimand: str
    status: str
    effect: EffectEstimate | None
    verdict: Verdict | None
    ratio: EffectEstimate | None = None
    naive_difference: float | None = None
    balance: BalanceTable | None = None
    propensity: LogisticFitResult | None = None
    covariates: tuple[str, ...] = ()
    dropped_covariates: tuple[str, ...] = ()
    attrition: tuple[AttritionStep, ...] = ()
    spec_hash: str = ""
    e_value: EValueResult | None = None
    mcid: McidCheck | None = None
    aipw: EffectEstimate | None = None
    ipcw: EffectEstimate | None = None
    curves: dict[str, SurvivalCurve] | None = None
    naive_curves: dict[str, SurvivalCurve] | None = None
    rmst_difference: dict[str, float] | None = None
    withheld_because: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())
    p_adjusted: float | None = None   # adjusted across the scorecard (Benjamini–Hochberg); alone: the p-value
    margin: float | None = None       # margin of no important difference (claims.margin_of), if any
    margin_source: str | None = None


def applicable(spec: ComparisonSpec, claim: Claim) -> bool:
    """Surgical outcomes (operation, complications, readmission, reoperation) have no meaning
    for a conservative-care control arm; a claim about some procedure families only (implant
    malposition: fusion) applies to comparisons that include one of them."""
    if "conservative" in spec.control and claim.table in _SURGICAL_TABLES:
        return False
    return claim.families is None or any(f in claim.families for f in spec.families)


def _not_applicable_note(spec: ComparisonSpec, claim: Claim) -> str:
    if claim.families is not None and not any(f in claim.families for f in spec.families):
        return f"only for {' or '.join(claim.families)} (no such procedure in this comparison)"
    return "a surgical outcome has no counterpart in conservative care"


_BATCH = 8  # claims per aggregate query (keeps each query a few hundred sums)


def _batched_sums(engine: Engine, prep: PreparedComparison, src: str, where: str,
                  members: list[tuple[Claim, OutcomeSpec]], w: str, dw: str, aipw: bool
                  ) -> dict[str, dict[int, dict[str, Any]]]:
    """ONE grouped aggregate (per arm and covariate pattern, ``analysis.patterns``) over the rows
    of ``src`` with an observed outcome (``where``, the same rows for every member): the sums
    that do not involve the outcome once, and the outcome sums of each member claim."""
    design = Design.of(prep.covariates, pattern_bits())
    sel = ", ".join(f"({oq.columns[0][1]}) AS y__{i}" for i, (_, oq) in enumerate(members))
    view = f"(SELECT *, {sel} FROM {src} WHERE {where}) vq"
    ex = ["COUNT(*)", f"SUM({w})", f"SUM({w} * {w})"]
    ex += design.vector(dw) + design.vector(f"{w} * r") + design.vector(w) + design.squares(w)
    if aipw:
        ex += design.matrix("1.0")
    for i in range(len(members)):
        y = f"y__{i}"
        ex += [f"SUM({w} * {y})", f"SUM({w} * {w} * {y})", f"SUM({w} * {w} * {y} * {y})", f"SUM({y})",
               f"SUM({y} * {y})"]
        ex += design.vector(f"{dw} * {y}") + design.vector(f"{w} * r * {y}")
        if aipw:
            ex += design.vector(y)
    sums = grouped_sums(engine, view, design, ["CAST(t AS INTEGER)"], ex)
    out: dict[str, dict[int, dict[str, Any]]] = {c.key: {} for c, _ in members}
    for key in sums.group_keys():
        arm = int(key[0])
        g = sums.select(key)
        n, sw, sw2 = g.scalars(3)
        sdx, swrx = g.vector(), g.vector()
        swx, swx2 = g.vector_and_squares()
        xx = g.matrix() if aipw else None
        for c, _ in members:
            swy, sw2y, sw2y2, sy, syy = g.scalars(5)
            d = {"n": int(n), "sw": sw, "swy": swy, "sw2": sw2, "sw2y": sw2y, "sw2y2": sw2y2, "sy": sy, "syy": syy,
                 "sdx": sdx, "sdyx": g.vector(), "swrx": swrx, "swryx": g.vector(), "swx": swx, "swx2": swx2}
            if aipw:
                d["xx"], d["xy"] = xx, g.vector()
            out[c.key][arm] = d
    return out


def _row_set_groups(engine: Engine, table: str, wheres: list[str]) -> list[list[int]]:
    """Partition claims (by index) into groups whose outcome filters keep exactly the same rows
    of ``table`` — checked on the data (row counts first, then the pairs with equal counts row
    by row) — so that their sums can share a query."""
    distinct = list(dict.fromkeys(wheres))
    parent = list(range(len(distinct)))

    def find(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    counts: np.ndarray | list[float] = engine.aggregate(
        table, [f"SUM(CASE WHEN ({w}) THEN 1 ELSE 0 END)" for w in distinct]) if len(distinct) > 1 else []
    # only filters that keep as many rows can keep the same rows: compare those pairs row by row
    pairs = [(a, b) for a in range(len(distinct)) for b in range(a + 1, len(distinct)) if counts[a] == counts[b]]
    if pairs:
        v = engine.aggregate(table, [f"SUM(CASE WHEN ({distinct[a]}) = ({distinct[b]}) THEN 0 ELSE 1 END)"
                                     for a, b in pairs])
        for (a, b), mismatches in zip(pairs, v, strict=True):
            if mismatches == 0:
                parent[find(b)] = find(a)
    groups: dict[int, list[int]] = {}
    for i, wh in enumerate(wheres):
        groups.setdefault(find(distinct.index(wh)), []).append(i)
    return list(groups.values())


def _masked_sums(engine: Engine, prep: PreparedComparison, src: str, items: list[tuple[Claim, OutcomeSpec]],
                 w: str, dw: str, aipw: bool) -> dict[str, dict[int, dict[str, Any]]]:
    """The sums of :func:`_batched_sums` for ALL ``items`` in ONE grouped aggregate over ``src``,
    whatever rows their outcomes are observed on: each row carries a bit per distinct outcome
    filter (``omask``: bit k set when the row meets filter k), each claim's outcome is NULL
    where its filter fails (SUM skips NULLs), and the query is grouped by arm, ``omask`` and
    covariate pattern. A claim's sums are those of the groups whose ``omask`` has its filter's
    bit — the same rows, summed in another order. The query count then does not grow with the
    number of claims (``Engine.batch_claims``: Spark, where each query costs about half a
    second whatever its size)."""
    wheres = list(dict.fromkeys(oq.where for _, oq in items))
    design = Design.of(prep.covariates, pattern_bits())
    mask = " + ".join(f"CASE WHEN ({wh}) THEN {1 << k} ELSE 0 END" for k, wh in enumerate(wheres))
    sel = ", ".join(f"CASE WHEN ({oq.where}) THEN ({oq.columns[0][1]}) END AS y__{i}"
                    for i, (_, oq) in enumerate(items))
    view = f"(SELECT *, {sel}, {mask} AS omask__ FROM {src}) vq"
    base = ["COUNT(*)", f"SUM({w})", f"SUM({w} * {w})"]
    base += design.vector(dw) + design.vector(f"{w} * r") + design.vector(w) + design.squares(w)
    if aipw:
        base += design.matrix("1.0")
    ex = list(base)
    per = 5 + 2 * design.n_vector() + (design.n_vector() if aipw else 0)
    for i in range(len(items)):
        y = f"y__{i}"
        ex += [f"SUM({w} * {y})", f"SUM({w} * {w} * {y})", f"SUM({w} * {w} * {y} * {y})", f"SUM({y})",
               f"SUM({y} * {y})"]
        ex += design.vector(f"{dw} * {y}") + design.vector(f"{w} * r * {y}")
        if aipw:
            ex += design.vector(y)
    sums = grouped_sums(engine, view, design, ["CAST(t AS INTEGER)", "omask__"], ex)
    arms = sorted({int(k[0]) for k in sums.group_keys()})
    out: dict[str, dict[int, dict[str, Any]]] = {c.key: {} for c, _ in items}
    for i, (c, oq) in enumerate(items):
        bit = 1 << wheres.index(oq.where)
        for arm in arms:
            g = sums.select_where(lambda k, a=arm, b=bit: int(k[0]) == a and int(k[1]) & b != 0)  # type: ignore[misc]
            if not g.selected():
                continue
            n, sw, sw2 = g.scalars(3)
            sdx, swrx = g.vector(), g.vector()
            swx, swx2 = g.vector_and_squares()
            xx = g.matrix() if aipw else None
            g.seek(len(base) + i * per)
            swy, sw2y, sw2y2, sy, syy = g.scalars(5)
            d = {"n": int(n), "sw": sw, "swy": swy, "sw2": sw2, "sw2y": sw2y, "sw2y2": sw2y2, "sy": sy, "syy": syy,
                 "sdx": sdx, "sdyx": g.vector(), "swrx": swrx, "swryx": g.vector(), "swx": swx, "swx2": swx2}
            if aipw:
                d["xx"], d["xy"] = xx, g.vector()
            out[c.key][arm] = d
    return out


def _claim_arm_sums(engine: Engine, prep: PreparedComparison, items: list[tuple[Claim, OutcomeSpec]], src: str,
                    w: str, dw: str, aipw: bool) -> dict[str, dict[int, dict[str, Any]]]:
    out: dict[str, dict[int, dict[str, Any]]] = {}
    if not items:
        return out
    if engine.batch_claims:
        return _masked_sums(engine, prep, src, items, w, dw, aipw)
    for group in _row_set_groups(engine, prep.table, [oq.where for _, oq in items]):
        members = [items[i] for i in group]
        for k in range(0, len(members), _BATCH):
            out.update(_batched_sums(engine, prep, src, members[0][1].where, members[k:k + _BATCH], w, dw, aipw))
    return out


def _arm_sums(d: dict[str, Any], prep: PreparedComparison, with_ps: bool) -> ArmEstimatingSums:
    p = len(prep.design)
    H = prep.info if with_ps else np.zeros((p, p))
    G = prep.score_outer if with_ps else np.zeros((p, p))
    return ArmEstimatingSums(d["n"], d["sw"], d["swy"], d["sw2"], d["sw2y"], d["sw2y2"], d["sdx"], d["sdyx"],
                             d["swrx"], d["swryx"], H, G)


def _balance(arms: dict[int, dict[str, Any]], prep: PreparedComparison) -> BalanceTable:
    moments = {a: ArmMomentSums(sum_w=d["sw"], sum_wx=d["swx"], sum_wx2=d["swx2"], sum_w2=d["sw2"], n=d["n"])
               for a, d in arms.items()}
    return compute_balance(moments, [c.removeprefix("x_") for c in prep.covariates],
                           threshold=prep.balance_after.threshold)


def _mcid(claim: Claim, effect: EffectEstimate) -> McidCheck | None:
    if claim.kind is not MetricKind.CONTINUOUS or claim.instrument is None:
        return None
    from spinetrack.instruments import thresholds

    try:
        th = thresholds.get(claim.instrument)
    except Exception:  # no threshold in our sources (e.g. EQ-5D): say nothing
        return None
    if th.absolute is None:
        return None
    m = float(th.absolute)
    sign = -1.0 if claim.better == "lower" else 1.0
    est = sign * effect.estimate
    lo, hi = sorted((sign * effect.ci_low, sign * effect.ci_high))
    return McidCheck(claim.instrument, m, th.source, est >= m, lo >= m, -m < lo and hi < m)


def _aipw(engine: Engine, view: str, prep: PreparedComparison, arms: dict[int, dict[str, Any]], binary: bool,
          ci_level: float) -> EffectEstimate | None:
    """The doubly robust check of the primary estimate, for the same estimand. Per-arm linear
    outcome regressions on the propensity covariates (from the X'X, X'y of the claim's query);
    with overlap weights (ATO) the augmented overlap-weight estimator (Mao, Li & Greene 2019):
    one aggregate per arm, then one for its sandwich, which includes the propensity model and the
    outcome regressions (``stats.sensitivity``); with IPTW (ATE) the usual augmented IPW."""
    from dataclasses import replace

    from spinetrack.analysis.aggregates import linear_predictor, sql_float

    # columns constant within an arm's outcome rows (e.g. a missing-baseline indicator when the
    # outcome needs the baseline), or collinear with the kept ones there, leave the regression
    # unidentified: drop them from both arms (greedy, in model order)
    keep = [0]
    for j in range(1, len(prep.design)):
        ok = True
        for d in arms.values():
            m = d["xx"][np.ix_([*keep, j], [*keep, j])]
            resid = m[-1, -1] - m[-1, :-1] @ np.linalg.solve(m[:-1, :-1], m[:-1, -1])
            ok = ok and resid > 1e-9 * m[-1, -1] > 0
        if ok:
            keep.append(j)
    idx = np.array(keep)
    gam = {a: fit_outcome_regression(OutcomeRegressionSums(d["xx"][np.ix_(idx, idx)], d["xy"][idx], d["n"]))
           for a, d in arms.items()}
    cols = [prep.covariates[j - 1] for j in keep[1:]]
    m1, m0 = linear_predictor(cols, gam[1]), linear_predictor(cols, gam[0])
    if prep.estimand != "ATO":
        inner = f"SELECT t, y, e, ({m1}) AS m1, ({m0}) AS m0 FROM {view} vq"
        psi1 = "(m1 + t * (y - m1) / e)"
        psi0 = "(m0 + (1.0 - t) * (y - m0) / (1.0 - e))"
        v = engine.aggregate(f"({inner}) a", ["COUNT(*)", "SUM(t)", f"SUM({psi1} - {psi0})",
                                              f"SUM(({psi1} - {psi0}) * ({psi1} - {psi0}))",
                                              f"SUM({psi1})", f"SUM({psi0})"])
        est = estimate_aipw(AIPWSums(int(v[0]), int(v[1]), v[2], v[3], v[4], v[5]), ci_level=ci_level,
                            measure="risk difference" if binary else "mean difference")
        return replace(est, method="augmented IPW (doubly robust, ATE), linear outcome regressions per arm; "
                                   "influence-function variance, models taken as known (Lunceford & Davidian 2004)")
    # rows with m1, m0, the overlap tilt h = e(1-e), dh = dh/d eta and the own arm's residual u;
    # SUM w, SUM w y, SUM w x, SUM dw x per arm come from the claim's query, SUM h m = gamma' SUM h z
    rows = (f"(SELECT *, e * (1.0 - e) AS h, e * (1.0 - e) * (1.0 - 2.0 * e) AS dh, "
            f"y - CASE WHEN t = 1 THEN m1 ELSE m0 END AS u FROM "
            f"(SELECT *, ({m1}) AS m1, ({m0}) AS m0 FROM {view} vq) m) a")
    design = Design.of(prep.covariates, pattern_bits())
    ex = ["COUNT(*)", *design.vector("h"), *design.vector("dh"), *design.vector("dh * (m1 - m0)"),
          *design.vector("dw * u")]
    g = grouped_sums(engine, rows, design, ["CAST(t AS INTEGER)"], ex)
    per: dict[int, AugmentedArmSums] = {}
    for key in g.group_keys():
        a, d = int(key[0]), arms[int(key[0])]
        n = int(g.select(key).scalars(1)[0])
        h_z, w_z = g.vector()[idx], np.concatenate([[d["sw"]], d["swx"]])[idx]
        dh_x, dh_d_x, dw_u_x = g.vector(), g.vector(), g.vector()
        per[a] = AugmentedArmSums(n, float(h_z[0]), float(h_z @ gam[1]), float(h_z @ gam[0]), d["sw"],
                                  d["swy"] - float(w_z @ gam[a]), dh_x, dh_d_x, d["sdx"], dw_u_x, h_z, w_z,
                                  d["xx"][np.ix_(idx, idx)])
    inf = compute_augmented_influence(AugmentedWeightingSums(per[1], per[0], prep.info))
    f = sql_float
    phi = (f"CASE WHEN t = 1 THEN ({linear_predictor(cols, inf.coef_treated)}) * u "
           f"+ w * (u - ({f(inf.residual_treated)})) * {f(1.0 / inf.sum_w_treated)} "
           f"ELSE ({linear_predictor(cols, inf.coef_control)}) * u "
           f"- w * (u - ({f(inf.residual_control)})) * {f(1.0 / inf.sum_w_control)} END "
           f"+ h * (m1 - m0 - ({f(inf.regression_difference)})) * {f(1.0 / inf.sum_h)}")
    ps = f"r * ({linear_predictor(prep.covariates, inf.coef_propensity)})"
    v = engine.aggregate(f"(SELECT {ps} AS ps, {phi} AS phi FROM {rows}) b", ["SUM(ps * phi)", "SUM(phi * phi)"])
    return estimate_augmented_overlap(inf, AugmentedVarianceSums(float(v[0]), float(v[1])), prep.score_outer,
                                      ci_level=ci_level, measure="risk difference" if binary else "mean difference")


def _evalue(claim: Claim, effect: EffectEstimate, ratio: EffectEstimate | None, sd: float) -> EValueResult | None:
    try:
        if claim.kind is MetricKind.BINARY and ratio is not None:
            return evalue_risk_ratio(ratio.estimate, ratio.ci_low, ratio.ci_high)
        if claim.kind is MetricKind.CONTINUOUS and sd > 0:
            return evalue_mean_difference(effect.estimate, effect.standard_error, sd)
    except Exception:  # an undefined E-value (e.g. RR = 1 exactly) is simply absent
        return None
    return None


def _continuous_or_binary(engine: Engine, prep: PreparedComparison, claim: Claim, view: str, *, ci_level: float,
                          sensitivity: bool, arms: dict[int, dict[str, Any]],
                          ipcw_arms: dict[int, dict[str, Any]] | None) -> dict[str, Any]:
    binary = claim.kind is MetricKind.BINARY
    measure = "risk difference" if binary else "mean difference"
    if set(arms) != {0, 1}:
        raise NotEstimableError("an arm has no patients with this outcome")
    sums = WeightingSums(_arm_sums(arms[1], prep, True), _arm_sums(arms[0], prep, False), prep.estimand)
    effect = estimate_weighted_difference(sums, ci_level=ci_level, measure=measure)  # type: ignore[arg-type]
    ratio = None
    if binary and sums.treated.sum_wy > 0 and sums.control.sum_wy > 0:
        ratio = estimate_risk_ratio(sums, ci_level=ci_level)
    naive = arms[1]["sy"] / arms[1]["n"] - arms[0]["sy"] / arms[0]["n"]
    n = arms[1]["n"] + arms[0]["n"]
    sy, syy = arms[1]["sy"] + arms[0]["sy"], arms[1]["syy"] + arms[0]["syy"]
    sd = float(np.sqrt(max(syy / n - (sy / n) ** 2, 0.0) * n / max(n - 1, 1)))
    out: dict[str, Any] = {"effect": effect, "ratio": ratio, "naive": naive, "balance": _balance(arms, prep),
                           "e_value": _evalue(claim, effect, ratio, sd), "mcid": _mcid(claim, effect)}
    if sensitivity:
        try:
            out["aipw"] = _aipw(engine, view, prep, arms, binary, ci_level)
        except Exception as exc:  # a sensitivity analysis that cannot run is reported, not fatal
            what = "augmented overlap weighting" if prep.estimand == "ATO" else "AIPW"
            out["notes"] = (f"{what} not estimable: {exc}",)
        if ipcw_arms is not None:
            try:
                if set(ipcw_arms) != {0, 1}:
                    raise NotEstimableError("an arm has no patients with this outcome")
                isums = WeightingSums(_arm_sums(ipcw_arms[1], prep, True), _arm_sums(ipcw_arms[0], prep, False),
                                      prep.estimand)
                est = estimate_weighted_difference(isums, ci_level=ci_level, measure=measure)  # type: ignore[arg-type]
                out["ipcw"] = _relabel(est, "; inverse probability of censoring weights (censoring model taken as "
                                            "known)")
            except Exception as exc:  # e.g. the response model did not converge: reported
                out["notes"] = (*out.get("notes", ()), f"IPCW not estimable: {exc}")
    return out


def _relabel(e: EffectEstimate, suffix: str) -> EffectEstimate:
    from dataclasses import replace

    return replace(e, method=e.method + suffix)


def _km(rows: list[tuple[Any, ...]], arm: int, weighted: bool) -> SurvivalCurve:
    sel = [r for r in rows if int(r[0]) == arm]
    time = np.array([float(r[1]) for r in sel])
    if weighted:
        ev, rem, rem2 = (np.array([float(r[i]) for r in sel]) for i in (2, 3, 4))
        return kaplan_meier_from_counts(time, ev, removals=rem, removals_w2=rem2, variance="kish")
    ev, rem = (np.array([float(r[i]) for r in sel]) for i in (5, 6))
    return kaplan_meier_from_counts(time, ev, removals=rem)


def _tte_parts(claim: Claim) -> tuple[float, str, str]:
    """(horizon, the time key of the counts: days, those past the horizon in one group, the
    event within the horizon) of a time-to-event claim, as SQL over its outcome view."""
    h = float(claim.horizon_days or 365)
    return h, f"CAST(LEAST(time, {h + 1!r}) AS DOUBLE)", f"CASE WHEN time <= {h!r} THEN event ELSE 0.0 END"


_KM_SUMS = ("SUM(w * {ev})", "SUM(w)", "SUM(w * w)", "SUM({ev})", "COUNT(*)")


def _tte_curves(rows: list[tuple[Any, ...]], claim: Claim) -> dict[str, Any]:
    """From the grouped counts (arm, time key, the sums of :data:`_KM_SUMS`): the weighted and
    naive Kaplan–Meier curves and the influence look-up per arm (raises NotEstimableError)."""
    h = _tte_parts(claim)[0]
    arms = sorted({int(r[0]) for r in rows})
    if arms != [0, 1]:
        raise NotEstimableError("an arm has no patients with this outcome")
    if not any(float(r[5] or 0) > 0 for r in rows):
        raise NotEstimableError(f"no event in either arm within {h:g} days: nothing to compare")
    curves = {a: _km(rows, a, True) for a in (1, 0)}
    naive = {a: _km(rows, a, False) for a in (1, 0)}
    functional = claim.functional or "survival"
    lk = {a: influence_lookup(curves[a], h, functional) for a in (1, 0)}
    return {"curves": curves, "naive": naive, "lk": lk, "functional": functional, "h": h}


def _lookup_arrays(lk: dict[int, Any]) -> dict[str, np.ndarray]:
    return {"arm": np.concatenate([np.full(lk[a].time.size, a, dtype=np.int64) for a in (1, 0)]),
            "time": np.concatenate([lk[a].time for a in (1, 0)]),
            "jump": np.concatenate([lk[a].jump for a in (1, 0)]),
            "cum": np.concatenate([lk[a].cum for a in (1, 0)])}


def _phi_sums(design: Design) -> list[str]:
    ex = ["COUNT(*)", "SUM(w)", "SUM(w * w)", "SUM(w * w * phi * phi)"]
    return ex + design.vector("dw * phi") + design.vector("w * phi * r") + design.vector("w") + design.squares("w")


def _time_to_event(engine: Engine, prep: PreparedComparison, claim: Claim, view: str, *, ci_level: float,
                   pre: dict[str, Any] | None = None) -> dict[str, Any]:
    """One time-to-event claim: a grouped count query, the curves, a look-up table back to the
    engine and one aggregate of the influence-function sums — or, with ``pre`` (from
    :func:`_time_to_event_batch`), the curves and sums computed there for every claim at once."""
    if pre is not None:
        if "error" in pre:
            raise pre["error"]
        return _tte_finish(prep, claim, pre["sums"], pre["parts"], ci_level=ci_level)
    h, tkey, ev_in = _tte_parts(claim)
    rows = engine.grouped(f"{view} vq", ["CAST(t AS INTEGER)", tkey], [x.format(ev=ev_in) for x in _KM_SUMS])
    parts = _tte_curves(rows, claim)
    table = f"lk_{prep.spec.key}_{claim.key}"
    engine.register_arrays(table, _lookup_arrays(parts["lk"]))
    design = Design.of(list(prep.covariates), pattern_bits())
    joined = (f"(SELECT v.*, l.cum - ({ev_in.replace('time', 'v.time').replace('event', 'v.event')}) * l.jump"
              f" AS phi FROM {view} v JOIN {table} l ON l.arm = CAST(v.t AS INTEGER) "
              f"AND l.time = CAST(LEAST(v.time, {h + 1!r}) AS DOUBLE)) j")
    grouped = grouped_sums(engine, joined, design, ["CAST(t AS INTEGER)"], _phi_sums(design))
    readers = {int(k[0]): _ArmRead(grouped, k) for k in grouped.group_keys()}
    return _tte_finish(prep, claim, readers, parts, ci_level=ci_level)


class _ArmRead:
    """One arm's rows of a grouped result, selected when read (several arms share the result)."""

    def __init__(self, sums: GroupedSums, key: tuple[Any, ...] | None = None,
                 keep: Any = None) -> None:
        self.sums, self.key, self.keep = sums, key, keep

    def open(self) -> GroupedSums:
        return self.sums.select_where(self.keep) if self.keep is not None else self.sums.select(self.key)


def _time_to_event_batch(engine: Engine, prep: PreparedComparison, items: list[tuple[Claim, str]]
                         ) -> dict[str, dict[str, Any]]:
    """Every time-to-event claim of a comparison in TWO queries (``Engine.batch_claims``): the
    grouped counts of all claims (their outcome views stacked with a claim number ``k__``), then,
    after one look-up table of every claim's influence values goes back to the engine, the
    influence-function sums of all claims. Returns per claim what :func:`_time_to_event` needs
    (or the error it raises)."""
    out: dict[str, dict[str, Any]] = {}
    if not items:
        return out
    stacked = " UNION ALL ".join(
        f"SELECT {i} AS k__, CAST(t AS INTEGER) AS a__, {_tte_parts(c)[1]} AS tk__, w, "
        f"{_tte_parts(c)[2]} AS ev__ FROM {view} vq" for i, (c, view) in enumerate(items))
    rows = engine.grouped(f"({stacked}) st", ["k__", "a__", "tk__"], [x.format(ev="ev__") for x in _KM_SUMS])
    good: list[int] = []
    arrays: dict[str, list[np.ndarray]] = {"k": [], "arm": [], "time": [], "jump": [], "cum": []}
    for i, (c, _) in enumerate(items):
        try:
            parts = _tte_curves([r[1:] for r in rows if int(r[0]) == i], c)
        except InputError as exc:
            out[c.key] = {"error": exc}
            continue
        out[c.key] = {"parts": parts}
        good.append(i)
        a = _lookup_arrays(parts["lk"])
        for k, v in a.items():
            arrays[k].append(v)
        arrays["k"].append(np.full(a["arm"].size, i, dtype=np.int64))
    if not good:
        return out
    table = f"lk_{prep.spec.key}__tte"
    engine.register_arrays(table, {k: np.concatenate(v) for k, v in arrays.items()})
    design = Design.of(list(prep.covariates), pattern_bits())
    carried = ", ".join(dict.fromkeys(["t", *design.keys, *design.continuous, "w", "dw", "r"]))
    # the claims' rows stacked, then ONE join with the look-up table (one broadcast, whatever the
    # number of claims)
    stacked = " UNION ALL ".join(
        f"SELECT {i} AS k__, {carried}, {_tte_parts(items[i][0])[1]} AS tk__, {_tte_parts(items[i][0])[2]} AS ev__ "
        f"FROM {items[i][1]} vq" for i in good)
    joined = (f"(SELECT s.*, l.cum - s.ev__ * l.jump AS phi FROM ({stacked}) s JOIN {table} l "
              f"ON l.k = s.k__ AND l.arm = CAST(s.t AS INTEGER) AND l.time = s.tk__) j")
    grouped = grouped_sums(engine, joined, design, ["k__", "CAST(t AS INTEGER)"], _phi_sums(design))
    for i in good:
        c, _ = items[i]
        arms = sorted({int(k[1]) for k in grouped.group_keys() if int(k[0]) == i})
        out[c.key]["sums"] = {a: _ArmRead(grouped, keep=lambda k, i=i, a=a: int(k[0]) == i and int(k[1]) == a)
                              for a in arms}
    return out


def _tte_finish(prep: PreparedComparison, claim: Claim, arm_sums: dict[int, _ArmRead], parts: dict[str, Any], *,
                ci_level: float) -> dict[str, Any]:
    """The estimate, the E-value and the restricted means from the curves and the influence sums."""
    curves, naive, lk, functional, h = (parts[k] for k in ("curves", "naive", "lk", "functional", "h"))
    cols = list(prep.covariates)
    sums, mom = {}, {}
    for a, reader in arm_sums.items():
        g = reader.open()
        n, sw, sw2, sw2phi2 = g.scalars(4)
        sums[a] = SurvivalArmSums(int(n), sw, sw2, sw2phi2, g.vector(), g.vector())
        swx, swx2 = g.vector_and_squares()
        mom[a] = ArmMomentSums(sum_w=sw, sum_wx=swx, sum_wx2=swx2, sum_w2=sw2, n=int(n))
    rmst = functional == "rmst"
    effect = estimate_survival_difference(sums[1], sums[0], lk[1].value, lk[0].value, prep.info,
                                          prep.score_outer, estimand=prep.estimand, ci_level=ci_level,
                                          horizon=h, measure="restricted mean difference" if rmst else None)
    if rmst:
        naive_diff = (restricted_mean_survival_time(naive[1], h).estimate
                      - restricted_mean_survival_time(naive[0], h).estimate)
    else:
        naive_diff = float(naive[1].survival_at(h)) - float(naive[0].survival_at(h))
    # risk ratio of the event (return, or reoperation) by the horizon, for the E-value
    f1, f0 = (1.0 - float(curves[a].survival_at(h)) for a in (1, 0))
    ev_rr = None
    if not rmst and f1 > 0 and f0 > 0:  # no E-value for a restricted mean (no risk-ratio scale)
        try:
            ev_rr = evalue_risk_ratio(f1 / f0)
        except Exception:
            ev_rr = None
    r1, r0 = (restricted_mean_survival_time(curves[a], h) for a in (1, 0))
    rmst_row = {"horizon": h, "treated": r1.estimate, "control": r0.estimate, "difference": r1.estimate - r0.estimate,
            "standard_error_weights_fixed": float(np.sqrt(r1.variance + r0.variance))}
    return {"effect": effect, "naive": naive_diff, "balance": compute_balance(
        mom, [c.removeprefix("x_") for c in cols], threshold=prep.balance_after.threshold),
        "e_value": ev_rr, "curves": {"treated": curves[1], "control": curves[0]},
        "naive_curves": {"treated": naive[1], "control": naive[0]}, "rmst": rmst_row}


def run_claim(engine: Engine, comparison: ComparisonSpec | PreparedComparison, claim: Claim, *,
              estimand: str = "ATO", trim: float | None = None, ci_level: float = 0.95, sensitivity: bool = False,
              ipcw_table: str | None = None) -> ClaimResult:
    """Estimate one claim for one comparison (:func:`run_claims` with one claim).

    ``comparison`` may be a spec (it is prepared here) or a :class:`PreparedComparison` shared
    by all claims of the comparison (``analysis.scorecard`` does that).
    """
    prep = comparison if isinstance(comparison, PreparedComparison) else prepare_comparison(
        engine, comparison, estimand=estimand, trim=trim)
    return run_claims(engine, prep, [claim], ci_level=ci_level, sensitivity=sensitivity, ipcw_table=ipcw_table)[0]


def run_claims(engine: Engine, prep: PreparedComparison, claims: Sequence[Claim], *, ci_level: float = 0.95,
               sensitivity: bool = False, ipcw_table: str | None = None) -> list[ClaimResult]:
    """Estimate several claims of one prepared comparison. Continuous and binary claims whose
    outcomes are observed on the same rows share one aggregate query (the sums that do not
    involve the outcome are computed once); time-to-event claims take their own queries.
    ``ipcw_table`` names the comparison's analysis table extended with ``ipcw_<timepoint>``
    columns (inverse probability of a returned questionnaire) for the IPCW sensitivity
    analysis of PROM claims."""
    spec = prep.spec
    batch = [(c, outcome_spec(c)) for c in claims
             if applicable(spec, c) and c.kind is not MetricKind.TIME_TO_EVENT]
    arms = _claim_arm_sums(engine, prep, batch, prep.table, "w", "dw", sensitivity)
    ipcw_arms: dict[str, dict[int, dict[str, Any]]] = {}
    if sensitivity and ipcw_table is not None:
        for tp in dict.fromkeys(c.timepoint for c, _ in batch if c.table == "outcomes" and c.timepoint):
            items = [(c, oq) for c, oq in batch if c.table == "outcomes" and c.timepoint == tp]
            ipcw_arms.update(_claim_arm_sums(engine, prep, items, ipcw_table, f"(w * ipcw_{tp})",
                                             f"(dw * ipcw_{tp})", False))
    tte: dict[str, dict[str, Any]] = {}
    if engine.batch_claims:
        tte = _time_to_event_batch(engine, prep, [(c, _outcome_view(prep, c)) for c in claims
                                                  if applicable(spec, c) and c.kind is MetricKind.TIME_TO_EVENT])
    return [_result(engine, prep, c, ci_level=ci_level, sensitivity=sensitivity, arms=arms.get(c.key),
                    ipcw_arms=ipcw_arms.get(c.key), tte=tte.get(c.key)) for c in claims]


def _outcome_view(prep: PreparedComparison, claim: Claim) -> str:
    """The comparison's rows with an observed outcome of ``claim`` and its outcome columns."""
    oq = outcome_spec(claim)
    cols = ", ".join(f"{expr} AS {name}" for name, expr in oq.columns)
    return f"(SELECT *, {cols} FROM {prep.table} WHERE {oq.where})"


def _result(engine: Engine, prep: PreparedComparison, claim: Claim, *, ci_level: float, sensitivity: bool,
            arms: dict[int, dict[str, Any]] | None, ipcw_arms: dict[int, dict[str, Any]] | None,
            tte: dict[str, Any] | None = None) -> ClaimResult:
    spec = prep.spec
    base: dict[str, Any] = {"claim": claim.key, "comparison": spec.key, "estimand": prep.estimand,
                            "spec_hash": spec.spec_hash(), "propensity": prep.propensity,
                            "covariates": prep.covariates, "dropped_covariates": prep.dropped_covariates}
    if not applicable(spec, claim):
        return ClaimResult(status="not applicable", effect=None, verdict=None, attrition=prep.attrition,
                           notes=(_not_applicable_note(spec, claim),), **base)
    oq = outcome_spec(claim)
    view = _outcome_view(prep, claim)
    try:
        if claim.kind is MetricKind.TIME_TO_EVENT:
            out = _time_to_event(engine, prep, claim, view, ci_level=ci_level, pre=tte)
        else:
            out = _continuous_or_binary(engine, prep, claim, view, ci_level=ci_level, sensitivity=sensitivity,
                                        arms=arms or {}, ipcw_arms=ipcw_arms)
    except InputError as exc:  # NotEstimableError, or the statistics refusing degenerate sums
        return ClaimResult(status="not estimable", effect=None, verdict=None, attrition=prep.attrition,
                           notes=(*prep.notes, f"not estimable: {exc}"), **base)
    effect: EffectEstimate = out["effect"]
    attrition = (*prep.attrition, AttritionStep(oq.description, effect.n_treated, effect.n_control))
    # a claim estimated alone is its own family: the scorecard replaces p_adjusted and the
    # verdict once every claim is estimated (analysis.scorecard.adjust_verdicts)
    margin = margin_of(claim)
    verdict = decide_verdict(effect.estimate, effect.ci_low, effect.ci_high, claim.better, p_adjusted=effect.p_value,
                             margin=None if margin is None else margin[0], null=effect.null_value)
    failed = prep.diagnostics.failed
    return ClaimResult(
        status="withheld" if failed else "estimated", effect=effect, verdict=verdict, ratio=out.get("ratio"),
        naive_difference=out["naive"], balance=out["balance"], attrition=attrition, e_value=out.get("e_value"),
        mcid=out.get("mcid"), aipw=out.get("aipw"), ipcw=out.get("ipcw"), curves=out.get("curves"),
        naive_curves=out.get("naive_curves"), rmst_difference=out.get("rmst"), withheld_because=failed,
        notes=tuple(prep.notes) + tuple(out.get("notes", ())), p_adjusted=effect.p_value,
        margin=None if margin is None else margin[0], margin_source=None if margin is None else margin[1], **base)
