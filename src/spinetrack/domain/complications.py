"""Complications, their Clavien–Dindo grade, and reasons for reoperation.

References
----------
- Dindo D, Demartines N, Clavien PA. Classification of surgical complications: a new proposal
  with evaluation in a cohort of 6336 patients and results of a survey. Ann Surg
  2004;240(2):205-13. Grades I, II, IIIa, IIIb, IVa, IVb, V.
- Horan TC, Gaynes RP, Martone WJ, Jarvis WR, Emori TG. CDC definitions of nosocomial surgical
  site infections, 1992. Infect Control Hosp Epidemiol 1992;13(10):606-8: superficial
  incisional, deep incisional, organ/space.
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
