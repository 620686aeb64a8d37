"""The claims catalogue: every claim is measurable with the vocabularies we store, and the
verdict rule is the one issue 5 states."""

from __future__ import annotations

import re

import pytest

from spinetrack import instruments
from spinetrack.analysis.claims import CLAIMS, Verdict, decide_verdict
from spinetrack.domain.complications import ClavienDindo, ComplicationCategory


def test_claim_keys_are_unique_and_directions_valid() -> None:
    keys = [c.key for c in CLAIMS]
    assert len(keys) == len(set(keys))
    assert {c.better for c in CLAIMS} <= {"lower", "higher"}


def test_claim_filters_use_stored_codes() -> None:
    categories = {c.value for c in ComplicationCategory}
    grades = {g.value for g in ClavienDindo}
    for c in CLAIMS:
        if c.event_filter and c.event_filter != "any":
            codes = set(re.findall(r"'([^']+)'", c.event_filter))
            assert codes and codes <= categories | grades, (c.key, codes - categories - grades)
        if c.instrument:
            instruments.get(c.instrument)  # raises for an unknown instrument
            assert c.table == "outcomes"


def test_every_design_promise_has_a_claim() -> None:
    """shared/DESIGN.md's table: incisions/trauma, imaging precision, postoperative pain,
    recovery, complications and infections, long-term effectiveness."""
    promises = {c.promise for c in CLAIMS}
    for needed in ("smaller incisions", "less tissue trauma", "precision through imaging", "less postoperative pain",
                   "shorter recovery", "fewer complications", "fewer infections", "lasting relief"):
        assert needed in promises


@pytest.mark.parametrize(("low", "high", "better", "want"), [
    (-12.0, -3.0, "lower", Verdict.SUPPORTED),
    (-12.0, -3.0, "higher", Verdict.CONTRADICTED),
    (1.0, 4.0, "lower", Verdict.CONTRADICTED),
    (1.0, 4.0, "higher", Verdict.SUPPORTED),
    (-1.0, 4.0, "lower", Verdict.INCONCLUSIVE),
    (-4.0, 0.0, "lower", Verdict.INCONCLUSIVE),   # touching zero does not exclude it
])
def test_verdict_rule(low: float, high: float, better: str, want: Verdict) -> None:
    assert decide_verdict(low, high, better) is want


def test_verdict_on_the_log_scale_for_risk_ratios() -> None:
    import math

    assert decide_verdict(math.log(0.2), math.log(0.8), "lower") is Verdict.SUPPORTED
    assert decide_verdict(math.log(0.8), math.log(1.3), "lower") is Verdict.INCONCLUSIVE
