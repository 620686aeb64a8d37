"""``spinetrack predict --patient`` takes the identifier the pages show (``patients.pseudo_id``,
``ST-…``) as well as the record number, and names an unknown one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spinetrack.cli import app
from spinetrack.store.migrate import upgrade
from spinetrack.store.repositories import SYSTEM, Actor, Store
from spinetrack.store.session import make_engine
from spinetrack.web.ids import parse_patient_ref, patient_label

runner = CliRunner()


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, int, str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('predict-id') / 'st.db'}"
    engine = make_engine(url)
    upgrade(engine)
    store = Store(engine)
    site = store.add_site(SYSTEM, code="SITE-A", name="Site A", country="GB")
    actor = Actor("setup", "clinician", site)
    pid = store.add_patient(actor, site, {"birth_year": 1970, "sex": "female"}, identity={"full_name": "A B"})
    store.add_episode(actor, pid, {"diagnosis_code": "M51.16", "levels": "L4-L5", "enrolled_on": "2025-01-10"})
    pseudo = store.get_patient(SYSTEM, pid)["pseudo_id"]
    engine.dispose()
    return url, pid, pseudo


def _predict(url: str, ref: str, tmp_path: Path) -> tuple[int, dict[str, object]]:
    r = runner.invoke(app, ["predict", "--patient", ref, "--database-url", url, "--dir", str(tmp_path / "none"),
                            "--json"])
    return r.exit_code, json.loads(r.stdout)


def test_predict_accepts_the_pseudonymous_id_and_the_record_number(db: tuple[str, int, str], tmp_path: Path) -> None:
    url, pid, pseudo = db
    assert pseudo.startswith("ST-") and len(pseudo) == 13
    by_number = _predict(url, str(pid), tmp_path)
    by_id = _predict(url, pseudo, tmp_path)
    by_lower = _predict(url, pseudo.lower(), tmp_path)
    assert by_number[0] == by_id[0] == by_lower[0] == 0, (by_number, by_id)
    assert by_id[1]["patient"] == by_number[1]["patient"] == by_lower[1]["patient"]  # type: ignore[comparison-overlap]
    assert by_id[1]["patient"]["pseudo_id"] == pseudo  # type: ignore[index]


def test_an_unknown_pseudonymous_id_exits_2_naming_it(db: tuple[str, int, str], tmp_path: Path) -> None:
    code, err = _predict(db[0], "ST-ZZZZZZZZZZ", tmp_path)
    assert code == 2 and err["error"] == "NotFoundError" and "ST-ZZZZZZZZZZ" in str(err["message"])


def test_parse_and_label() -> None:
    assert parse_patient_ref(" 42 ") == 42
    assert parse_patient_ref("st-fcvm6pax68") == "ST-FCVM6PAX68"
    assert parse_patient_ref("P6118a0f") == "P6118a0f"  # another id, as typed
    assert patient_label({"pseudo_id": "ST-FCVM6PAX68", "id": 7}) == "ST-FCVM6PAX68"
    assert patient_label(None) == "—"
