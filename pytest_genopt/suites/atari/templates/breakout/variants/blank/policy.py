"""A Breakout policy, to be written: it only stands still for now.

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
