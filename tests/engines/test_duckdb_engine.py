"""The DuckDB engine's own behaviour: small arrays registered with their types and values
exactly (without the pandas import of DuckDB's Arrow scan), and a finished comparison's tables
released while the snapshot's tables stay."""

from __future__ import annotations

import numpy as np
import pytest

from spinetrack.engines import get_engine
from spinetrack.engines.base import EngineError


def test_release_drops_what_the_engine_made_but_not_the_shared_tables() -> None:
    with get_engine("duckdb") as eng:
        eng.register_arrays("src", {"a": [1, 2, 3]})
        eng.ensure_table("shared", "SELECT a FROM src")
        eng.release()  # the registered arrays go, the per-snapshot table stays
        child = eng.fork()
        child.materialize("pop_x", "SELECT a * 2 AS b FROM shared")
        child.create_view("wide_x", "SELECT b + 1 AS c FROM pop_x")
        assert eng.sql("SELECT SUM(c) FROM wide_x") == [(15,)]  # the fork's tables are the database's
        child.release()
        child.close()
        names = {r[0] for r in eng.sql("SELECT table_name FROM duckdb_tables()")}
        views = {r[0] for r in eng.sql("SELECT view_name FROM duckdb_views() WHERE NOT internal")}
        assert names == {"shared"} and views == set()
        assert eng.sql("SELECT SUM(a) FROM shared") == [(6,)]


def test_register_arrays_keeps_types_and_values_exactly() -> None:
    cols = {"i": np.array([3, -1, 2**40]), "f": np.array([0.1, 1e-300, -2.5]), "b": np.array([True, False, True]),
            "s": ["x", None, "z"], "n": [1, 2.5, None], "e": [None, None, None]}
    with get_engine("duckdb") as eng:
        eng.register_arrays("t", cols)
        types = {r[0]: r[1] for r in eng.sql("DESCRIBE t")}
        assert types == {"i": "BIGINT", "f": "DOUBLE", "b": "BOOLEAN", "s": "VARCHAR", "n": "DOUBLE", "e": "DOUBLE"}
        rows = eng.sql("SELECT i, f, b, s, n, e FROM t ORDER BY i")
    assert rows == [(-1, 1e-300, False, None, 2.5, None), (3, 0.1, True, "x", 1.0, None),
                    (2**40, -2.5, True, "z", None, None)]


def test_register_arrays_names_the_column_it_cannot_type() -> None:
    with get_engine("duckdb") as eng:
        with pytest.raises(EngineError, match=r"column 'mixed' mixes value types \['int', 'str'\].*allowed"):
            eng.register_arrays("t", {"ok": [1, 2], "mixed": [1, "a"]})
        with pytest.raises(EngineError, match="differ in length"):
            eng.register_arrays("t", {"a": [1, 2], "b": [1]})
