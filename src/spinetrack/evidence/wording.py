"""The literature base in words: verification flags, findings, study designs and units as they
are shown beside a figure (presentation text only; the codes are in ``evidence.vocab``).
"""

from __future__ import annotations

from typing import Final

from spinetrack.evidence.vocab import Design, Finding, Flag, Unit

__all__ = ["DESIGN_WORDS", "FINDING_WORDS", "FLAG_WORDS", "UNIT_WORDS", "unit_text"]

FLAG_WORDS: Final = {
    Flag.UNVERIFIED: "unverified",
    Flag.CHECK_FULL_TEXT: "not yet checked against the full text",
    Flag.UNIT_NOT_STATED: "unit not stated",
    Flag.INCONSISTENT: "printed numbers inconsistent",
    Flag.MEDIAN_NOT_MEAN: "medians, not means",
}
FINDING_WORDS: Final = {
    Finding.FAVOURS_MIS: "favours MIS",
    Finding.FAVOURS_OPEN: "favours open",
    Finding.NO_SIGNIFICANT_DIFFERENCE: "no significant difference",
    Finding.SIGNIFICANT_DIRECTION_NOT_STATED: "significant, direction not stated",
    Finding.NOT_TESTED: "not tested",
}
DESIGN_WORDS: Final = {
    Design.MA_RCT: "meta-analysis of RCTs",
    Design.MA_OBS: "meta-analysis including observational studies",
    Design.SR: "systematic review",
    Design.REVIEW: "narrative review",
    Design.RCT: "RCT",
    Design.COHORT: "cohort study",
    Design.REGISTRY: "registry study",
    Design.CONF: "conference abstract",
    Design.SINGLE_ARM: "single-arm series",
}
UNIT_WORDS: Final = {
    Unit.NOT_STATED: "(unit not stated)", Unit.VAS_0_100: "VAS points (0-100)", Unit.VAS_POINTS: "VAS points",
    Unit.NRS_0_10: "NRS points (0-10)", Unit.ODI_POINTS: "ODI points", Unit.RDQ_POINTS: "RDQ points",
    Unit.FUNCTION_0_100: "function points (0-100)", Unit.MGY_PER_LEVEL: "mGy per level", Unit.PERCENT: "%",
    Unit.NONE: "", Unit.RATIO: "", Unit.COUNT: "",
}


def unit_text(unit: Unit | str) -> str:
    """A unit code in words (``VAS_0_100`` → ``VAS points (0-100)``; empty for ratios and counts).

    Examples
    --------
    >>> unit_text("not_stated"), unit_text("mL")
    ('(unit not stated)', 'mL')
    """
    try:
        code = Unit(unit)
    except ValueError:
        return str(unit)
    return UNIT_WORDS.get(code, code.value)
