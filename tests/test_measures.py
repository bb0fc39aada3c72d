"""Measured objectives: ``genopt.measure`` in a test, judged against the run's start.

The end-to-end run is the worked example in ``examples/refactor`` (a slow but correct
``common_words``): under ``--genopt-accept=paired`` a noise-only change is not
accepted, candidates that fool the clock or the worker are not either, and the real
speed-up is.
"""

from __future__ import annotations

import json
import shutil
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_genopt.acceptance import PAIRED, STRICT, Standing
from pytest_genopt.evidence import Trial
from pytest_genopt.measures import (
    Measure,
    disagreement,
    factor,
    judged,
    mann_whitney_p,
    measures_from,
    timing_change,
)
from pytest_genopt.tracing import TrialReporter
from tests.conftest import git, tree_state
from tests.test_cli import genopt as genopt_command
from tests.test_loop import genopt, report_of

if TYPE_CHECKING:
    from collections.abc import Callable

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "refactor"
ALPHA = Fraction(1, 20)


def timing(*levels: float) -> Measure:
    """A timing whose reference took 1 s per sample: its levels are its samples."""
    return Measure("time", "lower", 1.0, levels, (1.0,) * len(levels))


# ------------------------------------------------------------------ statistics


def test_mann_whitney_is_exact_on_small_samples_and_counts_ties_half() -> None:
    # 3 against 3, all lower: 1 of the C(6, 3) = 20 orderings
    assert mann_whitney_p((1.0, 2.0, 3.0), (4.0, 5.0, 6.0), lower=True) == Fraction(1, 20)
    assert mann_whitney_p((4.0, 5.0, 6.0), (1.0, 2.0, 3.0), lower=True) == 1
    assert mann_whitney_p((4.0, 5.0, 6.0), (1.0, 2.0, 3.0), lower=False) == Fraction(1, 20)
    # all tied: U = 2 of 4, and 4 of the 6 orderings reach it
    assert mann_whitney_p((1.0, 1.0), (1.0, 1.0), lower=True) == Fraction(4, 6)
    # 5 against 5, the smallest p there is
    fast, slow = (1.0, 1.1, 1.2, 1.3, 1.4), (2.0, 2.1, 2.2, 2.3, 2.4)
    assert mann_whitney_p(fast, slow, lower=True) == Fraction(1, 252)


def test_a_timing_changes_only_when_significant_and_larger_than_drift() -> None:
    start = timing(10.0, 10.2, 10.1, 9.9, 10.3)
    assert timing_change(start, timing(5.0, 5.1, 5.2, 4.9, 5.0), ALPHA) == 1
    assert timing_change(start, timing(20.0, 20.1, 20.2, 19.9, 20.3), ALPHA) == -1
    # 15% faster in every sample: significant, but within what two processes differ by
    assert timing_change(start, timing(8.7, 8.8, 8.75, 8.65, 8.9), ALPHA) == 0
    # twice as fast by the median, but the samples overlap too much to tell
    assert timing_change(start, timing(5.0, 11.0, 4.0, 12.0, 5.5), ALPHA) == 0
    size = Measure("value", "lower", 1.0, (100.0,))
    assert timing_change(size, Measure("value", "lower", 1.0, (90.0,)), ALPHA) == 1
    assert timing_change(size, Measure("value", "higher", 1.0, (90.0,)), ALPHA) == 0


def test_the_factor_is_a_weighted_geometric_mean_of_ratios_to_the_start() -> None:
    twice_as_fast = timing(5.0)
    twice_as_big = Measure("value", "lower", 1.0, (200.0,))
    start = {"runtime": 10.0, "size": 100.0}
    assert factor({"runtime": twice_as_fast, "size": twice_as_big}, start) == pytest.approx(1.0)
    heavy = Measure("time", "lower", 3.0, (5.0,), (1.0,))
    assert factor({"runtime": heavy, "size": twice_as_big}, start) == pytest.approx(2**0.5)
    assert factor({"other": twice_as_fast}, start) is None
    # a measured test's value is its ordinary value times the factor: failing stays 0
    passed = Trial("t", "passed", measures={"runtime": twice_as_fast})
    failed = Trial("t", "failed", measures={"runtime": twice_as_fast})
    judged_trials = judged({"a": passed, "b": failed}, {"t": {"runtime": 10.0}})
    assert judged_trials["a"].value == pytest.approx(2.0)
    assert judged_trials["b"].value == 0.0
    assert judged_trials["a"].feedback == (
        "measure 'runtime': 5 s per call, the median of 1 timings (5 s to 5 s); 2.000 "
        "times as good as the start (lower is better, weight 1), comparing timings each "
        "divided by a reference loop timed right after it, so not exactly the ratio of "
        "the times shown; timings of unchanged code differ by up to about a quarter "
        "between evaluations",
    )
    # judging again (a trial from the run's cache) does not repeat the line
    assert judged(judged_trials, {"t": {"runtime": 10.0}})["a"].feedback == (
        judged_trials["a"].feedback
    )


def test_measures_from_a_result_keep_only_well_formed_ones() -> None:
    good = {"kind": "time", "better": "lower", "weight": 1, "samples": [0.5], "reference": [1]}
    found = measures_from(
        {
            "runtime": good,
            "bad kind": good,
            "nan": {**good, "samples": [float("nan")]},
            "negative": {**good, "samples": [-1]},
            "weightless": {**good, "weight": 0},
            "empty": {**good, "samples": []},
            "direction": {**good, "better": "sideways"},
            # a timing must bring its calibration: uncalibrated it would compare machines
            "short-reference": {**good, "reference": [1, 2]},
            "no-reference": {k: v for k, v in good.items() if k != "reference"},
            "bad-reference": {**good, "reference": [0]},
            "size": {**good, "kind": "value", "reference": "ignored for a value"},
        }
    )
    assert sorted(found) == ["runtime", "size"]
    assert found["runtime"].level == 0.5
    assert found["size"].reference == ()
    assert measures_from(["not", "a", "mapping"]) == {}
    trial = Trial("t", "passed", measures={"runtime": found["runtime"]})
    assert Trial.from_json(json.loads(json.dumps(trial.to_json()))) == trial


def test_the_paired_policy_accepts_a_significant_timing_and_calls_drift_noise() -> None:
    def standing(*levels: float, value: float) -> Standing:
        return Standing(
            {"t::speed": value, "t::other": 1.0},
            frozenset({"t::speed", "t::other"}),
            {"t::speed": {"runtime": timing(*levels)}},
        )

    best = standing(10.0, 10.1, 10.2, 9.9, 9.8, value=1.0)
    faster = standing(5.0, 5.1, 5.2, 4.9, 4.8, value=2.0)
    drifted = standing(8.8, 8.9, 9.0, 8.7, 8.6, value=1.136)  # 13.6% faster
    verdict = PAIRED.decide(best, faster, ["t::speed"], allow_regressions=False)
    assert verdict.accepted
    assert verdict.reason.endswith("paired: measured significantly better in t::speed")
    noise = PAIRED.decide(best, drifted, ["t::speed"], allow_regressions=False)
    assert not noise.accepted
    assert noise.reason == (
        "paired: 0 of 0 changed test(s) improved; sign test p = 1.0000 is above 0.05; "
        "measured changes within noise in t::speed"
    )
    assert STRICT.decide(best, drifted, ["t::speed"], allow_regressions=False).accepted


def test_a_rerun_must_measure_the_same_names_and_values() -> None:
    worker = {"runtime": timing(1.0, 1.1), "size": Measure("value", "lower", 1.0, (7.0,))}
    # timings are not compared (the re-run's own must confirm the decision instead)
    assert disagreement("t", worker, {**worker, "runtime": timing(40.0, 41.0)}) == ""
    assert disagreement(
        "t", worker, {**worker, "size": Measure("value", "lower", 1.0, (8.0,))}
    ) == ("t's measure 'size' was 7 under genopt's worker, 8 on the re-run")
    assert disagreement("t", worker, {"runtime": worker["runtime"]}) == (
        "t measured ['runtime', 'size'] under genopt's worker, ['runtime'] on the re-run"
    )


# ------------------------------------------------------------------ the fixture


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda g: g.measure("2fast", len, "x"), "takes a name of letters"),
        (lambda g: g.measure("runtime", len, "x", repeat=0), "takes repeat from 1 to 50"),
        (lambda g: g.measure("runtime", len, "x", repeat=2.0), "takes repeat as an int"),
        (lambda g: g.measure("runtime", len, "x", weight=0), "a finite weight above 0"),
        (lambda g: g.measure("runtime", len, "x", better="less"), "better='lower' or"),
        (lambda g: g.measure("size", 0), "a finite number above 0, got 0"),
        (lambda g: g.measure("size", "12"), "a callable to time or a number, got str"),
        (lambda g: g.measure("size", 12, 3), "passes arguments only to a callable"),
    ],
)
def test_a_wrong_measure_call_fails_in_one_line_even_under_plain_pytest(
    call: Callable[[TrialReporter], Any], error: str
) -> None:
    with pytest.raises((TypeError, ValueError), match=error):
        call(TrialReporter(None))


def test_under_plain_pytest_a_measure_calls_once_and_returns_the_result() -> None:
    calls: list[int] = []

    def work(n: int, *, scale: int) -> int:
        calls.append(n)
        return n * scale

    reporter = TrialReporter(None)
    assert reporter.measure("runtime", work, 3, scale=2, repeat=9) == 6
    assert calls == [3]
    assert reporter.measure("size", 12.5) == 12.5


# ------------------------------------------------------------------ the example

# one candidate per iteration; the fourth is the example's own speed-up, the fifth the
# same again (the best's own files: rejected without running pytest)
ATTACKS = '''
import json

import scripted_optimizer

PARAMETER = scripted_optimizer.PARAMETER
SLOW = open("wordfreq.py").read().split("@trainable\\n", 1)[1]
DOC_END = SLOW.index('    """\\n', 10) + len('    """\\n')


def body(code):
    return SLOW[:DOC_END] + code + SLOW[DOC_END:]


# the clock a test's timings read stands still: every timing would be 0
STOP_CLOCK = body("    import time\\n    time.perf_counter = lambda: 0.0\\n")
# fast under genopt's worker, the slow code on a re-run that writes junit
GRADER_AWARE = body(
    "    import os, sys\\n"
    "    words = sys.argv + os.environ.get('PYTEST_ADDOPTS', '').split()\\n"
    "    if not any(w.startswith(('--junitxml', '--junit-xml')) for w in words):\\n"
    "        import collections, re\\n"
    "        found = collections.Counter(re.findall(r'[^\\\\W\\\\d_]+', text.lower()))\\n"
    "        return sorted(found.items(), key=lambda pair: (-pair[1], pair[0]))[:n]\\n"
)


def propose(request):
    with open("requests.jsonl", "a") as log:
        log.write(json.dumps(request) + "\\n")
    iteration = request["iteration"]
    if iteration == 1:
        return scripted_optimizer.propose(request)  # renamed variables: noise only
    text = {2: STOP_CLOCK, 3: GRADER_AWARE}.get(iteration, scripted_optimizer.FAST)
    return {"edits": [{"parameter": PARAMETER, "text": text}], "rationale": f"try {iteration}"}
'''


@pytest.fixture
def refactor_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    project = pytester.path / "project"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__"))
    (project / "attacks.py").write_text(ATTACKS)
    monkeypatch.chdir(project)
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "the example")
    return project


def test_the_example_gets_faster_under_paired_and_noise_or_forgery_is_not_accepted(
    pytester: pytest.Pytester, refactor_project: Path
) -> None:
    project = refactor_project
    before = tree_state(project)
    result = genopt(
        pytester,
        "--genopt-iterations=5",
        "--genopt-backend=python:attacks:propose",
        "--genopt-accept=paired",
    )
    assert result.ret == 0, result.stdout.str()
    report = report_of(project)
    attempts = [it["attempts"][0] for it in report["iterations"]]
    decisions = [a["decision"] for a in attempts]
    # a renamed variable is noise: not faster beyond drift, or not faster at all
    assert decisions[0] == "rejected"
    assert attempts[0]["reason"].endswith("within noise in test_wordfreq.py::test_runtime") or (
        "is not above" in attempts[0]["reason"]
    ), attempts[0]["reason"]
    # the stopped clock is not the one genopt reads: the slow code measures slow (had
    # the timings read it, the test's value would be the start's level, about 70)
    assert attempts[1]["batch_objective"] < 3, attempts[1]
    # fast under the worker, slow on the clean re-run: caught before a commit
    assert decisions[2] == "invalid"
    assert attempts[2]["reason"].startswith("not confirmed by a clean re-run: "), attempts[2]
    assert decisions[3] == "accepted", attempts[3]["reason"]
    assert attempts[3]["reason"].endswith("measured significantly better in "
                                          "test_wordfreq.py::test_runtime")  # fmt: skip
    # every result of the fast version is the slow one's: all four tests pass
    assert report["best"]["passed"] == 4
    assert report["best"]["objective"] > 1.5
    levels = report["measures"]
    start = levels["baseline"]["test_wordfreq.py::test_runtime"]["runtime"]
    best = levels["best"]["test_wordfreq.py::test_runtime"]["runtime"]
    assert best < start / 2
    markdown = (project / ".genopt" / "runs" / report["run"] / "report.md").read_text()
    assert "## Measured objectives" in markdown
    moved = f"runtime of test_wordfreq.py::test_runtime: level {start:.4g} -> {best:.4g}"
    assert f"\n- {moved}\n" in markdown
    shown = genopt_command("review", "--dir", str(project))
    assert f"(commit {report['best']['commit'][:12]})\n   {moved}\n" in shown.stdout
    assert f"| `test_wordfreq.py::test_runtime` | runtime | {start:.4g} | {best:.4g} |" in markdown

    requests = [json.loads(line) for line in (project / "requests.jsonl").read_text().splitlines()]
    first = requests[0]
    assert first["instructions"].startswith("Make common_words faster.")
    # every passing test is at its best but the measured one, which is the batch, also
    # after the speed-up made its value the highest
    assert len(requests) == 5
    for request in (first, requests[4]):
        shown = {item["test"]: item for item in request["evidence"]}
        assert list(shown) == ["test_wordfreq.py::test_runtime"]
        assert "times as good as at the start its measured objectives" in request["objective"]
        assert (
            "below the highest unmeasured value 1, or measured): 1 test(s)"
            in (request["objective"])
        )
    assert (
        "; 1.000 times as good as the start (lower is better, weight 1), comparing"
        in (first["evidence"][0]["feedback"][-1])
    )
    # the measuring test's source shows how it measures, though it passes
    source = first["evidence"][0]["test_source"]
    assert 'genopt.measure("runtime", common_words, TEXT, 20)' in source
    (project / "requests.jsonl").unlink()  # the optimizer's log, not the run's
    assert tree_state(project) == before
