"""Compressed static assets: :class:`AssetGZipMiddleware` gzips the text responses under
``/static/`` and ``/vendor/`` (the style sheets, the page script, Plotly's script for the clinic
pages) of 512 bytes or more, for browsers that accept gzip (``Accept-Encoding``); images that are
compressed already (PNG) are left as they are (Starlette's list of excluded types).

Pages and API answers are *not* compressed: they carry CSRF tokens and patient data next to
text a request can echo, the mix that compression-length attacks (BREACH) read; they are small
anyway (a patient page is a few kilobytes; docs/patient_pages.md has the figures).
"""

from __future__ import annotations

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["COMPRESSED_PREFIXES", "MINIMUM_SIZE", "AssetGZipMiddleware"]

COMPRESSED_PREFIXES = ("/static/", "/vendor/")
MINIMUM_SIZE = 512


class AssetGZipMiddleware:
    """Pure ASGI: gzip the responses under :data:`COMPRESSED_PREFIXES`, pass everything else."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=MINIMUM_SIZE, compresslevel=6)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).startswith(COMPRESSED_PREFIXES):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)
