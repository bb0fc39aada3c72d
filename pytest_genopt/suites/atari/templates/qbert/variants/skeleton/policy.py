"""A Q*bert policy: pick the next cube to hop to, then press the joystick towards it.

Q*bert: hop from cube to cube of a six-row pyramid (21 cubes).  Landing on a cube not
yet changed turns it to the target colour and scores 25 points; changing all 21 ends
the level with a bonus.  Balls drop from the top and bounce down; the purple one turns
into Coily, who chases Q*bert; Sam (green) is harmless.  Touching a ball or Coily, or
hopping off the pyramid, loses a life (4 lives).  A hop takes about 8 steps of 4 frames.

Geometry: pixels of the 160 x 210 screen, origin top-left, y grows DOWNWARDS.  Rows 0
(top) .. 5, row ``r`` holding cubes ``col`` 0 .. ``r``.  From ``(row, col)``: "UP" hops to
``(row - 1, col)`` (up-right), "LEFT" to ``(row - 1, col - 1)`` (up-left), "RIGHT" to
``(row + 1, col + 1)`` (down-right), "DOWN" to ``(row + 1, col)`` (down-left).

Objects (``objects`` is a ``QbertObjects``; traces show the fields named alike):

- ``player``: ``QbertPlayer``: ``row, col`` his cube while ``state == "standing"`` (the
  joystick hops him only then), else None; ``state``: "standing", "jumping", "falling"
  (hopped off), "caught" or "absent" (between lives); ``x, y`` his box.
- ``enemies``: ``Enemy``s on rows 1..5, at most one per row: ``kind`` "ball", "coily"
  or "sam", ``row, col`` the cube it is on or drops onto, ``airborne``.
- ``cubes``: the 21 ``Cube``s row by row (``row, col``, ``done`` once changed);
  ``cube_at(row, col)``, ``cubes_left()``.
- ``score``, ``lives``: points so far; lives left with the current one.

Actions: "NOOP", "FIRE", "UP", "RIGHT", "LEFT", "DOWN".  A traced step: ``t``,
``action``, ``reward``, ``qbert`` ``{row, col, state}``, ``enemies`` ``[{kind, row,
col}, ...]``, ``cubes_left``, ``score``, ``lives``, and on an event ``event`` ("lost
life", "scored") with the episode's ``seed``.

The functions marked ``@trainable`` are what the optimizer may rewrite; the module
constants below are the game's fixed geometry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_genopt import trainable

if TYPE_CHECKING:
    from pytest_genopt.suites.atari import QbertObjects

ROWS = 6
#: The hop each action makes, as (row change, col change).
MOVES = {"UP": (-1, 0), "LEFT": (-1, -1), "RIGHT": (1, 1), "DOWN": (1, 0)}


def on_pyramid(row: int, col: int) -> bool:
    """True when ``(row, col)`` is a cube of the pyramid."""
    return 0 <= row < ROWS and 0 <= col <= row


@trainable
def choose_target(objects: QbertObjects) -> tuple[int, int] | None:
    """The cube to hop to next, or None to stay (mid-jump, or no safe cube).

    A cube is unsafe when an enemy (ball or Coily; Sam is harmless) is within
    ``danger`` rows and columns of it; among the safe cubes one not yet changed
    (``not cube.done``) scores 25 points.
    """
    player = objects.player
    if player.state != "standing" or player.row is None or player.col is None:
        return None
    danger = 0  # rows/cols around an enemy to keep away from
    prefer_new = 0.0  # weight of a cube not yet changed
    best, best_value = None, float("-inf")
    for name, (dr, dc) in MOVES.items():
        row, col = player.row + dr, player.col + dc
        if not on_pyramid(row, col):
            continue
        if any(
            e.kind != "sam" and abs(e.row - row) <= danger and abs(e.col - col) <= danger
            for e in objects.enemies
        ):
            continue
        cube = objects.cube_at(row, col)
        value = (prefer_new if cube is not None and not cube.done else 0.0) + 0.1 * row
        if name in ("UP", "LEFT"):
            value += 0.05  # break ties upwards, away from the balls' path
        if value > best_value:
            best, best_value = (row, col), value
    return best


@trainable
def select_action(objects: QbertObjects, target: tuple[int, int] | None) -> str:
    """The joystick direction that hops to ``target``, "NOOP" when it is None."""
    player = objects.player
    if target is None or player.row is None or player.col is None:
        return "NOOP"
    step = (target[0] - player.row, target[1] - player.col)
    for name, move in MOVES.items():
        if move == step:
            return name
    return "NOOP"


@trainable
def act(objects: QbertObjects) -> str:
    """The action for this step: choose the next cube, then hop there."""
    return select_action(objects, choose_target(objects))
