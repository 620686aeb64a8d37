"""Spot checks: shipped figures against the published numbers they were copied from.

Each case names its oracle, meaning the row of the project's evidence seed (the section and
row of its literature notes, or its arm-data row) and the source's DOI or PMID. The expected
values are typed here from that row. The seed itself is not read at test time because CI does
not have it. Floats compare exactly, since every number is copied as printed and never
re-computed.
"""

from __future__ import annotations

from typing import Any

import pytest

from spinetrack.evidence import (
    Flag,
    Measure,
    PublishedEstimate,
    SignConvention,
    Unit,
    load_arm_data,
    load_studies,
)

STUDIES = {r.id: r for r in load_studies()}
ARMS = {a.id: a for a in load_arm_data()}

# (row id, expected attributes, oracle)
STUDY_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("disc-intorth2014-recurrence",
     {"measure": Measure.RR, "estimate": 1.95, "ci_low": 1.19, "ci_high": 3.19, "k_studies": 16,
      "n_patients": 2139, "against_claim": True},
     "literature.md §1 row 1, Int Orthop 2014 doi:10.1007/s00264-014-2331-0: RR 1.95 (1.19-3.19), 16 RCTs / 2,139"),
    ("disc-intorth2014-incision",
     {"measure": Measure.MD, "estimate": -1.91, "ci_low": -3.33, "ci_high": -0.50, "unit": Unit.NOT_STATED},
     "literature.md §1 row 2, Int Orthop 2014: MD -1.91 (-3.33 to -0.50), unit not stated"),
    ("disc-intorth2014-operative-time",
     {"estimate": 11.03, "ci_low": 6.62, "ci_high": 15.44, "against_claim": True},
     "literature.md §1 row 3, Int Orthop 2014: MD +11.03 (6.62-15.44), AGAINST"),
    ("disc-sips2y-leg-pain",
     {"estimate": 3.3, "ci_low": 0.2, "ci_high": 6.2, "unit": Unit.VAS_0_100, "n_mis": 167, "n_open": 161},
     "literature.md §1 row 7, SIPS 2-year report PMID 21792119: leg pain delta 3.3 mm (0.2-6.2), 167 vs 161"),
    ("disc-sips2y-good-recovery-or",
     {"measure": Measure.OR, "estimate": 0.76, "ci_low": 0.45, "ci_high": 1.28},
     "literature.md §1 row 9, SIPS PMID 21792119: good recovery 71% vs 77%, OR 0.76 (0.45-1.28)"),
    ("disc-gadjradj2022-leg-pain-median",
     {"measure": Measure.MEDIAN_PAIR, "mis_value": 7.0, "open_value": 16.0, "mis_spread_low": 1.0,
      "mis_spread_high": 30.0, "open_spread_low": 2.0, "open_spread_high": 53.5, "n_mis": 179, "n_open": 309},
     "literature.md §1 row 12, Gadjradj BMJ 2022 doi:10.1136/bmj-2021-065846: "
     "median 7.0 (1.0-30.0) vs 16.0 (2.0-53.5)"),
    ("disc-gadjradj2022-leg-pain-difference",
     {"estimate": 7.1, "ci_low": 2.8, "ci_high": 11.3, "sign_convention": SignConvention.OPEN_MINUS_MIS,
      "norm_estimate": -7.1, "norm_ci_low": -11.3, "norm_ci_high": -2.8},
     "literature.md §1 row 12, Gadjradj BMJ 2022: between-group difference 7.1 (2.8 to 11.3) in favour of PTED"),
    ("disc-pang2020-complications",
     {"mis_value": 6.25, "open_value": 22.92, "n_mis": 48, "n_open": 48},
     "literature.md §1 row 15, Pang 2020 doi:10.12998/wjcc.v8.i14.2942: complications 6.25% vs 22.92%"),
    ("dec-phan2016-satisfaction",
     {"measure": Measure.PROPORTION_PAIR, "mis_value": 84.0, "open_value": 75.4},
     "literature.md §2 row 1, Phan & Mobbs Spine 2016 doi:10.1097/BRS.0000000000001161: "
     "satisfaction 84% vs 75.4%, P = 0.03"),
    ("dec-nma-adverse-events",
     {"measure": Measure.OR, "estimate": 0.27, "ci_low": 0.09, "ci_high": 0.86},
     "literature.md §2 row 11, NMA PMC11463109: adverse events OR 0.27 (0.09 to 0.86)"),
    ("dec-aans2025-reoperation",
     {"estimate": 0.34, "ci_low": 0.06, "ci_high": 1.86, "i2": 0.0, "k_studies": 4, "n_patients": 618},
     "literature.md §2 row 16, AANS 2025 poster: reoperation due to recurrence OR 0.34 (0.06, 1.860), I2=0%, "
     "4 studies / 618"),
    ("dec-aans2025-los",
     {"estimate": -3.26, "ci_low": -6.38, "ci_high": -0.13, "i2": 98.0, "n_mis": 291, "n_open": 327},
     "literature.md §2 row 12, AANS 2025 poster: LOS MD -3.26 days (-6.38 to -0.13), I2=98%, 291 MID / 327 open"),
    ("fus-li2018-blood-loss",
     {"estimate": -291.46, "ci_low": -366.66, "ci_high": -216.47, "k_studies": 7, "unit_assumed": "mL"},
     "literature.md §3 row 1, Li 2018 doi:10.1186/s13018-018-0941-8: WMD -291.46 (-366.66 to -216.47), 7 RCTs"),
    ("fus-sun2013-los",
     {"estimate": -2.11, "ci_low": -2.76, "ci_high": -1.45, "unit": Unit.DAYS, "k_studies": 12, "n_patients": 830},
     "literature.md §3 row 8, Sun 2013 Chin Med J 126(20):3962: hospital stay -2.11 days (-2.76 to -1.45), 12 / 830"),
    ("fus-park2018-blood-loss",
     {"estimate": 269.5, "ci_low": 246.2, "ci_high": 292.9, "sign_convention": SignConvention.OPEN_MINUS_MIS,
      "norm_estimate": -269.5, "norm_ci_low": -292.9, "norm_ci_high": -246.2, "unit": Unit.ML},
     "literature.md §3 row 12, Park 2018 doi:10.3349/ymj.2018.59.4.524: "
     "269.5 mL less (246.2 to 292.9), printed positive"),
    ("fus-park2018-fluoroscopy-time",
     {"estimate": 25.4, "ci_low": 22.0, "ci_high": 28.8, "unit": Unit.S, "against_claim": True},
     "literature.md §3 row 15, Park 2018: radiation exposure time 25.4 s longer (22.0 to 28.8), AGAINST"),
    ("fus-zhai2024-fluoroscopy-count",
     {"estimate": None, "ci_low": 2.07, "ci_high": 6.12, "against_claim": True},
     "literature.md §3 row 20, Zhai 2024 doi:10.3892/etm.2024.12450: fluoroscopy frequency 95% CI 2.07 to 6.12"),
    ("fus-crude-sr-complications",
     {"mis_events": 54, "n_mis": 455, "mis_value": 11.87, "open_events": 64, "n_open": 446, "open_value": 14.35},
     "literature.md §3 row 23, unverified SR: 54/455 (11.87%) vs 64/446 (14.35%)"),
    ("fus-rampersaud2011-cost",
     {"measure": Measure.RATIO_OF_MEANS, "estimate": 1.28, "sign_convention": SignConvention.OPEN_OVER_MIS,
      "norm_estimate": None},
     "literature.md §3 row 30, Rampersaud SAS J 2011 doi:10.1016/j.esas.2011.02.001: open cost 1.28 times MIS"),
    ("fus-midlif-cost-difference",
     {"estimate": 2493.0, "unit": Unit.USD, "sign_convention": SignConvention.OPEN_MINUS_MIS},
     "literature.md §3 row 33, J Neurosurg Spine 32(1):31: $2493 lower (printed; inconsistent with the means)"),
    ("fus-pmc8119907-dose-total",
     {"mis_value": 82.02, "open_value": 22.56, "unit": Unit.MGY, "n_mis": 35, "n_open": 56, "against_claim": True},
     "literature.md §3 row 34, Global Spine J PMC8119907 Table 4: 82.02 vs 22.56 mGy"),
    ("cc-sharma2022-dural-tear",
     {"mis_value": 6.4, "open_value": 15.9, "n_mis": 156, "n_open": 264, "n_patients": 420},
     "literature.md §4 row 1, Sharma Asian Spine J 2022 doi:10.31616/asj.2021.0140: 6.4% vs 15.9%"),
    ("cc-lateral2018-reoperation-2y",
     {"mis_value": 2.09, "open_value": 5.37, "n_mis": 1292, "n_open": 768},
     "literature.md §4 row 4, World Neurosurg 2018 doi:10.1016/j.wneu.2018.05.082: 2 y 2.09% vs 5.37%"),
]

ARM_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("arm-wu2018-ebl",
     {"mis_n": 79, "mis_mean": 163.7, "mis_sd": 49.6, "open_n": 88, "open_mean": 243.3, "open_sd": 70.2},
     "arm_data.csv row 1, Wu AM 2018 doi:10.21037/atm.2018.02.11: 163.7 +/- 49.6 mL (79) vs 243.3 +/- 70.2 (88)"),
    ("arm-pmc8119907-dose-per-level",
     {"mis_mean": 79.41, "mis_sd": 54.25, "open_mean": 18.56, "open_sd": 19.53, "unit": Unit.MGY_PER_LEVEL},
     "arm_data.csv row 11, PMC8119907 Table 4: 79.41 +/- 54.25 vs 18.56 +/- 19.53 mGy per level"),
    ("arm-ijss-odi-baseline",
     {"mis_n": 69, "mis_mean": 56.7, "mis_sd": 4.9, "open_n": 76, "open_mean": 55.2, "open_sd": 5.2},
     "arm_data.csv row 6, Int J Spine Surg 15(5):962: preoperative ODI 56.7 +/- 4.9 (MIS) vs 55.2 +/- 5.2 (open)"),
    ("arm-ijss-revision", {"mis_events": 5, "open_events": 2, "mis_n": 69, "open_n": 76},
     "arm_data.csv row 8, Int J Spine Surg 15(5):962: revisions 5 MIS vs 2 open"),
    ("arm-hockley2019-opioids-3m", {"mis_pct": 21.0, "open_pct": 36.0, "mis_n": 63, "open_n": 109},
     "arm_data.csv row 20, Hockley 2019 PMID 31448196: ongoing opioid use at 3 months 21% vs 36%"),
    ("arm-gadjradj2022-leg-pain",
     {"mis_median": 7.0, "mis_q1": 1.0, "mis_q3": 30.0, "open_median": 16.0, "open_q1": 2.0, "open_q3": 53.5},
     "arm_data.csv row 26, Gadjradj BMJ 2022: median 7.0 (1.0-30.0) vs 16.0 (2.0-53.5)"),
    ("arm-ramanathan2023-reoperation", {"mis_n": 235, "mis_pct": 14.0, "open_n": 1895, "open_pct": 28.0},
     "arm_data.csv row 37, Ramanathan World Neurosurg 2023 doi:10.1016/j.wneu.2022.11.100: 14% (235) vs 28% (1895)"),
]


@pytest.mark.parametrize(("row_id", "expected", "oracle"), STUDY_CASES, ids=[c[0] for c in STUDY_CASES])
def test_study_figure_matches_published_source(row_id: str, expected: dict[str, Any], oracle: str) -> None:
    row = STUDIES[row_id]
    got = {k: getattr(row, k) for k in expected}
    assert got == expected, oracle


@pytest.mark.parametrize(("row_id", "expected", "oracle"), ARM_CASES, ids=[c[0] for c in ARM_CASES])
def test_arm_figure_matches_published_source(row_id: str, expected: dict[str, Any], oracle: str) -> None:
    arm = ARMS[row_id]
    got = {k: getattr(arm, k) for k in expected}
    assert got == expected, oracle


def test_citations_carry_the_published_identifiers() -> None:
    """DOI / PMID as printed in literature.md §1 (Overdevest 2017, Gadjradj 2022) and §3 (Park 2018)."""
    assert STUDIES["disc-overdevest2017-5y"].citation.doi == "10.1136/jnnp-2016-315306"
    assert STUDIES["disc-overdevest2017-5y"].citation.pmid == "28550071"
    assert STUDIES["disc-gadjradj2022-leg-pain-median"].citation.pmid == "35190388"
    park = STUDIES["fus-park2018-odi-improvement"].citation
    assert (park.journal, park.year, park.volume, park.issue, park.pages) == (
        "Yonsei Med J", 2018, "59", "4", "524-538")
    assert park.url == "https://doi.org/10.3349/ymj.2018.59.4.524"
    assert STUDIES["disc-sips2y-rdq"].citation.url == "https://pubmed.ncbi.nlm.nih.gov/21792119/"


def test_printed_precision_is_kept_for_p_values() -> None:
    """literature.md §3 row 1 (Li 2018) prints P = 0.000; §2 row 2 (Phan 2016) P < 0.00001."""
    assert str(STUDIES["fus-li2018-blood-loss"].p) == "P = 0.000"
    assert str(STUDIES["dec-phan2016-back-pain"].p) == "P < 0.00001"


def test_flags_from_the_seed_are_carried() -> None:
    """Rows the seed marks unverified / check full text / unit not stated / inconsistent / medians."""
    expected = {
        "fus-crude-sr-complications": Flag.UNVERIFIED,           # §3 "treat as unverified"
        "dec-phan2016-reoperation": Flag.CHECK_FULL_TEXT,         # §2 "check full text"
        "disc-intorth2014-incision": Flag.UNIT_NOT_STATED,        # §1 "unit to confirm"
        "disc-intorth2014-los": Flag.INCONSISTENT,                # §1 "internally inconsistent"
        "fus-midlif-cost-means": Flag.INCONSISTENT,               # §3 printed difference != means
        "disc-gadjradj2022-leg-pain-median": Flag.MEDIAN_NOT_MEAN,  # §1 "medians not means"
    }
    for row_id, flag in expected.items():
        row: PublishedEstimate = STUDIES[row_id]
        assert flag in row.flags and not row.poolable, row_id
