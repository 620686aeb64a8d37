"""Meta-analysis: study effect sizes in, pooled estimates and diagnostics out (pure numerics).

==================  =========================================================================
module              what it does
==================  =========================================================================
``effects``         MD, SMD (Hedges' g, exact correction), log RR, log OR, RD from arm-level
                    data; estimates with a variance or a CI → :class:`EffectSizeTable`
``heterogeneity``   tau^2 by DL / REML / PM, Cochran's Q, Q-profile interval
``models``          FE (inverse variance), Mantel–Haenszel, random effects with HKSJ and
                    prediction interval → :class:`MetaResult`
``subgroup``        subgroup estimates and the test for subgroup differences →
                    :class:`SubgroupResult`
``influence``       leave-one-out → :class:`LeaveOneOutTable`
``cumulative``      cumulative meta-analysis (by year) → :class:`CumulativeTable`
``bias``            Egger's regression test → :class:`EggerTestResult`
==================  =========================================================================

Numbers are checked against published worked examples (metafor's documentation and test
suite, which reproduce Colditz et al. 1994, Normand 1999, DerSimonian & Kacker 2007 and Egger
et al. 2001); see ``tests/stats/meta``. Like the rest of ``spinetrack.stats`` this package
imports only the standard library and numpy (chi-square and t distributions are in
``_distributions``) and does no I/O; files are read by :mod:`spinetrack.interop.study_csv`
and figures drawn by :mod:`spinetrack.reports.meta_plots`.

Examples
--------
>>> from spinetrack.stats.meta import effect_sizes_binary, pool_studies
>>> table = effect_sizes_binary(events1=[4, 6, 3], n1=[123, 306, 231],
...                             events2=[11, 29, 11], n2=[139, 303, 220], measure="RR")
>>> result = pool_studies(table, method="DL")
>>> round(result.ratio.estimate, 3), result.k
(0.264, 3)
"""

from spinetrack.stats.meta.bias import EggerTestResult, egger_test
from spinetrack.stats.meta.cumulative import CumulativeTable, cumulative_meta_analysis
from spinetrack.stats.meta.effects import (
    MEASURES,
    RATIO_MEASURES,
    ContinuityTo,
    EffectSizeTable,
    ExcludedStudy,
    Measure,
    effect_sizes_binary,
    effect_sizes_continuous,
    hedges_correction,
)
from spinetrack.stats.meta.heterogeneity import (
    TAU2_METHODS,
    Tau2Estimate,
    Tau2Method,
    cochran_q,
    estimate_tau2,
    generalized_q,
    q_profile_tau2_ci,
    typical_sampling_variance,
)
from spinetrack.stats.meta.influence import LeaveOneOutTable, leave_one_out
from spinetrack.stats.meta.models import (
    METHODS,
    MetaResult,
    Method,
    PredictionInterval,
    RatioScale,
    pool_studies,
)
from spinetrack.stats.meta.reported import effect_sizes_from_ci, effect_sizes_from_se, effect_sizes_from_variances
from spinetrack.stats.meta.subgroup import SubgroupResult, Tau2Mode, subgroup_analysis

__all__ = [
    "MEASURES",
    "METHODS",
    "RATIO_MEASURES",
    "TAU2_METHODS",
    "ContinuityTo",
    "CumulativeTable",
    "EffectSizeTable",
    "EggerTestResult",
    "ExcludedStudy",
    "LeaveOneOutTable",
    "Measure",
    "MetaResult",
    "Method",
    "PredictionInterval",
    "RatioScale",
    "SubgroupResult",
    "Tau2Estimate",
    "Tau2Method",
    "Tau2Mode",
    "cochran_q",
    "cumulative_meta_analysis",
    "effect_sizes_binary",
    "effect_sizes_continuous",
    "effect_sizes_from_ci",
    "effect_sizes_from_se",
    "effect_sizes_from_variances",
    "egger_test",
    "estimate_tau2",
    "generalized_q",
    "hedges_correction",
    "leave_one_out",
    "pool_studies",
    "q_profile_tau2_ci",
    "subgroup_analysis",
    "typical_sampling_variance",
]
