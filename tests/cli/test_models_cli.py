"""``spinetrack models train`` and ``spinetrack models card`` end to end on a synthetic
snapshot, and bad options refused (exit 2) naming the option and the allowed values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from spinetrack.cli import app
from tests.analysis.conftest import build_snapshot

runner = CliRunner()


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_snapshot(tmp_path_factory.mktemp("models-cli"), patients=2500, seed=3)


@pytest.fixture(scope="module")
def trained(snapshot: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("models-out") / "models"
    r = runner.invoke(app, ["models", "train", "--snapshot", str(snapshot), "--out", str(out), "--bootstrap", "5",
                            "--json"])
    assert r.exit_code == 0, r.output
    return out, json.loads(r.stdout)


def test_train_writes_models_cards_and_figures(trained: tuple[Path, dict[str, Any]]) -> None:
    out, doc = trained
    assert doc["engine"] == "duckdb" and doc["settings"]["bootstrap"] == 5 and doc["models"]
    index = json.loads((out / "index.json").read_text())
    assert sorted(index["models"]) == sorted(m["model_id"] for m in doc["models"])
    for m in doc["models"]:
        assert (out / "models" / f"{m['model_id']}.json").is_file()
        assert (out / "cards" / f"{m['model_id']}.md").is_file()
        assert m["n"] > 0 and "calibration_slope" in m["performance"]
    assert doc["figures"] and all(Path(f).read_text().startswith("<svg") for f in doc["figures"])
    assert doc["options"]["clinic"] + doc["options"]["fallback"] == len(doc["availability"])
    assert doc["snapshot"]["synthetic"] is True


def test_card_prints_every_card_or_one(trained: tuple[Path, dict[str, Any]]) -> None:
    out, doc = trained
    r = runner.invoke(app, ["models", "card", "--dir", str(out), "--json"])
    assert r.exit_code == 0, r.output
    cards = json.loads(r.stdout)["cards"]
    assert [c["model_id"] for c in cards] == sorted(m["model_id"] for m in doc["models"])
    mid = cards[0]["model_id"]
    one = runner.invoke(app, ["models", "card", "--dir", str(out), "--model", mid, "--json"])
    assert one.exit_code == 0 and json.loads(one.stdout) == cards[0]
    assert {"c_statistic", "r2"} & set(cards[0]["performance"]["metrics"])
    text = runner.invoke(app, ["models", "card", "--dir", str(out), "--model", mid])
    assert text.exit_code == 0 and text.stdout.startswith("# Model card:") and "optimism-corrected" in text.stdout


def test_card_reads_the_models_dir_setting(trained: tuple[Path, dict[str, Any]]) -> None:
    out, _ = trained
    r = runner.invoke(app, ["models", "card", "--json"], env={"SPINETRACK_MODELS_DIR": str(out)})
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["models_dir"] == str(out)


@pytest.mark.parametrize(("args", "field", "allowed"), [
    (["--engine", "postgres"], "engine", "duckdb, spark"),
    (["--bootstrap", "-3"], "bootstrap", "an integer >= 0"),
])
def test_train_refuses_bad_options(snapshot: Path, tmp_path: Path, args: list[str], field: str, allowed: str) -> None:
    r = runner.invoke(app, ["models", "train", "--snapshot", str(snapshot), "--out", str(tmp_path), *args, "--json"])
    assert r.exit_code == 2
    err = json.loads(r.stdout)
    assert err["field"] == field and err["allowed"] == allowed
    assert not (tmp_path / "index.json").exists()


def test_train_refuses_a_directory_that_is_not_a_snapshot(tmp_path: Path) -> None:
    r = runner.invoke(app, ["models", "train", "--snapshot", str(tmp_path), "--out", str(tmp_path / "m"), "--json"])
    assert r.exit_code == 2 and json.loads(r.stdout)["field"] == "snapshot"


def test_card_refuses_an_unknown_model_naming_the_known_ones(trained: tuple[Path, dict[str, Any]]) -> None:
    out, doc = trained
    r = runner.invoke(app, ["models", "card", "--dir", str(out), "--model", "fusion.nope", "--json"])
    assert r.exit_code == 2
    err = json.loads(r.stdout)
    assert err["field"] == "model" and doc["models"][0]["model_id"] in err["allowed"]
    text = runner.invoke(app, ["models", "card", "--dir", str(out), "--model", "fusion.nope"])
    assert text.exit_code == 2 and "model" in text.output and "allowed" in text.output


def test_card_refuses_a_directory_without_models(tmp_path: Path) -> None:
    r = runner.invoke(app, ["models", "card", "--dir", str(tmp_path), "--json"])
    assert r.exit_code == 2 and json.loads(r.stdout)["field"] == "models_dir"


# ---------------------------------------------------------------- predict, and train from the database


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('predict-cli') / 'st.db'}"
    r = runner.invoke(app, ["demo", "--patients", "300", "--seed", "4", "--fixed-dates", "--database-url", url,
                            "--json"])
    assert r.exit_code == 0, r.output
    return url


def test_train_without_snapshot_exports_the_database_and_if_missing_skips(demo_db: str, tmp_path: Path) -> None:
    out = tmp_path / "models"
    r = runner.invoke(app, ["models", "train", "--database-url", demo_db, "--out", str(out), "--bootstrap", "0",
                            "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["snapshot"]["synthetic"] is True and (out / "index.json").is_file()
    again = runner.invoke(app, ["models", "train", "--database-url", demo_db, "--out", str(out), "--if-missing",
                                "--json"])
    assert again.exit_code == 0 and json.loads(again.stdout)["trained"] is False


def test_predict_prints_the_decision_support_document(demo_db: str, trained: tuple[Path, dict[str, Any]]) -> None:
    out, _ = trained
    r = runner.invoke(app, ["predict", "--patient", "1", "--database-url", demo_db, "--dir", str(out), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["patient"]["id"] == 1 and doc["screening"]["recorded"] is False  # the demo records no screening
    assert doc["outcomes"] and doc["synthetic_data"] is True
    cells = [c for row in doc["outcomes"] for c in row["by_option"].values()]
    assert {c["source"] for c in cells} <= {"clinic", "literature", "none"}
    text = runner.invoke(app, ["predict", "--patient", "1", "--database-url", demo_db, "--dir", str(out)])
    assert text.exit_code == 0 and "expected outcomes" in text.stdout and "screening not recorded" in text.stdout


def test_predict_unknown_patient_exits_2_naming_it(demo_db: str) -> None:
    r = runner.invoke(app, ["predict", "--patient", "999999", "--database-url", demo_db, "--json"])
    assert r.exit_code == 2
    err = json.loads(r.stdout)
    assert err["error"] == "NotFoundError" and "999999" in err["message"]


def test_training_from_the_database_twice_gives_the_same_models(tmp_path: Path) -> None:
    """Each run exports a snapshot rekeyed with a new secret; the rows are ordered by content
    before the bootstrap, so the two model sets are identical."""
    url = f"sqlite:///{tmp_path / 'st.db'}"
    r = runner.invoke(app, ["demo", "--patients", "1500", "--seed", "6", "--database-url", url, "--json"])
    assert r.exit_code == 0, r.output
    docs = []
    for name in ("a", "b"):
        r = runner.invoke(app, ["models", "train", "--database-url", url, "--out", str(tmp_path / name),
                                "--bootstrap", "10", "--json"])
        assert r.exit_code == 0, r.output
        docs.append(json.loads((tmp_path / name / "index.json").read_text()))
        docs[-1]["cards"] = sorted((tmp_path / name / "models").glob("*.json"))
    a, b = docs
    assert len(a["models"]) >= 10
    assert a["models"] == b["models"] and a["availability"] == b["availability"]
    for fa, fb in zip(a["cards"], b["cards"], strict=True):
        ma, mb = json.loads(fa.read_text()), json.loads(fb.read_text())
        for key in ("created_at", "snapshot"):
            ma.pop(key, None)
            mb.pop(key, None)
        assert ma == mb, fa.name
