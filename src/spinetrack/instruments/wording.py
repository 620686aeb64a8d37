"""Licensed wording packs: a site's validated instrument wording, loaded from a local JSON file.

spinetrack ships only its own short neutral labels (never the copyrighted ODI or EQ-5D
wording). A site that holds a licence puts the validated wording in a JSON file outside the
repository and points ``SPINETRACK_WORDING_PACK`` (or ``--wording``) at it. The file::

    {
      "name": "ODI 2.1a English (UK), licensed to Example Hospital",
      "language": "en-GB",
      "licence": "Licence no. 1234, Mapi Research Trust, valid to 2027-12-31",
      "instruments": {
        "odi": {
          "title": "…",
          "items": {
            "pain_intensity": {"text": "…", "options": {"0": "…", "1": "…", "…": "…"}},
            "…": {}
          }
        }
      }
    }

Every instrument, item and option code is checked against the instrument definitions, so a
pack written for another version is refused with the code named. Items a pack leaves out keep
the neutral labels. Scoring never depends on wording.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spinetrack.errors import ValidationError
from spinetrack.instruments.registry import get

__all__ = ["WordingPack", "load_wording_pack", "parse_wording_pack"]


@dataclass(frozen=True, slots=True)
class WordingPack:
    name: str
    language: str
    licence: str
    instruments: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def for_instrument(self, code: str) -> dict[str, Any] | None:
        """The wording of one instrument as ``{item: {"text", "options"}, "_title": str}``, or None."""
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


def _need_str(obj: Mapping[str, Any], key: str, where: str) -> str:
    v = obj.get(key)
    if not isinstance(v, str) or not v.strip():
        raise ValidationError(field=f"{where}.{key}", value=v, allowed="non-empty text")
    return v


def parse_wording_pack(data: Any, source: str = "wording_pack") -> WordingPack:
    """Validate a decoded wording pack against the instrument definitions."""
    if not isinstance(data, Mapping):
        raise ValidationError(field=source, value=type(data).__name__, allowed="a JSON object")
    name, language, licence = (_need_str(data, k, source) for k in ("name", "language", "licence"))
    insts = data.get("instruments")
    if not isinstance(insts, Mapping) or not insts:
        raise ValidationError(field=f"{source}.instruments", value=insts,
                              allowed="an object of instrument code → wording")
    for code, block in insts.items():
        where = f"{source}.instruments.{code}"
        definition = get(code, where).definition
        if not isinstance(block, Mapping):
            raise ValidationError(field=where, value=block, allowed="an object with title and items")
        extra = set(block) - {"title", "items"}
        if extra:
            raise ValidationError(field=f"{where}.{sorted(extra)[0]}", value=None, allowed=["title", "items"],
                                  reason="unknown key")
        if "title" in block:
            _need_str(block, "title", where)
        items = block.get("items", {})
        if not isinstance(items, Mapping):
            raise ValidationError(field=f"{where}.items", value=items, allowed="an object of item code → wording")
        for item_code, wording in items.items():
            iwhere = f"{where}.items.{item_code}"
            item = definition.item(item_code) if item_code in definition.item_codes else None
            if item is None:
                raise ValidationError(field=iwhere, value=item_code, allowed=list(definition.item_codes),
                                      reason="unknown item")
            if not isinstance(wording, Mapping) or set(wording) - {"text", "options"}:
                raise ValidationError(field=iwhere, value=wording, allowed="an object with text and options")
            if "text" in wording:
                _need_str(wording, "text", iwhere)
            options = wording.get("options", {})
            if not isinstance(options, Mapping):
                raise ValidationError(field=f"{iwhere}.options", value=options, allowed="option code → text")
            codes = [o.code for o in item.options]
            for ocode, text in options.items():
                if ocode not in codes:
                    raise ValidationError(field=f"{iwhere}.options.{ocode}", value=ocode, allowed=codes,
                                          reason="unknown option")
                if not isinstance(text, str) or not text.strip():
                    raise ValidationError(field=f"{iwhere}.options.{ocode}", value=text, allowed="non-empty text")
    return WordingPack(name, language, licence, {k: dict(v) for k, v in insts.items()})


def load_wording_pack(path: str | Path) -> WordingPack:
    """Read and validate a wording pack from a local JSON file."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationError(field="wording_pack", value=str(p), allowed="a readable JSON file",
                              reason="file not found") from None
    except json.JSONDecodeError as exc:
        raise ValidationError(field="wording_pack", value=str(p), allowed="valid JSON",
                              reason=f"line {exc.lineno}: {exc.msg}") from None
    return parse_wording_pack(data, "wording_pack")
