"""``create_app(settings)``: the FastAPI application factory.

Pages under ``/`` (Jinja2, every asset served from this app — no CDN), REST under
``/api/v1`` (OpenAPI at ``/openapi.json``). The engine, :class:`Store` and :class:`Access` are
built here from ``settings``, never at import time.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine

from spinetrack import __version__
from spinetrack.config import Settings
from spinetrack.errors import ConfigurationError
from spinetrack.store.access import Access
from spinetrack.store.repositories import Store
from spinetrack.store.session import make_engine
from spinetrack.web.errors import install_error_handlers

__all__ = ["create_app"]

_HERE = Path(str(resources.files("spinetrack.web")))

# Content Security Policy: only this origin; no inline script (plot data travels as JSON in
# <script type="application/json"> blocks, read by static/app.js). Plotly sets inline styles.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")


def _plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def _refuse_demo_content(engine: Engine) -> None:
    """Production refuses to start while demo accounts or demo data exist."""
    from spinetrack.synth.demo_access import find_demo_content

    found = find_demo_content(engine)
    if found:
        raise ConfigurationError(
            "SPINETRACK_ENV=production refuses to start: this database holds demo content from `spinetrack demo` ("
            + "; ".join(found) + "). Use a database without the demo for production, or unset SPINETRACK_ENV "
            "to run the demo.")


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    """Build the app; the database engine is created here, from ``settings``, never at import."""
    settings = settings or Settings()
    engine = engine or make_engine(settings.database_url)
    app = FastAPI(title="spinetrack", version=__version__,
                  description="Outcomes, evidence and decision support for lower back pain treatment.")
    app.state.settings = settings
    app.state.engine = engine
    app.state.store = Store(engine, eq5d_value_set=settings.eq5d_value_set)
    if settings.env == "production":
        _refuse_demo_content(engine)
    # The sign-in rate limit lives in the database (spinetrack.store.throttle), counted by Access.login.
    app.state.access = Access(app.state.store, env=settings.env)
    templates = Jinja2Templates(directory=str(_HERE / "templates"))
    templates.env.globals.update(version=__version__)
    app.state.templates = templates
    install_error_handlers(app)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    app.mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static")

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        """Plotly's JavaScript, served from the installed plotly package (no CDN)."""
        return FileResponse(_plotly_js(), media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    from spinetrack.web.routes import admin, api, auth, clinic, decision, patient

    for module in (auth, api, patient, clinic, admin, decision):
        app.include_router(module.router)
    return app
