"""Serve a candidate's imports from its own tree, not from the user's checkout.

A project run the way its users run it imports its package from the user's
checkout even inside a candidate's evaluation: an editable install puts a path
into the checkout on ``sys.path`` (setuptools' lenient ``.pth``, its strict
link tree under ``build/``, hatchling's and pdm's ``.pth``) or a finder on
``sys.meta_path`` that maps a package name to a folder in the checkout
(setuptools' ``__editable___*_finder``, the ``editables`` ``RedirectingFinder``
of hatchling's ``dev-mode-exact`` and pdm's editables mode), and ``PYTHONPATH``
may name ``/abs/checkout/src``.  :func:`install` runs in the evaluation
subprocess before any candidate code, and serves every import whose file lies in
the checkout (outside its ``.genopt/``) from the same relative path in the
candidate's tree.  Where the tree has no such file, the import is left as it
is, and the worker's shadowing check names it.

It runs for every import of the evaluation: it imports nothing heavy (no
pytest) and resolves each folder's symlinks once.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType

__all__ = ["TreeFinder", "install", "map_existing", "map_path"]

#: the run's own folder in the checkout: candidate trees live there, nothing maps into it
GENOPT_DIR = ".genopt"


class _Twins:
    """Maps paths inside the resolved ``source`` to the same relative paths in ``tree``."""

    def __init__(self, source: str, tree: str) -> None:
        self.source = os.path.realpath(source)
        self.tree = tree
        self._prefix = self.source.rstrip(os.sep) + os.sep
        self._own = os.path.realpath(tree).rstrip(os.sep) + os.sep
        self._real_dirs: dict[str, str] = {}

    def real(self, path: str) -> str:
        """``os.path.realpath(path)``, resolving each folder once (imports repeat folders)."""
        path = os.path.abspath(path)
        if os.path.islink(path):
            return os.path.realpath(path)
        head, tail = os.path.split(path)
        real_head = self._real_dirs.get(head)
        if real_head is None:
            real_head = self._real_dirs[head] = os.path.realpath(head)
        return os.path.join(real_head, tail)

    def twin(self, path: str) -> str | None:
        real = self.real(path)
        if real == self.source:
            return self.tree
        if not real.startswith(self._prefix) or (real + os.sep).startswith(self._own):
            return None
        relative = real[len(self._prefix) :]
        # a rootdir below the top level has its .genopt/ there: no part may be one
        if GENOPT_DIR in relative.split(os.sep):
            return None
        return os.path.join(self.tree, relative)

    def existing_twin(self, path: str) -> str | None:
        twin = self.twin(path)
        return twin if twin is not None and os.path.exists(twin) else None

    def search_path(self, locations: Sequence[str]) -> list[str]:
        """A package's folders with each twin in the tree first, the checkout's after it.

        The checkout's folder stays as a fallback: files it has and the tree lacks
        (a generated, ignored ``_version.py``, an extension built in place) import as
        they do in the user's session.
        """
        found: list[str] = []
        for location in locations:
            twin = self.existing_twin(location)
            if twin is not None:
                found += [twin, location]
            else:
                found += [location, *self._counterpart(location)]
        return list(dict.fromkeys(found))

    def _counterpart(self, path: str) -> list[str]:
        """The checkout's folder whose twin is ``path`` inside the tree, when there is one."""
        real = self.real(path)
        if not (real + os.sep).startswith(self._own) or real + os.sep == self._own:
            return []
        back = os.path.join(self.source, real[len(self._own) :])
        return [back] if os.path.isdir(back) else []


def map_path(path: str, source: str, tree: str) -> str | None:
    """The twin in ``tree`` of ``path`` inside ``source`` (the user's repository top level).

    None when ``path``, resolved, is not inside the resolved ``source``, or is
    inside a ``.genopt/`` folder there (where the candidate trees themselves
    are, below the rootdir) or inside ``tree``.
    """
    return _Twins(source, tree).twin(path)


def map_existing(path: str, source: str, tree: str) -> str | None:
    """:func:`map_path` when that twin exists, else None (then ``path`` is left as it is)."""
    return _Twins(source, tree).existing_twin(path)


class TreeFinder:
    """A meta-path finder that serves the tree's twin of what the finders after it find.

    It asks the finders after it in ``sys.meta_path`` for a spec; when that
    spec's file (or, for a namespace package, a search location) lies in the
    checkout and the tree has its twin, it returns an equivalent spec for the
    twin.  Otherwise it returns the spec as found.
    """

    def __init__(self, source: str, tree: str) -> None:
        self._twins = _Twins(source, tree)

    @property
    def source(self) -> str:
        """The resolved folder whose imports this finder serves from the tree."""
        return self._twins.source

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        finders = sys.meta_path
        start = next((i + 1 for i, f in enumerate(finders) if f is self), 0)
        for finder in finders[start:]:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                return self._redirect(spec)
        return None

    def invalidate_caches(self) -> None:
        """Nothing to drop: folders are resolved once per evaluation on purpose."""

    def _redirect(self, spec: ModuleSpec) -> ModuleSpec:
        twin = None
        if spec.origin is not None and spec.has_location:
            twin = self._twins.existing_twin(spec.origin)
        if twin is not None:
            # a package's folder is the twin file's: a strict install's link tree
            # would otherwise serve its submodules through symlinks into the checkout
            search = None
            if spec.submodule_search_locations is not None:
                search = [os.path.dirname(twin)]
            mapped = importlib.util.spec_from_file_location(
                spec.name, twin, submodule_search_locations=search
            )
            spec = spec if mapped is None else mapped
        # a namespace package's _NamespacePath recomputes itself from sys.path
        if isinstance(spec.submodule_search_locations, list):
            spec.submodule_search_locations = self._twins.search_path(
                spec.submodule_search_locations
            )
        return spec


def install(source: str, tree: str) -> None:
    """Serve imports from ``tree`` wherever they would come from ``source``, in this process.

    Puts the twin of each ``sys.path`` entry into the checkout (editable
    installs' path entries, absolute ``PYTHONPATH`` entries) in front of it,
    where the twin exists, and drops their stale importer cache entries; puts
    a :class:`TreeFinder` first in ``sys.meta_path``; puts the twins in front
    of ``os.environ["PYTHONPATH"]`` so that processes the tests start import
    the tree too.
    """
    twins = _Twins(source, tree)
    mapped: list[str] = []
    entries: list[str] = []
    for entry in sys.path:
        # "" is the working folder: the candidate's own
        twin = twins.existing_twin(entry) if isinstance(entry, str) and entry else None
        if twin is not None:
            # an earlier lookup may have cached "no finder" for either
            sys.path_importer_cache.pop(entry, None)
            sys.path_importer_cache.pop(twin, None)
            mapped.append(twin)
            entries.append(twin)
        # the entry stays, after its twin: what only the checkout has still imports
        entries.append(entry)
    sys.path[:] = list(dict.fromkeys(entries))
    # one finder per source (the checkout, and each --genopt-import-root): chained, each
    # serves from the tree what the finders after it would find in its source
    sys.meta_path[:] = [
        f for f in sys.meta_path if not (isinstance(f, TreeFinder) and f.source == twins.source)
    ]
    sys.meta_path.insert(0, TreeFinder(source, tree))
    if mapped:
        rest = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([*mapped, *rest]))
