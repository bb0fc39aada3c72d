"""The @trainable decorator and its call recording."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from pytest_genopt import tracing, trainable

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def record() -> Iterator[tracing.TestRecord]:
    yield tracing.begin_test(horizon=3)
    tracing.end_test()


def ids(info: tracing.TrainableInfo) -> str:
    return f"here::{info.qualname}"


@trainable
def double(x: int) -> int:
    return 2 * x


@trainable(description="halves")
def halve(x: int) -> float:
    if x < 0:
        raise ValueError("negative input")
    return x / 2


class Agent:
    @trainable
    def act(self, observation: int) -> int:
        return observation + 1

    @staticmethod
    @trainable
    def static(value: int) -> int:
        return value


@trainable
async def fetch(key: str) -> str:
    await asyncio.sleep(0)
    return key.upper()


def test_inactive_calls_record_nothing_and_keep_metadata() -> None:
    assert tracing.current() is None
    assert double(4) == 8
    assert double.__name__ == "double"
    assert double.__genopt__.description == ""  # type: ignore[attr-defined]
    assert halve.__genopt__.description == "halves"  # type: ignore[attr-defined]


def test_calls_are_recorded_with_arguments_and_results(record: tracing.TestRecord) -> None:
    double(2)
    Agent().act(observation=5)
    Agent.static(9)
    trace = tracing.render_trace(record, ids)
    assert trace[0] == {"call": "here::double", "args": {"x": "2"}, "returned": "4"}
    assert trace[1]["call"] == "here::Agent.act"
    assert trace[1]["args"]["observation"] == "5"
    assert trace[1]["returned"] == "6"
    assert trace[2] == {"call": "here::Agent.static", "args": {"value": "9"}, "returned": "9"}


def test_exceptions_are_recorded_and_reraised(record: tracing.TestRecord) -> None:
    with pytest.raises(ValueError, match="negative"):
        halve(-1)
    (event,) = tracing.render_trace(record, ids)
    assert event["raised"] == "ValueError: negative input"
    assert "returned" not in event


def test_async_functions_are_recorded(record: tracing.TestRecord) -> None:
    assert asyncio.run(fetch("k")) == "K"
    assert tracing.render_trace(record, ids) == [
        {"call": "here::fetch", "args": {"key": "'k'"}, "returned": "'K'"}
    ]


def test_ring_buffer_keeps_the_last_horizon_calls(record: tracing.TestRecord) -> None:
    for i in range(10):
        double(i)
    trace = tracing.render_trace(record, ids)
    assert [e["args"]["x"] for e in trace] == ["7", "8", "9"]


def test_steps_and_calls_interleave_in_time_order(record: tracing.TestRecord) -> None:
    reporter = tracing.TrialReporter(horizon=3)
    reporter.trace(step=1)
    double(1)
    reporter.trace(step=2, ball=(1, 2))
    trace = tracing.render_trace(record, ids)
    assert trace == [
        {"step": 1},
        {"call": "here::double", "args": {"x": "1"}, "returned": "2"},
        {"step": 2, "ball": [1, 2]},
    ]


def test_reporter_is_a_noop_without_a_run() -> None:
    reporter = tracing.TrialReporter(horizon=None)
    assert not reporter.active
    reporter.score(0.5)
    reporter.feedback("ignored")
    reporter.trace(a=1)
    assert tracing.current() is None


def test_score_rejects_non_numbers(record: tracing.TestRecord) -> None:
    reporter = tracing.TrialReporter(horizon=3)
    with pytest.raises(TypeError, match="takes a number, got str"):
        reporter.score("high")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        reporter.score(float("nan"))
    reporter.score(2)
    reporter.score(0.25)
    assert record.score == 0.25


def test_trainable_refuses_staticmethod_objects() -> None:
    with pytest.raises(TypeError, match="below @staticmethod"):
        trainable(staticmethod(lambda: 1))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="applies to functions"):
        trainable(len)  # type: ignore[arg-type]


def test_jsonable_bounds_what_it_renders() -> None:
    long_list = list(range(100))
    rendered = tracing.jsonable({"values": long_list, "text": "x" * 500, "f": float("inf")})
    assert len(rendered["values"]) == 33
    assert rendered["values"][-1] == "... 68 more"
    assert rendered["text"].endswith("...")
    assert len(rendered["text"]) == 203
    assert rendered["f"] == "inf"
