"""A Seaquest policy, to be written: it only waits on the surface for now.

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

The functions marked ``@trainable`` are what the optimizer may rewrite.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_genopt import trainable

if TYPE_CHECKING:
    from pytest_genopt.suites.atari import SeaquestObjects


@trainable
def act(objects: SeaquestObjects) -> str:
    """Choose the action for one step (4 emulator frames) of Seaquest.

    The agent is a yellow submarine.  It shoots torpedoes (FIRE, in the direction it
    faces) at the sharks and enemy submarines crossing the screen in four lanes (20
    points each in the first waves), collects divers by touching them and must
    surface before its oxygen runs out; surfacing with divers scores a bonus.  A
    collision, running out of oxygen or surfacing without a diver loses a life; the
    game ends when the last submarine is lost.

    Geometry (pixels of the 160 x 210 screen, origin top-left, y grows DOWNWARDS): the
    submarine is 16 x 11 px, its top at y = 46 on the surface (the start) and up to
    about 141 near the sea bed.  Enemy lane i (0 = top .. 3) is the band of rows
    64 + 24 i .. + 12; enemies swim across it, entering from either side.

    Objects (``objects`` is a ``SeaquestObjects``):

    - ``objects.player``: ``Submarine`` with ``x`` (left edge), ``y`` (top),
      ``w == 16``, ``h == 11``, ``dx``, ``dy`` (px per step), ``facing`` ("left" or
      "right").
    - ``objects.enemies``: a tuple of ``Enemy`` with ``x`` (left edge), ``y`` (the
      lane's top row), ``w == 8``, ``h == 13``, ``dx`` (px per step), ``lane``.
    - ``objects.oxygen``: 0..64 (64 = full).
    - ``objects.divers``: divers collected (0..6).
    - ``objects.score``: points so far; ``objects.lives``: reserve submarines.

    Return an action name: "NOOP", "FIRE", "UP", "RIGHT", "LEFT", "DOWN", a diagonal
    ("UPRIGHT", "DOWNLEFT", ...) or any of these with "FIRE" ("UPFIRE",
    "DOWNRIGHTFIRE", ...).
    """
    return "NOOP"
