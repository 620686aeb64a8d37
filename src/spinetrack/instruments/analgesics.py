"""Analgesic use (``analgesics``): how often the patient took medicine for their back or leg pain
in the last week, and whether any of it was an opioid or a medicine for nerve pain.

The ICHOM Low Back Pain Standard Set (Clement RC et al., Acta Orthop 2015;86(5):523-533) asks
about analgesic use at baseline and at every follow-up. ICHOM's own question and answer options
were not available to the project (its Reference Guide / Data Dictionary was not retrieved), so
the questions and categories are spinetrack's own (decided and documented here and in
docs/ichom.md):

``frequency``   (required) how often, in the last week: 0 not at all, 1 on some days, 2 every day.
                The recall period is the one spinetrack uses for the pain scales (the last week).
``opioid``      (optional) was any of it an opioid painkiller: 0 no, 1 yes, 2 not sure. Opioid use
                is asked separately because the published comparisons report it as an outcome
                (e.g. the share of patients still on opioids 3 months after MIS or open TLIF,
                Hockley A et al., Global Spine J 2019;9(6):624-629, doi:10.1177/2192568218822320).
``nerve_pain``  (optional) was any of it a medicine taken for nerve pain: 0 no, 1 yes, 2 not sure.

The labels name no medicines: which medicines belong to each class is not in the project's
clinical sources, so a site that wants examples (its local brand names) adds them with a wording
pack (:mod:`spinetrack.instruments.wording`). "Not sure" is an answer, not a missing value.

Scoring: categorical, so there is **no total** (``Score.total`` is ``None``). The ``band`` is the
frequency's code (``none``, ``some_days``, ``daily``); ``subscales`` carry ``any_use``
(frequency ≥ 1) and, when answered yes or no, ``opioid`` and ``nerve_pain`` as booleans ("not
sure" is left out). A response that says "not at all" and then "yes" to an opioid or a
nerve-pain medicine contradicts itself and is refused, naming the item.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spinetrack.errors import ValidationError
from spinetrack.i18n import N_
from spinetrack.instruments.base import AnswerOption, Definition, Display, Instrument, Item, Listing, Score, ScoreArray

__all__ = ["ANALGESICS", "AnalgesicsInstrument"]

FREQUENCY: tuple[AnswerOption, ...] = (
    AnswerOption("none", 0, N_("Not at all")),
    AnswerOption("some_days", 1, N_("On some days")),
    AnswerOption("daily", 2, N_("Every day")),
)
YES_NO_UNSURE: tuple[AnswerOption, ...] = (
    AnswerOption("no", 0, N_("No")), AnswerOption("yes", 1, N_("Yes")), AnswerOption("unsure", 2, N_("Not sure")))
_FREQ_CODE = {o.value: o.code for o in FREQUENCY}
_CLASSES = ("opioid", "nerve_pain")


class AnalgesicsInstrument(Instrument):
    definition = Definition(
        code="analgesics", title=N_("Pain medicine use"), version="1",
        items=(
            Item("frequency", N_("In the last week, how often did you take medicine for your back or leg pain?"),
                 FREQUENCY),
            Item("opioid", N_("Was any of it an opioid painkiller? The medicine's leaflet or your pharmacist can "
                              "tell you."), YES_NO_UNSURE, required=False),
            Item("nerve_pain", N_("Was any of it a medicine your doctor gave you for nerve pain?"), YES_NO_UNSURE,
                 required=False),
        ),
        score_low=0, score_high=2, score_unit="category", higher_is_better=False,
        reference=("Analgesic use, a patient-reported item of the ICHOM Low Back Pain Standard Set (Clement RC et al., "
                   "Acta Orthop 2015;86(5):523-533); questions and categories: spinetrack's own. "
                   "Categorical: no total score."),
        licence="spinetrack's own wording.",
        labels_note="spinetrack's own wording, not the validated wording of ICHOM's question (not available to us).",
        display=Display(plain_name=N_("Pain medicine"), choice_hint=N_("Choose one answer."),
                        skip_hint=N_("You can skip this question if you are not sure what you took.")),
        lists=frozenset({Listing.VISIT_DEFAULT}),
        own_wording=True,
    )

    def _score(self, answers: dict[str, Any]) -> Score:
        self._required(answers, "frequency")
        freq = answers["frequency"]
        if freq == 0:
            for code in _CLASSES:
                if answers[code] == 1:
                    raise ValidationError(
                        field=f"analgesics.{code}", value=1, allowed="0, 2 or empty",
                        reason=N_("the answer to how often was 'not at all': no pain medicine in the last week"))
        sub: dict[str, Any] = {"any_use": freq >= 1}
        for code in _CLASSES:
            if answers[code] in (0, 1):
                sub[code] = answers[code] == 1
        n_answered = 1 + sum(answers[c] is not None for c in _CLASSES)
        return Score("analgesics", "1", None, n_answered, 3, True, band=_FREQ_CODE[freq], subscales=sub)

    def _score_many(self, cols: dict[str, np.ndarray], n: int) -> ScoreArray:
        freq = cols["frequency"]
        valid = ~np.isnan(freq)
        for code in _CLASSES:
            valid &= ~((freq == 0) & (cols[code] == 1))
        answered = (~np.isnan(freq)).astype(np.int8)
        for code in _CLASSES:
            answered = answered + ~np.isnan(cols[code])
        sub = {"any_use": np.where(valid, freq >= 1, False)}
        for code in _CLASSES:
            sub[code] = np.where(valid, cols[code] == 1, False)
        return ScoreArray("analgesics", np.full(n, np.nan), valid, answered.astype(np.int8), sub)


ANALGESICS = AnalgesicsInstrument()
