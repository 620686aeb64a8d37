"""``spinetrack evidence``: the literature base with what was pooled and why not; ``--claim``
takes a claim key, a promise or a word of one; bad values are refused with exit code 2 and
the allowed values."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from spinetrack.analysis.claims import CLAIMS
from spinetrack.cli import app
from spinetrack.evidence import summarize_evidence

runner = CliRunner()


def _json(*args: str) -> dict[str, Any]:
    r = runner.invoke(app, ["evidence", *args, "--json"])
    assert r.exit_code == 0, r.output
    doc: dict[str, Any] = json.loads(r.stdout)
    return doc


def test_claim_recovery_returns_the_shorter_recovery_claims() -> None:
    doc = _json("--claim", "recovery")
    recovery = [c.key for c in CLAIMS if c.promise == "shorter recovery"]
    assert doc["claims"] == recovery == ["length_of_stay", "return_to_activity", "return_to_activity_from_enrolment"]
    assert doc["groups"] and all(set(g["claims"]) & set(recovery) for g in doc["groups"])
    assert {g["outcome"] for g in doc["groups"]} >= {"length_of_stay", "return_to_work"}
    assert doc == json.loads(json.dumps(summarize_evidence(claim=recovery).as_dict()))


def test_claim_key_promise_and_comparison() -> None:
    by_key = _json("--claim", "blood_loss", "--comparison", "fusion")
    assert by_key["claims"] == ["blood_loss"] and by_key["comparison"] == "fusion"
    assert {g["comparison"] for g in by_key["groups"]} <= {"fusion", "cross_cutting"}
    items = {i["id"]: i for g in by_key["groups"] for i in g["items"]}
    # literature.md §3 row 12, Park 2018: 269.5 mL less (246.2 to 292.9)
    park = items["fus-park2018-blood-loss"]
    assert park["status"] == "already_pooled" and (park["estimate"], park["ci_low"], park["ci_high"]) == (
        -269.5, -292.9, -246.2)
    assert park["citation"]["doi"] == "10.3349/ymj.2018.59.4.524"
    assert items["fus-li2018-blood-loss"]["status"] == "not_pooled"
    by_promise = _json("--claim", "fewer infections")
    assert by_promise["claims"] == ["ssi"]
    assert all(i["citation"]["text"] for g in _json()["groups"] for i in g["items"])


def test_bad_claim_exits_2_and_names_the_option_and_the_allowed_values() -> None:
    r = runner.invoke(app, ["evidence", "--claim", "faster", "--json"])
    assert r.exit_code == 2
    err = json.loads(r.stdout)
    assert err["field"] == "claim" and "length_of_stay" in err["allowed"] and "shorter recovery" in err["allowed"]
    plain = runner.invoke(app, ["evidence", "--claim", "faster"])
    assert plain.exit_code == 2
    assert "claim" in plain.output and "'faster' is not allowed" in plain.output and "reoperation_free" in plain.output


def test_bad_comparison_exits_2_with_the_allowed_values() -> None:
    r = runner.invoke(app, ["evidence", "--comparison", "spine", "--json"])
    assert r.exit_code == 2
    err = json.loads(r.stdout)
    assert err["field"] == "comparison" and "decompression" in err["allowed"]


def test_table_lists_what_was_done_with_every_row() -> None:
    r = runner.invoke(app, ["evidence", "--claim", "fluoro_dose", "--comparison", "fusion"],
                      env={"COLUMNS": "240"})
    assert r.exit_code == 0, r.output
    out = r.stdout
    for text in ("outcome", "what", "estimate [95% CI]", "k / n", "quality", "citation", "single study",
                 "not pooled", "AGAINST the claim", "doi:10.1177/2192568220908242", "MD 59.46 [39.91, 79.01] mGy"):
        assert text in out, text
    assert "pooled here" in out and "method:" in out
