"""``spinetrack ichom [--json]`` on a demo database: each ICHOM Low Back Pain variable with its
field, and completeness per timepoint checked against a direct SQL count.

Reference values: completeness = responded / eligible, eligible = episodes with an index date
whose window for the timepoint (``domain.pathway.TIMEPOINTS``) has opened by the as-of date and
that had not ended before it opened — the rule ``store.ichom`` documents; the direct counts below
apply it in SQL, independently of the code under test.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from typer.testing import CliRunner

from spinetrack import clock
from spinetrack.cli import app
from spinetrack.domain.pathway import TIMEPOINTS
from spinetrack.store.repositories import Actor, Store

runner = CliRunner()
AS_OF = clock.today()
WINDOW_FROM = {tp.code: tp.window_from_days for tp in TIMEPOINTS}


_ELIGIBLE = """SELECT id FROM episodes WHERE index_date IS NOT NULL
               AND date(index_date, printf('%+d days', :from_days)) <= :as_of
               AND (ended_on IS NULL OR ended_on >= date(index_date, printf('%+d days', :from_days)))"""


def _cli(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A 300-patient demo with, added here: work status and analgesic answers at 12 months for
    the first 40 episodes whose 12-month window has opened, a pulmonary embolism, and one
    episode ended before its 24-month window opened."""
    path = tmp_path_factory.mktemp("ichom") / "demo.db"
    url = f"sqlite:///{path}"
    _cli("demo", "--patients", "300", "--seed", "3", "--no-logins", "--database-url", url, "--json")
    con = sqlite3.connect(path)
    rows = con.execute("""SELECT e.id, e.index_date, p.site_id FROM episodes e JOIN patients p ON p.id = e.patient_id
                          WHERE e.index_date IS NOT NULL ORDER BY e.id""").fetchall()
    engine = create_engine(url)
    store = Store(engine)
    added = 0
    for eid, index_date, site_id in rows:
        on = dt.date.fromisoformat(index_date) + dt.timedelta(days=365)
        if on > AS_OF or added == 40:
            continue
        actor = Actor("test", "clinician", site_id)
        common = {"timepoint": "12m", "collected_on": on.isoformat()}
        store.submit_response(actor, eid, {"instrument": "work_status", **common, "answers": {"status": 1 + added % 7}})
        if added % 2 == 0:
            store.submit_response(actor, eid, {"instrument": "analgesics", **common,
                                               "answers": {"frequency": added % 3, "opioid": 0}})
        added += 1
    assert added == 40
    operated = con.execute("SELECT p.id, p.episode_id, p.performed_on FROM procedures p ORDER BY p.id").fetchall()
    con.execute("INSERT INTO complications (episode_id, procedure_id, category, clavien_dindo, occurred_on, "
                "created_at) VALUES (?, ?, 'pulmonary_embolism', 'IVa', ?, '2024-01-01 00:00:00')",
                (operated[0][1], operated[0][0], operated[0][2]))
    # the last episode whose 24-month window has opened ends the day before it opened
    ended = con.execute("""SELECT id, index_date FROM episodes WHERE index_date IS NOT NULL
                           AND date(index_date, '+548 days') <= ? ORDER BY id DESC LIMIT 1""",
                        (AS_OF.isoformat(),)).fetchone()
    end_on = dt.date.fromisoformat(ended[1]) + dt.timedelta(days=547)
    con.execute("UPDATE episodes SET ended_on = ?, end_reason = 'withdrew' WHERE id = ?",
                (end_on.isoformat(), ended[0]))
    # five 12-month EQ-5D-5L responses (of eligible episodes) without the EQ VAS, as from a paper form left blank
    con.execute(f"""UPDATE prom_responses SET answers = json_set(answers, '$.vas', json('null'))
                    WHERE id IN (SELECT id FROM prom_responses WHERE instrument = 'eq5d5l' AND timepoint = '12m'
                                 AND valid = 1 AND episode_id IN ({_ELIGIBLE}) ORDER BY id LIMIT 5)""",
                {"from_days": WINDOW_FROM["12m"], "as_of": AS_OF.isoformat()})
    con.commit()
    con.close()
    engine.dispose()
    return url, path


def _doc(url: str, *extra: str) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(_cli("ichom", "--json", "--as-of", AS_OF.isoformat(), "--database-url", url,
                                          *extra).stdout)
    return out


def _direct(con: sqlite3.Connection, tp: str, instrument: str, item: str | None = None) -> tuple[int, int]:
    params = {"from_days": WINDOW_FROM[tp], "as_of": AS_OF.isoformat(), "tp": tp, "inst": instrument}
    eligible = con.execute(f"SELECT COUNT(*) FROM ({_ELIGIBLE})", params).fetchone()[0]
    extra = f" AND json_extract(r.answers, '$.{item}') IS NOT NULL" if item else ""
    responded = con.execute(f"""SELECT COUNT(DISTINCT r.episode_id) FROM prom_responses r
                                WHERE r.timepoint = :tp AND r.instrument = :inst AND r.valid = 1{extra}
                                AND r.episode_id IN ({_ELIGIBLE})""", params).fetchone()[0]
    return responded, eligible


def test_completeness_per_timepoint_matches_a_direct_count(demo_db: tuple[str, Path]) -> None:
    url, path = demo_db
    doc = _doc(url)
    assert [t["code"] for t in doc["timepoints"]] == ["baseline", "3m", "6m", "12m", "24m", "5y"]
    assert {t["code"]: t["ichom"] for t in doc["timepoints"]}["6m"] == "required"
    con = sqlite3.connect(path)
    proms = [v for v in doc["variables"] if v["group"] == "prom"]
    assert [v["key"] for v in proms] == ["nrs_back", "nrs_leg", "odi", "eq5d", "eq_vas", "work_status", "analgesics"]
    checked = 0
    for v in proms:
        field = v["field"].removeprefix("prom:")
        instrument, _, item = field.partition(".")
        for tp, cell in v["completeness"].items():
            responded, eligible = _direct(con, tp, instrument, item or None)
            assert (cell["responded"], cell["eligible"]) == (responded, eligible), (v["key"], tp)
            assert cell["completeness"] == (round(responded / eligible, 4) if eligible else None)
            checked += responded
    assert checked > 0
    by_key = {v["key"]: v for v in doc["variables"]}
    assert by_key["work_status"]["completeness"]["12m"]["responded"] == 40
    assert by_key["analgesics"]["completeness"]["12m"]["responded"] == 20
    # the EQ VAS counts only where its item is answered
    eq5d_12m, vas_12m = (by_key[k]["completeness"]["12m"]["responded"] for k in ("eq5d", "eq_vas"))
    assert vas_12m == eq5d_12m - 5
    # every ICHOM timepoint is reported, whether or not it holds data
    assert by_key["odi"]["completeness"]["6m"]["eligible"] > 0
    # case-mix: eligible-at-baseline episodes whose patient has the field
    bmi = con.execute(f"""SELECT COUNT(*) FROM episodes e JOIN patients p ON p.id = e.patient_id
                          WHERE p.bmi IS NOT NULL AND e.id IN ({_ELIGIBLE})""",
                      {"from_days": WINDOW_FROM["baseline"], "as_of": AS_OF.isoformat()}).fetchone()[0]
    assert by_key["bmi"]["completeness"]["baseline"]["responded"] == bmi and not by_key["bmi"]["ichom"]
    con.close()


def test_an_episode_that_ended_before_the_window_opened_is_not_eligible(demo_db: tuple[str, Path]) -> None:
    url, path = demo_db
    doc = _doc(url)
    con = sqlite3.connect(path)
    with_index = con.execute(f"""SELECT COUNT(*) FROM episodes WHERE index_date IS NOT NULL
                                 AND date(index_date, '+{WINDOW_FROM['24m']} days') <= ?""",
                             (AS_OF.isoformat(),)).fetchone()[0]
    con.close()
    tp24 = next(t for t in doc["timepoints"] if t["code"] == "24m")
    assert tp24["eligible"] == with_index - 1


def test_complications_are_counted_per_ichom_complication(demo_db: tuple[str, Path]) -> None:
    url, path = demo_db
    doc = _doc(url)
    ev = {v["key"]: v["events"] for v in doc["variables"] if "events" in v}
    assert list(ev) == ["operative_mortality", "nerve_root_injury", "deep_wound_infection", "pulmonary_embolus",
                        "wrong_site_procedure", "vascular_injury", "dural_tear", "other", "rehospitalisation"]
    con = sqlite3.connect(path)

    def episodes_with(where: str) -> int:
        return int(con.execute(f"""SELECT COUNT(DISTINCT c.episode_id) FROM complications c
                                   WHERE {where} AND c.episode_id IN (SELECT episode_id FROM procedures)"""
                               ).fetchone()[0])

    assert ev["dural_tear"]["episodes_with_event"] == episodes_with("c.category = 'dural_tear'") > 0
    assert ev["pulmonary_embolus"]["episodes_with_event"] == 1
    assert ev["operative_mortality"]["episodes_with_event"] == episodes_with("c.clavien_dindo = 'V'")
    assert ev["other"]["episodes_with_event"] == episodes_with(
        "c.category IN ('other', 'ssi_superficial', 'venous_thromboembolism')")
    readmitted = con.execute("""SELECT COUNT(DISTINCT episode_id) FROM readmissions
                                WHERE episode_id IN (SELECT episode_id FROM procedures)""").fetchone()[0]
    assert ev["rehospitalisation"]["episodes_with_event"] == readmitted
    operated = con.execute("SELECT COUNT(DISTINCT episode_id) FROM procedures").fetchone()[0]
    assert {e["operated_episodes"] for e in ev.values()} == {operated}
    con.close()


def test_before_any_index_date_every_timepoint_is_empty(demo_db: tuple[str, Path]) -> None:
    url, _ = demo_db
    doc = json.loads(_cli("ichom", "--json", "--as-of", "1990-01-01", "--database-url", url).stdout)
    assert all(t["eligible"] == 0 for t in doc["timepoints"])
    for v in doc["variables"]:
        for cell in v.get("completeness", {}).values():
            assert cell == {"responded": 0, "eligible": 0, "completeness": None}


def test_the_table_names_each_variable_and_its_field(demo_db: tuple[str, Path]) -> None:
    url, _ = demo_db
    result = runner.invoke(app, ["ichom", "--as-of", AS_OF.isoformat(), "--database-url", url],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in ("prom:eq5d5l", "prom:work_status", "prom:analgesics", "patients.bmi", "bmi [ours]",
                 "pulmonary_embolus", "Clavien-Dindo V", "readmissions", "5y opt.", "ICHOM names the 3L"):
        assert text in out, text


def test_a_bad_date_is_refused_naming_the_field(demo_db: tuple[str, Path]) -> None:
    result = runner.invoke(app, ["ichom", "--json", "--as-of", "2025-13-01", "--database-url", demo_db[0]])
    assert result.exit_code == 2 and json.loads(result.stdout)["field"] == "as_of"


def test_the_query_gives_the_same_counts_on_sqlite_and_postgresql(engine: Any) -> None:
    """Two operated episodes 400 days ago (12-month window open) and one 100 days ago (only the
    3-month window open): 12 months eligible 2, responded 1 (ODI and work status), 3 months eligible 3."""
    from spinetrack.store.ichom import ichom_completeness
    from spinetrack.store.repositories import SYSTEM

    store = Store(engine)
    site = store.add_site(SYSTEM, code="S1", name="Site 1", country="GB")
    actor = Actor("test", "clinician", site)
    eids = []
    for k, days_ago in enumerate((400, 400, 100)):
        surgery = AS_OF - dt.timedelta(days=days_ago)
        pid = store.add_patient(actor, site, {"pseudo_id": f"P-{k}", "birth_year": 1960, "sex": "male",
                                              "bmi": 25.0 if k else None})
        eid = store.add_episode(actor, pid, {"diagnosis_code": "M51.16", "levels": "L4-L5",
                                             "enrolled_on": (surgery - dt.timedelta(days=10)).isoformat(),
                                             "treatment": "open", "treatment_family": "discectomy"})
        store.add_procedure(actor, eid, {"procedure_code": "discectomy_open", "performed_on": surgery.isoformat(),
                                         "levels": "L4-L5"})
        eids.append((eid, surgery))
    eid, surgery = eids[0]
    on = (surgery + dt.timedelta(days=365)).isoformat()
    odi_items = ("pain_intensity", "personal_care", "lifting", "walking", "sitting", "standing", "sleeping",
                 "sex_life", "social_life", "travelling")
    store.submit_response(actor, eid, {"instrument": "odi", "timepoint": "12m", "collected_on": on,
                                       "answers": dict.fromkeys(odi_items, 1)})
    store.submit_response(actor, eid, {"instrument": "work_status", "timepoint": "12m", "collected_on": on,
                                       "answers": {"status": 2}})
    store.add_readmission(actor, eids[1][0], {"admitted_on": (eids[1][1] + dt.timedelta(days=5)).isoformat()})
    doc = ichom_completeness(engine, as_of=AS_OF)
    by_key = {v["key"]: v for v in doc["variables"]}
    assert by_key["odi"]["completeness"]["12m"] == {"responded": 1, "eligible": 2, "completeness": 0.5}
    assert by_key["work_status"]["completeness"]["12m"]["responded"] == 1
    assert by_key["odi"]["completeness"]["3m"]["eligible"] == 3
    assert by_key["odi"]["completeness"]["24m"]["eligible"] == 0
    assert by_key["bmi"]["completeness"]["baseline"] == {"responded": 2, "eligible": 3, "completeness": 0.6667}
    assert by_key["rehospitalisation"]["events"]["episodes_with_event"] == 1
    assert by_key["rehospitalisation"]["events"]["operated_episodes"] == 3
    assert ichom_completeness(engine, as_of=AS_OF, site_id=site + 1)["timepoints"][0]["eligible"] == 0
