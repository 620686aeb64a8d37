"""The claims catalogue: every claim is measurable with the vocabularies we store, and the
verdict rule is the one ``analysis.claims`` states."""

from __future__ import annotations

import math
import re

import pytest

from spinetrack import instruments
from spinetrack.analysis.claims import CLAIMS, Verdict, adjust_p_values, claim, decide_verdict, margin_of
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
    """The promises made for MISS: incisions/trauma, imaging precision, postoperative pain,
    recovery, complications and infections, long-term effectiveness."""
    promises = {c.promise for c in CLAIMS}
    for needed in ("smaller incisions", "less tissue trauma", "precision through imaging", "less postoperative pain",
                   "shorter recovery", "fewer complications", "fewer infections", "lasting relief"):
        assert needed in promises


@pytest.mark.parametrize(("est", "low", "high", "better", "p_adj", "margin", "want"), [
    (-7.5, -12.0, -3.0, "lower", 0.001, None, Verdict.SUPPORTED),
    (-7.5, -12.0, -3.0, "higher", 0.001, None, Verdict.CONTRADICTED),
    (2.5, 1.0, 4.0, "lower", 0.01, None, Verdict.CONTRADICTED),
    (2.5, 1.0, 4.0, "higher", 0.01, None, Verdict.SUPPORTED),
    (1.5, -1.0, 4.0, "lower", 0.4, None, Verdict.INCONCLUSIVE),
    # worked examples: NRS back pain +0.30 (0.20 to 0.41) with the NRS MCID of 2 is no important
    # difference, not "contradicted"; fusion wrong-level +0.0079 (0.0013 to 0.0145) has an unadjusted
    # p of 0.019 but is not significant once ~100 claims are adjusted for: inconclusive, not "contradicted"
    (0.30, 0.20, 0.41, "lower", 1e-6, 2.0, Verdict.NO_IMPORTANT_DIFFERENCE),
    (0.0079, 0.0013, 0.0145, "lower", 0.27, None, Verdict.INCONCLUSIVE),
    # an interval that reaches past the margin is judged on its adjusted p-value
    (-3.0, -4.6, -1.4, "lower", 0.001, 2.0, Verdict.SUPPORTED),
    (-1.0, -2.5, 0.5, "lower", 0.3, 2.0, Verdict.INCONCLUSIVE),
    # touching the margin is not lying within it
    (0.0, -2.0, 1.0, "lower", 0.9, 2.0, Verdict.INCONCLUSIVE),
])
def test_verdict_rule(est: float, low: float, high: float, better: str, p_adj: float, margin: float | None,
                      want: Verdict) -> None:
    """The verdict rule: margin first (no important difference), then the adjusted p-value."""
    assert decide_verdict(est, low, high, better, p_adjusted=p_adj, margin=margin) is want


def test_verdict_on_the_log_scale_for_risk_ratios() -> None:
    import math

    assert decide_verdict(math.log(0.4), math.log(0.2), math.log(0.8), "lower", p_adjusted=0.01) is Verdict.SUPPORTED
    assert decide_verdict(math.log(1.02), math.log(0.8), math.log(1.3), "lower",
                          p_adjusted=0.8) is Verdict.INCONCLUSIVE


def test_margins_are_the_instruments_mcids_and_nothing_is_invented() -> None:
    """Ostelo 2008: ODI 10 points, NRS 2 points; EQ-5D has no MCID in our sources,
    and operative measures, risks and days have no published margin: no margin at all."""
    margins = {c.key: margin_of(c) for c in CLAIMS}
    assert margins["odi_12m"][0] == 10.0 and "Ostelo" in margins["odi_12m"][1]
    assert margins["back_pain_2w"][0] == margins["leg_pain_12m"][0] == 2.0
    assert margins["eq5d_12m"] is None
    for key in ("blood_loss", "any_complication", "length_of_stay", "return_to_activity", "odi_mcid_12m",
                "reoperation_free", "fluoro_dose"):
        assert margins[key] is None, key


def test_benjamini_hochberg_and_holm_match_statsmodels() -> None:
    """Oracle: statsmodels.stats.multitest.multipletests (methods "fdr_bh" and "holm")."""
    import numpy as np
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(15)
    p = np.concatenate([rng.uniform(0, 1, 80), rng.uniform(0, 1e-3, 25), [0.05, 0.05, 1.0, 0.0]])
    for method in ("fdr_bh", "holm"):
        want = multipletests(p, method=method)[1]
        assert np.allclose(adjust_p_values(list(p), method), want, rtol=0, atol=1e-12), method
    with_nan = adjust_p_values([0.01, float("nan"), 0.04], "fdr_bh")
    assert math.isnan(with_nan[1]) and np.allclose([with_nan[0], with_nan[2]], multipletests([0.01, 0.04],
                                                                                            method="fdr_bh")[1])


def test_radiation_is_a_harm_and_precision_is_measured_by_wrong_level_and_malposition() -> None:
    """Fluoroscopy time and dose are harms, not evidence of precision."""
    by_promise: dict[str, set[str]] = {}
    for c in CLAIMS:
        by_promise.setdefault(c.promise, set()).add(c.key)
    assert by_promise["precision through imaging"] == {"wrong_level", "revision_malposition"}
    assert {c.key for c in CLAIMS if c.role == "harm"} == {"fluoro_time", "fluoro_dose"}
    assert claim("revision_malposition").families == ("fusion",)
