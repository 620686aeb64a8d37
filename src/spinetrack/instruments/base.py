"""Common types of the PROM instruments: items, answer options and the score result.

This foundation covers what the store needs to score on write (ODI, NRS, EQ-5D-5L
descriptive system and VAS, global outcome, return to activity); the instruments issue adds
the remaining instruments, EQ-5D-5L index values, FHIR and vectorised scoring.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from spinetrack.errors import ValidationError

__all__ = ["AnswerOption", "Instrument", "Item", "Score", "check_item_codes"]


@dataclass(frozen=True, slots=True)
class AnswerOption:
    code: str
    value: int
    label: str


@dataclass(frozen=True, slots=True)
class Item:
    """One item. ``options`` empty means a numeric answer in ``[low, high]``."""

    code: str
    label: str
    options: tuple[AnswerOption, ...] = ()
    low: float | None = None
    high: float | None = None
    required: bool = True

    def allowed_text(self) -> str:
        if self.options:
            return ", ".join(str(o.value) for o in self.options)
        return f"{self.low:g} to {self.high:g}"


@dataclass(frozen=True, slots=True)
class Score:
    """The score of one response.

    ``total`` is the instrument's main score on its own scale (``None`` when invalid or when
    the instrument has no single total); ``subscales`` holds other named values.
    """

    instrument: str
    version: str
    total: float | None
    n_answered: int
    n_items: int
    valid: bool
    reason: str | None = None
    band: str | None = None
    subscales: Mapping[str, Any] = field(default_factory=dict)

    def detail(self) -> dict[str, Any] | None:
        """The compact detail stored beside ``total``: only what the total does not say.

        Holds ``n_answered`` when items were skipped, ``band`` and ``reason`` when set, and the
        subscales; ``None`` when there is nothing to add.
        """
        out: dict[str, Any] = {}
        if self.n_answered < self.n_items:
            out["n_answered"] = self.n_answered
        if self.band is not None:
            out["band"] = self.band
        if self.reason is not None:
            out["reason"] = self.reason
        out.update(self.subscales)
        return out or None

    def as_dict(self) -> dict[str, Any]:
        return {
            "instrument": self.instrument,
            "version": self.version,
            "total": self.total,
            "n_answered": self.n_answered,
            "n_items": self.n_items,
            "valid": self.valid,
            "reason": self.reason,
            "band": self.band,
            "subscales": dict(self.subscales),
        }


class Instrument(Protocol):
    NAME: str
    VERSION: str
    ITEMS: tuple[Item, ...]

    def score(self, answers: Mapping[str, Any]) -> Score: ...


def check_item_codes(instrument: str, items: tuple[Item, ...], answers: Mapping[str, Any]) -> None:
    """Refuse unknown item codes and out-of-range values, naming the item and allowed values."""
    by_code = {it.code: it for it in items}
    for code, value in answers.items():
        item = by_code.get(code)
        if item is None:
            raise ValidationError(field=f"{instrument}.{code}", value=value, allowed=list(by_code), reason="unknown item")
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationError(field=f"{instrument}.{code}", value=value, allowed=item.allowed_text())
        if item.options:
            if value not in {o.value for o in item.options}:
                raise ValidationError(field=f"{instrument}.{code}", value=value, allowed=item.allowed_text())
        elif not (item.low <= value <= item.high):  # type: ignore[operator]
            raise ValidationError(field=f"{instrument}.{code}", value=value, allowed=item.allowed_text())
