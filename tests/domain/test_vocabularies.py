"""Clinical vocabularies of the pure domain: diagnoses, levels, imaging findings, procedures,
conservative care and complications.

Every reference value below is taken from the primary source named beside it (the ICD-10-CM
FY2025 tabular list, lumbar disc nomenclature 2.0, Clavien-Dindo 2004, the CDC surgical-site
infection definitions) or is the vocabulary spinetrack records, and is written out here by hand,
never read back from the code under test.
"""

from __future__ import annotations

import itertools
import re
from importlib import resources

import pytest

from spinetrack.domain import pathway
from spinetrack.domain.complications import ClavienDindo, ComplicationCategory
from spinetrack.domain.diagnosis import (
    DIAGNOSES,
    ICD10CM_EDITION,
    CentralStenosisGrade,
    DiagnosisGroup,
    FindingKind,
    HerniationMorphology,
    HerniationZone,
    ImagingFinding,
    Level,
    MeyerdingGrade,
    PfirrmannGrade,
    format_levels,
    get_diagnosis,
    parse_levels,
)
from spinetrack.domain.procedure import (
    CATALOGUE,
    CONSERVATIVE_OPTIONS,
    Approach,
    ConservativeOption,
    ProcedureEntry,
    ProcedureFamily,
    Technique,
    get_procedure,
)
from spinetrack.errors import ValidationError

# ---------------------------------------------------------------------------------------------
# Diagnoses (ICD-10-CM)

# The ICD-10-CM FY2025 tabular list (CDC/NCHS): code -> (condition, region).
# The condition names map onto DiagnosisGroup.
REFERENCE_ICD10CM: dict[str, tuple[DiagnosisGroup, str]] = {
    # lumbar disc disorder with radiculopathy
    "M51.16": (DiagnosisGroup.DISC_HERNIATION_RADICULOPATHY, "lumbar"),
    "M51.17": (DiagnosisGroup.DISC_HERNIATION_RADICULOPATHY, "lumbosacral"),
    # spinal stenosis, lumbar region, without / with neurogenic claudication
    "M48.061": (DiagnosisGroup.STENOSIS_WITHOUT_CLAUDICATION, "lumbar"),
    "M48.062": (DiagnosisGroup.STENOSIS_WITH_CLAUDICATION, "lumbar"),
    # spondylolisthesis, lumbar / lumbosacral
    "M43.16": (DiagnosisGroup.DEGENERATIVE_SPONDYLOLISTHESIS, "lumbar"),
    "M43.17": (DiagnosisGroup.DEGENERATIVE_SPONDYLOLISTHESIS, "lumbosacral"),
    # low back pain: unspecified, vertebrogenic, other
    "M54.50": (DiagnosisGroup.NONSPECIFIC_LOW_BACK_PAIN, "lumbar"),
    "M54.51": (DiagnosisGroup.NONSPECIFIC_LOW_BACK_PAIN, "lumbar"),
    "M54.59": (DiagnosisGroup.NONSPECIFIC_LOW_BACK_PAIN, "lumbar"),
}
# ICD-10-CM FY2025 split lumbar disc degeneration M51.36 / lumbosacral M51.37 into 5-character
# codes. The FY2025 tabular list's subcodes (0 discogenic back pain only,
# 1 lower extremity pain only, 2 both, 9 neither):
FY2025_DISC_DEGENERATION = {
    "M51.36": ("lumbar", {"M51.360", "M51.361", "M51.362", "M51.369"}),
    "M51.37": ("lumbosacral", {"M51.370", "M51.371", "M51.372", "M51.379"}),
}
# The edition whose codes are written out above.
REFERENCE_EDITION = "ICD-10-CM FY2025"


def test_icd10cm_edition_is_recorded_and_is_the_one_standards_quotes() -> None:
    """The code table records its edition; the codes above are those of ICD-10-CM FY2025."""
    assert ICD10CM_EDITION == REFERENCE_EDITION
    # the CSV's own header must name the same edition as its source line (edition kept as data)
    header = [
        line
        for line in resources.files("spinetrack.domain").joinpath("data/icd10cm_lbp.csv")
        .read_text("utf-8").splitlines()
        if line.startswith("#")
    ]
    assert any(line.startswith("# edition:") and REFERENCE_EDITION in line for line in header), header
    assert any(line.startswith("# source:") and "FY2025" in line for line in header), header


@pytest.mark.parametrize("code", sorted(REFERENCE_ICD10CM))
def test_each_standards_code_has_its_condition_and_region(code: str) -> None:
    """ICD-10-CM FY2025 tabular list."""
    group, region = REFERENCE_ICD10CM[code]
    dx = get_diagnosis(code)
    assert dx.code == code
    assert dx.group is group
    assert dx.region == region


@pytest.mark.parametrize("parent", sorted(FY2025_DISC_DEGENERATION))
def test_disc_degeneration_uses_the_fy2025_subcodes_not_the_header_code(parent: str) -> None:
    """ICD-10-CM FY2025: M51.36 / M51.37 became header codes (split into 5-character codes in
    the FY2025 edition), so only their subcodes may be recorded."""
    region, children = FY2025_DISC_DEGENERATION[parent]
    assert parent not in DIAGNOSES
    with pytest.raises(ValidationError):
        get_diagnosis(parent)
    shipped = {c for c in DIAGNOSES if c.startswith(parent)}
    assert shipped == children
    for code in children:
        dx = DIAGNOSES[code]
        assert dx.group is DiagnosisGroup.DEGENERATIVE_DISC_DISEASE
        assert dx.region == region


def test_code_table_holds_exactly_the_standards_codes() -> None:
    """No code beyond the reference list above (with the FY2025 disc-degeneration subcodes)."""
    expected = set(REFERENCE_ICD10CM) | set().union(*(c for _, c in FY2025_DISC_DEGENERATION.values()))
    assert set(DIAGNOSES) == expected


def test_every_diagnosis_group_has_a_code() -> None:
    used = {dx.group for dx in DIAGNOSES.values()}
    assert used == set(DiagnosisGroup)


def test_codes_are_well_formed_icd10cm() -> None:
    for code, dx in DIAGNOSES.items():
        assert re.fullmatch(r"M\d{2}\.\d{2,3}", code), code
        assert dx.code == code
        assert dx.label.strip()


@pytest.mark.parametrize("raw", ["m51.16", " M51.16 ", "M51.16"])
def test_get_diagnosis_normalises_case_and_spaces(raw: str) -> None:
    assert get_diagnosis(raw).code == "M51.16"


@pytest.mark.parametrize(
    "bad",
    [
        "M54.5",  # header code since FY2022 (split into M54.50/.51/.59)
        "M51.36",  # header code from FY2025
        "M51.26",  # another disc disorder, not in the reference list
        "",
        None,
        5116,
    ],
)
def test_unknown_diagnosis_code_names_field_and_allowed_codes(bad: object) -> None:
    with pytest.raises(ValidationError) as exc:
        get_diagnosis(bad, field="episode.diagnosis_code")
    err = exc.value
    assert err.field == "episode.diagnosis_code"
    assert err.value == bad
    for code in REFERENCE_ICD10CM:
        assert code in err.allowed
        assert code in str(err)


# ---------------------------------------------------------------------------------------------
# Levels

# The lumbar motion segments, cranial to caudal: vertebrae L1..L5 then the sacrum (S1).
_VERTEBRAE = ["L1", "L2", "L3", "L4", "L5", "S1"]
ANATOMICAL_LEVELS = [f"{a}-{b}" for a, b in itertools.pairwise(_VERTEBRAE)]


def test_levels_are_the_five_lumbar_motion_segments_in_order() -> None:
    assert [lvl.value for lvl in Level] == ANATOMICAL_LEVELS
    assert [lvl.index for lvl in Level] == sorted(lvl.index for lvl in Level)
    assert len({lvl.index for lvl in Level}) == len(ANATOMICAL_LEVELS)


def test_neighbouring_levels_share_a_vertebra() -> None:
    """Levels adjacent by index form a contiguous run: the caudal vertebra of one is the cranial
    vertebra of the next."""
    by_index = sorted(Level, key=lambda lvl: lvl.index)
    for upper, lower in itertools.pairwise(by_index):
        assert lower.index == upper.index + 1
        assert upper.value.split("-")[1] == lower.value.split("-")[0]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("L4-L5", ["L4-L5"]),
        ("L5-S1, L4-L5", ["L4-L5", "L5-S1"]),
        ("l5-s1;l3-l4", ["L3-L4", "L5-S1"]),
        ("L3-L4,L4-L5,L5-S1", ["L3-L4", "L4-L5", "L5-S1"]),  # contiguous three-level run
        ("L5-S1,L4-L5,L3-L4,L2-L3,L1-L2", ANATOMICAL_LEVELS),
        (["L5-S1", "L2-L3"], ["L2-L3", "L5-S1"]),  # skip-level, still ordered
        ((Level.L5_S1, "l4-l5"), ["L4-L5", "L5-S1"]),
        ({"L1-L2"}, ["L1-L2"]),
    ],
)
def test_parse_levels_sorts_cranial_to_caudal(raw: object, expected: list[str]) -> None:
    levels = parse_levels(raw)
    assert [lvl.value for lvl in levels] == expected
    assert all(isinstance(lvl, Level) for lvl in levels)


def test_contiguous_run_has_consecutive_indices() -> None:
    run = parse_levels("L5-S1,L3-L4,L4-L5")
    assert [lvl.index for lvl in run] == list(range(run[0].index, run[0].index + 3))


def test_format_levels_is_canonical_and_round_trips_every_combination() -> None:
    assert format_levels(parse_levels("l5-s1; L3-L4")) == "L3-L4,L5-S1"
    for n in range(1, len(ANATOMICAL_LEVELS) + 1):
        for combo in itertools.combinations(ANATOMICAL_LEVELS, n):
            shuffled = list(reversed(combo))
            text = format_levels(parse_levels(shuffled))
            assert text == ",".join(combo)
            assert format_levels(parse_levels(text)) == text


@pytest.mark.parametrize(
    "bad",
    [
        "L5-L6",  # no such segment in a normal spine
        "T12-L1",  # thoracolumbar, outside the lumbar range
        "L4-L6",  # not a single motion segment
        "L4L5",
        "L4-L5,S1-S2",
        "",
        " , ",
        [],
        None,
        45,
        "L4-L5,l4-l5",  # repeated
    ],
)
def test_bad_levels_raise_validation_error_naming_field_and_allowed(bad: object) -> None:
    with pytest.raises(ValidationError) as exc:
        parse_levels(bad, field="episode.levels")
    err = exc.value
    assert err.field == "episode.levels"
    for level in ANATOMICAL_LEVELS:
        assert level in err.allowed
        assert level in str(err)


def test_bad_level_reports_the_offending_part() -> None:
    with pytest.raises(ValidationError) as exc:
        parse_levels("L4-L5, L5-L6")
    assert exc.value.field == "levels"
    assert exc.value.value == "L5-L6"


# ---------------------------------------------------------------------------------------------
# Imaging findings

# Lumbar disc nomenclature 2.0 (Fardon DF et al., NASS/ASSR/ASNR, Spine 2014;39(24):E1448-65)
NOMENCLATURE_MORPHOLOGY = ["bulge", "protrusion", "extrusion", "sequestration"]
NOMENCLATURE_ZONES = ["central", "subarticular", "foraminal", "extraforaminal"]
# Pfirrmann I-V (Pfirrmann 2001), Meyerding I-V (Meyerding 1932), central stenosis Schizas A-D
# (Schizas 2010; the code's documented choice of grade).
ROMAN_I_TO_V = ["I", "II", "III", "IV", "V"]
SCHIZAS = ["A", "B", "C", "D"]


def test_grading_vocabularies_match_standards_in_severity_order() -> None:
    assert [m.value for m in HerniationMorphology] == NOMENCLATURE_MORPHOLOGY
    assert {z.value for z in HerniationZone} == set(NOMENCLATURE_ZONES)
    assert [g.value for g in PfirrmannGrade] == ROMAN_I_TO_V
    assert [g.value for g in MeyerdingGrade] == ROMAN_I_TO_V
    assert [g.value for g in CentralStenosisGrade] == SCHIZAS


@pytest.mark.parametrize(
    ("morphology", "zone"), list(itertools.product(NOMENCLATURE_MORPHOLOGY, NOMENCLATURE_ZONES))
)
def test_herniation_finding_accepts_every_nomenclature_morphology_and_zone(morphology: str, zone: str) -> None:
    f = ImagingFinding.create({"level": "l4-l5", "kind": "disc_herniation", "morphology": morphology, "zone": zone})
    assert f.level is Level.L4_L5
    assert f.kind is FindingKind.DISC_HERNIATION
    assert f.morphology is not None and f.morphology.value == morphology
    assert f.zone is not None and f.zone.value == zone
    assert (f.pfirrmann, f.stenosis_grade, f.meyerding) == (None, None, None)


@pytest.mark.parametrize(
    ("kind", "field", "values"),
    [
        ("disc_degeneration", "pfirrmann", ROMAN_I_TO_V),
        ("central_stenosis", "stenosis_grade", SCHIZAS),
        ("spondylolisthesis", "meyerding", ROMAN_I_TO_V),
    ],
)
def test_graded_findings_accept_every_grade(kind: str, field: str, values: list[str]) -> None:
    for value in values:
        f = ImagingFinding.create({"level": "L5-S1", "kind": kind, field: value})
        assert getattr(f, field).value == value
        others = {"morphology", "zone", "pfirrmann", "stenosis_grade", "meyerding"} - {field}
        assert all(getattr(f, o) is None for o in others)


@pytest.mark.parametrize(
    ("data", "field", "allowed"),
    [
        # morphology / zone outside nomenclature 2.0
        ({"kind": "disc_herniation", "morphology": "prolapse", "zone": "central"}, "morphology",
         NOMENCLATURE_MORPHOLOGY),
        ({"kind": "disc_herniation", "morphology": "herniation", "zone": "central"}, "morphology",
         NOMENCLATURE_MORPHOLOGY),
        ({"kind": "disc_herniation", "morphology": "extrusion", "zone": "posterolateral"}, "zone", NOMENCLATURE_ZONES),
        ({"kind": "disc_herniation", "morphology": "extrusion"}, "zone", NOMENCLATURE_ZONES),  # missing
        ({"kind": "disc_herniation", "zone": "foraminal"}, "morphology", NOMENCLATURE_MORPHOLOGY),  # missing
        # grades out of range / wrong spelling / wrong type
        ({"kind": "disc_degeneration", "pfirrmann": "VI"}, "pfirrmann", ROMAN_I_TO_V),
        ({"kind": "disc_degeneration", "pfirrmann": "0"}, "pfirrmann", ROMAN_I_TO_V),
        ({"kind": "disc_degeneration", "pfirrmann": 3}, "pfirrmann", ROMAN_I_TO_V),
        ({"kind": "disc_degeneration"}, "pfirrmann", ROMAN_I_TO_V),
        ({"kind": "central_stenosis", "stenosis_grade": "E"}, "stenosis_grade", SCHIZAS),
        ({"kind": "central_stenosis", "stenosis_grade": "a"}, "stenosis_grade", SCHIZAS),
        ({"kind": "spondylolisthesis", "meyerding": "VI"}, "meyerding", ROMAN_I_TO_V),
        ({"kind": "spondylolisthesis", "meyerding": 2}, "meyerding", ROMAN_I_TO_V),
        # unknown kind
        ({"kind": "fracture"}, "kind",
         ["disc_herniation", "disc_degeneration", "central_stenosis", "spondylolisthesis"]),
    ],
)
def test_invalid_finding_values_name_field_and_allowed(data: dict, field: str, allowed: list[str]) -> None:
    with pytest.raises(ValidationError) as exc:
        ImagingFinding.create({"level": "L4-L5", **data}, field="finding")
    err = exc.value
    assert err.field == f"finding.{field}"
    for value in allowed:
        assert value in err.allowed
        assert value in str(err)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        # a grade that belongs to another kind of finding
        ({"kind": "disc_herniation", "morphology": "extrusion", "zone": "central", "pfirrmann": "III"}, "pfirrmann"),
        ({"kind": "disc_degeneration", "pfirrmann": "III", "meyerding": "I"}, "meyerding"),
        ({"kind": "spondylolisthesis", "meyerding": "I", "zone": "central"}, "zone"),
        ({"kind": "central_stenosis", "stenosis_grade": "C", "morphology": "bulge"}, "morphology"),
    ],
)
def test_grade_of_another_kind_is_refused(data: dict, field: str) -> None:
    with pytest.raises(ValidationError) as exc:
        ImagingFinding.create({"level": "L4-L5", **data})
    assert exc.value.field == f"imaging_finding.{field}"


@pytest.mark.parametrize("level", ["L5-L6", None, "L4-L5,L5-S1", ["L4-L5"]])
def test_finding_needs_exactly_one_valid_level(level: object) -> None:
    with pytest.raises(ValidationError) as exc:
        ImagingFinding.create({"level": level, "kind": "disc_degeneration", "pfirrmann": "II"})
    assert exc.value.field == "imaging_finding.level"
    for value in ANATOMICAL_LEVELS:
        assert value in str(exc.value)


def test_unknown_finding_field_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        ImagingFinding.create({"level": "L4-L5", "kind": "disc_degeneration", "pfirrmann": "II", "modic": "1"})
    assert exc.value.field == "imaging_finding.modic"


# ---------------------------------------------------------------------------------------------
# Procedures and conservative care

# The procedure families, approaches and MIS techniques spinetrack records (in the code's spelling).
REFERENCE_FAMILIES = {"discectomy", "decompression", "fusion"}
REFERENCE_APPROACHES = {"mis", "open"}
REFERENCE_MIS_TECHNIQUES = {
    "tubular",
    "full_endoscopic_transforaminal",
    "full_endoscopic_interlaminar",
    "percutaneous",
}
REFERENCE_CONSERVATIVE = {"physiotherapy", "medication", "injection"}  # epidural/nerve-root injection


def test_procedure_vocabularies_match_standards() -> None:
    assert {f.value for f in ProcedureFamily} == REFERENCE_FAMILIES
    assert {a.value for a in Approach} == REFERENCE_APPROACHES
    assert {t.value for t in Technique} == REFERENCE_MIS_TECHNIQUES
    assert {t.value for t in Technique if t.is_full_endoscopic} == {
        t for t in REFERENCE_MIS_TECHNIQUES if t.startswith("full_endoscopic")
    }


@pytest.mark.parametrize("code", sorted(CATALOGUE))
def test_catalogue_entry_invariants(code: str) -> None:
    entry = CATALOGUE[code]
    assert entry.code == code
    assert entry.family.value in REFERENCE_FAMILIES
    assert entry.approach.value in REFERENCE_APPROACHES
    if entry.approach is Approach.MIS:
        assert entry.technique is not None
        assert entry.technique.value in REFERENCE_MIS_TECHNIQUES
    else:
        assert entry.technique is None
    # the stored code names its family, so a mislabelled entry shows up here
    assert code.split("_")[0] == entry.family.value
    assert ("_open" in code) == (entry.approach is Approach.OPEN)
    assert entry.label.strip()
    assert get_procedure(code) is entry


def test_every_family_can_be_compared_mis_versus_open() -> None:
    for family in ProcedureFamily:
        approaches = {e.approach for e in CATALOGUE.values() if e.family is family}
        assert approaches == {Approach.MIS, Approach.OPEN}, family


def test_every_technique_is_used_by_some_mis_procedure() -> None:
    used = {e.technique for e in CATALOGUE.values() if e.technique is not None}
    assert {t.value for t in used} == REFERENCE_MIS_TECHNIQUES


@pytest.mark.parametrize(
    ("approach", "technique"),
    [(Approach.MIS, None), (Approach.OPEN, Technique.TUBULAR), (Approach.OPEN, Technique.PERCUTANEOUS)],
)
def test_procedure_entry_refuses_mis_without_technique_and_open_with_one(
        approach: Approach, technique: Technique | None) -> None:
    with pytest.raises(ValueError, match="technique"):
        ProcedureEntry("x", ProcedureFamily.DISCECTOMY, approach, technique, "x")


@pytest.mark.parametrize("bad", ["microdiscectomy", "DISCECTOMY_OPEN", "", None, 1])
def test_unknown_procedure_code_names_field_and_catalogue(bad: object) -> None:
    with pytest.raises(ValidationError) as exc:
        get_procedure(bad, field="procedure.procedure_code")
    err = exc.value
    assert err.field == "procedure.procedure_code"
    assert "discectomy_open" in err.allowed
    assert "fusion_mis_tlif" in str(err)


def test_conservative_options_match_standards() -> None:
    assert {o.value for o in ConservativeOption} == REFERENCE_CONSERVATIVE
    assert set(CONSERVATIVE_OPTIONS) == set(ConservativeOption)
    assert len(CONSERVATIVE_OPTIONS) == len(REFERENCE_CONSERVATIVE)


# ---------------------------------------------------------------------------------------------
# Complications

# Clavien-Dindo grades in order of severity (Dindo D et al., Ann Surg 2004;240(2):205-13).
REFERENCE_CLAVIEN_DINDO = ["I", "II", "IIIa", "IIIb", "IVa", "IVb", "V"]
# The complications spinetrack records (surgical-site infection by the CDC depths) -> the code's
# category value. Readmission and reoperation, also recorded, are their own record types
# (pathway.ReadmissionRecord / ReoperationRecord).
REFERENCE_COMPLICATIONS = {
    "surgical-site infection, superficial (CDC)": "ssi_superficial",
    "surgical-site infection, deep (CDC)": "ssi_deep",
    "surgical-site infection, organ-space (CDC)": "ssi_organ_space",
    "dural tear": "dural_tear",
    "neurological deficit": "neurological_deficit",
    "venous thromboembolism": "venous_thromboembolism",
    "wrong-level surgery": "wrong_level",
}
# ICHOM Low Back Pain Standard Set complications that have a category of their own (STANDARDS.md,
# "Registries and timepoints"; Clement RC et al., Acta Orthop 2015;86(5):523-533)
REFERENCE_ICHOM_COMPLICATIONS = {
    "nerve root injury": "nerve_root_injury",
    "cauda equina": "cauda_equina_syndrome",
    "pulmonary embolus": "pulmonary_embolism",
    "wrong site procedure": "wrong_site",
    "vascular injury": "vascular_injury",
}


def test_clavien_dindo_grades_are_exactly_standards_in_order() -> None:
    assert [g.value for g in ClavienDindo] == REFERENCE_CLAVIEN_DINDO


@pytest.mark.parametrize(("lower", "higher"), list(itertools.combinations(REFERENCE_CLAVIEN_DINDO, 2)))
def test_clavien_dindo_rank_orders_every_pair(lower: str, higher: str) -> None:
    assert ClavienDindo(lower).rank < ClavienDindo(higher).rank


def test_clavien_dindo_sorts_by_rank_into_standards_order() -> None:
    shuffled = [ClavienDindo(v) for v in ["V", "IIIb", "I", "IVb", "II", "IVa", "IIIa"]]
    assert [g.value for g in sorted(shuffled, key=lambda g: g.rank)] == REFERENCE_CLAVIEN_DINDO


def test_major_complication_is_grade_three_or_worse() -> None:
    """Dindo 2004: grades III-V need intervention or are life-threatening (the usual cut-off)."""
    assert {g.value for g in ClavienDindo if g.is_major} == {"IIIa", "IIIb", "IVa", "IVb", "V"}


def test_clavien_dindo_refuses_unknown_grade() -> None:
    for bad in ["III", "IIIc", "iiia", "3", "VI"]:
        with pytest.raises(ValueError):
            ClavienDindo(bad)


def test_complication_categories_are_those_standards_lists() -> None:
    values = {c.value for c in ComplicationCategory}
    assert set(REFERENCE_COMPLICATIONS.values()) <= values
    # beyond that list: the ICHOM complications without a category of their own and the catch-all
    assert values - set(REFERENCE_COMPLICATIONS.values()) == {*REFERENCE_ICHOM_COMPLICATIONS.values(), "other"}
    # readmission and reoperation are recorded with their own dates, not as categories
    assert not values & {"readmission", "reoperation"}
    assert callable(pathway.ReadmissionRecord.create)
    assert callable(pathway.ReoperationRecord.create)


def test_surgical_site_infections_are_the_three_cdc_depths() -> None:
    ssi = {c.value for c in ComplicationCategory if c.is_surgical_site_infection}
    assert ssi == {v for k, v in REFERENCE_COMPLICATIONS.items() if k.startswith("surgical-site infection")}
