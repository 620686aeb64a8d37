"""The security headers of every response, in one place.

:class:`SecurityHeadersMiddleware` (pure ASGI, so it adds no task or copy per request) sets
them on every response the application sends; the 500 handler of
:mod:`spinetrack.web.errors` sets the same ones, because Starlette sends a 500 from its
outermost layer, outside any middleware the app adds. A header the route already set (e.g.
``Cache-Control`` on Plotly's script) is kept.

* ``Content-Security-Policy``: only this origin; no inline script (plot data travels as JSON in
  ``<script type="application/json">`` blocks, read by ``static/app.js``). Plotly sets inline
  styles, hence ``style-src 'unsafe-inline'``.
* ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer`` (a patient's page never
  tells another site where it came from), ``X-Frame-Options: DENY``, a ``Permissions-Policy``
  denying camera, microphone and location.
* ``Cache-Control: no-store`` on everything but ``/static/`` (pages and API carry patient data);
  ``/static/`` files are kept a day (``public, max-age=86400``; the pages ask for them with the
  version in the address, so an upgrade is fetched at once).

The same middleware gzips the assets under ``/static/`` and ``/vendor/``
(:class:`spinetrack.web.compression.AssetGZipMiddleware`, inside the headers), so that one
``add_middleware`` in ``web/app.py`` gives every response its headers and every asset its
compression.
"""

from __future__ import annotations

from collections.abc import MutableMapping

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spinetrack.web.compression import AssetGZipMiddleware

__all__ = ["CSP", "STATIC_CACHE", "SecurityHeadersMiddleware", "apply_security_headers", "security_headers"]

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")

STATIC_CACHE = "public, max-age=86400"

_ALWAYS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
)


def security_headers(path: str) -> list[tuple[str, str]]:
    """The headers a response to ``path`` must carry."""
    headers = list(_ALWAYS)
    headers.append(("Cache-Control", STATIC_CACHE if path.startswith("/static/") else "no-store"))
    return headers


def apply_security_headers(headers: MutableMapping[str, str] | MutableHeaders, path: str) -> None:
    """Set the security headers on ``headers`` unless already set."""
    for name, value in security_headers(path):
        if name not in headers:
            headers[name] = value


class SecurityHeadersMiddleware:
    """Pure ASGI middleware: adds :func:`security_headers` to every HTTP response start (and
    gzips the assets, :class:`~spinetrack.web.compression.AssetGZipMiddleware`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = AssetGZipMiddleware(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                apply_security_headers(MutableHeaders(scope=message), path)
            await send(message)

        await self.app(scope, receive, send_with_headers)
