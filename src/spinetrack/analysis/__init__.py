"""The comparative pipeline, engine-neutral: specs → population (with attrition) →
diagnostics → claim results. Engines (DuckDB, Spark) only compute sums; this room decides
what to compute and what it means."""
