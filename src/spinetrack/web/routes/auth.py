"""Sign-in and sign-out for staff (pages and JSON API), and the landing page."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from spinetrack.errors import AuthenticationError
from spinetrack.store.access import SessionUser
from spinetrack.web.deps import AccessDep, OptionalUser, StaffUser
from spinetrack.web.security import PRELOGIN_COOKIE, SESSION_COOKIE, clear_cookie, new_token, set_cookie

router = APIRouter()

HOME = {"clinician": "/clinic", "coordinator": "/clinic", "researcher": "/clinic/overview", "admin": "/admin"}


def _safe_next(target: str | None, user: SessionUser) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return HOME.get(user.role, "/")


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _login(request: Request, access: Any, username: str, password: str) -> tuple[str, SessionUser]:
    limiter = request.app.state.login_limiter
    keys = (f"user:{username.lower()}", f"ip:{_client(request)}")
    limiter.check(*keys)
    try:
        token, user = access.login(username, password, client=_client(request))
    except AuthenticationError:
        limiter.failed(*keys)
        raise
    limiter.succeeded(keys[0])
    return token, user


@router.get("/", include_in_schema=False)
def home(user: OptionalUser) -> Response:
    return RedirectResponse(HOME.get(user.role, "/login") if user else "/login", status_code=303)


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page(request: Request, next: str | None = None, error: str | None = None) -> Response:  # noqa: A002
    token = new_token()
    resp = request.app.state.templates.TemplateResponse(
        request, "login.html", {"prelogin": token, "next": next or "", "error": error})
    set_cookie(request, resp, PRELOGIN_COOKIE, token, max_age=3600)
    return resp


@router.post("/login", include_in_schema=False)
def login_submit(request: Request, access: AccessDep, username: Annotated[str, Form(max_length=64)],
                 password: Annotated[str, Form(max_length=1024)], csrf_token: Annotated[str, Form()],
                 next: Annotated[str, Form()] = "") -> Response:  # noqa: A002
    pre = request.cookies.get(PRELOGIN_COOKIE)
    if not pre or pre != csrf_token:
        raise AuthenticationError("the sign-in form expired; reload the page and try again")
    try:
        token, user = _login(request, access, username, password)
    except AuthenticationError as exc:
        if getattr(exc, "retry_after_s", None):
            raise
        templ = request.app.state.templates
        fresh = new_token()
        resp = templ.TemplateResponse(request, "login.html", {"prelogin": fresh, "next": next,
                                                              "error": str(exc), "username": username},
                                      status_code=401)
        set_cookie(request, resp, PRELOGIN_COOKIE, fresh, max_age=3600)
        return resp
    resp = RedirectResponse(_safe_next(next, user), status_code=303)
    set_cookie(request, resp, SESSION_COOKIE, token)
    clear_cookie(request, resp, PRELOGIN_COOKIE)
    return resp


@router.post("/logout", include_in_schema=False)
def logout(request: Request, user: StaffUser, access: AccessDep) -> Response:
    access.logout(request.cookies.get(SESSION_COOKIE))
    resp = RedirectResponse("/login", status_code=303)
    clear_cookie(request, resp, SESSION_COOKIE)
    return resp


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class MePublic(BaseModel):
    username: str
    display_name: str
    role: str
    site_id: int | None
    csrf_token: str = Field(description="Send as the X-CSRF-Token header on POST, PUT, PATCH and DELETE.")


def _me(user: SessionUser) -> MePublic:
    return MePublic(username=user.username, display_name=user.display_name, role=user.role, site_id=user.site_id,
                    csrf_token=user.csrf_token)


@router.post("/api/v1/auth/login", response_model=MePublic, tags=["auth"])
def api_login(request: Request, body: LoginRequest, access: AccessDep, response: Response) -> MePublic:
    """Sign in; the session cookie is set and the CSRF token returned (JSON body only, so a
    cross-site form cannot post here)."""
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise AuthenticationError("send the credentials as JSON")
    token, user = _login(request, access, body.username, body.password)
    set_cookie(request, response, SESSION_COOKIE, token)
    return _me(user)


@router.post("/api/v1/auth/logout", status_code=204, tags=["auth"])
def api_logout(request: Request, user: StaffUser, access: AccessDep) -> Response:
    access.logout(request.cookies.get(SESSION_COOKIE))
    resp = Response(status_code=204)
    clear_cookie(request, resp, SESSION_COOKIE)
    return resp


@router.get("/api/v1/auth/me", response_model=MePublic, tags=["auth"])
def api_me(user: StaffUser) -> MePublic:
    return _me(user)
