"""A demo snapshot for the analysis tests: synthetic cohort → SQLite → Parquet snapshot."""

from __future__ import annotations

from pathlib import Path

import pytest


def build_snapshot(directory: Path, *, patients: int, seed: int) -> Path:
    from spinetrack.snapshot.export import export_snapshot
    from spinetrack.store.migrate import upgrade
    from spinetrack.store.session import make_engine
    from spinetrack.synth.load import load_demo

    eng = make_engine(f"sqlite:///{directory / 'demo.db'}")
    upgrade(eng)
    load_demo(eng, patients=patients, seed=seed)
    export_snapshot(eng, directory / "snap")
    eng.dispose()
    return directory / "snap"


@pytest.fixture(scope="module")
def snapshot_factory(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    def make(patients: int, seed: int) -> Path:
        return build_snapshot(tmp_path_factory.mktemp("snapshot"), patients=patients, seed=seed)

    return make
