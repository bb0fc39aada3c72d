"""Acceptance: exact, order-free decisions; the paired sign test; policies from plugins."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_genopt.acceptance import (
    BUILTIN,
    PAIRED,
    STRICT,
    AcceptancePolicy,
    Standing,
    Verdict,
    accept,
    exact_sum,
    fewest_improved,
    objective_value,
    rank,
    sign_test,
)
from tests.conftest import git, init_repo
from tests.test_loop import genopt, report_of

# ------------------------------------------------------------------ arithmetic


def test_exact_sum_is_the_sum_of_the_floats_as_written() -> None:
    values = [0.1, 0.2, 0.3, 1e300, -1e300, 5e-324]
    assert exact_sum(values) == sum((Fraction(v) for v in values), Fraction(0))
    assert exact_sum([]) == 0
    # what float addition gets wrong: the same three numbers in two orders (added one by
    # one: sum() compensates the rounding of floats since Python 3.12, and agrees there)
    assert 0.1 + 0.2 + 0.3 != 0.3 + 0.2 + 0.1
    assert exact_sum([0.1, 0.2, 0.3]) == exact_sum([0.3, 0.2, 0.1])


def test_sign_test_is_the_exact_binomial_tail() -> None:
    assert sign_test(5, 0) == Fraction(1, 32)
    assert sign_test(4, 0) == Fraction(1, 16)
    assert sign_test(9, 1) == Fraction(11, 1024)
    assert sign_test(0, 0) == 1
    assert sign_test(0, 7) == 1
    for n in range(1, 12):  # the two tails overlap in exactly one point
        for k in range(n + 1):
            overlap = Fraction(math.comb(n, k), 2**n)
            assert sign_test(k, n - k) + sign_test(n - k, k) == 1 + overlap
    with pytest.raises(ValueError, match="counts must be >= 0"):
        sign_test(-1, 3)


def test_fewest_improved_is_the_cost_table_of_the_docs() -> None:
    table = {n: fewest_improved(n) for n in (1, 4, 5, 6, 7, 8, 9, 10, 12, 15, 20, 30, 50)}
    assert table == {
        1: None,
        4: None,
        5: 5,
        6: 6,
        7: 7,
        8: 7,
        9: 8,
        10: 9,
        12: 10,
        15: 12,
        20: 15,
        30: 20,
        50: 32,
    }


def test_a_forged_non_finite_value_is_rejected_and_ranks_last() -> None:
    best = Standing({"a": 0.5, "b": 0.5}, frozenset({"a", "b"}))
    nan = Standing({"a": float("nan"), "b": 1.0}, frozenset({"a", "b"}))
    inf = Standing({"a": float("inf"), "b": 1.0}, frozenset({"a", "b"}))
    for policy in (STRICT, PAIRED):
        for candidate in (nan, inf):
            verdict = accept(policy, best, candidate, ["a", "b"], allow_regressions=False)
            assert verdict.reason == "test a has a value that is not a finite number"
            assert not verdict.accepted
            # past the screen too (a plugin's screen might let it through)
            assert not policy.decide(best, candidate, ["b"], allow_regressions=False).accepted
    assert rank(nan) < rank(Standing({"a": -1e300}))
    assert objective_value(inf) == float("inf")
    assert objective_value(Standing({"a": 0.1, "b": 0.2, "c": 0.3})) == 0.2


# ------------------------------------------------------------------ properties

finite = st.floats(allow_nan=False, allow_infinity=False)
TESTS = [f"t{i}" for i in range(8)]


@st.composite
def worlds(draw: Any) -> tuple[Standing, Standing, list[str]]:
    """A best and a candidate over the same tests (some skipped on a side) and a batch."""
    tests = TESTS[: draw(st.integers(1, len(TESTS)))]
    values = st.one_of(finite, st.sampled_from([0.0, 0.1, 0.2, 0.3, 0.5, 1.0]))

    def side() -> Standing:
        counted = [t for t in tests if draw(st.integers(0, 9))]  # ~1 in 10 skipped
        passed = frozenset(t for t in counted if draw(st.booleans()))
        return Standing({t: draw(values) for t in counted}, passed)

    best, candidate = side(), side()
    batch = draw(st.lists(st.sampled_from(tests), min_size=1, unique=True))
    return best, candidate, batch


def mean(values: list[float]) -> Fraction:
    return sum((Fraction(v) for v in values), Fraction(0)) / len(values) if values else Fraction(0)


def contract(best: Standing, candidate: Standing, batch: list[str], allow: bool) -> bool:
    """DESIGN.md's objective contract, restated over exact fractions."""
    on = [best.values[t] for t in batch if t in best.values]
    tried = [candidate.values[t] for t in batch if t in candidate.values]
    if not mean(tried) > mean(on):
        return False
    if mean(list(candidate.values.values())) < mean(list(best.values.values())):
        return False
    broken = [t for t in best.passed if t in candidate.values and t not in candidate.passed]
    return allow or not broken


def significant(best: Standing, candidate: Standing) -> bool:
    shared = best.values.keys() & candidate.values.keys()
    diffs = [Fraction(candidate.values[t]) - Fraction(best.values[t]) for t in shared]
    return sign_test(sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)) <= Fraction(1, 20)


@settings(max_examples=300, deadline=None)
@given(worlds(), st.booleans())
def test_the_two_stage_contract_holds(world: Any, allow: bool) -> None:
    best, candidate, batch = world
    expected = contract(best, candidate, batch, allow)
    strict = accept(STRICT, best, candidate, batch, allow_regressions=allow)
    paired = accept(PAIRED, best, candidate, batch, allow_regressions=allow)
    assert strict.accepted == expected
    assert paired.accepted == (expected and significant(best, candidate))
    for verdict in (strict, paired):
        assert verdict.reason
        assert "\n" not in verdict.reason


@settings(max_examples=200, deadline=None)
@given(worlds(), st.booleans(), st.randoms(use_true_random=False))
def test_the_order_of_trials_never_matters(world: Any, allow: bool, rng: Any) -> None:
    best, candidate, batch = world

    def shuffled(standing: Standing) -> Standing:
        items = list(standing.values.items())
        rng.shuffle(items)
        return Standing(dict(items), standing.passed)

    batch_again = list(batch)
    rng.shuffle(batch_again)
    for policy in (STRICT, PAIRED):
        verdict = accept(policy, best, candidate, batch, allow_regressions=allow)
        again = accept(
            policy, shuffled(best), shuffled(candidate), batch_again, allow_regressions=allow
        )
        assert again == verdict


@settings(max_examples=200, deadline=None)
@given(st.lists(finite, min_size=1, max_size=8), st.randoms(use_true_random=False))
def test_a_tie_on_the_batch_is_never_accepted(values: list[float], rng: Any) -> None:
    batch = TESTS[: len(values)]
    moved = list(values)
    rng.shuffle(moved)  # the same numbers on other tests: the sum is the same
    best = Standing(dict(zip(batch, values, strict=True)))
    candidate = Standing(dict(zip(batch, moved, strict=True)))
    for policy in (STRICT, PAIRED):
        verdict = policy.screen(best, candidate, batch)
        assert not verdict.accepted
        assert verdict.reason.startswith("batch objective ")
        assert " is not above " in verdict.reason


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(-64, 64), min_size=3, max_size=8),
    st.integers(1, 64),
    st.booleans(),
)
def test_a_tie_on_the_full_set_is_accepted_only_when_the_batch_was_higher(
    eighths: list[int], step: int, batch_higher: bool
) -> None:
    # dyadic values, so raising one test and lowering another by the same
    # amount keeps the full sum exactly equal
    tests = TESTS[: len(eighths)]
    best = Standing({t: e / 8 for t, e in zip(tests, eighths, strict=True)}, frozenset(tests))
    values = dict(best.values)
    raised, lowered = (tests[0], tests[1]) if batch_higher else (tests[1], tests[0])
    values[raised] += step / 8
    values[lowered] -= step / 8
    candidate = Standing(values, frozenset(tests))
    batch = [tests[0], tests[2]]
    verdict = accept(STRICT, best, candidate, batch, allow_regressions=False)
    assert verdict.accepted == batch_higher
    full = f"{float(mean(list(best.values.values()))):.4f}"
    if batch_higher:
        assert verdict.reason.startswith(f"objective {full} -> {full}, batch ")
    else:
        assert " is not above " in verdict.reason


def test_reasons_in_the_style_of_the_loop() -> None:
    tests = ["a", "b", "c", "d", "e"]
    best = Standing(dict.fromkeys(tests, 0.5), frozenset(tests))
    lower = Standing({**best.values, "a": 1.0, "b": 0.0}, frozenset(tests))
    lower = Standing({**lower.values, "c": 0.4}, frozenset(tests))
    assert accept(STRICT, best, lower, ["a"], allow_regressions=False).reason == (
        "objective 0.4800 is below the best 0.5000"
    )
    broken = Standing({**best.values, "a": 1.0}, frozenset({"a"}))
    assert accept(STRICT, best, broken, ["a"], allow_regressions=False).reason == (
        "breaks 4 passing test(s): b, c, d and 1 more"
    )
    assert accept(STRICT, best, broken, ["a"], allow_regressions=True).reason == (
        "objective 0.5000 -> 0.6000, batch 0.5000 -> 1.0000"
    )
    assert accept(PAIRED, best, broken, ["a"], allow_regressions=True).reason == (
        "paired: 1 of 1 changed test(s) improved; sign test p = 0.5000 is above 0.05"
    )
    all_up = Standing(dict.fromkeys(tests, 0.75), frozenset(tests))
    assert accept(PAIRED, best, all_up, ["a"], allow_regressions=False).reason == (
        "objective 0.5000 -> 0.7500, batch 0.5000 -> 0.7500; "
        "paired: 5 of 5 changed test(s) improved, sign test p = 0.0312"
    )
    assert accept(STRICT, best, best, ["a", "b"], allow_regressions=False).reason == (
        "batch objective 0.5000 is not above 0.5000"
    )


def test_a_difference_the_four_decimals_hide_is_named() -> None:
    """Pong's scores are k/42, rounded floats: two policies with the same mean return can
    differ in the 17th decimal, which decides all the same; the reason says by how much
    (the demo's replay once said "0.5317 is below the best 0.5317")."""
    seeds = [f"seed{n}" for n in range(6)]
    best_mean = [k / 42 for k in (22, 23, 23, 23, 21, 22)]
    same_mean = [k / 42 for k in (21, 23, 24, 22, 22, 22)]
    best = Standing(dict(zip(seeds, best_mean, strict=True)), frozenset(seeds))
    candidate = Standing(dict(zip(seeds, same_mean, strict=True)), frozenset(seeds))
    assert accept(STRICT, best, candidate, ["seed2"], allow_regressions=False).reason == (
        "objective 0.5317 is below the best 0.5317 (a difference of 1.9e-17)"
    )
    assert accept(STRICT, candidate, best, ["seed1", "seed3"], allow_regressions=False).reason == (
        "objective 0.5317 -> 0.5317 (a difference of 1.9e-17), batch 0.5357 -> 0.5476"
    )
    # an exact tie, or a difference the decimals show, reads as before
    assert accept(STRICT, best, best, ["seed0"], allow_regressions=False).reason == (
        "batch objective 0.5238 is not above 0.5238"
    )


def test_builtin_policies_follow_the_protocol() -> None:
    assert set(BUILTIN) == {"strict", "paired"}
    for name, policy in BUILTIN.items():
        assert isinstance(policy, AcceptancePolicy)
        assert policy.name == name


def test_the_documented_policy_example_works() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "acceptance.md").read_text(encoding="utf-8")
    namespace: dict[str, Any] = {}
    exec(doc.split("```python\n")[1].split("```")[0], namespace)
    hook = namespace["pytest_genopt_acceptance"]
    assert hook(None, "other") is None
    policy = hook(None, "margin")
    assert isinstance(policy, AcceptancePolicy)
    best = Standing({"a": 0.5, "b": 0.5}, frozenset({"a", "b"}))
    nudged = Standing({"a": 0.51, "b": 0.5}, best.passed)
    raised = Standing({"a": 0.6, "b": 0.5}, best.passed)
    assert accept(policy, best, nudged, ["a"], allow_regressions=False) == Verdict(
        False, "objective rose by less than 0.01"
    )
    assert accept(policy, best, raised, ["a"], allow_regressions=False).accepted


# ------------------------------------------------------------------ options


@pytest.mark.parametrize(
    ("args", "ini", "expected"),
    [
        (
            ["--genopt-accept=Strict"],
            "",
            "--genopt-accept: invalid value 'Strict'; expected strict, paired, or a name a "
            "plugin provides through pytest_genopt_acceptance",
        ),
        (
            ["--genopt-iterations=1", "--genopt-accept=nosuch"],
            "",
            "--genopt-accept: unknown policy 'nosuch'; expected strict, paired, or a name a "
            "plugin provides through pytest_genopt_acceptance",
        ),
        (
            ["--genopt-iterations=1"],
            "genopt_accept = nosuch\n",
            "genopt_accept (ini): unknown policy 'nosuch'; expected strict, paired",
        ),
        (
            ["--genopt-iterations=1", "--genopt-accept=broken"],
            "",
            "--genopt-accept: the policy a plugin made for 'broken' is a object, not an "
            "AcceptancePolicy (name, screen, decide)",
        ),
    ],
)
def test_bad_policy_names_are_usage_errors(
    pytester: pytest.Pytester, args: list[str], ini: str, expected: str
) -> None:
    pytester.makeini("[pytest]\n" + ini)
    pytester.makeconftest(
        "def pytest_genopt_acceptance(config, name):\n"
        "    return object() if name == 'broken' else None\n"
    )
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.startswith("ERROR:")]
    assert len(errors) == 1, result.errlines
    assert errors[0].startswith("ERROR: " + expected)


def test_a_passive_session_never_looks_a_policy_up(pytester: pytest.Pytester) -> None:
    # candidate evaluations run passive; so do sessions in a subdirectory
    # whose conftest does not provide the ini's policy
    pytester.makeini("[pytest]\ngenopt_accept = provided-elsewhere\n")
    pytester.makepyfile("def test_ok():\n    pass\n")
    pytester.runpytest().assert_outcomes(passed=1)


# ------------------------------------------------------------------ end to end

SCORES = """\
from pytest_genopt import trainable


@trainable
def scores():
    return {VALUES}
"""

SCORE_TESTS = """\
import pytest

from scores import scores

NAMES = sorted(scores())


@pytest.mark.parametrize("name", NAMES)
def test_score(genopt, name):
    genopt.score(scores()[name])


def test_top(genopt):
    genopt.score(1.0)
"""

ANSWER_BY_ITERATION = """
ANSWERS = {ANSWERS}


def propose(request):
    values = ANSWERS[request["iteration"]]
    text = "def scores():\\n    return " + repr(values) + "\\n"
    return {{"edits": [{{"parameter": "scores.py::scores", "text": text}}], "rationale": "try"}}
"""


def scored_project(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    values: dict[str, float],
    answers: Any,
    *,
    top: bool = True,
) -> Path:
    """A repository whose tests score ``values`` (below a top test at 1.0), with an optimizer.

    It is the working directory, as in ``calc_project``.
    """
    project = pytester.path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    return init_repo(
        project,
        {
            "scores.py": SCORES.replace("{VALUES}", repr(values)),
            "tests/test_scores.py": SCORE_TESTS
            if top
            else SCORE_TESTS.split("\n\n\ndef test_top")[0],
            "optimizer.py": ANSWER_BY_ITERATION.format(ANSWERS=repr(answers)),
            "pytest.ini": "[pytest]\npythonpath = .\n",
        },
    )


def ids(*names: str) -> list[str]:
    return [f"tests/test_scores.py::test_score[{n}]" for n in names]


def test_an_exact_tie_on_the_batch_is_rejected(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # float summation in the batch's order: 0.3 + 0.2 + 0.1 == 0.6, but
    # 0.1 + 0.2 + 0.3 == 0.6000000000000001; the same numbers, so not higher
    project = scored_project(
        pytester, monkeypatch, {"a": 0.3, "b": 0.2, "c": 0.1}, {1: {"a": 0.1, "b": 0.2, "c": 0.3}}
    )
    result = genopt(
        pytester,
        "--genopt-iterations=1",
        "--genopt-backend=python:optimizer:propose",
        "--genopt-seed=1",
        "--genopt-batch-size=3",
    )
    report = report_of(project)
    [iteration] = report["iterations"]
    assert iteration["batch"] == ids("a", "b", "c"), "the sampler's order changed"
    assert iteration["decision"] == "rejected", result.stdout.str()
    assert iteration["reason"] == "batch objective 0.2000 is not above 0.2000"
    assert report["best"]["commit"] is None


TWO_CANDIDATES = """
ANSWERS = [{"a": 0.3, "b": 0.2, "c": 0.1}, {"a": 0.3, "b": 0.1, "c": 0.2}]
ASKED = []


def propose(request):
    values = ANSWERS[len(ASKED)]
    ASKED.append(values)
    text = "def scores():\\n    return " + repr(values) + "\\n"
    return {"edits": [{"parameter": "scores.py::scores", "text": text}], "rationale": "try"}
"""


def test_an_exact_tie_on_the_full_set_goes_to_the_first_candidate(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # both candidates raise the batch's test a from 0.1 to 0.3 and keep the
    # full sum exactly; summed as floats the first fell below the best
    # (0.19999999999999998 < 0.20000000000000004) and the second won
    project = scored_project(pytester, monkeypatch, {"a": 0.1, "b": 0.2, "c": 0.3}, {}, top=False)
    (project / "optimizer.py").write_text(TWO_CANDIDATES)
    result = genopt(
        pytester,
        "--genopt-iterations=1",
        "--genopt-backend=python:optimizer:propose",
        "--genopt-candidates=2",
        "--genopt-batch-size=1",
        "--genopt-seed=1",
    )
    report = report_of(project)
    [iteration] = report["iterations"]
    assert iteration["batch"] == ids("a"), "the sampler's order changed"
    first, second = iteration["attempts"]
    assert first["decision"] == "accepted", result.stdout.str()
    assert first["reason"] == "objective 0.2000 -> 0.2000, batch 0.1000 -> 0.3000"
    assert second["decision"] == "rejected"
    assert second["reason"] == (
        "candidate 0 scored the same (0.2000) and came first "
        "(batch objective, then candidate number)"
    )
    assert "'b': 0.2, 'c': 0.1" in git(project, "show", f"{report['branch']}:scores.py")


def test_paired_refuses_noise_and_accepts_a_clear_improvement(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = "abcdefgh"
    noise = dict(zip(names, [0.55, 0.55, 0.55, 0.55, 0.49, 0.49, 0.49, 0.5], strict=True))
    project = scored_project(
        pytester, monkeypatch, dict.fromkeys(names, 0.5), {1: noise, 2: dict.fromkeys(names, 0.6)}
    )
    result = genopt(
        pytester,
        "--genopt-iterations=2",
        "--genopt-backend=python:optimizer:propose",
        "--genopt-accept=paired",
        "--genopt-batch-size=8",
        "--genopt-seed=0",
    )
    report = report_of(project)
    assert report["settings"]["accept"] == "paired"
    first, second = report["iterations"]
    assert first["decision"] == "rejected", result.stdout.str()
    assert first["reason"] == (
        "paired: 4 of 7 changed test(s) improved; sign test p = 0.5000 is above 0.05"
    )
    # the mean went up, so strict acceptance would have taken this noise
    assert first["objective"] > report["baseline"]["objective"]
    assert second["decision"] == "accepted"
    assert second["reason"] == (
        "objective 0.5556 -> 0.6444, batch 0.5000 -> 0.6000; "
        "paired: 8 of 8 changed test(s) improved, sign test p = 0.0039"
    )
    assert "0.6" in git(project, "show", f"{report['branch']}:scores.py")


POLICY_CONFTEST = """
import json

from pytest_genopt.acceptance import Verdict


class Lenient:
    name = "lenient"

    def screen(self, best, candidate, batch):
        self.log("screen", best, candidate, batch)
        return Verdict(True, "anything goes")

    def decide(self, best, candidate, batch, *, allow_regressions):
        self.log("decide", best, candidate, batch)
        return Verdict(True, f"lenient on {len(candidate.values)} test(s)")

    def log(self, stage, best, candidate, batch):
        with open("policy.jsonl", "a") as out:
            line = [stage, sorted(best.values), sorted(candidate.values), sorted(batch)]
            out.write(json.dumps(line) + "\\n")


def pytest_genopt_acceptance(config, name):
    return Lenient() if name == "lenient" else None
"""


def test_a_policy_from_a_conftest_plugin_decides(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a worse candidate, which strict acceptance refuses at the batch
    project = scored_project(pytester, monkeypatch, {"a": 0.5, "b": 0.5}, {1: {"a": 0.1, "b": 0.1}})
    (project / "conftest.py").write_text(POLICY_CONFTEST)
    (project / "pytest.ini").write_text("[pytest]\npythonpath = .\ngenopt_accept = lenient\n")
    result = genopt(
        pytester,
        "--genopt-iterations=1",
        "--genopt-backend=python:optimizer:propose",
        "--genopt-batch-size=1",
        "--genopt-seed=0",
    )
    report = report_of(project)
    [iteration] = report["iterations"]
    assert iteration["decision"] == "accepted", result.stdout.str()
    assert iteration["reason"] == "lenient on 3 test(s)"
    calls = [json.loads(line) for line in (project / "policy.jsonl").read_text().splitlines()]
    everything = [*ids("a", "b"), "tests/test_scores.py::test_top"]
    batch = calls[0][3]
    assert calls == [
        ["screen", batch, batch, batch],
        ["decide", everything, everything, batch],
    ]
    assert batch[0] in ids("a", "b")
    # candidate evaluations ran passive: only the controller asked the policy
    assert len(calls) == 2
