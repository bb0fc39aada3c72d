"""The loop through the anthropic backend: real SDK, loopback Messages-API server."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import pytest

from tests.messages_server import MessagesServer, PromptCache, usage
from tests.test_loop import FIX, genopt, report_of

if TYPE_CHECKING:
    from pathlib import Path

API_KEY = "sk-ant-test-0123456789abcdef"
TEST_SECRET = "hunter2-very-secret-value"


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> MessagesServer:
    server = MessagesServer()
    server.start()
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
    monkeypatch.setenv("MY_SERVICE_TOKEN", TEST_SECRET)
    yield server
    server.stop()


def all_files(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def test_anthropic_run_survives_bad_replies_and_accepts_the_fix(
    pytester: pytest.Pytester, calc_project: Path, api: MessagesServer
) -> None:
    (calc_project / "tests" / "test_calc.py").write_text(
        (calc_project / "tests" / "test_calc.py").read_text() + "\n\ndef test_prints_secret():\n"
        "    import os\n"
        "    print('token is', os.environ['MY_SERVICE_TOKEN'])\n"
        "    assert add(2, 2) == 4\n"
    )
    fix = {"edits": [{"parameter": "calc.py::add", "text": FIX}], "rationale": "add, not subtract"}
    api.add(
        MessagesServer.error(529, "overloaded_error", "Overloaded", {"retry-after-ms": "1"}),
        MessagesServer.text_reply("I think you should add.", usage(1000, 20)),
        MessagesServer.tool_reply({"edits": "all of them"}, usage(1000, 30, 0, 900)),
        MessagesServer.tool_reply(fix, usage(200, 60, 900, 0)),
    )
    result = genopt(
        pytester,
        "--genopt-iterations=3",
        "--genopt-backend=anthropic:claude-sonnet-5-5",
        "--genopt-seed=0",
        "--genopt-record=cassette.json",
        "--genopt-batch-size=5",
    )
    report = report_of(calc_project)
    assert [i["decision"] for i in report["iterations"]] == ["invalid", "invalid", "accepted"], (
        result.stdout.str()
    )
    assert "without calling propose_edits" in report["iterations"][0]["reason"]
    assert "'edits'" in report["iterations"][1]["reason"]
    assert report["backend"] == "anthropic:claude-sonnet-5-5"
    # usage of the three answered calls (the 529 was retried by the SDK)
    assert report["usage"]["input_tokens"] == 2200
    assert report["usage"]["output_tokens"] == 110
    assert report["usage"]["cache_read_input_tokens"] == 900
    assert report["usage"]["cache_creation_input_tokens"] == 900
    assert report["usage"]["cost_usd"] > 0
    bodies = [r.body for r in api.messages_requests]
    assert len(bodies) == 4
    body = bodies[-1]
    assert body["tool_choice"] == {"type": "tool", "name": "propose_edits"}
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert body["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral"}
    assert "## calc.py::add" in body["messages"][0]["content"][0]["text"]
    # the key is only ever a header; test output is scrubbed of secrets before it is sent
    for request in api.messages_requests:
        assert API_KEY.encode() not in request.raw
        assert TEST_SECRET.encode() not in request.raw
    # the test printing the secret failed and is in every batch: its output was redacted
    assert b"token is [redacted]" in api.messages_requests[0].raw
    written = all_files(calc_project / ".genopt") + (calc_project / "cassette.json").read_bytes()
    assert API_KEY.encode() not in written
    assert TEST_SECRET.encode() not in written


def test_the_stable_prefix_is_read_from_the_cache_until_an_edit_is_kept(
    pytester: pytest.Pytester, calc_project: Path, api: MessagesServer
) -> None:
    cache = PromptCache()
    worse = {"edits": [{"parameter": "calc.py::add", "search": "a - b", "replace": "a * b"}],
             "rationale": "multiply"}  # fmt: skip
    partial = {"edits": [{"parameter": "calc.py::add", "search": "a - b",
                          "replace": "a + b if a < 50 else 0"}], "rationale": "add"}  # fmt: skip
    api.add(cache.reply(worse), cache.reply(partial), cache.reply(worse))
    goal = "Make `add` correct for every integer.\nNo new dependencies."
    (calc_project / "goal.txt").write_text(goal + "\n", encoding="utf-8")
    genopt(
        pytester,
        "--genopt-iterations=3",
        "--genopt-backend=anthropic",
        "--genopt-seed=0",
        "--genopt-instructions=@goal.txt",
    )
    report = report_of(calc_project)
    decisions = [i["decision"] for i in report["iterations"]]
    assert decisions == ["rejected", "accepted", "invalid"]  # then "a - b" is gone
    # the instructions, the user's goal and the parameters come first and change only
    # with a kept edit
    assert cache.hits == [False, True, False]
    assert report["usage"]["cache_read_input_tokens"] == cache.read > 0
    for request in api.messages_requests:
        [system] = request.body["system"]
        assert system["cache_control"] == {"type": "ephemeral"}
        assert system["text"].endswith(f"# The user's goal\n\n{goal}")
    assert report["settings"]["instructions"] == goal
    run = calc_project / ".genopt" / "runs" / report["run"]
    assert "> Make `add` correct for every integer.\n> No new dependencies.\n" in (
        run / "report.md"
    ).read_text(encoding="utf-8")


def test_budget_stops_before_a_call_it_cannot_afford(
    pytester: pytest.Pytester, calc_project: Path, api: MessagesServer
) -> None:
    result = genopt(
        pytester,
        "--genopt-iterations=3",
        "--genopt-backend=anthropic",
        "--genopt-budget-usd=0.0001",
    )
    report = report_of(calc_project)
    assert report["iterations"] == []
    assert report["stopped"].startswith("budget: the next call could cost up to $")
    assert api.messages_requests == []
    result.stdout.fnmatch_lines(["*stopped: budget: *--genopt-budget-usd=0.0001*"])


def test_authentication_failure_stops_the_run_at_once(
    pytester: pytest.Pytester, calc_project: Path, api: MessagesServer
) -> None:
    api.add(MessagesServer.error(401, "authentication_error", "invalid x-api-key"))
    result = genopt(pytester, "--genopt-iterations=3", "--genopt-backend=anthropic")
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    result.stdout.fnmatch_lines(["*stopped: anthropic: authentication failed (401)*"])
    assert len(api.messages_requests) == 1


def test_missing_api_key_is_a_usage_error(
    pytester: pytest.Pytester, calc_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    result = genopt(pytester, "--genopt-iterations=1", "--genopt-backend=anthropic")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: --genopt-backend=anthropic: ANTHROPIC_API_KEY is not set*"]
    )


def test_an_unreachable_api_stops_the_run_soon_and_it_resumes_when_back(
    pytester: pytest.Pytester,
    calc_project: Path,
    api: MessagesServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as probe:  # a port nobody listens on: the network is "down"
        probe.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("ANTHROPIC_BASE_URL", down)
    args = ["--genopt-iterations=1", "--genopt-backend=anthropic", "--genopt-seed=0"]
    result = genopt(pytester, *args)
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    stopped = report_of(calc_project)["stopped"]
    assert stopped.startswith(f"anthropic: cannot connect to {down} (2 attempts in ")
    assert stopped.endswith("can be resumed (--genopt-resume) when the network is back")
    assert report_of(calc_project)["iterations"] == []
    # the network is back: the same run goes on and keeps the fix
    monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
    fix = {"edits": [{"parameter": "calc.py::add", "text": FIX}], "rationale": "add"}
    api.add(MessagesServer.tool_reply(fix, usage(200, 60)))
    resumed = genopt(pytester, *args, "--genopt-resume=last")
    report = report_of(calc_project)
    assert [i["decision"] for i in report["iterations"]] == ["accepted"], resumed.stdout.str()
