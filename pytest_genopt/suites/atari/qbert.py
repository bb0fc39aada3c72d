"""Q*bert's objects, read from the Atari's RAM (a shipped game, see :mod:`.shipped`).

Q*bert hops from cube to cube of a six-row pyramid (21 cubes); landing on a cube that is
not yet the target colour changes it and scores 25 points.  Balls drop from the top and
bounce down, the purple ball turns into Coily (who chases Q*bert) and Sam (green)
changes cubes back.  Jumping off the pyramid or touching a ball or Coily loses a life;
there are 4 lives.  Actions: 0 NOOP, 1 FIRE, 2 UP (up-right), 3 RIGHT (down-right),
4 LEFT (up-left), 5 DOWN (down-left); a jump takes ~8 steps of 4 frames.

Pyramid coordinates: ``row`` 0 (top) .. 5, ``col`` 0 .. ``row`` from the left.  The
game's own horizontal index is the half-cube ``u = 2 col - row + 5`` (0..10), drawn at
``PYRAMID_X[u]``.

Addresses (checked against the rendered frames by ``tests/atari/test_qbert.py``):
Q*bert's x = ``ram[43] - 3`` (standing: ``PYRAMID_X[u]``), standing height ``ram[67] =
25 + 28 row``, falling off ``ram[59] == 255``; each of the rows 1..5 draws at most one
other sprite: its graphics pointer ``ram[92, 93, 94, 96, 95]`` (7 = nothing; 17 ball in
the air, 0 ball landed, 59/81/102 Coily, 38 Sam, 166 Q*bert's curse bubble) and its
half-cube ``u = ram[74 + row]``; cube colours ``ram[CUBE_ADDRESSES[i]]`` (148 at the
start, 26 once changed, on the first level); score = 6-digit BCD ``ram[89..91]``; lives
= ``(ram[8] + 2) % 256`` (ALE's count).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeAlias

if TYPE_CHECKING:
    from pytest_genopt.suites.atari.games import Step

__all__ = [
    "CUBE_ADDRESSES",
    "PYRAMID_X",
    "QBERT_ROWS",
    "Cube",
    "Enemy",
    "EnemyKind",
    "QbertObjects",
    "QbertPlayer",
    "QbertState",
    "compact_qbert",
    "cube_top_y",
    "extract_qbert",
    "qbert_notes",
]

QBERT_ROWS = 6
#: Left pixel of the sprites standing on half-cube ``u`` (Q*bert, Coily, Sam; a ball is
#: drawn 1 px right of it).  The step is 12 px except 16 px from 5 to 6.
PYRAMID_X = (13, 26, 38, 50, 62, 74, 90, 102, 114, 126, 138)
#: RAM address of each cube's colour, row by row from the top (row 0 first).
CUBE_ADDRESSES: tuple[int, ...] = (21, 52, 54, 83, 85, 87, 98, 100, 102, 104, 1, 3, 5, 7, 9)
CUBE_ADDRESSES += (32, 34, 36, 38, 40, 42)
#: The colour value of every cube at the start of the first level (0 before the first
#: frame is drawn).
_START_COLOUR = 148
#: Graphics pointer of the sprite drawn in rows 1..5 (row -> address).
_SPRITE = {1: 92, 2: 93, 3: 94, 4: 96, 5: 95}
#: Top pixel of an airborne ball or of Coily in rows 1..5.
_ROW_TOP = {1: 40, 2: 68, 3: 97, 4: 126, 5: 155}
_CUBE_TOPS = (34, 62, 91, 120, 149, 178)
#: Q*bert's top pixel standing on rows 0..5 (in the air: ``ram[67] - 6``, within 3 px).
_STANDING_TOP = (17, 47, 75, 105, 133, 163)
_NOTHING = 7
_CURSE = 166

EnemyKind: TypeAlias = Literal["ball", "coily", "sam", "other"]
QbertState: TypeAlias = Literal["standing", "jumping", "falling", "caught", "absent"]

#: sprite pointer -> (kind, airborne, top offset from the row's top, height, x offset)
_SPRITES: dict[int, tuple[EnemyKind, bool, int, int, int]] = {
    17: ("ball", True, 0, 9, 1),
    0: ("ball", False, 14, 6, 1),
    59: ("coily", False, 0, 21, 0),
    81: ("coily", False, 3, 18, 0),
    102: ("coily", False, 6, 15, 0),
    38: ("sam", False, 2, 18, 0),
}


def cube_top_y(row: int) -> int:
    """The top pixel row of the cubes of pyramid row ``row`` (their coloured top)."""
    return _CUBE_TOPS[row]


class QbertPlayer(NamedTuple):
    """Q*bert, an 8 x 19 px box (orange).

    ``row, col`` are his cube while he stands on it (None in mid-jump, falling, caught
    or absent).  ``state``: ``"standing"`` (he obeys the joystick), ``"jumping"``,
    ``"falling"`` (he jumped off the pyramid: a life is lost), ``"caught"`` (a ball or
    Coily touched him: his curse bubble shows, a life is lost) or ``"absent"`` (between
    lives).  ``x, y`` are his top-left pixel (exact while standing, ±3 px in the air);
    he is drawn 17 to 20 px tall as he moves.
    """

    x: int
    y: int
    w: int
    h: int
    dx: int
    dy: int
    row: int | None
    col: int | None
    state: QbertState

    @property
    def cx(self) -> float:
        """Horizontal centre in pixels."""
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        """Vertical centre in pixels."""
        return self.y + self.h / 2


class Enemy(NamedTuple):
    """A ball, Coily or Sam on pyramid row ``row`` (1..5) and cube column ``col``.

    A ball drops towards its cube (``airborne``) and then sits on it for a few steps
    before its next bounce down; Coily chases Q*bert; Sam (green) is harmless and
    changes cubes back.  Only rows 1..5 are read: a sprite on the bottom row is not.
    """

    kind: EnemyKind
    x: int
    y: int
    w: int
    h: int
    row: int
    col: int
    airborne: bool

    @property
    def cx(self) -> float:
        """Horizontal centre in pixels."""
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        """Vertical centre in pixels."""
        return self.y + self.h / 2


class Cube(NamedTuple):
    """One cube's coloured top, a 20 x 5 px box; ``done``: changed to the target colour."""

    row: int
    col: int
    x: int
    y: int
    w: int
    h: int
    done: bool


class QbertObjects(NamedTuple):
    """Everything on a Q*bert screen.

    Attributes:
        player: Q*bert.
        enemies: the balls, Coily and Sam on rows 1..5 (at most one per row).
        cubes: the 21 cubes, row by row from the top.
        score: points so far (equals the sum of rewards since reset).
        lives: lives left, the current one included.
    """

    player: QbertPlayer
    enemies: tuple[Enemy, ...]
    cubes: tuple[Cube, ...]
    score: int
    lives: int

    def cube_at(self, row: int, col: int) -> Cube | None:
        """The cube at ``row, col``, or None off the pyramid."""
        if not (0 <= row < QBERT_ROWS and 0 <= col <= row):
            return None
        return self.cubes[row * (row + 1) // 2 + col]

    def cubes_left(self) -> int:
        """Cubes not yet changed to the target colour."""
        return sum(not c.done for c in self.cubes)


def _cube(row: int, col: int, value: int) -> Cube:
    x = PYRAMID_X[2 * col - row + 5] - 6
    return Cube(row, col, x, _CUBE_TOPS[row], 20, 5, value not in (_START_COLOUR, 0))


def _bcd(b: int) -> int:
    return (b >> 4) * 10 + (b & 0x0F)


def _player(r: bytes, caught: bool, prev: QbertObjects | None) -> QbertPlayer:
    x, height = r[43] - 3, r[67]
    if not 16 < height < 210:
        state: QbertState = "absent"
    elif caught:
        state = "caught"
    elif r[59] == 255:
        state = "falling"
    else:
        state = "jumping"
    y = height - 6
    p = None if prev is None else prev.player
    dx, dy = (0, 0) if p is None else (x - p.x, y - p.y)
    row = col = None
    # standing: on a cube's spot and still (the frame is drawn a step after RAM lands)
    if state == "jumping" and (dx, dy) == (0, 0) and (height - 25) % 28 == 0 and x in PYRAMID_X:
        row, u = (height - 25) // 28, PYRAMID_X.index(x)
        if row < QBERT_ROWS and (u + row - 5) % 2 == 0 and 0 <= (u + row - 5) // 2 <= row:
            state, col = "standing", (u + row - 5) // 2
            y = _STANDING_TOP[row]
        else:
            row = None
    return QbertPlayer(x, y, 8, 19, dx, dy, row, col, state)


def _enemies(r: bytes) -> tuple[list[Enemy], bool]:
    enemies, caught = [], False
    for row, address in _SPRITE.items():
        sprite = r[address]
        if sprite == _NOTHING:
            continue
        if sprite == _CURSE:
            caught = True
            continue
        kind, airborne, top, height, shift = _SPRITES.get(sprite, ("other", False, 0, 9, 0))
        u = r[74 + row]
        x = PYRAMID_X[u] + shift if u < len(PYRAMID_X) else 0
        col = (u + row - 5) // 2
        w = 7 if kind == "ball" else 8
        enemies.append(Enemy(kind, x, _ROW_TOP[row] + top, w, height, row, col, airborne))
    return enemies, caught


def extract_qbert(ram: Any, prev: QbertObjects | None = None) -> QbertObjects:
    """Read the Q*bert objects from RAM (``bytes`` or a uint8 array; see the module)."""
    r = ram if isinstance(ram, bytes) else bytes(ram)
    enemies, caught = _enemies(r)
    cubes: list[Cube] = []
    for row in range(QBERT_ROWS):
        for col in range(row + 1):
            cubes.append(_cube(row, col, r[CUBE_ADDRESSES[len(cubes)]]))
    score = _bcd(r[89]) * 10000 + _bcd(r[90]) * 100 + _bcd(r[91])
    return QbertObjects(
        _player(r, caught, prev), tuple(enemies), tuple(cubes), score, (r[8] + 2) % 256
    )


def qbert_notes(step: Step) -> str | None:
    """What cost a life: the enemy that caught Q*bert (the nearest one), or a hop off
    the pyramid (from the last cube he stood on)."""
    before, after = step.before, step.after
    was, now = before.player, after.player
    if now.state == "caught" and was.state != "caught":
        if not before.enemies:
            return "caught"
        near = min(before.enemies, key=lambda e: abs(e.cx - was.cx) + abs(e.cy - was.cy))
        return f"caught by {near.kind} on row {near.row}, col {near.col}"
    if now.state == "falling" and was.state != "falling":
        return f"hopped off the pyramid at x {was.x}, y {was.y}"
    return None


def compact_qbert(objects: QbertObjects) -> dict[str, Any]:
    """A traced step: ``qbert={row, col, state}``, ``enemies=[{kind, row, col}, ...]``,
    ``cubes_left``, ``score``, ``lives``."""
    p = objects.player
    return {
        "qbert": {"row": p.row, "col": p.col, "state": p.state},
        "enemies": [{"kind": e.kind, "row": e.row, "col": e.col} for e in objects.enemies],
        "cubes_left": objects.cubes_left(),
        "score": objects.score,
        "lives": objects.lives,
    }
