"""The games the package ships, registered through the public :func:`register_game`.

Imported by :mod:`.games` on the registry's first use, so that the shipped games take
the same path as a game a project registers from its ``conftest.py``.
"""

from __future__ import annotations

from pytest_genopt.suites.atari.games import Event, GameEvents, register_game
from pytest_genopt.suites.atari.objects import EXTRACTORS
from pytest_genopt.suites.atari.rollout import (
    ACTION_ALIASES,
    LIFE_LOST,
    SCORE_BOUNDS,
    STEP_FIELDS,
)

#: Pong has no lives: the opponent's points are its setbacks.
POINT_LOST = Event("lost point", "lost {n} point", "lost {n} points")
#: Breakout's balls and Space Invaders' cannons.
LIFE_LOST_EVENT = Event("lost life", "lost {n} life", "lost {n} lives")

_ENV_IDS = {
    "pong": "ALE/Pong-v5",
    "breakout": "ALE/Breakout-v5",
    "space_invaders": "ALE/SpaceInvaders-v5",
}

_EVENTS = {
    "pong": GameEvents(conceded=POINT_LOST),
    "breakout": GameEvents(life_lost=LIFE_LOST_EVENT, life_seen=LIFE_LOST["breakout"]),
    "space_invaders": GameEvents(life_lost=LIFE_LOST_EVENT, life_seen=LIFE_LOST["space_invaders"]),
}

for _name, _env_id in _ENV_IDS.items():
    register_game(
        _name,
        env_id=_env_id,
        extract=EXTRACTORS[_name],
        events=_EVENTS[_name],
        step_fields=STEP_FIELDS[_name],
        score_bounds=SCORE_BOUNDS[_name],
        action_aliases=ACTION_ALIASES.get(_name),
    )
