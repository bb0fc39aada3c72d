"""An Asterix policy, to be written: it only stands still for now.

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

The functions marked ``@trainable`` are what the optimizer may rewrite.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_genopt import trainable

if TYPE_CHECKING:
    from pytest_genopt.suites.atari import AsterixObjects


@trainable
def act(objects: AsterixObjects) -> str:
    """Choose the action for one step (4 emulator frames) of Asterix.

    The agent is Asterix, in one of eight horizontal lanes; each lane carries at most
    one object sliding across the screen: a lyre (touching it costs a life) or an
    object worth points (cauldrons first, 50 points each; touch one to collect it).
    Asterix moves one lane per UP or DOWN step and 4 to 8 px per LEFT or RIGHT step.
    There are 3 lives; a lost life shows for ~30 steps before Asterix is back.

    Geometry (pixels of the 160 x 210 screen, origin top-left, y grows DOWNWARDS):
    lane i (0 = top .. 7 = bottom) has its sprites at rows 26 + 16 i .. + 10; sprites
    are about 8 px wide; Asterix's left edge stays within x 20..128.

    Objects (``objects`` is an ``AsterixObjects``):

    - ``objects.asterix``: ``Asterix`` with ``x`` (left edge), ``y``, ``w == 8``,
      ``h == 11``, ``dx``, ``dy``, ``lane``, ``state``: "alive" or "hit" (a lyre
      touched it; the joystick does nothing until it is back).
    - ``objects.lanes[i]``: lane ``i``'s object, or None: a ``LaneObject`` with ``x``,
      ``y``, ``w``, ``h``, ``dx`` (px per step), ``lane`` and ``kind``: "lyre",
      "reward" (worth points) or "points" (a collected object's points, harmless).
    - ``objects.lyres`` and ``objects.rewards``: those lane objects, top lane first.
    - ``objects.score``, ``objects.lives``.

    Return an action name: "NOOP", "UP", "RIGHT", "LEFT", "DOWN", "UPRIGHT", "UPLEFT",
    "DOWNRIGHT" or "DOWNLEFT".
    """
    return "NOOP"
