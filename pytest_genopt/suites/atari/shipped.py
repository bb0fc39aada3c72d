"""The games the package ships, registered through the public :func:`register_game`.

Imported by :mod:`.games` on the registry's first use, so that the shipped games take
the same path as a game a project registers from its ``conftest.py``.
"""

from __future__ import annotations

from pytest_genopt.suites.atari.asterix import asterix_registration
from pytest_genopt.suites.atari.enduro import enduro_registration
from pytest_genopt.suites.atari.freeway import (
    compact_freeway,
    extract_freeway,
    freeway_notes,
    hit_by_a_car,
)
from pytest_genopt.suites.atari.games import Event, GameEvents, Notes, register_game
from pytest_genopt.suites.atari.notes import breakout_notes, pong_notes, space_invaders_notes
from pytest_genopt.suites.atari.objects import EXTRACTORS
from pytest_genopt.suites.atari.qbert import compact_qbert, extract_qbert, qbert_notes
from pytest_genopt.suites.atari.rollout import (
    ACTION_ALIASES,
    LIFE_LOST,
    SCORE_BOUNDS,
    STEP_FIELDS,
)
from pytest_genopt.suites.atari.seaquest import compact_seaquest, extract_seaquest, seaquest_notes

#: Pong has no lives: the opponent's points are its setbacks.
POINT_LOST = Event("lost point", "lost {n} point", "lost {n} points")
#: Pong's points won: the ball passed the computer's paddle.
POINT_WON = Event("won point", "won {n} point", "won {n} points")
#: A step with points (a brick broken, an invader shot, ...).
SCORED = Event("scored", "scored {n} time", "scored {n} times")
#: Breakout's balls and Space Invaders' cannons.
LIFE_LOST_EVENT = Event("lost life", "lost {n} life", "lost {n} lives")

#: Freeway's setback: a car pushes the chicken back (no life is lost).
HIT_BY_A_CAR = Event("hit by a car", "hit by a car {n} time", "hit by a car {n} times")
#: Freeway over 1,000 steps (the quick protocol): holding UP crosses 11 times, a
#: crossing without a hit takes ~50 steps (43 walking, 7 waiting at the bottom), so
#: about 20 is the most the cap allows; 0 = never across.
FREEWAY_BOUNDS = (0.0, 20.0)

_ENV_IDS = {
    "pong": "ALE/Pong-v5",
    "breakout": "ALE/Breakout-v5",
    "space_invaders": "ALE/SpaceInvaders-v5",
}

_EVENTS = {
    "pong": GameEvents(conceded=POINT_LOST, scored=POINT_WON),
    "breakout": GameEvents(
        life_lost=LIFE_LOST_EVENT, life_seen=LIFE_LOST["breakout"], scored=SCORED
    ),
    "space_invaders": GameEvents(
        life_lost=LIFE_LOST_EVENT, life_seen=LIFE_LOST["space_invaders"], scored=SCORED
    ),
}

_NOTES: dict[str, Notes] = {
    "pong": pong_notes,
    "breakout": breakout_notes,
    "space_invaders": space_invaders_notes,
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
        notes=_NOTES[_name],
    )

# The paper's other games, each with its objects in a module of its own.
register_game(
    "freeway",
    env_id="ALE/Freeway-v5",
    extract=extract_freeway,
    # No lives: a car pushes the chicken back, and the clock ends the game.
    events=GameEvents(
        scored=Event("crossed the road", "{n} crossing", "{n} crossings"),
        setbacks=((HIT_BY_A_CAR, hit_by_a_car),),
    ),
    step_fields=compact_freeway,
    score_bounds=FREEWAY_BOUNDS,
    notes=freeway_notes,
)

#: Q*bert over 1,000 steps (the quick protocol): 25 points a cube; a policy that avoids
#: the enemies clears the first pyramid (21 cubes and a bonus) and scores ~4,000.
QBERT_BOUNDS = (0.0, 5000.0)
register_game(
    "qbert",
    env_id="ALE/Qbert-v5",
    extract=extract_qbert,
    events=GameEvents(
        scored=Event("scored", "scored {n} time", "scored {n} times"), life_lost=LIFE_LOST_EVENT
    ),
    step_fields=compact_qbert,
    score_bounds=QBERT_BOUNDS,
    notes=qbert_notes,
)

register_game(
    "seaquest",
    env_id="ALE/Seaquest-v5",
    extract=extract_seaquest,
    # Points for each shark or enemy submarine shot and for surfacing with divers.
    events=GameEvents(
        scored=Event("scored", "scored {n} time", "scored {n} times"), life_lost=LIFE_LOST_EVENT
    ),
    step_fields=compact_seaquest,
    score_bounds=(0.0, 1000.0),
    notes=seaquest_notes,
)

register_game("asterix", **asterix_registration())

register_game("enduro", **enduro_registration())
