"""AnalysisSettings: frozen, validated, JSON round trip, a hash stable across processes and key
order that changes with any option; bad values refused naming the field and the allowed values."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from typing import Any

import pytest

from spinetrack.analysis.settings import AnalysisSettings
from spinetrack.errors import ValidationError

CHOSEN = AnalysisSettings(engine="spark", estimand="ATE", trim=0.1, sensitivity=False,
                          comparisons=("fusion", "discectomy"), claims=("length_of_stay",), ci_level=0.9)


@pytest.mark.parametrize("settings", [AnalysisSettings(), CHOSEN])
def test_json_round_trip(settings: AnalysisSettings) -> None:
    assert AnalysisSettings.from_json(settings.to_json()) == settings
    assert AnalysisSettings.from_dict(json.loads(json.dumps(settings.as_dict()))) == settings
    assert AnalysisSettings.from_json(settings.to_json()).settings_hash() == settings.settings_hash()


def test_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        CHOSEN.estimand = "ATO"  # type: ignore[misc]


def test_the_hash_is_sha256_of_the_canonical_json_and_ignores_key_order() -> None:
    import hashlib

    assert CHOSEN.settings_hash() == hashlib.sha256(CHOSEN.to_json().encode()).hexdigest()[:12]
    reversed_keys = dict(reversed(list(CHOSEN.as_dict().items())))
    assert list(reversed_keys) != list(CHOSEN.as_dict())
    assert AnalysisSettings.from_dict(reversed_keys).settings_hash() == CHOSEN.settings_hash()


def test_the_hash_is_the_same_in_another_process() -> None:
    code = ("from spinetrack.analysis.settings import AnalysisSettings as A\n"
            "print(A(engine='spark', estimand='ATE', trim=0.1, sensitivity=False, comparisons=('fusion', "
            "'discectomy'), claims=('length_of_stay',), ci_level=0.9).settings_hash(), A().settings_hash())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "12345", "PATH": ""}).stdout.split()
    assert out == [CHOSEN.settings_hash(), AnalysisSettings().settings_hash()]


@pytest.mark.parametrize(("field", "value"), [
    ("engine", "spark"), ("estimand", "ATE"), ("sensitivity", False), ("comparisons", ("pooled",)),
    ("claims", ("length_of_stay",)), ("ci_level", 0.9),
])
def test_any_changed_option_changes_the_hash(field: str, value: Any) -> None:
    base = AnalysisSettings()
    assert dataclasses.replace(base, **{field: value}).settings_hash() != base.settings_hash()


def test_trim_and_the_order_of_a_selection_change_the_hash() -> None:
    ate = AnalysisSettings(estimand="ATE")
    assert dataclasses.replace(ate, trim=0.05).settings_hash() != ate.settings_hash()
    assert dataclasses.replace(ate, trim=0.05).settings_hash() != dataclasses.replace(ate, trim=0.1).settings_hash()
    a = AnalysisSettings(comparisons=("fusion", "pooled"))
    assert a.settings_hash() != AnalysisSettings(comparisons=("pooled", "fusion")).settings_hash()


def test_an_empty_selection_means_all() -> None:
    assert AnalysisSettings(comparisons=(), claims=[]) == AnalysisSettings()  # type: ignore[arg-type]
    assert AnalysisSettings(trim=None, ci_level=1 - 0.05) == AnalysisSettings()


@pytest.mark.parametrize(("kwargs", "field", "allowed"), [
    ({"engine": "oracle"}, "engine", "duckdb, spark"),
    ({"estimand": "ATT"}, "estimand", "ATO, ATE"),
    ({"estimand": "ATO", "trim": 0.1}, "trim", "with estimand ATE"),
    ({"estimand": "ATE", "trim": 0.5}, "trim", "(0, 0.5)"),
    ({"estimand": "ATE", "trim": True}, "trim", "(0, 0.5)"),
    ({"comparisons": ("spine",)}, "comparison", "pooled"),
    ({"comparisons": "pooled"}, "comparisons", "a list of comparison keys"),
    ({"claims": ("happiness",)}, "claim", "length_of_stay"),
    ({"sensitivity": "yes"}, "sensitivity", "True, False"),
    ({"ci_level": 1.5}, "ci_level", "between 0 and 1"),
])
def test_invalid_values_are_refused_naming_the_field_and_the_allowed_values(kwargs: dict[str, Any], field: str,
                                                                            allowed: str) -> None:
    with pytest.raises(ValidationError) as info:
        AnalysisSettings(**kwargs)
    assert info.value.field == field and allowed in info.value.allowed
    assert str(info.value).startswith(f"{field}: ")


def test_an_unknown_key_or_bad_json_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        AnalysisSettings.from_dict({**AnalysisSettings().as_dict(), "caliper": 0.2})
    assert info.value.field == "caliper" and "estimand" in info.value.allowed
    with pytest.raises(ValidationError) as info:
        AnalysisSettings.from_json("[1, 2]")
    assert info.value.field == "settings"
    with pytest.raises(ValidationError):
        AnalysisSettings.from_json("{not json")
