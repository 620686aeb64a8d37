"""Follow-up items: global outcome (``global_outcome``) and return to activity
(``return_to_activity``).

``global_outcome`` is a 5-point global treatment outcome item (1 helped a lot … 5 made things
worse), as collected by the spine registries (STANDARDS.md, Registries and timepoints); the
labels are our own. ``return_to_activity`` records whether the patient is back to their usual
activity or work (``returned``: 1 yes / 0 not yet) and, if yes, after how many days
(``days``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spinetrack.errors import ValidationError
from spinetrack.instruments.base import AnswerOption, Item, Score, check_item_codes

__all__ = ["GLOBAL_OUTCOME", "RETURN_TO_ACTIVITY"]


class GlobalOutcome:
    NAME = "global_outcome"
    VERSION = "1"
    ITEMS = (Item("outcome", "Overall, how did the treatment help? (demo label)", tuple(
        AnswerOption(str(v), v, lab) for v, lab in enumerate(
            ("helped a lot", "helped", "helped only a little", "did not help", "made things worse"), start=1))),)

    def score(self, answers: Mapping[str, Any]) -> Score:
        check_item_codes(self.NAME, self.ITEMS, answers)
        v = answers.get("outcome")
        if v is None:
            raise ValidationError(field=f"{self.NAME}.outcome", value=None, allowed="1, 2, 3, 4, 5", reason="required")
        return Score(self.NAME, self.VERSION, float(v), 1, 1, True, band="good" if v <= 2 else "poor")


class ReturnToActivity:
    NAME = "return_to_activity"
    VERSION = "1"
    ITEMS = (
        Item("returned", "Back to usual activity or work? (1 yes, 0 not yet)", (AnswerOption("0", 0, "not yet"), AnswerOption("1", 1, "yes"))),
        Item("days", "Days after treatment", (), 0, 3650, required=False),
    )

    def score(self, answers: Mapping[str, Any]) -> Score:
        check_item_codes(self.NAME, self.ITEMS, answers)
        returned, days = answers.get("returned"), answers.get("days")
        if returned is None:
            raise ValidationError(field=f"{self.NAME}.returned", value=None, allowed="0, 1", reason="required")
        if returned == 0 and days is not None:
            raise ValidationError(field=f"{self.NAME}.days", value=days, allowed="empty", reason="not yet returned")
        if returned == 1 and days is None:
            raise ValidationError(field=f"{self.NAME}.days", value=None, allowed="0 to 3650", reason="required when returned")
        return Score(self.NAME, self.VERSION, None if days is None else float(days), 1 + (days is not None), 2, True,
                     subscales={"returned": bool(returned)})


GLOBAL_OUTCOME = GlobalOutcome()
RETURN_TO_ACTIVITY = ReturnToActivity()
