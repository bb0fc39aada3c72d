"""Refusals leave no trace: exit 4, one line, and git and .genopt exactly as they were."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import git

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path


def fingerprint(repo: Path) -> dict[str, Any]:
    """What a refusal must leave alone: refs, index, stash, worktrees and every byte
    of ``.genopt`` (or that it is absent, or a file)."""
    genopt = repo / ".genopt"
    listing: dict[str, bytes | str] = {}
    if genopt.is_file():
        listing["."] = genopt.read_bytes()
    elif genopt.is_dir():
        for path in sorted(genopt.rglob("*")):
            rel = path.relative_to(genopt).as_posix()
            listing[rel] = path.read_bytes() if path.is_file() else "directory"
    index = repo / ".git" / "index"
    return {
        "refs": git(repo, "for-each-ref"),
        "index": index.read_bytes() if index.exists() else None,
        "stash": git(repo, "stash", "list"),
        "worktrees": git(repo, "worktree", "list", "--porcelain"),
        "genopt": listing,
    }


def run_pytest(
    project: Path, args: Sequence[str], env: dict[str, str], wrap: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """One pytest subprocess in ``project``, run under ``wrap`` (a command prefix)."""
    command = [*wrap, sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]
    return subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def _no_key(project: Path, env: dict[str, str]) -> list[str]:
    env.pop("ANTHROPIC_API_KEY", None)
    return ["--genopt-backend=anthropic"]


def _no_cassette(project: Path, env: dict[str, str]) -> list[str]:
    return ["--genopt-backend=replay:missing.json"]


def _bad_prices(project: Path, env: dict[str, str]) -> list[str]:
    env["ANTHROPIC_API_KEY"] = "sk-ant-test-not-a-real-key"
    (project / "pytest.ini").write_text("[pytest]\npythonpath = .\ngenopt_prices = cheap\n")
    return ["--genopt-backend=anthropic"]


def _bad_exchange_timeout(project: Path, env: dict[str, str]) -> list[str]:
    (project / "pytest.ini").write_text("[pytest]\npythonpath = .\ngenopt_exchange_timeout = -1\n")
    return ["--genopt-backend=exchange:exchange"]


def _nothing_to_optimize(project: Path, env: dict[str, str]) -> list[str]:
    (project / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    return ["--genopt-backend=search"]


def _genopt_is_a_file(project: Path, env: dict[str, str]) -> list[str]:
    (project / ".genopt").write_text("not a directory\n")
    return ["--genopt-backend=search"]


def _stopped_by_x(project: Path, env: dict[str, str]) -> list[str]:
    return ["--genopt-backend=search", "-x"]


def _report_is_a_directory(project: Path, env: dict[str, str]) -> list[str]:
    (project / "out").mkdir()
    return ["--genopt-backend=search", "--genopt-report=out"]


def _evidence_under_a_file(project: Path, env: dict[str, str]) -> list[str]:
    return ["--genopt-evidence=calc.py/request.json"]


def _runs_is_a_file(project: Path, env: dict[str, str]) -> list[str]:
    (project / ".genopt").mkdir()
    (project / ".genopt" / ".gitignore").write_text("*\n")
    (project / ".genopt" / "runs").write_text("oops\n")
    return ["--genopt-backend=search"]


#: (case, expected line, whether it is found before any test runs)
CASES: list[tuple[Callable[[Path, dict[str, str]], list[str]], str, bool]] = [
    (_no_key, "ANTHROPIC_API_KEY is not set", True),
    (_no_cassette, "--genopt-backend=replay:missing.json: ", True),
    (_bad_prices, "--genopt-backend=anthropic: genopt_prices (ini): ", True),
    (
        _bad_exchange_timeout,
        "genopt_exchange_timeout (ini): invalid value '-1'; expected a number of seconds > 0",
        True,
    ),
    (_nothing_to_optimize, "genopt: nothing to optimize: no @trainable functions", False),
    (_genopt_is_a_file, "/.genopt is not a directory", True),
    (_runs_is_a_file, "/.genopt/runs is not a directory", True),
    (_stopped_by_x, "genopt: not started: the test session stopped early", False),
    (_report_is_a_directory, "--genopt-report: ", True),
    (_evidence_under_a_file, "--genopt-evidence: ", True),
]


def assert_refused(result: subprocess.CompletedProcess[str], expected: str, early: bool) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, output
    assert "Traceback" not in output
    assert len([line for line in output.splitlines() if expected in line]) == 1, output
    if early:  # refused at session start: not one test ran first
        assert "collected" not in result.stdout, output


@pytest.mark.parametrize(
    ("case", "expected", "early"), CASES, ids=[c[0].__name__.strip("_") for c in CASES]
)
def test_a_refusal_changes_nothing(
    calc_project: Path,
    case: Callable[[Path, dict[str, str]], list[str]],
    expected: str,
    early: bool,
) -> None:
    env = dict(os.environ)
    args = case(calc_project, env)
    before = fingerprint(calc_project)
    result = run_pytest(calc_project, ["--genopt-iterations=1", *args], env)
    assert_refused(result, expected, early)
    assert fingerprint(calc_project) == before
    assert not (calc_project / "exchange").exists()


def _read_only_mount(directory: Path) -> list[str]:
    script = (
        f"mount --bind {shlex.quote(str(directory))} {shlex.quote(str(directory))} && "
        f"mount -o remount,bind,ro {shlex.quote(str(directory))} && exec "
    )
    return ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script + '"$@"', "sh"]


def test_a_read_only_genopt_is_refused_before_the_tests_run(calc_project: Path) -> None:
    genopt = calc_project / ".genopt"
    (genopt / "runs" / "earlier").mkdir(parents=True)
    (genopt / ".gitignore").write_text("*\n")
    (genopt / "runs" / "earlier" / "journal.jsonl").write_text('{"event": "start"}\n')
    wrap = _read_only_mount(genopt)
    probe = subprocess.run(
        [*wrap, "touch", str(genopt / "probe")], capture_output=True, text=True, check=False
    )
    if "Read-only file system" not in probe.stderr:
        pytest.skip(f"no read-only bind mount here: {probe.stderr.strip() or probe.returncode}")
    before = fingerprint(calc_project)
    args = ["--genopt-iterations=1", "--genopt-backend=search"]
    result = run_pytest(calc_project, args, dict(os.environ), wrap)
    assert_refused(result, f"genopt: the run directory {genopt} is not writable", True)
    assert fingerprint(calc_project) == before
