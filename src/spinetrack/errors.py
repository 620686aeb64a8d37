"""The one exception tree of spinetrack: every error it raises derives from :class:`SpinetrackError`.

::

    SpinetrackError
    ├── InputError (ValueError)               bad input from a person or a file
    │   ├── ValidationError                   one field: carries field, value and allowed values
    │   │   ├── EvidenceDataError             evidence.records: a literature data file off its schema
    │   │   ├── WordingPackError              instruments.wording: a wording pack with problems
    │   │   ├── SearchParameterError          interop.fhir.search: a FHIR search parameter it cannot use
    │   │   ├── BadRequest                    interop.fhir.outcome: a FHIR request body that is not JSON
    │   │   │   └── UnsupportedMediaType      interop.fhir.outcome: a FHIR body sent as another type
    │   │   ├── NotWritable                   interop.fhir.writes: a create of a type that is read-only
    │   │   └── InvalidResource               interop.fhir.writes: FHIR resources with problems
    │   ├── StudyFileError                    interop.study_csv: a study file with bad rows or header
    │   ├── CsvTemplateError                  interop.imports: CSV files off the import templates
    │   ├── RedcapMappingError                interop.imports: a REDCap mapping off its dictionary
    │   ├── SeparationError                   stats.glm: the logistic fit diverges (separation)
    │   └── NotEstimableError                 analysis.run: the data cannot support a claim's estimate
    ├── NotFoundError (LookupError)           a record that does not exist (or is not yours)
    ├── ConflictError                         a uniqueness rule would be broken
    │   └── PreconditionFailed                interop.fhir.outcome: a conditional create matching several
    ├── AuthenticationError                   not signed in, bad credentials, expired link
    │   ├── RateLimitError                    too many attempts; carries retry_after_s
    │   └── SecondFactorNeeded                store.access: the password was right, the code is next
    ├── PermissionDeniedError                 signed in, but this role may not do this
    ├── AuditError                            the audit trail refused an operation or is broken
    ├── ConfigurationError                    unsafe or inconsistent settings
    ├── EngineError                           engines.base: an analytics engine failed or is missing
    ├── ReportDependencyError                 reports.pdf: WeasyPrint or a library it loads is missing
    ├── DeliveryError                         followup.channels: a message was not handed to its server
    └── ConvergenceWarning (UserWarning)      stats.glm: an iterative fit stopped before converging

Where each is raised, and what the edges make of it. The web layer (``spinetrack.web.errors``)
answers an API request with a JSON problem ``{"error": <class name>, "message", "field",
"allowed", "retry_after_s"}`` (the last three when the error carries them) and a page with an
HTML error page, at the status below; the first matching row of the status list wins, so a
subclass takes its parent's status unless it has its own. The CLI (``spinetrack.cli.common.fail``)
prints ``error: <message>`` on stderr, or with ``--json`` the object ``{"error", "message",
"field", "allowed"}``, and exits with status 2.

- ``InputError`` — the pure core (stats, instruments), the analyses and the importers refusing
  their input. HTTP 422; CLI exit 2.
- ``ValidationError`` — every record's validation (``domain``), instrument scoring, the API
  bodies (``web.schemas``), account fields (``store.access``), FHIR resources (``interop``).
  HTTP 422 naming the field; CLI exit 2 naming the field.
- ``EvidenceDataError`` — reading the literature data files (``evidence.reader``,
  ``evidence.studies``); ``problems`` lists every one, ``field`` names the first as
  ``file:line:column``. HTTP 422; CLI exit 2.
- ``WordingPackError`` — ``instruments.wording.parse_wording_pack`` (``store.wording``, the admin's
  upload, ``spinetrack wording``); ``problems`` lists every one, ``field`` names the first.
  HTTP 422; CLI exit 2.
- ``SearchParameterError`` — ``interop.fhir.search`` (``GET /fhir/<type>?…``: an unknown or
  malformed parameter, a ``_count`` out of range). HTTP 400 as an OperationOutcome naming it.
- ``BadRequest`` — ``interop.fhir.outcome`` (a ``POST /fhir`` body that is not JSON). HTTP 400 as
  an OperationOutcome.
- ``UnsupportedMediaType`` — ``web.routes.fhir`` (a ``POST /fhir`` body whose ``Content-Type`` is
  neither ``application/fhir+json`` nor ``application/json``). HTTP 415 as an OperationOutcome.
- ``NotWritable`` — ``interop.fhir.writes`` (a create of Observation, Organization or Questionnaire,
  which the server serves but does not write). HTTP 405 as an OperationOutcome.
- ``InvalidResource`` — ``interop.fhir.writes`` (a create or transaction whose resources break the
  records' rules); ``problems`` lists every one. HTTP 422 as an OperationOutcome with an issue per
  problem, each naming its element by FHIRPath.
- ``CsvTemplateError`` — ``interop.imports.csv_format`` (file names or headers that are not the
  import templates'); ``problems`` lists every one. ``spinetrack import`` exits with status 2.
- ``RedcapMappingError`` — ``interop.imports.redcap`` (a mapping naming fields the data
  dictionary lacks, or codes spinetrack does not know); ``problems`` lists every one.
  ``spinetrack import`` exits with status 2.
- ``PreconditionFailed`` — ``interop.fhir.writes`` (a conditional create whose ``If-None-Exist``
  matches more than one resource). HTTP 412 as an OperationOutcome.
- ``StudyFileError`` — ``interop.study_csv.pool_study_file``; ``spinetrack pool`` lists every
  problem (``--json``: the error's ``as_dict()``) and exits with status 2. HTTP 422.
- ``SeparationError`` — ``stats.glm.fit_logistic_irls``; the propensity model
  (``analysis.propensity``) and model training (``predict.training``) catch it and report it.
  Otherwise HTTP 422; CLI exit 2.
- ``NotEstimableError`` — ``analysis.run``, caught there: the claim's result is ``not estimable``
  with the reason in its notes (never reaches an edge).
- ``NotFoundError`` — the store's reads and writes, the web routes, ``predict.decision``, the CLI's
  account commands. HTTP 404; CLI exit 2.
- ``ConflictError`` — the store (a second baseline, a taken user name, an idempotency key reused
  with another payload), ``synth.load``. HTTP 409; CLI exit 2.
- ``AuthenticationError`` — sign-in, sessions and CSRF (``store.access``, ``store.visits``,
  ``store.reads``, ``web.security``, ``web.deps``), closed questionnaire links. HTTP 401 (a
  staff page redirects to the sign-in page; a ``/p/`` page says the link is closed); CLI exit 2.
- ``SecondFactorNeeded`` — ``store.access.Access.login`` when two-factor sign-in is on or the
  role requires it; the sign-in page and the API's login catch it and ask for the code (the API
  answers 401 naming ``totp``, or 403 when the authenticator must be set up first).
- ``RateLimitError`` — ``store.throttle`` (repeated sign-in failures). HTTP 429 with
  ``Retry-After``.
- ``PermissionDeniedError`` — the store's role checks and ``web.deps.require_roles``. HTTP 403;
  CLI exit 2.
- ``AuditError`` — declared for the audit trail; nothing raises it today
  (``store.audit.verify_chain`` reports bad rows in its result; ``spinetrack audit verify``
  exits with status 1 when there are any). HTTP 400; CLI exit 2.
- ``ConfigurationError`` — ``clock.today`` (a bad ``SPINETRACK_TODAY``), ``web.app.create_app``
  (production with demo content: the app does not start), ``synth.demo_access`` and
  ``spinetrack demo`` (no demo in production). HTTP 400; CLI exit 2.
- ``EngineError`` — ``engines`` (DuckDB or PySpark not installed, columns that do not fit).
  HTTP 400; CLI exit 2.
- ``ReportDependencyError`` — ``reports.pdf.write_pdf`` (WeasyPrint or a system library it loads
  is missing, or the page asks for an outside resource). HTTP 400; CLI exit 2.
- ``DeliveryError`` — ``followup.channels`` (an SMTP server or SMS gateway refused a message or
  could not be reached; ``permanent`` says whether trying again could help). Caught by the
  follow-up sender, which records it on the message for the coordinator; never reaches a person.
- ``ConvergenceWarning`` — issued with :func:`warnings.warn` by ``stats.glm`` and ``stats.aft``,
  not raised; ``stats.prediction`` and ``stats.aft`` turn it into an error where a fit must
  converge and catch it there.

Errors carry structured context as keyword-only arguments, so that the web layer and the
CLI can say which field was wrong and what would have been accepted.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = [
    "AuditError",
    "AuthenticationError",
    "ConfigurationError",
    "ConflictError",
    "InputError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "SpinetrackError",
    "ValidationError",
]


class SpinetrackError(Exception):
    """Base of every error raised by spinetrack."""


class InputError(SpinetrackError, ValueError):
    """Input from a person or a file that spinetrack cannot accept."""


class ValidationError(InputError):
    """One field holds a value outside what is allowed.

    Parameters
    ----------
    field:
        Dotted name of the field, e.g. ``"procedure.ebl_ml"``.
    value:
        The value that was refused.
    allowed:
        A human-readable description of the allowed values (``"0 to 20000"``) or an
        iterable of allowed codes.
    reason:
        Optional extra explanation.
    """

    def __init__(
        self,
        *,
        field: str,
        value: Any,
        allowed: str | Iterable[Any],
        reason: str | None = None,
    ) -> None:
        if not isinstance(allowed, str):
            allowed = ", ".join(str(a) for a in allowed)
        self.field = field
        self.value = value
        self.allowed = allowed
        self.reason = reason
        message = f"{field}: {value!r} is not allowed; allowed: {allowed}"
        if reason:
            message += f" ({reason})"
        super().__init__(message)

    def as_dict(self) -> dict[str, Any]:
        """Return the error as a JSON-serialisable mapping."""
        return {
            "field": self.field,
            "value": self.value if isinstance(self.value, (int, float, str, bool, type(None))) else repr(self.value),
            "allowed": self.allowed,
            "reason": self.reason,
            "message": str(self),
        }


class NotFoundError(SpinetrackError, LookupError):
    """A record that does not exist or that the caller may not see."""

    def __init__(self, *, entity: str, key: Any) -> None:
        self.entity = entity
        self.key = key
        super().__init__(f"{entity} {key!r} not found")


class ConflictError(SpinetrackError):
    """The write would break a uniqueness rule (for example a second baseline ODI)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class AuthenticationError(SpinetrackError):
    """No valid session, wrong credentials, or an invitation link that is unknown, expired or spent."""


class RateLimitError(AuthenticationError):
    """Too many attempts; try again after ``retry_after_s`` seconds."""

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message)


class PermissionDeniedError(SpinetrackError):
    """The caller is signed in but their role may not perform this action."""

    def __init__(self, message: str, *, role: str | None = None) -> None:
        self.role = role
        super().__init__(message)


class AuditError(SpinetrackError):
    """The audit trail refused an operation or failed verification."""


class ConfigurationError(SpinetrackError):
    """Settings that are unsafe or inconsistent."""
