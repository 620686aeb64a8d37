"""``spinetrack.stats.meta``'s public surface is complete and named by the project's rule (its docstring
examples and its pure import are checked with the rest of ``spinetrack.stats`` in
``tests/stats/test_package.py``)."""

from __future__ import annotations

import dataclasses

from spinetrack.stats import meta


def test_public_surface_and_result_names() -> None:
    for name in meta.__all__:
        assert hasattr(meta, name), name
    for cls in (meta.EffectSizeTable, meta.MetaResult, meta.SubgroupResult, meta.LeaveOneOutTable,
                meta.CumulativeTable, meta.EggerTestResult, meta.Tau2Estimate):
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
        assert cls.__name__.endswith(("Result", "Estimate", "Curve", "Table")), cls.__name__
