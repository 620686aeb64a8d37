"""The same claims on the same snapshot give the same numbers on DuckDB and on Spark
(relative difference below 1e-9): one prepared comparison per engine, then a
continuous, a binary, a PROM and both time-to-event claims, with the sensitivity analyses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from spinetrack.analysis.claims import claim
from spinetrack.analysis.design import COMPARISONS
from spinetrack.analysis.propensity import prepare_comparison
from spinetrack.analysis.run import ClaimResult, run_claim
from spinetrack.engines import get_engine

SPECS = {s.key: s for s in COMPARISONS}
CLAIMS = ("blood_loss", "ssi", "odi_12m", "return_to_activity", "reoperation_free")


def _close(x: float | None, y: float | None) -> bool:
    if x is None or y is None:
        return x is y
    return abs(x - y) <= 1e-9 * max(abs(x), abs(y), 1e-12)


@pytest.fixture(scope="module")
def results(snapshot_factory, spark_engine) -> dict[str, tuple[ClaimResult, ClaimResult]]:  # type: ignore[no-untyped-def]
    snap: Path = snapshot_factory(patients=3000, seed=21)
    spark_engine.register_snapshot(snap)
    out = {}
    with get_engine("duckdb") as duck:
        duck.register_snapshot(snap)
        pa = prepare_comparison(duck, SPECS["fusion"])
        pb = prepare_comparison(spark_engine, SPECS["fusion"])
        for key in CLAIMS:
            out[key] = (run_claim(duck, pa, claim(key), sensitivity=True),
                        run_claim(spark_engine, pb, claim(key), sensitivity=True))
    return out


@pytest.mark.spark
@pytest.mark.parametrize("claim_key", CLAIMS)
def test_duckdb_and_spark_agree(results: dict[str, Any], claim_key: str) -> None:
    a, b = results[claim_key]
    assert a.covariates == b.covariates and a.attrition == b.attrition
    pairs = [(a.effect.estimate, b.effect.estimate), (a.effect.ci_low, b.effect.ci_low),
             (a.effect.ci_high, b.effect.ci_high), (a.naive_difference, b.naive_difference)]
    if a.aipw is not None or b.aipw is not None:
        pairs.append((a.aipw.estimate, b.aipw.estimate))
        pairs.append((a.aipw.standard_error, b.aipw.standard_error))
    for x, y in pairs:
        assert _close(x, y), (x, y)
    for x, y in zip(a.propensity.coefficients, b.propensity.coefficients, strict=True):
        assert abs(x - y) <= 1e-9 * max(abs(x), abs(y), 1e-6)
    assert a.verdict == b.verdict
    if a.curves is not None:
        for arm in ("treated", "control"):
            for x, y in zip(a.curves[arm].survival, b.curves[arm].survival, strict=True):
                assert _close(float(x), float(y))
