"""Building a wording pack from a REDCap data dictionary or a FHIR R4 Questionnaire: questions
matched to our items by order, answers to our options by value, and every mismatch reported.

Reference for the formats: the REDCap data dictionary's columns and its choices syntax
"value, label | value, label" (REDCap Data Dictionary template, "Choices, Calculations, OR Slider
Labels"); FHIR R4 Questionnaire.item (linkId, text, type, answerOption.valueCoding /
valueInteger, the ordinalValue extension, http://hl7.org/fhir/R4/questionnaire.html).
The wording below is our own made-up test text, never an instrument's licensed wording."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from spinetrack.errors import ValidationError
from spinetrack.instruments.wording import parse_wording_pack
from spinetrack.interop.wording_import import from_fhir, from_redcap, import_wording

HEADER = ["Variable / Field Name", "Form Name", "Section Header", "Field Type", "Field Label",
          "Choices, Calculations, OR Slider Labels", "Field Note"]
ODI_ITEMS = ("pain_intensity", "personal_care", "lifting", "walking", "sitting", "standing", "sleeping",
             "sex_life", "social_life", "travelling")


def redcap(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(HEADER)
    w.writerow(["record_id", "odi_form", "", "text", "Record ID", "", ""])
    for r in rows:
        w.writerow(r)
    return buf.getvalue()


def odi_rows(n: int = 10, values: range = range(6)) -> list[list[str]]:
    return [[f"q{i}", "odi_form", "", "radio", f"Test wording item {i}",
             " | ".join(f"{v}, Test option {i}.{v}" for v in values), ""] for i in range(1, n + 1)]


def test_redcap_dictionary_maps_every_item_and_option_in_order() -> None:
    text = redcap([["intro", "odi_form", "", "descriptive", "<b>Please read</b>", "", ""], *odi_rows()])
    res = import_wording(text, "redcap", instrument="odi", name="Test pack", language="es-MX", licence="test")
    assert res.ok and res.problems == ()
    assert res.skipped == ("record_id (record id)", "intro (descriptive)")
    assert [a for a, _ in res.matched] == list(ODI_ITEMS)
    items = res.pack["instruments"]["odi"]["items"]
    assert items["lifting"]["text"] == "Test wording item 3"
    assert items["travelling"]["options"] == {str(v): f"Test option 10.{v}" for v in range(6)}
    parse_wording_pack(res.pack)  # a valid pack


def test_redcap_mismatches_are_all_reported() -> None:
    rows = odi_rows(11)  # one field too many
    rows[0][5] = "0, a | 1, b | 2, c | 3, d | 4, e | 7, f"  # value 7 is not an ODI option, 5 is not worded
    rows[1][3] = "text"                                     # no choices for a choice item
    res = import_wording(redcap(rows), "redcap", instrument="odi", name="n", language="es", licence="l")
    assert not res.ok
    text = "\n".join(res.problems)
    assert "the source has 11 question(s), odi has 10 item(s)" in text
    assert "odi.pain_intensity ← q1: answer value 7 is not an option of the item (allowed: 0, 1, 2, 3, 4, 5)" in text
    assert "odi.pain_intensity ← q1: no text for answer value(s) 5 of the item" in text
    assert "odi.personal_care ← q2: the question has no answer choices" in text
    assert "extra question 'q11'" in text
    assert len(res.problems) == 5
    # what matched is kept; the unmatched option is left out
    assert "5" not in res.pack["instruments"]["odi"]["items"]["pain_intensity"]["options"]


def test_redcap_missing_items_and_numbers_with_choices() -> None:
    rows = [["mo", "eq", "", "radio", "Test wording item 1", "1, L1 | 2, L2 | 3, L3 | 4, L4 | 5, L5", ""],
            ["sc", "eq", "", "radio", "Test wording item 2", "1, L1 | 2, L2 | 3, L3 | 4, L4 | 5, L5", ""]]
    res = import_wording(redcap(rows), "redcap", instrument="eq5d5l", name="n", language="en", licence="l")
    assert [a for a, _ in res.matched] == ["MO", "SC"]
    assert "missing: no question for eq5d5l.UA" in res.problems
    assert "missing: no question for eq5d5l.vas" in res.problems
    rows6 = [*rows, *[[f"x{i}", "eq", "", "radio", f"T{i}", "1, a | 2, b | 3, c | 4, d | 5, e", ""]
                      for i in range(3)], ["vas", "eq", "", "radio", "Test VAS", "0, low | 100, high", ""]]
    res6 = import_wording(redcap(rows6), "redcap", instrument="eq5d5l", name="n", language="en", licence="l")
    assert any("eq5d5l.vas ← vas: the question has answer choices, but the item is answered with a integer" in p
               for p in res6.problems)


def test_redcap_bad_files_name_the_problem() -> None:
    with pytest.raises(ValidationError, match="Variable / Field Name"):
        from_redcap("a,b,c\n1,2,3\n")
    with pytest.raises(ValidationError) as err:
        from_redcap(redcap(odi_rows()), form="nope")
    assert err.value.field == "form" and "odi_form" in err.value.allowed


def fhir(items: list[dict[str, Any]], title: str = "Test title") -> str:
    return json.dumps({"resourceType": "Questionnaire", "status": "active", "title": title, "item": items})


def test_fhir_questionnaire_maps_by_order_and_value() -> None:
    items: list[dict[str, Any]] = [{"linkId": "intro", "type": "display", "text": "Please answer"},
                                   {"linkId": "g", "type": "group", "item": []}]
    for i in range(1, 11):
        opts = [{"valueCoding": {"code": f"c{v}", "display": f"Test option {i}.{v}",
                                 "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/ordinalValue",
                                                "valueDecimal": v}]}} for v in range(6)]
        items[1]["item"].append({"linkId": f"odi{i}", "type": "choice", "text": f"Test wording item {i}",
                                 "answerOption": opts})
    res = import_wording(fhir(items), "fhir", instrument="odi", name="n", language="en-GB", licence="l")
    assert res.ok and res.pack["instruments"]["odi"]["title"] == "Test title"
    assert res.pack["instruments"]["odi"]["items"]["walking"] == {
        "text": "Test wording item 4", "options": {str(v): f"Test option 4.{v}" for v in range(6)}}
    assert res.skipped == ("intro (display)",)


def test_fhir_codes_integers_and_mismatches() -> None:
    # RMDQ: our option codes are "no"/"yes" (values 0/1): a code or a value matches
    items = [{"linkId": f"s{i}", "type": "choice", "text": f"Test wording item {i}",
              "answerOption": [{"valueCoding": {"code": "yes", "display": "Test yes"}},
                               {"valueCoding": {"code": "0", "display": "Test no"}}]} for i in range(1, 24)]
    items.append({"linkId": "s24", "type": "choice", "text": "Test wording item 24",
                  "answerOption": [{"valueInteger": 1}, {"valueCoding": {"code": "maybe", "display": "x"}}]})
    res = import_wording(fhir(items), "fhir", instrument="rmdq", name="n", language="en", licence="l")
    assert res.pack["instruments"]["rmdq"]["items"]["s01"]["options"] == {"yes": "Test yes", "no": "Test no"}
    assert res.problems == ("rmdq.s24 ← s24: answer value 1 has no text",
                            "rmdq.s24 ← s24: answer value 'maybe' is not an option of the item (allowed: 0, 1)",
                            "rmdq.s24 ← s24: no text for answer value(s) 0, 1 of the item")


def test_fhir_bad_input() -> None:
    with pytest.raises(ValidationError, match="Questionnaire"):
        from_fhir(json.dumps({"resourceType": "Patient"}))
    with pytest.raises(ValidationError, match="valid JSON"):
        from_fhir("{")
    with pytest.raises(ValidationError) as err:
        import_wording(fhir([]), "fhir", instrument="sf36", name="n", language="en", licence="l")
    assert err.value.field == "--instrument"
    with pytest.raises(ValidationError) as err:
        import_wording("", "pdf", instrument="odi", name="n", language="en", licence="l")
    assert err.value.field == "--format"
