"""The checks outside the candidate's process: tampering, junit re-runs, preflight verdicts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pytest_genopt.evaluate import Evaluation
from pytest_genopt.evidence import Trial
from pytest_genopt.integrity import RERUN_REASON, differs, disagreement, tampering
from pytest_genopt.junit import JunitError, junit_key, read_junit
from pytest_genopt.preflight import PreflightFailed, preflight
from pytest_genopt.trees import Change

if TYPE_CHECKING:
    from pathlib import Path


def test_tampering_allows_only_the_edited_text_and_exempt_paths(tmp_path: Path) -> None:
    (tmp_path / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    written = {"calc.py": "def add(a, b):\n    return a + b\n"}
    changed = [Change("calc.py", "changed")]
    assert tampering(changed, written, tmp_path) == ""
    (tmp_path / "calc.py").write_text("rewritten at run time\n")
    assert tampering(changed, written, tmp_path) == "changed calc.py during evaluation"
    many = [Change(f"t{i}.py", "created") for i in range(5)] + [Change("out.csv", "created")]
    reason = tampering(many, {}, tmp_path, exempt={"out.csv"})
    assert reason == "created t0.py, created t1.py, created t2.py (and 2 more) during evaluation"
    assert tampering([Change("calc.py", "deleted")], written, tmp_path).startswith("deleted")


def _trial(nodeid: str, outcome: str = "passed", score: float | None = None) -> Trial:
    return Trial(test=nodeid, outcome=outcome, score=score)  # type: ignore[arg-type]


def test_disagreement_compares_pass_fail_skip_and_scores() -> None:
    a, b = "t.py::a", "t.py::b"
    worker = {a: _trial(a, "failed"), b: _trial(b, score=0.5)}
    assert disagreement(worker, {a: _trial(a, "error"), b: _trial(b, score=0.5)}, [a, b]) == ""
    assert disagreement(worker, {a: _trial(a, "passed"), b: _trial(b, score=0.5)}, [a, b]) == (
        f"{RERUN_REASON}: t.py::a failed under genopt's worker, passed on the re-run"
    )
    assert "scored 0.5 under genopt's worker, 0.25" in disagreement(
        worker, {a: _trial(a, "failed"), b: _trial(b, score=0.25)}, [a, b]
    )
    assert "did not report" in disagreement(worker, {a: _trial(a, "failed")}, [a, b])
    assert differs(None, _trial(a))
    assert not differs(None, None)


JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
<testcase classname="tests.test_calc" name="test_add"><properties><property name="genopt_usage"
  value='{"m": {"calls": 2, "input_tokens": 5, "output_tokens": -3, "extra": 1}, "n": 4}' />
  </properties></testcase>
<testcase classname="tests.test_calc" name="test_zero"><failure message="x">x</failure>
  <properties><property name="genopt_usage" value="not json" /></properties></testcase>
<testcase classname="tests.test_calc.TestK" name="test_p[1-a::b]"><skipped /></testcase>
<testcase classname="tests.test_calc" name="test_score">
  <properties><property name="genopt_score" value="0.125" /></properties></testcase>
<testcase classname="tests.test_calc" name="test_td" />
<testcase classname="tests.test_calc" name="test_td"><error message="teardown" /></testcase>
</testsuite></testsuites>
"""


def test_read_junit_matches_node_ids_the_way_pytest_names_them(tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    report.write_text(JUNIT)
    ids = [
        "tests/test_calc.py::test_add",
        "tests/test_calc.py::test_zero",
        "tests/test_calc.py::TestK::test_p[1-a::b]",
        "tests/test_calc.py::test_score",
        "tests/test_calc.py::test_td",
        "tests/test_calc.py::test_absent",
    ]
    assert junit_key(ids[2]) == ("tests.test_calc.TestK", "test_p[1-a::b]")
    found = read_junit(report, ids)
    assert {n: (t.outcome, t.score) for n, t in found.items()} == {
        ids[0]: ("passed", None),
        ids[1]: ("failed", None),
        ids[2]: ("skipped", None),
        ids[3]: ("passed", 0.125),
        ids[4]: ("error", None),  # the worse of its two cases
    }
    # task-model usage travels as a property too; what a candidate could garble is dropped
    assert found[ids[0]].usage == {
        "m": {
            "calls": 2,
            "cached_calls": 0,
            "input_tokens": 5,
            "output_tokens": 0,
            "cached_input_tokens": 0,
            "cached_output_tokens": 0,
        }
    }
    assert found[ids[1]].usage == found[ids[3]].usage == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [(None, "no junit report"), ("<testsuites><oops", "not XML")],
)
def test_read_junit_refuses_a_missing_or_broken_report(
    tmp_path: Path, text: str | None, message: str
) -> None:
    report = tmp_path / "junit.xml"
    if text is not None:
        report.write_text(text)
    with pytest.raises(JunitError, match=message):
        read_junit(report, ["t.py::a"])


def _evaluation(trials: dict[str, Trial], status: str = "ok", reason: str = "") -> Evaluation:
    return Evaluation(trials, status, reason, 0.0, "")  # type: ignore[arg-type]


def test_preflight_tells_flaky_tests_from_tests_that_depend_on_where_they_run() -> None:
    a, b, c = "t.py::a", "t.py::b", "t.py::c"
    session = {a: _trial(a), b: _trial(b), c: _trial(c)}
    first = _evaluation({a: _trial(a), b: _trial(b, "failed"), c: _trial(c)})
    asked: list[list[str]] = []

    def again(ids: list[str]) -> Evaluation:
        asked.append(ids)
        return _evaluation({b: _trial(b)})  # b passes again: it is flaky

    found = preflight(first, session, again)
    assert found.flaky == (b,)
    assert asked == [[b]]

    def same(ids: list[str]) -> Evaluation:
        message = "FileNotFoundError: data.csv"
        return _evaluation({b: Trial(test=b, outcome="failed", message=message)})

    broken = _evaluation({a: _trial(a), b: same([b]).trials[b], c: _trial(c)})
    with pytest.raises(PreflightFailed) as info:
        preflight(broken, session, same)
    assert str(info.value) == (
        "1 test(s) give other results in a candidate tree than in this session: "
        "t.py::b (passed in this session, failed there); likely cause: files the tests "
        "read are missing from the tree (ignored or untracked files?)"
    )
    with pytest.raises(PreflightFailed, match="could not map"):
        preflight(_evaluation({}, "shadowed", "calc.py is imported from /x"), session, again)
    assert preflight(first, None, again).flaky == ()
