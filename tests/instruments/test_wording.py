"""Licensed wording packs load from a local JSON file and are checked against the definitions;
the repository ships only neutral labels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spinetrack import instruments
from spinetrack.errors import ValidationError
from spinetrack.instruments.wording import load_wording_pack, parse_wording_pack

PACK = {"name": "Test pack", "language": "en-GB", "licence": "test licence",
        "instruments": {"odi": {"title": "Licensed ODI title",
                                "items": {"walking": {"text": "Licensed walking text", "options": {"0": "Opt zero"}}}}}}


def test_pack_loads_and_overrides_only_what_it_gives(tmp_path: Path) -> None:
    path = tmp_path / "pack.json"
    path.write_text(json.dumps(PACK))
    pack = load_wording_pack(path)
    assert pack.label("odi", "walking") == "Licensed walking text"
    assert pack.label("odi", "sitting") == instruments.get("odi").definition.item("sitting").label
    w = pack.for_instrument("odi")
    assert w is not None and w["_title"] == "Licensed ODI title" and w["walking"]["options"]["0"] == "Opt zero"
    assert pack.for_instrument("rmdq") is None


@pytest.mark.parametrize(("patch", "field"), [
    ({"instruments": {"sf36": {}}}, "wording_pack.instruments.sf36"),
    ({"instruments": {"odi": {"items": {"running": {"text": "x"}}}}}, "wording_pack.instruments.odi.items.running"),
    ({"instruments": {"odi": {"items": {"walking": {"options": {"6": "x"}}}}}},
     "wording_pack.instruments.odi.items.walking.options.6"),
    ({"licence": ""}, "wording_pack.licence"),
])
def test_bad_packs_name_the_field(patch: dict, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_wording_pack({**PACK, **patch})
    assert err.value.field == field


def test_missing_or_broken_file(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="file not found"):
        load_wording_pack(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValidationError, match="line 1"):
        load_wording_pack(tmp_path / "bad.json")


def test_every_definition_says_its_labels_are_not_the_validated_wording() -> None:
    for inst in instruments.all():
        d = inst.definition
        assert "not the validated wording" in d.labels_note and d.licence and d.reference
