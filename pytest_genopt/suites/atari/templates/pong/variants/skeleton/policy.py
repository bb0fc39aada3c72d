"""A Pong policy: predict where the ball meets the paddle, then steer the paddle there.

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

The functions marked ``@trainable`` are what the optimizer may rewrite; the module
constants below are the game's fixed geometry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_genopt import trainable

if TYPE_CHECKING:
    from pytest_genopt.suites.atari import PongObjects

#: Left edge of the agent's paddle (the ball meets it at about x = 138).
PADDLE_X = 140
#: Rows the ball's centre can reach: it bounces off the walls between these.
BALL_TOP = 36
BALL_BOTTOM = 192
#: Where to wait while the ball moves away: the middle of the playfield.
CENTER_Y = 114


def bounce(y: float) -> float:
    """Fold a straight-line row into the playfield, as the walls reflect the ball."""
    span = BALL_BOTTOM - BALL_TOP
    folded = (y - BALL_TOP) % (2 * span)
    if folded > span:
        folded = 2 * span - folded
    return BALL_TOP + folded


@trainable
def predict_ball_y(objects: PongObjects) -> float | None:
    """The row of the ball's centre when it reaches the agent's paddle, or None when the
    ball is not coming (no ball, or moving left towards the enemy).

    ``ball.dx, ball.dy`` are pixels per step; extrapolate the straight line over the
    steps needed to cover the distance to the paddle, then reflect off the walls.
    """
    ball = objects.ball
    if ball is None or ball.dx <= 0:
        return None
    steps = (PADDLE_X - ball.x) / ball.dx
    lookahead = 0.5  # fraction of the remaining flight to extrapolate
    return bounce(ball.cy + ball.dy * steps * lookahead)


@trainable
def choose_action(objects: PongObjects, target_y: float | None) -> str:
    """Steer the paddle so the ball at ``target_y`` meets it; "UP", "DOWN" or "NOOP".

    The paddle (16 px tall, ``y`` its top edge) moves about 22 px per step while a
    direction is held and keeps sliding about 16 px after it is released, so the
    controller aims ahead of its current position by a share of its velocity ``dy``.
    Hitting the ball off-centre sends it back at a steeper angle.
    """
    paddle = objects.player
    if target_y is None:
        target_y = CENTER_Y
    aim = 9.0  # where on the paddle (px below its centre) the ball should land
    momentum = 0.8  # how far ahead to expect the paddle, in steps of its velocity
    deadzone = 8.0  # px of error tolerated before moving
    error = target_y - (paddle.cy + aim + momentum * paddle.dy)
    if abs(error) <= deadzone:
        return "NOOP"
    return "DOWN" if error > 0 else "UP"


@trainable
def act(objects: PongObjects) -> str:
    """The action for this step: predict the ball, then steer towards it."""
    return choose_action(objects, predict_ball_y(objects))
