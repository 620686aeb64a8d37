"""``spinetrack score``: the result object with the total under ``score``; bad answers exit 2 with
the message on stderr (run as a real subprocess, so stdout and stderr are the real streams)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "spinetrack.cli", *args], capture_output=True, text=True,
                          timeout=60, check=False)


def test_score_odi_json_gives_the_manual_value() -> None:
    """Fairbank & Pynsent 2000: one section missing, 16/45 x 100 = 35.6 %."""
    answers = {"pain_intensity": 0, "personal_care": 2, "lifting": 2, "walking": 2, "sitting": 2, "standing": 2,
               "sleeping": 2, "social_life": 2, "travelling": 2}
    r = _run("score", "odi", "--answers", json.dumps(answers), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert round(out["score"], 1) == 35.6 and out["band"] == "moderate disability" and out["n_answered"] == 9


@pytest.mark.parametrize(("args", "field"), [
    (["score", "odi", "--answers", '{"walking": 9}', "--json"], "odi.walking"),
    (["score", "odi", "--answers", "{not json", "--json"], "answers"),
    (["score", "sf36", "--answers", "{}", "--json"], "instrument"),
    (["score", "odi", "--answers", "{}", "--value-set", "England", "--json"], "value_set"),
])
def test_bad_answers_exit_2_with_the_message_on_stderr(args: list[str], field: str) -> None:
    r = _run(*args)
    assert r.returncode == 2 and r.stdout == ""
    err = json.loads(r.stderr)
    assert err["field"] == field and err["message"]


def test_human_readable_error_names_the_allowed_values() -> None:
    r = _run("score", "nrs_back", "--answers", '{"pain": 12}')
    assert r.returncode == 2 and "nrs_back.pain" in r.stderr and "10" in r.stderr


def test_questionnaire_is_valid_fhir_and_takes_a_wording_pack(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from fhir.resources.R4B.questionnaire import Questionnaire

    r = _run("score", "odi", "--questionnaire")
    assert r.returncode == 0, r.stderr
    q = Questionnaire.model_validate(json.loads(r.stdout))
    assert [i.linkId for i in q.item] == ["pain_intensity", "personal_care", "lifting", "walking", "sitting",
                                          "standing", "sleeping", "sex_life", "social_life", "travelling"]
    pack = tmp_path / "pack.json"
    pack.write_text(json.dumps({"name": "t", "language": "en", "licence": "test",
                                "instruments": {"odi": {"items": {"walking": {"text": "Site walking text"}}}}}))
    r = _run("score", "odi", "--questionnaire", "--wording", str(pack))
    assert r.returncode == 0, r.stderr
    walking = next(i for i in json.loads(r.stdout)["item"] if i["linkId"] == "walking")
    assert walking["text"] == "Site walking text"
    r = _run("score", "odi", "--questionnaire", "--wording", str(tmp_path / "missing.json"), "--json")
    assert r.returncode == 2 and json.loads(r.stderr)["field"] == "wording_pack"
