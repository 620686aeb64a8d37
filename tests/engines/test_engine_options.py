"""The engines take their configuration as arguments; the settings (read at the edge) give them.
An environment variable reaches an engine only through ``Settings.engine_options``."""

from __future__ import annotations

import pytest

from spinetrack.config import Settings
from spinetrack.engines import get_engine


def test_duckdb_takes_its_memory_limit_and_concurrency_as_arguments() -> None:
    with get_engine("duckdb", memory_limit="512MB", concurrency=3) as eng:
        assert eng.concurrency == 3
        limit = eng.sql("SELECT current_setting('memory_limit')")[0][0]
        assert limit.replace(" ", "").upper().startswith(("488", "512")), limit  # 512 MB, shown in MiB
    with get_engine("duckdb") as eng:
        assert eng.concurrency == 2


def test_the_engine_reads_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPINETRACK_DUCKDB_CONCURRENCY", "1")
    monkeypatch.setenv("SPINETRACK_DUCKDB_MEMORY_LIMIT", "256MB")
    with get_engine("duckdb") as eng:
        assert eng.concurrency == 2


def test_settings_give_the_engine_options(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SPINETRACK_DUCKDB_CONCURRENCY", "SPINETRACK_DUCKDB_MEMORY_LIMIT", "SPINETRACK_SPARK_MASTER",
                "SPINETRACK_SPARK_DRIVER_MEMORY"):
        monkeypatch.delenv(var, raising=False)
    assert Settings().engine_options("duckdb") == {}
    assert Settings().engine_options("spark") == {"driver_memory": "4g"}
    monkeypatch.setenv("SPINETRACK_DUCKDB_CONCURRENCY", "1")
    monkeypatch.setenv("SPINETRACK_DUCKDB_MEMORY_LIMIT", "256MB")
    monkeypatch.setenv("SPINETRACK_SPARK_MASTER", "spark://head:7077")
    monkeypatch.setenv("SPINETRACK_SPARK_DRIVER_MEMORY", "8g")
    s = Settings()
    assert s.engine_options("duckdb") == {"memory_limit": "256MB", "concurrency": 1}
    assert s.engine_options("spark") == {"master": "spark://head:7077", "driver_memory": "8g"}
    with get_engine("duckdb", **s.engine_options("duckdb")) as eng:
        assert eng.concurrency == 1
