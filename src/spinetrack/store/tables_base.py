"""The declarative base of every ORM table of the operational store: :class:`Base`, whose
``metadata`` (with the constraint :data:`NAMING` convention) Alembic's ``env.py`` and the
model-versus-migration test read.

Why a module of its own: the tables are split over :mod:`spinetrack.store.tables` (the clinical
schema) and :mod:`spinetrack.store.tables_interop` (API tokens, import sources, export jobs), and
the second may not import the first while the first re-exports the second (sibling modules stay
acyclic), so both take ``Base`` from here. :mod:`spinetrack.store.tables` re-exports it: import it
from there.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import JSON, MetaData, String
from sqlalchemy.orm import DeclarativeBase

__all__ = ["NAMING", "Base"]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, str: String(255)}
