"""A Space Invaders policy: dodge the alien shots, aim at the nearest invader, shoot.

Screen pixels, origin top-left, y grows downwards; the cannon sits at rows 185..194
and moves along the bottom (34 <= x <= 116).  See
``pytest_genopt.suites.atari.SpaceInvadersObjects`` for the whole object API.

The functions marked ``@trainable`` are what the optimizer may rewrite; the module
constants below are the game's fixed geometry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_genopt import trainable

if TYPE_CHECKING:
    from pytest_genopt.suites.atari import SpaceInvadersObjects

#: Top row of the cannon, and where the player's shot starts.
CANNON_Y = 185
#: Pixels the player's shot climbs per step.
SHOT_SPEED = 8
#: Range of the cannon's left edge.
CANNON_MIN_X = 34
CANNON_MAX_X = 116


@trainable
def threat_x(objects: SpaceInvadersObjects) -> float | None:
    """The column of the most pressing alien shot about to hit the cannon, or None.

    Alien shots fall 4 px per step; the cannon moves about 2 px per step, so a shot
    must be seen early enough to step aside.
    """
    cannon = objects.player
    danger_width = 5.0  # px either side of the cannon's centre that count as a hit
    danger_height = 150  # shots below this row are close enough to dodge
    threats = [
        shot
        for shot in objects.bullets
        if not shot.from_player
        and shot.y > danger_height
        and abs(shot.x - cannon.cx) < danger_width
    ]
    if not threats:
        return None
    return max(threats, key=lambda shot: shot.y).x


@trainable
def target_x(objects: SpaceInvadersObjects) -> float | None:
    """The column to shoot at: the invader nearest the cannon, led by the block's motion
    over the flight time of a shot; None when no invader is left."""
    if not objects.aliens:
        return None
    cannon = objects.player
    alien = min(objects.aliens, key=lambda a: abs(a.cx - cannon.cx))
    flight = (CANNON_Y - alien.cy) / SHOT_SPEED
    lead = 0.0  # fraction of the block's motion during the flight to aim ahead
    return alien.cx + alien.dx * flight * lead


@trainable
def choose_action(objects: SpaceInvadersObjects, target: float | None, threat: float | None) -> str:
    """Step away from a threat, else move under the target and fire when lined up.

    A new shot leaves the cannon at column ``x + 4``; only one player shot can be in
    flight.  Actions: "NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE".
    """
    cannon = objects.player
    if threat is not None:
        if (threat > cannon.cx and cannon.x > CANNON_MIN_X) or cannon.x >= CANNON_MAX_X:
            return "LEFT"
        return "RIGHT"
    if target is None:
        return "NOOP"
    aim = 5.0  # px right of the cannon's centre where its shot flies
    tolerance = 1.0  # px of error at which to fire
    error = target - (cannon.cx + aim)
    if abs(error) <= tolerance:
        return "FIRE"
    return "RIGHT" if error > 0 else "LEFT"


@trainable
def act(objects: SpaceInvadersObjects) -> str:
    """The action for this step: dodge, aim, shoot."""
    return choose_action(objects, target_x(objects), threat_x(objects))
