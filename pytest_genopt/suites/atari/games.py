"""The registry of Atari games: a game's environment id, objects and events.

:func:`register_game` is the public way to add a game: a project calls it from its own
code or ``conftest.py``, and from then on ``make_env``, ``run_policy`` and the rollout
tracing play that game exactly as they play the games the package ships, which are
registered through the same call (see :mod:`.shipped`).  A game declares:

* ``env_id``: the gymnasium id of its ALE environment (``"ALE/Boxing-v5"``);
* ``extract``: ``extract(ram, previous_objects_or_None) -> objects``, its typed objects
  read from the 128 RAM bytes (``ram`` is ``bytes``);
* ``events``: what a reward or a change of lives means in this game, in its own words
  (:class:`GameEvents`); a game without lives declares no life event and its traces and
  feedback never mention lives;
* optionally ``step_fields`` (what one traced step shows of the objects), ``notes`` (what
  a notable step meant: a return, a point won, what cost a life), ``score_bounds`` (for
  ``normalized_score``) and ``action_aliases`` (extra action names).

Registering does not import the game's module twice or create an environment; it checks
the environment id against gymnasium's registry, so gymnasium (the ``atari`` extra) is
imported on the first registration or look-up, never on importing the suite.
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeAlias

__all__ = [
    "GAMES",
    "Detector",
    "Event",
    "Extractor",
    "Game",
    "GameEvents",
    "Notes",
    "Step",
    "StepFields",
    "get_game",
    "register_game",
]

#: ``extract(ram, previous)``: the game's objects from the RAM bytes and the objects of
#: the previous frame (None on the first frame after a reset), for velocities.
Extractor: TypeAlias = Callable[[bytes, Any], Any]
#: ``fields(objects)``: what one traced step shows of the objects (a few short lists).
StepFields: TypeAlias = Callable[[Any], dict[str, Any]]


class Step(NamedTuple):
    """One step of an episode, as a game's ``notes`` sees it."""

    #: the step's index in its episode
    t: int
    #: the objects before the step and after it
    before: Any
    after: Any
    reward: float
    #: the objects one step later (None when the episode ended with this step): a
    #: bounce's outgoing velocity shows only then
    following: Any


#: ``notes(step)``: a few words on what the :class:`Step` meant (``"returned: contact +3
#: px from the paddle's centre, out dx -4, dy 8"``), or None for an ordinary step.
Notes: TypeAlias = Callable[[Step], "str | None"]
#: ``detector(before, after)``: True when the step from ``before`` to ``after`` (the
#: objects of two consecutive frames) is the moment an event happened.
Detector: TypeAlias = Callable[[Any, Any], bool]

_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


class Event(NamedTuple):
    """One kind of event, as the game names it.

    ``label`` marks the step in traces (``event="punch taken"``); ``one`` and ``many``
    count it in the rollout's feedback line, ``{n}`` standing for the count
    (``"{n} punch taken"``, ``"{n} punches taken"``); both default to ``"{label} x{n}"``.
    """

    label: str
    one: str = ""
    many: str = ""

    def words(self, n: int) -> str:
        """The feedback's words for ``n`` of these events."""
        form = (self.one if n == 1 else self.many) or "{label} x{n}"
        return form.format(n=n, label=self.label)


@dataclass(frozen=True)
class GameEvents:
    """What a reward or a change of lives means in a game.

    Setbacks (``conceded``, ``life_lost`` and the ``setbacks`` seen in the objects) are
    what the rollout's default tracing shows the steps before; ``scored`` only labels
    its step.  An event left None does not exist in the game: a game whose
    ``life_lost`` is None has no lives, and its traces and feedback never mention them.

    Attributes:
        scored: a step with a positive reward (``"punch landed"``, ``"crossed the road"``).
        conceded: a step with a negative reward (Pong: ``"lost point"``).
        life_lost: a step that loses a life: the step the lives counter drops, or the
            step ``life_seen`` reports, when the game shows the loss earlier than its
            counter (Breakout counts a lost ball about 6 steps after the miss).
        life_seen: ``detector(before, after)`` for the step a life is lost.
        setbacks: other setbacks seen in the objects, each with its detector (Freeway:
            ``Event("hit by a car")`` and a test of the chicken being pushed back).
    """

    scored: Event | None = None
    conceded: Event | None = None
    life_lost: Event | None = None
    life_seen: Detector | None = None
    setbacks: tuple[tuple[Event, Detector], ...] = ()

    def all(self) -> tuple[Event, ...]:
        """Every event of the game, in the order the feedback counts them."""
        found = (self.conceded, self.life_lost, *(e for e, _ in self.setbacks), self.scored)
        return tuple(e for e in found if e is not None)


@dataclass(frozen=True)
class Game:
    """A registered game (see :func:`register_game` for the fields)."""

    name: str
    env_id: str
    extract: Extractor
    events: GameEvents
    step_fields: StepFields
    score_bounds: tuple[float, float] | None = None
    action_aliases: Mapping[str, str] = field(default_factory=dict)
    notes: Notes | None = None


_REGISTRY: dict[str, Game] = {}
_shipped_loaded = False


def _registry() -> dict[str, Game]:
    """The registry, with the shipped games registered on first use (cheap imports)."""
    global _shipped_loaded
    if not _shipped_loaded:
        _shipped_loaded = True  # before the import: it registers through this registry
        before = dict(_REGISTRY)
        try:
            importlib.import_module("pytest_genopt.suites.atari.shipped")
        except BaseException:
            # e.g. gymnasium missing: say so now, and try again on the next use
            _shipped_loaded = False
            _REGISTRY.clear()
            _REGISTRY.update(before)
            raise
    return _REGISTRY


def get_game(name: str) -> Game:
    """The game registered as ``name``; ValueError naming the known games otherwise."""
    games = _registry()
    found = games.get(name) if isinstance(name, str) else None
    if found is None:
        raise ValueError(f"unknown Atari game {name!r}; known games: {', '.join(sorted(games))}")
    return found


class _GameIds(Mapping[str, str]):
    """A live view ``name -> env id`` of the registered games."""

    def __getitem__(self, name: str) -> str:
        return _registry()[name].env_id

    def __iter__(self) -> Iterator[str]:
        return iter(list(_registry()))

    def __len__(self) -> int:
        return len(_registry())

    def __repr__(self) -> str:
        return repr(dict(self))


#: Registered games: short name -> gymnasium environment id (a live, read-only view).
GAMES: Mapping[str, str] = _GameIds()


def default_step_fields(objects: Any) -> dict[str, Any]:
    """A traced step's view of any objects NamedTuple: each field, objects with a box
    as ``{x, y, dx, dy}``, tuples of them as ``[{x, y}, ...]``, other values as they are."""
    if not hasattr(objects, "_asdict"):
        return {"objects": repr(objects)}
    shown: dict[str, Any] = {}
    for key, value in objects._asdict().items():
        if _has_box(value):
            shown[key] = {"x": value.x, "y": value.y, "dx": value.dx, "dy": value.dy}
        elif isinstance(value, tuple) and all(_has_box(v) for v in value):
            shown[key] = [{"x": v.x, "y": v.y} for v in value]
        elif value is None or isinstance(value, (bool, int, float, str)):
            shown[key] = value
        else:
            shown[key] = repr(value)
    return shown


def _has_box(value: object) -> bool:
    return all(hasattr(value, a) for a in ("x", "y", "dx", "dy"))


def register_game(
    name: str,
    *,
    env_id: str,
    extract: Extractor,
    events: GameEvents,
    step_fields: StepFields | None = None,
    score_bounds: tuple[float, float] | None = None,
    action_aliases: Mapping[str, str] | None = None,
    notes: Notes | None = None,
    replace: bool = False,
) -> Game:
    """Register an ALE game so that ``make_env(name)`` and ``run_policy(..., name)`` play it.

    Args:
        name: the game's short name (lower-case letters, digits and ``_``), e.g. ``"boxing"``.
        env_id: its gymnasium ALE environment id, e.g. ``"ALE/Boxing-v5"``.
        extract: ``extract(ram, previous) -> objects``: the typed objects read from the
            RAM (``bytes``) and the previous frame's objects (None after a reset).
        events: what rewards and lives mean in the game (:class:`GameEvents`).
        step_fields: ``fields(objects) -> dict``: what a traced step shows of the
            objects (default: every field, objects with a box as ``{x, y, dx, dy}``).
        score_bounds: ``(low, high)`` returns that ``normalized_score`` maps to 0 and 1.
        action_aliases: extra action names, each mapped to one of the game's
            (Pong: ``{"UP": "RIGHT"}``); traces show the alias.
        notes: ``notes(step) -> str | None``: a few words on a notable :class:`Step`
            (Pong: where a returned ball met the paddle and where it went), or None.
            A rollout's per-episode summary lists the last notable steps, each with its
            events' labels; without ``notes`` it lists the event steps alone.
        replace: replace a game already registered under ``name`` (for code that runs
            twice in one process, e.g. a notebook cell); otherwise that is an error.

    Returns the registered :class:`Game`.  Every bad argument raises (ValueError or
    TypeError, one line) and leaves the registry as it was; an ``env_id`` that is not an
    ALE environment of the installed gymnasium is refused.
    """
    games = _registry()
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"Atari game name must be lower-case letters, digits and '_' starting with a "
            f"letter, got {name!r}"
        )
    if name in games and not replace:
        raise ValueError(
            f"Atari game {name!r} is already registered (as {games[name].env_id}); "
            "pass replace=True to replace it"
        )
    _check_callable(name, "extract", extract)
    if step_fields is not None:
        _check_callable(name, "step_fields", step_fields)
    if notes is not None:
        _check_callable(name, "notes", notes)
    _check_events(name, events)
    bounds = None if score_bounds is None else _check_bounds(name, score_bounds)
    aliases = _check_aliases(name, action_aliases or {})
    _check_env_id(name, env_id)
    game = Game(
        name=name,
        env_id=env_id,
        extract=extract,
        events=events,
        step_fields=default_step_fields if step_fields is None else step_fields,
        score_bounds=bounds,
        action_aliases=aliases,
        notes=notes,
    )
    games[name] = game
    return game


def _check_callable(name: str, what: str, value: object) -> None:
    if not callable(value):
        raise TypeError(f"{what} of Atari game {name!r} must be callable, got {value!r}")


def _check_events(name: str, events: object) -> None:
    if not isinstance(events, GameEvents):
        raise TypeError(f"events of Atari game {name!r} must be a GameEvents, got {events!r}")
    for slot in ("scored", "conceded", "life_lost"):
        event = getattr(events, slot)
        if event is not None:
            _check_event(name, slot, event)
    if events.life_seen is not None:
        if events.life_lost is None:
            raise ValueError(
                f"events of Atari game {name!r}: life_seen needs a life_lost event "
                "(a game without lives loses none)"
            )
        _check_callable(name, "events.life_seen", events.life_seen)
    for setback in events.setbacks:
        if not (isinstance(setback, tuple) and len(setback) == 2):
            raise TypeError(
                f"events.setbacks of Atari game {name!r} must hold (Event, detector) pairs, "
                f"got {setback!r}"
            )
        _check_event(name, "setbacks", setback[0])
        _check_callable(name, f"the detector of {setback[0].label!r}", setback[1])
    labels = [e.label for e in events.all()]
    if len(set(labels)) != len(labels):
        raise ValueError(f"events of Atari game {name!r} repeat a label: {labels}")


def _check_event(name: str, slot: str, event: object) -> None:
    if not isinstance(event, Event):
        raise TypeError(f"events.{slot} of Atari game {name!r} must be an Event, got {event!r}")
    if not (isinstance(event.label, str) and event.label.strip()):
        raise ValueError(f"events.{slot} of Atari game {name!r} needs a non-empty label")
    for form in (event.one, event.many):
        try:
            form.format(n=0, label="")
        except (KeyError, IndexError, ValueError, AttributeError) as exc:
            raise ValueError(
                f"events.{slot} of Atari game {name!r}: bad count {form!r} ({exc!r}); "
                "use {n} for the count"
            ) from exc


def _check_bounds(name: str, bounds: object) -> tuple[float, float]:
    try:
        low, high = (float(b) for b in bounds)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise ValueError(
            f"score_bounds of Atari game {name!r} must be (low, high), got {bounds!r}"
        ) from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(
            f"score_bounds of Atari game {name!r} need finite low < high, got {bounds!r}"
        )
    return low, high


def _check_aliases(name: str, aliases: object) -> dict[str, str]:
    if not isinstance(aliases, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in aliases.items()
    ):
        raise TypeError(
            f"action_aliases of Atari game {name!r} must map names to names, got {aliases!r}"
        )
    return {k.upper(): v.upper() for k, v in aliases.items()}


def _check_env_id(name: str, env_id: object) -> None:
    from pytest_genopt.suites.atari.env import _load_gymnasium

    gymnasium = _load_gymnasium()
    spec = gymnasium.registry.get(env_id) if isinstance(env_id, str) else None
    if spec is None:
        raise ValueError(
            f"env_id {env_id!r} of Atari game {name!r} is not a gymnasium environment; "
            "ALE ids look like 'ALE/Boxing-v5'"
        )
    if not str(spec.entry_point).startswith("ale_py"):
        raise ValueError(
            f"env_id {env_id!r} of Atari game {name!r} is not an ALE environment "
            f"(its entry point is {spec.entry_point})"
        )
