"""The engine protocol: register a snapshot, run SQL that returns small results."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from spinetrack.errors import SpinetrackError

__all__ = ["SNAPSHOT_TABLES", "Engine", "EngineError", "generic_spread", "snapshot_unique_keys"]

SNAPSHOT_TABLES = ("patients", "episodes", "procedures", "complications", "readmissions", "reoperations",
                   "outcomes")


def snapshot_unique_keys(directory: Path) -> dict[str, tuple[str, ...]]:
    """The columns that identify a row of each snapshot table, as its manifest declares them
    (``keys``). Manifests written before that entry existed, by ``spinetrack snapshot`` from a
    store (they name its Alembic revision), hold the store's unique constraints: one
    ``outcomes`` row per episode, instrument and timepoint (``uq_prom_responses_episode_tp_
    instrument``, revision 0001). Anything else declares nothing."""
    import json

    path = directory / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except (OSError, ValueError):
        manifest = {}
    keys = manifest.get("keys") if isinstance(manifest, dict) else None
    if isinstance(keys, dict):
        return {str(t): tuple(str(c) for c in cols) for t, cols in keys.items() if isinstance(cols, list)}
    if isinstance(manifest, dict) and isinstance(manifest.get("source"), dict) \
            and manifest["source"].get("alembic_revision"):
        return {"outcomes": ("episode_key", "instrument", "timepoint")}
    return {}


def generic_spread(cells: Sequence[tuple[str, str, int]], value: str) -> tuple[list[str], list[str]]:
    """:meth:`Engine.spread` in SQL every engine runs: a ``MAX(CASE WHEN condition …)`` per cell."""
    return [f"MAX(CASE WHEN {cond} THEN {value} END) AS {col}" for col, cond, _ in cells], [c for c, _, _ in cells]


class _Counter:
    """A count shared by an engine and its forks (threads)."""

    def __init__(self) -> None:
        import threading

        self.value = 0
        self._lock = threading.Lock()

    def add(self) -> None:
        with self._lock:
            self.value += 1


class EngineError(SpinetrackError):
    """The analytics engine failed or is not available (with an install hint)."""


class Engine(abc.ABC):
    """One analytics backend. Subclasses implement :meth:`_register_parquet`, :meth:`sql`,
    :meth:`create_view` and :meth:`close`."""

    name: str = "?"
    concurrency: int = 1  # independent analyses this engine can run side by side (see fork)
    # claims' sums: one grouped query for all continuous and binary claims of a comparison and one
    # pair for all time-to-event claims (True), or a query per group of claims observed on the same
    # rows (False: narrower queries over fewer rows; DuckDB's fastest way). Same results either way.
    batch_claims: bool = False

    @property
    def queries(self) -> int:
        """Queries run so far (:meth:`sql` and :meth:`materialize`), forks included."""
        return self._counter().value

    def _counter(self) -> _Counter:
        c: _Counter | None = self.__dict__.get("_query_counter")
        if c is None:
            c = self.__dict__["_query_counter"] = _Counter()
        return c

    def _count_query(self) -> None:
        self._counter().add()

    def stats(self) -> dict[str, int]:
        """Work done so far, for benchmarks: ``queries`` (and, on Spark, ``spark_jobs``)."""
        return {"queries": self.queries}

    def register_snapshot(self, directory: str | Path) -> None:
        """Register every snapshot table as a view named after the table."""
        d = Path(directory)
        missing = [t for t in SNAPSHOT_TABLES if not (d / f"{t}.parquet").exists()]
        if missing:
            from spinetrack.errors import ValidationError

            raise ValidationError(field="snapshot", value=str(d), allowed="a directory written by spinetrack snapshot",
                                  reason=f"missing {', '.join(t + '.parquet' for t in missing)}")
        for t in SNAPSHOT_TABLES:
            self._register_parquet(t, d / f"{t}.parquet")
        self.snapshot_dir = d
        self.derived_tables: set[str] = set()  # tables built once per snapshot (analysis caches)
        self.unique_keys = snapshot_unique_keys(d)

    def spread(self, cells: Sequence[tuple[str, str, int]], code: str, value: str, *, unique: bool = False
               ) -> tuple[list[str], list[str]]:
        """Long to wide inside a ``GROUP BY``: ``value`` spread over one column per cell.

        ``cells`` are ``(column, condition, number)``: the rows meeting ``condition`` fill
        ``column``; ``code`` is an SQL expression giving each row its cell's number (NULL for
        none). Returns the aggregates for the grouped query and the expressions of the query
        around it that give the columns. Generic SQL: one ``MAX(CASE …)`` per cell (the largest
        value when a group has several rows in a cell). An engine may do better when ``unique``
        (at most one row per group and cell, which the caller must know)."""
        return generic_spread(cells, value)

    def sample_predicate(self, column: str, one_in: int) -> str:
        """A deterministic SQL filter keeping about one row in ``one_in`` by hashing ``column``
        (used to warm-start iterative fits; the sample differs between engines, the final fit
        does not)."""
        return f"hash({column}) % {int(one_in)} = 0"

    def ensure_table(self, name: str, query: str) -> None:
        """Materialize ``query`` as ``name`` once per registered snapshot."""
        done = getattr(self, "derived_tables", None)
        if done is None:
            done = self.derived_tables = set()
        if name not in done:
            self.materialize(name, query)
            done.add(name)

    @abc.abstractmethod
    def _register_parquet(self, name: str, path: Path) -> None: ...

    @abc.abstractmethod
    def sql(self, query: str) -> list[tuple[Any, ...]]:
        """Run a query and return its (small) result as tuples."""

    @abc.abstractmethod
    def create_view(self, name: str, query: str) -> None:
        """Define (or replace) a named view."""

    @abc.abstractmethod
    def register_arrays(self, name: str, columns: dict[str, np.ndarray]) -> None:
        """Register small in-memory columns as a view (tests and small data)."""

    def materialize(self, name: str, query: str) -> None:
        """Compute ``query`` once and keep it (a temporary table, or a cached view on Spark)."""
        self.create_view(name, query)

    def release(self) -> None:
        """Drop what this engine has materialized or defined since the last call, except the
        tables built once per snapshot (:meth:`ensure_table`): a finished comparison's tables,
        freed by its worker while the others run instead of all at :meth:`close`. The default
        keeps everything."""
        return  # a hook, not abstract: an engine that keeps everything needs no override

    def fork(self) -> Engine:
        """An engine for another thread working on the same registered snapshot and tables
        (its own connection where the engine needs one). The default is this engine itself."""
        return self

    def add_columns(self, table: str, columns: Sequence[tuple[str, str]], name: str) -> None:
        """Make ``name`` the materialized ``table`` with computed columns added, in order (each
        expression may use the columns before it). The default materializes a copy; an engine
        that can update a table in place overrides it (``table`` may then change too)."""
        query = f"SELECT * FROM {table}"
        for i, (col, expr) in enumerate(columns):
            query = f"SELECT q{i}.*, {expr} AS {col} FROM ({query}) q{i}"
        self.materialize(name, query)

    @abc.abstractmethod
    def close(self) -> None: ...

    def aggregate(self, view: str, expressions: Sequence[str], where: str | None = None) -> np.ndarray:
        """One row of sums/counts over ``view`` as a float64 vector (NULL → NaN)."""
        q = f"SELECT {', '.join(expressions)} FROM {view}" + (f" WHERE {where}" if where else "")
        row = self.sql(q)[0]
        return np.array([np.nan if v is None else float(v) for v in row], dtype=np.float64)

    def grouped(self, view: str, keys: Sequence[str], expressions: Sequence[str], where: str | None = None
                ) -> list[tuple[Any, ...]]:
        """Grouped sums/counts, ordered by the keys."""
        k = ", ".join(keys)
        q = (f"SELECT {k}, {', '.join(expressions)} FROM {view}" + (f" WHERE {where}" if where else "")
             + f" GROUP BY {k} ORDER BY {k}")
        return self.sql(q)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
