"""The FHIR server's writes: create, conditional create and transaction Bundles.

Every write goes through :mod:`.parse` (FHIR → :class:`SourceRecord`) and the one import writer,
:func:`spinetrack.store.imports.write_records` with ``partial=False``: all records are validated
first and stored in one transaction, or nothing is (a transaction Bundle is all-or-nothing by
construction), audited by the writer. The source system is :data:`SOURCE_SYSTEM`; each new
resource's source id is unique to its request, so a create always creates. References to stored
records (``Patient/p-17``, ``EpisodeOfCare/ep-5``) are checked against the caller's site and
resolved through ``source_records`` (:func:`spinetrack.store.fhir_reads.register_sources`);
references to other entries of a Bundle use their ``fullUrl`` (``urn:uuid:…``).

Status codes: 201 created (``Location``); 200 for a conditional create that matches exactly one
resource (nothing written; that resource is returned); 412 when it matches several; 422 with one
OperationOutcome issue per problem (FHIRPath in ``expression``); 405 for a type that cannot be
created (Observation, Organization, Questionnaire).
"""

from __future__ import annotations

import urllib.parse
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from spinetrack.errors import ValidationError
from spinetrack.interop.fhir import server
from spinetrack.interop.fhir.capability import WRITABLE_TYPES
from spinetrack.interop.fhir.outcome import PreconditionFailed
from spinetrack.interop.fhir.parse import ParsedResource, parse_resource
from spinetrack.interop.fhir.resources import FhirScope, parse_id, resource_id
from spinetrack.store import fhir_reads
from spinetrack.store.imports import RecordProblem, write_records
from spinetrack.store.repositories import Actor, Store

__all__ = ["SOURCE_SYSTEM", "NotWritable", "create", "transaction"]

SOURCE_SYSTEM = "fhir-server"
MAX_ENTRIES = 10_000
"""Entries of one transaction Bundle (a larger load is an import: ``spinetrack import --format fhir``)."""
_REF_ENTITY = {"Patient": "patient", "EpisodeOfCare": "episode"}


class NotWritable(ValidationError):
    """A create of a type the server serves but does not write (HTTP 405)."""

    fhir_status = 405


class InvalidResource(ValidationError):
    """Several problems at once: ``problems`` lists them (each a 422 issue)."""

    def __init__(self, problems: Sequence[ValidationError]) -> None:
        first = problems[0]
        super().__init__(field=first.field, value=first.value, allowed=first.allowed, reason=first.reason)
        self.problems = list(problems)


@dataclass(slots=True)
class _Entry:
    index: int
    rtype: str
    resource: Mapping[str, Any]
    root: str
    full_url: str | None
    source_id: str
    if_none_exist: str | None = None
    existing: dict[str, Any] | None = None  # the one match of a conditional create
    entity: str | None = None


class _Context:
    """References of one write: Bundle entries by fullUrl, stored rows by FHIR id."""

    def __init__(self, actor: Actor, base: str, entries: Sequence[_Entry]) -> None:
        self.scope = server.scope_of(actor)
        self.base = base
        self.entries = entries
        self.by_url = {e.full_url: e for e in entries if e.full_url}
        self.stored: list[tuple[str, int, str, str]] = []  # entity, row id, source id, FHIRPath

    def _entry(self, reference: str) -> _Entry | None:
        return self.by_url.get(reference) or self.by_url.get(f"{self.base}/{reference}")

    def resolve(self, reference: str, expected: str, path: str) -> str | None:
        entry = self._entry(reference)
        if entry is not None:
            if entry.rtype != expected:
                return None
            if entry.existing is not None:
                return self._stored(f"{expected}/{entry.existing['id']}", expected, path)
            return entry.source_id
        return self._stored(reference, expected, path)

    def _stored(self, reference: str, expected: str, path: str) -> str | None:
        ref = reference[len(self.base) + 1:] if reference.startswith(self.base + "/") else reference
        kind, _, rid = ref.partition("/")
        parsed = parse_id(rid, self.scope)
        if kind != expected or parsed is None or parsed[0] != _REF_ENTITY.get(expected):
            return None
        self.stored.append((parsed[0], parsed[1], rid, path))
        return rid

    def lookup(self, reference: str) -> Mapping[str, Any] | None:
        entry = self._entry(reference)
        if entry is not None and entry.rtype == "Condition":
            entry.entity = "condition"
            return entry.resource
        return None


def _matches(store: Store, actor: Actor, rtype: str, query: str, base: str) -> list[dict[str, Any]]:
    """The resources an ``If-None-Exist`` query finds (at most two: enough to tell 0, 1, many)."""
    params = [(k, v) for k, v in urllib.parse.parse_qsl(query.lstrip("?"), keep_blank_values=True)
              if k not in ("_count", "_cursor")]
    if not params:
        raise ValidationError(field="If-None-Exist", value=query,
                              allowed="a search query, e.g. identifier=system|value")
    bundle = server.search(store, actor, rtype, [*params, ("_count", "2")], base=base)
    if bundle["total"] > 1:
        raise PreconditionFailed(f"If-None-Exist {query!r} matches {bundle['total']} {rtype} resources; "
                                 "make the query select one")
    return [e["resource"] for e in bundle.get("entry", [])]


def _expression(problem: RecordProblem, paths: Mapping[str, str], roots: Mapping[tuple[str, str], str]) -> str:
    """The FHIRPath of a writer's problem: the element its field came from, else the resource."""
    root = roots.get((problem.entity, problem.source_id), "Bundle")
    name = problem.field
    for key in (name, f"{problem.entity}.{name.split('.', 1)[-1]}"):
        if key in paths:
            return paths[key]
    if name.endswith("_source_id"):
        return root
    return root


def _write(store: Store, actor: Actor, entries: Sequence[_Entry], base: str) -> dict[int, tuple[str, int]]:
    """Parse and store ``entries`` (all or nothing); entry index → (entity, stored row id)."""
    ctx = _Context(actor, base, entries)
    parsed: dict[int, ParsedResource] = {}
    problems: list[ValidationError] = []
    for e in entries:
        if e.existing is not None or e.rtype == "Condition":
            continue
        p = parse_resource(e.resource, root=e.root, source_id=e.source_id, resolve=ctx.resolve, lookup=ctx.lookup)
        parsed[e.index] = p
        problems.extend(p.problems)
    for e in entries:
        if e.rtype == "Condition" and e.existing is None and not any(
                _refers(o.resource, e.full_url, base) for o in entries if o.rtype == "EpisodeOfCare"):
            problems.append(ValidationError(field=e.root, value=e.full_url, allowed="a Condition referred to by an "
                                            "EpisodeOfCare of this transaction (diagnosis.condition)",
                                            reason="a diagnosis is written with its episode"))
    unknown = fhir_reads.register_sources(store, actor, SOURCE_SYSTEM, [s[:3] for s in ctx.stored])
    for entity, _row, rid, path in ctx.stored:
        if any(u[2] == rid and u[0] == entity for u in unknown):
            problems.append(ValidationError(field=path, value=rid, allowed="a record of your site",
                                            reason="unknown reference"))
    if problems:
        raise InvalidResource(problems)
    records = [r for p in parsed.values() for r in p.records]
    paths = {f"{k}": v for p in parsed.values() for k, v in p.paths.items()}
    roots = {(r.entity, r.source_id): r.location for r in records}
    result = write_records(store, actor, source_system=SOURCE_SYSTEM, records=records, partial=False)
    if not result.ok or not result.stored:
        issues = [ValidationError(field=_expression(p, paths, roots), value=p.value, allowed=p.allowed,
                                  reason=p.reason) for p in result.errors] or [
            ValidationError(field="Bundle", value=None, allowed="valid records", reason="nothing was stored")]
        raise InvalidResource(issues)
    out: dict[int, tuple[str, int]] = {}
    for e in entries:
        got = parsed.get(e.index)
        if got is not None and got.records:
            rec = got.records[0]
            out[e.index] = (rec.entity, result.ids[rec.entity][rec.source_id])
    for e in entries:  # a Condition is stored as its episode's diagnosis
        if e.rtype == "Condition" and e.existing is None:
            for other in entries:
                if other.rtype == "EpisodeOfCare" and other.index in out and \
                        _refers(other.resource, e.full_url, base):
                    out[e.index] = ("condition", out[other.index][1])
    return out


def _refers(episode: Mapping[str, Any], full_url: str | None, base: str) -> bool:
    refs = [((d or {}).get("condition") or {}).get("reference") for d in episode.get("diagnosis") or []]
    return full_url is not None and any(r in (full_url, f"{base}/{full_url}") for r in refs)


def _type_of(entity: str) -> str:
    return {"patient": "Patient", "episode": "EpisodeOfCare", "condition": "Condition", "procedure": "Procedure",
            "reoperation": "Procedure", "complication": "AdverseEvent", "readmission": "Encounter",
            "response": "QuestionnaireResponse"}[entity]


def _read_back(store: Store, actor: Actor, scope: FhirScope, entity: str, row_id: int) -> dict[str, Any]:
    return server.read(store, actor, _type_of(entity), resource_id(entity, row_id, scope))


def _check_writable(rtype: str, where: str) -> None:
    server.check_type(rtype)
    if rtype not in WRITABLE_TYPES or (rtype == "Condition" and where == "create"):
        raise NotWritable(field=f"{rtype}", value="create", allowed=[t for t in WRITABLE_TYPES if t != "Condition"],
                          reason="Observations are computed from the answers; Organizations and Questionnaires are "
                                 "configured; a Condition is written with its EpisodeOfCare")


def create(store: Store, actor: Actor, rtype: str, body: Any, *, if_none_exist: str | None = None,
           base: str) -> tuple[int, dict[str, Any]]:
    """``POST [base]/[type]``: ``(status, resource)`` — 201 and the stored resource, or 200 and
    the one resource an ``If-None-Exist`` query matches."""
    _check_writable(rtype, "create")
    if not isinstance(body, dict) or body.get("resourceType") != rtype:
        raise ValidationError(field=f"{rtype}.resourceType", value=body.get("resourceType")
                              if isinstance(body, dict) else type(body).__name__, allowed=[rtype],
                              reason="the body is the resource to create, of the type in the URL")
    if if_none_exist:
        found = _matches(store, actor, rtype, if_none_exist, base)
        if len(found) == 1:
            return 200, found[0]
    entry = _Entry(0, rtype, body, rtype, None, f"{uuid.uuid4().hex}:0")
    stored = _write(store, actor, [entry], base)
    entity, row_id = stored[0]
    return 201, _read_back(store, actor, server.scope_of(actor), entity, row_id)


def transaction(store: Store, actor: Actor, body: Any, *, base: str) -> dict[str, Any]:
    """``POST [base]`` with a transaction Bundle: every entry stored or none; the answer is a
    transaction-response Bundle with each entry's status and location, in entry order."""
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise ValidationError(field="Bundle.resourceType", value=body.get("resourceType") if isinstance(body, dict)
                              else type(body).__name__, allowed=["Bundle"])
    if body.get("type") != "transaction":
        raise ValidationError(field="Bundle.type", value=body.get("type"), allowed=["transaction"],
                              reason="batch Bundles are not supported")
    txn = uuid.uuid4().hex
    entries: list[_Entry] = []
    problems: list[ValidationError] = []
    raw = body.get("entry") or []
    if not isinstance(raw, list) or not raw:
        raise ValidationError(field="Bundle.entry", value=None, allowed="one or more entries")
    if len(raw) > MAX_ENTRIES:
        raise ValidationError(field="Bundle.entry", value=len(raw), allowed=f"at most {MAX_ENTRIES} entries",
                              reason="load more with spinetrack import --format fhir")
    for i, item in enumerate(raw):
        root = f"Bundle.entry[{i}]"
        resource = item.get("resource") if isinstance(item, dict) else None
        request = item.get("request") if isinstance(item, dict) else None
        if not isinstance(resource, dict) or not isinstance(request, dict):
            problems.append(ValidationError(field=root, value=None, allowed="an entry with resource and request"))
            continue
        rtype = str(resource.get("resourceType"))
        if request.get("method") != "POST":
            problems.append(ValidationError(field=f"{root}.request.method", value=request.get("method"),
                                            allowed=["POST"], reason="only create is supported in a transaction"))
            continue
        if str(request.get("url", "")).strip("/") != rtype:
            problems.append(ValidationError(field=f"{root}.request.url", value=request.get("url"), allowed=[rtype]))
            continue
        try:
            _check_writable(rtype, "transaction")
        except ValidationError as exc:
            problems.append(ValidationError(field=f"{root}.resource", value=rtype, allowed=exc.allowed,
                                            reason=exc.reason))
            continue
        entries.append(_Entry(i, rtype, resource, f"{root}.resource", item.get("fullUrl"), f"{txn}:{i}",
                              request.get("ifNoneExist")))
    if problems:
        raise InvalidResource(problems)
    for e in entries:
        if e.if_none_exist:
            found = _matches(store, actor, e.rtype, e.if_none_exist, base)
            if len(found) == 1:
                e.existing = found[0]
    stored = _write(store, actor, entries, base)
    scope = server.scope_of(actor)
    out_entries = []
    for e in entries:
        if e.existing is not None:
            location, status = f"{e.rtype}/{e.existing['id']}", "200 OK"
        else:
            entity, row_id = stored[e.index]
            location, status = f"{_type_of(entity)}/{resource_id(entity, row_id, scope)}", "201 Created"
        out_entries.append({"fullUrl": f"{base}/{location}", "response": {"status": status, "location": location}})
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": out_entries}
