"""Diverse minibatches (failure signatures) and the objective section that lists what is left."""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import TYPE_CHECKING

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_genopt.evidence import (
    MinibatchSampler,
    Signature,
    Trial,
    function_id,
    parameter_id,
    signature,
)
from pytest_genopt.update import OBJECTIVE_LINES, describe_objective
from tests.conftest import prompt_snapshot
from tests.test_evidence_request import evidence_run

if TYPE_CHECKING:
    from pathlib import Path

    import pytest
    from syrupy.assertion import SnapshotAssertion


def trial(test: str, message: str = "", outcome: str = "failed", **kw: object) -> Trial:
    return Trial(test=test, outcome=outcome, message=message, **kw)  # type: ignore[arg-type]


def two_tests(n: int = 20) -> list[Trial]:
    """The issue's case: many parametrizations of two tests, one message shape each."""
    a = [
        trial(f"t.py::test_a[{i}]", f"AssertionError: assert {i - 1} == {i + 1}") for i in range(n)
    ]
    b = [trial(f"t.py::test_b[{i}]", f"ValueError: no key '{i}' in {{}}") for i in range(n)]
    return a + b


def draws(sampler: MinibatchSampler, pool: list[Trial], count: int) -> list[list[str]]:
    return [[t.test for t in sampler.sample(pool)] for _ in range(count)]


def test_signature_is_test_function_exception_and_message_shape() -> None:
    assert function_id("tests/t.py::TestX::test_a[1-x]") == "tests/t.py::TestX::test_a"
    assert parameter_id("tests/t.py::TestX::test_a[1-x]") == "1-x"
    # parameter ids may hold "::" and brackets; paths may hold brackets
    assert function_id("t.py::test_a[a::b[c]]") == "t.py::test_a"
    assert parameter_id("t.py::test_a[a::b[c]]") == "a::b[c]"
    assert function_id("d[1]/t.py::test_a") == "d[1]/t.py::test_a"
    assert parameter_id("t.py::test_a") == ""
    one = signature(
        trial("t.py::test_a[1]", "AssertionError: assert -1 == 3.5\n + where -1 = f(1)")
    )
    two = signature(trial("t.py::test_a[22]", "AssertionError: assert 20 == 2e-3\n + where"))
    assert (
        one == two == Signature("t.py::test_a", "AssertionError", "AssertionError: assert # == #")
    )
    objects = [
        signature(trial("t.py::test_b[x]", f"pkg.mod.KeyMissing: '{k}' not in <D object at {a}>"))
        for k, a in (("k1", "0x7f3a"), ('say "2"', "0xDEADbeef"))
    ]
    assert objects[0] == objects[1]
    assert objects[0].exception == "pkg.mod.KeyMissing"
    assert objects[0].shape == "pkg.mod.KeyMissing: '…' not in <D object at 0x…>"
    # a leading phrase that is no exception name, a bare exception, no message
    assert signature(trial("t.py::t", "value too big: 3")).exception == ""
    assert signature(trial("t.py::t", "assert x1 == 2")).shape == "assert x1 == #"
    assert signature(trial("t.py::t", "ZeroDivisionError")).exception == "ZeroDivisionError"
    assert signature(trial("t.py::t", outcome="passed", score=0.5)) == Signature("t.py::t", "", "")
    # other shapes or other test functions are other signatures
    assert signature(trial("t.py::test_a[1]", "AssertionError: assert [1] == [2, 3]")) != one
    assert signature(trial("t.py::test_c[1]", "AssertionError: assert 0 == 1")) != one


def test_signature_of_a_hostile_message_is_bounded() -> None:
    shape = signature(trial("t.py::t", "E: " + "'x" * 50_000 + "\n" + "y" * 10**6)).shape
    assert len(shape) <= 200


def test_every_batch_shows_both_signatures_and_each_epoch_is_complete() -> None:
    pool = two_tests()
    for size in range(2, 9):
        for seed in range(4):
            batches = draws(MinibatchSampler(size, seed), pool, 3 * 40 // size + 1)
            for batch in batches:
                assert {function_id(t) for t in batch} == {"t.py::test_a", "t.py::test_b"}
            drawn = [t for batch in batches for t in batch]
            # epoch-complete: every test once, then every test twice, ...
            for m in (1, 2):
                assert Counter(drawn[: m * 40]) == Counter({t.test: m for t in pool})


def test_a_batch_repeats_a_signature_only_when_every_signature_is_in_it() -> None:
    pool = [*two_tests(), trial("t.py::test_c", "TypeError: nope")]
    # three signatures, batch of 6: two of each in the epoch's first batch
    batch = draws(MinibatchSampler(6, seed=3), pool, 1)[0]
    per = Counter(function_id(t) for t in batch)
    # test_c has one test: the sixth place goes to a third test_a or test_b
    assert per["t.py::test_c"] == 1
    assert sorted([per["t.py::test_a"], per["t.py::test_b"]]) == [2, 3]
    assert function_id(batch[-1]) != "t.py::test_c"
    assert {function_id(t) for t in batch[:3]} == set(per)


@settings(max_examples=50, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=5),
    shapes=st.integers(min_value=1, max_value=2),
    k=st.integers(min_value=1, max_value=8),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_batches_are_diverse_epoch_complete_and_resumable(
    sizes: list[int], shapes: int, k: int, seed: int
) -> None:
    pool = [
        trial(f"t.py::test_{f}[{i}]", f"E{i % shapes}: {i}")
        for f, size in enumerate(sizes)
        for i in range(size)
    ]
    signatures = Counter(signature(t) for t in pool)
    sampler = MinibatchSampler(k, seed)
    counts = Counter({t.test: 0 for t in pool})
    for _ in range(3 * len(pool) // k + 2):
        before = sampler.state()
        fresh = Counter(signature(t) for t in pool if t.test not in before["seen"])
        batch = sampler.sample(list(reversed(pool)) if seed % 2 else pool)
        names = [t.test for t in batch]
        assert len(names) == len(set(names)) == min(k, len(pool))
        # resumable: a sampler restored from the state before the draw draws the same
        resumed = MinibatchSampler(k, seed)
        resumed.restore(json.loads(json.dumps(before)))
        assert [t.test for t in resumed.sample(pool)] == names
        assert resumed.state() == sampler.state()
        # epoch-complete: no test drawn an (m+1)-th time while another has fewer than m
        for name in names:
            counts[name] += 1
        assert max(counts.values()) - min(counts.values()) <= 1
        # diverse: a signature got its c-th place only when every other one that still
        # had tests to offer (this epoch's, or the next one's when it ran out) had c - 1
        per = Counter(signature(t) for t in batch)
        wrapped = sum(fresh.values()) < k
        available = signatures if wrapped else fresh
        for s in per:
            if wrapped and per[s] <= fresh[s]:
                continue  # all of it forced by the epoch's end
            for other in available:
                assert per[other] == available[other] or per[other] >= per[s] - 1


def test_draws_follow_the_seed_not_the_pool_order() -> None:
    pool = two_tests(6) + [trial(f"t.py::test_c{i}", "E: x") for i in range(5)]
    shuffled = list(pool)
    random.Random(1).shuffle(shuffled)
    first = draws(MinibatchSampler(3, seed=7), pool, 8)
    assert draws(MinibatchSampler(3, seed=7), shuffled, 8) == first
    others = {tuple(draws(MinibatchSampler(3, seed=s), pool, 1)[0]) for s in range(8)}
    assert len(others) > 1


def test_a_saved_state_of_the_older_format_restores() -> None:
    """``{"seen": [...], "draws": n}``, as journals written before signatures hold it."""
    pool = two_tests(3)
    sampler = MinibatchSampler(2, seed=4)
    sampler.restore({"seen": ["t.py::test_a[0]", "t.py::test_b[0]", "gone::test"], "draws": 1})
    batch = draws(sampler, pool, 2)
    # the epoch goes on with the tests not seen yet, one of each signature per batch
    assert sorted(batch[0] + batch[1]) == sorted(
        ["t.py::test_a[1]", "t.py::test_a[2]", "t.py::test_b[1]", "t.py::test_b[2]"]
    )
    assert {function_id(t) for t in batch[0]} == {"t.py::test_a", "t.py::test_b"}
    assert sampler.state()["draws"] == 3


def objective_lines(trials: list[Trial], batch: list[Trial]) -> list[str]:
    return describe_objective(trials, batch=batch).splitlines()


def test_objective_groups_by_test_function_and_marks_the_batch() -> None:
    trials = (
        two_tests()
        + [trial(f"t.py::test_b[{i}]", outcome="passed") for i in range(20, 25)]
        + [trial(f"t.py::test_s[{i}-x]", outcome="passed", score=i / 10) for i in range(3)]
        + [trial("t.py::test_s[9-x]", outcome="passed", score=1.0)]
        + [trial("t.py::test_c", "E: x", outcome="error")]
        + [trial("t.py::test_h[1]", holdout=True), trial("t.py::test_k", outcome="skipped")]
    )
    batch = [trials[3], trials[17], trials[22], trials[45]]  # a[3], a[17], b[2], test_s[0-x]
    heading, summary, *groups = objective_lines(trials, batch)
    assert heading.startswith("maximize the mean value of 50 tests")
    assert heading.endswith("current value 0.1260 (9 of 50 tests pass)")
    assert summary == (
        "Can still improve (failing, or valued below the highest test value 1): "
        "44 test(s) in 4 group(s) by test function:"
    )
    # the batch's groups first, the largest first
    assert groups == [
        "- t.py::test_a[…] ×20 (every parametrization): 20 failed, value 0 "
        "(2 in this batch: [3, 17])",
        "- t.py::test_b[…] ×20 of 25; ids [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, "
        "15, 16, 17, … 2 more]: 20 failed, value 0 (1 in this batch: [2])",
        "- t.py::test_s[…] ×3 of 4; ids [0-x, 1-x, 2-x]: 3 passed, values 0 to 0.2 "
        "(1 in this batch: [0-x])",
        "- t.py::test_c: error, value 0",
    ]
    assert describe_objective(trials).count("in this batch") == 0
    rest = [trial("t.py::test_l[0]"), trial("t.py::test_l[ok]", outcome="passed")]
    # ids in natural order, digits that int() refuses included
    odd = [trial(f"t.py::test_o[{i}]") for i in ("x10", "x9", "²", "٣")]
    odd.append(trial("t.py::test_o[ok]", outcome="passed"))
    assert "; ids [x9, x10, ², ٣]:" in objective_lines(odd, [])[2]
    # ids too long to list are counted
    long = [trial(f"t.py::test_l[{c * 70}]") for c in "xy"]
    assert objective_lines([*long, *rest], long[:1])[2] == (
        "- t.py::test_l[…] ×3 of 4; ids [0, … 2 more]: 3 failed, value 0 "
        "(1 in this batch: [1 long id(s)])"
    )


def test_objective_is_bounded_and_counts_what_it_leaves_out() -> None:
    trials = [trial(f"t.py::test_{i:03d}[{j}]") for i in range(60) for j in range(i % 3 + 1)]
    batch = [t for t in trials if t.test.startswith("t.py::test_059")]
    lines = objective_lines(trials, batch)
    assert len(lines) == OBJECTIVE_LINES
    # the batch's group is never the one left out
    assert lines[2].startswith("- t.py::test_059[…] ×3")
    assert lines[2].endswith("(3 in this batch: [0, 1, 2])")
    shown = len(lines) - 3
    left = sorted(range(60), key=lambda i: (i != 59, -(i % 3 + 1), i))[shown:]
    tests = sum(i % 3 + 1 for i in left)
    assert lines[-1] == f"- ... {len(left)} more group(s) ({tests} test(s)) not shown"


def test_first_request_shows_both_test_functions(
    pytester: pytest.Pytester, calc_project: Path, snapshot: SnapshotAssertion
) -> None:
    """End to end: 20 parametrizations of each of two tests, a batch of 4, seed 0."""
    (calc_project / "tests" / "test_calc.py").write_text(
        "import pytest\nfrom calc import add\n\n\n"
        "@pytest.mark.parametrize('n', range(20))\n"
        "def test_a(n):\n"
        "    assert add(n, 1) == n + 1\n\n\n"
        "@pytest.mark.parametrize('n', range(20))\n"
        "def test_b(n):\n"
        "    if add(n, n) != 2 * n:\n"
        "        raise ValueError(f'doubling {n} gave {add(n, n)}')\n"
    )
    request = evidence_run(pytester, "--genopt-batch-size=4", "--genopt-seed=0")
    tests = [e["test"] for e in request["evidence"]]
    assert Counter(function_id(t) for t in tests) == {
        "tests/test_calc.py::test_a": 2,
        "tests/test_calc.py::test_b": 2,
    }
    ids = {
        f: sorted((parameter_id(t) for t in tests if f in t), key=int) for f in ("test_a", "test_b")
    }
    objective = request["objective"].splitlines()
    assert objective[1:] == [
        "Can still improve (failing, or valued below the highest test value 1): "
        "39 test(s) in 2 group(s) by test function:",
        "- tests/test_calc.py::test_a[…] ×20 (every parametrization): 20 failed, value 0 "
        f"(2 in this batch: [{', '.join(ids['test_a'])}])",
        "- tests/test_calc.py::test_b[…] ×19 of 20; ids [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, "
        "12, 13, 14, 15, 16, 17, … 2 more]: 19 failed, value 0 "
        f"(2 in this batch: [{', '.join(ids['test_b'])}])",
    ]
    assert f"Objective: {request['objective']}\n" in request["prompt"]
    assert prompt_snapshot(request["prompt"]) == snapshot
