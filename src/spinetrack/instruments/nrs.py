"""Numeric Rating Scale for back pain (``nrs_back``) and leg pain (``nrs_leg``), 0-10.

Reference: the 11-point Numeric Rating Scale of the ICHOM Low Back Pain Standard Set (Clement et
al., Acta Orthop 2015;86(5):523-533): 0 no pain to 10 worst imaginable.
The recall period (spinetrack: the last week) is the site's choice and is part of the label.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spinetrack.instruments.base import AnswerOption, Definition, Display, Instrument, Item, Listing, Score, ScoreArray

__all__ = ["NRS_BACK", "NRS_LEG", "NrsInstrument"]

_OPTIONS = tuple(AnswerOption(str(v), v, "no pain" if v == 0 else "worst pain imaginable" if v == 10 else str(v))
                 for v in range(11))


class NrsInstrument(Instrument):
    """An 11-point pain NRS with one item, ``pain``."""

    def __init__(self, code: str, title: str, label: str, loinc: str | None = None, *, site: str) -> None:
        """``site``: where the pain is, in the names spinetrack gives the scale on its pages
        (``"back"``, ``"leg"``)."""
        self.definition = Definition(
            code=code, title=title, version="1", items=(Item("pain", label, _OPTIONS, loinc=loinc),),
            score_low=0, score_high=10, higher_is_better=False,
            reference="11-point numeric rating scale, 0 no pain to 10 worst imaginable",
            licence="Public domain scale; labels are spinetrack's own.",
            display=Display(
                plain_name=f"{site.capitalize()} pain",
                choice_hint="0 means no pain, 10 the worst pain you can imagine.",
                result_name=f"{site} pain score", result_scale="0 to 10",
                result_trace=f"{site.capitalize()} pain (0-10)", short=f"{site.capitalize()} pain (NRS)",
                axis=f"{site.capitalize()} pain NRS (0–10, lower = better)", axis_range=(0, 10),
                report_short=f"{site} pain NRS"),
            lists=frozenset({Listing.ANALYSED, Listing.TIMELINE, Listing.PATIENT_RESULTS, Listing.VISIT_DEFAULT}),
        )

    def _score(self, answers: dict[str, Any]) -> Score:
        self._required(answers, "pain")
        return Score(self.definition.code, self.definition.version, float(answers["pain"]), 1, 1, True)

    def _score_many(self, cols: dict[str, np.ndarray], n: int) -> ScoreArray:
        v = cols["pain"]
        valid = ~np.isnan(v)
        return ScoreArray(self.definition.code, v.copy(), valid, valid.astype(np.int8))


NRS_BACK = NrsInstrument("nrs_back", "Back pain (NRS 0-10)",
                         "Back pain in the last week, 0 none to 10 worst imaginable", site="back")
NRS_LEG = NrsInstrument("nrs_leg", "Leg pain (NRS 0-10)",
                        "Leg pain in the last week, 0 none to 10 worst imaginable", site="leg")
