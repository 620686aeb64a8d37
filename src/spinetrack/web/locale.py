"""The language of each request (:mod:`spinetrack.i18n`) and the language switch.

:class:`LocaleMiddleware` (pure ASGI) sets the current language before any route runs: the one
chosen with the switch (the ``spinetrack_lang`` cookie), else the browser's ``Accept-Language``,
else English. A patient page then calls :func:`apply_patient_language` with the language
recorded for the patient, which wins over the browser's but not over the switch.

``POST /language`` (form fields ``language`` and ``next``) is the switch: it sets the cookie for
a year and goes back to ``next`` (a path on this site only). Choosing a language stores nothing
about anyone; a patient page that records it for the patient does so itself.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from spinetrack import i18n
from spinetrack.errors import ValidationError

__all__ = ["LANG_COOKIE", "LocaleMiddleware", "apply_patient_language", "router", "safe_next"]

LANG_COOKIE = "spinetrack_lang"
_SCOPE_KEY = "spinetrack.lang_chosen"

router = APIRouter()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


class LocaleMiddleware:
    """Sets :func:`spinetrack.i18n.set_locale` for each HTTP request (cookie, then
    ``Accept-Language``). Pure ASGI: the context variable is set in the request's own context,
    which the route (and the thread a sync route runs in) inherits."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            chosen = None
            raw = _header(scope, b"cookie")
            if raw:
                cookie: SimpleCookie = SimpleCookie()
                try:
                    cookie.load(raw)
                except Exception:  # a malformed cookie header: ignore it, like Starlette does
                    cookie = SimpleCookie()
                if LANG_COOKIE in cookie:
                    chosen = i18n.normalise(cookie[LANG_COOKIE].value)
            scope[_SCOPE_KEY] = chosen
            i18n.set_locale(i18n.negotiate(chosen=chosen, accept=_header(scope, b"accept-language")))
        await self.app(scope, receive, send)


def apply_patient_language(request: Request, recorded: str | None) -> str:
    """Speak the patient's recorded language on this page unless the switch chose another;
    returns the language spoken."""
    chosen = request.scope.get(_SCOPE_KEY)
    return i18n.set_locale(i18n.negotiate(chosen=chosen, recorded=recorded,
                                          accept=request.headers.get("accept-language")))


def safe_next(target: str | None, default: str = "/") -> str:
    """A redirect target on this site only (a path, never ``//host`` or a scheme)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


@router.post("/language", include_in_schema=False)
def choose_language(language: Annotated[str, Form(max_length=16)],
                    next: Annotated[str, Form(max_length=2000)] = "/") -> RedirectResponse:
    """The language switch: remember the choice in a cookie and go back."""
    lang = i18n.normalise(language)
    if lang is None:
        raise ValidationError(field="language", value=language[:16], allowed=list(i18n.LANGUAGES))
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(LANG_COOKIE, lang, max_age=365 * 24 * 3600, httponly=True, samesite="lax", path="/")
    return response
