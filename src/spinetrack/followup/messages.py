"""What a follow-up message says: our own plain wording for an invitation, a reminder and a new
link, by e-mail and by SMS, and how long an SMS is.

Every message carries the clinic's name and contact, the patient's link, the dates of the visit's
window (not for a new link) and an opt-out link — and **no clinical data**: no diagnosis,
procedure, score or questionnaire name. The questionnaire is "a short questionnaire about your
back" and the visit is named by its timepoint label only ("3 months"). The patient's name is not
in the message either (a message may be read by whoever shares the phone or the mailbox).

A message is in the patient's language (``patient_identities.language``, else English): its
sentences are in the ``messages`` catalog (``spinetrack/locale/es/LC_MESSAGES/messages.po``), its
dates are written with the month in words in that language (:func:`format_date`), and the
visit's name is translated too. The clinic's name and contact are the site's own
(``sites.name``, ``contact_phone``, ``contact_email``), never "spinetrack".

SMS length (3GPP TS 23.038 for the GSM 7-bit default alphabet and its extension table, TS 23.040
for concatenation): a text in the GSM 7-bit alphabet fits 160 septets in one message, or 153 per
part when it is split (the 6-octet concatenation header takes the rest); a character of the
extension table (``^{}\\[~]|€`` and form feed) takes two septets and is never split across
parts. A text with any other character goes as UCS-2: 70 UTF-16 units in one message, 67 per part.
:func:`compose` keeps an SMS in the GSM alphabet where it can (typographic quotes and dashes
become plain ones, accents outside the alphabet are dropped), shortens the clinic's name if the
text would need more than ``sms_max_segments`` parts, and leaves it to the SMS channel to refuse
a text that is still too long (:class:`~spinetrack.followup.channels.SmsChannel`).
"""

from __future__ import annotations

import datetime as dt
import html
import unicodedata
from dataclasses import dataclass

from spinetrack import i18n
from spinetrack.errors import ValidationError
from spinetrack.i18n import gettext as _

__all__ = [
    "CHANNELS",
    "DEFAULT_SMS_MAX_SEGMENTS",
    "KINDS",
    "OutgoingMessage",
    "SmsLength",
    "compose",
    "format_date",
    "sms_length",
]

KINDS: tuple[str, ...] = ("invitation", "reminder", "new_link")
CHANNELS: tuple[str, ...] = ("email", "sms", "letter")
# Up to three parts: an invitation with a 43-character token, its opt-out link and a clinic name
# of ordinary length takes two; the third leaves room for a long public URL or clinic name.
DEFAULT_SMS_MAX_SEGMENTS = 3

_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = frozenset("^{}\\[~]|€\f")
_TYPOGRAPHIC = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "...",
                              "\u00a0": " ", "\u2009": " ", "\u202f": " ",
                              # letters with no decomposition to a base letter
                              "Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "ı": "i", "Œ": "OE", "œ": "oe", "Þ": "Th",
                              "þ": "th", "ð": "d", "Ħ": "H", "ħ": "h"})
# Babel date patterns per language (long, short): the month in words, so 7/12 and 12/7 cannot be
# confused; a language not listed takes its locale's long and medium forms.
_DATE_PATTERNS = {"en": ("d MMMM y", "d MMM y"), "es": ("d 'de' MMMM 'de' y", "d MMM y")}
_SHORTEST_CLINIC_NAME = 12


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message to one patient, as a channel sends it.

    ``to`` is the e-mail address or the phone number (read from the patient's identity when the
    message is sent, never stored in the outbox). ``subject`` and ``html`` are for e-mail only;
    ``opt_out_link`` becomes the e-mail's ``List-Unsubscribe`` header; ``ref`` is the outbox id,
    for the channel's logs and the e-mail's Message-ID.
    """

    channel: str
    to: str
    subject: str
    text: str
    html: str | None = None
    opt_out_link: str | None = None
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class SmsLength:
    """How an SMS text is encoded and how many parts it takes (module docstring)."""

    encoding: str  # "gsm7" or "ucs2"
    units: int  # septets for gsm7, UTF-16 code units for ucs2
    segments: int


def sms_length(text: str) -> SmsLength:
    """Encoding, length and number of parts of an SMS text (3GPP TS 23.038 / 23.040).

    >>> sms_length("a" * 160)
    SmsLength(encoding='gsm7', units=160, segments=1)
    >>> sms_length("a" * 161).segments
    2
    >>> sms_length("é" * 10).encoding, sms_length("ę" * 10).encoding
    ('gsm7', 'ucs2')
    """
    if all(c in _GSM_BASIC or c in _GSM_EXTENSION for c in text):
        weights = [2 if c in _GSM_EXTENSION else 1 for c in text]
        single, part, encoding = 160, 153, "gsm7"
    else:
        weights = [2 if ord(c) > 0xFFFF else 1 for c in text]
        single, part, encoding = 70, 67, "ucs2"
    units = sum(weights)
    if units <= single:
        return SmsLength(encoding, units, 1 if units else 0)
    segments, used = 1, 0
    for w in weights:  # a two-unit character never straddles two parts
        if used + w > part:
            segments, used = segments + 1, 0
        used += w
    return SmsLength(encoding, units, segments)


def format_date(day: dt.date, *, short: bool = False) -> str:
    """A date as patients read it, in the current language (:func:`spinetrack.i18n.use_locale`),
    with the month in words so that it cannot be misread: ``7 December 2026`` / ``7 de diciembre
    de 2026`` (``short``: ``7 Dec 2026`` / ``7 dic 2026``, for an SMS)."""
    long_form, short_form = _DATE_PATTERNS.get(i18n.get_locale(), ("long", "medium"))
    return i18n.format_date(day, short_form if short else long_form)


def _gsm_friendly(text: str) -> str:
    """Typographic punctuation made plain, and accents outside the GSM alphabet dropped (é stays,
    ę becomes e); a character with no plain form stays (the SMS then goes as UCS-2)."""
    out = []
    for c in text.translate(_TYPOGRAPHIC):
        if c in _GSM_BASIC or c in _GSM_EXTENSION:
            out.append(c)
            continue
        base = "".join(b for b in unicodedata.normalize("NFKD", c) if not unicodedata.combining(b))
        out.append(base if base and all(b in _GSM_BASIC for b in base) else c)
    return "".join(out)


def _check(kind: str, channel: str, opens_on: dt.date | None, closes_on: dt.date | None) -> None:
    if kind not in KINDS:
        raise ValidationError(field="kind", value=kind, allowed=KINDS)
    if channel not in CHANNELS:
        raise ValidationError(field="channel", value=channel, allowed=CHANNELS)
    if kind == "invitation" and opens_on is None:
        raise ValidationError(field="opens_on", value=None, allowed="a date", reason="an invitation names the window")
    if kind != "new_link" and closes_on is None:
        raise ValidationError(field="closes_on", value=None, allowed="a date",
                              reason=f"a {kind} names the window's end")


def _contact_sentence(clinic_name: str, phone: str | None, email: str | None) -> str:
    if phone and email:
        return _("If you have questions, please contact %(clinic)s by telephone on %(phone)s or by e-mail at "
                 "%(email)s.", clinic=clinic_name, phone=phone, email=email)
    if phone:
        return _("If you have questions, please contact %(clinic)s by telephone on %(phone)s.", clinic=clinic_name,
                 phone=phone)
    if email:
        return _("If you have questions, please contact %(clinic)s by e-mail at %(email)s.", clinic=clinic_name,
                 email=email)
    return _("If you have questions, please contact %(clinic)s.", clinic=clinic_name)


def _sms_text(kind: str, clinic: str, label: str | None, opens_on: dt.date | None, closes_on: dt.date | None,
              link: str, opt_out_link: str) -> str:
    stop = _gsm_friendly(_("To get no more messages: %(link)s", link=opt_out_link))
    if kind == "invitation":
        assert opens_on is not None and closes_on is not None
        dates = {"opens": format_date(opens_on, short=True), "closes": format_date(closes_on, short=True)}
        if label:
            text = _("%(clinic)s: a short questionnaire about your back is ready for you (%(visit)s), open %(opens)s "
                     "to %(closes)s: %(link)s", clinic=clinic, visit=label, link=link, **dates)
        else:
            text = _("%(clinic)s: a short questionnaire about your back is ready for you, open %(opens)s to "
                     "%(closes)s: %(link)s", clinic=clinic, link=link, **dates)
    elif kind == "reminder":
        assert closes_on is not None
        text = _("%(clinic)s: a reminder - your short questionnaire about your back is open until %(closes)s: "
                 "%(link)s", clinic=clinic, closes=format_date(closes_on, short=True), link=link)
    else:
        text = _("%(clinic)s: here is your new link to your page: %(link)s", clinic=clinic, link=link)
    return f"{_gsm_friendly(text)} {stop}"


def compose(kind: str, *, channel: str, clinic_name: str, clinic_phone: str | None, clinic_email: str | None,
            timepoint_label: str | None, opens_on: dt.date | None, closes_on: dt.date | None, link: str,
            opt_out_link: str, sms_max_segments: int = DEFAULT_SMS_MAX_SEGMENTS,
            language: str | None = None) -> tuple[str, str, str | None]:
    """The subject, plain text and HTML (``None`` for an SMS or a letter) of one message.

    ``kind`` is ``invitation`` (the window has opened), ``reminder`` or ``new_link`` (the patient
    asked for a fresh link to their home; the dates may then be ``None``). ``channel`` is
    ``email``, ``sms`` or ``letter``; an SMS has an empty subject and is kept within
    ``sms_max_segments`` parts where shortening the clinic's name can do it (module docstring).
    Every value is escaped in the HTML.

    The message is in ``language`` (the patient's, ``patient_identities.language``; ``None``: the
    current language, English unless inside :func:`spinetrack.i18n.use_locale`): its sentences,
    its dates and the visit's name (``timepoint_label`` is the English label, translated here).

    Raises
    ------
    ValidationError
        An unknown kind or channel, an invitation without its window, or a reminder without its end.
    """
    _check(kind, channel, opens_on, closes_on)
    with i18n.use_locale(language or i18n.get_locale()):
        label = _(timepoint_label) if timepoint_label else None
        if channel == "sms":
            clinic = _gsm_friendly(clinic_name.strip())
            label = _gsm_friendly(label) if label else None
            text = _sms_text(kind, clinic, label, opens_on, closes_on, link, opt_out_link)
            while sms_length(text).segments > sms_max_segments and len(clinic) > _SHORTEST_CLINIC_NAME:
                clinic = clinic[: max(_SHORTEST_CLINIC_NAME, len(clinic) - 8) - 3].rstrip() + "..."
                text = _sms_text(kind, clinic, label, opens_on, closes_on, link, opt_out_link)
            return "", text, None
        return _email(kind, clinic_name=clinic_name.strip(), clinic_phone=clinic_phone, clinic_email=clinic_email,
                      timepoint_label=label, opens_on=opens_on, closes_on=closes_on, link=link,
                      opt_out_link=opt_out_link, with_html=channel == "email")


def _email(kind: str, *, clinic_name: str, clinic_phone: str | None, clinic_email: str | None,
           timepoint_label: str | None, opens_on: dt.date | None, closes_on: dt.date | None, link: str,
           opt_out_link: str, with_html: bool) -> tuple[str, str, str | None]:
    opens = format_date(opens_on) if opens_on else None
    closes = format_date(closes_on) if closes_on else None
    if kind == "invitation":
        subject = _("%(clinic)s: a short questionnaire about your back", clinic=clinic_name)
        ready = (_("A short questionnaire about your back is ready for you (%(visit)s).", visit=timepoint_label)
                 if timepoint_label else _("A short questionnaire about your back is ready for you."))
        lead = [_("%(clinic)s would like to know how you are getting on.", clinic=clinic_name),
                ready + " " + _("Please answer it between %(opens)s and %(closes)s, using this link:", opens=opens,
                                closes=closes)]
    elif kind == "reminder":
        subject = _("Reminder from %(clinic)s: a short questionnaire about your back", clinic=clinic_name)
        still = (_("Your short questionnaire about your back (%(visit)s) is open until %(closes)s.",
                   visit=timepoint_label, closes=closes) if timepoint_label else
                 _("Your short questionnaire about your back is open until %(closes)s.", closes=closes))
        lead = [_("This is a reminder from %(clinic)s.", clinic=clinic_name),
                still + " " + _("If you have not answered it yet, please use this link:")]
    else:
        subject = _("%(clinic)s: your new link", clinic=clinic_name)
        lead = [_("You asked for a new link to your page."), _("Here it is:")]
    after = [_("The link opens your own page, where you can also see your earlier answers. "
               "It is yours alone: please do not pass it on. Opening it more than once is fine."),
             _contact_sentence(clinic_name, clinic_phone, clinic_email)]
    hello = _("Hello,")
    stop = _("If you do not want any more of these messages, open this link:")
    footer = _("This message was sent automatically. Replies to it may not be read: please use the contact "
               "details above.")
    text = "\n\n".join([hello, *lead[:-1], f"{lead[-1]}\n{link}", *after, f"{stop}\n{opt_out_link}", footer]) + "\n"
    if not with_html:
        return subject, text, None
    e = html.escape
    button, fallback = _("Open my page"), _("If the button does not work, copy this address into your browser:")
    paragraphs = "".join(f"<p>{e(p)}</p>" for p in [hello, *lead])
    body = (
        f"<!DOCTYPE html><html lang=\"{e(i18n.get_locale())}\"><head><meta charset=\"utf-8\">"
        f"<title>{e(subject)}</title></head>"
        "<body style=\"font-family:sans-serif;font-size:16px;line-height:1.5;color:#1a1a1a;max-width:36em\">"
        f"{paragraphs}"
        f"<p><a href=\"{e(link)}\" style=\"display:inline-block;padding:0.6em 1.2em;background:#1d4f91;"
        f"color:#fff;text-decoration:none;border-radius:4px\">{e(button)}</a></p>"
        f"<p style=\"font-size:14px\">{e(fallback)}"
        f"<br><span style=\"word-break:break-all\">{e(link)}</span></p>"
        + "".join(f"<p>{e(p)}</p>" for p in after)
        + f"<p style=\"font-size:14px\">{e(stop)} <a href=\"{e(opt_out_link)}\">{e(opt_out_link)}</a></p>"
        f"<p style=\"font-size:14px;color:#555\">{e(footer)}</p></body></html>"
    )
    return subject, text, body
