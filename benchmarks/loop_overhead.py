"""One genopt iteration against plain pytest on the same tests, and the per-candidate overhead.

Run: python benchmarks/loop_overhead.py [--tests N] [--sleep S] [--repeats R] [--candidates C]

A temporary git project with N tests, each sleeping S seconds (about a 1 s
suite by default), half of them failing.  A `python:` backend answers at once
with an edit that fixes the failing tests and breaks the passing ones: it wins
its minibatch and loses on the full set, so each candidate runs both stages
(the common expensive case) and nothing is committed.

Printed side by side, best of R interleaved rounds:

- plain: `python -m pytest` of the project;
- loop: `python -m pytest --genopt-iterations=1` (the session, the preflight
  and one iteration), and its ratio to plain;
- per candidate: the iteration's seconds (report.json) minus the tests' own
  time (the sum of the durations in a --junitxml report of the plain run):
  what evaluating one candidate costs above its tests.

Each round times the loop with a warm and a cold start-up (--genopt-start-up).
With --candidates C > 1 the iteration evaluates C such candidates at once;
--serial-too also times C = 1 and prints C's iteration against C serial ones.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import PYTEST, environment, last_report

START_UPS = ("warm", "cold")

CALC = """\
from pytest_genopt import trainable


@trainable
def add(a, b):
    return a + b + (1 if a % 2 else 0)
"""

#: fixes the odd cases (the minibatch's), breaks the even ones (the rest); each answer's
#: text differs (a harmless ``+ k * 0``), so the evaluation cache never serves one
OPTIMIZER = """\
import itertools

_calls = itertools.count()


def propose(request):
    k = next(_calls)
    text = f"def add(a, b):\\n    return a + b + (0 if a % 2 else 1) + {k} * 0\\n"
    return {"edits": [{"parameter": "calc.py::add", "text": text}],
            "rationale": "wins the batch, loses the rest"}
"""

TESTS = """\
import time

import pytest

from calc import add


@pytest.mark.parametrize("a", range({tests}))
def test_add(a):
    time.sleep({sleep})
    assert add(a, 1) == a + 1
"""


def make_project(root: Path, tests: int, sleep: float, env: dict[str, str]) -> None:
    root.mkdir()
    (root / "calc.py").write_text(CALC)
    (root / "optimizer.py").write_text(OPTIMIZER)
    (root / "pytest.ini").write_text("[pytest]\npythonpath = .\n")
    (root / "test_calc.py").write_text(TESTS.format(tests=tests, sleep=sleep))
    (root / ".gitignore").write_text("junit.xml\n")
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "init"]):
        subprocess.run(cmd, cwd=root, check=True, env=env)


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, capture_output=True, check=False)
    return time.perf_counter() - start


def tests_time(junit: Path) -> float:
    """The tests' own seconds: the sum of the test cases' durations in a junit report."""
    return sum(float(case.get("time", 0)) for case in ET.parse(junit).iter("testcase"))


def loop_round(
    root: Path, tag: str, candidates: int, env: dict[str, str], start_up: str = "warm"
) -> tuple[float, float]:
    """(wall seconds of a one-iteration run, that iteration's seconds)."""
    wall = timed(
        [
            *PYTEST,
            "--genopt-iterations=1",
            f"--genopt-start-up={start_up}",
            "--genopt-backend=python:optimizer:propose",
            "--genopt-seed=0",
            f"--genopt-candidates={candidates}",
            f"--genopt-branch=bench/{tag}",
        ],
        root,
        env,
    )
    iterations = last_report(root)["iterations"]
    if len(iterations) != 1 or iterations[0]["decision"] != "rejected":
        sys.exit(f"expected one rejected iteration, got {iterations}")
    return wall, float(iterations[0]["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=20)
    parser.add_argument("--sleep", type=float, default=0.04)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--candidates", type=int, default=1)
    parser.add_argument("--serial-too", action="store_true")
    args = parser.parse_args()
    env = environment(PYTEST_ADDOPTS=os.environ.get("PYTEST_ADDOPTS", ""))
    best: dict[str, float] = {}

    def keep(name: str, value: float) -> None:
        best[name] = min(best.get(name, float("inf")), value)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        make_project(root, args.tests, args.sleep, env)
        for repeat in range(args.repeats):
            keep("plain", timed([*PYTEST, "--junitxml=junit.xml"], root, env))
            keep("tests", tests_time(root / "junit.xml"))
            for mode in START_UPS:
                wall, seconds = loop_round(root, f"{mode}{repeat}", args.candidates, env, mode)
                keep(f"loop {mode}", wall)
                keep(f"iteration {mode}", seconds)
            if args.serial_too and args.candidates > 1:
                keep("serial", loop_round(root, f"s{repeat}", 1, env)[1] * args.candidates)
            print(f"round {repeat}: plain {best['plain']:.2f} s, " + ", ".join(
                f"loop {m} {best[f'loop {m}']:.2f} s" for m in START_UPS))  # fmt: skip
    report(args, best)


def report(args: argparse.Namespace, best: dict[str, float]) -> None:
    plain, tests = best["plain"], best["tests"]
    print(f"{args.tests} tests x {args.sleep:g} s; tests' own time {tests:.2f} s")
    for mode in START_UPS:
        loop = best[f"loop {mode}"]
        per_candidate = best[f"iteration {mode}"] / args.candidates
        print(
            f"{mode}: one iteration: loop {loop:.2f} s vs plain pytest {plain:.2f} s: "
            f"ratio {loop / plain:.2f}; per candidate ({args.candidates} in the iteration) "
            f"{per_candidate:.2f} s, overhead above its tests {per_candidate - tests:.2f} s"
        )
    if "serial" in best:
        print(
            f"{args.candidates} candidates at once {best['iteration warm']:.2f} s vs serial "
            f"{best['serial']:.2f} s: {best['iteration warm'] / best['serial']:.2f}x"
        )


if __name__ == "__main__":
    main()
