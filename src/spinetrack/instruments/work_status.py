"""Work status (``work_status``): what the patient mainly does now, one answer.

The ICHOM Low Back Pain Standard Set (Clement RC et al., Acta Orthop 2015;86(5):523-533) asks for
the patient's work status at baseline and at every follow-up. The wording and answer options of
ICHOM's own question were not available to the project (its Reference Guide / Data Dictionary
was not retrieved), so the question here is worded by spinetrack and its categories are the
ones spinetrack already records for a patient at baseline, :class:`spinetrack.domain.pathway.WorkStatus`
(employed, sick leave, unemployed, retired, student, homemaker, disability pension): the baseline
record and every follow-up answer use one vocabulary, and an answer maps onto the case-mix field
``patients.work_status`` without translation. The option codes are the enum's values; the option
values 1-7 follow the enum's order and are codes, not a scale.

Scoring: categorical, so there is **no total** (``Score.total`` is ``None``); the category's code
is the ``band`` (stored in the response's score detail), and ``subscales["working"]`` says
whether the patient is in work (``employed``). ``score_low``/``score_high`` give the range of the
option values only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spinetrack.domain.pathway import WorkStatus
from spinetrack.i18n import N_
from spinetrack.instruments.base import AnswerOption, Definition, Display, Instrument, Item, Listing, Score, ScoreArray

__all__ = ["WORK_STATUS", "WorkStatusInstrument"]

# spinetrack's own plain labels for the categories of domain.pathway.WorkStatus, in its order.
_LABELS: dict[WorkStatus, str] = {
    WorkStatus.EMPLOYED: N_("Working (employed or self-employed), full or part time"),
    WorkStatus.SICK_LEAVE: N_("Off work on sick leave"),
    WorkStatus.UNEMPLOYED: N_("Out of work and looking for work"),
    WorkStatus.RETIRED: N_("Retired"),
    WorkStatus.STUDENT: N_("Studying"),
    WorkStatus.HOMEMAKER: N_("Looking after the home or family"),
    WorkStatus.DISABILITY_PENSION: N_("Not working because of long-term illness or disability (disability pension)"),
}
OPTIONS: tuple[AnswerOption, ...] = tuple(
    AnswerOption(ws.value, v, _LABELS[ws]) for v, ws in enumerate(WorkStatus, start=1))
_BY_VALUE: dict[int, str] = {o.value: o.code for o in OPTIONS}
_EMPLOYED = next(o.value for o in OPTIONS if o.code == WorkStatus.EMPLOYED.value)


class WorkStatusInstrument(Instrument):
    """One required choice item, ``status``; no total, the category as the band."""

    definition = Definition(
        code="work_status", title=N_("Work status"), version="1",
        items=(Item("status", N_("Which best describes what you mainly do now?"), OPTIONS),),
        score_low=1, score_high=len(OPTIONS), score_unit="category", higher_is_better=False,
        reference=("Work status, a patient-reported item of the ICHOM Low Back Pain Standard Set (Clement RC et al., "
                   "Acta Orthop 2015;86(5):523-533); categories: spinetrack's WorkStatus (domain.pathway). "
                   "Categorical: no total score."),
        licence="spinetrack's own wording.",
        labels_note="spinetrack's own wording, not the validated wording of ICHOM's question (not available to us).",
        display=Display(plain_name=N_("Your work"), choice_hint=N_("Choose the one that fits best.")),
        lists=frozenset({Listing.VISIT_DEFAULT}),
        own_wording=True,
    )

    def _score(self, answers: dict[str, Any]) -> Score:
        self._required(answers, "status")
        code = _BY_VALUE[answers["status"]]
        return Score("work_status", "1", None, 1, 1, True, band=code,
                     subscales={"working": code == WorkStatus.EMPLOYED.value})

    def _score_many(self, cols: dict[str, np.ndarray], n: int) -> ScoreArray:
        v = cols["status"]
        valid = ~np.isnan(v)
        return ScoreArray("work_status", np.full(n, np.nan), valid, valid.astype(np.int8),
                          {"working": np.where(valid, v == _EMPLOYED, False)})


WORK_STATUS = WorkStatusInstrument()
