"""A Spanish-speaking patient's error pages in Debian's Chromium, on a desktop and a 390×844
phone: a closed questionnaire link (401), a page that does not exist (404) and an answer out of
range on the question page (422) are in Spanish, with no English sentence, and axe-core finds no
serious or critical violation on them. (``tests/web/test_spanish_errors.py`` covers every status
without a browser.)

Oracle: the Spanish catalogs (``locale/es/LC_MESSAGES``) through ``gettext`` under
``use_locale("es")``.
"""

from __future__ import annotations

from typing import Any

import pytest

from spinetrack import i18n
from spinetrack.store.visits import LINK_CLOSED
from spinetrack.web.errors import PATIENT_MESSAGES, PATIENT_TITLES
from tests.browser.conftest import ARTIFACTS, check_axe, new_visit

pytestmark = pytest.mark.slow
SHOTS = ARTIFACTS


def _es(msgid: str, **values: Any) -> str:
    with i18n.use_locale("es"):
        text = i18n.gettext(msgid, **values)
    assert text != (msgid % values if values else msgid), f"no Spanish for {msgid!r}"
    return text


def _main_text(page: Any) -> str:
    return " ".join(str(page.inner_text("main")).split())


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_a_spanish_patients_error_pages(size: str, live_server: Any, request: pytest.FixtureRequest) -> None:
    page = request.getfixturevalue(f"page_{size}")
    SHOTS.mkdir(exist_ok=True)
    server = live_server
    # the language switch's choice (the context's locale is en-GB, which Chromium's Accept-Language follows)
    page.context.add_cookies([{"name": "spinetrack_lang", "value": "es", "url": server.base_url}])
    # 401: the visit's page without a session
    r = page.goto("/p/visit")
    assert r is not None and r.status == 401
    text = _main_text(page)
    assert page.get_attribute("html", "lang") == "es" and _es(LINK_CLOSED) in text
    assert LINK_CLOSED not in text and "Please" not in text
    check_axe(page)
    page.screenshot(path=f"{SHOTS}/spanish-401-{size}.png", full_page=True)
    # 404: an address under the patient pages that does not exist
    r = page.goto("/p/q/odi/no-such-page")
    assert r is not None and r.status == 404
    text = _main_text(page)
    assert _es(PATIENT_TITLES[404]) in text and _es(PATIENT_MESSAGES[404]) in text and "Please" not in text
    check_axe(page)
    # 422: the 0–100 rating of the EQ-5D-5L (step 6) answered 150
    visit = new_visit(server)
    page.goto(visit.path)
    page.goto("/p/q/eq5d5l?step=6")
    page.fill("#answer", "150")
    page.evaluate("() => document.querySelector('#answer').removeAttribute('max')")  # as an old browser would send it
    page.click("button[value=next]")
    page.wait_for_selector("#answer-error")
    text = _main_text(page)
    with i18n.use_locale("es"):
        allowed = i18n.gettext("%(low)s to %(high)s (whole numbers)", low="0", high="100")
    assert _es("“%(value)s” is not an answer we can accept.", value="150") in text
    assert _es("Allowed: %(allowed)s.", allowed=allowed) in text and "Allowed" not in text
    check_axe(page)
    page.screenshot(path=f"{SHOTS}/spanish-422-{size}.png", full_page=True)
