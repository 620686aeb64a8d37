"""What is predicted, for whom, and when the clinic's data are enough: the outcomes, the
treatment options per diagnosis, the predictors and the minimum-data rule.

Outcomes
--------
======================  =========================================  ===========  ===================  =========
key                     outcome                                    kind         unit                 options
======================  =========================================  ===========  ===================  =========
``odi_mcid_12m``        ODI improved by at least the MCID at 12 m  probability  probability (0-1)    all
``odi_12m``             ODI at 12 months                           mean         ODI points (0-100)   all
``leg_pain_12m``        NRS leg pain at 12 months                  mean         NRS points (0-10)    all
``back_pain_12m``       NRS back pain at 12 months                 mean         NRS points (0-10)    all
``length_of_stay``      length of stay of the index admission      mean         days                 surgical
``any_complication``    any complication recorded for the episode  probability  probability (0-1)    surgical
``return_to_activity``  days to return to usual activity           median_days  days                 all
``reoperation_2y``      reoperation within 2 years                 probability  probability (0-1)    surgical
======================  =========================================  ===========  ===================  =========

Models: least squares (means), logistic regression (probabilities), and for the two
time-to-event outcomes a parametric accelerated failure time model — Weibull, log-normal or
log-logistic, whichever fits best by AIC (``stats.aft``) — for right-censored times: the
median days to return to activity, and the risk of a reoperation by day 730,
``1 − S(730 | x)`` (a censored patient counts for the time they were followed, not as
"no reoperation" and not dropped).

The outcome columns are those of the claims scorecard (``analysis.design.outcome_spec`` of the
claim with the same key, and of ``reoperation_free`` for ``reoperation_2y``), so a prediction
and the scorecard read the same data:

* ``odi_mcid_12m`` — baseline − 12-month ODI ≥ the ODI's default MCID
  (``instruments.thresholds``: 10 points, Ostelo 2008); patients with both scores.
* ``return_to_activity`` — days from the index date to the return to usual activity, censored
  when the patient was not back at the last answer (right-censored; the claim's definition); a
  return on the index day (0 days) counts as half a day, since the AFT models need a positive
  time.
* ``reoperation_2y`` — days to the first reoperation, censored at the end of the patient's
  follow-up and at day 730 (the claim ``reoperation_free``); the reported risk is
  ``1 − S(730 | x)`` of the fitted AFT model.

Options
-------
``conservative``, ``mis`` and ``open`` within the procedure family that treats the patient's
diagnosis (:data:`FAMILY_BY_DIAGNOSIS`, ``domain/data/surgical_options.csv``, the assignment
the scorecard and the synthetic cohort use for the primary procedure of each diagnosis): disc herniation → discectomy,
stenosis → decompression, spondylolisthesis and degenerative disc disease → fusion. Nonspecific
low back pain has no surgical option.

Minimum-data rule (spinetrack's rule; configurable in ``train_models``)
-------------------------------------------------------------------------
An option × outcome is predicted from the clinic's data only when

1. the option has at least :data:`MIN_PATIENTS_PER_OPTION` = 100 patients with the outcome
   observed in the model's training data — our convention, so that the option's mean is
   estimated with a standard error of at most a tenth of the outcome's standard deviation;
2. for binary and time-to-event outcomes, the model has at least
   :data:`MIN_EVENTS_PER_PARAMETER` = 10 events per estimated coefficient (the intercept and the
   AFT shape not counted; "events" is the rarer of the two outcomes for a binary model) —
   the events-per-variable rule of Peduzzi P, Concato J, Kemper E, Holford TR, Feinstein AR.
   A simulation study of the number of events per variable in logistic regression analysis.
   J Clin Epidemiol. 1996;49(12):1373-1379;
3. a time-to-event model fits: its distribution, chosen by AIC among Weibull, log-normal and
   log-logistic, passes the calibration-in-the-large check by risk group (Kaplan–Meier
   against predicted survival in quintiles of predicted risk, Greenwood–Nam–D'Agostino test,
   ``stats.aft.calibrate_survival_groups``) at :data:`CALIBRATION_ALPHA` = 0.01 — a
   statistical tolerance, not a clinical one (configurable in ``train_models``): the model is
   kept unless its by-group miscalibration on its own data is larger than chance explains. The
   level is 1% rather than the conventional 5% because about ten time-to-event models are
   checked in one training run: at 1% each, the chance that any correctly specified model is
   withheld by chance alone stays near 10% (Bonferroni's inequality), while a wrong
   distribution, whose misfit grows with the data, is still rejected;
4. the model could be fitted.

Otherwise the option × outcome falls back to the literature (``predict.literature``): the
published arm of that option in the evidence package for the average patient of that study, or
no figure at all, with the reason. A model that was fitted but failed a rule is still written,
with its card, so that the reason can be read; a model that is used has its covariate effects
shrunk by its corrected calibration slope when that is below 1 (``predict.training``).

Overfitting does not discard a model: the optimism-corrected calibration slope
(Harrell's bootstrap, ``stats.prediction.validate_bootstrap``) is used as a uniform shrinkage
factor for the covariate effects, the intercept re-estimated (Van Houwelingen JC, Le Cessie S.
Stat Med. 1990;9(11):1303-1325; Steyerberg EW. *Clinical Prediction Models*, 2nd ed. 2019,
§13.2), so that the predictions are calibrated for new patients of the same clinic. Rule 2 is
what "too little data" means here: below it the clinic's data carry too few events for any
model, shrunk or not.

Training rows: at most :data:`MAX_TRAINING_ROWS` = 200,000 patients per model, so that a
registry snapshot is fitted in bounded memory (about 70 MB of float64 per model); a larger
population is thinned deterministically with the engine's hashed sample of the episode key
(1 in ⌈N / 200,000⌉) and then cut to the cap in episode-key order. The card says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from spinetrack.analysis.claims import claim
from spinetrack.analysis.design import ComparisonSpec, covariate_columns, outcome_spec
from spinetrack.domain.options import SURGICAL_FAMILY

__all__ = [
    "CALIBRATION_ALPHA",
    "CALIBRATION_GROUPS",
    "CARE_GROUPS",
    "COVARIATES",
    "FAMILY_BY_DIAGNOSIS",
    "MAX_TRAINING_ROWS",
    "MIN_EVENTS_PER_PARAMETER",
    "MIN_PATIENTS_PER_OPTION",
    "OPTIONS",
    "OUTCOMES",
    "PREDICTION_INTERVAL_LEVEL",
    "REOPERATION_HORIZON_DAYS",
    "CareGroup",
    "OutcomeDef",
    "care_group_of",
    "outcome_def",
]

MIN_PATIENTS_PER_OPTION = 100
MIN_EVENTS_PER_PARAMETER = 10.0
CALIBRATION_ALPHA = 0.01  # statistical tolerance of the calibration-in-the-large check (rule 3; docstring)
CALIBRATION_GROUPS = 5    # groups of predicted risk for that check (quintiles)
PREDICTION_INTERVAL_LEVEL = 0.90  # "9 in 10 people like you"
MAX_TRAINING_ROWS = 200_000
REOPERATION_HORIZON_DAYS = 730
OPTIONS = ("conservative", "mis", "open")
APPROACH_COLUMN = "x_mis"  # the approach indicator of the surgical models (1 = MIS, 0 = open)

#: Diagnosis group → the family that treats it (``None``: no surgical option): the domain's table
#: (``domain/data/surgical_options.csv``), the same one the scorecard's comparisons use.
FAMILY_BY_DIAGNOSIS: dict[str, str | None] = dict(SURGICAL_FAMILY)


@dataclass(frozen=True, slots=True)
class CareGroup:
    """The patients one set of models is for: the diagnoses that one procedure family treats
    (``family`` None: no surgical option)."""

    key: str
    family: str | None
    diagnoses: tuple[str, ...]

    @property
    def options(self) -> tuple[str, ...]:
        return OPTIONS if self.family else ("conservative",)


def _care_groups() -> tuple[CareGroup, ...]:
    out = []
    for fam in ("discectomy", "decompression", "fusion"):
        out.append(CareGroup(fam, fam, tuple(g for g, f in FAMILY_BY_DIAGNOSIS.items() if f == fam)))
    out.append(CareGroup("no_surgical_option", None,
                         tuple(g for g, f in FAMILY_BY_DIAGNOSIS.items() if f is None)))
    return tuple(out)


CARE_GROUPS: tuple[CareGroup, ...] = _care_groups()


def care_group_of(diagnosis_group: str) -> CareGroup:
    """The care group of a diagnosis group."""
    for g in CARE_GROUPS:
        if diagnosis_group in g.diagnoses:
            return g
    raise KeyError(diagnosis_group)


@dataclass(frozen=True, slots=True)
class OutcomeDef:
    """One predicted outcome: SQL columns over the analysis table (``y``, or ``time`` and
    ``event``) and the filter of the rows where it is observed. ``horizon_days``: a
    time-to-event outcome reported as the risk by that day (``prediction`` ``probability``);
    ``scale``: the outcome's range where it has one (prediction intervals stop at its ends)."""

    key: str
    label: str
    kind: str          # binary | continuous | time_to_event (the model)
    prediction: str    # probability | mean | median_days (what is reported)
    unit: str
    surgical_only: bool
    columns: tuple[tuple[str, str], ...]
    where: str
    definition: str
    horizon_days: int | None = None
    scale: tuple[float, float | None] | None = None


def _from_claim(key: str, label: str, prediction: str, unit: str, surgical_only: bool, definition: str, *,
                claim_key: str | None = None, scale: tuple[float, float | None] | None = None) -> OutcomeDef:
    c = claim(claim_key or key)
    oq = outcome_spec(c)
    kind = {"binary": "binary", "continuous": "continuous", "time_to_event": "time_to_event"}[c.kind.value]
    cols = oq.columns
    if kind == "time_to_event":
        cols = tuple((n, f"CASE WHEN ({e}) <= 0 THEN 0.5 ELSE ({e}) END" if n == "time" else e) for n, e in cols)
    horizon = c.horizon_days if kind == "time_to_event" and prediction == "probability" else None
    return OutcomeDef(key, label, kind, prediction, unit, surgical_only, cols, oq.where, definition, horizon, scale)


def _outcomes() -> tuple[OutcomeDef, ...]:
    from spinetrack.instruments import thresholds

    mcid = thresholds.get("odi")
    h = REOPERATION_HORIZON_DAYS
    return (
        _from_claim("odi_mcid_12m", "ODI improved by at least the MCID at 12 months", "probability", "probability",
                    False, f"baseline minus 12-month ODI >= {mcid.absolute:g} points (MCID, {mcid.source}); "
                           "patients with both scores"),
        _from_claim("odi_12m", "ODI at 12 months", "mean", "ODI points (0-100)", False,
                    "ODI 2.1a score at the 12-month timepoint", scale=(0.0, 100.0)),
        _from_claim("leg_pain_12m", "leg pain at 12 months", "mean", "NRS points (0-10)", False,
                    "NRS leg pain at the 12-month timepoint", scale=(0.0, 10.0)),
        _from_claim("back_pain_12m", "back pain at 12 months", "mean", "NRS points (0-10)", False,
                    "NRS back pain at the 12-month timepoint", scale=(0.0, 10.0)),
        _from_claim("length_of_stay", "length of stay", "mean", "days", True,
                    "length of stay of the index admission (procedures recorded with a stay)", scale=(0.0, None)),
        _from_claim("any_complication", "any complication", "probability", "probability", True,
                    "any complication recorded for the episode (none recorded counts as none)"),
        _from_claim("return_to_activity", "days to return to usual activity", "median_days", "days", False,
                    "days from the index date to the return to usual activity, censored when not back at the last "
                    "answer; the median of the AFT model chosen by AIC"),
        _from_claim("reoperation_2y", "reoperation within 2 years", "probability", "probability", True,
                    f"a reoperation within {h} days of the index procedure: days to the first reoperation, censored at "
                    f"the end of follow-up and at day {h} (time to event, claim reoperation_free); the risk is "
                    f"1 - S({h}) of the AFT model chosen by AIC", claim_key="reoperation_free"),
    )


OUTCOMES: tuple[OutcomeDef, ...] = _outcomes()


def outcome_def(key: str) -> OutcomeDef:
    for o in OUTCOMES:
        if o.key == key:
            return o
    raise KeyError(key)


_SPEC = ComparisonSpec("predict", "prediction models (no procedure-family covariates)", family_covariates=False)


def _covariates() -> tuple[str, ...]:
    names = []
    for c in covariate_columns(_SPEC):
        names.append(f"x_{c.name}")
        if c.missing_sql:
            names.append(f"x_{c.name}_missing")
    return tuple(names)


#: The predictors: the analysis covariates (``analysis.design.covariate_columns``), in order.
COVARIATES: tuple[str, ...] = _covariates()
