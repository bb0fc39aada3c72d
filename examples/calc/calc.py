"""A tiny project with a bug, for trying pytest-genopt."""

from pytest_genopt import trainable


@trainable(description="arithmetic used by the billing code")
def add(a, b):
    """Return the sum of a and b."""
    return a - b
