"""The ``anthropic`` backend: the Anthropic Messages API through the official SDK.

One Messages API call per proposal.  The model must call one tool,
``propose_edits``, whose input schema is a protocol Response; the prompt's
stable prefix (instructions, then parameters) is marked for prompt caching.
Token usage and its cost in dollars are attached to every Proposal.

Failures are layered: the SDK retries 408/409/429/5xx and connection errors
itself (``sdk_max_retries``); when it still gives up on an overload, a rate
limit, a server error or a connection problem this backend waits and tries
again (``overload_retries``), then raises :class:`BackendError`.  A rejected
API key is :class:`BackendFatal` at once, and so is an endpoint that stays
unreachable for :data:`CONNECT_BUDGET` seconds of retries (DNS, refused): the run
stops in one line and can be resumed, instead of every iteration waiting as long.

The SDK is imported only when a backend is built, so importing this module
stays cheap.
"""

from __future__ import annotations

import dataclasses
import email.utils
import json
import math
import os
import time
import warnings
from dataclasses import astuple
from typing import TYPE_CHECKING, Any, TypedDict

from pytest_genopt.backends import BackendError, BackendFatal, Proposal, Usage, proposal_from_raw
from pytest_genopt.backends.prices import PRICES as PRICES
from pytest_genopt.backends.prices import Price as Price
from pytest_genopt.backends.prices import parse_price_overrides as parse_price_overrides
from pytest_genopt.backends.prices import price_for as price_for
from pytest_genopt.prompt import Prompt, render
from pytest_genopt.protocol import TOO_DEEP, escaped_text, response_schema
from pytest_genopt.redaction import redact, redact_text

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import anthropic
    from anthropic.types import (
        Message,
        MessageParam,
        TextBlockParam,
        ToolChoiceToolParam,
        ToolParam,
    )

    from pytest_genopt.protocol import Request

DEFAULT_MODEL = "claude-sonnet-5-5"

#: the one tool the model is made to call
TOOL_NAME = "propose_edits"

TOOL_DESCRIPTION = (
    "Submit your proposal: the edits to the listed parameters (each by its id, either the "
    "complete new text or one exact search/replace inside the parameter) and the rationale "
    "that explains, from the evidence, why they should raise the objective. Call this "
    "exactly once, with all your edits."
)

#: seconds a call keeps retrying an endpoint it cannot reach (DNS, refused, reset)
#: before the run stops: a network that is down does not come back within one call,
#: and every later iteration would wait as long again
CONNECT_BUDGET = 10.0
#: longest wait honoured from a ``retry-after`` header, in seconds
RETRY_AFTER_CAP = 60.0

_REASON_TEXT_LIMIT = 200
_MESSAGE_LIMIT = 300
_SCRUB_MIN_LENGTH = 8


class AnthropicBackend:
    """Proposes edits with a Claude model through the Anthropic Messages API.

    ``api_key`` ``None`` reads ``ANTHROPIC_API_KEY``; ``base_url`` ``None`` lets the
    SDK read ``ANTHROPIC_BASE_URL``.  ``prices`` add to or replace entries of
    :data:`PRICES`.  ``sdk_max_retries`` is the SDK's own retry count per call;
    after the SDK gives up on an overload (529), a rate limit (429), another
    5xx or a connection error, the backend waits ``overload_wait * 2**k``
    seconds (or what a ``retry-after`` header asks, at most 60 s) and tries
    again, ``overload_retries`` times.  ``timeout`` is the per-request limit in
    seconds.  ``secrets`` (and the key) are redacted from the prompt before it is
    sent and from the model's reply.

    Raises :class:`BackendFatal` at construction when no API key is set.
    """

    name: str

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        max_output_tokens: int = 8192,
        prices: Mapping[str, Price] | None = None,
        sdk_max_retries: int = 2,
        overload_retries: int = 4,
        overload_wait: float = 5.0,
        timeout: float = 600.0,
        secrets: Sequence[str] = (),
    ) -> None:
        model = model.strip() or DEFAULT_MODEL
        if max_output_tokens < 1:
            raise ValueError(f"max_output_tokens must be at least 1, got {max_output_tokens}")
        if sdk_max_retries < 0 or overload_retries < 0:
            raise ValueError("sdk_max_retries and overload_retries must not be negative")
        if overload_wait < 0 or timeout <= 0:
            raise ValueError("overload_wait must not be negative and timeout must be positive")
        key = api_key if api_key is not None else os.environ.get("ANTHROPIC_API_KEY", "")
        if not key.strip():
            raise BackendFatal(
                "ANTHROPIC_API_KEY is not set; export your Anthropic API key "
                "or choose another --genopt-backend (e.g. search)"
            )
        try:
            import anthropic
        except ImportError:
            raise BackendFatal(
                "the anthropic backend needs the 'anthropic' package: pip install anthropic"
            ) from None

        self.name = f"anthropic:{model}"
        self.model = model
        self.max_output_tokens = max_output_tokens
        # the key is always a secret; short values are left alone, as by the
        # redaction step, rather than mangling every text
        own = (key,) if len(key) >= _SCRUB_MIN_LENGTH else ()
        self._secrets = (*own, *secrets)
        self._price = price_for(model, prices)
        self._price_warned = False
        self._overload_retries = overload_retries
        self._overload_wait = overload_wait
        # An explicit key keeps the SDK from falling back to profiles or federation.
        self._client: anthropic.Anthropic = anthropic.Anthropic(
            api_key=key,
            base_url=base_url,
            max_retries=sdk_max_retries,
            timeout=timeout,
        )
        self._closed = False

    def propose(self, request: Request) -> Proposal:
        """Ask the model once (with retries) and turn its tool call into a Proposal.

        A reply without a usable ``propose_edits`` call is an invalid Proposal,
        never an exception.  Raises :class:`BackendError` when the API gives no
        answer after all retries and :class:`BackendFatal` when the key is
        rejected or the model does not exist.
        """
        try:
            message = self._create(self._outgoing(render(request)))
        except (RecursionError, MemoryError):
            # the SDK could not decode the reply: a hostile or broken endpoint
            reason = f"the reply from {self._endpoint()} could not be decoded: {TOO_DEEP}"
            return Proposal(response=None, invalid_reason=reason, raw=None)
        return self._proposal(message, self._usage(message))

    def worst_case(self, request: Request) -> Usage:
        """An upper bound of one call's usage: ``len(prompt) / 3 + 1000`` input tokens,
        all billed as cache writes, plus ``max_output_tokens`` output tokens."""
        input_tokens = math.ceil(len(render(request).text) / 3) + 1000
        price = self._known_price()
        cost = 0.0
        if price is not None:
            cost = price.cost(output_tokens=self.max_output_tokens, cache_write_tokens=input_tokens)
        return Usage(input_tokens=input_tokens, output_tokens=self.max_output_tokens, cost_usd=cost)

    def close(self) -> None:
        """Close the SDK's HTTP connections; calling it again does nothing."""
        if not self._closed:
            self._closed = True
            self._client.close()

    # -- the call -------------------------------------------------------------

    def _outgoing(self, prompt: Prompt) -> Prompt:
        """``prompt`` as it may leave the machine: secrets redacted, unencodable text escaped."""
        return Prompt(*(redact_text(escaped_text(part), self._secrets) for part in astuple(prompt)))

    def _create(self, prompt: Prompt) -> Message:
        """The Messages API call for ``prompt``, tried again ``overload_retries`` times
        after a failure that another attempt may not have (:class:`_Retry`)."""
        arguments = _arguments(prompt)
        attempts = self._overload_retries + 1
        failure, detail = "no attempt made", ""
        unreachable_since: float | None = None
        for attempt in range(attempts):
            outcome = self._attempt(arguments)
            if not isinstance(outcome, _Retry):
                return outcome
            failure, detail = outcome.failure, outcome.detail
            if outcome.unreachable and unreachable_since is None:
                unreachable_since = time.monotonic()
            wait = self._wait(attempt, outcome.headers)
            if outcome.unreachable and unreachable_since is not None:
                self._check_reachable(attempt, attempts, unreachable_since, wait, detail)
            if attempt + 1 < attempts:
                time.sleep(wait)
        plural = "" if attempts == 1 else "s"
        raise BackendError(f"anthropic: {failure} after {attempts} attempt{plural}{detail}")

    def _attempt(self, arguments: _Arguments) -> Message | _Retry:
        """One Messages API call: the message, a failure to try again, or an error raised."""
        import anthropic

        try:
            reply = self._client.messages.create(
                model=self.model, max_tokens=self.max_output_tokens, **arguments
            )
        except anthropic.AuthenticationError:
            raise BackendFatal(
                "anthropic: authentication failed (401): check ANTHROPIC_API_KEY"
            ) from None
        except anthropic.PermissionDeniedError:
            raise BackendFatal(
                f"anthropic: permission denied (403) for model {self.model!r}: "
                "check ANTHROPIC_API_KEY and what it may use"
            ) from None
        except anthropic.NotFoundError as exc:
            raise BackendFatal(
                f"anthropic: model {self.model!r} not found (404): check --genopt-model"
                f" (and ANTHROPIC_BASE_URL){self._detail(exc)}"
            ) from None
        except anthropic.APIStatusError as exc:
            return self._status_retry(exc)
        except anthropic.APITimeoutError:
            return _Retry("request timed out")
        except anthropic.APIConnectionError as exc:
            cause = exc.__cause__
            detail = f": {self._one_line(str(cause))}" if cause and str(cause) else ""
            return _Retry(f"cannot connect to {self._endpoint()}", detail, unreachable=True)
        except anthropic.APIError as exc:
            raise BackendError(f"anthropic: {self._one_line(exc.message)}") from None
        except json.JSONDecodeError:
            raise BackendError(
                f"anthropic: the reply from {self._endpoint()} is not valid JSON"
            ) from None
        if not isinstance(reply, anthropic.types.Message):
            raise BackendError(
                f"anthropic: the reply from {self._endpoint()} is not a message: "
                f"{self._one_line(str(reply))}"
            )
        return reply

    def _status_retry(self, exc: anthropic.APIStatusError) -> _Retry:
        """A 408, a 429 or a 5xx to try again; any other status is a :class:`BackendError`."""
        status = exc.status_code
        if status == 408 or status == 429 or status >= 500:
            return _Retry(_status_failure(status), headers=exc.response.headers)
        if status == 400:
            raise BackendError(f"anthropic: bad request (400){self._detail(exc)}") from None
        raise BackendError(f"anthropic: HTTP {status}{self._detail(exc)}") from None

    def _check_reachable(
        self, attempt: int, attempts: int, since: float, wait: float, detail: str
    ) -> None:
        """Stop the run (resumable) once an unreachable endpoint has had its time."""
        spent = time.monotonic() - since
        if attempt + 1 < attempts and spent + wait <= CONNECT_BUDGET:
            return
        plural = "" if attempt == 0 else "s"
        raise BackendFatal(
            f"anthropic: cannot connect to {self._endpoint()} ({attempt + 1} attempt{plural} "
            f"in {spent:.0f} s){detail}; the run stops here and can be resumed "
            "(--genopt-resume) when the network is back"
        )

    def _wait(self, attempt: int, headers: Mapping[str, str] | None) -> float:
        retry_after = _retry_after(headers)
        if retry_after is not None:
            return min(max(retry_after, 0.0), RETRY_AFTER_CAP)
        return float(self._overload_wait * 2**attempt)

    # -- the reply ------------------------------------------------------------

    def _proposal(self, message: Message, usage: Usage) -> Proposal:
        from anthropic.types import TextBlock, ToolUseBlock

        content = getattr(message, "content", None) or []
        stop_reason = getattr(message, "stop_reason", None)
        calls = [b for b in content if isinstance(b, ToolUseBlock) and b.name == TOOL_NAME]
        text = " ".join(b.text for b in content if isinstance(b, TextBlock))
        text = self._scrub(" ".join(text.split()))
        if stop_reason == "max_tokens":
            raw: Any = self._reply(calls[0].input, usage).raw if calls else {"text": text}
            return Proposal(
                response=None,
                invalid_reason=(
                    f"the reply reached max_tokens ({self.max_output_tokens}) before "
                    f"{TOOL_NAME} was complete; propose smaller edits (search/replace)"
                ),
                raw=raw,
                usage=usage,
            )
        if not calls:
            others = sorted({b.name for b in content if isinstance(b, ToolUseBlock)})
            if others:
                reason = f"the model called {', '.join(others)} instead of {TOOL_NAME}"
            elif text:
                reason = (
                    f"the model answered without calling {TOOL_NAME}: {text[:_REASON_TEXT_LIMIT]}"
                )
            else:
                reason = (
                    f"the model answered without calling {TOOL_NAME} "
                    f"(no text; stop_reason {stop_reason})"
                )
            return Proposal(
                response=None,
                invalid_reason=reason,
                raw={"stop_reason": stop_reason, "text": text},
                usage=usage,
            )
        return self._reply(calls[0].input, usage)

    def _usage(self, message: Message) -> Usage:
        counts = getattr(message, "usage", None)
        input_tokens = _count(getattr(counts, "input_tokens", None))
        output_tokens = _count(getattr(counts, "output_tokens", None))
        cache_read = _count(getattr(counts, "cache_read_input_tokens", None))
        cache_write = _count(getattr(counts, "cache_creation_input_tokens", None))
        price = self._known_price()
        cost = 0.0
        if price is not None:
            cost = price.cost(input_tokens, output_tokens, cache_write, cache_read)
        return Usage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_input_tokens=cache_read,
            cache_creation_input_tokens=cache_write,
            cost_usd=cost,
        )

    def _known_price(self) -> Price | None:
        if self._price is None and not self._price_warned:
            self._price_warned = True
            warnings.warn(
                f"pytest-genopt: no price is known for model {self.model!r}; its calls are "
                "counted as $0, so a dollar budget cannot limit them",
                stacklevel=3,
            )
        return self._price

    # -- messages that never carry the key ---------------------------------------

    def _reply(self, tool_input: object, usage: Usage) -> Proposal:
        """The tool input as a Proposal, within the caps on a reply, secrets redacted.

        Model output is redacted too: evidence (a test's output) could have shown
        a secret to the model, and an edit must not carry it into a commit.
        """
        proposal = proposal_from_raw(tool_input, usage)  # bounded and escaped first
        if proposal.response is None:
            return dataclasses.replace(proposal, raw=redact(proposal.raw, self._secrets))
        return proposal_from_raw(redact(proposal.raw, self._secrets), usage)

    def _scrub(self, text: str) -> str:
        return redact_text(escaped_text(text), self._secrets)

    def _one_line(self, text: str) -> str:
        line = " ".join(self._scrub(text).split())
        return line if len(line) <= _MESSAGE_LIMIT else line[: _MESSAGE_LIMIT - 3] + "..."

    def _detail(self, exc: anthropic.APIStatusError) -> str:
        message = exc.api_message or exc.message
        return f": {self._one_line(message)}" if message else ""

    def _endpoint(self) -> str:
        url = self._client.base_url
        port = f":{url.port}" if url.port else ""
        return f"{url.scheme}://{url.host}{port}"


class _Arguments(TypedDict):
    """The Messages API call's arguments that are the same on every attempt."""

    system: list[TextBlockParam]
    messages: list[MessageParam]
    tools: list[ToolParam]
    tool_choice: ToolChoiceToolParam


def _arguments(prompt: Prompt) -> _Arguments:
    """``prompt`` as the Messages API takes it, its stable prefix marked for prompt caching."""
    return {
        "system": [
            {"type": "text", "text": prompt.instructions, "cache_control": {"type": "ephemeral"}}
        ],
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "text",
                        "text": prompt.parameters,
                        "cache_control": {"type": "ephemeral"},
                    },
                    {"type": "text", "text": prompt.task},
                ],
            }
        ],
        "tools": [
            {"name": TOOL_NAME, "description": TOOL_DESCRIPTION, "input_schema": response_schema()}
        ],
        "tool_choice": {"type": "tool", "name": TOOL_NAME},
    }


@dataclasses.dataclass(frozen=True)
class _Retry:
    """An attempt that failed in a way another attempt may not: an overload, a rate limit,
    a server error, a timeout or an endpoint it could not reach."""

    failure: str
    detail: str = ""
    headers: Mapping[str, str] | None = None
    unreachable: bool = False


def _status_failure(status: int) -> str:
    if status == 529:
        return "overloaded (529)"
    if status == 429:
        return "rate limited (429)"
    if status == 408:
        return "request timed out (408)"
    return f"server error ({status})"


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds asked for by ``retry-after-ms`` or ``retry-after`` (seconds or a date)."""
    if headers is None:
        return None
    seconds = _retry_after_header(headers)
    return seconds if seconds is not None and math.isfinite(seconds) else None


def _retry_after_header(headers: Mapping[str, str]) -> float | None:
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return float(milliseconds) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return moment.timestamp() - time.time()


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
