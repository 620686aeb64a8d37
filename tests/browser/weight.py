"""Page weight in a real browser: the bytes a page load transfers, counted from the network.

``measure(page, load)`` runs ``load()`` (a ``page.goto`` or a click that navigates) with the
browser's cache switched off (Chrome DevTools ``Network.setCacheDisabled``, so every page is
weighed as on a first visit) and sums, over every request the load made (the HTML document,
style sheets, scripts, images, fonts), the response's encoded body size as it crossed the
network (compressed when the server compressed it) plus its headers (Playwright's
``Request.sizes()``: ``responseBodySize`` + ``responseHeadersSize``). Requests the test itself
answers (axe-core) are left out.

Usage::

    from tests.browser.weight import measure, PATIENT_PAGE_LIMIT
    weight = measure(page, lambda: page.goto("/p/visit"))
    assert weight.total <= PATIENT_PAGE_LIMIT, weight.describe()
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PATIENT_PAGE_LIMIT", "PageWeight", "measure"]

PATIENT_PAGE_LIMIT = 150 * 1000
"""Issue 19: every patient page at most 150 kB transferred on first load."""

_SKIP = ("/__browser-tests__/",)


@dataclass
class PageWeight:
    """What one page load transferred: ``total`` bytes, and ``(url, bytes)`` per request."""

    url: str = ""
    requests: list[tuple[str, int]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(n for _url, n in self.requests)

    def describe(self) -> str:
        rows = "\n".join(f"  {n:>9,} B  {url}" for url, n in sorted(self.requests, key=lambda r: -r[1]))
        return f"{self.url}: {self.total:,} bytes in {len(self.requests)} requests\n{rows}"


def measure(page: Any, load: Callable[[], Any]) -> PageWeight:
    """Run ``load()`` with the cache off and return the bytes its page load transferred (the
    load is awaited to its ``load`` event)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    finished: list[Any] = []

    def on_finished(request: Any) -> None:
        finished.append(request)

    page.on("requestfinished", on_finished)
    try:
        load()
        page.wait_for_load_state("load")
    finally:
        page.remove_listener("requestfinished", on_finished)
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": False})
        cdp.detach()
    weight = PageWeight(page.url)
    for request in finished:
        if any(part in request.url for part in _SKIP) or request.url.startswith("data:"):
            continue
        sizes = request.sizes()
        weight.requests.append((request.url, int(sizes["responseBodySize"]) + int(sizes["responseHeadersSize"])))
    return weight
