"""The ``anthropic`` backend: the Anthropic Messages API through the official SDK.

One Messages API call per proposal.  The model must call one tool,
``propose_edits``, whose input schema is a protocol-v1 Response; the prompt's
stable prefix (instructions, then parameters) is marked for prompt caching.
Token usage and its cost in dollars are attached to every Proposal.

Failures are layered: the SDK retries 408/409/429/5xx and connection errors
itself (``sdk_max_retries``); when it still gives up on an overload, a rate
limit, a server error or a connection problem this backend waits and tries
again (``overload_retries``), then raises :class:`BackendError`.  A rejected
API key is :class:`BackendFatal` at once.

The SDK is imported only when a backend is built, so importing this module
stays cheap.
"""

from __future__ import annotations

import email.utils
import json
import math
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_genopt.backends import BackendError, BackendFatal, Proposal, Usage, proposal_from_raw
from pytest_genopt.prompt import render
from pytest_genopt.protocol import response_schema

if TYPE_CHECKING:
    import anthropic
    from anthropic.types import (
        Message,
        MessageParam,
        TextBlockParam,
        ToolChoiceToolParam,
        ToolParam,
    )

    from pytest_genopt.prompt import Prompt
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

#: longest wait honoured from a ``retry-after`` header, in seconds
RETRY_AFTER_CAP = 60.0

_REASON_TEXT_LIMIT = 200
_MESSAGE_LIMIT = 300
_PER_MILLION = 1_000_000
_SCRUB_MIN_LENGTH = 8


@dataclass(frozen=True)
class Price:
    """What a model costs, in dollars per million tokens."""

    input: float
    output: float
    cache_write: float
    cache_read: float

    @classmethod
    def standard(cls, input: float, output: float) -> Price:
        """A price with the usual cache rates: writes 1.25 x input, reads 0.1 x input."""
        return cls(input, output, input * 1.25, input * 0.1)

    def cost(
        self,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cache_write_tokens: int = 0,
        cache_read_tokens: int = 0,
    ) -> float:
        """Dollars for these token counts."""
        return (
            input_tokens * self.input
            + output_tokens * self.output
            + cache_write_tokens * self.cache_write
            + cache_read_tokens * self.cache_read
        ) / _PER_MILLION


#: built-in list prices; a dated id (``claude-sonnet-4-5-20250929``) or a
#: platform id (``claude-opus-4-1@20250805``) finds its entry by prefix
PRICES: dict[str, Price] = {
    "claude-sonnet-5-5": Price.standard(2.0, 10.0),
    "claude-sonnet-5": Price.standard(2.0, 10.0),
    "claude-opus-5": Price.standard(5.0, 25.0),
    "claude-haiku-4-5": Price.standard(1.0, 5.0),
    "claude-sonnet-4-6": Price.standard(3.0, 15.0),
    "claude-sonnet-4-5": Price.standard(3.0, 15.0),
    "claude-sonnet-4": Price.standard(3.0, 15.0),
    "claude-opus-4-5": Price.standard(5.0, 25.0),
    "claude-opus-4-1": Price.standard(15.0, 75.0),
    "claude-opus-4": Price.standard(15.0, 75.0),
}


def price_for(model: str, overrides: Mapping[str, Price] | None = None) -> Price | None:
    """The price of ``model``: by exact name, else by the longest known prefix.

    ``overrides`` are added to (and replace entries of) :data:`PRICES` before the
    lookup.  A prefix only counts when the model id goes on with ``-`` or ``@``
    after it, so ``claude-opus-4-10`` is not priced as ``claude-opus-4-1``.
    ``None`` when nothing matches.
    """
    table = {**PRICES, **(overrides or {})}
    if model in table:
        return table[model]
    best: str | None = None
    for name in table:
        if (
            model.startswith(name)
            and model[len(name)] in "-@"
            and (best is None or len(name) > len(best))
        ):
            best = name
    return None if best is None else table[best]


def parse_price_overrides(lines: Sequence[str]) -> dict[str, Price]:
    """Parse ini lines ``MODEL = IN OUT [CACHE_WRITE CACHE_READ]`` (dollars per million tokens).

    Without the cache rates, cache writes cost 1.25 x IN and cache reads 0.1 x IN.
    Blank lines and lines starting with ``#`` are skipped.  A bad line raises
    ``ValueError`` with a one-line message quoting it.
    """
    prices: dict[str, Price] = {}
    for entry in lines:
        for line in entry.splitlines():
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            model, equals, numbers = text.partition("=")
            model = model.strip()
            fields = numbers.split()
            if not equals or not model or _has_space(model) or len(fields) not in (2, 4):
                raise ValueError(_bad_price_line(text))
            try:
                values = [float(field) for field in fields]
            except ValueError:
                raise ValueError(_bad_price_line(text)) from None
            if any(not math.isfinite(value) or value < 0 for value in values):
                raise ValueError(_bad_price_line(text))
            prices[model] = Price.standard(*values) if len(values) == 2 else Price(*values)
    return prices


def _has_space(text: str) -> bool:
    return any(char.isspace() for char in text)


def _bad_price_line(text: str) -> str:
    return (
        f"bad price line {text!r}: expected 'MODEL = IN OUT [CACHE_WRITE CACHE_READ]' "
        "with non-negative dollars per million tokens"
    )


class AnthropicBackend:
    """Proposes edits with a Claude model through the Anthropic Messages API.

    ``api_key`` ``None`` reads ``ANTHROPIC_API_KEY``; ``base_url`` ``None`` lets the
    SDK read ``ANTHROPIC_BASE_URL``.  ``prices`` add to or replace entries of
    :data:`PRICES`.  ``sdk_max_retries`` is the SDK's own retry count per call;
    after the SDK gives up on an overload (529), a rate limit (429), another
    5xx or a connection error, the backend waits ``overload_wait * 2**k``
    seconds (or what a ``retry-after`` header asks, at most 60 s) and tries
    again, ``overload_retries`` times.  ``timeout`` is the per-request limit in
    seconds.

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
        self._secret = key
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
        message = self._create(render(request))
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

    def _create(self, prompt: Prompt) -> Message:
        import anthropic

        system: list[TextBlockParam] = [
            {"type": "text", "text": prompt.instructions, "cache_control": {"type": "ephemeral"}}
        ]
        messages: list[MessageParam] = [
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
        ]
        tools: list[ToolParam] = [
            {"name": TOOL_NAME, "description": TOOL_DESCRIPTION, "input_schema": response_schema()}
        ]
        tool_choice: ToolChoiceToolParam = {"type": "tool", "name": TOOL_NAME}

        attempts = self._overload_retries + 1
        failure, detail = "no attempt made", ""
        for attempt in range(attempts):
            headers: Mapping[str, str] | None = None
            detail = ""
            try:
                reply = self._client.messages.create(
                    model=self.model,
                    max_tokens=self.max_output_tokens,
                    system=system,
                    messages=messages,
                    tools=tools,
                    tool_choice=tool_choice,
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
                status = exc.status_code
                if status == 408 or status == 429 or status >= 500:
                    failure = _status_failure(status)
                    headers = exc.response.headers
                elif status == 400:
                    raise BackendError(f"anthropic: bad request (400){self._detail(exc)}") from None
                else:
                    raise BackendError(f"anthropic: HTTP {status}{self._detail(exc)}") from None
            except anthropic.APITimeoutError:
                failure = "request timed out"
            except anthropic.APIConnectionError as exc:
                cause = exc.__cause__
                detail = f": {self._one_line(str(cause))}" if cause and str(cause) else ""
                failure = f"cannot connect to {self._endpoint()}"
            except anthropic.APIError as exc:
                raise BackendError(f"anthropic: {self._one_line(exc.message)}") from None
            except json.JSONDecodeError:
                raise BackendError(
                    f"anthropic: the reply from {self._endpoint()} is not valid JSON"
                ) from None
            else:
                if not isinstance(reply, anthropic.types.Message):
                    raise BackendError(
                        f"anthropic: the reply from {self._endpoint()} is not a message: "
                        f"{self._one_line(str(reply))}"
                    )
                return reply
            if attempt + 1 < attempts:
                time.sleep(self._wait(attempt, headers))
        plural = "" if attempts == 1 else "s"
        raise BackendError(f"anthropic: {failure} after {attempts} attempt{plural}{detail}")

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
            raw: Any = self._scrub(calls[0].input) if calls else {"text": text}
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
        return proposal_from_raw(self._scrub(calls[0].input), usage)

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

    def _scrub(self, value: Any) -> Any:
        """``value`` with every occurrence of the API key replaced.

        Model output is scrubbed too: evidence (a test's output) could have shown
        the key to the model, and an edit must not carry it into a commit.  Keys
        too short to be real are left alone rather than mangling every text.
        """
        if len(self._secret) < _SCRUB_MIN_LENGTH:
            return value
        if isinstance(value, str):
            return value.replace(self._secret, "[redacted]")
        if isinstance(value, Mapping):
            return {self._scrub(k): self._scrub(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._scrub(v) for v in value]
        return value

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
