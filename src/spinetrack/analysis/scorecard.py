"""The whole scorecard: every claim for every comparison, on one engine, as one typed result.

:func:`run_scorecard` prepares each comparison once (population, propensity model, weights,
diagnostics; ``analysis.propensity``), reports follow-up per PROM timepoint, computes weighted
PROM trajectories for the plots, optionally fits the response models for the IPCW sensitivity
analysis, then estimates each claim (``analysis.run``). :func:`scorecard_as_dict` is the one
serialisation the CLI's ``--json``, the report and the API share; it records the
:class:`~spinetrack.analysis.settings.AnalysisSettings` the scorecard was run with, and their
hash. :func:`analyze_snapshot` runs it on a snapshot directory from those settings.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spinetrack.analysis.aggregates import linear_predictor
from spinetrack.analysis.claims import (
    ALPHA,
    CLAIMS,
    NOT_MEASURED,
    Claim,
    adjust_p_values,
    claim,
    decide_verdict,
)
from spinetrack.analysis.design import (
    COMPARISONS,
    PROM_INSTRUMENTS,
    TIMEPOINTS,
    ComparisonSpec,
    pattern_bits,
)
from spinetrack.analysis.propensity import (
    PreparedComparison,
    drop_constant,
    fit_dropping_separators,
    prepare_comparison,
    prepare_snapshot,
)
from spinetrack.analysis.run import ClaimResult, run_claims
from spinetrack.analysis.settings import AnalysisSettings
from spinetrack.engines.base import Engine
from spinetrack.errors import InputError, SpinetrackError
from spinetrack.stats._common import to_jsonable

__all__ = ["SCHEMA_VERSION", "Scorecard", "run_scorecard", "scorecard_as_dict"]

SCHEMA_VERSION = 2

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ComparisonResult:
    prepared: PreparedComparison
    followup: list[dict[str, Any]]      # per timepoint: returned per arm / population per arm
    trajectories: list[dict[str, Any]]  # weighted PROM means per arm, instrument and timepoint
    ipcw_models: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Scorecard:
    engine: str
    estimand: str
    trim: float | None
    sensitivity: bool
    ci_level: float
    comparisons: tuple[ComparisonResult, ...]
    results: tuple[ClaimResult, ...]
    snapshot: dict[str, Any]
    seconds: float = 0.0
    settings: AnalysisSettings | None = None  # what analyze_snapshot ran it with (None: run_scorecard called alone)
    # the engine's work for this scorecard (Engine.stats: queries, and Spark jobs on Spark), for benchmarks
    engine_stats: dict[str, int] = field(default_factory=dict)


def _followup_and_trajectories(engine: Engine, prep: PreparedComparison
                               ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One grouped aggregate over the analysis table: questionnaires returned per timepoint and
    arm (loss to follow-up), and weighted PROM means per arm, instrument and timepoint."""
    grid = [(i, tp) for i in PROM_INSTRUMENTS for tp in TIMEPOINTS]
    ex = ["COUNT(*)"] + [f"SUM(fu__{tp})" for tp in TIMEPOINTS]
    for i, tp in grid:
        c = f"{i}__{tp}"
        ex += [f"COUNT({c})", f"SUM(CASE WHEN {c} IS NOT NULL THEN w END)", f"SUM(w * {c})", f"SUM(w * {c} * {c})",
               f"SUM(CASE WHEN {c} IS NOT NULL THEN w * w END)"]
    rows = {int(r[0]): r[1:] for r in engine.grouped(prep.table, ["CAST(t AS INTEGER)"], ex)}
    n = {a: int(rows[a][0]) if a in rows else 0 for a in (1, 0)}
    followup = []
    for k, tp in enumerate(TIMEPOINTS):
        r1, r0 = (int(rows[a][1 + k] or 0) if a in rows else 0 for a in (1, 0))
        if r1 == 0 and r0 == 0:
            continue
        followup.append({"timepoint": tp, "population_treated": n[1], "population_control": n[0],
                         "returned_treated": r1, "returned_control": r0,
                         "lost_treated": 1.0 - r1 / n[1] if n[1] else None,
                         "lost_control": 1.0 - r0 / n[0] if n[0] else None})
    traj = []
    o = 1 + len(TIMEPOINTS)
    for g, (inst, tp) in enumerate(grid):
        for arm, r in rows.items():
            cnt, sw, swy, swy2, sw2 = r[o + 5 * g:o + 5 * g + 5]
            if not cnt:
                continue
            mean = float(swy) / float(sw)
            var = max(float(swy2) / float(sw) - mean * mean, 0.0)
            ess = float(sw) ** 2 / float(sw2)
            traj.append({"arm": "treated" if arm == 1 else "control", "instrument": inst, "timepoint": tp,
                         "n": int(cnt), "mean": mean, "sd": var ** 0.5, "se": (var / ess) ** 0.5})
    order = {t: i for i, t in enumerate(TIMEPOINTS)}
    traj.sort(key=lambda r: (r["instrument"], r["arm"], order[r["timepoint"]]))
    return followup, traj


def _ipcw(engine: Engine, prep: PreparedComparison, timepoints: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """Response models P(questionnaire returned at timepoint | covariates, arm) by IRLS, and a
    table of their inverse probabilities per episode."""
    key = prep.spec.key
    obs = prep.table  # fu__<timepoint>: 1 when any PROM was returned at the timepoint (prom_wide_sql)
    models: dict[str, Any] = {}
    exprs = []
    bits = pattern_bits()
    for tp in timepoints:
        cols, dropped = drop_constant(engine, obs, [*prep.covariates, "t"], response=f"fu__{tp}", bits=bits)
        try:
            fit, cols, sep = fit_dropping_separators(engine, obs, cols, response=f"fu__{tp}", sample=prep.sample,
                                                     bits=bits)
            dropped += sep
        except SpinetrackError as exc:
            models[tp] = {"error": str(exc), "dropped": dropped}
            exprs.append(f"CAST(NULL AS DOUBLE) AS ipcw_{tp}")
            continue
        models[tp] = {"converged": fit.converged, "n_iter": fit.n_iter, "names": list(fit.names or ()),
                      "coefficients": fit.coefficients.tolist(), "dropped": dropped}
        exprs.append(f"1.0 + EXP(-({linear_predictor(cols, fit.coefficients)})) AS ipcw_{tp}")
    table = f"ipcw_{key}"
    engine.create_view(table, f"SELECT *, {', '.join(exprs)} FROM {obs}")
    return table, models


def run_scorecard(engine: Engine, *, comparisons: Sequence[ComparisonSpec] = COMPARISONS,
                  claims: Sequence[Claim] = CLAIMS, estimand: str = "ATO", trim: float | None = None,
                  sensitivity: bool = True, ci_level: float = 0.95, snapshot: dict[str, Any] | None = None,
                  progress: Progress | None = None, settings: AnalysisSettings | None = None) -> Scorecard:
    """Run every claim for every comparison (module docstring). ``progress`` is called with a
    short description after each step (the CLI turns it into a progress bar); the number of
    steps is ``len(comparisons) * (len(claims) + 1)``. ``settings``, when given, are the
    settings the other arguments were made from, recorded with the result."""
    import time

    t0 = time.perf_counter()
    stats0 = engine.stats()
    tick = progress or (lambda _msg: None)
    prom_tps = sorted({c.timepoint for c in claims if c.table == "outcomes" and c.timepoint},
                      key=lambda tp: TIMEPOINTS.index(tp) if tp in TIMEPOINTS else 99)
    prepare_snapshot(engine)

    def one(spec: ComparisonSpec, eng: Engine) -> tuple[ComparisonResult, list[ClaimResult]]:
        prep = prepare_comparison(eng, spec, estimand=estimand, trim=trim)
        ipcw_table: str | None = None
        models: dict[str, Any] = {}
        if sensitivity and prom_tps:
            ipcw_table, models = _ipcw(eng, prep, prom_tps)
        followup, trajectories = _followup_and_trajectories(eng, prep)
        tick(f"{spec.key}: propensity model and weights")
        out = run_claims(eng, prep, claims, ci_level=ci_level, sensitivity=sensitivity, ipcw_table=ipcw_table)
        for c in claims:
            tick(f"{spec.key}: {c.key}")
        return ComparisonResult(prep, followup, trajectories, models), out

    # Comparisons are independent: run them side by side when the engine allows it (DuckDB: one
    # connection per worker on the same database), so that one comparison's Python work and
    # single-threaded queries overlap another's multi-threaded ones.
    workers = max(1, min(engine.concurrency, len(comparisons)))
    if workers == 1:
        done = [one(spec, engine) for spec in comparisons]
    else:
        from concurrent.futures import ThreadPoolExecutor

        forks = [engine.fork() for _ in range(workers)]
        free: list[Engine] = list(forks)
        import threading

        lock = threading.Lock()

        def run(spec: ComparisonSpec) -> tuple[ComparisonResult, list[ClaimResult]]:
            with lock:
                eng = free.pop()
            try:
                return one(spec, eng)
            finally:
                eng.release()  # the comparison's own tables, freed while the other worker runs
                with lock:
                    free.append(eng)

        # the largest populations first (surgery vs conservative, then pooled), so that the
        # workers finish together rather than one running the largest alone at the end
        order = sorted(range(len(comparisons)), key=lambda i: (not comparisons[i].families,
                                                               len(comparisons[i].families)), reverse=True)
        try:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                futures = {i: pool.submit(run, comparisons[i]) for i in order}
                done = [futures[i].result() for i in range(len(comparisons))]
        finally:
            for f in forks:
                if f is not engine:
                    f.close()
    comps = [c for c, _ in done]
    results = adjust_verdicts([r for _, rs in done for r in rs])
    stats = {k: v - stats0.get(k, 0) for k, v in engine.stats().items()}
    return Scorecard(engine.name, estimand, trim, sensitivity, ci_level, tuple(comps), tuple(results),
                     snapshot or {}, time.perf_counter() - t0, settings, stats)


MULTIPLICITY = "fdr_bh"  # Benjamini–Hochberg across the scorecard (README, "The claims scorecard")


def adjust_verdicts(results: Sequence[ClaimResult], method: str = MULTIPLICITY) -> list[ClaimResult]:
    """Adjust the p-values of every estimated row together (withheld rows included: their
    estimates exist even if not shown) and decide each verdict on the adjusted value
    (``analysis.claims.decide_verdict``).

    Why Benjamini–Hochberg: the scorecard tests a hundred claims at once, most of which the
    literature expects to hold; controlling the false discovery rate keeps the expected share
    of false verdicts among the differences it declares at 5% without turning every real,
    precisely measured difference into "inconclusive", as controlling the chance of a single
    false verdict (Holm) would once dozens of claims are tested."""
    from dataclasses import replace

    idx = [i for i, r in enumerate(results) if r.effect is not None]
    adjusted = adjust_p_values([results[i].effect.p_value for i in idx], method)  # type: ignore[union-attr]
    out = list(results)
    for i, p in zip(idx, adjusted, strict=True):
        r = results[i]
        e = r.effect
        assert e is not None
        c = claim(r.claim)
        verdict = decide_verdict(e.estimate, e.ci_low, e.ci_high, c.better, p_adjusted=p, margin=r.margin,
                                 alpha=ALPHA, null=e.null_value)
        out[i] = replace(r, p_adjusted=float(p), verdict=verdict)
    return out


# --------------------------------------------------------------------------- serialisation


def _d(obj: Any) -> Any:
    return None if obj is None else obj.as_dict()


def claim_result_as_dict(r: ClaimResult) -> dict[str, Any]:
    c = claim(r.claim)
    e = r.effect
    doc = to_jsonable({
        "comparison": r.comparison, "claim": r.claim, "promise": c.promise, "metric": c.metric, "kind": str(c.kind),
        "unit": c.unit, "better": c.better, "timepoint": c.timepoint, "instrument": c.instrument,
        "horizon_days": c.horizon_days, "status": r.status, "estimand": r.estimand,
        "estimate": None if e is None else e.estimate, "ci_low": None if e is None else e.ci_low,
        "ci_high": None if e is None else e.ci_high, "verdict": None if r.verdict is None else str(r.verdict),
        "role": c.role, "p_value": None if e is None else e.p_value, "p_adjusted": r.p_adjusted,
        "margin": None if r.margin is None else {"value": r.margin, "source": r.margin_source},
        "withheld_because": list(r.withheld_because), "naive_difference": r.naive_difference,
        "effect": _d(e), "risk_ratio": _d(r.ratio), "e_value": _d(r.e_value), "mcid": _d(r.mcid),
        "aipw": _d(r.aipw), "ipcw": _d(r.ipcw),
        "balance": None if r.balance is None else {"max_abs_smd": r.balance.max_abs_smd,
                                                   "n_flagged": int(r.balance.flagged.sum())},
        "rmst": r.rmst_difference,
        "attrition": [_attr(a) for a in r.attrition],
        "spec_hash": r.spec_hash, "notes": list(r.notes),
    })
    # JSON values already (the Kaplan-Meier curves' as_dict, the literature: most of the document), not walked again
    doc["curves"] = None if r.curves is None else {k: v.as_dict() for k, v in r.curves.items()}
    doc["literature"] = _literature(r.claim, r.comparison)
    return doc


def _literature(claim_key: str, comparison_key: str) -> dict[str, Any] | None:
    """The published figure beside this row (:func:`spinetrack.evidence.literature.literature_for`)."""
    from spinetrack.evidence.literature import literature_for

    entry = literature_for(claim_key, comparison_key)
    return None if entry is None else entry.as_dict()


def _attr(a: Any) -> dict[str, Any]:
    return {"description": a.description, "n_treated": a.n_treated, "n_control": a.n_control}


def comparison_as_dict(c: ComparisonResult) -> dict[str, Any]:
    p = c.prepared
    return to_jsonable({
        "key": p.spec.key, "label": p.spec.label, "treated": list(p.spec.treated), "control": list(p.spec.control),
        "families": list(p.spec.families), "spec_hash": p.spec.spec_hash(), "estimand": p.estimand, "trim": p.trim,
        "attrition": [_attr(a) for a in p.attrition], "covariates": list(p.covariates),
        "dropped_covariates": list(p.dropped_covariates), "propensity": p.propensity.as_dict(),
        "balance_before": p.balance_before.as_dict(), "balance_after": p.balance_after.as_dict(),
        "diagnostics": p.diagnostics.as_dict(), "ps_histogram": p.ps_histogram, "share_treated": p.p_treated,
        "followup": c.followup, "trajectories": c.trajectories, "ipcw_models": c.ipcw_models, "notes": list(p.notes),
    })


def scorecard_as_dict(sc: Scorecard) -> dict[str, Any]:
    """The JSON document of ``spinetrack analyze --json`` (schema version :data:`SCHEMA_VERSION`)."""
    from spinetrack import __version__

    doc = to_jsonable({
        "schema_version": SCHEMA_VERSION, "spinetrack_version": __version__, "engine": sc.engine,
        "estimand": sc.estimand, "trim": sc.trim, "sensitivity": sc.sensitivity, "ci_level": sc.ci_level,
        "seconds": sc.seconds, "engine_stats": sc.engine_stats, "snapshot": sc.snapshot,
        "settings": None if sc.settings is None else sc.settings.as_dict(),
        "settings_hash": None if sc.settings is None else sc.settings.settings_hash(),
        "not_measured": [{"promise": p, "what": w} for p, w in NOT_MEASURED],
        "verdict_rule": {"alpha": ALPHA, "multiplicity": MULTIPLICITY,
                         "adjusted_over": "every estimated row of this scorecard",
                         "margins": "the instrument's minimal clinically important difference where published; "
                                    "otherwise none (no 'no important difference' verdict)"},
    })
    # each already JSON values (made by to_jsonable or as_dict): not walked a second time
    doc["comparisons"] = [comparison_as_dict(c) for c in sc.comparisons]
    doc["results"] = [claim_result_as_dict(r) for r in sc.results]
    return doc


def load_manifest(snapshot_dir: str | Path) -> dict[str, Any]:
    p = Path(snapshot_dir) / "manifest.json"
    return json.loads(p.read_text()) if p.exists() else {}


def analyze_snapshot(snapshot_dir: str | Path, settings: AnalysisSettings | None = None, *, engine: str = "duckdb",
                     engine_options: dict[str, Any] | None = None, estimand: str = "ATO", trim: float | None = None,
                     sensitivity: bool = True, comparisons: Sequence[str] | None = None,
                     claims: Sequence[str] | None = None, ci_level: float = 0.95,
                     progress: Progress | None = None) -> dict[str, Any]:
    """Open an engine on a snapshot, run the scorecard, close the engine, return the JSON document.

    The analysis is ``settings``; without them, the keywords ``engine`` … ``ci_level`` make them
    (:class:`~spinetrack.analysis.settings.AnalysisSettings`). ``engine_options`` configure the
    engine (memory, Spark master: ``Settings.engine_options``) and do not change the results.

    Unknown comparison or claim keys, estimands or trimming levels raise
    :class:`~spinetrack.errors.ValidationError` naming the field and the allowed values, before
    any work starts.
    """
    from spinetrack.engines import get_engine

    if settings is None:
        settings = AnalysisSettings(engine=engine, estimand=estimand, trim=trim, sensitivity=sensitivity,
                                    comparisons=None if comparisons is None else tuple(comparisons),
                                    claims=None if claims is None else tuple(claims), ci_level=ci_level)
    s = settings
    specs = {spec.key: spec for spec in COMPARISONS}
    eng = get_engine(s.engine, **(engine_options or {}))
    try:
        eng.register_snapshot(snapshot_dir)
        if not int(eng.aggregate("episodes", ["COUNT(*)"])[0]):
            raise InputError(f"the snapshot in {snapshot_dir} has no episodes of care, so there is nothing to "
                             "compare: load patients first (spinetrack demo, or an import) and take a new snapshot")
        # the evidence package (the document's literature column) loads while the engine works
        preload = threading.Thread(target=_load_literature, name="spinetrack-literature", daemon=True)
        preload.start()
        sc = run_scorecard(eng, comparisons=[specs[k] for k in s.comparisons] if s.comparisons else COMPARISONS,
                           claims=[claim(k) for k in s.claims] if s.claims else CLAIMS, estimand=s.estimand,
                           trim=s.trim, sensitivity=s.sensitivity, ci_level=s.ci_level,
                           snapshot=load_manifest(snapshot_dir), progress=progress, settings=s)
        preload.join()
        return scorecard_as_dict(sc)
    finally:
        eng.close()


def _load_literature() -> None:
    """Import the evidence package and pool its shipped figures once (cached), so that
    :func:`scorecard_as_dict` finds them ready; a failure here is raised there, in the caller."""
    with contextlib.suppress(Exception):
        from spinetrack.evidence.literature import literature_for

        literature_for(CLAIMS[0].key, COMPARISONS[0].key)
