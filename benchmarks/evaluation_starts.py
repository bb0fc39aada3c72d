"""What one evaluation's start costs: a fresh pytest, a warm (forked) one, genopt's evaluate().

Run: python benchmarks/evaluation_starts.py [--rounds R]

On the loop benchmark's project (benchmarks/loop_overhead.py), one test that
takes no time, best of R interleaved rounds:

- plain pytest in a fresh interpreter (``python -m pytest``);
- the same forked from this process, which has imported pytest and genopt
  only (what a warm launcher could pre-import: the project's own plugins and
  conftests must come from each candidate's tree);
- genopt's ``evaluate()`` (launcher, namespaces, worker, sentinels, result),
  cold with the sandbox off and on where the kernel has it, and warm (forked from
  a zygote, :mod:`pytest_genopt.warmstart`) with the sandbox on.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from pytest_genopt.evaluate import evaluate

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loop_overhead import make_project
from measure import environment

TEST = "test_calc.py::test_add[0]"
ARGS = ["-q", "-p", "no:cacheprovider", TEST]


def fresh(root: Path) -> None:
    subprocess.run([sys.executable, "-m", "pytest", *ARGS], cwd=root, capture_output=True)


def forked(root: Path) -> None:
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.chdir(root)
        os._exit(int(pytest.main(ARGS)))
    os.waitpid(pid, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    import pytest_genopt.collector  # noqa: F401 - what the worker imports, warm too

    variants = {
        "plain pytest, fresh interpreter": fresh,
        "plain pytest, forked from a warm parent": forked,
        "evaluate(), cold, sandbox off": lambda root: evaluate(
            root, [TEST], sandbox="off", warm=False
        ),
        "evaluate(), cold, sandbox auto": lambda root: evaluate(
            root, [TEST], sandbox="auto", warm=False
        ),
        "evaluate(), warm, sandbox auto": lambda root: evaluate(root, [TEST], sandbox="auto"),
    }
    best = dict.fromkeys(variants, float("inf"))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        make_project(root, 20, 0.0, environment())
        for _ in range(args.rounds):
            for name, run in variants.items():
                start = time.perf_counter()
                run(root)
                best[name] = min(best[name], time.perf_counter() - start)
    for name, seconds in best.items():
        print(f"{name:42s} {seconds:.3f} s")


if __name__ == "__main__":
    main()
