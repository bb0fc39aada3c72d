"""The ``exchange:DIR`` backend: a person, or any outside agent, is the optimizer.

File protocol (one exchange per proposal, named by iteration ``I`` and candidate
``C``, both as the loop numbers them: ``3-0`` is iteration 3's first candidate)::

    DIR/I-C.prompt.md       written by pytest-genopt: the prompt an LLM would read,
                            ending with where and how to answer
    DIR/I-C.request.json    written by pytest-genopt: the protocol Request
    DIR/I-C.response.json   written by the optimizer: a protocol Response
    DIR/status.json         written by pytest-genopt: what the run waits for, and
    DIR/status.md           once it ended, how it ended and the decision on each answer

- Nothing is written before the first proposal; ``DIR`` is created then.  Every
  file is written atomically (a temporary file in ``DIR``, fsync'd, then
  renamed), the prompt before the request: once ``I-C.request.json`` exists,
  both are complete.  Temporary files start with ``.`` and end with ``.tmp``.
- The optimizer answers by writing ``I-C.response.json``:
  ``{"edits": [{"parameter": ID, "text": NEW}
  | {"parameter": ID, "search": OLD, "replace": NEW}], "rationale": WHY}``,
  atomically too (a temporary file in ``DIR``, then a rename).
- The run polls for the answer.  It is read as soon as it parses as JSON, or
  once its content has stayed the same for two polls; then text that is not
  UTF-8 JSON is an invalid proposal with the reason, which the optimizer sees
  in the next request's ``history``.  A malformed Response, or one over the
  caps on a reply (:data:`~pytest_genopt.protocol.MAX_REPLY_CHARS`,
  :data:`~pytest_genopt.protocol.MAX_REPLY_DEPTH`), is likewise an invalid
  proposal, never a crash.
- An answer only ever answers the request it was written for: when
  ``I-C.request.json`` already holds the byte-identical request (a resumed run
  asking again), an answer there is used as is; any other ``I-C`` files
  (another run's, or a request that changed) are first moved aside into
  ``DIR/stale/`` as ``I-C.<sha256 prefix of their request>.<kind>``.
- No answer within ``timeout`` seconds stops the run (:class:`BackendFatal`).
- Files are never deleted: ``DIR`` is the transcript of the run.  Every text
  written goes through :func:`pytest_genopt.redaction.redact` first.

The backend prints one line per exchange through ``notify`` (the terminal, in a
pytest run): which answer file it waits for, where its prompt is, and how long.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_genopt.backends import BackendFatal, Proposal, Usage, proposal_from_raw
from pytest_genopt.backends.files import write_atomic, write_redacted
from pytest_genopt.backends.status import ExchangeStatus
from pytest_genopt.prompt import render
from pytest_genopt.protocol import (
    CLIPPED_PREVIEW_CHARS,
    MAX_REPLY_CHARS,
    MAX_REPLY_DEPTH,
    TOO_DEEP,
    TOO_LARGE,
    escaped,
)
from pytest_genopt.redaction import redact

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from pytest_genopt.protocol import Request

#: polls an unparsable answer must stay unchanged before it is taken as final
STABLE_POLLS = 2

#: most bytes read of an answer file: UTF-8 takes at most 4 bytes a character
_MAX_REPLY_BYTES = 4 * MAX_REPLY_CHARS

#: the folder of ``DIR`` where files that answer no current request are moved
STALE = "stale"

_KINDS = ("response.json", "request.json", "prompt.md")  # the answer is moved first


class ExchangeBackend:
    """Writes ``I-C`` request files into ``directory`` and waits for the answer file.

    ``timeout`` is how long one proposal may take (seconds); ``poll`` the time
    between looks at the answer file; ``name`` replaces the default
    ``exchange:<directory>`` (e.g. to show the spec as the user wrote it);
    ``secrets`` are redacted from every file written; ``notify`` gets one line when
    a wait begins.  Construction writes nothing.
    """

    name: str

    def __init__(
        self,
        directory: Path,
        *,
        timeout: float = 3600.0,
        poll: float = 0.2,
        name: str | None = None,
        secrets: Sequence[str] = (),
        notify: Callable[[str], None] | None = None,
    ) -> None:
        if not timeout > 0 or not poll > 0:
            raise ValueError(f"timeout and poll must be positive, got {timeout} and {poll}")
        self.directory = Path(directory)
        self.timeout = timeout
        self.poll = poll
        self.secrets = tuple(secrets)
        self.name = name if name is not None else f"exchange:{directory}"
        self._candidates: dict[int, int] = {}  # iteration -> its next candidate number
        self._lock = threading.Lock()
        self._status = ExchangeStatus(self.directory, self.secrets)
        self._notify = notify

    def propose(self, request: Request) -> Proposal:
        """Write the request for the next candidate of its iteration, wait for the answer.

        Raises :class:`BackendFatal` when the files cannot be written or no
        answer comes within ``timeout``.
        """
        with self._lock:  # candidates may be proposed from several threads
            candidate = self._candidates.get(request.iteration, 0)
            self._candidates[request.iteration] = candidate + 1
        stem = f"{request.iteration}-{candidate}"
        data = redact(escaped(request.to_json()), self.secrets)
        request_text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._set_aside(stem, request_text.encode("utf-8"))
            # the prompt first: the request file's appearance is the "ready" signal
            prompt = render(request).text + self._how_to_answer(stem)
            write_redacted(self.directory / f"{stem}.prompt.md", prompt, self.secrets)
            write_atomic(self.directory / f"{stem}.request.json", request_text)  # redacted above
            self._status.waiting(request.run, stem, _digest(request_text.encode("utf-8")))
        except OSError as exc:
            raise BackendFatal(
                f"exchange: cannot write the request into {self.directory}: {exc.strerror or exc}"
            ) from None
        answer = self.directory.absolute() / f"{stem}.response.json"
        if self._notify is not None:
            self._notify(
                f"genopt: waiting up to {self.timeout:g} s for an answer in {answer} "
                f"(prompt: {answer.with_name(stem + '.prompt.md')})"
            )
        return self._await(answer)

    def worst_case(self, request: Request) -> Usage:
        """Zero: the outside optimizer's spending is not ours to count."""
        return Usage()

    def close(self) -> None:
        """Nothing to release."""

    def conclude(self, stopped: str, decisions: Sequence[Mapping[str, Any]]) -> None:
        """Write ``status.json`` and ``status.md``: how the run ended, the decision on
        each answer.  Raises :class:`BackendFatal` when they cannot be written."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._status.ended(stopped, decisions)
        except OSError as exc:
            raise BackendFatal(
                f"exchange: cannot write the status into {self.directory}: {exc.strerror or exc}"
            ) from None

    # -- files ------------------------------------------------------------------

    def _how_to_answer(self, stem: str) -> str:
        answer = self.directory.absolute() / f"{stem}.response.json"
        return (
            "\n# How to answer\n\n"
            f"Write your answer, one JSON object, to the file\n\n    {answer}\n\n"
            "(write a temporary file in that folder, then rename it to that name). "
            "Its shape:\n\n"
            '    {"rationale": "<why>", "edits": [{"parameter": "<id>", "text": "<new text>"}, '
            '{"parameter": "<id>", "search": "<old>", "replace": "<new>"}]}\n\n'
            'An edit of a file shown as an outline and regions also names its "region" '
            "(the function's qualified name).\n\n"
            f"The request as JSON is {stem}.request.json next to it. An answer longer than "
            f"{MAX_REPLY_CHARS:,} characters or nested deeper than {MAX_REPLY_DEPTH} levels "
            f"is invalid. The run waits {self.timeout:g} s for it; when the run ends, "
            "status.json in that folder says how, and what became of each answer.\n"
        )

    def _set_aside(self, stem: str, request: bytes) -> None:
        """Move the ``stem`` files aside unless they belong to this very request."""
        paths = [self.directory / f"{stem}.{kind}" for kind in _KINDS]
        previous = _read(paths[1])
        if previous == request:
            return  # a resumed run asking again: an answer there answers this request
        present = [(kind, path) for kind, path in zip(_KINDS, paths, strict=True) if path.exists()]
        if not present:
            return
        label = _digest(previous)[:12] if previous is not None else "no-request"
        aside = self.directory / STALE
        aside.mkdir(exist_ok=True)
        for kind, path in present:
            os.replace(path, _free(aside, f"{stem}.{label}", kind))

    def _await(self, path: Path) -> Proposal:
        deadline = time.monotonic() + self.timeout
        previous: bytes | None = None
        unchanged = 0
        while True:
            data = _read(path, limit=_MAX_REPLY_BYTES + 1)
            if data is not None:
                proposal = _decode(path.name, data)
                if proposal is not None:
                    return proposal
                # maybe still being written: only an unchanged file is final
                # (or whatever is there when time is up: an answer, if a bad one)
                unchanged = unchanged + 1 if data == previous else 0
                previous = data
                if unchanged >= STABLE_POLLS or time.monotonic() >= deadline:
                    return _undecodable(path.name, data)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BackendFatal(f"exchange: no answer in {path} after {self.timeout:g} s")
            time.sleep(min(self.poll, remaining))


def _decode(name: str, data: bytes) -> Proposal | None:
    """The proposal in ``data``, or None while it is not (yet) UTF-8 JSON."""
    if len(data) > _MAX_REPLY_BYTES:
        return _clipped(f"{name}: {TOO_LARGE}", data)
    try:
        text = data.decode("utf-8")
        if len(text) > MAX_REPLY_CHARS:
            return _clipped(f"{name}: {TOO_LARGE}", data)
        return proposal_from_raw(json.loads(text))
    except RecursionError:
        return _clipped(f"{name}: {TOO_DEEP}", data)
    except ValueError:  # bad JSON or bad encoding
        return None


def _undecodable(name: str, data: bytes) -> Proposal:
    try:
        json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        reason = f"{name} is not UTF-8 text: {exc.reason} at byte {exc.start}"
    except ValueError as exc:
        reason = f"{name} is not valid JSON: {exc}"
    else:  # cannot happen: it was undecodable a moment ago
        reason = f"{name} could not be read"
    return Proposal(response=None, invalid_reason=reason, raw=_text(data))


def _clipped(reason: str, data: bytes) -> Proposal:
    preview = _text(data[: 4 * CLIPPED_PREVIEW_CHARS])[:CLIPPED_PREVIEW_CHARS]
    raw = f"{preview} ... [clipped: the answer has {len(data):,} bytes or more]"
    return Proposal(response=None, invalid_reason=reason, raw=raw)


def _text(data: bytes) -> str:
    """Bytes as text, with bytes that are not UTF-8 shown escaped (``\\xff``)."""
    return data.decode("utf-8", errors="backslashreplace")


def _digest(data: bytes | None) -> str:
    return hashlib.sha256(data or b"").hexdigest()


def _free(folder: Path, stem: str, kind: str) -> Path:
    """``folder/stem.kind``, or ``stem.N.kind`` when that name is taken (nothing is lost)."""
    path = folder / f"{stem}.{kind}"
    number = 1
    while path.exists():
        path = folder / f"{stem}.{number}.{kind}"
        number += 1
    return path


def _read(path: Path, limit: int = -1) -> bytes | None:
    try:
        with path.open("rb") as file:
            return file.read(limit)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise BackendFatal(f"exchange: cannot read {path}: {exc.strerror or exc}") from None
