"""A Breakout policy: predict where the ball comes down, then move the paddle there.

Screen pixels, origin top-left, y grows downwards; the ball bounces between the side
walls (8 <= x < 152) and must be caught by the paddle at rows 189..192.  See
``pytest_genopt.suites.atari.BreakoutObjects`` for the whole object API.

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
