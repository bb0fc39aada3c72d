"""A Q*bert policy, to be written: it only stands still for now.

The functions marked ``@trainable`` are what the optimizer may rewrite.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_genopt import trainable

if TYPE_CHECKING:
    from pytest_genopt.suites.atari import QbertObjects


@trainable
def act(objects: QbertObjects) -> str:
    """Choose the action for one step (4 emulator frames) of Q*bert.

    Q*bert hops from cube to cube of a pyramid; landing on a cube not yet changed turns
    it to the target colour and scores 25 points, and changing all 21 ends the level
    with a bonus.  Balls drop from the top and bounce down the pyramid; the purple one
    turns into Coily, who chases Q*bert; Sam (green) is harmless.  Touching a ball or
    Coily, or hopping off the pyramid, loses a life (4 lives).  A hop takes ~8 steps;
    the joystick is only read while Q*bert stands on a cube.

    Geometry (pixels of the 160 x 210 screen, origin top-left, y grows DOWNWARDS): the
    pyramid has rows 0 (top) .. 5; row r holds cubes col 0 .. r, the top cube's top at
    y = 34 and each row ~29 px lower.  From (row, col): "UP" hops to (row - 1, col)
    (up-right), "LEFT" to (row - 1, col - 1) (up-left), "RIGHT" to (row + 1, col + 1)
    (down-right), "DOWN" to (row + 1, col) (down-left).

    Objects (``objects`` is a ``QbertObjects``):

    - ``objects.player``: ``QbertPlayer`` with ``x, y, w, h, dx, dy``, ``row, col``
      (his cube while standing, else None) and ``state``: "standing", "jumping",
      "falling", "caught" or "absent".
    - ``objects.enemies``: ``Enemy`` tuples with ``kind`` ("ball", "coily", "sam"),
      ``row`` (1..5), ``col``, ``airborne`` and their pixel box ``x, y, w, h``.
    - ``objects.cubes``: the 21 ``Cube`` tuples (``row, col, done``, box);
      ``objects.cube_at(row, col)``, ``objects.cubes_left()``.
    - ``objects.score``, ``objects.lives``.

    Return an action name: "NOOP", "UP", "RIGHT", "LEFT", "DOWN" (or "FIRE").
    """
    return "NOOP"
