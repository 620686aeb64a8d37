"""Apache Spark engine (PySpark): the same SQL as DuckDB, on ``local[*]`` in tests or a cluster
master URL in production (the command line passes ``SPINETRACK_SPARK_MASTER`` as ``master``).
Needs Java 17+ (``make test`` installs Debian's ``default-jre-headless`` when ``java`` is
missing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spinetrack.engines.base import Engine, EngineError

__all__ = ["SparkEngine"]


class SparkEngine(Engine):
    name = "spark"

    def __init__(self, *, master: str | None = None, app_name: str = "spinetrack",
                 config: dict[str, str] | None = None, driver_memory: str = "4g") -> None:
        """A Spark session on ``master`` (default ``local[*]``). In local mode the executors live
        in the driver JVM, whose heap is ``driver_memory`` (``SPINETRACK_SPARK_DRIVER_MEMORY``
        at the command line); ``config`` adds Spark settings. The engine reads no environment."""
        try:
            from pyspark.sql import SparkSession
        except ImportError as exc:
            raise EngineError("PySpark is not installed: pip install 'spinetrack[spark]'") from exc
        master = master or "local[*]"
        builder = (SparkSession.builder.master(master).appName(app_name)
                   .config("spark.ui.enabled", "false")
                   .config("spark.ui.showConsoleProgress", "false")
                   .config("spark.sql.shuffle.partitions", "8")
                   .config("spark.sql.session.timeZone", "UTC")
                   .config("spark.driver.bindAddress", "127.0.0.1")
                   .config("spark.driver.host", "127.0.0.1")
                   .config("spark.sql.ansi.enabled", "false"))
        if master.startswith("local"):
            # local mode: executors live in the driver JVM; the scorecard's wide aggregates (hundreds
            # of sums per query) exceed the 1 GiB default heap at 10k patients
            builder = builder.config("spark.driver.memory", driver_memory)
        for k, v in (config or {}).items():
            builder = builder.config(k, v)
        try:
            self._spark = builder.getOrCreate()
        except Exception as exc:  # Java missing or misconfigured
            raise EngineError(f"could not start Spark ({master}): {exc}. Is Java 17+ installed?") from exc
        self._spark.sparkContext.setLogLevel("ERROR")
        self._cached: list[Any] = []

    def _register_parquet(self, name: str, path: Path) -> None:
        self._spark.read.parquet(str(path)).createOrReplaceTempView(name)

    def register_arrays(self, name: str, columns: dict[str, Any]) -> None:
        import numpy as np

        names = list(columns)
        rows = list(zip(*(np.asarray(columns[c]).tolist() for c in names), strict=True))
        self._spark.createDataFrame(rows, schema=names).createOrReplaceTempView(name)

    def sql(self, query: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self._spark.sql(query).collect()]

    def create_view(self, name: str, query: str) -> None:
        self._spark.sql(query).createOrReplaceTempView(name)

    def materialize(self, name: str, query: str) -> None:
        df = self._spark.sql(query).cache()
        df.count()
        self._cached.append(df)
        df.createOrReplaceTempView(name)

    def sample_predicate(self, column: str, one_in: int) -> str:
        return f"pmod(hash({column}), {int(one_in)}) = 0"

    def close(self) -> None:
        for df in self._cached:
            df.unpersist()
        self._cached.clear()
        # The session is shared per process (getOrCreate); stop it only when asked explicitly.

    def stop(self) -> None:
        self.close()
        self._spark.stop()
