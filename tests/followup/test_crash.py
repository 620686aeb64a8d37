"""kill -9 of ``spinetrack followup run`` mid-batch against a real SMTP server (aiosmtpd on
127.0.0.1), five times, then a clean run: every due message is delivered (none never sent), and
the duplicates are at most the messages in flight at the kills (at-least-once delivery). The
procedure is bench/bench_followup.py's ``crash``, loaded from there, on a smaller cohort."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("spinetrack_bench_followup", ROOT / "bench" / "bench_followup.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench() -> Any:
    return _bench()


def test_kill_9_mid_batch_loses_nothing_and_duplicates_only_what_was_in_flight(bench: Any, tmp_path: Path) -> None:
    import datetime as dt

    controller, sink, smtp_url = bench.start_smtp()
    try:
        result = bench.crash(tmp_path, smtp_url, sink, due=600, kills=5, today=dt.date(2026, 6, 1), seed=3)
    finally:
        controller.stop()
    assert result["kills"] >= 3, result["rounds"]  # the runs were killed mid-batch, not finished first
    assert result["never_sent"] == 0
    assert result["delivered"] == 600
    assert result["duplicated"] <= result["in_flight_at_kills"]
    assert result["outbox"] == {"sent": 600}
    assert result["visits_open"] == result["invitations"] == 600  # one invitation per episode x timepoint
    assert result["ok"]
