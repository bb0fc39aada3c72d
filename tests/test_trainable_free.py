"""``@trainable`` costs nothing outside a run, and records during one whatever imported it first."""

from __future__ import annotations

import functools
import json
import re
import traceback
from typing import TYPE_CHECKING, Any

import pytest

from pytest_genopt import tracing, trainable
from tests.conftest import init_repo, read_json

if TYPE_CHECKING:
    from collections.abc import Iterator


def ids(info: tracing.TrainableInfo) -> str:
    return info.qualname


def plain_add(a: int, b: int) -> int:
    return a + b


def test_outside_a_run_the_decorator_returns_the_function_itself_marked() -> None:
    assert not tracing.run_active()
    code = plain_add.__code__
    assert trainable(plain_add) is plain_add
    assert plain_add.__code__ is code  # not even its code changed
    assert plain_add.__genopt__.description == ""  # type: ignore[attr-defined]

    def described() -> int:
        return 1

    assert trainable(description="one")(described) is described
    assert described.__genopt__.description == "one"  # type: ignore[attr-defined]
    assert trainable(described) is described  # twice: still itself, still described so
    assert described.__genopt__.description == "one"  # type: ignore[attr-defined]
    record = tracing.begin_test(None)  # a test record alone starts no run
    try:
        assert plain_add(1, 2) == 3
    finally:
        tracing.end_test()
    assert not record.calls


class Base:
    def greet(self, name: str) -> str:
        return f"hello {name}"


class Agent(Base):
    @trainable
    def greet(self, name: str) -> str:
        return super().greet(name) + "!"  # a closure cell (__class__) of its own

    @staticmethod
    @trainable
    def static(x: int) -> int:
        return x

    @classmethod
    @trainable
    def build(cls, size: int = 3, *, label: str = "") -> str:
        return f"{cls.__name__}:{size}:{label}"


class Child(Agent):
    pass


def make_counter(start: int) -> Any:
    @trainable
    def counter(step: int) -> int:
        return start + step  # a closure over a local

    return counter


@trainable
def act(observation: list[int], *rest: int, **options: int) -> int:
    return sum(observation) + sum(rest) + sum(options.values())


@trainable
async def fetch(key: str) -> str:
    return key.upper()


# references made before any run: a dispatch table, a bound method, a partial, a closure
TABLE = {"act": act}
GREET = Agent().greet
PARTIAL = functools.partial(act, [1])
COUNTER = make_counter(10)


@pytest.fixture
def run() -> Iterator[tracing.TestRecord]:
    tracing.activate()
    try:
        yield tracing.begin_test(None)
    finally:
        tracing.end_test()
        tracing.deactivate()


def test_a_run_records_through_every_reference_made_before_it(run: tracing.TestRecord) -> None:
    import asyncio

    assert tracing.run_active()
    seen = [2]
    assert TABLE["act"](seen, 3, bonus=4) == 9
    seen.append(5)  # the call keeps what it saw
    assert GREET("ann") == "hello ann!"
    assert Child().greet("bob") == "hello bob!"
    assert Child.static(7) == 7
    assert Child.build(label="x") == "Child:3:x"
    assert PARTIAL() == 1
    assert COUNTER(1) == 11
    assert asyncio.run(fetch("k")) == "K"
    trace = tracing.render_trace(run, ids)
    assert trace == [
        {"call": "act", "args": {"observation": "[2]", "rest": "(3,)", "options": "{'bonus': 4}"},
         "returned": "9"},
        {"call": "Agent.greet", "args": {"self": "Agent()", "name": "'ann'"},
         "returned": "'hello ann!'"},
        {"call": "Agent.greet", "args": {"self": "Child()", "name": "'bob'"},
         "returned": "'hello bob!'"},
        {"call": "Agent.static", "args": {"x": "7"}, "returned": "7"},
        {"call": "Agent.build", "args": {"cls": "<class Child>", "size": "3", "label": "'x'"},
         "returned": "'Child:3:x'"},
        {"call": "act", "args": {"observation": "[1]"}, "returned": "1"},
        {"call": "make_counter.<locals>.counter", "args": {"step": "1"}, "returned": "11"},
        {"call": "fetch", "args": {"key": "'k'"}, "returned": "'K'"},
    ]  # fmt: skip


def test_a_run_keeps_signatures_errors_and_ends_with_the_original_code() -> None:
    import inspect

    codes = {fn: fn.__code__ for fn in (act, Agent.greet, fetch)}
    signature = inspect.signature(Agent.build)
    tracing.activate()
    try:
        assert trainable(plain_add) is plain_add  # decorated again during a run: itself
        assert act.__code__ is not codes[act]
        assert inspect.signature(Agent.build) == signature
        assert inspect.iscoroutinefunction(fetch)
        with pytest.raises(TypeError, match=r"^act\(\) missing 1 required positional"):
            act()  # type: ignore[call-arg]

        @trainable
        def during(x: int) -> int:
            if x < 0:
                raise ValueError("negative")
            return x

        @trainable
        def clash(_genopt_record: int, /, my_genopt_value: int = 2) -> int:
            return _genopt_record + my_genopt_value  # names like the recorder's own

        record = tracing.begin_test(3)  # the horizon bounds the calls kept
        try:
            during(1)
            with pytest.raises(ValueError, match="negative") as raised:
                during(-1)
            during(3)
            assert clash(1) == 3
        finally:
            tracing.end_test()
        # the recorder is compiled into the function's own body: a traceback printed
        # outside pytest shows the function's lines and nothing of the recorder
        shown = "".join(traceback.format_exception(raised.value))
        assert "<genopt recorder" not in shown
        assert not re.search(r"^\s+_genopt_", shown, re.MULTILINE)  # no recording code
        assert shown.count(", in during\n") == 1
        assert 'raise ValueError("negative")' in shown
        first, second, third = tracing.render_trace(record, ids)
        assert (first["args"], first["raised"]) == ({"x": "-1"}, "ValueError: negative")
        assert second["args"] == {"x": "3"}
        assert third["args"] == {"_genopt_record": "1", "my_genopt_value": "2"}
        # without its source (made by exec) a trainable records through the template
        # recorder, a second frame whose line a traceback shows readable
        made: dict[str, Any] = {"trainable": trainable}
        exec("@trainable\ndef unread(x):\n    raise ValueError('no source')\n", made)
        tracing.begin_test(3)
        try:
            with pytest.raises(ValueError, match="no source") as raised:
                made["unread"](1)
        finally:
            tracing.end_test()
        shown = "".join(traceback.format_exception(raised.value))
        assert 'File "<genopt recorder' in shown
        assert "_genopt_value = function(x)" in shown
    finally:
        tracing.deactivate()
    assert all(fn.__code__ is code for fn, code in codes.items())
    assert during.__code__ is during.__genopt__.code  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError, match="without a matching activate"):
        tracing.deactivate()


# The project: policy.py is imported by the initial conftest, rules.py by a -p plugin, both
# before the plugin knows a run is active; the test reaches their functions only through
# references made then.
POLICY = """\
from pytest_genopt import trainable


@trainable
def add(a, b):
    return a - b


class Agent:
    @trainable
    def act(self, x):
        return add(x, 1)


TABLE = {"add": add}
"""

RULES = """\
from pytest_genopt import trainable


@trainable
def clip(x):
    return max(0, x)
"""

CONFTEST = """\
import pytest

import early
from policy import TABLE, Agent, add

ACT = Agent().act


@pytest.fixture
def early_references():
    return add, TABLE["add"], ACT, early.CLIP
"""

TEST = """\
def test_policy(genopt, early_references):
    add, table_add, act, clip = early_references
    score = add(1, 2) + table_add(2, 2) + act(5) + clip(-3)
    genopt.score(score)
    # outside a run the functions are exactly as written
    assert add.__code__.co_filename.endswith("policy.py") is not genopt.active
    assert clip.__code__.co_filename.endswith("rules.py") is not genopt.active
    assert score > 100 or not genopt.active  # a run always has something to improve
"""

OPTIMIZER = """\
import json

FIXED = "def add(a, b):\\n    return a + b\\n"


def propose(request):
    with open({log!r} + f"/request-{{request['iteration']}}.json", "w") as fh:
        json.dump(request, fh)
    edit = {{"parameter": "policy.py::add", "text": FIXED}}
    return {{"edits": [edit], "rationale": "add, do not subtract"}}
"""


def test_modules_imported_before_the_run_are_recorded_in_the_session_and_in_candidates(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = pytester.path / "project"
    log = pytester.path / "requests"
    log.mkdir()
    files = {
        "policy.py": POLICY,
        "rules.py": RULES,
        "early.py": "import rules\n\nCLIP = rules.clip\n",
        "conftest.py": CONFTEST,
        "tests/test_policy.py": TEST,
        "optimizer.py": OPTIMIZER.format(log=str(log)),
        "pytest.ini": "[pytest]\npythonpath = .\n",
    }
    monkeypatch.chdir(init_repo(project, files))
    plain = pytester.runpytest_subprocess("-p", "early", "-p", "no:cacheprovider")
    plain.assert_outcomes(passed=1)
    result = pytester.runpytest_subprocess(
        "-p",
        "early",
        "-p",
        "no:cacheprovider",
        "--genopt-iterations=2",
        "--genopt-batch-size=1",
        "--genopt-seed=0",
        "--genopt-backend=python:optimizer:propose",
        timeout=300,
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    result.stdout.fnmatch_lines(["genopt: iteration 1: accepted objective 3.0000 -> 13.0000*"])
    calls = ["policy.py::add", "policy.py::add", "policy.py::Agent.act", "policy.py::add"]
    calls.append("rules.py::clip")
    # request 1: the session's own tests; request 2: the accepted candidate's evaluation
    for iteration, value in ((1, 3.0), (2, 13.0)):
        (evidence,) = read_json(log / f"request-{iteration}.json")["evidence"]
        assert evidence["value"] == value, json.dumps(evidence)
        assert [c["call"] for c in evidence["trace"]] == calls, json.dumps(evidence)
        assert evidence["trace"][0]["args"] == {"a": "1", "b": "2"}
