"""Small validation helpers shared by the domain modules (private)."""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import math
from collections.abc import Mapping
from typing import Any, TypeVar

from spinetrack.errors import ValidationError

E = TypeVar("E", bound=enum.Enum)


def coerce_enum(enum_cls: type[E], value: Any, field: str) -> E:
    """Return ``enum_cls(value)`` or raise a :class:`ValidationError` listing the allowed values."""
    if isinstance(value, enum_cls):
        return value
    try:
        return enum_cls(value)
    except ValueError:
        raise ValidationError(
            field=field, value=value, allowed=[m.value for m in enum_cls]
        ) from None


def check_number(
    value: Any,
    field: str,
    *,
    low: float | None = None,
    high: float | None = None,
    integer: bool = False,
    optional: bool = False,
    unit: str = "",
) -> Any:
    """Check that ``value`` is a finite number in ``[low, high]``; return it unchanged."""
    if value is None:
        if optional:
            return None
        raise ValidationError(field=field, value=value, allowed=_range_text(low, high, unit), reason="required")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(field=field, value=value, allowed=_range_text(low, high, unit), reason="not a number")
    try:
        as_float = float(value)
    except OverflowError:  # an integer beyond float range, e.g. 10**400 from JSON
        raise ValidationError(field=field, value=value, allowed=_range_text(low, high, unit),
                              reason="number too large") from None
    if integer and not as_float.is_integer():
        raise ValidationError(field=field, value=value, allowed=_range_text(low, high, unit) + " (whole numbers)")
    if not math.isfinite(as_float) or (low is not None and value < low) or (high is not None and value > high):
        raise ValidationError(field=field, value=value, allowed=_range_text(low, high, unit))
    return value


def _range_text(low: float | None, high: float | None, unit: str) -> str:
    suffix = f" {unit}" if unit else ""
    if low is not None and high is not None:
        return f"{_fmt(low)} to {_fmt(high)}{suffix}"
    if low is not None:
        return f"at least {_fmt(low)}{suffix}"
    if high is not None:
        return f"at most {_fmt(high)}{suffix}"
    return "a finite number"


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


# --------------------------------------------------------------------------------------------
# text and dates: the one check every write goes through, whether it came from a form or the API

EARLIEST_DATE = dt.date(1900, 1, 1)
"""The earliest date spinetrack accepts anywhere (a data-entry limit, not a clinical one)."""
PLANNED_DAYS = 730
"""How far ahead a planned date (an index date) may lie: two years."""


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or None: a NUL character (PostgreSQL refuses it,
    SQLite would store it) or a lone surrogate (not a Unicode scalar value, so not encodable as
    UTF-8; JSON's ``"\\ud800"`` escape produces one)."""
    if "\x00" in value:
        return "text without NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "valid Unicode text (no lone surrogate code points such as \\ud800)"
    return None


def check_text_tree(value: Any, field: str) -> None:
    """Refuse a NUL character or a lone surrogate anywhere in ``value`` (a string, or the keys
    and values of nested mappings and lists), naming the field, e.g. ``identity.full_name``."""
    if isinstance(value, str):
        problem = text_problem(value)
        if problem is not None:
            shown = value.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")
            raise ValidationError(field=field, value=shown.replace("\x00", "\\0")[:80], allowed=problem)
    elif isinstance(value, Mapping):
        for k, v in value.items():
            check_text_tree(str(k), field)
            check_text_tree(v, f"{field}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            check_text_tree(v, f"{field}[{i}]")


def check_text(value: Any, field: str, *, max_length: int, optional: bool = True) -> str | None:
    """``value`` as text of at most ``max_length`` characters (stripped; empty is None when
    ``optional``), valid Unicode and without NUL characters; raises naming the field."""
    if value is None and optional:
        return None
    allowed = f"text up to {max_length} characters"
    if not isinstance(value, str):
        raise ValidationError(field=field, value=value, allowed=allowed, reason="not text")
    check_text_tree(value, field)
    if len(value) > max_length:
        raise ValidationError(field=field, value=value[:40] + "…", allowed=allowed,
                              reason=f"{len(value)} characters")
    return value


def check_date(value: Any, field: str, *, latest: dt.date, optional: bool = False,
               earliest: dt.date = EARLIEST_DATE, latest_text: str = "") -> dt.date | None:
    """A date (``YYYY-MM-DD`` text, or a date) between ``earliest`` and ``latest``, both
    included; the message states the range (``latest_text`` says what ``latest`` means,
    e.g. "today")."""
    if value is None and optional:
        return None
    allowed = f"a date from {earliest.isoformat()} to {latest.isoformat()}" + (
        f" ({latest_text})" if latest_text else "")
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = dt.date.fromisoformat(value.strip())
    if not isinstance(value, dt.date):
        check_text_tree(value, field)
        raise ValidationError(field=field, value=value if not isinstance(value, str) else value[:40],
                              allowed=allowed + " as YYYY-MM-DD",
                              reason="required" if value is None else None)
    if not earliest <= value <= latest:
        raise ValidationError(field=field, value=value.isoformat(), allowed=allowed)
    return value
