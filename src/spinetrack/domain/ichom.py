"""The ICHOM Low Back Pain Standard Set, variable by variable, mapped onto spinetrack's fields.

Source: Clement RC, Welander A, Stowell C, et al. A proposed set of metrics for standardized
outcome reporting in the management of low back pain. Acta Orthop 2015;86(5):523-533,
doi:10.3109/17453674.2015.1036696 (the ICHOM Low Back Pain Standard Set), as the project's
shared standards summarise it (STANDARDS.md "Registries and timepoints"; interop-codes.md §5):

- patient-reported, at baseline and at every follow-up: NRS back and leg pain, ODI 2.1a, EQ-5D
  (ICHOM names the 3-level EQ-5D-3L) with the EQ VAS, work status, analgesic use;
- follow-up 6, 12 and 24 months after the start of treatment, 3 months and 5 years optional;
- complications: operative mortality, nerve root injury including cauda equina, deep wound
  infection, pulmonary embolus, wrong-site procedure, vascular injury, dural tear, other,
  rehospitalisation;
- scope (the ICHOM reference guide as mirrored by medical-data-models.org 31090, a secondary
  source): the condition (degenerative lumbar conditions) and the treatment (conservative or
  surgical: fusion, decompression, discectomy).

ICHOM's case-mix (risk-adjustment) variables are **not** listed here as ICHOM's: their item-level
list was not retrieved (interop-codes.md, "Not found"). The case-mix fields spinetrack collects at
baseline are listed as :data:`CASE_MIX_COLLECTED`, marked as spinetrack's, not ICHOM's.

Where spinetrack differs from ICHOM, :attr:`Variable.note` says so: the EQ-5D is scored with the
5-level version (EQ-5D-5L) and a national 5L value set, not the 3L ICHOM names; work status and
analgesic use are spinetrack's own questions (ICHOM's wording was not available); ICHOM's time
frame for operative mortality was not retrieved, so no time limit is applied.

Fields are named ``table.column`` or ``prom:<instrument>`` (``prom:<instrument>.<item>`` for
one item). This module is pure data: :mod:`spinetrack.store.ichom` counts completeness.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from spinetrack.domain.complications import ClavienDindo, ComplicationCategory

__all__ = [
    "CASE_MIX_COLLECTED",
    "COMPLICATIONS",
    "PROMS",
    "REFERENCE",
    "SCOPE",
    "TIMEPOINTS_ICHOM",
    "VARIABLES",
    "ComplicationMap",
    "Group",
    "Match",
    "Variable",
    "complication_categories_mapped",
]

REFERENCE = ("Clement RC, Welander A, Stowell C, et al. Acta Orthop 2015;86(5):523-533, "
             "doi:10.3109/17453674.2015.1036696 (ICHOM Low Back Pain Standard Set)")
_MDM = "ICHOM LBP reference guide v2.0.3 as mirrored by medical-data-models.org 31090 (secondary source)"


class Group(enum.StrEnum):
    SCOPE = "scope"                  # what the episode is: condition and treatment
    CASE_MIX = "case_mix"            # baseline case-mix (spinetrack's; ICHOM's list not retrieved)
    PROM = "prom"                    # patient-reported, per timepoint
    COMPLICATION = "complication"    # clinical outcome events after treatment


class Match(enum.StrEnum):
    EXACT = "exact"                  # the same concept
    DIFFERS = "differs"              # collected, with a documented difference (e.g. EQ-5D-5L for 3L)
    OWN = "own"                      # ICHOM names the concept; the question and categories are spinetrack's
    MISSING = "missing"              # not collected


@dataclass(frozen=True, slots=True)
class Variable:
    """One ICHOM variable (or, for :data:`CASE_MIX_COLLECTED`, one of spinetrack's own)."""

    key: str
    group: Group
    name: str                        # as the standard names it (or spinetrack's name for its own)
    field: str                       # spinetrack's field: ``table.column`` or ``prom:<instrument>[.<item>]``
    match: Match
    note: str = ""
    source: str = REFERENCE
    ichom: bool = True               # False: spinetrack's own case-mix field, not in the ICHOM list as retrieved

    @property
    def instrument(self) -> str | None:
        """The instrument code of a PROM field (``prom:eq5d5l.vas`` → ``eq5d5l``), else None."""
        if not self.field.startswith("prom:"):
            return None
        return self.field[5:].split(".", 1)[0]

    @property
    def item(self) -> str | None:
        """The item of a one-item PROM field (``prom:eq5d5l.vas`` → ``vas``), else None."""
        if not self.field.startswith("prom:") or "." not in self.field:
            return None
        return self.field.split(".", 1)[1]


@dataclass(frozen=True, slots=True)
class ComplicationMap:
    """How one ICHOM complication is found in spinetrack's records: complications of these
    categories (``categories``), of these Clavien-Dindo grades (``grades``, any category), or a
    readmission (``readmission``). ``approximate`` lists categories counted here that are broader
    or vaguer than the ICHOM concept (see the variable's note)."""

    variable: Variable
    categories: tuple[ComplicationCategory, ...] = ()
    grades: tuple[ClavienDindo, ...] = ()
    readmission: bool = False
    approximate: tuple[ComplicationCategory, ...] = ()


# --------------------------------------------------------------------------------------------
# timepoints: ICHOM's follow-ups, required or optional (Clement 2015)

TIMEPOINTS_ICHOM: dict[str, bool] = {  # code → required by ICHOM (False: optional)
    "baseline": True, "3m": False, "6m": True, "12m": True, "24m": True, "5y": False,
}

# --------------------------------------------------------------------------------------------
# scope

SCOPE: tuple[Variable, ...] = (
    Variable("condition", Group.SCOPE, "Condition (degenerative lumbar condition treated)", "episodes.diagnosis_code",
             Match.DIFFERS, "ICD-10-CM code with spinetrack's diagnosis group (episodes.diagnosis_group); ICHOM lists "
             "condition categories, not codes.", _MDM),
    Variable("treatment", Group.SCOPE, "Treatment (conservative or surgical: fusion, decompression, discectomy)",
             "episodes.treatment", Match.EXACT,
             "conservative, mis or open; the procedure family in episodes.treatment_family, the procedure in "
             "procedures.procedure_code; the start of treatment is episodes.index_date.", _MDM),
)

# --------------------------------------------------------------------------------------------
# patient-reported outcome measures, asked at baseline and at every follow-up

PROMS: tuple[Variable, ...] = (
    Variable("nrs_back", Group.PROM, "Back pain (numerical pain rating scale, NPRS)", "prom:nrs_back", Match.EXACT,
             "0 no pain to 10 worst imaginable; recall: the last week."),
    Variable("nrs_leg", Group.PROM, "Leg pain (numerical pain rating scale, NPRS)", "prom:nrs_leg", Match.EXACT,
             "0 no pain to 10 worst imaginable; recall: the last week."),
    Variable("odi", Group.PROM, "Oswestry Disability Index version 2.1a", "prom:odi", Match.EXACT,
             "Structure and scoring only; the licensed wording is loaded by the site (wording pack)."),
    Variable("eq5d", Group.PROM, "EQ-5D (ICHOM names the EQ-5D-3L)", "prom:eq5d5l", Match.DIFFERS,
             "ICHOM names the 3-level EQ-5D-3L; spinetrack collects and scores the 5-level EQ-5D-5L with a national "
             "5L value set (instruments.eq5d5l). 3L and 5L indexes are not interchangeable: convert or report the "
             "version when pooling with a 3L registry."),
    Variable("eq_vas", Group.PROM, "EQ VAS", "prom:eq5d5l.vas", Match.EXACT,
             "0-100, the item 'vas' of the EQ-5D-5L response."),
    Variable("work_status", Group.PROM, "Work status", "prom:work_status", Match.OWN,
             "spinetrack's own question; categories are domain.pathway.WorkStatus (instruments.work_status). "
             "ICHOM's answer options were not retrieved."),
    Variable("analgesics", Group.PROM, "Analgesic use", "prom:analgesics", Match.OWN,
             "spinetrack's own questions: frequency in the last week (none, some days, daily), opioid, nerve-pain "
             "medicine (instruments.analgesics). ICHOM's answer options were not retrieved."),
)

# --------------------------------------------------------------------------------------------
# complications


def _c(key: str, name: str, field: str, match: Match, note: str = "") -> Variable:
    return Variable(key, Group.COMPLICATION, name, field, match, note)


_CC = ComplicationCategory
COMPLICATIONS: tuple[ComplicationMap, ...] = (
    ComplicationMap(_c("operative_mortality", "Operative mortality", "complications.clavien_dindo = 'V'", Match.DIFFERS,
                       "A death is recorded as a complication of Clavien-Dindo grade V (Dindo 2004), whatever its "
                       "category. ICHOM's time frame for operative mortality was not retrieved: no time limit is "
                       "applied. An episode ended by death without a recorded complication (episodes.end_reason) "
                       "is not counted."),
                    grades=(ClavienDindo.V,)),
    ComplicationMap(_c("nerve_root_injury", "Nerve root injury, including cauda equina", "complications.category",
                       Match.EXACT,
                       "nerve_root_injury and cauda_equina_syndrome; neurological_deficit (an older category that "
                       "does not say which structure) is counted here too, as approximate."),
                    categories=(_CC.NERVE_ROOT_INJURY, _CC.CAUDA_EQUINA_SYNDROME, _CC.NEUROLOGICAL_DEFICIT),
                    approximate=(_CC.NEUROLOGICAL_DEFICIT,)),
    ComplicationMap(_c("deep_wound_infection", "Deep wound infection", "complications.category", Match.EXACT,
                       "CDC surgical-site infection, deep incisional (ssi_deep) and organ/space (ssi_organ_space, "
                       "counted as approximate); superficial infections count under 'other'."),
                    categories=(_CC.SSI_DEEP, _CC.SSI_ORGAN_SPACE), approximate=(_CC.SSI_ORGAN_SPACE,)),
    ComplicationMap(_c("pulmonary_embolus", "Pulmonary embolus", "complications.category", Match.EXACT,
                       "pulmonary_embolism; venous_thromboembolism (a deep vein thrombosis, or a clot whose site is "
                       "not recorded) is not a pulmonary embolus and counts under 'other'."),
                    categories=(_CC.PULMONARY_EMBOLISM,)),
    ComplicationMap(_c("wrong_site_procedure", "Wrong-site procedure", "complications.category", Match.EXACT,
                       "wrong_level (the wrong spinal level) and wrong_site (any other wrong site or side)."),
                    categories=(_CC.WRONG_LEVEL, _CC.WRONG_SITE)),
    ComplicationMap(_c("vascular_injury", "Vascular injury", "complications.category", Match.EXACT,
                       "vascular_injury."),
                    categories=(_CC.VASCULAR_INJURY,)),
    ComplicationMap(_c("dural_tear", "Dural tear", "complications.category", Match.EXACT, "dural_tear."),
                    categories=(_CC.DURAL_TEAR,)),
    ComplicationMap(_c("other", "Other complication", "complications.category", Match.EXACT,
                       "other, and the categories ICHOM does not name: ssi_superficial, venous_thromboembolism."),
                    categories=(_CC.OTHER, _CC.SSI_SUPERFICIAL, _CC.VENOUS_THROMBOEMBOLISM)),
    ComplicationMap(_c("rehospitalisation", "Rehospitalisation", "readmissions.admitted_on", Match.EXACT,
                       "A readmission after the index procedure (readmissions table); the reason is free text and "
                       "is never exported."),
                    readmission=True),
)


def complication_categories_mapped() -> dict[ComplicationCategory, tuple[str, ...]]:
    """Every complication category → the ICHOM complications that count it (each category is
    counted under exactly one, the tests check)."""
    out: dict[ComplicationCategory, tuple[str, ...]] = {c: () for c in ComplicationCategory}
    for m in COMPLICATIONS:
        for c in m.categories:
            out[c] = (*out[c], m.variable.key)
    return out


# --------------------------------------------------------------------------------------------
# case-mix fields spinetrack collects at baseline (ICHOM's own list was not retrieved)

_OWN = "spinetrack's baseline record (domain.pathway.PatientRecord / EpisodeRecord)"
CASE_MIX_COLLECTED: tuple[Variable, ...] = tuple(
    Variable(key, Group.CASE_MIX, name, field, Match.OWN, note, _OWN, ichom=False)
    for key, name, field, note in (
        ("age", "Age (birth year)", "patients.birth_year", "Age at the index date from the birth year."),
        ("sex", "Sex", "patients.sex", ""),
        ("bmi", "Body mass index", "patients.bmi", "kg/m2."),
        ("smoking", "Smoking status", "patients.smoking", "never, former, current."),
        ("diabetes", "Diabetes", "patients.diabetes", ""),
        ("asa_grade", "ASA physical status", "patients.asa_grade", "I-V."),
        ("work_status_baseline", "Work status at baseline", "patients.work_status",
         "The same categories as the work status question (domain.pathway.WorkStatus)."),
        ("symptom_duration", "Duration of symptoms", "patients.symptom_duration_weeks", "weeks."),
        ("prior_spine_surgery", "Previous spine surgery", "patients.prior_spine_surgery", ""),
    ))

VARIABLES: tuple[Variable, ...] = (*SCOPE, *PROMS, *(m.variable for m in COMPLICATIONS))
"""Every ICHOM variable mapped here, in the order the CLI lists them (case-mix fields apart)."""
