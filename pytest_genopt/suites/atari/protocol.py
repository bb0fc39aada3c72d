"""How an Atari task's tests evaluate a policy: the quick protocol and the paper's.

A task written by ``genopt init atari/<game> DIR [--protocol NAME]`` holds its
protocol in ``protocol.json`` (written by :meth:`Protocol.to_text`, read by
:func:`read_protocol`: the one writer and the one reader of that file), and its tests
play through :func:`evaluate`.

* ``quick`` (the default): one test per seed, one episode each, capped at 1,000 steps,
  sticky actions 0.25; the evidence is the steps before each setback of the evaluated
  episode, up to the credit horizon.
* ``paper``: the evaluation of Nie et al. (2026) (:data:`PAPER`, one row per game):
  episodes and step caps per game, frameskip 4, sticky actions 0.  The evidence is a
  separate traced *training rollout* of ``--genopt-horizon`` steps (the paper's
  horizon: Pong 400, Breakout 300, other games 100, compared with 1); the evaluation
  episodes are played unrecorded and report their raw scores.

Importing this module is cheap (gymnasium loads when an episode is played).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from pytest_genopt import tracing

if TYPE_CHECKING:
    from pathlib import Path

    from pytest_genopt.suites.atari.rollout import Policy, RolloutResult
    from pytest_genopt.tracing import TrialReporter

__all__ = [
    "PAPER",
    "PROTOCOLS",
    "VERSION",
    "PaperRow",
    "Protocol",
    "evaluate",
    "protocol_for",
    "protocols_of",
    "read_protocol",
]

#: Version of ``protocol.json``.
VERSION = 1

#: The protocols a task may offer, each with a sentence for ``genopt list``.
PROTOCOLS = {
    "quick": "fast tests: 6 training and 2 holdout seeds, 1 episode each of at most "
    "1,000 steps, sticky actions 0.25; evidence: the steps before each setback",
    "paper": "the paper's evaluation (episodes x step cap per game, sticky actions 0, raw "
    "scores); evidence: a traced training rollout of --genopt-horizon steps",
}


class PaperRow(NamedTuple):
    """One game's evaluation in the paper.

    Attributes:
        episodes: evaluation episodes.
        max_steps: step cap of each (agent steps of 4 frames).
        horizon: steps of the traced training rollout in the paper's long-horizon
            setting (its other setting is 1).
        score_bounds: ``(low, high)`` for ``normalized_score`` at this step cap: above
            every score the paper reports for the game, so that the test's value does
            not saturate where the paper's results lie (the raw scores are what
            compare with the paper).
    """

    episodes: int
    max_steps: int
    horizon: int
    score_bounds: tuple[float, float]


#: The paper's evaluation, one row per game (a new game adds its row here).
PAPER: dict[str, PaperRow] = {
    "pong": PaperRow(10, 4000, 400, (-21.0, 21.0)),  # the whole game
    "breakout": PaperRow(1, 4000, 300, (0.0, 432.0)),  # one wall of bricks
    "space_invaders": PaperRow(1, 4000, 100, (0.0, 2000.0)),  # paper: up to 929
    "qbert": PaperRow(1, 4000, 100, (0.0, 2000.0)),  # paper: up to 560
    "seaquest": PaperRow(1, 4000, 100, (0.0, 500.0)),  # paper: up to 128
    "enduro": PaperRow(1, 5000, 100, (0.0, 300.0)),  # paper: up to 104
    "freeway": PaperRow(3, 2500, 100, (0.0, 40.0)),  # paper: up to 27.9
    "asterix": PaperRow(3, 20000, 100, (0.0, 10000.0)),  # paper: up to 3,467 +- 2,108
}

_EVIDENCE = ("losses", "rollout")


@dataclass(frozen=True)
class Protocol:
    """How a task's tests evaluate the policy (the contents of ``protocol.json``).

    Attributes:
        name: ``"quick"`` or ``"paper"``.
        game: the registered game the tests play.
        episodes: episodes per test; a test with seed ``s`` plays seeds ``s .. s+episodes-1``.
        max_steps: step cap of each episode.
        frameskip: emulator frames per step.
        sticky_actions: probability of repeating the previous action on each frame.
        seeds: one training test per seed.
        holdout_seeds: one holdout test per seed (reported, never evidence).
        evidence: ``"losses"``: the evaluated episodes are traced before each setback;
            ``"rollout"``: a separate training rollout of ``genopt.horizon`` steps is
            traced in full, the evaluation is not recorded.
        score_bounds: ``(low, high)`` for ``normalized_score``; None: the game's own.
        paper_horizon: the paper's long traced-rollout length for this game (None
            outside the paper protocol), for the README's commands.
    """

    name: str
    game: str
    episodes: int
    max_steps: int
    frameskip: int
    sticky_actions: float
    seeds: tuple[int, ...]
    holdout_seeds: tuple[int, ...]
    evidence: Literal["losses", "rollout"]
    score_bounds: tuple[float, float] | None = None
    paper_horizon: int | None = None

    def episode_seeds(self, seed: int) -> list[int]:
        """The seeds of the episodes a test with ``seed`` plays."""
        return list(range(seed, seed + self.episodes))

    def test_id(self, seed: int, *, holdout: bool = False) -> str:
        """The test id of ``seed``: ``seed3``, ``holdout100``, ``seeds0-9``."""
        kind = "holdout" if holdout else "seed"
        if self.episodes == 1:
            return f"{kind}{seed}"
        return f"{kind}s{seed}-{seed + self.episodes - 1}"

    def to_json(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "protocol": self.name,
            "game": self.game,
            "episodes": self.episodes,
            "max_steps": self.max_steps,
            "frameskip": self.frameskip,
            "sticky_actions": self.sticky_actions,
            "seeds": list(self.seeds),
            "holdout_seeds": list(self.holdout_seeds),
            "evidence": self.evidence,
            "score_bounds": None if self.score_bounds is None else list(self.score_bounds),
            "paper_horizon": self.paper_horizon,
        }

    def to_text(self) -> str:
        """``protocol.json``'s text."""
        return json.dumps(self.to_json(), indent=2) + "\n"

    @classmethod
    def from_json(cls, data: object) -> Protocol:
        """The protocol in ``data``; ValueError (one line) naming what is wrong."""
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        if data.get("version") != VERSION:
            raise ValueError(f"version {data.get('version')!r} is not {VERSION}")
        bounds = data.get("score_bounds")
        protocol = cls(
            name=_text(data, "protocol"),
            game=_text(data, "game"),
            episodes=_count(data, "episodes", 1),
            max_steps=_count(data, "max_steps", 1),
            frameskip=_count(data, "frameskip", 1),
            sticky_actions=_probability(data, "sticky_actions"),
            seeds=_seeds(data, "seeds"),
            holdout_seeds=_seeds(data, "holdout_seeds"),
            evidence=data.get("evidence"),  # type: ignore[arg-type]  # checked below
            score_bounds=None if bounds is None else _bounds(bounds),
            paper_horizon=None
            if data.get("paper_horizon") is None
            else _count(data, "paper_horizon", 0),
        )
        if protocol.evidence not in _EVIDENCE:
            raise ValueError(f"evidence must be one of {', '.join(_EVIDENCE)}")
        if not protocol.seeds:
            raise ValueError("seeds must name at least one training test")
        return protocol

    def describe(self) -> str:
        """The protocol in a few Markdown lines, for the task's README."""
        tests = f"{_plural(len(self.seeds), 'training test')} ({_seeds_text(self.seeds)})"
        if self.holdout_seeds:
            tests += f" and {_plural(len(self.holdout_seeds), 'holdout test')} "
            tests += f"({_seeds_text(self.holdout_seeds)}: reported, never used to accept an edit)"
        bounds = "the game's `score_bounds`"
        if self.score_bounds is not None:
            bounds = f"low = {self.score_bounds[0]:g}, high = {self.score_bounds[1]:g}"
        sticky = f"sticky actions {self.sticky_actions:g}"
        if not self.sticky_actions:
            sticky += " (a deterministic emulator: a deterministic policy plays the same game"
            sticky += " in every episode)"
        episodes = "1 episode"
        if self.episodes > 1:
            episodes = f"{self.episodes} episodes (consecutive seeds from its own)"
        lines = [
            f"## Evaluation protocol: {self.name}",
            "",
            "`protocol.json` records it and `tests/test_policy.py` reads it:",
            "",
            f"- {tests}, each playing {episodes} of at most {self.max_steps:,} steps of "
            f"{self.frameskip} frames, {sticky}.",
            "- A test's value is `normalized_score`: the mean over its episodes of "
            f"`(return - low) / (high - low)` clipped to [0, 1], {bounds}.",
        ]
        if self.evidence == "losses":
            lines.append(
                "- Evidence: per test, feedback (returns and the game's events; the "
                "episode's last N notable steps, points won as well as lost; how the value "
                "is computed) and the steps before each setback, up to "
                "`--genopt-horizon=N` steps."
            )
            return "\n".join(lines) + "\n"
        lines += [
            "- Feedback: the raw game score of each episode and their mean.",
            "- Evidence: a separate training rollout of exactly `--genopt-horizon=N` steps "
            "from the test's first seed, every step traced (and the last N `@trainable` "
            "calls); `--genopt-horizon=all` traces a whole capped episode, 0 none.",
            "",
            "The paper's two settings (its long horizon, and horizon 1):",
            "",
            "```",
            f"pytest --genopt-iterations=20 --genopt-horizon={self.paper_horizon}",
            "pytest --genopt-iterations=20 --genopt-horizon=1",
            "```",
        ]
        return "\n".join(lines) + "\n"


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} must be a non-empty string, got {value!r}")
    return value


def _count(data: dict[str, Any], key: str, least: int) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{key} must be an integer >= {least}, got {value!r}")
    return value


def _probability(data: dict[str, Any], key: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{key} must be a number from 0 to 1, got {value!r}")
    return float(value)


def _seeds(data: dict[str, Any], key: str) -> tuple[int, ...]:
    value = data.get(key)
    if not isinstance(value, list) or not all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value
    ):
        raise ValueError(f"{key} must be a list of integers >= 0, got {value!r}")
    return tuple(value)


def _bounds(value: object) -> tuple[float, float]:
    if not (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in value)
        and value[0] < value[1]
    ):
        raise ValueError(f"score_bounds must be [low, high] with low < high, got {value!r}")
    return float(value[0]), float(value[1])


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _seeds_text(seeds: tuple[int, ...]) -> str:
    return ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(map(str, seeds))


def protocols_of(game: str) -> dict[str, str]:
    """The protocols a game's task offers, the default first: ``quick``, and ``paper``
    when :data:`PAPER` has the game's row."""
    names = ["quick", "paper"] if game in PAPER else ["quick"]
    return {name: PROTOCOLS[name] for name in names}


def protocol_for(game: str, name: str) -> Protocol:
    """The protocol ``name`` for ``game``; ValueError for one the game does not offer."""
    offered = protocols_of(game)
    if name not in offered:
        raise ValueError(
            f"no protocol {name!r} for Atari game {game!r}; choose one of {', '.join(offered)}"
        )
    if name == "quick":
        return Protocol(
            name="quick",
            game=game,
            episodes=1,
            max_steps=1000,
            frameskip=4,
            sticky_actions=0.25,
            seeds=(0, 1, 2, 3, 4, 5),
            holdout_seeds=(100, 101),
            evidence="losses",
        )
    row = PAPER[game]
    return Protocol(
        name="paper",
        game=game,
        episodes=row.episodes,
        max_steps=row.max_steps,
        frameskip=4,
        sticky_actions=0.0,
        seeds=(0,),
        holdout_seeds=(),
        evidence="rollout",
        score_bounds=row.score_bounds,
        paper_horizon=row.horizon,
    )


def read_protocol(path: Path, *, game: str) -> Protocol:
    """The protocol in ``path`` (a task's ``protocol.json``) for ``game``.

    Raises ValueError, one line naming the file, when it is missing, malformed, of
    another version or for another game.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        protocol = Protocol.from_json(data)
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"{path.name}: {exc} (genopt init atari/{game} DIR --protocol NAME writes it)"
        ) from None
    if protocol.game != game:
        raise ValueError(f"{path.name}: a protocol for {protocol.game!r}, not {game!r}")
    return protocol


def evaluate(
    policy: Policy, protocol: Protocol, *, seed: int, genopt: TrialReporter | None = None
) -> RolloutResult:
    """Play the episodes of the test with ``seed`` under ``protocol`` and return them.

    ``"losses"`` evidence: the episodes are played through ``run_policy`` with
    ``genopt`` (the steps before each setback traced, one feedback line).  ``"rollout"``
    evidence: with a run active, first a training rollout of ``genopt.horizon`` steps
    (the whole capped episode for ``all``, none for 0) from ``seed`` is traced in full;
    then the evaluation episodes are played unrecorded and one feedback line gives
    their raw scores and mean.  The caller sets the test's value.
    """
    from pytest_genopt.suites.atari.rollout import run_policy

    play: dict[str, Any] = {
        "max_steps": protocol.max_steps,
        "frameskip": protocol.frameskip,
        "sticky_actions": protocol.sticky_actions,
    }
    seeds = protocol.episode_seeds(seed)
    if protocol.evidence == "losses":
        return run_policy(policy, protocol.game, seeds=seeds, genopt=genopt, **play)
    if genopt is not None and genopt.active:
        steps = protocol.max_steps if genopt.horizon is None else genopt.horizon
        if steps > 0:
            run_policy(
                policy,
                protocol.game,
                seeds=seed,
                genopt=genopt,
                trace="all",
                **dict(play, max_steps=steps),
            )
    with tracing.untraced():  # thousands of steps no evidence shows: record none
        result = run_policy(policy, protocol.game, seeds=seeds, **play)
    if genopt is not None:
        returns = ", ".join(_number(r) for r in result.returns)
        genopt.feedback(
            f"{protocol.name} protocol evaluation: mean raw score "
            f"{_number(result.mean_return)} over {_plural(len(result.returns), 'episode')}; "
            f"raw score per episode: {returns}; {result.summary()}"
        )
    return result


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"
