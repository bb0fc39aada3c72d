"""The @trainable decorator and its call recording."""

from __future__ import annotations

import asyncio
import collections
import enum
import json
import pathlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import pytest

from pytest_genopt import tracing, trainable, values
from tests.conftest import prompt_snapshot, read_json

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from syrupy.assertion import SnapshotAssertion


@pytest.fixture
def record() -> Iterator[tracing.TestRecord]:
    """A test recorded during a run, as the plugin's recorder does it."""
    tracing.activate()
    try:
        yield tracing.begin_test(horizon=3)
    finally:
        tracing.end_test()
        tracing.deactivate()


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


@trainable
def collect(first: int, *rest: object, **options: object) -> int:
    return first


def test_variadic_arguments_are_rendered_each(record: tracing.TestRecord) -> None:
    collect(1, [2], "3", key=(4,))
    collect(1, ())
    first, second = tracing.render_trace(record, ids)
    assert first["args"] == {"first": "1", "rest": "([2], '3')", "options": "{'key': (4,)}"}
    assert second["args"] == {"first": "1", "rest": "((),)"}


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


def test_a_step_shows_its_fields_as_they_were_when_traced(record: tracing.TestRecord) -> None:
    reporter = tracing.TrialReporter(horizon=3)
    state = {"seen": [1]}
    reporter.trace(state=state, account=Account("ann", 10), at=Pair(1, Pair(2, 3)))
    state["seen"].append(2)
    assert tracing.render_trace(record, ids) == [
        {
            "state": {"seen": [1]},
            "account": {"owner": "ann", "balance": 10},
            "at": {"x": 1, "y": {"x": 2, "y": 3}},
        }
    ]
    assert values.render(values.snapshot(Pair(1, Pair(2, 3)))) == "Pair(x=1, y=Pair(x=2, y=3))"


class Pair(NamedTuple):
    x: int
    y: object


def test_a_step_numbered_earlier_keeps_its_place_among_calls(
    record: tracing.TestRecord,
) -> None:
    double(1)
    kept = tracing.hold_calls()
    double(2)
    step = tracing.tick()
    assert step is not None
    held = tracing.release_calls(kept)
    assert [call[5:] for call in held] == [[2]]  # [seq, info, kwargs, returned, raised, *args]
    assert [call[5:] for call in record.calls] == [[1]]
    for i in range(5):  # the record's ring buffer moves on meanwhile
        double(10 + i)
    tracing.trace_at(step, {"t": 0})
    tracing.put_calls(held)
    assert [e.get("t", e.get("args")) for e in tracing.render_trace(record, ids)] == [
        {"x": "2"},
        0,
        {"x": "13"},
        {"x": "14"},
    ]
    tracing.end_test()
    assert tracing.tick() is None
    assert tracing.hold_calls() is None
    assert tracing.release_calls(kept) == []


@trainable
def extend(items: list[int], extra: int) -> list[int]:
    items.append(extra)  # the call changes its argument: the record shows it as it came
    return list(items)


def test_a_call_keeps_its_arguments_and_value_as_they_were(record: tracing.TestRecord) -> None:
    items = [1]
    result = extend(items, 2)
    items.append(3)  # the test changes the argument after the call...
    result.append(4)  # ...and the value returned
    extend(items, 5)
    first, second = tracing.render_trace(record, ids)
    assert first["args"] == {"items": "[1]", "extra": "2"}
    assert first["returned"] == "[1, 2]"
    assert second["args"]["items"] == "[1, 2, 3]"
    assert second["returned"] == "[1, 2, 3, 5]"


@trainable
def outer(reporter: tracing.TrialReporter, seen: list[object]) -> int:
    double(1)
    reporter.trace(step="inside")  # the clock is read while this call runs
    seen.extend(tracing.render_trace(tracing.current(), ids))  # type: ignore[arg-type]
    return double(2) + 1


def test_nested_calls_show_in_the_order_they_began_around_steps(
    record: tracing.TestRecord,
) -> None:
    reporter = tracing.TrialReporter(horizon=3)
    seen: list[object] = []
    assert outer(reporter, seen) == 5
    # a call still running has no outcome yet: evidence rendered then leaves it out
    assert seen == [
        {"call": "here::double", "args": {"x": "1"}, "returned": "2"},
        {"step": "inside"},
    ]
    trace = tracing.render_trace(record, ids)
    assert [e.get("call", e.get("step")) for e in trace] == [
        "here::outer",
        "here::double",
        "inside",
        "here::double",
    ]
    assert trace[0]["returned"] == "5"
    assert trace[0]["args"]["seen"] == "[]"  # as it was when the call began


def test_the_horizon_keeps_the_calls_that_began_last(record: tracing.TestRecord) -> None:
    # the buffer keeps the last `horizon` calls in the order they began: a call that made
    # more trainable calls than that is no longer among them when it returns
    reporter = tracing.TrialReporter(horizon=3)
    outer(reporter, [])
    double(3)
    calls = [e for e in tracing.render_trace(record, ids) if "call" in e]
    assert [(e["call"], e["args"]) for e in calls] == [
        ("here::double", {"x": "1"}),
        ("here::double", {"x": "2"}),
        ("here::double", {"x": "3"}),
    ]


def test_steps_can_be_traced_while_another_thread_records_calls() -> None:
    import sys
    import threading
    import time

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    tracing.activate()
    record = tracing.begin_test(horizon=20_000)
    stop = threading.Event()

    def calls() -> None:
        while not stop.is_set():
            double(1)

    worker = threading.Thread(target=calls)
    worker.start()
    try:
        reporter = tracing.TrialReporter(horizon=20_000)
        for step in range(20):
            time.sleep(0.005)  # the worker fills the buffer meanwhile
            reporter.trace(step=step)  # numbers the calls it made, while it makes more
    finally:
        stop.set()
        worker.join()
        sys.setswitchinterval(interval)
        tracing.end_test()
        tracing.deactivate()
    assert len(record.steps) == 20
    numbers = [call[0] for call in record.calls]  # each call numbered once, in order
    assert None not in numbers
    assert numbers == sorted(numbers)


class Account:
    def __init__(self, owner: str, balance: int) -> None:
        self.owner = owner
        self.balance = balance
        self._pin = 1234

    @property
    def statement(self) -> str:
        raise AssertionError("a property was read")

    @trainable
    def withdraw(self, amount: int) -> int:
        self.balance -= amount
        return self.balance


class Slotted:
    __slots__ = ("_hidden", "shown", "unset")

    def __init__(self) -> None:
        self.shown = [1, 2]
        self._hidden = 0


@dataclass
class Point:
    x: int
    y: int
    note: str = field(default="", repr=False)


class Bag:
    pass


class Lazy:
    """Reading anything but its stored attributes has a side effect."""

    reads = 0

    def __init__(self) -> None:
        self.name = "lazy"

    @property
    def loaded(self) -> bool:
        Lazy.reads += 1
        return True

    def __getattr__(self, name: str) -> object:
        Lazy.reads += 1
        return name


class Shouting(str):
    def __repr__(self) -> str:
        raise AssertionError("the whole string was rendered")

    def __getitem__(self, key: object) -> str:
        raise AssertionError("an override was called")


class Loud:
    def __repr__(self) -> str:
        return "Loud!" * 100


class Broken:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class Private:
    """Private state only, as cachetools' caches keep theirs."""

    def __init__(self) -> None:
        self._items = [1]
        self.__size = 1

    def __repr__(self) -> str:
        return f"Private({self._items}, {self.__size})"


def numbers() -> Iterator[int]:
    yield 1


def test_values_render_by_type() -> None:
    def text(value: object) -> str:
        return values.render(values.snapshot(value))

    assert text(Account("ann", 10)) == "Account(owner='ann', balance=10)"
    assert text([Lazy(), {"k": Lazy()}]) == "[Lazy(name='lazy'), {'k': Lazy(name='lazy')}]"
    assert Lazy.reads == 0  # no property, no __getattr__
    assert text(Slotted()) == "Slotted(shown=[1, 2])"
    assert text(Point(1, 2, "secret")) == "Point(x=1, y=2)"
    assert text([{"k": (1,)}, {2}, set(), frozenset({3})]) == (
        "[{'k': (1,)}, {2}, set(), frozenset({3})]"
    )
    assert text(list(range(40))).endswith(", 15, … 24 more]")
    assert text([[[[[1]]]]]) == "[[[[<list of 1 item>]]]]"
    cycle: list[object] = []
    cycle.append(cycle)
    assert text(cycle) == "[[[[<list of 1 item>]]]]"
    # the project's own reprs are not called while a test runs: attributes instead
    assert text(Loud()) == "Loud()"
    assert text(Broken()) == "Broken()"
    loud = text(collections.UserString("Loud!" * 100))  # a stdlib repr, its middle elided
    assert loud.startswith("'Loud!Loud!")
    assert loud.endswith("Loud!'")
    assert "…[303 chars elided]…" in loud
    assert text(pathlib.PurePosixPath("/a/b")) == "PurePosixPath('/a/b')"
    assert (
        text(Private()) == "Private(_items=<list of 1 item>, _Private__size=1)"
    )  # private: 1 level
    assert text(numbers) == "<function numbers>"
    assert text(object()) == "object()"
    assert text(2**20000) == "<int of 20001 bits>"
    assert text(b"\x00" * 500) == "b'" + "\\x00" * 133 + "…[301 bytes elided]…" + "\\x00" * 66 + "'"
    assert text(bytearray(b"ab")) == "bytearray(b'ab')"
    assert text(bytearray(10**6)).endswith("…[999801 bytes elided]…" + "\\x00" * 66 + "')")
    assert text(memoryview(b"abc")) == "<memoryview of 3 bytes>"
    assert text(Shouting("a" * 300)) == "'" + "a" * 133 + "…[101 chars elided]…" + "a" * 66 + "'"
    assert " at 0x" not in text(iter(map(str, [1])))


def test_a_repr_a_snapshot_calls_is_guarded(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:  # classes of their own: a type's plan is kept once chosen
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    class Loud:
        def __repr__(self) -> str:
            return "Loud!" * 100

    monkeypatch.setattr(values, "READ_BY_REPR", values.READ_BY_REPR | {"tests"})
    assert values.render(values.snapshot(Broken())) == "<Broken (repr failed: RuntimeError)>"
    assert "…[301 chars elided]…" in values.render(values.snapshot(Loud()))


class Expiring:
    """A cache whose repr drops expired entries first, as cachetools' TTLCache does."""

    def __init__(self) -> None:
        self.entries = {"old": 1, "new": 2}

    @trainable
    def expire(self) -> list[str]:
        gone = [k for k in self.entries if k == "old"]
        for key in gone:
            del self.entries[key]
        return gone

    def __repr__(self) -> str:
        self.expire()
        return f"Expiring({self.entries})"


class Mood(enum.Enum):
    CALM = 1

    def __repr__(self) -> str:
        raise AssertionError("the project's repr was called")


@trainable
def peek(cache: Expiring, mood: Mood) -> int:
    return len(cache.entries)


def test_a_recorded_call_runs_none_of_the_projects_reprs(record: tracing.TestRecord) -> None:
    """Snapshots call no repr of the project's classes: a repr with side effects would
    change what the test sees (and re-enter a trainable, recorded in turn)."""
    cache = Expiring()
    assert peek(cache, Mood.CALM) == 2
    assert cache.entries == {"old": 1, "new": 2}
    (call,) = tracing.render_trace(record, ids)
    assert call["args"] == {"cache": "Expiring(entries={'old': 1, 'new': 2})", "mood": "Mood.CALM"}
    assert call["returned"] == "2"


def test_a_trainable_a_snapshot_reaches_is_not_recorded(
    record: tracing.TestRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where a snapshot does call a repr (here allowed for the test's sake) and that repr
    calls a trainable, the call runs unrecorded: no recursion, no call the test never made."""

    class Cache(Expiring):
        pass

    monkeypatch.setattr(values, "READ_BY_REPR", values.READ_BY_REPR | {"tests"})
    cache = Cache()
    # self is snapshotted as the call begins: the repr runs expire() first, unrecorded
    assert cache.expire() == []
    trace = tracing.render_trace(record, ids)
    assert [c["call"] for c in trace] == ["here::Expiring.expire"]
    assert trace[0]["args"]["self"] == "Expiring({'new': 2})"
    assert trace[0]["returned"] == "[]"


def test_a_snapshot_is_bounded_in_items_attributes_depth_and_work() -> None:
    wide = Bag()
    wide.__dict__.update({f"a{i:02}": i for i in range(30)})
    assert values.render(values.snapshot(wide)).endswith("a15=15, … 14 more)")
    grid = [[list(range(16))] * 16] * 16
    snap = values.snapshot(grid)
    rendered = values.render(snap)
    assert len(rendered) < values.MAX_TEXT + 40
    assert "chars elided" in rendered
    assert rendered.endswith("], … 15 more], … 13 more]")  # the budget ran out: the rest counted


def test_long_text_keeps_head_and_tail() -> None:
    rendered = values.render(values.snapshot("a" * 2500 + "z" * 2500))
    assert rendered == "'" + "a" * 133 + "…[4801 chars elided]…" + "z" * 66 + "'"


def test_iterators_are_shown_without_being_advanced() -> None:
    def text(value: object) -> str:
        return values.render(values.snapshot(value))

    items = iter([1, 2, 3])
    next(items)
    assert text(items) == "<list_iterator [2, 3]>"
    assert list(items) == [2, 3]
    assert text(iter(range(100))).startswith("<range_iterator [0, 1, 2,")
    assert text(iter(range(100))).endswith(", 15, … 84 more]>")
    keys = iter({"a": 1, "b": 2})
    assert text(keys) == "<dict_keyiterator ['a', 'b']>"
    assert list(keys) == ["a", "b"]
    assert text(iter(dict.fromkeys(range(100)))) == "<dict_keyiterator: 100 left>"
    assert text(reversed([1, 2, 3])) == "<list_reverseiterator [3, 2, 1]>"
    generator = numbers()
    assert text(generator) == "<generator numbers>"
    assert list(generator) == [1]


def test_a_call_shows_the_state_it_saw(record: tracing.TestRecord) -> None:
    account = Account("ann", 10)
    account.withdraw(3)
    account.withdraw(4)
    first, second = tracing.render_trace(record, ids)
    assert first["args"] == {"self": "Account(owner='ann', balance=10)", "amount": "3"}
    assert first["returned"] == "7"
    assert second["args"]["self"] == "Account(owner='ann', balance=7)"


def test_a_plain_pytest_failure_hides_the_wrapper_and_the_fixture_address(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(BANK_TESTS)
    result = pytester.runpytest("-l", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)
    output = result.stdout.str()
    assert "tracing.py" not in output
    assert "sync_wrapper" not in output
    assert "TrialReporter" not in output
    result.stdout.fnmatch_lines(
        [
            "genopt     = <genopt horizon=all inactive>",
            "E*ValueError: overdrawn",
            "*.py:17: ValueError",
        ]
    )
    assert output.count("\n_ _ _ _") == 1  # test -> withdraw, nothing between


def test_evidence_shows_each_call_s_own_state_and_hides_the_wrapper(
    pytester: pytest.Pytester, calc_project: Path, snapshot: SnapshotAssertion
) -> None:
    (calc_project / "tests" / "test_calc.py").write_text(BANK_TESTS)
    result = pytester.runpytest_subprocess(
        "--genopt-iterations=1",
        "--genopt-evidence=req.json",
        "--genopt-horizon=all",
        "--genopt-batch-size=2",
        "--genopt-seed=0",
        "-p",
        "no:cacheprovider",
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    request = read_json(calc_project / "req.json")
    items = {item["test"].rsplit("::", 1)[1]: item for item in request["evidence"]}
    first, second = items["test_withdraw_twice"]["trace"]
    assert first["args"] == {
        "self": "Account(owner='ann', balance=10, history=[])",
        "amount": "3",
    }
    assert first["returned"] == "7"
    assert second["args"]["self"] == "Account(owner='ann', balance=7, history=[-3])"
    assert second["raised"] == "ValueError: overdrawn"
    assert not any("tracing.py" in frame for frame in items["test_withdraw_twice"]["traceback"])
    (call,) = items["test_total_of_an_iterator"]["trace"]
    assert call["args"]["amounts"] == "<tuple_iterator [1, 2, 3]>"
    assert call["returned"] == "6"  # the function still had the whole iterator
    label = call["args"]["label"]
    assert label.startswith("'aaa")
    assert label.endswith("zzz'")
    assert "…[4801 chars elided]…" in label
    assert "report" not in json.dumps(items["test_withdraw_twice"]["trace"])  # no property read
    assert prompt_snapshot(request["prompt"]) == snapshot


BANK_TESTS = """from pytest_genopt import trainable


class Account:
    def __init__(self, owner):
        self.owner = owner
        self.balance = 0
        self.history = []

    @property
    def report(self):
        raise RuntimeError("the report property was read")

    @trainable
    def withdraw(self, amount):
        if amount > self.balance:
            raise ValueError("overdrawn")
        self.balance -= amount
        self.history.append(-amount)
        return self.balance


@trainable
def total(amounts, label):
    return sum(amounts)


def test_withdraw_twice(genopt):
    account = Account("ann")
    account.balance = 10
    account.withdraw(3)
    account.withdraw(20)


def test_total_of_an_iterator():
    assert total(iter((1, 2, 3)), "a" * 2500 + "z" * 2500) == 7
"""


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
    assert len(rendered["values"]) == 17
    assert rendered["values"][-1] == "… 84 more"
    assert rendered["text"] == "x" * 133 + "…[301 chars elided]…" + "x" * 66
    assert rendered["f"] == "inf"


def test_reporter_repr_is_short_and_stable(record: tracing.TestRecord) -> None:
    assert repr(tracing.TrialReporter(horizon=8)) == "<genopt horizon=8 active>"
    tracing.end_test()
    assert repr(tracing.TrialReporter(horizon=None)) == "<genopt horizon=all inactive>"
