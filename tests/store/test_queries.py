"""Read-side queries (:mod:`spinetrack.store.queries`) on SQLite and PostgreSQL: the cohort
median and quartiles against numpy on the same rows (PostgreSQL computes them in SQL with
``percentile_cont``, SQLite in numpy), scope and small-cell suppression, follow-up completeness
and complication counts against plain-Python oracles, and the audit of every read."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, func, insert, select

from spinetrack import instruments
from spinetrack.errors import NotFoundError, PermissionDeniedError, ValidationError
from spinetrack.store.queries import SMALL_CELL_MIN, Queries
from spinetrack.store.repositories import SYSTEM, Actor, Store
from spinetrack.store.tables import AuditRow

ODI_ITEMS = instruments.get("odi").definition.item_codes
INDEX = dt.date(2024, 2, 1)
DAYS = {"baseline": -5, "2w": 14, "6w": 42, "3m": 91, "12m": 365, "24m": 730}
PROCEDURE = {"mis": "discectomy_tubular", "open": "discectomy_open"}


def odi_answers(points: int) -> dict[str, int]:
    """ODI answers whose section scores sum to ``points`` (0-50): score = 2 × points %."""
    base, extra = divmod(points, 10)
    return {code: base + (1 if i < extra else 0) for i, code in enumerate(ODI_ITEMS)}


@dataclass
class Episode:
    site: str
    treatment: str | None
    patient_id: int
    episode_id: int
    index_date: dt.date | None
    timepoints: set[str] = field(default_factory=set)


@dataclass
class Cohort:
    """What was inserted: the oracle's data."""

    episodes: list[Episode] = field(default_factory=list)
    scores: list[tuple[str, str, str, str, float]] = field(default_factory=list)  # site, arm, tp, instrument, score
    complications: list[tuple[str, str, str, str]] = field(default_factory=list)  # site, approach, category, grade

    def values(self, instrument: str, treatment: str, timepoint: str, site: str | None = None) -> list[float]:
        return [s for si, arm, tp, inst, s in self.scores
                if (inst, arm, tp) == (instrument, treatment, timepoint) and (site is None or si == site)]


def add_episode(store: Store, cohort: Cohort, site_key: str, site_id: int, treatment: str | None,
                responses: dict[str, dict[str, dict[str, Any]]], *, index: dt.date = INDEX,
                record: bool = True) -> Episode:
    """One patient with one episode of ``treatment`` (surgery recorded on ``index``) and the
    given responses ``{timepoint: {instrument: answers}}``; valid scores go into the oracle."""
    actor = Actor("setup", "clinician", site_id)
    pid = store.add_patient(actor, site_id, {"birth_year": 1970, "sex": "male"})
    data: dict[str, Any] = {"diagnosis_code": "M51.16", "levels": "L4-L5",
                            "enrolled_on": (INDEX - dt.timedelta(days=30)).isoformat()}
    if treatment is not None:
        data["treatment"] = treatment
        if treatment == "conservative":
            data["index_date"] = index.isoformat()
        else:
            data["treatment_family"] = "discectomy"
    eid = store.add_episode(actor, pid, data)
    if treatment in PROCEDURE:
        store.add_procedure(actor, eid, {"procedure_code": PROCEDURE[treatment], "performed_on": index.isoformat(),
                                         "levels": "L4-L5"})
    ep = Episode(site_key, treatment, pid, eid, index if treatment else None)
    for tp, by_instrument in responses.items():
        for code, answers in by_instrument.items():
            store.submit_response(actor, eid, {"instrument": code, "timepoint": tp, "answers": answers,
                                               "collected_on": (INDEX + dt.timedelta(days=DAYS[tp])).isoformat()})
            ep.timepoints.add(tp)
            score = instruments.get(code).score(answers)
            if record and score.valid and treatment is not None:
                cohort.scores.append((site_key, treatment, tp, code, float(score.total)))  # type: ignore[arg-type]
    cohort.episodes.append(ep)
    return ep


def build_cohort(store: Store, sites: dict[str, int], seed: int = 7) -> Cohort:
    """Site A: 6 MIS (ODI baseline, 6w, 12m; NRS leg baseline; EQ-5D 12m), 3 open (ODI baseline,
    12m), 2 conservative (ODI baseline), one episode without treatment, and one invalid ODI at
    3 months. Site B: 3 MIS (ODI baseline, 6w), 4 open (ODI baseline, 12m). Complications:
    5 dural tears (I) after MIS at A, 1 deep SSI (IIIb) after open at A, 2 neurological deficits
    (II) after open at B."""
    rng = np.random.default_rng(seed)
    cohort = Cohort()

    def odi(lo: int, hi: int) -> dict[str, Any]:
        return {"odi": odi_answers(int(rng.integers(lo, hi)))}

    a, b = sites["A"], sites["B"]
    for i in range(6):
        eq = {"MO": int(rng.integers(1, 4)), "SC": 1, "UA": int(rng.integers(1, 4)), "PD": int(rng.integers(1, 5)),
              "AD": 1, "vas": int(rng.integers(40, 95))}
        ep = add_episode(store, cohort, "A", a, "mis", {
            "baseline": {**odi(18, 35), "nrs_leg": {"pain": int(rng.integers(4, 10))}},
            "6w": odi(5, 25), "12m": {**odi(2, 20), "eq5d5l": eq}})
        if i < 5:
            store.add_complication(SYSTEM, ep.episode_id, {"category": "dural_tear", "clavien_dindo": "I",
                                                          "occurred_on": INDEX.isoformat()})
            cohort.complications.append(("A", "mis", "dural_tear", "I"))
    for i in range(3):
        ep = add_episode(store, cohort, "A", a, "open", {"baseline": odi(20, 38), "12m": odi(5, 25)})
        if i == 0:
            store.add_complication(SYSTEM, ep.episode_id, {"category": "ssi_deep", "clavien_dindo": "IIIb",
                                                          "occurred_on": (INDEX + dt.timedelta(days=9)).isoformat()})
            cohort.complications.append(("A", "open", "ssi_deep", "IIIb"))
    for _ in range(2):
        add_episode(store, cohort, "A", a, "conservative", {"baseline": odi(10, 30)})
    add_episode(store, cohort, "A", a, None, {})
    invalid = add_episode(store, cohort, "A", a, "mis", {"baseline": odi(18, 35)})
    store.submit_response(SYSTEM, invalid.episode_id, {
        "instrument": "odi", "timepoint": "3m", "answers": dict.fromkeys(ODI_ITEMS),
        "collected_on": (INDEX + dt.timedelta(days=DAYS["3m"])).isoformat()})
    invalid.timepoints.add("3m")
    for _ in range(3):
        add_episode(store, cohort, "B", b, "mis", {"baseline": odi(18, 35), "6w": odi(5, 25)})
    for i in range(4):
        ep = add_episode(store, cohort, "B", b, "open", {"baseline": odi(20, 38), "12m": odi(5, 25)})
        if i < 2:
            store.add_complication(SYSTEM, ep.episode_id, {"category": "neurological_deficit", "clavien_dindo": "II",
                                                          "occurred_on": (INDEX + dt.timedelta(days=2)).isoformat()})
            cohort.complications.append(("B", "open", "neurological_deficit", "II"))
    return cohort


def numpy_cell(values: list[float]) -> tuple[int, float, float, float]:
    arr = np.asarray(values, dtype=float)
    return len(arr), float(np.median(arr)), float(np.percentile(arr, 25)), float(np.percentile(arr, 75))


@pytest.fixture
def store(engine: Engine) -> Store:
    return Store(engine)


@pytest.fixture
def sites(store: Store) -> dict[str, int]:
    return {k: store.add_site(SYSTEM, code=f"S-{k}", name=f"Site {k}") for k in ("A", "B")}


@pytest.fixture
def cohort(store: Store, sites: dict[str, int]) -> Cohort:
    return build_cohort(store, sites)


def _audit(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as c:
        return [tuple(r) for r in c.execute(select(AuditRow.actor, AuditRow.action, AuditRow.entity, AuditRow.entity_id,
                                                   AuditRow.patient_id).order_by(AuditRow.id))]


def test_outcome_summary_equals_numpy_median_and_quartiles_per_arm_and_timepoint(
        store: Store, cohort: Cohort, engine: Engine) -> None:
    table = Queries(store).outcome_summary(SYSTEM, ("odi", "nrs_leg", "eq5d5l"), min_n=1)
    expected = {(inst, arm, tp) for _, arm, tp, inst, _ in cohort.scores}
    assert {(c.instrument, c.treatment, c.timepoint) for c in table.cells} == expected
    assert len(expected) >= 8
    for cell in table.cells:
        n, med, q1, q3 = numpy_cell(cohort.values(cell.instrument, cell.treatment, cell.timepoint))
        assert (cell.n, cell.median, cell.q1, cell.q3) == (n, pytest.approx(med, abs=1e-9),
                                                           pytest.approx(q1, abs=1e-9), pytest.approx(q3, abs=1e-9))
    mis_6w = table.cell("odi", "mis", "6w")
    assert mis_6w is not None and mis_6w.n == 9 and mis_6w.target_days == 42
    # the invalid 3-month ODI is not a score: no cell
    assert table.cell("odi", "mis", "3m") is None
    # interpolation really happens somewhere (the oracle is not trivially a data point)
    odd = [c for c in table.cells if c.q1 not in cohort.values(c.instrument, c.treatment, c.timepoint)]
    assert odd
    assert _audit(engine)[-1][:4] == ("system", "read", "aggregate", "outcome_summary")


def test_outcome_summary_scope_and_small_cell_suppression(store: Store, cohort: Cohort, sites: dict[str, int]) -> None:
    q = Queries(store)
    clin_a = Actor("dr.a", "clinician", sites["A"])
    own = q.outcome_summary(clin_a, ["odi"], site_id=sites["A"], min_n=1)
    for cell in own.cells:  # only site A's rows, nothing suppressed
        n, med, q1, q3 = numpy_cell(cohort.values("odi", cell.treatment, cell.timepoint, site="A"))
        assert (cell.n, cell.median, cell.q1, cell.q3) == (n, pytest.approx(med), pytest.approx(q1), pytest.approx(q3))
    assert own.cell("odi", "open", "baseline").n == 3  # type: ignore[union-attr]
    registry = q.outcome_summary(clin_a, ["odi"], site_id=None, min_n=1)  # min_n raised to 5
    assert registry.min_n == SMALL_CELL_MIN
    open_12m = registry.cell("odi", "open", "12m")
    assert open_12m is not None and open_12m.n == 7 and open_12m.median == pytest.approx(
        float(np.median(cohort.values("odi", "open", "12m"))))
    conservative = registry.cell("odi", "conservative", "baseline")
    assert conservative is not None and conservative.suppressed and conservative.median is None \
        and conservative.q1 is None and conservative.q3 is None
    researcher = Actor("res", "researcher")
    assert q.outcome_summary(researcher, ["odi"], min_n=2).min_n == SMALL_CELL_MIN
    per_site = q.outcome_summary(researcher, ["odi"], site_id=sites["B"])
    assert per_site.cell("odi", "mis", "6w").suppressed  # type: ignore[union-attr]  # 3 at site B
    with pytest.raises(NotFoundError):
        q.outcome_summary(clin_a, ["odi"], site_id=sites["B"], min_n=1)
    with pytest.raises(PermissionDeniedError):
        q.outcome_summary(Actor("root", "admin"), ["odi"])
    with pytest.raises(ValidationError) as err:
        q.outcome_summary(SYSTEM, ["odi"], min_n=0)
    assert err.value.field == "min_n"
    with pytest.raises(ValidationError) as err:
        q.outcome_summary(SYSTEM, ["vas_pain"])
    assert err.value.field == "instruments"


def test_patient_timeline_returns_the_patients_scores_authorized_and_audited(
        store: Store, cohort: Cohort, sites: dict[str, int], engine: Engine) -> None:
    ep = next(e for e in cohort.episodes if e.treatment == "mis" and e.site == "A")
    clin_a = Actor("dr.a", "clinician", sites["A"])
    responses = store.list_responses(SYSTEM, ep.episode_id)
    points = Queries(store).patient_timeline(clin_a, ep.patient_id)
    assert _audit(engine)[-1] == ("dr.a", "read", "prom_response", None, ep.patient_id)
    want = sorted((r["instrument"], r["timepoint"], r["score"], r["days_from_index"]) for r in responses)
    assert sorted((p.instrument, p.timepoint, p.score, p.days_from_index) for p in points) == want
    assert {p.timepoint for p in points} == {"baseline", "6w", "12m"}
    assert [p.days_from_index for p in points if p.instrument == "odi"] == [-5, 42, 365]
    with pytest.raises(NotFoundError):
        Queries(store).patient_timeline(Actor("dr.b", "clinician", sites["B"]), ep.patient_id)
    with pytest.raises(PermissionDeniedError):
        Queries(store).patient_timeline(Actor("res", "researcher"), ep.patient_id)
    with pytest.raises(NotFoundError):
        Queries(store).patient_timeline(clin_a, 999_999)


def test_patient_record_holds_episodes_procedures_complications_and_no_secrets(
        store: Store, cohort: Cohort, sites: dict[str, int], engine: Engine) -> None:
    from spinetrack.store.access import Access

    ep = next(e for e in cohort.episodes if e.treatment == "open" and e.site == "A")
    clin_a = Actor("dr.a", "clinician", sites["A"])
    assert ep.index_date is not None
    in_window = dt.datetime.combine(ep.index_date + dt.timedelta(days=300), dt.time(9))  # 12 months: day 274-547
    _, token = Access(store).create_invitation(clin_a, ep.episode_id, timepoint="12m", instrument_codes=["odi"],
                                               now=in_window)
    n_before = len(_audit(engine))
    record = Queries(store).patient_record(clin_a, ep.patient_id)
    [episode] = record["episodes"]
    assert episode["id"] == ep.episode_id and episode["treatment"] == "open"
    assert episode["procedures"][0]["procedure_code"] == "discectomy_open"
    assert episode["procedures"][0]["performed_on"] == INDEX
    assert [(c["category"], c["clavien_dindo"]) for c in episode["complications"]] == [("ssi_deep", "IIIb")]
    [inv] = episode["invitations"]
    assert inv["timepoint"] == "12m" and "token_hash" not in inv and "patient_csrf" not in inv
    assert token not in repr(record)
    audit_rows = _audit(engine)
    assert len(audit_rows) == n_before + 1 and audit_rows[-1] == ("dr.a", "read", "patient", str(ep.patient_id),
                                                                  ep.patient_id)
    with pytest.raises(NotFoundError):
        Queries(store).patient_record(Actor("dr.b", "clinician", sites["B"]), ep.patient_id)
    with pytest.raises(PermissionDeniedError):
        Queries(store).patient_record(Actor("root", "admin"), ep.patient_id)


def _completeness_oracle(cohort: Cohort, tp_windows: dict[str, tuple[int, int]], today: dt.date,
                         site: str | None) -> dict[str, tuple[int, int, int]]:
    out = {}
    for tp, (lo, hi) in tp_windows.items():
        done = missed = pending = 0
        for ep in cohort.episodes:
            if site is not None and ep.site != site:
                continue
            if tp in ep.timepoints:
                done += 1
            elif ep.index_date is None:
                pending += tp == "baseline"
            elif ep.index_date + dt.timedelta(days=hi) < today:
                missed += 1
            elif ep.index_date + dt.timedelta(days=lo) <= today:
                pending += 1
        out[tp] = (done, missed, pending)
    return out


def test_followup_completeness_matches_the_definition(store: Store, cohort: Cohort, sites: dict[str, int]) -> None:
    today = INDEX + dt.timedelta(days=400)  # 12-month window open, 24-month not yet
    windows = {tp.code: (tp.window_from_days, tp.window_to_days) for tp in store.timepoints()}
    q = Queries(store)
    table = q.followup_completeness(SYSTEM, today=today, min_n=1)
    oracle = _completeness_oracle(cohort, windows, today, None)
    assert {r.timepoint: (r.completed, r.missed, r.pending) for r in table.rows} == oracle
    by_tp = {r.timepoint: r for r in table.rows}
    assert (by_tp["baseline"].completed, by_tp["baseline"].pending) == (19, 1)  # the untreated one: no index date
    assert (by_tp["6w"].completed, by_tp["6w"].missed) == (9, 10)
    assert by_tp["6w"].rate == pytest.approx(9 / 19)
    assert (by_tp["12m"].completed, by_tp["12m"].missed, by_tp["12m"].pending) == (13, 0, 6)
    assert (by_tp["24m"].completed, by_tp["24m"].missed, by_tp["24m"].pending, by_tp["24m"].rate) == (0, 0, 0, None)
    site_a = q.followup_completeness(Actor("dr.a", "coordinator", sites["A"]), site_id=sites["A"], today=today,
                                     min_n=1)
    assert {r.timepoint: (r.completed, r.missed, r.pending) for r in site_a.rows} == _completeness_oracle(
        cohort, windows, today, "A")
    registry = q.followup_completeness(Actor("res", "researcher"), today=today)
    three = next(r for r in registry.rows if r.timepoint == "3m")
    assert three.completed is None and three.rate is None and three.missed == 18  # 1 completed: suppressed


def test_complication_table_counts_by_approach_category_and_grade(store: Store, cohort: Cohort,
                                                                  sites: dict[str, int]) -> None:
    q = Queries(store)
    table = q.complication_table(SYSTEM, min_n=1)
    oracle = Counter((a, c, g) for _, a, c, g in cohort.complications)
    for a in table.approaches:
        for c in table.categories:
            for g in table.grades:
                assert table.count(a, c, g) == oracle.get((a, c, g), 0), (a, c, g)
    assert table.procedures == {"mis": 10, "open": 7}
    assert table.with_any == {"mis": 5, "open": 3} and table.totals == {"mis": 5, "open": 3}
    assert table.rate("open") == pytest.approx(3 / 7)
    own = q.complication_table(Actor("dr.b", "clinician", sites["B"]), site_id=sites["B"], min_n=1)
    assert own.procedures == {"mis": 3, "open": 4} and own.count("open", "neurological_deficit", "II") == 2
    assert own.count("mis", "dural_tear", "I") == 0
    research = q.complication_table(Actor("res", "researcher"))
    assert research.count("mis", "dural_tear", "I") == 5
    assert research.count("open", "ssi_deep", "IIIb") is None
    assert research.count("open", "neurological_deficit", "II") is None
    assert research.with_any["open"] is None and research.rate("open") is None and research.procedures["open"] == 7


def test_audit_page_is_admin_only_newest_first_filtered_and_itself_audited(
        store: Store, cohort: Cohort, engine: Engine) -> None:
    q = Queries(store)
    admin = Actor("root", "admin")
    with engine.connect() as c:
        total = c.execute(select(func.count()).select_from(AuditRow)).scalar_one()
        ids = c.execute(select(AuditRow.id).order_by(AuditRow.id.desc())).scalars().all()
    page = q.audit_page(admin, limit=10)
    assert page.total == total and [e.id for e in page.items] == ids[:10]  # newest first
    second = q.audit_page(admin, limit=10, offset=10)  # the first view added one row on top
    assert second.total == total + 1 and [e.id for e in second.items] == ids[9:19]
    ep = cohort.episodes[0]
    by_patient = q.audit_page(admin, patient_id=ep.patient_id, limit=500)
    assert by_patient.total >= 4 and all(e.patient_id == ep.patient_id for e in by_patient.items)
    patients = q.audit_page(admin, entity="patient", actor_name="SET", limit=500)
    assert patients.total == len(cohort.episodes) and all(e.entity == "patient" for e in patients.items)
    last = _audit(engine)[-1]
    assert last[:3] == ("root", "read", "audit_log")
    assert q.verify_audit_chain(admin).ok
    assert [s["code"] for s in q.list_sites(admin)] == ["S-A", "S-B"]
    for call in (lambda a: q.audit_page(a), lambda a: q.verify_audit_chain(a), lambda a: q.list_sites(a)):
        with pytest.raises(PermissionDeniedError):
            call(Actor("dr.a", "clinician", 1))
        with pytest.raises(PermissionDeniedError):
            call(Actor("res", "researcher"))


def test_verify_audit_chain_reports_a_row_inserted_behind_the_apps_back(store: Store, sites: dict[str, int],
                                                                        engine: Engine) -> None:
    q = Queries(store)
    admin = Actor("root", "admin")
    assert q.verify_audit_chain(admin).ok
    with engine.begin() as c:
        c.execute(insert(AuditRow).values(at=dt.datetime(2025, 1, 1), actor="intruder", actor_role="admin",
                                          action="read", entity="patient", prev_hash="0" * 64, hash="f" * 64))
        bad_id = c.execute(select(func.max(AuditRow.id))).scalar_one()
    result = q.verify_audit_chain(admin)
    assert not result.ok and result.first_bad_id == bad_id
