"""What the notable steps of Pong, Breakout and Space Invaders meant, in a few words.

Each ``*_notes(step)`` is registered as the game's ``notes``: given a :class:`Step` (the
objects before and after it, its reward, the objects one step later), it says what
happened (a return, where the ball met the paddle and where it went; a point won and how
far the enemy was; what cost a life) or returns None for an ordinary step.  The
rollout's per-episode summary lists the last of these, up to the credit horizon.  They
run on every step while a run records, so each returns early on the ordinary step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_genopt.suites.atari.games import Step

__all__ = ["breakout_notes", "pong_notes", "space_invaders_notes"]

#: How the offsets from a paddle's centre read (Pong's rows, Breakout's columns).
_PADDLE = ("below", "above", "the paddle's centre")
_ENEMY = ("below", "above", "the enemy's centre")
_BAT = ("right of", "left of", "the paddle's centre")
#: Breakout: below this row a ball turning upwards bounced off the paddle, not a brick.
_PADDLE_ZONE = 150


def _off(value: float, more: str, less: str, centre: str) -> str:
    """Where something was from a centre, in whole pixels: ``4 px below the paddle's
    centre`` (``more`` for a positive offset, ``less`` for a negative one)."""
    px = round(value)
    if not px:
        return f"at {centre}"
    return f"{abs(px)} px {more if px > 0 else less} {centre}"


def _velocity(ball: object | None) -> str:
    """The outgoing velocity of a ball one step after a bounce."""
    if ball is None:
        return "out of play"
    return f"out dx {ball.dx}, dy {ball.dy}"  # type: ignore[attr-defined]


def pong_notes(step: Step) -> str | None:
    """A return (the ball's centre relative to the paddle's at contact, + = below, and
    its new velocity), a point won (how far the enemy's centre was from the ball) or a
    point lost (how far the agent's paddle was)."""
    before, after, reward = step.before, step.after, step.reward
    ball = before.ball
    if ball is None:
        return None
    if reward > 0:
        return f"the ball passed {_off(ball.cy - before.enemy.cy, *_ENEMY)}"
    if reward < 0:
        return f"the ball passed {_off(ball.cy - before.player.cy, *_PADDLE)}"
    out = after.ball
    if out is not None and ball.dx > 0 and out.dx < 0:
        later = None if step.following is None else step.following.ball
        contact = _off(ball.cy - before.player.cy, *_PADDLE)
        return f"returned (contact {contact}), {_velocity(later)}"
    return None


def breakout_notes(step: Step) -> str | None:
    """A return off the paddle (where the ball met it and its new velocity), a miss (how
    far the paddle was) or the bricks a step broke (their rows)."""
    before, after = step.before, step.after
    if step.reward > 0:
        rows = [
            row
            for row, (was, now) in enumerate(zip(before.bricks, after.bricks, strict=True))
            for a, b in zip(was, now, strict=True)
            if a and not b
        ]
        if not rows:
            return None
        which = f"a brick of row {rows[0]}" if len(rows) == 1 else f"bricks of rows {rows}"
        return f"+{step.reward:g}, {which}"
    ball = before.ball
    if ball is None:
        return None
    paddle = before.paddle
    out = after.ball
    if out is None:
        return f"the ball fell {_off(ball.cx - paddle.cx, *_BAT)}"
    if ball.dy > 0 and out.dy < 0 and ball.y >= _PADDLE_ZONE:
        later = None if step.following is None else step.following.ball
        return f"returned (contact {_off(ball.cx - paddle.cx, *_BAT)}), {_velocity(later)}"
    return None


def space_invaders_notes(step: Step) -> str | None:
    """An invader shot (its row and points) or the cannon hit (by the nearest alien shot)."""
    before, after, reward = step.before, step.after, step.reward
    if reward > 0:
        left = {(a.row, a.col) for a in after.aliens}
        hit = [a for a in before.aliens if (a.row, a.col) not in left]
        if hit:
            return f"shot an invader in row {hit[0].row} (+{hit[0].points})"
        return f"scored +{reward:g}"
    player = after.player
    if player.state == "exploding" and before.player.state != "exploding":
        shots = [b for b in before.bullets if not b.from_player]
        if shots:
            near = min(shots, key=lambda b: abs(b.cx - before.player.cx))
            where = _off(near.cx - before.player.cx, "right of", "left of", "its centre")
            return f"the cannon at x {before.player.x} was hit by an alien shot {where}"
        return f"the cannon at x {before.player.x} was hit"
    return None
