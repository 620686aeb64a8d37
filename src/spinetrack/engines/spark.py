"""Apache Spark engine (PySpark): the same SQL as DuckDB, on ``local[*]`` in tests or a cluster
master URL in production (the command line passes ``SPINETRACK_SPARK_MASTER`` as ``master``).
Needs Java 17+ (``make test`` installs Debian's ``default-jre-headless`` when ``java`` is
missing)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spinetrack.engines.base import Engine, EngineError

__all__ = ["SparkEngine"]


class SparkEngine(Engine):
    name = "spark"
    batch_claims = True  # a query costs Spark about half a second whatever its size: fewer, wider ones

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
        # The analysis runs many small aggregates (a few hundred groups out): adaptive query
        # execution would submit each shuffle stage as a job of its own (about twice the jobs,
        # no faster at these sizes), so it is off. Each task of a wide aggregate (hundreds of
        # sums) generates its code anew, about as long as it computes at 100k rows, so the tables
        # have as many partitions as local mode has cores (a cluster: 8, or its own setting).
        partitions = _local_cores(master) or 8
        builder = (SparkSession.builder.master(master).appName(app_name)
                   .config("spark.ui.enabled", "false")
                   .config("spark.ui.showConsoleProgress", "false")
                   .config("spark.sql.adaptive.enabled", "false")
                   .config("spark.ui.retainedJobs", "100000")  # the status tracker counts jobs (spark_jobs)
                   .config("spark.sql.shuffle.partitions", str(partitions))
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
        # this engine's jobs, told apart from others of the shared session by a job group
        self._job_group = f"spinetrack-{id(self):x}"

    def _tag(self) -> None:
        """Count a query and put the jobs it starts in this engine's job group (the group is
        per thread: set before every action)."""
        self._count_query()
        self._spark.sparkContext.setJobGroup(self._job_group, "spinetrack analysis", interruptOnCancel=False)

    @property
    def spark_jobs(self) -> int:
        """Spark jobs this engine has started (the status tracker's jobs of its job group)."""
        return len(self._spark.sparkContext.statusTracker().getJobIdsForGroup(self._job_group))

    def stats(self) -> dict[str, int]:
        return {"queries": self.queries, "spark_jobs": self.spark_jobs}

    def _register_parquet(self, name: str, path: Path) -> None:
        self._spark.read.parquet(str(path)).createOrReplaceTempView(name)

    def register_arrays(self, name: str, columns: dict[str, Any]) -> None:
        import numpy as np

        names = list(columns)
        rows = list(zip(*(np.asarray(columns[c]).tolist() for c in names), strict=True))
        self._spark.createDataFrame(rows, schema=names).createOrReplaceTempView(name)

    def sql(self, query: str) -> list[tuple[Any, ...]]:
        self._tag()
        return [tuple(r) for r in self._spark.sql(query).collect()]

    def grouped(self, view: str, keys: Sequence[str], expressions: Sequence[str], where: str | None = None
                ) -> list[tuple[Any, ...]]:
        """As :meth:`Engine.grouped`, sorted here rather than by ``ORDER BY``: Spark sorts by range
        partitioning, which first samples the data in jobs of its own (and again when a
        partition looks large: a number of jobs that depends on the data). The result is a few
        hundred rows; NULL keys first, as Spark's ascending order puts them."""
        k = ", ".join(keys)
        q = f"SELECT {k}, {', '.join(expressions)} FROM {view}" + (f" WHERE {where}" if where else "") \
            + f" GROUP BY {k}"
        n = len(keys)
        return sorted(self.sql(q), key=lambda r: tuple((v is not None, v) for v in r[:n]))

    def create_view(self, name: str, query: str) -> None:
        self._spark.sql(query).createOrReplaceTempView(name)

    def materialize(self, name: str, query: str) -> None:
        self._tag()
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


def _local_cores(master: str) -> int | None:
    """The worker threads of a local master (``local``: 1, ``local[N]``: N, ``local[*]``: the
    machine's cores), else ``None``."""
    import os
    import re

    if master == "local":
        return 1
    m = re.fullmatch(r"local\[(\d+|\*)(?:,\s*\d+)?\]", master)
    if not m:
        return None
    return (os.cpu_count() or 1) if m.group(1) == "*" else max(1, int(m.group(1)))
