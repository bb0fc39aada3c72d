"""A Space Invaders policy: dodge the alien shots, aim at the nearest invader, shoot.

Space Invaders: shoot the invaders before they reach the bottom, and dodge their shots.
An invader shot scores its row's points (row 0 at the top: 30 .. row 5: 5); an alien
shot that hits the cannon costs one of the 3 lives.  A step is 4 emulator frames.

Geometry: pixels of the 160 x 210 screen, origin top-left, y grows DOWNWARDS.  The
cannon sits at rows 185..194 and moves along the bottom (34 <= x <= 116); the shields
stand at x 42, 74 and 106, rows 157..174.

Objects (``objects`` is a ``SpaceInvadersObjects``; traces show the fields named alike):

- ``player``: ``InvadersPlayer``, the cannon: 7 x 10 px, ``x`` its left edge, ``dx`` px
  per step (about 2 while moving); a new shot leaves at column ``x + 4``.  ``state``:
  "active", "spawning" (cannot move yet) or "exploding" (hit: ``lives`` drops when the
  explosion ends).
- ``aliens``: the living invaders (``Alien``: 8 x 10 px, ``row`` 0 = top .. 5, ``col``,
  ``points``), 16 px apart sideways and 18 px vertically; the block marches sideways and
  steps down 10 px at each edge (``dx, dy`` per step).
- ``bullets``: shots in flight (``Bullet``, 1 x 8 px): ``from_player`` True for the
  agent's (climbs 8 px per step, one at a time), False for alien shots (fall 4 px per
  step, up to two).
- ``shields``: remaining shields (``Shield``: ``cells``, ``cells_left``, ``covers(x)``).
- ``score``, ``lives``: the agent's score; lives left (3 at the start).

Actions: "NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE".  A traced step: ``t``,
``action``, ``reward``, ``player`` ``{x, dx, state}``, ``shots`` ``[{x, y}, ...]`` (alien
shots), ``shot`` ``{x, y}`` (the agent's) or null, ``aliens`` ``{count, left, right,
bottom}`` (the block's extent) or null, ``lives``, and on an event ``event`` ("lost
life", "scored") with the episode's ``seed``.

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
