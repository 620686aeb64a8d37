"""EQ-5D-5L descriptive system and EQ VAS: structure only (the wording is copyrighted).

PLACEHOLDER while the value-set work lands: ``total`` is ``None``; subscales hold the health
state and the VAS.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spinetrack.instruments.base import AnswerOption, Definition, Instrument, Item, ItemType, Score, ScoreArray

__all__ = ["DIMENSIONS", "EQ5D5L"]

DIMENSIONS = ("MO", "SC", "UA", "PD", "AD")
_LEVELS = tuple(AnswerOption(str(v), v, f"level {v}") for v in range(1, 6))


class Eq5d5l(Instrument):
    definition = Definition(
        code="eq5d5l", title="EQ-5D-5L", version="5L",
        items=(*(Item(d, label, _LEVELS) for d, label in zip(DIMENSIONS, (
            "Mobility", "Self-care", "Usual activities", "Pain / discomfort", "Anxiety / depression"))),
            Item("vas", "Own health today, 0-100", type=ItemType.INTEGER, low=0, high=100, required=False)),
        score_low=-1, score_high=1, score_unit="index", higher_is_better=True,
        reference="EuroQol Research Foundation", licence="Copyrighted; registration with the EuroQol Research Foundation.",
    )

    def _score(self, answers: dict[str, Any], value_set: str | None = None) -> Score:
        self._required(answers, *DIMENSIONS)
        state = "".join(str(answers[d]) for d in DIMENSIONS)
        vas = answers["vas"]
        return Score("eq5d5l", "5L", None, 5 + (vas is not None), 6, True, subscales={"health_state": state, "vas": vas})

    def _score_many(self, cols: dict[str, np.ndarray], n: int, value_set: str | None = None) -> ScoreArray:
        raise NotImplementedError


EQ5D5L = Eq5d5l()
