"""Typed game objects read straight from the Atari 2600's 128 bytes of RAM.

Every position is in pixels of the 160 x 210 RGB frame that ``gymnasium``/ALE renders
(``AtariEnv.rgb()``): the origin is the top-left corner, ``x`` grows to the right and
``y`` grows *downwards*.  Each object has a bounding box ``x, y, w, h`` (``x, y`` is the
top-left pixel of the box, ``w, h`` its width and height) and a velocity ``dx, dy``: the
change of ``x`` and ``y`` since the previous frame returned by the environment, in pixels
per agent step (one step = ``frameskip`` emulator frames, 4 by default).  Velocities are
0 on the first frame after ``reset()`` and on the first frame an object appears.

Every RAM address below was checked against rendered frames (see ``tests/atari``); the
RAM-to-pixel offsets are calibrated so that the boxes match what is drawn.

The extraction functions take the RAM as ``bytes`` (``ram.tobytes()``) or a uint8 array,
plus the objects of the previous frame (for velocities), and are pure apart from small
single-entry caches for the slowly changing brick wall and shields.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, NamedTuple, TypeAlias

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np
    import numpy.typing as npt

    RamLike: TypeAlias = bytes | npt.NDArray[np.uint8]

__all__ = [
    "BREAKOUT_BRICK_COLS",
    "BREAKOUT_BRICK_H",
    "BREAKOUT_BRICK_ROWS",
    "BREAKOUT_BRICK_W",
    "BREAKOUT_BRICK_X0",
    "BREAKOUT_BRICK_Y0",
    "EXTRACTORS",
    "Alien",
    "BreakoutBall",
    "BreakoutObjects",
    "BreakoutPaddle",
    "Bullet",
    "GameObjects",
    "InvadersPlayer",
    "PongBall",
    "PongObjects",
    "PongPaddle",
    "Shield",
    "SpaceInvadersObjects",
    "extract_breakout",
    "extract_pong",
    "extract_space_invaders",
]


_tuple_new = tuple.__new__


def _as_bytes(ram: RamLike) -> bytes:
    if isinstance(ram, bytes):
        return ram
    return ram.tobytes()


def _bcd(value: int) -> int:
    """Decode one packed binary-coded-decimal byte (0x42 -> 42)."""
    return (value >> 4) * 10 + (value & 0x0F)


# --------------------------------------------------------------------------------------
# Pong
# --------------------------------------------------------------------------------------

#: First and last+1 screen rows of the Pong playfield (between the two white walls).
PONG_TOP = 34
PONG_BOTTOM = 194


class PongBall(NamedTuple):
    """The Pong ball, 2 x 4 pixels.

    ``x, y`` is the top-left pixel (origin top-left of the 160 x 210 frame, y down);
    ``w == 2``, ``h == 4``.  The ball moves in the playfield rows ``34 <= y < 194``,
    bouncing off the white walls above and below (it dips up to 4 px into a wall, so
    ``y`` ranges over about 30..193, and is hidden while inside it); ``x`` ranges over
    about 3..157.  It meets the player's paddle (x 140..143) on the right and the enemy's
    paddle (x 16..19) on the left.  ``dx, dy`` are pixels per step; ``dx > 0`` means it
    moves towards the player (right), ``dy > 0`` means down.  Against the rendered frames
    ``x`` is exact and ``y`` is exact in ~88% of frames and 1 px too low otherwise.
    """

    x: int
    y: int
    w: int
    h: int
    dx: int
    dy: int

    @property
    def cx(self) -> float:
        """Horizontal centre in pixels."""
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        """Vertical centre in pixels."""
        return self.y + self.h / 2


class PongPaddle(NamedTuple):
    """A Pong paddle: the visible part of a 4 x 16 pixel bar.

    ``x`` is the left edge (140 for the player's green paddle on the right, 16 for the
    enemy's orange paddle on the left); ``y`` is the TOP edge of the visible paddle and
    ``h`` its visible height: 16 normally, less when the paddle is pushed partly behind
    the top or bottom wall (the box is clipped to the playfield rows ``34 <= y < 194``;
    ``h == 0`` only while the paddle is entirely hidden, e.g. at the very start).  The
    centre is ``y + h / 2``.  Paddles move vertically only (``dx == 0``); ``dy > 0`` means
    moving down.  The player's paddle has momentum: it keeps sliding for a few steps.
    """

    x: int
    y: int
    w: int
    h: int
    dx: int
    dy: int

    @property
    def cx(self) -> float:
        """Horizontal centre in pixels."""
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        """Vertical centre in pixels."""
        return self.y + self.h / 2


class PongObjects(NamedTuple):
    """Everything on a Pong screen.

    The agent controls ``player``, the GREEN paddle on the RIGHT (x 140..143).  ``enemy``
    is the computer's ORANGE paddle on the LEFT (x 16..19).  The playfield spans rows
    ``34 <= y < 194`` (white walls above and below).  Actions: 0 NOOP, 1 FIRE (no effect),
    2 RIGHT = move the paddle UP (y decreases), 3 LEFT = move it DOWN, 4 RIGHTFIRE = up,
    5 LEFTFIRE = down.  The player scores a point when the ball leaves the screen on the
    left, the enemy when it leaves on the right; first to 21 wins.

    Attributes:
        ball: the ball, or ``None`` between points (while it is not drawn).
        player: the agent's paddle (right, green).
        enemy: the opponent's paddle (left, orange).
        player_score: points won by the agent (0..21).
        enemy_score: points won by the opponent (0..21).
    """

    ball: PongBall | None
    player: PongPaddle
    enemy: PongPaddle
    player_score: int
    enemy_score: int


def _pong_paddle(x: int, top: int, prev: PongPaddle | None) -> PongPaddle:
    y = max(top, PONG_TOP)
    bottom = min(top + 16, PONG_BOTTOM)
    if bottom <= y:
        y = min(y, PONG_BOTTOM)
        h = 0
    else:
        h = bottom - y
    if prev is None:
        return PongPaddle(x, y, 4, h, 0, 0)
    return PongPaddle(x, y, 4, h, 0, y - prev.y)


def extract_pong(ram: RamLike, prev: PongObjects | None = None) -> PongObjects:
    """Read the Pong objects from RAM.

    Addresses (verified against the rendered frames): ball x = ram[49] - 49,
    ball y = ram[54] - 14 (0 = no ball), player paddle top = (ram[51] - 13) rounded down
    to an even row, enemy paddle top = ram[50] - 15, enemy score = ram[13],
    player score = ram[14].
    """
    r = _as_bytes(ram)
    ball: PongBall | None = None
    if r[54] != 0:
        bx = r[49] - 49
        by = r[54] - 14
        pb = None if prev is None else prev.ball
        if pb is None:
            ball = PongBall(bx, by, 2, 4, 0, 0)
        else:
            ball = PongBall(bx, by, 2, 4, bx - pb.x, by - pb.y)
    player = _pong_paddle(140, (r[51] - 13) & ~1, None if prev is None else prev.player)
    enemy = _pong_paddle(16, r[50] - 15, None if prev is None else prev.enemy)
    return PongObjects(ball, player, enemy, r[14], r[13])


# --------------------------------------------------------------------------------------
# Breakout
# --------------------------------------------------------------------------------------

#: Brick wall geometry (pixels): 6 rows x 18 columns of 8 x 6 bricks.
BREAKOUT_BRICK_ROWS = 6
BREAKOUT_BRICK_COLS = 18
BREAKOUT_BRICK_X0 = 8
BREAKOUT_BRICK_Y0 = 57
BREAKOUT_BRICK_W = 8
BREAKOUT_BRICK_H = 6
_BREAKOUT_ROW_POINTS = (7, 7, 4, 4, 1, 1)

# For brick column c: (RAM byte group, bit mask).  Byte ``6 * group + (5 - row)``
# holds the bricks of one row; each 8-pixel brick is two 4-pixel playfield bits.
_BRICK_COLUMN_BITS: tuple[tuple[int, int], ...] = (
    (5, 0xC0),
    (4, 0xC0),
    (4, 0x30),
    (4, 0x0C),
    (4, 0x03),
    (3, 0x03),
    (3, 0x0C),
    (3, 0x30),
    (3, 0xC0),
    (2, 0x30),
    (2, 0xC0),
    (1, 0xC0),
    (1, 0x30),
    (1, 0x0C),
    (1, 0x03),
    (0, 0x03),
    (0, 0x0C),
    (0, 0x30),
)


class BreakoutBall(NamedTuple):
    """The Breakout ball, 2 x 4 pixels (same red as the paddle).

    ``x, y`` is its top-left pixel (origin top-left, y down), ``w == 2``, ``h == 4``.
    The playfield is ``8 <= x < 152`` between the grey side walls and ``32 <= y`` below
    the grey top wall.  The paddle occupies rows 189..192: a ball that falls past it is
    lost (the ball becomes ``None`` once ``y >= 196``).  ``dx, dy`` are pixels per step
    (``dy > 0`` = falling towards the paddle).  The ball is hidden (drawn behind) where
    it overlaps a brick.
    """

    x: int
    y: int
    w: int
    h: int
    dx: int
    dy: int

    @property
    def cx(self) -> float:
        """Horizontal centre in pixels."""
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        """Vertical centre in pixels."""
        return self.y + self.h / 2


class BreakoutPaddle(NamedTuple):
    """The Breakout paddle (red bar at the bottom).

    ``x`` is its LEFT edge, ``y == 189`` its top edge, ``h == 4``; ``w`` is 16 normally
    and shrinks to 12 after the ball has hit the top wall.  ``x`` ranges from 8 (touching
    the left wall) to 144 (its right end then hides behind the right wall at x >= 152).
    The centre is ``x + w / 2``.  ``dx > 0`` means moving right; ``dy == 0``.
    """

    x: int
    y: int
    w: int
    h: int
    dx: int
    dy: int

    @property
    def cx(self) -> float:
        """Horizontal centre in pixels."""
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        """Vertical centre in pixels."""
        return self.y + self.h / 2


class BreakoutObjects(NamedTuple):
    """Everything on a Breakout screen.

    Actions: 0 NOOP, 1 FIRE (launches a new ball when none is in play), 2 RIGHT (paddle
    moves right, x increases), 3 LEFT.  The wall is 6 rows x 18 columns of 8 x 6 pixel
    bricks: brick ``(row, col)`` covers ``x = 8 + 8 * col``, ``y = 57 + 6 * row``
    (row 0 = top, red; row 5 = bottom, blue); see :meth:`brick_box`.  Breaking a brick in
    rows 0-1 scores 7, rows 2-3 score 4 and rows 4-5 score 1.

    Attributes:
        ball: the ball, or ``None`` when no ball is in play (before FIRE, after a miss).
        paddle: the agent's paddle.
        bricks: ``bricks[row][col]`` is True while that brick remains (6 x 18 booleans).
        score: the game's score (equals the sum of rewards since reset).
        lives: balls left, as shown at the top (5 at the start; equals ``info["lives"]``).
    """

    ball: BreakoutBall | None
    paddle: BreakoutPaddle
    bricks: tuple[tuple[bool, ...], ...]
    score: int
    lives: int

    @staticmethod
    def brick_box(row: int, col: int) -> tuple[int, int, int, int]:
        """Pixel box ``(x, y, w, h)`` of brick ``(row, col)`` (row 0 = top)."""
        return (
            BREAKOUT_BRICK_X0 + BREAKOUT_BRICK_W * col,
            BREAKOUT_BRICK_Y0 + BREAKOUT_BRICK_H * row,
            BREAKOUT_BRICK_W,
            BREAKOUT_BRICK_H,
        )

    @staticmethod
    def brick_points(row: int) -> int:
        """Points scored for breaking a brick in ``row`` (0 = top row)."""
        return _BREAKOUT_ROW_POINTS[row]

    @property
    def bricks_left(self) -> int:
        """Number of bricks remaining."""
        return sum(sum(row) for row in self.bricks)


_brick_cache: list[tuple[bytes, tuple[tuple[bool, ...], ...]]] = []


def _breakout_bricks(r: bytes) -> tuple[tuple[bool, ...], ...]:
    key = r[:36]
    if _brick_cache and _brick_cache[0][0] == key:
        return _brick_cache[0][1]
    grid = tuple(
        tuple(bool(key[6 * group + 5 - row] & mask) for group, mask in _BRICK_COLUMN_BITS)
        for row in range(BREAKOUT_BRICK_ROWS)
    )
    _brick_cache[:] = [(key, grid)]
    return grid


def extract_breakout(ram: RamLike, prev: BreakoutObjects | None = None) -> BreakoutObjects:
    """Read the Breakout objects from RAM.

    Addresses (verified against the rendered frames): bricks = ram[0:36] (one byte per
    row and 4-pixel column group, two bits per brick), lives = ram[57], paddle x =
    ram[72] - 47, paddle graphics = ram[55] (4 pixels per set bit: 0xF0 = 16 px wide),
    score = BCD ram[76] (hundreds) and ram[77], ball x = ram[99] - 49,
    ball y = ram[101] + 9 (0 = no ball; below row 195 the ball is lost and not drawn).
    """
    r = _as_bytes(ram)
    ball: BreakoutBall | None = None
    if r[101] != 0 and r[101] + 9 < 196:
        bx = r[99] - 49
        by = r[101] + 9
        pb = None if prev is None else prev.ball
        if pb is None:
            ball = BreakoutBall(bx, by, 2, 4, 0, 0)
        else:
            ball = BreakoutBall(bx, by, 2, 4, bx - pb.x, by - pb.y)
    gfx = r[55]
    px = r[72] - 47 + 4 * (8 - gfx.bit_length())
    pw = 4 * gfx.bit_count()
    pp = None if prev is None else prev.paddle
    paddle = BreakoutPaddle(px, 189, pw, 4, 0 if pp is None else px - pp.x, 0)
    score = _bcd(r[76]) * 100 + _bcd(r[77])
    return BreakoutObjects(ball, paddle, _breakout_bricks(r), score, r[57])


# --------------------------------------------------------------------------------------
# Space Invaders
# --------------------------------------------------------------------------------------

_SHIELD_X = (42, 74, 106)
_SHIELD_Y = 157
_ALIEN_POINTS = (30, 25, 20, 15, 10, 5)
_GROUND_Y = 195

PlayerState: TypeAlias = Literal["active", "spawning", "exploding"]


class InvadersPlayer(NamedTuple):
    """The agent's green laser cannon at the bottom of the Space Invaders screen.

    ``x`` is its left edge, ``y == 185`` its top, ``w == 7``, ``h == 10``; the barrel is
    the centre column ``x + 3``; a new shot starts in column ``x + 4`` (+-1).  It moves
    only horizontally, within ``34 <= x <= 116``; ``dx > 0`` = moving right.  ``state``
    is ``"active"`` (can move and shoot), ``"spawning"`` (blinking at the start of a
    life, cannot move yet) or ``"exploding"`` (just hit by an alien shot; ``lives``
    drops when the explosion ends).
    """

    x: int
    y: int
    w: int
    h: int
    dx: int
    dy: int
    state: PlayerState

    @property
    def cx(self) -> float:
        """Horizontal centre in pixels."""
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        """Vertical centre in pixels."""
        return self.y + self.h / 2


class Alien(NamedTuple):
    """One living invader, an 8 x 10 pixel sprite.

    ``x, y`` is its top-left pixel (origin top-left, y down).  Invaders form a grid of up
    to 6 rows x 6 columns that moves as a block: ``row`` 0 is the top row (worth 30
    points), row 5 the bottom row (worth 5); ``col`` 0 is the leftmost column.  Neighbours
    are 16 px apart horizontally and 18 px vertically.  The block marches sideways and
    steps down 10 px at each edge; ``dx, dy`` is that motion per step.  (Some animation
    frames are drawn 1 px lower and 9 px tall.)
    """

    x: int
    y: int
    w: int
    h: int
    dx: int
    dy: int
    row: int
    col: int
    points: int

    @property
    def cx(self) -> float:
        """Horizontal centre in pixels."""
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        """Vertical centre in pixels."""
        return self.y + self.h / 2


class Bullet(NamedTuple):
    """A shot in flight: a 1 x 8 pixel vertical line.

    ``x`` is its column, ``y`` its top.  ``from_player`` is True for the agent's shot
    (moves UP, ``dy == -8`` per step at frameskip 4; only one at a time) and False for
    an alien shot (moves DOWN, ``dy == +4`` per step at frameskip 4; up to two at a
    time).  ``slot`` identifies the shot: 0 and 1 are alien shots, 2 the player's.  The
    drawn streak's ends jitter by up to 4 px.  Alien shots hit the cannon at rows
    185..194.  Note: the game draws alien shots only on odd emulator frames and the
    player's shot only on even ones, so with an even frameskip alien shots never appear
    in the RGB frames although they are real (they are read from RAM here).
    """

    x: int
    y: int
    w: int
    h: int
    dx: int
    dy: int
    from_player: bool
    slot: int

    @property
    def cx(self) -> float:
        """Horizontal centre in pixels."""
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        """Vertical centre in pixels."""
        return self.y + self.h / 2


class Shield(NamedTuple):
    """One of the three orange shields (bunkers) above the cannon.

    ``x, y, w, h`` is the shield's fixed 8 x 18 pixel footprint: x is 42, 74 or 106,
    ``y == 157`` (so it spans rows 157..174).  Shields never move (``dx == dy == 0``) but
    erode: ``cells[i]`` is an 8-bit mask for pixel rows ``y + 2 * i`` and
    ``y + 2 * i + 1`` (i = 0..8), bit 7 (0x80) being the leftmost column ``x``; a set bit
    means that 1 x 2 pixel cell still blocks shots.  ``number`` is 0 (left), 1 or 2.
    """

    x: int
    y: int
    w: int
    h: int
    dx: int
    dy: int
    number: int
    cells: tuple[int, ...]

    @property
    def cells_left(self) -> int:
        """How many 1 x 2 pixel cells remain (72 for an intact shield)."""
        return sum(c.bit_count() for c in self.cells)

    def covers(self, x: int) -> bool:
        """True if some cell still remains in screen column ``x``."""
        bit = 7 - (x - self.x)
        return 0 <= bit <= 7 and any(c >> bit & 1 for c in self.cells)


class SpaceInvadersObjects(NamedTuple):
    """Everything on a Space Invaders screen.

    Actions: 0 NOOP, 1 FIRE, 2 RIGHT, 3 LEFT, 4 RIGHTFIRE, 5 LEFTFIRE.  The agent's
    cannon sits at rows 185..194 above the ground (row 195); the invaders start at rows
    31..130 and step down over time; shields occupy rows 157..174.  Shooting an invader
    scores 5 (bottom row) to 30 (top row) points.

    Attributes:
        player: the agent's cannon.
        aliens: living invaders, ordered by row (top first) then column.
        bullets: shots in flight (alien shots and the player's), ordered by ``slot``.
        shields: remaining shields (destroyed ones are omitted; all vanish once the
            invaders have descended to their height).
        score: the agent's score (equals the sum of rewards since reset).
        lives: lives left (3 at the start; equals ``info["lives"]``).
    """

    player: InvadersPlayer
    aliens: tuple[Alien, ...]
    bullets: tuple[Bullet, ...]
    shields: tuple[Shield, ...]
    score: int
    lives: int


_shield_cache: list[tuple[bytes, tuple[Shield, ...]]] = []


def _invaders_shields(r: bytes) -> tuple[Shield, ...]:
    key = r[43:70] + (b"\x01" if r[24] & 0x40 else b"\x00")
    if _shield_cache and _shield_cache[0][0] == key:
        return _shield_cache[0][1]
    shields: tuple[Shield, ...] = ()
    if key[27]:
        shields = tuple(
            Shield(_SHIELD_X[i], _SHIELD_Y, 8, 18, 0, 0, i, tuple(key[9 * i : 9 * i + 9]))
            for i in range(3)
            if any(key[9 * i : 9 * i + 9])
        )
    _shield_cache[:] = [(key, shields)]
    return shields


def _invaders_bullet(
    x_raw: int, y_raw: int, slot: int, prev: SpaceInvadersObjects | None
) -> Bullet | None:
    if y_raw == 246:
        return None
    y = 2 * y_raw + 4
    if y >= _GROUND_Y:
        return None
    x = x_raw - 2
    from_player = slot == 2
    if prev is not None:
        for pb in prev.bullets:
            if pb.slot == slot:
                dy = y - pb.y
                # Shots fly straight up or down: a slot reused by a new shot within one
                # step shows up as a change of column or a move in the wrong direction.
                if pb.x == x and dy != 0 and (dy < 0) == from_player:
                    return Bullet(x, y, 1, 8, 0, dy, from_player, slot)
                break
    return Bullet(x, y, 1, 8, 0, 0, from_player, slot)


class _AlienCache:
    """Remembers the last alien tuple so an unchanged block costs one comparison."""

    key: bytes = b""
    returned: tuple[Alien, ...] | None = None
    still: tuple[Alien, ...] | None = None


def _invaders_aliens(r: bytes, prev: tuple[Alien, ...] | None) -> tuple[Alien, ...]:
    key = r[16:27]
    cache = _AlienCache
    if prev is not None and prev is cache.returned and key == cache.key:
        # Same block as in the previous frame: same aliens, standing still.
        if cache.still is None:
            cache.still = tuple(
                _tuple_new(Alien, (a[0], a[1], 8, 10, 0, 0, a[6], a[7], a[8])) for a in prev
            )
        cache.returned = cache.still
        return cache.still
    gx = r[26] - 1
    gy = 31 + 2 * r[16]
    # Velocity of the block: compare with any alien of the previous frame.
    gdx = gdy = 0
    alive = 0
    for row in range(6):
        alive |= r[23 - row] << (6 * row)
    prev_alive = 0
    if prev:
        a0 = prev[0]
        gdx = gx - (a0.x - 16 * a0.col)
        gdy = gy - (a0.y - 18 * a0.row)
        for a in prev:
            prev_alive |= 1 << (6 * a.row + a.col)
        if alive & ~prev_alive:  # invaders never revive: a new wave has started
            prev_alive = 0
    aliens: list[Alien] = []
    for row in range(6):
        bits = r[23 - row]
        if not bits:
            continue
        y = gy + 18 * row
        pts = _ALIEN_POINTS[row]
        for col in range(6):
            if bits >> col & 1:
                if prev_alive >> (6 * row + col) & 1:
                    fields = (gx + 16 * col, y, 8, 10, gdx, gdy, row, col, pts)
                else:
                    fields = (gx + 16 * col, y, 8, 10, 0, 0, row, col, pts)
                aliens.append(_tuple_new(Alien, fields))
    result = tuple(aliens)
    cache.key = key
    cache.returned = result
    cache.still = None if (gdx or gdy or prev_alive != alive) else result
    return result


def extract_space_invaders(
    ram: RamLike, prev: SpaceInvadersObjects | None = None
) -> SpaceInvadersObjects:
    """Read the Space Invaders objects from RAM.

    Addresses (verified against the rendered frames): alien block y = 31 + 2 * ram[16],
    alien rows alive = ram[18..23] (bottom row first, bit c = column c), alien block
    x = ram[26] - 1, player x = ram[28] - 1, shield visibility = ram[24] bit 6, player
    state = ram[42] (0 active, 1 spawning, 4 exploding), shield cells = ram[43..69]
    (9 bytes per shield), lives = ram[73], alien shots y/x = ram[81..82] / ram[83..84]
    and player shot y/x = ram[85] / ram[87] (pixel y = 2 * value + 4, pixel x =
    value - 2, 246 = no shot), score = BCD ram[102] (hundreds) and ram[104].
    """
    r = _as_bytes(ram)
    status = r[42]
    state: PlayerState = "exploding" if status & 0x04 else "spawning" if status & 0x01 else "active"
    px = r[28] - 1
    pp = None if prev is None else prev.player
    player = InvadersPlayer(px, 185, 7, 10, 0 if pp is None else px - pp.x, 0, state)

    aliens = _invaders_aliens(r, None if prev is None else prev.aliens)

    bullets: tuple[Bullet, ...] = ()
    if r[81] != 246 or r[82] != 246 or r[85] != 246:
        bullets = tuple(
            b
            for b in (
                _invaders_bullet(r[83], r[81], 0, prev),
                _invaders_bullet(r[84], r[82], 1, prev),
                _invaders_bullet(r[87], r[85], 2, prev),
            )
            if b is not None
        )
    score = _bcd(r[102]) * 100 + _bcd(r[104])
    return SpaceInvadersObjects(player, aliens, bullets, _invaders_shields(r), score, r[73])


#: Any game's objects.
GameObjects: TypeAlias = PongObjects | BreakoutObjects | SpaceInvadersObjects

#: Extraction function per game name (the keys of ``env.GAMES``); each is called as
#: ``extract(ram_bytes, previous_objects_or_None)``.
EXTRACTORS: dict[str, Callable[..., GameObjects]] = {
    "pong": extract_pong,
    "breakout": extract_breakout,
    "space_invaders": extract_space_invaders,
}
