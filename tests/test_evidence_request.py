"""--genopt-evidence: the first Request, exactly as an optimizer would get it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from pytest_genopt.evidence import FOLD_MARK
from tests.conftest import read_json, tree_state

SNAPSHOT = Path(__file__).parent / "snapshots" / "calc_request.json"


def evidence_run(
    pytester: pytest.Pytester,
    *args: str,
    name: str = "req.json",
    status: pytest.ExitCode = pytest.ExitCode.TESTS_FAILED,
) -> dict[str, Any]:
    result = pytester.runpytest_subprocess(
        "--genopt-iterations=1", f"--genopt-evidence={name}", "-p", "no:cacheprovider", *args
    )
    assert result.ret == status, result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["genopt: wrote the first request to *; no backend was called"])
    return read_json(Path.cwd() / name)  # type: ignore[no-any-return]


def test_done_when_request(pytester: pytest.Pytester, calc_project: Path) -> None:
    """The issue's acceptance case: horizon 2, batch size 3, one buggy trainable."""
    before = tree_state(calc_project)
    request = evidence_run(
        pytester, "--genopt-horizon=2", "--genopt-batch-size=3", "--genopt-seed=1"
    )
    (parameter,) = request["parameters"]
    assert parameter["id"] == "calc.py::add"
    assert parameter["kind"] == "function"
    assert parameter["text"].startswith("def add(a, b):")
    assert "@trainable" not in parameter["text"]
    assert len(request["evidence"]) == 3
    for item in request["evidence"]:
        assert item["outcome"] == "failed"
        assert item["value"] == 0.0
        assert 1 <= len(item["traceback"]) <= 2
        assert item["message"].startswith("AssertionError: assert ")
        assert item["trace"][-1]["call"] == "calc.py::add"
    assert request["settings"]["horizon"] == 2
    assert request["settings"]["batch_size"] == 3
    assert request["settings"]["seed"] == 1
    assert "## calc.py::add" in request["prompt"]
    assert parameter["text"] in request["prompt"]
    # the checkout is untouched apart from the requested file
    after = tree_state(calc_project)
    assert after["files"].pop("req.json")
    assert after["status"] == before["status"] + "?? req.json\n"
    after["status"] = before["status"]
    assert after == before
    assert not (calc_project / ".genopt").exists()


def normalized(request: dict[str, Any]) -> dict[str, Any]:
    request = dict(request)
    request["run"] = "<run>"
    request["prompt"] = "<prompt>"
    return request


def test_request_snapshot(pytester: pytest.Pytester, calc_project: Path) -> None:
    """The whole Request for a small project, compared with a reviewed snapshot.

    Set GENOPT_UPDATE_SNAPSHOTS=1 to rewrite it after an intended change.
    """
    request = normalized(
        evidence_run(pytester, "--genopt-horizon=3", "--genopt-batch-size=2", "--genopt-seed=0")
    )
    if os.environ.get("GENOPT_UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(request, indent=2, sort_keys=True) + "\n")
    assert request == json.loads(SNAPSHOT.read_text())


def test_horizon_bounds_frames_and_trace(pytester: pytest.Pytester, calc_project: Path) -> None:
    (calc_project / "calc.py").write_text(
        "from pytest_genopt import trainable\n\n\n"
        "@trainable\n"
        "def add(a, b):\n"
        "    return inner(a, b)\n\n\n"
        "def inner(a, b):\n"
        "    if a > 50:\n"
        "        raise OverflowError('too big')\n"
        "    return a - b\n"
    )
    (calc_project / "tests" / "test_calc.py").write_text(
        "from calc import add\n\n\n"
        "def test_many_calls(genopt):\n"
        "    for i in range(6):\n"
        "        genopt.trace(step=i)\n"
        "        add(i, 1)\n"
        "    add(100, 1)\n"
    )
    full = evidence_run(pytester, "--genopt-horizon=all", name="full.json")["evidence"][0]
    own = [frame for frame in full["traceback"] if not frame.startswith(FOLD_MARK)]
    assert len(own) == 3  # test -> add -> inner; the horizon counts these
    assert full["traceback"][0].startswith("tests/test_calc.py:")
    assert full["traceback"][-1].startswith("calc.py:11 in inner")
    assert len([e for e in full["trace"] if "step" in e]) == 6
    assert len([e for e in full["trace"] if "call" in e]) == 7
    assert full["trace"][-1]["raised"] == "OverflowError: too big"
    short = evidence_run(pytester, "--genopt-horizon=2", name="short.json")["evidence"][0]
    assert short["traceback"] == own[-2:]
    assert [e.get("step") for e in short["trace"] if "step" in e] == [4, 5]
    assert len([e for e in short["trace"] if "call" in e]) == 2
    none = evidence_run(pytester, "--genopt-horizon=0", name="none.json")["evidence"][0]
    assert none["traceback"] == []
    assert none["trace"] == []
    assert none["message"] == "OverflowError: too big"


def test_batch_size_and_seed_choose_the_trials(
    pytester: pytest.Pytester, calc_project: Path
) -> None:
    one = evidence_run(pytester, "--genopt-batch-size=1", "--genopt-seed=4", name="a.json")
    assert len(one["evidence"]) == 1
    many = evidence_run(pytester, "--genopt-batch-size=50", "--genopt-seed=4", name="b.json")
    assert len(many["evidence"]) == 4  # every failing test, each once
    assert len({e["test"] for e in many["evidence"]}) == 4
    again = evidence_run(pytester, "--genopt-batch-size=1", "--genopt-seed=4", name="c.json")
    assert again["evidence"] == one["evidence"]
    # another seed picks another test (the sampler's own tests cover how often)
    for seed in range(6):
        other = evidence_run(pytester, "--genopt-batch-size=1", f"--genopt-seed={seed}")
        if other["evidence"][0]["test"] != one["evidence"][0]["test"]:
            break
    else:
        pytest.fail("seeds 0 to 5 all picked the same test as seed 4")


def test_holdout_passing_and_skipped_tests_give_no_evidence(
    pytester: pytest.Pytester, calc_project: Path
) -> None:
    (calc_project / "tests" / "test_more.py").write_text(
        "import pytest\nfrom calc import add\n\n\n"
        "@pytest.mark.genopt(holdout=True)\n"
        "def test_held_out():\n"
        "    assert add(2, 2) == 4\n\n\n"
        "def test_passing():\n"
        "    assert add(2, 0) == 2\n\n\n"
        "@pytest.mark.skip(reason='later')\n"
        "def test_skipped():\n"
        "    assert add(1, 1) == 2\n"
    )
    request = evidence_run(pytester, "--genopt-batch-size=50")
    tests = {e["test"] for e in request["evidence"]}
    assert len(tests) == 4  # the failing tests of test_calc.py
    assert not any("test_more" in t for t in tests)
    # holdout and skipped tests are left out of the objective too
    assert "mean value of 6 tests" in request["objective"]
    assert "(2 of 6 tests pass)" in request["objective"]


def test_fixture_score_feedback_and_trace_reach_the_request(
    pytester: pytest.Pytester, calc_project: Path
) -> None:
    (calc_project / "tests" / "test_calc.py").write_text(
        "from calc import add\n\n\n"
        "def test_scored(genopt):\n"
        "    genopt.feedback('sum was off by ' + str(3 - add(1, 2)))\n"
        "    genopt.trace(phase='start', values=[1, 2])\n"
        "    genopt.score(0.25)\n"
        "    print('hello from the test')\n\n\n"
        "def test_perfect(genopt):\n"
        "    genopt.score(1.0)\n"
    )
    (item,) = evidence_run(pytester, status=pytest.ExitCode.OK)["evidence"]
    assert item["test"] == "tests/test_calc.py::test_scored"
    assert item["outcome"] == "passed"
    assert item["value"] == 0.25
    assert item["feedback"] == ["sum was off by 4"]
    assert {"phase": "start", "values": [1, 2]} in item["trace"]
    assert "hello from the test" in item["stdout"]


def test_xdist_workers_deliver_the_same_trials(
    pytester: pytest.Pytester, calc_project: Path
) -> None:
    (calc_project / "tests" / "test_calc.py").write_text(
        "import pytest\nfrom calc import add\n\n\n"
        "@pytest.mark.parametrize('n', range(6))\n"
        "def test_add(genopt, n):\n"
        "    genopt.trace(n=n)\n"
        "    genopt.feedback(f'case {n}')\n"
        "    genopt.score(n / 10)\n"
        "    assert add(n, 1) == n + 1\n"
    )
    serial = evidence_run(pytester, "--genopt-batch-size=6", "--genopt-seed=2", name="s.json")
    parallel = evidence_run(
        pytester, "--genopt-batch-size=6", "--genopt-seed=2", "-n", "2", name="p.json"
    )
    assert len(parallel["evidence"]) == 6
    assert normalized(parallel) == normalized(serial)
    item = next(e for e in parallel["evidence"] if e["test"].endswith("[3]"))
    assert item["value"] == 0.3
    assert item["feedback"] == ["case 3"]
    assert item["trace"][0] == {"n": 3}
    assert item["trace"][1]["call"] == "calc.py::add"
    assert item["traceback"]


def test_plain_pytest_fixture_is_a_noop(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_uses_fixture(genopt):
            assert not genopt.active
            genopt.score(3)
            genopt.feedback("x")
            genopt.trace(step=1)
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_nothing_to_optimize_is_reported(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_fails():\n    assert False\n")
    result = pytester.runpytest_subprocess("--genopt-iterations=1", "--genopt-evidence=r.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(["genopt: nothing to optimize: no @trainable functions*"])
    assert not (pytester.path / "r.json").exists()
