"""Admin pages: staff accounts and sites, and the audit log.

``GET /admin``                           users and sites (reading them is audited)
``POST /admin/users``                    create an account (role, site, initial password)
``POST /admin/users/{id}/deactivate``    deactivate (sessions revoked) / ``…/activate``
``POST /admin/sites``                    create a site
``GET /admin/audit``                     the audit log, newest first, with filters, pages and the
                                         hash-chain verification status

Nothing here edits or deletes: accounts are deactivated, never removed, and the audit log is
read-only (append-only in the database, its hash chain verified on every view). Admins see no
clinical data: the store refuses them patient-level reads.
"""

from __future__ import annotations

import math
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from spinetrack.errors import ConflictError, NotFoundError, ValidationError
from spinetrack.store.access import STAFF_ROLES, SessionUser
from spinetrack.store.queries import Queries
from spinetrack.web.deps import AccessDep, Admin, StoreDep

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

AUDIT_PAGE_SIZE = 50
NOTICES = {"user-created": "Account created.", "site-created": "Site created.",
           "user-deactivated": "Account deactivated; its sessions are signed out.",
           "user-activated": "Account activated."}


async def _form(request: Request) -> FormData:
    return await request.form()


FormDep = Annotated[FormData, Depends(_form)]


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    if not isinstance(value, str):
        return None
    return value.strip() or None


def _render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    templates = request.app.state.templates
    response: Response = templates.TemplateResponse(request, name, context, status_code=status)
    return response


def _error(exc: Exception) -> dict[str, Any]:
    field = getattr(exc, "field", None)
    message = str(exc)
    if field and not message.startswith(field):
        message = f"{field}: {message}"
    return {"message": message, "field": field, "input": field.rsplit(".", 1)[-1] if field else None}


def _admin_page(request: Request, user: SessionUser, *, status: int = 200, errors: dict[str, Any] | None = None,
                values: dict[str, Any] | None = None, notice: str | None = None) -> Response:
    queries = Queries(request.app.state.store)
    users = request.app.state.access.list_users(user.actor)
    sites = queries.list_sites(user.actor)
    codes = {s["id"]: s["code"] for s in sites}
    return _render(request, "admin/index.html", {
        "user": user, "users": users, "sites": sites, "site_codes": codes, "roles": STAFF_ROLES,
        "errors": errors or {}, "values": values or {}, "notice": NOTICES.get(notice or "")}, status)


@router.get("/admin")
def admin_home(request: Request, user: Admin, notice: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    return _admin_page(request, user, notice=notice)


@router.post("/admin/users")
def create_user(request: Request, user: Admin, form: FormDep, access: AccessDep) -> Response:
    values = {k: _text(form, k) for k in ("username", "display_name", "role", "site_id")}
    site_raw = values["site_id"]
    password = form.get("password")
    try:
        if site_raw is not None and not site_raw.isdigit():
            raise ValidationError(field="user.site_id", value=site_raw, allowed="a site from the list")
        access.create_user(user.actor, username=values["username"] or "", display_name=values["display_name"] or "",
                           role=values["role"] or "", password=password if isinstance(password, str) else "",
                           site_id=int(site_raw) if site_raw else None)
    except (ValidationError, ConflictError, NotFoundError) as exc:
        if isinstance(exc, NotFoundError):
            exc = ValidationError(field="user.site_id", value=site_raw, allowed="a site from the list")
        return _admin_page(request, user, status=422, errors={"user": _error(exc)}, values={"user": values})
    return RedirectResponse("/admin?notice=user-created#users", status_code=303)


def _set_active(request: Request, user: SessionUser, user_id: int, active: bool) -> Response:
    if user_id == user.user_id and not active:
        exc = ValidationError(field="user.active", value=False, allowed="another account",
                              reason="you cannot deactivate your own account")
        return _admin_page(request, user, status=422, errors={"users": _error(exc)})
    request.app.state.access.set_active(user.actor, user_id, active)
    return RedirectResponse(f"/admin?notice=user-{'activated' if active else 'deactivated'}#users", status_code=303)


@router.post("/admin/users/{user_id}/deactivate")
def deactivate_user(request: Request, user_id: int, user: Admin) -> Response:
    return _set_active(request, user, user_id, False)


@router.post("/admin/users/{user_id}/activate")
def activate_user(request: Request, user_id: int, user: Admin) -> Response:
    return _set_active(request, user, user_id, True)


@router.post("/admin/sites")
def create_site(request: Request, user: Admin, form: FormDep, store: StoreDep) -> Response:
    values = {k: _text(form, k) for k in ("code", "name", "country")}
    try:
        if not values["name"] or len(values["name"]) > 200:
            raise ValidationError(field="site.name", value=values["name"], allowed="1 to 200 characters")
        country = (values["country"] or "").upper() or None
        if country is not None and (len(country) != 2 or not country.isalpha()):
            raise ValidationError(field="site.country", value=values["country"],
                                  allowed="a two-letter ISO 3166 country code, e.g. GB")
        store.add_site(user.actor, code=values["code"] or "", name=values["name"], country=country)
    except (ValidationError, ConflictError) as exc:
        return _admin_page(request, user, status=422, errors={"site": _error(exc)}, values={"site": values})
    return RedirectResponse("/admin?notice=site-created#sites", status_code=303)


@router.get("/admin/audit")
def audit_log(request: Request, user: Admin,
              actor: Annotated[str | None, Query(max_length=64)] = None,
              entity: Annotated[str | None, Query(max_length=32)] = None,
              patient_id: Annotated[str | None, Query(max_length=12)] = None,
              page: Annotated[int, Query(ge=1, le=1_000_000)] = 1) -> Response:
    queries = Queries(request.app.state.store)
    pid: int | None = None
    if patient_id and patient_id.strip():
        if not patient_id.strip().isdigit():
            raise ValidationError(field="patient_id", value=patient_id, allowed="a patient number")
        pid = int(patient_id.strip())
    chain = queries.verify_audit_chain(user.actor, record=False)  # the page view's own row records the read
    result = queries.audit_page(user.actor, actor_name=actor or None, entity=entity or None, patient_id=pid,
                                limit=AUDIT_PAGE_SIZE, offset=(page - 1) * AUDIT_PAGE_SIZE)
    entities = queries.audit_entities(user.actor)
    filters = {k: v for k, v in {"actor": actor, "entity": entity, "patient_id": patient_id}.items() if v}
    pages = max(1, math.ceil(result.total / AUDIT_PAGE_SIZE))

    def link(p: int) -> str:
        return "/admin/audit?" + urlencode({**filters, "page": p})

    return _render(request, "admin/audit.html", {
        "user": user, "page_data": result, "chain": chain, "filters": filters, "entities": entities,
        "page": page, "pages": pages, "prev_url": link(page - 1) if page > 1 else None,
        "next_url": link(page + 1) if page < pages else None})
