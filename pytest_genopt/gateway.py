"""The task model's gateway: candidates reach the Messages API through the controller.

Candidates run sandboxed, with no API key in their environment and no write access
outside their tree, yet an LLM program under test must ask its task model and an
unchanged program must cost nothing twice.  The controller (ini
``genopt_task_model_gateway = true``) serves :class:`ModelGateway` on 127.0.0.1 for
the run: it accepts ``POST /v1/messages`` carrying the run's own key (so no other
local process spends the user's), answers from the disk cache, and otherwise
forwards the request through the official ``anthropic`` SDK with the user's key and
``ANTHROPIC_BASE_URL``, caching the answer.  The ``genopt-cache`` response header
says ``hit`` or ``miss``.  Streaming is refused; the task model does not stream.
"""

from __future__ import annotations

import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from pytest_genopt.backends.python import one_line
from pytest_genopt.taskmodel import CACHE_HEADER, GATEWAY_ENV, GATEWAY_KEY_ENV

if TYPE_CHECKING:
    from pytest_genopt.modelcache import ModelCache

__all__ = ["ModelGateway"]

MESSAGES_PATH = "/v1/messages"
#: the largest request body accepted (a task prompt with a long question is ~100 kB)
MAX_BODY = 8 * 1024 * 1024


class ModelGateway:
    """A caching Messages API gateway for one run's candidates."""

    def __init__(self, cache: ModelCache, *, replay: bool = False) -> None:
        self.cache = cache
        self.replay = replay
        self.key = secrets.token_hex(16)
        self.forwarded = 0
        self._lock = threading.Lock()
        self._client: Any = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the gateway is not serving")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def environment(self) -> dict[str, str]:
        """What candidates need to reach the gateway."""
        return {GATEWAY_ENV: self.url, GATEWAY_KEY_ENV: self.key}

    def start(self) -> ModelGateway:
        gateway = self

        class Handler(_Handler):
            owner = gateway

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="genopt-model-gateway", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], str]:
        """(status, JSON body, cache header) for one request body."""
        cached = self.cache.get(body)
        if cached is not None:
            return 200, cached, "hit"
        if body.get("stream"):
            return _error(400, "invalid_request_error", "the task model gateway does not stream")
        if self.replay:
            return _error(
                404, "not_found_error", "replay mode: this request is not in the task model cache"
            )
        return self._forward(body)

    def _forward(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], str]:
        import anthropic

        try:
            message = self._upstream().messages.create(**body)
        except anthropic.APIStatusError as exc:
            try:
                payload = exc.response.json()
            except ValueError:
                payload = None
            if not isinstance(payload, dict):
                return _error(exc.status_code, "api_error", str(exc))
            return exc.status_code, payload, "miss"
        except (anthropic.AnthropicError, TypeError) as exc:
            return _error(502, "api_error", f"task model gateway: {one_line(str(exc))}")
        response: dict[str, Any] = message.model_dump(mode="json")
        self.cache.put(body, response)
        with self._lock:
            self.forwarded += 1
        return 200, response, "miss"

    def _upstream(self) -> Any:
        import anthropic

        with self._lock:
            if self._client is None:
                self._client = anthropic.Anthropic()
            return self._client


def _error(status: int, kind: str, message: str) -> tuple[int, dict[str, Any], str]:
    return status, {"type": "error", "error": {"type": kind, "message": message}}, "miss"


class _Handler(BaseHTTPRequestHandler):
    owner: ModelGateway
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes: without this, a delayed ACK costs ~40 ms
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        if self.path.split("?", 1)[0] != MESSAGES_PATH:
            self._send(*_error(404, "not_found_error", f"no route {self.path}"))
            return
        if not secrets.compare_digest(self._presented_key(), self.owner.key):
            self._send(*_error(401, "authentication_error", "not this run's gateway key"))
            return
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY:
            self._send(*_error(413, "request_too_large", "request body too large"))
            return
        try:
            body = json.loads(self.rfile.read(length))
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self._send(*_error(400, "invalid_request_error", "the body is not a JSON object"))
            return
        self._send(*self.owner.answer(body))

    def _presented_key(self) -> str:
        # SDK versions send the key as x-api-key or as a bearer token
        bearer = self.headers.get("authorization", "")
        return self.headers.get("x-api-key") or bearer.removeprefix("Bearer ").strip()

    def _send(self, status: int, payload: dict[str, Any], cache: str) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header(CACHE_HEADER, cache)
        # the SDK must not retry what the gateway decided (replay misses, refusals)
        self.send_header("x-should-retry", "false")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the terminal belongs to pytest."""
