"""The one exception tree of spinetrack.

::

    SpinetrackError
    ├── InputError (ValueError)            bad input from a person or a file
    │   └── ValidationError                one field: carries field, value and allowed values
    ├── NotFoundError (LookupError)        a record that does not exist (or is not yours)
    ├── ConflictError                      a uniqueness rule would be broken
    ├── AuthenticationError                not signed in, bad credentials, expired link
    │   └── RateLimitError                 too many attempts; carries retry_after_s
    ├── PermissionDeniedError              signed in, but this role may not do this
    ├── AuditError                         the audit trail refused an operation or is broken
    └── ConfigurationError                 unsafe or inconsistent settings

Errors carry structured context as keyword-only arguments, so that the web layer and the
CLI can say which field was wrong and what would have been accepted.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = [
    "SpinetrackError",
    "InputError",
    "ValidationError",
    "NotFoundError",
    "ConflictError",
    "AuditError",
    "AuthenticationError",
    "ConfigurationError",
    "PermissionDeniedError",
    "RateLimitError",
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
