"""The demo cohort dated relative to today: the same drawn values as the generator's own calendar,
moved in time so that enrolment ends shortly before today, with nothing stored after today, and
fictitious contact details on reserved names only (RFC 2606 example.org; Ofcom's drama range
07700 900000-900999)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from spinetrack.domain.pathway import TIMEPOINTS
from spinetrack.store.migrate import upgrade
from spinetrack.store.session import make_engine
from spinetrack.store.tables import Base
from spinetrack.synth.cohort import ENROL_SPAN_DAYS, EPOCH, Dating
from spinetrack.synth.demo_access import DEMO_PHONE_RANGE, demo_contact, demo_schedule_entries, seed_demo_access
from spinetrack.synth.load import DEMO_SITE_CONTACTS, ENROL_LAG_DAYS, load_demo

TODAY = dt.date(2026, 11, 24)  # a fixed "today", so the cut is the same whatever the date of the run
PATIENTS, SEED = 1500, 3
DATE_COLUMNS = {  # table → its date columns
    "patients": ("created_at",), "episodes": ("enrolled_on", "index_date", "created_at"),
    "procedures": ("performed_on", "created_at"), "complications": ("occurred_on", "created_at"),
    "readmissions": ("admitted_on", "created_at"), "reoperations": ("performed_on", "created_at"),
    "prom_responses": ("collected_on", "created_at"), "sites": ("created_at",),
    "patient_identities": ("updated_at", "opted_out_at"),
}


def _load(path: Path, relative_to: dt.date | None) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    load_demo(engine, patients=PATIENTS, seed=SEED, relative_to=relative_to)
    seed_demo_access(engine, today=relative_to)
    return engine


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, Engine]]:
    d = tmp_path_factory.mktemp("relative")
    rel, fixed = _load(d / "relative.db", TODAY), _load(d / "fixed.db", None)
    yield rel, fixed
    rel.dispose()
    fixed.dispose()


def _rows(engine: Engine, table: str) -> list[dict[str, Any]]:
    t = Base.metadata.tables[table]
    with engine.connect() as c:
        return [dict(r) for r in c.execute(select(t).order_by(*t.primary_key.columns)).mappings()]


def _as_date(v: dt.date | dt.datetime) -> dt.date:
    return v.date() if isinstance(v, dt.datetime) else v


def test_nothing_is_dated_after_today(cohorts: tuple[Engine, Engine]) -> None:
    rel, _ = cohorts
    for table, cols in DATE_COLUMNS.items():
        rows = _rows(rel, table)
        assert rows, table
        for col in cols:
            latest = max((_as_date(r[col]) for r in rows if r[col] is not None), default=None)
            assert latest is None or latest <= TODAY, (table, col, latest)


def test_enrolment_ends_shortly_before_today_and_spans_five_years(cohorts: tuple[Engine, Engine]) -> None:
    rel, _ = cohorts
    with rel.connect() as c:
        first, last = (dt.date.fromisoformat(str(v)) for v in c.execute(
            text("SELECT MIN(enrolled_on), MAX(enrolled_on) FROM episodes")).one())
    assert TODAY - dt.timedelta(days=ENROL_LAG_DAYS + 30) <= last <= TODAY - dt.timedelta(days=ENROL_LAG_DAYS)
    assert (last - first).days > 5 * 365 - 30
    dating = Dating.relative_to(TODAY, lag_days=ENROL_LAG_DAYS)
    last_possible = (EPOCH + (ENROL_SPAN_DAYS - 1 + dating.shift_days)).astype(dt.date)
    assert last_possible == TODAY - dt.timedelta(days=ENROL_LAG_DAYS)


def test_part_of_the_cohort_is_still_in_follow_up(cohorts: tuple[Engine, Engine]) -> None:
    """By the schedule's windows (domain.pathway.TIMEPOINTS): some episodes have a window open
    today, some a window that closed without an answer (the scheduler will call them missed),
    some a window still to come; a few are enrolled and not yet treated (no index date)."""
    rel, _ = cohorts
    episodes = _rows(rel, "episodes")
    with rel.connect() as c:
        answered = {(e, tp) for e, tp in c.execute(text("SELECT DISTINCT episode_id, timepoint FROM prom_responses"))}
    windows = {tp.code: (tp.window_from_days, tp.window_to_days) for tp in TIMEPOINTS if tp.code != "baseline"}
    counts = {"open": 0, "closed_unanswered": 0, "future": 0}
    for e in episodes:
        if e["index_date"] is None:
            continue
        for code in ("3m", "12m", "24m"):
            lo, hi = windows[code]
            opens, closes = e["index_date"] + dt.timedelta(days=lo), e["index_date"] + dt.timedelta(days=hi)
            if opens <= TODAY <= closes:
                counts["open"] += 1
            elif closes < TODAY and (e["id"], code) not in answered:
                counts["closed_unanswered"] += 1
            elif opens > TODAY:
                counts["future"] += 1
    assert min(counts.values()) >= 20, counts
    untreated = [e for e in episodes if e["index_date"] is None]
    assert untreated and all(e["treatment"] is None and e["enrolled_on"] > TODAY - dt.timedelta(days=130)
                             for e in untreated)
    with rel.connect() as c:
        assert not c.execute(text("SELECT COUNT(*) FROM procedures WHERE episode_id IN "
                                  "(SELECT id FROM episodes WHERE index_date IS NULL)")).scalar_one()


def test_drawn_values_are_unchanged_only_dates_move(cohorts: tuple[Engine, Engine]) -> None:
    """Each stored row of the dated cohort is the row of the generator's own calendar with its
    dates moved by the same number of days; what is left out is exactly what would lie after today."""
    rel, fixed = cohorts
    shift = dt.timedelta(days=Dating.relative_to(TODAY, lag_days=ENROL_LAG_DAYS).shift_days)
    ep_r, ep_f = _rows(rel, "episodes"), _rows(fixed, "episodes")
    assert len(ep_r) == len(ep_f) == PATIENTS
    for r, f in zip(ep_r, ep_f, strict=True):
        assert r["enrolled_on"] == f["enrolled_on"] + shift
        assert (r["diagnosis_code"], r["levels"], r["n_levels"]) == (f["diagnosis_code"], f["levels"], f["n_levels"])
        if r["index_date"] is not None:
            assert r["index_date"] == f["index_date"] + shift and r["treatment"] == f["treatment"]
        else:
            assert f["index_date"] + shift > TODAY
    pat_r, pat_f = _rows(rel, "patients"), _rows(fixed, "patients")
    enrol_year = {e["patient_id"]: (e["enrolled_on"].year, f["enrolled_on"].year) for e, f in zip(ep_r, ep_f,
                                                                                                   strict=True)}
    for r, f in zip(pat_r, pat_f, strict=True):
        yr, yf = enrol_year[r["id"]]
        assert yr - r["birth_year"] == yf - f["birth_year"]  # the same age at enrolment
        assert [r[k] for k in ("sex", "bmi", "smoking", "diabetes", "asa_grade", "work_status")] == [
            f[k] for k in ("sex", "bmi", "smoking", "diabetes", "asa_grade", "work_status")]

    def key(x: dict[str, Any]) -> tuple[Any, ...]:
        return x["episode_id"], x["timepoint"], x["instrument"]

    resp_r = {key(x): x for x in _rows(rel, "prom_responses")}
    resp_f = {key(x): x for x in _rows(fixed, "prom_responses")}
    kept = {k for k, x in resp_f.items() if x["collected_on"] + shift <= TODAY}
    assert set(resp_r) == kept and len(kept) < len(resp_f)
    for k in kept:
        r, f = resp_r[k], resp_f[k]
        assert r["collected_on"] == f["collected_on"] + shift
        assert (r["answers"], r["score"], r["valid"]) == (f["answers"], f["score"], f["valid"]) or (
            k[2] == "return_to_activity" and "date" in r["answers"])
        assert r["days_from_index"] == f["days_from_index"] or (k[1] == "baseline" and r["days_from_index"] is None)

    cols = ("procedure_code", "approach", "ebl_ml", "op_time_min", "los_days", "fluoro_s", "incision_mm")
    proc_f = {p["id"]: p for p in _rows(fixed, "procedures")}
    proc_r = _rows(rel, "procedures")
    assert proc_r and len(proc_r) < len(proc_f)
    for p in proc_r:
        assert [p[c] for c in cols] == [proc_f[p["id"]][c] for c in cols]
        assert p["performed_on"] == proc_f[p["id"]]["performed_on"] + shift


def test_return_to_activity_dates_move_with_the_cohort(cohorts: tuple[Engine, Engine]) -> None:
    rel, fixed = cohorts
    shift = dt.timedelta(days=Dating.relative_to(TODAY, lag_days=ENROL_LAG_DAYS).shift_days)
    t = Base.metadata.tables["prom_responses"]
    q = select(t.c.episode_id, t.c.timepoint, t.c.answers).where(t.c.instrument == "return_to_activity")
    with rel.connect() as c:
        r = {(e, tp): a for e, tp, a in c.execute(q) if "date" in a}
    with fixed.connect() as c:
        f = {(e, tp): a for e, tp, a in c.execute(q) if "date" in a}
    assert r
    for k, a in r.items():
        assert dt.date.fromisoformat(a["date"]) == dt.date.fromisoformat(f[k]["date"]) + shift


def test_contact_details_are_fictitious_on_reserved_names(cohorts: tuple[Engine, Engine]) -> None:
    """E-mail only under example.org (RFC 2606 section 3); phones only in 07700 900000-900999
    (Ofcom's numbers for drama); most have an e-mail, some a phone, a few neither (letters, with
    an address); a few did not consent; one patient in 1,000 opted out before today."""
    rel, _ = cohorts
    ids = _rows(rel, "patient_identities")
    assert len(ids) == PATIENTS
    lo, hi = DEMO_PHONE_RANGE
    for i in ids:
        assert i["email"] is None or i["email"].endswith("@example.org")
        assert i["phone"] is None or (i["phone"].startswith("+") and lo <= int(i["phone"][1:]) <= hi)
        assert i["postal_address"] and "fictitious" in i["postal_address"]
        assert i["channel"] in {"email", "sms", "letter"}
        if i["channel"] == "email":
            assert i["email"]
        if i["channel"] == "sms":
            assert i["phone"]
        if i["channel"] == "letter":
            assert i["email"] is None and i["phone"] is None
    n = len(ids)
    share = {k: sum(bool(i[k]) for i in ids) / n for k in ("email", "phone")}
    neither = sum(i["email"] is None and i["phone"] is None for i in ids) / n
    assert share["email"] > 0.7 and 0.15 < share["phone"] < 0.5 and 0.02 < neither < 0.15, (share, neither)
    no_consent = sum(not i["contact_consent"] for i in ids)
    assert 0 < no_consent < 0.1 * n
    opted = [i for i in ids if i["opted_out_at"] is not None]
    assert [i["patient_id"] for i in opted] == [500, 1500] and all(i["opted_out_at"].date() < TODAY for i in opted)
    sites = _rows(rel, "sites")
    assert {s["code"]: (s["contact_phone"], s["contact_email"]) for s in sites} == DEMO_SITE_CONTACTS
    for phone, email in DEMO_SITE_CONTACTS.values():
        assert lo <= int(phone[1:]) <= hi and email.endswith(".example.org")


def test_demo_contact_is_a_pure_function_of_the_patient() -> None:
    one = demo_contact(42, "Pabc", TODAY)
    assert one == demo_contact(42, "Pabc", TODAY)
    assert demo_contact(500, "Pabc", TODAY)["opted_out_at"] is not None and one["opted_out_at"] is None


def test_the_scheduler_run_after_loading_shows_open_and_missed_visits(cohorts: tuple[Engine, Engine]) -> None:
    """After one run of the follow-up scheduler on the dated cohort with the demo clinics'
    schedule (what ``spinetrack demo`` does): at every scheduled timepoint some visits completed by
    the synthetic answers, some missed, some open, some still to come; the outbox holds messages
    (held: no channel configured)."""
    followup = pytest.importorskip("spinetrack.followup")
    if not hasattr(followup, "run"):
        pytest.skip("spinetrack.followup.run is not built yet")
    from spinetrack.followup.schedule import set_site_schedule
    from spinetrack.store.repositories import SYSTEM, Store

    rel, _ = cohorts
    store = Store(rel)
    for site in _rows(rel, "sites"):
        set_site_schedule(store, SYSTEM, site["id"], demo_schedule_entries())
    followup.run(store, now=dt.datetime.combine(TODAY, dt.time(10)), channels=None, link_base="http://127.0.0.1:8000")
    with rel.connect() as c:
        status = {(tp, s): n for tp, s, n in c.execute(
            text("SELECT timepoint, status, COUNT(*) FROM followups GROUP BY timepoint, status"))}
        outbox = {s: n for s, n in c.execute(text("SELECT status, COUNT(*) FROM outbox GROUP BY status"))}
    for tp in ("3m", "6m", "12m", "24m"):
        for st in ("completed", "missed", "open", "pending"):
            assert status.get((tp, st), 0) > 0, (tp, st, status)
        assert status[(tp, "completed")] > status[(tp, "missed")]
    assert outbox.get("held", 0) > 0 and not outbox.get("sent"), outbox


def test_the_six_month_visit_is_answered(cohorts: tuple[Engine, Engine]) -> None:
    """The 6-month visit (ICHOM Low Back Pain set; generator version 3) is in the cohort, inside
    its window (domain.pathway.TIMEPOINTS), answered by about as many as at 3 and 12 months."""
    _, fixed = cohorts
    window = next((tp.window_from_days, tp.window_to_days) for tp in TIMEPOINTS if tp.code == "6m")
    with fixed.connect() as c:
        n = {tp: k for tp, k in c.execute(text("SELECT timepoint, COUNT(DISTINCT episode_id) FROM prom_responses "
                                               "WHERE instrument = 'odi' GROUP BY timepoint"))}
        lo, hi = c.execute(text("SELECT MIN(days_from_index), MAX(days_from_index) FROM prom_responses "
                                "WHERE timepoint = '6m'")).one()
    assert window[0] <= lo and hi <= window[1]
    assert n["12m"] < n["6m"] < n["3m"], n
