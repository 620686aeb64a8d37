"""Subgroup analysis and the test for subgroup differences, BCG trials by allocation.
Tolerance: the printed precision, plus the documented slack where metafor's REML stopping rule
shows."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spinetrack.errors import InputError
from spinetrack.stats.meta import (
    effect_sizes_binary,
    effect_sizes_from_variances,
    subgroup_analysis,
)
from spinetrack.stats.meta._distributions import chi2_sf
from tests.stats.meta.reference_data import (
    BCG_ALLOC,
    BCG_CNEG,
    BCG_CPOS,
    BCG_TNEG,
    BCG_TPOS,
    assert_printed,
)

BCG_RR = effect_sizes_binary(events1=BCG_TPOS, n1=BCG_TPOS + BCG_TNEG, events2=BCG_CPOS, n2=BCG_CPOS + BCG_CNEG,
                             measure="RR")

# metafor rma.uni help page: rma(yi, vi, data=dat, subset=(alloc=="...")) per allocation group
# (REML): k, tau^2 (SE), I^2, H^2, Q, Q p, estimate, se, z, p, CI.
PUBLISHED = {
    "alternate": (2, "0.1326", "0.2286", "82.02", "5.56", "5.5625", "0.0183", "-0.5408", "0.2816", "-1.9204",
                  "0.0548", "-1.0927", "0.0111"),
    "random": (7, "0.3925", "0.3029", "89.93", "9.93", "110.2133", None, "-0.9710", "0.2760", "-3.5186", "0.0004",
               "-1.5118", "-0.4301"),
    "systematic": (4, "0.4003", "0.4199", "86.42", "7.36", "16.5919", "0.0009", "-0.4242", "0.3597", "-1.1792",
                   "0.2383", "-1.1293", "0.2809"),
}
FIELDS = ("tau2", "tau2_se", "i2", "h2", "q", "q_p_value", "estimate", "standard_error", "statistic", "p_value",
          "ci_low", "ci_high")


def test_separate_tau2_subgroups_match_metafor_per_group_fits() -> None:
    """Oracle: metafor rma.uni help page (docs/reference/rma.uni.html), the three REML fits
    ``rma(yi, vi, data=dat, subset=(alloc==...))`` (alternate has k = 2). metafor stops REML
    when tau^2 changes by less than 1e-5; that moves its z for "random" in the 4th decimal
    (-3.51855 here, printed -3.5186), hence a slack of 5e-5 on the z values. Q between: the
    Wald statistic on the published subgroup estimates and SEs (computed in the test from the
    printed values, so compared at 1e-2)."""
    s = subgroup_analysis(BCG_RR, BCG_ALLOC, method="REML")
    assert s.group_labels == ("random", "alternate", "systematic") and s.tau2_mode == "separate"
    for label, result in zip(s.group_labels, s.subgroups, strict=True):
        k, *printed = PUBLISHED[label]
        assert result.k == k
        for field, value in zip(FIELDS, printed, strict=True):
            if value is not None:
                assert_printed(getattr(result, field), value, slack=5e-5 if field == "statistic" else 0.0)
    est = np.array([-0.9710, -0.5408, -0.4242])
    w = 1 / np.array([0.2760, 0.2816, 0.3597]) ** 2
    q_published = float(np.sum(w * (est - np.sum(w * est) / np.sum(w)) ** 2))
    assert s.q_between == pytest.approx(q_published, abs=1e-2)
    assert s.q_between_df == 2 and s.q_between_p_value == pytest.approx(chi2_sf(s.q_between, 2))
    assert_printed(s.q_within, "132.3676")
    assert s.q_within_df == 10
    assert_printed(s.overall.estimate, "-0.7145")


def test_common_tau2_matches_metafor_mixed_effects_model_with_a_factor() -> None:
    """Oracle: metafor rma.uni help page, ``rma(yi, vi, mods = ~ factor(alloc) - 1)``: tau^2
    0.3615 (SE = 0.2111); alternate -0.5180 (se 0.4412), random -0.9658 (0.2672), systematic
    -0.4289 (0.3449); and ``rma(yi, vi, mods = ~ factor(alloc))``: QM(df = 2) = 1.7675,
    p = 0.4132."""
    s = subgroup_analysis(BCG_RR, BCG_ALLOC, method="REML", tau2="common")
    assert s.tau2_mode == "common" and s.tau2_common is not None
    assert_printed(s.tau2_common, "0.3615")
    assert_printed(s.tau2_common_se, "0.2111")
    assert s.as_dict()["tau2_common_se"] == s.tau2_common_se
    published = {"alternate": ("-0.5180", "0.4412"), "random": ("-0.9658", "0.2672"),
                 "systematic": ("-0.4289", "0.3449")}
    for label, result in zip(s.group_labels, s.subgroups, strict=True):
        assert_printed(result.estimate, published[label][0])
        assert_printed(result.standard_error, published[label][1])
        assert result.tau2 == s.tau2_common
    assert_printed(s.q_between, "1.7675")
    assert_printed(s.q_between_p_value, "0.4132")


def test_fixed_effect_q_between_is_q_total_minus_q_within() -> None:
    """Oracle: metafor rma.uni help page: Q_total = 152.2330 (FE fit) and the within-subgroup
    Q values 5.562514 + 110.2133 + 16.59186 = 132.3676, so Q_between = 19.8654 (the printed
    decomposition Q_E + Q_M = Q_total for fixed-effects models)."""
    s = subgroup_analysis(BCG_RR, BCG_ALLOC, method="FE")
    assert s.tau2_mode == "none"
    assert_printed(s.q_between, "19.8654", slack=1e-4)  # difference of two 4-decimal numbers
    assert s.q_between + s.q_within == pytest.approx(s.overall.q, rel=1e-12)
    mh = subgroup_analysis(BCG_RR, BCG_ALLOC, method="MH")
    assert mh.q_between > 0 and all(r.method == "MH" for r in mh.subgroups)


def test_hksj_single_study_subgroup_and_errors() -> None:
    t = effect_sizes_from_variances([0.1, 0.2, 0.8, 0.9, 0.5], [0.01] * 5)
    s = subgroup_analysis(t, ["a", "a", "b", "b", "c"], method="DL", hksj=True)
    assert s.subgroups[2].k == 1 and not s.subgroups[2].hksj and s.subgroups[0].hksj
    assert any("one study" in n for n in s.notes) and any("model-based" in n for n in s.notes)
    d = json.loads(json.dumps(s.as_dict(), allow_nan=False))
    assert [g["group"] for g in d["subgroups"]] == ["a", "b", "c"] and d["q_between_df"] == 2
    with pytest.raises(InputError, match="at least 2 subgroups"):
        subgroup_analysis(t, ["a"] * 5)
    with pytest.raises(InputError, match="one entry per study"):
        subgroup_analysis(t, ["a", "b"])
    with pytest.raises(InputError, match="tau2 must be"):
        subgroup_analysis(t, ["a", "a", "b", "b", "b"], tau2="pooled")  # type: ignore[arg-type]
