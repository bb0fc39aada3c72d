"""An Enduro policy: pick the lane to drive in, then steer there at speed.

The agent's car races along a three-lane road seen in perspective; the other cars are
ahead of it in seven distance slots (0 nearest .. 6 at the horizon).  Passing a car
scores 1, being passed costs 1, and crashing into a car stops the agent's car dead.
See ``pytest_genopt.suites.atari.EnduroObjects`` for the whole object API.

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
