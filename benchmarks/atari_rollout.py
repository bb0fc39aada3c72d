"""Steps per second of the Atari suite's rollout against raw ``env.step``, side by side.

Run: python benchmarks/atari_rollout.py [--games pong,...] [--steps N] [--repeats R]

"rollout" is :func:`pytest_genopt.suites.atari.rollout.run_policy` with a genopt run
active (``tracing.begin_test``), a ``TrialReporter`` with horizon --horizon and the
default ``trace="losses"``: RAM object extraction, a trivial policy (cycling through the
game's actions) and trace recording, including every flush at a lost point or life.
"raw" is ``gymnasium.make(id, obs_type="ram", frameskip=4,
repeat_action_probability=0.0)`` stepped with the same actions.  Both create their
environment and play the same number of episodes from ``reset(seed=0)``, each to game
over or --steps steps, about --steps steps in all; the emulator is deterministic, so
both play the same games.  Each is timed R times in interleaved rounds
and the best round is kept.  The last line is the ratio rollout/raw of the steps per
second over all games together.  Target: at least 0.9 for every game.  Pong's raw step
is the cheapest, so its ratio is the most sensitive to noise: use --steps 6000
--repeats 10 for a steady figure.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from pytest_genopt import tracing
from pytest_genopt.suites.atari.env import GAMES, _load_gymnasium
from pytest_genopt.suites.atari.rollout import run_policy


def cycling_policy(n_actions: int) -> Any:
    """A policy that plays actions 0, 1, ..., n-1, 0, ... (one per step)."""
    step = iter(range(10**9))

    def policy(objects: object) -> int:
        return next(step) % n_actions

    return policy


def time_raw(gymnasium: Any, game: str, episodes: int, cap: int) -> tuple[int, float]:
    started = time.perf_counter()
    env = gymnasium.make(GAMES[game], obs_type="ram", frameskip=4, repeat_action_probability=0.0)
    n_actions = env.action_space.n
    taken = 0
    for _ in range(episodes):
        env.reset(seed=0)
        for _ in range(cap):
            _, _, terminated, truncated, _ = env.step(taken % n_actions)
            taken += 1
            if terminated or truncated:
                break
    env.close()
    return taken, time.perf_counter() - started


def time_rollout(
    game: str, episodes: int, cap: int, n_actions: int, horizon: int
) -> tuple[int, float]:
    record = tracing.begin_test(horizon)
    try:
        started = time.perf_counter()
        result = run_policy(
            cycling_policy(n_actions),
            game,
            seeds=[0] * episodes,
            max_steps=cap,
            genopt=tracing.TrialReporter(horizon),
        )
        seconds = time.perf_counter() - started
    finally:
        tracing.end_test()
    if not record.steps and sum(result.points_lost) + sum(result.lives_lost):
        raise RuntimeError(f"{game}: losses happened but nothing was traced")
    return result.steps, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", default=",".join(GAMES))
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--horizon", type=int, default=10)
    args = parser.parse_args()
    games = [g.strip() for g in args.games.split(",") if g.strip()]
    gymnasium = _load_gymnasium()

    n_actions: dict[str, int] = {}
    episodes: dict[str, int] = {}
    for game in games:
        env = gymnasium.make(GAMES[game], obs_type="ram")
        n_actions[game] = env.action_space.n
        env.close()
        # enough episodes (a cycling policy soon loses) for about --steps steps in all
        first, _ = time_raw(gymnasium, game, 1, args.steps)
        episodes[game] = -(-args.steps // first)

    best: dict[tuple[str, str], float] = {}
    counts: dict[tuple[str, str], int] = {}
    for _ in range(args.repeats):
        for game in games:
            for kind in ("raw", "rollout"):
                if kind == "raw":
                    taken, seconds = time_raw(gymnasium, game, episodes[game], args.steps)
                else:
                    taken, seconds = time_rollout(
                        game, episodes[game], args.steps, n_actions[game], args.horizon
                    )
                key = (game, kind)
                if counts.setdefault(key, taken) != taken:
                    raise RuntimeError(f"{game} {kind}: {taken} steps, earlier {counts[key]}")
                best[key] = min(best.get(key, float("inf")), seconds)

    total_raw = total_rollout = 0.0
    for game in games:
        raw = counts[(game, "raw")] / best[(game, "raw")]
        rollout = counts[(game, "rollout")] / best[(game, "rollout")]
        if counts[(game, "raw")] != counts[(game, "rollout")]:
            raise RuntimeError(f"{game}: raw and rollout played different games")
        total_raw += best[(game, "raw")]
        total_rollout += best[(game, "rollout")]
        print(
            f"{game:>15}: raw {raw:8.0f} steps/s, rollout {rollout:8.0f} steps/s, "
            f"ratio {rollout / raw:.2f} ({counts[(game, 'raw')]} steps, "
            f"{episodes[game]} episode(s))"
        )
    print(f"ratio rollout/raw: {total_raw / total_rollout:.2f}")


if __name__ == "__main__":
    main()
