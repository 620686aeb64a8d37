"""No English on a page a Spanish-speaking patient sees when something goes wrong (issue 19, §3).

Every error a patient can meet on the patient routes (``/p/…``) — a closed or unknown link (401),
a page that is not theirs (403), a page not found (404), a page that has closed (410), a form
that was not filled in as expected (422), too many tries (429), a server error (500) — and the
reasons the questionnaire page gives when it refuses an answer (not one of the options, out of
range, not a number, a rule between two answers) are said in Spanish under the Spanish locale
(the ``spinetrack_lang`` cookie, ``Accept-Language``, or the language recorded for the patient)
and in English under the English one.

Oracle: the Spanish expected on each page is the catalog's translation of the English message
(``gettext`` under ``use_locale("es")``, from ``locale/es/LC_MESSAGES/*.po``), never a copy of
it; each is first checked to be a real translation (different from the English), and the page
must not contain the English sentence, nor the technical English of the error (``"questionnaire
'nope' not found"``, ``"is not allowed; allowed"``), which the API's JSON keeps.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from spinetrack import clock, i18n
from spinetrack.errors import PermissionDeniedError
from spinetrack.store.home import hash_link_token
from spinetrack.store.repositories import Actor
from spinetrack.store.tables import PatientIdentityRow, PatientLinkRow
from spinetrack.store.visits import LINK_CLOSED, NOT_OPEN_YET
from spinetrack.web.errors import PATIENT_MESSAGES, PATIENT_OTHER, PATIENT_TITLES
from tests.web.conftest import World
from tests.web.test_patient_pages import csrf_of

LANGS = {"es": {"Accept-Language": "es-MX,es;q=0.9"}, "en": {"Accept-Language": "en-GB,en;q=0.9"}}
CLOSED_HINT = "Please contact your clinic: they can send you a new personal link."


def say(lang: str, msgid: str, **values: Any) -> str:
    """``msgid`` as the catalogs of ``lang`` say it; a Spanish one must really be translated."""
    with i18n.use_locale(lang):
        text = i18n.gettext(msgid, **values)
    if lang != i18n.DEFAULT_LANGUAGE:
        assert text != (msgid % values if values else msgid), f"no Spanish for {msgid!r}"
    return text


def visible(page: str) -> str:
    """The words a patient reads in the page's ``<main>``, unescaped, spaces collapsed."""
    m = re.search(r"<main\b.*?</main>", page, re.S)
    assert m, "no <main> in the page"
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", m.group(0)))).strip()


def check(page: Any, lang: str, status: int, says: list[str], never: list[str]) -> None:
    """The page has ``status``, is in ``lang``, says each of ``says`` (in ``lang``) and none of
    ``never`` (the other language's sentences, the technical English of the error)."""
    assert page.status_code == status, page.text[:400]
    assert f'<html lang="{lang}">' in page.text
    text = visible(page.text)
    for sentence in says:
        assert sentence in text, f"{sentence!r} not in {text!r}"
    for sentence in never:
        assert sentence not in text, f"{sentence!r} in {text!r}"


def both(msgid: str, lang: str, **values: Any) -> tuple[str, str]:
    """(the sentence in ``lang``, the sentence in the other language)."""
    other = "en" if lang == "es" else "es"
    return say(lang, msgid, **values), say(other, msgid, **values)


@pytest.fixture
def client(app: Any) -> Iterator[Any]:
    clients: list[TestClient] = []

    def make(lang: str, *, cookie: bool = False, raise_errors: bool = True) -> TestClient:
        c = TestClient(app, base_url="http://testserver", raise_server_exceptions=raise_errors,
                       headers={} if cookie else LANGS[lang])
        if cookie:  # the language switch's choice
            c.cookies.set("spinetrack_lang", lang)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


def _open_visit(c: TestClient, token: str) -> None:
    r = c.get(f"/p/{token}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/p/visit", r.text


def _home_link(app: Any, eid: int) -> str:
    token = secrets.token_urlsafe(32)
    with app.state.store.transaction() as s:
        s.add(PatientLinkRow(token_hash=hash_link_token(token), episode_id=eid, purpose="message",
                             created_by="test", created_at=clock.utcnow(), revoked=False))
    return token


# --------------------------------------------------------------------------------- 401: closed or unknown links

@pytest.mark.parametrize("lang", ["es", "en"])
@pytest.mark.parametrize("cookie", [False, True])
def test_a_closed_questionnaire_link_is_said_in_the_patients_language(app: Any, world: World, client: Any,
                                                                      lang: str, cookie: bool) -> None:
    c = client(lang, cookie=cookie)
    closed, closed_other = both(LINK_CLOSED, lang)
    title, title_other = both(PATIENT_TITLES[401], lang)
    hint, hint_other = both(CLOSED_HINT, lang)
    # the visit's page without a session (the route's own refusal)
    check(c.get("/p/visit"), lang, 401, [closed, hint], [closed_other, hint_other])
    # an answer posted without a session: the store's LINK_CLOSED, through the error handler
    posted = c.post("/p/q/odi", data={"step": "1", "answer": "1", "action": "next", "csrf_token": "x"})
    check(posted, lang, 401, [title, closed, hint], [title_other, closed_other, hint_other,
                                                     "this questionnaire link is no longer open"])


@pytest.mark.parametrize("lang", ["es", "en"])
def test_a_page_posted_with_a_stale_form_says_so_in_plain_words(app: Any, world: World, client: Any,
                                                                lang: str) -> None:
    """A wrong CSRF token (a page kept open across a new session): the token's English message
    ("missing or wrong CSRF token …", web/security.py) is not for a patient: the plain 401 text."""
    c = client(lang)
    _open_visit(c, world.invitations["A"])
    r = c.post("/p/q/odi", data={"csrf_token": "stale", "step": "1", "action": "next", "answer": "1"})
    says, never = both(PATIENT_MESSAGES[401], lang)
    check(r, lang, 401, [says], [never, "CSRF", "reload the page"])


@pytest.mark.parametrize("lang", ["es", "en"])
def test_a_visit_not_open_yet_tells_its_dates_in_the_patients_language(app: Any, world: World, client: Any,
                                                                      lang: str) -> None:
    """World: operated 40 days ago; the 3-month visit is answered from day 64 to day 136 after the
    operation (domain.pathway.TIMEPOINTS), so it opens in 24 days and closes in 96. The home's
    "start" posted for it (a page kept open, a replayed form) is refused with the dates, in words:
    the Unicode CLDR's long format of the page's language, as Babel ships it."""
    actor = Actor("setup", "clinician", world.sites["A"])
    inv_id, _ = app.state.access.create_invitation(actor, world.episodes["A"], timepoint="3m",
                                                   instrument_codes=["nrs_back"])
    opens, closes = clock.today() + dt.timedelta(days=24), clock.today() + dt.timedelta(days=96)
    c = client(lang)
    home = c.get(f"/p/h/{_home_link(app, world.episodes['A'])}")
    assert home.status_code == 200
    r = c.post(f"/p/home/visit/{inv_id}", data={"csrf_token": csrf_of(home.text)})
    words = {}
    for one in ("es", "en"):
        with i18n.use_locale(one):
            words[one] = {"opens": i18n.format_date(opens, "long"), "closes": i18n.format_date(closes, "long")}
    other = "en" if lang == "es" else "es"
    says = say(lang, NOT_OPEN_YET, **words[lang])
    never = say(other, NOT_OPEN_YET, **words[other])
    check(r, lang, 401, [says], [never, "your questionnaire opens on"])


# --------------------------------------------------------------------------------- 403, 404, 410, 422, 429, 500

@pytest.fixture
def broken_routes(app: Any) -> None:
    """Two patient routes that fail on purpose (nothing in the app refuses a patient with 403, and
    a 500 must not be provoked by a real bug): a role refusal and an unexpected exception."""
    def forbidden() -> None:
        raise PermissionDeniedError("this needs the role clinician; you are patient", role="patient")

    def crash() -> None:
        raise RuntimeError("database exploded at line 42")

    app.add_api_route("/p/test-only/forbidden", forbidden, include_in_schema=False)
    app.add_api_route("/p/test-only/crash", crash, include_in_schema=False)


@pytest.mark.parametrize("lang", ["es", "en"])
def test_403_and_500_on_a_patient_route(app: Any, world: World, client: Any, broken_routes: None,
                                        lang: str) -> None:
    c = client(lang, raise_errors=False)
    title, title_other = both(PATIENT_TITLES[403], lang)
    says, never = both(PATIENT_MESSAGES[403], lang)
    check(c.get("/p/test-only/forbidden"), lang, 403, [title, says], [title_other, never, "needs the role"])
    title, title_other = both(PATIENT_TITLES[500], lang)
    says, never = both(PATIENT_MESSAGES[500], lang)
    crashed = c.get("/p/test-only/crash")
    check(crashed, lang, 500, [title, says], [title_other, never, "database exploded", "Unexpected server error"])
    assert crashed.headers["x-content-type-options"] == "nosniff"  # the security headers, as on every page


@pytest.mark.parametrize("lang", ["es", "en"])
def test_404_and_405_on_a_patient_route(app: Any, world: World, client: Any, lang: str) -> None:
    c = client(lang)
    _open_visit(c, world.invitations["A"])
    title, title_other = both(PATIENT_TITLES[404], lang)
    says, never = both(PATIENT_MESSAGES[404], lang)
    # a questionnaire that is not in the visit (NotFoundError) and an address that does not exist
    check(c.get("/p/q/nope?step=1"), lang, 404, [title, says], [title_other, never, "questionnaire 'nope'"])
    check(c.get("/p/q/odi/no-such-page"), lang, 404, [title, says], [title_other, never, "Not Found"])
    # an address of a form typed again (a POST-only page): HTTP's 405 with its Allow (RFC 9110 §15.5.6)
    typed = c.get("/p/home/leave")
    title, title_other = both(PATIENT_OTHER[0], lang)
    says, never = both(PATIENT_OTHER[1], lang)
    check(typed, lang, 405, [title, says], [title_other, never, "Method Not Allowed"])
    assert typed.headers["allow"] == "POST"


@pytest.mark.parametrize("lang", ["es", "en"])
def test_410_a_closed_home_offers_a_fresh_link_in_the_patients_language(app: Any, world: World, client: Any,
                                                                       lang: str) -> None:
    token = _home_link(app, world.episodes["A"])
    app.state.access.patient_access_days = -30  # every window closed more than the access period ago
    c = client(lang)
    title, title_other = both("Your page has closed", lang)
    button, button_other = both("E-mail me a new link", lang)
    check(c.get(f"/p/h/{token}"), lang, 410, [title, button], [title_other, button_other])


@pytest.mark.parametrize("lang", ["es", "en"])
def test_422_a_form_not_filled_in_as_expected(app: Any, world: World, client: Any, lang: str) -> None:
    """Fields the patient does not type (the step, the button's action, the page's address):
    plain words, never the field name, the Python value or pydantic's English."""
    c = client(lang)
    _open_visit(c, world.invitations["A"])
    q = c.get("/p/q/odi?step=1")
    title, title_other = both(PATIENT_TITLES[422], lang)
    says, never = both(PATIENT_MESSAGES[422], lang)
    technical = ["is not allowed; allowed", "action:", "Input should be", "step:"]
    check(c.post("/p/q/odi", data={"csrf_token": csrf_of(q.text), "step": "1", "action": "delete"}),
          lang, 422, [title, says], [title_other, never, *technical])
    check(c.get("/p/q/odi?step=abc"), lang, 422, [title, says], [title_other, never, *technical])


def test_the_recorded_language_speaks_on_an_error_page_after_the_route_read_it(app: Any, world: World,
                                                                              client: Any) -> None:
    """A patient recorded as Spanish-speaking, on an English browser: an error raised after the
    route read the patient's language (a step beyond the questionnaire) is in Spanish."""
    with app.state.engine.begin() as conn:
        conn.execute(update(PatientIdentityRow).where(PatientIdentityRow.patient_id == world.patients["A"])
                     .values(language="es"))
    c = client("en")
    _open_visit(c, world.invitations["A"])
    q = c.get("/p/q/odi?step=1")
    assert '<html lang="es">' in q.text
    r = c.post("/p/q/odi", data={"csrf_token": csrf_of(q.text), "step": "99", "action": "next", "answer": "1"})
    says, never = both(PATIENT_MESSAGES[422], "es")
    check(r, "es", 422, [say("es", PATIENT_TITLES[422]), says], [never, "step"])


@pytest.mark.parametrize("lang", ["es", "en"])
def test_429_too_many_requests_for_a_new_link(app: Any, world: World, client: Any, lang: str) -> None:
    """store.throttle: 5 free attempts per (link, address), then 1 s after the 5th — the clock is
    held still, so the 6th is refused; the wait is whole minutes, rounded up (1 minute)."""
    frozen = clock.utcnow()
    app.state.access.clock = lambda: frozen
    token = _home_link(app, world.episodes["A"])
    c = client(lang)
    for _ in range(5):
        assert c.post(f"/p/h/{token}/new-link").status_code == 200
    r = c.post(f"/p/h/{token}/new-link")
    assert r.headers["retry-after"] == "1"
    title, title_other = both(PATIENT_TITLES[429], lang)
    with i18n.use_locale(lang):
        says = i18n.ngettext("You have tried too many times. Please wait %(num)d minute and try again.",
                             "You have tried too many times. Please wait %(num)d minutes and try again.", 1)
    check(r, lang, 429, [title, says], [title_other, "sign-in attempts", "wait and try again"])
    if lang == "es":
        assert "You have tried too many times" not in visible(r.text)


# --------------------------------------------------------------------------------- the question page

@pytest.mark.parametrize("lang", ["es", "en"])
def test_an_answer_that_is_not_an_option_or_out_of_range(app: Any, world: World, client: Any, lang: str) -> None:
    """ODI sections take 0–5 (Fairbank & Pynsent 2000: six statements per section, scored 0–5);
    the EQ-5D-5L's own rating takes whole numbers 0–100 (EuroQol EQ VAS)."""
    c = client(lang)
    _open_visit(c, world.invitations["A"])
    q = c.get("/p/q/odi?step=1")
    r = c.post("/p/q/odi", data={"csrf_token": csrf_of(q.text), "step": "1", "action": "next", "answer": "9"})
    refused, refused_other = both("“%(value)s” is not an answer we can accept.", lang, value="9")
    allowed, allowed_other = both("Allowed: %(allowed)s.", lang, allowed="0, 1, 2, 3, 4, 5")
    check(r, lang, 422, [refused, allowed], [refused_other, allowed_other, "is not allowed", "odi.pain_intensity"])
    # a word where a number is expected: the instrument's reason, translated at display time
    r = c.post("/p/q/odi", data={"csrf_token": csrf_of(q.text), "step": "1", "action": "next", "answer": "abc"})
    reason, reason_other = both("not a number", lang)
    said, said_other = both("“%(value)s” is not an answer we can accept (%(reason)s).", lang, value="abc",
                            reason=reason)
    check(r, lang, 422, [said], [said_other, f"({reason_other})"])
    # out of range on a number: EQ-5D-5L step 6, the 0-100 rating
    vas = c.get("/p/q/eq5d5l?step=6")
    r = c.post("/p/q/eq5d5l", data={"csrf_token": csrf_of(vas.text), "step": "6", "action": "next",
                                    "answer": "150"})
    refused, refused_other = both("“%(value)s” is not an answer we can accept.", lang, value="150")
    with i18n.use_locale(lang):
        range_words = i18n.gettext("%(low)s to %(high)s (whole numbers)", low="0", high="100")
    allowed, allowed_other = both("Allowed: %(allowed)s.", lang, allowed=range_words)
    check(r, lang, 422, [refused, allowed], [refused_other, "Allowed:" if lang == "es" else "Se acepta:",
                                            "whole numbers" if lang == "es" else "números enteros",
                                            "is not allowed", "eq5d5l.vas"])


@pytest.mark.parametrize("lang", ["es", "en"])
def test_a_rule_between_two_answers_is_said_in_the_patients_language(app: Any, world: World, client: Any,
                                                                   lang: str) -> None:
    """The pain-medicine questionnaire: "not at all" to how often, then "yes" to an opioid, is
    refused by the instrument (instruments/analgesics.py); the review page says why, in words."""
    _, token = app.state.access.create_invitation(Actor("setup", "clinician", world.sites["A"]),
                                                  world.episodes["A"], timepoint="6w",
                                                  instrument_codes=["analgesics"])
    c = client(lang)
    _open_visit(c, token)
    for step, value in ((1, "0"), (2, "1"), (3, "0")):
        page = c.get(f"/p/q/analgesics?step={step}")
        r = c.post("/p/q/analgesics", data={"csrf_token": csrf_of(page.text), "step": str(step),
                                            "action": "next", "answer": value}, follow_redirects=False)
        assert r.status_code == 303, r.text
    review = c.get("/p/q/analgesics?step=4")
    reason, reason_other = both("the answer to how often was 'not at all': no pain medicine in the last week", lang)
    said, said_other = both("One answer does not fit: %(problem)s.", lang, problem=reason)
    check(review, lang, 200, [said], [said_other, reason_other, "analgesics.opioid", "allowed"])


def test_the_api_keeps_the_english_for_machines(app: Any, world: World) -> None:
    """The same refusal on the API, under the Spanish locale: English JSON naming the field."""
    with TestClient(app, headers=LANGS["es"]) as c:
        _open_visit(c, world.invitations["A"])
        r = c.post("/p/q/odi", data={"step": "1", "answer": "1", "action": "next", "csrf_token": "x"},
                   headers={"Accept": "application/json"})
        assert r.status_code == 401 and r.json() == {"error": "AuthenticationError",
                                                     "message": "missing or wrong CSRF token (reload the page "
                                                                "and try again)"}
