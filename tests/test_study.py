"""`genopt study`: a real grid of runs with the local and the Ray executor, resumed
without running anything twice; an interrupted run resumed; every refusal one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import pytest

from pytest_genopt.cli import main
from pytest_genopt.study.command import _Budget
from tests.conftest import BUGGY_CALC, CALC_TESTS, git, init_repo, tree_state
from tests.test_plots import check_png

if TYPE_CHECKING:
    from pathlib import Path

# The optimizer fixes `add` at once.  With STUDY_GATE set, it first waits until that
# file exists (a run the test interrupts while it waits, then lets go).
OPTIMIZER = """
import os
import pathlib
import time


def propose(request):
    gate = os.environ.get("STUDY_GATE")
    if gate and not os.path.exists(gate):
        pathlib.Path(gate + ".waiting").write_text("1")
        time.sleep(120)
    fix = {"parameter": "calc.py::add", "search": "return a - b", "replace": "return a + b"}
    return {"edits": [fix], "rationale": "add must add"}
"""
GRID = ["--grid", "horizon=1,all", "--grid", "batch_size=1,2", "--repeats", "2"]
RUN = ["--iterations", "1", "--backend", "python:optimizer:propose"]
PLAIN_RUN = ["--genopt-iterations=1", "--genopt-backend=python:optimizer:propose"]


@pytest.fixture
def source(tmp_path: Path) -> Path:
    files = {
        "calc.py": BUGGY_CALC,
        "tests/test_calc.py": CALC_TESTS,
        "optimizer.py": OPTIMIZER,
        "pytest.ini": "[pytest]\npythonpath = .\n",
        ".gitignore": ".genopt/\n__pycache__/\n",
    }
    return init_repo(tmp_path / "source", files)


def study_json(out: Path) -> dict[str, Any]:
    return json.loads((out / "study.json").read_text())  # type: ignore[no-any-return]


def check_grid(out: Path) -> list[dict[str, Any]]:
    """Every configuration x repeat ran once and improved; returns the runs."""
    runs = study_json(out)["runs"]
    seen = {(r["config"]["horizon"], r["config"]["batch_size"], r["repeat"]) for r in runs}
    assert seen == {(h, b, k) for h in ("1", "all") for b in ("1", "2") for k in (0, 1)}
    for run in runs:
        assert run["status"] == "finished", run["error"]
        assert run["seed"] == run["repeat"]  # repeat r of every configuration: seed 0 + r
        report = run["report"]
        assert report["settings"]["horizon"] == (
            None if run["config"]["horizon"] == "all" else int(run["config"]["horizon"])
        )
        assert report["settings"]["batch_size"] == int(run["config"]["batch_size"])
        assert report["best"]["objective"] == 1.0 > report["baseline"]["objective"]
    return runs  # type: ignore[no-any-return]


def test_a_local_study_runs_the_grid_once_and_leaves_the_source_alone(
    source: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = tree_state(source)
    monkeypatch.chdir(tmp_path)  # a relative --out is the current directory's, not git's
    out = tmp_path / "study"
    budget = ["--budget-usd", "1"]  # shared: half to each of the two runs going at once
    argv = ["study", str(source), *GRID, *RUN, *budget, "--jobs", "2", "--out", "study"]
    assert main(argv) == 0
    runs = check_grid(out)
    assert {run["report"]["settings"]["budget_usd"] for run in runs} == {0.5}
    assert tree_state(source) == before
    for run in runs:  # each run's branch lives in its own clone
        project = out / "runs" / run["id"] / "project"
        assert "return a + b" in git(project, "show", f"{run['report']['branch']}:calc.py")
    shown = capsys.readouterr().out
    assert "study: 8/8 done, 0 running, 0 failed, 0 waiting" in shown
    table = (out / "study.md").read_text()
    assert "| horizon |" in table
    assert "| batch_size |" in table
    assert "| 1 | 4 | 0 | 1.0000 ± 0.0000 |" in table  # horizon 1: 4 runs, each at 1.0
    assert check_png(out / "plots" / "learning_curves.png")
    assert check_png(out / "plots" / "final_holdout.png")
    # again: every run is finished, so nothing runs, and the aggregate is the same
    assert main(argv) == 0
    assert study_json(out)["runs"] == runs
    for run in runs:
        assert len(list((out / "runs" / run["id"] / "project/.genopt/runs").iterdir())) == 2
    assert "study: 8 runs, 8 finished earlier, 0 to run" in capsys.readouterr().out


def test_an_interrupted_study_resumes_its_run_where_it_stopped(
    source: Path, tmp_path: Path
) -> None:
    out, gate = tmp_path / "study", tmp_path / "gate"
    command = [sys.executable, "-m", "pytest_genopt.cli", "study", str(source), *RUN]
    env = {**os.environ, "STUDY_GATE": str(gate)}
    study = subprocess.Popen(
        [*command, "--out", str(out)], env=env, stdout=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while not gate.with_suffix(".waiting").exists():  # the run asks its optimizer
        assert study.poll() is None, study.stdout
        assert time.monotonic() < deadline
        time.sleep(0.2)
    study.send_signal(signal.SIGINT)  # Ctrl-C
    shown, _ = study.communicate(timeout=120)
    assert study.returncode == 2, shown
    assert "run the same command again to go on" in shown
    record = json.loads((out / "runs/default/r0/record.json").read_text())
    assert record["status"] == "interrupted"
    gate.write_text("open")
    again = subprocess.run(
        [*command, "--out", str(out)], env=env, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stdout + again.stderr
    (run,) = study_json(out)["runs"]
    assert run["status"] == "finished"
    assert run["run"] == record["run"]  # the same run, resumed
    assert run["report"]["best"]["objective"] == 1.0
    assert [it["iteration"] for it in run["report"]["iterations"]] == [1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grid", "seed=1,2"], "--grid seed: not a factor of a study"),
        (["--grid", "horizon"], "--grid 'horizon': expected NAME=V1,V2"),
        (["--grid", "horizon=1,1"], "a value given twice"),
        (["--repeats", "0"], "--repeats must be >= 1, got 0"),
        (["--jobs", "0"], "--jobs must be >= 1, got 0"),
        (["--budget-usd", "-1"], "--budget-usd must be a number >= 0, got -1.0"),
        (["--max-tokens", "0"], "--max-tokens must be >= 1, got 0"),
        (["--", "--genopt-seed=3"], "--genopt-seed after --: the study sets it"),
        (["--grid", "horizon=1", "--", "--genopt-horizon=3"], "--genopt-horizon after --"),
        (["SOURCE=atari/nope"], "atari/nope: neither a suite task"),
        (["SOURCE=atari/pong", "--grid", "start=nope"], "task atari/pong has no such variant"),
        (["SOURCE=."], "not a git repository"),
        (["--executor", "ray", "--address", "127.0.0.1:9"], "cannot connect to Ray at 127.0.0.1:9"),
    ],
)
def test_bad_study_options_are_one_line_and_write_nothing(
    source: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    out = tmp_path / "study"
    if args[0].startswith("SOURCE="):
        given = args.pop(0).removeprefix("SOURCE=")
        source = tmp_path if given == "." else given  # type: ignore[assignment]
    split = args.index("--") if "--" in args else len(args)
    argv = ["study", str(source), *RUN, *args[:split], "--out", str(out), *args[split:]]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert error.startswith("genopt: error: "), error
    assert error.count("\n") == 1, error
    assert message in error
    assert not out.exists()


def test_a_study_folder_holds_one_study(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "study"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["study", str(source), *RUN, "--out", str(out)]) == 2
    assert "not empty and not a study folder" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    out = tmp_path / "other"
    assert main(["study", str(source), *RUN, "--out", str(out)]) == 0
    state = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    assert main(["study", str(source), *RUN, "--iterations", "2", "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert "holds a study with iterations 1, not 2: choose another --out" in error
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == state


def test_a_ray_study_brings_every_run_back(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)  # a local Ray instance
    out = tmp_path / "study"
    argv = ["study", str(source), *GRID, *RUN, "--jobs", "2", "--executor", "ray"]
    assert main([*argv, "--out", str(out)]) == 0
    assert "| all | 4 | 0 | 1.0000 ± 0.0000 |" in (out / "study.md").read_text()
    assert check_png(out / "plots" / "learning_curves.png")
    for run in check_grid(out):
        folder = out / "runs" / run["id"]
        assert not (folder / "project").exists()  # it ran in a Ray worker's own folder
        assert json.loads((folder / "run" / "report.json").read_text()) == run["report"]
        assert (folder / "run" / "journal.jsonl").is_file()
        clone = tmp_path / "clones" / run["id"]
        subprocess.run(
            ["git", "clone", "-q", str(folder / "branch.bundle"), str(clone)], check=True
        )
        branch = run["report"]["branch"]
        assert "return a + b" in git(clone, "show", f"origin/{branch}:calc.py")


def test_the_budget_is_shared_so_runs_together_cannot_exceed_it() -> None:
    budget = _Budget(usd=1.0, tokens=1000)
    assert budget.share("a", 2) == ["--genopt-budget-usd=0.500000", "--genopt-max-tokens=500"]
    assert budget.share("b", 1) == ["--genopt-budget-usd=0.500000", "--genopt-max-tokens=500"]
    spent = {"input_tokens": 300, "output_tokens": 100, "cost_usd": 0.4}
    budget.settle({"id": "a", "report": {"usage": spent}})
    # a spent 0.4 and 400 tokens of its 0.5 and 500; b still holds its share
    assert budget.share("c", 1) == ["--genopt-budget-usd=0.100000", "--genopt-max-tokens=100"]
    budget.settle({"id": "b", "report": {"usage": {**spent, "cost_usd": 0.6}}})
    assert budget.share("d", 1) is None  # 1.0 spent, and c holds the rest
    assert _Budget(usd=None, tokens=1).share("e", 2) is None  # less than a token each
    assert _Budget(usd=None, tokens=None).share("f", 2) == []


def test_a_run_that_fails_is_recorded_with_its_reason_and_tried_again(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "study"
    argv = ["study", str(source), *RUN, "--grid", "horizon=bogus", "--out", str(out)]
    assert main(argv) == 1
    (run,) = study_json(out)["runs"]
    assert run["status"] == "failed"
    assert run["error"].startswith("pytest exited with status 4: ERROR: --genopt-horizon:")
    assert "horizon=bogus/r0: failed: pytest exited with status 4" in capsys.readouterr().out
    assert main(argv) == 1  # a failed run is started again from its source
    assert "1 runs, 0 finished earlier, 1 to run" in capsys.readouterr().out


def test_what_a_ray_node_sends_back_cannot_write_outside_its_run_folder(tmp_path: Path) -> None:
    import io
    import tarfile

    from pytest_genopt.study.executors import store

    journal = io.BytesIO()
    with tarfile.open(fileobj=journal, mode="w:gz") as archive:
        evil = tarfile.TarInfo("../../escaped.txt")
        evil.size = 4
        archive.addfile(evil, io.BytesIO(b"evil"))
    outcome = {"record": {}, "files": {"pytest.log": b"", "run.tar.gz": journal.getvalue()}}
    with pytest.raises(tarfile.OutsideDestinationError):
        store(tmp_path / "runs" / "r0", outcome)
    assert not list(tmp_path.rglob("escaped.txt"))


FORGER = """\
def add(a, b):
    import json
    import os
    import pathlib

    out = pathlib.Path(os.environ["STUDY_OUT"])
    forged = {"study_record": 1, "status": "finished", "report": {"best": {"objective": 9}}}
    for target in (out / "settings.json", out / "runs/default/r0/record.json",
                   pathlib.Path(os.environ["STUDY_SOURCE"]) / "calc.py"):
        try:
            target.write_text(json.dumps(forged))
        except OSError:
            pass
    return a + b
"""


def test_a_candidate_cannot_forge_the_study_or_touch_its_source(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "study"
    (source / "optimizer.py").write_text(
        f"def propose(request):\n"
        f"    return {{'edits': [{{'parameter': 'calc.py::add', 'text': {FORGER!r}}}],\n"
        f"            'rationale': 'forge'}}\n"
    )
    git(source, "commit", "-qam", "a forging optimizer")
    before = tree_state(source)
    monkeypatch.setenv("STUDY_OUT", str(out))
    monkeypatch.setenv("STUDY_SOURCE", str(source))
    assert (
        main(["study", str(source), *RUN, "--out", str(out), "--", "--genopt-sandbox=required"])
        == 0
    )
    settings = json.loads((out / "settings.json").read_text())
    assert settings["study_settings"] == 1
    (run,) = study_json(out)["runs"]
    assert run["status"] == "finished"
    assert run["report"]["best"]["objective"] == 1.0  # its real score, not the forged one
    assert tree_state(source) == before


def test_a_failed_run_is_described_by_its_own_stop_line(tmp_path: Path) -> None:
    from pytest_genopt.study.runner import _failure

    log = tmp_path / "pytest.log"
    log.write_text(
        "\x1b[31mFAILED\x1b[0m tests/test_number.py::test_ordinal - AssertionError: '13rd'\n"
        "genopt: run 1-a: stopped: preflight: the start does not evaluate as a candidate\n"
        "\x1b[31m1 failed\x1b[0m, 549 passed\n"
    )
    assert _failure(log, 3) == (
        "pytest exited with status 3: genopt: run 1-a: stopped: preflight: the start does "
        "not evaluate as a candidate"
    )
    log.write_text("\x1b[31mE   AssertionError: no\x1b[0m\n")
    assert _failure(log, 1) == "pytest exited with status 1: E   AssertionError: no"
    log.write_text("")
    assert _failure(log, 5) == "pytest exited with status 5 (see pytest.log)"


def test_a_source_imported_from_its_checkout_is_studied_in_each_clone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checkout on PYTHONPATH stands in for an editable install of it: every clone
    would import the checkout, unless its folder is an import root of the runs."""
    files = {
        "src/calc.py": BUGGY_CALC,
        "tests/test_calc.py": CALC_TESTS,
        "optimizer.py": OPTIMIZER.replace("calc.py::add", "src/calc.py::add"),
        ".gitignore": ".genopt/\n__pycache__/\n",
    }
    source = init_repo(tmp_path / "source", files)
    monkeypatch.setenv("PYTHONPATH", str(source / "src"))
    out = tmp_path / "study"
    assert main(["study", str(source), *RUN, "--out", str(out)]) == 0
    (run,) = study_json(out)["runs"]
    assert run["report"]["best"]["objective"] == 1.0
    # the same run in a clone without the import root cannot evaluate its candidates
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(source), str(clone)], check=True)
    plain = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *PLAIN_RUN],
        cwd=clone, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "imported from" in plain.stdout, plain.stdout
    assert "could not map that import" in plain.stdout
