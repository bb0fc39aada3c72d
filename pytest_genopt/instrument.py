"""Recording code for ``@trainable`` functions, switched in and out of the function in place.

Outside a run a trainable is the function as written.  When a run starts in a process
(:func:`pytest_genopt.tracing.activate`), :func:`record_calls` gives each trainable a new
``__code__``: a recorder with the function's own signature that notes the call in the
running test's record and runs the function's code; :func:`plain` puts the original
code back.  Changing the function object itself, rather than rebinding names to
a wrapper, reaches every reference made before the run started: ``from policy import
act`` in another module, methods and subclasses, dispatch tables, callbacks registered
at import time, bound methods and partials.

Where the function's source is exactly what runs, the recorder is compiled into the
function's own body instead (:mod:`pytest_genopt.inline`, from :data:`_INLINE`): one
frame a call, no copy.  Elsewhere the recorder's code is compiled from a template once
per signature.  Either way the objects it uses (the copy, the trainable's info, the
tracing module) are put into its constants, since its globals are the user's module
and its closure cells are the function's own.
"""

from __future__ import annotations

import inspect
import itertools
import linecache
import re
import sys
import textwrap
import types
import warnings
from typing import TYPE_CHECKING, Any

from pytest_genopt import tracing
from pytest_genopt.values import ATOMS, snapshot

if TYPE_CHECKING:
    from pytest_genopt.tracing import TrainableInfo

_PLACEHOLDER = "\0genopt:"
_C = '"\\0genopt:'  # how a placeholder constant begins in the template's source
_FILENAME = "<genopt recorder {}>"
_NO_KEYWORDS: dict[str, Any] = {}
_COMPILED: dict[str, types.CodeType] = {}
_INLINED: dict[int, tuple[types.CodeType, types.CodeType | None]] = {}
_NUMBERS = itertools.count(1)


def record_calls(function: types.FunctionType, info: TrainableInfo) -> None:
    """Make ``function`` record its calls into the running test's record."""
    if info.recorder is None:
        try:
            recorder = _inlined(function, info)
        except Exception:  # a fault of the inlining: the template records the same calls
            recorder = None
        info.recorder = recorder or _recorder_code(function, info)
    function.__code__ = info.recorder


def _inlined(function: types.FunctionType, info: TrainableInfo) -> types.CodeType | None:
    """The recorder compiled into the function's own body (one frame a call), or None
    where its source is not what runs (:mod:`pytest_genopt.inline`), or where a tracer
    (coverage, a debugger) watches this process: it would see the body's lines run in
    an order the file does not have (coverage's branches), where the template recorder
    leaves the function's own code as it is."""
    from pytest_genopt.inline import inline_recorder

    if sys.gettrace() is not None:
        return None
    code = info.code
    # once per code object: a factory's closures share it, and inlining costs
    # milliseconds (source read, parsed, compiled twice) where placing costs microseconds
    known = _INLINED.get(id(code))
    if known is None or known[0] is not code:  # the code is kept: its id is not reused
        recorder = inline_recorder(code, *_inline_shapes(code), function)
        known = _INLINED[id(code)] = (code, recorder)
    recorder = known[1]
    return None if recorder is None else _placed(recorder, _objects(function, info))


def plain(function: types.FunctionType, info: TrainableInfo) -> None:
    """Give ``function`` its original code back."""
    function.__code__ = info.code


def _recorder_code(function: types.FunctionType, info: TrainableInfo) -> types.CodeType:
    code = info.code
    template = _template(_source(code))
    recorder = _placed(template, _objects(function, info)).replace(co_name=code.co_name)
    if sys.version_info >= (3, 11):
        recorder = recorder.replace(co_qualname=code.co_qualname)
    if code.co_flags & inspect.CO_ITERABLE_COROUTINE:  # @types.coroutine: awaitable
        recorder = recorder.replace(co_flags=recorder.co_flags | inspect.CO_ITERABLE_COROUTINE)
    return recorder


def _placed(code: types.CodeType, objects: dict[str, Any]) -> types.CodeType:
    """``code`` with its placeholder constants replaced by the objects they name."""
    constants = tuple(objects.get(c, c) if isinstance(c, str) else c for c in code.co_consts)
    return code.replace(co_consts=constants)


def _objects(function: types.FunctionType, info: TrainableInfo) -> dict[str, Any]:
    """Each placeholder constant of a recorder and the object it stands for."""
    code = info.code
    # the function object itself will run the recorder; the recorder calls this copy,
    # which runs the original code with the function's globals and closure cells
    original = types.FunctionType(
        code, function.__globals__, function.__name__, function.__defaults__, function.__closure__
    )
    original.__kwdefaults__ = function.__kwdefaults__
    original.__qualname__ = function.__qualname__
    objects = {
        "tracing": tracing,
        "function": original,
        "info": info,
        "type": type,
        "int": int,
        "float": float,
        "str": str,
        "map": map,
        "running": tracing.RUNNING,
        "atoms": ATOMS,
        "snapshot": snapshot,
        "snapshot_call": _snapshot_call,
        "snapshot_kwargs": _snapshot_kwargs,
        "BaseException": BaseException,
        "GeneratorExit": GeneratorExit,
        "StopAsyncIteration": StopAsyncIteration,
        "no_keywords": _NO_KEYWORDS,
    }
    return {_PLACEHOLDER + name: value for name, value in objects.items()}


def _template(source: str) -> types.CodeType:
    """The recorder's code compiled from ``source`` (once per distinct source)."""
    compiled = _COMPILED.get(source)
    if compiled is None:
        filename = _FILENAME.format(next(_NUMBERS))
        # placeholders are string constants called or used as objects: no mistake here
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            namespace: dict[str, Any] = {}
            exec(compile(source, filename, "exec"), namespace)
        compiled = _COMPILED[source] = namespace["make_recorder"]().__code__
        # a traceback printed outside pytest shows the recorder's lines, placeholders
        # by their names ("function(x)" rather than a string constant called)
        shown = re.sub(r'"\\0genopt:(\w+)"', r"\1", source)
        linecache.cache[filename] = (len(shown), None, shown.splitlines(True), filename)
    return compiled


def _source(code: types.CodeType) -> str:
    """Source of a recorder with the signature of ``code`` (names, kinds, closure size)."""
    prefix, parts = _parts(code)
    template = _TEMPLATE
    # a generator's recorder is a generator too: 3.13 deprecates giving a function code
    # of another kind (a warning, an error under -W error)
    if code.co_flags & (inspect.CO_GENERATOR | inspect.CO_ASYNC_GENERATOR):
        parts["named"] = textwrap.indent(parts["named"], "    ")
        generator = code.co_flags & inspect.CO_GENERATOR
        template = _GENERATOR if generator else _ASYNC_GENERATOR
    # the recorder's own names get the prefix before any of the function's names go in
    return template.replace("_genopt_", prefix).format(**parts)


def _parts(code: types.CodeType) -> tuple[str, dict[str, str]]:
    """The prefix of the recorder's own names for ``code``, and the pieces of its source."""
    names = code.co_varnames
    positional = list(names[: code.co_argcount])
    keywords = list(names[code.co_argcount : code.co_argcount + code.co_kwonlyargcount])
    rest = names[code.co_argcount + code.co_kwonlyargcount :]
    varargs = rest[0] if code.co_flags & inspect.CO_VARARGS else ""
    varkw = rest[1 if varargs else 0] if code.co_flags & inspect.CO_VARKEYWORDS else ""
    taken: set[str] = set()
    codes = [code]
    while codes:  # nested functions too: the inlined recorder's locals would be their cells
        each = codes.pop()
        taken.update(each.co_varnames, each.co_freevars, each.co_cellvars, each.co_names)
        codes += [c for c in each.co_consts if isinstance(c, types.CodeType)]
    prefix = "_genopt_"
    while any(name.startswith(prefix) for name in taken):
        prefix += "_"
    params = list(positional)
    if code.co_posonlyargcount:
        params.insert(code.co_posonlyargcount, "/")
    if varargs or keywords:
        params.append(f"*{varargs}")
    params += keywords
    if varkw:
        params.append(f"**{varkw}")
    call_args = [*positional, *([f"*{varargs}"] if varargs else [])]
    call_args += [f"{k}={k}" for k in keywords] + ([f"**{varkw}"] if varkw else [])
    seen = ", ".join(positional) + ("," if len(positional) == 1 and not varargs else "")
    if varargs:
        seen = f"{seen}, *{varargs}" if positional else f"*{varargs},"
    checks = [_immutable(p, prefix) for p in positional]
    if varargs:
        checks.append(f'{_C}atoms".issuperset({_C}map"({_C}type", {varargs}))')
    # a call's record (tracing.CallRecord) when its arguments are all immutable
    fresh = ["None", f'{_C}info"', f"{prefix}named", f'{_C}running"', "None", *positional]
    fresh += [f"*{varargs}"] if varargs else []
    named = "{" + ", ".join([f"{k!r}: {k}" for k in keywords] + [f"**{varkw}"] * bool(varkw)) + "}"
    named = _NAMED.format(named) if keywords or varkw else _NO_NAMED
    return prefix, {
        "is_async": "async " if code.co_flags & inspect.CO_COROUTINE else "",
        "wait": "await " if code.co_flags & inspect.CO_COROUTINE else "",
        "params": ", ".join(params),
        "call": ", ".join(call_args),
        "seen": f"({seen})",
        "check": " and ".join(checks) or "True",
        "immutable_value": _immutable(f"{prefix}value", prefix),
        "fresh": "[" + ", ".join(fresh) + "]",
        "named": named.replace("_genopt_", prefix),
        "free": ", ".join(f"{prefix}free{n}" for n in range(len(code.co_freevars))),
        "cells": "".join(f"    {prefix}free{n} = None\n" for n in range(len(code.co_freevars))),
    }


def _inline_shapes(code: types.CodeType) -> tuple[str, str]:
    """The inlined recorder's statements around the body, and those storing a value."""
    prefix, parts = _parts(code)
    shape = textwrap.dedent(_INLINE.replace("_genopt_", prefix).format(**parts))
    returned = textwrap.dedent(_RETURNED.replace("_genopt_", prefix).format(**parts))
    return shape, returned


def _immutable(name: str, prefix: str) -> str:
    """An expression: whether the value of ``name`` is of a type in ``values.ATOMS``."""
    # identity checks for the commonest first: cheaper than the set's lookup
    kind = f"{prefix}type"
    common = "".join(f' or {kind} is {_C}{atom}"' for atom in ("float", "str"))
    return f'(({kind} := {_C}type"({name})) is {_C}int"{common} or {kind} in {_C}atoms")'


_NAMED = """\
        _genopt_named = {}
        if _genopt_named:
            _genopt_named = "\\0genopt:snapshot_kwargs"(_genopt_named)
"""
_NO_NAMED = f'        _genopt_named = {_C}no_keywords"\n'

# The recorder's own names start with _genopt_ (or a longer prefix no name uses).  A call
# appends its record (tracing.CallRecord) when it begins, so that the order of the
# records is the order the calls began, and fills in its outcome when it ends; its number
# on the test's clock comes later (tracing._stamp).  Arguments are checked before the
# call (which may change them), the value after: whatever is not immutable is
# snapshotted.  The unreachable last line gives the recorder as many free variables as
# the function has closure cells: a function's new __code__ must match its closure.
# __tracebackhide__ keeps the recorder out of the tracebacks pytest and the evidence show.
_TEMPLATE = """\
def make_recorder():
{cells}    {is_async}def _genopt_recorder({params}):
        __tracebackhide__ = True
        _genopt_record = "\\0genopt:tracing"._CURRENT
        if _genopt_record is None:
            return {wait}"\\0genopt:function"({call})
{named}        if {check}:
            _genopt_call = {fresh}
        else:
            _genopt_call = "\\0genopt:snapshot_call"("\\0genopt:info", _genopt_named, {seen})
        _genopt_record.buffer.append(_genopt_call)
        try:
            _genopt_value = {wait}"\\0genopt:function"({call})
        except "\\0genopt:BaseException" as _genopt_error:
            _genopt_call[4] = _genopt_error
            raise
        if {immutable_value}:
            _genopt_call[3] = _genopt_value
        else:
            _genopt_call[3] = "\\0genopt:snapshot"(_genopt_value)
        return _genopt_value
        {free}
    return _genopt_recorder
"""

# The recorder of a generator function (or an async one) is one as well, as Python 3.13
# wants of a function's new code.  It makes the generator a call of the function returns
# and records the call as _TEMPLATE does (the arguments, and that generator as the value)
# when it starts: creating a generator runs none of its code.  Then it hands on what the
# generator yields, what is sent or thrown in, and its closing; an exception raised while
# iterating is not the call's, which returned the generator.
_GENERATOR_HEAD = """\
def make_recorder():
{cells}    {is_async}def _genopt_recorder({params}):
        __tracebackhide__ = True
        _genopt_record = "\\0genopt:tracing"._CURRENT
        _genopt_value = "\\0genopt:function"({call})
        if _genopt_record is not None:
{named}            if {check}:
                _genopt_call = {fresh}
            else:
                _genopt_call = "\\0genopt:snapshot_call"("\\0genopt:info", _genopt_named, {seen})
            _genopt_call[3] = "\\0genopt:snapshot"(_genopt_value)
            _genopt_record.buffer.append(_genopt_call)
"""
_GENERATOR = (
    _GENERATOR_HEAD
    + """\
        return (yield from _genopt_value)
        {free}
    return _genopt_recorder
"""
)
# an async generator has no "yield from": asend, athrow and aclose by hand
_ASYNC_GENERATOR = (
    _GENERATOR_HEAD.replace("{is_async}", "async ")
    + """\
        _genopt_step = _genopt_value.asend(None)
        while True:
            try:
                _genopt_item = await _genopt_step
            except "\\0genopt:StopAsyncIteration":
                return
            try:
                _genopt_sent = yield _genopt_item
            except "\\0genopt:GeneratorExit":
                await _genopt_value.aclose()
                raise
            except "\\0genopt:BaseException" as _genopt_error:
                _genopt_step = _genopt_value.athrow(_genopt_error)
            else:
                _genopt_step = _genopt_value.asend(_genopt_sent)
        {free}
    return _genopt_recorder
"""
)


# The inlined recorder (pytest_genopt.inline): these statements, with the function's
# body in the first branch as written and, in the try, with each "return X" made
# "_genopt_value = X; return _genopt_value" (_RETURNED).  The value is stored in the
# call's record in the finally, which runs after the body's own finally blocks and
# __exit__ calls: the record holds what the caller gets, snapshotted outside any lock
# the body holds (as the template recorder does after the call).
_INLINE = """\
        _genopt_record = "\\0genopt:tracing"._CURRENT
        if _genopt_record is None:
            pass
{named}        if {check}:
            _genopt_call = {fresh}
        else:
            _genopt_call = "\\0genopt:snapshot_call"("\\0genopt:info", _genopt_named, {seen})
        _genopt_record.buffer.append(_genopt_call)
        _genopt_value = None
        try:
            pass
        except "\\0genopt:BaseException" as _genopt_error:
            _genopt_call[4] = _genopt_error
            raise
        finally:
            if _genopt_call[4] is None:
                if {immutable_value}:
                    _genopt_call[3] = _genopt_value
                else:
                    _genopt_call[3] = "\\0genopt:snapshot"(_genopt_value)
"""
_RETURNED = """\
        _genopt_value = None
"""


def _snapshot_call(
    info: TrainableInfo, kwargs: dict[str, Any], args: tuple[Any, ...]
) -> tracing.CallRecord:
    """The record of a call whose arguments are not all immutable (see _TEMPLATE)."""
    # what the call saw, taken now: the test may mutate the arguments (or self) later
    return [None, info, kwargs, tracing.RUNNING, None, *[snapshot(a) for a in args]]


def _snapshot_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: snapshot(v) for k, v in kwargs.items()}
