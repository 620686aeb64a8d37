"""Complications, their Clavien–Dindo grade, and reasons for reoperation.

References
----------
- Dindo D, Demartines N, Clavien PA. Classification of surgical complications: a new proposal
  with evaluation in a cohort of 6336 patients and results of a survey. Ann Surg
  2004;240(2):205-13. Grades I, II, IIIa, IIIb, IVa, IVb, V.
- Horan TC, Gaynes RP, Martone WJ, Jarvis WR, Emori TG. CDC definitions of nosocomial surgical
  site infections, 1992. Infect Control Hosp Epidemiol 1992;13(10):606-8: superficial
  incisional, deep incisional, organ/space.
- Clement RC, Welander A, Stowell C, et al. A proposed set of metrics for standardized outcome
  reporting in the management of low back pain (the ICHOM Low Back Pain Standard Set). Acta
  Orthop 2015;86(5):523-533: operative mortality, nerve root injury including cauda equina, deep
  wound infection, pulmonary embolus, wrong-site procedure, vascular injury, dural tear, other,
  rehospitalisation. The categories ``nerve_root_injury``, ``cauda_equina_syndrome``,
  ``pulmonary_embolism``, ``wrong_site`` and ``vascular_injury`` were added so that each ICHOM
  complication has its own category; how every ICHOM complication maps onto this vocabulary
  (death: Clavien-Dindo V; rehospitalisation: the readmissions table) is
  :data:`spinetrack.domain.ichom.COMPLICATIONS`.

The older, broader categories stay for records that say no more: ``neurological_deficit`` (which
structure is not recorded), ``venous_thromboembolism`` (a deep vein thrombosis, or a clot whose
site is not recorded; a pulmonary embolism is recorded as ``pulmonary_embolism``) and
``wrong_level`` (a wrong-site procedure at the wrong spinal level; ``wrong_site`` is any other wrong
site or side).
"""

from __future__ import annotations

import enum

__all__ = ["ClavienDindo", "ComplicationCategory", "ReoperationReason"]


class ComplicationCategory(enum.Enum):
    SSI_SUPERFICIAL = "ssi_superficial"
    SSI_DEEP = "ssi_deep"
    SSI_ORGAN_SPACE = "ssi_organ_space"
    DURAL_TEAR = "dural_tear"
    NEUROLOGICAL_DEFICIT = "neurological_deficit"
    VENOUS_THROMBOEMBOLISM = "venous_thromboembolism"
    WRONG_LEVEL = "wrong_level"
    # ICHOM Low Back Pain Standard Set complications without a category of their own before
    NERVE_ROOT_INJURY = "nerve_root_injury"
    CAUDA_EQUINA_SYNDROME = "cauda_equina_syndrome"
    PULMONARY_EMBOLISM = "pulmonary_embolism"
    WRONG_SITE = "wrong_site"
    VASCULAR_INJURY = "vascular_injury"
    OTHER = "other"

    @property
    def is_surgical_site_infection(self) -> bool:
        return self.value.startswith("ssi_")


class ClavienDindo(enum.Enum):
    """Clavien–Dindo grade (Dindo 2004)."""

    I = "I"  # noqa: E741  deviation from the normal course without pharmacological/surgical treatment
    II = "II"  # pharmacological treatment, transfusion, parenteral nutrition
    IIIA = "IIIa"  # intervention not under general anaesthesia
    IIIB = "IIIb"  # intervention under general anaesthesia
    IVA = "IVa"  # life-threatening, single organ dysfunction
    IVB = "IVb"  # life-threatening, multi-organ dysfunction
    V = "V"  # death

    @property
    def rank(self) -> int:
        """Order of severity, 1 (I) to 7 (V)."""
        return list(ClavienDindo).index(self) + 1

    @property
    def is_major(self) -> bool:
        """Grade III or worse: the usual 'major complication' cut-off in surgical reporting."""
        return self.rank >= 3


class ReoperationReason(enum.Enum):
    RECURRENT_HERNIATION = "recurrent_herniation"
    RESTENOSIS = "restenosis"
    COMPLICATION = "complication"
    ADJACENT_SEGMENT = "adjacent_segment"
    NONUNION_OR_IMPLANT = "nonunion_or_implant"
    IMPLANT_MALPOSITION = "implant_malposition"  # revision of a misplaced implant (e.g. a pedicle screw)
    OTHER = "other"
