"""Hooks that other plugins implement to extend pytest-genopt.

They are added to pytest through ``pytest_addhooks``; implement them in a
``conftest.py`` or a plugin module like any pytest hook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_genopt.acceptance import AcceptancePolicy
    from pytest_genopt.backends import Backend


@pytest.hookspec(firstresult=True)
def pytest_genopt_make_backend(config: pytest.Config, spec: str) -> Backend | None:
    """Return a backend for ``spec`` (the ``--genopt-backend`` value), or None.

    Called for schemes the package does not know, e.g. ``--genopt-backend=mine:fast``.
    The first non-None result is used; when every implementation returns None
    the run stops with a usage error naming the spec.  The returned object must
    follow :class:`pytest_genopt.backends.Backend`.
    """


@pytest.hookspec(firstresult=True)
def pytest_genopt_acceptance(config: pytest.Config, name: str) -> AcceptancePolicy | None:
    """Return the acceptance policy called ``name`` (the ``--genopt-accept`` value), or None.

    Called, when a run is active, for names other than the built-in ``strict``
    and ``paired``, e.g. ``--genopt-accept=mine``.  The first non-None result is
    used; when every implementation returns None the run stops with a usage
    error naming the value.  The returned object must follow
    :class:`pytest_genopt.acceptance.AcceptancePolicy`: a ``name``, and pure
    ``screen`` (the minibatch) and ``decide`` (the full non-holdout set) methods
    returning a :class:`pytest_genopt.acceptance.Verdict`.
    """
