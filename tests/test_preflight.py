"""Preflight (issue 8 item 8): the unchanged start is evaluated as a candidate first.

Real runs of the ``python:`` backend in pytester projects with real git: a
project whose tests cannot run in a candidate tree stops before any backend
call, with one line; a flaky test is listed and left out of acceptance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.conftest import git
from tests.test_loop import genopt, report_of, tree_state

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

# answers the fix every time, and logs each call next to the project
OPTIMIZER = """\
import os

def propose(request):
    log = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "calls.log")
    with open(log, "a") as fh:
        fh.write("called\\n")
    return {"edits": [{"parameter": "calc.py::add", "search": "return a - b",
                       "replace": "return a + b"}], "rationale": "add must add"}
"""

ARGS = ("--genopt-iterations=1", "--genopt-backend=python:optimizer:propose", "--genopt-seed=0")

DATA_TEST = """

def test_data():
    import json, pathlib
    data = pathlib.Path(__file__).parent.parent / "data" / "cases.json"
    assert json.loads(data.read_text()) == [1, 2]
"""

FLAKY_TEST = """

def test_flaky():
    import pathlib
    counter = pathlib.Path({counter!r})
    count = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(count))
    assert count % 2 == 1, "fails on every second run"
"""


def _commit(project: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "more")


def test_tests_that_cannot_run_in_a_tree_stop_the_run_before_any_backend_call(
    pytester: pytest.Pytester, calc_project: Path
) -> None:
    tests = calc_project / "tests" / "test_calc.py"
    _commit(
        calc_project,
        {
            "optimizer.py": OPTIMIZER,
            ".gitignore": "data/\n__pycache__/\n",
            "tests/test_calc.py": tests.read_text() + DATA_TEST,
        },
    )
    (calc_project / "data").mkdir()
    (calc_project / "data" / "cases.json").write_text("[1, 2]")  # ignored: not in a tree
    before = tree_state(calc_project)
    result = genopt(pytester, *ARGS)
    lines = [line for line in result.outlines if "preflight:" in line and "stopped" in line]
    assert lines == [
        "genopt: run " + lines[0].split()[2] + " stopped: preflight: 1 test(s) give other "
        "results in a candidate tree than in this session: tests/test_calc.py::test_data "
        "(passed in this session, failed there); likely cause: files the tests read are "
        "missing from the tree (ignored or untracked files?)"
    ], result.stdout.str()
    assert result.ret == 3
    assert not (pytester.path / "calls.log").exists()  # no backend call, no token spent
    assert tree_state(calc_project) == before


def test_a_flaky_test_is_listed_and_left_out_of_acceptance(
    pytester: pytest.Pytester, calc_project: Path
) -> None:
    counter = pytester.path / "counter"
    tests = calc_project / "tests" / "test_calc.py"
    _commit(
        calc_project,
        {
            "optimizer.py": OPTIMIZER,
            "tests/test_calc.py": tests.read_text() + FLAKY_TEST.format(counter=str(counter)),
        },
    )
    # the counter lies outside every tree: only an unconfined candidate can write it
    result = genopt(pytester, *ARGS, "--genopt-sandbox=off")
    report = report_of(calc_project)
    flaky = "tests/test_calc.py::test_flaky"
    assert report["flaky"] == [flaky], result.stdout.str()
    assert report["iterations"][0]["decision"] == "accepted"
    # counted without the flaky test: 1 of the 5 others passes, then all 5
    assert (report["baseline"]["objective"], report["best"]["objective"]) == (0.2, 1.0)
    result.stdout.fnmatch_lines([f"genopt: left out as flaky *: {flaky}"])
    assert (pytester.path / "calls.log").read_text() == "called\n"


def test_tests_that_skip_in_a_tree_are_blamed_on_what_git_ignores() -> None:
    """humanize's translation tests skip without the .mo files its install compiles."""
    from pytest_genopt.evaluate import Evaluation
    from pytest_genopt.evidence import Trial
    from pytest_genopt.preflight import PreflightFailed, preflight

    ids = ["tests/test_i18n.py::test_i18n", "tests/test_i18n.py::test_persian"]
    session = {i: Trial(i, "passed") for i in ids}
    why = "Generate .mo with tox -e compile-translations"
    tree = Evaluation({i: Trial(i, "skipped", message=why) for i in ids}, "ok", "", 1.0, "")
    try:
        preflight(tree, session, lambda asked: tree)
    except PreflightFailed as exc:
        line = str(exc)
    else:
        raise AssertionError("the preflight let the run begin")
    assert line.startswith("2 test(s) give other results in a candidate tree")
    assert line.endswith(
        "likely cause: the tests skip where something they look for is missing: files git "
        "ignores (build outputs) are not in candidate trees; commit them or deselect the tests"
    )


XDIST_TEST = """

def test_under_xdist():
    import os
    assert "PYTEST_XDIST_WORKER" in os.environ
"""


def test_a_session_under_xdist_is_named_as_the_likely_cause(
    pytester: pytest.Pytester, calc_project: Path
) -> None:
    """The session ran under ``-n 2`` and evaluations in one process: a test that passes
    only under xdist differs, and the line says how the two runs differed."""
    tests = calc_project / "tests" / "test_calc.py"
    _commit(calc_project, {"optimizer.py": OPTIMIZER, "tests/test_calc.py": tests.read_text()
                           + XDIST_TEST})  # fmt: skip
    result = genopt(pytester, *ARGS, "-p", "xdist", "-n", "2")
    lines = [line for line in result.outlines if "preflight:" in line and "stopped" in line]
    assert len(lines) == 1, result.stdout.str()
    assert lines[0].endswith(
        "tests/test_calc.py::test_under_xdist (passed in this session, failed there); likely "
        "cause: the session ran its tests in 2 pytest-xdist workers, evaluations in one "
        "process (--genopt-workers): tests that give other results under xdist"
    ), lines[0]
    assert not (pytester.path / "calls.log").exists()
