"""``spinetrack analyze`` end to end: database → fresh rekeyed snapshot → scorecard JSON; and
bad options refused with a message naming the field and the allowed values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from spinetrack.analysis.claims import CLAIMS
from spinetrack.analysis.design import COMPARISONS
from spinetrack.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('analyze') / 'demo.db'}"
    r = runner.invoke(app, ["demo", "--patients", "2500", "--seed", "4", "--fixed-dates", "--database-url", url,
                            "--json"])
    assert r.exit_code == 0, r.output
    return url


@pytest.fixture(scope="module")
def doc(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("out") / "scorecard.json"
    r = runner.invoke(app, ["analyze", "--database-url", db_url, "--json", "--out", str(out)])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert json.loads(out.read_text()) == d
    return d


def test_every_claim_for_every_comparison_is_reported(doc: dict[str, Any]) -> None:
    got = {(r["comparison"], r["claim"]) for r in doc["results"]}
    assert got == {(s.key, c.key) for s in COMPARISONS for c in CLAIMS}
    assert doc["schema_version"] == 2 and doc["engine"] == "duckdb" and doc["estimand"] == "ATO"
    assert doc["snapshot"]["rekeyed"] is True  # the CLI analyses a pseudonymised export, never the store


def test_a_verdict_never_stands_without_its_estimate_and_interval(doc: dict[str, Any]) -> None:
    """The verdict rule, recomputed from the document: p-values adjusted across every estimated row
    by Benjamini–Hochberg (oracle: statsmodels' multipletests), then margin first, then the
    adjusted p-value and the estimate's side."""
    from statsmodels.stats.multitest import multipletests

    rows = [r for r in doc["results"] if r["estimate"] is not None]
    want_p = multipletests([r["p_value"] for r in rows], method="fdr_bh")[1]
    assert doc["verdict_rule"]["multiplicity"] == "fdr_bh" and doc["verdict_rule"]["alpha"] == 0.05
    for r, p in zip(rows, want_p, strict=True):
        assert r["ci_low"] <= r["estimate"] <= r["ci_high"], r
        assert abs(r["p_adjusted"] - p) < 1e-12, r
        lo, hi, m = r["ci_low"], r["ci_high"], (r["margin"] or {}).get("value")
        if m is not None and -m < lo and hi < m:
            expect = "no_important_difference"
        elif p < 0.05:
            expect = "supported" if (r["estimate"] < 0) == (r["better"] == "lower") else "contradicted"
        else:
            expect = "inconclusive"
        assert r["verdict"] == expect, r
    for r in doc["results"]:
        if r["verdict"] is None:
            assert r["status"] in ("not applicable", "not estimable") and r["estimate"] is None


def test_prom_claims_carry_the_mcid_and_sensitivity_analyses(doc: dict[str, Any]) -> None:
    r = next(x for x in doc["results"] if x["comparison"] == "fusion" and x["claim"] == "odi_12m")
    assert r["mcid"]["mcid"] == 10.0 and "Ostelo" in r["mcid"]["source"]  # instruments/data/thresholds.csv
    assert r["aipw"] is not None and r["ipcw"] is not None and r["e_value"]["e_value"] >= 1.0
    eq = next(x for x in doc["results"] if x["comparison"] == "fusion" and x["claim"] == "eq5d_12m")
    assert eq["mcid"] is None  # no EQ-5D MCID in our sources: none is invented
    km = next(x for x in doc["results"] if x["comparison"] == "fusion" and x["claim"] == "reoperation_free")
    assert set(km["curves"]) == {"treated", "control"} and km["effect"]["measure"] == "survival difference"


def test_loss_to_follow_up_is_reported_per_timepoint(doc: dict[str, Any]) -> None:
    fu = {f["timepoint"]: f for f in doc["comparisons"][0]["followup"]}
    assert fu["baseline"]["lost_treated"] == 0.0
    assert 0.0 < fu["24m"]["lost_treated"] < 1.0 and fu["24m"]["lost_control"] > fu["2w"]["lost_control"]


@pytest.mark.parametrize(("args", "field"), [
    (["--estimand", "ATT"], "estimand"),
    (["--comparison", "spine"], "comparison"),
    (["--claim", "happiness"], "claim"),
    (["--estimand", "ATO", "--trim", "0.1"], "trim"),
    (["--engine", "oracle"], "engine"),
])
def test_bad_options_name_the_field_and_the_allowed_values(db_url: str, tmp_path: Path, args: list[str],
                                                           field: str) -> None:
    r = runner.invoke(app, ["analyze", "--database-url", db_url, "--json", *args])
    assert r.exit_code == 2
    err = json.loads(r.stdout)
    assert err["field"] == field and err["allowed"]


def test_the_document_records_the_analysis_settings_and_their_hash(doc: dict[str, Any]) -> None:
    """The options ``analyze`` ran with, as AnalysisSettings, and their hash (as CohortMethod
    records its settings objects with the results)."""
    from spinetrack.analysis.settings import AnalysisSettings

    want = AnalysisSettings(engine="duckdb", estimand="ATO", trim=None, sensitivity=True)
    assert doc["settings"] == want.as_dict()
    assert doc["settings_hash"] == want.settings_hash()
    assert AnalysisSettings.from_dict(doc["settings"]) == want
    assert (doc["engine"], doc["estimand"], doc["trim"], doc["sensitivity"], doc["ci_level"]) == (
        want.engine, want.estimand, want.trim, want.sensitivity, want.ci_level)
