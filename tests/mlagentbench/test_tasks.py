"""`genopt init mlagentbench/<task>` for both tasks and starts, and the written tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from pytest_genopt.cli import main
from pytest_genopt.suites import all_tasks
from pytest_genopt.trainables import discover
from tests.conftest import git

if TYPE_CHECKING:
    from pathlib import Path

STAGES = ["create_model", "predict", "preprocess", "select_features", "train_model"]
ROWS = {"house_prices": (2344, 586), "credit_scoring": (3563, 891)}


def test_both_tasks_and_starts_are_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks = [t for t in all_tasks() if t.suite == "mlagentbench"]
    assert sorted(t.name for t in tasks) == sorted(ROWS)
    for task in tasks:
        for variant in ("one_function", "pipeline"):
            target = tmp_path / f"{task.name}-{variant}"
            assert main(["init", task.id, str(target), "--start", variant]) == 0
            assert git(target, "status", "--porcelain") == ""
            meta = json.loads((target / "data" / "task.json").read_text())
            assert meta["task"] == task.name
            rows = [
                len((target / "data" / f"{p}.csv").read_text().splitlines()) - 1
                for p in ("train", "test")
            ]
            assert tuple(rows) == ROWS[task.name]
            assert (
                "Licence: as distributed in the R package"
                in (target / "data" / "SOURCE.md").read_text()
            )
            ids = sorted(p.id for p in discover(target))
            wanted = STAGES if variant == "pipeline" else ["train_model"]
            assert ids == [f"solution.py::{name}" for name in wanted]
    assert main(["init", "mlagentbench/house_prices", str(tmp_path / "x"), "--data", "a.csv"]) == 2
    assert "ships its own data" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("task", sorted(ROWS))
def test_the_starts_are_trivial_models_that_fail_every_fold(tmp_path: Path, task: str) -> None:
    target = tmp_path / "task"
    assert main(["init", f"mlagentbench/{task}", str(target), "--start", "pipeline"]) == 0
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"],
        cwd=target,
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
        check=False,
    )
    assert result.stdout.splitlines()[-1].startswith("6 failed"), result.stdout
    if task == "house_prices":
        assert "score -0.0" in result.stdout or "score 0.0" in result.stdout, result.stdout
        assert "RMSE $" in result.stdout
    else:
        assert "score 0.0000 is below the goal 0.6: F1 of 'bad' 0.0000" in result.stdout
