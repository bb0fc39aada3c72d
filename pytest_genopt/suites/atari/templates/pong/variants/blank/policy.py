"""A Pong policy, to be written: it only stands still for now.

Pong: the agent plays the GREEN paddle on the RIGHT against the computer's ORANGE
paddle on the LEFT.  A point is won (reward +1) when the ball leaves the screen on the
left, past the enemy, and lost (reward -1) when it leaves on the right; the game ends
when one side has 21.  A step is 4 emulator frames.  The enemy moves its paddle
towards the ball's row at a limited speed, so a fast, steep return can get past it.
Where the ball meets a paddle sets its return: off the paddle's centre it comes back
flatter, off its ends steeper (the feedback's per-episode summary gives each return's
contact offset and outgoing ``dx, dy``, and how far the enemy was from each ball it
missed).

Geometry: pixels of the 160 x 210 screen, origin top-left, y grows DOWNWARDS.  The
ball bounces off the white walls at the top and bottom: its centre stays in rows
36..192.  It meets the agent's paddle at about x = 138 and the enemy's at x = 20.

Objects (``objects`` is a ``PongObjects``; traces show the fields named alike):

- ``ball``: None between points, else a ``PongBall``: ``x, y`` its top-left pixel,
  ``w, h`` = 2, 4, centre ``cx, cy``; ``dx, dy`` its motion in px per step (``dx > 0``
  towards the agent, ``dy > 0`` downwards; 0 on its first frame).
- ``player``: the agent's ``PongPaddle`` at x = 140..143: ``y`` the TOP edge of its
  visible part, ``h`` 16 (less while partly behind a wall), centre ``cy``, ``dy`` px
  per step.  Held, UP or DOWN moves it about 10 px on the press's first step, then
  20..24 px per step; released, it slides about 10..12 then 4 px more (a one-step
  press moves it about 24 px in all).
- ``enemy``: the computer's ``PongPaddle`` at x = 16..19, the same fields.
- ``player_score``, ``enemy_score``: points so far.

Actions: "NOOP", "UP" (y decreases), "DOWN", and "FIRE", "UPFIRE", "DOWNFIRE" (fire
does nothing in Pong).  A traced step: ``t`` (step), ``action``, ``reward``, ``ball``
``{x, y, dx, dy}`` or null, ``player`` ``{y, dy}``, ``enemy`` ``{y}``, and on a point
``event`` ("won point", "lost point") with the episode's ``seed``.

The functions marked ``@trainable`` are what the optimizer may rewrite.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_genopt import trainable

if TYPE_CHECKING:
    from pytest_genopt.suites.atari import PongObjects


@trainable
def act(objects: PongObjects) -> str:
    """Choose the action for one step (4 emulator frames) of Pong.

    The agent controls the GREEN paddle on the RIGHT; the computer plays the ORANGE
    paddle on the LEFT.  A point is lost when the ball leaves the screen on the right,
    won when it leaves on the left; the game ends when one side reaches 21.

    Geometry (pixels of the 160 x 210 screen, origin top-left, y grows DOWNWARDS):
    the playfield spans rows 34..193 between two white walls, off which the ball
    bounces.  The agent's paddle is 4 x 16 px at x = 140..143, the enemy's at x = 16..19.

    Objects (``objects`` is a ``PongObjects``):

    - ``objects.ball``: ``None`` between points, else a ``PongBall`` with ``x, y`` (its
      top-left pixel), ``w == 2``, ``h == 4``, centre ``cx, cy``, and velocity
      ``dx, dy`` in px per step (``dx > 0``: coming towards the agent; ``dy > 0``:
      moving down).  It reaches the agent's paddle at about x = 138.
    - ``objects.player`` / ``objects.enemy``: ``PongPaddle`` with ``x``, ``y`` (TOP edge
      of the visible part), ``h`` (16, less when partly behind a wall), centre ``cy``,
      and ``dy`` (px per step, > 0 moving down).  The agent's paddle moves about 22 px
      per step while a direction is held and slides about 16 px after release.
    - ``objects.player_score``, ``objects.enemy_score``: points so far.

    Return an action name: "NOOP", "UP" (paddle moves up, y decreases), "DOWN"; or
    "FIRE", "UPFIRE", "DOWNFIRE" (fire does nothing in Pong).
    """
    return "NOOP"
