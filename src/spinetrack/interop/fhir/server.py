"""The FHIR server's interactions, without HTTP: read, search (Bundle searchset with paging).

The routes (:mod:`spinetrack.web.routes.fhir`) parse the request and call one function here with
the caller as :class:`~spinetrack.store.repositories.Actor`. The scope comes from the actor
(:func:`spinetrack.store.fhir_reads.scope_for`): clinic roles their own site, identified;
researchers every site, pseudonymised; other roles refused. A record outside the scope is not
found (404), never forbidden, so its existence is not revealed. Every read and search of patient
data is audited by :mod:`spinetrack.store.fhir_reads`; Questionnaires are not patient data.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from typing import Any

from spinetrack import instruments
from spinetrack.errors import NotFoundError
from spinetrack.interop.fhir.resources import (
    TYPE_ID_ENTITY,
    FhirScope,
    parse_id,
    questionnaire,
    questionnaire_ids,
    resource_id,
)
from spinetrack.interop.fhir.search import SearchParameterError, SearchSpec, parse_search
from spinetrack.interop.fhir.stream import SUPPORTED_TYPES, TYPE_SOURCES, Mapper
from spinetrack.store import fhir_reads
from spinetrack.store.repositories import Actor, Store

__all__ = ["check_type", "read", "scope_of", "search"]

_ID_ENTITY = TYPE_ID_ENTITY


def scope_of(actor: Actor) -> FhirScope:
    """The actor's FHIR scope (refuses roles without access to patient-level data)."""
    site_id, identified = fhir_reads.scope_for(actor)
    return FhirScope(site_id, identified)


def check_type(rtype: str) -> None:
    """Refuse a resource type the server does not serve (404 naming the supported ones)."""
    if rtype not in SUPPORTED_TYPES:
        raise NotFoundError(entity="resource type", key=rtype)


def _mapper(rtype: str, entity: str) -> Mapper:
    return next(m for e, m, _ in TYPE_SOURCES[rtype] if e == entity)


def read(store: Store, actor: Actor, rtype: str, rid: str) -> dict[str, Any]:
    """``GET [base]/[type]/[id]``: the resource, or :class:`NotFoundError` (also for another
    site's record)."""
    check_type(rtype)
    if rtype == "Questionnaire":
        codes = questionnaire_ids()
        if rid not in codes:
            raise NotFoundError(entity="Questionnaire", key=rid)
        return questionnaire(codes[rid])
    scope = scope_of(actor)
    parsed = parse_id(rid, scope)
    if parsed is not None:
        for entity, mapper, flt in TYPE_SOURCES[rtype]:
            if resource_id(_ID_ENTITY.get((rtype, entity), entity), parsed[1], scope) != rid:
                continue
            row = fhir_reads.read_one(store, actor, entity, parsed[1], resource_type=rtype, flt=flt)
            if row is not None:
                return mapper(row, scope)
    raise NotFoundError(entity=rtype, key=rid)


def _link(base: str, rtype: str, params: Sequence[tuple[str, str]]) -> str:
    query = urllib.parse.urlencode(list(params))
    return f"{base}/{rtype}" + (f"?{query}" if query else "")


def search(store: Store, actor: Actor, rtype: str, params: Sequence[tuple[str, str]], *, base: str
           ) -> dict[str, Any]:
    """``GET [base]/[type]?...``: a Bundle searchset with ``total``, the ``self`` link and, when
    more follow, a ``next`` link (keyset paging: ``_cursor``). ``base`` is the server's base URL
    (``http://host/fhir``)."""
    check_type(rtype)
    if rtype == "Questionnaire":
        return _search_questionnaires(rtype, params, base)
    scope = scope_of(actor)
    parts = [(entity, flt) for entity, _, flt in TYPE_SOURCES[rtype]]
    spec: SearchSpec = parse_search(rtype, params, scope, parts)
    if spec.cursor is not None and spec.cursor[0] >= len(spec.parts):
        raise SearchParameterError(field="_cursor", value=f"{spec.cursor[0]}.{spec.cursor[1]}",
                                   allowed="the value of a next link")
    query = urllib.parse.urlencode([(k, v) for k, v in params if k != "_cursor"])
    page = fhir_reads.search_page(store, actor, spec.parts, resource_type=rtype, cursor=spec.cursor,
                                  count=spec.count, query=query)
    entries = []
    for entity, row in page.rows:
        resource = _mapper(rtype, entity)(row, scope)
        entries.append({"fullUrl": f"{base}/{rtype}/{resource['id']}", "resource": resource,
                        "search": {"mode": "match"}})
    links = [{"relation": "self", "url": _link(base, rtype, params)}]
    if page.next_cursor is not None:
        kept = [(k, v) for k, v in params if k != "_cursor"]
        if not any(k == "_count" for k, _ in kept):
            kept.append(("_count", str(spec.count)))
        kept.append(("_cursor", f"{page.next_cursor[0]}.{page.next_cursor[1]}"))
        links.append({"relation": "next", "url": _link(base, rtype, kept)})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": page.total, "link": links}
    if entries:
        bundle["entry"] = entries
    return bundle


def _search_questionnaires(rtype: str, params: Sequence[tuple[str, str]], base: str) -> dict[str, Any]:
    spec = parse_search(rtype, params, FhirScope(None, False), [])
    codes = [i.definition.code for i in instruments.all()]
    if spec.questionnaires is not None:
        codes = [c for c in codes if c in spec.questionnaires]
    start = spec.cursor[1] if spec.cursor is not None else 0  # paged by position: the list is fixed
    resources = [questionnaire(c) for c in codes]
    entries = [{"fullUrl": f"{base}/{rtype}/{r['id']}", "resource": r, "search": {"mode": "match"}}
               for r in resources[start:start + spec.count]]
    links = [{"relation": "self", "url": _link(base, rtype, params)}]
    if start + spec.count < len(resources):
        kept = [(k, v) for k, v in params if k not in ("_cursor", "_count")]
        kept += [("_count", str(spec.count)), ("_cursor", f"0.{start + spec.count}")]
        links.append({"relation": "next", "url": _link(base, rtype, kept)})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
                              "link": links}
    if entries:
        bundle["entry"] = entries
    return bundle
