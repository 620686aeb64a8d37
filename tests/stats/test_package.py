"""The ``spinetrack.stats`` package as a whole: runnable docstring examples, a pure import
(numpy only at run time: no pandas, scipy, engines or I/O libraries), and its public surface.

Oracle for the examples: the expected output written in each docstring (doctest, exact text).
"""

from __future__ import annotations

import doctest
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from spinetrack import stats

MODULES = ["glm", "weighting", "balance", "survival", "survival_difference", "effects", "aipw", "sensitivity",
           "augmented_overlap", "multiplicity", "funnel", "cusum",
           "aft",
           "meta", "meta._distributions", "meta.effects", "meta.reported", "meta.heterogeneity", "meta.models",
           "meta.subgroup", "meta.influence", "meta.cumulative", "meta.bias"]
SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(f"spinetrack.stats.{name}")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0


@pytest.mark.parametrize("package", ["spinetrack.stats", "spinetrack.stats.meta"])
def test_stats_import_is_pure(package: str) -> None:
    """Importing ``spinetrack.stats`` (and its ``meta`` package) must not load pandas, scipy,
    statsmodels, plotting, engines, databases or web frameworks (the pure-core rule)."""
    code = (
        "import sys\n"
        f"import {package}\n"
        "bad = {'pandas', 'scipy', 'statsmodels', 'lifelines', 'duckdb', 'pyspark', 'ibis', 'matplotlib',\n"
        "       'sqlalchemy', 'fastapi', 'starlette', 'pydantic_settings', 'plotly'}\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in bad)))\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"importing {package} loaded: {proc.stdout.strip()}"


def test_public_surface_and_result_names() -> None:
    """Every name in ``__all__`` exists; result dataclasses are frozen and named by the project's
    rule (ending in Result, Estimate, Curve or Table)."""
    import dataclasses

    for name in stats.__all__:
        assert hasattr(stats, name), name
    results = [stats.LogisticFitResult, stats.BalanceTable, stats.SurvivalCurve,
               stats.RestrictedMeanEstimate, stats.EffectEstimate, stats.WeightedMeanEstimate,
               stats.EValueResult]
    for cls in results:
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
        assert cls.__name__.endswith(("Result", "Estimate", "Curve", "Table")), cls.__name__
    assert issubclass(stats.ConvergenceWarning, UserWarning)


def test_to_jsonable_turns_arrays_into_json_values() -> None:
    """Arrays become lists of Python scalars (the fast path for finite float, int and bool arrays
    and the element-wise path otherwise), non-finite numbers become None (JSON has no NaN)."""
    import json
    import math

    import numpy as np

    from spinetrack.stats._common import to_jsonable

    cases = [
        (np.array([1.5, -2.0]), [1.5, -2.0]),
        (np.array([1.0, np.nan, np.inf, -np.inf]), [1.0, None, None, None]),
        (np.array([[1, 2], [3, 4]], dtype=np.int32), [[1, 2], [3, 4]]),
        (np.array([True, False]), [True, False]),
        (np.array(2.5), 2.5), (np.array(np.nan), None), (np.array(7), 7),
        ({"a": (np.float64(1.25), np.int64(3), np.bool_(True)), "b": [math.nan, "x"]},
         {"a": [1.25, 3, True], "b": [None, "x"]}),
    ]
    for value, want in cases:
        got = to_jsonable(value)
        assert got == want
        assert json.loads(json.dumps(got, allow_nan=False)) == want
        for leaf in (got if isinstance(got, list) else [got]):
            assert not isinstance(leaf, np.generic)
