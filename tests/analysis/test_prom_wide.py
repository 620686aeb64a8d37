"""The PROM pivot (``analysis.design.prom_wide_sql``): the engine's fast form (DuckDB lists, used
because the snapshot declares one outcomes row per episode, instrument and timepoint) gives the
same table as the generic SQL pivot, cell for cell, on a demo snapshot."""

from __future__ import annotations

from spinetrack.analysis.claims import CLAIMS
from spinetrack.analysis.design import prom_wide_sql
from spinetrack.engines import get_engine


def test_fast_and_generic_pivots_give_the_same_table(snapshot_factory) -> None:  # type: ignore[no-untyped-def]
    snap = snapshot_factory(patients=600, seed=5)
    with get_engine("duckdb") as eng:
        eng.register_snapshot(snap)
        assert eng.unique_keys["outcomes"] == ("episode_key", "instrument", "timepoint")
        fast, generic = prom_wide_sql(CLAIMS, eng), prom_wide_sql(CLAIMS)
        assert "list_position" in fast and "list_position" not in generic
        eng.materialize("fast", fast)
        eng.materialize("generic", generic)
        cols = [r[0] for r in eng.sql("DESCRIBE generic")]
        assert cols == [r[0] for r in eng.sql("DESCRIBE fast")]
        differ = " OR ".join(f"a.{c} IS DISTINCT FROM b.{c}" for c in cols if c != "pk")
        (n_diff,), = eng.sql(f"SELECT COUNT(*) FROM generic a FULL JOIN fast b USING (pk) WHERE {differ}")
        (n, n_scores), = eng.sql("SELECT COUNT(*), COUNT(odi__12m) FROM fast")
        (episodes,), = eng.sql("SELECT COUNT(DISTINCT episode_key) FROM outcomes")
    assert n_diff == 0
    assert n == episodes and 0 < n_scores < n  # real scores and real gaps were compared
