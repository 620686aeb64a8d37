"""What a patient reads: the wording of each instrument in one language (:class:`Wording`), and the
licensed wording packs a site installs (:class:`WordingPack`).

Three sources, in this order, for an instrument in a language:

1. ``"licensed"`` — an installed wording pack for that language words the instrument (the newest
   active pack wins; a pack's language ``"es-MX"`` serves ``"es"``). The ODI and EQ-5D wording is
   copyrighted and comes only this way: it never enters the repository.
2. ``"spinetrack"`` — an instrument worded in full by spinetrack itself (``Definition.own_wording``:
   the pain scales, global outcome, return to activity, work status, pain medicine), in English
   and, through the ``questionnaires`` catalog, Spanish.
3. ``"neutral"`` — spinetrack's numbered labels ("Statement 1 of 6") of a licensed instrument,
   for demonstration only.

A pack is JSON::

    {
      "name": "ODI 2.1a English (UK), licensed to Example Hospital",
      "language": "en-GB",
      "licence": "Licence no. 1234, Mapi Research Trust, valid to 2027-12-31",
      "instruments": {
        "odi": {
          "title": "…",                      (optional)
          "hint": "…",                       (optional: how to answer)
          "items": {
            "pain_intensity": {"text": "…", "options": {"0": "…", "1": "…"}},
            "…": {}
          }
        }
      }
    }

Every instrument, item and option code is checked against the instrument definitions, and every
problem is reported at once (:func:`check_wording_pack`; :func:`parse_wording_pack` raises a
:class:`WordingPackError` listing them all). Items or options a pack leaves out keep the neutral
labels. Scoring never depends on wording.

Pure: the texts spinetrack ships are marked with ``N_`` and translated when a :class:`Wording`
is built, by the ``translate`` function its caller passes (:func:`spinetrack.store.wording.wording_for`
passes the ``questionnaires`` catalog of the language).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from spinetrack.errors import ValidationError
from spinetrack.i18n import N_
from spinetrack.instruments.base import Definition, ItemType
from spinetrack.instruments.registry import all as all_instruments
from spinetrack.instruments.registry import get

__all__ = [
    "NEUTRAL_NOTE",
    "Source",
    "Wording",
    "WordingPack",
    "WordingPackError",
    "WordingProblem",
    "base_language",
    "check_wording_pack",
    "load_wording_pack",
    "parse_wording_pack",
]

Source = Literal["spinetrack", "licensed", "neutral"]

NEUTRAL_NOTE = N_("The statements are numbered because this is a demonstration: the clinic has not yet installed "
                  "the licensed wording of this questionnaire.")
"""The one sentence a demonstration's question page says on a numbered (``"neutral"``) questionnaire."""

_PACK_KEYS = ("name", "language", "licence", "instruments")
_INSTRUMENT_KEYS = ("title", "hint", "items")
_ITEM_KEYS = ("text", "options")
MAX_TEXT = 2000


def base_language(tag: str) -> str:
    """The language part of a tag, lower case: ``"es-MX"`` → ``"es"``, ``"en_GB"`` → ``"en"``."""
    return tag.strip().replace("_", "-").split("-")[0].lower()


# ----------------------------------------------------------------------------- problems

@dataclass(frozen=True, slots=True)
class WordingProblem:
    """One thing wrong in a pack: ``where`` (``instruments.odi.items.walking.options.6``), the
    value found, what is allowed, in plain words."""

    where: str
    value: Any
    allowed: str
    reason: str

    def __str__(self) -> str:
        shown = self.value if isinstance(self.value, (int, float, bool, type(None))) else repr(self.value)[:80]
        return f"{self.where}: {self.reason} (found {shown}; allowed: {self.allowed})"

    def as_dict(self) -> dict[str, Any]:
        return {"where": self.where, "value": self.value if isinstance(self.value, (str, int, float, bool, type(None)))
                else repr(self.value)[:80], "allowed": self.allowed, "reason": self.reason, "message": str(self)}


class WordingPackError(ValidationError):
    """A wording pack with problems: ``problems`` lists every one; ``field`` names the first."""

    def __init__(self, problems: Sequence[WordingProblem], source: str = "wording_pack") -> None:
        if not problems:
            raise ValueError("WordingPackError needs at least one problem")
        first = problems[0]
        super().__init__(field=f"{source}.{first.where}" if first.where else source, value=first.value,
                         allowed=first.allowed, reason=first.reason)
        self.problems: tuple[WordingProblem, ...] = tuple(problems)
        shown = "\n".join(f"  - {p}" for p in self.problems[:100])
        more = f"\n  ... and {len(self.problems) - 100} more" if len(self.problems) > 100 else ""
        self.args = (f"{len(self.problems)} problem(s) in the wording pack:\n{shown}{more}",)

    def as_dict(self) -> dict[str, Any]:
        out = super().as_dict()
        out["problems"] = [p.as_dict() for p in self.problems]
        return out


def _text_problem(value: Any, where: str, out: list[WordingProblem]) -> bool:
    if not isinstance(value, str) or not value.strip():
        out.append(WordingProblem(where, value, "non-empty text", "missing or empty text"))
        return False
    if len(value) > MAX_TEXT or "\x00" in value:
        out.append(WordingProblem(where, value[:40] + "…", f"text of at most {MAX_TEXT} characters, no NUL",
                                  "text too long or with a NUL character"))
        return False
    return True


def _unknown_keys(obj: Mapping[str, Any], allowed: tuple[str, ...], where: str, out: list[WordingProblem]) -> None:
    for key in obj:
        if key not in allowed:
            out.append(WordingProblem(f"{where}.{key}" if where else str(key), key, ", ".join(allowed), "unknown key"))


def _check_item(definition: Definition, item_code: str, wording: Any, where: str,
                out: list[WordingProblem]) -> None:
    item = definition.item(item_code)
    if not isinstance(wording, Mapping):
        out.append(WordingProblem(where, wording, "an object with text and options", "not an object"))
        return
    _unknown_keys(wording, _ITEM_KEYS, where, out)
    if "text" in wording:
        _text_problem(wording["text"], f"{where}.text", out)
    if "options" not in wording:
        return
    options = wording["options"]
    if item.type is not ItemType.CHOICE:
        out.append(WordingProblem(f"{where}.options", "options", "text only",
                                  f"item {definition.code}.{item_code} is answered with a {item.type.value}, "
                                  "not by choosing an option"))
        return
    if not isinstance(options, Mapping):
        out.append(WordingProblem(f"{where}.options", options, "an object of option code → text", "not an object"))
        return
    codes = [o.code for o in item.options]
    for ocode, text in options.items():
        owhere = f"{where}.options.{ocode}"
        if ocode not in codes:
            out.append(WordingProblem(owhere, ocode, ", ".join(codes),
                                      f"item {definition.code}.{item_code} has no option {ocode}"))
            continue
        _text_problem(text, owhere, out)


def check_wording_pack(data: Any) -> list[WordingProblem]:
    """Every problem of a decoded pack, in document order (empty when it is valid)."""
    out: list[WordingProblem] = []
    if not isinstance(data, Mapping):
        return [WordingProblem("", type(data).__name__, "a JSON object", "the pack is not a JSON object")]
    _unknown_keys(data, _PACK_KEYS, "", out)
    for key in ("name", "language", "licence"):
        if _text_problem(data.get(key), key, out) and key == "language":
            lang = data["language"]
            if not all(part.isalnum() for part in lang.replace("_", "-").split("-")) or len(lang) > 16:
                out.append(WordingProblem("language", lang, "a language tag such as en, es, en-GB, es-MX",
                                          "not a language tag"))
    insts = data.get("instruments")
    codes = [i.definition.code for i in all_instruments()]
    if not isinstance(insts, Mapping) or not insts:
        out.append(WordingProblem("instruments", insts, "an object of instrument code → wording",
                                  "no instruments in the pack"))
        return out
    for code, block in insts.items():
        where = f"instruments.{code}"
        if code not in codes:
            out.append(WordingProblem(where, code, ", ".join(codes), f"unknown instrument {code}"))
            continue
        definition = get(code).definition
        if not isinstance(block, Mapping):
            out.append(WordingProblem(where, block, "an object with title, hint and items", "not an object"))
            continue
        _unknown_keys(block, _INSTRUMENT_KEYS, where, out)
        for key in ("title", "hint"):
            if key in block:
                _text_problem(block[key], f"{where}.{key}", out)
        items = block.get("items", {})
        if not isinstance(items, Mapping):
            out.append(WordingProblem(f"{where}.items", items, "an object of item code → wording", "not an object"))
            continue
        if not items and "title" not in block:
            out.append(WordingProblem(f"{where}.items", {}, ", ".join(definition.item_codes),
                                      f"no wording given for {code}"))
        for item_code, wording in items.items():
            iwhere = f"{where}.items.{item_code}"
            if item_code not in definition.item_codes:
                out.append(WordingProblem(iwhere, item_code, ", ".join(definition.item_codes),
                                          f"instrument {code} has no item {item_code}"))
                continue
            _check_item(definition, item_code, wording, iwhere, out)
    return out


# ----------------------------------------------------------------------------- packs

@dataclass(frozen=True, slots=True)
class WordingPack:
    """A validated pack (:func:`parse_wording_pack`)."""

    name: str
    language: str
    licence: str
    instruments: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def base_language(self) -> str:
        return base_language(self.language)

    def as_dict(self) -> dict[str, Any]:
        """The pack as JSON-ready data (what is stored and hashed)."""
        return {"name": self.name, "language": self.language, "licence": self.licence,
                "instruments": json.loads(json.dumps(self.instruments))}

    def canonical(self) -> str:
        """Canonical JSON: sorted keys, no spaces, UTF-8 text (two packs with the same content
        and different layout have the same :attr:`sha256`)."""
        return json.dumps(self.as_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.canonical().encode("utf-8")).hexdigest()

    def for_instrument(self, code: str) -> dict[str, Any] | None:
        """The wording of one instrument as ``{item: {"text", "options"}, "_title": str}``, or None
        (the shape :func:`spinetrack.interop.questionnaire.to_questionnaire` takes)."""
        block = self.instruments.get(code)
        if block is None:
            return None
        out: dict[str, Any] = {k: dict(v) for k, v in block.get("items", {}).items()}
        if block.get("title"):
            out["_title"] = block["title"]
        return out

    def label(self, instrument: str, item: str) -> str:
        """The item's text from the pack, else the neutral label."""
        block = self.instruments.get(instrument, {}).get("items", {}).get(item, {})
        return str(block.get("text") or get(instrument).definition.item(item).label)


def parse_wording_pack(data: Any, source: str = "wording_pack") -> WordingPack:
    """Validate a decoded pack; raises :class:`WordingPackError` listing every problem."""
    problems = check_wording_pack(data)
    if problems:
        raise WordingPackError(problems, source)
    insts = {code: {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in block.items()}
             for code, block in data["instruments"].items()}
    for block in insts.values():
        if "items" in block:
            block["items"] = {ic: {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in w.items()}
                              for ic, w in block["items"].items()}
    return WordingPack(data["name"].strip(), data["language"].strip(), data["licence"].strip(), insts)


def load_wording_pack(path: str | Path) -> WordingPack:
    """Read and validate a wording pack from a local JSON file."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationError(field="wording_pack", value=str(p), allowed="a readable JSON file",
                              reason="file not found") from None
    except UnicodeDecodeError:
        raise ValidationError(field="wording_pack", value=str(p), allowed="a UTF-8 JSON file",
                              reason="not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ValidationError(field="wording_pack", value=str(p), allowed="valid JSON",
                              reason=f"line {exc.lineno}: {exc.msg}") from None
    return parse_wording_pack(data, "wording_pack")


# ----------------------------------------------------------------------------- wording


def _identity(text: str) -> str:
    return text


@dataclass(frozen=True, slots=True, eq=False)
class Wording:
    """The words of every instrument in one language, as a patient reads them.

    Build it with :meth:`build` (or :func:`spinetrack.store.wording.wording_for`, which passes the
    installed packs and the language's catalog). Every text is already in :attr:`language`.
    """

    language: str
    packs: Mapping[str, WordingPack] = field(default_factory=dict)  # instrument → the pack that words it
    translate: Callable[[str], str] = _identity

    @classmethod
    def build(cls, language: str, packs: Iterable[WordingPack] = (),
              translate: Callable[[str], str] | None = None) -> Wording:
        """``packs`` newest first: for each instrument, the first pack of ``language`` (by its base
        language, so ``es-MX`` serves ``es``) that words it is used."""
        lang = base_language(language)
        chosen: dict[str, WordingPack] = {}
        for pack in packs:
            if pack.base_language != lang:
                continue
            for code in pack.instruments:
                chosen.setdefault(code, pack)
        return cls(lang, chosen, translate or _identity)

    def _block(self, instrument: str) -> Mapping[str, Any]:
        pack = self.packs.get(instrument)
        return pack.instruments[instrument] if pack is not None else {}

    def source(self, instrument: str) -> Source:
        """``"licensed"`` (from an installed pack), ``"spinetrack"`` (our own instrument, worded
        in full by us) or ``"neutral"`` (numbered demonstration labels)."""
        if instrument in self.packs:
            return "licensed"
        return "spinetrack" if get(instrument).definition.own_wording else "neutral"

    def pack_name(self, instrument: str) -> str | None:
        pack = self.packs.get(instrument)
        return pack.name if pack is not None else None

    def title(self, instrument: str) -> str:
        """The instrument's name on the patient's pages: the pack's title, else spinetrack's plain
        name (distinct for every instrument), else its title."""
        title = self._block(instrument).get("title")
        if title:
            return str(title)
        d = get(instrument).definition
        return self.translate(d.display.plain_name or d.title)

    def text(self, instrument: str, item: str) -> str:
        words = self._block(instrument).get("items", {}).get(item, {})
        if words.get("text"):
            return str(words["text"])
        return self.translate(get(instrument).definition.item(item).label)

    def option(self, instrument: str, item: str, option_code: str) -> str:
        words = self._block(instrument).get("items", {}).get(item, {}).get("options", {})
        if words.get(option_code):
            return str(words[option_code])
        it = get(instrument).definition.item(item)
        for o in it.options:
            if o.code == option_code:
                return o.label if o.label.isdigit() else self.translate(o.label)
        raise ValidationError(field=f"{instrument}.{item}", value=option_code, allowed=[o.code for o in it.options],
                              reason="unknown option")

    def hint(self, instrument: str) -> str | None:
        """How to answer a choice of this instrument, or None (a licensed pack's own hint only:
        spinetrack's hints describe its numbered labels)."""
        if instrument in self.packs:
            hint = self._block(instrument).get("hint")
            return str(hint) if hint else None
        h = get(instrument).definition.display.choice_hint
        return self.translate(h) if h else None

    def skip_hint(self, instrument: str) -> str | None:
        """What is said on an optional question of this instrument, or None (the page's default)."""
        h = get(instrument).definition.display.skip_hint
        return self.translate(h) if h else None

    def neutral_note(self) -> str:
        """The one sentence shown on a numbered (``"neutral"``) questionnaire in a demonstration."""
        return self.translate(NEUTRAL_NOTE)

    def missing(self, codes: Iterable[str]) -> list[str]:
        """The instruments among ``codes`` that would show numbered labels (source ``"neutral"``)."""
        return [c for c in codes if self.source(c) == "neutral"]
