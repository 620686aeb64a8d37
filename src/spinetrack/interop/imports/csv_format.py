"""The CSV import templates: one file per record type, or one wide file (one row per patient
episode with its index procedure and baseline answers). ``docs/import.md`` documents each
column; ``examples/import/csv/`` is a sample set.

A file's kind comes from its name: ``sites*.csv``, ``patients*.csv``, ``episodes*.csv``,
``procedures*.csv``, ``complications*.csv``, ``readmissions*.csv``, ``reoperations*.csv``,
``responses*.csv`` (several files of a kind are fine, e.g. ``responses_odi.csv``) or ``wide*.csv``.
Every row carries ``source_id`` (its id in the source: a re-import of the same id updates the
row) and its parent's source id (``site`` for a patient — a site code or a ``sites.csv`` source
id —, ``patient_source_id`` for an episode, ``episode_source_id`` for the rest). Field names,
codes and allowed values are spinetrack's own (:mod:`spinetrack.domain`, the instruments of
:mod:`spinetrack.instruments.registry`); a response row names its instrument and gives each
answer in an ``item_<item code>`` column.

The header is line 1 of each file; the report cites ``file:line`` of each row. Encoding UTF-8
(a byte-order mark, as Excel writes it, is accepted); the delimiter is a comma, or a semicolon
when the header line has semicolons and no commas (spreadsheets in many European locales), in
which case a decimal comma (``27,5``) is read as ``27.5``. Empty cells are missing values.

The reader checks the headers at once (an unknown file name, an unknown column, a missing
``source_id`` or parent column: :class:`CsvTemplateError` lists them all) and converts the cells
to numbers, yes/no and text by column; a cell that does not convert is passed on as written,
so that the writer's validation names the field, the value and the allowed values.
"""

from __future__ import annotations

import csv
import functools
import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from spinetrack import instruments
from spinetrack.errors import InputError
from spinetrack.instruments.base import ItemType
from spinetrack.store.imports import ENTITIES, IDENTITY_FIELDS, SourceRecord

__all__ = [
    "COLUMNS",
    "FILE_KINDS",
    "PARENT_COLUMN",
    "CsvSource",
    "CsvTemplateError",
    "read_csv",
]

#: File name prefix → the record type its rows hold (``wide``: patient, episode, procedure, baseline).
FILE_KINDS: Final[dict[str, str]] = {
    "sites": "site", "patients": "patient", "episodes": "episode", "procedures": "procedure",
    "complications": "complication", "readmissions": "readmission", "reoperations": "reoperation",
    "responses": "response", "wide": "wide"}
#: The column that names a row's parent, per record type.
PARENT_COLUMN: Final[dict[str, str]] = {
    "patient": "site", "episode": "patient_source_id", "procedure": "episode_source_id",
    "complication": "episode_source_id", "readmission": "episode_source_id", "reoperation": "episode_source_id",
    "response": "episode_source_id"}

# How each column's cells are read: text, int, float, bool or date (ISO text, checked by the domain).
_T, _I, _F, _B, _D = "text", "int", "float", "bool", "date"
#: Record type → column → cell type (the fields are those of spinetrack.domain.pathway's records).
COLUMNS: Final[dict[str, dict[str, str]]] = {
    "site": {"code": _T, "name": _T, "country": _T},
    "patient": {"pseudo_id": _T, "birth_year": _I, "sex": _T, "bmi": _F, "smoking": _T, "diabetes": _B,
                "asa_grade": _I, "work_status": _T, "symptom_duration_weeks": _I, "prior_spine_surgery": _B,
                **dict.fromkeys(IDENTITY_FIELDS, _T)},
    "episode": {"diagnosis_code": _T, "levels": _T, "conservative_care": _T, "conservative_care_weeks": _I,
                "treatment": _T, "treatment_family": _T, "enrolled_on": _D, "index_date": _D},
    "procedure": {"procedure_code": _T, "performed_on": _D, "levels": _T, "incision_mm": _F, "ebl_ml": _F,
                  "op_time_min": _F, "fluoro_s": _F, "fluoro_dose_mgy": _F, "los_days": _F, "transfusion": _B,
                  "converted_to_open": _B, "surgeon": _T},
    "complication": {"category": _T, "clavien_dindo": _T, "occurred_on": _D, "detail": _T},
    "readmission": {"admitted_on": _D, "reason": _T},
    "reoperation": {"performed_on": _D, "reason": _T, "levels": _T},
    "response": {"instrument": _T, "timepoint": _T, "collected_on": _D},
}
ITEM_PREFIX: Final = "item_"
_TRUE = frozenset({"yes", "y", "true", "1"})
_FALSE = frozenset({"no", "n", "false", "0"})
# The wide file: parents' ids, then the patient's and the episode's fields under their own names,
# the procedure's with a ``procedure_`` prefix where a name is shared, and baseline answers as
# ``<instrument>.<item>`` with ``baseline_collected_on``.
_WIDE_IDS = ("site", "patient_source_id", "episode_source_id", "procedure_source_id")
_WIDE_PROCEDURE = {"procedure_levels": "levels", "procedure_performed_on": "performed_on"}


class CsvTemplateError(InputError):
    """Files that do not follow the templates (names, headers); ``problems`` lists every one."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("the CSV files do not follow the import templates:\n  " + "\n  ".join(problems))


@dataclass(frozen=True, slots=True)
class _File:
    path: Path
    kind: str  # a record type, or "wide"
    delimiter: str
    sha256: str
    rows: int


def _kind(path: Path) -> str | None:
    stem = path.name.lower()
    for prefix, kind in FILE_KINDS.items():
        if stem.startswith(prefix) and stem.endswith(".csv"):
            return kind
    return None


def _wide_columns() -> set[str]:
    cols = set(_WIDE_IDS) | set(COLUMNS["patient"]) | set(COLUMNS["episode"]) | {"baseline_collected_on"}
    cols |= {c for c in COLUMNS["procedure"] if c not in _WIDE_PROCEDURE.values()} | set(_WIDE_PROCEDURE)
    for inst in instruments.all():
        cols |= {f"{inst.definition.code}.{it.code}" for it in inst.definition.items}
    return cols


def _item_columns() -> set[str]:
    return {ITEM_PREFIX + it.code for inst in instruments.all() for it in inst.definition.items}


class CsvSource:
    """The records of a set of CSV files, re-read on each iteration (the writer's passes) so that
    memory does not grow with the files. Files are read parents first (sites, patients or wide,
    episodes, procedures, then the rest); ``files`` maps each file name to its SHA-256."""

    def __init__(self, paths: Sequence[str | Path]) -> None:
        problems: list[str] = []
        found: list[_File] = []
        wide_cols, item_cols = _wide_columns(), _item_columns()
        for raw in paths:
            path = Path(raw)
            kind = _kind(path)
            if kind is None:
                problems.append(f"{path.name}: the file name must start with one of "
                                f"{', '.join(FILE_KINDS)} and end in .csv (it says what the rows hold)")
                continue
            if not path.is_file():
                problems.append(f"{path}: no such file")
                continue
            digest, rows, first = _scan(path)
            delimiter = ";" if ";" in first and "," not in first else ","
            header = [h.strip() for h in next(csv.reader([first], delimiter=delimiter), [])]
            problems += _check_header(path.name, kind, header, wide_cols, item_cols)
            found.append(_File(path, kind, delimiter, digest, rows))
        if not found and not problems:
            problems.append("no files given")
        if problems:
            raise CsvTemplateError(problems)
        rank = {"wide": ENTITIES.index("patient"), **{e: i for i, e in enumerate(ENTITIES)}}
        self._files = sorted(found, key=lambda f: rank[f.kind])
        self.files = {f.path.name: f.sha256 for f in self._files}
        self.rows = sum(f.rows for f in self._files)

    def __iter__(self) -> Iterator[SourceRecord]:
        for f in self._files:
            yield from (_wide_rows(f) if f.kind == "wide" else _rows(f))


def read_csv(paths: Sequence[str | Path]) -> CsvSource:
    """The records of CSV files in the import templates (see the module docstring)."""
    return CsvSource(paths)


def _scan(path: Path) -> tuple[str, int, str]:
    """SHA-256, number of lines after the header (an upper bound on rows, for the progress bar),
    and the header line."""
    h = hashlib.sha256()
    lines = 0
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
            lines += block.count(b"\n")
    with path.open(encoding="utf-8-sig", newline="") as fh:
        first = fh.readline().rstrip("\r\n")
    return h.hexdigest(), max(lines - 1, 0), first


def _check_header(name: str, kind: str, header: list[str], wide_cols: set[str], item_cols: set[str]) -> list[str]:
    if not any(header):
        return [f"{name}:1: the first line must be the header (column names)"]
    problems = []
    dup = sorted({h for h in header if header.count(h) > 1})
    if dup:
        problems.append(f"{name}:1: column {dup[0]!r} appears twice")
    if kind == "wide":
        allowed = wide_cols
        required = ["patient_source_id", "episode_source_id"]
    else:
        allowed = {"source_id", *COLUMNS[kind]} | ({PARENT_COLUMN[kind]} if kind in PARENT_COLUMN else set())
        if kind == "response":
            allowed |= item_cols
        required = ["source_id"] + ([PARENT_COLUMN[kind]] if kind in PARENT_COLUMN and kind != "patient" else [])
    for col in required:
        if col not in header:
            problems.append(f"{name}:1: the column {col!r} is missing (every row needs it)")
    unknown = [h for h in header if h and h not in allowed]
    if unknown:
        listed = sorted(allowed - item_cols) + (["item_<item code>"] if kind == "response" else [])
        problems.append(f"{name}:1: unknown column{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                        f"allowed: {', '.join(listed) if kind != 'wide' else 'see docs/import.md (wide file)'}")
    return problems


def _cell(value: str, kind: str, delimiter: str) -> Any:
    """A cell converted by its column's type; a cell that does not convert is returned as written
    (the writer then reports it with the allowed values)."""
    text = value.strip()
    if not text:
        return None
    try:
        if kind == _I:
            return int(text)
        if kind == _F:
            return float(text.replace(",", ".") if delimiter == ";" else text)
    except ValueError:
        return text
    if kind == _B:
        low = text.lower()
        return True if low in _TRUE else False if low in _FALSE else text
    return text


@functools.cache
def _item_type(inst_code: str, item_code: str) -> ItemType | None:
    try:
        return instruments.get(inst_code).definition.item(item_code).type
    except Exception:  # an unknown instrument or item: passed on, the writer names the allowed ones
        return None


def _answer(inst_code: str, item_code: str, value: str, delimiter: str) -> Any:
    text = value.strip()
    if not text:
        return None
    kind = _item_type(inst_code, item_code)
    if kind is ItemType.DATE:
        return text
    try:
        number = float(text.replace(",", ".") if delimiter == ";" else text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and kind is not ItemType.DECIMAL else number


def _raw_rows(f: _File) -> Iterator[tuple[int, list[str], list[str]]]:
    with f.path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, delimiter=f.delimiter)
        header = [h.strip() for h in next(reader, [])]
        for row in reader:
            if not any(row) or not any(c.strip() for c in row):
                continue
            yield reader.line_num, header, row


def _reader(f: _File) -> Iterator[tuple[int, dict[str, str]]]:
    for line, header, row in _raw_rows(f):
        yield line, dict(zip(header, row, strict=False))


def _rows(f: _File) -> Iterator[SourceRecord]:
    entity = f.kind
    types = COLUMNS[entity]
    parent_col = PARENT_COLUMN.get(entity)
    plan: list[tuple[int, str, str]] | None = None  # (cell index, field, type)
    items: list[tuple[int, str]] = []
    sid_at = parent_at = -1
    name = f.path.name
    for line, header, row in _raw_rows(f):
        if plan is None:
            plan = [(i, col, types[col]) for i, col in enumerate(header) if col in types]
            if entity == "response":
                items = [(i, col[len(ITEM_PREFIX):]) for i, col in enumerate(header) if col.startswith(ITEM_PREFIX)]
            sid_at = header.index("source_id")
            parent_at = header.index(parent_col) if parent_col in header else -1
        width = len(row)
        fields: dict[str, Any] = {}
        for i, col, kind in plan:
            if i < width and row[i]:
                cell = _cell(row[i], kind, f.delimiter)
                if cell is not None:
                    fields[col] = cell
        if entity == "response":
            inst = str(fields.get("instrument"))
            fields["answers"] = {code: _answer(inst, code, row[i], f.delimiter) for i, code in items
                                 if i < width and row[i].strip()}
        parent = (row[parent_at].strip() or None) if 0 <= parent_at < width else None
        sid = row[sid_at].strip() if sid_at < width else ""
        yield SourceRecord(entity, sid, fields, parent, f"{name}:{line}")


def _wide_rows(f: _File) -> Iterator[SourceRecord]:
    """Each row: its patient (once per patient source id in the file), its episode, its index
    procedure (when ``procedure_code`` is filled) and one baseline response per instrument that
    has an answer."""
    patients_seen: set[str] = set()
    inst_items = {inst.definition.code: [it.code for it in inst.definition.items] for inst in instruments.all()}
    for line, row in _reader(f):
        loc = f"{f.path.name}:{line}"
        psid = (row.get("patient_source_id") or "").strip()
        esid = (row.get("episode_source_id") or "").strip()

        def pick(entity: str, rename: dict[str, str] | None = None, *, r: dict[str, str] = row) -> dict[str, Any]:
            out: dict[str, Any] = {}
            names = {**{c: c for c in COLUMNS[entity]}, **(rename or {})}
            for col, fld in names.items():
                if col in r and (entity != "procedure" or col not in ("levels", "performed_on")):
                    cell = _cell(r[col], COLUMNS[entity][fld], f.delimiter)
                    if cell is not None:
                        out[fld] = cell
            return out

        if psid not in patients_seen:
            patients_seen.add(psid)
            yield SourceRecord("patient", psid, pick("patient"), (row.get("site") or "").strip() or None, loc)
        episode = pick("episode")
        yield SourceRecord("episode", esid, episode, psid or None, loc)
        procedure = pick("procedure", _WIDE_PROCEDURE)
        if procedure:
            procedure.setdefault("levels", episode.get("levels"))
            procedure.setdefault("performed_on", episode.get("index_date"))
            yield SourceRecord("procedure", (row.get("procedure_source_id") or "").strip() or esid, procedure,
                               esid or None, loc)
        collected = (row.get("baseline_collected_on") or "").strip() or episode.get("enrolled_on")
        for code, items in inst_items.items():
            answers = {it: _answer(code, it, row[f"{code}.{it}"], f.delimiter) for it in items
                       if (row.get(f"{code}.{it}") or "").strip()}
            if answers:
                yield SourceRecord("response", f"{esid}/baseline/{code}",
                                   {"instrument": code, "timepoint": "baseline", "collected_on": collected,
                                    "answers": answers}, esid or None, loc)
