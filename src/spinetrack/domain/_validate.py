"""Small validation helpers shared by the domain modules (private)."""

from __future__ import annotations

import enum
import math
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
