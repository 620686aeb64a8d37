"""Build a wording pack (:mod:`spinetrack.instruments.wording`) from the questionnaire a site is
licensed to use, as it already holds it: a REDCap data dictionary (CSV) or a FHIR R4
Questionnaire (JSON).

Matching, by order and by value:

* **Items by order.** The source's questions, in their order, are matched one to one to the
  instrument's items in spinetrack's order (REDCap: the fields in the dictionary's row order,
  ``descriptive`` and ``calc`` fields and the record identifier left out; FHIR: the items in
  document order, ``group`` items opened, ``display`` items left out).
* **Options by value.** A REDCap choice ``"0, text | 1, text"`` or a FHIR ``answerOption``
  (``valueCoding`` whose code is our option's code or its value, or whose ``ordinalValue``
  extension is the value; ``valueInteger``) is matched to the item's option with that scored
  value.

Everything that does not match is reported, all at once: a question beyond the instrument's
items (extra), an item with no question (missing), an answer value the item does not have, an
option of ours the source does not word, choices on an item answered with a number or a date.
The pack holds only what matched; it is still checked by
:func:`~spinetrack.instruments.wording.parse_wording_pack` before it is written or installed.

Pure apart from parsing the text it is given: no file, no database.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from spinetrack import instruments
from spinetrack.errors import ValidationError
from spinetrack.instruments.base import Item, ItemType

__all__ = ["FORMATS", "ImportResult", "SourceQuestion", "build_pack", "from_fhir", "from_redcap",
           "import_wording", "match"]

FORMATS = ("redcap", "fhir")
Format = Literal["redcap", "fhir"]
_ORDINAL = ("http://hl7.org/fhir/StructureDefinition/ordinalValue",
            "http://hl7.org/fhir/StructureDefinition/itemWeight")
_REDCAP_SKIP = ("descriptive", "calc", "file", "sql")
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True, slots=True)
class SourceQuestion:
    """One question of the source: its identifier there, its text, and its answers as
    ``(value, text)`` (``value`` as written: a number for REDCap, a code or number for FHIR)."""

    ref: str
    text: str
    options: tuple[tuple[Any, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ImportResult:
    """The pack built from what matched, what matched, and every mismatch in plain words."""

    pack: dict[str, Any]
    matched: tuple[tuple[str, str], ...]      # (our item code, the source's question)
    problems: tuple[str, ...] = field(default_factory=tuple)
    skipped: tuple[str, ...] = field(default_factory=tuple)  # source fields left out on purpose

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "matched": [{"item": a, "source": b} for a, b in self.matched],
                "problems": list(self.problems), "skipped": list(self.skipped), "pack": self.pack}


def _clean(text: str) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", text)).split())


# ----------------------------------------------------------------------------- REDCap

_REDCAP_COLUMNS = {
    "field": ("Variable / Field Name", "field_name"),
    "form": ("Form Name", "form_name"),
    "type": ("Field Type", "field_type"),
    "label": ("Field Label", "field_label"),
    "choices": ("Choices, Calculations, OR Slider Labels", "select_choices_or_calculations"),
}


def _column(header: Sequence[str], key: str) -> int:
    names = _REDCAP_COLUMNS[key]
    for i, h in enumerate(header):
        if h.strip().lstrip("\ufeff") in names:
            return i
    raise ValidationError(field=f"redcap.{key}", value=None, allowed=f"a column named {names[0]!r}",
                          reason="not a REDCap data dictionary: the column is missing")


def _redcap_choices(raw: str, where: str) -> tuple[tuple[Any, str], ...]:
    out: list[tuple[Any, str]] = []
    for part in raw.split("|"):
        part = part.strip()
        if not part:
            continue
        value, sep, text = part.partition(",")
        if not sep:
            raise ValidationError(field=where, value=part, allowed="choices written '0, text | 1, text'")
        v = value.strip()
        try:
            out.append((int(v), _clean(text)))
        except ValueError:
            out.append((v, _clean(text)))
    return tuple(out)


def from_redcap(text: str, *, form: str | None = None) -> tuple[list[SourceQuestion], list[str]]:
    """The questions of a REDCap data dictionary (CSV text), in row order, and the fields left out.

    ``form``: only the fields of this instrument (``Form Name``); else every field."""
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    if not rows:
        raise ValidationError(field="redcap", value="(empty)", allowed="a REDCap data dictionary CSV")
    header = rows[0]
    cols = {k: _column(header, k) for k in _REDCAP_COLUMNS}
    questions: list[SourceQuestion] = []
    skipped: list[str] = []
    forms = set()
    for n, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        cell = {k: (row[i].strip() if i < len(row) else "") for k, i in cols.items()}
        forms.add(cell["form"])
        if form is not None and cell["form"] != form:
            continue
        name = cell["field"]
        if n == 2 and name in ("record_id", "study_id"):
            skipped.append(f"{name} (record id)")
            continue
        if cell["type"] in _REDCAP_SKIP:
            skipped.append(f"{name} ({cell['type']})")
            continue
        options: tuple[tuple[Any, str], ...] = ()
        if cell["type"] in ("radio", "dropdown", "checkbox"):
            options = _redcap_choices(cell["choices"], f"redcap line {n} ({name}) choices")
        questions.append(SourceQuestion(name, _clean(cell["label"]), options))
    if form is not None and form not in forms:
        raise ValidationError(field="form", value=form, allowed=sorted(f for f in forms if f))
    return questions, skipped


# ----------------------------------------------------------------------------- FHIR


def _ordinal(extensions: Any) -> Any:
    for ext in extensions or ():
        if isinstance(ext, Mapping) and ext.get("url") in _ORDINAL:
            for key in ("valueDecimal", "valueInteger"):
                if key in ext:
                    return ext[key]
    return None


def _fhir_items(items: Any, out: list[SourceQuestion], skipped: list[str]) -> None:
    for it in items or ():
        if not isinstance(it, Mapping):
            raise ValidationError(field="Questionnaire.item", value=type(it).__name__, allowed="an object")
        kind = it.get("type")
        link = str(it.get("linkId", "?"))
        if kind == "group":
            _fhir_items(it.get("item"), out, skipped)
            continue
        if kind == "display":
            skipped.append(f"{link} (display)")
            continue
        options: list[tuple[Any, str]] = []
        for opt in it.get("answerOption") or ():
            if "valueCoding" in opt:
                coding = opt["valueCoding"] or {}
                ordinal = _ordinal(coding.get("extension")) if _ordinal(opt.get("extension")) is None \
                    else _ordinal(opt.get("extension"))
                value = ordinal if ordinal is not None else coding.get("code")
                options.append((value, _clean(str(coding.get("display") or ""))))
            elif "valueInteger" in opt:
                options.append((opt["valueInteger"], ""))
            else:
                options.append((None, ""))
        out.append(SourceQuestion(link, _clean(str(it.get("text") or "")), tuple(options)))


def from_fhir(text: str) -> tuple[list[SourceQuestion], list[str], str | None]:
    """The questions of a FHIR R4 Questionnaire (JSON text) in document order, the items left out,
    and its title."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(field="fhir", value=f"line {exc.lineno}", allowed="valid JSON",
                              reason=exc.msg) from None
    if not isinstance(doc, Mapping) or doc.get("resourceType") != "Questionnaire":
        found = doc.get("resourceType") if isinstance(doc, Mapping) else type(doc).__name__
        raise ValidationError(field="fhir.resourceType", value=found, allowed="Questionnaire")
    out: list[SourceQuestion] = []
    skipped: list[str] = []
    _fhir_items(doc.get("item"), out, skipped)
    title = doc.get("title")
    return out, skipped, _clean(title) if isinstance(title, str) and title.strip() else None


# ----------------------------------------------------------------------------- matching


def _option_for(item: Item, value: Any) -> str | None:
    """Our option code for a source answer value: the option whose code or scored value it is."""
    for o in item.options:
        if str(value) == o.code:
            return o.code
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    for o in item.options:
        if o.value == number:
            return o.code
    return None


def match(instrument: str, questions: Sequence[SourceQuestion]) -> tuple[dict[str, Any], list[tuple[str, str]],
                                                                           list[str]]:
    """Match questions to the instrument's items by order and options by value:
    ``(items wording, matched pairs, problems)``."""
    definition = instruments.get(instrument, "--instrument").definition
    items = definition.items
    words: dict[str, Any] = {}
    matched: list[tuple[str, str]] = []
    problems: list[str] = []
    if len(questions) != len(items):
        problems.append(f"the source has {len(questions)} question(s), {instrument} has {len(items)} item(s) "
                        f"({', '.join(definition.item_codes)})")
    for item, q in zip(items, questions, strict=False):
        where = f"{instrument}.{item.code} ← {q.ref}"
        entry: dict[str, Any] = {}
        if q.text:
            entry["text"] = q.text
        else:
            problems.append(f"{where}: the question has no text")
        if item.type is ItemType.CHOICE:
            allowed = ", ".join(str(v) for v in item.values)
            options: dict[str, str] = {}
            for value, text in q.options:
                code = _option_for(item, value)
                if code is None:
                    problems.append(f"{where}: answer value {value!r} is not an option of the item (allowed: "
                                    f"{allowed})")
                elif not text:
                    problems.append(f"{where}: answer value {value!r} has no text")
                elif code in options:
                    problems.append(f"{where}: answer value {value!r} is given twice")
                else:
                    options[code] = text
            unworded = [str(o.value) for o in item.options if o.code not in options]
            if unworded and q.options:
                problems.append(f"{where}: no text for answer value(s) {', '.join(unworded)} of the item")
            elif not q.options:
                problems.append(f"{where}: the question has no answer choices; the item is answered by choosing one "
                                f"of {allowed}")
            if options:
                entry["options"] = options
        elif q.options:
            problems.append(f"{where}: the question has answer choices, but the item is answered with a "
                            f"{item.type.value} ({item.allowed_text()})")
        if entry:
            words[item.code] = entry
            matched.append((item.code, q.ref))
    for q in questions[len(items):]:
        problems.append(f"extra question {q.ref!r} ({q.text[:60]!r}): {instrument} has no item for it")
    for item in items[len(questions):]:
        problems.append(f"missing: no question for {instrument}.{item.code}")
    return words, matched, problems


def build_pack(instrument: str, words: Mapping[str, Any], *, name: str, language: str, licence: str,
               title: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"items": dict(words)}
    if title:
        block["title"] = title
    return {"name": name, "language": language, "licence": licence, "instruments": {instrument: block}}


def import_wording(text: str, fmt: str, *, instrument: str, name: str, language: str, licence: str,
                   title: str | None = None, form: str | None = None) -> ImportResult:
    """Read ``text`` (a REDCap dictionary or a FHIR Questionnaire), match it to ``instrument``
    and build the pack: every mismatch in :attr:`ImportResult.problems`."""
    if fmt not in FORMATS:
        raise ValidationError(field="--format", value=fmt, allowed=FORMATS)
    instruments.get(instrument, "--instrument")
    if fmt == "redcap":
        questions, skipped = from_redcap(text, form=form)
        source_title = None
    else:
        questions, skipped, source_title = from_fhir(text)
    if not questions:
        raise ValidationError(field=fmt, value="no questions", allowed="a questionnaire with questions")
    words, matched, problems = match(instrument, questions)
    pack = build_pack(instrument, words, name=name, language=language, licence=licence,
                      title=title or source_title)
    return ImportResult(pack, tuple(matched), tuple(problems), tuple(skipped))


def describe(problems: Iterable[str]) -> str:
    return "\n".join(f"  - {p}" for p in problems)
