"""An uploaded file's temporary storage is closed after every request, whether the route took the
upload or refused it (before: a refused upload left it open, a ``ResourceWarning`` at garbage
collection). The app's form check (``web/app.py`` ``_form_text``) parses the form once and closes
it when the request ends."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from tests.store.test_logos import png
from tests.web.conftest import World

Client = Callable[[str], TestClient]


def _no_resource_warning(action: Callable[[], Any]) -> Any:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        result = action()
        gc.collect()
    leaks = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaks, [str(w.message) for w in leaks]
    return result


def test_a_refused_upload_leaves_no_file_open(world: World, client_for: Client) -> None:
    admin, site = client_for("admin"), world.sites["A"]

    def refused_by_the_route() -> Any:  # a scripted SVG: refused by the logo check
        return admin.post(f"/admin/sites/{site}/logo", data={"csrf_token": admin.headers["X-CSRF-Token"]},
                          files={"logo": ("x.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>',
                                          "image/svg+xml")}, follow_redirects=False)

    def refused_by_the_form_check() -> Any:  # a NUL character in a field: refused before the route
        return admin.post(f"/admin/sites/{site}/logo", data={"csrf_token": admin.headers["X-CSRF-Token"],
                                                             "note": "a\x00b"},
                          files={"logo": ("x.png", png(), "image/png")}, follow_redirects=False)

    def taken() -> Any:
        return admin.post(f"/admin/sites/{site}/logo", data={"csrf_token": admin.headers["X-CSRF-Token"]},
                          files={"logo": ("x.png", png(), "image/png")}, follow_redirects=False)

    assert _no_resource_warning(refused_by_the_route).status_code in (400, 422)
    assert _no_resource_warning(refused_by_the_form_check).status_code == 422
    assert _no_resource_warning(taken).status_code == 303
