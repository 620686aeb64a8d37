"""The options of one scorecard analysis as one frozen, validated object.

:class:`AnalysisSettings` holds what the command line's ``analyze`` options choose — the engine,
the estimand, the trimming level, the sensitivity analyses, the comparisons and claims analysed,
the interval level — checked when it is made (an unknown or out-of-range value raises
:class:`~spinetrack.errors.ValidationError` naming the field and the allowed values, before any
work starts). It serialises to JSON and back, and :meth:`AnalysisSettings.settings_hash` is the
SHA-256 of its canonical JSON, so that the results document records the settings it was made
with and a hash that identifies them — as OHDSI's CohortMethod stores its analysis settings
objects with the results (Schuemie MJ, Suchard MA, Ryan PB. CohortMethod: new-user cohort
method with large scale propensity and outcome models. R package, OHDSI).

``comparisons`` and ``claims`` are ``None`` for all of them (an empty selection means the same
and is stored as ``None``); a selection keeps its order, which is the order of the results.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from spinetrack.analysis.claims import CLAIMS
from spinetrack.domain.comparisons import COMPARISONS
from spinetrack.engines import ENGINES
from spinetrack.errors import ValidationError

__all__ = ["ESTIMANDS", "AnalysisSettings"]

ESTIMANDS = ("ATO", "ATE")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _keys(name: str, value: Any, known: Sequence[str]) -> tuple[str, ...] | None:
    """A selection of keys as a tuple (``None`` when empty), each key checked against ``known``."""
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValidationError(field=f"{name}s", value=value, allowed=f"a list of {name} keys, or none for all")
    for k in value:
        if k not in known:
            raise ValidationError(field=name, value=k, allowed=sorted(known) if name == "comparison" else known)
    return tuple(value) or None


@dataclass(frozen=True)
class AnalysisSettings:
    """The settings of one scorecard analysis (module docstring).

    Parameters
    ----------
    engine : {"duckdb", "spark"}
        The analytics engine.
    estimand : {"ATO", "ATE"}
        Overlap weights (ATO) or stabilised inverse probability of treatment weights (ATE).
    trim : float, optional
        With ATE only: keep propensity scores in [trim, 1 − trim], 0 < trim < 0.5.
    sensitivity : bool
        Also run the AIPW and IPCW sensitivity analyses.
    comparisons, claims : sequence of str, optional
        Only these comparison keys / claim keys (default: all).
    ci_level : float
        The level of the confidence intervals, between 0 and 1.
    """

    engine: str = "duckdb"
    estimand: str = "ATO"
    trim: float | None = None
    sensitivity: bool = True
    comparisons: tuple[str, ...] | None = None
    claims: tuple[str, ...] | None = None
    ci_level: float = 0.95

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValidationError(field="engine", value=self.engine, allowed=list(ENGINES))
        if self.estimand not in ESTIMANDS:
            raise ValidationError(field="estimand", value=self.estimand, allowed=list(ESTIMANDS))
        if self.trim is not None and not (_number(self.trim) and 0.0 < self.trim < 0.5 and self.estimand == "ATE"):
            raise ValidationError(field="trim", value=self.trim, allowed="a number in (0, 0.5), with estimand ATE",
                                  reason="overlap weights (ATO) need no trimming")
        comparisons = _keys("comparison", self.comparisons, [s.key for s in COMPARISONS])
        claims = _keys("claim", self.claims, [c.key for c in CLAIMS])
        if not isinstance(self.sensitivity, bool):
            raise ValidationError(field="sensitivity", value=self.sensitivity, allowed=[True, False])
        if not (_number(self.ci_level) and 0.0 < self.ci_level < 1.0):
            raise ValidationError(field="ci_level", value=self.ci_level, allowed="a number between 0 and 1")
        object.__setattr__(self, "comparisons", comparisons)
        object.__setattr__(self, "claims", claims)
        object.__setattr__(self, "trim", None if self.trim is None else float(self.trim))
        object.__setattr__(self, "ci_level", float(self.ci_level))

    def as_dict(self) -> dict[str, Any]:
        """The settings as JSON values (selections as lists)."""
        d = asdict(self)
        for key in ("comparisons", "claims"):
            d[key] = None if d[key] is None else list(d[key])
        return d

    def to_json(self) -> str:
        """Canonical JSON: keys sorted, no spaces — the text :meth:`settings_hash` hashes."""
        return json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False)

    def settings_hash(self) -> str:
        """SHA-256 of :meth:`to_json` (first 12 hex digits, as ``ComparisonSpec.spec_hash``):
        the same for equal settings in any process, different when any option differs."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:12]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AnalysisSettings:
        """The settings :meth:`as_dict` wrote (validated again; an unknown key is refused)."""
        names = [f.name for f in fields(cls)]
        for key in d:
            if key not in names:
                raise ValidationError(field=str(key), value=d[key], allowed=names, reason="not an analysis setting")
        return cls(**dict(d))

    @classmethod
    def from_json(cls, text: str) -> AnalysisSettings:
        """The settings :meth:`to_json` wrote."""
        try:
            d = json.loads(text)
        except ValueError as exc:
            raise ValidationError(field="settings", value=text, allowed="a JSON object of analysis settings",
                                  reason=str(exc)) from None
        if not isinstance(d, dict):
            raise ValidationError(field="settings", value=text, allowed="a JSON object of analysis settings")
        return cls.from_dict(d)
