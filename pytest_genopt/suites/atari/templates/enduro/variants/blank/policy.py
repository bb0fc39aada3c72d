"""An Enduro policy, to be written: it only stands still for now.

Enduro: drive the agent's car along a three-lane road seen in perspective and pass
the other cars, which are ahead of it in seven distance slots (0 nearest .. 6 at the
horizon), each keeping its lane.  Passing a car scores 1 ("passed a car"); a car
passing the agent costs 1 ("passed by a car"); crashing into a car in the agent's lane
when it reaches slot 1 ("hit a car") stops the agent's car dead for about 30 steps, and
bumping the road's edge ("hit the road's edge") slows it for about 5.  Day 1 asks for
200 cars passed; there are no lives.  The car does not move until FIRE (the
accelerator) is pressed; holding FIRE speeds it up, DOWN brakes.  A step is 4 emulator
frames.

Geometry: pixels of the 160 x 210 screen, origin top-left, y grows DOWNWARDS.  The
agent's car is 16 x 11 px with its top at rows 136..144; the other cars are drawn from
16 x 11 px (slot 0) down to 2 x 1 px (slot 6, rows ~62..68).  Across the road the car's
``position`` runs from about -24 (left edge) through 0 (centre) to 24 (right edge); the
lanes' centres are near -14, 0 and 14; LEFT and RIGHT move it 1 to 3 units a step, and
on a curve the road drifts it by up to 2.

Objects (``objects`` is an ``EnduroObjects``; traces show the fields named alike):

- ``player``: ``PlayerCar`` with ``x``, ``y``, ``w``, ``h``, ``dx``, ``dy``,
  ``position``, ``lane`` ("left", "centre" or "right"), ``speed`` (0 standing, 6
  rolling, higher while FIRE is held) and ``state``: "driving", "crashed" or "edge".
- ``opponents``: the other cars, nearest first: ``Opponent`` with ``slot`` (0 .. 6),
  ``lane``, ``y`` (top row), ``w``, ``h``, ``dy`` (> 0: getting nearer).  Their
  horizontal pixel position is not read.  ``objects.ahead_in(lane)`` is the nearest car
  in a lane, or None.
- ``cars_left`` (still to pass today), ``day``, ``odometer`` (tenths), ``score`` (the
  ALE's: cars passed, net).

Actions: "NOOP", "FIRE", "RIGHT", "LEFT", "DOWN", "DOWNRIGHT", "DOWNLEFT",
"RIGHTFIRE", "LEFTFIRE".  A traced step: ``t``, ``action``, ``reward``, ``player``
``{position, lane, speed, state}``, ``cars`` ``{slot, lane, y, dy}`` (columns, nearest
first), ``cars_left``, ``score``, and on an event ``event`` with the episode's
``seed``.

The functions marked ``@trainable`` are what the optimizer may rewrite.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_genopt import trainable

if TYPE_CHECKING:
    from pytest_genopt.suites.atari import EnduroObjects


@trainable
def act(objects: EnduroObjects) -> str:
    """Choose the action for one step (4 emulator frames) of Enduro.

    The agent drives the white car at the bottom of a three-lane road seen in
    perspective; the other cars are ahead of it, in seven distance slots (0 nearest ..
    6 at the horizon), each in one lane that it keeps.  Passing a car scores 1 point,
    a car passing the agent costs 1; crashing into a car (one in the agent's lane that
    reaches slot 1) stops the agent's car dead, and bumping the road's edge slows it.
    Day 1 asks for 200 cars passed; there are no lives.  The car does not move until
    FIRE (the accelerator) is pressed; holding FIRE speeds it up, DOWN brakes.

    Geometry (pixels of the 160 x 210 screen, origin top-left, y grows DOWNWARDS): the
    agent's car is 16 x 11 px with its top at rows 136..144; the other cars are drawn
    from 16 x 11 px (slot 0, rows ~136..154) down to 2 x 1 px (slot 6, rows ~62..68).
    Across the road the car's ``position`` runs from about -24 (left edge) through 0
    (centre) to 24 (right edge); the lanes' centres are near -14, 0 and 14; LEFT and
    RIGHT move it 1 to 3 units a step, and on a curve the road drifts it by up to 2.

    Objects (``objects`` is an ``EnduroObjects``):

    - ``objects.player``: ``PlayerCar`` with ``x``, ``y``, ``w == 16``, ``h == 11``,
      ``dx``, ``dy``, ``position``, ``lane`` ("left", "centre" or "right"), ``speed``
      (0 standing, 6 rolling, higher while FIRE is held) and ``state``: "driving",
      "crashed" (it hit a car) or "edge" (it bumped the road's edge).
    - ``objects.opponents``: the other cars, nearest first: ``Opponent`` with ``slot``
      (0 .. 6), ``lane``, ``y`` (top row), ``w``, ``h``, ``dy`` (> 0: getting nearer).
    - ``objects.ahead_in(lane)``: the nearest car in a lane, or None.
    - ``objects.cars_left``, ``objects.day``, ``objects.odometer``, ``objects.score``.

    Return an action name: "NOOP", "FIRE", "RIGHT", "LEFT", "DOWN", "DOWNRIGHT",
    "DOWNLEFT", "RIGHTFIRE" or "LEFTFIRE".
    """
    return "NOOP"
