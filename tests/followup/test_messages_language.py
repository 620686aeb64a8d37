"""Follow-up messages and letters in the patient's language, with the clinic's name and contact.

Oracles: the Spanish wording is ``spinetrack/locale/es/LC_MESSAGES/messages.po`` (quoted here
sentence by sentence, so a changed catalog is noticed); Spanish dates follow the Unicode CLDR
Spanish calendar (long form "d 'de' MMMM 'de' y": "7 de diciembre de 2026"; abbreviated months
"dic", "mar"); SMS lengths follow 3GPP TS 23.038 / 23.040 as in ``test_messages.py`` (the GSM
7-bit alphabet has é and ñ but not á, í, ó, ú, which an SMS writes without the accent).
"""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path

import pypdf
import pytest
from sqlalchemy import Engine, update

from spinetrack import followup, i18n
from spinetrack.followup.letters import letters_pdf, print_letters
from spinetrack.followup.messages import compose, format_date, sms_length
from spinetrack.store.repositories import Store
from spinetrack.store.tables import PatientIdentityRow, SiteRow
from tests.followup.cohort import RecordingChannel, add_episodes, add_site
from tests.followup.test_letters import _item, _squash
from tests.followup.test_messages import CLINICAL_WORDS, LINK, STOP

OPENS, CLOSES = dt.date(2026, 12, 7), dt.date(2027, 3, 1)
CLINIC = "Clínica del Norte"
# Clinical words in Spanish, as CLINICAL_WORDS in English: none may appear in a message.
CLINICAL_ES = ("diagnóstico", "cirugía", "operación", "intervención", "estenosis", "hernia", "disco", "fusión",
               "descompresión", "puntuación", "tratamiento", "columna", "ciática", "dolor de pierna")
# Words only the English wording uses: none may be left in a Spanish message.
ENGLISH_ONLY = ("hello", "questionnaire", "reminder", "please", "link", "between", "contact", "december")


def _compose(kind: str, channel: str, language: str | None, **overrides: object) -> tuple[str, str, str | None]:
    args: dict[str, object] = {"channel": channel, "clinic_name": CLINIC, "clinic_phone": "+34 910 000 000",
                               "clinic_email": "seguimiento@norte.example.es", "timepoint_label": "3 months",
                               "opens_on": OPENS, "closes_on": CLOSES, "link": LINK, "opt_out_link": STOP,
                               "language": language}
    args.update(overrides)
    return compose(kind, **args)  # type: ignore[arg-type]


def _no_english_left(text: str) -> list[str]:
    without_links = text.replace(STOP, "").replace(LINK, "").replace("3 months", "").lower()
    return [w for w in ENGLISH_ONLY if re.search(rf"\b{w}\b", without_links)]


def test_spanish_dates_follow_cldr_and_english_ones_stay_as_they_were() -> None:
    with i18n.use_locale("es"):
        assert format_date(OPENS) == "7 de diciembre de 2026"
        assert format_date(CLOSES, short=True) == "1 mar 2027"
    with i18n.use_locale("en"):
        assert format_date(OPENS) == "7 December 2026"
        assert format_date(CLOSES, short=True) == "1 Mar 2027"


def test_a_spanish_invitation_by_e_mail_is_in_spanish_with_the_clinic() -> None:
    subject, text, html = _compose("invitation", "email", "es")
    assert subject == f"{CLINIC}: un cuestionario corto sobre su espalda"
    assert text.startswith("Hola:\n\n")
    assert f"En {CLINIC} queremos saber cómo se encuentra." in text
    assert "respóndalo entre el 7 de diciembre de 2026 y el 1 de marzo de 2027 con este enlace:\n" + LINK in text
    assert (f"Si tiene preguntas, comuníquese con {CLINIC} por teléfono al +34 910 000 000 o por correo "
            "electrónico a seguimiento@norte.example.es.") in text
    assert "Si no desea recibir más mensajes como este, abra este enlace:\n" + STOP in text
    assert html is not None and '<html lang="es">' in html and ">Abrir mi página</a>" in html
    assert f'href="{LINK}"' in html and f'href="{STOP}"' in html
    assert _no_english_left(text) == [] and _no_english_left(html) == []
    assert "spinetrack" not in (subject + text + html).lower()
    for word in CLINICAL_ES + CLINICAL_WORDS:
        assert word not in (subject + text).lower(), word


@pytest.mark.parametrize("kind", ["reminder", "new_link"])
def test_a_spanish_reminder_and_new_link_are_in_spanish(kind: str) -> None:
    subject, text, _ = _compose(kind, "email", "es")
    if kind == "reminder":
        assert subject == f"Recordatorio de {CLINIC}: un cuestionario corto sobre su espalda"
        assert "está abierto hasta el 1 de marzo de 2027. Si todavía no lo ha respondido, use este enlace:" in text
    else:
        assert subject == f"{CLINIC}: su nuevo enlace"
        assert "Usted pidió un nuevo enlace a su página.\n\nAquí lo tiene:\n" + LINK in text
    assert _no_english_left(text) == []


@pytest.mark.parametrize("kind", ["invitation", "reminder", "new_link"])
def test_a_spanish_sms_is_spanish_in_the_gsm_alphabet_and_within_its_parts(kind: str) -> None:
    _, text, _ = _compose(kind, "sms", "es")
    assert text.startswith("Clinica del Norte: ")  # í is not in the GSM alphabet: written without the accent
    assert text.endswith(f" Para dejar de recibir mensajes: {STOP}") and LINK in text
    length = sms_length(text)
    assert length.encoding == "gsm7" and length.segments == 2  # as the English message of the same link
    assert _no_english_left(text) == []
    if kind == "invitation":
        assert "abierto del 7 dic 2026 al 1 mar 2027: " + LINK in text
    if kind == "reminder":
        assert "hasta el 1 mar 2027: " in text


def test_a_long_clinic_name_still_shortens_a_spanish_sms() -> None:
    long_name = "Hospital Regional Universitario de Salud Musculoesquelética y Rehabilitación del Norte"
    _, text, _ = _compose("invitation", "sms", "es", clinic_name=long_name, sms_max_segments=2)
    assert sms_length(text).segments == 2 and text.startswith("Hospital Regional") and "...:" in text
    assert LINK in text and STOP in text


@pytest.mark.parametrize("language", [None, "en", "fr", ""])
def test_english_or_no_language_gives_the_english_message(language: str | None) -> None:
    for channel in ("email", "sms"):
        english = _compose("invitation", channel, language)
        assert english == _compose("invitation", channel, "en")
    subject, text, html = _compose("invitation", "email", language)
    assert subject == f"{CLINIC}: a short questionnaire about your back"
    assert "Please answer it between 7 December 2026 and 1 March 2027, using this link:" in text
    assert html is not None and '<html lang="en">' in html


def test_the_language_is_the_patients_not_the_callers() -> None:
    with i18n.use_locale("es"):
        subject, _, _ = _compose("new_link", "email", "en")
        assert subject == f"{CLINIC}: your new link"
        assert i18n.get_locale() == "es"  # the caller's language is back after the message
    assert _compose("new_link", "email", None)[0] == f"{CLINIC}: your new link"


def test_the_sender_writes_to_each_patient_in_their_language(engine: Engine) -> None:
    """Two patients of one clinic, one Spanish-speaking: each invitation is in the patient's language."""
    store = Store(engine)
    site = add_site(engine, name=CLINIC)
    now = dt.datetime(2026, 6, 1, 9, 0)
    add_episodes(engine, site, 2, index_date=now.date() - dt.timedelta(days=64))  # the 3-month window opens today
    with engine.begin() as c:
        c.execute(update(PatientIdentityRow).where(PatientIdentityRow.email == "p1@example.org")
                  .values(language="es"))
    channel = RecordingChannel()
    followup.run(store, now=now, channels={"email": channel}, link_base="https://clinic.example.org")
    by_to = {m.to: m for m in channel.sent}
    assert set(by_to) == {"p0@example.org", "p1@example.org"}
    english, spanish = by_to["p0@example.org"], by_to["p1@example.org"]
    assert english.subject == f"{CLINIC}: a short questionnaire about your back"
    assert "between 1 June 2026 and" in english.text
    assert spanish.subject == f"{CLINIC}: un cuestionario corto sobre su espalda"
    assert "entre el 1 de junio de 2026 y el" in spanish.text and "+44 20 7946 0000" in spanish.text
    assert spanish.html is not None and '<html lang="es">' in spanish.html


def test_the_language_is_read_when_the_message_is_sent_not_when_it_was_queued(engine: Engine) -> None:
    """A message held (no channel yet) while the patient was English goes out in Spanish once
    the patient's language is Spanish: the sender reads it with the address, at send time."""
    store = Store(engine)
    site = add_site(engine, name=CLINIC)
    now = dt.datetime(2026, 6, 1, 9, 0)
    add_episodes(engine, site, 1, index_date=now.date() - dt.timedelta(days=64))
    followup.run(store, now=now, channels=None, link_base="https://clinic.example.org")  # held
    with engine.begin() as c:
        c.execute(update(PatientIdentityRow).values(language="es"))
    channel = RecordingChannel()
    followup.run(store, now=now + dt.timedelta(hours=1), channels={"email": channel},
                 link_base="https://clinic.example.org")
    (msg,) = channel.sent
    assert msg.subject == f"{CLINIC}: un cuestionario corto sobre su espalda"


def _pdf_text(path: Path) -> str:
    return " ".join(pypdf.PdfReader(path).pages[0].extract_text().split())


def test_a_spanish_letter_is_in_spanish_with_the_clinic(tmp_path: Path) -> None:
    out = tmp_path / "es.pdf"
    letters_pdf([_item(1, language="es", clinic_name=CLINIC, opens_on=OPENS, closes_on=CLOSES)], out,
                printed_on=dt.date(2026, 12, 7))
    text = _pdf_text(out)
    for expected in ("Un cuestionario corto sobre su espalda", "Estimado/a Alex Example 1:",
                     f"En {CLINIC} queremos saber cómo se encuentra.",
                     "Por favor, respóndalo entre el 7 de diciembre de 2026 y el 1 de marzo de 2027.",
                     "Escanee el código con la cámara de su teléfono",
                     f"comuníquese con {CLINIC} (teléfono +44 20 7946 0000, correo electrónico "
                     "followup@north.example.org)"):
        assert _squash(expected) in _squash(text), expected
    assert "Dear" not in text and "questionnaire" not in text.lower()
    english = tmp_path / "en.pdf"
    letters_pdf([_item(1)], english, printed_on=dt.date(2026, 12, 7))
    assert "Dear Alex Example 1," in _pdf_text(english) and "7 December 2026" in _pdf_text(english)


def _png(width: int = 40, height: int = 20) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), (29, 79, 145)).save(buf, format="PNG")
    return buf.getvalue()


def test_the_print_batch_prints_each_letter_in_its_language_with_the_png_logo(engine: Engine,
                                                                              tmp_path: Path) -> None:
    store = Store(engine)
    site = add_site(engine, name=CLINIC)
    now = dt.datetime(2026, 6, 1, 9, 0)
    add_episodes(engine, site, 2, index_date=now.date() - dt.timedelta(days=100), email=False)
    logo = _png()
    with engine.begin() as c:
        c.execute(update(PatientIdentityRow).values(postal_address="1 Calle Mayor\n28013 Madrid"))
        c.execute(update(PatientIdentityRow).where(PatientIdentityRow.full_name == "Patient 1").values(language="es"))
        c.execute(update(SiteRow).where(SiteRow.id == site).values(logo=logo, logo_type="image/png"))
    followup.run(store, now=now, channels=None, link_base="https://clinic.example.org")
    out = tmp_path / "batch.pdf"
    assert print_letters(store, now=now, link_base="https://clinic.example.org", out=out).letters == 2
    reader = pypdf.PdfReader(out)
    texts = [" ".join(p.extract_text().split()) for p in reader.pages]
    assert "Dear Patient 0," in texts[0] and "1 June 2026" in texts[0]
    assert "Estimado/a Patient 1:" in texts[1] and "1 de junio de 2026" in texts[1]
    assert all(CLINIC in t for t in texts)
    sizes = sorted({(img.image.width, img.image.height) for page in reader.pages for img in page.images})
    assert (40, 20) in sizes  # the logo, printed on the pages beside the QR codes


def test_an_svg_logo_is_not_printed_the_clinic_name_is(engine: Engine, tmp_path: Path) -> None:
    store = Store(engine)
    site = add_site(engine, name=CLINIC)
    now = dt.datetime(2026, 6, 1, 9, 0)
    add_episodes(engine, site, 1, index_date=now.date() - dt.timedelta(days=100), email=False)
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'
    with engine.begin() as c:
        c.execute(update(PatientIdentityRow).values(postal_address="1 Calle Mayor\n28013 Madrid"))
        c.execute(update(SiteRow).where(SiteRow.id == site).values(logo=svg, logo_type="image/svg+xml"))
    followup.run(store, now=now, channels=None, link_base="https://clinic.example.org")
    out = tmp_path / "svg.pdf"
    assert print_letters(store, now=now, link_base="https://clinic.example.org", out=out).letters == 1
    page = pypdf.PdfReader(out).pages[0]
    assert CLINIC in page.extract_text()
    assert len(page.images) == 1  # the QR code only
