"""Admin pages: staff accounts and sites, and the audit log.

``GET /admin``                           users and sites (reading them is audited)
``POST /admin/users``                    create an account (user name, name, role, site) — no
                                         password: the page shows a one-time set-password link,
                                         once, for the admin to hand to the owner (no e-mail here)
``POST /admin/users/{id}/reset-password`` the old password stops working, sessions end, a new
                                         one-time link is shown once
``POST /admin/users/{id}/link``          a new link for an account that has no password yet
``POST /admin/users/{id}/role``          change role and site (sessions end)
``POST /admin/users/{id}/deactivate``    deactivate (sessions revoked) / ``…/activate``
``POST /admin/users/{id}/reset-two-factor`` turn the account's two-factor sign-in off (a lost
                                         phone): sessions end, the owner sets it up again
``POST /admin/roles/two-factor``         require (``require=yes``) or stop requiring two-factor
                                         sign-in for ``role`` (audited; sessions of the role's
                                         accounts without an authenticator end)
``POST /admin/sites``                    create a site
``GET /admin/audit``                     the audit log, newest first, with filters, pages and the
                                         hash-chain verification status

Nothing here deletes: accounts are deactivated, never removed, and the audit log is read-only
(append-only in the database, its hash chain verified on every view). Every account change is
audited (who, what, old → new) and shown to the account's owner at their next sign-in. Admins
see no clinical data (the store refuses them patient-level reads) and never learn a password.
"""

from __future__ import annotations

import math
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from spinetrack.errors import ConflictError, NotFoundError, ValidationError
from spinetrack.store.access import PASSWORD_LINK_VALID, STAFF_ROLES, SessionUser
from spinetrack.store.logos import require_site
from spinetrack.store.queries import Queries
from spinetrack.web.deps import AccessDep, Admin, StoreDep

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

AUDIT_PAGE_SIZE = 50
NOTICES = {"user-created": "Account created.", "site-created": "Site created.", "site-updated": "Site updated.",
           "user-deactivated": "Account deactivated; its sessions are signed out.",
           "user-activated": "Account activated.",
           "user-updated": "Role and site changed; the account's sessions are signed out and its owner is told at "
                           "their next sign-in.",
           "user-unchanged": "Nothing to change: the account already has that role and site.",
           "two-factor-reset": "Two-factor sign-in reset: the account's sessions are signed out; its owner sets up "
                               "an authenticator app again (at the next sign-in if the role requires it).",
           "policy-updated": "Sign-in policy changed.", "policy-unchanged": "Nothing to change."}
UserId = Annotated[int, Path(ge=1, le=2_147_483_647)]


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
                values: dict[str, Any] | None = None, notice: str | None = None,
                link: dict[str, Any] | None = None) -> Response:
    queries = Queries(request.app.state.store)
    users = request.app.state.access.list_users(user.actor)
    sites = queries.list_sites(user.actor)
    codes = {s["id"]: s["code"] for s in sites}
    return _render(request, "admin/index.html", {
        "user": user, "users": users, "sites": sites, "site_codes": codes, "roles": STAFF_ROLES,
        "errors": errors or {}, "values": values or {}, "notice": NOTICES.get(notice or ""), "link": link,
        "policies": request.app.state.access.role_policies(),
        "link_hours": int(PASSWORD_LINK_VALID.total_seconds() // 3600)}, status)


def _link(request: Request, username: str, token: str, why: str) -> dict[str, Any]:
    """The one-time link, for this page only (never in a redirect or the address bar)."""
    return {"username": username, "url": str(request.base_url).rstrip("/") + f"/set-password/{token}", "why": why}


def _site_id(raw: str | None) -> int | None:
    if raw is not None and not (raw.isdigit() and len(raw) <= 9):
        raise ValidationError(field="user.site_id", value=raw, allowed="a site from the list")
    return int(raw) if raw else None


@router.get("/admin")
def admin_home(request: Request, user: Admin, notice: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    return _admin_page(request, user, notice=notice)


@router.post("/admin/users")
def create_user(request: Request, user: Admin, form: FormDep, access: AccessDep) -> Response:
    """Create an account without a password; the answer (not a redirect) shows its one-time
    set-password link once. A ``password`` field, if a client sends one, is ignored."""
    values = {k: _text(form, k) for k in ("username", "display_name", "role", "site_id")}
    site_raw = values["site_id"]
    try:
        _, token = access.invite_user(user.actor, username=values["username"] or "",
                                      display_name=values["display_name"] or "", role=values["role"] or "",
                                      site_id=_site_id(site_raw))
    except (ValidationError, ConflictError, NotFoundError) as exc:
        if isinstance(exc, NotFoundError):
            exc = ValidationError(field="user.site_id", value=site_raw, allowed="a site from the list")
        return _admin_page(request, user, status=422, errors={"user": _error(exc)}, values={"user": values})
    return _admin_page(request, user, notice="user-created",
                       link=_link(request, values["username"] or "", token, "account created"))


def _username(request: Request, user: SessionUser, user_id: int) -> str:
    for u in request.app.state.access.list_users(user.actor):
        if u["id"] == user_id:
            return str(u["username"])
    raise NotFoundError(entity="user", key=user_id)


def _refuse_own(request: Request, user: SessionUser, user_id: int, field: str, value: Any,
                what: str) -> Response | None:
    """The page again with a plain refusal when an admin tries ``what`` on their own account
    (another admin must do it); None for anyone else's account."""
    if user_id != user.user_id:
        return None
    exc = ValidationError(field=field, value=value, allowed="another account", reason=what)
    return _admin_page(request, user, status=422, errors={"users": _error(exc)})


@router.post("/admin/users/{user_id}/reset-password")
def reset_password(request: Request, user_id: UserId, user: Admin, access: AccessDep) -> Response:
    """The old password stops working and the sessions end; the page shows a new one-time link."""
    if refused := _refuse_own(request, user, user_id, "user.password", "(hidden)",
                              "you cannot reset your own password here; ask another admin"):
        return refused
    username = _username(request, user, user_id)
    token = access.reset_password(user.actor, user_id)
    return _admin_page(request, user, link=_link(request, username, token, "password reset; sessions signed out"))


@router.post("/admin/users/{user_id}/link")
def new_link(request: Request, user_id: UserId, user: Admin, access: AccessDep) -> Response:
    """A new one-time link for an account whose owner has not set a password yet."""
    username = _username(request, user, user_id)
    try:
        token = access.issue_password_link(user.actor, user_id)
    except ConflictError as exc:
        return _admin_page(request, user, status=409, errors={"users": _error(exc)})
    return _admin_page(request, user, link=_link(request, username, token, "new link (earlier links stop working)"))


@router.post("/admin/users/{user_id}/role")
def change_role(request: Request, user_id: UserId, user: Admin, form: FormDep, access: AccessDep) -> Response:
    role, site_raw = _text(form, "role"), _text(form, "site_id")
    try:
        changes = access.update_user(user.actor, user_id, role=role or "", site_id=_site_id(site_raw))
    except NotFoundError as exc:
        if exc.entity != "site":
            raise
        return _admin_page(request, user, status=422, errors={"users": _error(
            ValidationError(field="user.site_id", value=site_raw, allowed="a site from the list"))})
    except ValidationError as exc:
        return _admin_page(request, user, status=422, errors={"users": _error(exc)})
    return RedirectResponse(f"/admin?notice=user-{'updated' if changes else 'unchanged'}#user-{user_id}",
                            status_code=303)


def _set_active(request: Request, user: SessionUser, user_id: int, active: bool) -> Response:
    if not active and (refused := _refuse_own(request, user, user_id, "user.active", False,
                                              "you cannot deactivate your own account")):
        return refused
    request.app.state.access.set_active(user.actor, user_id, active)
    return RedirectResponse(f"/admin?notice=user-{'activated' if active else 'deactivated'}#users", status_code=303)


@router.post("/admin/users/{user_id}/deactivate")
def deactivate_user(request: Request, user_id: UserId, user: Admin) -> Response:
    return _set_active(request, user, user_id, False)


@router.post("/admin/users/{user_id}/activate")
def activate_user(request: Request, user_id: UserId, user: Admin) -> Response:
    return _set_active(request, user, user_id, True)


@router.post("/admin/users/{user_id}/reset-two-factor")
def reset_two_factor(request: Request, user_id: UserId, user: Admin, access: AccessDep) -> Response:
    """Recovery when an authenticator is lost: the secret is deleted and the sessions end."""
    if refused := _refuse_own(request, user, user_id, "user.totp", "(hidden)",
                              "you cannot reset your own two-factor sign-in; ask another admin"):
        return refused
    access.reset_two_factor(user.actor, user_id)
    return RedirectResponse(f"/admin?notice=two-factor-reset#user-{user_id}", status_code=303)


@router.post("/admin/roles/two-factor")
def set_role_two_factor(request: Request, user: Admin, form: FormDep, access: AccessDep) -> Response:
    """Require two-factor sign-in for a role, or stop requiring it."""
    role, require = _text(form, "role") or "", _text(form, "require")
    try:
        if require not in ("yes", "no"):
            raise ValidationError(field="role_policy.require", value=require, allowed=["yes", "no"])
        changed = access.set_role_policy(user.actor, role, require_two_factor=require == "yes")
    except ValidationError as exc:
        return _admin_page(request, user, status=422, errors={"policy": _error(exc)})
    return RedirectResponse(f"/admin?notice=policy-{'updated' if changed else 'unchanged'}#sign-in-policy",
                            status_code=303)


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


@router.post("/admin/sites/{site_id}/surgeon-benchmarking")
def set_surgeon_benchmarking(request: Request, site_id: int, user: Admin, form: FormDep, store: StoreDep) -> Response:
    """A site takes part in surgeon-level benchmarking (its surgeons' identifiers enter the
    snapshots), or stops."""
    choice = _text(form, "take_part")
    take_part = {"yes": True, "no": False}.get(choice or "")
    try:
        if take_part is None:
            require_site(store, site_id)  # an unknown site is 404 whatever the choice
            raise ValidationError(field="take_part", value=choice, allowed=["yes", "no"])
        store.set_surgeon_benchmarking(user.actor, site_id, take_part)
    except ValidationError as exc:
        return _admin_page(request, user, status=422, errors={"site": _error(exc)})
    return RedirectResponse("/admin?notice=site-updated#sites", status_code=303)


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
