"""Engine fixtures: every engine test runs on DuckDB and on Spark (local[*], one session per
test run; marked ``spark``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def spark_engine() -> Iterator[Any]:
    if shutil.which("java") is None:
        if os.environ.get("CI"):
            pytest.fail("Java is missing (make test installs Debian's default-jre-headless)")
        pytest.skip("Java is missing")
    from spinetrack.engines import get_engine

    eng = get_engine("spark", master="local[2]")
    yield eng
    eng.stop()


@pytest.fixture(params=["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def any_engine(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "spark":
        yield request.getfixturevalue("spark_engine")
        return
    from spinetrack.engines import get_engine

    with get_engine("duckdb") as eng:
        yield eng
