"""Cookies, CSRF and sign-in rate limiting.

* Staff session cookie ``st_session`` and patient session cookie ``st_patient``: HttpOnly,
  SameSite=Strict, ``Secure`` whenever the request came over HTTPS or the app runs in
  production (``SPINETRACK_ENV=production`` refuses to set them otherwise); path ``/``.
* CSRF: synchronizer token per session. Forms carry ``csrf_token``; API calls send the
  ``X-CSRF-Token`` header. Every unsafe method (POST, PUT, PATCH, DELETE) with a session
  cookie is checked. The sign-in form uses a double-submit token (``st_prelogin`` cookie).
* Sign-in rate limit: at most ``max_failures`` failed attempts per user name and per client
  address within ``window_s`` seconds; further attempts get 429 with ``Retry-After``
  (in memory, per process; put a shared limiter in front when running several workers).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Callable

from fastapi import Request, Response

from spinetrack.errors import AuthenticationError, RateLimitError

__all__ = [
    "PATIENT_COOKIE",
    "PRELOGIN_COOKIE",
    "SESSION_COOKIE",
    "LoginRateLimiter",
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


class LoginRateLimiter:
    """Sliding-window count of failed sign-ins per key (user name, client address)."""

    def __init__(self, max_failures: int = 5, window_s: int = 900, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and now - q[0] > self.window_s:
            q.popleft()
        return q

    def check(self, *keys: str) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                q = self._recent(key, now)
                if len(q) >= self.max_failures:
                    retry = int(self.window_s - (now - q[0])) + 1
                    raise RateLimitError("too many failed sign-in attempts; try again later", retry_after_s=retry)

    def failed(self, *keys: str) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)
