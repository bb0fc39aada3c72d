"""The genopt command: list, init, demo, report."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import TYPE_CHECKING

from pytest_genopt.demo import CASSETTE, recorded_iterations
from tests.conftest import git

if TYPE_CHECKING:
    from pathlib import Path

    import pytest


def genopt(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_genopt.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def test_version() -> None:
    from pytest_genopt import __version__

    result = genopt("--version")
    assert (result.returncode, result.stdout) == (0, f"genopt {__version__}\n")


def test_list_shows_every_game_and_variant() -> None:
    result = genopt("list")
    assert result.returncode == 0, result.stderr
    for game in ("pong", "breakout", "space_invaders"):
        assert f"atari/{game} (pytest-genopt[atari] installed)" in result.stdout
    assert "--start skeleton (default)" in result.stdout
    assert "--start blank" in result.stdout


def test_init_writes_a_repository_whose_tests_run(tmp_path: Path) -> None:
    """The command end to end for one game; every game's and variant's written tests are
    run in tests/atari (test_tasks, test_protocol and the per-game files)."""
    game = "pong"
    target = tmp_path / game
    result = genopt("init", f"atari/{game}", str(target), "--start", "blank")
    assert result.returncode == 0, result.stderr
    assert f"genopt: wrote atari/{game} into {target}" in result.stdout
    assert "--genopt-iterations=10 --genopt-backend=search" in result.stdout
    assert git(target, "rev-list", "--count", "HEAD").strip() == "1"
    assert git(target, "status", "--porcelain") == ""
    assert "blank starting variant" in git(target, "log", "-1", "--format=%s")
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=target,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert tests.returncode in (0, 1), tests.stdout + tests.stderr
    assert " passed" in tests.stdout or " failed" in tests.stdout


def test_init_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine\n")
    result = genopt("init", "atari/pong", str(tmp_path))
    assert result.returncode == 2
    assert (
        result.stderr.strip() == f"genopt: error: {tmp_path} exists and is not an empty directory"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_init_refuses_unknown_tasks_and_variants(tmp_path: Path) -> None:
    result = genopt("init", "atari/pacman", str(tmp_path / "x"))
    assert result.returncode == 2
    assert (
        "unknown task 'atari/pacman'; known: atari/asterix, atari/breakout, atari/enduro, "
        "atari/freeway, atari/pong, atari/qbert, atari/seaquest, "
        "atari/space_invaders" in result.stderr
    )
    result = genopt("init", "atari/pong", str(tmp_path / "y"), "--start", "expert")
    assert result.returncode == 2
    assert "task atari/pong has no variant 'expert'; choose one of" in result.stderr
    assert not (tmp_path / "x").exists()
    assert not (tmp_path / "y").exists()


def test_demo_replays_the_recorded_llm_and_improves_pong_for_real(tmp_path: Path) -> None:
    """Offline, the demo replays the shipped recording of an LLM optimizing the Pong
    skeleton; every evaluation plays Pong (one iteration: it already improves it)."""
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    target = tmp_path / "demo"
    result = genopt("demo", "--iterations", "1", "--dir", str(target), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "ANTHROPIC_API_KEY is not set, so a recorded LLM optimizer answers" in out
    report_dir = target / ".genopt" / "runs"
    report = json.loads(
        (report_dir / (report_dir / "last").read_text().strip() / "report.json").read_text()
    )
    assert report["backend"] == f"replay:{CASSETTE}"
    [first] = report["iterations"]
    assert first["decision"] == "accepted"
    assert report["best"]["objective"] > report["baseline"]["objective"]
    assert report["best"]["commit"] is not None
    assert git(target, "rev-parse", "--verify", report["branch"]).strip()
    # the terminal: the run's lines, a table, returns per seed; no pytest tracebacks
    assert "genopt: iteration 1: accepted objective" in out
    assert re.search(r"^ +1  accepted  0\.\d{4} +The traces show the paddle", out, re.M), out
    returns = re.findall(r"^    seed\d +([+-]\d+) -> +([+-]\d+)$", out, re.M)
    assert len(returns) == 6, out
    assert sum(int(b) for _, b in returns) > sum(int(a) for a, _ in returns)
    assert f"genopt demo: branch {report['branch']} in {target}" in out
    for noise in ("Traceback", "def test_", "[100%]"):
        assert noise not in out
    assert "def test_" in (target / ".genopt" / "demo-pytest.log").read_text()
    # the recording answers the start it was made from, and at most its 10 iterations
    refused = genopt("demo", "--start", "blank", "--dir", str(tmp_path / "b"), env=env)
    assert refused.returncode == 2
    assert refused.stderr == (
        "genopt: error: the recorded optimizer answered the skeleton start; --start blank "
        "needs --backend (e.g. search, or anthropic with a key)\n"
    )
    assert not (tmp_path / "b").exists()
    assert recorded_iterations() == 10
    shown = genopt("report", "--dir", str(target))
    assert shown.returncode == 0
    assert shown.stdout.startswith(f"# genopt run {report['run']}")


def test_the_demo_summary_of_a_run_that_evaluated_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A start that does not evaluate leaves no objective: the summary says n/a."""
    from pytest_genopt.demo import show

    report = {
        "iterations": [],
        "baseline": {"objective": None, "passed": 0, "failed": 0},
        "best": {"objective": None, "passed": 0, "failed": 0, "commit": None},
        "holdout": {},
        "branch": "genopt/x",
        "base": "0" * 40,
        "stopped": "preflight: the start does not evaluate as a candidate",
    }
    show([], report, tmp_path)
    out = capsys.readouterr().out
    assert "genopt demo: objective n/a -> n/a; 0 of 0 training tests pass (were 0)" in out
    assert out.endswith("stopped: preflight: the start does not evaluate as a candidate\n")
