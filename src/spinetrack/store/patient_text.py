"""Errors a patient reads, in two languages at once.

An error raised to a patient keeps its English text (what the log, the API's JSON and the tests
of the store see) and carries its message id and values, so that the patient pages say it in the
patient's language at display time (:func:`spinetrack.web.errors.patient_message`). The message
id is a ``N_``-marked English sentence with named placeholders (``%(opens)s``), so that a
translation may put the values in another order; a date value is written out in the language
of the page ("December 7, 2026" / "7 de diciembre de 2026"; the English text keeps the store's
"7 December 2026").
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

from spinetrack import i18n
from spinetrack.errors import SpinetrackError
from spinetrack.store.windows import long_date

__all__ = ["message_values", "patient_error"]

E = TypeVar("E", bound=SpinetrackError)


def message_values(params: dict[str, Any]) -> dict[str, str]:
    """The values of a message as the current language writes them (dates in words)."""
    return {k: i18n.format_date(v, "long") if isinstance(v, dt.date) else str(v) for k, v in params.items()}


def patient_error(cls: type[E], msgid: str, **params: Any) -> E:
    """``cls`` with the English text of ``msgid`` (filled from ``params``), carrying ``msgid``
    and ``params`` (attributes of those names) for the patient pages."""
    english = msgid % {k: long_date(v) if isinstance(v, dt.date) else str(v) for k, v in params.items()} \
        if params else msgid
    exc = cls(english)  # the classes a patient is refused with take the message alone
    exc.msgid = msgid  # type: ignore[attr-defined]
    exc.params = params  # type: ignore[attr-defined]
    return exc
