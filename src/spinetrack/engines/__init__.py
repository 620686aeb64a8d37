"""The portability seam: the only room that imports DuckDB or PySpark.

An :class:`~spinetrack.engines.base.Engine` registers a snapshot's Parquet tables as views and
runs SQL that returns *small* results (sums, counts, grouped counts). The SQL the analysis
writes is the common subset of DuckDB and Spark SQL (CASE, COALESCE, EXP, LN, SUM, COUNT,
CAST … AS DOUBLE); dialect differences stay inside each engine.

``get_engine("duckdb")`` (default, embedded) or ``get_engine("spark", master="local[*]")``.
"""

from __future__ import annotations

from typing import Any

from spinetrack.engines.base import Engine, EngineError

__all__ = ["Engine", "EngineError", "get_engine"]

ENGINES = ("duckdb", "spark")


def get_engine(name: str = "duckdb", **options: Any) -> Engine:
    """Create an engine by name; Spark is imported only when asked for."""
    if name == "duckdb":
        from spinetrack.engines.duckdb import DuckDBEngine

        return DuckDBEngine(**options)
    if name == "spark":
        from spinetrack.engines.spark import SparkEngine

        return SparkEngine(**options)
    from spinetrack.errors import ValidationError

    raise ValidationError(field="engine", value=name, allowed=ENGINES)
