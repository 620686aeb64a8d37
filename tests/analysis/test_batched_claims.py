"""Claims' sums batched into a fixed number of queries (``Engine.batch_claims``, Spark's way):
the same numbers as the per-row-set queries DuckDB runs, and on Spark a number of queries and
jobs per scorecard that does not change with the number of claims."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from spinetrack.analysis.claims import CLAIMS, MetricKind, claim
from spinetrack.analysis.design import COMPARISONS
from spinetrack.analysis.propensity import prepare_comparison
from spinetrack.analysis.run import ClaimResult, run_claims
from spinetrack.analysis.scorecard import run_scorecard
from spinetrack.engines import get_engine

SPECS = {s.key: s for s in COMPARISONS}
# two claim subsets of different sizes, each with continuous, binary and time-to-event claims
FEW = ("blood_loss", "ssi", "return_to_activity")
MANY = ("blood_loss", "length_of_stay", "ssi", "dural_tear", "odi_12m", "leg_pain_12m", "odi_mcid_12m",
        "back_pain_2w", "return_to_activity", "reoperation_free")


def _close(x: float | None, y: float | None) -> bool:
    if x is None or y is None:
        return x is y
    # relative 1e-9; quantities that are zero but for rounding (the overlap weights' exact balance
    # of the model's covariates: |SMD| ~ 1e-8) differ in their last bits only, absolutely ~1e-16
    return abs(x - y) <= 1e-9 * max(abs(x), abs(y)) + 1e-12


@pytest.fixture(scope="module")
def snap(snapshot_factory) -> Path:  # type: ignore[no-untyped-def]
    return snapshot_factory(patients=3000, seed=21)


def _numbers(r: ClaimResult) -> list[float | None]:
    e = r.effect
    out: list[float | None] = [None] if e is None else [e.estimate, e.ci_low, e.ci_high, e.standard_error]
    out.append(r.naive_difference)
    if r.aipw is not None:
        out += [r.aipw.estimate, r.aipw.standard_error]
    if r.balance is not None:
        out.append(float(r.balance.max_abs_smd))
    if r.curves is not None:
        out += [float(x) for arm in ("treated", "control") for x in r.curves[arm].survival]
    return out


@pytest.mark.parametrize("comparison", ["fusion", "surgery_vs_conservative"])
def test_batched_sums_equal_the_per_row_set_queries(snap: Path, comparison: str) -> None:
    """Every claim of the catalogue (continuous, binary with their AIPW check, time-to-event):
    the batched queries regroup the same rows' sums, so the estimates agree to rounding."""
    with get_engine("duckdb") as duck:
        duck.register_snapshot(snap)
        prep = prepare_comparison(duck, SPECS[comparison])
        duck.batch_claims = False
        plain = run_claims(duck, prep, CLAIMS, sensitivity=True)
        before = duck.queries
        duck.batch_claims = True
        batched = run_claims(duck, prep, CLAIMS, sensitivity=True)
        batched_queries = duck.queries - before
    assert [r.status for r in plain] == [r.status for r in batched]
    assert sum(r.status == "estimated" or r.status == "withheld" for r in plain) >= 10
    for a, b in zip(plain, batched, strict=True):
        xa, xb = _numbers(a), _numbers(b)
        assert len(xa) == len(xb), a.claim
        for x, y in zip(xa, xb, strict=True):
            assert _close(x, y), (a.claim, x, y)
    # batched: one query for the continuous and binary claims' sums, two for the time-to-event
    # claims, plus the AIPW check's two per continuous or binary claim (sensitivity=True)
    applicable = [r for r in plain if r.status != "not applicable"]
    n_cb = sum(claim(r.claim).kind is not MetricKind.TIME_TO_EVENT for r in applicable)
    n_aipw = sum(r.aipw is not None for r in batched)
    assert 3 + 2 * n_aipw <= batched_queries <= 3 + 2 * n_cb


def _stats(engine: Any, snap: Path, claims: tuple[str, ...]) -> dict[str, int]:
    engine.register_snapshot(snap)
    try:
        sc = run_scorecard(engine, comparisons=[SPECS["fusion"]], claims=[claim(k) for k in claims],
                           sensitivity=False)
    finally:
        engine.close()  # Spark: drop the cached tables, so that the next run starts alike
    assert sum(r.effect is not None for r in sc.results) >= len(claims) - 1
    return sc.engine_stats


@pytest.mark.spark
def test_spark_jobs_do_not_grow_with_the_number_of_claims(snap: Path, spark_engine: Any) -> None:
    _stats(spark_engine, snap, FEW)  # the session's first analysis starts a few one-off jobs
    few = _stats(spark_engine, snap, FEW)
    many = _stats(spark_engine, snap, MANY)
    assert few["spark_jobs"] > 0 and few["queries"] > 0
    assert many["queries"] == few["queries"], (few, many)
    assert many["spark_jobs"] == few["spark_jobs"], (few, many)


def test_duckdb_reports_its_queries(snap: Path) -> None:
    with get_engine("duckdb") as duck:
        stats = _stats(duck, snap, FEW)
    assert set(stats) == {"queries"} and stats["queries"] > 5
