"""``create_app(settings)``: the FastAPI application factory.

Pages under ``/`` (Jinja2, every asset served from this app — no CDN), REST under
``/api/v1`` (OpenAPI at ``/openapi.json``; no ``/docs`` or ``/redoc``: FastAPI's Swagger UI and
ReDoc pages load their scripts from a CDN, and no installed package ships them). The engine,
:class:`Store` and :class:`Access` are built here from ``settings``, never at import time.

Every response carries the security headers of :mod:`spinetrack.web.headers`; every ``*_id``
path parameter of every route is bounded (1 to 2,147,483,647, the range of the id columns)
and every form field checked for NUL characters and lone surrogates before any handler runs;
log records are redacted (:mod:`spinetrack.web.logredact`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import HTTPException
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine

from spinetrack import __version__, i18n
from spinetrack.config import Settings
from spinetrack.domain import check_text_tree
from spinetrack.errors import ConfigurationError, ValidationError
from spinetrack.store import wording
from spinetrack.store.access import Access
from spinetrack.store.repositories import Store
from spinetrack.store.session import make_engine
from spinetrack.web import fastpath
from spinetrack.web.errors import install_error_handlers
from spinetrack.web.headers import CSP, SecurityHeadersMiddleware
from spinetrack.web.locale import LocaleMiddleware
from spinetrack.web.logredact import install_log_redaction, uvicorn_log_config

__all__ = ["CSP", "MAX_ID", "create_app", "uvicorn_options"]

_HERE = Path(str(resources.files("spinetrack.web")))

MAX_ID = 2_147_483_647
"""The largest record id: the id columns are 32-bit integers (SQLite's are 64-bit, PostgreSQL's
``integer`` 32-bit; a larger number in a path would overflow the driver on SQLite)."""


async def _bounded_ids(request: Request) -> None:
    """Refuse a ``*_id`` path parameter outside 1 … :data:`MAX_ID` (422 naming it), before the
    route's own parameters and dependencies, so that no id reaches the database out of range.
    ``async`` although it awaits nothing: FastAPI runs a plain ``def`` dependency in the thread
    pool, a hop (and a thread switch) on every request of the app."""
    for name, raw in request.path_params.items():
        if not name.endswith("_id") or not isinstance(raw, str):
            continue
        text = raw.strip()
        digits = text.lstrip("+-")
        if digits.isdigit() and (len(digits) > 10 or not 1 <= int(text) <= MAX_ID):
            raise ValidationError(field=name, value=text[:24], allowed=f"a record number from 1 to {MAX_ID}")


_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def _form_text(request: Request) -> AsyncIterator[None]:
    """Refuse a form field holding a NUL character or a lone surrogate (422 naming it), with the
    same check the API bodies and the domain records go through
    (:func:`spinetrack.domain.check_text_tree`): one rule for forms and API. A page's POST whose
    body is not a form (JSON, say) is refused with 415 rather than read as an empty form."""
    if request.method not in ("POST", "PUT", "PATCH"):
        yield
        return
    content_type = request.headers.get("content-type", "")
    if request.url.path.startswith(("/api/", "/fhir")):
        yield  # JSON bodies: checked by their schemas (spinetrack.web.schemas)
        return
    if content_type and not content_type.startswith(_FORM_TYPES):
        raise HTTPException(415, detail=f"this page takes a form ({_FORM_TYPES[0]}), not {content_type[:60]}")
    if not content_type:
        yield
        return
    form = await request.form()  # parsed once: the route's request.form() returns the same
    try:
        for name, value in form.multi_items():
            check_text_tree(name, "form field name")
            check_text_tree(value if isinstance(value, str) else "", name)
        yield
    finally:
        await form.close()  # an upload's temporary files are closed whether the route took it or refused it


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn keyword arguments that concern trust and logging (``spinetrack serve``).

    Proxy headers (``X-Forwarded-For``, ``X-Forwarded-Proto``) are trusted only from the
    addresses in ``SPINETRACK_FORWARDED_ALLOW_IPS``; unset (the default), they are ignored, so
    the client address in the audit log is the TCP peer's and cannot be forged by a header.
    The log configuration redacts invitation and other tokens from every line."""
    allow = (settings.forwarded_allow_ips or "").strip()
    return {"proxy_headers": bool(allow), "forwarded_allow_ips": allow or None,
            "log_config": uvicorn_log_config()}


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


def _followup_lifespan(settings: Settings) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The follow-up scheduler in-process (:mod:`spinetrack.followup.background`): every
    ``followup_interval_minutes`` unless ``followup_auto`` is false; the channels and the public
    address are read from the settings here."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = None
        if settings.followup_auto:
            from spinetrack.followup import channels_from_settings
            from spinetrack.followup.background import FollowupLoop

            loop = FollowupLoop(app.state.store, interval=dt.timedelta(minutes=settings.followup_interval_minutes),
                                channels=channels_from_settings(settings), link_base=settings.link_base())
            loop.start()
        app.state.followup_loop = loop
        try:
            yield
        finally:
            if loop is not None:
                loop.stop()

    return lifespan


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    """Build the app; the database engine is created here, from ``settings``, never at import."""
    settings = settings or Settings()
    engine = engine or make_engine(settings.database_url)
    app = FastAPI(title="spinetrack", version=__version__, docs_url=None, redoc_url=None,
                  description="Outcomes, evidence and decision support for lower back pain treatment.",
                  lifespan=_followup_lifespan(settings))
    app.state.settings = settings
    app.state.engine = engine
    app.state.export_dir = Path(settings.export_dir)  # background exports: web/routes/fhir_bulk, research_exports
    app.state.store = Store(engine, eq5d_value_set=settings.eq5d_value_set)
    if settings.env == "production":
        _refuse_demo_content(engine)
    # The sign-in rate limit lives in the database (spinetrack.store.throttle), counted by Access.login.
    app.state.access = Access(app.state.store, env=settings.env)
    wording.configure(app.state.store, production=settings.env == "production", file_pack=settings.wording_pack)
    app.state.access.patient_access_days = settings.patient_access_days
    templates = Jinja2Templates(directory=str(_HERE / "templates"))
    templates.env.globals.update(version=__version__)
    i18n.install_jinja(templates.env)
    app.state.templates = templates
    install_error_handlers(app)

    install_log_redaction()
    app.add_middleware(LocaleMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)

    app.mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static")

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        """Plotly's JavaScript, served from the installed plotly package (no CDN)."""
        return FileResponse(_plotly_js(), media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    from spinetrack.web import locale
    from spinetrack.web.routes import (
        admin,
        admin_followup,
        admin_tokens,
        admin_wording,
        api,
        auth,
        benchmark,
        clinic,
        clinic_answers,
        clinic_events,
        decision,
        enrol,
        fhir,
        fhir_bulk,
        followup,
        patient,
        patient_home,
        research,
        research_exports,
    )

    # /p/home before /p/{token}; /clinic/followup before the clinic pages
    # /fhir/$export and the Bulk status routes before the FHIR type routes (/fhir/{type})
    for module in (auth, api, fhir_bulk, fhir, patient_home, patient, followup, enrol, clinic, clinic_events,
                   clinic_answers, admin, admin_followup, admin_tokens, admin_wording, decision, research,
                   research_exports, benchmark, locale):
        app.include_router(module.router, dependencies=[Depends(_bounded_ids), Depends(_form_text)])
    fastpath.install(app.router.routes)  # the PROM submission, answered ahead of its documented route
    return app
