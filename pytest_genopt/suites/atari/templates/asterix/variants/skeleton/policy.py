"""An Asterix policy: pick the lane to be in, then move there and along it.

Asterix: move between eight horizontal lanes; each lane carries at most one object
sliding across the screen: a lyre (touching it costs one of the 3 lives) or an object
worth points (touch it to collect it: cauldrons first, 50 points each).  A step is 4
emulator frames.

Geometry: pixels of the 160 x 210 screen, origin top-left, y grows DOWNWARDS.  Lane
``i`` (0 = top .. 7) has its sprites at rows 26 + 16 i .. + 10.

Objects (``objects`` is an ``AsterixObjects``; traces show the fields named alike):

- ``asterix``: ``Asterix``, 8 x 11 px in lane ``lane``; ``x`` its left edge (about
  20..128), 4 to 8 px per LEFT/RIGHT step, one lane per UP/DOWN step.  ``state``:
  "alive" or "hit" (a lyre touched it: back in play at the centre about 32 steps later).
- ``lanes``: eight entries, lane ``i``'s ``LaneObject`` or None: 8 x 11 px, ``x``,
  ``dx`` px per step (0 when it just changed or came in anew); ``kind`` "lyre",
  "reward" (worth points) or "points" (a collected object's points, harmless).
  ``lyres`` and ``rewards`` list those kinds, top lane first.
- ``score``, ``lives``: the score; lives left (3 at the start).

Actions: "NOOP", "UP", "RIGHT", "LEFT", "DOWN", "UPRIGHT", "UPLEFT", "DOWNRIGHT",
"DOWNLEFT".  A traced step: ``t``, ``action``, ``reward``, ``asterix`` ``{x, lane,
state}``, ``lanes`` ``[{kind, x, dx} or null, ...]`` (lane 0 first), ``score``,
``lives``, and on an event ``event`` ("lost life", "collected an object") with the
episode's ``seed``.

The functions marked ``@trainable`` are what the optimizer may rewrite; the module
constants below are the game's fixed geometry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_genopt import trainable

if TYPE_CHECKING:
    from pytest_genopt.suites.atari import AsterixObjects

#: Lanes, top (0) to bottom (7).
LANES = 8
#: Sprites are about 8 px wide.
SPRITE_W = 8
#: Asterix's left edge stays within these columns.
X_MIN, X_MAX = 20, 128


def lyre_gap(objects: AsterixObjects, lane: int, x: float) -> float:
    """Pixels between column ``x`` and the lane's lyre, counted only while the lyre
    moves towards ``x`` (a large number when the lane has no lyre or it moves away)."""
    if not 0 <= lane < LANES:
        return -1.0  # off the screen: never a place to go
    o = objects.lanes[lane]
    if o is None or o.kind != "lyre":
        return 1000.0
    gap = o.cx - x
    if gap * o.dx > 0:  # moving away
        return 1000.0
    return abs(gap)


@trainable
def choose_lane(objects: AsterixObjects) -> int:
    """The lane to be in: the nearest lane holding an object worth points, unless its
    lyre-free path is too short; Asterix's own lane otherwise.

    ``objects.lanes[i]`` is lane ``i``'s object or None; ``o.kind`` is "lyre",
    "reward" or "points"; ``o.cx`` and ``o.dx`` are its centre and px per step.
    """
    a = objects.asterix
    safety = 6  # px: a lyre closer than this makes a lane unsafe
    best, best_cost = a.lane, 1000.0
    for o in objects.rewards:
        cost = abs(o.lane - a.lane) * 30 + abs(o.cx - a.cx) * 0.1
        if lyre_gap(objects, o.lane, a.cx) > safety and cost < best_cost:
            best, best_cost = o.lane, cost
    return best


@trainable
def select_action(objects: AsterixObjects, lane: int) -> str:
    """Step towards ``lane`` (UP/DOWN) when the next lane is safe, and move along the
    lane towards its object worth points (LEFT/RIGHT), leaving a lane whose lyre comes
    close.  Diagonals (UPLEFT, DOWNRIGHT, ...) do both at once.
    """
    a = objects.asterix
    danger = 12  # px: a lyre this close in Asterix's lane is dodged
    vertical = ""
    if lyre_gap(objects, a.lane, a.cx) < danger:
        up = lyre_gap(objects, a.lane - 1, a.cx) > lyre_gap(objects, a.lane + 1, a.cx)
        return "UP" if up else "DOWN"
    if lane != a.lane:
        step = 1 if lane > a.lane else -1
        if lyre_gap(objects, a.lane + step, a.cx) > danger:
            vertical = "DOWN" if step > 0 else "UP"
    here = objects.lanes[lane]
    horizontal = ""
    if here is not None and here.kind == "reward" and abs(here.cx - a.cx) > 4:
        horizontal = "RIGHT" if here.cx > a.cx else "LEFT"
    return (vertical + horizontal) or "NOOP"


@trainable
def act(objects: AsterixObjects) -> str:
    """The action for this step: choose the lane, then move."""
    return select_action(objects, choose_lane(objects))
