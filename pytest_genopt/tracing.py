"""Call recording of ``@trainable`` functions and the per-test record behind the fixture.

While a run is active, each test gets a :class:`TestRecord`; a ``@trainable``
call appends one tuple of references to its ring buffer (length: the credit
horizon) and nothing is rendered until :func:`render_trace` builds evidence at
the end of the test.  With no run active the wrapper's whole cost is one
global load and an ``is None`` check.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import math
import numbers
import reprlib
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar, overload

F = TypeVar("F", bound=Callable[..., Any])

# The record of the test now running, or None when no run is active (or no
# test is running).  Read by every @trainable call: keep it a plain global.
_CURRENT: TestRecord | None = None

_MAX_TRACE_DEPTH = 4
_MAX_TRACE_ITEMS = 32

_repr = reprlib.Repr()
_repr.maxstring = 120
_repr.maxother = 120
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 12
_repr.maxlevel = 3


class TrainableInfo:
    """What the decorator knows about a trainable function (attached as ``__genopt__``)."""

    __slots__ = ("description", "filename", "function", "qualname")

    def __init__(self, function: Callable[..., Any], description: str) -> None:
        self.function = function
        self.description = description
        self.qualname: str = function.__qualname__
        self.filename: str = function.__code__.co_filename


class TestRecord:
    """Everything one test reported while a run was active (references, not text)."""

    __slots__ = ("calls", "clock", "feedback", "score", "steps")
    __test__ = False  # not a test class, despite the name

    def __init__(self, horizon: int | None) -> None:
        self.calls: deque[tuple[int, TrainableInfo, tuple[Any, ...], dict[str, Any], Any, Any]]
        self.calls = deque(maxlen=horizon)
        self.steps: deque[tuple[int, dict[str, Any]]] = deque(maxlen=horizon)
        self.clock = itertools.count()
        self.score: float | None = None
        self.feedback: list[str] = []


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
            try:
                result = await function(*args, **kwargs)
            except BaseException as exc:
                record.calls.append((next(record.clock), info, args, kwargs, None, exc))
                raise
            record.calls.append((next(record.clock), info, args, kwargs, result, None))
            return result

        wrapper: Any = async_wrapper
    else:

        @functools.wraps(function)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            record = _CURRENT
            if record is None:
                return function(*args, **kwargs)
            try:
                result = function(*args, **kwargs)
            except BaseException as exc:
                record.calls.append((next(record.clock), info, args, kwargs, None, exc))
                raise
            record.calls.append((next(record.clock), info, args, kwargs, result, None))
            return result

        wrapper = sync_wrapper
    wrapper.__genopt__ = info
    return wrapper  # type: ignore[no-any-return]


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
    """Render recorded calls as JSON-ready dicts keyed by their sequence number."""
    rendered: list[tuple[int, Any]] = []
    for seq, info, args, kwargs, result, exc in record.calls:
        item: dict[str, Any] = {"call": ids(info), "args": _render_args(info, args, kwargs)}
        if exc is not None:
            item["raised"] = f"{type(exc).__name__}: {_clip(str(exc))}"
        else:
            item["returned"] = _repr.repr(result)
        rendered.append((seq, item))
    return rendered


def render_trace(record: TestRecord, ids: Callable[[TrainableInfo], str]) -> list[Any]:
    """The test's trace: recorded steps and calls, each up to the horizon, in time order."""
    events = render_calls(record, ids)
    events.extend((seq, jsonable(fields)) for seq, fields in record.steps)
    events.sort(key=lambda event: event[0])
    return [item for _, item in events]


def _render_args(info: TrainableInfo, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    try:
        bound = inspect.signature(info.function).bind_partial(*args, **kwargs)
    except (TypeError, ValueError):
        return [_repr.repr(a) for a in args] + [f"{k}={_repr.repr(v)}" for k, v in kwargs.items()]
    return {name: _repr.repr(value) for name, value in bound.arguments.items()}


def jsonable(value: Any, depth: int = 0) -> Any:
    """A bounded JSON-ready rendering of a traced value (repr for anything exotic)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _clip(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        return number if math.isfinite(number) else str(number)
    if depth >= _MAX_TRACE_DEPTH:
        return _repr.repr(value)
    if isinstance(value, dict):
        items = list(value.items())[:_MAX_TRACE_ITEMS]
        return {str(k): jsonable(v, depth + 1) for k, v in items}
    as_dict = _fields_of(value)
    if as_dict is not None:
        return {k: jsonable(v, depth + 1) for k, v in as_dict.items()}
    if isinstance(value, (list, tuple, set, frozenset, deque)):
        items = list(value)
        out = [jsonable(v, depth + 1) for v in items[:_MAX_TRACE_ITEMS]]
        if len(items) > _MAX_TRACE_ITEMS:
            out.append(f"... {len(items) - _MAX_TRACE_ITEMS} more")
        return out
    tolist = getattr(value, "tolist", None)  # numpy arrays and scalars
    if callable(tolist) and getattr(value, "size", _MAX_TRACE_ITEMS + 1) <= _MAX_TRACE_ITEMS:
        return jsonable(tolist(), depth + 1)
    return _repr.repr(value)


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _fields_of(value: Any) -> dict[str, Any] | None:
    asdict = getattr(value, "_asdict", None)  # NamedTuple
    if callable(asdict) and isinstance(value, tuple):
        result: dict[str, Any] = asdict()
        return result
    fields = getattr(type(value), "__dataclass_fields__", None)
    if fields is not None and not isinstance(value, type):
        return {name: getattr(value, name) for name in fields}
    return None


class TrialReporter:
    """The ``genopt`` fixture: what a test tells the optimizer.

    Every method is safe under plain pytest: with no run active, ``feedback``
    and ``trace`` do nothing and ``score`` only checks its argument.
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

    def trace(self, **fields: Any) -> None:
        """Record one step of a rollout or pipeline; the last ``horizon`` steps are kept."""
        record = _CURRENT
        if record is not None:
            record.steps.append((next(record.clock), fields))
