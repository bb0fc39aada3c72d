"""The ``python:MODULE:FUNCTION`` backend: a Python function is the optimizer.

``FUNCTION(request: dict) -> dict`` gets the protocol Request as a fresh
JSON-like dict on every call and returns a Response dict.  The module is
imported at the first proposal, with the project's rootdir first on
``sys.path``, so a module next to the tests works without installing it.

Whatever the function returns is validated, never trusted: a value that is
not a valid Response is an invalid proposal with its reason, and one that is
not even JSON-serializable is kept as a clipped preview for the journal.  A
reply over the size or nesting caps is invalid (see
:func:`~pytest_genopt.backends.proposal_from_raw`).  An ordinary exception
raised by the function is a :class:`BackendError` (the iteration is an error
and the run goes on); ``SystemExit``, ``KeyboardInterrupt``, ``RecursionError``,
``MemoryError`` and any other ``BaseException`` cost that proposal only (an
invalid proposal), never the session: a real Ctrl-C is told apart by the loop
through its cancel event.  A module or function that cannot be found is a
:class:`BackendFatal`.  These backends cost nothing: usage is always zero.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from typing import TYPE_CHECKING, Any, cast

from pytest_genopt.backends import BackendError, BackendFatal, Proposal, Usage, proposal_from_raw
from pytest_genopt.protocol import escaped_text, preview, reply_problem

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from pytest_genopt.protocol import Request

_MESSAGE_LIMIT = 300


class PythonBackend:
    """Calls ``FUNCTION(request_dict)`` from ``MODULE`` (``target`` is ``MODULE:FUNCTION``)."""

    name: str

    def __init__(self, target: str, rootdir: Path) -> None:
        module, colon, function = target.rpartition(":")
        if not colon or not module or not function:
            raise BackendFatal(f"python:{target}: expected python:MODULE:FUNCTION")
        self.name = f"python:{target}"
        self.module = module
        self.function = function
        self.rootdir = rootdir
        self._callable: Callable[[dict[str, Any]], Any] | None = None

    def propose(self, request: Request) -> Proposal:
        """Call the function once and validate its answer.

        Raises :class:`BackendFatal` when the function cannot be imported and
        :class:`BackendError` when it raises an ordinary exception.
        """
        function = self._load()
        try:
            raw = function(request.to_json())  # a fresh dict: the function may mutate it
        except (RecursionError, MemoryError) as exc:
            return _invalid(f"{self.name} raised {describe_exception(exc)}", None)
        except Exception as exc:
            raise BackendError(f"{self.name} raised {describe_exception(exc)}") from exc
        except BaseException as exc:
            # SystemExit, KeyboardInterrupt...: the optimizer's own doing, so it costs
            # this proposal, not the session (a real Ctrl-C also sets the run's cancel)
            return _invalid(f"{self.name} raised {describe_exception(exc)}", None)
        if reply_problem(raw) is not None:
            return proposal_from_raw(raw)  # invalid, kept as a clipped preview
        try:
            # The round trip checks the answer can go into the journal as it is
            # validated, and detaches it from objects the function may still change.
            raw = json.loads(json.dumps(raw, allow_nan=False))
        except (TypeError, ValueError, RecursionError) as exc:
            reason = f"the answer is not JSON-serializable: {one_line(str(exc))}"
            return _invalid(reason, preview(raw))
        return proposal_from_raw(raw)

    def worst_case(self, request: Request) -> Usage:
        """Zero: a local function spends no tokens."""
        return Usage()

    def close(self) -> None:
        """Nothing to release; the imported module stays in ``sys.modules``."""

    def _load(self) -> Callable[[dict[str, Any]], Any]:
        if self._callable is not None:
            return self._callable
        root = str(self.rootdir)
        if not sys.path or sys.path[0] != root:
            sys.path.insert(0, root)
        # Finders cache directory listings; a module written after they looked
        # (e.g. by a test or a generator) would otherwise stay invisible.
        importlib.invalidate_caches()
        try:
            module = importlib.import_module(self.module)
        except ImportError as exc:
            raise BackendFatal(
                f"{self.name}: cannot import module {self.module!r} "
                f"from {root}: {one_line(str(exc))}"
            ) from None
        except Exception as exc:
            # a syntax error or a failing module body: nothing to retry
            raise BackendFatal(
                f"{self.name}: importing {self.module!r} raised {describe_exception(exc)}"
            ) from None
        function = getattr(module, self.function, None)
        if function is None:
            raise BackendFatal(f"{self.name}: module {self.module!r} has no {self.function!r}")
        if not callable(function):
            raise BackendFatal(
                f"{self.name}: {self.module}.{self.function} is a "
                f"{type(function).__name__}, not a function"
            )
        self._callable = cast("Callable[[dict[str, Any]], Any]", function)
        return self._callable


def _invalid(reason: str, raw: Any) -> Proposal:
    return Proposal(response=None, invalid_reason=reason, raw=raw)


def one_line(text: str, limit: int = _MESSAGE_LIMIT) -> str:
    """``text`` on one line (whitespace runs collapsed), clipped to ``limit`` characters,
    with text UTF-8 cannot encode shown escaped."""
    flat = escaped_text(re.sub(r"\s+", " ", text).strip())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def describe_exception(exc: BaseException) -> str:
    """``TypeName: message`` on one line, or just the type name when there is no message."""
    try:
        message = one_line(str(exc))
    except Exception:  # the exception's own __str__ is untrusted code too
        message = ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
