"""FHIR Bulk Data ``$export`` (HL7 Bulk Data Access IG, https://hl7.org/fhir/uv/bulkdata/export.html).

Routes
------
``GET|POST /fhir/$export``                       system level: every site, pseudonymised (researchers)
``GET|POST /fhir/Group/{group}/$export``         one site; ``group`` is the site's code (``SITE-A``) or
                                                 its Organization id (``site-3``)
``GET      /fhir/$export-status/{job}``          202 + ``X-Progress`` + ``Retry-After`` while it runs;
                                                 200 + the manifest when done; 500 + OperationOutcome
                                                 when it failed; 404 once deleted or expired
``DELETE   /fhir/$export-status/{job}``          cancel / delete the export and its files (202)
``GET      /fhir/$export-file/{job}/{file}``     one NDJSON file (``application/fhir+ndjson``)

Kick-off: ``Prefer: respond-async`` is required (400 otherwise); ``Accept``, when sent, must
allow ``application/fhir+json``. Parameters (query string, or a ``Parameters`` body on POST):
``_type`` (comma-separated, repeatable; unknown types → 400 naming the allowed ones),
``_since`` (a FHIR instant with a time zone), ``_outputFormat`` (``application/fhir+ndjson``,
``application/ndjson`` or ``ndjson``). Any other parameter is refused (400) unless the request
says ``Prefer: handling=lenient``, when it is ignored. The answer is 202 with
``Content-Location: <base>/fhir/$export-status/<job>``.

Who may export what (the role and scope rules; docs/bulk_export.md):

* researcher (signed in, or an API token with the ``export`` scope): system level and Group
  level, always pseudonymised (:class:`~spinetrack.interop.fhir.FhirScope` with
  ``identified=False``: no names, hospital numbers, contact details, free text; year of birth
  only; patient ids ``P<n>``);
* clinician and coordinator (signed in, or a token of theirs with ``export``): Group level for
  their own site only, identified (another site's group answers 404; system level 403);
* admin: refused (403), also with a token: admins run the system and see no patient records;
  a registry feed uses a researcher token.

Status and files answer only the one who started the export (the same user, or the same API
token): anyone else gets 404. A requester may have at most :data:`MAX_ACTIVE` exports running
at once (429 with ``Retry-After`` beyond). Files expire 24 hours after the kick-off
(:data:`spinetrack.store.export_jobs.DEFAULT_TTL`) and are deleted then or on DELETE. Every
export writes one audit row with its counts; every file download one more.

The job runs in a background thread of the process that took the kick-off
(:func:`spinetrack.interop.bulk.start_fhir_export`); its state is in the database, so every worker
answers polls. A job whose process stopped is failed after two minutes without a heartbeat.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from spinetrack.clock import utcnow
from spinetrack.errors import NotFoundError
from spinetrack.interop import bulk
from spinetrack.store import audit, export_jobs
from spinetrack.store.access import SessionUser
from spinetrack.store.repositories import SITE_ROLES, Actor, Store
from spinetrack.store.tables import SiteRow
from spinetrack.web.deps import require_roles

__all__ = ["MAX_ACTIVE", "router"]

router = APIRouter(tags=["FHIR Bulk Data"])

FHIR_JSON = "application/fhir+json"
MAX_ACTIVE = 2
RETRY_AFTER_S = 2
UNSUPPORTED = ("_elements", "_typeFilter", "patient", "includeAssociatedData", "organizeOutputBy",
               "allowPartialManifests", "_until")
JobId = Annotated[str, Path(min_length=1, max_length=64)]
FileName = Annotated[str, Path(min_length=1, max_length=100)]

# researcher, clinician, coordinator: the route decides the level; tokens need the export scope
Exporter = Annotated[SessionUser, Depends(require_roles("researcher", "clinician", "coordinator", scope="export"))]


class _Refused(Exception):
    def __init__(self, status: int, code: str, text: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(text)
        self.status, self.code, self.text, self.headers = status, code, text, headers or {}


def outcome(status: int, code: str, text: str, *, severity: str = "error",
            headers: dict[str, str] | None = None) -> JSONResponse:
    """An OperationOutcome with one issue (``code`` from the FHIR IssueType value set)."""
    body = {"resourceType": "OperationOutcome",
            "issue": [{"severity": severity, "code": code, "diagnostics": text}]}
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON, headers=headers)


def _prefer(request: Request) -> set[str]:
    """The preferences of the ``Prefer`` headers (RFC 7240), without their parameters."""
    out = set()
    for header in request.headers.getlist("prefer"):
        for pref in header.split(","):
            token = pref.split(";")[0].strip().lower().replace(" ", "")
            if token:
                out.add(token)
    return out


def _check_headers(request: Request) -> bool:
    """``Prefer: respond-async`` and an acceptable ``Accept``; returns whether handling is lenient."""
    prefer = _prefer(request)
    if "respond-async" not in prefer:
        raise _Refused(400, "invalid", "a Bulk Data export needs the header 'Prefer: respond-async'")
    accept = request.headers.get("accept")
    if accept is not None and accept.strip():
        kinds = {a.split(";")[0].strip().lower() for a in accept.split(",")}
        if not kinds & {FHIR_JSON, "application/json", "*/*", "application/*"}:
            raise _Refused(400, "not-supported",
                           f"the kick-off answers in {FHIR_JSON}; the Accept header asked for {accept[:80]}")
    return "handling=lenient" in prefer


def _params_from_query(request: Request) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        out.setdefault(key, []).append(value)
    return out


async def _params_from_body(request: Request) -> dict[str, list[str]]:
    """The parameters of a POST kick-off: a FHIR ``Parameters`` resource (or none)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _Refused(400, "structure", "the POST body must be a FHIR Parameters resource in JSON") from None
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise _Refused(400, "structure", "the POST body must be a FHIR Parameters resource in JSON")
    out: dict[str, list[str]] = {}
    for p in body.get("parameter") or []:
        if not isinstance(p, dict) or not isinstance(p.get("name"), str):
            raise _Refused(400, "structure", "every Parameters.parameter needs a name")
        values = [v for k, v in p.items() if k.startswith("value") and isinstance(v, str)]
        if len(values) != 1:
            raise _Refused(400, "structure", f"parameter {p['name']!r} needs one string, instant or code value")
        out.setdefault(p["name"], []).append(values[0])
    return out


def _parse(params: dict[str, list[str]], lenient: bool) -> tuple[list[str] | None, dt.datetime | None]:
    """``_type`` and ``_since`` from the request's parameters (the rest checked and refused)."""
    from spinetrack.interop.fhir import SUPPORTED_TYPES

    for name in params:
        if name in ("_type", "_since", "_outputFormat"):
            continue
        if not lenient:
            what = "is not supported by this server" if name in UNSUPPORTED else "is not a $export parameter"
            raise _Refused(400, "not-supported", f"the parameter {name} {what} (send 'Prefer: handling=lenient' "
                                                 "to have unsupported parameters ignored)")
    for fmt in params.get("_outputFormat", []):
        if fmt.strip().replace(" ", "+") not in bulk.OUTPUT_FORMATS:
            raise _Refused(400, "not-supported", f"_outputFormat {fmt!r} is not supported; allowed: "
                                                 f"{', '.join(bulk.OUTPUT_FORMATS)}")
    types: list[str] | None = None
    if "_type" in params:
        types = []
        for value in params["_type"]:
            for t in (x.strip() for x in value.split(",")):
                if not t:
                    continue
                if t not in SUPPORTED_TYPES:
                    raise _Refused(400, "not-supported", f"_type {t!r} is not exported here; allowed: "
                                                         f"{', '.join(SUPPORTED_TYPES)}")
                if t not in types:
                    types.append(t)
        if not types:
            raise _Refused(400, "invalid", f"_type is empty; allowed: {', '.join(SUPPORTED_TYPES)}")
    since: dt.datetime | None = None
    if params.get("_since"):
        if len(params["_since"]) > 1:
            raise _Refused(400, "invalid", "_since may be given once")
        try:  # a '+' of the time zone arrives as a space when the client did not encode it
            since = bulk.parse_instant(params["_since"][0].strip().replace(" ", "+"))
        except ValueError as exc:
            raise _Refused(400, "invalid", f"_since: {exc}") from None
    return types, since


def _group_site(store: Store, group: str) -> int | None:
    """The site a Group id names: its code, or its Organization id ``site-<n>``."""
    with store.transaction() as s:
        site_id = s.execute(select(SiteRow.id).where(SiteRow.code == group)).scalar_one_or_none()
        if site_id is None and group.startswith("site-") and group[5:].isdigit() and len(group) < 16:
            site_id = s.execute(select(SiteRow.id).where(SiteRow.id == int(group[5:]))).scalar_one_or_none()
    return int(site_id) if site_id is not None else None


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _housekeeping(store: Store) -> None:
    export_jobs.purge_expired(store)
    export_jobs.fail_stale_jobs(store, keep=bulk.running_here(), kind="fhir")


def _kick_off(request: Request, user: SessionUser, params: dict[str, list[str]], group: str | None) -> Response:
    """Check the request, record the job, start it, answer 202 (synchronous: runs in a thread)."""
    from spinetrack.interop.fhir import FhirScope

    store: Store = request.app.state.store
    # who may export what first (another site's group is not found, whatever the request says)
    if user.role == "researcher":
        identified = False
        site_id = None
    elif user.role in SITE_ROLES:
        if group is None:
            raise _Refused(403, "forbidden", "clinic staff export their own site: use "
                                             "/fhir/Group/<your site code>/$export")
        identified, site_id = True, user.site_id
    else:  # require_roles admits no other role; kept as a guard
        raise _Refused(403, "forbidden", f"the role {user.role} may not export patient records")
    if group is not None:
        group_site = _group_site(store, group)
        if group_site is None or (user.role in SITE_ROLES and group_site != user.site_id):
            raise _Refused(404, "not-found", f"Group/{group} not found")
        site_id = group_site
    lenient = _check_headers(request)
    types, since = _parse(params, lenient)
    _housekeeping(store)
    active = [j for j in export_jobs.list_jobs(store, requested_by=user.username, kind="fhir") if not j.done]
    if len(active) >= MAX_ACTIVE:
        raise _Refused(429, "throttled", f"you already have {len(active)} exports running; wait for one to finish "
                                         "or delete it", headers={"Retry-After": "30"})
    job_params: dict[str, Any] = {"level": "group" if group is not None else "system", "group": group,
                                  "_type": types, "_since": bulk.format_instant(since) if since else None,
                                  "identified": identified}
    job = export_jobs.create_job(store, Actor(user.username, user.role, user.site_id), kind="fhir",
                                 params=job_params, site_id=site_id, output_root=request.app.state.export_dir,
                                 request_url=str(request.url))
    base = _base(request)
    bulk.start_fhir_export(store, job.id, scope=FhirScope(site_id=site_id, identified=identified), types=types,
                           since=since, file_base_url=f"{base}/fhir/$export-file/{job.id}")
    return outcome(202, "informational", "export started; poll the Content-Location URL for its status",
                   severity="information", headers={"Content-Location": f"{base}/fhir/$export-status/{job.id}"})


async def _kick_off_async(request: Request, user: SessionUser, group: str | None) -> Response:
    try:
        params = _params_from_query(request)
        if request.method == "POST":
            for name, values in (await _params_from_body(request)).items():
                params.setdefault(name, []).extend(values)
        return await run_in_threadpool(_kick_off, request, user, params, group)
    except _Refused as exc:
        return outcome(exc.status, exc.code, exc.text, headers=exc.headers)


@router.get("/fhir/$export", summary="Bulk Data export, system level (researchers; pseudonymised)")
async def export_system(request: Request, user: Exporter) -> Response:
    return await _kick_off_async(request, user, None)


@router.post("/fhir/$export", summary="Bulk Data export, system level, with a Parameters body")
async def export_system_post(request: Request, user: Exporter) -> Response:
    return await _kick_off_async(request, user, None)


@router.get("/fhir/Group/{group}/$export", summary="Bulk Data export of one site (a Group is a site)")
async def export_group(request: Request, user: Exporter,
                       group: Annotated[str, Path(min_length=1, max_length=64)]) -> Response:
    return await _kick_off_async(request, user, group)


@router.post("/fhir/Group/{group}/$export", summary="Bulk Data export of one site, with a Parameters body")
async def export_group_post(request: Request, user: Exporter,
                            group: Annotated[str, Path(min_length=1, max_length=64)]) -> Response:
    return await _kick_off_async(request, user, group)


def _mine(store: Store, job_id: str, user: SessionUser) -> export_jobs.ExportJob | None:
    _housekeeping(store)
    try:
        job = export_jobs.job_for(store, job_id, user.username)
    except NotFoundError:
        return None
    return job if job.kind == "fhir" and job.expires_at > utcnow() else None


def _http_date(moment: dt.datetime) -> str:
    return email.utils.format_datetime(moment.replace(tzinfo=dt.UTC), usegmt=True)


@router.get("/fhir/$export-status/{job_id}", summary="Bulk Data export status (202 running, 200 manifest)")
def export_status(request: Request, user: Exporter, job_id: JobId) -> Response:
    job = _mine(request.app.state.store, job_id, user)
    if job is None:
        return outcome(404, "not-found", "no such export (it may have been deleted or have expired)")
    if job.status == "completed" and job.manifest is not None:
        return JSONResponse(job.manifest, headers={"Expires": _http_date(job.expires_at)})
    if job.status == "failed":
        return outcome(500, "exception", job.error or "the export failed")
    return Response(status_code=202, headers={"X-Progress": (job.progress or job.status)[:100],
                                              "Retry-After": str(RETRY_AFTER_S)})


@router.delete("/fhir/$export-status/{job_id}", summary="Cancel or delete a Bulk Data export and its files")
def export_delete(request: Request, user: Exporter, job_id: JobId) -> Response:
    store: Store = request.app.state.store
    if _mine(store, job_id, user) is None:
        return outcome(404, "not-found", "no such export (it may have been deleted or have expired)")
    export_jobs.delete_job(store, Actor(user.username, user.role, user.site_id), job_id)
    return outcome(202, "informational", "export deleted", severity="information")


@router.get("/fhir/$export-file/{job_id}/{name}", summary="One NDJSON file of a completed Bulk Data export")
def export_file(request: Request, user: Exporter, job_id: JobId, name: FileName) -> Response:
    store: Store = request.app.state.store
    job = _mine(store, job_id, user)
    path = bulk.file_path(job.output_dir, name) if job is not None and job.status == "completed" and \
        job.output_dir else None
    if job is None or path is None:
        return outcome(404, "not-found", "no such export file (the export may have been deleted or have expired)")
    with store.transaction() as s:
        audit.append(s, actor=user.username, actor_role=user.role, action="read", entity="export_file",
                     entity_id=job.id, detail={"file": name, "kind": job.kind, "site_id": job.site_id})
    return FileResponse(path, media_type=bulk.NDJSON_MEDIA_TYPE, filename=name, content_disposition_type="inline")
