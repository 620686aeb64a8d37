"""Cookies and CSRF.

* Staff session cookie ``st_session`` and patient session cookie ``st_patient``: HttpOnly,
  SameSite=Strict, ``Secure`` whenever the request came over HTTPS or the app runs in
  production (``SPINETRACK_ENV=production`` refuses to set them otherwise); path ``/``.
* CSRF: synchronizer token per session. Forms carry ``csrf_token``; API calls send the
  ``X-CSRF-Token`` header. Every unsafe method (POST, PUT, PATCH, DELETE) with a session
  cookie is checked. The sign-in form uses a double-submit token (``st_prelogin`` cookie).
* The sign-in rate limit is not here: it is counted in the database, atomically, by
  :mod:`spinetrack.store.throttle` (so it holds across server processes; no process memory
  holds it), and answered with 429 and ``Retry-After``.
"""

from __future__ import annotations

import secrets

from fastapi import Request, Response

from spinetrack.errors import AuthenticationError

__all__ = [
    "PATIENT_COOKIE",
    "PRELOGIN_COOKIE",
    "SESSION_COOKIE",
    "check_csrf",
    "clear_cookie",
    "set_cookie",
]

SESSION_COOKIE = "st_session"
PATIENT_COOKIE = "st_patient"
PRELOGIN_COOKIE = "st_prelogin"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def cookie_secure(request: Request) -> bool:
    settings = request.app.state.settings
    return request.url.scheme == "https" or settings.env == "production"


def set_cookie(request: Request, response: Response, name: str, value: str, *, max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="strict", secure=cookie_secure(request),
                        path="/")


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(name, path="/", httponly=True, samesite="strict", secure=cookie_secure(request))


def new_token() -> str:
    return secrets.token_urlsafe(32)


async def check_csrf(request: Request, expected: str | None) -> None:
    """Refuse an unsafe request whose CSRF token does not match the session's."""
    if request.method not in UNSAFE:
        return
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else None
    if not expected or not sent or not secrets.compare_digest(sent, expected):
        raise AuthenticationError("missing or wrong CSRF token (reload the page and try again)")
