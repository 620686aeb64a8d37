"""EQ-5D-5L descriptive system and EQ VAS: structure only (the wording is copyrighted).

The index value from a national value set arrives with the instruments issue; until then
``score`` returns the health-state string (e.g. ``"21111"``) and the VAS, and ``total`` is the
VAS (0-100). Reference: ../shared/STANDARDS.md (EQ-5D-5L).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spinetrack.errors import ValidationError
from spinetrack.instruments.base import AnswerOption, Item, Score, check_item_codes

__all__ = ["DIMENSIONS", "ITEMS", "NAME", "VERSION", "score"]

NAME = "eq5d5l"
VERSION = "5L"
DIMENSIONS = ("MO", "SC", "UA", "PD", "AD")
_LEVELS = tuple(AnswerOption(str(v), v, f"level {v} (demo label)") for v in range(1, 6))
ITEMS = (
    *(Item(d, label, _LEVELS) for d, label in zip(DIMENSIONS, ("Mobility", "Self-care", "Usual activities",
                                                             "Pain / discomfort", "Anxiety / depression"))),
    Item("vas", "Own health today, 0-100 (demo label)", (), 0, 100),
)


def score(answers: Mapping[str, Any]) -> Score:
    check_item_codes(NAME, ITEMS, answers)
    missing = [d for d in DIMENSIONS if answers.get(d) is None]
    vas = answers.get("vas")
    n = 6 - len(missing) - (vas is None)
    if missing:
        raise ValidationError(field=f"{NAME}.{missing[0]}", value=None, allowed="1, 2, 3, 4, 5", reason="every dimension is required")
    state = "".join(str(int(answers[d])) for d in DIMENSIONS)
    return Score(NAME, VERSION, None if vas is None else float(vas), n, 6, True,
                 subscales={"health_state": state, "vas": vas})
