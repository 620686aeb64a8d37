"""Numeric Rating Scale for back pain (``nrs_back``) and leg pain (``nrs_leg``), 0-10.

Reference: the 11-point Numeric Rating Scale of the ICHOM Low Back Pain Standard Set (Clement et
al., Acta Orthop 2015;86(5):523-533): 0 no pain to 10 worst imaginable.
The recall period is the last week, as the core outcome set for low back pain trials recommends
(Chiarotto A et al., Pain 2018;159(3):481-495: NRS, 1-week recall). The question and its two
anchors are spinetrack's own words (``own_wording``), in English and, through the
``questionnaires`` catalog, Spanish; the numbers 1 to 9 carry no words.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spinetrack.i18n import N_
from spinetrack.instruments.base import AnswerOption, Definition, Display, Instrument, Item, Listing, Score, ScoreArray

__all__ = ["NRS_BACK", "NRS_LEG", "NrsInstrument"]

_NO_PAIN = N_("no pain")
_WORST = N_("the worst pain you can imagine")
_OPTIONS = tuple(AnswerOption(str(v), v, _NO_PAIN if v == 0 else _WORST if v == 10 else str(v)) for v in range(11))


class NrsInstrument(Instrument):
    """An 11-point pain NRS with one item, ``pain``."""

    def __init__(self, code: str, title: str, label: str, display: Display, loinc: str | None = None) -> None:
        self.definition = Definition(
            code=code, title=title, version="1", items=(Item("pain", label, _OPTIONS, loinc=loinc),),
            score_low=0, score_high=10, higher_is_better=False,
            reference=("11-point numeric rating scale, 0 no pain to 10 worst imaginable, 1-week recall (ICHOM Low "
                       "Back Pain Standard Set, Clement et al., Acta Orthop 2015;86(5):523-533)"),
            licence="Public domain scale; spinetrack's own wording.",
            labels_note="spinetrack's own wording of the scale, not the validated wording of another questionnaire.",
            display=display,
            lists=frozenset({Listing.ANALYSED, Listing.TIMELINE, Listing.PATIENT_RESULTS, Listing.VISIT_DEFAULT}),
            own_wording=True,
        )

    def _score(self, answers: dict[str, Any]) -> Score:
        self._required(answers, "pain")
        return Score(self.definition.code, self.definition.version, float(answers["pain"]), 1, 1, True)

    def _score_many(self, cols: dict[str, np.ndarray], n: int) -> ScoreArray:
        v = cols["pain"]
        valid = ~np.isnan(v)
        return ScoreArray(self.definition.code, v.copy(), valid, valid.astype(np.int8))


_HINT = N_("0 means no pain, 10 the worst pain you can imagine.")
NRS_BACK = NrsInstrument(
    "nrs_back", N_("Back pain (NRS 0-10)"), N_("In the last week, how bad was your back pain?"),
    Display(plain_name=N_("Back pain"), choice_hint=_HINT, result_name=N_("back pain score"),
            result_scale=N_("0 to 10"), result_trace=N_("Back pain (0-10)"), short="Back pain (NRS)",
            axis="Back pain NRS (0–10, lower = better)", axis_range=(0, 10), report_short="back pain NRS"))
NRS_LEG = NrsInstrument(
    "nrs_leg", N_("Leg pain (NRS 0-10)"), N_("In the last week, how bad was the pain in your leg or legs?"),
    Display(plain_name=N_("Leg pain"), choice_hint=_HINT, result_name=N_("leg pain score"),
            result_scale=N_("0 to 10"), result_trace=N_("Leg pain (0-10)"), short="Leg pain (NRS)",
            axis="Leg pain NRS (0–10, lower = better)", axis_range=(0, 10), report_short="leg pain NRS"))
