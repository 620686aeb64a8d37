"""The controlled vocabularies of the literature base: every coded column of ``studies.csv``
and ``arm_data.csv`` (``data/SCHEMA.md`` gives their meanings).

:class:`Comparison` is the literature's own vocabulary of study comparisons: one member per
procedure family of the domain (:data:`spinetrack.domain.comparisons.FAMILIES`, checked when
this module is imported) plus ``cross_cutting`` for figures of mixed lumbar procedures.
"""

from __future__ import annotations

import enum
from typing import Final

from spinetrack.domain.comparisons import FAMILIES

__all__ = [
    "META_DESIGNS",
    "ArmStatistic",
    "Certainty",
    "Comparison",
    "Design",
    "Finding",
    "Flag",
    "Measure",
    "Outcome",
    "ScaleDirection",
    "SignConvention",
    "SpreadKind",
    "Timepoint",
    "Unit",
]


class Comparison(enum.StrEnum):
    """The clinical comparison a figure belongs to (``cross_cutting``: mixed procedures)."""

    DISCECTOMY = "discectomy"
    DECOMPRESSION = "decompression"
    FUSION = "fusion"
    CROSS_CUTTING = "cross_cutting"


class Outcome(enum.StrEnum):
    """Controlled outcome vocabulary; the source's own wording is in ``outcome_label``."""

    RECURRENCE = "recurrence"
    INCISION_LENGTH = "incision_length"
    OPERATIVE_TIME = "operative_time"
    BLOOD_LOSS = "blood_loss"
    POSTOP_BLOOD_LOSS = "postop_blood_loss"
    TRANSFUSION = "transfusion"
    LENGTH_OF_STAY = "length_of_stay"
    COMPLICATIONS_ANY = "complications_any"
    COMPLICATIONS_MAJOR = "complications_major"
    INFECTION = "infection"
    DURAL_TEAR = "dural_tear"
    REOPERATION = "reoperation"
    ADJACENT_SEGMENT_DISEASE = "adjacent_segment_disease"
    FUSION_RATE = "fusion_rate"
    RADIATION_DOSE = "radiation_dose"
    RADIATION_EXPOSURE = "radiation_exposure"
    FLUOROSCOPY_TIME = "fluoroscopy_time"
    FLUOROSCOPY_COUNT = "fluoroscopy_count"
    LEG_PAIN = "leg_pain"
    BACK_PAIN = "back_pain"
    PAIN_UNSPECIFIED = "pain_unspecified"
    ODI = "odi"
    DISABILITY_OTHER = "disability_other"
    HEALTH_STATUS = "health_status"
    EQ5D = "eq5d"
    RETURN_TO_WORK = "return_to_work"
    OPIOID_USE = "opioid_use"
    GOOD_RECOVERY = "good_recovery"
    SATISFACTION = "satisfaction"
    OVERALL_CLINICAL = "overall_clinical"
    COST = "cost"


class Timepoint(enum.StrEnum):
    """Normalised timepoint; the source's wording is in ``timepoint``.

    ``up_to_24m`` is a figure accumulated or averaged over the first two years (not a value
    at 24 months); ``short_term`` / ``mid_term`` / ``long_term`` are the source's own labels
    (``long_term`` also covers anything beyond 24 months).
    """

    BASELINE = "baseline"
    PERIOP = "periop"
    EARLY_POSTOP = "early_postop"
    D30 = "30d"
    W2 = "2w"
    W6 = "6w"
    M3 = "3m"
    M12 = "12m"
    M24 = "24m"
    UP_TO_24M = "up_to_24m"
    SHORT_TERM = "short_term"
    MID_TERM = "mid_term"
    LONG_TERM = "long_term"
    UNKNOWN = "unknown"


class Measure(enum.StrEnum):
    """What ``estimate`` (or the arm columns) hold."""

    MD = "MD"                                          # (weighted) mean difference
    SMD = "SMD"
    RR = "RR"
    OR = "OR"
    RD = "RD"
    DIFFERENCE_UNSPECIFIED = "difference_unspecified"  # a difference whose estimator is not named
    RATIO_OF_MEANS = "ratio_of_means"
    PROPORTION_PAIR = "proportion_pair"                # mis_value / open_value in percent
    MEAN_PAIR = "mean_pair"
    MEDIAN_PAIR = "median_pair"
    COUNT_PAIR = "count_pair"
    RANGE_PAIR = "range_pair"                          # ranges only, in the spread columns
    SINGLE_ARM = "single_arm"                          # MIS arm only, no comparator
    COMBINED_PROPORTION = "combined_proportion"        # one percent for both arms together
    NARRATIVE = "narrative"                            # a direction / P value, no effect size


class Design(enum.StrEnum):
    """Evidence-quality label, shown wherever the figure is shown."""

    MA_RCT = "MA-RCT"
    MA_OBS = "MA-obs"
    SR = "SR"
    REVIEW = "review"
    RCT = "RCT"
    COHORT = "cohort"
    REGISTRY = "registry"
    CONF = "conf"
    SINGLE_ARM = "single_arm"


class Flag(enum.StrEnum):
    """Verification flags; a flagged row is never poolable."""

    UNVERIFIED = "unverified"
    CHECK_FULL_TEXT = "check_full_text"
    UNIT_NOT_STATED = "unit_not_stated"
    INCONSISTENT = "inconsistent"
    MEDIAN_NOT_MEAN = "median_not_mean"


class SignConvention(enum.StrEnum):
    """How to read ``estimate`` (see the module docstring)."""

    MIS_MINUS_OPEN = "mis_minus_open"
    OPEN_MINUS_MIS = "open_minus_mis"
    MIS_OVER_OPEN = "mis_over_open"
    OPEN_OVER_MIS = "open_over_mis"
    NOT_APPLICABLE = "not_applicable"


class ScaleDirection(enum.StrEnum):
    """Whether a lower or a higher value of the outcome quantity is better for the patient."""

    LOWER_BETTER = "lower_better"
    HIGHER_BETTER = "higher_better"
    UNKNOWN = "unknown"
    NOT_APPLICABLE = "not_applicable"


class Finding(enum.StrEnum):
    """The source's result in words: which arm it favours, if any."""

    FAVOURS_MIS = "favours_mis"
    FAVOURS_OPEN = "favours_open"
    NO_SIGNIFICANT_DIFFERENCE = "no_significant_difference"
    SIGNIFICANT_DIRECTION_NOT_STATED = "significant_direction_not_stated"
    NOT_TESTED = "not_tested"


class Unit(enum.StrEnum):
    """Units (``not_stated``: the source prints none; ``none``: narrative row, no number)."""

    ML = "mL"
    MIN = "min"
    S = "s"
    DAYS = "days"
    MM = "mm"
    CM = "cm"
    MGY = "mGy"
    MGY_PER_LEVEL = "mGy_per_level"
    PERCENT = "%"
    USD = "USD"
    RATIO = "ratio"
    VAS_0_100 = "VAS_0_100"
    VAS_POINTS = "VAS_points"
    NRS_0_10 = "NRS_points_0_10"
    ODI_POINTS = "ODI_points_0_100"
    RDQ_POINTS = "RDQ_points"
    FUNCTION_0_100 = "function_points_0_100"
    MME = "MME"
    COUNT = "count"
    NOT_STATED = "not_stated"
    NONE = "none"


class Certainty(enum.StrEnum):
    """Certainty of evidence (GRADE) as the source states it."""

    HIGH = "high"
    MODERATE = "moderate"
    LOW = "low"
    VERY_LOW = "very_low"
    VERY_LOW_TO_LOW = "very_low_to_low"


class SpreadKind(enum.StrEnum):
    """What the spread columns hold: an interquartile range or a (min-max) range."""

    IQR = "IQR"
    RANGE = "range"


class ArmStatistic(enum.StrEnum):
    """Which arm columns an :class:`~spinetrack.evidence.records.ArmSummary` fills."""

    MEAN_SD = "mean_sd"
    MEAN_ONLY = "mean_only"
    PERCENT = "percent"
    EVENTS = "events"
    MEDIAN_IQR = "median_iqr"


#: Designs whose figure pools several studies (a meta-analysis or a review).
META_DESIGNS: Final = frozenset({Design.MA_RCT, Design.MA_OBS, Design.SR, Design.REVIEW})

if tuple(c.value for c in Comparison if c is not Comparison.CROSS_CUTTING) != FAMILIES:
    raise RuntimeError("evidence.vocab.Comparison must list the procedure families of domain.comparisons.FAMILIES "
                       "(in order) plus cross_cutting")
