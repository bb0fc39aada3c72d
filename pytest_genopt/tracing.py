"""Call recording of ``@trainable`` functions and the per-test record behind the fixture.

While a run is active, each test gets a :class:`TestRecord`; a ``@trainable``
call appends one tuple to its ring buffer (length: the credit horizon) holding
bounded snapshots of its arguments, taken when the call began, and of its
result (:mod:`pytest_genopt.values`); text is rendered only when
:func:`render_trace` builds evidence at the end of the test.  With no run
active the wrapper's whole cost is one global load and an ``is None`` check.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import math
import numbers
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeAlias, TypeVar, overload

from pytest_genopt.task_usage import TaskUsage, count
from pytest_genopt.values import (
    ATOMS,
    ITEMS,
    MAPPING,
    MAX_STRING,
    Node,
    elide,
    render,
    snapshot,
    snapshot_fields,
    to_json,
)

F = TypeVar("F", bound=Callable[..., Any])

# pytest leaves out of the tracebacks it shows every frame whose locals or globals set
# __tracebackhide__: as a module global it hides the call wrappers (and the fixture's
# argument checks) from every user's failure, with or without a run, at no cost per call
__tracebackhide__ = True

# The record of the test now running, or None when no run is active (or no
# test is running).  Read by every @trainable call: keep it a plain global.
_CURRENT: TestRecord | None = None


class TrainableInfo:
    """What the decorator knows about a trainable function (attached as ``__genopt__``)."""

    __slots__ = ("_signature", "description", "filename", "function", "qualname")

    def __init__(self, function: Callable[..., Any], description: str) -> None:
        self.function = function
        self.description = description
        self.qualname: str = function.__qualname__
        self.filename: str = function.__code__.co_filename
        self._signature: inspect.Signature | None = None

    def signature(self) -> inspect.Signature:
        """The function's signature (computed once, when evidence is first rendered)."""
        if self._signature is None:
            self._signature = inspect.signature(self.function)
        return self._signature


#: One recorded call: sequence number, the trainable, snapshots of the positional and
#: keyword arguments (taken when the call began), of the value returned, and the
#: exception raised (or None).
CallRecord: TypeAlias = tuple[int, TrainableInfo, tuple[Any, ...], dict[str, Any], Any, Any]


class TestRecord:
    """Everything one test reported while a run was active (snapshots, not text yet)."""

    __slots__ = ("calls", "clock", "feedback", "score", "steps", "usage")
    __test__ = False  # not a test class, despite the name

    def __init__(self, horizon: int | None) -> None:
        self.calls: deque[CallRecord] = deque(maxlen=horizon)
        self.steps: deque[tuple[int, Node]] = deque(maxlen=horizon)
        self.clock = itertools.count()
        self.score: float | None = None
        self.feedback: list[str] = []
        #: task-model usage (see :mod:`pytest_genopt.task_usage`)
        self.usage: TaskUsage = {}


def begin_test(horizon: int | None) -> TestRecord:
    """Start recording a test; calls and steps are kept up to ``horizon`` (None: all)."""
    global _CURRENT
    _CURRENT = TestRecord(horizon)
    return _CURRENT


def end_test() -> TestRecord | None:
    """Stop recording and return the finished record."""
    global _CURRENT
    record, _CURRENT = _CURRENT, None
    return record


def current() -> TestRecord | None:
    """The record of the running test, or None when no run is active."""
    return _CURRENT


def _wrap(function: F, info: TrainableInfo) -> F:
    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            record = _CURRENT
            if record is None:
                return await function(*args, **kwargs)
            seq, seen = next(record.clock), _snapshot_args(args)
            named = _snapshot_kwargs(kwargs) if kwargs else kwargs
            try:
                result = await function(*args, **kwargs)
            except BaseException as exc:
                record.calls.append((seq, info, seen, named, None, exc))
                raise
            seen_result = result if type(result) in ATOMS else snapshot(result)
            record.calls.append((seq, info, seen, named, seen_result, None))
            return result

        wrapper: Any = async_wrapper
    else:

        @functools.wraps(function)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            record = _CURRENT
            if record is None:
                return function(*args, **kwargs)
            seq, seen = next(record.clock), _snapshot_args(args)
            named = _snapshot_kwargs(kwargs) if kwargs else kwargs
            try:
                result = function(*args, **kwargs)
            except BaseException as exc:
                record.calls.append((seq, info, seen, named, None, exc))
                raise
            seen_result = result if type(result) in ATOMS else snapshot(result)
            record.calls.append((seq, info, seen, named, seen_result, None))
            return result

        wrapper = sync_wrapper
    wrapper.__genopt__ = info
    return wrapper  # type: ignore[no-any-return]


def _snapshot_args(args: tuple[Any, ...]) -> tuple[Any, ...]:
    # what the call saw, taken now: the test may mutate the arguments (or self) later;
    # immutable scalars are kept as they are without a call (the common case)
    for arg in args:
        if type(arg) not in ATOMS:
            return tuple([snapshot(a) for a in args])
    return args


def _snapshot_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: snapshot(v) for k, v in kwargs.items()}


@overload
def trainable(function: F, /) -> F: ...
@overload
def trainable(*, description: str = "") -> Callable[[F], F]: ...
def trainable(function: F | None = None, /, *, description: str = "") -> F | Callable[[F], F]:
    """Mark a function or method as a parameter the optimizer may rewrite.

    Use as ``@trainable`` or ``@trainable(description="...")``.  The parameter
    is the function's source without its decorators; edits must keep its name.
    While a genopt run is active, calls are recorded (arguments, return value
    or exception) as evidence for the test that made them.
    """

    def decorate(fn: F) -> F:
        if isinstance(fn, (staticmethod, classmethod)):
            raise TypeError(
                "@trainable must be applied below @staticmethod/@classmethod, "
                "directly on the function"
            )
        if not inspect.isfunction(fn):
            raise TypeError(f"@trainable applies to functions, not {type(fn).__name__}")
        return _wrap(fn, TrainableInfo(fn, description))

    if function is not None:
        return decorate(function)
    return decorate


def render_calls(record: TestRecord, ids: Callable[[TrainableInfo], str]) -> list[tuple[int, Any]]:
    """Render recorded calls as JSON-ready dicts keyed by their sequence number.

    Each is ``{"call": id, "args": {name: text}, "returned": text}`` (or ``"raised":
    "Type: message"``), the texts rendered by :func:`pytest_genopt.values.render` from
    the snapshots taken when the call happened.
    """
    rendered: list[tuple[int, Any]] = []
    for seq, info, args, kwargs, result, exc in record.calls:
        item: dict[str, Any] = {"call": ids(info), "args": _render_args(info, args, kwargs)}
        if exc is not None:
            item["raised"] = f"{type(exc).__name__}: {_exception_text(exc)}"
        else:
            item["returned"] = render(result)
        rendered.append((seq, item))
    return rendered


def render_trace(record: TestRecord, ids: Callable[[TrainableInfo], str]) -> list[Any]:
    """The test's trace: recorded steps and calls, each up to the horizon, in time order."""
    events = render_calls(record, ids)
    events.extend((seq, to_json(fields)) for seq, fields in record.steps)
    events.sort(key=lambda event: event[0])
    return [item for _, item in events]


def _render_args(info: TrainableInfo, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    signature = info.signature()
    try:
        bound = signature.bind_partial(*args, **kwargs)
    except (TypeError, ValueError):
        return [render(a) for a in args] + [f"{k}={render(v)}" for k, v in kwargs.items()]
    rendered: dict[str, str] = {}
    for name, value in bound.arguments.items():
        kind = signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:  # a tuple of snapshots
            value = (ITEMS, "(", ",)" if len(value) == 1 else ")", list(value), 0)
        elif kind is inspect.Parameter.VAR_KEYWORD:  # a dict of snapshots
            value = (MAPPING, "{", "}", list(value.items()), 0)
        rendered[name] = render(value)
    return rendered


def _exception_text(exc: BaseException) -> str:
    try:
        return elide(str(exc), MAX_STRING)
    except Exception:  # a broken __str__ must not cost the test its evidence
        return "<unprintable>"


def jsonable(value: Any) -> Any:
    """A bounded JSON-ready rendering of a traced value, as it is now."""
    return to_json(snapshot(value))


def tick() -> int | None:
    """The next number on the running test's clock (None with no run active).

    A rollout that decides later whether a step is worth tracing takes the step's
    number when it happens and passes it to :func:`trace_at`, so that the step keeps
    its place among the calls around it.
    """
    record = _CURRENT
    return None if record is None else next(record.clock)


def trace_at(seq: int, fields: dict[str, Any]) -> None:
    """Record a step numbered ``seq`` (from :func:`tick`; numbers must not decrease)."""
    record = _CURRENT
    if record is not None:
        record.steps.append((seq, snapshot_fields(fields)))


def hold_calls() -> deque[CallRecord] | None:
    """Send the running test's next calls to a fresh buffer, until :func:`release_calls`.

    A rollout holds each step's calls back until it knows whether the step is worth
    tracing; the record's own buffer (returned, to pass to :func:`release_calls`) keeps
    what it had, and later calls cannot push the calls already traced out of it.
    """
    record = _CURRENT
    if record is None:
        return None
    kept, record.calls = record.calls, deque(maxlen=record.calls.maxlen)
    return kept


def release_calls(kept: deque[CallRecord] | None) -> list[CallRecord]:
    """Give the record its own buffer back and return the calls held since
    :func:`hold_calls` (oldest first), to trace with :func:`put_calls` or drop."""
    record = _CURRENT
    if record is None or kept is None:
        return []
    held, record.calls = record.calls, kept
    return list(held)


def put_calls(calls: list[CallRecord]) -> None:
    """Trace calls returned by :func:`release_calls` (the horizon still bounds them)."""
    record = _CURRENT
    if record is not None:
        record.calls.extend(calls)


@contextmanager
def untraced() -> Iterator[None]:
    """Record nothing inside the block: ``@trainable`` calls run unrecorded and the
    fixture's methods do nothing, e.g. for an evaluation whose steps are not evidence
    (recording its thousands of calls would only be pushed out of the horizon)."""
    global _CURRENT
    record, _CURRENT = _CURRENT, None
    try:
        yield
    finally:
        _CURRENT = record


class TrialReporter:
    """The ``genopt`` fixture: what a test tells the optimizer.

    Every method is safe under plain pytest: with no run active, ``feedback``
    and ``trace`` do nothing and ``score`` and ``usage`` only check their arguments.
    """

    __slots__ = ("horizon",)

    def __init__(self, horizon: int | None) -> None:
        #: the run's credit horizon (None: all), so rollouts can size what they trace
        self.horizon = horizon

    @property
    def active(self) -> bool:
        """Whether a genopt run is recording this test."""
        return _CURRENT is not None

    def score(self, value: float) -> None:
        """Set this test's value in the objective (higher is better; the last call wins)."""
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"genopt.score() takes a number, got {type(value).__name__}")
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"genopt.score() takes a finite number, got {number}")
        record = _CURRENT
        if record is not None:
            record.score = number

    def feedback(self, text: str) -> None:
        """Add words for the optimizer about this test's result."""
        record = _CURRENT
        if record is not None:
            record.feedback.append(str(text))

    def usage(
        self, input_tokens: int, output_tokens: int, *, model: str = "", cached: bool = False
    ) -> None:
        """Report one call of the task model this test made (its tokens, per ``model``).

        ``cached=True``: the answer came from a cache; the call is counted as cached and
        its tokens apart from those spent.  A run reports the sum as ``task_usage``.
        """
        for name, tokens in (("input_tokens", input_tokens), ("output_tokens", output_tokens)):
            if isinstance(tokens, bool) or not isinstance(tokens, int):
                raise TypeError(
                    f"genopt.usage() takes {name} as an int, got {type(tokens).__name__}"
                )
            if tokens < 0:
                raise ValueError(f"genopt.usage() takes {name} >= 0, got {tokens}")
        if not isinstance(model, str):
            raise TypeError(f"genopt.usage() takes model as a str, got {type(model).__name__}")
        if not isinstance(cached, bool):
            raise TypeError(f"genopt.usage() takes cached as a bool, got {type(cached).__name__}")
        record = _CURRENT
        if record is not None:
            count(record.usage, model, input_tokens, output_tokens, cached=cached)

    def trace(self, **fields: Any) -> None:
        """Record one step of a rollout or pipeline; the last ``horizon`` steps are kept.

        The fields are summarised now (bounded), so later changes to them do not show.
        """
        record = _CURRENT
        if record is not None:
            record.steps.append((next(record.clock), snapshot_fields(fields)))

    def __repr__(self) -> str:
        # a fixture value shows in failure output (showlocals, parametrize ids): short
        # and the same every run, no address
        horizon = "all" if self.horizon is None else self.horizon
        return f"<genopt horizon={horizon} {'active' if self.active else 'inactive'}>"
