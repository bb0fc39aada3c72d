"""Run a policy on an Atari game and turn the episodes into evidence.

:func:`run_policy` plays seeded episodes with a step cap and returns a
:class:`RolloutResult` (returns, episode lengths, points and lives lost).  Given the
test's ``genopt`` fixture it also feeds the run's credit horizon: it records compact
steps (time, action, reward and the game's key objects) with ``genopt.trace`` so that
the evidence holds the moments a policy's author most needs to see, by default the
``horizon`` steps up to and including each lost point or life.  It adds one
``genopt.feedback`` line per rollout but never calls ``genopt.score``: the test decides
its value, usually with :func:`normalized_score`.

Episodes differ by seed only through the emulator's randomness, which with
``sticky_actions == 0`` is none: ALE games are deterministic, so a deterministic policy
plays the same game for every seed.  Pass ``sticky_actions > 0`` (0.25 in the task
templates, as recommended by Machado et al. 2018) to make each seed a different episode.
"""

from __future__ import annotations

import math
import numbers
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeAlias

from pytest_genopt import tracing
from pytest_genopt.suites.atari.env import make_env
from pytest_genopt.suites.atari.games import Step, _registry, get_game

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from pytest_genopt.suites.atari.env import AtariEnv
    from pytest_genopt.suites.atari.games import Event, Game, GameEvents, Notes
    from pytest_genopt.suites.atari.objects import (
        BreakoutObjects,
        PongObjects,
        SpaceInvadersObjects,
    )
    from pytest_genopt.tracing import TrialReporter

__all__ = [
    "ACTION_ALIASES",
    "LIFE_LOST",
    "LIFE_WINDOW",
    "SCORE_BOUNDS",
    "STEP_FIELDS",
    "EventCount",
    "Policy",
    "RolloutResult",
    "TraceMode",
    "action_labels",
    "compact_breakout",
    "compact_pong",
    "compact_space_invaders",
    "normalized_score",
    "run_policy",
    "scoring_formula",
]

#: A policy maps the current objects to an action index or an action name.
Policy: TypeAlias = "Callable[[Any], int | str]"
#: What :func:`run_policy` traces: the windows before losses, every step, or nothing.
TraceMode: TypeAlias = Literal["losses", "all", "none"]

#: Steps kept before a loss when the credit horizon is ``all`` (None): the steps of the
#: current life, but no more than this many.
LIFE_WINDOW = 200

#: Extra action names of the shipped games, mapped to the game's own names (registered
#: with each game; a registered game brings its own).  In Pong the ALE calls
#: moving the paddle up "RIGHT" and down "LEFT"; "UP" and "DOWN" say what they do, and
#: traces show them instead.
ACTION_ALIASES: dict[str, dict[str, str]] = {
    "pong": {"UP": "RIGHT", "DOWN": "LEFT", "UPFIRE": "RIGHTFIRE", "DOWNFIRE": "LEFTFIRE"},
}

#: Per shipped game, the ``(low, high)`` returns that :func:`normalized_score` maps to 0
#: and 1 (registered with each game; a registered game brings its own).
#: They are chosen for episodes of about 1,000 agent steps (frameskip 4, sticky actions
#: 0.25), the task templates' step cap; measured returns in that setting:
#:
#: * ``pong``: -21 to 21, the whole game.  Both ends are reachable within the cap: an
#:   idle paddle loses all 21 points in about 760 steps, so 0 means every point lost,
#:   0.5 level at the cap, and 1 every point won.
#: * ``breakout``: 0 to 60.  A random policy scores 1 to 4 before losing its 5 balls;
#:   a paddle that follows the ball well scores 25 to 50 in 1,000 steps (the low rows
#:   are worth 1 point, the middle rows 4), so 60 is a very good run.
#: * ``space_invaders``: 0 to 1000.  A random policy scores about 100 to 250 (once in a
#:   while near 500) before losing its 3 lives; the first wave of 36 invaders is worth
#:   630 points, and a policy that shoots accurately and dodges clears it and reaches
#:   into the second wave within 1,000 steps (up to about 950 measured).
SCORE_BOUNDS: dict[str, tuple[float, float]] = {
    "pong": (-21.0, 21.0),
    "breakout": (0.0, 60.0),
    "space_invaders": (0.0, 1000.0),
}


def compact_pong(objects: PongObjects) -> dict[str, Any]:
    """Pong's key objects, each field named as in the objects: ``ball={x, y, dx, dy}``
    (or None), ``player={y, dy}`` (top edge of the agent's paddle), ``enemy={y}``."""
    ball = objects.ball
    player = objects.player
    return {
        "ball": None if ball is None else {"x": ball.x, "y": ball.y, "dx": ball.dx, "dy": ball.dy},
        "player": {"y": player.y, "dy": player.dy},
        "enemy": {"y": objects.enemy.y},
    }


def compact_breakout(objects: BreakoutObjects) -> dict[str, Any]:
    """Breakout's key objects: ``ball={x, y, dx, dy}`` (or None), ``paddle={x, w, dx}``
    (left edge, width, motion), ``lives``."""
    ball = objects.ball
    paddle = objects.paddle
    return {
        "ball": None if ball is None else {"x": ball.x, "y": ball.y, "dx": ball.dx, "dy": ball.dy},
        "paddle": {"x": paddle.x, "w": paddle.w, "dx": paddle.dx},
        "lives": objects.lives,
    }


def compact_space_invaders(objects: SpaceInvadersObjects) -> dict[str, Any]:
    """Space Invaders' key objects: ``player={x, dx, state}``, ``shots=[{x, y}, ...]``
    (alien shots), ``shot={x, y}`` (the player's, or None), ``aliens={count, left,
    right, bottom}`` of the block (or None once cleared), ``lives``."""
    player = objects.player
    shots: list[dict[str, int]] = []
    shot: dict[str, int] | None = None
    for bullet in objects.bullets:
        if bullet.from_player:
            shot = {"x": bullet.x, "y": bullet.y}
        else:
            shots.append({"x": bullet.x, "y": bullet.y})
    aliens = objects.aliens
    block: dict[str, int] | None = None
    if aliens:
        block = {
            "count": len(aliens),
            "left": min(a.x for a in aliens),
            "right": max(a.x + a.w for a in aliens),
            "bottom": max(a.y + a.h for a in aliens),
        }
    return {
        "player": {"x": player.x, "dx": player.dx, "state": player.state},
        "shots": shots,
        "shot": shot,
        "aliens": block,
        "lives": objects.lives,
    }


#: The compact-step function of each shipped game (what one traced step shows of the
#: objects; registered with each game).
STEP_FIELDS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "pong": compact_pong,
    "breakout": compact_breakout,
    "space_invaders": compact_space_invaders,
}


def _ball_lost(before: BreakoutObjects, after: BreakoutObjects) -> bool:
    return before.ball is not None and after.ball is None


def _cannon_hit(before: SpaceInvadersObjects, after: SpaceInvadersObjects) -> bool:
    return after.player.state == "exploding" and before.player.state != "exploding"


#: Per game, how to see a life being lost when it happens, from the objects before and
#: after a step: the lives counter drops later (Breakout: about 6 steps after the ball
#: falls past the paddle; Space Invaders: 32 steps after the cannon is hit, once its
#: explosion ends), and the steps worth tracing are the ones before the miss.
LIFE_LOST: dict[str, Callable[[Any, Any], bool]] = {
    "breakout": _ball_lost,
    "space_invaders": _cannon_hit,
}


def action_labels(game: str, action_names: Sequence[str]) -> tuple[str, ...]:
    """The names traces use for each action index: the game's names, with the game's
    registered aliases in their place (Pong's "RIGHT" shows as "UP")."""
    shown = {name: alias for alias, name in get_game(game).action_aliases.items()}
    return tuple(shown.get(name, name) for name in action_names)


class EventCount(NamedTuple):
    """How often one of the game's events happened in each episode of a rollout."""

    event: Event
    counts: tuple[int, ...]


@dataclass(frozen=True)
class RolloutResult:
    """What :func:`run_policy` measured, one entry per episode (in seed order).

    Attributes:
        game: the game's short name.
        seeds: the episodes' seeds.
        returns: the sum of rewards of each episode.
        lengths: agent steps of each episode (at most ``max_steps``).
        points_lost: steps with a negative reward (Pong: points won by the opponent).
        lives_lost: how often the lives counter dropped (Breakout, Space Invaders).
        game_over: whether each episode ended before the step cap.
        max_steps: the step cap.
        seconds: wall time of the whole rollout.
        events: each of the game's registered events (:class:`GameEvents`) with its
            count per episode, in the order the summary names them.
        moments: per episode, its last notable steps (``"t 155 returned: ..."``: each
            step with an event or a note from the game's ``notes``), at most the credit
            horizon's N of them; empty unless a genopt run recorded the rollout.
        moments_seen: per episode, how many notable steps it had in all.
    """

    game: str
    seeds: tuple[int, ...]
    returns: tuple[float, ...]
    lengths: tuple[int, ...]
    points_lost: tuple[int, ...]
    lives_lost: tuple[int, ...]
    game_over: tuple[bool, ...]
    max_steps: int
    seconds: float
    events: tuple[EventCount, ...] = ()
    moments: tuple[tuple[str, ...], ...] = ()
    moments_seen: tuple[int, ...] = ()

    def __repr__(self) -> str:
        # what pytest's assertion message shows ("where -5.0 = RolloutResult(...)"):
        # short, since the summary already says the rest and the optimizer reads it
        return f"RolloutResult({self.game!r}, seeds={self.seeds}, returns={self.returns})"

    @property
    def steps(self) -> int:
        """Agent steps over all episodes."""
        return sum(self.lengths)

    @property
    def mean_return(self) -> float:
        """The mean return over the episodes."""
        return sum(self.returns) / len(self.returns)

    def summary(self) -> str:
        """One line for the optimizer: returns, the game's events and steps."""
        seeds = ", ".join(map(str, self.seeds))
        returns = ", ".join(_number(r) for r in self.returns)
        counts = [e.event.words(sum(e.counts)) for e in self.events]
        ended = sum(self.game_over)
        return (
            f"{self.game} seed(s) {seeds}: return {returns}; "
            f"{' and '.join(counts) or 'no events'}; {self.steps} steps "
            f"(cap {self.max_steps} per episode; {ended} of {len(self.seeds)} ended in game over)"
        )

    def episode_summaries(self) -> list[str]:
        """One line per recorded episode: its last notable steps, oldest first (points
        won and lost, returns, lives lost and why: the game's events and ``notes``)."""
        lines = []
        for seed, kept, seen in zip(self.seeds, self.moments, self.moments_seen, strict=False):
            if not kept:
                lines.append(f"{self.game} seed {seed}: no notable step")
                continue
            which = f"its {seen} notable step" + ("s" if seen > 1 else "")
            if seen > len(kept):
                which = f"the last {len(kept)} of its {seen} notable steps"
            lines.append(f"{self.game} seed {seed}, {which} (oldest first): {'; '.join(kept)}")
        return lines


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def _action_table(game: str, action_names: Sequence[str]) -> dict[object, int]:
    table: dict[object, int] = {name: i for i, name in enumerate(action_names)}
    for alias, name in get_game(game).action_aliases.items():
        if name in table:
            table[alias] = table[name]
    table.update({i: i for i in range(len(action_names))})
    return table


def _resolve(action: object, table: dict[object, int], game: str, t: int) -> int:
    """The index of an action the table did not know: lower-case names and int-likes."""
    if isinstance(action, str):
        index = table.get(action.upper())
        if index is not None:
            table[action] = index
            return index
    elif not isinstance(action, bool) and isinstance(action, numbers.Integral):
        index = table.get(int(action))
        if index is not None:
            return index
    valid = ", ".join(f"{value} {name}" for name, value in table.items() if isinstance(name, str))
    raise ValueError(
        f"the policy returned {action!r} at step {t} of {game}; valid actions are an "
        f"index 0..{max(v for v in table.values())} or a name: {valid}"
    )


class _LossWindow:
    """The last steps of an episode, held back until a setback shows they are worth tracing.

    Each step keeps the number it had on the test's clock and the trainable calls made
    while it was played (held out of the record, which keeps only the last ``horizon``
    calls): traced at a setback, the window shows each policy call just before its step,
    in game order, instead of the calls of the steps after the last setback.
    """

    def __init__(self, size: int, fields: Callable[..., dict[str, Any]], seed: int) -> None:
        self.steps: deque[tuple[int, int, float, Any, str | None, int, list[tracing.CallRecord]]]
        self.steps = deque(maxlen=size)
        self.fields = fields
        self.seed = seed
        self.active = size > 0
        self.kept: deque[tracing.CallRecord] | None = None

    def begin(self) -> None:
        """A step starts: the calls from here on belong to it."""
        if self.active:
            self.kept = tracing.hold_calls()

    def end(self, t: int, action: int, reward: float, objects: Any, event: str | None) -> None:
        """The step is played: hold it with its calls and its event, if any."""
        calls = tracing.release_calls(self.kept)
        self.kept = None
        self.steps.append((t, action, reward, objects, event, tracing.tick() or 0, calls))

    def flush(self) -> None:
        """Trace the held steps with their calls, each marked with its event."""
        if not self.active:
            return
        latest = tracing.release_calls(self.kept)  # a step cut short: its calls come last
        self.kept = None
        for t, action, reward, objects, event, seq, calls in self.steps:
            tracing.put_calls(calls)
            fields = self.fields(t, action, reward, objects)
            if event is not None:
                fields["event"] = event
                fields["seed"] = self.seed
            tracing.trace_at(seq, fields)
        tracing.put_calls(latest)
        self.steps.clear()


class _EventWatch:
    """Names what each step meant in the game, from its registered :class:`GameEvents`.

    ``step`` returns the step's labels (None for most steps) and whether one of them is
    a setback; counts are kept per event for the current episode.
    """

    def __init__(self, events: GameEvents) -> None:
        self.events = events
        self.order = events.all()
        self.counts: dict[str, int] = {}
        self.lives = 0
        self.seen = False  # a life was marked lost before the counter dropped
        self.watch_objects = events.life_seen is not None or bool(events.setbacks)

    def reset(self, lives: int) -> None:
        self.counts = {e.label: 0 for e in self.order}
        self.lives = lives
        self.seen = False

    def _mark(self, event: Event, labels: list[str]) -> None:
        self.counts[event.label] += 1
        labels.append(event.label)

    def step(self, before: Any, after: Any, reward: float, lives: int) -> list[str] | None:
        if not reward and lives >= self.lives and not self.watch_objects:
            self.lives = lives
            return None  # the usual step: nothing happened
        events, labels = self.events, list[str]()
        if reward > 0 and events.scored is not None:
            self._mark(events.scored, labels)
        if reward < 0 and events.conceded is not None:
            self._mark(events.conceded, labels)
        if lives < self.lives and events.life_lost is not None:
            if self.seen:
                self.seen = False  # marked when it happened
            else:
                self._mark(events.life_lost, labels)
        self.lives = lives
        seen = events.life_seen
        if seen is not None and events.life_lost is not None and seen(before, after):
            self.seen = True
            self._mark(events.life_lost, labels)
        for event, detector in events.setbacks:
            if detector(before, after):
                self._mark(event, labels)
        return labels or None

    def is_setback(self, labels: list[str]) -> bool:
        scored = self.events.scored
        return scored is None or any(label != scored.label for label in labels)


def run_policy(
    policy: Policy,
    game: str,
    *,
    seeds: Sequence[int] | int,
    max_steps: int,
    genopt: TrialReporter | None = None,
    trace: TraceMode = "losses",
    frameskip: int = 4,
    sticky_actions: float = 0.0,
) -> RolloutResult:
    """Play one episode of ``game`` per seed with ``policy``, each at most ``max_steps``.

    Args:
        policy: called with the current objects (``PongObjects``, ...) at every step;
            returns an action index or name (``"FIRE"``; Pong also accepts ``"UP"`` and
            ``"DOWN"``, see :data:`ACTION_ALIASES`; a game's registered aliases).
        game: ``"pong"``, ``"breakout"``, ``"space_invaders"`` or a game registered
            with :func:`~pytest_genopt.suites.atari.games.register_game`.
        seeds: one seed or several (one episode each).
        max_steps: step cap per episode (agent steps of ``frameskip`` frames).
        genopt: the test's ``genopt`` fixture; with a run active, steps are traced and
            one feedback line is added.  None (or no run active) records nothing.
        trace: ``"losses"`` traces, at each setback of the game's registered events
            (Pong's ``"lost point"``, Breakout's ``"lost life"``), the steps since the
            previous setback up to the credit horizon (``genopt.horizon``, or
            :data:`LIFE_WINDOW` steps when it is ``all``); ``"all"`` traces every step;
            ``"none"`` nothing.  The fixture keeps the last ``horizon`` traced steps.
        frameskip: emulator frames per step.
        sticky_actions: probability of repeating the previous action on each frame;
            above 0 each seed gives a different episode.

    Each traced step is a flat dict: ``t`` (step index in its episode), ``action`` (its
    name), ``reward``, the game's objects as short lists (its ``step_fields``), and on a
    step with one of the game's events ``event`` (its label; several joined by ", ")
    and ``seed``.

    Raises:
        ValueError: for an unknown game or trace mode, ``max_steps < 1``, no seeds, or an
            action the game does not have (the message lists the valid ones).
    """
    spec = get_game(game)
    seed_list = _checked(trace, max_steps, seeds)
    active = genopt is not None and genopt.active
    horizon = 0
    if active and genopt is not None:
        horizon = LIFE_WINDOW if genopt.horizon is None else genopt.horizon
    watch = _EventWatch(spec.events)
    started = time.perf_counter()
    with make_env(game, frameskip=frameskip, sticky_actions=sticky_actions) as env:
        table = _action_table(game, env.action_names)
        labels = action_labels(game, env.action_names)
        record = _recording(spec, labels, genopt if active else None, trace, horizon)
        episodes = [_play(env, policy, table, s, max_steps, watch, record) for s in seed_list]
    seconds = time.perf_counter() - started
    result = _result(game, seed_list, episodes, watch, max_steps, horizon, seconds)
    if genopt is not None:
        genopt.feedback(result.summary())
        for line in result.episode_summaries():
            genopt.feedback(line)
    return result


def _checked(trace: str, max_steps: int, seeds: Sequence[int] | int) -> list[int]:
    """The seeds as a list; ValueError for a bad trace mode, step cap or seed list."""
    if trace not in ("losses", "all", "none"):
        raise ValueError(f"trace must be 'losses', 'all' or 'none', got {trace!r}")
    if max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    seed_list = [seeds] if isinstance(seeds, int) else list(seeds)
    if not seed_list:
        raise ValueError("seeds must name at least one episode")
    return seed_list


def _recording(
    spec: Game,
    labels: Sequence[str],
    genopt: TrialReporter | None,
    trace: TraceMode,
    horizon: int,
) -> _Recording:
    """Where a rollout's steps go (see run_policy's ``trace``); ``genopt`` is None and
    ``horizon`` 0 with no run active."""
    recording = genopt is not None and trace != "none"
    compact = spec.step_fields

    def step_fields(t: int, action: int, reward: float, objects: Any) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "t": t,
            "action": labels[action],
            "reward": int(reward) if reward.is_integer() else reward,
        }
        fields.update(compact(objects))
        return fields

    return _Recording(
        genopt if recording and trace == "all" else None,
        horizon if recording and trace == "losses" else 0,
        step_fields,
        horizon,
        spec.notes,
    )


def _result(
    game: str,
    seeds: list[int],
    episodes: list[_Episode],
    watch: _EventWatch,
    max_steps: int,
    horizon: int,
    seconds: float,
) -> RolloutResult:
    return RolloutResult(
        game=game,
        seeds=tuple(seeds),
        returns=tuple(e.total for e in episodes),
        lengths=tuple(e.length for e in episodes),
        points_lost=tuple(e.points_lost for e in episodes),
        lives_lost=tuple(e.lives_lost for e in episodes),
        game_over=tuple(e.done for e in episodes),
        max_steps=max_steps,
        seconds=seconds,
        events=tuple(
            EventCount(event, tuple(e.counts[event.label] for e in episodes))
            for event in watch.order
        ),
        moments=tuple(e.moments for e in episodes) if horizon else (),
        moments_seen=tuple(e.moments_seen for e in episodes) if horizon else (),
    )


@dataclass
class _Recording:
    """Where a rollout's steps go: every step to ``genopt`` (trace "all"), or windows of
    ``window`` steps before each setback (trace "losses"), or nowhere."""

    genopt: TrialReporter | None
    window: int
    fields: Callable[[int, int, float, Any], dict[str, Any]]
    #: notable steps kept per episode for its summary (the horizon; 0 keeps none)
    moments: int = 0
    notes: Notes | None = None


@dataclass
class _Episode:
    total: float
    length: int
    points_lost: int
    lives_lost: int
    done: bool
    counts: dict[str, int]
    moments: tuple[str, ...] = ()
    moments_seen: int = 0


def _play(
    env: AtariEnv[Any],
    policy: Policy,
    table: dict[object, int],
    seed: int,
    max_steps: int,
    watch: _EventWatch,
    record: _Recording,
) -> _Episode:
    """Play one episode, tracing its steps as ``record`` says."""
    frame = env.reset(seed)
    lives = env.info.get("lives", 0)
    watch.reset(lives)
    objects: Any = frame.objects
    fields = record.fields
    held = _LossWindow(record.window, fields, seed)
    total = 0.0
    n_points = n_lives = 0
    done = False
    t = 0
    moments = _Moments(record.moments, record.notes)
    while t < max_steps:
        held.begin()
        try:
            action = policy(objects)
            try:
                index = table[action]
            except (KeyError, TypeError):  # a new spelling, or not an action at all
                index = _resolve(action, table, env.game, t)
            frame, reward, done = env.step(index)
        except BaseException:
            held.flush()  # the steps that led to the failure are evidence
            raise
        previous, objects = objects, frame.objects
        total += reward
        n_points += reward < 0
        now = env.info.get("lives", 0)
        n_lives += now < lives
        lives = now
        marks = watch.step(previous, objects, reward, now)
        event = None if marks is None else ", ".join(marks)
        if moments.size:
            moments.step(t, previous, objects, reward, event)
        if held.active:
            held.end(t, index, reward, objects, event)
            if marks is not None and watch.is_setback(marks):
                held.flush()
        elif record.genopt is not None:
            step = fields(t, index, reward, objects)
            if event is not None:
                step["event"] = event
                step["seed"] = seed
            record.genopt.trace(**step)
        t += 1
        if done:
            break
    moments.end()
    return _Episode(
        total, t, n_points, n_lives, done, watch.counts, tuple(moments.kept), moments.seen
    )


class _Moments:
    """The last ``size`` notable steps of an episode for its summary: each step with an
    event or a note from the game's ``notes``, which sees a step once the next one is
    played (a bounce's outgoing velocity shows only then)."""

    def __init__(self, size: int, notes: Notes | None) -> None:
        self.size = size
        self.notes = notes
        self.kept: deque[str] = deque(maxlen=max(size, 0))
        self.seen = 0
        self.pending: tuple[int, Any, Any, float, str | None] | None = None

    def step(self, t: int, before: Any, after: Any, reward: float, event: str | None) -> None:
        if self.pending is not None:
            self._note(after)
        self.pending = (t, before, after, reward, event)

    def end(self) -> None:
        if self.pending is not None:
            self._note(None)

    def _note(self, following: Any) -> None:
        if self.pending is None:
            return
        t, before, after, reward, event = self.pending
        self.pending = None
        note = None
        if self.notes is not None:
            note = self.notes(Step(t, before, after, reward, following))
        if note is None and event is None:
            return
        self.seen += 1
        said = ": ".join(part for part in (event, note) if part)
        self.kept.append(f"t {t} {said}")


def normalized_score(
    game: str, returns: float | Sequence[float], *, bounds: tuple[float, float] | None = None
) -> float:
    """The mean over episodes of ``(return - low) / (high - low)``, each clipped to [0, 1].

    ``low, high`` are the game's registered ``score_bounds`` (for the shipped games
    :data:`SCORE_BOUNDS`, chosen for a step cap of about 1,000 agent steps) unless
    ``bounds`` is given.  Raises ValueError for an unknown
    game, no returns, a non-finite return or ``high <= low``.
    """
    low, high = _bounds(game, bounds)
    values = _returns(returns)
    total = 0.0
    for value in values:
        if not math.isfinite(value):
            raise ValueError(f"returns must be finite, got {value}")
        total += min(1.0, max(0.0, (value - low) / (high - low)))
    return total / len(values)


def scoring_formula(
    game: str,
    returns: float | Sequence[float],
    *,
    target: float,
    bounds: tuple[float, float] | None = None,
) -> str:
    """One feedback line saying how a test's value and verdict follow from its returns,
    exactly as :func:`normalized_score` computes them: ``this test's value = clip((return
    + 21) / 42, 0, 1) = 0.4048 (return -4); it passes when the mean return (-4) >= 0``.
    ``target`` is the mean return the test asserts; bad input raises as there."""
    low, high = _bounds(game, bounds)
    values = _returns(returns)
    value = normalized_score(game, values, bounds=(low, high))
    shifted = "return" if low == 0 else f"(return {'-' if low > 0 else '+'} {_number(abs(low))})"
    formula = f"clip({shifted} / {_number(high - low)}, 0, 1)"
    if len(values) > 1:
        formula = f"the mean over its {len(values)} episodes of {formula}"
    shown = ", ".join(_number(v) for v in values)
    mean = _number(sum(values) / len(values))
    return (
        f"this test's value = {formula} = {value:.4g} "
        f"(return{'s' if len(values) > 1 else ''} {shown}); "
        f"it passes when the mean return ({mean}) >= {_number(target)}"
    )


def _bounds(game: str, bounds: tuple[float, float] | None) -> tuple[float, float]:
    """``bounds``, or the game's registered score bounds; ValueError when none or bad."""
    if bounds is None:
        games = _registry()
        known = games.get(game) if isinstance(game, str) else None
        if known is None or known.score_bounds is None:
            with_bounds = sorted(name for name, g in games.items() if g.score_bounds)
            raise ValueError(f"no score bounds for {game!r}; known games: {', '.join(with_bounds)}")
        bounds = known.score_bounds
    low, high = float(bounds[0]), float(bounds[1])
    if not high > low:
        raise ValueError(f"score bounds need low < high, got ({low}, {high})")
    return low, high


def _returns(returns: float | Sequence[float]) -> list[float]:
    if isinstance(returns, (int, float, numbers.Real)):
        values = [float(returns)]
    else:
        values = [float(r) for r in returns]
    if not values:
        raise ValueError("normalized_score needs at least one return")
    return values
