"""Bounded renderings of the values a test's trainables and trace steps saw.

Two steps, so that what a call saw is what its evidence shows:

* :func:`snapshot` runs when the call happens.  It copies what will be shown
  (containers by their first items, objects by their public attributes, both to
  a bounded depth) into small immutable nodes, keeping immutable leaves (numbers,
  strings) by reference: a later mutation of ``self`` or of a list argument does
  not change the snapshot.  It never calls properties or ``__getattr__``, never
  advances an iterator, and calls a class's own ``__repr__`` (guarded) only where C
  code, the standard library or a package in :data:`READ_BY_REPR` defines it: any
  other is code that may do anything while the test runs.
* :func:`render` (text for recorded calls) and :func:`to_json` (plain data for
  trace steps) format a snapshot when the evidence is built; long texts keep
  their head and tail with the elision marked.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import itertools
import math
import numbers
import re
import sys
import types
from collections import deque
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

#: Containers and objects are shown by contents down to this depth (0 = the value).
MAX_DEPTH = 4
#: Items of a container shown at depth 0 and 1; deeper containers show fewer.
MAX_ITEMS = 16
MAX_DEEP_ITEMS = 8
#: Public attributes shown per object.
MAX_FIELDS = 16
#: Values (containers, objects and scalars) one snapshot visits at most: the work per
#: argument is bounded.
MAX_NODES = 300
#: Characters of one string (or one class-defined repr) before its middle is elided.
MAX_STRING = 200
#: Characters of one rendered value before its middle is elided.
MAX_TEXT = 1200

#: Immutable types kept by reference (a frozenset: callers test ``type(x) in ATOMS``).
ATOMS = frozenset((type(None), bool, int, float, complex, str, bytes, range, type(Ellipsis)))
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
# builtin iterators whose __reduce__ tells what is left without advancing them
_ITERABLES: tuple[Any, ...] = ("", "\u00e9", b"", bytearray(), (), [], {}, {}.values(), {}.items())
_ITERATORS = frozenset(
    [type(iter(x)) for x in (*_ITERABLES, set(), range(0), range(1 << 70))] + [type(reversed([]))]
)
_SEQUENCES = frozenset((list, tuple, str, bytes, bytearray, range))
_GENERATORS = (types.GeneratorType, types.CoroutineType, types.AsyncGeneratorType)
_FUNCTIONS = (types.FunctionType, types.MethodType, types.BuiltinFunctionType)


# A snapshot is an atom (kept as is) or a node: a tuple tagged by its first item.  No
# other tuple occurs in a snapshot (tuples become item nodes), and a tuple is the
# cheapest thing to build on every recorded call.
#: ``(TEXT, text)``: text already rendered when the snapshot was taken.
TEXT = "text"
#: ``(ITEMS, open, close, [snapshot, ...], more)``: a container's first items.
ITEMS = "items"
#: ``(MAPPING, open, close, [(key, value), ...], more)``: a mapping's first pairs.
MAPPING = "mapping"
#: ``(FIELDS, name, [(attribute, snapshot), ...], more)``: an object, ``Name(a=1)``.
FIELDS = "fields"
#: ``(RECORD, name, names, values)``: a NamedTuple of scalars, kept as it is.
RECORD = "record"
Node: TypeAlias = tuple[Any, ...]


def snapshot(value: Any) -> Any:
    """A bounded, mutation-proof summary of ``value`` as it is now (see the module doc)."""
    kind = type(value)
    if kind in ATOMS:  # the common case first: nothing to copy
        return value
    short = (kind is list or kind is tuple) and len(value) <= MAX_ITEMS
    if short and ATOMS.issuperset(map(type, value)):  # a short list of scalars: one copy
        if kind is list:
            return (ITEMS, "[", "]", list(value), 0)
        return (ITEMS, "(", ",)" if len(value) == 1 else ")", list(value), 0)
    return _snap(value, 0, [MAX_NODES])


def snapshot_fields(fields: dict[str, Any]) -> Node:
    """Snapshots of named values (a trace step), each bounded on its own."""
    return (FIELDS, "step", [(name, snapshot(value)) for name, value in fields.items()], 0)


Plan: TypeAlias = "Callable[[Any, int, list[int]], Any]"
#: How each type is summarised, decided once per type (see :func:`_choose`).
_PLANS: dict[type, Plan] = {}
_CUT = (TEXT, "…")


def _snap(value: Any, depth: int, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        return _CUT
    kind = type(value)
    if kind in ATOMS:
        return value
    plan = _PLANS.get(kind)
    if plan is None:
        if len(_PLANS) > 4096:  # classes made on the fly must not pile up here
            _PLANS.clear()
        plan = _PLANS[kind] = _choose(kind)
    return plan(value, depth, budget)


def _snap_all(items: Iterable[Any], depth: int, budget: list[int]) -> list[Any]:
    """Snapshots of ``items`` one level down, as many as the budget allows."""
    items = list(items)
    if len(items) <= budget[0] and ATOMS.issuperset(map(type, items)):
        budget[0] -= len(items)  # all immutable scalars (a NamedTuple of numbers): as is
        return items
    snaps: list[Any] = []
    for item in items:
        if budget[0] <= 0:
            break
        if type(item) in ATOMS:
            budget[0] -= 1
            snaps.append(item)
        else:
            snaps.append(_snap(item, depth + 1, budget))
    return snaps


def _choose(kind: type) -> Plan:
    """The plan for a type, by what it is; checked on the type so that no instance
    attribute (a property, ``__getattr__``, ``__class__``) is ever looked up."""
    if issubclass(kind, enum.Enum):
        return _as_repr if _repr_called(kind) else _member
    if issubclass(kind, numbers.Number):  # numpy scalars, Decimal, Fraction
        return _number
    fields = getattr(kind, "_fields", None)
    if issubclass(kind, tuple) and isinstance(fields, tuple):
        names = tuple(str(n) for n in fields)
        return functools.partial(_named, kind.__name__, names)
    for base in (list, tuple, set, frozenset, deque, dict):
        if issubclass(kind, base):
            return _container_plan(kind, base)
    if issubclass(kind, (str, bytes, bytearray, memoryview)):
        return _textual
    if kind in _ITERATORS:
        return _iterator
    if issubclass(kind, (*_GENERATORS, *_FUNCTIONS, type)):
        return _callable
    if kind.__name__ == "ndarray" and kind.__module__ == "numpy":
        return _array
    slots = _public_slots(kind)
    if dataclasses.is_dataclass(kind):  # the fields its repr would show, not the repr
        names = tuple(f.name for f in dataclasses.fields(kind) if f.repr)
        return functools.partial(_object, kind.__name__, slots, names)
    if kind.__repr__ is not object.__repr__ and _repr_called(kind):
        return _as_repr  # the class says how it reads
    return functools.partial(_object, kind.__name__, slots, None)


#: packages besides the standard library whose classes' reprs a snapshot calls: data
#: libraries whose values are read by their repr, and whose reprs only read
READ_BY_REPR = frozenset({"numpy", "pandas", "torch"})
_C_METHODS = (types.WrapperDescriptorType, types.MethodDescriptorType, types.BuiltinFunctionType)


def _repr_called(kind: type) -> bool:
    """Whether a snapshot calls the class's own ``__repr__``: when C code, the standard
    library or a package in :data:`READ_BY_REPR` defines it.  Any other ``__repr__`` is
    the project's code or a package's, and may do anything while the test runs (expire
    a cache's entries, query a database, call a trainable): its objects are shown by
    their attributes instead, as a plain object is."""
    method = next((k.__dict__["__repr__"] for k in kind.__mro__ if "__repr__" in k.__dict__), None)
    if isinstance(method, _C_METHODS):
        return True
    if not isinstance(method, types.FunctionType):
        return False
    package = str(getattr(method, "__module__", None) or "").partition(".")[0]
    return package in sys.stdlib_module_names or package in READ_BY_REPR


def _member(value: Any, depth: int, budget: list[int]) -> Node:
    """An enum member whose class's repr is not called (:func:`_repr_called`)."""
    name = _instance_dict(value).get("_name_")
    return (TEXT, f"{type(value).__name__}.{name if isinstance(name, str) else '?'}")


def _container_plan(kind: type, base: type) -> Plan:
    name = "" if kind is base else kind.__name__
    if base is dict:
        brackets = ("{", "}") if not name else (f"{name}({{", "})")
        return functools.partial(_mapping, brackets)
    if base is list or base is deque:
        brackets = ("[", "]") if kind is list else (f"{name or 'deque'}([", "])")
    elif base is tuple:
        brackets = ("(", ")") if not name else (f"{name}(", ")")
    else:
        brackets = ("{", "}") if kind is set else (f"{kind.__name__}({{", "})")
    return functools.partial(_container, base, brackets)


def _limit(depth: int) -> int:
    return MAX_ITEMS if depth < 2 else MAX_DEEP_ITEMS


def _count(kind: type, size: int) -> Node:
    return (TEXT, f"<{kind.__name__} of {size} item{'s' if size != 1 else ''}>")


def _container(
    base: Any, brackets: tuple[str, str], value: Any, depth: int, budget: list[int]
) -> Node:
    exact = type(value) is base  # builtins' own len and slicing, the fast way
    size = len(value) if exact else base.__len__(value)
    if depth >= MAX_DEPTH:
        return _count(type(value), size)
    limit = MAX_ITEMS if depth < 2 else MAX_DEEP_ITEMS
    # a subclass gets the base's own methods: its overrides never run
    first: Iterable[Any]
    if exact and (base is list or base is tuple):
        first = value[:limit]
    elif base is list or base is tuple:
        first = base.__getitem__(value, slice(0, limit))
    else:
        first = itertools.islice(base.__iter__(value), limit)
    snaps = _snap_all(first, depth, budget)
    open_, close = brackets
    if not size and brackets == ("{", "}"):
        return (TEXT, "set()")
    if size == 1 and brackets == ("(", ")"):
        close = ",)"
    return (ITEMS, open_, close, snaps, size - len(snaps))


def _mapping(
    brackets: tuple[str, str], value: dict[Any, Any], depth: int, budget: list[int]
) -> Node:
    size = dict.__len__(value)
    if depth >= MAX_DEPTH:
        return _count(type(value), size)
    pairs = itertools.islice(dict.items(value).__iter__(), _limit(depth))
    flat = _snap_all([x for pair in pairs for x in pair], depth, budget)
    snaps = list(zip(flat[0::2], flat[1::2], strict=False))
    return (MAPPING, *brackets, snaps, size - len(snaps))


def _named(name: str, names: tuple[str, ...], value: Any, depth: int, budget: list[int]) -> Any:
    if depth >= MAX_DEPTH:
        return (TEXT, f"{name}(…)")
    size = tuple.__len__(value)
    if size <= min(MAX_FIELDS, budget[0]) and ATOMS.issuperset(map(type, value)):
        budget[0] -= size  # immutable all the way down (a game object): kept as it is
        return (RECORD, name, names, value)
    snaps = _snap_all(tuple.__getitem__(value, slice(0, MAX_FIELDS)), depth, budget)
    return (FIELDS, name, list(zip(names, snaps, strict=False)), tuple.__len__(value) - len(snaps))


def _object(
    name: str,
    slots: dict[str, Any],
    names: Sequence[str] | None,
    value: Any,
    depth: int,
    budget: list[int],
) -> Any:
    """An object by its attributes (``names``, or its public ones, or its private ones
    when it has no public one), read from its ``__dict__`` or slots: never a property or
    ``__getattr__``."""
    if depth >= MAX_DEPTH:
        return (TEXT, f"{name}(…)")
    own = _instance_dict(value)
    if names is None and not slots:  # a plain object: its __dict__ is all there is
        pairs = [(n, v) for n, v in dict.items(own) if type(n) is str and n[:1] != "_"]
    else:
        pairs = _stored(value, own, slots, names)
    if not pairs and names is None:  # only private state (a cache's): that, one level
        pairs = [(n, v) for n, v in dict.items(own) if type(n) is str and n[:2] != "__"]
        depth = MAX_DEPTH - 1  # internals are counted, not walked: a call may be hot
    shown = pairs[:MAX_FIELDS]
    snaps = _snap_all([v for _, v in shown], depth, budget)
    fields = [(n, v) for (n, _), v in zip(shown, snaps, strict=False)]
    return (FIELDS, name, fields, len(pairs) - len(fields))


def _stored(
    value: Any, own: dict[str, Any], slots: dict[str, Any], names: Sequence[str] | None
) -> list[tuple[str, Any]]:
    """``names`` (or all public ones) with the values stored in ``own`` or in slots."""
    if names is None:
        names = [n for n in own if type(n) is str and n[:1] != "_"]
        names += [n for n in slots if n not in own]
    pairs = []
    for n in names:
        attribute = dict.get(own, n, _MISSING)
        if attribute is _MISSING and n in slots:
            try:
                attribute = slots[n].__get__(value, type(value))
            except AttributeError:  # declared, never set
                continue
        if attribute is not _MISSING:
            pairs.append((n, attribute))
    return pairs


_MISSING = object()


def _instance_dict(value: Any) -> dict[str, Any]:
    try:
        own = object.__getattribute__(value, "__dict__")
    except (AttributeError, TypeError):
        return {}
    return own if isinstance(own, dict) else {}


def _public_slots(kind: type) -> dict[str, Any]:
    """The member descriptors of a class's public slots, base classes first."""
    slots: dict[str, Any] = {}
    for klass in reversed(kind.__mro__):
        declared = klass.__dict__.get("__slots__", ())
        for name in (declared,) if isinstance(declared, str) else declared:
            member = klass.__dict__.get(name) if isinstance(name, str) else None
            if isinstance(member, types.MemberDescriptorType) and not name.startswith("_"):
                slots[name] = member
    return slots


def _textual(value: Any, depth: int, budget: list[int]) -> Any:
    """A str or bytes subclass, a bytearray or a memoryview: its head and tail, copied
    now with the base type's own slicing (never the whole of a large buffer)."""
    if isinstance(value, memoryview):
        return (TEXT, f"<memoryview of {value.nbytes} bytes>")
    base: Any = str if isinstance(value, str) else bytes if isinstance(value, bytes) else bytearray
    size = base.__len__(value)
    if size <= MAX_STRING:
        head = base.__getitem__(value, slice(None))
        tail, elided = head[:0], 0
    else:
        head = base.__getitem__(value, slice(0, _HEAD))
        tail = base.__getitem__(value, slice(size - _TAIL, None))
        elided = size - _HEAD - _TAIL
    if base is bytearray:
        head, tail = bytes(head), bytes(tail)
    text = _elided_literal(head, tail, elided) if elided else repr(head)
    return (TEXT, f"bytearray({text})" if base is bytearray else text)


def _number(value: Any, depth: int, budget: list[int]) -> Any:
    try:
        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, numbers.Real):
            return float(value)
    except Exception:  # a user-defined number whose conversion fails
        pass
    return (TEXT, _clip(_safe_repr(value)))


def _as_repr(value: Any, depth: int, budget: list[int]) -> Node:
    return (TEXT, _clip(_safe_repr(value)))


def _callable(value: Any, depth: int, budget: list[int]) -> Node:
    if isinstance(value, type):
        return (TEXT, f"<class {getattr(value, '__qualname__', '?')}>")
    return (TEXT, f"<{type(value).__name__} {getattr(value, '__qualname__', '?')}>")


def _iterator(value: Any, depth: int, budget: list[int]) -> Any:
    """A builtin iterator by what it has left, read from ``__reduce__`` without advancing
    it (dict and set iterators copy themselves to reduce: only when they are short)."""
    name = type(value).__name__
    limit = _limit(depth)
    try:
        left = value.__length_hint__()
        if name.startswith(("dict", "set")) and left > limit:
            return (TEXT, f"<{name}: {left} left>")
        reduced = value.__reduce__()
        source = reduced[1][0]
        if type(source) not in _SEQUENCES:  # a subclass could override slicing
            return (TEXT, f"<{name}>")
        # 3.12+: a range iterator reduces to the range it has left, its state None
        index = reduced[2] if len(reduced) > 2 and reduced[2] is not None else 0
        if reduced[0] is reversed:
            rest = source[index::-1] if index >= 0 else source[:0]
        else:
            rest = source[index : index + limit]
    except Exception:  # an exotic iterator: show its type only
        return (TEXT, f"<{name}>")
    snaps = _snap_all(list(rest[:limit]), depth, budget)
    return (ITEMS, f"<{name} [", "]>", snaps, max(0, left - len(snaps)))


def _array(value: Any, depth: int, budget: list[int]) -> Any:
    try:
        if value.size <= _limit(depth):
            return (ITEMS, "array(", ")", [_snap(value.tolist(), depth, budget)], 0)
        return (TEXT, f"array(shape={tuple(value.shape)}, dtype={value.dtype})")
    except Exception:
        return (TEXT, "<ndarray>")


def _safe_repr(value: Any) -> str:
    """``repr(value)``, its failure told; a ``@trainable`` it calls (a repr may reach
    the project's code through the values it holds) runs unrecorded."""
    from pytest_genopt.tracing import untraced  # tracing imports this module

    try:
        with untraced():
            text = repr(value)
    except Exception as exc:
        return f"<{type(value).__name__} (repr failed: {type(exc).__name__})>"
    if not isinstance(text, str):
        return f"<{type(value).__name__}>"
    return _ADDRESS.sub("", text)  # addresses change every run and mean nothing


def _clip(text: str, limit: int = MAX_STRING) -> str:
    return elide(text, limit)


def elide(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` characters, else its head and tail around a marker
    that says how much was left out."""
    if len(text) <= limit:
        return text
    head, tail = limit * 2 // 3, limit // 3
    return f"{text[:head]}…[{len(text) - head - tail} chars elided]…{text[-tail:]}"


_HEAD, _TAIL = MAX_STRING * 2 // 3, MAX_STRING // 3


def _literal(text: str | bytes) -> str:
    """A string's or bytes' repr, its middle elided beyond :data:`MAX_STRING`."""
    if len(text) <= MAX_STRING:
        return repr(text)
    return _elided_literal(text[:_HEAD], text[-_TAIL:], len(text) - _HEAD - _TAIL)


def _elided_literal(head: str | bytes, tail: str | bytes, elided: int) -> str:
    left, right = repr(head), repr(tail)
    unit, start = ("bytes", 2) if isinstance(head, bytes) else ("chars", 1)
    return f"{left[:-1]}…[{elided} {unit} elided]…{right[start:-1]}{left[-1]}"


def render(snap: Any) -> str:
    """The text of a snapshot, elided in the middle beyond :data:`MAX_TEXT` characters."""
    return elide(_text(snap), MAX_TEXT)


def _text(snap: Any) -> str:
    kind = type(snap)
    if kind is str or kind is bytes:
        return _literal(snap)
    if kind is tuple:
        tag = snap[0]
        if tag is TEXT:
            return str(snap[1])
        if tag is FIELDS:
            parts = [f"{name}={_text(v)}" for name, v in snap[2]]
            return f"{snap[1]}(" + ", ".join([*parts, *_more(snap[3])]) + ")"
        if tag is RECORD:
            parts = [f"{name}={_text(v)}" for name, v in zip(snap[2], snap[3], strict=False)]
            return f"{snap[1]}({', '.join(parts)})"
        if tag is MAPPING:
            parts = [f"{_text(k)}: {_text(v)}" for k, v in snap[3]]
        else:
            parts = [_text(item) for item in snap[3]]
        return f"{snap[1]}{', '.join([*parts, *_more(snap[4])])}{snap[2]}"
    if kind is int and snap.bit_length() > 4000:  # repr() refuses huge ints
        return f"<int of {snap.bit_length()} bits>"
    return repr(snap)


def _more(count: int) -> list[str]:
    return [f"… {count} more"] if count else []


def to_json(snap: Any) -> Any:
    """A snapshot as plain JSON data: objects as dicts of their fields, containers as
    lists (with a ``"… N more"`` item), long strings elided, anything else as text."""
    kind = type(snap)
    if snap is None or kind is bool or kind is int:
        return snap if kind is not int or snap.bit_length() <= 4000 else _text(snap)
    if kind is float:
        return snap if math.isfinite(snap) else str(snap)
    if kind is str:
        return elide(snap, MAX_STRING)
    if kind is not tuple or snap[0] is TEXT:
        return _text(snap)
    if snap[0] is FIELDS:
        return {name: to_json(v) for name, v in snap[2]}
    if snap[0] is RECORD:
        return {name: to_json(v) for name, v in zip(snap[2], snap[3], strict=False)}
    if snap[0] is MAPPING:
        return {(k if type(k) is str else _text(k)): to_json(v) for k, v in snap[3]}
    if snap[1] in ("[", "(", "{", "deque([", "frozenset({"):
        return [to_json(item) for item in snap[3]] + _more(snap[4])
    if snap[1] == "array(":
        return to_json(snap[3][0])
    return _text(snap)
