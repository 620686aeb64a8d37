"""The building blocks of the API bodies: permissive field types, the request and response base
classes, and the error body.

A request field is ``Any`` at validation time (the domain validation checks it and names the
field) and carries its intended type, unit and allowed values as its OpenAPI schema:
``Annotated[Any, _doc(schema)]``. The named aliases below (``Integer``, ``Text``, ...) are the
common ones.
"""

import datetime as dt
from typing import Annotated, Any, ClassVar, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

from spinetrack.domain import check_text_tree
from spinetrack.domain.diagnosis import Level
from spinetrack.errors import ValidationError

__all__ = [
    "LEVELS",
    "Answers",
    "Boolean",
    "Date",
    "Integer",
    "Number",
    "ProblemPublic",
    "Text",
]


def _values(enum_cls: Any) -> list[Any]:
    return [m.value for m in enum_cls]


def _doc(schema: dict[str, Any]) -> WithJsonSchema:
    """The OpenAPI schema of a permissive field, used as ``Annotated[Any, _doc(schema)]``: ``Any`` at
    validation time (the domain checks it), ``schema`` in the OpenAPI document."""
    return WithJsonSchema(schema)


Integer: TypeAlias = Annotated[Any, _doc({"type": "integer"})]
Number: TypeAlias = Annotated[Any, _doc({"type": "number"})]
Text: TypeAlias = Annotated[Any, _doc({"type": "string"})]
Boolean: TypeAlias = Annotated[Any, _doc({"type": "boolean"})]
Date: TypeAlias = Annotated[Any, _doc({"type": "string", "format": "date"})]
Answers: TypeAlias = Annotated[Any, _doc({
    "type": "object", "additionalProperties": {"type": ["integer", "number", "string", "null"]},
    "description": "item code → answer (the item's option value, a number or a date)"})]
LEVELS: TypeAlias = Annotated[Any, _doc({"anyOf": [{"type": "string", "examples": ["L4-L5,L5-S1"]},
                                                   {"type": "array",
                                                    "items": {"type": "string", "enum": _values(Level)}}]})]


def _enum(enum_cls: Any) -> WithJsonSchema:
    return _doc({"type": "string", "enum": _values(enum_cls)})


def _requires(*names: str) -> ConfigDict:
    """Config of a request body: unknown fields refused; ``names`` documented as required
    (the domain validation enforces them, naming the field)."""
    return ConfigDict(extra="forbid", json_schema_extra={"required": list(names)})


class _Create(BaseModel):
    model_config = ConfigDict(extra="forbid")
    _prefix: ClassVar[str] = ""          # the record name the domain uses in field names
    _nested: ClassVar[frozenset[str]] = frozenset()  # nested bodies that have their own data()

    def data(self) -> dict[str, Any]:
        """The fields the client sent, as the mapping the domain ``create`` methods take. Text
        that cannot be stored (a NUL character, a lone surrogate) is refused naming the field,
        by the same check the domain applies to form input (:func:`spinetrack.domain.check_text_tree`)."""
        out = self.model_dump(exclude_unset=True, exclude=set(self._nested))
        for k, v in out.items():
            check_text_tree(v, f"{self._prefix}.{k}" if self._prefix else k)
        return out


def _check_answers(data: dict[str, Any], field: str) -> dict[str, Any]:
    if "answers" in data and not isinstance(data["answers"], dict):
        raise ValidationError(field=field, value=data["answers"], allowed="an object of item code → answer")
    return data


class _Public(BaseModel):
    """A response body. The store keeps timestamps as naive UTC; they leave with their offset
    (``2026-01-31T09:30:00Z``), as the OpenAPI ``date-time`` format (RFC 3339) requires — without
    one a client reads them as its own local time."""

    model_config = ConfigDict(from_attributes=True)

    @field_validator("*", mode="after")
    @classmethod
    def _utc(cls, value: Any) -> Any:
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


class ProblemPublic(BaseModel):
    """The body of every error response: which field was wrong and what would be accepted."""

    error: str = Field(description="Error class, e.g. ValidationError, NotFoundError, PermissionDeniedError.")
    message: str = Field(description="Human-readable message naming the field.")
    field: str | None = Field(None, description="Dotted name of the offending field, e.g. procedure.ebl_ml.")
    allowed: str | None = Field(None, description="What would have been accepted.")

