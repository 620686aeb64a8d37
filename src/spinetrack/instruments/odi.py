"""Oswestry Disability Index 2.1a: structure and scoring only (the wording is copyrighted and
licensed through its copyright holder; spinetrack ships neutral labels of its own).

References
----------
Fairbank JC, Pynsent PB. The Oswestry Disability Index. Spine 2000;25(22):2940-52.
Score (%) = sum of answered section scores / (5 × answered sections) × 100; each section is
scored 0 (first statement) to 5 (last statement). Bands 0–20 minimal disability, 21–40
moderate, 41–60 severe, 61–80 crippled, 81–100 bed-bound.

Missing sections: the limit is spinetrack's choice. spinetrack accepts up to
``MAX_MISSING = 2`` unanswered sections (the manual's worked example covers one); with more the
response is stored but flagged invalid and has no total. Pass ``max_missing`` to change it.
Two statements marked in one section on paper: enter the higher one (the manual's rule); the
app allows only one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spinetrack.i18n import N_
from spinetrack.instruments.base import (
    AnswerOption,
    Definition,
    Display,
    Instrument,
    Item,
    Listing,
    Score,
    ScoreArray,
)

__all__ = ["BANDS", "ITEM_CODES", "MAX_MISSING", "ODI", "band"]

MAX_MISSING = 2
ITEM_CODES = (
    "pain_intensity", "personal_care", "lifting", "walking", "sitting", "standing", "sleeping",
    "sex_life", "social_life", "travelling",
)
_LABELS = {
    "pain_intensity": N_("Pain intensity"), "personal_care": N_("Personal care"), "lifting": N_("Lifting"),
    "walking": N_("Walking"), "sitting": N_("Sitting"), "standing": N_("Standing"), "sleeping": N_("Sleeping"),
    "sex_life": N_("Sex life (if applicable)"), "social_life": N_("Social life"), "travelling": N_("Travelling"),
}
# spinetrack's numbered neutral labels, statement 1 (score 0) to statement 6 (score 5).
_STATEMENTS = (N_("Statement 1 of 6 (least limitation)"), N_("Statement 2 of 6 (more limitation)"),
               N_("Statement 3 of 6 (more limitation)"), N_("Statement 4 of 6 (more limitation)"),
               N_("Statement 5 of 6 (more limitation)"), N_("Statement 6 of 6 (most limitation)"))
_OPTIONS = tuple(AnswerOption(str(v), v, label) for v, label in enumerate(_STATEMENTS))
# Upper bound (inclusive, in %) and name of each band, Fairbank & Pynsent 2000.
BANDS = ((20, "minimal disability"), (40, "moderate disability"), (60, "severe disability"), (80, "crippled"),
         (100, "bed-bound"))

assert MAX_MISSING == 2, "the skip hint below says 2"
DEFINITION = Definition(
    code="odi", title=N_("Oswestry Disability Index"), version="2.1a",
    items=tuple(Item(c, _LABELS[c], _OPTIONS, required=False) for c in ITEM_CODES),
    score_low=0, score_high=100, score_unit="%", higher_is_better=False,
    reference="Fairbank JC, Pynsent PB. Spine 2000;25(22):2940-52",
    licence="Copyrighted; wording licensed through the copyright holder (Mapi Research Trust). "
            "spinetrack ships structure and scoring only.",
    display=Display(
        plain_name=N_("How your back affects daily life"),
        choice_hint=N_("Choose the one statement that fits you best today: statement 1 means the least limitation, "
                       "statement 6 the most."),
        skip_hint=N_("You may skip this question if it does not apply to you (at most 2 of the 10 may be "
                     "skipped)."),
        result_name=N_("back-related disability score"), result_scale=N_("0 to 100"),
        result_trace=N_("Disability (0-100)"),
        short="ODI", axis="ODI % (0–100, lower = better)", axis_range=(0, 100), report_short="ODI"),
    lists=frozenset({Listing.ANALYSED, Listing.TIMELINE, Listing.PATIENT_RESULTS, Listing.VISIT_DEFAULT}),
)


def band(total: float) -> str:
    """Disability band of an ODI percentage (Fairbank & Pynsent 2000).

    Bands are whole-number ranges; a fractional total (e.g. 20.5 with a missing section)
    belongs to the band its value rounds down into (> 20 is moderate).
    """
    for upper, name in BANDS:
        if total <= upper:
            return name
    raise ValueError(total)


class Odi(Instrument):
    definition = DEFINITION

    def _score(self, answers: dict[str, Any], *, max_missing: int = MAX_MISSING) -> Score:
        """Examples
        --------
        >>> a = dict.fromkeys(ITEM_CODES, 2); a["sex_life"] = None; a["pain_intensity"] = 0
        >>> round(ODI.score(a).total, 1)  # 16 / 45 × 100, the manual's example
        35.6
        """
        answered = [v for v in (answers[c] for c in ITEM_CODES) if v is not None]
        n = len(answered)
        if 10 - n > max_missing:
            return Score("odi", DEFINITION.version, None, n, 10, False,
                         f"{10 - n} sections unanswered; at most {max_missing} allowed")
        total = sum(answered) / (5 * n) * 100
        return Score("odi", DEFINITION.version, total, n, 10, True, band=band(total))

    def _score_many(self, cols: dict[str, np.ndarray], n: int, *, max_missing: int = MAX_MISSING) -> ScoreArray:
        # Column by column: no (n, 10) copy, two small accumulators.
        sums = np.zeros(n)
        answered = np.zeros(n, dtype=np.int8)
        for c in ITEM_CODES:
            col = cols[c]
            missing = np.isnan(col)
            answered += ~missing
            sums += np.where(missing, 0.0, col)
        valid = (10 - answered) <= max_missing
        with np.errstate(invalid="ignore", divide="ignore"):
            total = np.where(valid, sums / (5.0 * answered) * 100.0, np.nan)
        return ScoreArray("odi", total, valid, answered.astype(np.int8))


ODI = Odi()
