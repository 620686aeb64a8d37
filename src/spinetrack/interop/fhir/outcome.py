"""Errors as FHIR ``OperationOutcome`` (https://hl7.org/fhir/R4/operationoutcome.html).

:func:`operation_outcome` turns any error into an OperationOutcome with one issue per problem:
``severity`` error, ``code`` from the R4 IssueType value set by HTTP status, ``diagnostics`` the
plain message, ``expression`` the FHIRPath of the field when the error names one. An error that
carries ``problems`` (a list of :class:`~spinetrack.errors.ValidationError`) gives one issue each.
:class:`PreconditionFailed` is the 412 of a conditional create that matches several resources.
"""

from __future__ import annotations

from typing import Any

from spinetrack.errors import ConflictError, ValidationError

__all__ = ["ISSUE_CODES", "BadRequest", "PreconditionFailed", "UnsupportedMediaType", "operation_outcome"]

ISSUE_CODES: dict[int, str] = {  # HTTP status → IssueType code (http://hl7.org/fhir/issue-type, R4)
    400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported", 406: "not-supported",
    409: "conflict", 410: "deleted", 412: "multiple-matches", 415: "not-supported", 422: "invalid",
    429: "throttled", 500: "exception",
}


class PreconditionFailed(ConflictError):
    """A conditional create whose ``If-None-Exist`` search matches more than one resource (412)."""

    fhir_status = 412


class BadRequest(ValidationError):
    """A request body that is not JSON at all (HTTP 400; an invalid resource is a 422)."""

    fhir_status = 400


class UnsupportedMediaType(BadRequest):
    """A request body sent as something other than FHIR JSON (HTTP 415, RFC 9110 §15.5.16)."""

    fhir_status = 415


def _issue(status: int, message: str, field: str | None = None, allowed: Any = None) -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": "error", "code": ISSUE_CODES.get(status, "processing" if status < 500
                                                                           else "exception")}
    text = message
    if allowed and "allowed" not in message:
        text += f"; allowed: {allowed}"
    issue["diagnostics"] = text
    if field:
        issue["expression"] = [field]
    return issue


def operation_outcome(status: int, exc: BaseException | None = None, message: str | None = None) -> dict[str, Any]:
    """The OperationOutcome for an error answered with HTTP ``status``."""
    problems = list(getattr(exc, "problems", None) or []) if exc is not None else []
    if problems:
        issues = [_issue(status, str(p), getattr(p, "field", None)) for p in problems]
    else:
        text = message if message is not None else (str(exc) if exc is not None else "error")
        field = getattr(exc, "field", None) if exc is not None else None
        if getattr(exc, "fhir_status", None) == 400:  # a search parameter: named in the text, not a FHIRPath
            field = None
        issues = [_issue(status, text, field if isinstance(field, str) else None, getattr(exc, "allowed", None))]
    return {"resourceType": "OperationOutcome", "issue": issues}
