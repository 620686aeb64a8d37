"""``spinetrack analyze`` does not import pandas (about 0.4 s of every run's start): the
engine-neutral pipeline, the DuckDB engine and the JSON document need only numpy and DuckDB.
Checked in a fresh interpreter, on a demo snapshot, through the whole scorecard."""

from __future__ import annotations

import subprocess
import sys


def test_analyze_runs_without_importing_pandas(snapshot_factory) -> None:  # type: ignore[no-untyped-def]
    snap = snapshot_factory(patients=400, seed=9)
    code = ("import sys, json\n"
            "from spinetrack.analysis.scorecard import analyze_snapshot\n"
            f"doc = analyze_snapshot({str(snap)!r}, comparisons=['pooled'], sensitivity=False)\n"
            "json.dumps(doc, allow_nan=False)\n"
            "print(len(doc['results']), 'pandas' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=True)
    n_results, pandas_loaded = out.stdout.split()
    assert int(n_results) > 10  # the time-to-event claims (Kaplan-Meier look-ups) ran too
    assert pandas_loaded == "False"
