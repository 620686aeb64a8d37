"""Architecture: the pure core (``spinetrack.domain``, ``spinetrack.instruments``) imports no
I/O, web, database or engine code, and the package layers only import downwards.

The contracts live in ``pyproject.toml`` (``[tool.importlinter]``); ``lint-imports`` checks the
static import graph, and the subprocess test checks what an actual import loads.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

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
    assert found, f"lint-imports not found (looked in {', '.join(map(str, candidates))} and PATH); install the test extras"
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
    assert "Contracts: 2 kept, 0 broken." in proc.stdout, output


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
