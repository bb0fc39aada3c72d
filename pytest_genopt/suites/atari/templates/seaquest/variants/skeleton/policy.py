"""A Seaquest policy: choose a depth to patrol (or the surface), then steer and shoot.

Seaquest: the agent's yellow submarine shoots torpedoes at the sharks and enemy
submarines crossing four lanes (20 points each in the first waves), picks up divers by
touching them and must surface before its oxygen runs out; surfacing with divers scores
a bonus.  A collision, running out of oxygen or surfacing without a diver loses a life
(3 in reserve at the start).  A step is 4 emulator frames.

Geometry: pixels of the 160 x 210 screen, origin top-left, y grows DOWNWARDS.  The
submarine (16 x 11 px) starts on the surface (top row 46) and dives to about row 141.
Lane ``i`` (0 = top .. 3) is the 13-row band from row 64 + 24 i.

Objects (``objects`` is a ``SeaquestObjects``; traces show the fields named alike):

- ``player``: ``Submarine``: ``x`` its left edge, ``y`` its top, ``dx, dy`` px moved
  since the last step, ``facing`` "left" or "right" (where its torpedoes go).
- ``enemies``: sharks and enemy submarines on screen (``Enemy``, 8 px wide; not told
  apart), top lane first: ``lane`` 0..3, ``x``, ``dx`` px per step.
- ``oxygen``: 0..64 (full); drains under water, refills on the surface; at 0 the
  submarine is lost.
- ``divers``, ``score``, ``lives``: divers aboard (0..6); points so far; reserve
  submarines.

Actions: the full joystick's 18 ("NOOP", "FIRE", "UP", "RIGHT", "LEFT", "DOWN",
"UPRIGHT", ..., "DOWNLEFTFIRE").  A traced step: ``t``, ``action``, ``reward``,
``player`` ``{x, y, facing}``, ``enemies`` ``[{lane, x, dx}, ...]``, ``oxygen``,
``divers``, ``score``, ``lives``, and on an event ``event`` ("lost life", "scored")
with the episode's ``seed``.

The functions marked ``@trainable`` are what the optimizer may rewrite; the module
constants below are the game's fixed geometry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_genopt import trainable

if TYPE_CHECKING:
    from pytest_genopt.suites.atari import SeaquestObjects

#: Top row of lane 0's band, rows from one lane to the next, a band's height.
LANE_Y0 = 64
LANE_H = 24
ENEMY_H = 13
#: The submarine's top row on the surface, and its size.
SURFACE_Y = 46
SUB_W = 16
SUB_H = 11
#: A full oxygen tank.
MAX_OXYGEN = 64


def lane_top(lane: int) -> int:
    """The top row of lane ``lane``'s band."""
    return LANE_Y0 + LANE_H * lane


@trainable
def choose_depth(objects: SeaquestObjects) -> int:
    """The row the submarine's top should move to: the surface when oxygen runs low,
    otherwise a lane to patrol (its band's top)."""
    low_oxygen = 8  # surface below this much oxygen (64 = full)
    if objects.oxygen < low_oxygen:
        return SURFACE_Y
    lane = 3  # the lane to patrol
    return lane_top(lane)


@trainable
def select_action(objects: SeaquestObjects, depth: int) -> str:
    """Move towards ``depth`` (UP/DOWN), turn towards the nearest enemy of the
    submarine's own rows (LEFT/RIGHT), and FIRE while one is there."""
    player = objects.player
    dead_zone = 2  # px of vertical error left alone
    vertical = ""
    if player.y < depth - dead_zone:
        vertical = "DOWN"
    elif player.y > depth + dead_zone:
        vertical = "UP"
    same_rows = [e for e in objects.enemies if abs(e.y - player.y) < LANE_H // 2]
    horizontal = ""
    if same_rows:
        nearest = min(same_rows, key=lambda e: abs(e.cx - player.cx))
        horizontal = "RIGHT" if nearest.cx > player.cx else "LEFT"
    name = vertical + horizontal + ("FIRE" if same_rows else "")
    return name or "NOOP"


@trainable
def act(objects: SeaquestObjects) -> str:
    """The action for this step: choose the depth, then steer and shoot."""
    return select_action(objects, choose_depth(objects))
