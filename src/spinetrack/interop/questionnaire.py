"""PROM instruments as FHIR ``Questionnaire`` resources, and ``QuestionnaireResponse`` ⇄ answers.

FHIR release
------------
The JSON written here follows FHIR **R4 (4.0.1)**, but it is *validated with the R4B (4.3.0)
models* of ``fhir.resources`` (``fhir.resources.R4B``): no ``fhir.resources`` release provides
R4 models on pydantic 2 (6.4.0 is the last with R4 and needs pydantic 1; 7.x and 8.x ship R5,
R4B and STU3 only). ``Questionnaire`` and ``QuestionnaireResponse`` did not change structurally
between R4 and R4B, and nothing R4B-only is emitted, so the resources are R4 resources too.

Rendering (:func:`to_questionnaire`)
------------------------------------
- ``id`` is the instrument code with ``_`` replaced by ``-`` (a FHIR id allows only
  ``[A-Za-z0-9-.]``); ``url`` is the canonical ``{base_url}:{code}``; ``version`` is the
  definition's version. A response refers to it as ``url`` or ``url|version``.
- ``copyright`` carries the licence note; ``description`` the reference and the labels note:
  the labels are spinetrack's own neutral labels, not the validated wording — unless a site's
  wording pack is passed as ``wording`` (see :func:`to_questionnaire`).
- ``code`` (LOINC, ``http://loinc.org``) only where ``Definition.loinc`` / ``Item.loinc`` is set.
- choice items have ``answerOption.valueCoding`` in the code system
  ``urn:spinetrack:instrument:{instrument}:{item}`` (code = option code, display = label) and
  the scored value as the ``ordinalValue`` extension on the answer option; integer and decimal
  items carry ``minValue``/``maxValue`` extensions and, where ``Item.unit`` is set, the
  ``questionnaire-unit`` extension (``Item.unit`` is taken to be a UCUM code); date items are
  ``date``.

Parsing (:func:`from_questionnaire_response`)
---------------------------------------------
The response is first validated with the ``fhir.resources`` model; its errors, and every
refusal here, are raised as :class:`spinetrack.errors.ValidationError` naming the field —
``questionnaire_response.<path>`` for the structure of the resource, ``<instrument>.<item>`` for
an answer the instrument does not allow (with the allowed option codes or range).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pydantic
from fhir.resources.R4B.questionnaire import Questionnaire as FhirQuestionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse as FhirQuestionnaireResponse

from spinetrack.errors import ValidationError
from spinetrack.instruments.base import Instrument, Item, ItemType

__all__ = [
    "DEFAULT_BASE_URL",
    "FHIR_MODELS_RELEASE",
    "FHIR_RELEASE",
    "LOINC",
    "MAX_VALUE",
    "MIN_VALUE",
    "ORDINAL_VALUE",
    "QUESTIONNAIRE_UNIT",
    "UCUM",
    "answer_system",
    "canonical_url",
    "fhir_id",
    "from_questionnaire_response",
    "to_questionnaire",
    "to_questionnaire_response",
    "validate_questionnaire",
    "validate_questionnaire_response",
]

FHIR_RELEASE = "4.0.1"           # the release the JSON is written for (R4)
FHIR_MODELS_RELEASE = "4.3.0"    # the fhir.resources models it is validated with (R4B)
DEFAULT_BASE_URL = "urn:spinetrack:questionnaire"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ORDINAL_VALUE = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
QUESTIONNAIRE_UNIT = "http://hl7.org/fhir/StructureDefinition/questionnaire-unit"
ACCEPTED_STATUSES = ("completed", "amended")
_RESPONSE = "questionnaire_response"
_WORDING_NOTE = "Item wording from the site's locally loaded wording pack."

# Questionnaire.item.type of each item type (ItemType's values are FHIR's codes, said explicitly).
_FHIR_TYPE = {ItemType.CHOICE: "choice", ItemType.INTEGER: "integer", ItemType.DECIMAL: "decimal",
              ItemType.DATE: "date"}
# The answer value[x] each item type expects, in a QuestionnaireResponse.
_VALUE_KEY = {ItemType.CHOICE: "valueCoding", ItemType.INTEGER: "valueInteger",
              ItemType.DECIMAL: "valueDecimal", ItemType.DATE: "valueDate"}
_VALUE_KEYS = ("valueAttachment", "valueBoolean", "valueCoding", "valueDate", "valueDateTime", "valueDecimal",
               "valueInteger", "valueQuantity", "valueReference", "valueString", "valueTime", "valueUri")


# --------------------------------------------------------------------------------------------
# names
# --------------------------------------------------------------------------------------------

def fhir_id(instrument: Instrument) -> str:
    """The resource id of the instrument's Questionnaire (``nrs_back`` → ``nrs-back``)."""
    return instrument.definition.code.replace("_", "-")


def canonical_url(instrument: Instrument, base_url: str = DEFAULT_BASE_URL) -> str:
    """The canonical URL of the instrument's Questionnaire: ``{base_url}:{code}``."""
    return f"{base_url}:{instrument.definition.code}"


def answer_system(instrument: Instrument, item: Item | str) -> str:
    """The code system of a choice item's answer codes."""
    code = item if isinstance(item, str) else item.code
    return f"urn:spinetrack:instrument:{instrument.definition.code}:{code}"


def _name(instrument: Instrument) -> str:
    # Questionnaire.name is computer-friendly: [A-Z][A-Za-z0-9_]* (invariant que-0).
    return "".join(part[:1].upper() + part[1:] for part in instrument.definition.code.split("_"))


# --------------------------------------------------------------------------------------------
# validation with the fhir.resources models
# --------------------------------------------------------------------------------------------

def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _validate(model: type, resource: Any, prefix: str) -> Any:
    if not isinstance(resource, Mapping):
        raise ValidationError(field=prefix, value=type(resource).__name__, allowed="a JSON object")
    try:
        return model.model_validate(dict(resource))  # type: ignore[attr-defined]
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err.get("loc", ()))
        if loc == ("resource_type",):
            loc = ("resourceType",)
        value = err.get("input")
        if isinstance(value, Mapping) or (isinstance(value, list) and value):
            value = type(value).__name__
        message = " ".join(str(err.get("msg", "")).split())
        raise ValidationError(field=prefix + _path(loc), value=value, allowed=message,
                              reason=f"not a valid FHIR {model.__name__} ({len(exc.errors())} error(s))") from exc
    except (TypeError, ValueError) as exc:
        raise ValidationError(field=prefix, value=None, allowed=f"a valid FHIR {model.__name__}",
                              reason=str(exc)) from exc


def validate_questionnaire(resource: Mapping[str, Any]) -> FhirQuestionnaire:
    """Validate Questionnaire JSON with the fhir.resources model, or raise naming the field."""
    return _validate(FhirQuestionnaire, resource, "questionnaire")


def validate_questionnaire_response(resource: Mapping[str, Any]) -> FhirQuestionnaireResponse:
    """Validate QuestionnaireResponse JSON with the fhir.resources model, or raise naming the field."""
    return _validate(FhirQuestionnaireResponse, resource, _RESPONSE)


# --------------------------------------------------------------------------------------------
# Questionnaire
# --------------------------------------------------------------------------------------------

def _wording_for(instrument: Instrument, wording: Mapping[str, Any] | None) -> tuple[str | None, dict[str, Any]]:
    """Check a wording pack against the definition: ``(title, {item: {"text", "options"}})``."""
    if wording is None:
        return None, {}
    code = instrument.definition.code
    if not isinstance(wording, Mapping):
        raise ValidationError(field="wording", value=type(wording).__name__,
                              allowed="an object of item code → {text, options}")
    title = wording.get("_title")
    if title is not None and not (isinstance(title, str) and title.strip()):
        raise ValidationError(field="wording._title", value=title, allowed="a non-empty string")
    items: dict[str, Any] = {}
    for key, entry in wording.items():
        if isinstance(key, str) and key.startswith("_"):
            continue                        # pack metadata (_title, _source, _licence, …)
        try:
            item = instrument.definition.item(key)
        except ValidationError as exc:
            raise ValidationError(field=f"wording.{key}", value=key, allowed=list(instrument.definition.item_codes),
                                  reason=f"not an item of {code}") from exc
        if not isinstance(entry, Mapping):
            raise ValidationError(field=f"wording.{key}", value=type(entry).__name__,
                                  allowed='an object {"text": str, "options": {code: str}}')
        text = entry.get("text")
        if text is not None and not (isinstance(text, str) and text.strip()):
            raise ValidationError(field=f"wording.{key}.text", value=text, allowed="a non-empty string")
        options = entry.get("options") or {}
        if not isinstance(options, Mapping):
            raise ValidationError(field=f"wording.{key}.options", value=type(options).__name__,
                                  allowed="an object of option code → text")
        codes = [o.code for o in item.options]
        for opt, label in options.items():
            if opt not in codes:
                raise ValidationError(field=f"wording.{key}.options.{opt}", value=opt, allowed=codes,
                                      reason=f"not an answer option of {code}.{key}")
            if not (isinstance(label, str) and label.strip()):
                raise ValidationError(field=f"wording.{key}.options.{opt}", value=label,
                                      allowed="a non-empty string")
        items[key] = {"text": text, "options": dict(options)}
    return title, items


def _coding(system: str, code: str | None, display: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def _number(item: Item, value: float) -> dict[str, Any]:
    return {"valueInteger": int(value)} if item.type is ItemType.INTEGER else {"valueDecimal": float(value)}


def _questionnaire_item(instrument: Instrument, item: Item, words: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"linkId": item.code}
    if item.loinc:
        out["code"] = [_coding(LOINC, item.loinc, item.label)]
    out["text"] = words.get("text") or item.label
    out["type"] = _FHIR_TYPE[item.type]
    out["required"] = bool(item.required)
    out["repeats"] = False
    extensions: list[dict[str, Any]] = []
    if item.type in (ItemType.INTEGER, ItemType.DECIMAL):
        assert item.low is not None and item.high is not None
        extensions.append({"url": MIN_VALUE, **_number(item, item.low)})
        extensions.append({"url": MAX_VALUE, **_number(item, item.high)})
        if item.unit:
            extensions.append({"url": QUESTIONNAIRE_UNIT, "valueCoding": _coding(UCUM, item.unit, item.unit)})
    if extensions:
        out["extension"] = extensions
    if item.type is ItemType.CHOICE:
        system = answer_system(instrument, item)
        labels = words.get("options") or {}
        out["answerOption"] = [
            {"extension": [{"url": ORDINAL_VALUE, "valueDecimal": opt.value}],
             "valueCoding": _coding(system, opt.code, labels.get(opt.code) or opt.label)}
            for opt in item.options
        ]
    return out


def to_questionnaire(instrument: Instrument, wording: Mapping[str, Any] | None = None,
                     base_url: str = DEFAULT_BASE_URL) -> dict[str, Any]:
    """The instrument as FHIR R4 ``Questionnaire`` JSON (a plain dict, validated).

    ``wording`` is a site's licensed wording pack for this instrument:
    ``{item_code: {"text": str, "options": {option_code: str}}, "_title": str}``; each text
    given replaces spinetrack's neutral label (other keys starting with ``_`` are ignored).
    An item code or option code the instrument does not have is refused.
    """
    d = instrument.definition
    title, words = _wording_for(instrument, wording)
    if words or title:
        complete = all(it.code in words and words[it.code]["text"]
                       and all(o.code in words[it.code]["options"] for o in it.options) for it in d.items)
        labels_note = _WORDING_NOTE if complete else (
            f"{_WORDING_NOTE} Texts it does not give keep spinetrack's labels: {d.labels_note}")
    else:
        labels_note = f"Labels: {d.labels_note}"
    q: dict[str, Any] = {
        "resourceType": "Questionnaire",
        "id": fhir_id(instrument),
        "url": canonical_url(instrument, base_url),
        "version": d.version,
        "name": _name(instrument),
        "title": title or d.title,
        "status": "active",
        "subjectType": ["Patient"],
        "description": f"{d.title} (version {d.version}). Reference: {d.reference}. {labels_note}",
        "copyright": d.licence,
    }
    if d.loinc:
        q["code"] = [_coding(LOINC, d.loinc, d.title)]
    q["item"] = [_questionnaire_item(instrument, it, words.get(it.code, {})) for it in d.items]
    validate_questionnaire(q)
    return q


# --------------------------------------------------------------------------------------------
# QuestionnaireResponse → answers
# --------------------------------------------------------------------------------------------

def _check_canonical(instrument: Instrument, canonical: str | None, base_url: str) -> None:
    url = canonical_url(instrument, base_url)
    version = instrument.definition.version
    accepted = [url, f"{url}|{version}"]
    if canonical not in accepted:
        raise ValidationError(field=f"{_RESPONSE}.questionnaire", value=canonical, allowed=accepted,
                              reason=f"the response does not answer {instrument.definition.code} "
                                     f"version {version}")


def _answer_value(instrument: Instrument, item: Item, answer: Any) -> Any:
    """The answer's value as spinetrack stores it (the scored value of a choice)."""
    name = f"{instrument.definition.code}.{item.code}"
    expected = _VALUE_KEY[item.type]
    present = [k for k in _VALUE_KEYS if getattr(answer, k, None) is not None]
    if present != [expected]:
        got = present[0] if present else "no value"
        allowed: list[Any] | str = [o.code for o in item.options] if item.type is ItemType.CHOICE \
            else item.allowed_text()
        raise ValidationError(field=name, value=got, allowed=allowed,
                              reason=f"a {item.type} item is answered with {expected}")
    value = getattr(answer, expected)
    if item.type is ItemType.CHOICE:
        codes = [o.code for o in item.options]
        system = answer_system(instrument, item)
        if value.system is not None and value.system != system:
            raise ValidationError(field=name, value=f"{value.system}|{value.code}", allowed=codes,
                                  reason=f"answer codes are in the code system {system}")
        for opt in item.options:
            if opt.code == value.code:
                return opt.value
        raise ValidationError(field=name, value=value.code, allowed=codes, reason="unknown answer code")
    if item.type is ItemType.DATE:
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    return float(value) if isinstance(value, Decimal) else value


def from_questionnaire_response(instrument: Instrument, response: Mapping[str, Any], *,
                                base_url: str = DEFAULT_BASE_URL) -> dict[str, Any]:
    """Parse FHIR ``QuestionnaireResponse`` JSON into ``{item_code: value}``, validated.

    The response must be valid per the fhir.resources model, have status ``completed`` or
    ``amended`` and answer this instrument's Questionnaire (``questionnaire`` is its canonical
    URL, optionally ``|version``). Choice answers are ``valueCoding`` whose code is looked up
    among the item's options and returned as the option's scored value; integer, decimal and
    date items are answered with ``valueInteger``, ``valueDecimal`` and ``valueDate`` (returned
    as an ISO string). The result is ``instrument.check(answers)``: every item code, ``None``
    where unanswered. Anything else raises :class:`ValidationError` naming the field.
    """
    qr = validate_questionnaire_response(response)
    if qr.status not in ACCEPTED_STATUSES:
        raise ValidationError(field=f"{_RESPONSE}.status", value=qr.status, allowed=ACCEPTED_STATUSES,
                              reason="only a finished response can be scored")
    _check_canonical(instrument, qr.questionnaire, base_url)
    answers: dict[str, Any] = {}
    for i, node in enumerate(qr.item or ()):
        where = f"{_RESPONSE}.item[{i}]"
        try:
            item = instrument.definition.item(node.linkId or "")  # no linkId: no item is "", refused below
        except ValidationError as exc:
            raise ValidationError(field=f"{where}.linkId", value=node.linkId,
                                  allowed=list(instrument.definition.item_codes),
                                  reason=f"not an item of {instrument.definition.code}") from exc
        if node.linkId in answers:
            raise ValidationError(field=f"{where}.linkId", value=node.linkId, allowed="each item once",
                                  reason="item answered twice")
        if node.item:
            raise ValidationError(field=f"{where}.item", value=len(node.item), allowed="none",
                                  reason=f"{instrument.definition.code} has no nested items")
        given = list(node.answer or ())
        if len(given) > 1:
            raise ValidationError(field=f"{where}.answer", value=len(given), allowed="at most one answer",
                                  reason=f"{instrument.definition.code}.{item.code} does not repeat")
        if given and given[0].item:
            raise ValidationError(field=f"{where}.answer[0].item", value=len(given[0].item), allowed="none",
                                  reason=f"{instrument.definition.code} has no nested items")
        answers[item.code] = _answer_value(instrument, item, given[0]) if given else None
    return instrument.check(answers)


# --------------------------------------------------------------------------------------------
# answers → QuestionnaireResponse
# --------------------------------------------------------------------------------------------

def _authored(authored: Any) -> str:
    if isinstance(authored, dt.datetime):
        if authored.tzinfo is None or authored.utcoffset() is None:
            raise ValidationError(field=f"{_RESPONSE}.authored", value=authored.isoformat(),
                                  allowed="a date or a datetime with a time zone")
        return authored.isoformat()
    if isinstance(authored, dt.date):
        return authored.isoformat()
    if isinstance(authored, str):
        return authored                      # checked by the model
    raise ValidationError(field=f"{_RESPONSE}.authored", value=authored, allowed="a date or datetime")


def to_questionnaire_response(instrument: Instrument, answers: Mapping[str, Any], *,
                              subject: str | Mapping[str, Any] | None = None, authored: Any = None,
                              status: str = "completed", base_url: str = DEFAULT_BASE_URL,
                              validate: bool = True) -> dict[str, Any]:
    """The answers (checked by the instrument) as FHIR R4 ``QuestionnaireResponse`` JSON.

    ``subject`` is a reference string (``"Patient/123"``) or a Reference object; ``authored`` a
    date, a time-zone-aware datetime or a FHIR dateTime string. Unanswered items are left out.
    ``validate=False`` skips the fhir.resources model check (three quarters of a Bulk export's time):
    for callers whose output the tests validate, such as :mod:`spinetrack.interop.fhir.resources`.
    """
    checked = instrument.check(answers)
    d = instrument.definition
    items: list[dict[str, Any]] = []
    for it in d.items:
        value = checked.get(it.code)
        if value is None:
            continue
        if it.type is ItemType.CHOICE:
            opt = next(o for o in it.options if o.value == value)
            answer: dict[str, Any] = {"valueCoding": _coding(answer_system(instrument, it), opt.code, opt.label)}
        elif it.type is ItemType.DATE:
            answer = {"valueDate": value}
        else:
            answer = _number(it, value)
        items.append({"linkId": it.code, "text": it.label, "answer": [answer]})
    qr: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{canonical_url(instrument, base_url)}|{d.version}",
        "status": status,
    }
    if subject is not None:
        qr["subject"] = {"reference": subject} if isinstance(subject, str) else dict(subject)
    if authored is not None:
        qr["authored"] = _authored(authored)
    qr["item"] = items
    if validate:
        validate_questionnaire_response(qr)
    return qr
