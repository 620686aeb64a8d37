"""Letters: the follow-up messages of patients who have neither e-mail nor a phone (or prefer
paper), printed in batches as one PDF, one A4 page per patient.

A page has the clinic's name and contact, the patient's name and postal address where a window
envelope shows it (DIN 5008 form B: 20 mm from the left, 45 mm from the top, 85 × 45 mm), the
visit's window, and the link to the patient's home as a QR code and as a short address to type
(a 12-character code, :func:`~spinetrack.followup.links.new_patient_link` with ``short=True``).
Like every message it names no diagnosis, procedure, score or questionnaire, and it is in the
patient's language (``patient_identities.language``, else English; the ``messages`` catalog). The
clinic's logo is printed above its name when the site has a PNG logo (``sites.logo``; an SVG logo
is shown on the web pages only, the letter then carries the name alone).

:func:`print_letters` is ``spinetrack followup letters --out FILE.pdf``: it takes the letters the
scheduler queued (``outbox.channel = 'letter'``) whose visit is still open, gives each a short
link, writes the PDF and marks them ``sent`` (printed; putting them in the post is the clinic's
part). A letter that can no longer go (no consent, opted out, no postal address) is cancelled
with the reason. Two print runs at once never print the same letter: the rows are claimed first
(``sending``); a claim left by a run that died is taken again after :data:`LEASE`.

The PDF is printed by WeasyPrint (as the reports are, :mod:`spinetrack.reports.pdf`), allowed to
read nothing but the ``data:`` URLs of the QR images; the QR codes are made by ``segno``.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import os
import secrets
import socket
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, and_, exists, or_, select, update

from spinetrack import i18n
from spinetrack.domain.pathway import get_timepoint
from spinetrack.followup.links import new_patient_link, opt_out_url, patient_link_url
from spinetrack.followup.messages import format_date
from spinetrack.i18n import gettext as _
from spinetrack.reports.pdf import ReportDependencyError
from spinetrack.store import audit
from spinetrack.store.repositories import Store
from spinetrack.store.tables import (
    EpisodeRow,
    FollowupRow,
    OutboxRow,
    PatientIdentityRow,
    PatientLinkRow,
    PatientRow,
    SiteRow,
)

__all__ = ["LEASE", "LetterBatch", "LetterItem", "letters_pdf", "print_letters", "qr_matrix"]

ACTOR = "system:followup-letters"
LEASE = dt.timedelta(minutes=10)
_QR_ERROR = "m"  # error correction level M (15 % of the code may be damaged or dirty and it still reads)

_O = cast(Table, OutboxRow.__table__)
_F = cast(Table, FollowupRow.__table__)
_E = cast(Table, EpisodeRow.__table__)
_P = cast(Table, PatientRow.__table__)
_ID = cast(Table, PatientIdentityRow.__table__)
_S = cast(Table, SiteRow.__table__)
_L = cast(Table, PatientLinkRow.__table__)


@dataclass(frozen=True, slots=True)
class LetterItem:
    """One page of the batch. ``link`` is the full address the QR code holds and the patient
    types (the short form); ``opens_on`` / ``closes_on`` are ``None`` for a new link."""

    patient_name: str
    postal_address: str
    clinic_name: str
    clinic_phone: str | None
    clinic_email: str | None
    kind: str
    timepoint_label: str | None
    opens_on: dt.date | None
    closes_on: dt.date | None
    link: str
    opt_out_link: str
    language: str | None = None  # the patient's (None: English)
    clinic_logo_png: bytes | None = None  # the site's logo when it is a PNG


@dataclass
class LetterBatch:
    """What :func:`print_letters` did (``as_dict`` for ``--json``)."""

    path: str | None = None
    letters: int = 0
    pages: int = 0
    cancelled: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def qr_matrix(data: str) -> tuple[tuple[bool, ...], ...]:
    """The QR code a letter prints for ``data`` (error correction M), as rows of dark modules
    without the quiet zone."""
    import segno

    code = segno.make(data, error=_QR_ERROR, micro=False)
    return tuple(tuple(bool(m) for m in row) for row in code.matrix)


def _qr_data_uri(data: str) -> str:
    import segno

    return str(segno.make(data, error=_QR_ERROR, micro=False).png_data_uri(scale=8, border=4))


_CSS = """
@page { size: A4; margin: 0; }
* { box-sizing: border-box; }
body { margin: 0; font-family: "DejaVu Sans", sans-serif; font-size: 10.5pt; line-height: 1.45; color: #111; }
.letter { position: relative; width: 210mm; height: 297mm; page-break-after: always; }
.letter:last-child { page-break-after: auto; }
.clinic { position: absolute; top: 15mm; right: 20mm; width: 75mm; text-align: right; font-size: 9.5pt; }
.clinic strong { font-size: 11pt; display: block; }
/* the logo: the clinic block still ends above the address window (45 mm) */
.clinic img { display: block; margin: 0 0 2mm auto; max-width: 60mm; max-height: 10mm; }
.address { position: absolute; top: 45mm; left: 20mm; width: 85mm; height: 45mm; font-size: 11pt;
           white-space: pre-line; overflow: hidden; }
.printed { position: absolute; top: 98mm; right: 20mm; font-size: 9.5pt; }
.body { position: absolute; top: 108mm; left: 20mm; right: 20mm; }
h1 { font-size: 14pt; margin: 0 0 4mm 0; }
p { margin: 0 0 3mm 0; }
.access { display: flex; align-items: center; gap: 8mm; margin: 5mm 0; padding: 4mm; border: 0.4mm solid #444; }
.access img { width: 38mm; height: 38mm; image-rendering: pixelated; flex: none; }
.url { font-family: "DejaVu Sans Mono", monospace; font-size: 13pt; font-weight: bold; word-break: break-all; }
.small { font-size: 9pt; color: #333; }
"""


def _page(item: LetterItem, printed_on: dt.date) -> str:
    with i18n.use_locale(item.language):
        return _page_in_locale(item, printed_on)


def _html(template: str, **values: str) -> str:
    """A translated sentence as HTML: the sentence and each value escaped, then put together."""
    return html.escape(template) % {k: html.escape(v) for k, v in values.items()}


def _page_in_locale(item: LetterItem, printed_on: dt.date) -> str:
    e = html.escape
    if item.kind == "new_link":
        heading, lead = _("Your new link"), e(_("Here is the new link to your page that you asked for."))
    else:
        heading = (_("Reminder: a short questionnaire about your back") if item.kind == "reminder"
                   else _("A short questionnaire about your back"))
        label = _(item.timepoint_label) if item.timepoint_label else None
        ready = (_html(_("A short questionnaire about your back is ready for you (%(visit)s)."), visit=label) if label
                 else e(_("A short questionnaire about your back is ready for you.")))
        if item.opens_on and item.closes_on:
            when = " " + _html(_("Please answer it between %(opens)s and %(closes)s."),
                               opens=format_date(item.opens_on), closes=format_date(item.closes_on))
        elif item.closes_on:
            when = " " + _html(_("Please answer it by %(closes)s."), closes=format_date(item.closes_on))
        else:
            when = ""
        lead = (_html(_("%(clinic)s would like to know how you are getting on."), clinic=item.clinic_name)
                + " " + ready + when)
    contact = [_("telephone %(phone)s", phone=item.clinic_phone) if item.clinic_phone else "",
               _("e-mail %(email)s", email=item.clinic_email) if item.clinic_email else ""]
    contact_line = ", ".join(c for c in contact if c)
    rather = (_html(_("If you would rather answer by telephone or on paper, or if you have questions, please "
                      "contact %(clinic)s (%(contact)s)."), clinic=item.clinic_name, contact=contact_line)
              if contact_line else
              _html(_("If you would rather answer by telephone or on paper, or if you have questions, please "
                      "contact %(clinic)s."), clinic=item.clinic_name))
    scan = _("Scan the code with your phone's camera, or type the address below into a web browser:")
    qr_alt = _("QR code of your link")
    private = _("The address opens your own page, where you can also see your earlier answers. It is yours alone: "
                "please keep this letter private.")
    dear = _html(_("Dear %(name)s,"), name=item.patient_name)
    stop = _html(_("If you do not want any more letters like this, tell us, or open %(link)s"),
                 link=item.opt_out_link)
    logo = (f"<img src=\"data:image/png;base64,{base64.b64encode(item.clinic_logo_png).decode('ascii')}\" alt=\"\">"
            if item.clinic_logo_png else "")
    return (
        f"<section class=\"letter\" lang=\"{e(i18n.get_locale())}\">"
        f"<div class=\"clinic\">{logo}<strong>{e(item.clinic_name)}</strong>"
        + (f"{e(item.clinic_phone)}<br>" if item.clinic_phone else "")
        + (f"{e(item.clinic_email)}" if item.clinic_email else "")
        + "</div>"
        f"<div class=\"address\">{e(item.patient_name)}\n{e(item.postal_address.strip())}</div>"
        f"<div class=\"printed\">{format_date(printed_on)}</div>"
        "<div class=\"body\">"
        f"<h1>{e(heading)}</h1>"
        f"<p>{dear}</p>"
        f"<p>{lead}</p>"
        f"<p>{e(scan)}</p>"
        f"<div class=\"access\"><img src=\"{_qr_data_uri(item.link)}\" alt=\"{e(qr_alt)}\">"
        f"<div class=\"url\">{e(item.link)}</div></div>"
        f"<p>{e(private)}</p>"
        f"<p>{rather}</p>"
        f"<p class=\"small\">{stop}</p>"
        "</div></section>"
    )


def letters_pdf(items: Sequence[LetterItem], path: Path | str, *, printed_on: dt.date | None = None) -> int:
    """Write the letters of ``items`` to a PDF at ``path``, one A4 page each; returns the page count.

    Raises
    ------
    ReportDependencyError
        WeasyPrint, a system library it loads, or segno is missing.
    """
    try:
        import segno  # noqa: F401  (checked here, used in _qr_data_uri)
        import weasyprint
    except ImportError as exc:
        raise ReportDependencyError(f"printing letters needs WeasyPrint and segno ({exc.name} is missing): "
                                    "pip install 'weasyprint>=62' 'segno>=1.6'") from exc
    except OSError as exc:
        raise ReportDependencyError(f"WeasyPrint cannot load a system library ({exc})") from exc
    if not items:
        raise ValueError("no letters to print")
    day = printed_on or dt.date.today()
    languages = {i18n.normalise(i.language) or i18n.DEFAULT_LANGUAGE for i in items}
    lang = languages.pop() if len(languages) == 1 else i18n.DEFAULT_LANGUAGE  # each page says its own
    document_html = (f"<!DOCTYPE html><html lang=\"{lang}\"><head><meta charset=\"utf-8\"><title>Letters</title>"
                     f"<style>{_CSS}</style></head><body>" + "".join(_page(i, day) for i in items) + "</body></html>")
    fetcher = weasyprint.URLFetcher(allowed_protocols=("data",), fail_on_errors=True)
    document = weasyprint.HTML(string=document_html, base_url=None, url_fetcher=fetcher).render()
    document.write_pdf(target=str(Path(path)))
    return len(document.pages)


# -- the print batch ------------------------------------------------------------------------------
_PICK = (select(_O.c.id, _O.c.episode_id, _O.c.kind, _O.c.sequence, _O.c.status, _F.c.timepoint, _F.c.opens_on,
                _F.c.closes_on, _E.c.patient_id, _ID.c.full_name, _ID.c.postal_address, _ID.c.contact_consent,
                _ID.c.opted_out_at, _ID.c.language, _S.c.name.label("clinic_name"),
                _S.c.contact_phone.label("clinic_phone"), _S.c.contact_email.label("clinic_email"),
                _S.c.logo.label("clinic_logo"), _S.c.logo_type.label("clinic_logo_type"))
         .select_from(_O.join(_E, _E.c.id == _O.c.episode_id).join(_P, _P.c.id == _E.c.patient_id)
                      .join(_S, _S.c.id == _P.c.site_id).outerjoin(_F, _F.c.id == _O.c.followup_id)
                      .outerjoin(_ID, _ID.c.patient_id == _P.c.id)))


def _why_not(r: Any) -> str | None:
    if r.kind != "new_link":
        if r.contact_consent is not True:
            return "the patient has not agreed to be contacted"
        if r.opted_out_at is not None:
            return "the patient opted out"
    if not (r.postal_address or "").strip():
        return "no postal address on file"
    return None


def print_letters(store: Store, *, now: dt.datetime, link_base: str, out: Path | str,
                  claimer: str | None = None) -> LetterBatch:
    """Print the due letters to ``out`` and mark them sent (module docstring). With nothing to
    print no file is written and the batch's ``path`` is ``None``."""
    me = (claimer or f"{socket.gethostname()[:30]}:{os.getpid()}:{secrets.token_hex(4)}")[:64]
    due = and_(_O.c.channel == "letter",
               or_(and_(_O.c.status == "queued", _O.c.due_at <= now),
                   and_(_O.c.status == "sending", _O.c.claimed_at < now - LEASE)),
               or_(_O.c.followup_id.is_(None), exists(select(1).where(_F.c.id == _O.c.followup_id,
                                                                      _F.c.status == "open"))))
    batch = LetterBatch()
    items: list[tuple[int, int, LetterItem, dict[str, Any]]] = []
    with store.transaction() as s:
        pick = select(_O.c.id).where(due).order_by(_O.c.id)
        if s.get_bind().dialect.name == "postgresql":
            pick = pick.with_for_update(of=_O, skip_locked=True)
        ids = list(s.execute(pick).scalars())
        if not ids:
            return batch
        s.execute(update(_O).where(_O.c.id.in_(ids))
                  .values(status="sending", claimed_by=me, claimed_at=now, attempts=_O.c.attempts + 1))
        for r in s.execute(_PICK.where(_O.c.id.in_(ids)).order_by(_O.c.id)):
            why = _why_not(r)
            if why:
                s.execute(update(_O).where(_O.c.id == r.id).values(status="cancelled", last_error=why))
                batch.cancelled += 1
                batch.reasons[why] = batch.reasons.get(why, 0) + 1
                continue
            token = new_patient_link(s, r.episode_id, purpose="letter", created_by=ACTOR, outbox_id=r.id,
                                     short=True, now=now)
            label = get_timepoint(r.timepoint).label if r.timepoint else None
            item = LetterItem(patient_name=r.full_name, postal_address=r.postal_address, clinic_name=r.clinic_name,
                              clinic_phone=r.clinic_phone, clinic_email=r.clinic_email, kind=r.kind,
                              timepoint_label=label, opens_on=r.opens_on, closes_on=r.closes_on,
                              link=patient_link_url(link_base, token), opt_out_link=opt_out_url(link_base, token),
                              language=r.language,
                              clinic_logo_png=r.clinic_logo if r.clinic_logo_type == "image/png" else None)
            detail = {"channel": "letter", "kind": r.kind, "sequence": r.sequence, "timepoint": r.timepoint}
            items.append((r.id, r.patient_id, item, detail))
    if items:
        try:
            batch.pages = letters_pdf([i for _, _, i, _ in items], out, printed_on=now.date())
        except BaseException:
            oids = [oid for oid, _, _, _ in items]
            with store.transaction() as s:  # not printed: back in the queue, its links revoked
                s.execute(update(_O).where(_O.c.id.in_(oids), _O.c.claimed_by == me)
                          .values(status="queued", claimed_by=None, claimed_at=None))
                s.execute(update(_L).where(_L.c.outbox_id.in_(oids), _L.c.purpose == "letter",
                                           _L.c.created_at == now).values(revoked=True))
            raise
        batch.path, batch.letters = str(out), len(items)
    with store.transaction() as s:
        if items:
            s.execute(update(_O).where(_O.c.id.in_([oid for oid, _, _, _ in items]), _O.c.claimed_by == me)
                      .values(status="sent", sent_at=now, last_error=None))
        for oid, patient_id, _, detail in items:
            audit.append(s, actor=ACTOR, actor_role="system", action="send", entity="outbox", entity_id=oid,
                         patient_id=patient_id, detail=detail, at=now)
    return batch
