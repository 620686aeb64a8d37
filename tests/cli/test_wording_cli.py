"""``spinetrack wording import|install|list``: exit 0 with the pack, exit 2 with the message on
stderr for bad input or mismatches (nothing written or installed), the install seen by ``list``.
The wording is our own made-up test text, never an instrument's licensed wording."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from sqlalchemy import create_engine, func, select
from typer.testing import CliRunner

from spinetrack.cli import app
from spinetrack.store.tables import AuditRow, WordingPackRow

runner = CliRunner(mix_stderr=False) if "mix_stderr" in CliRunner.__init__.__code__.co_varnames else CliRunner()


def _dictionary(path: Path, n: int = 10) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["Variable / Field Name", "Form Name", "Section Header", "Field Type", "Field Label",
                "Choices, Calculations, OR Slider Labels"])
    for i in range(1, n + 1):
        w.writerow([f"q{i}", "odi", "", "radio", f"Test wording item {i}",
                    " | ".join(f"{v}, Test option {v}" for v in range(6))])
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def _count(url: str) -> tuple[int, int]:
    eng = create_engine(url)
    try:
        with eng.connect() as c:
            return (c.execute(select(func.count()).select_from(WordingPackRow)).scalar_one(),
                    c.execute(select(func.count()).select_from(AuditRow).where(AuditRow.entity == "wording_pack"))
                    .scalar_one())
    finally:
        eng.dispose()


ARGS = ["--format", "redcap", "--instrument", "odi", "--language", "es", "--name", "Test pack", "--licence", "test"]


def test_import_writes_and_installs_a_pack(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'st.db'}"
    out = tmp_path / "pack.json"
    r = runner.invoke(app, ["wording", "import", str(_dictionary(tmp_path / "dd.csv")), *ARGS, "--out", str(out),
                            "--install", "--database-url", url, "--json"])
    assert r.exit_code == 0, r.output
    payload = json.loads(r.stdout)
    assert payload["ok"] and payload["installed"]["instruments"] == ["odi"]
    pack = json.loads(out.read_text(encoding="utf-8"))
    assert pack["instruments"]["odi"]["items"]["travelling"]["text"] == "Test wording item 10"
    assert _count(url) == (1, 1)
    listed = runner.invoke(app, ["wording", "list", "--database-url", url, "--json"])
    assert listed.exit_code == 0
    cov = json.loads(listed.stdout)["coverage"]
    assert cov["odi"]["es"] == {"source": "licensed", "pack": "Test pack"}
    assert cov["odi"]["en"]["source"] == "neutral" and cov["nrs_back"]["es"]["source"] == "spinetrack"
    # the same pack again: refused (exit 2), nothing added
    again = runner.invoke(app, ["wording", "install", str(out), "--database-url", url])
    assert again.exit_code == 2 and "installed already" in again.stderr
    assert _count(url) == (1, 1)


def test_mismatches_exit_2_and_nothing_is_written(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'st.db'}"
    out = tmp_path / "pack.json"
    r = runner.invoke(app, ["wording", "import", str(_dictionary(tmp_path / "dd.csv", n=9)), *ARGS, "--out", str(out),
                            "--install", "--database-url", url])
    assert r.exit_code == 2
    assert "missing: no question for odi.travelling" in r.stderr and "the source has 9 question(s)" in r.stderr
    assert not out.exists() and not (tmp_path / "st.db").exists()
    kept = runner.invoke(app, ["wording", "import", str(tmp_path / "dd.csv"), *ARGS, "--out", str(out),
                               "--allow-mismatch"])
    assert kept.exit_code == 0 and "travelling" not in json.loads(out.read_text())["instruments"]["odi"]["items"]


def test_bad_input_exits_2_with_the_message_on_stderr(tmp_path: Path) -> None:
    r = runner.invoke(app, ["wording", "import", str(tmp_path / "none.csv"), *ARGS])
    assert r.exit_code == 2 and "file not found" in r.stderr and r.stdout == ""
    dd = _dictionary(tmp_path / "dd.csv")
    r = runner.invoke(app, ["wording", "import", str(dd), *[a if a != "odi" else "sf36" for a in ARGS]])
    assert r.exit_code == 2 and "sf36" in r.stderr
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x", "language": "es", "licence": "l",
                               "instruments": {"odi": {"items": {"running": {"text": "t"}}}, "sf36": {}}}))
    r = runner.invoke(app, ["wording", "install", str(bad), "--database-url", f"sqlite:///{tmp_path / 'x.db'}",
                            "--json"])
    assert r.exit_code == 2
    err = json.loads(r.stderr)
    assert "2 problem(s)" in err["message"] and "instruments.odi.items.running" in err["message"]
    assert "instruments.sf36" in err["message"]
