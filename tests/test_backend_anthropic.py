"""The anthropic backend, driven through the real SDK against a loopback Messages API."""

from __future__ import annotations

import math
import socket
import subprocess
import sys
import time
import warnings
from typing import TYPE_CHECKING, Any

import pytest

from pytest_genopt.backends import Backend, BackendError, BackendFatal
from pytest_genopt.backends.anthropic import (
    DEFAULT_MODEL,
    PRICES,
    AnthropicBackend,
    Price,
    parse_price_overrides,
    price_for,
)
from pytest_genopt.prompt import render
from pytest_genopt.protocol import (
    Edit,
    EvidenceItem,
    HistoryEntry,
    InvalidProposal,
    ParameterView,
    Request,
    RequestSettings,
    Response,
    response_schema,
)
from tests.messages_server import MessagesServer, ReceivedRequest, Reply, usage

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

KEY = "sk-ant-test-0123456789abcdefSECRET"
FAST = {"retry-after-ms": "1"}

REQUEST = Request(
    run="20260101-120000-calc",
    iteration=3,
    objective="mean value of the tests (1 = passed, 0 = failed)",
    settings=RequestSettings(horizon=2, batch_size=2, seed=7),
    parameters=(
        ParameterView(
            id="calc.py::add",
            kind="function",
            path="calc.py",
            language="python",
            text='def add(a, b):\n    """Return the sum of a and b."""\n    return a - b\n',
            description="adds two numbers",
        ),
    ),
    evidence=(
        EvidenceItem(
            test="tests/test_calc.py::test_small",
            outcome="failed",
            value=0.0,
            message="assert -1 == 3\n +  where -1 = add(1, 2)",
            traceback=(
                "tests/test_calc.py:5: in test_small\n    assert add(1, 2) == 3",
                "calc.py:11: in add\n    return a - b",
            ),
            trace=({"call": "add", "args": [1, 2], "return": -1},),
        ),
        EvidenceItem(
            test="tests/test_calc.py::test_zero",
            outcome="passed",
            value=1.0,
            trace=({"call": "add", "args": [0, 0], "return": 0},),
            feedback=("zero is the identity",),
        ),
    ),
    history=(
        HistoryEntry(
            iteration=2,
            rationale="maybe add should multiply",
            edits=(Edit("calc.py::add", search="a - b", replace="a * b"),),
            decision="rejected",
            reason="minibatch objective 0.5 is not higher than 0.5",
        ),
    ),
)

GOOD_INPUT: dict[str, Any] = {
    "rationale": "add subtracts; the evidence shows add(1, 2) == -1",
    "edits": [{"parameter": "calc.py::add", "search": "return a - b", "replace": "return a + b"}],
}


@pytest.fixture(autouse=True)
def _anthropic_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    for name in ("ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_CUSTOM_HEADERS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[MessagesServer]:
    with MessagesServer() as running:
        yield running


@pytest.fixture
def make_backend(server: MessagesServer) -> Iterator[Callable[..., AnthropicBackend]]:
    made: list[AnthropicBackend] = []

    def make(**options: Any) -> AnthropicBackend:
        options.setdefault("base_url", server.base_url)
        options.setdefault("overload_wait", 0.001)
        backend = AnthropicBackend(**options)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


def one_line(text: str) -> bool:
    return bool(text) and "\n" not in text and "\r" not in text


# -- a valid reply ------------------------------------------------------------


def test_valid_tool_reply_is_a_proposal_with_usage_and_cost(
    server: MessagesServer, make_backend: Callable[..., AnthropicBackend]
) -> None:
    server.add(
        MessagesServer.tool_reply(
            GOOD_INPUT,
            usage(
                input_tokens=250,
                output_tokens=120,
                cache_read_input_tokens=0,
                cache_creation_input_tokens=1800,
            ),
        )
    )
    backend = make_backend()
    assert isinstance(backend, Backend)
    assert backend.name == f"anthropic:{DEFAULT_MODEL}"

    proposal = backend.propose(REQUEST)

    assert proposal.invalid_reason is None
    assert proposal.response == Response(
        edits=(Edit("calc.py::add", search="return a - b", replace="return a + b"),),
        rationale=GOOD_INPUT["rationale"],
    )
    assert proposal.raw == GOOD_INPUT
    assert proposal.usage.input_tokens == 250
    assert proposal.usage.output_tokens == 120
    assert proposal.usage.cache_read_input_tokens == 0
    assert proposal.usage.cache_creation_input_tokens == 1800
    # claude-sonnet-5-5: $2 in, $10 out, $2.50 cache write, $0.20 cache read per MTok
    assert proposal.usage.cost_usd == pytest.approx((250 * 2 + 120 * 10 + 1800 * 2.5) / 1e6)
    assert proposal.usage.cost_usd == pytest.approx(0.0062)


def test_cache_reads_and_missing_cache_counts_are_priced(
    server: MessagesServer, make_backend: Callable[..., AnthropicBackend]
) -> None:
    server.add(
        MessagesServer.tool_reply(
            GOOD_INPUT,
            usage(400, 300, cache_read_input_tokens=2000, cache_creation_input_tokens=0),
        ),
        MessagesServer.tool_reply(
            GOOD_INPUT,
            usage(400, 300, cache_read_input_tokens=None, cache_creation_input_tokens=None),
        ),
    )
    backend = make_backend(model="claude-opus-4-1-20250805")

    cached = backend.propose(REQUEST).usage
    uncached = backend.propose(REQUEST).usage

    # claude-opus-4-1 by prefix: $15 in, $75 out, $1.50 cache read per MTok
    assert cached.cost_usd == pytest.approx((400 * 15 + 300 * 75 + 2000 * 1.5) / 1e6)
    assert uncached.cache_read_input_tokens == uncached.cache_creation_input_tokens == 0
    assert uncached.cost_usd == pytest.approx((400 * 15 + 300 * 75) / 1e6)


def test_request_forces_the_tool_and_caches_the_stable_prefix(
    server: MessagesServer, make_backend: Callable[..., AnthropicBackend]
) -> None:
    server.add(MessagesServer.tool_reply(GOOD_INPUT))
    make_backend(model="claude-haiku-4-5", max_output_tokens=4096).propose(REQUEST)

    [received] = server.requests
    assert received.method == "POST"
    assert received.path == "/v1/messages"
    body = received.body
    prompt = render(REQUEST)
    assert body["model"] == "claude-haiku-4-5"
    assert body["max_tokens"] == 4096
    assert not {"temperature", "top_p", "top_k", "stream"} & set(body)
    assert body["system"] == [
        {"type": "text", "text": prompt.instructions, "cache_control": {"type": "ephemeral"}}
    ]
    [message] = body["messages"]
    assert message["role"] == "user"
    assert message["content"] == [
        {"type": "text", "text": prompt.parameters, "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": prompt.task},
    ]
    [tool] = body["tools"]
    assert tool["name"] == "propose_edits"
    assert tool["description"]
    assert tool["input_schema"] == response_schema()
    assert body["tool_choice"] == {"type": "tool", "name": "propose_edits"}


def test_api_key_travels_only_in_the_auth_header(
    server: MessagesServer, make_backend: Callable[..., AnthropicBackend]
) -> None:
    server.add(MessagesServer.tool_reply(GOOD_INPUT))
    proposal = make_backend().propose(REQUEST)

    [received] = server.requests
    # this SDK sends the key as a bearer token; older ones used x-api-key
    assert (
        received.headers.get("x-api-key") == KEY
        or received.headers.get("authorization") == f"Bearer {KEY}"
    )
    assert KEY.encode() not in received.raw
    assert KEY not in repr(proposal)


def test_anthropic_base_url_is_honoured(
    server: MessagesServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
    server.add(MessagesServer.tool_reply(GOOD_INPUT))
    backend = AnthropicBackend(base_url=None)
    try:
        assert backend.propose(REQUEST).response is not None
    finally:
        backend.close()
    assert len(server.requests) == 1


# -- retries --------------------------------------------------------------------


def test_overload_rate_limit_and_server_error_are_retried(
    server: MessagesServer, make_backend: Callable[..., AnthropicBackend]
) -> None:
    server.add(
        MessagesServer.error(529, "overloaded_error", "Overloaded", FAST),
        MessagesServer.error(429, "rate_limit_error", "Too many requests", FAST),
        MessagesServer.error(500, "api_error", "Internal server error", FAST),
        MessagesServer.tool_reply(GOOD_INPUT),
    )
    backend = make_backend(sdk_max_retries=2, overload_retries=2, overload_wait=10.0)

    started = time.monotonic()
    proposal = backend.propose(REQUEST)
    elapsed = time.monotonic() - started

    assert proposal.response is not None
    # the SDK made three tries (529, 429, 500) and gave up; the backend's own
    # retry (waiting what retry-after-ms asked, not overload_wait) succeeded
    assert [r.headers["x-stainless-retry-count"] for r in server.requests] == ["0", "1", "2", "0"]
    assert elapsed < 2.0


def test_persistent_overload_is_a_backend_error(
    server: MessagesServer, make_backend: Callable[..., AnthropicBackend]
) -> None:
    server.add(*[MessagesServer.error(529, "overloaded_error", "Overloaded", FAST)] * 6)
    backend = make_backend(sdk_max_retries=1, overload_retries=2)

    with pytest.raises(BackendError) as caught:
        backend.propose(REQUEST)

    message = str(caught.value)
    assert message == "anthropic: overloaded (529) after 3 attempts"
    assert one_line(message)
    assert len(server.requests) == 6
    assert server.remaining == 0


def test_backend_waits_exponentially_without_retry_after(
    server: MessagesServer, make_backend: Callable[..., AnthropicBackend]
) -> None:
    server.add(*[MessagesServer.error(500, "api_error", "Internal server error")] * 3)
    backend = make_backend(sdk_max_retries=0, overload_retries=2, overload_wait=0.1)

    started = time.monotonic()
    with pytest.raises(BackendError, match=r"^anthropic: server error \(500\) after 3 attempts$"):
        backend.propose(REQUEST)
    elapsed = time.monotonic() - started

    assert len(server.requests) == 3
    assert 0.3 <= elapsed < 2.0  # 0.1 + 0.2


def test_retry_after_header_is_honoured(
    server: MessagesServer, make_backend: Callable[..., AnthropicBackend]
) -> None:
    server.add(
        MessagesServer.error(429, "rate_limit_error", "Slow down", {"retry-after": "0.3"}),
        MessagesServer.tool_reply(GOOD_INPUT),
    )
    backend = make_backend(sdk_max_retries=0, overload_retries=1, overload_wait=30.0)

    started = time.monotonic()
    assert backend.propose(REQUEST).response is not None
    elapsed = time.monotonic() - started

    assert 0.3 <= elapsed < 5.0
    assert len(server.requests) == 2


def test_an_unreachable_endpoint_stops_the_run_after_its_retries(
    make_backend: Callable[..., AnthropicBackend],
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = make_backend(base_url=f"http://127.0.0.1:{port}", sdk_max_retries=0)

    with pytest.raises(BackendFatal) as caught:
        backend.propose(REQUEST)

    message = str(caught.value)
    assert message.startswith(
        f"anthropic: cannot connect to http://127.0.0.1:{port} (5 attempts in "
    )
    assert message.endswith("can be resumed (--genopt-resume) when the network is back")
    assert one_line(message)
    # with waits that outlast the budget, it stops after the first attempt
    slow = make_backend(base_url=f"http://127.0.0.1:{port}", sdk_max_retries=0, overload_wait=60)
    with pytest.raises(BackendFatal, match=r"\(1 attempt in 0 s\)"):
        slow.propose(REQUEST)


def test_timeouts_are_retried_then_a_backend_error(
    server: MessagesServer, make_backend: Callable[..., AnthropicBackend]
) -> None:
    def slow(request: ReceivedRequest) -> Reply:
        time.sleep(0.5)
        return MessagesServer.tool_reply(GOOD_INPUT)

    server.add(slow, slow)
    backend = make_backend(timeout=0.1, sdk_max_retries=0, overload_retries=1)

    with pytest.raises(BackendError, match=r"^anthropic: request timed out after 2 attempts$"):
        backend.propose(REQUEST)
    assert len(server.requests) == 2


def test_large_output_limit_needs_no_streaming(
    server: MessagesServer, make_backend: Callable[..., AnthropicBackend]
) -> None:
    server.add(MessagesServer.tool_reply(GOOD_INPUT))

    proposal = make_backend(max_output_tokens=64_000).propose(REQUEST)

    assert proposal.response is not None
    assert server.requests[0].body["max_tokens"] == 64_000


# -- fatal and request errors ------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "expected"),
    [
        (
            401,
            "authentication_error",
            "anthropic: authentication failed (401): check ANTHROPIC_API_KEY",
        ),
        (
            403,
            "permission_error",
            "anthropic: permission denied (403) for model 'claude-sonnet-5-5': "
            "check ANTHROPIC_API_KEY and what it may use",
        ),
    ],
)
def test_rejected_key_is_fatal_at_once(
    server: MessagesServer,
    make_backend: Callable[..., AnthropicBackend],
    status: int,
    kind: str,
    expected: str,
) -> None:
    server.add(MessagesServer.error(status, kind, f"invalid x-api-key {KEY}", FAST))
    backend = make_backend(sdk_max_retries=2, overload_retries=4)

    with pytest.raises(BackendFatal) as caught:
        backend.propose(REQUEST)

    assert str(caught.value) == expected
    assert caught.value.__cause__ is None
    assert len(server.requests) == 1


def test_unknown_model_is_fatal_and_named(
    server: MessagesServer, make_backend: Callable[..., AnthropicBackend]
) -> None:
    server.add(MessagesServer.error(404, "not_found_error", "model: claude-nonesuch-9"))
    backend = make_backend(model="claude-nonesuch-9")

    with pytest.raises(BackendFatal) as caught:
        backend.propose(REQUEST)

    message = str(caught.value)
    assert "'claude-nonesuch-9'" in message
    assert "404" in message
    assert one_line(message)
    assert len(server.requests) == 1


def test_bad_request_is_a_backend_error_with_the_api_message(
    server: MessagesServer, make_backend: Callable[..., AnthropicBackend]
) -> None:
    server.add(
        MessagesServer.error(
            400,
            "invalid_request_error",
            f"prompt is too long: 250000 tokens > 200000 maximum\n(key {KEY})",
        )
    )
    backend = make_backend()

    with pytest.raises(BackendError) as caught:
        backend.propose(REQUEST)

    message = str(caught.value)
    assert message == (
        "anthropic: bad request (400): prompt is too long: 250000 tokens > 200000 maximum "
        "(key [redacted])"
    )
    assert KEY not in message
    assert len(server.requests) == 1


def test_missing_api_key_is_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")

    with pytest.raises(BackendFatal) as caught:
        AnthropicBackend(base_url="http://127.0.0.1:9")

    message = str(caught.value)
    assert message.startswith("ANTHROPIC_API_KEY is not set; ")
    assert one_line(message)


# -- malformed replies -------------------------------------------------------------


def test_text_only_reply_is_an_invalid_proposal(
    server: MessagesServer, make_backend: Callable[..., AnthropicBackend]
) -> None:
    text = "I would change add to return a + b.\n" + "Because " * 60
    server.add(MessagesServer.text_reply(text, usage(300, 80)))

    proposal = make_backend().propose(REQUEST)

    assert proposal.response is None
    flat = " ".join(text.split())
    assert proposal.invalid_reason == (
        f"the model answered without calling propose_edits: {flat[:200]}"
    )
    assert proposal.usage.input_tokens == 300
    assert proposal.usage.output_tokens == 80
    assert proposal.usage.cost_usd == pytest.approx((300 * 2 + 80 * 10) / 1e6)


def test_tool_input_that_does_not_validate_is_an_invalid_proposal(
    server: MessagesServer, make_backend: Callable[..., AnthropicBackend]
) -> None:
    bad = {"edits": "nope"}
    server.add(MessagesServer.tool_reply(bad))

    proposal = make_backend().propose(REQUEST)

    with pytest.raises(InvalidProposal) as expected:
        Response.from_json(bad)
    assert proposal.response is None
    assert proposal.invalid_reason == str(expected.value)
    assert proposal.raw == bad
    assert proposal.usage.input_tokens == 100


def test_reply_cut_at_max_tokens_is_an_invalid_proposal(
    server: MessagesServer, make_backend: Callable[..., AnthropicBackend]
) -> None:
    server.add(
        MessagesServer.tool_reply(
            {"rationale": "rewrite", "edits": [{"parameter": "calc.py::add", "text": "def add("}]},
            usage(500, 1024),
            stop_reason="max_tokens",
        )
    )

    proposal = make_backend(max_output_tokens=1024).propose(REQUEST)

    assert proposal.response is None
    assert proposal.invalid_reason is not None
    assert "max_tokens (1024)" in proposal.invalid_reason
    assert proposal.usage.output_tokens == 1024


def test_a_call_to_another_tool_is_an_invalid_proposal(
    server: MessagesServer, make_backend: Callable[..., AnthropicBackend]
) -> None:
    server.add(MessagesServer.tool_reply({"q": 1}, name="search_web"))

    proposal = make_backend().propose(REQUEST)

    assert proposal.response is None
    assert proposal.invalid_reason == "the model called search_web instead of propose_edits"


# -- prices and budgets --------------------------------------------------------------


def test_price_for_exact_prefix_and_unknown() -> None:
    assert price_for("claude-sonnet-5-5") == Price(2.0, 10.0, 2.5, 0.2)
    assert price_for("claude-sonnet-5") == Price(2.0, 10.0, 2.5, 0.2)
    assert price_for("claude-opus-5") == Price(5.0, 25.0, 6.25, 0.5)
    assert price_for("claude-haiku-4-5") == Price(1.0, 5.0, 1.25, 0.1)
    assert price_for("claude-sonnet-4-6") == price_for("claude-sonnet-4-5") == Price.standard(3, 15)
    assert price_for("claude-opus-4-1") == Price(15.0, 75.0, 18.75, 1.5)
    # dated and platform ids find their entry by the longest prefix
    assert price_for("claude-sonnet-4-5-20250929") == PRICES["claude-sonnet-4-5"]
    assert price_for("claude-sonnet-5-5-20260301") == PRICES["claude-sonnet-5-5"]
    assert price_for("claude-opus-4-1@20250805") == PRICES["claude-opus-4-1"]
    # a prefix counts only up to a separator
    assert price_for("claude-opus-4-10") == PRICES["claude-opus-4"]
    assert price_for("gpt-5") is None
    assert price_for("claude") is None


def test_price_overrides_replace_and_extend_the_table() -> None:
    overrides = {"claude-sonnet-5-5": Price.standard(1, 4), "local-llm": Price(0, 0, 0, 0)}
    assert price_for("claude-sonnet-5-5-20260301", overrides) == Price(1.0, 4.0, 1.25, 0.1)
    assert price_for("local-llm", overrides) == Price(0, 0, 0, 0)
    assert price_for("claude-sonnet-5", overrides) == PRICES["claude-sonnet-5"]


def test_parse_price_overrides() -> None:
    parsed = parse_price_overrides(
        [
            "claude-sonnet-5-5 = 2 10",
            "",
            "# a comment",
            "  my-model=0.5 1.5 0.6 0.05  ",
            "claude-opus-5 = 4 20\nclaude-haiku-4-5 = 0 0",
        ]
    )
    assert parsed == {
        "claude-sonnet-5-5": Price(2.0, 10.0, 2.5, 0.2),
        "my-model": Price(0.5, 1.5, 0.6, 0.05),
        "claude-opus-5": Price(4.0, 20.0, 5.0, 0.4),
        "claude-haiku-4-5": Price(0.0, 0.0, 0.0, 0.0),
    }


@pytest.mark.parametrize(
    "line",
    [
        "claude-sonnet-5-5 2 10",
        "= 2 10",
        "claude-sonnet-5-5 = 2",
        "claude-sonnet-5-5 = 2 10 3",
        "claude-sonnet-5-5 = 2 10 3 4 5",
        "claude-sonnet-5-5 = two 10",
        "claude-sonnet-5-5 = -2 10",
        "claude-sonnet-5-5 = nan 10",
        "my model = 2 10",
    ],
)
def test_parse_price_overrides_rejects_bad_lines(line: str) -> None:
    with pytest.raises(ValueError, match=r"^bad price line") as caught:
        parse_price_overrides(["ok-model = 1 2", line])
    assert one_line(str(caught.value))
    assert repr(line.strip()) in str(caught.value)


def test_worst_case_bounds_a_real_call(
    server: MessagesServer, make_backend: Callable[..., AnthropicBackend]
) -> None:
    # a realistic count: about 4 characters per token, the prefix cached
    prompt_tokens = len(render(REQUEST).text) // 4 + 600
    server.add(
        MessagesServer.tool_reply(
            GOOD_INPUT,
            usage(
                input_tokens=200,
                output_tokens=8192,
                cache_creation_input_tokens=prompt_tokens - 200,
            ),
        )
    )
    backend = make_backend(max_output_tokens=8192)

    bound = backend.worst_case(REQUEST)
    actual = backend.propose(REQUEST).usage

    assert bound.input_tokens == math.ceil(len(render(REQUEST).text) / 3) + 1000
    assert bound.output_tokens == 8192
    assert bound.cost_usd == pytest.approx((bound.input_tokens * 2.5 + 8192 * 10) / 1e6)
    assert bound.cost_usd >= actual.cost_usd > 0
    assert bound.total_tokens >= actual.total_tokens


def test_unknown_model_costs_nothing_and_warns_once(
    server: MessagesServer, make_backend: Callable[..., AnthropicBackend]
) -> None:
    server.add(MessagesServer.tool_reply(GOOD_INPUT), MessagesServer.tool_reply(GOOD_INPUT))
    backend = make_backend(model="my-local-llm")
    assert backend.name == "anthropic:my-local-llm"

    with pytest.warns(UserWarning, match="no price is known for model 'my-local-llm'"):
        first = backend.propose(REQUEST)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = backend.propose(REQUEST)
        bound = backend.worst_case(REQUEST)

    assert first.usage.cost_usd == second.usage.cost_usd == bound.cost_usd == 0.0
    assert first.usage.input_tokens == 100
    assert server.requests[0].body["model"] == "my-local-llm"


# -- housekeeping -------------------------------------------------------------------


def test_close_is_idempotent(make_backend: Callable[..., AnthropicBackend]) -> None:
    backend = make_backend()
    backend.close()
    backend.close()


def test_module_imports_without_the_sdk() -> None:
    code = (
        "import sys; import pytest_genopt.backends.anthropic; sys.exit('anthropic' in sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_empty_queue_answers_a_clear_error_without_hanging(
    server: MessagesServer, make_backend: Callable[..., AnthropicBackend]
) -> None:
    backend = make_backend(sdk_max_retries=2, overload_retries=0)

    with pytest.raises(BackendError, match=r"server error \(500\) after 1 attempt$"):
        backend.propose(REQUEST)

    # the server told the SDK not to retry
    assert len(server.requests) == 1
