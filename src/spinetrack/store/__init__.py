"""The operational store: SQLAlchemy tables, Alembic migrations, repositories and the audit log.

Modules
-------
``tables``        declarative tables (the schema the migrations build).
``session``       ``make_engine(url)``: SQLite (WAL, foreign keys) or PostgreSQL, built at the edge.
``migrate``       ``upgrade(engine)``: the shipped Alembic migrations, run programmatically.
``repositories``  ``Store``: validated, audited reads and writes, one transaction per record.
``screening``     red-flag screening assessments of an episode (append-only, audited).
``audit``         the hash-chained, append-only audit trail and its verification.
``status``        counts and follow-up completeness for ``spinetrack status`` and the API.

Nothing here opens a connection at import time.
"""
