"""Follow-up that runs itself: the site's schedule, the scheduler, the outbox and its channels.

``run(store, *, now, channels, link_base, dry_run=False, progress=None) -> RunReport`` is the
whole job (``spinetrack followup run``, and ``spinetrack serve`` every few minutes): it schedules
each episode's visits, opens those whose window has opened, queues their invitations and
reminders and sends what is due (:mod:`~spinetrack.followup.scheduler`,
:mod:`~spinetrack.followup.outbox`). :func:`channels_from_settings` builds the channels from
the settings the caller read (:mod:`~spinetrack.followup.channels`).

Modules
-------
``schedule``   a site's timepoints, windows, reminder offsets and questionnaires (admin-set).
``links``      links to the patient's home (only their hashes stored).
``scheduler``  one run: schedule, complete, stop, miss, open, queue.
``outbox``     sending: claim, send, record (at-least-once).
``messages``   what a message says; ``channels``: e-mail, SMS; ``letters``: the print batch.
"""

from __future__ import annotations

from spinetrack.followup.channels import Channels, channels_from_settings
from spinetrack.followup.scheduler import RunReport, run

__all__ = ["Channels", "RunReport", "channels_from_settings", "run"]
