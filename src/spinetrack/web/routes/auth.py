"""Sign-in and sign-out for staff (pages and JSON API), the landing page, the owner's
set-password page, and the account notices shown after a sign-in.

``GET /login?error=<code>&notice=<code>``  the sign-in page; only the fixed codes of
                                          :data:`LOGIN_ERRORS` / :data:`LOGIN_NOTICES` show a
                                          message (our own words, never the query's text)
``GET /set-password/{token}``             a one-time link: checked, kept in an HttpOnly cookie,
                                          then redirected to ``/set-password`` (the token leaves
                                          the address bar and is never echoed in a page)
``GET|POST /set-password``                the owner chooses a password (12 to 1,024 characters)
``GET /account/notices``                  changes an admin made to the account since the
                                          previous sign-in (shown once after signing in)
``GET|POST /login/two-factor``            the second step of a sign-in: the 6-digit code
``GET|POST /account/two-factor``          set up an authenticator app (secret as text and QR
                                          code; confirmed with a code), or see that it is on;
                                          also reached right after the password when the
                                          role requires two-factor and none is set up yet

Two-factor (:mod:`spinetrack.store.totp`): after a correct password an account with an
authenticator, or of a role for which the admin requires one, gets no session but a pending
sign-in (HttpOnly cookie ``st_2fa``, 5 minutes), which only the code (or the set-up) turns into
a session. The API takes the code with the password (``totp``).

The sign-in rate limit is counted in the database by ``Access.login``
(:mod:`spinetrack.store.throttle`). With ``SPINETRACK_ENV=production`` demo accounts are refused
by the store, and here the published demo password is refused as well (defence in depth).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from spinetrack.errors import (
    AuthenticationError,
    ConflictError,
    PermissionDeniedError,
    RateLimitError,
    ValidationError,
)
from spinetrack.store import totp
from spinetrack.store.access import MAX_PASSWORD, MIN_PASSWORD, Access, SecondFactorNeeded, SessionUser
from spinetrack.synth.demo_access import DEMO_PASSWORD
from spinetrack.web.deps import AccessDep, OptionalUser, StaffUser
from spinetrack.web.security import PRELOGIN_COOKIE, SESSION_COOKIE, clear_cookie, new_token, set_cookie

router = APIRouter()

HOME = {"clinician": "/clinic", "coordinator": "/clinic", "researcher": "/clinic/overview", "admin": "/admin"}
SETPW_COOKIE = "st_setpw"
PENDING_COOKIE = "st_2fa"  # a sign-in waiting for its second factor (store/totp.py)
PENDING_SECONDS = int(totp.PENDING_VALID.total_seconds())
# /login?error=<code> and ?notice=<code>: the only messages the sign-in page shows from its address.
LOGIN_ERRORS = {
    "session-ended": "Your session has ended (signed out, timed out, or changed by an admin). Please sign in again.",
    "link-invalid": "That set-password link is not valid any more. Ask an admin for a new one.",
    "two-factor-expired": "The sign-in has expired (5 minutes). Please sign in again with your password.",
}
LOGIN_NOTICES = {"password-set": "Your password is set. Sign in with it now."}


def _safe_next(target: str | None, user: SessionUser) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return HOME.get(user.role, "/")


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _production(request: Request) -> bool:
    return bool(request.app.state.settings.env == "production")


def _login(request: Request, access: Access, username: str, password: str,
           code: str | None = None) -> tuple[str, SessionUser]:
    """Sign in through the store (which counts the attempt in the database throttle and refuses
    demo accounts in production); in production the published demo password is refused too."""
    if _production(request) and password == DEMO_PASSWORD:
        # refused before the password is accepted (so it cannot start a two-factor step either),
        # yet through the store, so that the throttle and the audit log count it as a failure
        access.login(username, "\x00", client=_client(request))  # never matches a hash: raises
        raise AuthenticationError("unknown user name or wrong password")  # pragma: no cover
    token, user = access.login(username, password, client=_client(request), code=code)
    return token, user


def _signed_in(request: Request, access: Access, token: str, user: SessionUser, next: str) -> Response:
    """The redirect after a complete sign-in: the session cookie, the notices first if any."""
    target = _safe_next(next, user)
    if access.account_notices(user):
        target = "/account/notices?" + urlencode({"next": target})
    resp = RedirectResponse(target, status_code=303)
    set_cookie(request, resp, SESSION_COOKIE, token)
    clear_cookie(request, resp, PRELOGIN_COOKIE)
    clear_cookie(request, resp, PENDING_COOKIE)
    return resp


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    """A sign-in page with a fresh pre-login CSRF token (``prelogin``)."""
    fresh = new_token()
    resp = request.app.state.templates.TemplateResponse(request, name, {"prelogin": fresh, **context},
                                                        status_code=status)
    set_cookie(request, resp, PRELOGIN_COOKIE, fresh, max_age=3600)
    return resp


@router.get("/", include_in_schema=False)
def home(user: OptionalUser) -> Response:
    return RedirectResponse(HOME.get(user.role, "/login") if user else "/login", status_code=303)


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page(request: Request, next: str | None = None, error: str | None = None,
               notice: str | None = None) -> Response:
    token = new_token()
    resp = request.app.state.templates.TemplateResponse(
        request, "login.html", {"prelogin": token, "next": next or "", "error": LOGIN_ERRORS.get(error or ""),
                                "notice": LOGIN_NOTICES.get(notice or "")})
    set_cookie(request, resp, PRELOGIN_COOKIE, token, max_age=3600)
    return resp


@router.post("/login", include_in_schema=False)
def login_submit(request: Request, access: AccessDep, username: Annotated[str, Form(max_length=64)],
                 password: Annotated[str, Form(max_length=1024)], csrf_token: Annotated[str, Form()],
                 next: Annotated[str, Form()] = "") -> Response:
    pre = request.cookies.get(PRELOGIN_COOKIE)
    if not pre or pre != csrf_token:
        raise AuthenticationError("the sign-in form expired; reload the page and try again")
    try:
        token, user = _login(request, access, username, password)
    except SecondFactorNeeded as step:
        where = "/account/two-factor" if step.setup else "/login/two-factor"
        resp = RedirectResponse(where + "?" + urlencode({"next": next}), status_code=303)
        set_cookie(request, resp, PENDING_COOKIE, step.pending, max_age=PENDING_SECONDS)
        return resp
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
    return _signed_in(request, access, token, user, next)


# ---------------------------------------------------------------------------------- two-factor


def _expired() -> Response:
    return RedirectResponse("/login?error=two-factor-expired", status_code=303)


@router.get("/login/two-factor", response_class=HTMLResponse, include_in_schema=False)
def two_factor_page(request: Request, access: AccessDep, next: str | None = None) -> Response:
    try:
        account = access.pending_account(request.cookies.get(PENDING_COOKIE))
    except AuthenticationError:
        return _expired()
    if account["setup"]:
        return RedirectResponse("/account/two-factor?" + urlencode({"next": next or ""}), status_code=303)
    return _page(request, "two_factor.html", {"next": next or "", "error": None, "username": account["username"]})


@router.post("/login/two-factor", include_in_schema=False)
def two_factor_submit(request: Request, access: AccessDep, code: Annotated[str, Form(max_length=32)],
                      csrf_token: Annotated[str, Form(max_length=128)],
                      next: Annotated[str, Form(max_length=2000)] = "") -> Response:
    pre = request.cookies.get(PRELOGIN_COOKIE)
    if not pre or pre != csrf_token:
        raise AuthenticationError("the sign-in form expired; reload the page and try again")
    pending = request.cookies.get(PENDING_COOKIE)
    try:
        account = access.pending_account(pending)
        token, user = access.login_second_factor(pending, code, client=_client(request))
    except RateLimitError:
        raise
    except AuthenticationError as exc:
        if "expired" in str(exc):
            return _expired()
        return _page(request, "two_factor.html", {"next": next, "error": str(exc),
                                                  "username": account["username"]}, status=401)
    return _signed_in(request, access, token, user, next)


def _setup_page(request: Request, access: Access, *, user: SessionUser | None, account: dict[str, Any] | None,
                next: str, error: str | None = None, notice: str | None = None, status: int = 200) -> Response:
    user_id = user.user_id if user else account["user_id"] if account else 0
    username = user.username if user else account["username"] if account else ""
    status_info = access.two_factor_status(user_id)
    context: dict[str, Any] = {"user": user, "next": next, "error": error, "notice": notice, "username": username,
                               "enabled_at": status_info["enabled_at"], "required": status_info["required"],
                               "pending": account is not None, "secret": None, "qr": None}
    if status_info["enabled_at"] is None:
        secret = access.two_factor_secret(user_id)
        context["secret"] = " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
        context["qr"] = totp.qr_svg(totp.provisioning_uri(secret, username),
                                    "QR code of the two-factor secret for " + username)
    return _page(request, "two_factor_setup.html", context, status)


@router.get("/account/two-factor", response_class=HTMLResponse, include_in_schema=False)
def two_factor_setup_page(request: Request, user: OptionalUser, access: AccessDep, next: str | None = None,
                          notice: str | None = None) -> Response:
    """Set up an authenticator (signed in, or right after the password when the role requires
    it), or see that two-factor is on."""
    if user is None:
        try:
            account = access.pending_account(request.cookies.get(PENDING_COOKIE))
        except AuthenticationError:
            return RedirectResponse("/login?" + urlencode({"next": "/account/two-factor"}), status_code=303)
        if not account["setup"]:
            return RedirectResponse("/login/two-factor?" + urlencode({"next": next or ""}), status_code=303)
        return _setup_page(request, access, user=None, account=account, next=next or "")
    return _setup_page(request, access, user=user, account=None, next=next or "",
                       notice="Two-factor sign-in is on." if notice == "on" else None)


@router.post("/account/two-factor", include_in_schema=False)
def two_factor_setup_submit(request: Request, user: OptionalUser, access: AccessDep,
                            code: Annotated[str, Form(max_length=32)] = "",
                            csrf_token: Annotated[str, Form(max_length=128)] = "",
                            next: Annotated[str, Form(max_length=2000)] = "") -> Response:
    """Confirm the new authenticator with a code (fields optional here so that a caller without a
    session is refused as such, not for a missing field). Signed in: two-factor is on from now. Held
    back after the password (enforced role): two-factor is on and the session opens."""
    account = None
    if user is None:
        pre = request.cookies.get(PRELOGIN_COOKIE)
        if not pre or pre != csrf_token:
            raise AuthenticationError("the form expired; reload the page and try again")
        try:
            account = access.pending_account(request.cookies.get(PENDING_COOKIE))
        except AuthenticationError:
            return _expired()
    elif (csrf_token or request.headers.get("x-csrf-token")) != user.csrf_token:
        raise AuthenticationError("the form expired; reload the page and try again")
    try:
        if account is not None:
            opened = access.confirm_two_factor(None, code, pending=request.cookies.get(PENDING_COOKIE),
                                               client=_client(request))
            assert opened is not None
            return _signed_in(request, access, opened[0], opened[1], next)
        assert user is not None
        access.confirm_two_factor(user.user_id, code, client=_client(request))
    except (ValidationError, ConflictError) as exc:
        message = ("That code is not right: enter the 6 digits your app shows now (they change every 30 seconds)."
                   if isinstance(exc, ValidationError) else str(exc))
        return _setup_page(request, access, user=user, account=account, next=next, error=message, status=422)
    return RedirectResponse("/account/two-factor?notice=on", status_code=303)


@router.get("/account/notices", response_class=HTMLResponse, include_in_schema=False)
def account_notices_page(request: Request, user: StaffUser, access: AccessDep,
                         next: str | None = None) -> Response:
    """Changes an admin made to this account since the previous sign-in, then on to the landing page."""
    return request.app.state.templates.TemplateResponse(request, "account_notices.html", {
        "user": user, "notices": access.account_notices(user), "next": _safe_next(next, user)})


def _setpw_page(request: Request, *, status: int = 200, account: dict[str, str] | None = None,
                error: str | None = None, closed: str | None = None) -> Response:
    fresh = new_token()
    resp = request.app.state.templates.TemplateResponse(request, "set_password.html", {
        "prelogin": fresh, "account": account, "error": error, "closed": closed, "min_length": MIN_PASSWORD,
        "max_length": MAX_PASSWORD}, status_code=status)
    set_cookie(request, resp, PRELOGIN_COOKIE, fresh, max_age=3600)
    return resp


@router.get("/set-password/{token}", include_in_schema=False)
def set_password_link(request: Request, token: Annotated[str, Path(max_length=128)], access: AccessDep) -> Response:
    """Open a one-time set-password link: the token moves into an HttpOnly cookie and the browser
    goes on to ``/set-password`` (the link itself is spent only when a password is set)."""
    try:
        access.check_password_link(token)
    except AuthenticationError as exc:
        return _setpw_page(request, status=410, closed=str(exc))
    resp = RedirectResponse("/set-password", status_code=303)
    set_cookie(request, resp, SETPW_COOKIE, token, max_age=1800)
    return resp


def _link_account(request: Request, access: Access) -> tuple[str, dict[str, str]] | Response:
    """The link kept in the cookie and its account, or the page saying the link is closed."""
    token = request.cookies.get(SETPW_COOKIE)
    if not token:
        return _setpw_page(request, status=410, closed="Open the set-password link an admin gave you.")
    try:
        return token, access.check_password_link(token)
    except AuthenticationError as exc:
        return _setpw_page(request, status=410, closed=str(exc))


@router.get("/set-password", response_class=HTMLResponse, include_in_schema=False)
def set_password_page(request: Request, access: AccessDep) -> Response:
    found = _link_account(request, access)
    return found if isinstance(found, Response) else _setpw_page(request, account=found[1])


@router.post("/set-password", include_in_schema=False)
def set_password_submit(request: Request, access: AccessDep,
                        password: Annotated[str, Form(max_length=MAX_PASSWORD)],
                        password_again: Annotated[str, Form(max_length=MAX_PASSWORD)],
                        csrf_token: Annotated[str, Form(max_length=128)]) -> Response:
    """Set the password with the link kept in the cookie; the answer never contains the token."""
    pre = request.cookies.get(PRELOGIN_COOKIE)
    if not pre or pre != csrf_token:
        return _setpw_page(request, status=400, closed="The form expired; open the set-password link again.")
    found = _link_account(request, access)
    if isinstance(found, Response):
        return found
    token, account = found
    try:
        if password != password_again:
            raise ValidationError(field="password_again", value="(hidden)", allowed="the same password twice")
        if password == DEMO_PASSWORD:
            raise ValidationError(field="password", value="(hidden)",
                                  allowed="a password that is not the published demo password")
        access.set_password(token, password, client=_client(request))
    except ValidationError as exc:
        return _setpw_page(request, status=422, account=account, error=str(exc))
    except AuthenticationError as exc:
        return _setpw_page(request, status=410, closed=str(exc))
    resp = RedirectResponse("/login?notice=password-set", status_code=303)
    clear_cookie(request, resp, SETPW_COOKIE)
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
    totp: str | None = Field(None, max_length=32, pattern=r"^\s*\d{6}\s*$",
                             description="The 6-digit code of the account's authenticator app; required when "
                                         "the account has two-factor sign-in.", examples=["123456"])


class AccountNoticePublic(BaseModel):
    at: dt.datetime
    by: str = Field(description="The admin who made the change.")
    change: str = Field(description="role, site_id, password_reset or active")
    old: Any = None
    new: Any = None
    message: str


class MePublic(BaseModel):
    username: str
    display_name: str
    role: str
    site_id: int | None
    csrf_token: str = Field(description="Send as the X-CSRF-Token header on POST, PUT, PATCH and DELETE.")
    notices: list[AccountNoticePublic] = Field(
        default_factory=list, description="Changes an admin made to this account since the previous sign-in.")


def _me(user: SessionUser, access: Access) -> MePublic:
    return MePublic(username=user.username, display_name=user.display_name, role=user.role, site_id=user.site_id,
                    csrf_token=user.csrf_token,
                    notices=[AccountNoticePublic(**n) for n in access.account_notices(user)])


@router.post("/api/v1/auth/login", response_model=MePublic, tags=["auth"])
def api_login(request: Request, body: LoginRequest, access: AccessDep, response: Response) -> MePublic:
    """Sign in; the session cookie is set and the CSRF token returned (JSON body only, so a
    cross-site form cannot post here)."""
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise AuthenticationError("send the credentials as JSON")
    try:
        token, user = _login(request, access, body.username, body.password, code=body.totp)
    except SecondFactorNeeded as step:
        if step.setup:
            raise PermissionDeniedError(
                "your role requires two-factor sign-in and this account has no authenticator yet: sign in "
                "once in the web app (/login) to set it up") from None
        raise AuthenticationError("two-factor code required: send the 6-digit code of your authenticator app as "
                                  "'totp' with the user name and password") from None
    set_cookie(request, response, SESSION_COOKIE, token)
    return _me(user, access)


@router.post("/api/v1/auth/logout", status_code=204, tags=["auth"])
def api_logout(request: Request, user: StaffUser, access: AccessDep) -> Response:
    access.logout(request.cookies.get(SESSION_COOKIE))
    resp = Response(status_code=204)
    clear_cookie(request, resp, SESSION_COOKIE)
    return resp


@router.get("/api/v1/auth/me", response_model=MePublic, tags=["auth"])
def api_me(user: StaffUser, access: AccessDep) -> MePublic:
    return _me(user, access)
