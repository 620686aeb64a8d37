"""The claims map: every scorecard claim is mapped (or has a stated gap), and each literature
row's relation to a claim flags unit, measure and timepoint mismatches."""

from __future__ import annotations

import pytest

from spinetrack.errors import ValidationError
from spinetrack.evidence import (
    CLAIM_EVIDENCE,
    ArmSummary,
    PublishedEstimate,
    Relation,
    claim_evidence,
    conversion_factor,
    load_arm_data,
    load_studies,
    relation,
    select,
)

STUDIES = {r.id: r for r in load_studies()}


def test_uncovered_claims_have_an_explicit_empty_mapping_with_a_reason() -> None:
    empty = {ce.claim for ce in CLAIM_EVIDENCE if not ce.covered}
    assert empty == {"wrong_level", "revision_malposition", "back_pain_6w", "return_to_activity_from_enrolment",
                     "readmission"}
    for ce in CLAIM_EVIDENCE:
        if not ce.covered:
            assert ce.links == () and len(ce.gap) > 20, ce.claim


def test_every_link_matches_at_least_one_shipped_row() -> None:
    rows: list[PublishedEstimate | ArmSummary] = [*load_studies(), *load_arm_data()]
    for ce in CLAIM_EVIDENCE:
        if ce.covered:
            assert any(relation(ce.claim, r) is not None for r in rows), ce.claim
            assert select(rows, claim=ce.claim), ce.claim


@pytest.mark.parametrize(
    ("claim", "row_id", "expected"),
    [
        ("blood_loss", "fus-sun2013-blood-loss", Relation.SAME_SCALE),           # MD in mL
        ("blood_loss", "fus-park2018-blood-loss", Relation.SAME_SCALE),          # normalised sign available
        ("blood_loss", "fus-li2018-blood-loss", Relation.UNIT_MISMATCH),         # unit not printed
        ("blood_loss", "fus-zhai2024-blood-loss", Relation.UNIT_MISMATCH),       # estimator not named
        ("blood_loss", "fus-sun2013-drainage", Relation.PROXY),                  # drainage is not EBL
        ("blood_loss", "fus-ijss-blood-loss", Relation.NARRATIVE),
        ("incision", "disc-intorth2014-incision", Relation.UNIT_MISMATCH),       # cm or mm?
        ("fluoro_time", "fus-park2018-fluoroscopy-time", Relation.SAME_SCALE),   # seconds
        ("fluoro_time", "fus-bindal-fluoroscopy-time", Relation.PROXY),          # single arm
        ("fluoro_time", "fus-zhai2024-fluoroscopy-count", Relation.PROXY),       # shots, not time
        ("fluoro_dose", "fus-pmc8119907-dose-total", Relation.SAME_SCALE),
        ("ssi", "cc-mueller2018-ssi", Relation.CONVERTIBLE),                     # percent -> risk
        ("ssi", "fus-park2018-infection", Relation.UNIT_MISMATCH),               # odds ratio
        ("any_complication", "dec-nma-adverse-events", Relation.UNIT_MISMATCH),  # odds ratio
        ("leg_pain_12m", "disc-gadjradj2022-leg-pain-median", Relation.UNIT_MISMATCH),  # medians, VAS
        ("leg_pain_12m", "disc-sips2y-leg-pain", Relation.PROXY),                # averaged over 2 years
        ("leg_pain_2w", "fus-hartmann2022-leg-pain-day3", Relation.PROXY),       # day 3, not 2 weeks
        ("odi_24m", "fus-tenyear-odi-2y", Relation.NARRATIVE),
        ("odi_12m", "fus-park2018-odi-improvement", Relation.PROXY),             # change score, time unstated
        ("reoperation_free", "cc-ramanathan2023-reoperation", Relation.UNIT_MISMATCH),  # proportion, not survival
        ("reoperation_free", "disc-intorth2014-recurrence", Relation.PROXY),
        ("return_to_activity", "fus-parker2014-return-to-work", Relation.PROXY),
        ("eq5d_12m", "fus-parker2014-qaly", Relation.PROXY),
        ("incision", "fus-sun2013-blood-loss", None),
    ],
)
def test_relation_of_a_row_to_a_claim(claim: str, row_id: str, expected: Relation | None) -> None:
    assert relation(claim, STUDIES[row_id]) is expected


def test_unit_mismatches_are_recorded_for_pain_and_reoperation() -> None:
    """VAS rows never sit on the NRS claims' scale; reoperation proportions never on survival."""
    rows: list[PublishedEstimate | ArmSummary] = [*load_studies(), *load_arm_data()]
    for claim in ("leg_pain_12m", "back_pain_12m", "leg_pain_2w", "back_pain_2w", "reoperation_free"):
        rels = {relation(claim, r) for r in rows} - {None}
        assert rels and not rels & {Relation.SAME_SCALE, Relation.CONVERTIBLE}, claim


def test_conversion_factors() -> None:
    assert conversion_factor("ssi", STUDIES["cc-mueller2018-ssi"]) == 0.01
    assert conversion_factor("length_of_stay", STUDIES["fus-sun2013-los"]) == 1.0
    assert conversion_factor("ssi", STUDIES["fus-park2018-infection"]) is None


def test_select_by_claim_and_comparison() -> None:
    rows = select(load_studies(), claim="length_of_stay", comparison="decompression", include_cross_cutting=False)
    assert {r.id for r in rows} >= {"dec-phan2016-los", "dec-aans2025-los"}
    assert all(r.comparison.value == "decompression" for r in rows)


def test_unknown_claim_is_refused() -> None:
    with pytest.raises(ValidationError, match="allowed: incision, blood_loss"):
        claim_evidence("faster_healing")
