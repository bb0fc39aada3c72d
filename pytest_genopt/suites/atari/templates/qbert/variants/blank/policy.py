"""A Q*bert policy, to be written: it only stands still for now.

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
