"""Freeway's objects, read from the Atari's RAM (a shipped game, see :mod:`.shipped`).

The agent is the left chicken (x 44): it crosses ten lanes of traffic from the bottom
pavement to the top one, scoring 1 point per crossing, and then starts again from the
bottom.  A car that hits it pushes it back down (~20 px) and stuns it for ~14
steps; there are no lives, and the game ends on its clock after 2 minutes 16 seconds
(2,048 steps of 4 frames).  Actions: 0 NOOP, 1 UP, 2 DOWN.

Addresses (checked against the rendered frames by ``tests/atari/test_new_games.py``):
chicken height = ``ram[14]`` (pixel top ``y = 193 - ram[14]``), its stun timer
``ram[106]`` (bit 7 set: waiting at the bottom after a crossing; otherwise non-zero:
hit by a car, counting down), score = BCD ``ram[103]``, car ``x`` of lane ``i`` (0 =
top) = ``ram[117 - i] - 3`` (0..159, wrapping round the screen).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeAlias

if TYPE_CHECKING:
    from pytest_genopt.suites.atari.games import Step

__all__ = [
    "CHICKEN_X",
    "FREEWAY_LANES",
    "LANE_H",
    "LANE_Y0",
    "Car",
    "Chicken",
    "ChickenState",
    "FreewayObjects",
    "compact_freeway",
    "extract_freeway",
    "freeway_notes",
    "hit_by_a_car",
    "lane_at",
]

#: Number of lanes; lane 0 is the top one, lane 9 the bottom one.
FREEWAY_LANES = 10
#: Top pixel row of lane 0's cars; lane ``i``'s cars occupy rows ``LANE_Y0 + LANE_H * i``
#: .. ``+ 7``.
LANE_Y0 = 28
#: Rows from one lane to the next.
LANE_H = 16
#: The agent's chicken always stands in columns 44..50.
CHICKEN_X = 44
_LANES = tuple(range(FREEWAY_LANES))
_LANE_YS = tuple(LANE_Y0 + LANE_H * lane for lane in _LANES)
_new = tuple.__new__

ChickenState: TypeAlias = Literal["walking", "hit", "crossed"]


class Chicken(NamedTuple):
    """The agent's yellow chicken, a 7 x 8 px box at ``x == 44`` (it moves vertically only).

    ``y`` is its top pixel: 187 at the start (bottom pavement), about 16 when it reaches
    the top pavement and scores.  UP moves it 4 px per step (``dy == -4``), DOWN 4 px
    down.  ``state``: ``"walking"`` (it obeys UP and DOWN), ``"hit"`` (a car hit it: it
    is pushed back ~20 px, less near the bottom, and ignores the joystick for ~14
    steps) or
    ``"crossed"`` (it just scored and waits 7 steps at the bottom).
    """

    x: int
    y: int
    w: int
    h: int
    dx: int
    dy: int
    state: ChickenState

    @property
    def cx(self) -> float:
        """Horizontal centre in pixels."""
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        """Vertical centre in pixels."""
        return self.y + self.h / 2


class Car(NamedTuple):
    """One car, an 8 x 8 px box; lane ``lane`` (0 = top) holds exactly one car.

    ``y == 28 + 16 * lane``.  Lanes 0-4 (the upper carriageway) drive LEFT (``dx < 0``),
    lanes 5-9 drive RIGHT, each at its own constant speed (1 to 4 px per step).  ``x``
    wraps round the screen (0..159); ``dx`` is the motion since the previous step with
    the wrap taken out.  The drawn car is sometimes 1 px right of ``x``.
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


class FreewayObjects(NamedTuple):
    """Everything on a Freeway screen: the agent's chicken, the ten cars and the score.

    Attributes:
        chicken: the agent's chicken (left, x 44).
        cars: one car per lane, ``cars[i].lane == i`` (0 = top lane).
        score: crossings so far (equals the sum of rewards since reset).
    """

    chicken: Chicken
    cars: tuple[Car, ...]
    score: int

    def lane_of_chicken(self) -> int | None:
        """The lane the chicken's centre is in, or None on a pavement."""
        return lane_at(self.chicken.cy)


def lane_at(y: float) -> int | None:
    """The lane whose 16-row band (``LANE_Y0 - 4 + 16 i`` .. ``+ 15``) holds row ``y``."""
    lane = int((y - LANE_Y0 + 4) // LANE_H)
    return lane if 0 <= lane < FREEWAY_LANES else None


def _state(timer: int) -> ChickenState:
    if timer & 0x80:
        return "crossed"
    return "hit" if timer else "walking"


def extract_freeway(ram: Any, prev: FreewayObjects | None = None) -> FreewayObjects:
    """Read the Freeway objects from RAM (``bytes`` or a uint8 array; see the module)."""
    r = ram if isinstance(ram, bytes) else bytes(ram)
    y = 193 - r[14]
    pc = None if prev is None else prev.chicken
    chicken = Chicken(CHICKEN_X, y, 7, 8, 0, 0 if pc is None else y - pc.y, _state(r[106]))
    xs = [r[117 - lane] - 3 for lane in _LANES]
    if prev is None:
        moves = [0] * FREEWAY_LANES
    else:
        # the motion with the wrap round the 160 px screen taken out
        moves = [(x - car[0] + 80) % 160 - 80 for x, car in zip(xs, prev.cars, strict=True)]
    # tuple.__new__ skips the NamedTuple constructor: the rollout builds ten cars a step
    cars = tuple(
        _new(Car, (x, top, 8, 8, dx, 0, lane))
        for x, dx, top, lane in zip(xs, moves, _LANE_YS, _LANES, strict=True)
    )
    score = (r[103] >> 4) * 10 + (r[103] & 0x0F)
    return FreewayObjects(chicken, cars, score)


def hit_by_a_car(before: FreewayObjects, after: FreewayObjects) -> bool:
    """The step a car hits the chicken (its stun starts)."""
    return after.chicken.state == "hit" and before.chicken.state != "hit"


def freeway_notes(step: Step) -> str | None:
    """A hit: which lane's car hit the chicken, and where (a crossing needs no words)."""
    before, after = step.before, step.after
    if not hit_by_a_car(before, after):
        return None
    chicken = before.chicken
    lane = lane_at(chicken.y + chicken.h / 2)
    if lane is None:
        return f"the chicken at y {chicken.y}"
    car = before.cars[lane]
    return f"the car of lane {lane} (x {car.x}, dx {car.dx}) hit the chicken at y {chicken.y}"


def compact_freeway(objects: FreewayObjects) -> dict[str, Any]:
    """A traced step: ``chicken={y, dy, state}``, ``cars={x: [...], dx: [...]}`` (one
    entry per lane, lane 0 first: named columns keep ten cars short), ``score``."""
    c = objects.chicken
    cars = objects.cars
    return {
        "chicken": {"y": c.y, "dy": c.dy, "state": c.state},
        "cars": {"x": [car.x for car in cars], "dx": [car.dx for car in cars]},
        "score": objects.score,
    }
