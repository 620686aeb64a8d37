"""Demo patients carry identifiers of the store's own form (``ST-`` and 10 characters of
``PSEUDO_ID_ALPHABET``), stable per seed and index and never shared within a cohort: the
``patients.pseudo_id`` column is unique, so a collision would stop a demo load. A hash of the
index (the first version) has a birthday collision among 10,000,000 patients (``MAX_PATIENTS``)
with probability about 8% in a space of 30^10; the id is now a bijection of the index."""

from __future__ import annotations

import math
import re

from spinetrack.store.repositories import PSEUDO_ID_ALPHABET
from spinetrack.synth import cohort
from spinetrack.synth.load import MAX_PATIENTS


def test_demo_ids_have_the_stores_form_and_are_stable() -> None:
    form = re.compile(rf"ST-[{PSEUDO_ID_ALPHABET}]{{10}}")
    ids = [cohort.pseudo_id(7, i) for i in range(1, 1001)]
    assert all(form.fullmatch(p) for p in ids)
    assert ids == [cohort.pseudo_id(7, i) for i in range(1, 1001)]
    assert cohort.pseudo_id(8, 1) != cohort.pseudo_id(7, 1)


def test_no_two_patients_of_a_seed_share_an_id() -> None:
    # index -> (offset + index * step) mod 30^10 is a bijection when gcd(step, 30^10) = 1
    # (number theory: multiplication by a unit of Z/nZ permutes it), and 30^10 > MAX_PATIENTS
    assert math.gcd(cohort._ID_STEP, cohort._ID_SPACE) == 1
    assert cohort._ID_SPACE > MAX_PATIENTS
    n = 200_000
    assert len({cohort.pseudo_id(3, i) for i in range(1, n + 1)}) == n
