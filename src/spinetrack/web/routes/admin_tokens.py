"""Admin page "API tokens": create, list and revoke the tokens machine clients send as
``Authorization: Bearer`` to ``/api/v1`` and ``/fhir`` (:mod:`spinetrack.store.tokens`).

Routes
------
``GET  /admin/tokens``                 the tokens (name, role, site, scopes, created, expires, last
                                       used, revoked) and the form to create one
``POST /admin/tokens``                 create a token: the answer (not a redirect) shows it once;
                                       it is never shown again (only its hash is kept)
``POST /admin/tokens/{id}/revoke``     revoke a token at once (then a redirect to the list)

Admins signed in only (the role dependency checks the CSRF token of every POST; a request made
with an API token is refused by the store: a token cannot mint or revoke tokens). Creations and
revocations are audited by the store, without the token.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from spinetrack.errors import ConflictError, NotFoundError, ValidationError
from spinetrack.i18n import N_
from spinetrack.i18n import gettext as _
from spinetrack.store import tokens
from spinetrack.store.access import SessionUser
from spinetrack.store.queries import Queries
from spinetrack.web.deps import Admin

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

TokenId = Annotated[int, Path(ge=1, le=2_147_483_647)]
NOTICES = {"revoked": N_("API token revoked: it stops working now.")}


async def _form(request: Request) -> FormData:
    return await request.form()


FormDep = Annotated[FormData, Depends(_form)]


def _page(request: Request, user: SessionUser, *, status: int = 200, error: str | None = None,
          created: dict[str, Any] | None = None, values: dict[str, Any] | None = None,
          notice: str | None = None) -> Response:
    store = request.app.state.store
    sites = Queries(store).list_sites(user.actor)
    response: Response = request.app.state.templates.TemplateResponse(request, "admin/tokens.html", {
        "user": user, "tokens": tokens.list_tokens(store, user.actor), "sites": sites, "roles": tokens.TOKEN_ROLES,
        "scopes": tokens.SCOPES, "error": error, "created": created, "values": values or {},
        "default_days": tokens.DEFAULT_DAYS, "max_days": tokens.MAX_DAYS,
        "notice": _(NOTICES[notice]) if notice in NOTICES else None}, status_code=status)
    return response


@router.get("/admin/tokens")
def tokens_page(request: Request, user: Admin,
                notice: Annotated[str | None, Query(max_length=32)] = None) -> Response:
    return _page(request, user, notice=notice)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


@router.post("/admin/tokens")
def create(request: Request, user: Admin, form: FormDep) -> Response:
    """Create a token; the page shows it once."""
    values: dict[str, Any] = {"name": _text(form, "name"), "role": _text(form, "role"),
                              "site_id": _text(form, "site_id"), "days": _text(form, "days"),
                              "scopes": [v for v in form.getlist("scopes") if isinstance(v, str)]}
    try:
        site_raw, days_raw = values["site_id"], values["days"] or str(tokens.DEFAULT_DAYS)
        if site_raw and not (site_raw.isdigit() and len(site_raw) <= 9):
            raise ValidationError(field="token.site", value=site_raw, allowed="a site from the list")
        if not (days_raw.isdigit() and len(days_raw) <= 4):
            raise ValidationError(field="token.days", value=days_raw, allowed=f"1 to {tokens.MAX_DAYS} days")
        token_id, token = tokens.create_token(request.app.state.store, user.actor, name=values["name"],
                                              role=values["role"], site_id=int(site_raw) if site_raw else None,
                                              scopes=values["scopes"], days=int(days_raw))
    except (ValidationError, NotFoundError) as exc:
        return _page(request, user, status=422, values=values,
                     error=_("Nothing was created: %(reason)s", reason=str(exc)))
    return _page(request, user, created={"id": token_id, "name": values["name"], "token": token})


@router.post("/admin/tokens/{token_id}/revoke")
def revoke(request: Request, user: Admin, token_id: TokenId) -> Response:
    try:
        tokens.revoke_token(request.app.state.store, user.actor, token_id)
    except ConflictError as exc:
        return _page(request, user, status=409, error=str(exc))
    return RedirectResponse("/admin/tokens?notice=revoked", status_code=303)
