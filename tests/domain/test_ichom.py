"""The ICHOM Low Back Pain Standard Set mapping (``domain.ichom``).

Reference values: the set as /work/shared/STANDARDS.md ("Registries and timepoints") and
interop-codes.md §5 give it (Clement RC et al., Acta Orthop 2015;86(5):523-533): PROMs NRS back
and leg, ODI 2.1a, EQ-5D (ICHOM names the 3L) with EQ VAS, work status, analgesic use; follow-up
6, 12, 24 months, 3 months and 5 years optional; complications operative mortality, nerve root
injury including cauda equina, deep wound infection, pulmonary embolus, wrong-site procedure,
vascular injury, dural tear, other, rehospitalisation.
"""

from __future__ import annotations

import pytest

from spinetrack import instruments
from spinetrack.domain import ichom
from spinetrack.domain.complications import ClavienDindo, ComplicationCategory
from spinetrack.domain.pathway import TIMEPOINTS
from spinetrack.store import tables

ICHOM_COMPLICATIONS = ["operative mortality", "nerve root injury", "cauda equina", "deep wound infection",
                       "pulmonary embolus", "wrong-site procedure", "vascular injury", "dural tear", "other",
                       "rehospitalisation"]
ICHOM_PROM_CONCEPTS = ["back pain", "leg pain", "oswestry disability index version 2.1a", "eq-5d", "eq vas",
                       "work status", "analgesic use"]


def test_timepoints_are_ichoms_required_and_optional() -> None:
    assert {k for k, required in ichom.TIMEPOINTS_ICHOM.items() if required} == {"baseline", "6m", "12m", "24m"}
    assert {k for k, required in ichom.TIMEPOINTS_ICHOM.items() if not required} == {"3m", "5y"}
    days = {tp.code: tp.target_days for tp in TIMEPOINTS}
    assert [days[k] for k in ("6m", "12m", "24m", "5y")] == [182, 365, 730, 1826]


def test_every_ichom_prom_is_mapped_to_a_registered_instrument() -> None:
    names = " | ".join(v.name.lower() for v in ichom.PROMS)
    for concept in ICHOM_PROM_CONCEPTS:
        assert concept in names, concept
    for v in ichom.PROMS:
        assert v.group is ichom.Group.PROM and v.ichom
        inst = instruments.get(v.instrument)
        if v.item is not None:
            inst.definition.item(v.item)  # raises for an unknown item
    eq5d = next(v for v in ichom.PROMS if v.key == "eq5d")
    assert eq5d.field == "prom:eq5d5l" and eq5d.match is ichom.Match.DIFFERS
    assert "3L" in eq5d.note and "5L" in eq5d.note  # ICHOM names the 3L; we score the 5L
    for key in ("work_status", "analgesics"):
        own = next(v for v in ichom.PROMS if v.key == key)
        assert own.match is ichom.Match.OWN and own.instrument == key


def test_every_ichom_complication_is_mapped() -> None:
    names = " | ".join(m.variable.name.lower() for m in ichom.COMPLICATIONS)
    for c in ICHOM_COMPLICATIONS:
        assert c in names, c
    by_key = {m.variable.key: m for m in ichom.COMPLICATIONS}
    assert by_key["operative_mortality"].grades == (ClavienDindo.V,)  # death = Clavien-Dindo V (Dindo 2004)
    assert by_key["rehospitalisation"].readmission and not by_key["rehospitalisation"].categories
    assert ComplicationCategory.CAUDA_EQUINA_SYNDROME in by_key["nerve_root_injury"].categories
    assert by_key["pulmonary_embolus"].categories == (ComplicationCategory.PULMONARY_EMBOLISM,)
    assert ComplicationCategory.VENOUS_THROMBOEMBOLISM not in by_key["pulmonary_embolus"].categories
    for m in ichom.COMPLICATIONS:
        assert m.categories or m.grades or m.readmission, m.variable.key
        assert set(m.approximate) <= set(m.categories)


def test_each_complication_category_counts_under_exactly_one_ichom_complication() -> None:
    mapped = ichom.complication_categories_mapped()
    assert set(mapped) == set(ComplicationCategory)
    for category, keys in mapped.items():
        assert len(keys) == 1, (category, keys)


@pytest.mark.parametrize("variable", [*ichom.SCOPE, *ichom.CASE_MIX_COLLECTED], ids=lambda v: v.key)
def test_table_fields_are_real_columns(variable: ichom.Variable) -> None:
    table, column = variable.field.split(".", 1)
    assert column in tables.Base.metadata.tables[table].c, variable.field


def test_case_mix_is_marked_as_ours_not_ichoms() -> None:
    """ICHOM's case-mix item list was not retrieved (interop-codes.md "Not found"): none of our
    case-mix fields may claim to be an ICHOM variable."""
    assert all(not v.ichom and v.match is ichom.Match.OWN for v in ichom.CASE_MIX_COLLECTED)
    assert all(v.ichom for v in ichom.VARIABLES)
    keys = [v.key for v in (*ichom.VARIABLES, *ichom.CASE_MIX_COLLECTED)]
    assert len(keys) == len(set(keys))
