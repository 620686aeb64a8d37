"""The FHIR R4 server under ``/fhir`` (JSON: ``application/fhir+json``; ``_format=json`` accepted).

Thin routes: each parses the request and calls one function of :mod:`spinetrack.interop.fhir`
(which reads through :mod:`spinetrack.store.fhir_reads`, audited, and writes through the import
writer). Errors are OperationOutcome (:mod:`spinetrack.web.errors`).

Who may call what (as ``/api/v1``): ``GET /fhir/metadata`` anyone; reads and searches of patient
data clinicians and coordinators (their own site, identified) and researchers (every site,
pseudonymised); Questionnaires any staff role; create and transaction clinicians and
coordinators, their own site. A session cookie (with ``X-CSRF-Token`` on writes) or an API token
(``Authorization: Bearer``) authenticates.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from spinetrack.clock import today
from spinetrack.interop.fhir import server, writes
from spinetrack.interop.fhir.capability import BULK_EXPORT_OPERATIONS, capability_statement
from spinetrack.interop.fhir.outcome import BadRequest, UnsupportedMediaType
from spinetrack.interop.fhir.search import FORMATS, SearchParameterError
from spinetrack.web.deps import ClinicStaff, StaffUser, StoreDep
from spinetrack.web.routes import fhir_bulk

__all__ = ["FHIR_JSON", "router"]

router = APIRouter(prefix="/fhir", tags=["fhir"])

FHIR_JSON = "application/fhir+json"
_TYPE = r"^[A-Z][A-Za-z]{1,63}$"
_ID = r"^[A-Za-z0-9\-\.]{1,64}$"
ResourceType = Annotated[str, Path(pattern=_TYPE, description="A FHIR resource type, e.g. Patient.")]
ResourceId = Annotated[str, Path(pattern=_ID, description="A FHIR id, e.g. p-17.")]


class FhirResponse(JSONResponse):
    media_type = FHIR_JSON


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


def _check_format(request: Request) -> None:
    fmt = request.query_params.get("_format")
    if fmt is not None and fmt not in FORMATS:
        raise SearchParameterError(field="_format", value=fmt, allowed=FORMATS, reason="JSON only")


@router.get("/metadata", response_class=FhirResponse)
def metadata(request: Request) -> FhirResponse:
    """The CapabilityStatement: what this server supports (no sign-in needed)."""
    _check_format(request)
    served = {getattr(r, "path", None) for r in fhir_bulk.router.routes}  # the Bulk routes (helper B's router)
    system = [op for path, op in BULK_EXPORT_OPERATIONS.items() if path in served and "Group" not in path]
    group = [op for path, op in BULK_EXPORT_OPERATIONS.items() if path in served and "Group" in path]
    return FhirResponse(capability_statement(_base(request), date=today().isoformat(), operations=system,
                                             group_operations=group))


@router.get("/{rtype}", response_class=FhirResponse)
def search(rtype: ResourceType, request: Request, user: StaffUser, store: StoreDep) -> FhirResponse:
    """Search: a Bundle searchset with ``total`` and ``self`` / ``next`` links."""
    params = list(request.query_params.multi_items())
    return FhirResponse(server.search(store, user.actor, rtype, params, base=_base(request)))


@router.get("/{rtype}/{rid}", response_class=FhirResponse)
def read(rtype: ResourceType, rid: ResourceId, request: Request, user: StaffUser, store: StoreDep) -> FhirResponse:
    """Read one resource by id (another site's record: 404)."""
    _check_format(request)
    return FhirResponse(server.read(store, user.actor, rtype, rid))


#: the bodies a write reads: FHIR JSON (RFC 6838 structured suffix +json), plain JSON as some clients send it
BODY_TYPES = ("application/fhir+json", "application/json")


async def _body(request: Request) -> Any:
    sent = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if sent and sent not in BODY_TYPES:
        raise UnsupportedMediaType(field="Content-Type", value=sent[:80], allowed=" or ".join(BODY_TYPES),
                                   reason="the body must be a FHIR resource as JSON")
    raw = await request.body()
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(field="body", value=raw[:40].decode("utf-8", "replace"),
                              allowed="a FHIR resource as JSON", reason=str(exc)[:200]) from None


@router.post("/{rtype}", response_class=FhirResponse, status_code=201)
async def create(rtype: ResourceType, request: Request, user: ClinicStaff, store: StoreDep,
                 if_none_exist: Annotated[str | None, Header(alias="If-None-Exist", max_length=2000)] = None
                 ) -> FhirResponse:
    """Create (conditional with ``If-None-Exist``): 201 with ``Location``; 200 with the one match.
    Search parameters in the query string (as some clients send them) are read as ``If-None-Exist``."""
    body = await _body(request)
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "_format"]
    if if_none_exist is None and query:
        if_none_exist = urllib.parse.urlencode(query)
    status, resource = await run_in_threadpool(writes.create, store, user.actor, rtype, body,
                                               if_none_exist=if_none_exist, base=_base(request))
    headers = {"Location": f"{_base(request)}/{rtype}/{resource['id']}"}
    return FhirResponse(resource, status_code=status, headers=headers)


@router.post("", response_class=FhirResponse)
@router.post("/", response_class=FhirResponse, include_in_schema=False)
async def transaction(request: Request, user: ClinicStaff, store: StoreDep) -> FhirResponse:
    """A transaction Bundle: all entries stored, or none (transaction-response Bundle)."""
    body = await _body(request)
    return FhirResponse(await run_in_threadpool(writes.transaction, store, user.actor, body, base=_base(request)))
