"""A Breakout policy: predict where the ball comes down, then move the paddle there.

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

The functions marked ``@trainable`` are what the optimizer may rewrite; the module
constants below are the game's fixed geometry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_genopt import trainable

if TYPE_CHECKING:
    from pytest_genopt.suites.atari import BreakoutObjects

#: Top row of the paddle: a falling ball must meet it here.
PADDLE_Y = 189
#: Columns the ball's centre can reach: it bounces off the side walls between these.
BALL_LEFT = 9
BALL_RIGHT = 151


def bounce(x: float) -> float:
    """Fold a straight-line column between the side walls, as they reflect the ball."""
    span = BALL_RIGHT - BALL_LEFT
    folded = (x - BALL_LEFT) % (2 * span)
    if folded > span:
        folded = 2 * span - folded
    return BALL_LEFT + folded


@trainable
def predict_landing_x(objects: BreakoutObjects) -> float | None:
    """The column of the ball's centre when it comes down to the paddle, or None when
    there is no ball or it is rising.

    ``ball.dx, ball.dy`` are pixels per step; extrapolate the straight line over the
    steps it needs to fall to the paddle, then reflect off the side walls.
    """
    ball = objects.ball
    if ball is None or ball.dy <= 0:
        return None
    steps = (PADDLE_Y - ball.y - ball.h) / ball.dy
    lookahead = 0.5  # fraction of the remaining fall to extrapolate
    return bounce(ball.cx + ball.dx * steps * lookahead)


@trainable
def choose_action(objects: BreakoutObjects, target_x: float | None) -> str:
    """Move the paddle under ``target_x``: "LEFT", "RIGHT", "NOOP", or "FIRE" to launch a
    new ball when none is in play.

    The paddle (``x`` its left edge, ``w`` 16 px, 12 after the ball first reaches the
    top wall) moves about 23 px per step while a direction is held and slides about
    9 px after release.  Where the ball lands on the paddle sets its new angle.
    """
    ball = objects.ball
    if ball is None:
        return "FIRE"
    if target_x is None:
        target_x = ball.cx  # rising: stay below the ball
    paddle = objects.paddle
    aim = 7.0  # where on the paddle (px right of its centre) the ball should land
    deadzone = 6.0  # px of error tolerated before moving
    error = target_x - (paddle.cx + aim)
    if abs(error) <= deadzone:
        return "NOOP"
    return "RIGHT" if error > 0 else "LEFT"


@trainable
def act(objects: BreakoutObjects) -> str:
    """The action for this step: predict the landing point, then move there."""
    return choose_action(objects, predict_landing_x(objects))
