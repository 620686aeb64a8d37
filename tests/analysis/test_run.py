"""End to end on DuckDB: a synthetic cohort with planted effects (synth/effects.py) →
snapshot → propensity model by IRLS on the engine → overlap-weighted effect with a sandwich
interval. The adjusted interval covers the planted effect where the naive difference is
visibly biased by the planted confounding; the propensity fit equals statsmodels on the same
rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from spinetrack.analysis.claims import Verdict, claim
from spinetrack.analysis.design import COMPARISONS
from spinetrack.analysis.run import run_claim
from spinetrack.engines import get_engine
from spinetrack.synth.effects import planted

SPECS = {s.key: s for s in COMPARISONS}


@pytest.fixture(scope="module")
def snapshot_dir(snapshot_factory) -> Path:  # type: ignore[no-untyped-def]
    return snapshot_factory(patients=12000, seed=11)


@pytest.fixture(scope="module")
def duck(snapshot_dir: Path) -> Any:
    e = get_engine("duckdb")
    e.register_snapshot(snapshot_dir)
    yield e
    e.close()


@pytest.mark.parametrize(("family", "claim_key", "outcome"), [
    ("discectomy", "blood_loss", "ebl_ml"),
    ("decompression", "blood_loss", "ebl_ml"),
    ("decompression", "length_of_stay", "los_days"),
    ("fusion", "blood_loss", "ebl_ml"),
    ("fusion", "length_of_stay", "los_days"),
    ("fusion", "incision", "incision_mm"),
])
def test_adjusted_interval_covers_the_planted_effect_and_naive_is_biased(duck: Any, family: str, claim_key: str,
                                                                          outcome: str) -> None:
    truth = planted(family, outcome).value
    r = run_claim(duck, SPECS[family], claim(claim_key))
    e = r.effect
    assert e.ci_low <= truth <= e.ci_high, (e.estimate, e.ci_low, e.ci_high, truth)
    assert abs(r.naive_difference - truth) > abs(e.estimate - truth)  # adjustment moves toward the truth
    assert r.verdict is Verdict.SUPPORTED  # every one of these planted effects favours MIS
    assert r.balance.max_abs_smd < 1e-6  # overlap weights balance the PS covariates exactly (Li et al. 2018)
    assert r.attrition[0].n_treated >= r.attrition[-1].n_treated > 0


def test_propensity_fit_on_the_engine_equals_statsmodels(duck: Any) -> None:
    """statsmodels Logit on the same rows, pulled out only for the test (oracle), to 1e-8."""
    import statsmodels.api as sm

    r = run_claim(duck, SPECS["fusion"], claim("blood_loss"))
    cols = list(r.covariates)
    rows = duck.sql(f"SELECT t, {', '.join(cols)} FROM wide_fusion")
    arr = np.array(rows, dtype=float)
    fit = sm.Logit(arr[:, 0], sm.add_constant(arr[:, 1:], has_constant="add")).fit(disp=0, tol=1e-12, maxiter=100)
    np.testing.assert_allclose(r.propensity.coefficients, fit.params, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(r.propensity.standard_errors, fit.bse, rtol=1e-8)


def test_binary_claim_reports_a_risk_ratio(duck: Any) -> None:
    r = run_claim(duck, SPECS["fusion"], claim("ssi"))
    assert r.ratio is not None and r.ratio.ci_low < r.ratio.estimate < r.ratio.ci_high
    assert r.effect.measure == "risk difference"


def test_warm_started_fit_equals_the_cold_fit(duck: Any) -> None:
    """Above WARM_START_ROWS the fit starts from a 1-in-16 sample (analysis.propensity): the
    maximum likelihood estimate and its standard errors must not depend on it. Forced here on
    a small population by lowering the threshold."""
    from spinetrack.analysis.propensity import prepare_comparison

    cold = prepare_comparison(duck, SPECS["pooled"])
    warm = prepare_comparison(duck, SPECS["pooled"], warm_start_rows=500)
    assert cold.sample is None and warm.sample is not None and 0 < warm.sample.rows < warm.sample.population_rows
    np.testing.assert_allclose(warm.propensity.coefficients, cold.propensity.coefficients, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(warm.propensity.standard_errors, cold.propensity.standard_errors, rtol=1e-9)
    np.testing.assert_allclose(warm.score_outer, cold.score_outer, rtol=1e-8)
