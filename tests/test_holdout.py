"""Holdout groups, --genopt-holdout-every and the task model's usage, end to end."""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from typing import Any

import pytest

from pytest_genopt import tracing
from tests.conftest import BUGGY_CALC, init_repo, read_json

# every test logs its run outside the tree and reports two task-model calls, one cached
TESTS = """\
import pytest
from calc import add

LOG = {log!r}


def ran(genopt, kind):
    with open(LOG, "a") as fh:
        fh.write(kind + "\\n")
    genopt.usage(10, 5, model="task-model")
    genopt.usage(7, 3, model="task-model", cached=True)


@pytest.mark.parametrize(("a", "b", "total"), [(1, 2, 3), (0, 0, 0), (-2, -3, -5),
                                               (100, 23, 123), (7, -2, 5)])
def test_train(genopt, a, b, total):
    ran(genopt, "train")
    assert add(a, b) == total


@pytest.mark.genopt(holdout="validation")
@pytest.mark.parametrize(("a", "b", "total"), [(2, 2, 4), (5, 0, 5), (100, 1, 101)])
def test_validation(genopt, a, b, total):
    ran(genopt, "validation")
    assert add(a, b) == total


@pytest.mark.genopt(holdout="test")
@pytest.mark.parametrize(("a", "b", "total"), [(3, 3, 6), (4, 4, 8), (9, 0, 9)])
def test_test(genopt, a, b, total):
    ran(genopt, "test")
    assert add(a, b) == total
"""

# improves once (4 of 5 training tests), then proposes only worse code
OPTIMIZER = """\
PARTIAL = "def add(a, b):\\n    return a + b if a != 100 else 0\\n"
WORSE = "def add(a, b):\\n    return a * b\\n"


def propose(request):
    text = PARTIAL if request["iteration"] == 1 else WORSE
    return {"edits": [{"parameter": "calc.py::add", "text": text}], "rationale": "step"}
"""


def genopt_run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--genopt-backend=python:optimizer:propose",
        "--genopt-sandbox=off",  # the tests log their runs outside their tree
        "--genopt-holdout-every=1",
        *args,
        timeout=300,
    )


def task_usage(runs: int) -> dict[str, dict[str, int]]:
    """What ``runs`` test runs report: each one call spent and one from the cache."""
    return {
        "task-model": {
            "calls": 2 * runs,
            "cached_calls": runs,
            "input_tokens": 10 * runs,
            "output_tokens": 5 * runs,
            "cached_input_tokens": 7 * runs,
            "cached_output_tokens": 3 * runs,
        }
    }


def test_holdout_groups_every_iteration_reused_and_task_usage_survive_resume(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = pytester.path / "project"
    log = pytester.path / "runs.log"
    monkeypatch.chdir(init_repo(project, {"calc.py": BUGGY_CALC,
                                          "tests/test_calc.py": TESTS.format(log=str(log)),
                                          "optimizer.py": OPTIMIZER,
                                          "pytest.ini": "[pytest]\npythonpath = .\n"}))  # fmt: skip
    result = genopt_run(
        pytester, "--genopt-iterations=3", "--genopt-batch-size=2", "--genopt-seed=0"
    )
    run = (project / ".genopt" / "runs" / "last").read_text().strip()
    report = read_json(project / ".genopt" / "runs" / run / "report.json")
    assert [i["decision"] for i in report["iterations"]] == ["accepted", "rejected", "rejected"]
    assert report["best"]["objective"] == 0.8
    # validation 1/3 -> 2/3, test 1/3 -> 3/3: the best measured once, after iteration 1
    groups = {"validation": pytest.approx(2 / 3), "test": 1.0}
    assert [i["holdout"] for i in report["iterations"]] == [
        {"objective": pytest.approx(5 / 6), "groups": groups, "reused": False},
        {"objective": pytest.approx(5 / 6), "groups": groups, "reused": True},
        {"objective": pytest.approx(5 / 6), "groups": groups, "reused": True},
    ]
    assert report["holdout"] == {
        "baseline": pytest.approx(1 / 3),
        "best": pytest.approx(5 / 6),
        "groups": {
            "test": {"baseline": pytest.approx(1 / 3), "best": 1.0},
            "validation": {"baseline": pytest.approx(1 / 3), "best": pytest.approx(2 / 3)},
        },
    }
    # each holdout test ran in the session, the preflight and after iteration 1: the
    # iterations that changed nothing and the end reused that evaluation
    runs = Counter(log.read_text().split())
    assert runs == {"validation": 9, "test": 9, "train": 21}
    # the training tests: session 5, preflight 5, iteration 1 batch 2 + rest 3 and its
    # clean re-run 5 (usage through junit), iteration 2 its batch: the one test left to
    # improve; iteration 3 proposes iteration 2's code again: the evaluation cache's
    assert report["task_usage"] == task_usage(39)
    result.stdout.fnmatch_lines(
        [
            "genopt: iteration 1: accepted objective 0.2000 -> 0.8000, batch *, "
            "holdout 0.8333, * s: *",
            "genopt: iteration 3: rejected objective n/a, batch *, holdout 0.8333, * s: *",
        ]
    )
    markdown = (project / ".genopt" / "runs" / run / "report.md").read_text()
    assert "- holdout `validation`: 0.3333 → 0.6667" in markdown
    assert "- holdout `test`: 0.3333 → 1.0000" in markdown
    assert "| iteration | decision | batch objective | objective | holdout | seconds |" in markdown
    assert "| 0.8333 (test 1.0000, validation 0.6667) (same best) |" in markdown
    assert "Task model `task-model`: 78 calls (39 from cache), 390 input / 195 output tokens." in (
        markdown
    )

    # as if killed before iteration 3's holdout result was journaled: the resume gives
    # it first; it folds the journal's usage and holdout result back in; iteration 4
    # changes nothing, so the holdout tests run only in the session and the preflight,
    # and its code is iteration 2's: the evaluation cache survived the resume
    journal = project / ".genopt" / "runs" / run / "journal.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    cut = [(json.loads(x)["event"], json.loads(x).get("iteration")) for x in lines]
    assert cut[-2:] == [("holdout", 3), ("end", None)]
    journal.write_text("".join(lines[:-2]))
    genopt_run(pytester, "--genopt-iterations=4", "--genopt-resume=last")
    resumed = read_json(project / ".genopt" / "runs" / run / "report.json")
    assert [i["holdout"]["reused"] for i in resumed["iterations"]] == [False, True, True, True]
    assert resumed["holdout"]["best"] == pytest.approx(5 / 6)
    assert Counter(log.read_text().split()) == {"validation": 15, "test": 15, "train": 31}
    assert resumed["task_usage"] == task_usage(61)


@pytest.mark.parametrize(
    ("value", "shown"), [('""', "''"), ('"  "', "'  '"), ("1", "int"), ('["a"]', "list")]
)
def test_a_holdout_group_must_be_a_non_empty_name(
    pytester: pytest.Pytester, value: str, shown: str
) -> None:
    pytester.makepyfile(
        test_marked=textwrap.dedent(f"""
        import pytest

        @pytest.mark.genopt(holdout={value})
        def test_held():
            pass
        """)
    )
    result = pytester.runpytest("--genopt-iterations=1", "--genopt-evidence=r.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.startswith("ERROR:")]
    assert errors == [
        "ERROR: test_marked.py::test_held: genopt marker holdout= must be True, False or a "
        f"non-empty group name, got {shown}"
    ]
    assert not (pytester.path / "r.json").exists()


def test_usage_checks_its_arguments_and_counts_only_in_a_run() -> None:
    reporter = tracing.TrialReporter(None)
    bad: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"input_tokens": 1.5}, TypeError, "takes input_tokens as an int, got float"),
        ({"output_tokens": True}, TypeError, "takes output_tokens as an int, got bool"),
        ({"input_tokens": -1}, ValueError, "takes input_tokens >= 0, got -1"),
        ({"model": 3}, TypeError, "takes model as a str, got int"),
        ({"cached": "yes"}, TypeError, "takes cached as a bool, got str"),
    ]
    for change, error, message in bad:
        arguments = {"input_tokens": 1, "output_tokens": 2, **change}
        with pytest.raises(error, match=f"^genopt.usage\\(\\) {message}$"):
            reporter.usage(**arguments)
    reporter.usage(1, 2, model="m")  # no run: nothing to count, nothing raised
    record = tracing.begin_test(None)
    try:
        reporter.usage(100, 20, model="m")
        reporter.usage(0, 0, model="m")
        reporter.usage(30, 4, model="m", cached=True)
        reporter.usage(5, 1)
    finally:
        tracing.end_test()
    assert record.usage == {
        "m": {
            "calls": 3,
            "cached_calls": 1,
            "input_tokens": 100,
            "output_tokens": 20,
            "cached_input_tokens": 30,
            "cached_output_tokens": 4,
        },
        "": {
            "calls": 1,
            "cached_calls": 0,
            "input_tokens": 5,
            "output_tokens": 1,
            "cached_input_tokens": 0,
            "cached_output_tokens": 0,
        },
    }
