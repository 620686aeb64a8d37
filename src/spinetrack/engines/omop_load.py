"""Load an OMOP export's CSV tables into a DuckDB file (``spinetrack export omop --out FILE.duckdb``).

The only DuckDB code of the OMOP export (engines/ is the one room that imports DuckDB). The
caller (:mod:`spinetrack.interop.omop`) passes each table's ``CREATE TABLE`` statement (its
CDM 5.4 column specs) and the folder of CSV files it wrote; DuckDB reads each file as it streams
(its CSV reader works in chunks), so memory stays bounded whatever the size of the export.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import duckdb

__all__ = ["load_duckdb"]


def load_duckdb(path: str | os.PathLike[str], tables: Mapping[str, str],
                csv_dir: str | os.PathLike[str]) -> dict[str, int]:
    """Create a new DuckDB database at ``path`` with ``tables`` (name → ``CREATE TABLE`` SQL) and
    fill each from ``csv_dir/<name>.csv`` (header row, ISO dates, empty field = NULL).

    Returns the number of rows in each table. The file is written in one transaction: a failed
    load (a NOT NULL broken, a value that does not cast) raises and leaves the tables empty.
    """
    folder = Path(csv_dir)
    con = duckdb.connect(str(path))
    try:
        con.begin()
        for name, ddl in tables.items():
            con.execute(ddl)
            csv_path = str(folder / f"{name}.csv").replace("'", "''")
            con.execute(f"COPY {name} FROM '{csv_path}' (FORMAT csv, HEADER true, NULLSTR '')")
        con.commit()
        counts: dict[str, int] = {}
        for name in tables:
            row = con.execute(f"SELECT count(*) FROM {name}").fetchone()
            counts[name] = int(row[0]) if row else 0
        return counts
    finally:
        con.close()
