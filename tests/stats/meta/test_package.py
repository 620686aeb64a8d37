"""``spinetrack.stats.meta`` as a whole: docstring examples run, the import stays pure (numpy
only at run time: no scipy), and the public surface is complete and named per STYLE.md."""

from __future__ import annotations

import dataclasses
import doctest
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from spinetrack.stats import meta

MODULES = ["", "._distributions", ".effects", ".heterogeneity", ".models", ".subgroup", ".influence", ".cumulative",
           ".bias"]
SRC = Path(__file__).resolve().parents[3] / "src"


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(f"spinetrack.stats.meta{name}")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{module.__name__} has no examples"
    assert result.failed == 0


def test_meta_import_is_pure() -> None:
    code = (
        "import sys\n"
        "import spinetrack.stats.meta\n"
        "bad = {'pandas', 'scipy', 'statsmodels', 'matplotlib', 'duckdb', 'pyspark', 'sqlalchemy', 'fastapi'}\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in bad)))\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"importing spinetrack.stats.meta loaded: {proc.stdout.strip()}"


def test_public_surface_and_result_names() -> None:
    for name in meta.__all__:
        assert hasattr(meta, name), name
    for cls in (meta.EffectSizeTable, meta.MetaResult, meta.SubgroupResult, meta.LeaveOneOutTable,
                meta.CumulativeTable, meta.EggerTestResult, meta.Tau2Estimate):
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
        assert cls.__name__.endswith(("Result", "Estimate", "Curve", "Table")), cls.__name__
