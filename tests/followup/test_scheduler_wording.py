"""In production the scheduler does not open a visit whose questionnaires lack wording in the
patient's language (issue 19): the visit stays pending, marked ``no_wording``, counted in the run
report and the audit entry, and opens on the first run after the wording is installed. Outside
production nothing changes. The pack below is our own made-up test wording."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine, select, update

from spinetrack import followup, instruments
from spinetrack.domain.pathway import TIMEPOINTS
from spinetrack.followup.schedule import default_schedule
from spinetrack.followup.scheduler import HELD_NO_WORDING
from spinetrack.store import wording as sw
from spinetrack.store.repositories import Actor, Store
from spinetrack.store.tables import AuditRow, FollowupRow, PatientIdentityRow
from tests.followup.cohort import add_episodes, add_site, rows

NOW = dt.datetime(2026, 6, 1, 9, 0)
THREE_MONTHS = next(tp for tp in TIMEPOINTS if tp.code == "3m")
VISIT = default_schedule()[1].instruments  # the 3-month visit's questionnaires (include odi and eq5d5l)


def _pack(language: str) -> dict[str, Any]:
    return {"name": f"Test pack {language}", "language": language, "licence": "test",
            "instruments": {code: {"title": f"Test title {code}"} for code in VISIT
                            if not instruments.get(code).definition.own_wording}}


def _three_months(engine: Engine, eid: int) -> Any:
    return rows(engine, select(FollowupRow).where(FollowupRow.episode_id == eid, FollowupRow.timepoint == "3m"))[0]


def test_production_holds_the_visit_until_the_wording_is_installed(engine: Engine) -> None:
    store = Store(engine)
    sw.configure(store, production=True)
    site = add_site(engine)
    eid_en, eid_es = add_episodes(engine, site, 2,
                                  index_date=NOW.date() - dt.timedelta(days=THREE_MONTHS.window_from_days))
    pid_es = rows(engine, select(PatientIdentityRow.patient_id).order_by(PatientIdentityRow.patient_id))[1][0]
    with engine.begin() as c:  # the second patient reads Spanish
        c.execute(update(PatientIdentityRow).where(PatientIdentityRow.patient_id == pid_es).values(language="es"))
    assert {"odi", "eq5d5l"} <= set(VISIT)
    report = followup.run(store, now=NOW, channels=None, link_base="https://x.example")
    assert report.invitations_created == 0 and report.visits_held_no_wording == 2
    f = _three_months(engine, eid_en)
    assert (f.status, f.stop_reason, f.invitation_id) == ("pending", HELD_NO_WORDING, None)
    audit = rows(engine, select(AuditRow.detail).where(AuditRow.entity == "followup", AuditRow.action == "run"))
    assert audit[-1][0]["visits_held_no_wording"] == 2
    # English wording installed: the English patient's visit opens on the next run, the Spanish one waits
    sw.install_pack(store, Actor("root", "admin"), _pack("en-GB"))
    report = followup.run(store, now=NOW + dt.timedelta(hours=1), channels=None, link_base="https://x.example")
    assert report.invitations_created == 1 and report.visits_held_no_wording == 1
    assert _three_months(engine, eid_en).status == "open"
    assert (_three_months(engine, eid_es).status, _three_months(engine, eid_es).stop_reason) == ("pending",
                                                                                                   HELD_NO_WORDING)
    sw.install_pack(store, Actor("root", "admin"), _pack("es"))
    report = followup.run(store, now=NOW + dt.timedelta(hours=2), channels=None, link_base="https://x.example")
    assert report.invitations_created == 1 and report.visits_held_no_wording == 0
    f = _three_months(engine, eid_es)
    assert (f.status, f.stop_reason) == ("open", None)


def test_outside_production_numbered_labels_do_not_hold_a_visit(engine: Engine) -> None:
    store = Store(engine)
    site = add_site(engine)
    (eid,) = add_episodes(engine, site, 1, index_date=NOW.date() - dt.timedelta(days=THREE_MONTHS.window_from_days))
    report = followup.run(store, now=NOW, channels=None, link_base="https://x.example")
    assert report.invitations_created == 1 and report.visits_held_no_wording == 0
    assert _three_months(engine, eid).status == "open"
