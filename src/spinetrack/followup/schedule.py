"""A site's follow-up schedule: which timepoints it uses, their windows, the days a message goes
out, and the questionnaires of each visit.

A site without rows in ``site_schedules`` follows the default: the timepoints of
:data:`~spinetrack.domain.pathway.DEFAULT_SCHEDULE` with their global windows
(:data:`~spinetrack.domain.pathway.TIMEPOINTS`), messages on
:data:`~spinetrack.domain.pathway.DEFAULT_REMINDER_OFFSETS` and the instruments the registry
lists as a visit's default (``Listing.VISIT_DEFAULT``). A site with rows follows its enabled rows
only.

**Windows.** An admin may narrow a timepoint's window but never widen it: a site's window must
lie inside the timepoint's global window. The global windows do not overlap
(:class:`~spinetrack.domain.pathway.Timepoint`), so a site's windows cannot overlap either, and
every answer collected inside a site's window is accepted by the store's timing rule
(:func:`~spinetrack.domain.pathway.check_response_timing`), which knows only the global windows.

**Reminder offsets** are days after the window opens: the first is the invitation's message,
the others reminders. Each must be >= 0 and no later than the window's last day.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from spinetrack import instruments
from spinetrack.domain.pathway import DEFAULT_REMINDER_OFFSETS, DEFAULT_SCHEDULE, TIMEPOINTS, get_timepoint
from spinetrack.errors import NotFoundError, PermissionDeniedError, ValidationError
from spinetrack.store import audit
from spinetrack.store.repositories import Actor, Store
from spinetrack.store.tables import SiteRow, SiteScheduleRow

__all__ = ["MAX_REMINDERS", "ScheduledTimepoint", "default_schedule", "set_site_schedule", "site_schedule",
           "site_schedules"]

MAX_REMINDERS = 10  # messages per visit, the invitation's included (a guard against a typing error)


@dataclass(frozen=True, slots=True)
class ScheduledTimepoint:
    """One timepoint of a site's schedule."""

    code: str
    label: str
    target_days: int
    window_from_days: int
    window_to_days: int
    reminder_offsets: tuple[int, ...]
    instruments: tuple[str, ...]

    @property
    def is_baseline(self) -> bool:
        return get_timepoint(self.code).is_baseline

    def as_dict(self) -> dict[str, Any]:
        return {"timepoint": self.code, "label": self.label, "target_days": self.target_days,
                "window_from_days": self.window_from_days, "window_to_days": self.window_to_days,
                "reminder_offsets": list(self.reminder_offsets), "instruments": list(self.instruments)}


def default_schedule() -> tuple[ScheduledTimepoint, ...]:
    """The schedule of a site that has chosen none (module docstring)."""
    codes = instruments.listed(instruments.Listing.VISIT_DEFAULT)
    return tuple(ScheduledTimepoint(tp.code, tp.label, tp.target_days, tp.window_from_days, tp.window_to_days,
                                    DEFAULT_REMINDER_OFFSETS, codes)
                 for tp in TIMEPOINTS if tp.code in DEFAULT_SCHEDULE)


def _from_rows(rows: Sequence[SiteScheduleRow]) -> tuple[ScheduledTimepoint, ...]:
    order = {tp.code: i for i, tp in enumerate(TIMEPOINTS)}
    out = []
    for r in sorted(rows, key=lambda r: order.get(r.timepoint, len(order))):
        if not r.enabled:
            continue
        tp = get_timepoint(r.timepoint)
        out.append(ScheduledTimepoint(tp.code, tp.label, tp.target_days, r.window_from_days, r.window_to_days,
                                      tuple(int(o) for o in r.reminder_offsets), tuple(r.instruments)))
    return tuple(out)


def site_schedule(session_or_store: Session | Store, site_id: int) -> tuple[ScheduledTimepoint, ...]:
    """The schedule site ``site_id`` follows (its enabled rows, or the default when it has none)."""
    if isinstance(session_or_store, Store):
        with session_or_store.transaction() as s:
            return site_schedule(s, site_id)
    rows = session_or_store.execute(select(SiteScheduleRow).where(SiteScheduleRow.site_id == site_id)).scalars().all()
    return _from_rows(rows) if rows else default_schedule()


def site_schedules(session: Session) -> dict[int, tuple[ScheduledTimepoint, ...]]:
    """The schedule of every site that has chosen its own (site id → schedule); every other site
    follows :func:`default_schedule`. One query."""
    by_site: dict[int, list[SiteScheduleRow]] = {}
    for r in session.execute(select(SiteScheduleRow)).scalars():
        by_site.setdefault(r.site_id, []).append(r)
    return {site_id: _from_rows(rows) for site_id, rows in by_site.items()}


def _int(value: Any, field: str, allowed: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field=field, value=value, allowed=allowed)
    return value


def _entry(i: int, entry: Any) -> SiteScheduleRow:
    """One validated entry (not yet bound to a site)."""
    field = f"schedule[{i}]"
    if not isinstance(entry, Mapping):
        raise ValidationError(field=field, value=entry, allowed="an object with timepoint, window_from_days, "
                              "window_to_days, reminder_offsets, instruments, enabled")
    known = {"timepoint", "enabled", "window_from_days", "window_to_days", "reminder_offsets", "instruments"}
    extra = sorted(set(entry) - known)
    if extra:
        raise ValidationError(field=f"{field}.{extra[0]}", value=entry[extra[0]], allowed=sorted(known),
                              reason="unknown field")
    tp = get_timepoint(entry.get("timepoint"), field=f"{field}.timepoint")
    field = f"schedule.{tp.code}"
    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ValidationError(field=f"{field}.enabled", value=enabled, allowed="true or false")
    inside = f"{tp.window_from_days} to {tp.window_to_days} (inside the {tp.code} window)"
    lo = _int(entry.get("window_from_days", tp.window_from_days), f"{field}.window_from_days", inside)
    hi = _int(entry.get("window_to_days", tp.window_to_days), f"{field}.window_to_days", inside)
    if not tp.window_from_days <= lo <= tp.window_to_days:
        raise ValidationError(field=f"{field}.window_from_days", value=lo, allowed=inside,
                              reason="a site may narrow a timepoint's window, not widen it")
    if not lo <= hi <= tp.window_to_days:
        raise ValidationError(field=f"{field}.window_to_days", value=hi,
                              allowed=f"{lo} to {tp.window_to_days} (from window_from_days to the end of the "
                                      f"{tp.code} window)")
    offsets_raw = entry.get("reminder_offsets", list(DEFAULT_REMINDER_OFFSETS))
    span = hi - lo
    if isinstance(offsets_raw, str) or not isinstance(offsets_raw, Sequence) or len(offsets_raw) > MAX_REMINDERS:
        raise ValidationError(field=f"{field}.reminder_offsets", value=offsets_raw,
                              allowed=f"a list of up to {MAX_REMINDERS} days after the window opens")
    offsets = [_int(o, f"{field}.reminder_offsets", f"whole days from 0 to {span}") for o in offsets_raw]
    for o in offsets:
        if not 0 <= o <= span:
            raise ValidationError(field=f"{field}.reminder_offsets", value=o, allowed=f"0 to {span}",
                                  reason="a message goes out between the day the window opens and its last day")
    if len(set(offsets)) != len(offsets):
        raise ValidationError(field=f"{field}.reminder_offsets", value=offsets_raw, allowed="distinct days",
                              reason="the same day twice")
    codes_raw = entry.get("instruments", list(instruments.listed(instruments.Listing.VISIT_DEFAULT)))
    if isinstance(codes_raw, str) or not isinstance(codes_raw, Sequence) or not codes_raw:
        raise ValidationError(field=f"{field}.instruments", value=codes_raw,
                              allowed=[i.NAME for i in instruments.all()], reason="a list of at least one")
    for code in codes_raw:
        instruments.get(code, f"{field}.instruments")
    return SiteScheduleRow(timepoint=tp.code, enabled=enabled, window_from_days=lo, window_to_days=hi,
                           reminder_offsets=sorted(offsets), instruments=list(dict.fromkeys(codes_raw)))


def set_site_schedule(store: Store, actor: Actor, site_id: int, entries: Sequence[Mapping[str, Any]], *,
                      now: dt.datetime | None = None) -> tuple[ScheduledTimepoint, ...]:
    """Replace site ``site_id``'s schedule with ``entries`` (admin only; validated whole before
    anything is stored; audited). An empty list returns the site to the default schedule.

    Each entry: ``timepoint`` (a code of :data:`~spinetrack.domain.pathway.TIMEPOINTS`),
    ``enabled`` (default true), ``window_from_days`` / ``window_to_days`` (inside the timepoint's
    global window; default: the global window), ``reminder_offsets`` (default ``[0, 7, 14]``),
    ``instruments`` (default: the visit defaults). A refused entry raises
    :class:`~spinetrack.errors.ValidationError` naming its field, e.g. ``schedule.6m.window_to_days``.
    Visits already scheduled keep their dates; new ones follow the new schedule."""
    if actor.role not in ("admin", "system"):
        raise PermissionDeniedError("only an admin may change a site's follow-up schedule", role=actor.role)
    if isinstance(entries, (str, Mapping)) or not isinstance(entries, Sequence):
        raise ValidationError(field="schedule", value=entries, allowed="a list of timepoint entries")
    rows = [_entry(i, e) for i, e in enumerate(entries)]
    seen: set[str] = set()
    for r in rows:
        if r.timepoint in seen:
            raise ValidationError(field=f"schedule.{r.timepoint}", value=r.timepoint, allowed="each timepoint once",
                                  reason="listed twice")
        seen.add(r.timepoint)
    # Windows lie inside their timepoints' global windows, which do not overlap: checked here all
    # the same, so that the rule holds even if the global windows change.
    spans = sorted((r.window_from_days, r.window_to_days, r.timepoint) for r in rows if r.enabled)
    for (_, hi_a, a), (lo_b, _, b) in itertools.pairwise(spans):
        if lo_b <= hi_a:
            raise ValidationError(field=f"schedule.{b}.window_from_days", value=lo_b, allowed=f"after day {hi_a}",
                                  reason=f"overlaps the {a} window")
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with store.transaction() as s:
        if s.get(SiteRow, site_id) is None:
            raise NotFoundError(entity="site", key=site_id)
        s.execute(delete(SiteScheduleRow).where(SiteScheduleRow.site_id == site_id))
        for r in rows:
            r.site_id, r.updated_by, r.updated_at = site_id, actor.name, now
            s.add(r)
        s.flush()
        audit.append(s, actor=actor.name, actor_role=actor.role, action="update", entity="site_schedule",
                     entity_id=site_id, detail={"schedule": [
                         {"timepoint": r.timepoint, "enabled": r.enabled, "window_from_days": r.window_from_days,
                          "window_to_days": r.window_to_days, "reminder_offsets": r.reminder_offsets,
                          "instruments": r.instruments} for r in rows]})
        return site_schedule(s, site_id)
