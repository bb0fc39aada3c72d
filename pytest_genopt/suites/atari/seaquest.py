"""Seaquest's objects, read from the Atari's RAM (a shipped game, see :mod:`.shipped`).

The agent is a yellow submarine: it moves in all directions under water, shoots
torpedoes (FIRE) at the sharks and enemy submarines that cross the screen in four
lanes (20 points each in the first waves), picks up divers by touching them and
must surface before its oxygen runs out; surfacing with divers scores a bonus, with
six divers it empties the oxygen tank into points.  A collision, running out of
oxygen or surfacing with no diver loses a life.  Actions: the 18 of the full joystick
(``"FIRE"``, ``"UP"``, ``"DOWNLEFTFIRE"``, ...).

Addresses (checked against the rendered frames by ``tests/atari/test_seaquest.py``):
player ``x = ram[70]``, top ``y = ram[97] + 33`` (46 on the surface), facing left when
``ram[86]`` is non-zero; lane ``i`` (0 = top) of enemies: ``x = ram[33 - i]`` with up
to three copies ``16`` px apart, copy ``k`` alive when bit ``2 - k`` of
``ram[39 - i]`` is set; oxygen ``ram[102]`` (0..64, the bar's width in pixels),
divers collected ``ram[62]``, reserve submarines ``ram[59]``, score BCD
``ram[56..58]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeAlias

if TYPE_CHECKING:
    from pytest_genopt.suites.atari.games import Step

__all__ = [
    "ENEMY_H",
    "ENEMY_W",
    "LANE_H",
    "LANE_Y0",
    "MAX_OXYGEN",
    "SEAQUEST_LANES",
    "SURFACE_Y",
    "Enemy",
    "SeaquestObjects",
    "Submarine",
    "compact_seaquest",
    "extract_seaquest",
    "seaquest_notes",
]

#: Number of enemy lanes; lane 0 is the top one.
SEAQUEST_LANES = 4
#: Top row of lane 0's band; lane ``i``'s enemies swim in rows ``LANE_Y0 + LANE_H * i``
#: .. ``+ ENEMY_H - 1`` (a shark bobs up and down inside its band).
LANE_Y0 = 64
LANE_H = 24
ENEMY_W = 8
ENEMY_H = 13
#: The submarine's top row on the surface (where it takes in oxygen).
SURFACE_Y = 46
#: A full oxygen tank.
MAX_OXYGEN = 64
#: Enemies with a left edge beyond this column are off screen (the RAM keeps 0..255).
_VISIBLE = range(8, 160)
_COPIES = ((0, 4), (16, 2), (32, 1))  # (offset, bit of the lane's mask)

Facing: TypeAlias = Literal["left", "right"]


class Submarine(NamedTuple):
    """The agent's yellow submarine, a 16 x 11 px box (drawn 7-11 rows tall).

    ``y`` is its top: 46 on the surface (the start), up to 141 near the sea bed.
    ``dx, dy``: pixels moved since the previous step.  ``facing``: where its torpedoes
    go ("left" or "right").
    """

    x: int
    y: int
    w: int
    h: int
    dx: int
    dy: int
    facing: Facing

    @property
    def cx(self) -> float:
        """Horizontal centre in pixels."""
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        """Vertical centre in pixels."""
        return self.y + self.h / 2


class Enemy(NamedTuple):
    """A shark or an enemy submarine, 8 px wide, swimming across its lane.

    ``y == LANE_Y0 + LANE_H * lane`` is the top of its lane's 13-row band.  ``dx``: the
    lane's motion since the previous step (enemies of a lane move together; 0 on the
    first frame or when the lane wraps round).
    """

    x: int
    y: int
    w: int
    h: int
    dx: int
    dy: int
    lane: int

    @property
    def cx(self) -> float:
        """Horizontal centre in pixels."""
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        """Vertical centre in pixels."""
        return self.y + self.h / 2


class SeaquestObjects(NamedTuple):
    """Everything on a Seaquest screen that the policy needs.

    Attributes:
        player: the agent's submarine.
        enemies: the sharks and enemy submarines on screen, top lane first.
        oxygen: the oxygen left, 0..64 (64 = full; at 0 the submarine is lost).
        divers: divers collected (0..6; surfacing with one or more scores).
        score: points so far.
        lives: reserve submarines (3 at the start; the game ends when one is lost
            with none in reserve).
    """

    player: Submarine
    enemies: tuple[Enemy, ...]
    oxygen: int
    divers: int
    score: int
    lives: int

    def lane_of(self, y: float) -> int | None:
        """The enemy lane whose band holds row ``y``, or None between lanes."""
        lane = int((y - LANE_Y0) // LANE_H)
        if 0 <= lane < SEAQUEST_LANES and y - LANE_Y0 - LANE_H * lane < ENEMY_H:
            return lane
        return None


def _bcd(byte: int) -> int:
    return (byte >> 4) * 10 + (byte & 0x0F)


def _enemies(r: bytes, prev: SeaquestObjects | None) -> tuple[Enemy, ...]:
    out: list[Enemy] = []
    for lane in range(SEAQUEST_LANES):
        base, mask = r[33 - lane], r[39 - lane]
        top = LANE_Y0 + LANE_H * lane
        xs = [(base + off) % 256 for off, bit in _COPIES if mask & bit]
        xs = [x for x in xs if x in _VISIBLE]
        old = [] if prev is None else [e.x for e in prev.enemies if e.lane == lane]
        # a lane's copies move together: the smallest shift between two frames' copies
        moves = [x - o for x in xs for o in old if abs(x - o) <= 8]
        dx = min(moves, key=abs) if moves else 0
        out.extend(Enemy(x, top, ENEMY_W, ENEMY_H, dx, 0, lane) for x in xs)
    return tuple(out)


def extract_seaquest(ram: Any, prev: SeaquestObjects | None = None) -> SeaquestObjects:
    """Read the Seaquest objects from RAM (``bytes`` or a uint8 array; see the module)."""
    r = ram if isinstance(ram, bytes) else bytes(ram)
    x, y = r[70], r[97] + 33
    pp = None if prev is None else prev.player
    dx, dy = (0, 0) if pp is None else (x - pp.x, y - pp.y)
    player = Submarine(x, y, 16, 11, dx, dy, "left" if r[86] else "right")
    score = _bcd(r[56]) * 10_000 + _bcd(r[57]) * 100 + _bcd(r[58])
    return SeaquestObjects(player, _enemies(r, prev), r[102], r[62], score, r[59])


def seaquest_notes(step: Step) -> str | None:
    """The oxygen running out (a life is lost to it), a life lost otherwise (with the
    nearest enemy in the submarine's last frame), or points and the divers aboard."""
    before, after, reward = step.before, step.after, step.reward
    if before.oxygen > 0 and after.oxygen == 0 and after.player.y > SURFACE_Y:
        return f"the oxygen ran out at depth y {after.player.y} with {after.divers} diver(s)"
    if after.lives < before.lives:
        sub = before.player
        if before.oxygen == 0:
            return "out of oxygen"
        if not before.enemies:
            return f"oxygen {before.oxygen}, no enemy in sight"
        near = min(before.enemies, key=lambda e: abs(e.cx - sub.cx) + abs(e.cy - sub.cy))
        return (
            f"oxygen {before.oxygen}; nearest enemy in lane {near.lane}, "
            f"{_gap(near.cx - sub.cx)} px across, {_gap(near.cy - sub.cy)} px down"
        )
    if reward > 0:
        return f"+{reward:g} at depth y {after.player.y}, {after.divers} diver(s) aboard"
    return None


def _gap(value: float) -> str:
    return f"{round(value):+d}"


def compact_seaquest(objects: SeaquestObjects) -> dict[str, Any]:
    """A traced step: ``player={x, y, facing}``, ``enemies=[{lane, x, dx}, ...]``,
    ``oxygen``, ``divers``, ``score``, ``lives``."""
    p = objects.player
    return {
        "player": {"x": p.x, "y": p.y, "facing": p.facing},
        "enemies": [{"lane": e.lane, "x": e.x, "dx": e.dx} for e in objects.enemies],
        "oxygen": objects.oxygen,
        "divers": objects.divers,
        "score": objects.score,
        "lives": objects.lives,
    }
