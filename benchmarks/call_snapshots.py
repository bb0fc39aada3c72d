"""What recording a @trainable call costs while a run is active, by kind of argument.

Run: python benchmarks/call_snapshots.py [--calls N] [--repeats R] [--atari]

A call made during a run snapshots its arguments (``self`` included) when it begins and
its result when it returns (:mod:`pytest_genopt.values`); the ring buffer keeps the last
--horizon calls and renders only those, at the end of the test.  Each variant is timed
R times in interleaved rounds and the best round is kept; "inactive" is the same call
with no run (one global load and an ``is None`` check).  With --atari, the snapshot of
each game's objects (the argument of a policy) is timed on objects from a short real
rollout, next to the emulator's own step time.
"""

from __future__ import annotations

import argparse
import time
import timeit
from typing import Any

from pytest_genopt import tracing, trainable, values


class Account:
    def __init__(self) -> None:
        self.owner = "ann"
        self.balance = 10
        self.history = [1, 2, 3]

    @trainable
    def deposit(self, amount: int) -> int:
        return self.balance + amount


@trainable
def add(a: int, b: int) -> int:
    return a + b


def best_of(repeats: int, number: int, calls: dict[str, Any], horizon: int) -> dict[str, float]:
    best = {f"{name} {mode}": float("inf") for name in calls for mode in ("inactive", "active")}
    for _ in range(repeats):
        for name, call in calls.items():
            seconds = timeit.timeit(call, number=number)
            best[f"{name} inactive"] = min(best[f"{name} inactive"], seconds)
            tracing.begin_test(horizon)
            try:
                seconds = timeit.timeit(call, number=number)
            finally:
                tracing.end_test()
            best[f"{name} active"] = min(best[f"{name} active"], seconds)
    return {name: seconds / number * 1e9 for name, seconds in best.items()}


def atari(steps: int) -> None:
    from pytest_genopt.suites.atari.env import GAMES, make_env

    for game in sorted(GAMES):
        seen = []
        with make_env(game) as env:
            frame = env.reset(0)
            started = time.perf_counter()
            for i in range(steps):
                frame, _, done = env.step(i % len(env.action_names))
                seen.append(frame.objects)
                if done:
                    frame = env.reset(0)
            step_us = (time.perf_counter() - started) / steps * 1e6
        started = time.perf_counter()
        snaps = [values.snapshot(objects) for objects in seen]
        snap_us = (time.perf_counter() - started) / len(seen) * 1e6
        started = time.perf_counter()
        length = sum(len(values.render(snap)) for snap in snaps[-100:])
        render_us = (time.perf_counter() - started) / min(100, len(snaps)) * 1e6
        print(
            f"{game:>15}: env.step {step_us:6.1f} us, snapshot {snap_us:5.1f} us "
            f"({snap_us / step_us:.0%} of a step), render {render_us:5.1f} us, "
            f"{length // min(100, len(snaps))} chars"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--horizon", type=int, default=10)
    parser.add_argument("--atari", action="store_true", help="time snapshots of game objects")
    args = parser.parse_args()
    account = Account()
    calls = {
        "add(1, 2)": lambda: add(1, 2),
        "account.deposit(5)": lambda: account.deposit(5),
        "add([1, 2], [3])": lambda: add([1, 2], [3]),  # type: ignore[arg-type]
    }
    for name, ns in best_of(args.repeats, args.calls, calls, args.horizon).items():
        print(f"{name:>30}: {ns:7.1f} ns/call")
    if args.atari:
        atari(1000)


if __name__ == "__main__":
    main()
