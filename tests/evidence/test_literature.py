"""The literature column (``spinetrack.evidence.literature.literature_for``).

Each figure test names the row it comes from (the section and row of the evidence seed's
literature notes, or ``arm_data.csv``) and the printed numbers; computed figures give their formula. The verdict
rule is checked against ``spinetrack.analysis.claims.decide_verdict`` on a grid of intervals.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import replace

import pytest

from spinetrack.analysis.claims import CLAIMS, decide_verdict
from spinetrack.evidence import (
    CLAIM_EVIDENCE,
    Comparison,
    Design,
    Relation,
    Unit,
    literature_for,
    literature_verdict,
    load_arm_data,
    load_studies,
)
from spinetrack.evidence.literature import LEVELS
from tests.stats.meta.reference_data import NORMAND

STUDIES = {r.id: r for r in load_studies()}
ARMS = {a.id: a for a in load_arm_data()}
SCORECARD_COMPARISONS = ("discectomy", "decompression", "fusion", "pooled", "surgery_vs_conservative")
ALL = [(c.key, k) for c in CLAIMS for k in SCORECARD_COMPARISONS]


# ------------------------------------------------------------------------------ verdict rule


GRID = [-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 3.0]


@pytest.mark.parametrize("null", [0.0, 1.0])
@pytest.mark.parametrize("better", ["lower", "higher"])
def test_verdict_rule_agrees_with_decide_verdict_on_a_grid(better: str, null: float) -> None:
    """Every interval (lo < hi) on the grid, both directions: a published figure is one test, so
    the literature's verdict is the clinic's rule with its own (unadjusted) Wald p-value, taken
    from the 95% interval, and no margin. An interval with an end on the null is inconclusive."""
    from scipy.stats import norm

    n = 0
    z = norm.ppf(0.975)
    for lo, hi in itertools.combinations(GRID, 2):
        got = literature_verdict(lo, hi, better, null=null)
        if null in (lo, hi):
            assert got == "inconclusive", (lo, hi)
        else:
            est, se = (lo + hi) / 2, (hi - lo) / (2 * z)
            p = 2 * norm.sf(abs(est - null) / se)
            assert got == decide_verdict(est, lo, hi, better, p_adjusted=p, null=null).value, (lo, hi)
        n += 1
    assert n == 28


def test_verdict_rule_refuses_an_unknown_direction() -> None:
    with pytest.raises(ValueError, match="better"):
        literature_verdict(-1.0, 1.0, "smaller")


# ------------------------------------------------------------------------------ the figures


def test_blood_loss_fusion_is_the_park_2018_meta_analysis_with_its_doi() -> None:
    """literature.md §3 row 12, Park 2018 doi:10.3349/ymj.2018.59.4.524: 269.5 mL less
    (246.2 to 292.9), 9 studies, printed as open - MIS → -269.5 (-292.9 to -246.2)."""
    e = literature_for("blood_loss", "fusion")
    assert e is not None and e.has_figure
    assert e.source_ids == ("fus-park2018-blood-loss",)
    assert (e.estimate, e.ci_low, e.ci_high, e.unit, e.measure) == (-269.5, -292.9, -246.2, "mL", "MD")
    assert (e.level, e.design, e.k_studies) == ("ma_obs", "MA-obs", 9)
    assert e.citations[0].doi == "10.3349/ymj.2018.59.4.524" and e.citations[0].pmid == "29749136"
    assert e.verdict == "supported" and e.scope == "procedure" and e.flags == ()
    d = e.as_dict()
    assert d["citations"][0]["doi_url"] == "https://doi.org/10.3349/ymj.2018.59.4.524"
    # Sun 2013 (§3 row 6: -232.91 mL, 12 studies) is the same level but has no DOI or PMID
    sun = next(c for c in e.context if c.item.id == "fus-sun2013-blood-loss")
    assert sun.relation is Relation.SAME_SCALE and "same level" in sun.reason
    assert (sun.item.estimate, sun.item.k_studies) == (-232.91, 12)
    # the flagged Li 2018 meta-analysis of RCTs (§3 row 1: unit not printed) is context, never the figure
    li = next(c for c in e.context if c.item.id == "fus-li2018-blood-loss")
    assert li.item.flags and li.relation is Relation.UNIT_MISMATCH


def test_length_of_stay_decompression_is_the_conference_meta_analysis() -> None:
    """literature.md §2 row 12, AANS 2025 poster: LOS MD -3.26 days (-6.38 to -0.13), 4 studies /
    618 patients. Phan 2016 (-2.1 days) prints no interval, so it cannot give a verdict."""
    e = literature_for("length_of_stay", "decompression")
    assert e is not None
    assert (e.estimate, e.ci_low, e.ci_high, e.k_studies, e.n_patients) == (-3.26, -6.38, -0.13, 4, 618)
    assert e.level == "ma_conf" and e.verdict == "supported"
    phan = next(c for c in e.context if c.item.id == "dec-phan2016-los")
    assert phan.reason.startswith("no interval")


def test_radiation_with_mis_fusion_contradicts_the_imaging_claim() -> None:
    """Fluoroscopy time: literature.md §3 row 15, Park 2018: 25.4 s longer (22.0 to 28.8), AGAINST.
    Dose: arm_data.csv PMC8119907 Table 4, total 82.02 (SD 56.24, n 35) vs 22.56 (SD 22.62, n 56)
    mGy → MD 59.46, Wald 95% CI ± 1.959964 sqrt(56.24²/35 + 22.62²/56)."""
    t = literature_for("fluoro_time", "fusion")
    assert t is not None and (t.estimate, t.ci_low, t.ci_high, t.unit) == (25.4, 22.0, 28.8, "s")
    assert t.verdict == "contradicted" and t.against_claim
    d = literature_for("fluoro_dose", "fusion")
    assert d is not None and d.source_ids == ("fus-pmc8119907-dose-total",)
    half = 1.959963984540054 * math.sqrt(56.24**2 / 35 + 22.62**2 / 56)
    assert d.estimate == pytest.approx(59.46, abs=1e-9)
    assert (d.ci_low, d.ci_high) == (pytest.approx(59.46 - half), pytest.approx(59.46 + half))
    assert d.verdict == "contradicted" and d.level == "observational" and d.n_patients == 35 + 56
    assert d.effect_source is not None and d.effect_source.startswith("computed from the published arm data")
    assert d.citations[0].doi == "10.1177/2192568220908242"
    pooled = literature_for("fluoro_time", "pooled")
    assert pooled is not None and pooled.estimate is None
    fusion = next(f for f in pooled.by_family if f.comparison == "fusion")
    assert fusion.verdict == "contradicted"


@pytest.mark.parametrize(("claim", "comparison", "row_id", "why"), [
    # literature.md §1 row 1, Int Orthop 2014: recurrence RR 1.95 (1.19-3.19), AGAINST (more recurrence)
    ("reoperation_free", "discectomy", "disc-intorth2014-recurrence", "more recurrence after MIS discectomy"),
    # literature.md §1 row 7, SIPS 2 years: leg pain +3.3 mm VAS (0.2-6.2), AGAINST
    ("leg_pain_12m", "discectomy", "disc-sips2y-leg-pain", "more leg pain over two years with MIS"),
    # 10-year fusion cohort: ODI at 10 years no different, AGAINST (equal long-term outcomes)
    ("odi_24m", "fusion", "fus-tenyear-odi-10y", "equal long-term outcomes"),
    # Zhai 2024: more fluoroscopy shots with MIS fusion (flagged), AGAINST
    ("fluoro_time", "fusion", "fus-zhai2024-fluoroscopy-count", "more radiation"),
])
def test_evidence_against_the_claim_is_in_the_context(claim: str, comparison: str, row_id: str, why: str) -> None:
    e = literature_for(claim, comparison)
    assert e is not None
    row = next(c for c in e.context if c.item.id == row_id)
    assert row.item.against_claim and row.item.against, why
    assert row.as_dict()["against"] is True and row.as_dict()["citation"]["text"]


def test_every_shown_figure_and_context_row_has_a_citation_and_no_flag() -> None:
    for claim, comparison in ALL:
        e = literature_for(claim, comparison)
        assert e is not None, (claim, comparison)
        entries = [e, *e.by_family]
        for x in entries:
            if x.has_figure:
                assert x.citations and all(c.doi or c.pmid or c.url for c in x.citations), (claim, comparison)
                assert x.flags == () and x.ci_low is not None and x.ci_high is not None
                assert x.ci_low <= x.estimate <= x.ci_high
                assert x.relation in ("same_scale", "convertible") and x.verdict is not None
                sources = [STUDIES.get(i) or ARMS.get(i) for i in x.source_ids]
                assert all(s is not None and not s.flags for s in sources), x.source_ids
            else:
                assert x.gap, (claim, comparison)
        for c in e.context:
            cite = c.item.as_dict()["citation"]
            assert cite["doi"] or cite["pmid"] or cite["url"], c.item.id


def test_the_hierarchy_meta_analyses_before_our_pool_before_single_studies() -> None:
    """Discectomy blood loss has no eligible figure (Int Orthop 2014 prints no unit). Two
    worked-example arm rows (Normand 1999 numbers, as in test_pooling) make our own pool the
    figure; a same-scale meta-analysis of RCTs then outranks it."""
    base = ARMS["arm-wu2018-ebl"]
    arms = [replace(base, id=f"arm-test-{name}", comparison=Comparison.DISCECTOMY, study=name,
                    citation=replace(base.citation, doi="", url=f"https://example.org/{name}", authors=name),
                    mis_n=n1, mis_mean=float(m1), mis_sd=float(s1), open_n=n2, open_mean=float(m2), open_sd=float(s2))
            for name, n1, m1, s1, n2, m2, s2 in NORMAND[:3]]
    assert literature_for("blood_loss", "discectomy").estimate is None  # type: ignore[union-attr]
    own = literature_for("blood_loss", "discectomy", studies=load_studies(), arms=[*load_arm_data(), *arms])
    assert own is not None and own.level == "pooled_here" and own.k_studies == 3
    assert set(own.source_ids) == {a.id for a in arms} and len(own.citations) == 3
    assert own.effect_source is not None and "Hartung-Knapp" in own.effect_source
    ma = replace(STUDIES["dec-aans2025-blood-loss"], id="disc-test-ma", comparison=Comparison.DISCECTOMY,
                 design=Design.MA_RCT)
    top = literature_for("blood_loss", "discectomy", studies=[*load_studies(), ma], arms=[*load_arm_data(), *arms])
    assert top is not None and top.level == "ma_rct" and top.source_ids == ("disc-test-ma",)
    assert any(c.item.id in {a.id for a in arms} for c in top.context)
    assert [code for code, _ in LEVELS] == ["ma_rct", "ma_obs", "ma_conf", "pooled_here", "rct", "observational"]


def test_convertible_rows_are_converted_with_the_claims_map_factor() -> None:
    """A fluoroscopy time printed in minutes is shown in seconds (factor 60)."""
    park = STUDIES["fus-park2018-fluoroscopy-time"]
    minutes = replace(park, unit=Unit.MIN, estimate=0.5, ci_low=0.4, ci_high=0.6, norm_estimate=0.5, norm_ci_low=0.4,
                      norm_ci_high=0.6)
    e = literature_for("fluoro_time", "fusion", studies=[minutes], arms=[])
    assert e is not None and e.relation == "convertible" and e.conversion_factor == 60.0
    assert (e.estimate, e.ci_low, e.ci_high) == (pytest.approx(30.0), pytest.approx(24.0), pytest.approx(36.0))
    assert any("factor 60" in n for n in e.notes)


def test_pooled_comparison_shows_the_families_not_one_figure() -> None:
    e = literature_for("blood_loss", "pooled")
    assert e is not None and e.scope == "by_procedure_family" and e.estimate is None and e.verdict is None
    fams = {f.comparison: f for f in e.by_family}
    assert set(fams) == {"discectomy", "decompression", "fusion"}
    assert fams["fusion"].source_ids == ("fus-park2018-blood-loss",) and fams["discectomy"].estimate is None
    assert fams["decompression"].estimate == -55.2  # literature.md §2 row 13, AANS 2025: -55.2 mL
    assert "by procedure family" in e.gap.lower() and all(f.context == () for f in e.by_family)
    shown = {i for f in e.by_family for i in f.source_ids}
    assert shown.isdisjoint(c.item.id for c in e.context)
    assert {c.item.comparison for c in e.context} >= {Comparison.DISCECTOMY, Comparison.FUSION}


def test_entries_without_a_figure_say_why() -> None:
    gap = literature_for("wrong_level", "fusion")
    assert gap is not None and gap.estimate is None
    ce = next(c for c in CLAIM_EVIDENCE if c.claim == "wrong_level")
    assert gap.gap == ce.gap and gap.context == ()
    svc = literature_for("blood_loss", "surgery_vs_conservative")
    assert svc is not None and svc.scope == "not_covered" and "MIS with open surgery only" in svc.gap
    ssi = literature_for("ssi", "fusion")
    assert ssi is not None and ssi.estimate is None and "with an interval" in ssi.gap
    # Park 2018 (§3 row 11): SSI OR 0.3 (0.1-0.9) is an odds ratio, so context, not the risk-ratio figure
    park = next(c for c in ssi.context if c.item.id == "fus-park2018-infection")
    assert park.relation is Relation.UNIT_MISMATCH and "odds ratio, not a risk ratio" in park.reason
    assert (park.item.estimate, park.item.ci_low, park.item.ci_high) == (0.3, 0.1, 0.9)
    assert literature_for("blood_loss", "no_such_comparison") is None
    assert literature_for("no_such_claim", "fusion") is None


def test_scorecard_rows_carry_the_literature_entry() -> None:
    """claim_result_as_dict fills "literature" with literature_for(...).as_dict()."""
    from spinetrack.analysis.run import ClaimResult
    from spinetrack.analysis.scorecard import claim_result_as_dict

    for claim, comparison in [("blood_loss", "fusion"), ("wrong_level", "pooled"),
                              ("odi_12m", "surgery_vs_conservative")]:
        row = claim_result_as_dict(ClaimResult(claim=claim, comparison=comparison, estimand="ATO",
                                               status="not applicable", effect=None, verdict=None))
        expected = literature_for(claim, comparison)
        assert expected is not None
        assert row["literature"] == json.loads(json.dumps(expected.as_dict()))
        assert row["claim"] == claim and "verdict" in row  # existing keys unchanged
    json.dumps(row, allow_nan=False)


def test_every_claim_and_comparison_serialises() -> None:
    total = 0
    for claim, comparison in ALL:
        e = literature_for(claim, comparison)
        assert e is not None
        total += len(json.dumps(e.as_dict(), allow_nan=False))
    assert total < 3_000_000  # the literature adds well under 3 MB to a full scorecard document
