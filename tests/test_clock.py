"""spinetrack.clock: one "today" for the whole application, fixed by SPINETRACK_TODAY when set."""

from __future__ import annotations

import datetime as dt
import types

import pytest

from spinetrack import clock
from spinetrack.errors import ConfigurationError


def test_today_is_the_configured_date_or_the_system_date(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(clock.ENV, "2026-01-02")
    assert clock.today() == dt.date(2026, 1, 2)
    monkeypatch.delenv(clock.ENV)

    class SystemDate(dt.date):  # the system's date, fixed, so that the test does not race midnight
        @classmethod
        def today(cls) -> SystemDate:
            return cls(2031, 7, 15)

    monkeypatch.setattr(clock, "dt", types.SimpleNamespace(date=SystemDate))
    assert clock.today() == dt.date(2031, 7, 15)


def test_a_bad_date_names_the_variable_and_the_format(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(clock.ENV, "26/11/2026")
    with pytest.raises(ConfigurationError, match=r"SPINETRACK_TODAY must be a date as YYYY-MM-DD"):
        clock.today()


def test_the_test_run_has_one_today(monkeypatch: pytest.MonkeyPatch) -> None:
    """tests/conftest.py fixes the date at the start of the run, so a run that crosses midnight
    sees one date in the tests and in the app."""
    import os

    assert os.environ.get(clock.ENV) == clock.today().isoformat()
