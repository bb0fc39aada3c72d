"""An Enduro policy: pick the lane to drive in, then steer there at speed.

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

The functions marked ``@trainable`` are what the optimizer may rewrite; the module
constants below are the game's fixed geometry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_genopt import trainable

if TYPE_CHECKING:
    from pytest_genopt.suites.atari import EnduroObjects

#: The lanes, left to right, and the car's ``position`` at each lane's centre.
LANES = ("left", "centre", "right")
LANE_CENTRE = {"left": -14, "centre": 0, "right": 14}


def nearest_slot(objects: EnduroObjects, lane: str) -> int:
    """The distance slot of the nearest car in ``lane`` (0 nearest; 7 when it is empty)."""
    car = objects.ahead_in(lane)
    return 7 if car is None else car.slot


@trainable
def choose_lane(objects: EnduroObjects) -> str:
    """The lane to drive in: stay in the car's own lane unless a car in it is nearer
    than ``lookahead`` slots; then the neighbouring lane whose nearest car is farthest.
    """
    lookahead = 1  # slots: a car this near in the own lane makes it change lanes
    here = objects.player.lane
    if nearest_slot(objects, here) > lookahead:
        return here
    i = LANES.index(here)
    options = [LANES[j] for j in (i - 1, i + 1) if 0 <= j < len(LANES)]
    return max(options, key=lambda lane: nearest_slot(objects, lane))


@trainable
def select_action(objects: EnduroObjects, lane: str) -> str:
    """Steer towards ``lane``'s centre (RIGHT/LEFT) while accelerating (FIRE), or brake
    (DOWN) when a car in the own lane is too near to get round."""
    dead_zone = 6  # position units off the lane's centre before steering
    brake_slot = -1  # slots: brake for a car this near in the own lane
    p = objects.player
    if nearest_slot(objects, p.lane) <= brake_slot and lane == p.lane:
        return "DOWN"
    offset = LANE_CENTRE[lane] - p.position
    if offset > dead_zone:
        return "RIGHTFIRE"
    if offset < -dead_zone:
        return "LEFTFIRE"
    return "FIRE"


@trainable
def act(objects: EnduroObjects) -> str:
    """The action for this step: choose the lane, then steer and drive."""
    return select_action(objects, choose_lane(objects))
