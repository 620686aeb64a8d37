"""The same claim on the same snapshot gives the same numbers on DuckDB and on Spark
(relative difference below 1e-9; issue 5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from spinetrack.analysis.claims import claim
from spinetrack.analysis.design import COMPARISONS
from spinetrack.analysis.run import run_claim
from spinetrack.engines import get_engine

SPECS = {s.key: s for s in COMPARISONS}


@pytest.fixture(scope="module")
def small_snapshot(snapshot_factory) -> Path:  # type: ignore[no-untyped-def]
    return snapshot_factory(patients=3000, seed=21)


@pytest.mark.spark
@pytest.mark.parametrize(("comparison", "claim_key"), [("fusion", "blood_loss"), ("pooled", "ssi"),
                                                      ("decompression", "odi_12m")])
def test_duckdb_and_spark_agree(small_snapshot: Path, spark_engine: Any, comparison: str, claim_key: str) -> None:
    spark_engine.register_snapshot(small_snapshot)
    with get_engine("duckdb") as duck:
        duck.register_snapshot(small_snapshot)
        a = run_claim(duck, SPECS[comparison], claim(claim_key))
    b = run_claim(spark_engine, SPECS[comparison], claim(claim_key))
    assert a.covariates == b.covariates and a.attrition == b.attrition
    for x, y in ((a.effect.estimate, b.effect.estimate), (a.effect.ci_low, b.effect.ci_low),
                 (a.effect.ci_high, b.effect.ci_high), (a.naive_difference, b.naive_difference)):
        assert abs(x - y) <= 1e-9 * max(abs(x), abs(y), 1e-12), (x, y)
    for x, y in zip(a.propensity.coefficients, b.propensity.coefficients, strict=True):
        assert abs(x - y) <= 1e-9 * max(abs(x), abs(y), 1e-6)
    assert a.verdict == b.verdict
