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


def test_analyze_on_an_empty_store_says_there_is_nothing_to_compare(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A fresh install (schema, no patients) analysed: a plain message, not numpy's reshape error
    (no input may end in an unfriendly crash)."""
    import pytest

    from spinetrack.analysis.scorecard import analyze_snapshot
    from spinetrack.errors import InputError
    from spinetrack.snapshot.export import export_snapshot
    from spinetrack.store.migrate import upgrade
    from spinetrack.store.session import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    upgrade(engine)
    export_snapshot(engine, tmp_path / "snap")
    engine.dispose()
    with pytest.raises(InputError, match="no episodes of care"):
        analyze_snapshot(tmp_path / "snap", sensitivity=False)
