"""Follow-up items: global outcome (``global_outcome``) and return to activity or work
(``return_to_activity``).

``global_outcome`` is the 5-point global treatment outcome item the spine registries collect
(Spine Tango, SweSpine, NORspine, the American Spine Registry / QOD): 1 helped a lot … 5 made
things worse, with an optional 5-point satisfaction item (1 very satisfied … 5 very
dissatisfied). The questions and answers are worded by spinetrack (``own_wording``; English, and
Spanish through the ``questionnaires`` catalog). A "good" outcome is 1 or 2, the dichotomy the registries report.

``return_to_activity`` records whether the patient is back to their usual activity or work:
``returned`` 1 yes / 0 not yet, and when — ``date`` (ISO date) and/or ``days`` after the index
date, or neither when the patient does not remember. The total is ``days`` (time to return)
when given; a return answered with a date only gets its days when the snapshot is made (the
instrument does not know the index date: ``snapshot.export``), and a return answered with
neither has no total — the analysis places it between the last "not yet" answer and this one
(interval-censored, ``analysis.design``). "Not yet" has no total and is a censored observation
for the time-to-event analysis.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spinetrack.errors import ValidationError
from spinetrack.i18n import N_
from spinetrack.instruments.base import (
    AnswerOption,
    Definition,
    Display,
    Instrument,
    Item,
    ItemType,
    Score,
    ScoreArray,
)

__all__ = ["GLOBAL_OUTCOME", "RETURN_TO_ACTIVITY", "GlobalOutcome", "ReturnToActivity"]

_OUTCOME = tuple(AnswerOption(str(v), v, lab) for v, lab in enumerate(
    (N_("It helped a lot"), N_("It helped"), N_("It helped only a little"), N_("It did not help"),
     N_("It made things worse")), start=1))
_SATISFACTION = tuple(AnswerOption(str(v), v, lab) for v, lab in enumerate(
    (N_("Very satisfied"), N_("Somewhat satisfied"), N_("Neither satisfied nor dissatisfied"),
     N_("Somewhat dissatisfied"), N_("Very dissatisfied")), start=1))
_OWN_NOTE = "spinetrack's own wording, not the validated wording of another questionnaire."


class GlobalOutcome(Instrument):
    definition = Definition(
        code="global_outcome", title=N_("Global treatment outcome"), version="1",
        items=(Item("outcome", N_("Overall, how much did the treatment help your back or leg problem?"), _OUTCOME),
               Item("satisfaction", N_("How satisfied are you with the care you had for your back?"), _SATISFACTION,
                    required=False)),
        score_low=1, score_high=5, higher_is_better=False,
        reference="Global treatment outcome item as collected by spine registries (Spine Tango, SweSpine, NORspine)",
        licence="spinetrack's own wording.", labels_note=_OWN_NOTE, own_wording=True,
        display=Display(plain_name=N_("How the treatment helped"), choice_hint=N_("Choose the answer that fits best.")),
    )

    def _score(self, answers: dict[str, Any]) -> Score:
        self._required(answers, "outcome")
        v = answers["outcome"]
        sub = {} if answers["satisfaction"] is None else {"satisfaction": answers["satisfaction"]}
        return Score("global_outcome", "1", float(v), 1 + bool(sub), 2, True, band="good" if v <= 2 else "poor",
                     subscales=sub)

    def _score_many(self, cols: dict[str, np.ndarray], n: int) -> ScoreArray:
        v = cols["outcome"]
        valid = ~np.isnan(v)
        answered = valid.astype(np.int8) + ~np.isnan(cols["satisfaction"])
        return ScoreArray("global_outcome", v.copy(), valid, answered.astype(np.int8),
                          {"good": np.where(valid, v <= 2, False)})


class ReturnToActivity(Instrument):
    definition = Definition(
        code="return_to_activity", title=N_("Return to usual activity or work"), version="1",
        items=(Item("returned", N_("Are you back to your usual activities or work?"),
                    (AnswerOption("0", 0, N_("Not yet")), AnswerOption("1", 1, N_("Yes")))),
               Item("date", N_("If you are back: on what date did you go back?"), required=False, type=ItemType.DATE),
               Item("days", N_("If you are back but do not know the date: about how many days after your treatment "
                               "did you go back?"), required=False, type=ItemType.INTEGER, low=0, high=3650,
                    unit="d")),
        score_low=0, score_high=3650, score_unit="days", higher_is_better=False,
        reference=("Work status / return to activity as collected by spine registries (ICHOM Low Back Pain "
                   "Standard Set, Clement et al., Acta Orthop 2015;86(5):523-533)"),
        licence="spinetrack's own wording.", labels_note=_OWN_NOTE, own_wording=True,
        display=Display(plain_name=N_("Back to your usual activities or work"),
                        choice_hint=N_("Choose the answer that fits best."),
                        skip_hint=N_("You may skip this question if you are not back yet or do not remember.")),
    )

    def _score(self, answers: dict[str, Any]) -> Score:
        self._required(answers, "returned")
        returned, days, date = answers["returned"], answers["days"], answers["date"]
        if returned == 0:
            for code in ("days", "date"):
                if answers[code] is not None:
                    raise ValidationError(field=f"return_to_activity.{code}", value=answers[code], allowed="empty",
                                          reason=N_("the patient has not returned yet"))
            return Score("return_to_activity", "1", None, 1, 3, True, band="not yet", subscales={"returned": False})
        sub: dict[str, Any] = {"returned": True}
        if date is not None:
            sub["date"] = date
        return Score("return_to_activity", "1", None if days is None else float(days),
                     1 + (days is not None) + (date is not None), 3, True, band="returned", subscales=sub)

    def _score_many(self, cols: dict[str, np.ndarray], n: int) -> ScoreArray:
        returned, days = cols["returned"], cols["days"]
        # The vectorised path reads ``days`` (the snapshot turns a date into days from the index
        # date); a 'returned' row without days is valid, with no total (timing unknown).
        valid = ((returned == 0) & np.isnan(days)) | (returned == 1)
        answered = (~np.isnan(returned)).astype(np.int8) + ~np.isnan(days)
        total = np.where(valid & (returned == 1), days, np.nan)
        return ScoreArray("return_to_activity", total, valid, answered.astype(np.int8),
                          {"returned": np.where(valid, returned == 1, False)})


GLOBAL_OUTCOME = GlobalOutcome()
RETURN_TO_ACTIVITY = ReturnToActivity()
