"""``spinetrack.interop.flat_csv``: flat CSV tables and their data dictionary.

References: the Parquet snapshot of the same store under the same secret (the CSV tables carry
the snapshot's columns and values: ``spinetrack.snapshot``), the store itself for the counts and
item answers, and the data dictionary the export writes (every column described, types that
parse with pandas, allowed values that hold).
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, func, select, text

from spinetrack.errors import ValidationError
from spinetrack.interop.flat_csv import TABLES, export_csv
from spinetrack.interop.omop import item_values
from spinetrack.snapshot import export_snapshot
from spinetrack.store.session import make_engine
from spinetrack.store.tables import (
    AuditRow,
    ComplicationRow,
    EpisodeRow,
    PatientRow,
    ProcedureRow,
    PromResponseRow,
    ReadmissionRow,
    ReoperationRow,
)
from spinetrack.synth.demo_access import seed_demo_access
from spinetrack.synth.load import load_demo

SECRET = "flat-csv-test-secret-42"
FREE_TEXT = "SENTINEL free text: the patient tripped over the cat"
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
PANDAS_TYPES = {"integer": "Int64", "number": "float64", "string": "string", "boolean": "Int64"}
STORE = {"patients": PatientRow, "episodes": EpisodeRow, "procedures": ProcedureRow, "complications": ComplicationRow,
         "readmissions": ReadmissionRow, "reoperations": ReoperationRow, "outcomes": PromResponseRow}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, _sqlite_head: Path) -> Iterator[Engine]:
    path = tmp_path_factory.mktemp("csv") / "store.db"
    shutil.copyfile(_sqlite_head, path)
    eng = make_engine(f"sqlite:///{path}")
    load_demo(eng, patients=300, seed=5)
    seed_demo_access(eng)
    with eng.begin() as c:
        c.execute(text("UPDATE complications SET detail = :t"), {"t": FREE_TEXT})
        c.execute(text("UPDATE readmissions SET reason = :t"), {"t": FREE_TEXT})
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def exported(store: Engine, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out") / "csv"
    export_csv(store, out, rekey_secret=SECRET, now=NOW)
    return out


def _dictionary(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "data_dictionary.csv", dtype=str, keep_default_na=False)


def _read(folder: Path, table: str) -> pd.DataFrame:
    """A table read with the types its data dictionary gives (fails if a value does not parse)."""
    d = _dictionary(folder)
    cols = d[(d.table == table) & (d.instrument == "")]
    types = {r.field: PANDAS_TYPES[r.type] for r in cols.itertuples()}
    return pd.read_csv(folder / f"{table}.csv", dtype=types, keep_default_na=False, na_values=[""],
                       float_precision="round_trip")


def test_every_column_is_in_the_dictionary_and_back(exported: Path) -> None:
    d = _dictionary(exported)
    described = {(r.table, r.field) for r in d.itertuples()}
    present = set()
    for table in TABLES:
        header = (exported / f"{table}.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
        present |= {(table, c) for c in header}
    assert described == present
    assert set(d.type) <= set(PANDAS_TYPES)
    assert (d.description != "").all()
    # the units come from the field names
    units = {(r.table, r.field): r.units for r in d[d.instrument == ""].itertuples()}
    assert units[("procedures", "ebl_ml")] == "mL" and units[("procedures", "incision_mm")] == "mm"
    assert units[("procedures", "op_time_min")] == "min" and units[("procedures", "los_days")] == "days"
    # instrument rows: the score's range and units per instrument, with its timepoints
    odi = d[(d.table == "outcomes") & (d.instrument == "odi")].iloc[0]
    assert (odi.allowed_values, odi.units) == ("0 to 100", "%")
    assert "12m" in odi.timepoint.split("|")


def _allowed(spec: str) -> Any:
    if "|" in spec or spec.isalpha():
        return set(spec.split("|"))
    if " to " in spec:
        lo, hi = spec.split(" to ")
        return (float(lo), float(hi.split(" ")[0]))
    if spec == "0 or more":
        return (0.0, math.inf)
    return None


def _holds(value: Any, allowed: Any, multi: bool) -> bool:
    if isinstance(allowed, set):
        parts = str(value).split(",") if multi else [str(value)]
        return all(p in allowed for p in parts)
    lo, hi = allowed
    return bool(lo <= float(value) <= hi)


def test_types_parse_and_allowed_values_hold(exported: Path) -> None:
    d = _dictionary(exported)
    for table in TABLES:
        df = _read(exported, table)
        for r in d[(d.table == table) & (d.instrument == "")].itertuples():
            allowed = _allowed(r.allowed_values)
            if allowed is None:
                continue
            values = df[r.field].dropna()
            multi = r.field in ("levels", "conservative_care")
            bad = [v for v in values if not _holds(v, allowed, multi)]
            assert not bad, (table, r.field, bad[:5])
    outcomes = _read(exported, "outcomes")
    for r in d[(d.table == "outcomes") & (d.instrument != "")].itertuples():
        lo, hi = _allowed(r.allowed_values)
        scores = outcomes.loc[outcomes.instrument == r.instrument, "score"].dropna()
        assert scores.between(lo, hi).all(), r.instrument
    items = _read(exported, "prom_items")
    item_rows = d[(d.table == "prom_items") & (d.instrument != "")]
    for r in item_rows.itertuples():
        code = r.description.removeprefix("item ")
        allowed = _allowed(r.allowed_values)
        values = items.loc[(items.instrument == r.instrument) & (items["item"] == code), "value"]
        assert all(_holds(v if isinstance(allowed, tuple) else f"{v:g}", allowed, False) for v in values), \
            (r.instrument, code)
    # every item row exported is described
    assert set(zip(items.instrument, items["item"], strict=True)) <= {
        (r.instrument, r.description.removeprefix("item ")) for r in item_rows.itertuples()}


def test_tables_equal_the_snapshot_and_counts_equal_the_store(store: Engine, exported: Path,
                                                               tmp_path: Path) -> None:
    snap = export_snapshot(store, tmp_path / "snap", rekey_secret=SECRET, now=NOW).path
    for table in TABLES:
        if table == "prom_items":
            continue
        ours = _read(exported, table)
        theirs = pq.read_table(snap / f"{table}.parquet").to_pandas()
        assert list(ours.columns) == list(theirs.columns), table
        assert len(ours) == len(theirs) == _count(store, STORE[table]), table
        for col in ours.columns:
            a, b = ours[col].tolist(), theirs[col].tolist()
            norm = [[None if _missing(v) else (float(v) if isinstance(v, (int, float, bool)) and
                                                not isinstance(v, str) else v) for v in xs] for xs in (a, b)]
            assert norm[0] == norm[1], (table, col)
    with store.connect() as c:
        n_items = sum(len(list(item_values(i, a))) for i, a in c.execute(
            select(PromResponseRow.instrument, PromResponseRow.answers)))
    assert len(_read(exported, "prom_items")) == n_items > 0


def _missing(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def _count(engine: Engine, row: Any) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(row)).scalar_one())


def test_item_values_match_the_stored_answers(store: Engine, exported: Path) -> None:
    with store.connect() as c:
        first = c.execute(select(PromResponseRow.timepoint, PromResponseRow.answers)
                          .where(PromResponseRow.instrument == "odi").order_by(PromResponseRow.id)).first()
    assert first is not None
    items = _read(exported, "prom_items")
    odi = items[(items.instrument == "odi") & (items.timepoint == first.timepoint)]
    ours = odi.groupby("patient_key").apply(lambda g: dict(zip(g["item"], g["value"], strict=True)),
                                            include_groups=False).tolist()
    expected = {k: float(v) for k, v in first.answers.items() if v is not None}
    assert expected in ours


def test_no_identity_or_free_text(store: Engine, exported: Path) -> None:
    with store.connect() as c:
        ident = c.execute(text("SELECT full_name, mrn FROM patient_identities LIMIT 20")).all()
        pseudo = c.execute(select(PatientRow.pseudo_id)).scalars().all()
    assert ident
    blob = b"".join(p.read_bytes() for p in exported.iterdir())
    for name, mrn in ident:
        assert name.encode() not in blob
        assert f",{mrn},".encode() not in blob and f"{mrn}\n".encode() not in blob
    assert FREE_TEXT.encode() not in blob
    keys = set(_read(exported, "patients").patient_key)
    assert not keys & set(pseudo)
    # no column that could hold identity or free text
    headers = {c for t in TABLES for c in (exported / f"{t}.csv").read_text().splitlines()[0].split(",")}
    assert not headers & {"full_name", "mrn", "email", "phone", "detail", "answers", "created_at", "pseudo_id"}


def test_audit_row_and_refusals(store: Engine, tmp_path: Path) -> None:
    result = export_csv(store, tmp_path / "a")
    with store.connect() as c:
        row = c.execute(select(AuditRow).where(AuditRow.entity == "csv").order_by(AuditRow.id.desc())).first()
    assert row is not None and row.action == "export" and row.detail["row_counts"] == result.row_counts
    assert not result.rekeyed and _read(tmp_path / "a", "patients").patient_key.str.startswith("P").all()
    with pytest.raises(ValidationError, match="not empty"):
        export_csv(store, tmp_path / "a")
    with pytest.raises(ValidationError, match="16"):
        export_csv(store, tmp_path / "b", rekey_secret="short")
    assert not (tmp_path / "b").exists()


def test_small_batches_give_identical_files(store: Engine, exported: Path, tmp_path: Path) -> None:
    """Streaming in batches (here 7 rows) changes nothing: the same bytes as one big batch."""
    export_csv(store, tmp_path / "small", rekey_secret=SECRET, now=NOW, batch_rows=7)
    for f in exported.glob("*.csv"):
        assert (tmp_path / "small" / f.name).read_bytes() == f.read_bytes(), f.name
