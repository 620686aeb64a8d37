"""Today's date, read in one place.

Every "today" in spinetrack (the default enrolment date, days since the procedure, whether a
questionnaire is due or dated in the future) comes from :func:`today`. It is the system date
unless ``SPINETRACK_TODAY`` holds an ISO date (``2026-11-24``): then that date, so that a demo
can be replayed on a fixed day and a test run that crosses midnight sees one date throughout
(the test suite sets it at start).
"""

from __future__ import annotations

import datetime as dt
import os

__all__ = ["ENV", "today", "utcnow"]

ENV = "SPINETRACK_TODAY"


def today() -> dt.date:
    """The date to treat as today (module docstring); a bad ``SPINETRACK_TODAY`` raises
    :class:`~spinetrack.errors.ConfigurationError` naming the variable and the format."""
    value = os.environ.get(ENV, "").strip()
    if not value:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        from spinetrack.errors import ConfigurationError

        raise ConfigurationError(f"{ENV} must be a date as YYYY-MM-DD, not {value!r}") from exc


def utcnow() -> dt.datetime:
    """The current time in UTC without its offset (naive), as the store keeps every timestamp."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
