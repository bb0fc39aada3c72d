"""Call recording of ``@trainable`` functions and the per-test record behind the fixture.

Outside a run ``@trainable`` returns the function itself, marked with a
``__genopt__`` attribute (a :class:`TrainableInfo`) and remembered: calling it
costs nothing.  When a run starts in a process (:func:`activate`, called by the
plugin's recorder), every trainable decorated so far, and every one decorated
later, gets recording code in place (:mod:`pytest_genopt.instrument`), so that
modules imported before the run was known (initial conftests, ``-p`` plugins)
are recorded through every reference to their functions; :func:`deactivate`
puts the original code back.

While a run is active, each test gets a :class:`TestRecord`; a ``@trainable``
call appends its :data:`CallRecord` to the record's ring buffer (length: the
credit horizon) when it begins and fills in its outcome when it ends.  Arguments
and the value returned are kept as they are when immutable (``values.ATOMS``),
otherwise as bounded snapshots taken when the call began or returned
(:mod:`pytest_genopt.values`).  A call takes its number on the test's clock only
when the clock is next read (:func:`_stamp`); text is rendered only when
:func:`render_trace` builds evidence at the end of the test.
"""

from __future__ import annotations

import inspect
import itertools
import math
import numbers
import types
import weakref
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeAlias, TypeVar, overload

from pytest_genopt import measures
from pytest_genopt.measures import Measure
from pytest_genopt.task_usage import TaskUsage, count
from pytest_genopt.values import (
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
# test is running).  Read by every recorded call: keep it a plain global.
_CURRENT: TestRecord | None = None

# How many runs are active in this process (activate/deactivate pairs), and every
# trainable function decorated in it (weakly: a function made at run time may go).
_RUNS = 0
_TRAINABLES: weakref.WeakSet[types.FunctionType] = weakref.WeakSet()


class TrainableInfo:
    """What the decorator knows about a trainable function (attached as ``__genopt__``)."""

    __slots__ = (
        "_signature",
        "code",
        "description",
        "filename",
        "function",
        "qualname",
        "recorder",
    )

    def __init__(self, function: types.FunctionType, description: str) -> None:
        self.function = function
        self.description = description
        self.qualname: str = function.__qualname__
        #: the function's own code, and the code that records its calls during a run
        self.code: types.CodeType = function.__code__
        self.recorder: types.CodeType | None = None
        self.filename: str = self.code.co_filename
        self._signature: inspect.Signature | None = None

    def signature(self) -> inspect.Signature:
        """The function's signature (computed once, when evidence is first rendered)."""
        if self._signature is None:
            self._signature = inspect.signature(self.function)
        return self._signature


#: One recorded call, as a list made when the call began and completed when it ended:
#: ``[seq, info, kwargs, returned, raised, *args]``: its number on the test's clock
#: (None until :func:`_stamp` gives it one), the trainable, the keyword arguments, the
#: value returned (:data:`RUNNING` until then) or the exception raised (else None), and
#: the positional arguments (every parameter's, defaults included).  An argument or a
#: value is kept as is when immutable (``values.ATOMS``), otherwise as a snapshot taken
#: when the call began (arguments) or ended (value).
CallRecord: TypeAlias = list[Any]


class _Running:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<running>"


#: What a call has returned while it is still running.
RUNNING: Any = _Running()


class TestRecord:
    """Everything one test reported while a run was active (snapshots, not text yet)."""

    __slots__ = ("buffer", "clock", "feedback", "measures", "score", "steps", "usage")
    __test__ = False  # not a test class, despite the name

    def __init__(self, horizon: int | None) -> None:
        #: the calls kept, as recorded: the newest may still be unnumbered (see _stamp)
        self.buffer: deque[CallRecord] = deque(maxlen=horizon)
        self.steps: deque[tuple[int, Node]] = deque(maxlen=horizon)
        self.clock = itertools.count()
        self.score: float | None = None
        self.feedback: list[str] = []
        #: task-model usage (see :mod:`pytest_genopt.task_usage`)
        self.usage: TaskUsage = {}
        #: measured objectives by name (see :mod:`pytest_genopt.measures`)
        self.measures: dict[str, Measure] = {}

    @property
    def calls(self) -> deque[CallRecord]:
        """The calls kept (up to the horizon), each numbered on the test's clock."""
        return _stamp(self)


def _stamp(record: TestRecord) -> deque[CallRecord]:
    """Number the calls recorded since the clock was last read; return the buffer.

    A recorded call takes no number when it begins: that would cost every call a
    counter call and a new int.  The calls made since the clock was last read are the
    unnumbered ones at the end of the current buffer, in the order they began (the
    buffer is stamped before every step, tick and change of buffer), and began after
    every number handed out so far: numbered now, in order, they keep their place
    among the steps.
    """
    buffer = record.buffer
    try:
        fresh = _unnumbered(buffer)
    except RuntimeError:  # "deque mutated during iteration": a call in another thread
        fresh = _unnumbered(list(buffer))  # a copy is made at once
    clock = record.clock
    for call in reversed(fresh):
        call[0] = next(clock)
    return buffer


def _unnumbered(calls: Sequence[CallRecord] | deque[CallRecord]) -> list[CallRecord]:
    """The unnumbered calls at the end of ``calls``, newest first."""
    fresh = []
    for call in reversed(calls):
        if call[0] is not None:
            break
        fresh.append(call)
    return fresh


def activate() -> None:
    """A run starts in this process: from now on every trainable records its calls.

    Pairs with :func:`deactivate`; nested pairs are counted.  All or nothing: when a
    trainable cannot be made to record, those made so far get their code back and the
    error propagates, with no run active.
    """
    global _RUNS
    _RUNS += 1
    if _RUNS > 1:
        return
    from pytest_genopt import instrument

    made: list[tuple[types.FunctionType, TrainableInfo]] = []
    try:
        for function, info in _trainables():
            instrument.record_calls(function, info)
            made.append((function, info))
    except BaseException:
        for function, info in made:
            instrument.plain(function, info)
        _RUNS -= 1
        raise


def deactivate() -> None:
    """A run ends in this process: trainables get their original code back."""
    global _RUNS
    if _RUNS == 0:
        raise RuntimeError("tracing.deactivate() without a matching activate()")
    _RUNS -= 1
    if _RUNS == 0:
        from pytest_genopt import instrument

        for function, info in _trainables():
            instrument.plain(function, info)


def _trainables() -> list[tuple[types.FunctionType, TrainableInfo]]:
    """Every trainable function alive, with its info (unless something replaced it)."""
    pairs = [(function, getattr(function, "__genopt__", None)) for function in _TRAINABLES]
    return [(f, i) for f, i in pairs if isinstance(i, TrainableInfo) and i.function is f]


def run_active() -> bool:
    """Whether a run is active in this process (trainables record their calls)."""
    return _RUNS > 0


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


@overload
def trainable(function: F, /) -> F: ...
@overload
def trainable(*, description: str = "") -> Callable[[F], F]: ...
def trainable(function: F | None = None, /, *, description: str = "") -> F | Callable[[F], F]:
    """Mark a function or method as a parameter the optimizer may rewrite.

    Use as ``@trainable`` or ``@trainable(description="...")``.  The parameter
    is the function's source without its decorators; edits must keep its name.
    Returns the function itself, marked with ``__genopt__`` (its
    :class:`TrainableInfo`).  While a genopt run is active in the process, calls
    are recorded (arguments, return value or exception) as evidence for the
    test that made them; outside a run the function is untouched and costs nothing.
    """

    def decorate(fn: F) -> F:
        if isinstance(fn, (staticmethod, classmethod)):
            raise TypeError(
                "@trainable must be applied below @staticmethod/@classmethod, "
                "directly on the function"
            )
        if not isinstance(fn, types.FunctionType):
            raise TypeError(f"@trainable applies to functions, not {type(fn).__name__}")
        info = getattr(fn, "__genopt__", None)
        if isinstance(info, TrainableInfo) and info.function is fn:
            return fn  # decorated twice: once is enough
        info = TrainableInfo(fn, description)
        fn.__genopt__ = info  # type: ignore[attr-defined]
        _TRAINABLES.add(fn)
        if _RUNS:
            from pytest_genopt import instrument

            instrument.record_calls(fn, info)
        return fn

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
    for seq, info, kwargs, result, exc, *args in list(record.calls):
        if (result is RUNNING and exc is None) or seq is None:
            continue  # no outcome yet, or made in another thread since the line above
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


def _render_args(info: TrainableInfo, args: list[Any], kwargs: dict[str, Any]) -> Any:
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
    if record is None:
        return None
    _stamp(record)
    return next(record.clock)


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
    kept = _stamp(record)
    record.buffer = deque(maxlen=kept.maxlen)
    return kept


def release_calls(kept: deque[CallRecord] | None) -> list[CallRecord]:
    """Give the record its own buffer back and return the calls held since
    :func:`hold_calls` (oldest first), to trace with :func:`put_calls` or drop."""
    record = _CURRENT
    if record is None or kept is None:
        return []
    held = list(_stamp(record))
    record.buffer = kept
    return held


def put_calls(calls: list[CallRecord]) -> None:
    """Trace calls returned by :func:`release_calls` (the horizon still bounds them)."""
    record = _CURRENT
    if record is not None:
        _stamp(record).extend(calls)


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
    and ``trace`` do nothing, ``score`` and ``usage`` only check their arguments,
    and ``measure`` calls its function once (or returns its value) without timing.
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

    def measure(
        self,
        name: str,
        subject: Any,
        /,
        *args: Any,
        repeat: int = 5,
        better: str = "lower",
        weight: float = 1.0,
        **kwargs: Any,
    ) -> Any:
        """Measure an objective of this test: time a call, or report a number.

        ``measure("runtime", fn, *args, **kwargs)`` calls ``fn`` once and returns its
        result; during a run it then times ``repeat`` samples and records their
        median (lower is better), calibrated against a reference workload timed
        alongside, so that a busier machine does not read as slower code.
        ``measure("size", value, better=...)`` records a number above 0.  The run
        judges each measure against the start's (a ratio, higher is better) and
        weighs several by ``weight``; the last call per name wins.
        """
        name, better, weight = measures.checked(name, better, weight)
        record = _CURRENT
        if not callable(subject):
            if args or kwargs:
                raise TypeError("genopt.measure() passes arguments only to a callable")
            measured = measures.value_measure(subject, better, weight)
            if record is not None:
                record.measures[name] = measured
            return subject
        times = measures.repeats(repeat)
        if record is None:  # plain pytest: the test still gets its result, untimed
            return subject(*args, **kwargs)
        started = measures.clock()
        result = subject(*args, **kwargs)  # traced like any call of the test
        first = measures.clock() - started
        with untraced():  # the repeats are not evidence, and recording them would cost time
            samples, reference = measures.time_samples(subject, args, kwargs, times, first)
        record.measures[name] = Measure("time", better, weight, samples, reference)
        return result

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
            _stamp(record)
            record.steps.append((next(record.clock), snapshot_fields(fields)))

    def __repr__(self) -> str:
        # a fixture value shows in failure output (showlocals, parametrize ids): short
        # and the same every run, no address
        horizon = "all" if self.horizon is None else self.horizon
        return f"<genopt horizon={horizon} {'active' if self.active else 'inactive'}>"
