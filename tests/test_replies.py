"""Bounds and hostile replies, from every backend: caps on size and nesting, text UTF-8
cannot encode, and a ``python:`` optimizer that raises what it should not."""

from __future__ import annotations

import json
import sys
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from pytest_genopt.backends import BackendError, BackendFatal, Proposal, proposal_from_raw
from pytest_genopt.backends.anthropic import AnthropicBackend
from pytest_genopt.backends.cassette import RecordingBackend, ReplayBackend
from pytest_genopt.backends.python import PythonBackend
from pytest_genopt.protocol import (
    MAX_REPLY_CHARS,
    MAX_REPLY_DEPTH,
    TOO_DEEP,
    TOO_LARGE,
    InvalidProposal,
    escaped,
    parse_response,
    preview,
    reply_problem,
)
from tests.conftest import read_json
from tests.messages_server import MessagesServer, Reply
from tests.test_backends import FIXED, VALID, Scripted, make_request

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from pytest_genopt.protocol import Request


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


# -- the caps -------------------------------------------------------------------


def test_caps_on_nesting_and_size_at_their_boundaries() -> None:
    assert reply_problem({"edits": [nested(MAX_REPLY_DEPTH - 2)]}) is None
    assert reply_problem({"edits": [nested(MAX_REPLY_DEPTH - 1)]}) == TOO_DEEP
    assert reply_problem(nested(100_000)) == TOO_DEEP  # no RecursionError, one pass
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    assert reply_problem(cyclic) == TOO_DEEP
    text = "x" * (MAX_REPLY_CHARS - 100)
    assert reply_problem({"rationale": text, "edits": []}) is None
    assert reply_problem({"rationale": text + "x" * 200, "edits": []}) == TOO_LARGE
    assert reply_problem(list(range(MAX_REPLY_CHARS))) == TOO_LARGE
    assert reply_problem({str(i): 0 for i in range(100_000)}) == TOO_LARGE


def test_previews_are_bounded_whatever_the_reply() -> None:
    assert preview({"a": [1, "two", None], "b": {}}) == '{"a": [1, "two", None], "b": {}}'
    assert preview(nested(100_000)).endswith("[[[ ... [clipped]")
    assert len(preview(nested(100_000))) < 2100
    assert len(preview({"rationale": "x" * 10_000_000})) < 2100
    assert len(preview(list(range(1_000_000)))) < 2100

    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    assert preview([Hostile()]) == "[<Hostile>]"


def test_every_reply_over_a_cap_is_invalid_with_a_bounded_raw() -> None:
    for raw, reason in [
        ({"rationale": "x" * 20_000_000, "edits": []}, TOO_LARGE),
        ({"edits": nested(100_000), "rationale": ""}, TOO_DEEP),
    ]:
        proposal = proposal_from_raw(raw)
        assert (proposal.response, proposal.invalid_reason) == (None, reason)
        assert isinstance(proposal.raw, str)
        assert len(proposal.raw) < 2100
        assert proposal.raw.endswith(" ... [clipped]")
    with pytest.raises(InvalidProposal, match="deeper than 32"):
        parse_response("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InvalidProposal, match="longer than 1,000,000"):
        parse_response(" " * (MAX_REPLY_CHARS + 1))


def test_lone_surrogates_are_kept_escaped() -> None:
    raw = {"rationale": "a \ud800 b", "edits": [{"parameter": "p", "text": "\udfff"}]}
    assert escaped(raw) == {
        "rationale": "a \\ud800 b",
        "edits": [{"parameter": "p", "text": "\\udfff"}],
    }
    proposal = proposal_from_raw(raw)
    assert proposal.response is not None
    assert proposal.response.rationale == "a \\ud800 b"
    json.dumps(proposal.raw, ensure_ascii=False).encode("utf-8")  # the journal can write it


# -- python: ----------------------------------------------------------------------

HOSTILE = """
import sys

FIXED = "def add(a, b):\\n    return a + b\\n"


def exits(request):
    sys.exit(7)


def interrupts(request):
    raise KeyboardInterrupt


def recurses(request):
    return recurses(request)


def hungry(request):
    raise MemoryError


def huge(request):
    return {"rationale": "x" * 20_000_000, "edits": []}


def deep(request):
    value = []
    for _ in range(100_000):
        value = [value]
    return {"edits": value, "rationale": ""}


def cyclic(request):
    value = {"edits": [], "rationale": ""}
    value["edits"].append(value)
    return value


def surrogate(request):
    return {"rationale": "lone \\ud800", "edits": [{"parameter": "calc.py::add", "text": FIXED}]}


class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no")


def unprintable(request):
    raise Unprintable()
"""


@pytest.fixture
def hostile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = f"genopt_hostile_{uuid.uuid4().hex[:10]}"
    (tmp_path / f"{name}.py").write_text(HOSTILE, encoding="utf-8")
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield name
    sys.modules.pop(name, None)


@pytest.mark.parametrize(
    ("function", "reason"),
    [
        ("exits", "python:{module}:exits raised SystemExit: 7"),
        ("interrupts", "python:{module}:interrupts raised KeyboardInterrupt"),
        ("recurses", "python:{module}:recurses raised RecursionError: maximum recursion depth"),
        ("hungry", "python:{module}:hungry raised MemoryError"),
        ("huge", TOO_LARGE),
        ("deep", TOO_DEEP),
        ("cyclic", TOO_DEEP),
    ],
)
def test_python_optimizer_that_misbehaves_costs_the_proposal(
    tmp_path: Path, hostile: str, function: str, reason: str
) -> None:
    proposal = PythonBackend(f"{hostile}:{function}", tmp_path).propose(make_request())
    assert proposal.response is None
    assert proposal.invalid_reason is not None
    assert proposal.invalid_reason.startswith(reason.format(module=hostile))
    assert "\n" not in proposal.invalid_reason
    assert len(json.dumps(proposal.raw)) < 3000


def test_python_optimizer_lone_surrogate_and_unprintable_exception(
    tmp_path: Path, hostile: str
) -> None:
    proposal = PythonBackend(f"{hostile}:surrogate", tmp_path).propose(make_request())
    assert proposal.response is not None
    assert proposal.response.rationale == "lone \\ud800"
    with pytest.raises(BackendError, match=r"raised Unprintable$"):
        PythonBackend(f"{hostile}:unprintable", tmp_path).propose(make_request())


SESSION_OPTIMIZER = """
import sys

FIX = "def add(a, b):\\n    return a + b\\n"


def propose(request):
    iteration = request["iteration"]
    if iteration == 1:
        sys.exit(7)
    if iteration == 2:
        raise KeyboardInterrupt
    if iteration == 3:
        return {"rationale": "x" * 20_000_000, "edits": []}
    if iteration == 4:
        value = []
        for _ in range(100_000):
            value = [value]
        return {"edits": value, "rationale": ""}
    return {"rationale": "add \\ud800 adds", "edits": [{"parameter": "calc.py::add", "text": FIX}]}
"""


def test_a_hostile_optimizer_costs_proposals_not_the_session(
    pytester: pytest.Pytester, calc_project: Path
) -> None:
    (calc_project / "optimizer.py").write_text(SESSION_OPTIMIZER)
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--genopt-iterations=5",
        "--genopt-backend=python:optimizer:propose",
        "--genopt-record=cassette.json",
        timeout=300,
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()  # not 7
    run = (calc_project / ".genopt" / "runs" / "last").read_text().strip()
    report = read_json(calc_project / ".genopt" / "runs" / run / "report.json")
    decisions = [(i["decision"], i["reason"]) for i in report["iterations"]]
    assert decisions[:4] == [
        ("invalid", "python:optimizer:propose raised SystemExit: 7"),
        ("invalid", "python:optimizer:propose raised KeyboardInterrupt"),
        ("invalid", TOO_LARGE),
        ("invalid", TOO_DEEP),
    ]
    assert decisions[4][0] == "accepted"
    # the 20 MB reply is kept clipped: the run's files stay small
    size = sum(p.stat().st_size for p in (calc_project / ".genopt").rglob("*") if p.is_file())
    assert size < 1_000_000
    assert (calc_project / "cassette.json").stat().st_size < 100_000
    journal = (calc_project / ".genopt" / "runs" / run / "journal.jsonl").read_text("utf-8")
    assert "add \\\\ud800 adds" in journal  # escaped, readable


# -- anthropic ------------------------------------------------------------------


@pytest.fixture
def anthropic_backend(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[MessagesServer, Any]]:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0123456789abcdef")
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    with MessagesServer() as server:
        backend = AnthropicBackend("claude-haiku-4-5", base_url=server.base_url, sdk_max_retries=0)
        yield server, backend
        backend.close()


def raw_message(tool_input: str) -> Reply:
    body = (
        '{"type": "message", "role": "assistant", "id": "msg_1", "model": "claude-test",'
        ' "content": [{"type": "tool_use", "id": "toolu_1", "name": "propose_edits",'
        f' "input": {tool_input}}}], "stop_reason": "tool_use", "stop_sequence": null,'
        ' "usage": {"input_tokens": 10, "output_tokens": 5}}'
    )
    return Reply(200, {}, raw=body.encode())


def test_anthropic_hostile_tool_input(anthropic_backend: tuple[MessagesServer, Any]) -> None:
    server, backend = anthropic_backend
    server.add(
        MessagesServer.tool_reply({"rationale": "x" * 2_000_000, "edits": []}),
        MessagesServer.tool_reply({"rationale": "", "edits": nested(40)}),
        raw_message('{"edits": ' + "[" * 100_000 + "]" * 100_000 + "}"),
        raw_message('{"rationale": "lone \\ud800", "edits": ' + json.dumps(VALID["edits"]) + "}"),
    )
    huge, deep, deeper, lone = (backend.propose(make_request()) for _ in range(4))
    assert (huge.invalid_reason, deep.invalid_reason) == (TOO_LARGE, TOO_DEEP)
    assert huge.usage.input_tokens == 100  # the call was paid for all the same
    assert len(huge.raw) < 2100
    assert deeper.response is None
    assert deeper.invalid_reason == (
        f"the reply from {server.base_url} could not be decoded: {TOO_DEEP}"
    )
    assert lone.response is not None
    assert lone.response.rationale == "lone \\ud800"
    assert lone.response.edits[0].text == FIXED


# -- replay -----------------------------------------------------------------------


def test_replay_of_hostile_cassettes(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text('{"cassette": 1, "exchanges": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(BackendFatal) as info:
        ReplayBackend(deep)
    assert str(info.value) == f"replay: {deep} is not a cassette: nested too deeply"
    # a cassette edited by hand to hold an over-cap reply replays as an invalid proposal
    tape = tmp_path / "tape.json"
    request = make_request()
    RecordingBackend(Scripted([VALID]), tape, ()).propose(request)
    document = read_json(tape)
    document["exchanges"][0]["proposal"]["raw"] = {"edits": nested(50), "rationale": "\ud800"}
    tape.write_text(json.dumps(document))
    proposal = ReplayBackend(tape).propose(request)
    assert proposal.invalid_reason == TOO_DEEP
    # a plugin's reply over the caps is recorded clipped
    recorded = tmp_path / "recorded.json"
    RecordingBackend(Unbounded(), recorded, ()).propose(request)
    assert recorded.stat().st_size < 10_000


class Unbounded(Scripted):
    """A plugin's backend that keeps a huge raw answer in its Proposal."""

    def __init__(self) -> None:
        super().__init__([])

    def propose(self, request: Request) -> Proposal:
        return Proposal(None, "too long", raw={"rationale": "y" * 5_000_000})
