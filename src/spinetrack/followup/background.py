"""The scheduler inside ``spinetrack serve``: a daemon thread that runs :func:`~spinetrack.followup.run`
every ``interval`` (``SPINETRACK_FOLLOWUP_INTERVAL_MINUTES``), so a clinic needs no cron job.
Started and stopped by the web app's lifespan (``web/app.py``, which reads the settings and
passes the values in); off with ``SPINETRACK_FOLLOWUP_AUTO=false``.

The first run comes one interval after the server starts (``spinetrack demo`` and
``spinetrack followup run`` run it at once when wanted). With ``serve --workers N`` on
PostgreSQL every process has this thread, but only the one that holds a PostgreSQL advisory lock
(:data:`LOCK_KEY`, taken with ``pg_try_advisory_lock`` on a connection of its own for the length
of a run) runs; the others skip that turn. SQLite is served by one process; a cron job running
``spinetrack followup run`` beside it is harmless either way, since every step of a run is safe
to do twice at once (:mod:`spinetrack.followup.scheduler`, :mod:`spinetrack.followup.outbox`).
A failed run is logged and the thread carries on.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable

from sqlalchemy import text

from spinetrack import clock
from spinetrack.followup.outbox import ChannelSet
from spinetrack.followup.scheduler import RunReport, run
from spinetrack.store.repositories import Store

__all__ = ["LOCK_KEY", "FollowupLoop"]

LOCK_KEY = 7_351_902_118  # the PostgreSQL advisory lock one scheduler run holds
log = logging.getLogger("spinetrack.followup")


class FollowupLoop:
    """Runs the scheduler every ``interval`` in a daemon thread until :meth:`stop`."""

    def __init__(self, store: Store, *, interval: dt.timedelta, channels: ChannelSet | None, link_base: str,
                 now: Callable[[], dt.datetime] | None = None, first_after: dt.timedelta | None = None) -> None:
        self.store = store
        self.interval = interval
        self.channels = channels
        self.link_base = link_base
        self.now = now or (lambda: dt.datetime.combine(clock.today(), clock.utcnow().time()))
        self.first_after = interval if first_after is None else first_after
        self.runs = 0
        self.last: RunReport | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="spinetrack-followup", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_once(self) -> RunReport | None:
        """One run, unless another process holds the lock (PostgreSQL): then ``None``."""
        engine = self.store.engine
        if engine.dialect.name != "postgresql":
            return self._run()
        with engine.connect() as conn:
            if not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}).scalar():
                conn.rollback()
                return None
            conn.commit()
            try:
                return self._run()
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
                conn.commit()

    def _run(self) -> RunReport:
        report = run(self.store, now=self.now(), channels=self.channels, link_base=self.link_base)
        self.runs += 1
        self.last = report
        log.info("follow-up run: %s invitations, %s messages sent, %s failed, %s held",
                 report.invitations_created, report.messages_sent, report.messages_failed, report.messages_held)
        return report

    def _loop(self) -> None:
        wait = self.first_after.total_seconds()
        while not self._stop.wait(wait):
            try:
                self.run_once()
            except Exception:  # logged; the next turn tries again
                log.exception("follow-up run failed")
            wait = self.interval.total_seconds()
