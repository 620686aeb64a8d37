"""The version is written once (``spinetrack.__version__``); the installed distribution's
metadata, the CLI and the web app all report that one."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from typer.testing import CliRunner

import spinetrack
from spinetrack.cli import app

ROOT = Path(__file__).resolve().parents[1]


def test_the_distribution_metadata_reads_the_package_version() -> None:
    assert metadata.version("spinetrack") == spinetrack.__version__


def test_pyproject_declares_the_version_dynamic_from_the_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "spinetrack.__version__"}


def test_the_version_is_pep440_and_the_cli_prints_it() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+(?:(?:a|b|rc)\d+)?(?:\.dev\d+)?", spinetrack.__version__)
    result = CliRunner().invoke(app, ["version"])
    assert result.exit_code == 0
    assert result.output.strip() == spinetrack.__version__


def test_no_other_source_file_writes_the_version() -> None:
    pattern = re.compile(re.escape(spinetrack.__version__).join([r"['\"]", r"['\"]"]))
    hits = [p for p in (ROOT / "src" / "spinetrack").rglob("*.py") if pattern.search(p.read_text("utf-8"))]
    assert hits == [ROOT / "src" / "spinetrack" / "__init__.py"]
