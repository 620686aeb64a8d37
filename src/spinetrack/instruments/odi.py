"""Oswestry Disability Index 2.1a: structure and scoring only (the wording is copyrighted).

References
----------
Fairbank JC, Pynsent PB. The Oswestry Disability Index. Spine 2000;25(22):2940-52.
Score (%) = sum of answered section scores / (5 × answered sections) × 100.

Missing sections: STANDARDS.md leaves the limit to us. spinetrack accepts up to
``MAX_MISSING = 2`` unanswered sections (the manual's worked example covers one); with more the
response is stored but flagged invalid and has no total. Pass ``max_missing`` to change it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spinetrack.instruments.base import AnswerOption, Item, Score, check_item_codes

__all__ = ["BANDS", "ITEMS", "MAX_MISSING", "NAME", "VERSION", "band", "score"]

NAME = "odi"
VERSION = "2.1a"
MAX_MISSING = 2
ITEM_CODES = (
    "pain_intensity", "personal_care", "lifting", "walking", "sitting", "standing", "sleeping",
    "sex_life", "social_life", "travelling",
)
_OPTIONS = tuple(AnswerOption(str(v), v, f"statement {v + 1} of 6 (demo label, not the validated wording)") for v in range(6))
ITEMS = tuple(Item(code, code.replace("_", " ").capitalize(), _OPTIONS, required=False) for code in ITEM_CODES)
BANDS = ((20, "minimal disability"), (40, "moderate disability"), (60, "severe disability"), (80, "crippled"), (100, "bed-bound"))


def band(total: float) -> str:
    """Disability band of an ODI percentage (Fairbank & Pynsent 2000)."""
    for upper, name in BANDS:
        if total <= upper:
            return name
    raise ValueError(total)


def score(answers: Mapping[str, Any], *, max_missing: int = MAX_MISSING) -> Score:
    """Score an ODI response.

    Examples
    --------
    >>> a = dict.fromkeys(ITEM_CODES, 2); a["sex_life"] = None; a["pain_intensity"] = 0
    >>> round(score(a).total, 1)  # 16 / 45 × 100
    35.6
    """
    check_item_codes(NAME, ITEMS, answers)
    values = [answers.get(code) for code in ITEM_CODES]
    answered = [int(v) for v in values if v is not None]
    n = len(answered)
    if 10 - n > max_missing:
        return Score(NAME, VERSION, None, n, 10, False, f"{10 - n} sections unanswered; at most {max_missing} allowed")
    total = sum(answered) / (5 * n) * 100
    return Score(NAME, VERSION, total, n, 10, True, band=band(total))
