"""Ctrl-C and SIGTERM stop a run the same way: exit 2, journaled, reported, resumable.

Real subprocesses get real signals at a known moment, found by polling for a
file: an exchange request waiting for its answer, or a candidate's test running.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import pytest

from pytest_genopt.demo import CASSETTE
from tests.attack_support import processes_with
from tests.attack_support import wait_for as wait_for_processes
from tests.conftest import git

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

#: generous: the moment we wait for comes after a whole test session
READY_WITHIN = 300.0

SLOW_TEST = """\
import os
import subprocess


def test_slow():
    from calc import add

    marker = os.environ.get("GENOPT_TEST_MARKER")
    # a candidate's evaluation (not the session, not the preflight of the unchanged start)
    if marker and ".genopt" in __file__ and add(1, 2) == 3:
        subprocess.run(["sleep", marker])
    assert False, "fails in the session so that it is in the batch"
"""

FIXING_OPTIMIZER = """\
def propose(request):
    return {"edits": [{"parameter": "calc.py::add", "search": "return a - b",
                       "replace": "return a + b"}], "rationale": "add must add"}
"""


def wait_for(ready: Callable[[], bool], process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + READY_WITHIN
    while not ready():
        if process.poll() is not None:
            raise AssertionError(f"exited early ({process.returncode}): {process.stdout}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("the moment to interrupt never came")
        time.sleep(0.05)


def interrupt_when(
    command: list[str],
    cwd: Path,
    ready: Callable[[], bool],
    sig: signal.Signals,
    *,
    group: bool = False,
    env: dict[str, str] | None = None,
) -> tuple[int, str, str]:
    """Start ``command``, send ``sig`` once ``ready()`` (to its whole process group
    with ``group``, as a terminal's Ctrl-C does), and return exit status and output."""
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=group,
    )
    try:
        wait_for(ready, process)
        if group:
            os.killpg(process.pid, sig)
        else:
            process.send_signal(sig)
        out, err = process.communicate(timeout=READY_WITHIN)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process.returncode, out, err


def last_run(project: Path) -> tuple[str, Path]:
    runs = project / ".genopt" / "runs"
    run = (runs / "last").read_text().strip()
    return run, runs / run


def journal_events(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "journal.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def assert_stopped_cleanly(project: Path, status: int, out: str, err: str) -> tuple[str, str]:
    """Exit 2, end event, report, no worktree left; returns (run id, resume line)."""
    assert status == pytest.ExitCode.INTERRUPTED, out + err
    assert "Traceback" not in out + err
    run, run_dir = last_run(project)
    assert journal_events(run_dir)[-1]["event"] == "end"
    assert (run_dir / "report.json").is_file()
    assert (run_dir / "report.md").is_file()
    worktrees = git(project, "worktree", "list", "--porcelain")
    assert worktrees.count("worktree ") == 1, worktrees
    last = [line for line in out.splitlines() if line.strip()][-1]
    assert last.startswith("genopt: resume with: "), out
    assert last.endswith(f"--genopt-resume={run}")
    return run, last


def test_ctrl_c_while_waiting_for_an_exchange_answer(calc_project: Path) -> None:
    exchange = calc_project / "exchange"
    args = ["-p", "no:cacheprovider", "--genopt-iterations=3", "--genopt-backend=exchange:exchange"]
    status, out, err = interrupt_when(
        [sys.executable, "-m", "pytest", *args],
        calc_project,
        lambda: any(exchange.glob("*.request.json")),
        signal.SIGINT,
    )
    run, last = assert_stopped_cleanly(calc_project, status, out, err)
    assert shlex.split(last.removeprefix("genopt: resume with: ")) == [
        "python",
        "-m",
        "pytest",
        *args,
        f"--genopt-resume={run}",
    ]


def test_sigterm_during_a_candidate_evaluation_kills_it(calc_project: Path) -> None:
    (calc_project / "tests" / "test_slow.py").write_text(SLOW_TEST)
    (calc_project / "optimizer.py").write_text(FIXING_OPTIMIZER)
    git(calc_project, "add", "-A")
    git(calc_project, "commit", "-qm", "a slow test")
    # the candidate's processes live in a pid namespace of their own: find them by
    # a unique argument, not by a pid they could report
    marker = f"600.{secrets.randbelow(10**12):012d}"
    env = {**os.environ, "GENOPT_TEST_MARKER": marker}
    args = [
        "-p",
        "no:cacheprovider",
        "--genopt-iterations=2",
        "--genopt-batch-size=10",
        "--genopt-backend=python:optimizer:propose",
    ]
    status, out, err = interrupt_when(
        [sys.executable, "-m", "pytest", *args],
        calc_project,
        lambda: bool(processes_with(marker)),
        signal.SIGTERM,
        env=env,
    )
    run, last = assert_stopped_cleanly(calc_project, status, out, err)
    assert last.endswith(shlex.join([*args, f"--genopt-resume={run}"]))
    survivors = wait_for_processes(lambda: processes_with(marker), present=False, timeout=30)
    assert survivors == [], f"candidate processes {survivors} still run"


def test_ctrl_c_during_the_demo_writes_the_report_and_says_how_to_resume(
    tmp_path: Path,
) -> None:
    pytest.importorskip("ale_py")
    target = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}

    def iterating() -> bool:  # the run journaled its start and more: it is iterating
        return any(
            path.read_text(encoding="utf-8").count("\n") >= 2
            for path in target.glob(".genopt/runs/*/journal.jsonl")
        )

    command = [sys.executable, "-m", "pytest_genopt.cli", "demo", "--iterations", "5"]
    status, out, err = interrupt_when(
        [*command, "--dir", str(target)],
        tmp_path,
        iterating,
        signal.SIGINT,
        group=True,  # a terminal's Ctrl-C reaches the demo and its pytest alike
        env=env,
    )
    run, last = assert_stopped_cleanly(target, status, out, err)
    assert "genopt demo: stopped: interrupted" in out
    assert last == (
        f"genopt: resume with: cd {shlex.quote(str(target))} && python -m pytest -q "
        f"--genopt-iterations=5 --genopt-backend=replay:{CASSETTE} --genopt-seed=0 "
        f"--genopt-resume={run}"
    )


def test_the_resume_command_replaces_an_earlier_resume_in_either_form() -> None:
    from pytest_genopt.interrupts import resume_command

    args = ["-q", "--genopt-resume", "old", "--genopt-resume=older", "tests/it's here.py"]
    assert resume_command(args, "new", program="python -m pytest") == (
        "python -m pytest -q 'tests/it'\"'\"'s here.py' --genopt-resume=new"
    )
