"""The task model: the LLM that a program under test calls (not the optimizer).

Suites whose artifact is an LLM program (BBEH) ask it through :class:`TaskModel`,
which calls the Messages API with the official ``anthropic`` SDK and caches every
response on disk (:mod:`pytest_genopt.modelcache`).

Outside a run the SDK reads ``ANTHROPIC_API_KEY`` and ``ANTHROPIC_BASE_URL`` as it
always does and the cache is written here.  Inside a run, candidates are sandboxed
and their environment holds no API key, so genopt's controller serves a model
gateway (:mod:`pytest_genopt.gateway`) on 127.0.0.1 and names it in
:data:`GATEWAY_ENV`; the gateway holds the key and the cache, calls the API through
the SDK, and tells the client whether an answer came from the cache.  The client
speaks to it in plain HTTP with the same request bodies.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_genopt.backends.python import one_line
from pytest_genopt.modelcache import ModelCache

if TYPE_CHECKING:
    from pytest_genopt.tracing import TrialReporter

__all__ = [
    "CACHE_ENV",
    "CACHE_HEADER",
    "DEFAULT_CACHE",
    "DEFAULT_TASK_MODEL",
    "GATEWAY_ENV",
    "GATEWAY_KEY_ENV",
    "MODEL_ENV",
    "REPLAY_ENV",
    "Completion",
    "TaskModel",
    "TaskModelError",
    "cache_folder",
    "replaying",
]

#: the task model when neither :data:`MODEL_ENV` nor ini ``genopt_task_model`` names one
DEFAULT_TASK_MODEL = "claude-haiku-4-5"
MODEL_ENV = "GENOPT_TASK_MODEL"
#: the cache folder (relative paths are relative to the rootdir)
CACHE_ENV = "GENOPT_TASK_MODEL_CACHE"
DEFAULT_CACHE = ".genopt/task-model-cache"
#: "1": answer only from the cache; a miss is an error (deterministic CI)
REPLAY_ENV = "GENOPT_TASK_MODEL_REPLAY"
#: set by genopt in candidates' environment: the gateway's URL and its per-run key
GATEWAY_ENV = "GENOPT_TASK_MODEL_GATEWAY"
GATEWAY_KEY_ENV = "GENOPT_TASK_MODEL_GATEWAY_KEY"
#: response header of the gateway: "hit" or "miss"
CACHE_HEADER = "genopt-cache"
MAX_TOKENS = 2048
#: seconds to wait for the gateway, which waits for the API (and its retries)
GATEWAY_TIMEOUT = 900
#: the gateway is on 127.0.0.1: never through the environment's HTTP proxy
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def cache_folder(rootdir: Path, ini_cache: str = "") -> Path:
    """The cache folder :data:`CACHE_ENV` or ini ``genopt_task_model_cache`` names."""
    cache = Path(os.environ.get(CACHE_ENV) or ini_cache or DEFAULT_CACHE).expanduser()
    return cache if cache.is_absolute() else rootdir / cache


def replaying() -> bool:
    """Whether :data:`REPLAY_ENV` asks for answers from the cache only."""
    return os.environ.get(REPLAY_ENV) == "1"


class TaskModelError(RuntimeError):
    """The task model could not answer; the message is one line."""


@dataclass(frozen=True)
class Completion:
    text: str
    input_tokens: int
    output_tokens: int
    cached: bool


class TaskModel:
    """Completions of ``model``, cached under ``cache``."""

    def __init__(
        self,
        model: str,
        cache: Path,
        *,
        replay: bool = False,
        max_tokens: int = MAX_TOKENS,
        environ: dict[str, str] | None = None,
    ) -> None:
        self.model = model
        self.cache = ModelCache(cache)
        self.replay = replay
        self.max_tokens = max_tokens
        env = dict(os.environ if environ is None else environ)
        self.gateway = env.get(GATEWAY_ENV, "")
        self._gateway_key = env.get(GATEWAY_KEY_ENV, "")
        self._client: Any = None
        #: why every call fails (no credentials, no connection), once known
        self._failed = ""

    @classmethod
    def configured(cls, rootdir: Path, ini_model: str = "", ini_cache: str = "") -> TaskModel:
        """The task model the environment and ini values choose (see the module doc)."""
        model = os.environ.get(MODEL_ENV) or ini_model or DEFAULT_TASK_MODEL
        return cls(model, cache_folder(rootdir, ini_cache), replay=replaying())

    def request(self, text: str) -> dict[str, Any]:
        """The Messages API request body for one user turn ``text``."""
        return {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "messages": [{"role": "user", "content": text}],
        }

    def complete(self, text: str, genopt: TrialReporter | None = None) -> Completion:
        """The model's answer to ``text``; its usage is reported to ``genopt``."""
        body = self.request(text)
        completion = self._through_gateway(body) if self.gateway else self._direct(body)
        if genopt is not None:
            genopt.usage(
                completion.input_tokens,
                completion.output_tokens,
                model=self.model,
                cached=completion.cached,
            )
        return completion

    def _direct(self, body: dict[str, Any]) -> Completion:
        cached = self.cache.get(body)
        if cached is not None:
            return _completion(cached, cached=True)
        if self.replay:
            raise TaskModelError(
                f"{REPLAY_ENV}=1 and this request is not in the cache {self.cache.directory}"
            )
        message = self._call(body).parse().model_dump(mode="json")
        self.cache.put(body, message)
        return _completion(message, cached=False)

    def _through_gateway(self, body: dict[str, Any]) -> Completion:
        """Ask genopt's gateway, which calls the API through the SDK.  This hop is plain
        HTTP: importing the SDK would cost every candidate evaluation ~2 s."""
        request = urllib.request.Request(
            self.gateway.rstrip("/") + "/v1/messages",
            data=json.dumps(body).encode("utf-8"),
            headers={"content-type": "application/json", "x-api-key": self._gateway_key},
            method="POST",
        )
        try:
            with _DIRECT.open(request, timeout=GATEWAY_TIMEOUT) as response:
                message = json.loads(response.read())
                cached = response.headers.get(CACHE_HEADER) == "hit"
        except urllib.error.HTTPError as exc:
            raise TaskModelError(f"task model {self.model}: {_gateway_error(exc)}") from None
        except (OSError, ValueError) as exc:
            raise TaskModelError(
                f"task model {self.model}: genopt's gateway failed: {_one_line(exc)}"
            ) from None
        return _completion(message, cached=cached)

    def _call(self, body: dict[str, Any]) -> Any:
        """The raw SDK response to ``body`` (outside a run: the SDK reads the key)."""
        import anthropic

        if self._client is None:
            try:
                self._client = anthropic.Anthropic()
            except anthropic.AnthropicError as exc:
                raise TaskModelError(f"task model {self.model}: {_one_line(exc)}") from None
        if self._failed:  # the same outcome for every test, without waiting again
            raise TaskModelError(self._failed)
        try:
            return self._client.messages.with_raw_response.create(**body)
        except anthropic.APIConnectionError as exc:
            self._failed = f"task model {self.model} unreachable: {_one_line(exc)}"
            raise TaskModelError(self._failed) from None
        except anthropic.APIError as exc:
            raise TaskModelError(f"task model {self.model}: {_one_line(exc)}") from None
        except TypeError as exc:  # the SDK found no credentials
            self._failed = (
                f"task model {self.model}: {_one_line(exc)}; set ANTHROPIC_API_KEY, or "
                f"replay a cache with {REPLAY_ENV}=1"
            )
            raise TaskModelError(self._failed) from None


def _gateway_error(error: urllib.error.HTTPError) -> str:
    """The message of an API-shaped error the gateway answered, in one line."""
    try:
        detail = json.loads(error.read())["error"]["message"]
    except (OSError, ValueError, KeyError, TypeError):
        detail = error.reason
    return f"Error code: {error.code} - {one_line(str(detail))}"


def _completion(message: dict[str, Any], *, cached: bool) -> Completion:
    text = "".join(
        str(block.get("text", ""))
        for block in message.get("content", ())
        if isinstance(block, dict) and block.get("type") == "text"
    )
    usage = message.get("usage") or {}
    return Completion(
        text=text,
        input_tokens=int(usage.get("input_tokens") or 0),
        output_tokens=int(usage.get("output_tokens") or 0),
        cached=cached,
    )


def _one_line(exc: BaseException) -> str:
    return one_line(str(exc)) or type(exc).__name__
