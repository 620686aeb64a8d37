"""The issue's round trip, to the analysis: a researcher's pseudonymised FHIR Bulk export (NDJSON,
one resource type per file, as ``$export`` writes them) of a demo database, imported into an empty
database, gives the same claims scorecard — every comparison × claim, estimate, interval, verdict —
as the database it came from, and the same ``spinetrack status`` counts.

The reference is the source database's own scorecard (``analyze_snapshot`` on its snapshot), taken
in the same run with the same rekeying secret and extraction date, so every number must agree (to rel. 1e-9):
the export keeps what the analysis reads (baseline covariates, clinical dates, answers that are
rescored on import), and nothing else.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from spinetrack.analysis.scorecard import analyze_snapshot
from spinetrack.analysis.settings import AnalysisSettings
from spinetrack.interop.fhir import FhirScope, stream_resources
from spinetrack.interop.imports.fhir_import import read_fhir
from spinetrack.snapshot import export_snapshot
from spinetrack.store.imports import write_records
from spinetrack.store.repositories import SYSTEM, Store
from spinetrack.store.session import make_engine
from spinetrack.store.status import compute_status
from spinetrack.synth.load import load_demo

pytestmark = pytest.mark.slow

EXTRACTED = dt.datetime(2026, 12, 8, 1, 0, 0)  # one extraction date for both snapshots (follow-up, censoring)


def _without_timings(x: Any) -> Any:
    """The result with its timings left out and every number as ``pytest.approx`` at rel. 1e-9 (the
    engines' agreement bound, README): the imported rows come back in another order, and a sum in
    another order may differ in its last bit."""
    if isinstance(x, dict):
        return {k: _without_timings(v) for k, v in x.items() if k != "seconds"}
    if isinstance(x, list):
        return [_without_timings(v) for v in x]
    if isinstance(x, float):
        return pytest.approx(x, rel=1e-9, abs=1e-12, nan_ok=True)
    return x


def _plain(x: Any) -> Any:
    """The result with its timings left out (the other side of :func:`_without_timings`)."""
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items() if k != "seconds"}
    if isinstance(x, list):
        return [_plain(v) for v in x]
    return x


def test_researcher_export_imported_gives_the_same_scorecard(tmp_path: Path, _sqlite_head: Path) -> None:
    engines = []
    for name in ("source", "target"):
        shutil.copyfile(_sqlite_head, tmp_path / f"{name}.sqlite")
        engines.append(make_engine(f"sqlite:///{tmp_path / name}.sqlite"))
    source, target = engines
    load_demo(source, patients=600, seed=3)

    out = tmp_path / "export"
    out.mkdir()
    files: dict[str, Any] = {}
    try:  # the researcher's scope: every site, pseudonymised
        for rtype, resource in stream_resources(Store(source), FhirScope(site_id=None, identified=False)):
            if rtype not in files:
                files[rtype] = (out / f"{rtype}.ndjson").open("w", encoding="utf-8")
            files[rtype].write(json.dumps(resource) + "\n")
    finally:
        for f in files.values():
            f.close()
    with read_fhir(sorted(out.glob("*.ndjson"))) as src:
        result = write_records(Store(target), SYSTEM, source_system="fhir:round-trip", records=src, files=src.files)
    assert result.ok and result.stored, [e.message for e in result.errors[:5]]

    before, after = compute_status(source), compute_status(target)
    for key in ("sites", "patients", "episodes", "procedures", "complications", "readmissions", "reoperations",
                "prom_responses", "procedures_by_approach"):
        assert after[key] == before[key], key

    docs = []
    for name, engine in (("a", source), ("b", target)):
        export_snapshot(engine, tmp_path / f"snapshot-{name}", rekey_secret="one-secret-for-both", now=EXTRACTED)
        docs.append(analyze_snapshot(str(tmp_path / f"snapshot-{name}"),
                                     AnalysisSettings(engine="duckdb", sensitivity=False)))
    a, b = docs
    assert len(a["results"]) == len(b["results"]) > 100
    estimated = [r for r in a["results"] if r["status"] == "estimated"]
    assert len(estimated) > 40  # the comparison is about numbers, not about "not estimable" everywhere
    for ra, rb in zip(a["results"], b["results"], strict=True):
        assert _without_timings(ra) == _plain(rb), (ra["comparison"], ra["claim"])
    for engine in engines:
        engine.dispose()


def test_the_end_of_follow_up_survives_the_round_trip(tmp_path: Path, _sqlite_head: Path) -> None:
    """An episode whose follow-up ended (here: the patient died, which OMOP's DEATH table is built
    from) keeps its end date and reason through $export → import; the others stay open."""
    from sqlalchemy import select

    from spinetrack.store.tables import EpisodeRow

    engines = []
    for name in ("source", "target"):
        shutil.copyfile(_sqlite_head, tmp_path / f"{name}.sqlite")
        engines.append(make_engine(f"sqlite:///{tmp_path / name}.sqlite"))
    source, target = engines
    load_demo(source, patients=30, seed=5)
    store = Store(source)
    with source.connect() as c:
        first, second = c.execute(select(EpisodeRow.id, EpisodeRow.enrolled_on).order_by(EpisodeRow.id).limit(2)).all()
    store.end_episode(SYSTEM, first.id, ended_on=first.enrolled_on + dt.timedelta(days=200), reason="died")
    store.end_episode(SYSTEM, second.id, ended_on=second.enrolled_on + dt.timedelta(days=90), reason="moved_away")

    lines: dict[str, list[str]] = {}
    for rtype, resource in stream_resources(store, FhirScope(site_id=None, identified=False)):
        lines.setdefault(rtype, []).append(json.dumps(resource))
    for rtype, rows in lines.items():
        (tmp_path / f"{rtype}.ndjson").write_text("\n".join(rows) + "\n", encoding="utf-8")
    with read_fhir(sorted(tmp_path.glob("*.ndjson"))) as src:
        result = write_records(Store(target), SYSTEM, source_system="fhir:ends", records=src, files=src.files)
    assert result.ok and result.stored, [e.message for e in result.errors[:5]]

    def ends(engine: Any) -> list[tuple[Any, ...]]:
        with engine.connect() as c:
            return sorted(c.execute(select(EpisodeRow.enrolled_on, EpisodeRow.diagnosis_code, EpisodeRow.ended_on,
                                           EpisodeRow.end_reason)).all(), key=str)

    before = ends(source)
    assert sum(1 for row in before if row.end_reason is not None) == 2
    assert ends(target) == before
    for engine in engines:
        engine.dispose()
