"""Registry benchmarking: each site's risk-adjusted outcomes against the whole registry.

What the American Spine Registry / QOD dashboards, Spine Tango and the Swedish spine registry
show each clinic, computed the way this package computes everything — sums from the engine:

1. **Risk model.** For each outcome (:data:`OUTCOMES`: the ICHOM set's and the claims
   catalogue's — ODI MCID at 12 months, any complication, infection, dural tear, readmission,
   reoperation within 2 years, length of stay, days to return to activity) a registry-wide
   model on the scorecard's case-mix covariates (``analysis.design``: age, sex, BMI, smoking,
   diabetes, ASA, diagnosis, levels, baseline ODI and pain, symptom duration, prior surgery,
   procedure family) over every operated episode: logistic by the same aggregate IRLS as the
   propensity model (one grouped query per Newton step) for a yes/no outcome, least squares
   from one ``X'X, X'y`` query for a number. The approach (MIS or open) is *not* adjusted for: it
   is the clinic's choice, part of what is compared.
2. **Indirect standardisation.** ONE grouped query gives per unit (site, or surgeon) and
   outcome: n, observed (O = Σy), expected (E = Σŷ from the model), Σŷ(1 − ŷ). Then
   O/E with its interval (Wilson's score interval on O/n scaled by n/E for a yes/no outcome;
   normal with the model's residual SD for a number) and the risk-adjusted value: the registry
   rate × O/E (yes/no) or the registry mean + (O − E)/n (number).
3. **Funnel plot** (Spiegelhalter, Stat Med 2005;24:1185-1202; ``stats.funnel``): the
   risk-adjusted values against the number of patients, with 95% and 99.8% limits around the
   registry value (exact binomial with the paper's interpolation for a proportion, normal for a
   mean); overdispersion estimated from the winsorised z-scores and, when the test finds it,
   allowed for (additive random effects by default; the method and reason are reported); the
   empirical-Bayes (shrunken) estimates; flags ``alert`` (outside 95%) and ``alarm`` (outside
   99.8%), with the direction (worse / better) from the outcome's better side.
4. **Risk-adjusted CUSUM** (Steiner et al., Biostatistics 2000;1(4):441-452; ``stats.cusum``)
   of any complication per unit in order of operation date: the upper chart looks for a doubling
   of the odds (worse), the lower for a halving (better), each with the control limit giving
   the stated in-control average run length for the registry's mix of patient risks.

Who sees what (:func:`view_for`): a clinic sees itself named and the others as "Site 1…k"; a
researcher sees every unit pseudonymised; units with fewer than 5 patients are suppressed
(no numbers), as in the aggregates API. Only sums leave the engine, except the CUSUM, which is
sequential by nature: for one outcome it reads each operated patient's (unit, day, event,
expected risk) — no identifiers.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spinetrack.analysis.aggregates import grouped_sums, linear_predictor
from spinetrack.analysis.claims import claim
from spinetrack.analysis.design import ANALYSIS_TABLE, all_covariate_columns, outcome_spec, pattern_bits
from spinetrack.analysis.patterns import Design
from spinetrack.analysis.propensity import _screen, fit_dropping_separators, prepare_snapshot
from spinetrack.domain.comparisons import APPROACHES
from spinetrack.engines.base import Engine
from spinetrack.errors import InputError, SpinetrackError, ValidationError
from spinetrack.stats._common import to_jsonable

__all__ = [
    "LEVELS",
    "MIN_CELL",
    "OUTCOMES",
    "BenchOutcome",
    "Benchmark",
    "benchmark_as_dict",
    "benchmark_snapshot",
    "run_benchmark",
    "view_for",
]

SCHEMA_VERSION = 1
#: Units with fewer patients than this are shown without numbers (as the aggregates API does:
#: ``store.reads.MIN_CELL_SIZE``).
MIN_CELL = 5
LEVELS = ("site", "surgeon")
OVERDISPERSION = ("auto", "none", "multiplicative", "additive")
LEVELS_95_998 = (0.95, 0.998)  # Spiegelhalter 2005: the two-sigma and three-sigma funnels
#: Steiner et al. 2000: the upper chart tests a doubling of the odds, the lower a halving.
ODDS_RATIO_WORSE = 2.0
ODDS_RATIO_BETTER = 0.5
#: The in-control average run length the CUSUM limits are set for, in operations per unit: a
#: false signal about once in this many operations at a site performing as the model expects.
#: spinetrack's setting (a method choice, not a clinical figure); ``--arl0`` changes it.
DEFAULT_ARL0 = 10_000.0
CUSUM_OUTCOME = "any_complication"
_MAX_CHART_POINTS = 1_000  # per unit in the document: longer charts are thinned (alarms always kept)

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class BenchOutcome:
    """One benchmarked outcome: ``y`` is an SQL expression over the analysis table that is NULL
    where the outcome is not observed (so that rows without it drop out of its model and sums)."""

    key: str
    label: str
    kind: str       # "binary" or "continuous"
    unit: str       # "%" (a share; the values are proportions 0-1) or "days"
    better: str     # "higher" or "lower"
    y: str
    population: str  # plain words: who the outcome is measured on


def _from_claim(key: str, claim_key: str, label: str, unit: str) -> BenchOutcome:
    """An outcome defined as the claim's outcome (``analysis.design.outcome_spec``), so that
    benchmarking and the scorecard never disagree on what an outcome means."""
    c = claim(claim_key)
    spec = outcome_spec(c)
    y = spec.columns[0][1]
    expr = y if spec.where == "TRUE" else f"CASE WHEN {spec.where} THEN {y} END"
    kind = "binary" if str(c.kind) == "binary" else "continuous"
    return BenchOutcome(key, label, kind, unit, c.better, expr, spec.description)


def _outcomes() -> tuple[BenchOutcome, ...]:
    h = claim("reoperation_free").horizon_days or 730
    reop = (f"CASE WHEN followup_days >= {h} THEN (CASE WHEN reop_first_day IS NOT NULL AND reop_first_day <= {h} "
            "THEN 1.0 ELSE 0.0 END) END")
    return (
        _from_claim("odi_mcid_12m", "odi_mcid_12m", "Improved by the ODI's minimal important change at 12 months",
                    "%"),
        _from_claim("any_complication", "any_complication", "Any complication", "%"),
        _from_claim("infection", "ssi", "Surgical-site infection", "%"),
        _from_claim("dural_tear", "dural_tear", "Dural tear", "%"),
        _from_claim("readmission", "readmission", "Readmission", "%"),
        BenchOutcome("reoperation_2y", f"Reoperation within {h // 365} years", "binary", "%", "lower", reop,
                     f"operated at least {h} days before the data's extraction date"),
        _from_claim("los_days", "length_of_stay", "Length of stay", "days"),
        BenchOutcome("return_to_activity_days", "Days to return to usual activity", "continuous", "days", "lower",
                     "CASE WHEN rta_event = 1.0 THEN rta_time END",
                     "patients who reported being back to usual activity (those not yet back are not counted)"),
    )


OUTCOMES: tuple[BenchOutcome, ...] = _outcomes()


def outcome(key: str) -> BenchOutcome:
    for o in OUTCOMES:
        if o.key == key:
            return o
    raise ValidationError(field="outcome", value=key, allowed=tuple(o.key for o in OUTCOMES))


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class UnitResult:
    unit: str
    n: int
    observed: float
    expected: float
    oe: float
    oe_low: float
    oe_high: float
    adjusted: float
    adjusted_low: float
    adjusted_high: float
    limits: dict[str, tuple[float, float]]
    z: float
    shrunken: float
    flag: str
    direction: str | None


@dataclass(frozen=True)
class OutcomeResult:
    outcome: BenchOutcome
    n: int
    overall: float
    covariates: tuple[str, ...]
    dropped: tuple[str, ...]
    converged: bool
    n_iter: int
    residual_sd: float | None
    overdispersion: dict[str, Any]
    units: tuple[UnitResult, ...]
    funnel: dict[str, Any]
    note: str | None = None


@dataclass(frozen=True)
class CusumUnit:
    unit: str
    n: int
    days: np.ndarray          # days from the index date to the data's extraction date, in chart order
    worse: np.ndarray
    better: np.ndarray
    alarms: tuple[tuple[int, str], ...]  # (patient index in chart order, "worse" | "better")


@dataclass(frozen=True)
class CusumResult:
    outcome: str
    arl0: float
    h_worse: float
    h_better: float
    method: str
    units: tuple[CusumUnit, ...]
    as_of: str | None


@dataclass(frozen=True)
class Benchmark:
    level: str
    years: tuple[int, int] | None
    approach: str
    engine: str
    overdispersion_setting: str
    outcomes: tuple[OutcomeResult, ...]
    cusum: CusumResult | None
    notes: tuple[str, ...] = field(default=())
    seconds: float = 0.0


# --------------------------------------------------------------------------- the engine part


def _covariates() -> list[str]:
    names = []
    for c in all_covariate_columns():
        names.append(f"x_{c.name}")
        if c.missing_sql:
            names.append(f"x_{c.name}_missing")
    return names


def _base_sql(level: str, years: tuple[int, int] | None, approach: str, outcomes: Sequence[BenchOutcome]) -> str:
    """The operated episodes of the analysis table with their unit, index year and each
    outcome's ``y_<key>``."""
    treat = APPROACHES if approach == "all" else (approach,)
    where = [f"a.treatment IN ({', '.join(repr(t) for t in treat)})", "a.has_procedure"]
    if years is not None:
        where.append(f"e.index_year BETWEEN {int(years[0])} AND {int(years[1])}")
    unit = "p.site" if level == "site" else "pr.surgeon"
    join = "" if level == "site" else (" JOIN procedures pr ON pr.episode_key = a.episode_key"
                                       " AND pr.days_from_index = 0 AND pr.surgeon IS NOT NULL")
    ys = ", ".join(f"CAST({o.y} AS DOUBLE) AS y_{o.key}" for o in outcomes)
    return (f"SELECT s.*, {ys} FROM (SELECT a.*, {unit} AS unit, e.index_year AS index_year FROM {ANALYSIS_TABLE} a "
            "JOIN patients p ON p.patient_key = a.patient_key JOIN episodes e ON e.episode_key = a.episode_key"
            f"{join} WHERE {' AND '.join(where)}) s")


@dataclass(frozen=True)
class _Model:
    columns: list[str]
    dropped: list[str]
    beta: np.ndarray
    converged: bool
    n_iter: int
    residual_sd: float | None

    def fitted_sql(self, kind: str) -> str:
        eta = linear_predictor(self.columns, self.beta)
        return f"(1.0 / (1.0 + EXP(-({eta}))))" if kind == "binary" else f"({eta})"


def _fit(engine: Engine, table: str, o: BenchOutcome, covs: list[str], bits: dict[str, int]) -> _Model:
    view = f"(SELECT * FROM {table} WHERE y_{o.key} IS NOT NULL) v"
    # constant columns, 0/1 columns that separate the outcome, and columns collinear with the kept
    # ones (the procedure family follows from the diagnosis among operated patients) leave the model
    if o.kind == "binary":
        cols, const, coll = _screen(engine, view, covs, f"y_{o.key}", True, bits=bits)
        fit, cols, sep = fit_dropping_separators(engine, view, cols, response=f"y_{o.key}", bits=bits)
        return _Model(cols, const + coll + sep, fit.coefficients, bool(fit.converged), int(fit.n_iter), None)
    cols, const, coll = _screen(engine, view, covs, "1.0", True, bits=bits)
    dropped = const + coll
    design = Design.of(cols, bits)
    g = grouped_sums(engine, view, design, [], [*design.matrix("1.0"), *design.vector(f"y_{o.key}"),
                                                f"SUM(y_{o.key} * y_{o.key})", "COUNT(*)"])
    xtx, xty = g.matrix(), g.vector()
    yy, n = (float(v) for v in g.scalars(2))
    beta, *_ = np.linalg.lstsq(xtx, xty, rcond=None)
    rank = int(np.linalg.matrix_rank(xtx))
    rss = max(yy - 2.0 * float(beta @ xty) + float(beta @ xtx @ beta), 0.0)
    sd = math.sqrt(rss / max(n - rank, 1.0))
    return _Model(cols, dropped, beta, True, 1, sd)


def run_benchmark(engine: Engine, *, level: str = "site", outcomes: Sequence[str] | None = None,
                  years: tuple[int, int] | None = None, approach: str = "all", overdispersion: str = "auto",
                  arl0: float = DEFAULT_ARL0, cusum: bool = True, as_of: dt.date | None = None,
                  progress: Progress | None = None) -> Benchmark:
    """Benchmark every unit on a registered snapshot (module docstring). ``outcomes``: keys of
    :data:`OUTCOMES` (default all); ``years``: index years, inclusive; ``approach``: ``all``
    operated episodes, or ``mis`` / ``open`` only; ``as_of``: the data's extraction date (the
    snapshot manifest's), which turns the CUSUM's day offsets into dates."""
    import time

    t0 = time.perf_counter()
    tick = progress or (lambda _m: None)
    if level not in LEVELS:
        raise ValidationError(field="level", value=level, allowed=LEVELS)
    if overdispersion not in OVERDISPERSION:
        raise ValidationError(field="overdispersion", value=overdispersion, allowed=OVERDISPERSION)
    if approach not in ("all", *APPROACHES):
        raise ValidationError(field="approach", value=approach, allowed=("all", *APPROACHES))
    if not (isinstance(arl0, (int, float)) and math.isfinite(arl0) and arl0 > 1):
        raise ValidationError(field="arl0", value=arl0, allowed="a number of operations above 1")
    chosen = list(OUTCOMES) if not outcomes else [outcome(k) for k in outcomes]
    prepare_snapshot(engine)
    table = "bm_base"
    engine.materialize(table, _base_sql(level, years, approach, chosen))
    # one query: the population's size, and every outcome's count and events
    counts = engine.aggregate(table, ["COUNT(*)", *(e for o in chosen for e in (f"COUNT(y_{o.key})",
                                                                               f"SUM(y_{o.key})"))])
    if not int(counts[0]):
        what = "operated episodes" + (f" indexed in {years[0]}-{years[1]}" if years else "")
        raise InputError(f"there are no {what} in this snapshot, so there is nothing to benchmark")
    tick("operated episodes")
    covs = _covariates()
    bits = pattern_bits()
    models: dict[str, _Model] = {}
    notes: list[str] = []
    for k, o in enumerate(chosen):
        n_obs, n_ev = int(counts[1 + 2 * k]), float(np.nan_to_num(counts[2 + 2 * k]))
        why = ("no patient has this outcome recorded" if not int(n_obs) else
               "no patient had it" if o.kind == "binary" and not float(n_ev or 0) else
               "every patient had it" if o.kind == "binary" and float(n_ev) >= int(n_obs) else None)
        if why is not None:
            notes.append(f"{o.label}: {why} in this population, so it is not benchmarked")
            continue
        try:
            model = _fit(engine, table, o, covs, bits)
        except SpinetrackError as exc:
            notes.append(f"{o.label}: the risk model could not be fitted ({exc}), so it is not benchmarked")
            continue
        if o.kind == "continuous" and not (model.residual_sd or 0.0) > 0:
            notes.append(f"{o.label}: the risk model explains every value exactly (no residual variation), so "
                         "there is nothing to compare")
            continue
        models[o.key] = model
        tick(f"risk model: {o.label}")
    fitted = [o for o in chosen if o.key in models]
    sums = _unit_sums(engine, table, fitted, models)
    tick("observed and expected per unit")
    results = tuple(_outcome_result(o, models[o.key], sums[o.key], overdispersion) for o in fitted)
    cres = None
    if cusum and CUSUM_OUTCOME in models:
        cres = _cusum(engine, table, outcome(CUSUM_OUTCOME), models[CUSUM_OUTCOME], arl0, as_of)
        tick("CUSUM charts")
    return Benchmark(level, years, approach, engine.name, overdispersion, results, cres, tuple(notes),
                     time.perf_counter() - t0)


def _unit_sums(engine: Engine, table: str, fitted: Sequence[BenchOutcome], models: dict[str, _Model]
               ) -> dict[str, dict[str, np.ndarray]]:
    """ONE grouped query: per unit and outcome n, Σy, Σŷ, Σŷ(1 − ŷ), Σy²."""
    if not fitted:
        return {}
    proj = ", ".join(f"y_{o.key}, CASE WHEN y_{o.key} IS NOT NULL THEN {models[o.key].fitted_sql(o.kind)} END "
                     f"AS f_{o.key}" for o in fitted)
    ex = []
    for o in fitted:
        y, f = f"y_{o.key}", f"f_{o.key}"
        ex += [f"COUNT({y})", f"SUM({y})", f"SUM({f})", f"SUM({f} * (1.0 - {f}))", f"SUM({y} * {y})"]
    rows = engine.grouped(f"(SELECT unit, {proj} FROM {table}) s", ["unit"], ex)
    units = np.array([str(r[0]) for r in rows], dtype=object)
    vals = np.array([[0.0 if v is None else float(v) for v in r[1:]] for r in rows], dtype=float).reshape(len(rows), -1)
    out = {}
    for k, o in enumerate(fitted):
        block = vals[:, 5 * k:5 * k + 5]
        keep = block[:, 0] > 0
        out[o.key] = {"unit": units[keep], "n": block[keep, 0], "o": block[keep, 1], "e": block[keep, 2],
                      "v": block[keep, 3], "yy": block[keep, 4]}
    return out


# --------------------------------------------------------------------------- statistics


def _wilson(o: np.ndarray, n: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson's score interval for a proportion o/n (Wilson, JASA 1927;22:209-212)."""
    p = o / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def _outcome_result(o: BenchOutcome, model: _Model, s: dict[str, np.ndarray], overdispersion: str) -> OutcomeResult:
    from scipy.stats import norm

    from spinetrack.stats import funnel as fn

    n, obs, exp_ = s["n"], s["o"], s["e"]
    total = float(n.sum())
    z95 = float(norm.ppf(0.975))
    if o.kind == "binary":
        target = float(obs.sum() / total)
        oe = np.divide(obs, exp_, out=np.full_like(obs, np.nan), where=exp_ > 0)
        adjusted = target * oe
        lo, hi = _wilson(obs, n, z95)
        scale = np.divide(n, exp_, out=np.full_like(n, np.nan), where=exp_ > 0)
        oe_lo, oe_hi = lo * scale, hi * scale
        se = np.sqrt(target * (1.0 - target) / n)
        kind, precision = "proportion", n
        sd = None
    else:
        target = float(obs.sum() / total)
        sd = float(model.residual_sd or 0.0)
        oe = np.divide(obs, exp_, out=np.full_like(obs, np.nan), where=exp_ != 0)
        half = z95 * sd * np.sqrt(n)
        oe_lo = np.divide(obs - half, exp_, out=np.full_like(obs, np.nan), where=exp_ != 0)
        oe_hi = np.divide(obs + half, exp_, out=np.full_like(obs, np.nan), where=exp_ != 0)
        adjusted = target + (obs - exp_) / n
        se = sd / np.sqrt(n)
        kind, precision = "mean", n / max(sd * sd, 1e-300)
    adj_lo = target * oe_lo if o.kind == "binary" else adjusted - z95 * se
    adj_hi = target * oe_hi if o.kind == "binary" else adjusted + z95 * se
    z = np.divide(adjusted - target, se, out=np.zeros_like(se), where=se > 0)
    od = fn.estimate_overdispersion(z, se)
    method, reason = fn.choose_overdispersion(od, overdispersion)
    phi, tau2 = fn.overdispersion_parameters(od, method)
    lims = fn.funnel_limits(target, precision, kind=kind, levels=LEVELS_95_998, phi=phi, tau2=tau2)
    (l95, u95), (l998, u998) = lims[0.95], lims[0.998]
    flags = fn.flag(adjusted, l95, u95, l998, u998)
    # shrunken estimates: each unit pulled towards the registry value in proportion to its noise,
    # with the between-unit variance estimated by moments from the z-scores NOT winsorised
    # (DerSimonian–Laird): winsorising keeps a few outliers from widening every funnel limit, but
    # the shrinkage must see how much units truly differ, outliers included (all the way to the
    # registry value only when the units vary no more than chance allows)
    tau2_shrink = float(fn.estimate_overdispersion(z, se, winsor=0.0).tau2)
    shrunk = fn.shrink(adjusted, se * math.sqrt(phi), target, tau2_shrink)
    units = []
    for i, u in enumerate(s["unit"]):
        direction = None
        if flags[i] != "ok":
            high = adjusted[i] > target
            direction = "better" if (high == (o.better == "higher")) else "worse"
        units.append(UnitResult(str(u), int(n[i]), float(obs[i]), float(exp_[i]), float(oe[i]), float(oe_lo[i]),
                                float(oe_hi[i]), float(adjusted[i]), float(adj_lo[i]), float(adj_hi[i]),
                                {"95": (float(l95[i]), float(u95[i])), "99.8": (float(l998[i]), float(u998[i]))},
                                float(z[i]), float(shrunk[i]), flags[i], direction))
    grid = np.unique(np.geomspace(max(1.0, float(n.min()) * 0.5), float(n.max()) * 1.15, 80).round())
    gprec = grid if kind == "proportion" else grid / max((sd or 0.0) ** 2, 1e-300)
    glims = fn.funnel_limits(target, gprec, kind=kind, levels=LEVELS_95_998, phi=phi, tau2=tau2)
    funnel = {"precision": "n", "grid": grid.tolist(), "target": target,
              "lower95": glims[0.95][0].tolist(), "upper95": glims[0.95][1].tolist(),
              "lower998": glims[0.998][0].tolist(), "upper998": glims[0.998][1].tolist()}
    odd = {"method": method, "phi": float(od.phi), "tau2": float(od.tau2), "p_value": float(od.p_value),
           "tau2_shrinkage": tau2_shrink, "reason": reason}
    return OutcomeResult(o, int(total), target, tuple(model.columns), tuple(model.dropped), model.converged,
                         model.n_iter, sd, odd, tuple(sorted(units, key=lambda u: u.unit)), funnel)


# --------------------------------------------------------------------------- CUSUM


def _cusum(engine: Engine, table: str, o: BenchOutcome, model: _Model, arl0: float, as_of: dt.date | None
           ) -> CusumResult:
    from spinetrack.stats import cusum as cs

    f = model.fitted_sql(o.kind)
    rows = engine.sql(f"SELECT unit, followup_days, y_{o.key}, {f} FROM {table} WHERE y_{o.key} IS NOT NULL "
                      "AND followup_days IS NOT NULL ORDER BY unit, followup_days DESC, episode_key")
    unit = np.array([str(r[0]) for r in rows], dtype=object)
    days = np.array([int(r[1]) for r in rows], dtype=np.int64)
    y = np.array([float(r[2]) for r in rows])
    p = np.clip(np.array([float(r[3]) for r in rows]), 1e-9, 1 - 1e-9)
    # the registry's mix of risks, summarised by 1,000 quantiles (the Markov chain averages its
    # transition probabilities over them; exact enough and independent of the registry's size)
    # (rounded to 1e-10: the engines' sums differ in the last bits, and the chain's discretisation
    # would turn that into a different h in the fifth digit)
    mix = np.round(np.quantile(p, (np.arange(1000) + 0.5) / 1000) if p.size > 1000 else p, 10)
    worse_h = cs.control_limit(mix, odds_ratio=ODDS_RATIO_WORSE, arl0=arl0)
    better_h = cs.control_limit(mix, odds_ratio=ODDS_RATIO_BETTER, arl0=arl0)
    units = []
    for u in dict.fromkeys(unit.tolist()):
        m = unit == u
        up = cs.run_cusum(y[m], p[m], odds_ratio=ODDS_RATIO_WORSE, h=worse_h.h)
        down = cs.run_cusum(y[m], p[m], odds_ratio=ODDS_RATIO_BETTER, h=better_h.h)
        alarms = sorted([(int(i), "worse") for i in up.alarms] + [(int(i), "better") for i in down.alarms])
        units.append(CusumUnit(str(u), int(m.sum()), days[m], np.asarray(up.values), np.asarray(down.values),
                               tuple(alarms)))
    return CusumResult(o.key, float(arl0), float(worse_h.h), float(better_h.h), str(worse_h.method), tuple(units),
                       None if as_of is None else as_of.isoformat())


def _thin(k: int, alarms: Sequence[int]) -> np.ndarray:
    """Indices kept of a chart of ``k`` points: all when few, else evenly spaced plus the alarms."""
    if k <= _MAX_CHART_POINTS:
        return np.arange(k)
    keep = set(np.linspace(0, k - 1, _MAX_CHART_POINTS).round().astype(int).tolist()) | set(alarms)
    return np.array(sorted(keep), dtype=np.int64)


# --------------------------------------------------------------------------- serialisation


def benchmark_as_dict(b: Benchmark, *, min_cell: int = MIN_CELL) -> dict[str, Any]:
    """The JSON document (``spinetrack benchmark --json``; schema :data:`SCHEMA_VERSION`). Every
    unit is named by its code here: :func:`view_for` makes what a clinic or researcher sees."""
    outs = []
    for r in b.outcomes:
        units = []
        for u in r.units:
            d: dict[str, Any] = {"unit": u.unit, "label": u.unit, "own": False, "suppressed": u.n < min_cell, "n": u.n}
            if u.n < min_cell:
                d.update({k: None for k in ("observed", "expected", "oe", "oe_low", "oe_high", "adjusted",
                                            "adjusted_low", "adjusted_high", "limits", "z", "shrunken", "flag",
                                            "direction")})
            else:
                d.update({"observed": u.observed, "expected": u.expected, "oe": u.oe, "oe_low": u.oe_low,
                          "oe_high": u.oe_high, "adjusted": u.adjusted, "adjusted_low": u.adjusted_low,
                          "adjusted_high": u.adjusted_high, "limits": {k: list(v) for k, v in u.limits.items()},
                          "z": u.z, "shrunken": u.shrunken, "flag": u.flag, "direction": u.direction})
            units.append(d)
        o = r.outcome
        outs.append({"key": o.key, "label": o.label, "kind": o.kind, "unit": o.unit, "better": o.better,
                     "population": o.population, "n": r.n, "overall": r.overall,
                     "model": {"covariates": [c.removeprefix("x_") for c in r.covariates],
                               "dropped": [c.removeprefix("x_") for c in r.dropped], "converged": r.converged,
                               "n_iter": r.n_iter, "residual_sd": r.residual_sd},
                     "overdispersion": r.overdispersion, "units": units, "funnel": r.funnel})
    doc: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "level": b.level,
                           "years": None if b.years is None else list(b.years), "approach": b.approach,
                           "engine": b.engine, "overdispersion_setting": b.overdispersion_setting,
                           "min_cell": min_cell, "seconds": b.seconds, "notes": list(b.notes), "outcomes": outs,
                           "cusum": None}
    if b.cusum is not None:
        c = b.cusum
        as_of = dt.date.fromisoformat(c.as_of) if c.as_of else None
        cu = [_cusum_unit_dict(u, as_of, min_cell) for u in c.units]
        doc["cusum"] = {"outcome": c.outcome, "odds_ratio_worse": ODDS_RATIO_WORSE,
                        "odds_ratio_better": ODDS_RATIO_BETTER, "arl0": c.arl0, "h_worse": c.h_worse,
                        "h_better": c.h_better, "limit_method": c.method, "as_of": c.as_of,
                        "better_drawn_below_zero": True, "units": cu}
    return dict(to_jsonable(doc))


def _cusum_unit_dict(u: CusumUnit, as_of: dt.date | None, min_cell: int) -> dict[str, Any]:
    """One unit's chart: thinned to at most :data:`_MAX_CHART_POINTS` points (alarms kept), the
    dates of operation (from the extraction date and the days since), the lower chart negated
    (drawn below zero, as Steiner et al. draw the two-sided chart)."""

    def when(days: int) -> str:
        return (as_of - dt.timedelta(days=days)).isoformat() if as_of else f"day -{days}"

    shown = u.n >= min_cell
    idx = _thin(u.n, [i for i, _ in u.alarms])
    return {"unit": u.unit, "label": u.unit, "own": False, "n": u.n, "suppressed": not shown,
            "index": idx.tolist() if shown else [], "dates": [when(int(x)) for x in u.days[idx]] if shown else [],
            "worse": u.worse[idx].tolist() if shown else [], "better": (-u.better[idx]).tolist() if shown else [],
            # an alarm's "index" is its place in the arrays shown (the thinned chart keeps every alarm),
            # "operation" its place in the unit's sequence of operations
            "alarms": [{"index": int(np.searchsorted(idx, i)), "operation": i, "direction": d,
                        "date": when(int(u.days[i]))} for i, d in u.alarms] if shown else []}


def view_for(doc: dict[str, Any], *, own_site: str | None) -> dict[str, Any]:
    """What one audience sees: ``own_site`` (a clinic's site code) stays named and marked
    ``own`` (at surgeon level: the site's own surgeons); every other unit becomes "Site 1" …
    "Site k" ("Surgeon 1" …; numbered by size, largest first, the same number in every outcome
    and chart); with ``own_site`` None (a researcher) every unit is numbered. Codes of other
    units never appear in the result."""
    import copy

    out = copy.deepcopy(doc)
    sizes: dict[str, int] = {}
    for o in out.get("outcomes", []):
        for u in o["units"]:
            sizes[u["unit"]] = max(sizes.get(u["unit"], 0), int(u["n"]))
    for u in (out.get("cusum") or {}).get("units", []):
        sizes[u["unit"]] = max(sizes.get(u["unit"], 0), int(u["n"]))
    surgeons = out.get("level") == "surgeon"
    prefix = "Surgeon" if surgeons else "Site"

    def mine(code: str) -> bool:  # a surgeon unit is "<site code>/<surgeon>"
        return own_site is not None and (code.split("/", 1)[0] == own_site if surgeons else code == own_site)

    others = sorted((k for k in sizes if not mine(k)), key=lambda k: (-sizes[k], k))
    names = {k: f"{prefix} {i + 1}" for i, k in enumerate(others)}
    names.update({k: k for k in sizes if mine(k)})

    def rename(u: dict[str, Any]) -> None:
        code = u["unit"]
        u["own"] = mine(code)
        u["unit"] = u["label"] = names.get(code, code)

    for o in out.get("outcomes", []):
        for u in o["units"]:
            rename(u)
        o["units"].sort(key=lambda u: (not u["own"], _order(u["label"])))
    for u in (out.get("cusum") or {}).get("units", []):
        rename(u)
    if out.get("cusum"):
        out["cusum"]["units"].sort(key=lambda u: (not u["own"], _order(u["label"])))
    out["audience"] = "clinic" if own_site is not None else "researcher"
    return out


def _order(label: str) -> tuple[int, str]:
    head, _, num = label.rpartition(" ")
    return (int(num), head) if num.isdigit() else (0, label)


def benchmark_snapshot(snapshot_dir: Any, *, engine: str = "duckdb", engine_options: dict[str, Any] | None = None,
                       level: str = "site", outcomes: Sequence[str] | None = None,
                       years: tuple[int, int] | None = None, approach: str = "all", overdispersion: str = "auto",
                       arl0: float = DEFAULT_ARL0, progress: Progress | None = None) -> dict[str, Any]:
    """Open an engine on a snapshot directory, benchmark, close it; the JSON document."""
    from spinetrack.analysis.scorecard import load_manifest
    from spinetrack.engines import get_engine

    manifest = load_manifest(snapshot_dir)
    created = manifest.get("created_at")
    as_of = dt.date.fromisoformat(str(created)[:10]) if created else None
    eng = get_engine(engine, **(engine_options or {}))
    try:
        eng.register_snapshot(snapshot_dir)
        b = run_benchmark(eng, level=level, outcomes=outcomes, years=years, approach=approach,
                          overdispersion=overdispersion, arl0=arl0, as_of=as_of, progress=progress)
        doc = benchmark_as_dict(b)
        doc["snapshot"] = {"created_at": created, "synthetic": manifest.get("synthetic", False)}
        return doc
    finally:
        eng.close()
