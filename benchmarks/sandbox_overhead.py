"""Wall time of one candidate evaluation with and without the sandbox, side by side.

Run: python benchmarks/sandbox_overhead.py [--tests N] [--repeats R]

A temporary project with N tests (half failing) is evaluated R times in each
configuration, alternating so that machine load hits both alike:

- ``off``: ``evaluate(..., sandbox="off", memory=None)`` (the launcher still
  runs: PID namespace and authenticated results are always on);
- ``sandbox``: ``evaluate(..., sandbox="auto", memory=4G)``: Landlock plus
  the memory cap, what ``--genopt-sandbox=auto`` gives by default.

Prints the median and best of each and their ratio (target: at most 1.05).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from pytest_genopt.evaluate import evaluate
from pytest_genopt.sandbox import unavailable_reason

CALC = """\
def add(a, b):
    return a + b + (1 if a % 2 else 0)
"""


def make_project(root: Path, tests: int) -> list[str]:
    (root / "pytest.ini").write_text("[pytest]\npythonpath = .\n")
    (root / "calc.py").write_text(CALC)
    body = "from calc import add\n\n"
    for i in range(tests):
        body += f"\ndef test_{i}():\n    assert add({i}, 1) == {i + 1}\n"
    (root / "tests").mkdir()
    (root / "tests" / "test_calc.py").write_text(body)
    return [f"tests/test_calc.py::test_{i}" for i in range(tests)]


def timed(root: Path, ids: list[str], sandbox: str, memory: int | None) -> float:
    started = time.perf_counter()
    evaluation = evaluate(root, ids, sandbox=sandbox, memory=memory)
    seconds = time.perf_counter() - started
    if evaluation.status != "ok":
        raise SystemExit(f"evaluation failed: {evaluation.reason}\n{evaluation.output}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=7)
    options = parser.parse_args()
    reason = unavailable_reason()
    if reason:
        raise SystemExit(f"no sandbox to measure here: {reason}")
    with tempfile.TemporaryDirectory(prefix="genopt-bench-") as name:
        root = Path(name)
        ids = make_project(root, options.tests)
        timed(root, ids, "off", None)  # warm the file cache
        plain: list[float] = []
        confined: list[float] = []
        for _ in range(options.repeats):
            plain.append(timed(root, ids, "off", None))
            confined.append(timed(root, ids, "auto", 4 * 2**30))
    print(f"{options.tests} tests, {options.repeats} evaluations each (alternating)")
    print(f"{'':12}{'median s':>10}{'best s':>10}")
    for label, times in (("no sandbox", plain), ("sandbox", confined)):
        print(f"{label:12}{statistics.median(times):>10.3f}{min(times):>10.3f}")
    ratio = statistics.median(confined) / statistics.median(plain)
    print(f"sandbox / no sandbox (median): {ratio:.3f}")


if __name__ == "__main__":
    main()
