"""A Freeway policy: pick the lane to step into next, then walk there or wait.

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

The functions marked ``@trainable`` are what the optimizer may rewrite; the module
constants below are the game's fixed geometry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_genopt import trainable

if TYPE_CHECKING:
    from pytest_genopt.suites.atari import FreewayObjects

#: The chicken's columns (left edge and width); cars are 8 px wide.
CHICKEN_X = 44
CHICKEN_W = 7
CAR_W = 8
#: Lane geometry: lane ``i``'s cars cover rows LANE_Y0 + LANE_H * i .. + 7.
LANE_Y0 = 28
LANE_H = 16
LANES = 10
#: Pixels the chicken climbs per step while UP is held.
CHICKEN_SPEED = 4
#: A car's x wraps round the screen with this period.
SCREEN_W = 160


def lane_below(y: float) -> int:
    """The lane just above a chicken whose top is at row ``y`` (LANES: all lanes are
    above it; -1: it has crossed them all)."""
    lane = 0
    while lane < LANES and LANE_Y0 + LANE_H * lane + 8 <= y:
        lane += 1
    return lane - 1


def car_covers(x: float, left: float, right: float) -> bool:
    """True when a car with left edge ``x`` (wrapping) overlaps columns left..right."""
    x = x % SCREEN_W
    return any(x + shift < right and x + shift + CAR_W > left for shift in (-SCREEN_W, 0))


@trainable
def choose_lane_target(objects: FreewayObjects) -> int | None:
    """The lane to step into next (the one above the chicken) when its car will stay
    clear of the chicken's columns while the chicken crosses it, or None to wait.

    ``car.x, car.dx`` are pixels and pixels per step; a chicken needs about
    (8 + 8) / 4 = 4 steps to cross a car's rows.
    """
    chicken = objects.chicken
    lane = lane_below(chicken.y)
    if lane < 0:
        return lane  # across: the score is counted, keep going
    car = objects.cars[lane]
    lookahead = 0  # steps of the car's motion to check
    margin = -3  # px of clearance on each side of the chicken
    for k in range(lookahead + 1):
        if car_covers(car.x + car.dx * k, CHICKEN_X - margin, CHICKEN_X + CHICKEN_W + margin):
            return None
    return lane


@trainable
def select_action(objects: FreewayObjects, target: int | None) -> str:
    """ "UP" towards ``target`` (a lane), "NOOP" to wait when it is None.

    "DOWN" moves the chicken 4 px back down; a chicken that waits where a car will
    pass is hit, pushed back ~20 px and stunned for about 14 steps.
    """
    chicken = objects.chicken
    if chicken.state != "walking":
        return "NOOP"  # hit or just scored: the joystick does nothing
    if target is None:
        return "NOOP"
    return "UP"


@trainable
def act(objects: FreewayObjects) -> str:
    """The action for this step: choose the lane target, then move."""
    return select_action(objects, choose_lane_target(objects))
