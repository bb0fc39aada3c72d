"""Wall time of K genopt iterations against the same pytest runs done by hand.

Run: python benchmarks/loop_overhead.py [--iterations K] [--tests N]

A temporary git project with N tests (half failing) and a `python:` backend
that answers instantly with an edit that does not help, so every iteration
evaluates the minibatch once and rejects it.  The same work done without the
plugin is one `python -m pytest` of all tests plus K `python -m pytest` runs
of the same minibatch node ids, each in a fresh subprocess.  Both are timed
side by side in one run (alternating, best of --repeats); the last line
prints the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CALC = """\
from pytest_genopt import trainable

OFFSET = 0


@trainable
def add(a, b):
    return a + b + (1 if a % 2 else 0) + OFFSET
"""

OPTIMIZER = """\
import itertools

_n = itertools.count()


def propose(request):
    k = next(_n)
    return {"edits": [{"parameter": "calc.py::add", "search": "+ OFFSET",
                       "replace": f"+ OFFSET * {k + 2}"}], "rationale": "no help"}
"""


def make_project(root: Path, tests: int) -> None:
    (root / "calc.py").write_text(CALC)
    (root / "optimizer.py").write_text(OPTIMIZER)
    (root / "pytest.ini").write_text("[pytest]\npythonpath = .\n")
    body = ["import pytest", "from calc import add", ""]
    body.append(f"@pytest.mark.parametrize('a', range({tests}))")
    body.append("def test_add(a):\n    assert add(a, 1) == a + 1\n")
    (root / "test_calc.py").write_text("\n".join(body))
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "b",
        "GIT_AUTHOR_EMAIL": "b@x.invalid",
        "GIT_COMMITTER_NAME": "b",
        "GIT_COMMITTER_EMAIL": "b@x.invalid",
    }
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "init"]):
        subprocess.run(cmd, cwd=root, check=True, env=env)


def run(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--tests", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    pytest_cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    best_loop = best_plain = float("inf")
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            root = Path(tmp) / f"p{repeat}"
            root.mkdir()
            make_project(root, args.tests)
            loop = run(
                [
                    *pytest_cmd,
                    f"--genopt-iterations={args.iterations}",
                    "--genopt-backend=python:optimizer:propose",
                    "--genopt-seed=0",
                    f"--genopt-branch=bench/{repeat}",
                ],
                root,
            )
            report = json.loads(next((root / ".genopt" / "runs").glob("*/report.json")).read_text())
            batches = [it["batch"] for it in report["iterations"]]
            if len(batches) != args.iterations:
                sys.exit(f"the loop ran {len(batches)} iterations, expected {args.iterations}")
            start = time.perf_counter()
            run(pytest_cmd, root)
            for batch in batches:
                run([*pytest_cmd, *batch], root)
            plain = time.perf_counter() - start
            best_loop, best_plain = min(best_loop, loop), min(best_plain, plain)
            print(f"repeat {repeat}: loop {loop:.2f} s, plain pytest {plain:.2f} s")
    print(
        f"{args.iterations} iterations, {args.tests} tests: loop {best_loop:.2f} s, "
        f"plain pytest {best_plain:.2f} s"
    )
    print(f"ratio loop/plain: {best_loop / best_plain:.2f}")


if __name__ == "__main__":
    main()
