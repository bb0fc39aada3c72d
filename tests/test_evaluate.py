"""Candidate evaluation (pytest_genopt.evaluate + pytest_genopt.worker): real subprocesses."""

from __future__ import annotations

import secrets
import sys
import textwrap
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_genopt.evaluate import (
    NO_REPORT,
    Evaluation,
    evaluate,
    session_args,
    xdist_available,
)
from pytest_genopt.worker import module_names, shadowed_modules
from pytest_genopt.workspace import Workspace
from tests.attack_support import processes_with, wait_for
from tests.conftest import BUGGY_CALC, CALC_TESTS, init_repo

if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import ModuleType

    from pytest_genopt.evidence import Trial

CALC = """\
from pytest_genopt import trainable


@trainable
def add(a, b):
    return a + b
"""

TESTS = """\
import pytest

from calc import add


def test_one():
    assert add(1, 2) == 3


def test_wrong():
    assert add(2, 2) == 5


def test_skipped():
    pytest.skip("not today")


def test_score(genopt):
    genopt.score(0.25)
    genopt.feedback("close")
    genopt.trace(step=1)
    assert add(1, 1) == 2


def test_not_asked():
    assert add(0, 0) == 0
"""

ASKED = [
    "tests/test_calc.py::test_one",
    "tests/test_calc.py::test_wrong",
    "tests/test_calc.py::test_skipped",
    "tests/test_calc.py::test_score",
]
UNKNOWN = [
    "tests/test_calc.py::test_does_not_exist",
    "tests/test_gone.py::test_x",  # the file is not there: never passed to pytest
]


def write_project(root: Path, files: Mapping[str, str]) -> Path:
    """A tiny project: pytest.ini with ``pythonpath = .`` plus ``files`` (dedented)."""
    files = {"pytest.ini": "[pytest]\npythonpath = .\n", **files}
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def crashing_project(root: Path, body: str, *, calc: str = CALC) -> Path:
    """A project whose ``tests/test_calc.py::test_crash`` runs ``body``."""
    test = "import os, signal, subprocess, sys, time\n\nfrom calc import add\n\n\n"
    test += "def test_fine():\n    assert add(1, 2) == 3\n\n\n"
    test += "def test_crash():\n" + textwrap.indent(textwrap.dedent(body), "    ")
    return write_project(root, {"calc.py": calc, "tests/test_calc.py": test})


CRASH_IDS = ["tests/test_calc.py::test_fine", "tests/test_calc.py::test_crash"]


def comparable(trial: Trial) -> dict[str, object]:
    """A trial without what legitimately differs between runs (durations, output)."""
    data = trial.to_json()
    del data["duration"], data["stdout"]
    return data


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Evaluation]:
    """The normal project evaluated once, serially (shared by several tests)."""
    root = write_project(
        tmp_path_factory.mktemp("baseline"), {"calc.py": CALC, "tests/test_calc.py": TESTS}
    )
    evaluation = evaluate(root, ASKED + UNKNOWN, trainable_files=["calc.py"], horizon=5)
    return root, evaluation


# ---------------------------------------------------------------------------- normal runs


def test_trials_for_exactly_the_asked_node_ids(baseline: tuple[Path, Evaluation]) -> None:
    _, evaluation = baseline
    assert evaluation.status == "ok", evaluation.output
    assert evaluation.reason == ""
    assert evaluation.ok
    assert list(evaluation.trials) == ASKED + UNKNOWN
    assert "1 deselected" in evaluation.output  # test_not_asked never ran
    assert 0 < evaluation.seconds < 60


def test_outcomes_values_and_call_records(baseline: tuple[Path, Evaluation]) -> None:
    trials = baseline[1].trials
    one, wrong, skipped, score = (trials[n] for n in ASKED)
    assert (one.outcome, one.value) == ("passed", 1.0)
    assert (wrong.outcome, wrong.value) == ("failed", 0.0)
    assert "assert 4 == 5" in wrong.message
    assert wrong.traceback[-1].startswith("tests/test_calc.py:")
    assert skipped.outcome == "skipped"
    assert not skipped.counted
    assert (score.outcome, score.score, score.value) == ("passed", 0.25, 0.25)
    assert score.feedback == ("close",)
    assert score.trace == (
        {"step": 1},
        {"call": "calc.py::add", "args": {"a": "1", "b": "1"}, "returned": "2"},
    )
    for trial in (one, wrong, score):
        assert trial.called == ("calc.py::add",)


def test_pytests_own_tracebacks_of_failures_are_not_made(tmp_path: Path) -> None:
    """The result carries genopt's evidence of a failure; pytest's traceback of it for
    the terminal is not made, whatever traceback style the session asked for."""
    root = write_project(tmp_path, {"calc.py": CALC, "tests/test_calc.py": TESTS})
    evaluation = evaluate(root, ASKED[:2], args=["--tb=long"])
    wrong = evaluation.trials["tests/test_calc.py::test_wrong"]
    assert (evaluation.status, wrong.outcome) == ("ok", "failed"), evaluation.reason
    assert "assert 4 == 5" in wrong.message
    assert "def test_wrong():" in wrong.test_source
    assert wrong.traceback[-1].startswith("tests/test_calc.py:")
    assert "FAILED tests/test_calc.py::test_wrong" in evaluation.output  # the short summary
    assert "FAILURES" not in evaluation.output
    assert "def test_wrong" not in evaluation.output


def test_unknown_node_ids_become_error_trials(baseline: tuple[Path, Evaluation]) -> None:
    for nodeid in UNKNOWN:
        trial = baseline[1].trials[nodeid]
        assert (trial.outcome, trial.message, trial.value) == ("error", NO_REPORT, 0.0)


def test_no_existing_test_file_runs_nothing(tmp_path: Path) -> None:
    evaluation = evaluate(tmp_path, ["tests/test_gone.py::test_x", "tests/test_gone.py::test_x"])
    assert evaluation.status == "ok"
    assert evaluation.seconds == 0.0
    assert list(evaluation.trials) == ["tests/test_gone.py::test_x"]
    assert evaluation.trials["tests/test_gone.py::test_x"].message == NO_REPORT


def test_candidate_worktree_code_is_what_runs(tmp_path: Path) -> None:
    """In a real Workspace candidate, with the user's checkout on PYTHONPATH too."""
    repo = init_repo(
        tmp_path / "repo",
        {"calc.py": BUGGY_CALC, "tests/test_calc.py": CALC_TESTS, "pytest.ini": "[pytest]\n"},
    )
    nodeids = [f"tests/test_calc.py::test_{n}" for n in ("small", "zero", "negative", "large")]
    with Workspace.create(repo, "r1") as ws:
        candidate = ws.candidate(0)
        ws.write(0, {"calc.py": BUGGY_CALC.replace("return a - b", "return a + b")})
        evaluation = evaluate(
            candidate, nodeids, trainable_files=["calc.py"], env={"PYTHONPATH": str(repo)}
        )
    assert evaluation.status == "ok", evaluation.output
    assert {t.outcome for t in evaluation.trials.values()} == {"passed"}
    assert not list(candidate.rglob("__pycache__/calc*.pyc"))  # PYTHONDONTWRITEBYTECODE


def test_environment_of_the_subprocess(tmp_path: Path) -> None:
    """PYTEST_ADDOPTS passes as it is but -x, -n, --maxfail and genopt's options are off;
    the candidate comes first on PYTHONPATH."""
    test = """\
        import os


        def test_fails_first():
            assert False


        def test_env(genopt):
            genopt.feedback(os.environ.get("PYTEST_ADDOPTS", "<unset>"))
            genopt.feedback(os.environ["PYTHONPATH"].split(os.pathsep)[0])
            genopt.feedback(os.environ.get("PYTHONDONTWRITEBYTECODE", ""))
            genopt.feedback(os.environ.get("MY_SETTING", ""))
    """
    root = write_project(tmp_path / "p", {"tests/test_env.py": test})
    nodeids = ["tests/test_env.py::test_fails_first", "tests/test_env.py::test_env"]
    env = {
        "PYTEST_ADDOPTS": "-x -n 3 --maxfail=1 -rs --genopt-horizon 3",
        "PYTHONPATH": str(tmp_path / "elsewhere"),
        "MY_SETTING": "on",
    }
    evaluation = evaluate(root, nodeids, env=env)
    assert evaluation.status == "ok", evaluation.output
    assert evaluation.trials[nodeids[0]].outcome == "failed"
    feedback = evaluation.trials[nodeids[1]].feedback  # ran despite -x and --maxfail=1
    assert feedback == (env["PYTEST_ADDOPTS"], str(root.resolve()), "1", "on")


# ---------------------------------------------------------------------------- broken candidates


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    # pids inside the evaluation's pid namespace mean nothing here: find the
    # test's child by a unique argument instead
    marker = f"60.{secrets.randbelow(10**12):012d}"
    root = crashing_project(
        tmp_path / "p",
        f"""\
        child = subprocess.Popen(["sleep", "{marker}"])
        while True:
            pass
        """,
    )
    evaluation = evaluate(root, CRASH_IDS, timeout=2)
    assert evaluation.status == "timeout", evaluation.output
    assert evaluation.reason == "the evaluation exceeded --genopt-timeout=2 s and was killed"
    assert evaluation.seconds >= 2
    assert {t.message for t in evaluation.trials.values()} == {NO_REPORT}
    survivors = wait_for(lambda: processes_with(marker), present=False, timeout=5)
    assert survivors == [], "the test's child process survived the timeout"


def test_cancel_stops_a_running_evaluation(tmp_path: Path) -> None:
    root = crashing_project(tmp_path, "time.sleep(60)\n")
    cancel = threading.Event()
    timer = threading.Timer(0.5, cancel.set)
    timer.start()
    try:
        evaluation = evaluate(root, CRASH_IDS, timeout=60, cancel=cancel)
    finally:
        timer.cancel()
    assert evaluation.status == "cancelled"
    assert evaluation.reason == "the evaluation was cancelled"
    assert evaluation.seconds < 60  # did not wait for the sleep to end


def test_os_exit_in_a_test_is_a_crash(tmp_path: Path) -> None:
    root = crashing_project(tmp_path, "os._exit(3)\n")
    evaluation = evaluate(root, CRASH_IDS)
    assert evaluation.status == "crashed"
    assert evaluation.reason.startswith("the test process exited with status 3 before reporting")
    assert {t.message for t in evaluation.trials.values()} == {NO_REPORT}


def test_segfault_is_a_crash_naming_the_signal(tmp_path: Path) -> None:
    root = crashing_project(tmp_path, "os.kill(os.getpid(), signal.SIGSEGV)\n")
    evaluation = evaluate(root, CRASH_IDS)
    assert evaluation.status == "crashed"
    assert evaluation.reason == "the test process was killed by SIGSEGV"


def test_syntax_error_in_the_candidate_is_a_collection_error(tmp_path: Path) -> None:
    broken = CALC.replace("def add(a, b):", "def add(a, b)")
    root = crashing_project(tmp_path, "pass\n", calc=broken)
    evaluation = evaluate(root, CRASH_IDS)
    assert evaluation.status == "collection-error", evaluation.output
    assert evaluation.reason.startswith("collection failed: tests/test_calc.py: SyntaxError")
    assert "(calc.py:5)" in evaluation.reason
    assert str(tmp_path) not in evaluation.reason


def test_sys_exit_at_import_is_a_collection_error(tmp_path: Path) -> None:
    root = crashing_project(tmp_path, "pass\n", calc="import sys\n\nsys.exit(1)\n")
    evaluation = evaluate(root, CRASH_IDS)
    assert evaluation.status == "collection-error", evaluation.output
    assert evaluation.reason.startswith("collection failed: tests/test_calc.py: SystemExit")


def test_broken_conftest_is_a_collection_error(tmp_path: Path) -> None:
    root = crashing_project(tmp_path, "pass\n")
    (root / "conftest.py").write_text("import no_such_module_here\n")
    evaluation = evaluate(root, CRASH_IDS)
    assert evaluation.status == "collection-error", evaluation.output
    assert "No module named 'no_such_module_here'" in evaluation.reason


def test_bad_arguments_are_a_crash_with_pytests_message(tmp_path: Path) -> None:
    root = crashing_project(tmp_path, "pass\n")
    evaluation = evaluate(root, CRASH_IDS, args=["--no-such-option"])
    assert evaluation.status == "crashed"
    assert evaluation.reason.startswith("the test process exited with status 4 before reporting")
    assert "unrecognized arguments: --no-such-option" in evaluation.reason


def test_programmer_errors_raise(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a directory"):
        evaluate(tmp_path / "missing", ["t.py::t"])
    with pytest.raises(ValueError, match="timeout"):
        evaluate(tmp_path, ["t.py::t"], timeout=0)
    with pytest.raises(ValueError, match="workers"):
        evaluate(tmp_path, ["t.py::t"], workers=0)
    with pytest.raises(ValueError, match="one string"):
        evaluate(tmp_path, "t.py::t")


# ---------------------------------------------------------------------------- shadowing


def shadowing_project(tmp_path: Path, where: str) -> tuple[Path, Path]:
    """A project whose ``calc`` is imported from ``other/`` (like an editable install).

    ``where`` is the file that puts ``other/`` first on sys.path: ``conftest.py``
    (every process) or the test module (only where tests are collected).
    """
    root, other = tmp_path / "project", tmp_path / "other"
    write_project(other, {"calc.py": CALC.replace("a + b", "a * b")})
    shadow = f"import sys\nsys.path.insert(0, {str(other)!r})\nsys.modules.pop('calc', None)\n"
    files = {"calc.py": CALC}
    if where == "conftest.py":
        files["conftest.py"] = shadow + "import calc\n"
        files["tests/test_calc.py"] = TESTS
    else:
        files["tests/test_calc.py"] = shadow + TESTS
    write_project(root, files)
    return root, (other / "calc.py").resolve()


def test_a_shadowing_copy_of_a_trainable_module_is_reported(tmp_path: Path) -> None:
    root, shadow = shadowing_project(tmp_path, "conftest.py")
    evaluation = evaluate(root, ASKED, trainable_files=["calc.py"])
    assert evaluation.status == "shadowed", evaluation.output
    assert evaluation.reason == (
        f"calc.py is imported from {shadow}, not from the candidate worktree "
        "(an installed copy, e.g. an editable install, shadows it)"
    )


@pytest.mark.skipif(not xdist_available(), reason="pytest-xdist is not installed")
def test_xdist_workers_report_shadowing_too(tmp_path: Path) -> None:
    root, shadow = shadowing_project(tmp_path, "tests/test_calc.py")
    evaluation = evaluate(root, ASKED, trainable_files=["calc.py"], workers=2)
    assert evaluation.status == "shadowed", evaluation.output
    assert f"calc.py is imported from {shadow}" in evaluation.reason


def test_module_names() -> None:
    assert module_names("src/pkg/policy.py") == ["src.pkg.policy", "pkg.policy", "policy"]
    assert module_names("src/pkg/__init__.py") == ["src.pkg", "pkg"]
    assert module_names("my-project/pkg/policy.py") == ["pkg.policy", "policy"]
    assert module_names("prompts/system.txt") == []


def test_shadowing_check_ignores_unrelated_modules(tmp_path: Path) -> None:
    class Module:
        def __init__(self, file: Path) -> None:
            self.__file__ = str(file)

    root = tmp_path / "wt"
    (root / "src/pkg").mkdir(parents=True)
    modules: dict[str, ModuleType] = {
        # the standard library's "types" is not the project's src/pkg/types.py
        "types": Module(Path(sys.executable)),  # type: ignore[dict-item]
        # "pkg.policy" decides; an unrelated top-level "policy" does not matter
        "pkg.policy": Module(root / "src/pkg/policy.py"),  # type: ignore[dict-item]
        "policy": Module(tmp_path / "elsewhere/policy.py"),  # type: ignore[dict-item]
        "pkg.other": Module(tmp_path / "site-packages/pkg/other.py"),  # type: ignore[dict-item]
    }
    found = shadowed_modules(
        root, ["src/pkg/types.py", "src/pkg/policy.py", "src/pkg/other.py"], modules
    )
    assert found == [
        f"src/pkg/other.py is imported from {tmp_path / 'site-packages/pkg/other.py'}, not from "
        "the candidate worktree (an installed copy, e.g. an editable install, shadows it)"
    ]
    # imported before the tree was on the path (by pytest itself, as iniconfig is)
    early = shadowed_modules(root, ["src/pkg/other.py"], modules, early={"pkg.other"})
    assert early == [
        f"src/pkg/other.py is imported from {tmp_path / 'site-packages/pkg/other.py'} before the "
        "candidate's tree is on the path: pytest, genopt or the interpreter's start-up imports "
        "it (a package pytest depends on, such as iniconfig or pluggy, cannot be a candidate)"
    ]


# ---------------------------------------------------------------------------- xdist


@pytest.mark.skipif(not xdist_available(), reason="pytest-xdist is not installed")
def test_two_workers_give_the_same_trials(baseline: tuple[Path, Evaluation]) -> None:
    root, serial = baseline
    parallel = evaluate(root, ASKED + UNKNOWN, trainable_files=["calc.py"], horizon=5, workers=2)
    assert parallel.status == "ok", parallel.output
    assert "bringing up nodes" in parallel.output  # xdist ran it
    assert list(parallel.trials) == ASKED + UNKNOWN
    assert {n: comparable(t) for n, t in parallel.trials.items()} == {
        n: comparable(t) for n, t in serial.trials.items()
    }


# ---------------------------------------------------------------------------- arguments


def test_session_args_are_the_invocation_minus_its_paths(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_a="def test_a(): pass\n")
    pytester.mkdir("sub")
    given = ["-p", "no:randomly", "-xvs", "--genopt-iterations=3", "-k", "test_a or sub"]
    given += ["test_a.py::test_a", "-n2", "--junitxml=out.xml", "sub", "--lf"]
    config = pytester.parseconfig(*given, "--", "test_a.py")
    # pytester adds --basetemp under xdist
    assert [a for a in session_args(config) if not a.startswith("--basetemp")] == [
        "-p", "no:randomly", "-xvs", "--genopt-iterations=3", "-k", "test_a or sub",
        "-n2", "--junitxml=out.xml", "--lf",
    ]  # fmt: skip
    # testpaths from the ini file are not the invocation's: nothing to drop
    pytester.makeini("[pytest]\ntestpaths = sub\n")
    kept = session_args(pytester.parseconfig("-q", "-k", "sub"))
    assert [a for a in kept if not a.startswith("--basetemp")] == ["-q", "-k", "sub"]


def test_evaluations_switch_the_sessions_coverage_off(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    """``--cov`` in addopts measures the session; an evaluation's coverage is thrown away
    (and a real library's candidates ran four times slower under it)."""
    pytest.importorskip("pytest_cov")
    # in a process of its own: pytest-cov starts measuring as the config is parsed
    pytester.makeconftest(
        "from pytest_genopt.evaluate import evaluation_args\n\n\n"
        "def pytest_configure(config):\n"
        "    print('evaluations get', evaluation_args(config)[-1:])\n"
    )
    pytester.makepyfile(test_a="def test_a():\n    pass\n")
    pytester.makeini("[pytest]\naddopts = --cov=test_a\n")
    assert "evaluations get ['--no-cov']" in pytester.runpytest_subprocess("-s").stdout.str()
    pytester.makeini("[pytest]\n")
    assert "evaluations get ['-s']" in pytester.runpytest_subprocess("-s").stdout.str()
    ini = "[pytest]\npythonpath = .\naddopts = --cov=calc\nfilterwarnings = error\n"
    root = write_project(
        tmp_path, {"calc.py": CALC, "tests/test_calc.py": TESTS, "pytest.ini": ini}
    )
    evaluation = evaluate(root, ASKED[:1], args=["--no-cov"])
    assert evaluation.status == "ok", evaluation.reason
    assert evaluation.trials[ASKED[0]].outcome == "passed"
    assert not list(root.rglob(".coverage*"))  # coverage never started


def test_the_worker_plugin_is_inert_without_its_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        test_a="""
        def test_a(pytestconfig):
            plugins = pytestconfig.pluginmanager
            assert plugins.get_plugin("pytest_genopt.worker") is not None
            assert plugins.get_plugin("genopt-worker") is None
            assert plugins.get_plugin("genopt-recorder") is None
        """
    )
    result = pytester.runpytest_inprocess("-p", "pytest_genopt.worker")
    result.assert_outcomes(passed=1)


def test_collection_must_match_the_baselines_node_ids(tmp_path: Path) -> None:
    """A candidate that makes tests appear or vanish is tampering, whatever they give."""
    root = tmp_path / "p"
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "test_k.py").write_text(
        "import pytest\n\n@pytest.mark.parametrize('x', [1, 2])\ndef test_k(x):\n    pass\n"
    )
    ids = ["tests/test_k.py::test_k[1]", "tests/test_k.py::test_k[2]"]
    assert evaluate(root, ids, known=ids).status == "ok"
    fewer = evaluate(root, ids[:1], known=ids[:1])
    assert (fewer.status, fewer.reason) == (
        "tampered",
        "collected tests the start does not have: tests/test_k.py::test_k[2]",
    )
    more = evaluate(root, ids, known=[*ids, "tests/test_k.py::test_k[3]"])
    assert more.invalid
    assert more.reason == "no longer collects tests the start has: tests/test_k.py::test_k[3]"


@pytest.mark.parametrize("spelling", [["-p", "no:cacheprovider"], ["-pno:cacheprovider"]])
def test_a_session_without_the_cache_plugin_evaluates(tmp_path: Path, spelling: list[str]) -> None:
    """The worker's own cache_dir must not become an unknown ini key under warnings-as-errors."""
    (tmp_path / "pytest.ini").write_text("[pytest]\nfilterwarnings = error\n")
    (tmp_path / "calc.py").write_text(CALC)
    test = "from calc import add\n\n\ndef test_one():\n    assert add(1, 1) == 2\n"
    (tmp_path / "test_calc.py").write_text(test)
    evaluation = evaluate(tmp_path, ["test_calc.py::test_one"], args=spelling)
    assert evaluation.status == "ok", evaluation.reason
    assert evaluation.trials["test_calc.py::test_one"].outcome == "passed"
    assert not (tmp_path / ".pytest_cache").exists()
