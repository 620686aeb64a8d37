"""Which treatment options a diagnosis has: the procedure family that treats each diagnosis
group, as data (``domain/data/surgical_options.csv``, with its provenance header).

The comparisons of the claims scorecard use it to keep each comparison to patients who could
have had either option (surgery versus conservative care leaves out diagnoses with no surgical
option), and the decision aid to say which options a patient has.
"""

from __future__ import annotations

import csv
import io
from importlib import resources

from spinetrack.domain.diagnosis import DiagnosisGroup
from spinetrack.domain.procedure import ProcedureFamily

__all__ = ["SURGICAL_FAMILY", "groups_with_surgical_option", "surgical_family"]


def _load() -> dict[str, str | None]:
    text = resources.files("spinetrack.domain").joinpath("data/surgical_options.csv").read_text("utf-8")
    rows = csv.DictReader(io.StringIO("".join(ln for ln in text.splitlines(keepends=True) if not ln.startswith("#"))))
    families = {f.value for f in ProcedureFamily}
    out: dict[str, str | None] = {}
    for r in rows:
        group, fam = r["diagnosis_group"], (r["surgical_family"] or "").strip() or None
        DiagnosisGroup(group)  # an unknown group is a packaging error: fail loudly
        if fam is not None and fam not in families:
            raise ValueError(f"surgical_options.csv: unknown procedure family {fam!r} for {group}")
        out[group] = fam
    missing = {g.value for g in DiagnosisGroup} - set(out)
    if missing:
        raise ValueError(f"surgical_options.csv: no row for {', '.join(sorted(missing))}")
    return out


#: Diagnosis group → the procedure family that treats it (``None``: no surgical option).
SURGICAL_FAMILY: dict[str, str | None] = _load()


def surgical_family(diagnosis_group: str) -> str | None:
    """The family that treats ``diagnosis_group`` (``None``: no surgical option)."""
    return SURGICAL_FAMILY[diagnosis_group]


def groups_with_surgical_option() -> tuple[str, ...]:
    """The diagnosis groups that have a surgical option, in the table's order."""
    return tuple(g for g, f in SURGICAL_FAMILY.items() if f is not None)
