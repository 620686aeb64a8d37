"""Pooling the literature base (``spinetrack.evidence.pooling``).

Oracles:

* our pools against ``spinetrack.stats.meta`` on the same inputs (REML, HKSJ), and for the BCG
  trials against metafor's printed values (REML log RR -0.7145, tau^2 0.3132; HKSJ standard
  error 0.1808: metafor ``rma.uni`` help page and README, as in tests/stats/meta);
* the shipped rows against the numbers they were copied from (literature.md / arm_data.csv,
  named per test).

The BCG and Normand tables are statistical worked examples (tuberculosis vaccine trials, stroke
units), wrapped as arm rows only to exercise the pooling; they are not spine evidence.
"""

from __future__ import annotations

import doctest
import math
from dataclasses import replace

import numpy as np
import pytest

from spinetrack.errors import ValidationError
from spinetrack.evidence import (
    ArmStatistic,
    ArmSummary,
    Comparison,
    Design,
    Flag,
    ItemStatus,
    Outcome,
    PublishedEstimate,
    Timepoint,
    Unit,
    load_arm_data,
    load_studies,
    pooling,
    summarize_evidence,
)
from spinetrack.evidence.items import build_items
from spinetrack.evidence.pooling import EvidenceGroup
from spinetrack.stats.meta import (
    effect_sizes_binary,
    effect_sizes_continuous,
    effect_sizes_from_ci,
    effect_sizes_from_variances,
    pool_studies,
)
from tests.stats.meta.reference_data import BCG, NORMAND, assert_printed

STUDIES = {r.id: r for r in load_studies()}
ARMS = {a.id: a for a in load_arm_data()}
BASE_ARM = ARMS["arm-wu2018-ebl"]


def _arm(key: str, *, same_source_as: str | None = None, **changes: object) -> ArmSummary:
    """A test arm row (worked-example numbers) with its own source, unless ``same_source_as``."""
    cite = replace(BASE_ARM.citation, authors=f"Example {same_source_as or key}", doi="", pmid="", pmcid="",
                   url=f"https://example.org/{same_source_as or key}", year=2000)
    return replace(BASE_ARM, id=f"arm-test-{key}", study=f"worked example {key}", citation=cite, **changes)


def _normand_arms(rows: tuple[tuple[str, int, float, float, int, float, float], ...] = NORMAND,
                  **changes: object) -> list[ArmSummary]:
    return [_arm(name.lower(), mis_n=n1, mis_mean=float(m1), mis_sd=float(s1), open_n=n2, open_mean=float(m2),
                 open_sd=float(s2), **changes) for name, n1, m1, s1, n2, m2, s2 in rows]


def _bcg_arms() -> list[ArmSummary]:
    return [_arm(f"{author}-{year}".lower().replace(" ", "-").replace("&", "and"), statistic=ArmStatistic.EVENTS,
                 outcome=Outcome.INFECTION, unit=Unit.COUNT, mis_mean=None, mis_sd=None, open_mean=None,
                 open_sd=None, mis_n=tpos + tneg, mis_events=tpos, open_n=cpos + cneg, open_events=cpos)
            for author, year, tpos, tneg, cpos, cneg, _ablat, _alloc in BCG]


def _group(report_groups: tuple[EvidenceGroup, ...], outcome: str, comparison: str = "fusion") -> EvidenceGroup:
    found = [g for g in report_groups if g.outcome == outcome and g.comparison == comparison]
    assert len(found) == 1, [(g.outcome, g.comparison, g.timepoint_norm) for g in found]
    return found[0]


# ------------------------------------------------------------------------------ doctests


@pytest.mark.parametrize("name", ["pooling", "literature", "citations", "wording", "items"])
def test_docstring_examples_run(name: str) -> None:
    import importlib

    module = importlib.import_module(f"spinetrack.evidence.{name}")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


# ------------------------------------------------------------------- pools against stats.meta


def test_pool_of_arm_means_reproduces_stats_meta_reml_hksj() -> None:
    """Normand (1999) arm means/SDs: our pool = pool_studies(effect_sizes_continuous(MD), REML, HKSJ)."""
    report = summarize_evidence(studies=(), arms=_normand_arms())
    group = _group(report.groups, "blood_loss")
    pooled = group.pooled
    assert pooled is not None and pooled.measure == "MD" and pooled.unit == "mL" and pooled.k == 9
    t = effect_sizes_continuous(n1=[r[1] for r in NORMAND], mean1=[r[2] for r in NORMAND],
                                sd1=[r[3] for r in NORMAND], n2=[r[4] for r in NORMAND],
                                mean2=[r[5] for r in NORMAND], sd2=[r[6] for r in NORMAND], measure="MD")
    ref = pool_studies(t, method="REML", hksj=True)
    for attr in ("estimate", "ci_low", "ci_high", "tau2", "i2", "q", "pi_low", "pi_high"):
        assert getattr(pooled, attr) == pytest.approx(getattr(ref, attr), rel=1e-10, abs=1e-12), attr
    assert pooled.result.hksj and pooled.result.method == "REML" and pooled.result.df == 8
    assert "Hartung-Knapp-Sidik-Jonkman" in pooled.description
    assert {i.status for i in group.items} == {ItemStatus.POOLED}
    assert pooled.n_patients == sum(r[1] + r[4] for r in NORMAND)
    assert len(pooled.citations) == 9 and all(c.url for c in pooled.citations)


def test_pool_of_events_reproduces_metafor_bcg_reml_and_hksj() -> None:
    """BCG trials as events per arm → RR. Oracle: metafor REML log RR -0.7145, tau^2 0.3132,
    RR 0.4894 (rma.uni help page) and HKSJ SE 0.1808 (metafor README, test="knha")."""
    report = summarize_evidence(studies=(), arms=_bcg_arms())
    pooled = _group(report.groups, "infection").pooled
    assert pooled is not None and pooled.measure == "RR" and pooled.k == 13 and pooled.is_ratio
    assert_printed(pooled.result.estimate, "-0.7145")
    assert_printed(pooled.tau2, "0.3132")
    assert_printed(pooled.estimate, "0.4894")
    assert_printed(pooled.result.standard_error, "0.1808")
    t = effect_sizes_binary(events1=[r[2] for r in BCG], n1=[r[2] + r[3] for r in BCG],
                            events2=[r[4] for r in BCG], n2=[r[4] + r[5] for r in BCG], measure="RR")
    ref = pool_studies(t, method="REML", hksj=True)
    assert pooled.ci_low == pytest.approx(math.exp(ref.ci_low), rel=1e-10)
    assert pooled.ci_high == pytest.approx(math.exp(ref.ci_high), rel=1e-10)
    assert pooled.q == pytest.approx(ref.q, rel=1e-10) and pooled.q_df == 12


def test_published_estimate_with_ci_pools_with_arm_data_and_two_studies_get_the_hksj_note() -> None:
    """SIPS 2-year leg pain, MD +3.3 (0.2 to 6.2) VAS 0-100 (literature.md §1 row 7, PMID 21792119)
    pooled with one worked-example arm row in the same unit: variance back-calculated from the
    interval (effect_sizes_from_ci), then REML + HKSJ on the two (yi, vi)."""
    sips = STUDIES["disc-sips2y-leg-pain"]
    arm = _arm("vas", comparison=Comparison.DISCECTOMY, outcome=Outcome.LEG_PAIN, unit=Unit.VAS_0_100,
               timepoint_norm=Timepoint.UP_TO_24M, mis_n=50, mis_mean=20.0, mis_sd=15.0, open_n=50, open_mean=18.0,
               open_sd=16.0)
    report = summarize_evidence(studies=[sips], arms=[arm])
    group = next(g for g in report.groups if g.outcome == "leg_pain")
    assert group.pooled is not None and group.pooled.k == 2
    pub = effect_sizes_from_ci([3.3], [0.2], [6.2], measure="MD")
    own = effect_sizes_continuous(n1=[50], mean1=[20.0], sd1=[15.0], n2=[50], mean2=[18.0], sd2=[16.0], measure="MD")
    ref = pool_studies(effect_sizes_from_variances([pub.yi[0], own.yi[0]], [pub.vi[0], own.vi[0]], measure="MD"),
                       method="REML", hksj=True)
    assert group.pooled.estimate == pytest.approx(ref.estimate, rel=1e-12)
    assert group.pooled.ci_low == pytest.approx(ref.ci_low, rel=1e-12)
    assert any("1 degree of freedom" in n for n in group.pooled.notes)
    assert any("never combined" in n for n in group.pooled.notes)
    assert {i.id: i.status for i in group.items} == {sips.id: ItemStatus.POOLED, arm.id: ItemStatus.POOLED}


def test_units_that_differ_are_pooled_as_smd_and_the_pool_says_so() -> None:
    arms = [replace(a, unit=u) for a, u in zip(_normand_arms(NORMAND[:3]), (Unit.ML, Unit.MIN, Unit.S), strict=True)]
    pooled = _group(summarize_evidence(studies=(), arms=arms).groups, "blood_loss").pooled
    assert pooled is not None and pooled.measure == "SMD" and pooled.unit == "SD units"
    t = effect_sizes_continuous(n1=[r[1] for r in NORMAND[:3]], mean1=[r[2] for r in NORMAND[:3]],
                                sd1=[r[3] for r in NORMAND[:3]], n2=[r[4] for r in NORMAND[:3]],
                                mean2=[r[5] for r in NORMAND[:3]], sd2=[r[6] for r in NORMAND[:3]], measure="SMD")
    assert pooled.estimate == pytest.approx(pool_studies(t, method="REML", hksj=True).estimate, rel=1e-10)
    assert any("units differ (mL, min, s)" in n and "standardised mean difference" in n for n in pooled.notes)


def test_same_unit_mean_differences_are_preferred_to_an_smd() -> None:
    arms = _normand_arms(NORMAND[:3])
    arms[2] = replace(arms[2], unit=Unit.MIN)
    group = _group(summarize_evidence(studies=(), arms=arms).groups, "blood_loss")
    assert group.pooled is not None and (group.pooled.measure, group.pooled.unit, group.pooled.k) == ("MD", "mL", 2)
    odd = next(i for i in group.items if i.id == arms[2].id)
    assert odd.status is ItemStatus.SINGLE_STUDY and "MD in min" in odd.reasons[0]


# ------------------------------------------------------------------- what is never pooled


def test_flagged_and_median_rows_are_never_pooled() -> None:
    arms = _normand_arms(NORMAND[:4])
    arms[0] = replace(arms[0], flags=frozenset({Flag.CHECK_FULL_TEXT}), poolable=False)
    arms[1] = replace(arms[1], statistic=ArmStatistic.MEDIAN_IQR, flags=frozenset({Flag.MEDIAN_NOT_MEAN}),
                      poolable=False, mis_mean=None, mis_sd=None, open_mean=None, open_sd=None, mis_median=20.0,
                      mis_q1=10.0, mis_q3=30.0, open_median=25.0, open_q1=12.0, open_q3=40.0)
    group = _group(summarize_evidence(studies=(), arms=arms).groups, "blood_loss")
    assert group.pooled is not None and set(group.pooled.study_ids) == {arms[2].id, arms[3].id}
    status = {i.id: i for i in group.items}
    assert status[arms[0].id].status is ItemStatus.NOT_POOLED
    assert status[arms[0].id].reasons[0] == "flagged: not yet checked against the full text"
    assert status[arms[1].id].status is ItemStatus.NOT_POOLED
    assert "medians are not means" in status[arms[1].id].reasons


def test_shipped_flagged_rows_medians_and_narratives_are_listed_not_pooled() -> None:
    report = summarize_evidence()
    items = report.items
    assert len(items) == len(STUDIES) + len(ARMS) - len({s.arm_id for s in STUDIES.values() if s.arm_id})
    for i in items:
        if i.flags or i.measure.value in ("narrative", "median_pair"):
            assert i.status is ItemStatus.NOT_POOLED and i.reasons, i.id
        if i.is_published_pool:
            assert i.status in (ItemStatus.ALREADY_POOLED, ItemStatus.NOT_POOLED), i.id
        if i.status is ItemStatus.NOT_POOLED:
            assert i.reasons, i.id
    by_id = {i.id: i for i in items}
    # Gadjradj BMJ 2022 (literature.md §1 row 12): medians 7.0 (1.0-30.0) vs 16.0 (2.0-53.5)
    median = by_id["disc-gadjradj2022-leg-pain-median"]
    assert median.status is ItemStatus.NOT_POOLED and "medians are not means" in median.reasons
    # Li 2018 (literature.md §3 row 1): WMD -291.46, unit not printed → flagged, listed, not pooled
    li = by_id["fus-li2018-blood-loss"]
    assert li.status is ItemStatus.NOT_POOLED and li.flags == ("check_full_text", "unit_not_stated")
    assert not any(g.pooled for g in report.groups)  # no group has two independent primary studies
    assert any("nothing is pooled" in n for n in report.notes)


def test_published_meta_analyses_are_already_pooled_and_never_re_pooled() -> None:
    """Sun 2013 (§3 row 6: -232.91 mL, 12 studies) and Park 2018 (§3 row 12: 269.5 mL less) stay as
    published even when two primary studies of the same group are pooled beside them."""
    studies = [STUDIES["fus-sun2013-blood-loss"], STUDIES["fus-park2018-blood-loss"]]
    arms = [BASE_ARM, *_normand_arms(NORMAND[:2], comparison=Comparison.FUSION)]
    group = _group(summarize_evidence(studies=studies, arms=arms).groups, "blood_loss")
    status = {i.id: i.status for i in group.items}
    assert status["fus-sun2013-blood-loss"] is ItemStatus.ALREADY_POOLED
    assert status["fus-park2018-blood-loss"] is ItemStatus.ALREADY_POOLED
    assert group.pooled is not None
    assert set(group.pooled.study_ids) == {"arm-wu2018-ebl", *(a.id for a in arms[1:])}
    sun = next(i for i in group.items if i.id == "fus-sun2013-blood-loss")
    assert (sun.estimate, sun.ci_low, sun.ci_high) == (-232.91, -322.48, -143.33)
    assert "never re-pooled" in sun.reasons[0]


def test_two_figures_of_one_study_are_not_independent() -> None:
    a, b = _normand_arms(NORMAND[:2])
    b = _arm("second", same_source_as=a.id.removeprefix("arm-test-"), mis_n=b.mis_n, mis_mean=b.mis_mean,
             mis_sd=b.mis_sd, open_n=b.open_n, open_mean=b.open_mean, open_sd=b.open_sd)
    group = _group(summarize_evidence(studies=(), arms=[a, b]).groups, "blood_loss")
    assert group.pooled is None
    assert [i.status for i in group.items] == [ItemStatus.SINGLE_STUDY, ItemStatus.SINGLE_STUDY]
    assert "not independent" in group.items[1].reasons[0]


def test_meta_analysis_rows_never_enter_a_pool_even_with_arm_data() -> None:
    ma = [replace(a, design=Design.MA_OBS) for a in _normand_arms(NORMAND[:3])]
    group = _group(summarize_evidence(studies=(), arms=ma).groups, "blood_loss")
    assert group.pooled is None and all(i.status is ItemStatus.ALREADY_POOLED for i in group.items)


# ------------------------------------------------------------------------ shipped figures


def test_single_cohort_effect_is_computed_from_its_published_arms() -> None:
    """arm_data.csv arm-wu2018-ebl: 79 MIS 163.7 (SD 49.6) vs 88 open 243.3 (SD 70.2) mL →
    MD -79.6, Wald 95% CI ± 1.959964 * sqrt(49.6²/79 + 70.2²/88)."""
    wu = next(i for i in build_items() if i.id == "arm-wu2018-ebl")
    half = 1.959963984540054 * math.sqrt(49.6**2 / 79 + 70.2**2 / 88)
    assert wu.effect_measure == "MD" and wu.estimate == pytest.approx(-79.6, abs=1e-12)
    assert (wu.ci_low, wu.ci_high) == (pytest.approx(-79.6 - half), pytest.approx(-79.6 + half))
    assert wu.effect_source is not None and wu.effect_source.startswith("computed from the published arm data")
    assert wu.n_patients == 167 and wu.status is ItemStatus.NOT_POOLED  # status is decided in groups


def test_every_listed_row_carries_its_citation_quality_and_flags() -> None:
    for group in summarize_evidence().groups:
        for i in group.items:
            d = i.as_dict()
            c = d["citation"]
            assert c["doi"] or c["pmid"] or c["url"], i.id
            assert c["text"] and c["short"] and d["quality"] and d["design"], i.id
            assert d["flags"] == sorted(d["flags"]) and isinstance(d["against_claim"], bool)
            assert d["status"] in {s.value for s in ItemStatus}


def test_summary_filters_by_claim_and_comparison() -> None:
    r = summarize_evidence(claim="length_of_stay", comparison="fusion")
    assert r.claims == ("length_of_stay",)
    assert r.groups and all("length_of_stay" in g.claims for g in r.groups)
    assert {g.comparison for g in r.groups} <= {Comparison.FUSION, Comparison.CROSS_CUTTING}
    several = summarize_evidence(claim=["length_of_stay", "return_to_activity"])
    assert {g.outcome for g in several.groups} >= {Outcome.LENGTH_OF_STAY, Outcome.RETURN_TO_WORK}
    none = summarize_evidence(comparison="surgery_vs_conservative")
    assert none.groups == () and "MIS with open surgery only" in none.notes[0]
    gap = summarize_evidence(claim="wrong_level")
    assert gap.groups == () and "wrong-level" in gap.notes[0]
    with pytest.raises(ValidationError, match="comparison"):
        summarize_evidence(comparison="spine")
    with pytest.raises(ValidationError, match="length_of_stay"):
        summarize_evidence(claim="recovery")


def test_report_as_dict_is_json_ready() -> None:
    import json

    doc = summarize_evidence(claim="blood_loss").as_dict()
    text = json.dumps(doc, allow_nan=False)
    assert json.loads(text)["counts"] == doc["counts"]
    assert doc["method"].startswith(pooling.POOLING_METHOD)
    assert all(isinstance(x, (int, float)) or x is None for g in doc["groups"] for i in g["items"]
               for x in (i["estimate"], i["ci_low"]))
    assert not np.isnan([i["estimate"] for g in doc["groups"] for i in g["items"]
                         if i["estimate"] is not None]).any()


def test_items_of_study_rows_keep_their_normalised_sign() -> None:
    """Park 2018 prints 269.5 mL less (open - MIS, literature.md §3 row 12): listed as -269.5."""
    park: PublishedEstimate = STUDIES["fus-park2018-blood-loss"]
    item = next(i for i in build_items() if i.id == park.id)
    assert park.estimate == 269.5 and park.sign_convention.value == "open_minus_mis"
    assert (item.estimate, item.ci_low, item.ci_high) == (-269.5, -292.9, -246.2)
