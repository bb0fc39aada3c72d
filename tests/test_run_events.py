"""The run as events: crash safety at each accept step, one-line failures, hostile text.

Real git, real pytest subprocesses, real kernel conditions (a full tmpfs, a
read-only bind mount, a held git ref lock) instead of mocks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import git, read_json

if TYPE_CHECKING:
    from pathlib import Path

# iteration 1 makes the add right except for a=100; iteration 2 finishes the job with a
# search/replace that only applies to the text at the branch head
STEPS = """
import json, os, subprocess

STEPS = {
    1: ("return a - b", "return a + b if a != 100 else 0"),
    2: ("return a + b if a != 100 else 0", "return a + b"),
}


def propose(request):
    with open("requests.jsonl", "a") as log:
        log.write(json.dumps(request) + "\\n")
    action = os.environ.get("STEP_ACTION", "")
    if request["iteration"] == 2 and action:
        subprocess.run(action, shell=True, check=False)
    search, replace = STEPS[request["iteration"]]
    return {
        "edits": [{"parameter": "calc.py::add", "search": search, "replace": replace}],
        "rationale": os.environ.get("STEP_RATIONALE", "step"),
    }
"""

BASE_ARGS = [
    "-p",
    "no:cacheprovider",
    "--genopt-backend=python:optimizer:propose",
    "--genopt-seed=0",
    "--genopt-branch=genopt/steps",
]


@pytest.fixture
def steps(calc_project: Path) -> Path:
    (calc_project / "optimizer.py").write_text(STEPS)
    (calc_project / ".gitignore").write_text("requests.jsonl\n")
    git(calc_project, "add", "-A")
    git(calc_project, "commit", "-q", "-m", "optimizer")
    return calc_project


def run_pytest(
    project: Path, *args: str, env: dict[str, str] | None = None, wrap: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", *BASE_ARGS, *args]
    if wrap is not None:  # the last item of wrap is a shell script the command ends
        command = [*wrap[:-1], wrap[-1] + " " + " ".join(f"'{c}'" for c in command)]
    return subprocess.run(
        command,
        cwd=project,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def journal_of(project: Path) -> list[dict[str, Any]]:
    run = (project / ".genopt" / "runs" / "last").read_text().strip()
    path = project / ".genopt" / "runs" / run / "journal.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def trailers(project: Path, branch: str) -> list[str]:
    log = git(project, "log", "--format=%(trailers:key=Genopt-Iteration,valueonly)", branch)
    return [line for line in log.split() if line]


def leftovers(project: Path) -> list[str]:
    return [p.name for p in (project / ".genopt").rglob("*.tmp")]


@pytest.mark.parametrize("point", ["after-intent", "after-commit", "after-commit-journaled"])
def test_a_kill_at_each_accept_step_is_resumed_without_duplicates(steps: Path, point: str) -> None:
    first = run_pytest(steps, "--genopt-iterations=2", env={"GENOPT_TEST_KILL_AT": point})
    assert first.returncode == -9, first.stdout + first.stderr
    journal = journal_of(steps)
    assert all(e["version"] == 2 for e in journal)
    kinds = [e["event"] for e in journal]
    assert (
        kinds[-1]
        == {
            "after-intent": "commit_intended",
            "after-commit": "commit_intended",
            "after-commit-journaled": "commit",
        }[point]
    )
    base = journal[0]["base"]

    second = run_pytest(steps, "--genopt-iterations=2", "--genopt-resume=last")
    assert second.returncode == 1, second.stdout + second.stderr  # the checkout still fails
    # one commit per accepted iteration, each iteration once
    assert trailers(steps, f"{base}..genopt/steps") == ["2", "1"]
    run = journal[0]["run"]
    report = read_json(steps / ".genopt" / "runs" / run / "report.json")
    accepted = [i["iteration"] for i in report["iterations"] if i["decision"] == "accepted"]
    assert accepted == [1, 2]
    assert report["best"]["objective"] == 1.0
    assert report["best"]["commit"] == git(steps, "rev-parse", "genopt/steps").strip()
    adopted = [e for e in journal_of(steps) if e["event"] == "commit" and e["adopted"]]
    assert len(adopted) == (1 if point == "after-commit" else 0)
    # the resumed run showed the optimizer the branch head's text, so its search applied
    requests = [json.loads(x) for x in (steps / "requests.jsonl").read_text().splitlines()]
    last = requests[-1]
    assert last["iteration"] == 2
    texts = [p["text"] for p in last["parameters"] if p["id"] == "calc.py::add"]
    assert "return a + b if a != 100 else 0" in texts[0]
    assert "return a + b\n" in git(steps, "show", "genopt/steps:calc.py")
    assert leftovers(steps) == []


def test_resume_refuses_a_moved_branch_and_a_broken_start_event(steps: Path) -> None:
    done = run_pytest(steps, "--genopt-iterations=1")
    assert done.returncode == 1, done.stdout + done.stderr  # the checkout's tests still fail
    run = journal_of(steps)[0]["run"]
    # someone else commits on the run's branch
    tree = git(steps, "rev-parse", "genopt/steps^{tree}").strip()
    other = git(steps, "commit-tree", tree, "-p", "genopt/steps", "-m", "by hand").strip()
    git(steps, "update-ref", "refs/heads/genopt/steps", other)
    journal = steps / ".genopt" / "runs" / run / "journal.jsonl"
    before = journal.read_bytes()

    moved = run_pytest(steps, "--genopt-iterations=2", "--genopt-resume=last")
    assert moved.returncode == 4
    errors = [line for line in moved.stderr.splitlines() if line.startswith("ERROR")]
    assert errors == [
        f"ERROR: --genopt-resume=last: branch 'genopt/steps' is at {other[:12]} but the "
        f"journal of run {run} ends at {journal_of(steps)[-1]['head'][:12]} with no commit "
        "intended: something else moved it; to resume, move it back with "
        f"`git branch -f genopt/steps {journal_of(steps)[-1]['head']}`"
    ]
    assert journal.read_bytes() == before
    assert git(steps, "rev-parse", "genopt/steps").strip() == other

    # a start event that lacks its settings is a usage error, not an INTERNALERROR
    lines = before.decode().splitlines()
    start = json.loads(lines[0])
    del start["settings"]
    journal.write_text("\n".join([json.dumps(start), *lines[1:]]) + "\n")
    broken = run_pytest(steps, "--genopt-iterations=2", f"--genopt-resume={run}")
    assert broken.returncode == 4
    assert "INTERNALERROR" not in broken.stdout + broken.stderr
    assert [line for line in broken.stderr.splitlines() if line.startswith("ERROR")] == [
        f"ERROR: --genopt-resume={run}: {journal}:1: 'start' event lacks settings"
    ]


def test_hostile_text_is_stored_escaped_and_the_commit_message_is_bounded(
    steps: Path,
) -> None:
    rationale = "make add add \ud800 really\n" + "why " * 50_000
    (steps / "optimizer.py").write_text(
        STEPS.replace('os.environ.get("STEP_RATIONALE", "step")', f"{rationale!r}")
    )
    result = run_pytest(steps, "--genopt-iterations=1")
    assert result.returncode == 1, result.stdout + result.stderr
    journal = journal_of(steps)
    assert [e["event"] for e in journal][-3:] == ["commit", "iteration_end", "end"]
    proposal = next(e for e in journal if e["event"] == "proposal")
    assert proposal["response"]["rationale"].startswith("make add add \\ud800 really")
    message = git(steps, "log", "-1", "--format=%B", "genopt/steps")
    assert message.startswith("genopt: make add add \\ud800 really\n")
    assert len(message.encode()) < 2500
    assert "more characters in the run's journal" in message
    report = read_json(steps / ".genopt" / "runs" / journal[0]["run"] / "report.json")
    assert report["iterations"][0]["decision"] == "accepted"


def test_a_failing_git_command_ends_the_run_in_one_line(steps: Path) -> None:
    lock = steps / ".git" / "refs" / "heads" / "genopt" / "steps.lock"
    result = run_pytest(steps, "--genopt-iterations=2", env={"STEP_ACTION": f"touch {lock}"})
    assert result.returncode == 3, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    summary = [line for line in result.stdout.splitlines() if "stopped:" in line]
    assert len(summary) == 1
    assert "branch 'genopt/steps' was not updated" in summary[0]
    assert "steps.lock" in summary[0]
    end = journal_of(steps)[-1]
    assert end["event"] == "end"
    assert end["failed"] is True
    assert "steps.lock" in end["stopped"]
    # iteration 1's commit is kept, and the report says what happened
    assert trailers(steps, "genopt/steps") == ["1"]
    report = read_json(steps / ".genopt" / "runs" / journal_of(steps)[0]["run"] / "report.json")
    assert report["stopped"] == end["stopped"]
    assert leftovers(steps) == []


def _namespaces_work(tmp: Path) -> str:
    probe = subprocess.run(
        [
            "unshare",
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            f"mount -t tmpfs -o size=64k tmpfs {tmp} && mount --bind {tmp} {tmp}"
            f" && mount -o remount,bind,ro {tmp}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return "" if probe.returncode == 0 else (probe.stderr.strip() or "unshare failed")


@pytest.mark.parametrize("condition", ["ENOSPC", "EROFS"])
def test_a_full_or_read_only_disk_ends_the_run_in_one_line(
    steps: Path, tmp_path: Path, condition: str
) -> None:
    probe = tmp_path / "probe"
    probe.mkdir()
    refused = _namespaces_work(probe)
    if refused:
        pytest.skip(f"the kernel refuses user/mount namespaces here: {refused}")
    runs = steps / ".genopt" / "runs"
    runs.mkdir(parents=True)
    (steps / ".genopt" / ".gitignore").write_text("*\n")
    if condition == "ENOSPC":
        setup = f"mount -t tmpfs -o size=256k tmpfs {runs}"
        action = f"dd if=/dev/zero of={runs}/filler bs=4k 2>/dev/null; sync"
        expected = "No space left on device"
    else:
        setup = f"mount --bind {runs} {runs}"
        action = f"mount -o remount,bind,ro {runs}"
        expected = "Read-only file system"
    wrap = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", f"{setup} && exec"]
    result = run_pytest(steps, "--genopt-iterations=2", env={"STEP_ACTION": action}, wrap=wrap)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    stopped = [line for line in result.stdout.splitlines() if "stopped:" in line]
    assert len(stopped) == 1
    assert f"journal.jsonl: {expected}" in stopped[0]
    if condition == "EROFS":  # a bind mount: what was written before is on the real disk
        kinds = [e["event"] for e in journal_of(steps)]
        assert kinds[-2:] == ["iteration_end", "iteration"]
    # the mount is gone with the namespace; what was journaled before is intact
    assert trailers(steps, "genopt/steps") == ["1"]
    assert leftovers(steps) == []


CONCLUDING = """
import json

import pytest

from pytest_genopt.backends import Usage, proposal_from_raw

FIRST = {"edits": [{"parameter": "calc.py::add", "search": "return a - b",
                    "replace": "return a + b if a != 100 else 0"}], "rationale": "step"}


class Concluding:
    name = "concluding"

    def propose(self, request):
        with open("requests.jsonl", "a") as log:
            log.write(json.dumps(request.to_json()) + "\\n")
        return proposal_from_raw(FIRST)

    def worst_case(self, request):
        return Usage()

    def close(self):
        pass

    def conclude(self, stopped, decisions):
        with open("concluded.json", "w") as out:
            json.dump({"stopped": stopped, "decisions": list(decisions)}, out)


@pytest.hookimpl
def pytest_genopt_make_backend(config, spec):
    return Concluding() if spec == "concluding" else None
"""


def test_evidence_is_the_loops_first_request_and_the_backend_hears_the_end(steps: Path) -> None:
    (steps / "conftest.py").write_text(CONCLUDING)
    evidence = run_pytest(steps, "--genopt-iterations=1", "--genopt-evidence=first.json")
    assert evidence.returncode == 1, evidence.stdout + evidence.stderr
    written = read_json(steps / "first.json")
    result = run_pytest(steps, "--genopt-iterations=1", "--genopt-backend=concluding")
    assert result.returncode == 1, result.stdout + result.stderr
    (sent,) = [json.loads(x) for x in (steps / "requests.jsonl").read_text().splitlines()]
    # the same code path: equal but for the run id
    assert json.loads(json.dumps(written).replace(written["run"], sent["run"])) == sent
    assert read_json(steps / "concluded.json") == {
        "stopped": "all iterations done",
        "decisions": [
            {
                "iteration": 1,
                "candidate": 0,
                "decision": "accepted",
                "reason": "objective 0.2000 -> 0.8000, batch 0.0000 -> 0.7500",
            }
        ],
    }
