"""pytest-genopt: generative optimization of code under test.

The public API is deliberately small and cheap to import:
``from pytest_genopt import trainable``.

PYTEST_DONT_REWRITE: evaluations import the package before pytest marks an installed
plugin's package for assertion rewriting; it has no asserts to rewrite.
"""

from __future__ import annotations

from pytest_genopt.tracing import trainable

__all__ = ["__version__", "trainable"]

__version__ = "0.1.0.dev0"
