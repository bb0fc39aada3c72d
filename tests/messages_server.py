"""A loopback stand-in for the Anthropic Messages API, for tests.

``MessagesServer`` listens on 127.0.0.1 (a free port) and answers
``POST /v1/messages`` from a queue of scripted replies, recording every request
it receives.  It speaks enough of the API for the real ``anthropic`` SDK:
message replies with ``text`` and ``tool_use`` blocks and a ``usage`` object,
and errors in the API's JSON shape with any headers (``retry-after-ms: 1``
keeps the SDK's own retries fast).

    reply = MessagesServer.tool_reply({"edits": [...], "rationale": "..."})
    with MessagesServer([reply]) as server:
        client = anthropic.Anthropic(api_key="k", base_url=server.base_url)
        ...
        assert server.requests[0].body["model"] == "..."

A queued item may also be a function of the received request returning a
:class:`Reply`.  With the queue empty the server answers ``when_empty``, or by
default a 500 that the SDK is told not to retry, so a test fails fast instead
of hanging.  Use ``server.base_url`` as ``ANTHROPIC_BASE_URL`` to serve a
pytest subprocess.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MESSAGES_PATH = "/v1/messages"
DEFAULT_MODEL = "claude-test"


@dataclass(frozen=True)
class Reply:
    """One scripted HTTP answer: status, JSON body and extra headers.

    A message body without ``model`` gets the requested model, and one without
    ``id`` a fresh ``msg_...`` id, when served.
    """

    status: int
    body: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)
    #: bytes sent as the body instead of ``body`` (for replies JSON cannot build)
    raw: bytes | None = None


@dataclass(frozen=True)
class ReceivedRequest:
    """One request the server saw: header names are lower-cased; ``body`` is the
    decoded JSON (``None`` when the body is not JSON) and ``raw`` the bytes."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes


Responder = Callable[[ReceivedRequest], Reply]
Scripted = Reply | Responder


def usage(
    input_tokens: int = 100,
    output_tokens: int = 50,
    cache_read_input_tokens: int | None = 0,
    cache_creation_input_tokens: int | None = 0,
) -> dict[str, Any]:
    """A ``usage`` object as the API returns it (cache counts may be ``None``)."""
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_read_input_tokens": cache_read_input_tokens,
        "cache_creation_input_tokens": cache_creation_input_tokens,
        "service_tier": "standard",
    }


class PromptCache:
    """Prompt caching as the API does it, in characters: a request's prefix up to its
    last ``cache_control`` breakpoint is read from the cache when an earlier request
    had that exact prefix, and written to it otherwise.

    ``reply(answer)`` is a responder for the server's queue that answers with a
    ``propose_edits`` tool call and reports usage in these character counts.
    """

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.read = self.written = self.uncached = 0
        self.hits: list[bool] = []  # per request: was its prefix read from the cache

    def reply(self, answer: Any) -> Responder:
        def respond(request: ReceivedRequest) -> Reply:
            blocks = [*request.body.get("system", [])]
            for message in request.body.get("messages", []):
                blocks.extend(message["content"])
            marks = [i for i, b in enumerate(blocks) if b.get("cache_control")]
            cut = marks[-1] + 1 if marks else 0
            prefix = json.dumps(blocks[:cut])
            rest = sum(len(b.get("text", "")) for b in blocks[cut:])
            cached = sum(len(b.get("text", "")) for b in blocks[:cut])
            read, written = (cached, 0) if prefix in self.seen else (0, cached)
            self.hits.append(prefix in self.seen)
            self.seen.add(prefix)
            self.read += read
            self.written += written
            self.uncached += rest
            return MessagesServer.tool_reply(answer, usage(rest, 10, read, written))

        return respond

    @property
    def share(self) -> float:
        """The share of all prompt characters that were read from the cache."""
        total = self.read + self.written + self.uncached
        return self.read / total if total else 0.0


class MessagesServer:
    """A threaded HTTP server answering the Messages API from a queue; a context manager."""

    def __init__(
        self, replies: Iterable[Scripted] = (), *, when_empty: Scripted | None = None
    ) -> None:
        self.requests: list[ReceivedRequest] = []
        self.when_empty = when_empty
        self._queue: deque[Scripted] = deque(replies)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- scripting -------------------------------------------------------------

    def add(self, *replies: Scripted) -> None:
        """Queue more replies, answered in order."""
        with self._lock:
            self._queue.extend(replies)

    @property
    def remaining(self) -> int:
        """Replies still queued."""
        with self._lock:
            return len(self._queue)

    @property
    def messages_requests(self) -> list[ReceivedRequest]:
        """The requests sent to ``POST /v1/messages``."""
        with self._lock:
            return [r for r in self.requests if r.path == MESSAGES_PATH]

    @staticmethod
    def tool_reply(
        input: Any,
        usage: Mapping[str, Any] | None = None,
        *,
        name: str = "propose_edits",
        stop_reason: str = "tool_use",
        text: str | None = None,
        model: str | None = None,
    ) -> Reply:
        """A message whose content is one ``tool_use`` block (after ``text``, if given)."""
        content: list[dict[str, Any]] = []
        if text is not None:
            content.append({"type": "text", "text": text})
        content.append({"type": "tool_use", "id": "toolu_test_1", "name": name, "input": input})
        return _message(content, usage, stop_reason, model)

    @staticmethod
    def text_reply(
        text: str,
        usage: Mapping[str, Any] | None = None,
        *,
        stop_reason: str = "end_turn",
        model: str | None = None,
    ) -> Reply:
        """A message whose content is one ``text`` block."""
        return _message([{"type": "text", "text": text}], usage, stop_reason, model)

    @staticmethod
    def error(
        status: int, type: str, message: str, headers: Mapping[str, str] | None = None
    ) -> Reply:
        """An API error, e.g. ``error(529, "overloaded_error", "Overloaded")``."""
        body = {"type": "error", "error": {"type": type, "message": message}}
        return Reply(status, body, dict(headers or {}))

    # -- lifecycle -------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (the server must be running)."""
        if self._httpd is None:
            raise RuntimeError("MessagesServer is not running; use it as a context manager")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> MessagesServer:
        """Listen on a free port of 127.0.0.1 and serve in a daemon thread."""
        if self._httpd is not None:
            raise RuntimeError("MessagesServer is already running")
        server = self

        class Handler(_Handler):
            owner = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},  # shutdown() waits up to one interval
            name="MessagesServer",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> MessagesServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- serving ---------------------------------------------------------------

    def _answer(self, request: ReceivedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            number = len(self.requests)
            if request.path != MESSAGES_PATH or request.method != "POST":
                return self.error(404, "not_found_error", f"{request.method} {request.path}")
            scripted = self._queue.popleft() if self._queue else self.when_empty
        if scripted is None:
            return self.error(
                500,
                "api_error",
                f"MessagesServer: no scripted reply left for request #{number} to {request.path}",
                {"x-should-retry": "false"},
            )
        reply = scripted if isinstance(scripted, Reply) else scripted(request)
        if reply.body.get("type") != "message":
            return reply
        body = dict(reply.body)
        body.setdefault("id", f"msg_test_{next(self._ids)}")
        if body.get("model") is None:
            requested = request.body.get("model") if isinstance(request.body, dict) else None
            body["model"] = requested if isinstance(requested, str) else DEFAULT_MODEL
        return Reply(reply.status, body, reply.headers)


def _message(
    content: list[dict[str, Any]],
    usage_object: Mapping[str, Any] | None,
    stop_reason: str,
    model: str | None,
) -> Reply:
    body: dict[str, Any] = {
        "type": "message",
        "role": "assistant",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": dict(usage_object) if usage_object is not None else usage(),
    }
    if model is not None:
        body["model"] = model
    return Reply(200, body)


class _Handler(BaseHTTPRequestHandler):
    owner: MessagesServer
    server_version = "MessagesServer/1"
    # headers and body go out in two writes: without this, a delayed ACK costs ~40 ms
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        request = ReceivedRequest(
            method=self.command,
            path=self.path.split("?", 1)[0],
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            raw=raw,
        )
        try:
            reply = self.owner._answer(request)
        except Exception as exc:  # a broken responder must not hang the client
            reply = MessagesServer.error(
                500,
                "api_error",
                f"MessagesServer: responder failed: {exc!r}",
                {"x-should-retry": "false"},
            )
        payload = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.send_header("request-id", f"req_test_{len(self.owner.requests)}")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output clean."""
