"""The follow-up scheduler: one run schedules the visits, opens them, queues their messages and
sends what is due (:func:`run`).

A run, at ``now`` (its date is "today"):

1. **Schedule.** Every episode with an index date that has not ended gets one ``followups`` row
   per timepoint of its site's schedule (:mod:`spinetrack.followup.schedule`): ``due_on`` is the
   index date plus the timepoint's target day, ``opens_on``/``closes_on`` its window. One
   ``INSERT … SELECT … ON CONFLICT DO NOTHING`` per site schedule and timepoint (set-based; the
   unique constraint on episode × timepoint makes two runs at once harmless). **Baseline** is
   scheduled only while it can still be collected: it opens on the later of enrolment and the
   window's first day and closes on the index date, and no row is made once the index date has
   passed (a baseline after treatment is no baseline).
2. **Complete, stop, miss** (set-based ``UPDATE``\\ s, in this order): a visit whose every
   questionnaire is stored (by any route: web, phone, paper, import) is ``completed``; an open or
   pending visit of an ended episode, an opted-out patient, or one the coordinator marked
   unreachable is ``stopped`` with that reason; one whose window has closed is ``missed``. Any
   message of theirs not yet sent is cancelled.
3. **Open.** A pending visit whose window has opened becomes ``open``: it gets an invitation row
   (its questionnaires from the schedule; a random token nobody sees — the patient reaches the
   visit through their home; it expires at the end of the window's last day). The claim
   ``UPDATE … WHERE status = 'pending' RETURNING`` is what keeps two runs from both opening it.
   In production (:func:`spinetrack.store.wording.configure`) a visit with a questionnaire that has
   no wording in the patient's language is not opened (the patient would read numbered
   statements): it stays ``pending`` with ``stop_reason = 'no_wording'``, counted in the run
   report's ``visits_held_no_wording``, and is tried again on every run until the wording is
   installed (Admin → Questionnaire wording, or ``spinetrack wording install``).
4. **Messages.** An open visit gets a message on each of its schedule's reminder offsets
   (days after the window opens; the first is the invitation's, ``sequence`` 0, then reminders
   1, 2, …), inserted with ``ON CONFLICT DO NOTHING`` on (followup, sequence). The next one is
   due no sooner than the gap between the offsets after this one (a run that was down for a
   week does not send two messages in a row), and not while the previous one still waits
   (queued, held or being retried). The channel is the patient's preferred one among those known
   for them (e-mail with an address, SMS with a phone number, a letter otherwise), the first one
   configured; a message whose channel is not configured is ``held``, and queued once it is.
   A patient without contact consent, with channel ``none``, or opted out gets no message (the
   visit stays on the coordinator's worklist); this is checked again each day.
5. **Send** (:mod:`spinetrack.followup.outbox`): at-least-once delivery.

Letters are never sent by a run: they wait ``queued`` for the next print batch.

``dry_run`` does all of it in one transaction that is rolled back, and sends nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, cast

from sqlalchemy import Date, DateTime, Table, bindparam, func, insert, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from spinetrack.followup.outbox import ChannelSet, Sender, configured_channels
from spinetrack.followup.schedule import ScheduledTimepoint, default_schedule, site_schedules
from spinetrack.store import audit
from spinetrack.store.repositories import Store
from spinetrack.store.tables import (
    EpisodeRow,
    FollowupRow,
    InvitationRow,
    OutboxRow,
    PatientIdentityRow,
    PatientRow,
)
from spinetrack.store.wording import missing_wording, policy

__all__ = ["ACTOR", "HELD_NO_WORDING", "Progress", "RunReport", "choose_channel", "run"]

ACTOR = "system:followup"
BATCH = 2_000  # visits opened / messages queued per statement batch
Progress = Callable[[str, int, int | None], None]

_F = cast(Table, FollowupRow.__table__)
_O = cast(Table, OutboxRow.__table__)
_I = cast(Table, InvitationRow.__table__)
_E = cast(Table, EpisodeRow.__table__)
_P = cast(Table, PatientRow.__table__)
_ID = cast(Table, PatientIdentityRow.__table__)
_UNSENT = ("queued", "held", "sending", "failed")
HELD_NO_WORDING = "no_wording"  # a pending visit's mark: not opened (production, no wording in the patient's language)


@dataclass
class RunReport:
    """What one run did (or, with ``dry_run``, would do)."""

    now: dt.datetime
    dry_run: bool = False
    followups_created: int = 0
    invitations_created: int = 0
    completed: int = 0
    missed: int = 0
    stopped: int = 0
    invitations_queued: int = 0   # first messages of a visit (sequence 0)
    reminders_queued: int = 0
    messages_held: int = 0        # held now (no channel configured for them)
    visits_held_no_wording: int = 0  # production: not opened, a questionnaire has no wording in the patient's language
    messages_cancelled: int = 0
    messages_due: int = 0         # claimable when the sending started
    messages_sent: int = 0
    messages_failed: int = 0
    messages_retried: int = 0     # taken again from a dead or expired claim (at-least-once)
    seconds: float = 0.0
    stopped_by_reason: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage

    def lap(self, stage: str, since: float) -> float:
        """Record the seconds of ``stage`` since ``since``; returns now (``time.perf_counter``)."""
        now = time.perf_counter()
        self.timings[stage] = round(now - since, 3)
        return now

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["now"] = self.now.isoformat(timespec="seconds")
        out["seconds"] = round(self.seconds, 3)
        return out


# ----------------------------------------------------------------------------------- channel

def choose_channel(identity: Mapping[str, Any] | None, configured: Iterable[str] | None) -> tuple[str | None, bool]:
    """The channel of a patient's next message and whether it is held: ``(None, False)`` when
    the patient gets no message (no identity, no contact consent, opted out, channel ``none``).

    Known channels: ``email`` with an address, ``sms`` with a phone number, ``letter`` when the
    patient prefers letters or has neither. The preferred one comes first, then e-mail, SMS,
    letter; the first configured one is chosen (letters are always "configured": they wait for
    the print batch); when none is, the first known one, held until its channel is configured."""
    if identity is None or identity.get("contact_consent") is not True or identity.get("opted_out_at") is not None:
        return None, False
    pref = identity.get("channel")
    if pref == "none":
        return None, False
    email, phone = bool(identity.get("email")), bool(identity.get("phone"))
    known = {"email": email, "sms": phone, "letter": pref == "letter" or not (email or phone)}
    order = [c for c in dict.fromkeys([pref, "email", "sms", "letter"]) if isinstance(c, str) and known.get(c)]
    usable = {"letter", *(configured or ())}
    for c in order:
        if c in usable:
            return c, False
    return order[0], True


# ----------------------------------------------------------------------------------- SQL helpers

def _add_days(dialect: str, column: str, days: int) -> str:
    if dialect == "sqlite":
        return f"date({column}, '{days:+d} days')"
    return f"({column} + {days:d})"


def _site_condition(site_ids: Sequence[int] | None, exclude: Sequence[int]) -> str:
    """SQL on ``p.site_id``: the given sites, or every site but ``exclude``."""
    if site_ids is not None:
        return f"p.site_id IN ({', '.join(str(int(s)) for s in site_ids)})"
    if exclude:
        return f"p.site_id NOT IN ({', '.join(str(int(s)) for s in exclude)})"
    return "1 = 1"


def _groups(session: Session) -> list[tuple[Sequence[int] | None, tuple[ScheduledTimepoint, ...]]]:
    """(sites, schedule) pairs: each site with its own schedule, then every other site (None)
    with the default."""
    own = site_schedules(session)
    groups: list[tuple[Sequence[int] | None, tuple[ScheduledTimepoint, ...]]] = [
        ([site], sched) for site, sched in sorted(own.items())]
    groups.append((None, default_schedule()))
    return groups


def _dated(sql: str, **types: Any) -> Any:
    return text(sql).bindparams(*(bindparam(k, type_=t) for k, t in types.items() if f":{k}" in sql))


# ----------------------------------------------------------------------------------- steps

def _create(s: Session, groups: list[Any], today: dt.date, now: dt.datetime) -> int:
    dialect = s.get_bind().dialect.name
    own = [site for sites, _ in groups if sites is not None for site in sites]
    created = 0
    for sites, schedule in groups:
        cond = _site_condition(sites, own)
        for tp in schedule:
            due = _add_days(dialect, "e.index_date", tp.target_days)
            opens = _add_days(dialect, "e.index_date", tp.window_from_days)
            closes = _add_days(dialect, "e.index_date", tp.window_to_days)
            extra = ""
            if tp.is_baseline:  # only while it can still be collected (module docstring)
                opens = (f"max(e.enrolled_on, {opens})" if dialect == "sqlite" else f"GREATEST(e.enrolled_on, {opens})")
                extra = f" AND {closes} >= :today AND e.enrolled_on <= {closes}"
            sql = ("INSERT INTO followups (episode_id, timepoint, due_on, opens_on, closes_on, status, "
                   "reminders_sent, unreachable, created_at, updated_at) "
                   f"SELECT e.id, CAST(:tp AS VARCHAR(16)), {due}, {opens}, {closes}, 'pending', 0, false, :now, :now "
                   f"FROM episodes e JOIN patients p ON p.id = e.patient_id "
                   f"WHERE e.index_date IS NOT NULL AND (e.ended_on IS NULL OR e.ended_on > :today) AND {cond}{extra} "
                   f"AND NOT EXISTS (SELECT 1 FROM followups f WHERE f.episode_id = e.id AND f.timepoint = :tp) "
                   f"ON CONFLICT (episode_id, timepoint) DO NOTHING")
            res = s.execute(_dated(sql, today=Date(), now=DateTime()), {"tp": tp.code, "today": today, "now": now})
            created += max(res.rowcount or 0, 0)  # type: ignore[attr-defined]
    return created


def _complete(s: Session, groups: list[Any], today: dt.date, now: dt.datetime) -> int:
    """Visits whose every questionnaire is stored. Only open visits and pending ones whose window
    has opened are looked at (a correlated count on the responses' unique index per visit), so a
    run's cost follows the visits in play, not the registry's size."""
    own = [site for sites, _ in groups if sites is not None for site in sites]
    done = 0
    for sites, schedule in groups:
        cond = _site_condition(sites, own)
        scope = "" if cond == "1 = 1" else (
            f" AND episode_id IN (SELECT e.id FROM episodes e JOIN patients p ON p.id = e.patient_id WHERE {cond})")
        for tp in schedule:
            codes = ", ".join(f"'{c}'" for c in tp.instruments)  # registry codes (validated), never user text
            sql = ("UPDATE followups SET status = 'completed', next_reminder_on = NULL, updated_at = :now "
                   "WHERE timepoint = :tp AND (status = 'open' OR (status = 'pending' AND opens_on <= :today)) "
                   "AND (SELECT COUNT(DISTINCT r.instrument) FROM prom_responses r WHERE r.episode_id = "
                   f"followups.episode_id AND r.timepoint = :tp AND r.instrument IN ({codes})) = :n{scope} "
                   "RETURNING invitation_id")
            spent = [i for (i,) in s.execute(_dated(sql, today=Date(), now=DateTime()),
                                             {"tp": tp.code, "n": len(tp.instruments), "today": today, "now": now})]
            done += len(spent)
            # the invitation of a visit completed by phone or paper is spent too, as the web's own is
            ids = [i for i in spent if i is not None]
            for lo in range(0, len(ids), BATCH):
                s.execute(update(_I).where(_I.c.id.in_(ids[lo:lo + BATCH]), _I.c.completed_at.is_(None))
                          .values(completed_at=now))
    return done


_STOPS = (
    ("episode_ended", "episode_id IN (SELECT id FROM episodes WHERE ended_on IS NOT NULL AND ended_on <= :today)"),
    ("opted_out", "episode_id IN (SELECT e.id FROM episodes e JOIN patient_identities i ON i.patient_id = e.patient_id "
                  "WHERE i.opted_out_at IS NOT NULL)"),
    ("unreachable", "unreachable = true"),
)


def _stop(s: Session, today: dt.date, now: dt.datetime) -> dict[str, int]:
    out = {}
    for reason, where in _STOPS:
        sql = ("UPDATE followups SET status = 'stopped', stop_reason = :reason, next_reminder_on = NULL, "
               f"updated_at = :now WHERE status IN ('pending', 'open') AND {where}")
        res = s.execute(_dated(sql, today=Date(), now=DateTime()), {"reason": reason, "today": today, "now": now})
        if res.rowcount:  # type: ignore[attr-defined]
            out[reason] = int(res.rowcount)  # type: ignore[attr-defined]
    return out


def _miss(s: Session, today: dt.date, now: dt.datetime) -> int:
    res = s.execute(_dated("UPDATE followups SET status = 'missed', next_reminder_on = NULL, updated_at = :now "
                           "WHERE status IN ('pending', 'open') AND closes_on < :today", today=Date(), now=DateTime()),
                    {"today": today, "now": now})
    return max(res.rowcount or 0, 0)  # type: ignore[attr-defined]


def _cancel(s: Session) -> int:
    """Cancel every unsent message of a visit that is over (completed, missed, stopped)."""
    res = s.execute(text("UPDATE outbox SET status = 'cancelled' WHERE status IN ('queued', 'held', 'failed') "
                         "AND followup_id IS NOT NULL AND EXISTS (SELECT 1 FROM followups f "
                         "WHERE f.id = outbox.followup_id AND f.status IN ('completed', 'missed', 'stopped'))"))
    return max(res.rowcount or 0, 0)  # type: ignore[attr-defined]


def _schedule_of(groups: list[Any], site_id: int) -> dict[str, ScheduledTimepoint]:
    for sites, schedule in groups:
        if sites is None or site_id in sites:
            return {tp.code: tp for tp in schedule}
    return {}


def _first_message_on(tp: ScheduledTimepoint | None, opens_on: dt.date) -> dt.date | None:
    if tp is None or not tp.reminder_offsets:
        return None
    return opens_on + dt.timedelta(days=tp.reminder_offsets[0])


_TO_OPEN = (select(_F.c.id, _F.c.episode_id, _F.c.timepoint, _F.c.opens_on, _F.c.closes_on, _P.c.site_id,
                   _ID.c.language)
            .select_from(_F.join(_E, _E.c.id == _F.c.episode_id).join(_P, _P.c.id == _E.c.patient_id)
                         .outerjoin(_ID, _ID.c.patient_id == _P.c.id))
            .where(_F.c.status == "pending", _F.c.opens_on <= bindparam("today", type_=Date),
                   _F.c.closes_on >= bindparam("today", type_=Date),
                   or_(_F.c.stop_reason.is_(None), _F.c.stop_reason != HELD_NO_WORDING))
            .order_by(_F.c.id).limit(BATCH))
_HOLD = update(_F).where(_F.c.id == bindparam("fid")).values(stop_reason=HELD_NO_WORDING)
_SET_INVITATION = (update(_F).where(_F.c.id == bindparam("fid"))
                   .values(invitation_id=bindparam("iid"), next_reminder_on=bindparam("next_on")))


def _instruments(groups: list[Any], r: Any) -> list[str]:
    tp = _schedule_of(groups, r.site_id).get(r.timepoint)
    return list(tp.instruments) if tp else list(default_schedule()[0].instruments)


def _hold_without_wording(s: Session, store: Store, groups: list[Any], rows: Sequence[Any], report: RunReport
                          ) -> Sequence[Any]:
    """In production, a visit whose questionnaires lack wording in the patient's language is not
    opened: it stays pending, marked ``stop_reason = 'no_wording'`` (counted in the run report),
    and is tried again on the next run (the marks are cleared at the start of each run)."""
    if not policy(store).production:
        return rows
    held = [r for r in rows if missing_wording(store, _instruments(groups, r), r.language, session=s)]
    if held:
        s.execute(_HOLD, [{"fid": r.id} for r in held])
        report.visits_held_no_wording += len(held)
    return [r for r in rows if r not in held]


def _open(s: Session, groups: list[Any], today: dt.date, now: dt.datetime, commit: Callable[[], None],
          progress: Progress | None, store: Store | None = None, report: RunReport | None = None) -> int:
    opened = 0
    if store is not None and policy(store).production:
        s.execute(update(_F).where(_F.c.status == "pending", _F.c.stop_reason == HELD_NO_WORDING)
                  .values(stop_reason=None))
    while True:
        rows = s.execute(_TO_OPEN, {"today": today}).all()
        if not rows:
            return opened
        if store is not None and report is not None:
            rows = _hold_without_wording(s, store, groups, rows, report)
            if not rows:
                continue
        claim = (update(_F).where(_F.c.id.in_([r.id for r in rows]), _F.c.status == "pending")
                 .values(status="open", updated_at=now).returning(_F.c.id))
        won = set(s.execute(claim).scalars())
        mine = [r for r in rows if r.id in won]
        if mine:
            plans = [(r, _schedule_of(groups, r.site_id).get(r.timepoint)) for r in mine]
            params = [{"token_hash": hashlib.sha256(secrets.token_bytes(32)).hexdigest(), "episode_id": r.episode_id,
                       "timepoint": r.timepoint,
                       "instruments": list(tp.instruments) if tp else list(default_schedule()[0].instruments),
                       "created_by": ACTOR, "created_at": now,
                       "expires_at": dt.datetime.combine(r.closes_on + dt.timedelta(days=1), dt.time.min),
                       "revoked": False} for r, tp in plans]
            ids = s.execute(insert(_I).returning(_I.c.id, sort_by_parameter_order=True), params).scalars().all()
            s.execute(_SET_INVITATION, [{"fid": r.id, "iid": iid, "next_on": _first_message_on(tp, r.opens_on)}
                                        for (r, tp), iid in zip(plans, ids, strict=True)])
            opened += len(mine)
        commit()
        if progress:
            progress("open", opened, None)


_TO_MESSAGE = (select(_F.c.id, _F.c.episode_id, _F.c.timepoint, _F.c.opens_on, _F.c.closes_on, _F.c.next_reminder_on,
                      _P.c.site_id, _ID.c.channel, _ID.c.email, _ID.c.phone, _ID.c.contact_consent, _ID.c.opted_out_at)
               .select_from(_F.join(_E, _E.c.id == _F.c.episode_id).join(_P, _P.c.id == _E.c.patient_id)
                            .outerjoin(_ID, _ID.c.patient_id == _P.c.id))
               .where(_F.c.status == "open", _F.c.next_reminder_on <= bindparam("today", type_=Date))
               .order_by(_F.c.id).limit(BATCH))
_ADVANCE = (update(_F).where(_F.c.id == bindparam("fid"), _F.c.next_reminder_on == bindparam("was"))
            .values(next_reminder_on=bindparam("next_on"), reminders_sent=bindparam("reminders"),
                    updated_at=bindparam("now")))


def _insert_outbox(dialect: str) -> Any:
    ins = (sqlite.insert(_O) if dialect == "sqlite" else postgresql.insert(_O))
    return ins.on_conflict_do_nothing(index_elements=["followup_id", "sequence"])


def _next_message_on(tp: ScheduledTimepoint | None, sequence: int, today: dt.date, opens_on: dt.date,
                     closes_on: dt.date) -> dt.date | None:
    """When message ``sequence + 1`` is due, after message ``sequence`` went out ``today``."""
    if tp is None or sequence + 1 >= len(tp.reminder_offsets):
        return None
    offsets = tp.reminder_offsets
    nxt = max(opens_on + dt.timedelta(days=offsets[sequence + 1]),
              today + dt.timedelta(days=offsets[sequence + 1] - offsets[sequence]))
    return nxt if nxt <= closes_on else None


def _message(s: Session, groups: list[Any], configured: set[str] | None, today: dt.date, now: dt.datetime,
             commit: Callable[[], None], report: RunReport, progress: Progress | None) -> None:
    dialect = s.get_bind().dialect.name
    tomorrow = today + dt.timedelta(days=1)
    handled = 0
    while True:
        rows = s.execute(_TO_MESSAGE, {"today": today}).all()
        if not rows:
            return
        last: dict[int, tuple[int, str, int]] = {}
        for fid, seq, status, attempts in s.execute(
                select(_O.c.followup_id, _O.c.sequence, _O.c.status, _O.c.attempts)
                .where(_O.c.followup_id.in_([r.id for r in rows]), _O.c.sequence.is_not(None))):
            if fid not in last or seq > last[fid][0]:
                last[fid] = (seq, status, attempts)
        new, advance = [], []
        for r in rows:
            tp = _schedule_of(groups, r.site_id).get(r.timepoint)
            prev = last.get(r.id)
            seq = 0 if prev is None else prev[0] + 1
            waiting = prev is not None and prev[1] in ("queued", "held", "sending", "failed") and not (
                prev[1] == "failed" and prev[2] >= Sender.MAX_ATTEMPTS)
            channel, held = choose_channel(dict(r._mapping) if r.contact_consent is not None else None, configured)
            if tp is None or seq >= len(tp.reminder_offsets) or (seq > 0 and channel == "letter"):
                # no reminder by post: a letter patient gets the invitation letter, and the
                # coordinator's worklist shows the visit as overdue for a phone call
                next_on, reminders = None, max(seq - 1, 0)
            elif waiting or channel is None:  # look again tomorrow (module docstring)
                next_on, reminders = (tomorrow if tomorrow <= r.closes_on else None), max(seq - 1, 0)
            else:
                new.append({"followup_id": r.id, "episode_id": r.episode_id,
                            "kind": "invitation" if seq == 0 else "reminder", "sequence": seq, "channel": channel,
                            "status": "held" if held else "queued", "attempts": 0, "created_at": now, "due_at": now})
                next_on, reminders = _next_message_on(tp, seq, today, r.opens_on, r.closes_on), seq
            advance.append({"fid": r.id, "was": r.next_reminder_on, "next_on": next_on, "reminders": reminders,
                            "now": now})
        if new:
            s.execute(_insert_outbox(dialect), new)
            for m in new:
                if m["sequence"] == 0:
                    report.invitations_queued += 1
                else:
                    report.reminders_queued += 1
        s.execute(_ADVANCE, advance)
        commit()
        handled += len(rows)
        if progress:
            progress("messages", handled, None)


def _rehold(s: Session, configured: set[str] | None) -> int:
    """Hold queued e-mail and SMS whose channel is not configured in this run; queue held ones
    whose channel now is. Returns the number held afterwards."""
    names = sorted(configured or ())
    sendable = ("email", "sms")
    off = [c for c in sendable if c not in names]
    if off:
        s.execute(update(_O).where(_O.c.status == "queued", _O.c.channel.in_(off)).values(status="held"))
    if names:
        s.execute(update(_O).where(_O.c.status == "held", _O.c.channel.in_(names)).values(status="queued"))
    return int(s.execute(select(func.count()).select_from(_O).where(_O.c.status == "held")).scalar_one())


# ----------------------------------------------------------------------------------- run

def run(store: Store, *, now: dt.datetime, channels: ChannelSet | None, link_base: str, dry_run: bool = False,
        progress: Progress | None = None, sender_id: str | None = None, lease: dt.timedelta | None = None,
        send_batch: int | None = None, send_workers: int | None = None) -> RunReport:
    """One scheduler run at ``now`` (module docstring). ``channels``: the configured channels
    (:func:`spinetrack.followup.channels_from_settings`; ``None``: none, every e-mail and SMS is
    held). ``link_base``: the address patients reach the app at. ``progress(stage, done, total)``
    is called as the run goes. Audited: one entry with the counts, one per message sent or failed."""
    t0 = time.perf_counter()
    report = RunReport(now=now, dry_run=dry_run)
    today = now.date()
    senders = configured_channels(channels)
    configured = set(senders)
    with store.transaction() as s:
        commit = (lambda: None) if dry_run else s.commit
        groups = _groups(s)
        if progress:
            progress("schedule", 0, None)
        report.followups_created = _create(s, groups, today, now)
        commit()
        lap = report.lap("schedule", t0)
        report.completed = _complete(s, groups, today, now)
        report.stopped_by_reason = _stop(s, today, now)
        report.stopped = sum(report.stopped_by_reason.values())
        report.missed = _miss(s, today, now)
        report.messages_cancelled = _cancel(s)
        commit()
        lap = report.lap("close", lap)
        report.invitations_created = _open(s, groups, today, now, commit, progress, store, report)
        lap = report.lap("open", lap)
        _message(s, groups, configured, today, now, commit, report, progress)
        report.messages_held = _rehold(s, configured)
        commit()
        sender = Sender(store, senders, link_base=link_base, sender_id=sender_id, lease=lease, batch=send_batch,
                        workers=send_workers)
        report.messages_due = sender.count_due(s, now)
        lap = report.lap("queue", lap)
        if dry_run:
            s.rollback()
    if not dry_run:
        counts = sender.send_due(now, progress, expected=report.messages_due)
        report.messages_sent, report.messages_failed = counts.sent, counts.failed
        report.messages_retried = counts.retried
        report.lap("send", lap)
    report.seconds = time.perf_counter() - t0
    if not dry_run:
        with store.transaction() as s:
            audit.append(s, actor=ACTOR, actor_role="system", action="run", entity="followup",
                         detail={k: v for k, v in report.as_dict().items() if k not in ("now", "seconds", "timings")})
    return report
