"""`genopt init bbeh/<task>` for every task and variant, and the written tests as they run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING, Any

from pytest_genopt.cli import main
from pytest_genopt.suites import all_tasks
from pytest_genopt.suites.bbeh.tasks import PAPER_TASKS
from pytest_genopt.taskmodel import CACHE_ENV, MODEL_ENV, REPLAY_ENV
from pytest_genopt.trainables import discover
from tests.bbeh.model import task_model
from tests.bbeh.synthetic import write_benchmark
from tests.conftest import git

if TYPE_CHECKING:
    from pathlib import Path

    import pytest


def run_tests(
    directory: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_every_task_and_variant_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    benchmark = write_benchmark(tmp_path / "bbeh")
    bbeh = [t for t in all_tasks() if t.suite == "bbeh"]
    assert sorted(t.name for t in bbeh) == sorted(PAPER_TASKS)
    written = 0
    for task in bbeh:
        for variant in task.variants:
            target = tmp_path / f"{task.name}-{variant}"
            assert (
                main(["init", task.id, str(target), "--start", variant, "--data", str(benchmark)])
                == 0
            )
            written += 1
            assert git(target, "status", "--porcelain") == ""
            parts = {
                p: json.loads((target / "data" / f"{p}.json").read_text())
                for p in ("train", "validation", "test")
            }
            assert [len(p["examples"]) for p in parts.values()] == [15, 10, 1]
            readme = (target / "README.md").read_text()
            assert "CC-BY-4.0" in readme
            assert "Google DeepMind" in readme
            ids = sorted(p.id for p in discover(target, file_globs=["prompt.txt"]))
            if variant == "prompt":
                assert ids == ["program.py::extract_answer", "prompt.txt"]
                assert "genopt_task_model_gateway = true" in (target / "pytest.ini").read_text()
            elif task.name == "boolean_expressions":
                assert ids == ["solve.py::capital_of", "solve.py::solve"]
            else:
                assert ids == ["solve.py::solve"]
    assert written == len(PAPER_TASKS) + 2  # two tasks have a program start
    capsys.readouterr()
    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    assert "bbeh/boolean_expressions (pytest-genopt[bbeh] installed)" in listing
    assert "--start program: a trainable solve()" in listing


def test_init_refuses_bad_data_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "task.json"
    broken.write_text('{"examples": "none"}')
    not_bbeh = f'{broken}: not a BBEH task file: expected {{"examples": [...]}}'
    cases = [
        (["bbeh/hyperbaton", "--data", str(broken)], not_bbeh),
        (["bbeh/hyperbaton", "--data", str(tmp_path / "missing")], "no such file or folder"),
        (["atari/pong", "--data", str(broken)], "--data: task atari/pong reads no data"),
        (["bbeh/hyperbaton", "--start", "program"], "task bbeh/hyperbaton has no variant"),
    ]  # fmt: skip
    for args, message in cases:
        target = tmp_path / "out"
        assert main(["init", args[0], str(target), *args[1:]]) == 2
        error = capsys.readouterr().err
        assert error.startswith("genopt: error: "), error
        assert message in error, error
        assert error.count("\n") == 1
        assert not target.exists()


def test_the_program_start_runs_without_a_model(tmp_path: Path) -> None:
    benchmark = write_benchmark(tmp_path / "bbeh")
    target = tmp_path / "task"
    main(
        [
            "init",
            "bbeh/boolean_expressions",
            str(target),
            "--start",
            "program",
            "--data",
            str(benchmark),
        ]
    )
    result = run_tests(target)
    # solve() trusts every stated capital: half the questions put a false claim first
    assert result.stdout.splitlines()[-1].startswith("13 failed, 13 passed"), result.stdout
    assert "expected '(B)', answered '(A)'" in result.stdout


def test_the_prompt_start_asks_the_model_once_per_question(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    benchmark = write_benchmark(tmp_path / "bbeh")
    target = tmp_path / "task"
    main(["init", "bbeh/causal_understanding", str(target), "--data", str(benchmark)])
    with task_model(benchmark) as server:
        env = {
            "ANTHROPIC_BASE_URL": server.base_url,
            "ANTHROPIC_API_KEY": "test-key",
            MODEL_ENV: "claude-test",
        }
        first = run_tests(target, env)
        asked = len(server.messages_requests)
        again = run_tests(target, env)
        replayed = run_tests(target, {**env, REPLAY_ENV: "1", CACHE_ENV: str(tmp_path / "empty")})
    # 2 of 5 response formats read right by the seed; the others fail or raise
    assert first.stdout.splitlines()[-1].startswith("15 failed, 11 passed"), first.stdout
    assert "IndexError: list index out of range" in first.stdout
    assert asked == 26
    assert len(server.messages_requests) == 26
    assert again.stdout.splitlines()[-1].startswith("15 failed, 11 passed"), again.stdout
    request = server.messages_requests[0].body
    assert request["model"] == "claude-test"
    assert request["max_tokens"] == 2048
    assert request["messages"][0]["content"].startswith((target / "prompt.txt").read_text() + "\n")
    assert len(list((target / ".genopt" / "task-model-cache").glob("??/*.json"))) == 26
    assert "GENOPT_TASK_MODEL_REPLAY=1 and this request is not in the cache" in replayed.stdout


DYCK = """Task: Complete the rest of the sequence. Input: ( [ ] ) <
Thought 1: We should process each input one by one and keep track of the stack configuration.
Thought 2: stack: empty
Thought 3: ( ; stack: (
Thought 4: [ ; stack: ( [
Thought 5: ] ; stack: {shown}
Thought 6: ) ; stack: empty
Thought 7: {symbol} ; stack: {symbol}
Thought 8: Now, we have reached the end. The final stack is "{symbol}".
Q: Is there a mistake in this sequence? Write "No" if there are no mistakes, or the number N."""


def test_the_dyck_program_start_trusts_each_thoughts_bracket(tmp_path: Path) -> None:
    benchmark = write_benchmark(tmp_path / "bbeh")
    target = tmp_path / "task"
    main(
        ["init", "bbeh/dyck_languages", str(target), "--start", "program", "--data", str(benchmark)]
    )
    namespace: dict[str, Any] = {}
    exec(compile((target / "solve.py").read_text(), "solve.py", "exec"), namespace)
    solve = namespace["solve"]
    assert solve(DYCK.format(shown="(", symbol="<")) == "No"
    assert solve(DYCK.format(shown="[", symbol="<")) == "5"  # a wrong stack is seen
    # thought 7 processes "{" where the input has "<": the skeleton does not read the
    # input, so the stack it replays agrees with the thought and the mistake passes
    assert solve(DYCK.format(shown="(", symbol="{")) == "No"
