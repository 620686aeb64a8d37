"""Long to wide (``Engine.spread``) and what a snapshot declares about its keys.

Reference: the generic form, one ``MAX(CASE WHEN …)`` per cell, is the textbook SQL pivot; the
DuckDB list form must give the same table whenever a group has at most one row per cell, and
the engines fall back to the generic form whenever the snapshot does not declare that."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from spinetrack.engines import get_engine
from spinetrack.engines.base import generic_spread, snapshot_unique_keys

# (group, cell code or None for "no cell", value): group 3 has no rows in cell 1, group 4 none at all
ROWS = [(1, 0, 10.0), (1, 1, 11.0), (1, None, 99.0), (2, 1, 21.0), (2, 0, None), (3, 0, 30.0), (4, None, 5.0)]
CELLS = [("c0", "code = 0", 0), ("c1", "code = 1", 1), ("c2", "code = 2", 2)]
WANT = {1: (10.0, 11.0, None), 2: (None, 21.0, None), 3: (30.0, None, None), 4: (None, None, None)}


def _spread_table(eng: Any, rows: list[tuple[Any, ...]], *, unique: bool) -> dict[int, tuple[Any, ...]]:
    eng.register_arrays("long", {"g": [r[0] for r in rows], "code": [r[1] for r in rows], "v": [r[2] for r in rows]})
    aggs, cols = eng.spread(CELLS, "code", "v", unique=unique)
    got = eng.sql(f"SELECT g, {', '.join(cols)} FROM (SELECT g, {', '.join(aggs)} FROM long GROUP BY g) x ORDER BY g")
    return {int(r[0]): tuple(r[1:]) for r in got}


@pytest.mark.parametrize("unique", [True, False])
def test_duckdb_spread_equals_the_generic_pivot(unique: bool) -> None:
    with get_engine("duckdb") as eng:
        assert _spread_table(eng, ROWS, unique=unique) == WANT
        aggs, _ = eng.spread(CELLS, "code", "v", unique=unique)
        assert (aggs == generic_spread(CELLS, "v")[0]) is (not unique)  # the list form only when unique


def test_without_the_uniqueness_guarantee_duplicates_give_the_largest_value() -> None:
    rows = [*ROWS, (1, 0, 12.0), (1, 0, 7.0)]  # two more answers in group 1, cell 0
    with get_engine("duckdb") as eng:
        assert _spread_table(eng, rows, unique=False)[1] == (12.0, 11.0, None)


def _write_manifest(directory: Path, manifest: dict[str, Any] | None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    if manifest is not None:
        (directory / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return directory


def test_snapshot_keys_come_from_the_manifest(tmp_path: Path) -> None:
    declared = _write_manifest(tmp_path / "a", {"keys": {"outcomes": ["episode_key", "instrument", "timepoint"],
                                                         "episodes": ["episode_key"]}})
    assert snapshot_unique_keys(declared) == {"outcomes": ("episode_key", "instrument", "timepoint"),
                                              "episodes": ("episode_key",)}
    # written by spinetrack snapshot before manifests carried "keys": the store's unique
    # constraint on (episode, timepoint, instrument) has existed since revision 0001
    older = _write_manifest(tmp_path / "b", {"schema_version": "1", "source": {"dialect": "sqlite",
                                                                               "alembic_revision": "0002"}})
    assert snapshot_unique_keys(older) == {"outcomes": ("episode_key", "instrument", "timepoint")}
    for name, manifest in (("c", {"schema_version": "1"}), ("d", None), ("e", {"keys": "outcomes"})):
        assert snapshot_unique_keys(_write_manifest(tmp_path / name, manifest)) == {}
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "manifest.json").write_text("{not json", encoding="utf-8")
    assert snapshot_unique_keys(tmp_path / "f") == {}
