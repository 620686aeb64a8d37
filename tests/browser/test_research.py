"""The research page in a real browser: a researcher signs in, follows the navigation link to the
claims scorecard, reads the summary on a desktop and on a 390×844 phone (axe-core: no violation),
and downloads the PDF report.

The analysis shown is ``tests/reports/scorecard_demo.json`` (the README's demo scorecard) saved as
``spinetrack analyze --save`` saves it, in a directory of its own; a second ``spinetrack serve`` on
the same database reads it (``SPINETRACK_ANALYSES_DIR``), so the shared server stays untouched.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spinetrack.reports.archive import save_analysis
from tests.browser.conftest import (
    DEMO_PASSWORD,
    DESKTOP,
    PHONE,
    LiveServer,
    _page,
    assert_no_page_errors,
    check_axe,
    save_shot,
    start_server,
    stop_server,
)

FIXTURE = Path(__file__).parents[1] / "reports" / "scorecard_demo.json"


@pytest.fixture(scope="module")
def research_server(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("analyses")
    save_analysis(json.loads(FIXTURE.read_text(encoding="utf-8")), directory)
    before = os.environ.get("SPINETRACK_ANALYSES_DIR")
    os.environ["SPINETRACK_ANALYSES_DIR"] = str(directory)
    try:
        proc, server = start_server(live_server.database_url, f"{live_server.backend}-research", directory)
    finally:
        if before is None:
            os.environ.pop("SPINETRACK_ANALYSES_DIR", None)
        else:
            os.environ["SPINETRACK_ANALYSES_DIR"] = before
    yield server
    stop_server(proc)


def _sign_in(page: Any) -> None:
    page.goto("/login")
    page.get_by_label("User name").fill("researcher")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/clinic/overview.*"))


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_researcher_reads_the_scorecard_summary(browser: Any, research_server: LiveServer, size: str) -> None:
    options: dict[str, Any] = {"viewport": DESKTOP} if size == "desktop" else {
        "viewport": PHONE, "screen": PHONE, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
    for page in _page(browser, research_server, **options):
        _sign_in(page)
        page.get_by_role("link", name="Claims scorecard").click()
        page.wait_for_url(re.compile(r".*/research$"))
        assert page.get_by_role("heading", name="Every claim, every comparison").is_visible()
        table = page.get_by_role("region", name=re.compile("Verdict, adjusted difference"))
        assert table.is_visible()
        # incision length, MIS vs open discectomy, as the document gives it (scorecard_demo.json)
        row = page.locator("tr#claim-incision")
        assert "supported" in row.inner_text() and "−15.8" in row.inner_text()
        assert page.locator("#verdict-counts").inner_text().startswith("109 estimates:")
        if size == "phone":  # the wide table scrolls inside its region, the page does not
            width = page.evaluate("() => document.documentElement.scrollWidth")
            assert width <= PHONE["width"] + 1, width
        violations = check_axe(page)
        assert violations == [], [v["id"] for v in violations]
        save_shot(page, f"research-{size}-{research_server.backend}")
        assert_no_page_errors(page)


@pytest.mark.slow  # renders the demo report's PDF (about 50 pages) on first download
def test_researcher_downloads_the_pdf_report(browser: Any, research_server: LiveServer) -> None:
    for page in _page(browser, research_server, viewport=DESKTOP, accept_downloads=True):
        _sign_in(page)
        page.goto("/research")
        with page.expect_download(timeout=240_000) as info:
            page.get_by_role("link", name="Download the report (PDF)").click()
        path = info.value.path()
        assert info.value.suggested_filename.endswith(".pdf")
        assert Path(path).read_bytes()[:5] == b"%PDF-"
