"""Reading a literature data file: its text (the shipped package data or a local file), its
header and cell shapes, and the checks every row of both files passes (a stable unique id, a
citation link of the right form).

Every problem is collected as a :class:`~spinetrack.evidence.records.DataProblem`;
:func:`load_records`, which both loaders (``studies``, ``arms``) call, raises them together in one
:class:`~spinetrack.evidence.records.EvidenceDataError`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Final, Protocol, TypeVar

from spinetrack.evidence.records import Citation, DataProblem, EvidenceDataError
from spinetrack.evidence.schema import Column, Row

__all__ = ["ARM_FILE", "MAX_CELL_CHARS", "STUDIES_FILE", "check_common", "load_records", "present", "read_records",
           "read_text"]

_PACKAGE: Final = "spinetrack.evidence"
STUDIES_FILE: Final = "studies.csv"
ARM_FILE: Final = "arm_data.csv"
#: Longest cell accepted. Quoted source excerpts are not shipped; this keeps them out.
MAX_CELL_CHARS: Final = 300

_ID_RE: Final = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_LABEL_RE: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_DOI_RE: Final = re.compile(r"^10\.\d{4,9}/\S+$")
_PMID_RE: Final = re.compile(r"^\d{1,9}$")
_PMCID_RE: Final = re.compile(r"^PMC\d+$")
_URL_RE: Final = re.compile(r"^https?://\S+$")


def read_records(text: str, file: str, schema: Sequence[Column],
                 problems: list[DataProblem]) -> list[tuple[int, dict[str, str]]]:
    """Split ``text`` into (line, {column: cell}) after checking the header and cell shapes."""
    names = [c.name for c in schema]
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        problems.append(DataProblem(file, 1, "(header)", "", ", ".join(names), "empty file"))
        return []
    header = [h.strip() for h in header]
    for h in header:
        if h not in names:
            problems.append(DataProblem(file, 1, h, h, ", ".join(names),
                                        "unknown column (quoted excerpts are not shipped)" if "excerpt" in h.lower()
                                        else "unknown column"))
    seen: set[str] = set()
    for h in header:
        if h in seen:
            problems.append(DataProblem(file, 1, h, h, "each column once", "duplicate column"))
        seen.add(h)
    for n in names:
        if n not in header:
            problems.append(DataProblem(file, 1, n, "", ", ".join(names), "missing column"))
    if problems:
        return []
    records: list[tuple[int, dict[str, str]]] = []
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            problems.append(DataProblem(file, line, "(row)", f"{len(cells)} cells", f"{len(header)} cells",
                                        "wrong number of cells"))
            continue
        record = dict(zip(header, cells, strict=True))
        for name, cell in record.items():
            if "\n" in cell or "\r" in cell:
                problems.append(DataProblem(file, line, name, cell[:40] + "...", "one line of text",
                                            "line break in a cell"))
            elif len(cell) > MAX_CELL_CHARS:
                problems.append(DataProblem(file, line, name, cell[:40] + "...",
                                            f"at most {MAX_CELL_CHARS} characters",
                                            "too long (quoted excerpts are not shipped)"))
        records.append((line, record))
    return records


class _Record(Protocol):
    """What the checks common to both files read from a parsed row."""

    @property
    def id(self) -> str: ...
    @property
    def citation(self) -> Citation: ...
    @property
    def subcomparison(self) -> str: ...


T = TypeVar("T", bound=_Record)


def load_records(text: str, file: str, schema: Sequence[Column], parse: Callable[[Row], T],
                 check: Callable[[Row, T], None]) -> tuple[T, ...]:
    """Parse and check every record of one file; raise every problem at once.

    A row is parsed cell by cell (``parse``); when its cells are valid it gets the checks common
    to both files (:func:`check_common`) and the file's own cross-column checks (``check``). Rows
    with a problem are left out, and the problems are raised together in one
    :class:`~spinetrack.evidence.records.EvidenceDataError`.
    """
    problems: list[DataProblem] = []
    columns = {c.name: c for c in schema}
    ids: dict[str, int] = {}
    out: list[T] = []
    for line, cells in read_records(text, file, schema, problems):
        r = Row(file, line, cells, columns, problems)
        before = len(problems)
        rec = parse(r)
        if len(problems) == before:
            check_common(r, rec.id, ids, rec.citation, rec.subcomparison)
            check(r, rec)
        if len(problems) == before:
            out.append(rec)
    if problems:
        raise EvidenceDataError(problems)
    return tuple(out)


def read_text(path: str | Path | None, default: str) -> tuple[str, str]:
    if path is None:
        return resources.files(_PACKAGE).joinpath("data").joinpath(default).read_text(encoding="utf-8"), default
    p = Path(path)
    return p.read_text(encoding="utf-8"), str(p)


def check_common(r: Row, ident: str, ids: dict[str, int], citation: Citation, subcomparison: str) -> None:
    if ident and not _ID_RE.match(ident):
        r.problem("id", "lower-case letters, digits and '-' (a stable slug)")
    elif ident in ids:
        r.problem("id", "a unique id", f"already used on line {ids[ident]}")
    else:
        ids[ident] = r.line
    if subcomparison and not _LABEL_RE.match(subcomparison):
        r.problem("subcomparison", "letters, digits and '_' (e.g. fusion_TLIF)")
    if not (citation.doi or citation.pmid or citation.url):
        r.problem("doi", "a DOI, a PMID or a URL on every row", "no citation link", value="")
    for col, value, pattern, what in (("doi", citation.doi, _DOI_RE, "a DOI such as 10.1186/s13018-018-0941-8"),
                                      ("pmid", citation.pmid, _PMID_RE, "digits"),
                                      ("pmcid", citation.pmcid, _PMCID_RE, "PMC followed by digits"),
                                      ("url", citation.url, _URL_RE, "an http(s) address"),
                                      ("alt_url", citation.alt_url, _URL_RE, "an http(s) address")):
        if value and not pattern.match(value):
            r.problem(col, what)


def present(*values: object) -> bool:
    return all(v is not None for v in values)
