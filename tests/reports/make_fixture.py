"""Regenerate ``scorecard_example.json`` from a full ``spinetrack analyze --json`` document.

    .venv/bin/python tests/reports/make_fixture.py /path/to/scorecard.json
    .venv/bin/python tests/reports/make_fixture.py --demo /path/to/demo-scorecard.json   # scorecard_demo.json

Keeps three comparisons (one procedure family, the pooled one with its failed equipoise, and
surgery vs conservative care with its not-applicable claims), thins the Kaplan–Meier curves to
about 40 points per arm, drops the propensity coefficients and covariance, the IPCW model
coefficients and the snapshot's table list (the report reads none of them), and rounds floats
to 6 significant digits, so that the file stays under 300 KB.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

KEEP = ("discectomy", "pooled", "surgery_vs_conservative")
MAX_POINTS = 40
TARGET = Path(__file__).with_name("scorecard_example.json")
DEMO_TARGET = Path(__file__).with_name("scorecard_demo.json")


def _round(x: Any) -> Any:
    if isinstance(x, float):
        return float(f"{x:.6g}")
    if isinstance(x, list):
        return [_round(v) for v in x]
    if isinstance(x, dict):
        return {k: _round(v) for k, v in x.items()}
    return x


def _thin(curve: dict[str, Any]) -> dict[str, Any]:
    n = len(curve["time"])
    step = max(1, -(-n // MAX_POINTS))
    idx = sorted(set(range(0, n, step)) | {n - 1})
    out = {k: [v[i] for i in idx] if isinstance(v, list) and len(v) == n else v for k, v in curve.items()}
    out.pop("variance", None)
    out.pop("events", None)
    return out


def trim(doc: dict[str, Any], keep: tuple[str, ...] | None = KEEP) -> dict[str, Any]:
    doc = json.loads(json.dumps(doc))
    doc.get("snapshot", {}).pop("tables", None)
    doc["comparisons"] = [c for c in doc["comparisons"] if keep is None or c["key"] in keep]
    keep = tuple(c["key"] for c in doc["comparisons"])
    for c in doc["comparisons"]:
        for k in ("covariance", "standard_errors", "coefficients"):
            c["propensity"].pop(k, None)
        for m in (c.get("ipcw_models") or {}).values():
            m.pop("coefficients", None)
            m.pop("names", None)
    doc["results"] = [r for r in doc["results"] if r["comparison"] in keep]
    for r in doc["results"]:
        for key in ("curves", "naive_curves"):
            if r.get(key):
                r[key] = {arm: _thin(cv) for arm, cv in r[key].items()}
    out: dict[str, Any] = _round(doc)
    out["_fixture"] = ("trimmed by tests/reports/make_fixture.py from a scorecard_as_dict() document of 20,000 "
                       "synthetic patients (duckdb, ATO, sensitivity analyses on)")
    return out


def trim_demo(doc: dict[str, Any]) -> dict[str, Any]:
    """Every comparison (the README's demo: 2,000 patients, seed 7), literature kept as the report
    shows it: the figures and the findings against a claim (other related findings dropped)."""
    out = trim(doc, keep=None)
    for r in out["results"]:
        r["attrition"] = r.get("attrition", [])[-1:]  # the claim tables read the last step only
        for key in ("effect", "aipw", "ipcw"):
            if isinstance(r.get(key), dict):
                r[key].pop("influence", None)
                if not r[key].get("warnings"):
                    r[key].pop("warnings", None)
    seen: set[str] = set()  # the report lists a claim's related findings once, whichever comparison carries them
    for r in out["results"]:
        lit = r.get("literature")
        if isinstance(lit, dict):
            context = [c for c in lit.get("context") or [] if c.get("against") and str(c.get("id")) not in seen]
            seen |= {str(c.get("id")) for c in context}
            lit["context"] = context
            lit["by_family"] = []
            for key in ("summary", "published_figure", "notes", "source_ids"):
                lit.pop(key, None)
    out["_fixture"] = ("trimmed by tests/reports/make_fixture.py --demo from the scorecard_as_dict() document of "
                       "the README's demo (spinetrack demo --patients 2000 --seed 7; duckdb, ATO, sensitivity on)")
    return out


if __name__ == "__main__":
    demo = sys.argv[1] == "--demo"
    source = json.loads(Path(sys.argv[-1]).read_text(encoding="utf-8"))
    target = DEMO_TARGET if demo else TARGET
    text = json.dumps(trim_demo(source) if demo else trim(source), ensure_ascii=False, separators=(",", ":"))
    target.write_text(text + "\n", encoding="utf-8")
    print(f"{target}: {len(text):,} characters")
