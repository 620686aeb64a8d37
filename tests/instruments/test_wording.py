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


# --------------------------------------------------------------------------- issue 19: every problem, the Wording API

from spinetrack.instruments.wording import Wording, WordingPackError, check_wording_pack  # noqa: E402

ES = {"Walking": "Caminar", "Back pain": "Dolor de espalda", "no pain": "sin dolor"}  # a stand-in catalog


def test_every_problem_is_listed_at_once_with_the_allowed_values() -> None:
    bad = {"name": "", "language": "es MX", "licence": "l", "extra": 1, "instruments": {
        "odi": {"title": "", "items": {"walking": {"text": "t", "options": {"6": "x", "0": ""}},
                                       "running": {"text": "x"}, "sitting": "not an object"}, "colour": "red"},
        "eq5d5l": {"items": {"vas": {"text": "t", "options": {"1": "x"}}}},
        "sf36": {}}}
    problems = check_wording_pack(bad)
    got = [(p.where, p.allowed) for p in problems]
    assert got == [
        ("extra", "name, language, licence, instruments"),
        ("name", "non-empty text"),
        ("language", "a language tag such as en, es, en-GB, es-MX"),
        ("instruments.odi.colour", "title, hint, items"),
        ("instruments.odi.title", "non-empty text"),
        ("instruments.odi.items.walking.options.6", "0, 1, 2, 3, 4, 5"),
        ("instruments.odi.items.walking.options.0", "non-empty text"),
        ("instruments.odi.items.running", "pain_intensity, personal_care, lifting, walking, sitting, standing, "
                                          "sleeping, sex_life, social_life, travelling"),
        ("instruments.odi.items.sitting", "an object with text and options"),
        ("instruments.eq5d5l.items.vas.options", "text only"),
        ("instruments.sf36", ", ".join(i.definition.code for i in instruments.all())),
    ]
    with pytest.raises(WordingPackError) as err:
        parse_wording_pack(bad)
    assert len(err.value.problems) == 11 and "11 problem(s)" in str(err.value)
    assert err.value.field == "wording_pack.extra"  # the first, for callers that show one


def test_resolution_pack_then_ours_then_neutral_and_language_matching() -> None:
    old = parse_wording_pack({**PACK, "language": "es-MX", "name": "old"})
    new = parse_wording_pack({"name": "new", "language": "es", "licence": "l",
                              "instruments": {"odi": {"title": "Nuevo", "hint": "Elija una"}}})
    w = Wording.build("es", [new, old], lambda s: ES.get(s, s))
    assert (w.language, w.source("odi"), w.pack_name("odi"), w.title("odi")) == ("es", "licensed", "new", "Nuevo")
    assert w.hint("odi") == "Elija una"
    assert w.text("odi", "walking") == "Caminar"       # the newest pack words no items: the neutral label, translated
    assert w.source("nrs_back") == "spinetrack" and w.title("nrs_back") == "Dolor de espalda"
    assert w.option("nrs_back", "pain", "0") == "sin dolor" and w.option("nrs_back", "pain", "5") == "5"
    assert w.source("rmdq") == "neutral" and w.pack_name("rmdq") is None
    assert w.missing(["odi", "rmdq", "analgesics"]) == ["rmdq"]
    en = Wording.build("en-GB", [new, old])
    assert en.source("odi") == "neutral" and en.language == "en"   # a Spanish pack does not word English
    only_old = Wording.build("es", [old])
    assert only_old.title("odi") == "Licensed ODI title" and only_old.text("odi", "walking") == "Licensed walking text"
    assert only_old.option("odi", "walking", "0") == "Opt zero" and only_old.option("odi", "walking", "1") == (
        "Statement 2 of 6 (more limitation)")
    assert only_old.hint("odi") is None  # our hint describes the numbered labels: not with licensed wording
    with pytest.raises(ValidationError):
        w.option("odi", "walking", "9")


def test_patient_titles_are_distinct_and_our_own_instruments_are_worded_in_full() -> None:
    w = Wording.build("en")
    titles = [w.title(i.definition.code) for i in instruments.all()]
    assert len(set(titles)) == len(titles)
    lowered = [t.lower() for t in titles]
    assert not [(a, b) for a in lowered for b in lowered if a != b and a in b]  # none hides inside another
    own = {i.definition.code for i in instruments.all() if i.definition.own_wording}
    assert own == {"nrs_back", "nrs_leg", "global_outcome", "return_to_activity", "work_status", "analgesics"}
    for code in own:
        for item in instruments.get(code).definition.items:
            assert not item.label.lower().startswith("statement"), (code, item.code)
    assert w.neutral_note().startswith("The statements are numbered because this is a demonstration")


def test_the_canonical_hash_ignores_layout() -> None:
    a = parse_wording_pack(PACK)
    b = parse_wording_pack(json.loads(json.dumps(PACK, indent=4, sort_keys=True)))
    assert a.sha256 == b.sha256 and len(a.sha256) == 64
