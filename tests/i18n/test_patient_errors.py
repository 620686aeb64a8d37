"""The message a patient's error page shows (``spinetrack.web.errors.patient_message``): the
error's own sentence in the page's language when it is one a patient may read, else None (the
page then says a plain sentence for its status). The exception itself keeps the English.

Oracle: the Spanish catalogs (``locale/es/LC_MESSAGES``), read through ``gettext``; dates in
words in the Unicode CLDR's long format, as Babel ships it ("7 de diciembre de 2026").
"""

from __future__ import annotations

import datetime as dt

from spinetrack import i18n
from spinetrack.errors import AuthenticationError, NotFoundError, ValidationError
from spinetrack.store.home import LINK_INVALID
from spinetrack.store.patient_text import patient_error
from spinetrack.store.visits import LINK_CLOSED, NOT_OPEN_YET
from spinetrack.web.errors import PATIENT_MESSAGES, PATIENT_TITLES, patient_message


def test_a_marked_message_is_translated_at_display_and_stays_english_in_the_error() -> None:
    exc = AuthenticationError(LINK_CLOSED)
    assert str(exc) == "This questionnaire link is no longer open. Please use the link from your clinic."
    with i18n.use_locale("es"):
        spanish = patient_message(exc)
        assert spanish == i18n.gettext(LINK_CLOSED) and spanish != LINK_CLOSED
        assert patient_message(AuthenticationError(LINK_INVALID)) == i18n.gettext(LINK_INVALID) != LINK_INVALID
    with i18n.use_locale("en"):
        assert patient_message(exc) == LINK_CLOSED


def test_a_message_id_with_dates_is_said_with_the_dates_of_the_language() -> None:
    opens, closes = dt.date(2026, 12, 7), dt.date(2027, 2, 18)
    exc = patient_error(AuthenticationError, NOT_OPEN_YET, opens=opens, closes=closes)
    # the English kept in the error (the log, the API): the store's own date words
    assert str(exc) == ("Your questionnaire opens on 7 December 2026 and closes on 18 February 2027. "
                        "Please open this link again from 7 December 2026.")
    with i18n.use_locale("es"):
        said = patient_message(exc)
        assert said == i18n.gettext(NOT_OPEN_YET, opens="7 de diciembre de 2026", closes="18 de febrero de 2027")
        assert said is not None and "7 de diciembre de 2026" in said and "opens" not in said
    with i18n.use_locale("en"):
        assert patient_message(exc) == ("Your questionnaire opens on December 7, 2026 and closes on "
                                        "February 18, 2027. Please open this link again from December 7, 2026.")


def test_a_technical_message_is_not_shown_to_a_patient() -> None:
    with i18n.use_locale("es"):
        assert patient_message(NotFoundError(entity="questionnaire", key="nope")) is None
        assert patient_message(ValidationError(field="action", value="x", allowed=["next"])) is None
        assert patient_message(AuthenticationError("missing or wrong CSRF token (reload the page and try again)")) \
            is None


def test_every_status_has_a_title_and_a_plain_sentence_in_spanish() -> None:
    with i18n.use_locale("es"):
        for status, msgid in [*PATIENT_TITLES.items(), *PATIENT_MESSAGES.items()]:
            assert i18n.gettext(msgid) != msgid, (status, msgid)
