"""What the prompt shows once: a test source or traceback repeated across trials, and a
long call argument the call record just above passed too."""

from __future__ import annotations

import json

from pytest_genopt.prompt import SAME_ARG, render
from pytest_genopt.protocol import EvidenceItem, ParameterView, Request, RequestSettings

SOURCE = "  3 | def test_seed(seed):\n> 4 |     assert play(seed) >= 0\n"
FRAMES = ("tests/test_game.py:4 in test_seed\n    > 4 |     assert play(seed) >= 0",)
STATE = "State(ball=Ball(x=141, y=176, dx=4, dy=4), paddle=Paddle(y=150, dy=8), score=(2, 9))"


def trial(seed: int, trace: tuple[object, ...] = (), source: str = SOURCE) -> EvidenceItem:
    return EvidenceItem(
        test=f"tests/test_game.py::test_seed[{seed}]",
        outcome="failed",
        value=0.25,
        message=f"seed {seed}: return -3",
        test_source=source,
        traceback=FRAMES,
        trace=trace,  # type: ignore[arg-type]
    )


def request(*items: EvidenceItem) -> Request:
    return Request(
        run="r",
        iteration=1,
        objective="mean value",
        settings=RequestSettings(horizon=10, batch_size=3, seed=0),
        parameters=(
            ParameterView(
                id="game.py::act",
                kind="function",
                path="game.py",
                language="python",
                text="def act(state):\n    return 'NOOP'\n",
            ),
        ),
        evidence=items,
    )


def test_a_repeated_test_source_and_traceback_are_named_not_repeated() -> None:
    other = "  9 | def test_other(seed):\n> 10 |     assert 0\n"
    text = render(request(trial(0), trial(1), trial(2, source=other))).text
    assert text.count(SOURCE) == 1
    assert text.count(FRAMES[0]) == 1
    assert text.count(other) == 1  # a different source is shown in full
    second = text.split("## 2. ")[1].split("## 3. ")[0]
    assert "test source: as in trial 1\n" in second
    assert "traceback: as in trial 1\n" in second
    third = text.split("## 3. ")[1]
    assert "test source (> marks the failing line):" in third
    assert "traceback: as in trial 1\n" in third
    assert "seed 1: return -3" in second  # what differs is all there


def test_a_long_argument_the_call_above_passed_is_elided() -> None:
    trace = (
        {"t": 925, "action": "NOOP"},
        {"call": "game.py::act", "args": {"state": STATE}, "returned": "'UP'"},
        {"call": "game.py::aim", "args": {"state": STATE, "n": "7"}, "returned": "3"},
        {"call": "game.py::steer", "args": {"state": STATE, "n": "7"}, "returned": "'UP'"},
        {"t": 926, "action": "UP"},
        {"call": "game.py::act", "args": {"state": STATE + " "}, "returned": "'UP'"},
    )
    text = render(request(trial(0, trace))).text
    fenced = text.split("call(s), oldest first):\n```json\n")[1].split("\n```")[0]
    lines = [json.loads(line) for line in fenced.splitlines()]
    assert [line.get("args") for line in lines if "call" in line] == [
        {"state": STATE},
        {"state": SAME_ARG, "n": "7"},
        {"state": SAME_ARG, "n": "7"},  # a short argument is repeated
        {"state": STATE + " "},  # a different value is shown
    ]
    assert lines[0] == {"t": 925, "action": "NOOP"}
    # the request itself keeps every value: only the prompt elides
    assert request(trial(0, trace)).evidence[0].trace[2] == trace[2]


def test_a_feedback_line_the_message_already_holds_is_read_once() -> None:
    summary = "pong seed(s) 0: return -5; lost 7 points; 1000 steps"
    item = EvidenceItem(
        test="tests/test_game.py::test_seed[0]",
        outcome="failed",
        value=0.38,
        message=f"AssertionError: {summary}\nassert -5.0 >= 0",
        feedback=(summary, "this test's value = clip((return + 21) / 42, 0, 1)"),
    )
    text = render(request(item)).text
    assert text.count(summary) == 1
    assert "feedback:\n- this test's value = clip((return + 21) / 42, 0, 1)\n" in text
    only = EvidenceItem(test="t", outcome="failed", value=0.0, message=summary, feedback=(summary,))
    assert "feedback:" not in render(request(only)).text
