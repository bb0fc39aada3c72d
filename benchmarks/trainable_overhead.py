"""Per-call cost of @trainable against the bare function, measured side by side.

Run: python benchmarks/trainable_overhead.py [--calls N] [--repeats R] [--horizon H]

Each variant is timed R times in interleaved rounds (so machine noise hits all
of them alike) and the best round is kept.  "no run" is production code or a
plain pytest session; "run active" is a test recorded during a genopt run: every
call goes into the test's ring buffer of length --horizon; "run, no test" is a
call during a run outside any recorded test (e.g. at collection) or inside
``tracing.untraced()``.  The ratios are each variant's time per call over the
bare function's.
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


def _activate() -> None:
    # tracing.activate() appeared with the free decorator; before it, begin_test sufficed
    activate = getattr(tracing, "activate", None)
    if activate is not None:
        activate()


def _deactivate() -> None:
    deactivate = getattr(tracing, "deactivate", None)
    if deactivate is not None:
        deactivate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # many short rounds: the best of them is the one least disturbed by other processes
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--horizon", type=int, default=10)
    args = parser.parse_args()

    def run(fn: object) -> float:
        return timeit.timeit("fn(1, 2)", globals={"fn": fn}, number=args.calls)

    names = ("bare", "no run", "run active", "run, no test")
    best = dict.fromkeys(names, float("inf"))
    for _ in range(args.repeats):
        best["bare"] = min(best["bare"], run(bare))
        best["no run"] = min(best["no run"], run(decorated))
        _activate()
        try:
            best["run, no test"] = min(best["run, no test"], run(decorated))
            tracing.begin_test(args.horizon)
            try:
                best["run active"] = min(best["run active"], run(decorated))
            finally:
                tracing.end_test()
        finally:
            _deactivate()

    per_call = {name: seconds / args.calls * 1e9 for name, seconds in best.items()}
    for name, ns in per_call.items():
        print(f"{name:>12}: {ns:7.1f} ns/call")
    ratio = {name: ns / per_call["bare"] for name, ns in per_call.items()}
    extra = {name: ns - per_call["bare"] for name, ns in per_call.items()}
    print(
        "decorated vs bare: "
        + ", ".join(f"{name} {ratio[name]:.2f}x (+{extra[name]:.0f} ns)" for name in names[1:])
    )


if __name__ == "__main__":
    main()
