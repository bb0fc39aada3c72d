"""Enduro's objects, read from the Atari's RAM (a shipped game, see :mod:`.shipped`).

The agent drives the white car at the bottom of the screen along a three-lane road
seen in perspective; the other cars are ahead of it, nearer the horizon the farther
they are.  Passing a car scores 1 point and a car passing the agent costs 1 (the
ALE's score is the cars passed, net, as the dashboard's counter of cars left to pass
counts them).  Day 1 asks for 200 cars; when the day ends without them the game is
over (about 3,300 steps).  Hitting a car stops the agent's car dead (speed 6); the
road's edge slows it.  There are no lives.  Actions: 0 NOOP, 1 FIRE (accelerate),
2 RIGHT, 3 LEFT, 4 DOWN (brake), 5 DOWNRIGHT, 6 DOWNLEFT, 7 RIGHTFIRE, 8 LEFTFIRE.

Addresses (checked against the rendered frames by ``tests/atari/test_enduro.py``):
the car's lateral position ``p = -signed(ram[46])`` (0 at the road's centre, about
+-24 at its edges), drawn at ``x ~ 77.6 + 0.286 (p + p_previous)``, its top ``89 +
ram[52]`` (it rises a few rows as it speeds up); speed ``ram[22]``; ``ram[35]`` a
timer (from 128 up: a crash into a car; 1 to 127: a bump at the road's edge).  The
other cars sit in seven distance slots, ``ram[27 + i]`` (0: empty; otherwise bit 4
clear: the centre lane, set: bit 0 set the right lane, clear the left), slot ``i``'s
top row at ``ram[11 + i] + SLOT_TOP[i]``.  Cars left to pass ``100 * BCD ram[44] +
BCD ram[43]``; day ``ram[45]``; odometer ``100 * BCD ram[41] + BCD ram[40]``
(tenths; the dashboard shows its last digit rolling).
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple, TypeAlias

from pytest_genopt.suites.atari.games import Event, GameEvents

__all__ = [
    "CAR_SIZES",
    "ENDURO_BOUNDS",
    "SLOTS",
    "SLOT_ROWS",
    "SLOT_TOP",
    "DriverState",
    "EnduroObjects",
    "Lane",
    "Opponent",
    "PlayerCar",
    "compact_enduro",
    "enduro_registration",
    "extract_enduro",
    "hit_a_car",
    "hit_the_edge",
    "lane_of",
]

#: Distance slots of the other cars, 0 (nearest) .. 6 (at the horizon).
SLOTS = 7
#: Slot ``i``'s top row is ``ram[11 + i] + SLOT_TOP[i]`` (measured against the frames).
SLOT_TOP = (89, 42, -5, -17, -54, -62, -66)
#: The top rows a car in each slot is drawn between (a car moves on to the next slot
#: past them).
SLOT_ROWS = ((136, 153), (115, 135), (97, 114), (82, 97), (74, 85), (68, 74), (62, 68))
#: A car's drawn size ``(w, h)`` in each slot: nearer is larger.
CAR_SIZES = ((16, 11), (12, 8), (8, 6), (6, 4), (4, 3), (4, 2), (2, 1))
#: The last row of the road (a car in slot 0 is cut off below it).
ROAD_BOTTOM = 154
#: ``|position|`` above this is in a side lane (the lanes' centres are near +-14).
_LANE_EDGE = 7
_SLOT_RANGE = tuple(range(SLOTS))

Lane: TypeAlias = Literal["left", "centre", "right"]
DriverState: TypeAlias = Literal["driving", "crashed", "edge"]


def lane_of(position: int) -> Lane:
    """The lane of a lateral ``position`` (negative: left of the road's centre)."""
    if position < -_LANE_EDGE:
        return "left"
    return "right" if position > _LANE_EDGE else "centre"


class PlayerCar(NamedTuple):
    """The agent's white car, a 16 x 11 px box near the bottom of the road.

    ``position`` is where it is across the road: 0 at the centre, negative left,
    positive right, about -24 .. 24 from edge to edge (1.5 px of road a unit at the
    car's row); LEFT and RIGHT move it 1 to 3 units a step, and on a curve the road
    drifts it by up to 2 a step.  ``x`` (its left edge,
    about 63 .. 92 px) follows from it: the road moves under the car, so the screen
    shows the car drift much less than the road.  ``y`` is its top row (144 when slow,
    up to ~136 at full speed).  ``speed`` (``ram[22]``): 6 rolling, +2 per step or so
    while FIRE is held, -4 a step braking (DOWN); a crash drops it to 6 at once.
    ``state``: ``"driving"``, ``"crashed"`` (it hit a car: stopped, ~30 steps to
    recover) or ``"edge"`` (it bumped the road's edge: slowed for ~5 steps).
    """

    x: int
    y: int
    w: int
    h: int
    dx: int
    dy: int
    position: int
    lane: Lane
    speed: int
    state: DriverState

    @property
    def cx(self) -> float:
        """Horizontal centre in pixels."""
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        """Vertical centre in pixels."""
        return self.y + self.h / 2


class Opponent(NamedTuple):
    """Another car on the road, in distance slot ``slot`` (0 nearest .. 6 farthest).

    ``y`` is its top row and ``w x h`` its drawn size (16 x 11 in slot 0 down to
    2 x 1 at the horizon, see :data:`CAR_SIZES`; a slot-0 car is cut off at row 154);
    ``dy`` its motion since the previous step (> 0: coming closer, i.e. the agent is
    faster).  ``lane``: ``"left"``, ``"centre"`` or ``"right"``; a car keeps its lane.
    Its horizontal pixel position is not read (the road's curve sets it).  The agent's
    car hits a car in its lane when that car reaches slot 1 (about row 125 .. 140).
    """

    y: int
    w: int
    h: int
    dy: int
    slot: int
    lane: Lane

    @property
    def bottom(self) -> int:
        """The car's last drawn row."""
        return self.y + self.h - 1


class EnduroObjects(NamedTuple):
    """Everything on an Enduro screen.

    Attributes:
        player: the agent's car.
        opponents: the other cars, nearest first.
        cars_left: cars still to pass today (200 on day 1; a car passing the agent adds 1).
        day: the day of the race (1 at the start).
        odometer: distance driven, in tenths (the dashboard's digits).
        score: the ALE's score: cars passed, net (the sum of rewards since reset).
    """

    player: PlayerCar
    opponents: tuple[Opponent, ...]
    cars_left: int
    day: int
    odometer: int
    score: int

    def ahead_in(self, lane: Lane) -> Opponent | None:
        """The nearest car in ``lane``, or None."""
        return next((o for o in self.opponents if o.lane == lane), None)


def _bcd(byte: int) -> int:
    return (byte >> 4) * 10 + (byte & 0x0F)


def _state(timer: int) -> DriverState:
    if timer >= 128:
        return "crashed"
    return "edge" if timer else "driving"


def _opponent(r: bytes, slot: int, code: int, prev: EnduroObjects | None) -> Opponent:
    lane: Lane = "centre" if not code & 16 else "right" if code & 1 else "left"
    # the same car one step ago: same lane, same slot or a neighbouring one
    before = None
    if prev is not None:
        before = next(
            (o for o in prev.opponents if o.lane == lane and abs(o.slot - slot) <= 1), None
        )
    y = r[11 + slot] + SLOT_TOP[slot]
    lo, hi = SLOT_ROWS[slot]
    if not lo <= y <= hi:
        # the step a car changes slots its row byte still holds another slot's value:
        # it enters the slot at the far edge (from farther) or the near one (from nearer)
        if before is not None and before.slot != slot:
            y = lo if before.slot > slot else hi
        else:
            y = min(max(y, lo), hi)
    w, h = CAR_SIZES[slot]
    if slot == 0:
        h = min(h, ROAD_BOTTOM + 1 - y)
    dy = 0 if before is None else y - before.y
    return Opponent(y, w, h, dy, slot, lane)


def _score(day: int, cars_left: int) -> int:
    """Cars passed as the ALE counts them: 200 on day 1, 300 a day after it."""
    if day == 0:
        return 0
    if day == 1:
        return 200 - cars_left
    return 200 + 300 * (day - 1) - cars_left


def extract_enduro(ram: Any, prev: EnduroObjects | None = None) -> EnduroObjects:
    """Read the Enduro objects from RAM (``bytes`` or a uint8 array; see the module)."""
    r = ram if isinstance(ram, bytes) else bytes(ram)
    position = r[46] - 256 if r[46] & 0x80 else r[46]
    position = -position
    pp = None if prev is None else prev.player
    before = position if pp is None else pp.position
    # the car is drawn between its last two positions (measured: within 1 px)
    x = int(77.6 + 0.2855 * (position + before) + 0.5)
    y = 89 + r[52]
    dx, dy = (0, 0) if pp is None else (x - pp.x, y - pp.y)
    player = PlayerCar(x, y, 16, 11, dx, dy, position, lane_of(position), r[22], _state(r[35]))
    opponents = tuple(
        _opponent(r, slot, r[27 + slot], prev) for slot in _SLOT_RANGE if r[27 + slot]
    )
    cars_left = _bcd(r[44]) * 100 + _bcd(r[43])
    day = r[45]
    odometer = _bcd(r[41]) * 100 + _bcd(r[40])
    return EnduroObjects(player, opponents, cars_left, day, odometer, _score(day, cars_left))


def hit_a_car(before: EnduroObjects, after: EnduroObjects) -> bool:
    """The step the agent's car crashes into another car (its speed drops to 6)."""
    return after.player.state == "crashed" and before.player.state != "crashed"


def hit_the_edge(before: EnduroObjects, after: EnduroObjects) -> bool:
    """The step the agent's car bumps the road's edge (it slows down)."""
    return after.player.state == "edge" and before.player.state == "driving"


def compact_enduro(objects: EnduroObjects) -> dict[str, Any]:
    """A traced step: ``player={position, lane, speed, state}``, ``cars={slot, lane, y,
    dy}`` as columns (nearest first), ``cars_left``, ``score``."""
    p = objects.player
    cars = objects.opponents
    return {
        "player": {"position": p.position, "lane": p.lane, "speed": p.speed, "state": p.state},
        "cars": {
            "slot": [o.slot for o in cars],
            "lane": [o.lane for o in cars],
            "y": [o.y for o in cars],
            "dy": [o.dy for o in cars],
        },
        "cars_left": objects.cars_left,
        "score": objects.score,
    }


#: Enduro over 1,000 steps (the quick protocol): standing still scores 0, holding FIRE
#: 6 (it crashes into every car in its lane), the task's skeleton 4 .. 27 and the same
#: skeleton with two constants tuned 18 .. 102 (measured over the protocol's 8 seeds),
#: so 150 leaves room above.
ENDURO_BOUNDS = (0.0, 150.0)


def enduro_registration() -> dict[str, Any]:
    """The keyword arguments :mod:`.shipped` registers Enduro with: no lives; cars passed
    and passing, crashes and bumps at the road's edge."""
    return {
        "env_id": "ALE/Enduro-v5",
        "extract": extract_enduro,
        "events": GameEvents(
            scored=Event("passed a car", "passed {n} car", "passed {n} cars"),
            conceded=Event("passed by a car", "passed by {n} car", "passed by {n} cars"),
            setbacks=(
                (Event("hit a car", "hit {n} car", "hit {n} cars"), hit_a_car),
                (
                    Event("hit the road's edge", "hit the edge {n} time", "hit the edge {n} times"),
                    hit_the_edge,
                ),
            ),
        ),
        "step_fields": compact_enduro,
        "score_bounds": ENDURO_BOUNDS,
    }
