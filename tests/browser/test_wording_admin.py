"""The admin page "Questionnaire wording" in Chromium, on a desktop (1280×900) and a phone
(390×844): the grid, a refused pack with every problem listed at once, a made-up Spanish pack
installed and previewed as a patient sees it, then taken out of use (the shared demo server is
left reading what it read before). axe-core finds no violation at all on the page, its refusal
and the preview. The wording is our own made-up test text, never licensed wording."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.browser.conftest import DEMO_PASSWORD, LiveServer, assert_no_page_errors, check_axe, save_shot

pytestmark = pytest.mark.slow


def _pack(viewport: str) -> bytes:
    items = {f"s{i:02d}": {"text": f"Frase de prueba {i}", "options": {"no": "No", "yes": "Sí"}} for i in range(1, 25)}
    return json.dumps({"name": f"Test RMDQ pack ({viewport})", "language": "es-MX", "licence": "made up for tests",
                       "instruments": {"rmdq": {"title": f"Título de prueba ({viewport})",
                                                "hint": "Marque si se aplica a usted hoy.", "items": items}}},
                      ensure_ascii=False).encode("utf-8")


def _sign_in_admin(page: Any) -> None:
    page.goto("/login")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def _no_violations(page: Any) -> None:
    assert check_axe(page) == []  # none at all, of any impact


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_an_admin_installs_previews_and_removes_wording(viewport: str, live_server: LiveServer,
                                                        request: pytest.FixtureRequest) -> None:
    page = request.getfixturevalue(f"page_{viewport}")
    _sign_in_admin(page)
    page.get_by_role("link", name="Questionnaire wording").click()
    page.locator("#wording-grid").wait_for()
    assert page.locator('#row-rmdq td[data-language="es"]').get_attribute("data-source") == "neutral"
    assert page.locator('#row-nrs_back td[data-language="es"]').get_attribute("data-source") == "spinetrack"
    _no_violations(page)

    bad = json.loads(_pack(viewport))
    bad["instruments"]["rmdq"]["items"]["s25"] = {"text": "x"}
    bad["instruments"]["rmdq"]["items"]["s01"]["options"]["maybe"] = "x"
    save_shot(page, f"wording-grid-{viewport}-{live_server.backend}")
    page.get_by_label("Wording pack (JSON)").set_input_files(
        {"name": "bad.json", "mimeType": "application/json", "buffer": json.dumps(bad).encode()})
    page.get_by_role("button", name="Check and install").click()
    page.locator("#problems").wait_for()
    problems = page.locator("#problems li").all_inner_texts()
    assert len(problems) == 2
    assert any("instruments.rmdq.items.s01.options.maybe" in p and "allowed: no, yes" in p for p in problems)
    assert any("instruments.rmdq.items.s25" in p for p in problems)
    _no_violations(page)
    save_shot(page, f"wording-refused-{viewport}-{live_server.backend}")
    page.errors.clear()  # the refusal's 422 was expected

    page.get_by_label("Wording pack (JSON)").set_input_files(
        {"name": "rmdq-es.json", "mimeType": "application/json", "buffer": _pack(viewport)})
    page.get_by_role("button", name="Check and install").click()
    page.locator("#notice").wait_for()
    assert "Wording pack installed." in page.locator("#notice").inner_text()
    assert page.locator('#row-rmdq td[data-language="es"]').get_attribute("data-source") == "licensed"
    save_shot(page, f"wording-installed-{viewport}-{live_server.backend}")

    page.goto("/admin/wording/preview?instrument=rmdq&language=es")
    assert page.locator("#preview h1").inner_text() == f"Título de prueba ({viewport})"
    assert page.locator("#item-s24 legend").inner_text() == "Frase de prueba 24"
    assert page.locator("#neutral-note").count() == 0
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"the preview scrolls sideways ({width} px)"
    _no_violations(page)
    save_shot(page, f"wording-preview-es-{viewport}-{live_server.backend}")
    page.goto("/admin/wording/preview?instrument=odi&language=es")  # numbered labels, said so in Spanish
    assert "Las frases aparecen numeradas" in page.locator("#neutral-note").inner_text()
    assert "Frase 1 de 6 (la menor limitación)" in page.locator("#item-pain_intensity").inner_text()
    _no_violations(page)

    page.goto("/admin/wording")
    row = page.locator("#packs tr", has_text=f"Test RMDQ pack ({viewport})")
    row.get_by_role("button", name=f"Take out of use: Test RMDQ pack ({viewport})").click()
    page.locator("#notice").wait_for()
    assert page.locator('#row-rmdq td[data-language="es"]').get_attribute("data-source") == "neutral"
    assert_no_page_errors(page)
