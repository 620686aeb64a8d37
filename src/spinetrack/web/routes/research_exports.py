"""The researcher's exports page: start an OMOP CDM 5.4 or flat CSV export, follow it, download the ZIP.

Routes
------
``GET  /research/exports``                    the researcher's exports (status, progress, rows,
                                              download link) and the form to start one; refreshes
                                              itself every few seconds while one runs
``POST /research/exports``                    start an export (form: ``kind`` ``omop`` | ``csv``,
                                              optional ``rekey`` secret of 16+ characters, never
                                              stored); answers 303 to the page
``GET  /research/exports/{job}/download``     the finished export as a ZIP (attachment)
``POST /research/exports/{job}/delete``       delete an export and its files (303 to the page)

Researchers only (pseudonymised data over every site is theirs; clinic staff export their own
site through FHIR ``Group/$export``; admins see no patient records): every other role gets 403,
no session the sign-in page. The role dependency checks the CSRF token of every POST. An export
belongs to the one who started it: anyone else is told it does not exist (404). At most
:data:`MAX_ACTIVE` of one researcher's exports run at once (429 beyond). Files expire after
24 hours (:data:`spinetrack.store.export_jobs.DEFAULT_TTL`).

Audit: the export itself (``export``/``omop`` or ``export``/``csv`` with the row counts, in the
researcher's name), the job (``export``/``export_job``), and every download (``read``/``export_file``).
The work runs in a background thread (:mod:`spinetrack.interop.omop_jobs`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from spinetrack.clock import utcnow
from spinetrack.errors import NotFoundError
from spinetrack.i18n import N_
from spinetrack.i18n import gettext as _
from spinetrack.interop import bulk, omop_jobs
from spinetrack.interop.omop_keys import MIN_SECRET_LENGTH
from spinetrack.store import audit, export_jobs
from spinetrack.store.access import SessionUser
from spinetrack.store.repositories import Actor, Store
from spinetrack.web.deps import Researcher

__all__ = ["MAX_ACTIVE", "router"]

router = APIRouter(include_in_schema=False)

MAX_ACTIVE = 2
MAX_SECRET_LENGTH = 1000  # bytes: a pass phrase, not a document
JobId = Annotated[str, Path(min_length=1, max_length=64)]
NOTICES = {"started": N_("Export started. This page refreshes itself until it is ready."),
           "deleted": N_("Export deleted, with its files.")}
KIND_LABELS = {"omop": N_("OMOP CDM 5.4 (one CSV per table)"), "csv": N_("Flat CSV with a data dictionary")}


async def _form(request: Request) -> FormData:
    return await request.form()


FormDep = Annotated[FormData, Depends(_form)]


def _housekeeping(store: Store) -> None:
    export_jobs.purge_expired(store)
    export_jobs.fail_stale_jobs(store, keep=omop_jobs.running_here() | bulk.running_here())


def _jobs(store: Store, user: SessionUser) -> list[export_jobs.ExportJob]:
    now = utcnow()
    return [j for j in export_jobs.list_jobs(store, requested_by=user.username)
            if j.kind in omop_jobs.KINDS and j.expires_at > now]


def _page(request: Request, user: SessionUser, *, status: int = 200, error: str | None = None,
          notice: str | None = None) -> Response:
    store: Store = request.app.state.store
    _housekeeping(store)
    jobs = _jobs(store, user)
    context: dict[str, Any] = {
        "user": user, "jobs": jobs, "error": error, "kinds": {k: _(v) for k, v in KIND_LABELS.items()},
        "notice": _(NOTICES[notice]) if notice in NOTICES else None, "min_secret": MIN_SECRET_LENGTH,
        "running": any(not j.done for j in jobs), "max_active": MAX_ACTIVE}
    response: Response = request.app.state.templates.TemplateResponse(request, "research/exports.html", context,
                                                                      status_code=status)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/research/exports")
def exports_page(request: Request, user: Researcher,
                 notice: Annotated[str | None, Query(max_length=32)] = None) -> Response:
    """The researcher's exports and the form to start one."""
    return _page(request, user, notice=notice)


@router.post("/research/exports")
def start_export(request: Request, user: Researcher, form: FormDep) -> Response:
    """Start an OMOP or CSV export in the background."""
    store: Store = request.app.state.store
    kind = str(form.get("kind") or "")
    rekey = str(form.get("rekey") or "").strip() or None
    if kind not in omop_jobs.KINDS:
        return _page(request, user, status=422, error=_("Nothing was started: the kind of export is OMOP or CSV."))
    if rekey is not None and not MIN_SECRET_LENGTH <= len(rekey.encode("utf-8")) <= MAX_SECRET_LENGTH:
        return _page(request, user, status=422, error=_(
            "Nothing was started: the rekeying secret must have %(n)s to %(m)s characters (a short one can be "
            "guessed).", n=MIN_SECRET_LENGTH, m=MAX_SECRET_LENGTH))
    _housekeeping(store)
    active = [j for j in _jobs(store, user) if not j.done]
    if len(active) >= MAX_ACTIVE:
        return _page(request, user, status=429, error=_(
            "You already have %(n)s exports running: wait for one to finish, or delete it.", n=len(active)))
    job = export_jobs.create_job(store, Actor(user.username, user.role, user.site_id), kind=kind,
                                 params={"rekeyed": rekey is not None}, site_id=None,
                                 output_root=request.app.state.export_dir, request_url=str(request.url))
    omop_jobs.start_research_export(store, job.id, rekey_secret=rekey)
    return RedirectResponse("/research/exports?notice=started", status_code=303)


def _mine(store: Store, job_id: str, user: SessionUser) -> export_jobs.ExportJob:
    job = export_jobs.job_for(store, job_id, user.username)
    if job.kind not in omop_jobs.KINDS or job.expires_at <= utcnow():
        raise NotFoundError(entity="export", key=job_id)
    return job


@router.get("/research/exports/{job_id}/download")
def download(request: Request, user: Researcher, job_id: JobId) -> Response:
    """The finished export as a ZIP file; 404 for anyone but the researcher who started it."""
    store: Store = request.app.state.store
    job = _mine(store, job_id, user)
    path = omop_jobs.zip_file(job)
    if path is None:
        raise NotFoundError(entity="export file", key=job_id)
    with store.transaction() as s:
        audit.append(s, actor=user.username, actor_role=user.role, action="read", entity="export_file",
                     entity_id=job.id, detail={"file": path.name, "kind": job.kind})
    return FileResponse(path, media_type="application/zip", filename=path.name,
                        headers={"Cache-Control": "no-store"})


@router.post("/research/exports/{job_id}/delete")
def delete(request: Request, user: Researcher, job_id: JobId) -> Response:
    """Delete the export and its files (also while it runs: it stops)."""
    store: Store = request.app.state.store
    _mine(store, job_id, user)
    export_jobs.delete_job(store, Actor(user.username, user.role, user.site_id), job_id)
    return RedirectResponse("/research/exports?notice=deleted", status_code=303)
