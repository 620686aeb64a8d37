"""Study effect sizes against published values (metafor's ``escalc`` as printed in its
documentation and tests, and the tables of Normand 1999). Tolerance: the printed precision."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.special import gamma

from spinetrack.errors import InputError
from spinetrack.stats.meta import (
    effect_sizes_binary,
    effect_sizes_continuous,
    effect_sizes_from_ci,
    effect_sizes_from_variances,
    hedges_correction,
)
from tests.stats.meta.reference_data import (
    BCG,
    BCG_CNEG,
    BCG_CPOS,
    BCG_TNEG,
    BCG_TPOS,
    HINE,
    MAGNESIUM,
    NORMAND,
    assert_printed,
    column,
)


def _normand(measure: str, rows: slice = slice(None), **kw: object):  # type: ignore[no-untyped-def]
    data = NORMAND[rows]
    return effect_sizes_continuous(n1=column(data, 1), mean1=column(data, 2), sd1=column(data, 3),
                                   n2=column(data, 4), mean2=column(data, 5), sd2=column(data, 6),
                                   measure=measure, labels=[r[0] for r in data], **kw)  # type: ignore[arg-type]


def test_log_risk_ratios_match_metafor_readme_bcg() -> None:
    """Oracle: metafor README.md, ``escalc(measure="RR", ai=tpos, bi=tneg, ci=cpos, di=cneg,
    data=dat.bcg)`` printed (4 decimals) for all 13 trials (row 1 also in metafor
    tests/testthat/test_misc_escalc.r: yi -0.8893, vi 0.3256)."""
    t = effect_sizes_binary(events1=BCG_TPOS, n1=BCG_TPOS + BCG_TNEG, events2=BCG_CPOS, n2=BCG_CPOS + BCG_CNEG,
                            measure="RR")
    yi = ["-0.8893", "-1.5854", "-1.3481", "-1.4416", "-0.2175", "-0.7861", "-1.6209", "0.0120", "-0.4694",
          "-1.3713", "-0.3394", "0.4459", "-0.0173"]
    vi = ["0.3256", "0.1946", "0.4154", "0.0200", "0.0512", "0.0069", "0.2230", "0.0040", "0.0564", "0.0730",
          "0.0124", "0.5325", "0.0714"]
    for got_y, got_v, y, v in zip(t.yi, t.vi, yi, vi, strict=True):
        assert_printed(float(got_y), y)
        assert_printed(float(got_v), v)
    assert t.k == 13 and t.is_ratio and not t.continuity_corrected.any() and t.excluded == ()


def test_log_odds_ratios_match_van_houwelingen_2002_table() -> None:
    """Oracle: metafor-project.org/doku.php/analyses:vanhouwelingen2002 (van Houwelingen,
    Arends & Stijnen 2002, Stat Med 21:589-624, Table I data), ``escalc(measure="OR", ...)``
    printed for the first six BCG trials."""
    t = effect_sizes_binary(events1=BCG_TPOS, n1=BCG_TPOS + BCG_TNEG, events2=BCG_CPOS, n2=BCG_CPOS + BCG_CNEG,
                            measure="OR")
    for i, (y, v) in enumerate([("-0.9387", "0.3571"), ("-1.6662", "0.2081"), ("-1.3863", "0.4334"),
                                ("-1.4564", "0.0203"), ("-0.2191", "0.0520"), ("-0.9581", "0.0099")]):
        assert_printed(float(t.yi[i]), y)
        assert_printed(float(t.vi[i]), v)


def test_zero_cell_gets_half_added_to_every_cell_like_metafor_only0() -> None:
    """Oracle: metafor regtest help page (docs/reference/regtest.html), ``dat$yi`` printed with 8
    decimals for dat.egger2001 without ISIS-4 (Egger, Davey Smith & Altman 2001, Table 18.2).
    Bertschat 1989 (0/22 vs 1/21) gets 0.5 added to its four cells (to="only0"): -1.19170271."""
    t = effect_sizes_binary(events1=column(MAGNESIUM, 2), n1=column(MAGNESIUM, 3), events2=column(MAGNESIUM, 4),
                            n2=column(MAGNESIUM, 5), measure="OR")
    printed = ["-0.83034830", "-1.05605267", "-1.27833981", "-0.04348511", "0.22314355", "-2.40751999",
               "-1.28093385", "-1.19170271", "-0.69574796", "-2.20827441", "-2.03815988", "-0.85015093",
               "-0.79323064", "-0.29933987", "-1.57078846"]
    for got, y in zip(t.yi, printed, strict=True):
        assert_printed(float(got), y)
    assert t.continuity_corrected.tolist() == [i == 7 for i in range(15)]
    assert any("0.5 added" in n for n in t.notes)
    assert t.events1 is not None and t.events1[7] == 0  # the raw counts are kept (for Mantel-Haenszel)


def test_risk_differences_match_normand_1999_table_iii() -> None:
    """Oracle: Normand (1999) Table III (p. 330), as reproduced in metafor
    tests/testthat/test_analysis_example_normand1999.r: RD and variance in percentage points,
    and the 95% limits (1 decimal). Also the dat.hine1989 help page (4 decimals, proportions)."""
    t = effect_sizes_binary(events1=column(HINE, 3), n1=column(HINE, 1), events2=column(HINE, 4),
                            n2=column(HINE, 2), measure="RD")
    for got, y in zip(t.yi * 100, ["2.8026", "0.0000", "1.9711", "1.7961", "3.5334", "4.4031"], strict=True):
        assert_printed(float(got), y)
    for got, v in zip(t.vi * 1e4, ["17.7575", "37.5657", "8.1323", "10.8998", "8.0114", "6.1320"], strict=True):
        assert_printed(float(got), v)
    lo, hi = t.study_intervals()
    for got, y in zip(lo * 100, ["-5.5", "-12.0", "-3.6", "-4.7", "-2.0", "-0.5"], strict=True):
        assert_printed(float(got), y)
    for got, y in zip(hi * 100, ["11.1", "12.0", "7.6", "8.3", "9.1", "9.3"], strict=True):
        assert_printed(float(got), y)


def test_mean_differences_pooled_and_unequal_variances() -> None:
    """Oracles: (1) Normand (1999) Table VIII (p. 351) via metafor
    test_analysis_example_normand1999.r: MD with the pooled-SD variance (metafor vtype="HO"):
    vi 40.59, 2.05, 15.28, 150.22, 20.19, 1.22, 95.38, 8.03, 20.69. (2) metafor
    ``escalc(measure="MD", ...)`` on dat.normand1999 as printed in the bayesEfron package
    vignette "Using metafor and data frames as input" (vi = sd1^2/n1 + sd2^2/n2, 4 decimals)."""
    pooled = _normand("MD", md_variance="pooled")
    assert pooled.yi.tolist() == [-20, -2, -55, -71, -4, 1, 11, -10, 7]
    for got, v in zip(pooled.vi, ["40.59", "2.05", "15.28", "150.22", "20.19", "1.22", "95.38", "8.03", "20.69"],
                      strict=True):
        assert_printed(float(got), v)
    unequal = _normand("MD")
    for got, v in zip(unequal.vi, ["40.5080", "2.0806", "15.6984", "150.2222", "17.3077", "1.1673", "94.5891",
                                   "6.3109", "19.8423"], strict=True):
        assert_printed(float(got), v)
    lo, hi = unequal.study_intervals()
    # metafor test_analysis_example_normand1999.r, summary() of the pooled-SD escalc: 1 decimal
    lo_p, hi_p = pooled.study_intervals()
    assert_printed(float(lo_p[0]), "-32.5")
    assert_printed(float(hi_p[3]), "-47.0")
    assert lo[0] < unequal.yi[0] < hi[0]


def test_hedges_g_uses_the_exact_correction_as_metafor_smd() -> None:
    """Oracle: metafor tests/testthat/test_misc_escalc.r, ``escalc(measure="SMD", ...)`` on
    dat.normand1999[1:4]: yi -0.3552, -0.3479, -2.3176, -1.8880; vi 0.0131, 0.0645, 0.0458,
    0.1606. The correction is the exact gamma-function J (checked against scipy.special.gamma,
    rtol 1e-12), not the approximation 1 - 3/(4m - 1)."""
    t = _normand("SMD", slice(0, 4))
    for got, y in zip(t.yi, ["-0.3552", "-0.3479", "-2.3176", "-1.8880"], strict=True):
        assert_printed(float(got), y)
    for got, v in zip(t.vi, ["0.0131", "0.0645", "0.0458", "0.1606"], strict=True):
        assert_printed(float(got), v)
    m = np.array([2.0, 4.0, 10.0, 34.0, 309.0])
    exact = gamma(m / 2) / (np.sqrt(m / 2) * gamma((m - 1) / 2))
    np.testing.assert_allclose(hedges_correction(m), exact, rtol=1e-12)
    assert abs(hedges_correction(4.0)[()] - (1 - 3 / 15)) > 2e-3  # visibly not the approximation
    assert "exact" in t.method


def test_estimates_from_confidence_intervals_match_metafor_conv_wald() -> None:
    """Oracle: metafor conv.wald help page (docs/reference/conv.wald.html): OR 0.64 (95% CI
    0.33 to 1.22) gives yi -0.4463, vi 0.1113; the two trials with counts give -0.5500/0.0818 and
    -0.6864/0.4437 (escalc "OR"), the same scale as the converted one."""
    t = effect_sizes_from_ci([0.64], [0.33], [1.22], measure="OR", labels=["2"])
    assert_printed(float(t.yi[0]), "-0.4463")
    assert_printed(float(t.vi[0]), "0.1113")
    counts = effect_sizes_binary(events1=[23, 4], n1=[194, 46], events2=[38, 7], n2=[201, 44], measure="OR")
    for got, y in zip(counts.yi, ["-0.5500", "-0.6864"], strict=True):
        assert_printed(float(got), y)
    for got, v in zip(counts.vi, ["0.0818", "0.4437"], strict=True):
        assert_printed(float(got), v)
    md = effect_sizes_from_ci([3.0], [1.0], [5.0], measure="MD", ci_level=0.9)
    assert md.vi[0] == pytest.approx((4.0 / (2 * 1.6448536269514722)) ** 2, rel=1e-12)
    skew = effect_sizes_from_ci([1.0], [0.9], [3.0], measure="RR")
    assert skew.notes and "middle" in skew.notes[0]


def test_double_zero_studies_are_excluded_for_ratios_and_kept_for_rd() -> None:
    """Oracle: metafor ``drop00=TRUE`` semantics (R/escalc.r: a study with no events, or only
    events, in both arms is set to NA). For RD the study stays, and like metafor's escalc
    (``addyi=TRUE``) its cells get the 0.5 too: 0.5/21 - 0.5/26."""
    kw = {"events1": [0, 3, 10], "n1": [20, 30, 10], "events2": [0, 5, 10], "n2": [25, 31, 10]}
    rr = effect_sizes_binary(**kw, measure="RR", labels=["none", "some", "all"])  # type: ignore[arg-type]
    assert rr.labels == ("some",) and [e.label for e in rr.excluded] == ["none", "all"]
    assert "no events in either arm" in rr.excluded[0].reason and "drop00" in rr.notes[0]
    rd = effect_sizes_binary(**kw, measure="RD")  # type: ignore[arg-type]
    assert rd.k == 3 and rd.excluded == () and rd.continuity_corrected.tolist() == [True, False, True]
    assert rd.yi[0] == pytest.approx(0.5 / 21 - 0.5 / 26, rel=1e-12)
    with pytest.raises(InputError, match="no study is left"):
        effect_sizes_binary(events1=[0], n1=[5], events2=[0], n2=[5], measure="OR")


def test_continuity_options() -> None:
    """Oracle: the definition of metafor's ``to`` argument (R/escalc.r): "all" adds to every
    study, "if0all" to every study when any has a zero cell, "none" never (then a zero cell
    leaves the log OR undefined, which is refused)."""
    kw = {"events1": [0, 3], "n1": [20, 30], "events2": [2, 5], "n2": [25, 31], "measure": "OR"}
    only0 = effect_sizes_binary(**kw)  # type: ignore[arg-type]
    every = effect_sizes_binary(**kw, continuity_to="all")  # type: ignore[arg-type]
    if0 = effect_sizes_binary(**kw, continuity_to="if0all", continuity=0.25)  # type: ignore[arg-type]
    assert only0.continuity_corrected.tolist() == [True, False]
    assert every.continuity_corrected.all() and if0.continuity_corrected.all()
    assert every.yi[1] == pytest.approx(math.log(3.5 * 26.5 / (27.5 * 5.5)), rel=1e-12)
    assert if0.yi[0] == pytest.approx(math.log(0.25 * 23.25 / (20.25 * 2.25)), rel=1e-12)
    with pytest.raises(InputError, match="undefined"):
        effect_sizes_binary(**kw, continuity_to="none")  # type: ignore[arg-type]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"events1": [5], "n1": [4], "events2": [1], "n2": [4], "measure": "RR"}, "events1 must be between"),
    ({"events1": [-1], "n1": [4], "events2": [1], "n2": [4], "measure": "RR"}, "events1 must be between"),
    ({"events1": [1], "n1": [0], "events2": [1], "n2": [4], "measure": "RR"}, "n1 must be at least 1"),
    ({"events1": [1], "n1": [4], "events2": [1], "n2": [4], "measure": "MD"}, "measure must be"),
    ({"events1": [1, 2], "n1": [4], "events2": [1], "n2": [4], "measure": "RR"}, "same length"),
])
def test_binary_input_is_validated(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InputError, match=match):
        effect_sizes_binary(**kwargs)  # type: ignore[arg-type]


def test_continuous_and_generic_input_is_validated() -> None:
    base = {"n1": [10], "mean1": [1.0], "sd1": [1.0], "n2": [10], "mean2": [0.0], "sd2": [1.0]}
    with pytest.raises(InputError, match="sd2 must be non-negative"):
        effect_sizes_continuous(**{**base, "sd2": [-1.0]}, measure="MD")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="n1 must be at least 1"):
        effect_sizes_continuous(**{**base, "n1": [0]}, measure="MD")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="n1 \\+ n2 >= 4"):
        effect_sizes_continuous(**{**base, "n1": [1], "n2": [2]}, measure="SMD")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="zero"):
        effect_sizes_continuous(**{**base, "sd1": [0.0], "sd2": [0.0]}, measure="MD")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="vi must be positive"):
        effect_sizes_from_variances([0.1], [0.0])
    with pytest.raises(InputError, match="NaN"):
        effect_sizes_from_variances([float("nan")], [0.1])
    with pytest.raises(InputError, match="labels"):
        effect_sizes_from_variances([0.1], [0.1], labels=["a", "b"])
    with pytest.raises(InputError, match="inside its interval"):
        effect_sizes_from_ci([2.0], [0.5], [1.5], measure="RR")


def test_table_subset_and_serialisation() -> None:
    t = effect_sizes_binary(events1=BCG_TPOS, n1=BCG_TPOS + BCG_TNEG, events2=BCG_CPOS, n2=BCG_CPOS + BCG_CNEG,
                            measure="RR", labels=[r[0] for r in BCG])
    s = t.subset([0, 2])
    assert s.labels == ("Aronson", "Rosenthal et al") and s.yi[1] == t.yi[2] and s.events1 is not None
    assert s.events1.tolist() == [4.0, 3.0]
    d = json.loads(json.dumps(t.as_dict()))
    assert d["k"] == 13 and d["measure"] == "RR" and len(d["yi"]) == 13
    with pytest.raises(ValueError):
        t.yi[0] = 1.0  # frozen arrays
