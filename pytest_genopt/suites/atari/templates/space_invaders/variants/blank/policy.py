"""A Space Invaders policy, to be written: it only stands still for now.

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
