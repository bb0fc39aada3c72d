"""The Atari suite's tasks: one per game, each with a ``blank`` and a ``skeleton`` start.

Importing this module is cheap (no gymnasium); the templates are plain files under
``templates/<game>/`` (``common/`` for the tests, ``variants/<variant>/`` for the
starting ``policy.py``).  Each task offers the evaluation protocols of
:mod:`.protocol` (``quick`` by default, ``paper`` for a game in its table): the protocol
is written to ``protocol.json``, which the tests read, and described in the README.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from pytest_genopt.suites import Task
from pytest_genopt.suites.atari.protocol import protocol_for, protocols_of

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
    "freeway": {
        "blank": "a chicken that stands still; `act` carries a docstring with Freeway's "
        "lanes and the object API",
        "skeleton": "a lane target (is the next lane's car clear?) and a walk-or-wait "
        "action, with mistuned constants (look-ahead, margin)",
    },
    "qbert": {
        "blank": "a Q*bert that stands still; `act` carries a docstring with the pyramid's "
        "moves and the object API",
        "skeleton": "a next-cube choice (safe from enemies, not yet changed) and a hop "
        "towards it, with mistuned constants (danger distance, weight of new cubes)",
    },
    "seaquest": {
        "blank": "a submarine that waits on the surface; `act` carries a docstring with "
        "Seaquest's lanes and the object API",
        "skeleton": "a depth to patrol (or the surface when oxygen is low) and a steer-"
        "and-shoot action, with mistuned constants (oxygen threshold, lane, dead zone)",
    },
    "asterix": {
        "blank": "an Asterix that stands still; `act` carries a docstring with Asterix's "
        "lanes and the object API",
        "skeleton": "a lane choice (the nearest object worth points clear of lyres) and "
        "a move there dodging lyres, with mistuned constants (safety, danger)",
    },
    "enduro": {
        "blank": "a car that never starts; `act` carries a docstring with Enduro's road, "
        "lanes and the object API",
        "skeleton": "a lane choice (leave the own lane when a car is near in it) and "
        "steering there at full speed, with mistuned constants (look-ahead, dead zone)",
    },
}

_DESCRIPTIONS = {
    "pong": "Pong: win points against the computer's paddle",
    "breakout": "Breakout: keep the ball in play and break bricks",
    "space_invaders": "Space Invaders: shoot invaders and dodge their shots",
    "freeway": "Freeway: get the chicken across the road as often as possible",
    "qbert": "Q*bert: change the pyramid's cubes while dodging balls and Coily",
    "seaquest": "Seaquest: shoot sharks and submarines, rescue divers, mind the oxygen",
    "asterix": "Asterix: collect the objects worth points and dodge the lyres",
    "enduro": "Enduro: pass as many cars as possible without crashing into them",
}


def protocol_files(game: str, name: str) -> dict[str, str]:
    """The files recording protocol ``name`` of ``game``'s task: ``protocol.json`` (what
    the tests read) and the README with the protocol described at its end."""
    protocol = protocol_for(game, name)
    readme = (TEMPLATES / game / "common" / "README.md").read_text(encoding="utf-8")
    return {
        "protocol.json": protocol.to_text(),
        "README.md": readme.rstrip("\n") + "\n\n" + protocol.describe(),
    }


def tasks() -> list[Task]:
    """The Atari tasks, one per game (``atari/pong``, ..., ``atari/freeway``)."""
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
            protocols=protocols_of(game),
            protocol_files=partial(protocol_files, game),
        )
        for game, variants in _VARIANTS.items()
    ]
