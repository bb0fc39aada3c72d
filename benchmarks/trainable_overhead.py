"""Per-call overhead of @trainable against the bare function, measured side by side.

Run: python benchmarks/trainable_overhead.py [--calls N] [--repeats R]

Each variant is timed R times in interleaved rounds (so machine noise hits all
of them alike) and the best round is kept.  "inactive" is a plain pytest
session (no genopt run); "active" records every call into a ring buffer of
length --horizon, as during a run.
"""

from __future__ import annotations

import argparse
import timeit

from pytest_genopt import tracing, trainable


def bare(a: int, b: int) -> int:
    return a + b


@trainable
def decorated(a: int, b: int) -> int:
    return a + b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--horizon", type=int, default=10)
    args = parser.parse_args()

    def run(fn: object) -> float:
        return timeit.timeit("fn(1, 2)", globals={"fn": fn}, number=args.calls)

    best = {"bare": float("inf"), "inactive": float("inf"), "active": float("inf")}
    for _ in range(args.repeats):
        best["bare"] = min(best["bare"], run(bare))
        best["inactive"] = min(best["inactive"], run(decorated))
        tracing.begin_test(args.horizon)
        try:
            best["active"] = min(best["active"], run(decorated))
        finally:
            tracing.end_test()

    per_call = {name: seconds / args.calls * 1e9 for name, seconds in best.items()}
    for name, ns in per_call.items():
        print(f"{name:>9}: {ns:7.1f} ns/call")
    inactive = per_call["inactive"] / per_call["bare"]
    active = per_call["active"] / per_call["bare"]
    extra = {name: ns - per_call["bare"] for name, ns in per_call.items()}
    print(
        f"overhead vs bare: inactive {inactive:.2f}x (+{extra['inactive']:.0f} ns), "
        f"active {active:.2f}x (+{extra['active']:.0f} ns)"
    )


if __name__ == "__main__":
    main()
