"""Core Outcome Measures Index for the back (COMI-back): structure and scoring.

Reference: Mannion AF et al. Eur Spine J 2009;18(3):374-9 (PMC2899314): one question each on
back pain intensity, leg/buttock pain intensity, function, symptom-specific well-being, general
quality of life, work disability and social disability, scored as a 0–10 index (higher =
worse). The combining rule spinetrack follows (spinetrack's decision, documented here):

* pain domain = the worse (higher) of back pain and leg/buttock pain, each 0–10;
* the 5-point items (function, symptom-specific well-being, quality of life, social and work
  disability; answers 1–5, 1 = best) are rescaled to 0–10 as (answer − 1) × 2.5;
* disability domain = the mean of the rescaled social and work disability items;
* index = mean of the five domains (pain, function, well-being, quality of life, disability).

Missing answers (spinetrack's choice): a domain with two items (pain, disability) uses the one
answered; every one of the five domains must be present for a valid index, otherwise the
response is stored invalid, without a total.

Disability answer anchors — **not confirmed**. The social and work disability items ask how
many days in the last 4 weeks the back problem kept the patient from usual activities; each
is answered in five ordered day categories (1 = fewest days, 5 = most). Which day counts bound
the categories (we believe none, 1–7, 8–14, 15–21, more than 21 days) could not be confirmed
from a primary source: of the sources searched, Mannion AF et al. "Outcome assessment in low back
pain: how low can you go?" Eur Spine J 2005 (doi:10.1007/s00586-005-0911-9), Mannion AF et al.
Eur Spine J 2009 (PMC2899314) and Ferrer M et al. Spine 2006;31(12):1372-9 were reachable only as
abstracts, which do not give the categories, and no copy of the Spine Tango COMI form was
found. The labels below ("no days" … "more than two weeks") are therefore
spinetrack's placeholders, flagged in ``Definition.labels_note`` (and so in the FHIR
Questionnaire's description): a site should load the published wording as a wording pack.
The score does not depend on the boundaries — only on the answer's rank, (answer − 1) × 2.5.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spinetrack.i18n import N_
from spinetrack.instruments.base import (
    DEMO_LABEL_NOTE,
    AnswerOption,
    Definition,
    Display,
    Instrument,
    Item,
    Score,
    ScoreArray,
)

__all__ = ["COMI_BACK", "DISABILITY_ANCHORS_NOTE", "DOMAINS"]

DISABILITY_ANCHORS_NOTE = (
    "The day categories of the social and work disability items (answers 1-5, 1 = fewest days in the last "
    "4 weeks) are spinetrack's placeholders: the published category boundaries were not confirmed from a "
    "primary source. Scoring uses only the answer's rank.")

_NRS = tuple(AnswerOption(str(v), v, N_("none") if v == 0 else N_("worst imaginable") if v == 10 else str(v))
             for v in range(11))


def _five(*labels: str) -> tuple[AnswerOption, ...]:
    return tuple(AnswerOption(str(i), i, lab) for i, lab in enumerate(labels, start=1))


_INTERFERENCE = _five(N_("not at all"), N_("a little"), N_("moderately"), N_("a lot"), N_("extremely"))
_FEELING = _five(N_("very satisfied"), N_("somewhat satisfied"), N_("neither"), N_("somewhat dissatisfied"),
                 N_("very dissatisfied"))
_QUALITY = _five(N_("very good"), N_("good"), N_("moderate"), N_("poor"), N_("very poor"))
_DAYS = _five(N_("no days"), N_("a few days"), N_("about a week"), N_("about two weeks"), N_("more than two weeks"))

ITEMS = (
    Item("back_pain", N_("Back pain in the last week, 0 none to 10 worst imaginable"), _NRS, required=False),
    Item("leg_pain", N_("Leg or buttock pain in the last week, 0 none to 10 worst imaginable"), _NRS,
         required=False),
    Item("function", N_("How much did your back problem get in the way of daily work and housework?"),
         _INTERFERENCE),
    Item("wellbeing", N_("How would you feel living with your present symptoms from now on?"), _FEELING),
    Item("quality_of_life", N_("How was your quality of life in the last week?"), _QUALITY),
    Item("social_disability", N_("Days in the last 4 weeks the back problem kept you from social activities"),
         _DAYS, required=False),
    Item("work_disability", N_("Days in the last 4 weeks the back problem kept you from work or housework"),
         _DAYS, required=False),
)
DOMAINS = ("pain", "function", "wellbeing", "quality_of_life", "disability")


def _rescale(x: Any) -> Any:
    return (x - 1) * 2.5


class ComiBack(Instrument):
    definition = Definition(
        code="comi_back", title=N_("Core Outcome Measures Index, back"), version="1",
        items=ITEMS, score_low=0, score_high=10, higher_is_better=False,
        reference=("Mannion AF et al. Eur Spine J 2009 (PMC2899314); combining rule chosen by spinetrack: pain = "
                   "the worse of back and leg, each domain rescaled to 0-10, index = mean of the domains"),
        licence="Published in the scientific literature; spinetrack ships neutral labels only.",
        labels_note=f"{DEMO_LABEL_NOTE} {DISABILITY_ANCHORS_NOTE}",
        display=Display(plain_name=N_("Your back problem overall")),
    )

    def _score(self, answers: dict[str, Any]) -> Score:
        a = answers
        pains = [v for v in (a["back_pain"], a["leg_pain"]) if v is not None]
        dis = [_rescale(v) for v in (a["social_disability"], a["work_disability"]) if v is not None]
        domains: dict[str, float | None] = {
            "pain": float(max(pains)) if pains else None,
            "function": None if a["function"] is None else _rescale(a["function"]),
            "wellbeing": None if a["wellbeing"] is None else _rescale(a["wellbeing"]),
            "quality_of_life": None if a["quality_of_life"] is None else _rescale(a["quality_of_life"]),
            "disability": sum(dis) / len(dis) if dis else None,
        }
        n = sum(v is not None for v in a.values())
        missing = [d for d, v in domains.items() if v is None]
        if missing:
            return Score("comi_back", "1", None, n, 7, False, f"domain(s) without an answer: {', '.join(missing)}",
                         subscales={d: v for d, v in domains.items() if v is not None})
        total = sum(v for v in domains.values() if v is not None) / 5
        return Score("comi_back", "1", total, n, 7, True, subscales=domains)

    def _score_many(self, cols: dict[str, np.ndarray], n: int) -> ScoreArray:
        pain = np.fmax(cols["back_pain"], cols["leg_pain"])  # fmax ignores one NaN
        dis = np.column_stack([_rescale(cols["social_disability"]), _rescale(cols["work_disability"])])
        present = ~np.isnan(dis)
        with np.errstate(invalid="ignore"):
            disability = np.where(present.any(axis=1), np.nansum(dis, axis=1) / np.maximum(present.sum(axis=1), 1),
                                  np.nan)
        doms = {"pain": pain, "function": _rescale(cols["function"]), "wellbeing": _rescale(cols["wellbeing"]),
                "quality_of_life": _rescale(cols["quality_of_life"]), "disability": disability}
        m = np.column_stack(list(doms.values()))
        valid = ~np.isnan(m).any(axis=1)
        total = np.where(valid, m.sum(axis=1) / 5, np.nan)
        answered = sum((~np.isnan(cols[c])).astype(np.int8) for c in cols)
        return ScoreArray("comi_back", total, valid, np.asarray(answered, dtype=np.int8), doms)


COMI_BACK = ComiBack()
