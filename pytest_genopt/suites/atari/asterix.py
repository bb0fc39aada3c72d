"""Asterix's objects, read from the Atari's RAM (a shipped game, see :mod:`.shipped`).

The agent is Asterix, in one of eight horizontal lanes between the top and bottom
walls; each lane carries one object at a time sliding across the screen: a lyre (an
enemy: touching it costs a life) or an object worth points (cauldrons of magic potion
first, worth 50; a collected one shows its points for a moment).  Asterix moves
between lanes and left or right.  Actions: 0 NOOP, 1 UP, 2 RIGHT, 3 LEFT, 4 DOWN, 5
UPRIGHT, 6 UPLEFT, 7 DOWNRIGHT, 8 DOWNLEFT.

Addresses (checked against the rendered frames by ``tests/atari/test_asterix.py``):
Asterix's lane = ``ram[39]`` (0 = top), its left edge ``x = ram[41]``, its death timer
``ram[71]`` (non-zero from the step a lyre touches it, counting down); lane ``i``'s
object: left edge ``x = ram[42 + i]``, sprite ``ram[18 - i]`` (204 or 216: a lyre, 12:
points shown, 11: nothing, otherwise an object worth points; 108 is the cauldron);
score = BCD ``ram[94..96]``, lives = ``ram[83] & 15``.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple, TypeAlias

from pytest_genopt.suites.atari.games import Event, GameEvents, Step

__all__ = [
    "ASTERIX_BOUNDS",
    "ASTERIX_LANES",
    "LANE_H",
    "LANE_Y0",
    "Asterix",
    "AsterixObjects",
    "AsterixState",
    "LaneObject",
    "LaneObjectKind",
    "asterix_notes",
    "asterix_registration",
    "compact_asterix",
    "extract_asterix",
    "touched_a_lyre",
]

#: Number of lanes; lane 0 is the top one, lane 7 the bottom one.
ASTERIX_LANES = 8
#: Top pixel row of the sprites of lane 0; lane ``i``'s sprites start at
#: ``LANE_Y0 + LANE_H * i`` and are 11 rows high.
LANE_Y0 = 26
#: Rows from one lane to the next.
LANE_H = 16
_LANES = tuple(range(ASTERIX_LANES))
_LYRES = frozenset((204, 216))
_POINTS, _EMPTY = 12, 11
#: Objects slide 4 px per step at first (7 seen once at an edge); a larger jump is a
#: new object.
_MAX_DX = 16

AsterixState: TypeAlias = Literal["alive", "hit"]
LaneObjectKind: TypeAlias = Literal["lyre", "reward", "points"]


class Asterix(NamedTuple):
    """The agent, an 8 x 11 px box in lane ``lane`` (``y == 26 + 16 * lane``).

    ``x`` is its left edge (about 20..128); LEFT and RIGHT move it 4 to 8 px per step,
    UP and DOWN one lane.  ``state``: ``"alive"`` or ``"hit"`` (a lyre touched it: it
    is drawn 16 px wide for ~12 steps, ignores the joystick, and the lives counter
    drops about 30 steps later).
    """

    x: int
    y: int
    w: int
    h: int
    dx: int
    dy: int
    lane: int
    state: AsterixState

    @property
    def cx(self) -> float:
        """Horizontal centre in pixels."""
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        """Vertical centre in pixels."""
        return self.y + self.h / 2


class LaneObject(NamedTuple):
    """The object of lane ``lane``, an 8 x 11 px box at ``y == 26 + 16 * lane``.

    ``kind``: ``"lyre"`` (an enemy: touching it costs a life), ``"reward"`` (worth
    points when Asterix touches it) or ``"points"`` (a collected object's points, shown
    for a moment; harmless).  ``dx`` is the motion since the previous step (0 when the
    lane's object just changed or came in anew at an edge).  The drawn sprite is
    sometimes 1 px right of ``x``.
    """

    x: int
    y: int
    w: int
    h: int
    dx: int
    dy: int
    lane: int
    kind: LaneObjectKind

    @property
    def cx(self) -> float:
        """Horizontal centre in pixels."""
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        """Vertical centre in pixels."""
        return self.y + self.h / 2


class AsterixObjects(NamedTuple):
    """Everything on an Asterix screen.

    Attributes:
        asterix: the agent.
        lanes: one entry per lane (0 = top), the lane's object or None when it is empty.
        score: points so far (equals the sum of rewards since reset).
        lives: lives left, the one being played included.
    """

    asterix: Asterix
    lanes: tuple[LaneObject | None, ...]
    score: int
    lives: int

    @property
    def lyres(self) -> list[LaneObject]:
        """The lyres (the enemies) on screen, top lane first."""
        return [o for o in self.lanes if o is not None and o.kind == "lyre"]

    @property
    def rewards(self) -> list[LaneObject]:
        """The objects worth points on screen, top lane first."""
        return [o for o in self.lanes if o is not None and o.kind == "reward"]


def _kind(sprite: int) -> LaneObjectKind | None:
    if sprite in _LYRES:
        return "lyre"
    if sprite == _POINTS:
        return "points"
    return None if sprite == _EMPTY else "reward"


def _bcd(byte: int) -> int:
    return (byte >> 4) * 10 + (byte & 0x0F)


def _lane_object(r: bytes, lane: int, prev: AsterixObjects | None) -> LaneObject | None:
    kind = _kind(r[18 - lane])
    if kind is None:
        return None
    x = r[42 + lane]
    before = None if prev is None else prev.lanes[lane]
    dx = 0 if before is None or before.kind != kind else x - before.x
    if abs(dx) > _MAX_DX:
        dx = 0  # a new object came in at the other edge
    return LaneObject(x, LANE_Y0 + LANE_H * lane, 8, 11, dx, 0, lane, kind)


def extract_asterix(ram: Any, prev: AsterixObjects | None = None) -> AsterixObjects:
    """Read the Asterix objects from RAM (``bytes`` or a uint8 array; see the module)."""
    r = ram if isinstance(ram, bytes) else bytes(ram)
    lane, x = r[39] % ASTERIX_LANES, r[41]
    y = LANE_Y0 + LANE_H * lane
    pa = None if prev is None else prev.asterix
    dx, dy = (0, 0) if pa is None else (x - pa.x, y - pa.y)
    asterix = Asterix(x, y, 8, 11, dx, dy, lane, "hit" if r[71] else "alive")
    lanes = tuple(_lane_object(r, i, prev) for i in _LANES)
    score = _bcd(r[94]) * 10_000 + _bcd(r[95]) * 100 + _bcd(r[96])
    return AsterixObjects(asterix, lanes, score, r[83] & 0x0F)


def touched_a_lyre(before: AsterixObjects, after: AsterixObjects) -> bool:
    """The step a lyre touches Asterix (its death timer starts; the lives counter drops
    ~30 steps later)."""
    return after.asterix.state == "hit" and before.asterix.state != "hit"


def asterix_notes(step: Step) -> str | None:
    """What cost the life (the lyre and its lane) or what was collected (lane, points)."""
    before, after, reward = step.before, step.after, step.reward
    hero = before.asterix
    if touched_a_lyre(before, after):
        lyre = before.lanes[hero.lane]
        where = "" if lyre is None else f" (x {lyre.x}, dx {lyre.dx})"
        return f"touched the lyre of lane {hero.lane}{where}; Asterix at x {hero.x}"
    if reward > 0:
        return f"+{reward:g} in lane {hero.lane} at x {hero.x}"
    return None


def compact_asterix(objects: AsterixObjects) -> dict[str, Any]:
    """A traced step: ``asterix={x, lane, state}``, ``lanes=[{kind, x, dx} or None, ...]``
    (lane 0 first), ``score``, ``lives``."""
    a = objects.asterix
    return {
        "asterix": {"x": a.x, "lane": a.lane, "state": a.state},
        "lanes": [
            None if o is None else {"kind": o.kind, "x": o.x, "dx": o.dx} for o in objects.lanes
        ],
        "score": objects.score,
        "lives": objects.lives,
    }


#: Asterix over 1,000 steps (the quick protocol): standing still scores 200, the task's
#: skeleton 800 .. 3,300 (measured over its 8 seeds), so 5,000 leaves room above.
ASTERIX_BOUNDS = (0.0, 5000.0)


def asterix_registration() -> dict[str, Any]:
    """The keyword arguments :mod:`.shipped` registers Asterix with: lives (the step a
    lyre touches Asterix counts as the lost life), and objects collected for points."""
    return {
        "env_id": "ALE/Asterix-v5",
        "extract": extract_asterix,
        "events": GameEvents(
            scored=Event("collected an object", "{n} object collected", "{n} objects collected"),
            life_lost=Event("lost life", "lost {n} life", "lost {n} lives"),
            life_seen=touched_a_lyre,
        ),
        "step_fields": compact_asterix,
        "score_bounds": ASTERIX_BOUNDS,
        "notes": asterix_notes,
    }
