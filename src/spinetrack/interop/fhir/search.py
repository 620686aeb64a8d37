"""FHIR search parameters → store row filters (https://hl7.org/fhir/R4/search.html).

:func:`parse_search` checks every parameter of a search against the type's table
(:data:`SEARCH_PARAMS`) and turns it into :class:`~spinetrack.store.fhir_reads.RowFilter` objects,
one per store entity the type is made from. A parameter the type does not support, a modifier,
a malformed date or prefix, a bad ``_count`` or ``_format`` raises :class:`SearchParameterError`
(HTTP 400) naming the parameter and what is allowed.

Semantics
---------
- ``date`` (and ``authored``, ``recorded-date``, ``_lastUpdated``): ``[prefix]value`` with the
  prefixes ``eq ne lt gt le ge sa eb`` (no prefix: ``eq``); the value is ``YYYY``, ``YYYY-MM``,
  ``YYYY-MM-DD`` or a dateTime, read as the interval it covers (a day, a month, a year, a second).
  Clinical dates are days, so ``date=2026-03`` finds every day of March and ``date=lt2026-03-10``
  every day before the 10th. A dateTime compared with a day counts as that day (its own date:
  time zones are ignored for day-precision data). Repeating the parameter ANDs the conditions.
- token (``code``, ``event``, ``identifier``): ``system|code``, ``|code`` (no system) or ``code``
  (any system); commas OR the values.
- reference (``patient``, ``subject``): ``Patient/<id>``, ``<id>`` or an absolute URL ending in
  ``Patient/<id>``; commas OR the values.
- ``_lastUpdated``: identified scopes only (the pseudonymised view carries no record-keeping
  times, so it cannot be searched by them either).
- ``_id``: commas OR the ids. ``_count``: page size, default :data:`DEFAULT_COUNT`, at most
  :data:`MAX_COUNT`; ``0`` answers the total only.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from spinetrack.domain.complications import ComplicationCategory, ReoperationReason
from spinetrack.domain.procedure import CATALOGUE
from spinetrack.errors import ValidationError
from spinetrack.interop.fhir.codes import (
    COMPLICATION_SNOMED,
    DIAGNOSIS_SNOMED,
    ICD10CM,
    INSTRUMENT_SCORE_CODES,
    PROCEDURE_SNOMED,
    SID_BASE,
    own,
)
from spinetrack.interop.fhir.resources import (
    TYPE_ID_ENTITY,
    FhirScope,
    parse_id,
    questionnaire_ids,
    questionnaire_urls,
)
from spinetrack.store.fhir_reads import RowFilter

__all__ = [
    "COMMON_PARAMS",
    "DEFAULT_COUNT",
    "FORMATS",
    "MAX_COUNT",
    "PREFIXES",
    "SEARCH_PARAMS",
    "SearchParameterError",
    "SearchSpec",
    "parse_date",
    "parse_search",
]

DEFAULT_COUNT = 50
MAX_COUNT = 500
PREFIXES = ("eq", "ne", "lt", "gt", "le", "ge", "sa", "eb")
FORMATS = ("json", "application/json", "application/fhir+json")
COMMON_PARAMS = ("_id", "_lastUpdated", "_count", "_format", "_cursor")
IGNORED_PARAMS = ("_total", "_totalMethod")
"""Accepted and ignored: ``total`` is always given (an exact count)."""

# type → {parameter: kind}; kinds: date, patient (reference to a Patient), code (token on the type's code),
# identifier, url
SEARCH_PARAMS: dict[str, dict[str, str]] = {
    "Organization": {"identifier": "identifier"},
    "Patient": {"identifier": "identifier"},
    "EpisodeOfCare": {"patient": "patient", "date": "date"},
    "Condition": {"patient": "patient", "subject": "patient", "code": "code", "recorded-date": "date"},
    "Procedure": {"patient": "patient", "subject": "patient", "code": "code", "date": "date"},
    "Observation": {"patient": "patient", "subject": "patient", "code": "code", "date": "date"},
    "QuestionnaireResponse": {"patient": "patient", "subject": "patient", "authored": "date"},
    "AdverseEvent": {"subject": "patient", "event": "code", "date": "date"},
    "Encounter": {"patient": "patient", "subject": "patient", "date": "date"},
    "Questionnaire": {"url": "url"},
}
SEARCH_DOCS: dict[str, str] = {
    "identifier": "system|value: Organization the site code; Patient the hospital number or pseudo id "
                  "(identified) or the patient key (pseudonymised)",
    "patient": "a Patient reference", "subject": "a Patient reference",
    "code": "a token (system|code) of the resource's code", "event": "a token of the complication",
    "date": "the clinical date, with a prefix", "recorded-date": "the enrolment date, with a prefix",
    "authored": "the collection date, with a prefix", "url": "the Questionnaire's canonical URL",
}

_DATE_RE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?"
                      r"(Z|[+-]\d{2}:\d{2})?)?)?)?$")


class SearchParameterError(ValidationError):
    """A search parameter the server cannot use (HTTP 400, an OperationOutcome naming it)."""

    fhir_status = 400


@dataclass(frozen=True, slots=True)
class SearchSpec:
    """A parsed search: the filter per store entity, the page size, the cursor and the
    Questionnaire codes (for that type only)."""

    parts: tuple[tuple[str, RowFilter], ...]
    count: int
    cursor: tuple[int, int] | None
    questionnaires: tuple[str, ...] | None = None


def parse_date(name: str, raw: str) -> tuple[str, dt.datetime, dt.datetime]:
    """``[prefix]value`` → ``(prefix, low, high)`` with the value as the half-open interval it
    covers (naive UTC)."""
    prefix, value = "eq", raw
    if raw[:2] in PREFIXES and not raw[:2].isdigit():
        prefix, value = raw[:2], raw[2:]
    m = _DATE_RE.match(value)
    if m is None:
        raise SearchParameterError(field=name, value=raw,
                                   allowed="[eq|ne|lt|gt|le|ge|sa|eb]YYYY[-MM[-DD[Thh:mm[:ss][Z|+hh:mm]]]]")
    y, mo, d, hh, mi, ss, tz = m.groups()
    try:
        if d is None:
            low = dt.datetime(int(y), int(mo or 1), 1)
            high = low.replace(year=low.year + 1) if mo is None else (
                low.replace(year=low.year + 1, month=1) if low.month == 12 else low.replace(month=low.month + 1))
        elif hh is None:
            low = dt.datetime(int(y), int(mo), int(d))
            high = low + dt.timedelta(days=1)
        else:
            low = dt.datetime(int(y), int(mo), int(d), int(hh), int(mi), int(ss or 0))
            if tz and tz != "Z":
                sign = 1 if tz[0] == "+" else -1
                low -= sign * dt.timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))
            high = low + (dt.timedelta(seconds=1) if ss is not None else dt.timedelta(minutes=1))
    except ValueError:
        raise SearchParameterError(field=name, value=raw, allowed="a calendar date") from None
    return prefix, low, high


def _day_interval(prefix: str, low: dt.datetime, high: dt.datetime) -> tuple[str, dt.date, dt.date]:
    """A search interval against day-precision data: a dateTime counts as its own day."""
    start = low.date()
    end = high.date() if high.time() == dt.time(0) and high.date() > start else start + dt.timedelta(days=1)
    return prefix, start, end


def _token(raw: str) -> tuple[str | None, str]:
    if "|" in raw:
        system, _, code = raw.partition("|")
        return system, code
    return None, raw


def _codes_for(rtype: str, name: str, values: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Token values → store codes per entity (an entity absent from the result matches nothing)."""
    out: dict[str, set[str]] = {}

    def add(entity: str, codes: Iterable[str]) -> None:
        out.setdefault(entity, set()).update(codes)

    for raw in values:
        system, code = _token(raw)

        def match(sys_url: str, s: str | None = system) -> bool:
            return s is None or s == sys_url  # "|code" (no system) matches nothing: every code here has one

        if rtype == "Condition":
            if match(ICD10CM):
                add("episode", [code])
            if match("http://snomed.info/sct"):
                add("episode", [icd for icd, (sct, _) in DIAGNOSIS_SNOMED.items() if sct == code])
        elif rtype == "Procedure":
            if match("http://snomed.info/sct"):
                add("procedure", [p for p, (sct, _) in PROCEDURE_SNOMED.items() if sct == code])
            if match(own("procedure")):
                if code == "reoperation":
                    add("reoperation", [r.value for r in ReoperationReason])
                elif code in CATALOGUE:
                    add("procedure", [code])
        elif rtype == "Observation":
            for inst, (sys_url, c, _) in INSTRUMENT_SCORE_CODES.items():
                if match(sys_url) and c == code:
                    add("response", [inst])
            if match(own("instrument-score")):
                add("response", [code])
        elif rtype == "AdverseEvent":
            if match("http://snomed.info/sct"):
                add("complication", [k for k, (sct, _) in COMPLICATION_SNOMED.items() if sct == code])
            if match(own("complication")) and code in {c.value for c in ComplicationCategory}:
                add("complication", [code])
    return {k: tuple(sorted(v)) for k, v in out.items()}


def _patients(name: str, values: Sequence[str], scope: FhirScope) -> tuple[int, ...]:
    ids: list[int] = []
    for raw in values:
        ref = raw.rstrip("/")
        if "/" in ref:
            kind, _, rid = ref.rpartition("/")
            if not kind.endswith("Patient"):
                raise SearchParameterError(field=name, value=raw, allowed="Patient/<id> or <id>")
        else:
            rid = ref
        parsed = parse_id(rid, scope)
        if parsed is not None and parsed[0] == "patient":
            ids.append(parsed[1])
    return tuple(ids)


def _cursor(raw: str) -> tuple[int, int]:
    part, _, after = raw.partition(".")
    if not (part.isdigit() and after.isdigit()) or len(part) > 2 or len(after) > 10 or int(after) > 2_147_483_647:
        raise SearchParameterError(field="_cursor", value=raw, allowed="the value of a next link")
    return int(part), int(after)


def parse_search(rtype: str, params: Sequence[tuple[str, str]], scope: FhirScope,
                 parts: Sequence[tuple[str, RowFilter]]) -> SearchSpec:
    """Check and translate ``params`` (in request order) for a search of ``rtype`` whose rows
    come from ``parts`` (entity, base filter)."""
    allowed = {**dict.fromkeys(COMMON_PARAMS, "common"), **SEARCH_PARAMS.get(rtype, {})}
    count, cursor = DEFAULT_COUNT, None
    filters = {entity: base for entity, base in parts}
    dead: set[str] = set()  # entities no row of which can match
    questionnaires: set[str] | None = None
    qids, qurls = questionnaire_ids(), questionnaire_urls()
    for name, raw in params:
        base, _, modifier = name.partition(":")
        if base in IGNORED_PARAMS:
            continue
        if base not in allowed:
            raise SearchParameterError(field=name, value=raw, allowed=sorted(allowed),
                                       reason=f"not a search parameter of {rtype} on this server")
        if modifier:
            raise SearchParameterError(field=name, value=raw, allowed=[base], reason="modifiers are not supported")
        if raw == "":
            raise SearchParameterError(field=name, value=raw, allowed="a value")
        kind = allowed[base]
        if base == "_count":
            if not raw.isdigit() or int(raw) > MAX_COUNT:
                raise SearchParameterError(field=name, value=raw, allowed=f"0 to {MAX_COUNT}")
            count = int(raw)
        elif base == "_format":
            if raw not in FORMATS:
                raise SearchParameterError(field=name, value=raw, allowed=FORMATS, reason="JSON only")
        elif base == "_cursor":
            cursor = _cursor(raw)
        elif base == "_id":
            if rtype == "Questionnaire":
                codes = {qids[v] for v in raw.split(",") if v in qids}
                questionnaires = codes if questionnaires is None else questionnaires & codes
                continue
            for entity in filters:
                prefix_entity = TYPE_ID_ENTITY.get((rtype, entity), entity)
                ids = [p[1] for v in raw.split(",") if (p := parse_id(v, scope)) is not None
                       and p[0] == prefix_entity]
                filters[entity] = replace(filters[entity], ids=_and(filters[entity].ids, ids))
        elif base == "_lastUpdated":
            if not scope.identified:
                raise SearchParameterError(field=name, value=raw, allowed="a search without _lastUpdated",
                                           reason="record-keeping times are not part of the pseudonymised view")
            triple = parse_date(name, raw)
            for entity in filters:
                filters[entity] = replace(filters[entity], updated=(*filters[entity].updated, triple))
        elif kind == "url":
            codes = {qurls[v.partition("|")[0]] for v in raw.split(",") if v.partition("|")[0] in qurls}
            questionnaires = codes if questionnaires is None else questionnaires & codes
        elif kind == "date":
            triple = parse_date(name, raw)
            for entity in filters:
                filters[entity] = replace(filters[entity], dates=(*filters[entity].dates, _day_interval(*triple)))
        elif kind == "patient":
            pids = _patients(name, raw.split(","), scope)
            for entity in filters:
                filters[entity] = replace(filters[entity], patient_ids=_and(filters[entity].patient_ids, pids))
        elif kind == "code":
            per_entity = _codes_for(rtype, name, raw.split(","))
            for entity in filters:
                wanted = per_entity.get(entity, ())
                if entity == "reoperation":  # matched by the code "reoperation" only, not by reason
                    if not wanted:
                        dead.add(entity)
                    continue
                filters[entity] = replace(filters[entity], codes=_and_codes(filters[entity].codes, wanted))
        elif kind == "identifier":
            for entity in filters:
                filters[entity] = replace(filters[entity], identifier=_identifier(rtype, name, raw, scope))
    out = tuple((e, replace(f, nothing=True) if e in dead else f) for e, f in filters.items())
    return SearchSpec(out, count, cursor, tuple(sorted(questionnaires)) if questionnaires is not None else None)


def _and(current: tuple[int, ...] | None, new: Sequence[int]) -> tuple[int, ...]:
    return tuple(new) if current is None else tuple(i for i in current if i in set(new))


def _and_codes(current: tuple[str, ...] | None, new: Sequence[str]) -> tuple[str, ...]:
    return tuple(new) if current is None else tuple(c for c in current if c in set(new))


def _identifier(rtype: str, name: str, raw: str, scope: FhirScope) -> tuple[str, str]:
    """``system|value`` → the store column and value it names (``("nothing", "")`` if none)."""
    system, value = _token(raw)
    if rtype == "Organization":
        if system in (None, SID_BASE + "site"):
            return "code", value
    elif scope.identified:
        if system == SID_BASE + "pseudo-id":
            return "pseudo_id", value
        if system is None:
            return "mrn", value
        if system.startswith(SID_BASE + "mrn/"):
            return "mrn@" + system[len(SID_BASE + "mrn/"):], value
    elif system in (None, SID_BASE + "patient-key"):
        parsed = parse_id(value, scope)
        return ("id", str(parsed[1])) if parsed is not None and parsed[0] == "patient" else ("nothing", "")
    return "nothing", ""


def describe(rtype: str) -> dict[str, Any]:
    """The search parameters of ``rtype`` with their FHIR type and a note (CapabilityStatement)."""
    kinds = {"date": "date", "patient": "reference", "code": "token", "identifier": "token", "url": "uri"}
    return {name: (kinds[kind], SEARCH_DOCS.get(name, "")) for name, kind in SEARCH_PARAMS.get(rtype, {}).items()}
