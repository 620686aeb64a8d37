"""The truth check, small: 3 synthetic cohorts of 5,000 patients, each loaded with its
true effects (``synth.truth``: every patient's outcomes under both options with common random
numbers), exported, and analysed by the whole scorecard; ``bench/truth.py`` runs the same at 5
seeds × 20,000 patients and its figures are in the README.

The oracle is the generator itself: the true overlap-population effect of each comparison ×
claim, computed from potential outcomes, not from any estimator. Targets: at least
93% of the 95% intervals cover the truth; at most 5% of the cells whose true effect is zero get
a verdict of a difference; each arm's restricted mean days to return within 10% of its truth
(today's code put 30% of returns, those answered by date, at the questionnaire's day as
censorings, and overstated the discectomy arm's mean about threefold).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from spinetrack.analysis.claims import CLAIMS
from spinetrack.analysis.design import COMPARISONS
from spinetrack.analysis.run import applicable

ROOT = Path(__file__).resolve().parents[2]
SEEDS = [7, 8, 9]
PATIENTS = 5000


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("spinetrack_bench_truth", ROOT / "bench" / "truth.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # the worker processes unpickle its functions by module name
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def summary(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    result = _bench().run(SEEDS, PATIENTS, workers=2, workdir=str(tmp_path_factory.mktemp("truth")))
    sys.stderr.write("\ntruth check: " + json.dumps({k: result[k] for k in (
        "cells", "covered", "coverage", "null_cells", "false_verdicts", "missed_cells")}) + "\n")
    return result


@pytest.mark.slow
def test_intervals_cover_the_true_effects(summary: dict[str, Any]) -> None:
    assert summary["cells"] >= 3 * 100
    assert summary["coverage"] >= 0.93, summary["missed_cells"]


@pytest.mark.slow
def test_claims_with_no_true_effect_are_not_called_supported_or_contradicted(summary: dict[str, Any]) -> None:
    assert summary["null_cells"] >= 3 * 30
    assert summary["false_verdict_share"] <= 0.05, summary["false_verdict_cells"]


@pytest.mark.slow
def test_each_arms_days_to_return_match_the_truth(summary: dict[str, Any]) -> None:
    rmst = [b for b in summary["time_to_event"] if b["arms"]]
    assert len(rmst) == 2 * len(COMPARISONS)  # from the index date and from enrolment, per comparison
    for b in rmst:
        for arm, a in b["arms"].items():
            assert a["within"], (b["comparison"], b["claim"], arm, a)
    # survival at two years: within 0.03 of the truth on average over the 3 small cohorts (the
    # bench's 5 × 20,000 patients hold it to 0.01)
    for b in summary["time_to_event"]:
        if not b["arms"]:
            assert abs(b["mean_estimate"] - b["mean_truth"]) <= 0.03, b


def test_demo_writes_the_truth_with_the_keys_of_the_scorecard(tmp_path: Path) -> None:
    """``spinetrack demo --truth-out``: one entry per applicable comparison × claim, with the
    overlap-population ("ato") and whole-population ("ate") effects."""
    from typer.testing import CliRunner

    from spinetrack.cli import app

    db = f"sqlite:///{tmp_path / 'demo.db'}"
    runner = CliRunner()
    assert runner.invoke(app, ["init", "--database-url", db]).exit_code == 0
    out = tmp_path / "truth.json"
    # the generator's own calendar and no scheduler run: the truth does not depend on dates
    r = runner.invoke(app, ["demo", "--patients", "1200", "--seed", "4", "--no-logins", "--fixed-dates",
                            "--no-followup", "--truth-out", str(out), "--database-url", db, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["truth_out"] == str(out)
    truth = json.loads(out.read_text())
    want = {(s.key, c.key) for s in COMPARISONS for c in CLAIMS if applicable(s, c)}
    got = {(comp, key) for comp, claims in truth.items() for key in claims}
    assert got == want
    for comp, claims in truth.items():
        for key, t in claims.items():
            assert {"ato", "ate"} <= set(t) and t["n"] > 0, (comp, key)
            assert t["ato"] == pytest.approx(t["ato_treated"] - t["ato_control"], abs=1e-12)
    # planted effects come back exactly where the effect is additive: MIS incision length is a
    # property of the technique (synth/effects.py), blood loss a published difference
    assert truth["fusion"]["incision"]["ato"] == pytest.approx(50.0 - 110.0, abs=1.0)
    assert truth["discectomy"]["blood_loss"]["ate"] == pytest.approx(-13.56, abs=1.0)
    # no effect planted on wrong-level surgery: exactly zero with common random numbers
    assert truth["pooled"]["wrong_level"]["ato"] == 0.0
