"""The one place that turns spinetrack errors into HTTP responses.

API paths (``/api/…``, ``/fhir/…``) get JSON problems naming the field::

    {"error": "ValidationError", "message": "odi.walking: 9 is not allowed; allowed: 0, 1, …",
     "field": "odi.walking", "allowed": "0, 1, 2, 3, 4, 5"}

Pages get the same message in an HTML error page (401 on a staff page redirects to the
sign-in page). Anything the client did wrong is a 4xx, never a 500; an unexpected error is a
500 with no internal detail in the body (the traceback goes to the server log only) and with
the same security headers as every other response (Starlette sends it from its outermost
layer, outside the app's middleware, so the handler sets them itself).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from spinetrack.errors import (
    AuthenticationError,
    ConflictError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    SpinetrackError,
    ValidationError,
)
from spinetrack.web.headers import apply_security_headers
from spinetrack.web.security import SESSION_COOKIE

__all__ = ["install_error_handlers", "is_api", "problem"]

log = logging.getLogger("spinetrack.web")

_STATUS: tuple[tuple[type[SpinetrackError], int], ...] = (
    (RateLimitError, 429),
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (ValidationError, 422),
    (InputError, 422),
)


def is_api(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api/") or path.startswith("/fhir") or ("application/json" in request.headers.get(
        "accept", "") and "text/html" not in request.headers.get("accept", ""))


def status_of(exc: SpinetrackError) -> int:
    for cls, code in _STATUS:
        if isinstance(exc, cls):
            return code
    return 400


def problem(exc: SpinetrackError) -> dict[str, Any]:
    body: dict[str, Any] = {"error": type(exc).__name__, "message": str(exc)}
    for attr in ("field", "allowed", "retry_after_s"):
        if getattr(exc, attr, None) is not None:
            body[attr] = getattr(exc, attr)
    return body


def _html_error(request: Request, status: int, title: str, message: str) -> Response:
    templates = request.app.state.templates
    user = getattr(request.state, "user", None)
    if user is None:
        try:  # keep the menu and the sign-out button on error pages
            user = request.app.state.access.resolve_session(request.cookies.get(SESSION_COOKIE))
        except Exception:  # an error page must render even when the store cannot
            user = None
    return templates.TemplateResponse(request, "error.html", {"title": title, "message": message, "user": user},
                                      status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SpinetrackError)
    async def _spinetrack(request: Request, exc: SpinetrackError) -> Response:
        status = status_of(exc)
        headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, RateLimitError) else None
        if is_api(request):
            return JSONResponse(problem(exc), status_code=status, headers=headers)
        if status == 401 and not request.url.path.startswith("/p/"):
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        titles = {401: "Please sign in", 403: "Not allowed", 404: "Not found", 409: "Already recorded",
                  422: "Please check your answer", 429: "Too many attempts"}
        if status == 401 and request.url.path.startswith("/p/"):
            return _html_error(request, 401, "Your questionnaire link is closed",
                               f"{exc} Please open the personal link your clinic sent you again, or contact "
                               "the clinic for a new one.")
        resp = _html_error(request, status, titles.get(status, "Request refused"), str(exc))
        if headers:
            resp.headers.update(headers)
        return resp

    @app.exception_handler(RequestValidationError)
    async def _request_validation(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        first = errors[0] if errors else {}
        loc = [str(x) for x in first.get("loc", ()) if x not in ("body", "query", "path", "form", "header", "cookie")]
        field = ".".join(loc) or "request"
        message = f"{field}: {first.get('msg', 'invalid value')}"
        if first.get("type") == "extra_forbidden":
            message = f"{field}: unknown field, not accepted here"
        if is_api(request):
            return JSONResponse({"error": "ValidationError", "message": message, "field": field,
                                 "allowed": first.get("msg", ""), "details": [
                                     {"field": ".".join(str(x) for x in e.get("loc", ())), "message": e.get("msg")}
                                     for e in errors]}, status_code=422)
        return _html_error(request, 422, "Please check your answer", message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if is_api(request) or exc.status_code == 405:
            return JSONResponse({"error": "HTTPError", "message": str(exc.detail)}, status_code=exc.status_code,
                                headers=getattr(exc, "headers", None))
        return _html_error(request, exc.status_code, "Not found" if exc.status_code == 404 else "Request refused",
                           str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        response: Response
        if is_api(request):
            response = JSONResponse({"error": "InternalError", "message": "unexpected server error"}, status_code=500)
        else:
            try:
                response = _html_error(request, 500, "Something went wrong",
                                       "Unexpected server error; it has been logged.")
            except Exception:  # the error page itself failed: plain text, still a 500
                response = Response("Unexpected server error; it has been logged.", status_code=500,
                                    media_type="text/plain")
        apply_security_headers(response.headers, request.url.path)
        return response
