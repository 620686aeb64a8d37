"""Code systems, codes and URLs of spinetrack's FHIR resources.

Every standard code below is a row of ``../shared/interop-codes.md`` (the project's one source of
codes; the section is named beside each table). Where that file lists no code for a concept,
the concept is coded in spinetrack's own CodeSystem ``https://spinetrack.org/fhir/CodeSystem/<name>``
(:func:`own`), and its own code is the store's code (``discectomy_tubular``, ``ssi_deep``, ...), so
nothing is invented. Extensions that FHIR R4 lacks are ``https://spinetrack.org/fhir/StructureDefinition/<name>``.
UCUM unit expressions (``mm``, ``mL``, ``min``, ``s``, ``mGy``, ``d``) are written by UCUM's own
grammar; ``{score}`` and ``1`` are the score units interop-codes.md §3 ("UCUM units seen") lists.
"""

from __future__ import annotations

__all__ = [
    "ACT_CODE",
    "BCP47",
    "CODE_SYSTEM_BASE",
    "COMPLICATION_SNOMED",
    "DIAGNOSIS_SNOMED",
    "EXTENSION_BASE",
    "ICD10CM",
    "INSTRUMENT_SCORE_CODES",
    "LOINC",
    "OBSERVATION_CATEGORY",
    "PROCEDURE_SNOMED",
    "SCORE_UNITS",
    "SID_BASE",
    "SNOMED",
    "UCUM",
    "ext",
    "own",
]

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
UCUM = "http://unitsofmeasure.org"
BCP47 = "urn:ietf:bcp:47"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"  # interop-codes.md §4
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"  # IMP: interop-codes.md §3 (Inpatient Visit row)

CODE_SYSTEM_BASE = "https://spinetrack.org/fhir/CodeSystem/"
EXTENSION_BASE = "https://spinetrack.org/fhir/StructureDefinition/"
SID_BASE = "https://spinetrack.org/fhir/sid/"


def own(name: str) -> str:
    """spinetrack's own CodeSystem URL (used where interop-codes.md lists no standard code)."""
    return CODE_SYSTEM_BASE + name


def ext(name: str) -> str:
    """spinetrack's own extension URL (for data elements FHIR R4 does not have)."""
    return EXTENSION_BASE + name


# interop-codes.md §2 (SNOMED CT; sources IPS-P) for the store's ICD-10-CM codes (domain/data/icd10cm_lbp.csv).
DIAGNOSIS_SNOMED: dict[str, tuple[str, str]] = {
    "M51.16": ("202735001", "Lumbar disc prolapse with radiculopathy"),
    "M51.17": ("202735001", "Lumbar disc prolapse with radiculopathy"),
    "M48.061": ("18347007", "Spinal stenosis of lumbar region"),
    "M48.062": ("18347007", "Spinal stenosis of lumbar region"),
    **{c: ("26538006", "Degeneration of lumbar intervertebral disc")
       for c in ("M51.360", "M51.361", "M51.362", "M51.369")},
    **{c: ("60937000", "Degeneration of lumbosacral intervertebral disc")
       for c in ("M51.370", "M51.371", "M51.372", "M51.379")},
    "M43.16": ("4046000", "Degenerative spondylolisthesis"),
    "M43.17": ("4046000", "Degenerative spondylolisthesis"),
    "M54.50": ("279039007", "Low back pain"),
    "M54.51": ("279039007", "Low back pain"),
    "M54.59": ("279039007", "Low back pain"),
}

# interop-codes.md §2 (SNOMED CT; source IPS-X) for the procedure catalogue (domain.procedure.CATALOGUE).
# TLIF/PLIF and MIS-specific concepts: "not found" there, so the generic concept plus our own code.
PROCEDURE_SNOMED: dict[str, tuple[str, str]] = {
    "discectomy_open": ("89355001", "Discectomy for intervertebral herniated disc, nucleus pulposus"),
    "discectomy_tubular": ("89355001", "Discectomy for intervertebral herniated disc, nucleus pulposus"),
    "discectomy_endoscopic_tf": ("89355001", "Discectomy for intervertebral herniated disc, nucleus pulposus"),
    "discectomy_endoscopic_il": ("89355001", "Discectomy for intervertebral herniated disc, nucleus pulposus"),
    "decompression_open": ("387731002", "Laminectomy"),
    "decompression_tubular": ("282191000", "Laminotomy for decompression and exploration"),
    "decompression_endoscopic_il": ("282191000", "Laminotomy for decompression and exploration"),
    "fusion_open_tlif": ("50172003", "Lumbar spinal fusion"),
    "fusion_open_plif": ("50172003", "Lumbar spinal fusion"),
    "fusion_open_plf": ("34238000", "Lumbar and lumbosacral fusion by posterior technique"),
    "fusion_mis_tlif": ("50172003", "Lumbar spinal fusion"),
    "fusion_endoscopic_tlif": ("50172003", "Lumbar spinal fusion"),
}

# interop-codes.md §2 (SNOMED CT; sources IPS-P, OPL) for complication categories (domain.complications).
# Dural tear: not found in SNOMED CT there (ICD-10-CM G97.41 has a secondary source only): own code only.
COMPLICATION_SNOMED: dict[str, tuple[str, str]] = {
    "ssi_superficial": ("213287000", "Postoperative wound infection-superficial"),
    "ssi_deep": ("213286009", "Postoperative wound infection-deep"),
    "cauda_equina_syndrome": ("192970008", "Cauda equina syndrome"),
    "pulmonary_embolism": ("59282003", "Pulmonary embolism"),
}

# PROM totals: interop-codes.md §1 (LOINC: ODI score 97909-6, 0-10 pain 72514-3) and §2 (SNOMED CT:
# EQ-5D-5L index value 736534008). Others have none listed: own CodeSystem "instrument-score" only.
INSTRUMENT_SCORE_CODES: dict[str, tuple[str, str, str]] = {
    "odi": (LOINC, "97909-6", "Oswestry disability index score ODI"),
    "nrs_back": (LOINC, "72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported"),
    "nrs_leg": (LOINC, "72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported"),
    "eq5d5l": (SNOMED, "736534008", "EuroQol five dimension five level index value"),
}

# The score's unit (instruments' Definition.score_unit) as UCUM: {score} (loinc.org/97909-6), 1 (MII EQ-5D), d.
SCORE_UNITS: dict[str, str] = {"%": "{score}", "points": "{score}", "category": "{score}", "index": "1", "days": "d"}
