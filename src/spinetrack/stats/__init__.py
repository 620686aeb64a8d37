"""Pure statistics on sufficient statistics: numpy in, frozen results out.

"Statistics as aggregates": an analytics engine (DuckDB, Spark) computes sums over millions of
rows and returns small arrays; the functions here turn those sums into estimates. Each module
documents, in its docstring, exactly which sums its functions need — that is the contract for
the engine — and offers a ``*_numpy`` function computing the same sums from row arrays, used
as the test oracle and as a fallback for small data.

==========================  =========================================================================
module                      what it finishes
==========================  =========================================================================
``glm``                     logistic regression by IRLS, one aggregate query (X'WX, score, loglik) per
                            iteration → :class:`LogisticFitResult`
``weighting``               overlap weights, stabilized IPTW, Crump trimming, Kish effective size —
                            row formulas the engine mirrors in SQL
``balance``                 standardized mean differences from per-arm weighted moments →
                            :class:`BalanceTable`
``survival``                weighted Kaplan–Meier from grouped counts, Greenwood variance, log(-log)
                            CI, RMST → :class:`SurvivalCurve`, :class:`RestrictedMeanEstimate`
``effects``                 weighted differences / risk ratios with M-estimation sandwich intervals
                            that account for the estimated propensity score → :class:`EffectEstimate`
``aipw``                    augmented IPW (doubly robust ATE) → :class:`EffectEstimate`
``sensitivity``             E-values → :class:`EValueResult`
``augmented_overlap``       the augmented overlap-weight (doubly robust ATO) check of Mao, Li &
                            Greene 2019 → :class:`EffectEstimate`
``multiplicity``            Benjamini–Hochberg and Holm adjusted p-values across a scorecard
``aft``                     Weibull, log-normal and log-logistic accelerated failure time models
                            (censored), chosen by AIC
``survival_calibration``    calibration of a survival model by risk group (Greenwood–Nam–
                            D'Agostino) → :class:`SurvivalCalibrationTable`
==========================  =========================================================================

This package imports only the standard library and numpy (no I/O, no engines, no pandas).
"""

from spinetrack.stats.aipw import (
    AIPWSums,
    OutcomeRegressionSums,
    aipw_sums_numpy,
    estimate_aipw,
    fit_outcome_regression,
    outcome_regression_sums_numpy,
)
from spinetrack.stats.augmented_overlap import (
    AugmentedArmSums,
    AugmentedInfluence,
    AugmentedVarianceSums,
    AugmentedWeightingSums,
    augmented_overlap_sums_numpy,
    augmented_variance_sums_numpy,
    compute_augmented_influence,
    estimate_augmented_overlap,
)
from spinetrack.stats.balance import (
    ArmMomentSums,
    BalanceTable,
    balance_sums_numpy,
    compute_balance,
)
from spinetrack.stats.effects import (
    ArmEstimatingSums,
    EffectEstimate,
    WeightedMeanEstimate,
    WeightingSums,
    estimate_risk_ratio,
    estimate_weighted_difference,
    weighted_mean_from_sums,
    weighting_sums_numpy,
)
from spinetrack.stats.glm import (
    ConvergenceWarning,
    LogisticFitResult,
    SeparationError,
    fit_logistic_irls,
    logistic_crossprod_numpy,
    symmetric_from_triangle,
)
from spinetrack.stats.sensitivity import (
    EValueResult,
    e_value,
    evalue_mean_difference,
    evalue_risk_ratio,
    evalue_smd,
)
from spinetrack.stats.survival import (
    GroupedSurvivalCounts,
    RestrictedMeanEstimate,
    SurvivalCurve,
    at_risk_from_removals,
    grouped_counts_numpy,
    kaplan_meier_from_counts,
    restricted_mean_survival_time,
)
from spinetrack.stats.weighting import (
    compute_weights,
    effective_sample_size,
    expit,
    overlap_weights,
    stabilized_iptw,
    trim_by_propensity,
    trimming_bounds,
    weight_derivative,
)

__all__ = [
    "AIPWSums",
    "ArmEstimatingSums",
    "ArmMomentSums",
    "AugmentedArmSums",
    "AugmentedInfluence",
    "AugmentedVarianceSums",
    "AugmentedWeightingSums",
    "BalanceTable",
    "ConvergenceWarning",
    "EValueResult",
    "EffectEstimate",
    "GroupedSurvivalCounts",
    "LogisticFitResult",
    "OutcomeRegressionSums",
    "RestrictedMeanEstimate",
    "SeparationError",
    "SurvivalCurve",
    "WeightedMeanEstimate",
    "WeightingSums",
    "aipw_sums_numpy",
    "at_risk_from_removals",
    "augmented_overlap_sums_numpy",
    "augmented_variance_sums_numpy",
    "balance_sums_numpy",
    "compute_augmented_influence",
    "compute_balance",
    "compute_weights",
    "e_value",
    "effective_sample_size",
    "estimate_aipw",
    "estimate_augmented_overlap",
    "estimate_risk_ratio",
    "estimate_weighted_difference",
    "evalue_mean_difference",
    "evalue_risk_ratio",
    "evalue_smd",
    "expit",
    "fit_logistic_irls",
    "fit_outcome_regression",
    "grouped_counts_numpy",
    "kaplan_meier_from_counts",
    "logistic_crossprod_numpy",
    "outcome_regression_sums_numpy",
    "overlap_weights",
    "restricted_mean_survival_time",
    "stabilized_iptw",
    "symmetric_from_triangle",
    "trim_by_propensity",
    "trimming_bounds",
    "weight_derivative",
    "weighted_mean_from_sums",
    "weighting_sums_numpy",
]
