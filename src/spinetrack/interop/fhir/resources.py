"""Store rows → FHIR R4 resources (JSON dicts), in an identified or a pseudonymised scope.

The rows are those of :mod:`spinetrack.store.fhir_reads` (a table's columns plus ``patient_id``,
``site_id``, ``last_updated``). Each mapper returns one resource; every resource validates with
the ``fhir.resources`` R4B models (see :mod:`spinetrack.interop.questionnaire` for why R4B
models validate our R4 JSON). Codes come from :mod:`.codes` (interop-codes.md); docs/fhir.md
says what each resource carries and why.

Pseudonymised scope (``FhirScope.identified`` False): no name, hospital number, contact
details, language, free text (complication detail, readmission reason), ``meta.lastUpdated``
(a record-keeping timestamp) or store pseudo id; the patient is known by its snapshot key
(``P17``, or the HMAC key under a secret, :mod:`spinetrack.snapshot`); birth date as the year
(which is all the store holds anyway); clinical dates are kept (see docs/fhir.md).
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from spinetrack import instruments
from spinetrack.domain.procedure import CATALOGUE
from spinetrack.interop.fhir.codes import (
    ACT_CODE,
    BCP47,
    COMPLICATION_SNOMED,
    DIAGNOSIS_SNOMED,
    ICD10CM,
    INSTRUMENT_SCORE_CODES,
    OBSERVATION_CATEGORY,
    PROCEDURE_SNOMED,
    SCORE_UNITS,
    SID_BASE,
    SNOMED,
    UCUM,
    ext,
    own,
)
from spinetrack.interop.questionnaire import canonical_url, fhir_id, to_questionnaire, to_questionnaire_response

__all__ = [
    "ENTITY_PREFIX",
    "TYPE_ID_ENTITY",
    "FhirScope",
    "adverse_event",
    "condition",
    "encounter",
    "episode_of_care",
    "observation",
    "organization",
    "parse_id",
    "patient",
    "procedure",
    "questionnaire",
    "questionnaire_response",
    "reoperation",
    "resource_id",
]


@dataclass(frozen=True, slots=True)
class FhirScope:
    """Whose records and how much of them: ``site_id`` one site (``None``: every site);
    ``identified`` False pseudonymises (module docstring). ``rekey_secret`` (pseudonymised only)
    keys ids with HMAC-SHA256 as the snapshot's ``--rekey`` does; without it ids carry row ids."""

    site_id: int | None
    identified: bool
    rekey_secret: bytes | None = None


_INT63 = (1 << 63) - 1
MAX_ROW_ID = 2_147_483_647  # the id columns are 32-bit integers


# The snapshot's key scheme (spinetrack.snapshot.patient_key / rekey_patient / rekey_episode; interop
# may not import snapshot, a sibling layer, so the three one-liners are repeated here and a test
# checks they agree).
def patient_key(patient_id: int) -> str:
    return f"P{patient_id}"


def rekey_patient(secret: bytes, patient_id: int) -> str:
    return hmac.digest(secret, b"patient:%d" % patient_id, "sha256").hex()[:16]


def rekey_episode(secret: bytes, episode_id: int) -> int:
    return int.from_bytes(hmac.digest(secret, b"episode:%d" % episode_id, "sha256")[:8], "big") & _INT63


# entity → id prefix of its resource (the patient: p-17 identified, the snapshot key otherwise)
ENTITY_PREFIX: dict[str, str] = {
    "site": "site", "patient": "p", "episode": "ep", "condition": "dx", "procedure": "proc",
    "reoperation": "reop", "complication": "cx", "readmission": "readm", "response": "qr", "observation": "obs",
}
_ID_ENTITY = {"dx": "episode", "obs": "response"}
TYPE_ID_ENTITY: dict[tuple[str, str], str] = {("Condition", "episode"): "condition",
                                              ("Observation", "response"): "observation"}
"""(resource type, store entity) → the entity whose prefix the type's ids carry, where they differ
(a Condition's id ``dx-5`` names episode 5; an Observation's ``obs-9`` PROM response 9)."""


def resource_id(entity: str, row_id: int, scope: FhirScope) -> str:
    """The FHIR id of a stored row (stable: the same row always has the same id in one scope)."""
    secret = scope.rekey_secret if not scope.identified else None
    if entity == "patient" and not scope.identified:
        return rekey_patient(secret, row_id) if secret is not None else patient_key(row_id)
    prefix = ENTITY_PREFIX[entity]
    if secret is None or entity == "site":
        return f"{prefix}-{row_id}"
    if entity in ("episode", "condition"):
        return f"{prefix}-{rekey_episode(secret, row_id)}"
    source = _ID_ENTITY.get(prefix, entity)
    return f"{prefix}-{hmac.digest(secret, f'{source}:{row_id}'.encode(), 'sha256').hex()[:16]}"


def parse_id(rid: str, scope: FhirScope) -> tuple[str, int] | None:
    """``(entity, row id)`` of a FHIR id made by :func:`resource_id` without a secret (the
    entity as its prefix names it: ``condition``, ``observation``, ...); ``None`` for any other id."""
    if not scope.identified and rid[:1] == "P" and rid[1:].isdigit() and len(rid) <= 11 \
            and 1 <= int(rid[1:]) <= MAX_ROW_ID:
        return "patient", int(rid[1:])
    prefix, _, number = rid.partition("-")
    if not number.isdigit() or len(number) > 10 or not 1 <= int(number) <= MAX_ROW_ID:
        return None
    for entity, p in ENTITY_PREFIX.items():
        if p == prefix and not (entity == "patient" and not scope.identified):
            return entity, int(number)
    return None


def _ref(entity: str, row_id: int, scope: FhirScope) -> dict[str, str]:
    kind = {"site": "Organization", "patient": "Patient", "episode": "EpisodeOfCare", "condition": "Condition",
            "procedure": "Procedure", "reoperation": "Procedure", "response": "QuestionnaireResponse"}[entity]
    return {"reference": f"{kind}/{resource_id(entity, row_id, scope)}"}


def _instant(value: dt.datetime) -> str:
    """A stored UTC timestamp (naive) as a FHIR instant."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds") + "Z"


def _date(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _base(resource_type: str, entity: str, row: Mapping[str, Any], scope: FhirScope) -> dict[str, Any]:
    out: dict[str, Any] = {"resourceType": resource_type, "id": resource_id(entity, int(row["id"]), scope)}
    if scope.identified and row.get("last_updated") is not None:
        out["meta"] = {"lastUpdated": _instant(row["last_updated"])}
    return out


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def _concept(*codings: dict[str, str], text: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"coding": list(codings)}
    if text:
        out["text"] = text
    return out


def _levels(levels: str | None) -> list[dict[str, Any]]:
    """Spinal levels (``"L4-L5,L5-S1"``) as body sites in our own CodeSystem ``spinal-level``."""
    return [_concept(_coding(own("spinal-level"), lvl)) for lvl in (levels or "").split(",") if lvl]


def _episode_ext(row: Mapping[str, Any], scope: FhirScope) -> dict[str, Any]:
    """The episode of care a record belongs to (R4 links Procedure, Observation, AdverseEvent and
    QuestionnaireResponse to an Encounter only, so an extension carries it)."""
    return {"url": ext("episode-of-care"), "valueReference": _ref("episode", int(row["episode_id"]), scope)}


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


# ------------------------------------------------------------------------------ Organization, Patient


def organization(row: Mapping[str, Any], scope: FhirScope) -> dict[str, Any]:
    """A site: its code as the identifier, its name and country."""
    out = _base("Organization", "site", row, scope)
    out["identifier"] = [{"system": SID_BASE + "site", "value": row["code"]}]
    out["active"] = True
    out["name"] = row["name"]
    if row.get("country"):
        out["address"] = [{"country": row["country"]}]
    return out


_CASE_MIX: tuple[tuple[str, str, str], ...] = (  # store field, extension name, value[x]
    ("bmi", "bmi", "valueDecimal"), ("smoking", "smoking", "valueCode"), ("diabetes", "diabetes", "valueBoolean"),
    ("asa_grade", "asa-grade", "valueInteger"), ("work_status", "work-status", "valueCode"),
    ("symptom_duration_weeks", "symptom-duration-weeks", "valueInteger"),
    ("prior_spine_surgery", "prior-spine-surgery", "valueBoolean"),
)
CASE_MIX = _CASE_MIX


def patient(row: Mapping[str, Any], scope: FhirScope) -> dict[str, Any]:
    """A patient. Identified: MRN and store pseudo id as identifiers, name, telecom, language.
    Pseudonymised: the snapshot key only. Both: gender, birth year, the site, and the case-mix
    fields the analyses adjust for (as extensions: FHIR Patient has no element for them)."""
    out = _base("Patient", "patient", row, scope)
    extensions = [{"url": ext(name), key: (float(row[f]) if key == "valueDecimal" else
                                           bool(row[f]) if key == "valueBoolean" else row[f])}
                  for f, name, key in _CASE_MIX if row.get(f) is not None]
    if extensions:
        out["extension"] = extensions
    if scope.identified:
        ids = [{"system": SID_BASE + "pseudo-id", "value": row["pseudo_id"]}]
        if row.get("mrn"):
            ids.insert(0, {"type": {"text": "hospital number"}, "system": f"{SID_BASE}mrn/{row['site_code']}",
                           "value": row["mrn"]})
        out["identifier"] = ids
        if row.get("full_name"):
            out["name"] = [{"text": row["full_name"]}]
        telecom = [{"system": system, "value": row[f]} for f, system in (("email", "email"), ("phone", "phone"))
                   if row.get(f)]
        if telecom:
            out["telecom"] = telecom
    else:
        out["identifier"] = [{"system": SID_BASE + "patient-key", "value": out["id"]}]
    out["gender"] = row["sex"]  # female | male | other | unknown: FHIR AdministrativeGender's codes
    out["birthDate"] = f"{int(row['birth_year']):04d}"
    out["managingOrganization"] = _ref("site", int(row["site_id"]), scope)
    if scope.identified and row.get("language"):
        out["communication"] = [{"language": _concept(_coding(BCP47, row["language"])), "preferred": True}]
    return out


# ------------------------------------------------------------------------------ EpisodeOfCare, Condition


def episode_of_care(row: Mapping[str, Any], scope: FhirScope) -> dict[str, Any]:
    """An episode: diagnosis group, treatment arm and procedure family as types (own CodeSystems),
    the period from enrolment to its end, and the Condition as its diagnosis."""
    out = _base("EpisodeOfCare", "episode", row, scope)
    extensions: list[dict[str, Any]] = []
    if row.get("index_date") is not None:
        extensions.append({"url": ext("index-date"), "valueDate": _date(row["index_date"])})
    if row.get("conservative_care"):
        extensions.extend({"url": ext("conservative-care"), "valueCode": c}
                          for c in str(row["conservative_care"]).split(",") if c)
    if row.get("conservative_care_weeks") is not None:
        extensions.append({"url": ext("conservative-care-weeks"), "valueInteger": int(row["conservative_care_weeks"])})
    if row.get("end_reason"):
        extensions.append({"url": ext("end-reason"), "valueCode": row["end_reason"]})
    if extensions:
        out["extension"] = extensions
    out["status"] = "finished" if row.get("ended_on") else "active"
    types = [_concept(_coding(own("diagnosis-group"), row["diagnosis_group"]))]
    if row.get("treatment"):
        types.append(_concept(_coding(own("treatment"), row["treatment"])))
    if row.get("treatment_family"):
        types.append(_concept(_coding(own("procedure-family"), row["treatment_family"])))
    out["type"] = types
    out["diagnosis"] = [{"condition": _ref("condition", int(row["id"]), scope), "rank": 1}]
    out["patient"] = _ref("patient", int(row["patient_id"]), scope)
    out["managingOrganization"] = _ref("site", int(row["site_id"]), scope)
    period = {"start": _date(row["enrolled_on"])}
    if row.get("ended_on"):
        period["end"] = _date(row["ended_on"])
    out["period"] = period
    return out


def condition(row: Mapping[str, Any], scope: FhirScope) -> dict[str, Any]:
    """The episode's diagnosis: ICD-10-CM and, where interop-codes.md maps it, SNOMED CT; the
    spinal levels as body sites; recorded on the enrolment date."""
    out = _base("Condition", "condition", row, scope)
    code = row["diagnosis_code"]
    codings = [_coding(ICD10CM, code)]
    if code in DIAGNOSIS_SNOMED:
        codings.append(_coding(SNOMED, *DIAGNOSIS_SNOMED[code]))
    out["extension"] = [{"url": ext("episode-of-care"), "valueReference": _ref("episode", int(row["id"]), scope)}]
    out["code"] = _concept(*codings)
    sites = _levels(row.get("levels"))
    if sites:
        out["bodySite"] = sites
    out["subject"] = _ref("patient", int(row["patient_id"]), scope)
    out["recordedDate"] = _date(row["enrolled_on"])
    return out


# ------------------------------------------------------------------------------ Procedure


_MEASURES: tuple[tuple[str, str, str], ...] = (  # store field, extension name, UCUM unit
    ("incision_mm", "incision-length", "mm"), ("ebl_ml", "estimated-blood-loss", "mL"),
    ("op_time_min", "operative-time", "min"), ("fluoro_s", "fluoroscopy-time", "s"),
    ("fluoro_dose_mgy", "fluoroscopy-dose", "mGy"), ("los_days", "length-of-stay", "d"),
)
MEASURES = _MEASURES


def procedure(row: Mapping[str, Any], scope: FhirScope) -> dict[str, Any]:
    """An index procedure: SNOMED CT (interop-codes.md) plus the catalogue code (own CodeSystem
    ``procedure``); the approach (MIS / open) and MIS technique as extensions with own
    CodeSystems; operative measures as extensions with UCUM quantities; levels as body sites."""
    out = _base("Procedure", "procedure", row, scope)
    code = row["procedure_code"]
    extensions = [_episode_ext(row, scope),
                  {"url": ext("surgical-approach"), "valueCodeableConcept": _concept(
                      _coding(own("surgical-approach"), row["approach"]))}]
    if row.get("technique"):
        extensions.append({"url": ext("mis-technique"),
                           "valueCodeableConcept": _concept(_coding(own("mis-technique"), row["technique"]))})
    for f, name, unit in _MEASURES:
        if row.get(f) is not None:
            extensions.append({"url": ext(name), "valueQuantity": _quantity(float(row[f]), unit)})
    for f, name in (("transfusion", "transfusion"), ("converted_to_open", "converted-to-open")):
        if row.get(f) is not None:
            extensions.append({"url": ext(name), "valueBoolean": bool(row[f])})
    out["extension"] = extensions
    out["status"] = "completed"
    out["category"] = _concept(_coding(own("procedure-role"), "index", "Index procedure of the episode"))
    entry = CATALOGUE.get(code)
    codings = []
    if code in PROCEDURE_SNOMED:
        codings.append(_coding(SNOMED, *PROCEDURE_SNOMED[code]))
    codings.append(_coding(own("procedure"), code, entry.label if entry else None))
    out["code"] = _concept(*codings)
    out["subject"] = _ref("patient", int(row["patient_id"]), scope)
    out["performedDateTime"] = _date(row["performed_on"])
    sites = _levels(row.get("levels"))
    if sites:
        out["bodySite"] = sites
    return out


def reoperation(row: Mapping[str, Any], scope: FhirScope) -> dict[str, Any]:
    """A reoperation: a Procedure coded ``reoperation`` (own CodeSystem ``procedure-role``; no
    SNOMED CT concept is listed), its reason as ``reasonCode`` (own CodeSystem
    ``reoperation-reason``), and ``reasonReference`` the episode's index Procedure."""
    out = _base("Procedure", "reoperation", row, scope)
    out["extension"] = [_episode_ext(row, scope)]
    out["status"] = "completed"
    out["category"] = _concept(_coding(own("procedure-role"), "reoperation", "Reoperation"))
    out["code"] = _concept(_coding(own("procedure"), "reoperation", "Reoperation"))
    out["subject"] = _ref("patient", int(row["patient_id"]), scope)
    out["performedDateTime"] = _date(row["performed_on"])
    sites = _levels(row.get("levels"))
    if sites:
        out["bodySite"] = sites
    out["reasonCode"] = [_concept(_coding(own("reoperation-reason"), row["reason"]))]
    if row.get("index_procedure_id") is not None:
        out["reasonReference"] = [_ref("procedure", int(row["index_procedure_id"]), scope)]
    return out


# ------------------------------------------------------------------------------ AdverseEvent, Encounter


def adverse_event(row: Mapping[str, Any], scope: FhirScope) -> dict[str, Any]:
    """A complication: an actual AdverseEvent whose event is the category (SNOMED CT where listed,
    else own CodeSystem ``complication``), the Clavien-Dindo grade as an extension (own
    CodeSystem ``clavien-dindo``), the date, and the index Procedure as the suspect entity.
    The free-text detail only in the identified scope."""
    out = _base("AdverseEvent", "complication", row, scope)
    out["extension"] = [_episode_ext(row, scope),
                        {"url": ext("clavien-dindo"), "valueCodeableConcept": _concept(
                            _coding(own("clavien-dindo"), row["clavien_dindo"]))}]
    out["actuality"] = "actual"
    category = row["category"]
    codings = []
    if category in COMPLICATION_SNOMED:
        codings.append(_coding(SNOMED, *COMPLICATION_SNOMED[category]))
    codings.append(_coding(own("complication"), category))
    out["event"] = _concept(*codings, text=row.get("detail") if scope.identified else None)
    out["subject"] = _ref("patient", int(row["patient_id"]), scope)
    out["date"] = _date(row["occurred_on"])
    if row.get("procedure_id") is not None:
        out["suspectEntity"] = [{"instance": _ref("procedure", int(row["procedure_id"]), scope)}]
    return out


def encounter(row: Mapping[str, Any], scope: FhirScope) -> dict[str, Any]:
    """A readmission: an inpatient Encounter (v3 ActCode ``IMP``) marked as a readmission
    (``hospitalization.reAdmission``, own CodeSystem), in the episode of care, starting on the
    admission date. The free-text reason only in the identified scope."""
    out = _base("Encounter", "readmission", row, scope)
    out["status"] = "unknown"  # the store records the admission, not the discharge
    out["class"] = _coding(ACT_CODE, "IMP", "inpatient encounter")
    out["subject"] = _ref("patient", int(row["patient_id"]), scope)
    out["episodeOfCare"] = [_ref("episode", int(row["episode_id"]), scope)]
    out["period"] = {"start": _date(row["admitted_on"])}
    if scope.identified and row.get("reason"):
        out["reasonCode"] = [{"text": row["reason"]}]
    out["hospitalization"] = {"reAdmission": _concept(_coding(own("admission"), "readmission", "Readmission"))}
    return out


# ------------------------------------------------------------------------------ PROMs


def _timepoint_ext(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"url": ext("timepoint"), "valueCodeableConcept": _concept(_coding(own("timepoint"), row["timepoint"]))}


def questionnaire_response(row: Mapping[str, Any], scope: FhirScope) -> dict[str, Any]:
    """A completed questionnaire: the answers as items referring to our Questionnaire's canonical
    (:mod:`spinetrack.interop.questionnaire`), authored on the collection date, with the
    timepoint and episode as extensions. The instruments have no free-text items."""
    inst = instruments.get(row["instrument"])
    # not validated here (the cost of a Bulk export): tests/interop/test_fhir_resources.py validates every type
    base = to_questionnaire_response(inst, row["answers"] or {}, authored=row["collected_on"], validate=False)
    out = _base("QuestionnaireResponse", "response", row, scope)
    out["extension"] = [_episode_ext(row, scope), _timepoint_ext(row)]
    out["questionnaire"] = base["questionnaire"]
    out["status"] = "completed"
    out["subject"] = _ref("patient", int(row["patient_id"]), scope)
    out["authored"] = base["authored"]
    out["item"] = base["item"]
    return out


#: Where the pain of a 0-10 rating is: interop-codes.md §1 lists no LOINC code for back or leg pain and
#: §2 no SNOMED CT body site for them ("not found"), so own CodeSystem ``pain-site``.
PAIN_SITES: dict[str, tuple[str, str]] = {"nrs_back": ("back", "Back"), "nrs_leg": ("leg", "Leg")}


def observation(row: Mapping[str, Any], scope: FhirScope) -> dict[str, Any]:
    """A PROM total: category ``survey``, coded in LOINC or SNOMED CT where interop-codes.md
    lists a code, always also in own CodeSystem ``instrument-score``; the score as a UCUM
    quantity; effective on the collection date; derived from the QuestionnaireResponse."""
    code = row["instrument"]
    definition = instruments.get(code).definition
    out: dict[str, Any] = {"resourceType": "Observation", "id": resource_id("observation", int(row["id"]), scope)}
    if scope.identified and row.get("last_updated") is not None:
        out["meta"] = {"lastUpdated": _instant(row["last_updated"])}
    out["extension"] = [_episode_ext(row, scope), _timepoint_ext(row)]
    out["status"] = "final"
    out["category"] = [_concept(_coding(OBSERVATION_CATEGORY, "survey", "Survey"))]
    codings = []
    if code in INSTRUMENT_SCORE_CODES:
        codings.append(_coding(*INSTRUMENT_SCORE_CODES[code]))
    codings.append(_coding(own("instrument-score"), code, definition.title))
    out["code"] = _concept(*codings)
    if code in PAIN_SITES:  # back and leg pain share one LOINC code: the body site tells them apart
        out["bodySite"] = _concept(_coding(own("pain-site"), *PAIN_SITES[code]))
    out["subject"] = _ref("patient", int(row["patient_id"]), scope)
    out["effectiveDateTime"] = _date(row["collected_on"])
    out["valueQuantity"] = _quantity(float(row["score"]), SCORE_UNITS.get(definition.score_unit, "{score}"))
    out["derivedFrom"] = [_ref("response", int(row["id"]), scope)]
    return out


def questionnaire(code: str) -> dict[str, Any]:
    """An instrument's Questionnaire (:func:`spinetrack.interop.questionnaire.to_questionnaire`)."""
    return to_questionnaire(instruments.get(code))


def questionnaire_ids() -> dict[str, str]:
    """FHIR id → instrument code of every Questionnaire."""
    return {fhir_id(i): i.definition.code for i in instruments.all()}


def questionnaire_urls() -> dict[str, str]:
    """Canonical URL → instrument code."""
    return {canonical_url(i): i.definition.code for i in instruments.all()}
