"""Numeric Rating Scale for back pain (``nrs_back``) and leg pain (``nrs_leg``), 0-10.

Reference: ../shared/STANDARDS.md (Numeric Rating Scale: 0 no pain to 10 worst imaginable).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spinetrack.errors import ValidationError
from spinetrack.instruments.base import AnswerOption, Item, Score, check_item_codes

__all__ = ["NrsInstrument", "NRS_BACK", "NRS_LEG"]

_OPTIONS = tuple(AnswerOption(str(v), v, str(v)) for v in range(11))


class NrsInstrument:
    """An 11-point pain NRS with one item, ``pain``."""

    VERSION = "1"

    def __init__(self, name: str, label: str) -> None:
        self.NAME = name
        self.ITEMS = (Item("pain", label, _OPTIONS),)

    def score(self, answers: Mapping[str, Any]) -> Score:
        check_item_codes(self.NAME, self.ITEMS, answers)
        value = answers.get("pain")
        if value is None:
            raise ValidationError(field=f"{self.NAME}.pain", value=None, allowed=self.ITEMS[0].allowed_text(), reason="required")
        return Score(self.NAME, self.VERSION, float(value), 1, 1, True)


NRS_BACK = NrsInstrument("nrs_back", "Back pain, last week (0 none - 10 worst imaginable)")
NRS_LEG = NrsInstrument("nrs_leg", "Leg pain, last week (0 none - 10 worst imaginable)")
