"""A Space Invaders policy, to be written: it only stands still for now.

The functions marked ``@trainable`` are what the optimizer may rewrite.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_genopt import trainable

if TYPE_CHECKING:
    from pytest_genopt.suites.atari import SpaceInvadersObjects


@trainable
def act(objects: SpaceInvadersObjects) -> str:
    """Choose the action for one step (4 emulator frames) of Space Invaders.

    The agent moves a laser cannon along the bottom of the screen and shoots at a block
    of invaders that marches sideways and steps down; invaders drop shots.  A hit
    cannon costs one of 3 lives; the game ends with the last (or when the invaders
    land).  Shooting an invader scores 5 (bottom row) to 30 (top row) points.

    Geometry (pixels of the 160 x 210 screen, origin top-left, y grows DOWNWARDS): the
    cannon is 7 x 10 px at rows 185..194, its left edge ``x`` within 34..116; it moves
    about 2 px per step.  A new shot leaves it at column ``x + 4`` and climbs 8 px per
    step; alien shots fall 4 px per step.  Three shields (8 x 18 px at x = 42, 74, 106,
    rows 157..174) block shots from both sides while they last.  Invaders are 8 x 10 px,
    16 px apart horizontally and 18 px vertically, up to 6 rows x 6 columns.

    Objects (``objects`` is a ``SpaceInvadersObjects``):

    - ``objects.player``: the cannon, an ``InvadersPlayer`` with ``x``, ``cx``, ``dx``
      and ``state``: "active" (can move and shoot), "spawning" or "exploding" (hit).
    - ``objects.aliens``: living invaders (``Alien``: ``x, y, cx, cy``, ``dx, dy`` of the
      block per step, ``row``, ``col``, ``points``), top row first.
    - ``objects.bullets``: shots in flight (``Bullet``: ``x`` column, ``y`` top, ``dy``,
      ``from_player``); at most one is the player's.
    - ``objects.shields``: remaining shields (``Shield.covers(x)``).
    - ``objects.score``, ``objects.lives``.

    Return an action name: "NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE" or "LEFTFIRE".
    """
    return "NOOP"
