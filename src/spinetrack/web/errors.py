"""The one place that turns spinetrack errors into HTTP responses.

API paths (``/api/…``) get JSON problems naming the field::

    {"error": "ValidationError", "message": "odi.walking: 9 is not allowed; allowed: 0, 1, …",
     "field": "odi.walking", "allowed": "0, 1, 2, 3, 4, 5"}

The FHIR server (``/fhir``, ``/fhir/…``) answers every error as an ``OperationOutcome``
(``application/fhir+json``, :func:`spinetrack.interop.fhir.outcome.operation_outcome`), one issue
per problem with the field's FHIRPath as ``expression``, at the status FHIR expects: an error's
``fhir_status`` when it has one (400 for a search parameter, 405, 412 for a conditional create
matching several), else the status below; a bad query or header parameter is 400, a bad body 422.

Pages get the same message in an HTML error page (401 on a staff page redirects to the
sign-in page). A patient page (``/p/…``) says it in the patient's language, in plain words: the
error's own sentence when it is one a patient may read (an ``N_``-marked message with a
translation, or a message id and values carried by the error,
:mod:`spinetrack.store.patient_text`), else a plain sentence for its status (never an English
field name or a Python repr); the API's JSON and the log keep the English text.

Anything the client did wrong is a 4xx, never a 500; an unexpected error is a 500 with no
internal detail in the body (the traceback goes to the server log only) and with the same
security headers as every other response (Starlette sends it from its outermost layer, outside
the app's middleware, so the handler sets them itself).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from spinetrack import i18n
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
from spinetrack.i18n import N_
from spinetrack.interop.fhir.outcome import operation_outcome
from spinetrack.store.patient_text import message_values
from spinetrack.web.headers import apply_security_headers
from spinetrack.web.locale import apply_patient_language
from spinetrack.web.security import SESSION_COOKIE

__all__ = ["PATIENT_MESSAGES", "PATIENT_TITLES", "install_error_handlers", "is_api", "is_fhir", "patient_message",
           "problem"]

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


FHIR_JSON = "application/fhir+json"


def is_fhir(request: Request) -> bool:
    """The FHIR server (``/fhir``, ``/fhir/…``): errors there are OperationOutcome resources."""
    path = request.url.path
    return path == "/fhir" or path.startswith("/fhir/")


def _fhir_error(status: int, exc: BaseException | None = None, message: str | None = None,
                headers: dict[str, str] | None = None) -> JSONResponse:
    """An OperationOutcome (``application/fhir+json``) with ``status``."""
    return JSONResponse(operation_outcome(status, exc, message), status_code=status, headers=headers,
                        media_type=FHIR_JSON)


def is_api(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api/") or path.startswith("/fhir") or ("application/json" in request.headers.get(
        "accept", "") and "text/html" not in request.headers.get("accept", ""))


PATIENT_TITLES: dict[int, str] = {
    401: N_("This link cannot be opened"),
    403: N_("This page is not open to you"),
    404: N_("Page not found"),
    409: N_("Already sent"),
    410: N_("This page has closed"),
    422: N_("Something was not right"),
    429: N_("Too many tries"),
    500: N_("Something went wrong"),
}
"""The title of a patient's error page per status (anything else: :data:`PATIENT_OTHER`)."""
PATIENT_MESSAGES: dict[int, str] = {
    401: N_("This page cannot be used any more: it may have been open for too long, or the link has closed."),
    403: N_("Your link does not open this page."),
    404: N_("We could not find this page. Please open the link from your clinic again."),
    409: N_("This was already sent. You do not need to send it again."),
    410: N_("This page has closed. Please ask your clinic for a new link."),
    422: N_("Something on the page was not filled in as expected. Please go back and try again."),
    500: N_("Something went wrong on our side. It has been recorded. Please try again later."),
}
"""What a patient's error page says when the error's own message is not one a patient may read."""
PATIENT_OTHER = (N_("Something went wrong"), N_("This could not be done. Please go back and try again."))


def is_patient(request: Request) -> bool:
    """A patient's page (the questionnaire links, the visit, the home, the decision aid)."""
    return request.url.path.startswith("/p/")


def patient_message(exc: BaseException) -> str | None:
    """The error's message in the current language when it is one a patient may read: a message
    id with values carried by the error, or a message with a translation in the catalogs (an
    ``N_``-marked sentence); else None (a technical message, said in plain words by status)."""
    msgid = getattr(exc, "msgid", None)
    if isinstance(msgid, str):
        params = getattr(exc, "params", None) or {}
        return i18n.gettext(msgid, **message_values(params)) if params else i18n.gettext(msgid)
    text = str(exc)
    if not text:
        return None
    for lang in i18n.LANGUAGES:
        if lang != i18n.DEFAULT_LANGUAGE:
            with i18n.use_locale(lang):
                if i18n.gettext(text) == text:
                    return None
    return i18n.gettext(text)


def _wait_minutes(seconds: int) -> str:
    minutes = max(1, -(-seconds // 60))
    return i18n.ngettext("You have tried too many times. Please wait %(num)d minute and try again.",
                         "You have tried too many times. Please wait %(num)d minutes and try again.", minutes)


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


def _patient_error(request: Request, status: int, exc: BaseException | None = None) -> Response:
    """A patient's error page in the patient's language (the recorded one when the route had read
    it, else the switch's or the browser's), in plain words."""
    frame = getattr(request.state, "patient_frame", None)
    if frame is not None and frame.language:  # the route ran elsewhere (a thread): speak it here too
        apply_patient_language(request, frame.language)
    title, fallback = PATIENT_TITLES.get(status, PATIENT_OTHER[0]), PATIENT_MESSAGES.get(status, PATIENT_OTHER[1])
    said = patient_message(exc) if exc is not None and status != 500 else None
    if said is None and isinstance(exc, RateLimitError):
        said = _wait_minutes(exc.retry_after_s)
    templates = request.app.state.templates
    return templates.TemplateResponse(request, "error.html", {
        "title": i18n.gettext(title), "message": said or i18n.gettext(fallback), "user": None, "frame": frame,
        "patient": True, "closed": status == 401}, status_code=status)


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
        if is_fhir(request):  # FHIR-specific statuses (400 search parameter, 412 several matches) first
            status = int(getattr(exc, "fhir_status", status))
            return _fhir_error(status, exc, headers=headers)
        if is_api(request):
            return JSONResponse(problem(exc), status_code=status, headers=headers)
        if is_patient(request):
            resp = _patient_error(request, status, exc)
            if headers:
                resp.headers.update(headers)
            return resp
        if status == 401:
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        titles = {401: "Please sign in", 403: "Not allowed", 404: "Not found", 409: "Already recorded",
                  422: "Please check your answer", 429: "Too many attempts"}
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
        if is_fhir(request):  # a bad path, query or header is a bad request; a bad body is unprocessable
            where = str(first.get("loc", ("body",))[0])
            return _fhir_error(422 if where == "body" else 400, message=message)
        if is_api(request):
            return JSONResponse({"error": "ValidationError", "message": message, "field": field,
                                 "allowed": first.get("msg", ""), "details": [
                                     {"field": ".".join(str(x) for x in e.get("loc", ())), "message": e.get("msg")}
                                     for e in errors]}, status_code=422)
        if is_patient(request):  # a form field or address the patient did not type: plain words
            return _patient_error(request, 422)
        return _html_error(request, 422, "Please check your answer", message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if is_fhir(request):
            return _fhir_error(exc.status_code, message=str(exc.detail), headers=getattr(exc, "headers", None))
        if is_patient(request) and not is_api(request):  # a page, a 405 included (an address typed again)
            resp = _patient_error(request, exc.status_code)
            resp.headers.update(getattr(exc, "headers", None) or {})
            return resp
        if is_api(request) or exc.status_code == 405:
            return JSONResponse({"error": "HTTPError", "message": str(exc.detail)}, status_code=exc.status_code,
                                headers=getattr(exc, "headers", None))
        return _html_error(request, exc.status_code, "Not found" if exc.status_code == 404 else "Request refused",
                           str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        response: Response
        if is_fhir(request):
            response = _fhir_error(500, message="unexpected server error")
        elif is_api(request):
            response = JSONResponse({"error": "InternalError", "message": "unexpected server error"}, status_code=500)
        else:
            try:
                response = (_patient_error(request, 500) if is_patient(request) else
                            _html_error(request, 500, "Something went wrong",
                                        "Unexpected server error; it has been logged."))
            except Exception:  # the error page itself failed: plain text, still a 500
                response = Response("Unexpected server error; it has been logged.", status_code=500,
                                    media_type="text/plain")
        apply_security_headers(response.headers, request.url.path)
        return response
