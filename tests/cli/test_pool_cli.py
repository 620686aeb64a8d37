"""``spinetrack pool``: a study CSV in, the pooled result (and subgroup, leave-one-out, Egger and
cumulative blocks) out; malformed rows reported with their line, column and allowed values;
bad options refused with exit code 2. Pooled numbers are checked against the metafor values
also used in tests/stats/meta (BCG trials: REML log RR -0.7145, tau^2 0.3132)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from spinetrack.cli import app
from tests.stats.meta.reference_data import BCG, NORMAND, assert_printed

runner = CliRunner()


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _bcg_csv(tmp_path: Path) -> str:
    rows = ["study,year,events1,n1,events2,n2,alloc"]
    for author, year, tpos, tneg, cpos, cneg, _ablat, alloc in BCG:
        rows.append(f"\"{author}\",{year},{tpos},{tpos + tneg},{cpos},{cpos + cneg},{alloc}")
    return _write(tmp_path, "bcg.csv", "\n".join(rows) + "\n")


def _pool(*args: str) -> Any:
    return runner.invoke(app, ["pool", *args])


def test_binary_file_pooled_with_all_blocks_as_json(tmp_path: Path) -> None:
    forest, funnel = tmp_path / "forest.svg", tmp_path / "funnel.png"
    r = _pool(_bcg_csv(tmp_path), "--measure", "RR", "--method", "REML", "--subgroup", "alloc", "--plot",
              str(forest), "--funnel", str(funnel), "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    p = doc["pooled"]
    assert doc["layout"] == "binary" and doc["measure"] == "RR" and doc["k"] == 13 and doc["skipped_lines"] == []
    assert_printed(p["estimate"], "-0.7145")  # metafor rma.uni help page, dat.bcg
    assert_printed(p["tau2"], "0.3132")
    assert_printed(p["tau2_se"], "0.1664")  # ibid.: "tau^2 ...: 0.3132 (SE = 0.1664)"
    assert_printed(p["ratio"]["estimate"], "0.4894")
    assert p["studies"][0]["label"] == "Aronson" and len(p["studies"]) == 13
    assert [g["group"] for g in doc["subgroups"]["subgroups"]] == ["random", "alternate", "systematic"]
    assert doc["subgroups"]["q_between_df"] == 2
    assert len(doc["leave_one_out"]["rows"]) == 13 and doc["egger"]["df"] == 11
    assert doc["cumulative"]["rows"][0]["added"] == "Aronson" and doc["cumulative"]["rows"][-1]["k"] == 13
    assert doc["plots"] == {"forest": str(forest), "funnel": str(funnel)}
    assert forest.read_text(encoding="utf-8").startswith("<svg")
    assert funnel.read_bytes()[:4] == b"\x89PNG"


def test_hksj_and_mantel_haenszel(tmp_path: Path) -> None:
    path = _bcg_csv(tmp_path)
    hk = json.loads(_pool(path, "--measure", "rr", "--method", "reml", "--hksj", "--json").stdout)["pooled"]
    assert hk["hksj"] is True and hk["statistic_name"] == "t" and hk["df"] == 12
    assert_printed(hk["standard_error"], "0.1808")  # metafor README, test="knha"
    mh = json.loads(_pool(path, "--measure", "OR", "--method", "MH", "--json").stdout)["pooled"]
    assert_printed(mh["estimate"], "-0.4734")  # metafor rma.mh vs Stata metan
    r = _pool(path, "--measure", "RR", "--method", "FE", "--hksj", "--json")
    assert r.exit_code == 2 and "Hartung" in json.loads(r.stdout)["message"]


def test_continuous_and_generic_files(tmp_path: Path) -> None:
    rows = ["study,n1,mean1,sd1,n2,mean2,sd2"] + [",".join(map(str, row)) for row in NORMAND[:4]]
    smd = _pool(_write(tmp_path, "normand.csv", "\n".join(rows)), "--measure", "SMD", "--json")
    assert smd.exit_code == 0, smd.output
    assert_printed(json.loads(smd.stdout)["pooled"]["tau2"], "1.0090")  # metafor test_misc_rma_uni.r
    generic = _write(tmp_path, "generic.csv", "study,yi,vi\nA,-0.8893,0.3256\nB,-1.5854,0.1946\n")
    doc = json.loads(_pool(generic, "--measure", "RR", "--method", "DL", "--json").stdout)
    assert doc["layout"] == "generic" and doc["pooled"]["ratio"] is not None and doc["leave_one_out"] is None
    assert any("fewer than 3" in n for n in doc["notes"])
    single = json.loads(_pool(_write(tmp_path, "one.csv", "study,yi,vi\nA,0.2,0.04\n"), "--measure", "MD",
                              "--json").stdout)
    assert single["k"] == 1 and any("only one study" in n for n in single["pooled"]["notes"])


def test_malformed_rows_are_reported_with_line_column_and_allowed_values(tmp_path: Path) -> None:
    text = ("study,n1,mean1,sd1,n2,mean2,sd2\n"
            "ok,20,5.0,1.0,20,4.0,1.2\n"
            "negative sd,20,5.0,-1.0,20,4.0,1.2\n"
            "zero n,0,5.0,1.0,20,4.0,1.2\n"
            "words,twenty,5.0,1.0,20,4.0,1.2\n"
            "also ok,30,6.0,2.0,28,5.0,2.0\n")
    path = _write(tmp_path, "bad.csv", text)
    r = _pool(path, "--measure", "MD", "--json")
    assert r.exit_code == 2
    err = json.loads(r.stdout)
    assert err["error"] == "StudyFileError"
    got = {(p["line"], p["column"]) for p in err["problems"]}
    assert got == {(3, "sd1"), (4, "n1"), (5, "n1")}
    sd = next(p for p in err["problems"] if p["column"] == "sd1")
    assert sd["value"] == "-1.0" and sd["allowed"] == "a number >= 0"
    text_out = _pool(path, "--measure", "MD")
    assert text_out.exit_code == 2 and "line 3, column 'sd1'" in text_out.output and "nothing pooled" in text_out.output
    skipped = _pool(path, "--measure", "MD", "--skip-invalid", "--json")
    assert skipped.exit_code == 0, skipped.output
    doc = json.loads(skipped.stdout)
    assert doc["k"] == 2 and doc["skipped_lines"] == [3, 4, 5]
    assert [s["label"] for s in doc["pooled"]["studies"]] == ["ok", "also ok"]


def test_events_above_n_and_missing_columns(tmp_path: Path) -> None:
    path = _write(tmp_path, "ev.csv", "study,events1,n1,events2,n2\nA,12,10,3,10\nB,2,10,3,10\nC,1.5,10,3,10\n")
    err = json.loads(_pool(path, "--measure", "OR", "--json").stdout)
    assert {(p["line"], p["column"]) for p in err["problems"]} == {(2, "events1"), (4, "events1")}
    assert any("larger than n1" in p["reason"] for p in err["problems"])
    missing = _write(tmp_path, "miss.csv", "study,events1,n1,events2\nA,1,10,2\n")
    r = _pool(missing, "--measure", "RR", "--json")
    assert r.exit_code == 2
    problem = json.loads(r.stdout)["problems"][0]
    assert problem["line"] == 1 and problem["column"] == "n2" \
        and "study, events1, n1, events2, n2" in problem["allowed"]
    short = _write(tmp_path, "short.csv", "study,yi,vi\nA,0.1\n")
    assert json.loads(_pool(short, "--measure", "MD", "--json").stdout)["problems"][0]["column"] == "vi"


@pytest.mark.parametrize(("args", "field", "allowed"), [
    (["--measure", "HR"], "measure", "MD, SMD, RR, OR, RD"),
    (["--measure", "RR", "--method", "ML"], "method", "FE, MH, DL, REML, PM"),
    (["--measure", "MD"], "measure", "OR, RD, RR"),
    (["--measure", "RR", "--subgroup", "region"], "subgroup", "study, year, events1, n1, events2, n2, alloc"),
])
def test_bad_options_name_the_option_and_the_allowed_values(tmp_path: Path, args: list[str], field: str,
                                                            allowed: str) -> None:
    r = _pool(_bcg_csv(tmp_path), *args, "--json")
    assert r.exit_code == 2
    err = json.loads(r.stdout)
    assert err["field"] == field and err["allowed"] == allowed
    plain = _pool(_bcg_csv(tmp_path), *args)
    text = " ".join(plain.output.split())  # Rich wraps long lines on the console
    assert plain.exit_code == 2 and field in text and allowed in text


def test_mantel_haenszel_needs_counts_and_files_must_exist(tmp_path: Path) -> None:
    rows = ["study,n1,mean1,sd1,n2,mean2,sd2"] + [",".join(map(str, row)) for row in NORMAND[:3]]
    r = _pool(_write(tmp_path, "n.csv", "\n".join(rows)), "--measure", "MD", "--method", "MH", "--json")
    assert r.exit_code == 2 and json.loads(r.stdout)["field"] == "method"
    r = _pool(str(tmp_path / "nope.csv"), "--measure", "RR", "--json")
    assert r.exit_code == 2 and json.loads(r.stdout)["field"] == "file"


def test_rich_table_output(tmp_path: Path) -> None:
    r = _pool(_bcg_csv(tmp_path), "--measure", "RR", "--subgroup", "alloc")
    assert r.exit_code == 0, r.output
    for text in ("Aronson", "pooled", "0.49 [0.34, 0.70]", "prediction interval", "subgroup differences",
                 "Egger"):
        assert text in r.stdout, text


def test_double_zero_study_is_excluded_and_rows_stay_aligned(tmp_path: Path) -> None:
    """A study without events in either arm is left out of a risk ratio (metafor drop00), with a
    note; the years and subgroups of the other rows stay with their studies; blank lines are
    ignored; extra cells, missing subgroup labels and non-numeric years are refused."""
    text = ("study,year,events1,n1,events2,n2,grp\n"
            "A,2001,3,50,6,50,x\n"
            "\n"
            "Z,1999,0,40,0,40,y\n"
            "B,2003,5,60,9,61,y\n"
            "C,2002,2,30,4,30,x\n")
    doc = json.loads(_pool(_write(tmp_path, "dz.csv", text), "--measure", "RR", "--subgroup", "grp",
                           "--json").stdout)
    assert doc["k"] == 3 and doc["pooled"]["excluded"][0]["label"] == "Z"
    assert any("drop00" in n for n in doc["pooled"]["notes"])
    assert [row["added"] for row in doc["cumulative"]["rows"]] == ["A", "C", "B"]
    assert [g["k"] for g in doc["subgroups"]["subgroups"]] == [2, 1]
    bad = ("study,year,yi,vi,grp\n"
           "A,2001,0.1,0.04,x,surplus\n"
           "B,soon,0.2,0.05,y\n"
           "C,2003,0.3,0.06,\n")
    err = json.loads(_pool(_write(tmp_path, "bad2.csv", bad), "--measure", "SMD", "--subgroup", "grp",
                           "--json").stdout)
    assert {(p["line"], p["column"]) for p in err["problems"]} == {(2, "(extra cells)"), (3, "year"), (4, "grp")}
    dup = _write(tmp_path, "dup.csv", "study,yi,vi,yi\nA,1,1,1\n")
    assert json.loads(_pool(dup, "--measure", "MD", "--json").stdout)["problems"][0]["reason"] == \
        "appears more than once"
