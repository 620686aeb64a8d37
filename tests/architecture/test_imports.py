"""Architecture: the pure core (``spinetrack.domain``, ``spinetrack.instruments``) imports no
I/O, web, database or engine code, the package layers only import downwards, sibling modules have
no import cycle, only the engines import DuckDB or PySpark, and settings are read at the edge.

The contracts live in ``pyproject.toml`` (``[tool.importlinter]``); ``lint-imports`` checks the
static import graph, and the subprocess test checks what an actual import loads.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Third-party packages the pure core must never load (pyproject's "forbidden" contract).
FORBIDDEN_AT_RUNTIME = ("sqlalchemy", "fastapi", "alembic", "starlette", "pydantic_settings")


def _lint_imports() -> str:
    """The ``lint-imports`` of the interpreter running the tests, else the project's .venv."""
    candidates = [
        Path(sys.executable).parent / "lint-imports",
        PROJECT_ROOT / ".venv" / "bin" / "lint-imports",
    ]
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    found = shutil.which("lint-imports")
    assert found, (f"lint-imports not found (looked in {', '.join(map(str, candidates))} and PATH); "
                   "install the test extras")
    return found


def _env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(PROJECT_ROOT / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def test_import_contracts_hold() -> None:
    assert (PROJECT_ROOT / "pyproject.toml").is_file()
    proc = subprocess.run(
        [_lint_imports(), "--no-cache"],
        cwd=PROJECT_ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = f"exit code {proc.returncode}\n--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    assert proc.returncode == 0, output
    # guard against a run that checked nothing (e.g. the contracts were not found)
    assert f"Contracts: {len(_contracts())} kept, 0 broken." in proc.stdout, output


def _contracts() -> list[dict[str, object]]:
    return tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["importlinter"]["contracts"]


def test_the_contracts_cover_layers_cycles_engines_and_settings() -> None:
    kinds = [(c["type"], tuple(c.get("forbidden_modules", ()))) for c in _contracts()]  # type: ignore[arg-type]
    assert ("layers", ()) in kinds
    assert ("acyclic_siblings", ()) in kinds
    assert ("forbidden", ("duckdb", "pyspark")) in kinds
    assert ("forbidden", ("spinetrack.config", "pydantic_settings")) in kinds


@pytest.mark.parametrize(("module", "planted", "broken"), [
    # a function-level import that closes a cycle (domain.options imports domain.procedure)
    ("domain/procedure.py", "def _planted() -> None:\n    from spinetrack.domain import options\n",
     "No cycles are allowed in spinetrack.domain"),
    ("analysis/claims.py", "import duckdb\n", "spinetrack.analysis is not allowed to import duckdb"),
    ("predict/files.py", "from spinetrack.config import Settings\n",
     "spinetrack.predict is not allowed to import spinetrack.config"),
])
def test_a_planted_violation_breaks_its_contract(tmp_path: Path, module: str, planted: str, broken: str) -> None:
    """Each contract bites: the same check on a copy of the package with one violation planted."""
    shutil.copytree(PROJECT_ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "src" / "spinetrack" / module
    target.write_text(target.read_text("utf-8") + "\n" + planted, "utf-8")
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "src"))
    proc = subprocess.run([_lint_imports(), "--no-cache"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert broken in " ".join(proc.stdout.split()), proc.stdout


def test_pure_core_loads_no_database_or_web_package() -> None:
    code = (
        "import sys\n"
        "import spinetrack.domain, spinetrack.instruments\n"
        "assert 'spinetrack.domain.pathway' in sys.modules\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN_AT_RUNTIME!r})\n"
        "print(','.join(bad))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    loaded = [m for m in proc.stdout.strip().split(",") if m]
    assert loaded == [], f"importing the pure core loaded: {loaded}"
