"""A Freeway policy, to be written: it only stands still for now.

Freeway: walk the chicken across ten lanes of traffic from the bottom pavement to the
top one.  Each crossing scores 1 point and the chicken starts again at the bottom.  A
car that hits the chicken pushes it back about 20 px and stuns it for about 14 steps;
there are no lives: the game ends on its clock after 2,048 steps.  A step is 4 emulator
frames.

Geometry: pixels of the 160 x 210 screen, origin top-left, y grows DOWNWARDS.  The
chicken stays in columns 44..50; its top is at y 187 at the start and about 16 when it
scores.  Lane ``i`` (0 = top .. 9) has its car at rows 28 + 16 i .. + 7 (``lane_at(y)``
names a row's lane); lanes 0-4 drive left, lanes 5-9 right.

Objects (``objects`` is a ``FreewayObjects``; traces show the fields named alike):

- ``chicken``: ``Chicken``, 7 x 8 px at ``x`` 44; ``y`` its top; ``dy`` px per step (-4
  while UP is held).  ``state``: "walking", "hit" (pushed back, the joystick ignored) or
  "crossed" (it just scored and waits 7 steps at the bottom).
- ``cars``: ten ``Car``s, ``cars[i].lane == i``: 8 x 8 px, ``x`` their left edge (wraps
  round 0..159), ``dx`` px per step (1 to 4, negative driving left).
- ``score``: crossings so far.

Actions: "NOOP", "UP", "DOWN".  A traced step: ``t``, ``action``, ``reward``,
``chicken`` ``{y, dy, state}``, ``cars`` ``{x: [...], dx: [...]}`` (lane 0 first),
``score``, and on an event ``event`` ("hit by a car", "crossed the road") with the
episode's ``seed``.

The functions marked ``@trainable`` are what the optimizer may rewrite.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_genopt import trainable

if TYPE_CHECKING:
    from pytest_genopt.suites.atari import FreewayObjects


@trainable
def act(objects: FreewayObjects) -> str:
    """Choose the action for one step (4 emulator frames) of Freeway.

    The agent is a chicken crossing a ten-lane road from the bottom pavement to the
    top one; each crossing scores 1 point and the chicken starts again at the bottom.
    A car that hits the chicken pushes it back ~20 px and stuns it for ~14
    steps.  There are no lives: the game ends on its clock after 2,048 steps.

    Geometry (pixels of the 160 x 210 screen, origin top-left, y grows DOWNWARDS): the
    chicken stands in columns 44..50 and starts with its top at y = 187; it scores
    when it reaches y ~16.  Lane i (0 = top .. 9 = bottom) has its car at rows
    28 + 16 i .. + 7.  Lanes 0-4 drive LEFT, lanes 5-9 drive RIGHT, each at a
    constant speed of 1 to 4 px per step; a car's x wraps round the screen (0..159).

    Objects (``objects`` is a ``FreewayObjects``):

    - ``objects.chicken``: ``Chicken`` with ``x == 44``, ``y`` (its top), ``w == 7``,
      ``h == 8``, ``dy`` (px per step, -4 while walking up), ``state``: "walking",
      "hit" (pushed back, ignores the joystick) or "crossed" (just scored, waits).
    - ``objects.cars[i]``: the car of lane ``i``, a ``Car`` with ``x`` (left edge),
      ``y``, ``w == h == 8``, ``dx`` (px per step), ``lane``.
    - ``objects.score``: crossings so far.

    Return an action name: "NOOP", "UP" or "DOWN".
    """
    return "NOOP"
