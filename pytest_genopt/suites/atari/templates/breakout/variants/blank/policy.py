"""A Breakout policy, to be written: it only stands still for now.

Breakout: bounce the ball off the paddle into the wall of bricks.  Each brick broken
scores its row's points (rows 0-1 at the top: 7, rows 2-3: 4, rows 4-5: 1); a ball
that falls past the paddle loses one of the 5 lives, and "FIRE" launches the next one
(and the first).  A step is 4 emulator frames.  Where the ball meets the paddle sets
its return: the further from the paddle's centre, the more sideways it goes (the
feedback's per-episode summary gives each return's contact offset and outgoing
``dx, dy``, and where each lost ball fell).

Geometry: pixels of the 160 x 210 screen, origin top-left, y grows DOWNWARDS.  The ball
bounces off the side walls (8 <= x < 152) and the top wall (y = 32); the paddle's top
row is 189, and a ball past it is lost (None once ``y >= 196``).

Objects (``objects`` is a ``BreakoutObjects``; traces show the fields named alike):

- ``ball``: None when none is in play (before FIRE, after a miss), else a
  ``BreakoutBall``: ``x, y`` its top-left pixel, 2 x 4 px, centre ``cx, cy``; ``dx,
  dy`` its motion in px per step (``dy > 0`` falling).
- ``paddle``: ``BreakoutPaddle``: ``x`` its LEFT edge (8..144), ``y`` 189, ``w`` 16
  (12 once the ball has hit the top wall), centre ``cx``, ``dx`` px per step.  It moves
  about 23 px per step while a direction is held and slides about 9 px after release.
- ``bricks``: ``bricks[row][col]``, 6 x 18 booleans (True: still there); brick
  ``(row, col)`` covers x = 8 + 8 col .. + 7, y = 57 + 6 row .. + 5;
  ``brick_box(row, col)``, ``brick_points(row)``, ``bricks_left``.
- ``score``, ``lives``: the game's score; balls left (5 at the start).

Actions: "NOOP", "FIRE", "RIGHT", "LEFT".  A traced step: ``t`` (step), ``action``,
``reward``, ``ball`` ``{x, y, dx, dy}`` or null, ``paddle`` ``{x, w, dx}``, ``lives``,
and on an event ``event`` ("lost life", "scored") with the episode's ``seed``.

The functions marked ``@trainable`` are what the optimizer may rewrite.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_genopt import trainable

if TYPE_CHECKING:
    from pytest_genopt.suites.atari import BreakoutObjects


@trainable
def act(objects: BreakoutObjects) -> str:
    """Choose the action for one step (4 emulator frames) of Breakout.

    The agent moves a paddle along the bottom of the screen to bounce a ball into a
    wall of bricks; each brick broken scores points.  A ball that falls past the paddle
    costs one of 5 lives; the game ends with the last.  No ball is in play until the
    agent presses FIRE (at the start and after each lost ball).

    Geometry (pixels of the 160 x 210 screen, origin top-left, y grows DOWNWARDS): side
    walls at x < 8 and x >= 152, top wall above y = 32.  The paddle's top is at y = 189.
    Bricks form 6 rows x 18 columns of 8 x 6 px: brick (row, col) covers
    x = 8 + 8 * col, y = 57 + 6 * row; rows 0-1 (top) score 7, rows 2-3 score 4,
    rows 4-5 score 1.

    Objects (``objects`` is a ``BreakoutObjects``):

    - ``objects.ball``: ``None`` when no ball is in play, else a ``BreakoutBall`` with
      ``x, y`` (top-left pixel), ``w == 2``, ``h == 4``, centre ``cx, cy``, velocity
      ``dx, dy`` in px per step (``dy > 0``: falling towards the paddle).
    - ``objects.paddle``: ``BreakoutPaddle`` with ``x`` (LEFT edge, 8..144), ``w`` (16,
      12 once the ball has hit the top wall), centre ``cx``, ``dx`` (px per step).  It
      moves about 23 px per step while a direction is held, sliding ~9 px after.
    - ``objects.bricks[row][col]``: True while that brick remains; ``bricks_left``.
    - ``objects.score``, ``objects.lives``.

    Return an action name: "NOOP", "FIRE" (launch a ball), "RIGHT" or "LEFT".
    """
    return "NOOP"
