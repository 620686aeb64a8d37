"""FHIR resources (as :mod:`.resources` writes them) → import records (:class:`SourceRecord`).

The inverse of the mappers, for the server's create and transaction interactions (and usable by
any FHIR import): each resource is first validated with the ``fhir.resources`` R4B model, then
read into our field names and codes. Every problem is collected, each as a
:class:`~spinetrack.errors.ValidationError` whose ``field`` is the FHIRPath of the element
(``Procedure.extension[3].valueQuantity.value``), so a 422 OperationOutcome can name each.

What is read (docs/fhir.md has the table):

- ``Patient`` → patient: ``gender``, ``birthDate`` (its year), the case-mix extensions; identified
  data: ``name`` (text, or given + family), the hospital number (identifier system
  ``…/sid/mrn/<site>``, or one typed "MR"), the pseudo id identifier, ``telecom`` e-mail and phone,
  ``communication.language``.
- ``EpisodeOfCare`` → episode, with its ``Condition`` (contained, or in the same transaction,
  referenced from ``diagnosis[0].condition``): ICD-10-CM code, levels (``bodySite``), enrolment
  (``period.start``), treatment and family (``type``), conservative care and index date extensions.
- ``Procedure`` → procedure (the catalogue code, own CodeSystem ``procedure``: SNOMED CT alone
  does not say MIS or open) or reoperation (code ``reoperation``; ``reasonCode`` the reason).
- ``AdverseEvent`` → complication; ``Encounter`` → readmission; ``QuestionnaireResponse`` →
  PROM response (answers read by :func:`spinetrack.interop.questionnaire.from_questionnaire_response`).
- ``Observation`` is never read: scores are computed from the answers.

A record's parent is given by its references: ``subject`` / ``patient`` for an episode, the
``episode-of-care`` extension (``Encounter.episodeOfCare``) for the rest. ``resolve`` turns a
reference into the parent's source id (a resource of the same Bundle, or a stored one).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pydantic
from fhir.resources.R4B import get_fhir_model_class

from spinetrack import instruments
from spinetrack.errors import ValidationError
from spinetrack.interop.fhir.codes import (
    BCP47,
    COMPLICATION_SNOMED,
    ICD10CM,
    SID_BASE,
    SNOMED,
    ext,
    own,
)
from spinetrack.interop.fhir.resources import CASE_MIX, MEASURES, questionnaire_urls
from spinetrack.interop.questionnaire import from_questionnaire_response
from spinetrack.store.imports import SourceRecord

__all__ = ["ParsedResource", "Resolver", "parse_resource", "validate_model"]

Resolver = Callable[[str, str, str], str | None]
"""``resolve(reference, expected entity, FHIRPath)`` → the parent's source id, or None (unknown)."""


@dataclass(slots=True)
class ParsedResource:
    """The records one resource gives, where each field came from, and the problems found."""

    records: list[SourceRecord] = field(default_factory=list)
    paths: dict[str, str] = field(default_factory=dict)  # "<entity>.<field>" → FHIRPath
    problems: list[ValidationError] = field(default_factory=list)


def _fhirpath(root: str, loc: tuple[Any, ...]) -> str:
    out = root
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part not in ("__root__",):
            out += f".{part}"
    return out


def validate_model(resource: Mapping[str, Any], root: str) -> list[ValidationError]:
    """Problems of ``resource`` against its fhir.resources R4B model (one per pydantic error)."""
    rtype = resource.get("resourceType")
    try:
        model = get_fhir_model_class(str(rtype))
    except (KeyError, ValueError, TypeError):
        return [ValidationError(field=f"{root}.resourceType", value=rtype, allowed="a FHIR R4 resource type")]
    try:
        model.model_validate(dict(resource))
    except pydantic.ValidationError as exc:
        return [ValidationError(field=_fhirpath(root, tuple(e.get("loc", ()))), value=_short(e.get("input")),
                                allowed=str(e.get("msg", "a valid value")))
                for e in exc.errors()[:50]]
    return []


def _short(value: Any) -> Any:
    text = value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)
    return text[:80] if isinstance(text, str) else text


class _Reader:
    """Reads one resource, collecting problems instead of stopping at the first."""

    def __init__(self, resource: Mapping[str, Any], root: str, out: ParsedResource, entity: str) -> None:
        self.r = resource
        self.root = root
        self.out = out
        self.entity = entity
        self.fields: dict[str, Any] = {}

    def problem(self, path: str, value: Any, allowed: Any, reason: str | None = None) -> None:
        self.out.problems.append(ValidationError(field=f"{self.root}.{path}" if path else self.root,
                                                 value=_short(value), allowed=allowed, reason=reason))

    def put(self, name: str, value: Any, path: str) -> None:
        self.fields[name] = value
        self.out.paths[f"{self.entity}.{name}"] = f"{self.root}.{path}"

    def extensions(self, resource: Mapping[str, Any] | None = None) -> list[tuple[int, dict[str, Any]]]:
        return [(i, e) for i, e in enumerate((resource or self.r).get("extension") or []) if isinstance(e, dict)]

    def ext(self, name: str) -> list[tuple[int, dict[str, Any]]]:
        return [(i, e) for i, e in self.extensions() if e.get("url") == ext(name)]


def _code_in(concept: Any, system: str) -> tuple[int, str] | None:
    """The first code of ``system`` in a CodeableConcept, with its coding's index."""
    if not isinstance(concept, dict):
        return None
    for i, c in enumerate(concept.get("coding") or []):
        if isinstance(c, dict) and c.get("system") == system and c.get("code"):
            return i, str(c["code"])
    return None


def _date(value: Any) -> str | None:
    """A FHIR date or dateTime → ISO date (its calendar date as written)."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return dt.date.fromisoformat(value[:10]).isoformat()
    except ValueError:
        return None


def _levels(rd: _Reader, concepts: Any, path: str) -> str | None:
    levels = []
    for i, c in enumerate(concepts or []):
        found = _code_in(c, own("spinal-level"))
        if found is None:
            rd.problem(f"{path}[{i}]", c, f"a coding of {own('spinal-level')} (e.g. L4-L5)")
        else:
            levels.append(found[1])
    return ",".join(levels) or None


def _parent(rd: _Reader, resolve: Resolver, ref: Any, expected: str, path: str) -> str | None:
    reference = ref.get("reference") if isinstance(ref, dict) else None
    if not isinstance(reference, str):
        rd.problem(path, ref, f"a reference to the {expected}", "required")
        return None
    sid = resolve(reference, expected, f"{rd.root}.{path}")
    if sid is None:
        rd.problem(f"{path}.reference", reference, f"a {expected} of this transaction or of your site",
                   "unknown reference")
    return sid


def _episode_parent(rd: _Reader, resolve: Resolver) -> str | None:
    found = rd.ext("episode-of-care")
    if not found:
        rd.problem("extension", None, f"an extension {ext('episode-of-care')} referring to the EpisodeOfCare",
                   "required: the episode this record belongs to")
        return None
    i, e = found[0]
    return _parent(rd, resolve, e.get("valueReference"), "EpisodeOfCare", f"extension[{i}].valueReference")


# ------------------------------------------------------------------------------ per type


def _patient(rd: _Reader, resolve: Resolver) -> str | None:
    r = rd.r
    if r.get("gender"):
        rd.put("sex", r["gender"], "gender")
    else:
        rd.problem("gender", None, "female, male, other, unknown", "required")
    birth = r.get("birthDate")
    if isinstance(birth, str) and birth[:4].isdigit():
        rd.put("birth_year", int(birth[:4]), "birthDate")
    else:
        rd.problem("birthDate", birth, "a date or a year", "required: the year of birth")
    for field_name, name, key in CASE_MIX:
        for i, e in rd.ext(name):
            rd.put(field_name, e.get(key), f"extension[{i}].{key}")
    for i, ident in enumerate(r.get("identifier") or []):
        system = str(ident.get("system") or "")
        typed_mr = any(c.get("code") == "MR" for c in (ident.get("type") or {}).get("coding") or [])
        if system.startswith(SID_BASE + "mrn/") or typed_mr:
            rd.put("mrn", ident.get("value"), f"identifier[{i}].value")
        elif system == SID_BASE + "pseudo-id":
            rd.put("pseudo_id", ident.get("value"), f"identifier[{i}].value")
    names = r.get("name") or []
    if names:
        n = names[0]
        text = n.get("text") or " ".join([*(n.get("given") or []), n.get("family") or ""]).strip()
        if text:
            rd.put("full_name", text, "name[0]")
    for i, t in enumerate(r.get("telecom") or []):
        if t.get("system") == "email":
            rd.put("email", t.get("value"), f"telecom[{i}].value")
        elif t.get("system") == "phone":
            rd.put("phone", t.get("value"), f"telecom[{i}].value")
    for i, c in enumerate(r.get("communication") or []):
        found = _code_in(c.get("language"), BCP47)
        if found is not None:
            rd.put("language", found[1], f"communication[{i}].language.coding[{found[0]}].code")
            break
    if any(k in rd.fields for k in ("mrn", "email", "phone", "language")) and "full_name" not in rd.fields:
        rd.problem("name", None, "the patient's name", "required with a hospital number or contact details")
    return None  # the site: the writer puts a clinic's patient under its own site


def _condition_fields(rd: _Reader, cond: Mapping[str, Any], path: str) -> None:
    found = _code_in(cond.get("code"), ICD10CM)
    if found is None:
        rd.problem(f"{path}.code", cond.get("code"), f"a coding of {ICD10CM} (the ICD-10-CM diagnosis)", "required")
    else:
        rd.put("diagnosis_code", found[1], f"{path}.code.coding[{found[0]}].code")
    levels = _levels(rd, cond.get("bodySite"), f"{path}.bodySite")
    if levels is None:
        rd.problem(f"{path}.bodySite", None, f"codings of {own('spinal-level')}", "required: the spinal levels")
    else:
        rd.put("levels", levels, f"{path}.bodySite")


def _episode(rd: _Reader, resolve: Resolver, lookup: Callable[[str], Mapping[str, Any] | None]) -> str | None:
    r = rd.r
    parent = _parent(rd, resolve, r.get("patient"), "Patient", "patient")
    start = _date((r.get("period") or {}).get("start"))
    if start is None:
        rd.problem("period.start", (r.get("period") or {}).get("start"), "a date", "required: the enrolment date")
    else:
        rd.put("enrolled_on", start, "period.start")
    for i, t in enumerate(r.get("type") or []):
        for cs, name in (("treatment", "treatment"), ("procedure-family", "treatment_family")):
            found = _code_in(t, own(cs))
            if found is not None:
                rd.put(name, found[1], f"type[{i}].coding[{found[0]}].code")
    care = [e.get("valueCode") for _, e in rd.ext("conservative-care")]
    if care:
        rd.put("conservative_care", care, "extension")
    for i, e in rd.ext("conservative-care-weeks"):
        rd.put("conservative_care_weeks", e.get("valueInteger"), f"extension[{i}].valueInteger")
    for i, e in rd.ext("index-date"):
        rd.put("index_date", e.get("valueDate"), f"extension[{i}].valueDate")
    end = (r.get("period") or {}).get("end")  # the end of follow-up, with its reason (resources.episode_of_care)
    if end is not None:
        rd.put("ended_on", _date(end) or end, "period.end")
    for i, e in rd.ext("end-reason"):
        rd.put("end_reason", e.get("valueCode"), f"extension[{i}].valueCode")
    diagnosis = r.get("diagnosis") or []
    ref = ((diagnosis[0] if diagnosis else {}).get("condition") or {}).get("reference")
    cond: Mapping[str, Any] | None = None
    path = "diagnosis[0].condition"
    if isinstance(ref, str) and ref.startswith("#"):
        for j, c in enumerate(r.get("contained") or []):
            if c.get("resourceType") == "Condition" and c.get("id") == ref[1:]:
                cond, path = c, f"contained[{j}]"
    elif isinstance(ref, str):
        cond = lookup(ref)
    if cond is None:
        rd.problem("diagnosis[0].condition", ref, "a Condition contained in the EpisodeOfCare or in this transaction",
                   "required: the episode's diagnosis")
    else:
        _condition_fields(rd, cond, path)
    return parent


def _procedure(rd: _Reader, resolve: Resolver) -> str | None:
    r = rd.r
    parent = _episode_parent(rd, resolve)
    performed = _date(r.get("performedDateTime") or (r.get("performedPeriod") or {}).get("start"))
    own_code = _code_in(r.get("code"), own("procedure"))
    reop = own_code is not None and own_code[1] == "reoperation"
    rd.entity = "reoperation" if reop else "procedure"
    if performed is None:
        rd.problem("performedDateTime", r.get("performedDateTime"), "a date", "required")
    else:
        rd.put("performed_on", performed, "performedDateTime")
    levels = _levels(rd, r.get("bodySite"), "bodySite")
    if levels is not None:
        rd.put("levels", levels, "bodySite")
    if reop:
        reasons = r.get("reasonCode") or []
        found = _code_in(reasons[0] if reasons else None, own("reoperation-reason"))
        if found is None:
            rd.problem("reasonCode", None, f"a coding of {own('reoperation-reason')}", "required: why reoperated")
        else:
            rd.put("reason", found[1], f"reasonCode[0].coding[{found[0]}].code")
        return parent
    if own_code is None:
        rd.problem("code", r.get("code"), f"a coding of {own('procedure')} (the catalogue code, e.g. "
                   "discectomy_tubular, or reoperation)", "SNOMED CT alone does not tell MIS from open")
    else:
        rd.put("procedure_code", own_code[1], f"code.coding[{own_code[0]}].code")
    for field_name, name, _unit in MEASURES:
        for i, e in rd.ext(name):
            rd.put(field_name, (e.get("valueQuantity") or {}).get("value"), f"extension[{i}].valueQuantity.value")
    for field_name, name in (("transfusion", "transfusion"), ("converted_to_open", "converted-to-open")):
        for i, e in rd.ext(name):
            rd.put(field_name, e.get("valueBoolean"), f"extension[{i}].valueBoolean")
    return parent


def _complication(rd: _Reader, resolve: Resolver) -> str | None:
    r = rd.r
    parent = _episode_parent(rd, resolve)
    event = r.get("event")
    found = _code_in(event, own("complication"))
    if found is not None:
        rd.put("category", found[1], f"event.coding[{found[0]}].code")
    else:
        sct = _code_in(event, SNOMED)
        cats = [k for k, (c, _) in COMPLICATION_SNOMED.items() if sct is not None and c == sct[1]]
        if sct is not None and len(cats) == 1:
            rd.put("category", cats[0], f"event.coding[{sct[0]}].code")
        else:
            rd.problem("event", event, f"a coding of {own('complication')}", "required: the complication")
    grade = rd.ext("clavien-dindo")
    if grade:
        i, e = grade[0]
        g = _code_in(e.get("valueCodeableConcept"), own("clavien-dindo"))
        rd.put("clavien_dindo", g[1] if g else None, f"extension[{i}].valueCodeableConcept")
    else:
        rd.problem("extension", None, f"an extension {ext('clavien-dindo')}", "required: the Clavien-Dindo grade")
    occurred = _date(r.get("date"))
    if occurred is None:
        rd.problem("date", r.get("date"), "a date", "required")
    else:
        rd.put("occurred_on", occurred, "date")
    if isinstance(event, dict) and event.get("text"):
        rd.put("detail", event["text"], "event.text")
    return parent


def _readmission(rd: _Reader, resolve: Resolver) -> str | None:
    r = rd.r
    episodes = r.get("episodeOfCare") or []
    parent = _parent(rd, resolve, episodes[0] if episodes else None, "EpisodeOfCare", "episodeOfCare[0]")
    start = _date((r.get("period") or {}).get("start"))
    if start is None:
        rd.problem("period.start", None, "a date", "required: the admission date")
    else:
        rd.put("admitted_on", start, "period.start")
    reasons = r.get("reasonCode") or []
    if reasons and reasons[0].get("text"):
        rd.put("reason", reasons[0]["text"], "reasonCode[0].text")
    return parent


def _response(rd: _Reader, resolve: Resolver) -> str | None:
    r = rd.r
    parent = _episode_parent(rd, resolve)
    canonical = str(r.get("questionnaire") or "")
    code = questionnaire_urls().get(canonical.partition("|")[0])
    if code is None:
        rd.problem("questionnaire", canonical, sorted(questionnaire_urls()), "not one of this server's Questionnaires")
    else:
        rd.put("instrument", code, "questionnaire")
        try:
            rd.put("answers", from_questionnaire_response(instruments.get(code), dict(r)), "item")
        except ValidationError as exc:
            rd.problem("item", exc.value, exc.allowed, f"{exc.field}: {exc.reason or 'not allowed'}")
    tp = rd.ext("timepoint")
    found = _code_in(tp[0][1].get("valueCodeableConcept"), own("timepoint")) if tp else None
    if found is None:
        rd.problem("extension", None, f"an extension {ext('timepoint')} coded in {own('timepoint')}",
                   "required: the follow-up timepoint (baseline, 6w, ...)")
    else:
        rd.put("timepoint", found[1], f"extension[{tp[0][0]}].valueCodeableConcept")
    authored = _date(r.get("authored"))
    if authored is None:
        rd.problem("authored", r.get("authored"), "a date", "required: the date the answers were given")
    else:
        rd.put("collected_on", authored, "authored")
    return parent


_ENTITY = {"Patient": "patient", "EpisodeOfCare": "episode", "Procedure": "procedure", "AdverseEvent": "complication",
           "Encounter": "readmission", "QuestionnaireResponse": "response"}


def parse_resource(resource: Mapping[str, Any], *, root: str, source_id: str, resolve: Resolver,
                   lookup: Callable[[str], Mapping[str, Any] | None] = lambda ref: None) -> ParsedResource:
    """One resource → its import record (``source_id``), or the problems that stop it.

    ``root`` is the FHIRPath of the resource (``Procedure``, ``Bundle.entry[2].resource``);
    ``resolve`` finds parents; ``lookup`` finds a Condition of the same transaction by reference."""
    out = ParsedResource()
    out.problems.extend(validate_model(resource, root))
    rtype = str(resource.get("resourceType"))
    entity = _ENTITY.get(rtype)
    if entity is None:
        out.problems.append(ValidationError(field=f"{root}.resourceType", value=rtype, allowed=sorted(_ENTITY),
                                            reason="this type is not written (Observations are computed)"))
        return out
    if out.problems:
        return out
    rd = _Reader(resource, root, out, entity)
    parent: str | None
    if rtype == "Patient":
        parent = _patient(rd, resolve)
    elif rtype == "EpisodeOfCare":
        parent = _episode(rd, resolve, lookup)
    elif rtype == "Procedure":
        parent = _procedure(rd, resolve)
    elif rtype == "AdverseEvent":
        parent = _complication(rd, resolve)
    elif rtype == "Encounter":
        parent = _readmission(rd, resolve)
    else:
        parent = _response(rd, resolve)
    if not out.problems:
        out.records.append(SourceRecord(rd.entity, source_id, rd.fields, parent, root))
    return out
