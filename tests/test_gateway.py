"""The task model's gateway and client, through the real anthropic SDK on loopback."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

import anthropic
import pytest

from pytest_genopt.gateway import ModelGateway
from pytest_genopt.modelcache import ModelCache
from pytest_genopt.taskmodel import TaskModel, TaskModelError
from tests.messages_server import MessagesServer, usage

if TYPE_CHECKING:
    from pathlib import Path


class Usage:
    """Records what a TaskModel reports, as the genopt fixture would receive it."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def usage(self, input_tokens: int, output_tokens: int, *, model: str, cached: bool) -> None:
        self.calls.append((input_tokens, output_tokens, model, cached))


def test_gateway_caches_authenticates_and_relays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    replies = [
        MessagesServer.text_reply("Answer: Yes", usage(40, 3)),
        MessagesServer.error(400, "invalid_request_error", "max_tokens: too large"),
    ]
    with MessagesServer(replies) as upstream:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", upstream.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "the-users-key")
        cache = tmp_path / "cache"
        gateway = ModelGateway(ModelCache(cache)).start()
        try:
            env = gateway.environment()
            model = TaskModel("claude-test", tmp_path / "unused", environ=env)
            seen = Usage()
            first = model.complete("Is it?", seen)
            again = model.complete("Is it?", seen)
            assert (first.text, first.cached, again.text, again.cached) == (
                "Answer: Yes",
                False,
                "Answer: Yes",
                True,
            )
            assert seen.calls == [(40, 3, "claude-test", False), (40, 3, "claude-test", True)]
            assert len(upstream.messages_requests) == 1
            assert gateway.forwarded == 1
            # the user's key goes upstream; candidates only ever hold the run's key
            sent = upstream.messages_requests[0].headers.values()
            assert any("the-users-key" in value for value in sent)
            assert env["GENOPT_TASK_MODEL_GATEWAY_KEY"] != "the-users-key"
            assert len(ModelCache(cache)) == 1
            assert not (tmp_path / "unused").exists()
            with pytest.raises(TaskModelError, match="max_tokens: too large"):
                model.complete("Another question")
            stranger = anthropic.Anthropic(
                api_key="guess", base_url=env["GENOPT_TASK_MODEL_GATEWAY"]
            )
            with pytest.raises(anthropic.AuthenticationError, match="not this run's gateway key"):
                stranger.messages.create(model="m", max_tokens=5, messages=[])
        finally:
            gateway.close()
        replay = ModelGateway(ModelCache(cache), replay=True).start()
        try:
            model = TaskModel("claude-test", tmp_path / "unused", environ=replay.environment())
            assert model.complete("Is it?").cached
            with pytest.raises(TaskModelError, match="replay mode: this request is not in the"):
                model.complete("Never asked")
        finally:
            replay.close()
    assert len(upstream.messages_requests) == 2


def test_direct_client_caches_and_replays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with MessagesServer([MessagesServer.text_reply("B", usage(9, 1))]) as upstream:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", upstream.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
        model = TaskModel("claude-test", tmp_path / "cache", environ={})
        assert not model.complete("Q").cached
        assert model.complete("Q").cached
        with pytest.raises(TaskModelError, match="GENOPT_TASK_MODEL_REPLAY=1 and this request"):
            TaskModel("other-model", tmp_path / "cache", replay=True, environ={}).complete("Q")
    assert len(upstream.messages_requests) == 1
    # a damaged entry is a miss, not a crash
    [entry] = (tmp_path / "cache").glob("??/*.json")
    entry.write_text("{broken")
    assert ModelCache(tmp_path / "cache").get(model.request("Q")) is None


def test_direct_client_without_key_or_network_fails_each_test_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    keyless = TaskModel("claude-test", tmp_path / "cache", environ={})
    for _ in range(2):
        with pytest.raises(TaskModelError, match="set ANTHROPIC_API_KEY, or replay a cache"):
            keyless.complete("Q")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{port}")
    offline = TaskModel("claude-test", tmp_path / "cache", environ={})
    with pytest.raises(TaskModelError, match=r"^task model claude-test unreachable: Connection"):
        offline.complete("Q")
    assert not (tmp_path / "cache").exists()
