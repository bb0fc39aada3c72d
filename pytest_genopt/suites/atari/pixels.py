"""Find objects in rendered Atari RGB frames by their colour.

This is the ground truth the RAM extraction in :mod:`.objects` is tested against, and a
starting point for supporting a new game: find each object's colour in a few frames,
locate it with :func:`find_boxes`, then look for the RAM bytes that track it.

Frames are ``(210, 160, 3)`` uint8 arrays as returned by ``AtariEnv.rgb()``.  Boxes use
the same convention as the objects: ``x, y`` is the top-left pixel (y grows downwards)
and ``w, h`` the size in pixels.  Regions are half-open ``(x0, y0, x1, y1)`` rectangles.
"""

from __future__ import annotations

from typing import NamedTuple, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = [
    "BREAKOUT_BALL",
    "BREAKOUT_PADDLE",
    "BREAKOUT_ROW_COLORS",
    "INVADERS_ALIEN",
    "INVADERS_BULLET",
    "INVADERS_PLAYER",
    "INVADERS_SHIELD",
    "PONG_BALL",
    "PONG_ENEMY",
    "PONG_PLAYER",
    "Box",
    "BreakoutPixels",
    "Color",
    "InvadersPixels",
    "PongPixels",
    "Region",
    "bounding_box",
    "color_mask",
    "find_boxes",
    "find_breakout",
    "find_pong",
    "find_space_invaders",
]

Color: TypeAlias = tuple[int, int, int]
Region: TypeAlias = tuple[int, int, int, int]
RGBFrame: TypeAlias = npt.NDArray[np.uint8]

# Colours of the ALE NTSC palette as rendered by ale-py.
PONG_BALL: Color = (236, 236, 236)  # also the colour of the top and bottom walls
PONG_PLAYER: Color = (92, 186, 92)  # right paddle, green
PONG_ENEMY: Color = (213, 130, 74)  # left paddle, orange
BREAKOUT_PADDLE: Color = (200, 72, 72)  # also the ball and the top brick row
BREAKOUT_BALL: Color = BREAKOUT_PADDLE
#: Brick colours from the top row (0) to the bottom row (5).
BREAKOUT_ROW_COLORS: tuple[Color, ...] = (
    (200, 72, 72),
    (198, 108, 58),
    (180, 122, 48),
    (162, 162, 42),
    (72, 160, 72),
    (66, 72, 200),
)
INVADERS_PLAYER: Color = (50, 132, 50)  # also the left score digits
INVADERS_ALIEN: Color = (134, 134, 29)
INVADERS_SHIELD: Color = (181, 83, 40)
INVADERS_BULLET: Color = (142, 142, 142)  # both the player's and the aliens' shots

_PONG_FIELD: Region = (0, 34, 160, 194)
_BREAKOUT_FIELD_X = (8, 152)


class Box(NamedTuple):
    """An axis-aligned pixel box: top-left ``x, y`` and size ``w, h``."""

    x: int
    y: int
    w: int
    h: int


def color_mask(
    frame: RGBFrame, color: Color, region: Region | None = None
) -> npt.NDArray[np.bool_]:
    """Boolean ``(210, 160)`` mask of the pixels of exactly ``color`` (inside ``region``)."""
    mask: npt.NDArray[np.bool_] = np.all(frame == np.asarray(color, dtype=np.uint8), axis=2)
    if region is not None:
        x0, y0, x1, y1 = region
        limited = np.zeros_like(mask)
        limited[y0:y1, x0:x1] = mask[y0:y1, x0:x1]
        return limited
    return mask


def _mask_box(mask: npt.NDArray[np.bool_]) -> Box | None:
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    y0, y1 = int(rows[0]), int(rows[-1])
    x0, x1 = int(cols[0]), int(cols[-1])
    return Box(x0, y0, x1 - x0 + 1, y1 - y0 + 1)


def bounding_box(frame: RGBFrame, color: Color, region: Region | None = None) -> Box | None:
    """Bounding box of all pixels of ``color`` (inside ``region``), or None if there are none."""
    return _mask_box(color_mask(frame, color, region))


def _dilate(mask: npt.NDArray[np.bool_], radius: int) -> npt.NDArray[np.bool_]:
    """Grow every pixel of ``mask`` into a (2 * radius + 1)-pixel square."""
    h, w = mask.shape
    padded = np.pad(mask, radius)
    out = np.zeros_like(mask)
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            out |= padded[dy : dy + h, dx : dx + w]
    return out


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def _label(mask: npt.NDArray[np.bool_]) -> tuple[npt.NDArray[np.int32], int]:
    """8-connected component labels (1..n, 0 = background) via row runs and union-find."""
    labels = np.zeros(mask.shape, dtype=np.int32)
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    edges = np.diff(padded, axis=1)
    runs: list[tuple[int, int, int]] = []  # (row, start, end) with end exclusive
    row_runs: list[list[int]] = [[] for _ in range(mask.shape[0])]
    for y in np.flatnonzero(mask.any(axis=1)).tolist():
        starts = np.flatnonzero(edges[y] == 1).tolist()
        ends = np.flatnonzero(edges[y] == -1).tolist()
        for s, e in zip(starts, ends, strict=True):
            row_runs[y].append(len(runs))
            runs.append((y, s, e))
    parent = list(range(len(runs)))
    for i, (y, s, e) in enumerate(runs):
        if y == 0:
            continue
        for j in row_runs[y - 1]:
            _, ps, pe = runs[j]
            if ps <= e and s <= pe:  # overlapping or diagonally touching
                ri, rj = _find(parent, i), _find(parent, j)
                if ri != rj:
                    parent[max(ri, rj)] = min(ri, rj)
    ids: dict[int, int] = {}
    for i, (y, s, e) in enumerate(runs):
        root = _find(parent, i)
        label = ids.setdefault(root, len(ids) + 1)
        labels[y, s:e] = label
    return labels, len(ids)


def find_boxes(
    frame: RGBFrame, color: Color, region: Region | None = None, gap: int = 0
) -> list[Box]:
    """Bounding boxes of the connected blobs of ``color``, sorted top-to-bottom, left-to-right.

    Pixels touching each other (including diagonally) form one blob.  With ``gap > 0``
    blobs separated by at most about ``gap`` background pixels are merged, which keeps
    sprites with holes (e.g. Space Invaders aliens) in one piece.
    """
    mask = color_mask(frame, color, region)
    if not mask.any():
        return []
    grouped = _dilate(mask, (gap + 1) // 2) if gap > 0 else mask
    labels, n = _label(grouped)
    ys, xs = np.nonzero(mask)
    lab = labels[ys, xs]
    boxes: list[Box] = []
    for k in range(1, n + 1):
        sel = lab == k
        if not sel.any():
            continue
        bx, by = xs[sel], ys[sel]
        x0, y0 = int(bx.min()), int(by.min())
        boxes.append(Box(x0, y0, int(bx.max()) - x0 + 1, int(by.max()) - y0 + 1))
    boxes.sort(key=lambda b: (b.y, b.x))
    return boxes


# --------------------------------------------------------------------------------------
# Per-game finders
# --------------------------------------------------------------------------------------


class PongPixels(NamedTuple):
    """Pong objects found by colour inside the playfield (rows 34..193)."""

    ball: Box | None
    player: Box | None
    enemy: Box | None


def find_pong(frame: RGBFrame) -> PongPixels:
    """Locate the Pong ball and paddles (the parts drawn inside the playfield)."""
    return PongPixels(
        bounding_box(frame, PONG_BALL, _PONG_FIELD),
        bounding_box(frame, PONG_PLAYER, _PONG_FIELD),
        bounding_box(frame, PONG_ENEMY, _PONG_FIELD),
    )


class BreakoutPixels(NamedTuple):
    """Breakout objects found by colour.

    ``paddle`` is the red in rows 189..192 between the side walls (the paddle's part
    behind the right wall, x >= 152, is not seen).  ``ball`` is the red elsewhere in the
    playfield, ignoring the top (red) brick row 57..62 and the paddle rows, so a ball
    inside those rows or hidden behind bricks is not found.  ``bricks[row][col]`` is True
    where at least half of the brick's 8 x 6 pixels have that row's colour.
    """

    ball: Box | None
    paddle: Box | None
    bricks: tuple[tuple[bool, ...], ...]


def find_breakout(frame: RGBFrame) -> BreakoutPixels:
    """Locate the Breakout paddle, ball and remaining bricks."""
    x0, x1 = _BREAKOUT_FIELD_X
    paddle = bounding_box(frame, BREAKOUT_PADDLE, (x0, 189, x1, 193))
    red = color_mask(frame, BREAKOUT_BALL, (x0, 32, x1, 189))
    red[57:63] = False
    ball = _mask_box(red)
    wall = frame[57:93, 8:152].reshape(6, 6, 18, 8, 3)
    bricks = tuple(
        tuple(
            bool(n >= 24)
            for n in np.all(wall[row] == np.asarray(color, dtype=np.uint8), axis=-1)
            .sum(axis=(0, 2))
            .tolist()
        )
        for row, color in enumerate(BREAKOUT_ROW_COLORS)
    )
    return BreakoutPixels(ball, paddle, bricks)


class InvadersPixels(NamedTuple):
    """Space Invaders objects found by colour.

    ``player`` is the green cannon in rows 185..194 (None while it blinks off);
    ``aliens`` the alien-coloured sprites (including an alien's explosion for a few
    frames after it was shot); ``bullets`` the grey shots between rows 20 and 194 (alien
    shots are drawn on odd frames only, the player's on even frames only); ``shields``
    the mask of orange shield pixels.
    """

    player: Box | None
    aliens: list[Box]
    bullets: list[Box]
    shields: npt.NDArray[np.bool_]


def find_space_invaders(frame: RGBFrame) -> InvadersPixels:
    """Locate the Space Invaders cannon, aliens, shots and shields."""
    return InvadersPixels(
        bounding_box(frame, INVADERS_PLAYER, (0, 185, 160, 195)),
        find_boxes(frame, INVADERS_ALIEN, (0, 20, 160, 195), gap=2),
        find_boxes(frame, INVADERS_BULLET, (0, 20, 160, 195), gap=2),
        color_mask(frame, INVADERS_SHIELD),
    )
