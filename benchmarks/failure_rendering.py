"""What genopt's evidence of a failure costs against pytest's own report of it.

Run: python benchmarks/failure_rendering.py [--tests N] [--depth D] [--repeats R]

A temporary project of N failing tests, each failing D calls deep in the project's
code, is run by pytest in this process.  For every failure a plugin times, side by
side on the same exception: genopt's rendering (pytest_genopt/frames.py: the
traceback with project frames shown and the rest folded, and the test's source with
its failing line), and pytest's own ``item.repr_failure``, which every failing test
costs in any pytest session.  Printed: microseconds per failure for each (the best of
R rounds) and their ratio.  Every session and evaluation of a genopt run renders each
failing test once.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_genopt.collector import test_location
from pytest_genopt.frames import Frames

if TYPE_CHECKING:
    from collections.abc import Generator

MODULE = """\
def step(a, depth):
    if depth:
        return step(a, depth - 1)
    return a + 2
"""

TESTS = """\
import pytest

from calc import step


@pytest.mark.parametrize("a", range({tests}))
def test_step(a):
    assert step(a, {depth}) == a + 1
"""


class Timer:
    """Times genopt's rendering and pytest's report of every failure."""

    def __init__(self) -> None:
        self.frames = Frames(str)
        self.seconds = {"genopt": 0.0, "pytest": 0.0}
        self.failures = 0

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        test = test_location(item)
        if report.failed and call.excinfo is not None and test is not None:
            start = time.perf_counter()
            self.frames.render(call.excinfo, test)
            self.frames.test_source(test, call.excinfo)
            middle = time.perf_counter()
            item.repr_failure(call.excinfo)
            self.seconds["genopt"] += middle - start
            self.seconds["pytest"] += time.perf_counter() - middle
            self.failures += 1
        return report


def one_round(project: Path) -> dict[str, Any]:
    timer = Timer()
    args = [str(project), "-q", "-p", "no:cacheprovider", "--tb=no", f"--rootdir={project}"]
    pytest.main(args, plugins=[timer])
    per = {name: s / max(timer.failures, 1) * 1e6 for name, s in timer.seconds.items()}
    return {**per, "failures": timer.failures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=300)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "calc.py").write_text(MODULE)
        (project / "test_calc.py").write_text(TESTS.format(tests=args.tests, depth=args.depth))
        (project / "pytest.ini").write_text("[pytest]\npythonpath = .\n")
        rounds = [one_round(project) for _ in range(args.repeats)]
    genopt = min(r["genopt"] for r in rounds)
    own = min(r["pytest"] for r in rounds)
    print(f"{rounds[0]['failures']} failures, {args.depth} project frames deep")
    print(f"genopt's evidence: {genopt:7.0f} us per failure")
    print(f"pytest's report:   {own:7.0f} us per failure")
    print(f"ratio: {genopt / own:.2f}")


if __name__ == "__main__":
    main()
