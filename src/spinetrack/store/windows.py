"""Visit windows and the link rules: when a visit's questionnaires may be answered, and which
timepoints a clinician may make a link for today (the rules of
:meth:`spinetrack.store.visits.Visits.create_invitation`, documented in :mod:`spinetrack.store.visits`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from spinetrack.domain.pathway import DEFAULT_SCHEDULE
from spinetrack.errors import ValidationError
from spinetrack.store.tables import EpisodeRow, FollowupRow, SiteScheduleRow, TimepointRow

__all__ = ["LINK_LOOKAHEAD_DAYS", "InvitableTimepoint", "VisitWindow", "invitable", "long_date", "visit_window",
           "waiting_message"]

# How far ahead of its window a link may be made (it then waits for the window to open). Four
# weeks: a link handed over at one clinic visit for the next window (the 6-week review gives the
# 3-month link, whose window opens on day 64) — a product rule, not a clinical number.
LINK_LOOKAHEAD_DAYS = 28


def long_date(day: dt.date) -> str:
    return f"{day.day} {day:%B %Y}"


@dataclass(frozen=True, slots=True)
class VisitWindow:
    """The dates between which a visit's questionnaires are answered (both days included).
    ``opens_on`` and ``closes_on`` are None for a baseline of an episode whose index date is not
    known yet: open now, until treatment starts."""

    code: str
    label: str
    opens_on: dt.date | None
    closes_on: dt.date | None

    def state(self, today: dt.date) -> str:
        """``upcoming``, ``open`` or ``closed`` on ``today``."""
        if self.opens_on is not None and today < self.opens_on:
            return "upcoming"
        if self.closes_on is not None and today > self.closes_on:
            return "closed"
        return "open"

    @property
    def dates(self) -> str:
        """The window in words, e.g. ``from 10 March 2027 to 5 June 2027``."""
        if self.opens_on is None or self.closes_on is None:
            return "now, until your treatment starts"
        return f"from {long_date(self.opens_on)} to {long_date(self.closes_on)}"

    def ends_at(self) -> dt.datetime | None:
        """The first moment after the window (midnight UTC after its last day)."""
        return None if self.closes_on is None else dt.datetime.combine(self.closes_on + dt.timedelta(days=1),
                                                                       dt.time())


@dataclass(frozen=True, slots=True)
class InvitableTimepoint:
    """A timepoint a clinician may invite for today (:meth:`Visits.invitable_timepoints`)."""

    code: str
    label: str
    opens_on: dt.date | None
    closes_on: dt.date | None
    state: str  # "open" or "upcoming"


def _site_windows(s: Session, site_id: int) -> dict[str, tuple[int, int]]:
    """The site's scheduled timepoints and their windows (days from the index date): its
    ``site_schedules`` rows that are enabled, or the default schedule at the installation's
    windows when the site has none (the rule of ``followup.schedule.site_schedule``, read here
    because the store sits below the scheduler)."""
    rows = s.execute(select(SiteScheduleRow.timepoint, SiteScheduleRow.enabled, SiteScheduleRow.window_from_days,
                            SiteScheduleRow.window_to_days).where(SiteScheduleRow.site_id == site_id)).all()
    if rows:
        return {r.timepoint: (r.window_from_days, r.window_to_days) for r in rows if r.enabled}
    tps = s.execute(select(TimepointRow).where(TimepointRow.code.in_(DEFAULT_SCHEDULE))).scalars()
    return {tp.code: (tp.window_from_days, tp.window_to_days) for tp in tps}


def waiting_message(window: VisitWindow) -> str:
    """What a patient is told who opens a link before its window: the dates."""
    assert window.opens_on is not None and window.closes_on is not None
    return (f"your questionnaire opens on {long_date(window.opens_on)} and closes on "
            f"{long_date(window.closes_on)}; please open this link again from {long_date(window.opens_on)}")


def invitable(s: Session, ep: EpisodeRow, today: dt.date) -> list[InvitableTimepoint]:
    site_id = ep.patient.site_id
    order = s.execute(select(TimepointRow.code).order_by(TimepointRow.position)).scalars().all()
    scheduled = _site_windows(s, site_id)
    out: list[InvitableTimepoint] = []
    for code in order:
        if code not in scheduled:
            continue
        try:
            window = visit_window(s, ep, site_id, code)
        except ValidationError:  # no index date yet: the follow-ups cannot be placed
            continue
        state = window.state(today)
        if state == "closed" or (window.opens_on is not None
                                 and window.opens_on > today + dt.timedelta(days=LINK_LOOKAHEAD_DAYS)):
            continue
        out.append(InvitableTimepoint(code, window.label, window.opens_on, window.closes_on, state))
    return out


def visit_window(s: Session, episode: EpisodeRow, site_id: int, timepoint: str,
                 field: str = "invitation.timepoint") -> VisitWindow:
    """The window of ``timepoint`` for ``episode``: the scheduled visit's dates when the scheduler
    has made one (``followups``), otherwise the index date plus the site's window (the
    installation's window for a timepoint the site does not schedule).

    Raises
    ------
    ValidationError
        Unknown timepoint, or a follow-up timepoint of an episode without an index date.
    """
    tp = s.get(TimepointRow, timepoint)
    if tp is None:
        allowed = s.execute(select(TimepointRow.code).order_by(TimepointRow.position)).scalars().all()
        raise ValidationError(field=field, value=timepoint, allowed=list(allowed))
    scheduled = s.execute(select(FollowupRow.opens_on, FollowupRow.closes_on).where(
        FollowupRow.episode_id == episode.id, FollowupRow.timepoint == timepoint)).first()
    if scheduled is not None:
        return VisitWindow(tp.code, tp.label, scheduled.opens_on, scheduled.closes_on)
    low, high = _site_windows(s, site_id).get(timepoint, (tp.window_from_days, tp.window_to_days))
    baseline = tp.target_days == 0 and tp.window_to_days == 0
    if episode.index_date is None:
        if baseline:
            return VisitWindow(tp.code, tp.label, None, None)
        raise ValidationError(field=field, value=timepoint, allowed=["baseline"],
                              reason="the episode has no procedure or treatment start date yet")
    return VisitWindow(tp.code, tp.label, episode.index_date + dt.timedelta(days=low),
                       episode.index_date + dt.timedelta(days=high))
