"""The test-suite's own bookkeeping: the modules marked slow in tests/conftest.py exist (a renamed
module would otherwise silently lose its mark and slow ``make test-fast`` down)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import _SLOW_MODULES

TESTS = Path(__file__).parent


def test_every_module_marked_slow_exists() -> None:
    assert sorted(m for m in _SLOW_MODULES if not (TESTS / m).is_file()) == []
