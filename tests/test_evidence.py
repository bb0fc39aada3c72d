"""Trials, the objective, the credit horizon and minibatch sampling."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_genopt.evidence import (
    MinibatchSampler,
    Trial,
    clip_tail,
    improvable,
    objective,
)


def trial(name: str, outcome: str = "failed", score: float | None = None, **kw: object) -> Trial:
    return Trial(test=name, outcome=outcome, score=score, **kw)  # type: ignore[arg-type]


def test_value_follows_the_objective_contract() -> None:
    assert trial("a", "passed").value == 1.0
    assert trial("a", "failed").value == 0.0
    assert trial("a", "error").value == 0.0
    assert trial("a", "failed", score=0.7).value == 0.7
    assert objective([trial("a", "passed"), trial("b"), trial("c", "skipped")]) == 0.5
    assert objective([trial("c", "skipped")]) is None


def test_improvable_excludes_holdout_skipped_and_best() -> None:
    trials = [
        trial("pass", "passed", score=1.0),
        trial("low", "passed", score=0.4),
        trial("fail"),
        trial("hold", holdout=True),
        trial("skip", "skipped"),
    ]
    assert [t.test for t in improvable(trials)] == ["low", "fail"]


def test_evidence_truncates_the_traceback() -> None:
    # the trace is bounded per kind (steps, calls) while recording, not here
    t = trial("a", traceback=("f1", "f2", "f3"), trace=({"s": 1}, {"call": "f"}, {"s": 3}))
    item = t.evidence(2)
    assert item.traceback == ("f2", "f3")
    assert item.trace == t.trace


def test_clip_tail_keeps_the_end() -> None:
    clipped = clip_tail("a" * 10 + "END", limit=3)
    assert clipped.endswith("\nEND")
    assert "10 characters dropped" in clipped


def test_trial_round_trips_through_json() -> None:
    t = trial("a", score=0.5, trace=({"x": 1},), feedback=("hi",), linked=("p",), duration=1.5)
    assert Trial.from_json(t.to_json()) == t


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=20),
    k=st.integers(min_value=1, max_value=7),
    seed=st.integers(min_value=0, max_value=1000),
)
def test_every_trial_is_seen_once_before_any_repeats(n: int, k: int, seed: int) -> None:
    pool = [trial(f"t{i:02d}") for i in range(n)]
    sampler = MinibatchSampler(batch_size=k, seed=seed)
    drawn: list[str] = []
    for _ in range(-(-n // k)):
        batch = sampler.sample(pool)
        names = [t.test for t in batch]
        assert len(names) == len(set(names)) == min(k, n)
        drawn.extend(names)
    # the first ceil(n/k) draws cover the pool before anything repeats
    assert set(drawn[:n]) == {t.test for t in pool}


def test_sampling_is_reproducible_from_seed_and_state() -> None:
    pool = [trial(f"t{i}") for i in range(9)]
    first = MinibatchSampler(3, seed=5)
    a = [first.sample(pool) for _ in range(2)]
    second = MinibatchSampler(3, seed=5)
    second.sample(pool)
    resumed = MinibatchSampler(3, seed=5)
    resumed.restore(second.state())
    assert resumed.sample(pool) == a[1]
    other_seeds = {
        tuple(t.test for t in MinibatchSampler(3, seed=s).sample(pool)) for s in range(8)
    }
    assert len(other_seeds) > 1  # the seed matters


def test_sampler_follows_a_shrinking_pool() -> None:
    pool = [trial(f"t{i}") for i in range(4)]
    sampler = MinibatchSampler(2, seed=0)
    first = sampler.sample(pool)
    remaining = [t for t in pool if t not in first]
    second = sampler.sample(remaining[:1])  # one test left to fix
    assert second == remaining[:1]
