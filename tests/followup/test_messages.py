"""The wording of follow-up messages, and the SMS length rules.

SMS length oracle: 3GPP TS 23.038 (GSM 7-bit default alphabet: 160 septets per message, the
extension table's characters take two) and TS 23.040 (a concatenated message's 6-octet header
leaves 153 septets or 67 UCS-2 characters per part; UCS-2 alone fits 70).
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from spinetrack.errors import ValidationError
from spinetrack.followup.messages import KINDS, compose, format_date, sms_length

LINK = "https://north.example.org/p/h/" + "A" * 43
STOP = LINK + "/stop"
OPENS, CLOSES = dt.date(2026, 12, 7), dt.date(2027, 3, 1)
# Words that would tell a reader of the message something clinical about the patient.
CLINICAL_WORDS = ("diagnos", "surgery", "operation", "procedure", "stenosis", "hernia", "disc", "fusion",
                  "decompression", "score", "oswestry", "odi", "eq-5d", "eq5d", "nrs", "disability",
                  "treatment", "spinal", "spine", "sciatica", "leg pain", "rmdq", "roland")


def _compose(kind: str, channel: str, **overrides: object) -> tuple[str, str, str | None]:
    args: dict[str, object] = {"channel": channel, "clinic_name": "North Clinic", "clinic_phone": "+44 20 7946 0000",
                               "clinic_email": "followup@north.example.org", "timepoint_label": "3 months",
                               "opens_on": OPENS, "closes_on": CLOSES, "link": LINK, "opt_out_link": STOP}
    args.update(overrides)
    return compose(kind, **args)  # type: ignore[arg-type]


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9-]+", text.lower()))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("channel", ["email", "sms"])
def test_every_message_carries_the_clinic_the_link_and_the_opt_out_and_nothing_clinical(kind: str,
                                                                                        channel: str) -> None:
    subject, text, html = _compose(kind, channel)
    assert "North Clinic" in text
    assert LINK in text and STOP in text
    assert text.count(LINK) == 2  # the link itself and the start of the opt-out link
    everything = " ".join([subject, text, html or ""]).lower()
    for word in CLINICAL_WORDS:
        assert word not in _words(everything) and f" {word}" not in everything, word
    if channel == "email":
        assert "North Clinic" in subject
        assert html is not None and f'href="{LINK}"' in html and f'href="{STOP}"' in html
        assert "+44 20 7946 0000" in text and "followup@north.example.org" in text
    else:
        assert subject == "" and html is None


def test_an_invitation_gives_the_window_and_a_reminder_its_end() -> None:
    _, invitation, _ = _compose("invitation", "email")
    assert "between 7 December 2026 and 1 March 2027" in invitation
    assert "(3 months)" in invitation
    _, reminder, _ = _compose("reminder", "email")
    assert "open until 1 March 2027" in reminder and "7 December 2026" not in reminder
    _, sms, _ = _compose("invitation", "sms")
    assert "open 7 Dec 2026 to 1 Mar 2027" in sms
    _, new_link, _ = _compose("new_link", "email", opens_on=None, closes_on=None, timepoint_label=None)
    assert "new link" in new_link


def test_values_are_escaped_in_the_html() -> None:
    _, text, html = _compose("invitation", "email", clinic_name="A & B <Clinic>")
    assert "A & B <Clinic>" in text
    assert html is not None and "A &amp; B &lt;Clinic&gt;" in html and "<Clinic>" not in html


def test_bad_kind_channel_or_missing_dates_are_refused() -> None:
    with pytest.raises(ValidationError) as bad_kind:
        _compose("survey", "email")
    assert bad_kind.value.field == "kind"
    with pytest.raises(ValidationError) as bad_channel:
        _compose("invitation", "fax")
    assert bad_channel.value.field == "channel"
    with pytest.raises(ValidationError):
        _compose("reminder", "sms", closes_on=None)


def test_without_contact_details_the_message_says_to_contact_the_clinic() -> None:
    _, text, _ = _compose("invitation", "email", clinic_phone=None, clinic_email=None)
    assert "please contact North Clinic." in text


@pytest.mark.parametrize(("text", "encoding", "units", "segments"), [
    ("", "gsm7", 0, 0),
    ("a" * 160, "gsm7", 160, 1),
    ("a" * 161, "gsm7", 161, 2),
    ("a" * 306, "gsm7", 306, 2),  # 2 × 153
    ("a" * 307, "gsm7", 307, 3),
    ("€" * 80, "gsm7", 160, 1),  # an extension character takes two septets
    ("a" * 152 + "€" + "a" * 10, "gsm7", 164, 2),  # 152 + (2 does not fit in 153) → the € opens part 2
    ("a" * 152 + "€" + "a" * 152, "gsm7", 306, 3),  # … so 306 septets need 3 parts here
    ("ę" * 70, "ucs2", 70, 1),
    ("ę" * 71, "ucs2", 71, 2),
    ("ę" * 134, "ucs2", 134, 2),  # 2 × 67
    ("ę" * 135, "ucs2", 135, 3),
    ("éèÄÖÑÜ§¿àß", "gsm7", 10, 1),  # all in the basic alphabet
])
def test_sms_length_follows_3gpp_ts_23_038_and_23_040(text: str, encoding: str, units: int, segments: int) -> None:
    length = sms_length(text)
    assert (length.encoding, length.units, length.segments) == (encoding, units, segments)


def test_an_sms_stays_in_the_gsm_alphabet_and_within_its_parts() -> None:
    _, text, _ = _compose("invitation", "sms", clinic_name="Clinique Łódź – Saint’Étienne")
    assert sms_length(text).encoding == "gsm7"
    assert "Clinique Lodz - Saint'Étienne" in text  # Ł, ó, ź and typographic marks made plain; É is GSM
    assert sms_length(text).segments <= 3
    _, usual, _ = _compose("invitation", "sms")
    assert sms_length(usual).segments == 2  # a 74-character link and its opt-out link take two parts


def test_a_long_clinic_name_is_shortened_to_keep_the_sms_within_its_parts() -> None:
    long_name = "The Very Long Named Regional Hospital for Musculoskeletal Health and Rehabilitation Services"
    _, full, _ = _compose("invitation", "sms", clinic_name=long_name, sms_max_segments=9)
    assert sms_length(full).segments == 3 and long_name in full
    _, text, _ = _compose("invitation", "sms", clinic_name=long_name, sms_max_segments=2)
    assert sms_length(text).segments == 2
    assert text.startswith("The Very Long") and "...:" in text and long_name not in text
    assert LINK in text and STOP in text


def test_format_date_in_english_has_the_month_in_words() -> None:
    """Outside any locale (English); the Spanish form is in test_messages_language.py."""
    assert format_date(dt.date(2027, 1, 5)) == "5 January 2027"
    assert format_date(dt.date(2027, 9, 30), short=True) == "30 Sep 2027"
