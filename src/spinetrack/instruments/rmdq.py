"""Roland–Morris Disability Questionnaire (RMDQ), 24 statements: structure and scoring.

References
----------
Roland M, Morris R. A study of the natural history of back pain. Part I: development of a
reliable and sensitive measure of disability in low-back pain. Spine 1983;8(2):141-144.
Roland M, Fairbank J. The Roland-Morris Disability Questionnaire and the Oswestry Disability
Questionnaire. Spine 2000;25(24):3115-3124.

Scoring (after the authors, Roland & Morris 1983): the patient ticks the statements that apply today;
the score is the number of statements ticked, 0–24, higher = more disability. An unticked
statement counts as "no" — the authors advise against forcing a yes/no answer on each
statement — on paper and on screen alike. So every response has a total: a statement left
without an answer (``None``, absent, or NaN in :meth:`score_many`) is a "no", and
``n_answered`` is always 24 (each statement is either ticked or not).

Answers: ``1`` = ticked (the statement applies today), ``0`` = not ticked; ``None`` or an
absent code reads as not ticked. Anything else — another number, a string, a boolean, an
unknown statement code — is refused with a :class:`~spinetrack.errors.ValidationError` naming
the statement (``rmdq.s07``) and the allowed values. The answer codes stay ``"no"`` (0) and
``"yes"`` (1) so that stored FHIR answers and wording packs keep their meaning; the neutral
labels are "not ticked" and "ticked".

The 1998 Spine special-issue version states that no permission is needed in its published
form; spinetrack still ships neutral labels ("Statement 1" … "Statement 24") and lets a site
load the published wording as a wording pack.

Examples
--------
>>> RMDQ.score({"s01": 1, "s05": 1, "s17": 0}).total   # two ticked; the rest count as "no"
2.0
>>> RMDQ.score({}).total                                # nothing ticked
0.0
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from spinetrack.errors import ValidationError
from spinetrack.i18n import N_
from spinetrack.instruments.base import AnswerOption, Definition, Display, Instrument, Item, Score, ScoreArray

__all__ = ["ITEM_CODES", "MISSING_POLICY", "NOT_TICKED", "RMDQ", "TICKED"]

ITEM_CODES = tuple(f"s{i:02d}" for i in range(1, 25))
TICKED = 1
NOT_TICKED = 0
MISSING_POLICY = "tick-only: a statement without an answer counts as not ticked (no); every response has a total"
_TICK = (AnswerOption("no", NOT_TICKED, N_("not ticked")), AnswerOption("yes", TICKED, N_("ticked")))
# spinetrack's numbered neutral labels (written out so that the catalog holds each).
_STATEMENTS = (
    N_("Statement 1 applies to me today"),
    N_("Statement 2 applies to me today"),
    N_("Statement 3 applies to me today"),
    N_("Statement 4 applies to me today"),
    N_("Statement 5 applies to me today"),
    N_("Statement 6 applies to me today"),
    N_("Statement 7 applies to me today"),
    N_("Statement 8 applies to me today"),
    N_("Statement 9 applies to me today"),
    N_("Statement 10 applies to me today"),
    N_("Statement 11 applies to me today"),
    N_("Statement 12 applies to me today"),
    N_("Statement 13 applies to me today"),
    N_("Statement 14 applies to me today"),
    N_("Statement 15 applies to me today"),
    N_("Statement 16 applies to me today"),
    N_("Statement 17 applies to me today"),
    N_("Statement 18 applies to me today"),
    N_("Statement 19 applies to me today"),
    N_("Statement 20 applies to me today"),
    N_("Statement 21 applies to me today"),
    N_("Statement 22 applies to me today"),
    N_("Statement 23 applies to me today"),
    N_("Statement 24 applies to me today"),
)
_TICK_RULE = N_("tick-only: 1 = ticked (applies today); 0 or no answer = not ticked")


class Rmdq(Instrument):
    definition = Definition(
        code="rmdq", title=N_("Roland-Morris Disability Questionnaire"), version="24",
        items=tuple(Item(c, label, _TICK, required=False) for c, label in zip(ITEM_CODES, _STATEMENTS, strict=True)),
        score_low=0, score_high=24, higher_is_better=False,
        reference="Roland M, Morris R. Spine 1983;8(2):141-4; Roland M, Fairbank J. Spine 2000;25(24):3115-24. "
                  "Score = number of statements ticked; an unticked statement counts as no",
        licence="The 1998 Spine special-issue version may be used without permission in its published form; "
                "spinetrack ships neutral labels only.",
        display=Display(plain_name=N_("Your back today: statements that may apply to you"),
                        choice_hint=N_("Tick the statement if it applies to you today.")),
    )

    def check(self, answers: Mapping[str, Any]) -> dict[str, Any]:
        """Validate a response; a refused statement value says the tick-only rule."""
        try:
            return super().check(answers)
        except ValidationError as exc:
            statement = exc.field.removeprefix("rmdq.") in ITEM_CODES
            if statement and exc.reason in (None, "not a number"):
                raise ValidationError(field=exc.field, value=exc.value, allowed=exc.allowed,
                                      reason=_TICK_RULE) from None
            raise

    def _score(self, answers: dict[str, Any]) -> Score:
        ticked = sum(1 for c in ITEM_CODES if answers[c] == TICKED)
        return Score("rmdq", "24", float(ticked), 24, 24, True)

    def _score_many(self, cols: dict[str, np.ndarray], n: int) -> ScoreArray:
        m = np.column_stack([cols[c] for c in ITEM_CODES]) if n else np.empty((0, 24))
        total = (m == TICKED).sum(axis=1).astype(np.float64)  # NaN (no answer) is never ticked
        return ScoreArray("rmdq", total, np.ones(n, dtype=bool), np.full(n, 24, dtype=np.int8))


RMDQ = Rmdq()
