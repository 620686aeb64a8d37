"""One measured load in a fresh process (called by bench_demo.py): prints a JSON line.

``mode`` is ``streaming`` (spinetrack demo: one chunk per transaction, Core executemany) or
``orm`` (the usual way: ORM objects added to one session, committed at the end).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time


def main() -> None:
    mode, patients, seed, url = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    from spinetrack.store.migrate import upgrade
    from spinetrack.store.session import make_engine

    engine = make_engine(url)
    upgrade(engine)
    t0 = time.perf_counter()
    if mode == "streaming":
        from spinetrack.synth.load import load_demo

        responses = load_demo(engine, patients=patients, seed=seed).responses
    else:
        responses = orm_load(engine, patients, seed)
    seconds = time.perf_counter() - t0
    engine.dispose()
    path = url.removeprefix("sqlite:///")
    size = sum(os.path.getsize(path + s) for s in ("", "-wal") if os.path.exists(path + s))
    print(json.dumps({"mode": mode, "patients": patients, "seconds": seconds, "responses": responses,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "db_mb": size / 2**20}))


def orm_load(engine, patients: int, seed: int) -> int:  # type: ignore[no-untyped-def]
    """The usual way: build ORM objects for every row, add them to one session, commit once."""
    from sqlalchemy.orm import Session

    from spinetrack.store.tables import (
        ComplicationRow,
        EpisodeRow,
        ImagingFindingRow,
        PatientRow,
        ProcedureRow,
        PromResponseRow,
        ReadmissionRow,
        ReoperationRow,
    )
    from spinetrack.synth.cohort import CHUNK_SIZE, generate_chunk
    from spinetrack.synth.load import CREATED_AT, _ensure_sites

    site_ids = _ensure_sites(engine)
    tables = (("patients", PatientRow), ("episodes", EpisodeRow), ("findings", ImagingFindingRow),
              ("procedures", ProcedureRow), ("complications", ComplicationRow), ("readmissions", ReadmissionRow),
              ("reoperations", ReoperationRow), ("responses", PromResponseRow))
    n = 0
    with Session(engine) as s:
        for k, first in enumerate(range(0, patients, CHUNK_SIZE)):
            chunk = generate_chunk(seed, k, first + 1, min(CHUNK_SIZE, patients - first), site_ids, CREATED_AT)
            for attr, cls in tables:
                s.add_all(cls(**row) for row in getattr(chunk, attr))
                s.flush() if attr in ("patients", "episodes", "procedures") else None
            n += len(chunk.responses)
        s.commit()
    return n


if __name__ == "__main__":
    main()
