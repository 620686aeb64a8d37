"""The exception tree in ``spinetrack.errors``' docstring names every subclass of
:class:`~spinetrack.errors.SpinetrackError` in the package, and no class that is not one.

Oracle: the classes themselves, found by importing every module of the package (the Alembic
environment and migrations, which run only inside Alembic, and ``__main__`` modules excepted).
"""

from __future__ import annotations

import importlib
import pkgutil
import re

import spinetrack
from spinetrack import errors
from spinetrack.errors import SpinetrackError

_SKIPPED = ("spinetrack.store.migrations.",)


def _import_all() -> None:
    for info in pkgutil.walk_packages(spinetrack.__path__, "spinetrack."):
        if info.name.startswith(_SKIPPED) or info.name.endswith(".__main__"):
            continue
        importlib.import_module(info.name)


def _subclasses(cls: type) -> set[type]:
    out: set[type] = set()
    for sub in cls.__subclasses__():
        out |= {sub, *_subclasses(sub)}
    return out


def _package_errors() -> dict[str, type]:
    _import_all()
    return {c.__name__: c for c in _subclasses(SpinetrackError) if c.__module__.startswith("spinetrack.")}


def _tree_names() -> set[str]:
    """The class names drawn in the docstring's tree (the lines after ``SpinetrackError``)."""
    doc = errors.__doc__ or ""
    tree = doc[doc.index("SpinetrackError\n"):doc.index("\n\n", doc.index("SpinetrackError\n"))]
    return set(re.findall(r"[├└]── (\w+)", tree))


def test_every_subclass_is_in_the_tree_and_described() -> None:
    found = _package_errors()
    assert len(found) >= 10  # the walk did import the package
    tree = _tree_names()
    doc = errors.__doc__ or ""
    missing = sorted(set(found) - tree)
    assert not missing, f"add to the tree in spinetrack.errors' docstring: {missing}"
    undescribed = sorted(name for name in found if f"- ``{name}`` —" not in doc)
    assert not undescribed, f"say where these are raised and what the edges make of them: {undescribed}"


def test_the_tree_names_only_real_subclasses() -> None:
    found = _package_errors()
    stale = sorted(_tree_names() - set(found))
    assert not stale, f"no longer subclasses of SpinetrackError: {stale}"
