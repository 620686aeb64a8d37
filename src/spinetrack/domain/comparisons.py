"""The comparisons of the claims scorecard, the treatment codes and the procedure families they
are built from: the one place that declares them.

A :class:`ComparisonSpec` says who is treated and who is the control (MIS vs open within one
procedure family, pooled over families, or surgery vs conservative care). The analysis
(``analysis.design``) turns each into SQL, the literature (``evidence.literature``) matches figures
to its key, and the store's reads (``store.queries``) tabulate by the treatment codes. Adding a
comparison is one entry in :data:`COMPARISONS`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from spinetrack.domain.options import groups_with_surgical_option
from spinetrack.domain.procedure import Approach, ProcedureFamily

__all__ = [
    "APPROACHES",
    "COMPARISONS",
    "CONSERVATIVE",
    "DEFAULT_CONTROL",
    "DEFAULT_TREATED",
    "FAMILIES",
    "TREATMENTS",
    "ComparisonSpec",
    "comparison",
]

#: The surgical approaches, as stored in an episode's ``treatment``.
APPROACHES: tuple[str, ...] = tuple(a.value for a in Approach)
#: The treatment code of an episode with no operation.
CONSERVATIVE = "conservative"
#: Every treatment code an episode can have.
TREATMENTS: tuple[str, ...] = (*APPROACHES, CONSERVATIVE)
#: The procedure families, in catalogue order.
FAMILIES: tuple[str, ...] = tuple(f.value for f in ProcedureFamily)
#: Who is treated and who is the control unless a comparison says otherwise: MIS vs open.
DEFAULT_TREATED: tuple[str, ...] = (Approach.MIS.value,)
DEFAULT_CONTROL: tuple[str, ...] = (Approach.OPEN.value,)


@dataclass(frozen=True, slots=True)
class ComparisonSpec:
    """Who is compared with whom. ``treated``/``control`` are episode treatment codes."""

    key: str
    label: str
    treated: tuple[str, ...] = DEFAULT_TREATED
    control: tuple[str, ...] = DEFAULT_CONTROL
    families: tuple[str, ...] = FAMILIES
    require_procedure: bool = True
    family_covariates: bool = False  # pooled comparisons adjust for the procedure family
    # only patients whose diagnosis allows both options (``domain.options``); () = no restriction
    eligible_diagnoses: tuple[str, ...] = ()

    @property
    def against_conservative(self) -> bool:
        """Whether one side is conservative care (the literature base compares surgical approaches only)."""
        return CONSERVATIVE in self.treated + self.control

    def spec_hash(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


COMPARISONS: tuple[ComparisonSpec, ...] = (
    ComparisonSpec("discectomy", "MIS vs open discectomy", families=("discectomy",)),
    ComparisonSpec("decompression", "MIS vs open decompression", families=("decompression",)),
    ComparisonSpec("fusion", "MIS vs open fusion", families=("fusion",)),
    ComparisonSpec("pooled", "MIS vs open, all procedure families", family_covariates=True),
    ComparisonSpec("surgery_vs_conservative", "Surgery (MIS or open) vs conservative care",
                   treated=APPROACHES, control=(CONSERVATIVE,), families=(), require_procedure=False,
                   eligible_diagnoses=groups_with_surgical_option()),
)


def comparison(key: str) -> ComparisonSpec:
    """The comparison with ``key``; ``KeyError`` naming the known keys otherwise."""
    for spec in COMPARISONS:
        if spec.key == key:
            return spec
    raise KeyError(f"unknown comparison {key!r}; known: {', '.join(s.key for s in COMPARISONS)}")
