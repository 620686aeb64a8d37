"""Every number the synthetic cohort is generated from, in one place.

Two kinds of numbers live here and are kept apart:

* ``PLANTED`` — the true effect of MIS versus open surgery (MIS minus open, or a risk ratio
  MIS / open), per procedure family and outcome, for a patient with given covariates. These
  are what the analytics must recover. Where a published study gives a figure it is
  used and cited; where it has none the planted effect is **zero** ("no effect assumed") and
  says so — we never invent a benefit or a harm.
* ``SYNTHETIC`` — everything else (case mix, base levels, covariate slopes, loss to
  follow-up). These are illustrative generator settings chosen to look like a spine clinic;
  they are **not clinical reference values** and nothing in spinetrack reports them as such.
  Where an open-arm base level comes from a published arm, the source is named.

Effects are additive on the outcome's own scale (continuous outcomes) or multiplicative on
the risk (binary outcomes: ``p = base × multipliers × RR``), so the planted conditional effect
is also the true average effect in any population where no risk is clipped at 1.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GENERATOR_VERSION", "PLANTED", "PlantedEffect", "planted"]

GENERATOR_VERSION = "4"  # 4: planted benchmarking sites (only with more than 3 sites); 3: the 6-month visit


@dataclass(frozen=True, slots=True)
class PlantedEffect:
    family: str
    outcome: str
    value: float
    scale: str  # "difference" (MIS minus open) or "risk_ratio" (MIS / open)
    unit: str
    source: str


def _e(family: str, outcome: str, value: float, scale: str, unit: str, source: str) -> PlantedEffect:
    return PlantedEffect(family, outcome, value, scale, unit, source)


_NONE = "no published figure in spinetrack's literature base: no effect assumed"
_INT_ORTHOP_2014 = ("Int Orthop 2014;38(6):1225-34, doi:10.1007/s00264-014-2331-0 (meta-analysis of 16 RCTs, "
                    "minimally invasive vs standard discectomy)")
_SIPS_2011 = "Arts et al., SIPS RCT 2-year report, PMID 21792119 (tubular vs conventional microdiscectomy)"
_PHAN_2016 = "Phan K, Mobbs RJ. Spine 2016, doi:10.1097/BRS.0000000000001161 (MIS vs open laminectomy meta-analysis)"
_SUN_2013 = "Sun ZJ et al. Chin Med J 2013;126(20):3962 (MIS vs open TLIF meta-analysis, 12 cohorts)"
_PARK_2018 = "Park Y et al. Yonsei Med J 2018;59(4):524-538, doi:10.3349/ymj.2018.59.4.524 (9 prospective cohorts)"
_SHARMA_2022 = "Sharma et al. Asian Spine J 2022;16(4):463-470, doi:10.31616/asj.2021.0140 (dural tear 6.4% vs 15.9%)"
_MUELLER_2018 = "Mueller K et al. SMISS 2018 abstract (surgical-site infection, 961 MIS vs 481 open)"
_PMC8119907 = "Global Spine J, doi:10.1177/2192568220908242, Table 4 (patient dose 82.02 vs 22.56 mGy)"
_INCISION = ("SYNTHETIC technique property (MIS_INCISION_MM minus OPEN_BASE incision_mm): the literature base has no "
             "incision figure with a unit (Int Orthop 2014 MD -1.91, unit not stated)")
_RAMPERSAUD = "Rampersaud YR et al. SAS J 2011, doi:10.1016/j.esas.2011.02.001 (transfusion 0% vs 17%)"

# Sources, where a published study reported an open arm:
#   fusion ebl_ml 554 = mean of open TLIF arms 243.3 (Wu 2018), 798 (Rampersaud 2011), 648 (Hockley 2019),
#   528 (Hartmann 2022); fusion los_days 6.5 = mean of 7.3 (Wu), 8.4 (Rampersaud), 3.7 (Hockley);
#   fusion op_time_min 251 (Hockley 2019); fusion fluoro_dose_mgy 22.56 (PMC8119907 Table 4);
#   discectomy op_time_min 73.8 and los_days 3.8 are the open arm of PELD vs OLM (PMC2803265).
# All other base levels are synthetic.
OPEN_BASE = {
    "discectomy": {"ebl_ml": 60.0, "op_time_min": 73.8, "los_days": 2.0, "fluoro_s": 12.0, "fluoro_dose_mgy": 2.0,
                   "incision_mm": 35.0, "transfusion": 0.002, "dural_tear": 0.05, "ssi": 0.02,
                   "reoperation_2y": 0.10},
    "decompression": {"ebl_ml": 180.0, "op_time_min": 95.0, "los_days": 4.5, "fluoro_s": 15.0, "fluoro_dose_mgy": 3.0,
                      "incision_mm": 60.0, "transfusion": 0.02, "dural_tear": 0.08, "ssi": 0.039,
                      "reoperation_2y": 0.058},
    "fusion": {"ebl_ml": 554.0, "op_time_min": 251.0, "los_days": 6.5, "fluoro_s": 45.0, "fluoro_dose_mgy": 22.56,
               "incision_mm": 110.0, "transfusion": 0.17, "dural_tear": 0.08, "ssi": 0.026,
               "reoperation_2y": 0.05},
}
# MIS incision length (mm) is a property of the technique, not an effect estimate: synthetic.
MIS_INCISION_MM = {"discectomy": 20.0, "decompression": 22.0, "fusion": 50.0}


def _incision(family: str) -> float:
    """The MIS minus open incision length of a family (mm): a property of the technique."""
    return MIS_INCISION_MM[family] - OPEN_BASE[family]["incision_mm"]


PLANTED: tuple[PlantedEffect, ...] = (
    # --- discectomy for disc herniation -------------------------------------------------
    _e("discectomy", "ebl_ml", -13.56, "difference", "mL", _INT_ORTHOP_2014),
    _e("discectomy", "op_time_min", 11.03, "difference", "min", _INT_ORTHOP_2014),
    _e("discectomy", "los_days", 0.0, "difference", "days",
        _INT_ORTHOP_2014 + ": no statistical difference in hospital stay"),
    _e("discectomy", "fluoro_s", 0.0, "difference", "s",
        _INT_ORTHOP_2014 + ": no statistical difference in X-ray exposure"),
    _e("discectomy", "fluoro_dose_mgy", 0.0, "difference", "mGy",
        _INT_ORTHOP_2014 + ": no statistical difference in X-ray exposure"),
    _e("discectomy", "incision_mm", _incision("discectomy"), "difference", "mm", _INCISION),
    _e("discectomy", "odi", 0.0, "difference", "ODI points",
        "Smith N et al. Eur Spine J 2013 (no ODI difference in 4 RCTs); " + _SIPS_2011),
    _e("discectomy", "nrs_leg", 0.33, "difference", "NRS points",
        _SIPS_2011 + ": leg pain +3.3 mm on a 100 mm VAS over 2 years"),
    _e("discectomy", "nrs_back", 0.30, "difference", "NRS points",
        _SIPS_2011 + ": back pain +3.0 mm on a 100 mm VAS over 2 years"),
    _e("discectomy", "reoperation_2y", 1.5, "risk_ratio", "ratio", _SIPS_2011 + ": 15% vs 10% within 2 years"),
    _e("discectomy", "dural_tear", 6.4 / 15.9, "risk_ratio", "ratio", _SHARMA_2022),
    _e("discectomy", "ssi", 0.5 / 3.3, "risk_ratio", "ratio", _MUELLER_2018 + ": all procedures 0.5% vs 3.3%"),
    _e("discectomy", "transfusion", 1.0, "risk_ratio", "ratio", _NONE),
    # --- decompression for spinal stenosis -----------------------------------------------
    _e("decompression", "ebl_ml", -55.20, "difference", "mL",
        "AANS 2025 poster (multilevel LSS meta-analysis, conference abstract)"),
    _e("decompression", "op_time_min", 11.0, "difference", "min", _PHAN_2016),
    _e("decompression", "los_days", -2.1, "difference", "days", _PHAN_2016),
    _e("decompression", "fluoro_s", 0.0, "difference", "s", _NONE),
    _e("decompression", "fluoro_dose_mgy", 0.0, "difference", "mGy", _NONE),
    _e("decompression", "incision_mm", _incision("decompression"), "difference", "mm", _INCISION),
    _e("decompression", "odi", 0.0, "difference", "ODI points",
        "Overdevest G et al. Eur Spine J 2015 (similar functional disability, 10 RCTs)"),
    _e("decompression", "nrs_leg", 0.0, "difference", "NRS points", "Overdevest 2015 (similar leg pain)"),
    _e("decompression", "nrs_back", 0.0, "difference", "NRS points",
        _NONE + " (Phan 2016 reports lower back pain VAS without an estimate)"),
    _e("decompression", "reoperation_2y", 1.6 / 5.8, "risk_ratio", "ratio", _PHAN_2016 + ": 1.6% vs 5.8%"),
    _e("decompression", "dural_tear", 1.0, "risk_ratio", "ratio", _PHAN_2016 + ": dural injuries comparable"),
    _e("decompression", "ssi", 0.4 / 3.9, "risk_ratio", "ratio", _MUELLER_2018 + ": decompression only 0.4% vs 3.9%"),
    _e("decompression", "transfusion", 1.0, "risk_ratio", "ratio", _NONE),
    # --- fusion (TLIF) for spondylolisthesis / degenerative disc disease -------------------
    _e("fusion", "ebl_ml", -232.91, "difference", "mL", _SUN_2013),
    _e("fusion", "op_time_min", 21.0, "difference", "min", _PARK_2018),
    _e("fusion", "los_days", -2.11, "difference", "days", _SUN_2013),
    _e("fusion", "fluoro_s", 25.4, "difference", "s", _PARK_2018),
    _e("fusion", "fluoro_dose_mgy", 82.02 - 22.56, "difference", "mGy", _PMC8119907),
    _e("fusion", "incision_mm", _incision("fusion"), "difference", "mm", _INCISION),
    _e("fusion", "odi", -3.2, "difference", "ODI points", _PARK_2018 + ": ODI improvement 3.2 greater with MIS"),
    _e("fusion", "nrs_leg", 0.0, "difference", "NRS points", _PARK_2018 + ": no difference in pain improvement"),
    _e("fusion", "nrs_back", -0.25, "difference", "NRS points", _SUN_2013 + ": long-term VAS -0.25 (n.s.)"),
    _e("fusion", "reoperation_2y", 1.0, "risk_ratio", "ratio", _PARK_2018 + ": no difference in subsequent surgery"),
    _e("fusion", "dural_tear", 6.4 / 15.9, "risk_ratio", "ratio", _SHARMA_2022),
    _e("fusion", "ssi", 0.3, "risk_ratio", "ratio",
        _PARK_2018 + ": infection OR 0.3 (used as a risk ratio at low risk)"),
    _e("fusion", "transfusion", 0.0, "risk_ratio", "ratio", _RAMPERSAUD),
    _e("fusion", "revision_malposition", 1.0, "risk_ratio", "ratio", _NONE),
)
"""The planted MIS-versus-open effects. Return to activity, neurological deficit, venous
thromboembolism and wrong-level surgery have no MIS effect planted: the published studies give
no figure for them (RTW only as P-values)."""

_BY_KEY = {(e.family, e.outcome): e for e in PLANTED}


def planted(family: str, outcome: str) -> PlantedEffect:
    """The planted effect for one family and outcome."""
    return _BY_KEY[(family, outcome)]


# ------------------------------------------------------------------------------------------
# SYNTHETIC generator settings (illustrative; not clinical reference values)

DIAGNOSIS_MIX = {  # share of episodes by diagnosis group
    "disc_herniation_radiculopathy": 0.38,
    "stenosis_with_claudication": 0.17,
    "stenosis_without_claudication": 0.08,
    "degenerative_spondylolisthesis": 0.15,
    "degenerative_disc_disease": 0.10,
    "nonspecific_low_back_pain": 0.12,
}

AGE = {  # mean, sd (years) by diagnosis group
    "disc_herniation_radiculopathy": (43, 11),
    "stenosis_with_claudication": (68, 9),
    "stenosis_without_claudication": (66, 10),
    "degenerative_spondylolisthesis": (63, 10),
    "degenerative_disc_disease": (48, 11),
    "nonspecific_low_back_pain": (46, 13),
}

P_SURGERY = {  # probability of surgery for an average patient of the group (logit shifted by severity)
    "disc_herniation_radiculopathy": 0.60,
    "stenosis_with_claudication": 0.65,
    "stenosis_without_claudication": 0.50,
    "degenerative_spondylolisthesis": 0.65,
    "degenerative_disc_disease": 0.35,
    "nonspecific_low_back_pain": 0.0,
}

# Confounding of the approach: log-odds of MIS (vs open) for the reference patient and slopes.
MIS_LOGIT = {"discectomy": 0.7, "decompression": 0.3, "fusion": -0.1}
MIS_SLOPES = {"age_per_10y": -0.45, "asa_per_grade": -0.55, "per_extra_level": -0.9, "odi0_per_10": -0.30,
              "prior_surgery": -0.7}

# Open-arm levels for the reference patient (age 55, ASA II, one level, BMI 28).
# Per extra level, added to the open and MIS arms alike (synthetic).
PER_EXTRA_LEVEL = {"ebl_ml": {"discectomy": 20.0, "decompression": 60.0, "fusion": 250.0},
                   "op_time_min": {"discectomy": 20.0, "decompression": 30.0, "fusion": 70.0},
                   "los_days": {"discectomy": 0.3, "decompression": 0.6, "fusion": 1.2}}

# Loss to follow-up: exponential drop-out hazard per day for the reference patient, plus a
# chance of missing any one visit; calibrated to about a quarter missing at 24 months.
DROPOUT_HAZARD_PER_DAY = 3.2e-4
SPORADIC_MISSING = 0.05

# How a patient who is back to usual activity answers "when" (generator version 2): with the
# number of days, with the date (the snapshot turns it into days from the index date), or with
# neither (the analysis then knows only the interval between two visits). Synthetic shares.
RETURN_ANSWERED_BY = {"days": 0.6, "date": 0.3, "neither": 0.1}

# Revision surgery for a malpositioned implant (instrumented fusion only) within two years, for
# the open arm's reference patient (synthetic; no MIS effect planted: see PLANTED).
MALPOSITION_REVISION_2Y = 0.015

# Registry benchmarking (generator version 4): two planted sites, by site number (0-based, the
# order of the demo sites), for the site-comparison analysis to find (``analysis.benchmark``).
# Only a cohort with more than the three demo clinics has them (``spinetrack demo --sites N``,
# N >= 8); with three sites every row is what generator version 3 wrote. SYNTHETIC: these are
# not clinical figures about any hospital. Both sites are numbers with no preference for MIS
# (site number modulo 3 == 1, SITE_MIS_LOGIT 0 in synth.cohort), so that the planted quality
# is not tied to the choice of approach and does not confound the MIS-vs-open comparisons.
#   complication_rr: multiplies the risk of every surgical complication (dural tear, infection,
#                    neurological deficit, thromboembolism, wrong level) at the site;
#   odi_points:      added to the ODI at every follow-up visit after surgery (as recovery
#                    progresses, like the other slow-recovery terms): positive is worse.
UNDER_PERFORMING_SITE = 4
OVER_PERFORMING_SITE = 7
SITE_EFFECTS = {
    UNDER_PERFORMING_SITE: {"complication_rr": 2.0, "odi_points": 6.0},
    OVER_PERFORMING_SITE: {"complication_rr": 0.5, "odi_points": -6.0},
}
