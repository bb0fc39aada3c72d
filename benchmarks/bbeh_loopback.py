"""BBEH prompt starts on the benchmark's data, against a loopback task model.

Run: python benchmarks/bbeh_loopback.py --data PATH [--tasks causal_understanding,hyperbaton]

PATH is the benchmark's folder of ``bbeh_<task>/task.json`` (or GENOPT_BBEH_DATA).
The loopback model (``tests/bbeh/model.py``) answers every question right, in one of
five formats of which the seed ``extract_answer`` reads two.  For each task the
script writes the task with ``genopt init``, times one full evaluation of its tests
(plain pytest) with an empty cache and again with the cache filled, then runs one
genopt iteration whose ``python:`` optimizer proposes the robust ``extract_answer``
of the tests, with the holdout groups evaluated after it, and prints the objective
(train), the validation and test holdout objectives before and after, and the task
model's calls.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.measure import INIT, PYTEST, environment, last_report, timed  # noqa: E402
from tests.bbeh.model import ROBUST_EXTRACT, task_model  # noqa: E402

OPTIMIZER = f"""
ROBUST = {ROBUST_EXTRACT!r}


def propose(request):
    edit = {{"parameter": "program.py::extract_answer", "text": ROBUST}}
    return {{"edits": [edit], "rationale": "read every answer format"}}
"""


def measure(task: str, data: str, workdir: Path) -> None:
    target = workdir / task
    env = environment(GENOPT_TASK_MODEL="claude-loopback")
    init = [*INIT, f"bbeh/{task}", str(target), "--data", data]
    subprocess.run(init, env=env, check=True, capture_output=True)
    (target / "optimizer.py").write_text(OPTIMIZER, encoding="utf-8")
    with task_model(Path(data)) as server:
        env.update(ANTHROPIC_BASE_URL=server.base_url, ANTHROPIC_API_KEY="sk-bench-key")
        cold = timed(PYTEST, target, env)
        warm = timed(PYTEST, target, env)
        asked = len(server.messages_requests)
        flags = ["--genopt-iterations=1", "--genopt-backend=python:optimizer:propose",
                 "--genopt-batch-size=3", "--genopt-holdout-every=1"]  # fmt: skip
        run = timed([*PYTEST, *flags], target, env)
    report = last_report(target)
    groups = report["holdout"]["groups"]
    usage = next(iter(report["task_usage"].values()), {})
    print(
        f"{task}: objective {report['baseline']['objective']:.3f} -> "
        f"{report['best']['objective']:.3f}; validation {groups['validation']['baseline']:.3f}"
        f" -> {groups['validation']['best']:.3f}; test {groups['test']['baseline']:.3f} -> "
        f"{groups['test']['best']:.3f}"
    )
    print(
        f"    one evaluation ({asked} examples): {cold:.1f} s asking the model, "
        f"{warm:.1f} s from the cache; the 1-iteration run {run:.1f} s with "
        f"{usage.get('calls', 0)} task model calls, {usage.get('cached_calls', 0)} cached"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("GENOPT_BBEH_DATA"))
    parser.add_argument("--tasks", default="causal_understanding,hyperbaton")
    args = parser.parse_args()
    if not args.data:
        parser.error("--data PATH (the benchmark's folder of bbeh_<task>/task.json) is needed")
    with tempfile.TemporaryDirectory() as tmp:
        for task in args.tasks.split(","):
            measure(task, str(Path(args.data).resolve()), Path(tmp))


if __name__ == "__main__":
    main()
