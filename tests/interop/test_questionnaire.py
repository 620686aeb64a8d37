"""FHIR Questionnaire / QuestionnaireResponse for every PROM instrument.

The resources are validated with the fhir.resources models of FHIR R4B (4.3.0): no
fhir.resources release has R4 (4.0.1) models on pydantic 2 (see the module docstring of
spinetrack.interop.questionnaire). The models do not enforce the required value sets (an item
type "coding" passes them), so the tests also check the codes themselves.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from hypothesis import given, settings
from hypothesis import strategies as st

from spinetrack import instruments
from spinetrack.errors import ValidationError
from spinetrack.instruments.base import AnswerOption, Definition, Instrument, Item, ItemType, Score
from spinetrack.interop import questionnaire as fq

ALL = instruments.all()
IDS = [i.definition.code for i in ALL]
FHIR_TYPES = {ItemType.CHOICE: "choice", ItemType.INTEGER: "integer", ItemType.DECIMAL: "decimal",
              ItemType.DATE: "date"}


class _Probe(Instrument):
    """A test-only instrument covering what no shipped instrument has yet: a decimal item and
    LOINC codes (placeholders, not real LOINC codes)."""

    definition = Definition(
        code="probe_test", title="Probe", version="0.1",
        items=(Item("grade", "Grade", (AnswerOption("a", 1, "first"), AnswerOption("b", 3, "second")),
                    loinc="PLACEHOLDER-ITEM"),
               Item("weight", "Weight", type=ItemType.DECIMAL, low=0.5, high=250.0, unit="kg", required=False)),
        score_low=0, score_high=3, higher_is_better=True, reference="test only", licence="test only",
        loinc="PLACEHOLDER-PANEL",
    )

    def _score(self, answers: dict[str, Any]) -> Score:
        return Score("probe_test", "0.1", float(answers["grade"] or 0), 2, 2, True)


PROBE = _Probe()
WITH_PROBE = [*ALL, PROBE]
PROBE_IDS = [*IDS, "probe_test"]


def _value(item: Item, k: int) -> Any:
    """A deterministic allowed value for an item: the k-th option / point in its range."""
    if item.type is ItemType.CHOICE:
        return item.options[k % len(item.options)].value
    if item.type is ItemType.DATE:
        return (dt.date(2024, 1, 1) + dt.timedelta(days=37 * k)).isoformat()
    assert item.low is not None and item.high is not None
    frac = (k % 4) / 3
    value = item.low + (item.high - item.low) * frac
    return round(value) if item.type is ItemType.INTEGER else round(value, 2)


def _answer_sets(instrument: Instrument) -> list[dict[str, Any]]:
    items = instrument.definition.items
    full = [{it.code: _value(it, k + j) for j, it in enumerate(items)} for k in range(4)]
    skipped = [{it.code: _value(it, k) for j, it in enumerate(items) if j % 2 == 0} for k in range(2)]
    return [*full, *skipped]


def _score_or_error(instrument: Instrument, answers: dict[str, Any]) -> Any:
    try:
        return instrument.score(answers)
    except ValidationError as exc:   # e.g. return_to_activity "not yet" with a date
        return ("refused", exc.field, str(exc))


# --------------------------------------------------------------------------------------------
# Questionnaire
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("instrument", WITH_PROBE, ids=PROBE_IDS)
def test_questionnaire_validates_with_fhir_model(instrument: Instrument) -> None:
    d = instrument.definition
    q = fq.to_questionnaire(instrument)
    model = Questionnaire.model_validate(q)
    assert model.status == "active"
    assert q["resourceType"] == "Questionnaire"
    assert q["id"] == d.code.replace("_", "-")
    assert q["url"] == f"urn:spinetrack:questionnaire:{d.code}"
    assert q["version"] == d.version
    assert q["name"][0].isupper() and q["name"].replace("_", "").isalnum()
    assert q["title"] == d.title
    assert q["copyright"] == d.licence
    assert d.labels_note in q["description"]
    # the round trip through the model keeps the resource
    assert model.model_dump(mode="json", exclude_none=True)["item"] == q["item"]


def test_questionnaire_ids_are_valid_fhir_ids() -> None:
    """FHIR ids allow no underscore: nrs_back → nrs-back (the model refuses 'nrs_back')."""
    q = fq.to_questionnaire(instruments.get("nrs_back"))
    assert q["id"] == "nrs-back"
    with pytest.raises(Exception, match="id"):
        Questionnaire.model_validate({**q, "id": "nrs_back"})


@pytest.mark.parametrize("instrument", WITH_PROBE, ids=PROBE_IDS)
def test_every_item_is_rendered_with_type_and_options(instrument: Instrument) -> None:
    d = instrument.definition
    q = fq.to_questionnaire(instrument)
    assert [i["linkId"] for i in q["item"]] == list(d.item_codes)
    for rendered, item in zip(q["item"], d.items, strict=True):
        assert rendered["type"] == FHIR_TYPES[item.type]
        assert rendered["text"] == item.label
        assert rendered["required"] is item.required
        ext = {e["url"]: e for e in rendered.get("extension", ())}
        if item.type is ItemType.CHOICE:
            system = f"urn:spinetrack:instrument:{d.code}:{item.code}"
            got = [(o["valueCoding"]["system"], o["valueCoding"]["code"], o["valueCoding"]["display"],
                    [e["valueDecimal"] for e in o["extension"] if e["url"] == fq.ORDINAL_VALUE])
                   for o in rendered["answerOption"]]
            assert got == [(system, o.code, o.label, [o.value]) for o in item.options]
            assert fq.MIN_VALUE not in ext and fq.MAX_VALUE not in ext
        else:
            assert "answerOption" not in rendered
        if item.type in (ItemType.INTEGER, ItemType.DECIMAL):
            key = "valueInteger" if item.type is ItemType.INTEGER else "valueDecimal"
            assert ext[fq.MIN_VALUE] == {"url": fq.MIN_VALUE, key: item.low}
            assert ext[fq.MAX_VALUE] == {"url": fq.MAX_VALUE, key: item.high}
            if item.unit:
                assert ext[fq.QUESTIONNAIRE_UNIT]["valueCoding"]["code"] == item.unit
        if item.loinc:
            assert rendered["code"] == [{"system": "http://loinc.org", "code": item.loinc, "display": item.label}]
        else:
            assert "code" not in rendered
    if d.loinc:
        assert q["code"] == [{"system": "http://loinc.org", "code": d.loinc, "display": d.title}]
    else:
        assert "code" not in q


def test_shipped_instruments_carry_no_invented_loinc_codes() -> None:
    for instrument in ALL:
        q = fq.to_questionnaire(instrument)
        loinc = [instrument.definition.loinc, *(i.loinc for i in instrument.definition.items)]
        rendered = [c for c in [q, *q["item"]] if "code" in c]
        assert len(rendered) == sum(code is not None for code in loinc)


def test_base_url_sets_the_canonical() -> None:
    q = fq.to_questionnaire(instruments.get("odi"), base_url="https://example.org/fhir/Questionnaire")
    assert q["url"] == "https://example.org/fhir/Questionnaire:odi"


# --------------------------------------------------------------------------------------------
# wording packs
# --------------------------------------------------------------------------------------------

def test_wording_pack_replaces_labels() -> None:
    odi = instruments.get("odi")
    wording = {"_title": "Site ODI", "_source": "licensed pack v3",
               "walking": {"text": "Site walking text", "options": {"0": "Site statement A", "5": "Site statement F"}}}
    q = fq.to_questionnaire(odi, wording=wording)
    Questionnaire.model_validate(q)
    assert q["title"] == "Site ODI"
    walking = next(i for i in q["item"] if i["linkId"] == "walking")
    assert walking["text"] == "Site walking text"
    displays = [o["valueCoding"]["display"] for o in walking["answerOption"]]
    assert displays[0] == "Site statement A" and displays[5] == "Site statement F"
    assert displays[1:5] == [o.label for o in odi.definition.item("walking").options[1:5]]
    # codes and scored values do not change with the wording
    assert [o["valueCoding"]["code"] for o in walking["answerOption"]] == ["0", "1", "2", "3", "4", "5"]
    lifting = next(i for i in q["item"] if i["linkId"] == "lifting")
    assert lifting["text"] == odi.definition.item("lifting").label
    assert "wording pack" in q["description"]


def test_complete_wording_pack_drops_the_demo_labels_note() -> None:
    nrs = instruments.get("nrs_back")
    item = nrs.definition.items[0]
    wording = {item.code: {"text": "Licensed text", "options": {o.code: f"L{o.code}" for o in item.options}}}
    q = fq.to_questionnaire(nrs, wording=wording)
    assert q["item"][0]["text"] == "Licensed text"
    assert [o["valueCoding"]["display"] for o in q["item"][0]["answerOption"]] == [f"L{o.code}" for o in item.options]
    assert nrs.definition.labels_note not in q["description"]
    assert nrs.definition.labels_note in fq.to_questionnaire(nrs)["description"]


@pytest.mark.parametrize(("wording", "field"), [
    ({"nope": {"text": "x"}}, "wording.nope"),
    ({"walking": {"text": "x", "options": {"9": "y"}}}, "wording.walking.options.9"),
    ({"walking": {"text": ""}}, "wording.walking.text"),
    ({"walking": "just a string"}, "wording.walking"),
    ({"_title": 3}, "wording._title"),
    ({7: {"text": "x"}}, "wording.7"),
])
def test_wording_pack_that_does_not_fit_is_refused(wording: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as exc:
        fq.to_questionnaire(instruments.get("odi"), wording=wording)
    assert exc.value.field == field


# --------------------------------------------------------------------------------------------
# round trip
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("instrument", WITH_PROBE, ids=PROBE_IDS)
def test_round_trip_gives_same_answers_and_score(instrument: Instrument) -> None:
    for answers in _answer_sets(instrument):
        expected = instrument.check(answers)
        qr = fq.to_questionnaire_response(instrument, answers, subject="Patient/p1",
                                          authored=dt.datetime(2024, 5, 6, 7, 8, tzinfo=dt.UTC))
        model = QuestionnaireResponse.model_validate(qr)
        assert model.status == "completed"
        assert model.questionnaire == f"urn:spinetrack:questionnaire:{instrument.definition.code}|" \
                                      f"{instrument.definition.version}"
        assert [i.linkId for i in model.item or ()] == [c for c, v in expected.items() if v is not None]
        back = fq.from_questionnaire_response(instrument, qr)
        assert back == expected
        assert set(back) == set(instrument.definition.item_codes)
        assert _score_or_error(instrument, back) == _score_or_error(instrument, answers)


@pytest.mark.parametrize("instrument", ALL, ids=IDS)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_round_trip_property(instrument: Instrument, data: st.DataObject) -> None:
    answers: dict[str, Any] = {}
    for item in instrument.definition.items:
        if item.type is ItemType.CHOICE:
            strat: st.SearchStrategy[Any] = st.sampled_from(item.values)
        elif item.type is ItemType.DATE:
            strat = st.dates(dt.date(1990, 1, 1), dt.date(2100, 12, 31)).map(dt.date.isoformat)
        elif item.type is ItemType.INTEGER:
            strat = st.integers(int(item.low or 0), int(item.high or 0))
        else:
            strat = st.floats(item.low, item.high, allow_nan=False)
        answers[item.code] = data.draw(st.none() | strat, label=item.code)
    qr = fq.to_questionnaire_response(instrument, answers)
    QuestionnaireResponse.model_validate(qr)
    back = fq.from_questionnaire_response(instrument, qr)
    assert back == instrument.check(answers)
    assert _score_or_error(instrument, back) == _score_or_error(instrument, answers)


def test_round_trip_reads_json_text() -> None:
    """Through JSON text too (decimals come back as numbers, dates as ISO strings)."""
    import json

    answers = {"grade": 3, "weight": 72.25}
    qr = json.loads(json.dumps(fq.to_questionnaire_response(PROBE, answers)))
    assert fq.from_questionnaire_response(PROBE, qr) == {"grade": 3, "weight": 72.25}
    rta = instruments.get("return_to_activity")
    a = {"returned": 1, "date": "2024-02-29", "days": 41}
    qr = json.loads(json.dumps(fq.to_questionnaire_response(rta, a)))
    assert qr["item"][1]["answer"] == [{"valueDate": "2024-02-29"}]
    assert fq.from_questionnaire_response(rta, qr) == a


# --------------------------------------------------------------------------------------------
# refusals
# --------------------------------------------------------------------------------------------

def _odi_response() -> dict[str, Any]:
    return fq.to_questionnaire_response(instruments.get("odi"), dict.fromkeys(
        instruments.get("odi").definition.item_codes, 2))


@pytest.mark.parametrize("instrument", ALL, ids=IDS)
def test_wrong_option_code_is_refused_naming_item_and_codes(instrument: Instrument) -> None:
    item = next(i for i in instrument.definition.items if i.type is ItemType.CHOICE)
    qr = fq.to_questionnaire_response(instrument, {item.code: item.options[0].value})
    qr["item"][0]["answer"][0]["valueCoding"]["code"] = "no-such-code"
    with pytest.raises(ValidationError) as exc:
        fq.from_questionnaire_response(instrument, qr)
    assert exc.value.field == f"{instrument.definition.code}.{item.code}"
    assert exc.value.value == "no-such-code"
    assert exc.value.allowed == ", ".join(o.code for o in item.options)


def test_option_code_from_another_code_system_is_refused() -> None:
    qr = _odi_response()
    qr["item"][0]["answer"][0]["valueCoding"]["system"] = "http://snomed.info/sct"
    with pytest.raises(ValidationError) as exc:
        fq.from_questionnaire_response(instruments.get("odi"), qr)
    assert exc.value.field == "odi.pain_intensity"


def test_unknown_link_id_is_refused() -> None:
    qr = _odi_response()
    qr["item"][3]["linkId"] = "jogging"
    with pytest.raises(ValidationError) as exc:
        fq.from_questionnaire_response(instruments.get("odi"), qr)
    assert exc.value.field == "questionnaire_response.item[3].linkId"
    assert exc.value.value == "jogging" and "walking" in exc.value.allowed


@pytest.mark.parametrize("canonical", [
    "urn:spinetrack:questionnaire:rmdq",
    "urn:spinetrack:questionnaire:odi|2.0",
    "http://example.org/Questionnaire/odi",
    None,
])
def test_wrong_questionnaire_canonical_is_refused(canonical: str | None) -> None:
    qr = _odi_response()
    if canonical is None:
        del qr["questionnaire"]
    else:
        qr["questionnaire"] = canonical
    with pytest.raises(ValidationError) as exc:
        fq.from_questionnaire_response(instruments.get("odi"), qr)
    assert exc.value.field == "questionnaire_response.questionnaire"


def test_canonical_without_version_and_other_base_url_are_accepted() -> None:
    odi = instruments.get("odi")
    qr = _odi_response()
    qr["questionnaire"] = "urn:spinetrack:questionnaire:odi"
    assert fq.from_questionnaire_response(odi, qr)["walking"] == 2
    qr = fq.to_questionnaire_response(odi, {"walking": 4}, base_url="https://site.example/Questionnaire")
    assert qr["questionnaire"] == "https://site.example/Questionnaire:odi|2.1a"
    with pytest.raises(ValidationError):
        fq.from_questionnaire_response(odi, qr)
    assert fq.from_questionnaire_response(odi, qr, base_url="https://site.example/Questionnaire")["walking"] == 4


@pytest.mark.parametrize("status", ["in-progress", "stopped", "entered-in-error"])
def test_unfinished_status_is_refused(status: str) -> None:
    qr = _odi_response()
    qr["status"] = status
    with pytest.raises(ValidationError) as exc:
        fq.from_questionnaire_response(instruments.get("odi"), qr)
    assert exc.value.field == "questionnaire_response.status"
    assert exc.value.value == status and exc.value.allowed == "completed, amended"


def test_amended_status_is_accepted() -> None:
    qr = _odi_response()
    qr["status"] = "amended"
    assert fq.from_questionnaire_response(instruments.get("odi"), qr)["lifting"] == 2


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda qr: qr["item"][0]["answer"][0].update(valueInteger="abc"),
     "questionnaire_response.item[0].answer[0].valueInteger"),
    (lambda qr: qr.update(resourceType="Questionnaire"), "questionnaire_response.resourceType"),
    (lambda qr: qr.update(authored="yesterday"), "questionnaire_response.authored"),
    (lambda qr: qr["item"][1].pop("linkId"), "questionnaire_response.item[1].linkId"),
    (lambda qr: qr.update(colour="blue"), "questionnaire_response.colour"),
])
def test_invalid_fhir_is_refused_naming_the_path(mutate: Any, field: str) -> None:
    qr = _odi_response()
    mutate(qr)
    with pytest.raises(ValidationError) as exc:
        fq.from_questionnaire_response(instruments.get("odi"), qr)
    assert exc.value.field == field
    assert "not a valid FHIR QuestionnaireResponse" in str(exc.value)


def test_not_an_object_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        fq.from_questionnaire_response(instruments.get("odi"), ["not", "a", "resource"])  # type: ignore[arg-type]
    assert exc.value.field == "questionnaire_response"


@pytest.mark.parametrize(("answer", "field"), [
    ({"valueInteger": 2}, "odi.walking"),                 # a choice is answered with a Coding
    ({"valueString": "2"}, "odi.walking"),
    ({}, "odi.walking"),                                   # an answer with no value
])
def test_wrong_answer_type_is_refused(answer: dict[str, Any], field: str) -> None:
    qr = _odi_response()
    qr["item"][3]["answer"] = [answer]
    with pytest.raises(ValidationError) as exc:
        fq.from_questionnaire_response(instruments.get("odi"), qr)
    assert exc.value.field == field
    assert "valueCoding" in str(exc.value)


def test_structure_the_questionnaire_does_not_have_is_refused() -> None:
    odi = instruments.get("odi")
    twice = _odi_response()
    twice["item"].append(copy.deepcopy(twice["item"][0]))
    with pytest.raises(ValidationError) as exc:
        fq.from_questionnaire_response(odi, twice)
    assert exc.value.field == "questionnaire_response.item[10].linkId"
    two = _odi_response()
    two["item"][0]["answer"].append(copy.deepcopy(two["item"][0]["answer"][0]))
    with pytest.raises(ValidationError) as exc:
        fq.from_questionnaire_response(odi, two)
    assert exc.value.field == "questionnaire_response.item[0].answer"


def test_out_of_range_numbers_and_dates_name_the_item() -> None:
    rta = instruments.get("return_to_activity")
    qr = fq.to_questionnaire_response(rta, {"returned": 1, "days": 10, "date": "2024-01-31"})
    qr["item"][2]["answer"][0]["valueInteger"] = 4000
    with pytest.raises(ValidationError) as exc:
        fq.from_questionnaire_response(rta, qr)
    assert exc.value.field == "return_to_activity.days" and exc.value.allowed == "0 to 3650 (whole numbers)"
    qr["item"][2]["answer"][0]["valueInteger"] = 10
    qr["item"][1]["answer"][0]["valueDate"] = "2024-01"        # a valid FHIR date, but not a whole day
    with pytest.raises(ValidationError) as exc:
        fq.from_questionnaire_response(rta, qr)
    assert exc.value.field == "return_to_activity.date"
    eq = instruments.get("eq5d5l")
    qr = fq.to_questionnaire_response(eq, {"vas": 50})
    qr["item"][0]["answer"][0]["valueInteger"] = 101
    with pytest.raises(ValidationError) as exc:
        fq.from_questionnaire_response(eq, qr)
    assert exc.value.field == "eq5d5l.vas"


def test_to_questionnaire_response_refuses_bad_answers_and_naive_times() -> None:
    odi = instruments.get("odi")
    with pytest.raises(ValidationError) as exc:
        fq.to_questionnaire_response(odi, {"walking": 9})
    assert exc.value.field == "odi.walking"
    with pytest.raises(ValidationError) as exc:
        fq.to_questionnaire_response(odi, {"walking": 1}, authored=dt.datetime(2024, 1, 1, 9, 0))
    assert exc.value.field == "questionnaire_response.authored"
    qr = fq.to_questionnaire_response(odi, {"walking": 1}, subject={"reference": "Patient/7"},
                                      authored=dt.date(2024, 1, 1))
    assert qr["subject"] == {"reference": "Patient/7"} and qr["authored"] == "2024-01-01"


# --------------------------------------------------------------------------------------------
# a hand-written response, as another FHIR system would send it
# --------------------------------------------------------------------------------------------

HL7_STYLE_ODI_RESPONSE: dict[str, Any] = {
    "resourceType": "QuestionnaireResponse",
    "id": "odi-response-example",
    "meta": {"lastUpdated": "2024-03-01T09:41:00+01:00"},
    "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">ODI response</div>"},
    "identifier": {"system": "urn:example:site:forms", "value": "F-2024-00017"},
    "questionnaire": "urn:spinetrack:questionnaire:odi",
    "status": "completed",
    "subject": {"reference": "Patient/example", "display": "Example patient"},
    "authored": "2024-03-01T09:30:00+01:00",
    "author": {"reference": "Patient/example"},
    "source": {"reference": "Patient/example"},
    "item": [
        {"linkId": "pain_intensity", "text": "Pain intensity",
         "answer": [{"valueCoding": {"system": "urn:spinetrack:instrument:odi:pain_intensity", "code": "0",
                                     "display": "Statement 1 of 6"}}]},
        {"linkId": "personal_care", "text": "Personal care",
         "answer": [{"valueCoding": {"system": "urn:spinetrack:instrument:odi:personal_care", "code": "2"}}]},
        # a system that sends the code alone (no system) is understood too
        {"linkId": "lifting", "answer": [{"valueCoding": {"code": "2"}}]},
        {"linkId": "walking", "answer": [{"valueCoding": {"code": "2", "userSelected": True}}]},
        {"linkId": "sitting", "answer": [{"valueCoding": {"code": "2"}}]},
        {"linkId": "standing", "answer": [{"valueCoding": {"code": "2"}}]},
        {"linkId": "sleeping", "answer": [{"valueCoding": {"code": "2"}}]},
        {"linkId": "sex_life", "text": "Sex life (if applicable)"},          # shown, not answered
        {"linkId": "social_life", "answer": [{"valueCoding": {"code": "2"}}]},
        {"linkId": "travelling", "answer": [{"valueCoding": {"code": "2"}}]},
    ],
}


def test_hl7_style_odi_response() -> None:
    """Fairbank & Pynsent 2000 worked example (as in test_odi): one section missing, 16/45 = 35.6%."""
    QuestionnaireResponse.model_validate(HL7_STYLE_ODI_RESPONSE)
    odi = instruments.get("odi")
    answers = fq.from_questionnaire_response(odi, copy.deepcopy(HL7_STYLE_ODI_RESPONSE))
    assert answers == {"pain_intensity": 0, "personal_care": 2, "lifting": 2, "walking": 2, "sitting": 2,
                       "standing": 2, "sleeping": 2, "sex_life": None, "social_life": 2, "travelling": 2}
    s = odi.score(answers)
    assert s.valid and round(s.total, 1) == 35.6 and s.n_answered == 9
    # the same response with an item left out entirely reads the same
    trimmed = copy.deepcopy(HL7_STYLE_ODI_RESPONSE)
    trimmed["item"] = [i for i in trimmed["item"] if i["linkId"] != "sex_life"]
    assert fq.from_questionnaire_response(odi, trimmed) == answers


def test_rmdq_questionnaire_is_tick_only_and_a_response_of_ticks_alone_scores() -> None:
    """Oracle: the RMDQ authors' rule (Roland & Morris, Spine
    1983;8(2):141-144; Roland & Fairbank, Spine 2000;25(24):3115-3124): the patient ticks the
    statements that apply, an unticked statement counts as "no" and no yes/no is forced on each
    statement. So no item of the Questionnaire is required, and a QuestionnaireResponse that lists
    only the ticked statements (2, 5, 9, 14, 21) scores their number, 5."""
    rmdq = instruments.get("rmdq")
    q = fq.to_questionnaire(rmdq)
    assert len(q["item"]) == 24 and not any(item["required"] for item in q["item"])
    first = q["item"][0]
    assert [(o["valueCoding"]["code"], o["valueCoding"]["display"], o["extension"][0]["valueDecimal"])
            for o in first["answerOption"]] == [("no", "not ticked", 0), ("yes", "ticked", 1)]
    assert "unticked statement counts as no" in q["description"]
    ticked = ("s02", "s05", "s09", "s14", "s21")
    qr = fq.to_questionnaire_response(rmdq, dict.fromkeys(ticked, 1), subject="Patient/1")
    assert [item["linkId"] for item in qr["item"]] == list(ticked)
    answers = fq.from_questionnaire_response(rmdq, qr)
    assert sum(v == 1 for v in answers.values()) == 5
    score = rmdq.score(answers)
    assert score.valid and score.total == 5.0
