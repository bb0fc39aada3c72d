"""Per-call cost of @trainable against the bare function, measured side by side.

Run: python benchmarks/trainable_overhead.py [--calls N] [--repeats R] [--horizon H]
     [--breakdown]

Each variant is timed R times in interleaved rounds (so machine noise hits all
of them alike) and the best round is kept.  "no run" is production code or a
plain pytest session; "run active" is a test recorded during a genopt run: every
call goes into the test's ring buffer of length --horizon; "run, no test" is a
call during a run outside any recorded test (e.g. at collection) or inside
``tracing.untraced()``.  The ratios are each variant's time per call over the
bare function's.

"decorated" is recorded by code compiled into its own body (pytest_genopt/inline.py),
as every trainable whose source genopt can read is.

With --breakdown, it also times stand-ins for the template recorder (the second frame
used where the source cannot be read) built up one step at a time (each step's cost is
its time less the previous one's): a wrapper that only calls the function (the second
Python frame), then the check for a running test, the call's record made and appended,
the arguments' immutability checks, and the outcome (the value's check and its store),
which is the whole recorder.  The stand-ins hold what the recorder holds as constants
in default arguments instead, and mirror the lines of pytest_genopt/instrument.py's
template (keep them in step with it).
"""

from __future__ import annotations

import argparse
import timeit
from typing import Any

from pytest_genopt import tracing, trainable


def bare(a: int, b: int) -> int:
    return a + b


@trainable
def decorated(a: int, b: int) -> int:
    return a + b


# The recorder of pytest_genopt/instrument.py for ``(a, b)``, one step more each time.
_STEPS = {
    "wrapper": """
    return function(a, b)""",
    "+ test check": """
    __tracebackhide__ = True
    record = tracing._CURRENT
    if record is None:
        return function(a, b)
    return function(a, b)""",
    "+ record": """
    __tracebackhide__ = True
    record = tracing._CURRENT
    if record is None:
        return function(a, b)
    call = [None, info, named, running, None, a, b]
    record.buffer.append(call)
    return function(a, b)""",
    "+ arg checks": """
    __tracebackhide__ = True
    record = tracing._CURRENT
    if record is None:
        return function(a, b)
    if ((t := type(a)) is int or t is float or t is str or t in atoms) and (
        (t := type(b)) is int or t is float or t is str or t in atoms
    ):
        call = [None, info, named, running, None, a, b]
    else:
        raise TypeError("not reached")
    record.buffer.append(call)
    return function(a, b)""",
    "+ outcome": """
    __tracebackhide__ = True
    record = tracing._CURRENT
    if record is None:
        return function(a, b)
    if ((t := type(a)) is int or t is float or t is str or t in atoms) and (
        (t := type(b)) is int or t is float or t is str or t in atoms
    ):
        call = [None, info, named, running, None, a, b]
    else:
        raise TypeError("not reached")
    record.buffer.append(call)
    try:
        value = function(a, b)
    except BaseException as error:
        call[4] = error
        raise
    if (t := type(value)) is int or t is float or t is str or t in atoms:
        call[3] = value
    else:
        raise TypeError("not reached")
    return value""",
}


def _stand_ins() -> dict[str, Any]:
    from pytest_genopt.values import ATOMS

    bound = {
        "function": bare,
        "tracing": tracing,
        "info": decorated.__genopt__,  # type: ignore[attr-defined]
        "named": {},
        "running": getattr(tracing, "RUNNING", None),
        "type": type,
        "int": int,
        "float": float,
        "str": str,
        "atoms": ATOMS,
        "BaseException": BaseException,
    }
    made: dict[str, Any] = {}
    for name, body in _STEPS.items():
        defaults = ", ".join(f"{key}={key}" for key in bound)
        namespace = dict(bound)
        exec(f"def stand_in(a, b, {defaults}):{body}\n", namespace)
        made[name] = namespace["stand_in"]
    return made


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
    parser.add_argument("--calls", type=int, default=5_000)
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--horizon", type=int, default=10)
    parser.add_argument("--breakdown", action="store_true", help="time the recorder's steps")
    args = parser.parse_args()

    def run(fn: object) -> float:
        return timeit.timeit("fn(1, 2)", globals={"fn": fn}, number=args.calls)

    names = ("bare", "no run", "run active", "run, no test")
    steps = _stand_ins() if args.breakdown else {}
    best = dict.fromkeys([*names, *steps], float("inf"))
    for _ in range(args.repeats):
        best["bare"] = min(best["bare"], run(bare))
        best["no run"] = min(best["no run"], run(decorated))
        _activate()
        try:
            best["run, no test"] = min(best["run, no test"], run(decorated))
            tracing.begin_test(args.horizon)
            try:
                best["run active"] = min(best["run active"], run(decorated))
                for name, stand_in in steps.items():
                    best[name] = min(best[name], run(stand_in))
            finally:
                tracing.end_test()
        finally:
            _deactivate()

    per_call = {name: seconds / args.calls * 1e9 for name, seconds in best.items()}
    for name in names:
        print(f"{name:>12}: {per_call[name]:7.1f} ns/call")
    ratio = {name: ns / per_call["bare"] for name, ns in per_call.items()}
    extra = {name: ns - per_call["bare"] for name, ns in per_call.items()}
    print(
        "decorated vs bare: "
        + ", ".join(f"{name} {ratio[name]:.2f}x (+{extra[name]:.0f} ns)" for name in names[1:])
    )
    if steps:
        print("recorder stand-ins, one step more each (during a recorded test):")
        previous = per_call["bare"]
        for name in steps:
            ns = per_call[name]
            print(
                f"{name:>14}: {ns:7.1f} ns/call {ratio[name]:5.2f}x (step +{ns - previous:.0f} ns)"
            )
            previous = ns


if __name__ == "__main__":
    main()
