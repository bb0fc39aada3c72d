"""Record backend exchanges to a cassette (``--genopt-record``) and replay them (``replay:PATH``).

A cassette is one versioned JSON file::

    {"cassette": 1,
     "exchanges": [
       {"request": <Request JSON without "run">,
        "proposal": {"raw": <what the backend answered>, "invalid_reason": str | null,
                     "usage": <Usage JSON>}},
       {"request": <Request JSON without "run">,
        "error": {"kind": "error" | "fatal", "message": str}},
       ...]}

Exchanges are in the order they happened.  The run id is left out of each
request so that a replay, which is a new run, still matches.  Every string
(keys included) has had the machine's secrets replaced by ``[redacted]``
before it is written (see :mod:`pytest_genopt.redaction`); replaying redacts
the new requests the same way before comparing.

Replay finds each request's answer in one of two ways (ini ``genopt_replay_match``):

- ``position`` (the default): the exchange recorded for the same iteration and
  candidate (the k-th request of iteration I answers with the k-th exchange
  recorded for iteration I), whatever the request holds now.  A cassette so
  survives changes to the request (a reworded prompt, a new trace field)
  that leave the run's course the same; the edits are still checked against
  the parameters as they are now, like any proposal.
- ``request``: the first not-yet-used exchange whose request is equal to it,
  so a deterministic run replays offline, for free and identically; anything
  else stops with the first field that differs.
"""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_genopt.backends import (
    BackendError,
    BackendFatal,
    Proposal,
    Usage,
    conclude,
    proposal_from_raw,
)
from pytest_genopt.backends.files import write_redacted
from pytest_genopt.protocol import escaped, preview, reply_problem
from pytest_genopt.redaction import redact

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from pytest_genopt.backends import Backend
    from pytest_genopt.protocol import Request

#: the cassette format this module writes and reads
CASSETTE_VERSION = 1
#: the ways replay finds a request's answer; the first is the default
MATCHES = ("position", "request")

_CLIP = 80
#: characters shown before the first difference of two long strings
_CONTEXT = 20


class _Absent:
    """Stands for a missing dict key or list item in a comparison."""

    def __repr__(self) -> str:
        return "<absent>"


_ABSENT = _Absent()


def normalize_request(request: Request) -> dict[str, Any]:
    """The request as a cassette stores it: its JSON, as read back from a file, minus ``run``."""
    # the round trip turns tuples into lists, exactly as a loaded cassette has them
    data: dict[str, Any] = json.loads(json.dumps(request.to_json(), default=repr))
    data.pop("run", None)
    return data


class RecordingBackend:
    """Passes every request to ``inner`` and writes each exchange to the cassette at ``path``.

    The whole cassette is rewritten atomically after every exchange (so an
    interrupted run leaves a valid file); the first exchange replaces any file
    already there.  :class:`BackendError` and :class:`BackendFatal` are recorded,
    then raised again.  ``secrets`` are replaced by ``[redacted]`` in everything
    written.
    """

    name: str

    def __init__(self, inner: Backend, path: Path, secrets: Sequence[str]) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise BackendFatal(f"record: the cassette {self.path} is a directory")
        self.inner = inner
        self.secrets = tuple(secrets)
        self.name = inner.name
        self._exchanges: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def propose(self, request: Request) -> Proposal:
        """Ask ``inner``, record the outcome, return (or raise) it unchanged."""
        recorded = normalize_request(request)
        try:
            proposal = self.inner.propose(request)
        except BackendFatal as exc:
            self._record({"request": recorded, "error": {"kind": "fatal", "message": str(exc)}})
            raise
        except BackendError as exc:
            self._record({"request": recorded, "error": {"kind": "error", "message": str(exc)}})
            raise
        self._record(
            {
                "request": recorded,
                "proposal": {
                    "raw": _jsonable(proposal.raw),
                    "invalid_reason": proposal.invalid_reason,
                    "usage": proposal.usage.to_json(),
                },
            }
        )
        return proposal

    def worst_case(self, request: Request) -> Usage:
        """What ``inner`` says."""
        return self.inner.worst_case(request)

    def close(self) -> None:
        """Close ``inner``; the cassette is already complete on disk."""
        self.inner.close()

    def conclude(self, stopped: str, decisions: Sequence[Mapping[str, Any]]) -> None:
        """Pass the end-of-run notice on to ``inner`` (the cassette needs none)."""
        conclude(self.inner, stopped, decisions)

    def _record(self, exchange: dict[str, Any]) -> None:
        with self._lock:
            # redacted before it is kept at all, so no later write can leak it
            self._exchanges.append(redact(escaped(exchange), self.secrets))
            document = {"cassette": CASSETTE_VERSION, "exchanges": self._exchanges}
            text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                write_redacted(self.path, text, self.secrets)
            except OSError as exc:
                raise BackendFatal(
                    f"record: cannot write the cassette {self.path}: {exc.strerror or exc}"
                ) from None


class ReplayBackend:
    """Answers requests from the cassette at ``path``, in order, without calling anyone.

    The cassette is read (and checked) at construction: a missing or malformed
    file raises :class:`BackendFatal`.  ``secrets`` are redacted from incoming
    requests before they are compared, as they were when recording.
    """

    name: str

    def __init__(
        self,
        path: Path,
        *,
        secrets: Sequence[str] = (),
        name: str | None = None,
        match: str = MATCHES[0],
    ) -> None:
        if match not in MATCHES:
            raise ValueError(f"match must be one of {MATCHES}, not {match!r}")
        self.path = Path(path)
        self.secrets = tuple(secrets)
        self.name = name if name is not None else f"replay:{path}"
        self.match = match
        self._exchanges = _load(self.path)
        self._used = [False] * len(self._exchanges)
        self._asked: dict[int, int] = {}  # iteration -> requests answered for it so far
        self._lock = threading.Lock()

    def propose(self, request: Request) -> Proposal:
        """The recorded outcome for ``request`` (see the module docstring).

        Recorded errors are raised again as :class:`BackendError` or
        :class:`BackendFatal`; a request the cassette has no answer for is a
        :class:`BackendFatal` saying why.
        """
        with self._lock:
            index, problem = self._lookup(request)
            if index is None:
                raise BackendFatal(problem)
            self._used[index] = True
            self._asked[request.iteration] = self._asked.get(request.iteration, 0) + 1
        return _outcome(self._exchanges[index])

    def worst_case(self, request: Request) -> Usage:
        """The recorded usage of the exchange that would answer ``request``, else zero."""
        with self._lock:
            index, _ = self._lookup(request)
        if index is None or "proposal" not in self._exchanges[index]:
            return Usage()
        return Usage.from_json(self._exchanges[index]["proposal"]["usage"])

    def _lookup(self, request: Request) -> tuple[int | None, str]:
        """The index of the exchange that answers ``request``, or None and why not."""
        if self.match == "position":
            candidate = self._asked.get(request.iteration, 0)
            recorded = [
                i
                for i, exchange in enumerate(self._exchanges)
                if exchange["request"].get("iteration") == request.iteration
            ]
            if candidate < len(recorded):
                return recorded[candidate], ""
            held = sorted({e["request"].get("iteration") for e in self._exchanges}, key=str)
            return None, (
                f"replay: {self.path} has no exchange for iteration {request.iteration}, "
                f"candidate {candidate} (it holds {len(self._exchanges)} exchanges, for "
                f"iterations {', '.join(map(str, held)) or 'none'})"
            )
        current = redact(escaped(normalize_request(request)), self.secrets)
        index = self._find(current)
        if index is None:
            return None, self._mismatch(request.iteration, current)
        return index, ""

    def close(self) -> None:
        """Nothing to release: the cassette was read at construction."""

    @property
    def remaining(self) -> int:
        """How many recorded exchanges have not been replayed yet."""
        return self._used.count(False)

    def _find(self, current: dict[str, Any]) -> int | None:
        for index, exchange in enumerate(self._exchanges):
            if not self._used[index] and _first_difference(exchange["request"], current) is None:
                return index
        return None

    def _mismatch(self, iteration: int, current: dict[str, Any]) -> str:
        head = f"replay: request for iteration {iteration} is not in {self.path}"
        pending = next((i for i, used in enumerate(self._used) if not used), None)
        if pending is None:
            return f"{head}: the cassette has no more exchanges ({len(self._exchanges)} recorded)"
        difference = _first_difference(self._exchanges[pending]["request"], current)
        if difference is None:  # cannot happen: an equal request would have been found
            return head
        where, recorded, value = difference
        shown, other = _show_pair(recorded, value)
        return f"{head}: first difference at {where}: {shown} != {other}"


def _outcome(exchange: dict[str, Any]) -> Proposal:
    if "error" in exchange:
        error = exchange["error"]
        kind = BackendFatal if error["kind"] == "fatal" else BackendError
        raise kind(error["message"])
    recorded = exchange["proposal"]
    usage = Usage.from_json(recorded["usage"])
    raw = copy.deepcopy(recorded["raw"])  # the caller may keep and alter it
    proposal = proposal_from_raw(raw, usage)
    reason = recorded["invalid_reason"]
    # The recorded verdict wins: it may come from a check this raw cannot show
    # (e.g. an answer that was not JSON-serializable, kept as its repr).
    if reason is not None and proposal.invalid_reason != reason:
        proposal = Proposal(response=None, invalid_reason=reason, raw=raw, usage=usage)
    return proposal


def _load(path: Path) -> list[dict[str, Any]]:
    """Read and check a cassette; every problem is a one-line BackendFatal."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BackendFatal(
            f"replay: cannot read the cassette {path}: {exc.strerror or exc}"
        ) from None
    except UnicodeDecodeError as exc:
        raise BackendFatal(f"replay: {path} is not a cassette: not UTF-8 text ({exc})") from None
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise BackendFatal(f"replay: {path} is not a cassette: invalid JSON: {exc}") from None
    except RecursionError:
        raise BackendFatal(f"replay: {path} is not a cassette: nested too deeply") from None
    if not isinstance(document, dict) or "cassette" not in document:
        raise BackendFatal(
            f'replay: {path} is not a cassette: expected a JSON object with a "cassette" version'
        )
    version = document["cassette"]
    if type(version) is not int or version != CASSETTE_VERSION:
        raise BackendFatal(
            f"replay: {path} is a cassette of version {version!r}; "
            f"supported versions: {CASSETTE_VERSION}"
        )
    exchanges = document.get("exchanges")
    if not isinstance(exchanges, list):
        raise BackendFatal(f'replay: {path} is not a cassette: "exchanges" must be a list')
    for index, exchange in enumerate(exchanges):
        problem = _check_exchange(exchange)
        if problem:
            raise BackendFatal(f"replay: {path}: exchange {index} is malformed: {problem}")
    return exchanges


def _check_exchange(exchange: object) -> str | None:
    if not isinstance(exchange, dict):
        return "not an object"
    if not isinstance(exchange.get("request"), dict):
        return '"request" must be an object'
    if ("proposal" in exchange) == ("error" in exchange):
        return 'it needs exactly one of "proposal" and "error"'
    if "error" in exchange:
        error = exchange["error"]
        if not isinstance(error, dict) or error.get("kind") not in ("error", "fatal"):
            return '"error" needs a "kind" of "error" or "fatal"'
        if not isinstance(error.get("message"), str):
            return '"error" needs a string "message"'
        return None
    proposal = exchange["proposal"]
    if not isinstance(proposal, dict) or "raw" not in proposal:
        return '"proposal" must be an object with "raw"'
    reason = proposal.setdefault("invalid_reason", None)
    if reason is not None and not isinstance(reason, str):
        return '"invalid_reason" must be a string or null'
    usage = proposal.setdefault("usage", {})
    if not isinstance(usage, dict):
        return '"usage" must be an object'
    try:
        Usage.from_json(usage)
    except (TypeError, ValueError):
        return '"usage" must hold numbers'
    return None


def _first_difference(recorded: Any, current: Any, where: str = "") -> tuple[str, Any, Any] | None:
    """The path of the first differing field and both values there, or None when equal.

    Dict keys are compared in sorted order (except the request's own ``prompt``,
    rendered from the rest, which comes last), lists item by item and then by length.
    """
    if isinstance(recorded, dict) and isinstance(current, dict):
        keys = sorted(set(recorded) | set(current), key=str)
        if not where and "prompt" in keys:
            # the request's prompt is rendered from the other fields: name its cause instead
            keys.remove("prompt")
            keys.append("prompt")
        for key in keys:
            here = f"{where}.{key}" if where else str(key)
            if key not in recorded or key not in current:
                return here, recorded.get(key, _ABSENT), current.get(key, _ABSENT)
            found = _first_difference(recorded[key], current[key], here)
            if found is not None:
                return found
        return None
    if isinstance(recorded, list) and isinstance(current, list):
        for index, (left, right) in enumerate(zip(recorded, current, strict=False)):
            found = _first_difference(left, right, f"{where}[{index}]")
            if found is not None:
                return found
        if len(recorded) != len(current):
            index = min(len(recorded), len(current))
            return (
                f"{where}[{index}]",
                recorded[index] if index < len(recorded) else _ABSENT,
                current[index] if index < len(current) else _ABSENT,
            )
        return None
    if _same(recorded, current):
        return None
    return where or "(the request)", recorded, current


def _same(left: Any, right: Any) -> bool:
    def number(value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    if number(left) and number(right):
        # NaN is a value a score can take; it must match itself here
        return bool(left == right or (left != left and right != right))
    return type(left) is type(right) and bool(left == right)


def _show(value: Any) -> str:
    if value is _ABSENT:
        return "<absent>"
    return _clip(json.dumps(value, ensure_ascii=False, sort_keys=True, default=repr))


def _show_pair(recorded: Any, current: Any) -> tuple[str, str]:
    """Both values for a message; two long strings are shown from just before they differ."""
    if not (isinstance(recorded, str) and isinstance(current, str)):
        return _show(recorded), _show(current)
    same = 0
    for left, right in zip(recorded, current, strict=False):
        if left != right:
            break
        same += 1
    if len(json.dumps(recorded[: same + 1], ensure_ascii=False)) <= _CLIP - _CONTEXT:
        return _show(recorded), _show(current)  # the difference is visible from the start
    start = same - _CONTEXT

    def window(text: str) -> str:
        return _clip('"...' + json.dumps(text[start:], ensure_ascii=False)[1:])

    return window(recorded), window(current)


def _clip(text: str) -> str:
    return text if len(text) <= _CLIP else text[: _CLIP - 3] + "..."


def _jsonable(value: Any) -> Any:
    """``value`` as plain JSON data; a value over the caps on a reply, or that cannot
    be made JSON, becomes a clipped preview."""
    if reply_problem(value) is not None:
        return preview(value)
    try:
        return json.loads(json.dumps(value, default=repr))
    except (TypeError, ValueError, RecursionError):
        return preview(value)
