"""The fast path of the busiest request, a patient's questionnaire submission
(``POST /api/v1/visit/responses``).

The route documented in ``/openapi.json`` is :func:`spinetrack.web.routes.api.submit_visit_response`.
Every request to that path is answered by :func:`submit_visit_endpoint` here, a plain Starlette
endpoint placed first in the app's routes (:func:`install`). It costs one hop to the thread pool
and no FastAPI dependency solving, route search or response-model serialisation. On this
project's 2-core machine those took about a quarter of the server's CPU per submission
(``bench/bench_web_load.py``, sampled with py-spy).

It must answer exactly as the documented route would, because the same requests are sent to it:

* the body is read as FastAPI reads a JSON body: JSON when the content type is
  ``application/json`` or ``…+json``, raw bytes otherwise (refused by the schema), and invalid
  JSON gives a ``json_invalid`` error at ``("body", position)``. A missing body is refused as
  ``missing``;
* the patient credentials come from the same dependency
  (:func:`spinetrack.web.deps.patient_credentials`: no session cookie → 401). Then the
  ``Idempotency-Key`` header and the body are validated, and every error goes to one
  :class:`RequestValidationError`, as FastAPI collects them. The app's handler turns it into
  the usual 422 naming the field;
* the work (:func:`submit`) is the documented route's own, and so are the errors the store raises.

``tests/web/test_fastpath.py`` sends the same requests, good and bad, through both paths and
compares the answers.
"""

from __future__ import annotations

import email.message
import json
from typing import Annotated, Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import StringConstraints, TypeAdapter
from pydantic import ValidationError as SchemaError
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route

from spinetrack.store import reads
from spinetrack.store.access import Access
from spinetrack.web.deps import PatientCredentials, patient_credentials
from spinetrack.web.schemas import VisitResponseCreate, VisitSubmissionPublic

__all__ = ["PATH", "install", "submit", "submit_visit_endpoint"]

PATH = "/api/v1/visit/responses"
KEY_MAX = 128
_KEY = TypeAdapter(Annotated[str, StringConstraints(min_length=1, max_length=KEY_MAX)])
_NO_BODY = object()


def submit(access: Access, patient: PatientCredentials, body: VisitResponseCreate,
           idempotency_key: str | None) -> tuple[int, VisitSubmissionPublic]:
    """Store one questionnaire of the patient's visit (one transaction,
    :meth:`~spinetrack.store.access.Access.submit_visit`): 201 when it was stored now, 200 when it
    replays a submission stored earlier under the same key."""
    data = body.data()
    instrument = data.get("instrument")
    result = access.submit_visit(
        patient.session_token, instrument, data.get("answers"), authorize=patient.authorize,
        idempotency_key=idempotency_key, scope_key=reads.scoped_idempotency_key)
    return (201 if result.created else 200), VisitSubmissionPublic(
        response_id=result.response_id, instrument=instrument, timepoint=result.view.timepoint,
        due=list(result.view.due), done=result.view.done)


def _is_json(content_type: str) -> bool:
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


async def _read_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return _NO_BODY
    content_type = request.headers.get("content-type")
    if not content_type or not _is_json(content_type):
        return raw  # refused by the schema below, as FastAPI refuses it
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
                                       "input": {}, "ctx": {"error": exc.msg}}], body=exc.doc) from exc


async def submit_visit_endpoint(request: Request) -> Response:
    """``POST /api/v1/visit/responses`` (the documented route's contract; see the module)."""
    body = await _read_body(request)
    patient = await patient_credentials(request)
    errors: list[dict[str, Any]] = []
    key = request.headers.get("idempotency-key")
    if key is not None:
        try:
            _KEY.validate_python(key)
        except SchemaError as exc:
            errors += [{**e, "loc": ("header", "Idempotency-Key")} for e in exc.errors(include_url=False)]
    parsed: VisitResponseCreate | None = None
    if body is _NO_BODY:
        errors.append({"type": "missing", "loc": ("body",), "msg": "Field required", "input": None})
    else:
        try:
            # as FastAPI validates a body field (``from_attributes``: the same refusal, in the same words)
            parsed = VisitResponseCreate.model_validate(body, from_attributes=True)
        except SchemaError as exc:
            errors += [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
    if errors or parsed is None:
        raise RequestValidationError(errors, body=None if body is _NO_BODY else body)
    status, answer = await run_in_threadpool(submit, request.app.state.access, patient, parsed, key)
    return Response(answer.__pydantic_serializer__.to_json(answer), status_code=status,
                    media_type="application/json")


def install(routes: list[Any]) -> Route:
    """Put the fast path first in ``routes`` (the app's router), ahead of the documented route."""
    route = Route(PATH, submit_visit_endpoint, methods=["POST"], include_in_schema=False)
    routes.insert(0, route)
    return route
