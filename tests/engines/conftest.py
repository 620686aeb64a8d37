"""Engine fixtures: every engine test runs on DuckDB and on Spark (local[*], one session per
test run; marked ``spark``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(params=["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def any_engine(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "spark":
        yield request.getfixturevalue("spark_engine")
        return
    from spinetrack.engines import get_engine

    with get_engine("duckdb") as eng:
        yield eng
