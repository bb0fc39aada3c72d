"""The Atari suite's tasks: one per game, each with a ``blank`` and a ``skeleton`` start.

Importing this module is cheap (no gymnasium); the templates are plain files under
``templates/<game>/`` (``common/`` for the tests, ``variants/<variant>/`` for the
starting ``policy.py``).
"""

from __future__ import annotations

from pathlib import Path

from pytest_genopt.suites import Task

__all__ = ["TEMPLATES", "tasks"]

#: Where the task templates live.
TEMPLATES = Path(__file__).resolve().parent / "templates"

_VARIANTS = {
    "pong": {
        "blank": "an idle paddle; `act` carries a docstring with Pong's geometry and the "
        "object API",
        "skeleton": "ball-intercept prediction and a paddle controller with mistuned "
        "constants (look-ahead, aim offset, momentum, dead zone)",
    },
    "breakout": {
        "blank": "an idle paddle that never launches the ball; `act` carries a docstring "
        "with Breakout's geometry and the object API",
        "skeleton": "landing-point prediction and a paddle controller with mistuned "
        "constants (look-ahead, aim offset, dead zone)",
    },
    "space_invaders": {
        "blank": "an idle cannon; `act` carries a docstring with Space Invaders' geometry "
        "and the object API",
        "skeleton": "target choice, aiming with a lead and dodging alien shots, with "
        "mistuned constants",
    },
}

_DESCRIPTIONS = {
    "pong": "Pong: win points against the computer's paddle within 1,000 steps",
    "breakout": "Breakout: keep the ball in play and break bricks within 1,000 steps",
    "space_invaders": "Space Invaders: shoot invaders and dodge their shots within 1,000 steps",
}


def tasks() -> list[Task]:
    """The Atari tasks ``atari/pong``, ``atari/breakout`` and ``atari/space_invaders``."""
    return [
        Task(
            suite="atari",
            name=game,
            description=_DESCRIPTIONS[game],
            root=TEMPLATES / game,
            variants=tuple(variants),
            default_variant="skeleton",
            extra="atari",
            variant_descriptions=dict(variants),
        )
        for game, variants in _VARIANTS.items()
    ]
