"""The follow-up records the security suites need in their world (tests/web/conftest.py builds it).

``add_followup(app, world)`` gives the world what the follow-up routes act on, made by the real
code rather than by hand: each patient agrees to letters (:class:`Outreach`), each site's schedule
has the 6-week visit (:func:`set_site_schedule`; the world's operation was 40 days ago, inside the
6-week window of days 29 to 63), and one scheduler run (:func:`spinetrack.followup.run`, no
channel configured) schedules the visits, opens the 6-week one and queues its letter in the outbox.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from spinetrack import clock, followup
from spinetrack.followup.schedule import set_site_schedule
from spinetrack.store.outreach import Outreach
from spinetrack.store.repositories import SYSTEM, Actor
from spinetrack.store.tables import FollowupRow, OutboxRow
from tests.web.conftest import World

#: the 6-week visit's questionnaire in the sites' schedules (one item: a small answers form)
VISIT_INSTRUMENTS = ["nrs_back"]


def add_followup(app: Any, world: World) -> dict[str, int]:
    """Site key → the id of its patient's open 6-week follow-up (module docstring); each has a
    queued letter in the outbox."""
    store = app.state.store
    for key in ("A", "B"):
        actor = Actor("setup", "clinician", world.sites[key])
        Outreach(store).set_contact(actor, world.patients[key], {
            "channel": "letter", "contact_consent": True, "postal_address": f"1 {key} Street, Exampletown"})
        set_site_schedule(store, SYSTEM, world.sites[key], [
            {"timepoint": "6w", "instruments": VISIT_INSTRUMENTS}, {"timepoint": "3m"}, {"timepoint": "12m"}])
    report = followup.run(store, now=clock.utcnow(), channels=None, link_base="http://testserver")
    assert report.invitations_created == 2, report.as_dict()
    out: dict[str, int] = {}
    with store.transaction() as s:
        for key in ("A", "B"):
            f = s.execute(select(FollowupRow).where(FollowupRow.episode_id == world.episodes[key],
                                                    FollowupRow.timepoint == "6w")).scalar_one()
            assert f.status == "open", f.status
            assert s.execute(select(OutboxRow.status).where(OutboxRow.followup_id == f.id)).scalars().all() == [
                "queued"]
            out[key] = f.id
    return out
