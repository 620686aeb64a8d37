"""Roland–Morris Disability Questionnaire (RMDQ), 24 items: structure and scoring.

Reference: Roland M, Fairbank J. The Roland-Morris Disability Questionnaire and the Oswestry
Disability Questionnaire. Spine 2000;25(24):3115-24; STANDARDS.md: 24 yes/no statements, score
= number of "yes" (0–24), higher = more disability. The 1998 Spine special-issue version states
that no permission is needed in its published form; spinetrack still ships neutral labels
("Statement 1" … "Statement 24") and lets a site load the published wording as a wording pack.

Missing items (spinetrack's choice, STANDARDS.md gives no rule): on the published paper form a
patient ticks the statements that apply, so an unticked statement is a "no" — enter it as 0.
An electronic response must answer every item; with any item unanswered the response is stored
but flagged invalid, without a total (no proration rule is published in our sources).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spinetrack.instruments.base import AnswerOption, Definition, Instrument, Item, Score, ScoreArray

__all__ = ["ITEM_CODES", "RMDQ"]

ITEM_CODES = tuple(f"s{i:02d}" for i in range(1, 25))
_YES_NO = (AnswerOption("no", 0, "no"), AnswerOption("yes", 1, "yes"))


class Rmdq(Instrument):
    definition = Definition(
        code="rmdq", title="Roland-Morris Disability Questionnaire", version="24",
        items=tuple(Item(c, f"Statement {i} applies to me today", _YES_NO, required=True)
                    for i, c in enumerate(ITEM_CODES, start=1)),
        score_low=0, score_high=24, higher_is_better=False,
        reference="Roland M, Morris R. Spine 1983;8(2):141-4; Roland M, Fairbank J. Spine 2000;25(24):3115-24",
        licence="The 1998 Spine special-issue version may be used without permission in its published form; "
                "spinetrack ships neutral labels only.",
    )

    def _score(self, answers: dict[str, Any]) -> Score:
        given = [answers[c] for c in ITEM_CODES if answers[c] is not None]
        n = len(given)
        if n < 24:
            return Score("rmdq", "24", None, n, 24, False, f"{24 - n} items unanswered; all 24 are needed")
        return Score("rmdq", "24", float(sum(given)), 24, 24, True)

    def _score_many(self, cols: dict[str, np.ndarray], n: int) -> ScoreArray:
        m = np.column_stack([cols[c] for c in ITEM_CODES]) if n else np.empty((0, 24))
        answered = (~np.isnan(m)).sum(axis=1)
        valid = answered == 24
        total = np.where(valid, np.nansum(m, axis=1), np.nan)
        return ScoreArray("rmdq", total, valid, answered.astype(np.int8))


RMDQ = Rmdq()
