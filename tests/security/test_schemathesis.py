"""Schemathesis against ``/openapi.json``, in-process (ASGI), bounded and deterministic, on SQLite
and PostgreSQL.

Oracles
-------
* schemathesis' ``not_a_server_error`` check: no input, valid or not, gets a 5xx (the README:
  "anything the client did wrong is a 4xx, never a 500" — ``web/errors.py``).
* schemathesis' ``response_schema_conformance`` and ``content_type_conformance``: a response
  whose status the OpenAPI document describes has the documented media type and body.
* The README's "Headers": every response carries the CSP, ``X-Frame-Options`` and ``nosniff``.

Every operation is generated in positive and negative mode (schemathesis' ``GenerationMode``),
once with free path parameters and once with site A's ids (so that bodies reach a real record),
``MAX_EXAMPLES`` cases each with ``derandomize=True`` and no example database: the same requests
every run. Staff operations run as the world's site-A clinician (session cookie and
``X-CSRF-Token``), ``/api/v1/visit`` operations as site A's patient session; sign-in and sign-out
run last. Failures are collected (no shrinking) and reported together with a curl line each.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.security.test_route_matrix import SECURITY_HEADERS
from tests.web.conftest import World
from tests.web.test_api import open_patient_session

MAX_EXAMPLES = 5
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
LAST = ("/api/v1/auth/login", "/api/v1/auth/logout")  # they change the session the others run in


def _credentials(client: Any, cookie: str) -> dict[str, Any]:
    return {"headers": {"X-CSRF-Token": client.headers["X-CSRF-Token"]},
            "cookies": {cookie: client.cookies[cookie]}}


def _summary(exc: BaseException) -> str:
    """A failed check in one line: its title and the first lines of its message."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: " + " / ".join(lines[:4])[:300]


def _fuzz(operation: Any, mode: GenerationMode, path_parameters: dict[str, Any] | None,
          credentials: dict[str, Any], failures: list[str]) -> int:
    """Send ``MAX_EXAMPLES`` generated cases; append every failed check to ``failures``."""
    sent = 0
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)

    @settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case: Any) -> None:
        nonlocal sent
        sent += 1
        label = f"{operation.label} ({mode.value}{', site A ids' if path_parameters else ''})"
        try:
            response = case.call(**credentials)
        except Exception as exc:  # the app raised: the client got a 500
            failures.append(f"{label}: raised {type(exc).__name__}: {exc}\n    {case.as_curl_command()}")
            return
        missing = [h for h, v in SECURITY_HEADERS.items() if v not in response.headers.get(h, [""])[0]]
        if missing:
            failures.append(f"{label}: {response.status_code} without {missing}\n    {case.as_curl_command()}")
        try:
            case.validate_response(response, checks=CHECKS)
        except (AssertionError, BaseExceptionGroup) as exc:
            found = exc.exceptions if isinstance(exc, BaseExceptionGroup) else (exc,)
            detail = " | ".join(_summary(e) for e in found)
            failures.append(f"{label}: {response.status_code}: {detail}\n    {case.as_curl_command()}")

    try:
        run()
    except Unsatisfiable:  # negative mode on an operation with nothing to negate (no parameters, no body)
        assert mode is GenerationMode.NEGATIVE, f"{operation.label}: no positive case can be generated"
    return sent


@pytest.mark.slow
def test_openapi_operations_fuzzed(app: Any, world: World, client_for: Any) -> None:
    """Every operation of /openapi.json, positive and negative, free and site-A path ids."""
    staff = _credentials(client_for("clinician"), "st_session")
    patient = _credentials(open_patient_session(app, world.invitations["A"]), "st_patient")
    own = {"patient_id": world.patients["A"], "episode_id": world.episodes["A"], "instrument": "odi"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = sorted((result.ok() for result in schema.get_all_operations()),
                        key=lambda op: (op.path in LAST, op.path == LAST[1], op.path, op.method))
    assert len(operations) >= 28

    failures: list[str] = []
    requests = 0
    for op in operations:
        credentials = patient if op.path.startswith("/api/v1/visit") else staff
        names = {p.name for p in op.path_parameters}
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            requests += _fuzz(op, mode, None, credentials, failures)
            if names:
                requests += _fuzz(op, mode, {k: v for k, v in own.items() if k in names}, credentials, failures)
    assert requests >= len(operations) * 2
    assert not failures, f"{len(failures)} of {requests} requests failed:\n" + "\n".join(failures)
