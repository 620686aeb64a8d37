"""A site's OMOP standardised vocabulary (an Athena download), read for the few codes an export needs.

Athena ships the vocabulary tables as tab-separated files with a header row and no quoting
(``CONCEPT.csv``, ``CONCEPT_RELATIONSHIP.csv``, ``VOCABULARY.csv``, ...; dates as ``YYYYMMDD``).
spinetrack never loads them whole: :func:`load_vocabulary` streams ``CONCEPT.csv`` once and keeps
the rows of the (vocabulary, code) pairs asked for, then streams ``CONCEPT_RELATIONSHIP.csv`` once
for their ``Maps to`` links. Memory stays bounded by the codes asked for, not the download's
millions of rows.

A source code maps to: its *source concept* (the concept of that vocabulary and code, whatever its
standard flag) and its *standard concept* (the source concept itself when it is standard, ``S``;
else the target of its valid ``Maps to`` relationship; else 0, "no matching concept", the CDM's
convention). Without a vocabulary every look-up gives 0 and 0.
"""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from spinetrack.errors import ValidationError

__all__ = ["Mapping", "Vocabulary", "load_vocabulary"]

# Athena's rows may be long (concept names), and carry quotes that are not CSV quoting
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


@dataclass(frozen=True, slots=True)
class Mapping:
    """What one source code maps to: source concept, standard concept (0 when none) and the
    standard concept's domain (``Condition``, ``Observation``, ``Measurement``, ...; "" when none)."""

    source_concept_id: int = 0
    concept_id: int = 0
    domain_id: str = ""


@dataclass(slots=True)
class Vocabulary:
    """The concepts of the asked-for codes, by (vocabulary_id, concept_code); ``version`` is the
    vocabulary release (``VOCABULARY.csv``'s row ``None``), ``"none"`` when no vocabulary is used."""

    version: str = "none"
    _map: dict[tuple[str, str], Mapping] = field(default_factory=dict)

    def lookup(self, vocabulary_id: str, code: str | None) -> Mapping:
        """The mapping of ``code`` in ``vocabulary_id`` (0, 0 when unknown or no vocabulary)."""
        if code is None:
            return _NONE
        return self._map.get((vocabulary_id, code), _NONE)

    @property
    def used(self) -> bool:
        return self.version != "none"


_NONE = Mapping()


def _rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        yield from csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)


def _find(folder: Path, name: str) -> Path | None:
    for candidate in (name, name.lower()):
        if (folder / candidate).is_file():
            return folder / candidate
    return None


def load_vocabulary(folder: str | os.PathLike[str], wanted: Collection[tuple[str, str]]) -> Vocabulary:
    """Read the concepts of ``wanted`` (vocabulary_id, concept_code) pairs from an Athena folder.

    Raises
    ------
    ValidationError
        The folder does not exist or has no ``CONCEPT.csv``, or that file lacks Athena's columns.
    """
    root = Path(folder)
    concept_file = _find(root, "CONCEPT.csv") if root.is_dir() else None
    if concept_file is None:
        raise ValidationError(field="vocabulary", value=str(root),
                              allowed="an Athena vocabulary folder holding CONCEPT.csv (tab-separated)",
                              reason="no CONCEPT.csv there")
    wanted_set = set(wanted)
    concepts: dict[int, tuple[str, str, str]] = {}  # concept_id → (domain_id, standard_concept, invalid_reason)
    by_code: dict[tuple[str, str], int] = {}
    needed = {"concept_id", "domain_id", "vocabulary_id", "standard_concept", "concept_code"}
    for n, row in enumerate(_rows(concept_file)):
        if n == 0 and not needed <= set(row):
            raise ValidationError(field="vocabulary", value=str(concept_file), allowed=sorted(needed),
                                  reason="CONCEPT.csv lacks Athena's columns (is it tab-separated?)")
        key = (row["vocabulary_id"], row["concept_code"])
        if key in wanted_set:
            cid = int(row["concept_id"])
            by_code[key] = cid
            concepts[cid] = (row["domain_id"], row.get("standard_concept") or "", row.get("invalid_reason") or "")
    maps_to: dict[int, int] = {}
    rel_file = _find(root, "CONCEPT_RELATIONSHIP.csv")
    if rel_file is not None and by_code:
        sources = set(by_code.values())
        for row in _rows(rel_file):
            if row["relationship_id"] == "Maps to" and not row.get("invalid_reason"):
                c1 = int(row["concept_id_1"])
                if c1 in sources and c1 not in maps_to:
                    maps_to[c1] = int(row["concept_id_2"])
    # the domains of Maps-to targets we have not seen yet: one more pass over CONCEPT.csv
    missing = {t for t in maps_to.values() if t not in concepts}
    if missing:
        for row in _rows(concept_file):
            cid = int(row["concept_id"])
            if cid in missing:
                concepts[cid] = (row["domain_id"], row.get("standard_concept") or "", row.get("invalid_reason") or "")
    result: dict[tuple[str, str], Mapping] = {}
    for key, cid in by_code.items():
        domain, standard, invalid = concepts[cid]
        if standard == "S" and not invalid:
            result[key] = Mapping(cid, cid, domain)
        elif cid in maps_to:
            target = maps_to[cid]
            result[key] = Mapping(cid, target, concepts.get(target, ("", "", ""))[0])
        else:
            result[key] = Mapping(cid, 0, "")
    return Vocabulary(version=_version(root), _map=result)


def _version(root: Path) -> str:
    """The release named on ``VOCABULARY.csv``'s ``None`` row (Athena's overall version), cut to the
    20 characters of ``cdm_source.vocabulary_version``; ``"unknown"`` when the file says nothing."""
    path = _find(root, "VOCABULARY.csv")
    if path is not None:
        for row in _rows(path):
            if row.get("vocabulary_id") == "None" and row.get("vocabulary_version"):
                return row["vocabulary_version"][:20]
    return "unknown"
