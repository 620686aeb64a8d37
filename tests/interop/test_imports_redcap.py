"""REDCap imports (:mod:`spinetrack.interop.imports.redcap`): a longitudinal records export with
its data dictionary and a mapping, on SQLite.

The files follow REDCap's own formats (our made-up data): the data dictionary's CSV columns
("Variable / Field Name", "Form Name", "Field Type", "Choices, Calculations, OR Slider Labels" with
choices written ``"1, Female | 2, Male"``), the flat records export with ``redcap_event_name`` for
longitudinal projects, ``redcap_repeat_instrument`` / ``redcap_repeat_instance`` for repeating
instruments and ``<field>___<code>`` columns for checkboxes.

ODI reference (STANDARDS.md, Fairbank & Pynsent 2000): sum / (5 x answered sections) x 100.
Record 101's baseline: REDCap codes 4,2,4,3,3,3,2,-,2,2 map (code - 1) to 3,1,3,2,2,2,1,-,1,1:
16 over 9 sections = 16/45 x 100 = 35.6 %; its 3-month answers sum to 5 over 10 sections: 10 %.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from spinetrack.interop.imports.redcap import RedcapMappingError, load_mapping, read_dictionary, read_redcap
from spinetrack.store.imports import write_records
from spinetrack.store.repositories import SYSTEM, Store
from spinetrack.store.session import make_engine
from spinetrack.store.tables import ComplicationRow, EpisodeRow, PromResponseRow

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "import" / "redcap"
EXPORT, DICT, MAP = SAMPLE / "records_export.csv", SAMPLE / "data_dictionary.csv", SAMPLE / "mapping.json"


@pytest.fixture
def sqlite_engine(tmp_path: Path, _sqlite_head: Path) -> Engine:
    path = tmp_path / "db.sqlite"
    shutil.copyfile(_sqlite_head, path)
    return make_engine(f"sqlite:///{path}")


def _mapping(tmp_path: Path, change: dict[str, object]) -> Path:
    raw = json.loads(MAP.read_text(encoding="utf-8"))
    for dotted, value in change.items():
        *parents, last = dotted.split(".")
        node = raw
        for key in parents:
            node = node[key]
        node[last] = value
    out = tmp_path / "mapping.json"
    out.write_text(json.dumps(raw), encoding="utf-8")
    return out


def test_longitudinal_events_map_to_timepoints_and_are_scored(sqlite_engine: Engine) -> None:
    src = read_redcap(EXPORT, dictionary=DICT, mapping=MAP)
    res = write_records(Store(sqlite_engine), SYSTEM, source_system=src.mapping.source_system or "redcap",
                        records=src, files=src.files)
    assert res.ok and res.stored, [p.message for p in res.errors]
    assert {e: c.created for e, c in res.counts.items() if c.created} == {
        "site": 1, "patient": 3, "episode": 3, "procedure": 3, "complication": 1, "response": 16}
    with sqlite_engine.connect() as c:
        rows = c.execute(select(PromResponseRow.timepoint, PromResponseRow.score, PromResponseRow.days_from_index)
                         .where(PromResponseRow.episode_id == res.ids["episode"]["101"],
                                PromResponseRow.instrument == "odi").order_by(PromResponseRow.collected_on)).all()
        assert [(tp, round(float(score), 1), days) for tp, score, days in rows] == [
            ("baseline", 35.6, -20), ("3m", 10.0, 91), ("12m", 4.0, 364)]
        # the checkbox columns cons_care___1..3 became the list of conservative care options
        assert c.execute(select(EpisodeRow.conservative_care).where(
            EpisodeRow.id == res.ids["episode"]["102"])).scalar_one() == "physiotherapy,injection"
        # the repeating instrument 'complications' (instance 1 of record 101)
        assert c.execute(select(ComplicationRow.category, ComplicationRow.clavien_dindo).where(
            ComplicationRow.id == res.ids["complication"]["101/1"])).one() == ("dural_tear", "I")
    again = write_records(Store(sqlite_engine), SYSTEM, source_system=src.mapping.source_system or "redcap",
                          records=src)
    assert again.totals().created == 0 and again.totals().unchanged == 27


def test_mapping_problems_name_the_field(tmp_path: Path) -> None:
    bad = _mapping(tmp_path, {
        "patient.fields.birth_year": "year_of_birth",                               # not in the dictionary
        "patient.fields.sex": {"field": "sex", "choices": {"1": "female", "9": "male"}},  # code 9 not listed
        "events.month_3_arm_1": "4m",                                               # not a timepoint
        "instruments.odi.items.lifting_weights": "odi_3",                           # not an ODI item
        "episode.fields.diagnosis": "dx",                                           # not our field
    })
    with pytest.raises(RedcapMappingError) as exc:
        load_mapping(bad, read_dictionary(DICT))
    text = "\n".join(exc.value.problems)
    assert "patient.fields.birth_year: the REDCap field 'year_of_birth' is not in the data dictionary" in text
    assert "patient.fields.sex.choices: REDCap code 9 not among the choices of 'sex'" in text
    assert "events.month_3_arm_1: '4m' is not a timepoint" in text
    assert "instruments.odi.items.lifting_weights: not an item of odi" in text
    assert "episode.fields.diagnosis: not a spinetrack episode field" in text
    assert len(exc.value.problems) == 5


def test_an_answer_value_outside_the_instrument_is_a_mapping_problem(tmp_path: Path) -> None:
    bad = _mapping(tmp_path, {"instruments.odi.items.walking": {"field": "odi_4", "choices": {"1": 1, "6": 6}}})
    with pytest.raises(RedcapMappingError, match=r"instruments.odi.items.walking.choices: 6 is not one of ours"):
        load_mapping(bad, read_dictionary(DICT))


def test_an_event_missing_from_the_mapping(tmp_path: Path) -> None:
    raw = json.loads(MAP.read_text(encoding="utf-8"))
    del raw["events"]["month_12_arm_1"]
    path = tmp_path / "m.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(RedcapMappingError, match=r"records_export.csv:6: the event 'month_12_arm_1'"):
        read_redcap(EXPORT, dictionary=DICT, mapping=path)


def test_a_value_outside_our_codes_is_reported_with_its_line(sqlite_engine: Engine, tmp_path: Path) -> None:
    export = tmp_path / "records_export.csv"
    text = EXPORT.read_text(encoding="utf-8").splitlines()
    # record 102's smoking answer is a code the mapping does not translate (REDCap allows 0-2)
    line = next(i for i, row in enumerate(text) if row.startswith("102,enrolment_arm_1"))
    cells = text[line].split(",")
    cells[9] = "7"
    text[line] = ",".join(cells)
    export.write_text("\n".join(text) + "\n", encoding="utf-8")
    res = write_records(Store(sqlite_engine), SYSTEM, source_system="redcap:t",
                        records=read_redcap(export, dictionary=DICT, mapping=MAP))
    first = res.errors[0]
    assert (first.location, first.field, first.value, first.allowed) == (
        f"records_export.csv:{line + 1}", "patient.smoking", "7", "never, former, current")
    assert not res.stored
