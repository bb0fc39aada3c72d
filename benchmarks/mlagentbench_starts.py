"""The MLAgentBench starts side by side: their scores, one plausible edit, and its cost.

Run: python benchmarks/mlagentbench_starts.py [--tasks house_prices,credit_scoring]

For each task and start (``one_function``, ``pipeline``) the script writes the task
with ``genopt init``, times one evaluation of the start (plain pytest: 5 folds and the
holdout), runs one genopt iteration whose ``python:`` optimizer proposes the start's
plausible improvement (``tests/mlagentbench/edits.py``: gradient boosting on the
numeric columns), times one evaluation of the improved program, and prints the
objective (mean fold score) and the holdout (``test``) score before and after.  Each
model is trained with one OpenMP thread, as in the tests.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.measure import INIT, PYTEST, environment, last_report, timed  # noqa: E402
from tests.mlagentbench.edits import IMPROVEMENTS, optimizer  # noqa: E402

STARTS = ("one_function", "pipeline")


def measure(task: str, start: str, workdir: Path) -> str:
    """One row of the table for ``task`` from ``start``."""
    target = workdir / f"{task}-{start}"
    env = environment(OMP_NUM_THREADS="1")
    init = [*INIT, f"mlagentbench/{task}", str(target), "--start", start]
    subprocess.run(init, env=env, check=True, capture_output=True)
    (target / "optimizer.py").write_text(optimizer([IMPROVEMENTS[task, start]]))
    before = timed(PYTEST, target, env)
    flags = ["--genopt-iterations=1", "--genopt-backend=python:optimizer:propose"]
    run = timed([*PYTEST, *flags], target, env)
    report = last_report(target)
    (iteration,) = report["iterations"]
    subprocess.run(["git", "checkout", "-q", "--force", report["branch"]], cwd=target, check=True)
    after = timed(PYTEST, target, env)
    holdout = report["holdout"]["groups"]["test"]
    return (
        f"| {task} | {start} | {report['baseline']['objective']:.3f} | "
        f"{holdout['baseline']:.3f} | {iteration['decision']} | "
        f"{report['best']['objective']:.3f} | {holdout['best']:.3f} | "
        f"{before:.1f} | {after:.1f} | {run:.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tasks", default="house_prices,credit_scoring")
    args = parser.parse_args()
    print(
        "| task | start | objective | holdout | edit | objective after | holdout after | "
        "s per evaluation before | after | s for the 1-iteration run |"
    )
    print("|---|---|---:|---:|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for task in args.tasks.split(","):
            for start in STARTS:
                print(measure(task, start, Path(tmp)), flush=True)


if __name__ == "__main__":
    main()
