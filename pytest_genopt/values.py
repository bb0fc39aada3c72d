"""Bounded renderings of the values a test's trainables and trace steps saw.

Two steps, so that what a call saw is what its evidence shows:

* :func:`snapshot` runs when the call happens.  It copies what will be shown
  (containers by their first items, objects by their public attributes, both to
  a bounded depth) into small immutable nodes, keeping immutable leaves (numbers,
  strings) by reference: a later mutation of ``self`` or of a list argument does
  not change the snapshot.  It never calls properties or ``__getattr__``, never
  advances an iterator, and calls a ``__repr__`` only where the class defines one
  (guarded).
* :func:`render` (text for recorded calls) and :func:`to_json` (plain data for
  trace steps) format a snapshot when the evidence is built; long texts keep
  their head and tail with the elision marked.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import numbers
import re
import types
from collections import deque
from typing import Any

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
_GENERATORS = (types.GeneratorType, types.CoroutineType, types.AsyncGeneratorType)
_FUNCTIONS = (types.FunctionType, types.MethodType, types.BuiltinFunctionType)


class Text:
    """Text already rendered when the snapshot was taken (shown as is)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class Items:
    """A container's first items: ``open`` + items + ``close``, ``more`` left out."""

    __slots__ = ("close", "items", "more", "open")

    def __init__(self, open_: str, close: str, items: list[Any], more: int) -> None:
        self.open, self.close, self.items, self.more = open_, close, items, more


class Mapping:
    """A mapping's first pairs (key snapshot, value snapshot), ``more`` left out."""

    __slots__ = ("close", "items", "more", "open")

    def __init__(self, open_: str, close: str, items: list[tuple[Any, Any]], more: int) -> None:
        self.open, self.close, self.items, self.more = open_, close, items, more


class Fields:
    """An object by its public attributes: ``Name(a=1, b=2)``."""

    __slots__ = ("fields", "more", "name")

    def __init__(self, name: str, fields: list[tuple[str, Any]], more: int) -> None:
        self.name, self.fields, self.more = name, fields, more


class _Budget:
    __slots__ = ("nodes",)

    def __init__(self) -> None:
        self.nodes = MAX_NODES


def snapshot(value: Any) -> Any:
    """A bounded, mutation-proof summary of ``value`` as it is now (see the module doc)."""
    if type(value) in ATOMS:  # the common case first: nothing to copy
        return value
    return _snap(value, 0, _Budget())


def snapshot_fields(fields: dict[str, Any]) -> Fields:
    """Snapshots of named values (a trace step), each bounded on its own."""
    return Fields("step", [(name, snapshot(value)) for name, value in fields.items()], 0)


def _snap(value: Any, depth: int, budget: _Budget) -> Any:
    budget.nodes -= 1
    if budget.nodes < 0:
        return Text("…")
    kind = type(value)
    if kind in ATOMS:
        return value
    if isinstance(value, enum.Enum):
        return Text(_clip(_safe_repr(value)))
    if isinstance(value, numbers.Number):  # numpy scalars, Decimal, Fraction
        return _number(value)
    if depth >= MAX_DEPTH:
        return Text(_abbreviation(value))
    limit = MAX_ITEMS if depth < 2 else MAX_DEEP_ITEMS
    if isinstance(value, tuple) and hasattr(kind, "_fields"):  # NamedTuple
        pairs = [(str(n), v) for n, v in zip(kind._fields, tuple.__iter__(value), strict=False)]
        return _fields(kind.__name__, pairs[:MAX_FIELDS], len(pairs[MAX_FIELDS:]), depth, budget)
    if isinstance(value, (list, tuple, set, frozenset, deque)):
        return _container(value, depth, budget, limit)
    if isinstance(value, dict):
        return _mapping(value, depth, budget, limit)
    return _other(value, depth, budget, limit)


def _number(value: Any) -> Any:
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return Text(_safe_repr(value))


def _container(value: Any, depth: int, budget: _Budget, limit: int) -> Items | Text:
    kind = type(value)
    base = next(b for b in (list, tuple, set, frozenset, deque) if isinstance(value, b))
    items = _first(base.__iter__(value), limit)  # the base's iterator: no overrides run
    more = max(0, base.__len__(value) - len(items))
    snaps = _snap_all(items, depth, budget)
    more += len(items) - len(snaps)
    name = "" if kind in (list, tuple, set) else kind.__name__
    if base is tuple:
        return Items(f"{name}(", ",)" if len(items) == 1 and not more else ")", snaps, more)
    if base is list and not name:
        return Items("[", "]", snaps, more)
    if base is set and not name:
        return Items("{", "}", snaps, more) if snaps or more else Text("set()")
    if base in (set, frozenset):
        return Items(f"{name}({{", "})", snaps, more)
    return Items(f"{name}([", "])", snaps, more)


def _mapping(value: dict[Any, Any], depth: int, budget: _Budget, limit: int) -> Mapping:
    pairs = _first(dict.items(value).__iter__(), limit)
    flat = _snap_all([x for pair in pairs for x in pair], depth, budget)
    snaps = list(zip(flat[0::2], flat[1::2], strict=False))
    more = max(0, dict.__len__(value) - len(snaps))
    if type(value) is dict:
        return Mapping("{", "}", snaps, more)
    return Mapping(f"{type(value).__name__}({{", "})", snaps, more)


def _snap_all(items: list[Any], depth: int, budget: _Budget) -> list[Any]:
    """Snapshots of ``items`` one level down, as many as the budget allows."""
    snaps: list[Any] = []
    for item in items:
        if budget.nodes <= 0:
            break
        snaps.append(_snap(item, depth + 1, budget))
    return snaps


def _first(iterator: Any, limit: int) -> list[Any]:
    items: list[Any] = []
    for item in iterator:
        if len(items) == limit:
            break
        items.append(item)
    return items


def _other(value: Any, depth: int, budget: _Budget, limit: int) -> Any:
    kind = type(value)
    if kind in _ITERATORS:
        return _iterator(value, depth, budget, limit)
    if isinstance(value, _GENERATORS):
        return Text(f"<{kind.__name__} {getattr(value, '__qualname__', '?')}>")
    if isinstance(value, _FUNCTIONS):
        return Text(f"<{kind.__name__} {getattr(value, '__qualname__', '?')}>")
    if isinstance(value, type):
        return Text(f"<class {value.__qualname__}>")
    if kind.__name__ == "ndarray" and kind.__module__ == "numpy":
        return _array(value, depth, budget, limit)
    if dataclasses.is_dataclass(kind):  # the fields its repr would show, not the repr
        names = [f.name for f in dataclasses.fields(kind) if f.repr]
        return _fields(kind.__name__, *_attributes(value, names), depth, budget)
    if kind.__repr__ is not object.__repr__:  # type: ignore[comparison-overlap]
        return Text(_clip(_safe_repr(value)))  # the class says how it reads
    return _fields(kind.__name__, *_attributes(value, _public_names(value)), depth, budget)


def _iterator(value: Any, depth: int, budget: _Budget, limit: int) -> Any:
    """A builtin iterator by what it has left, read from ``__reduce__`` without advancing
    it (dict and set iterators copy themselves to reduce: only when they are short)."""
    name = type(value).__name__
    try:
        left = value.__length_hint__()
        if name.startswith(("dict", "set")) and left > limit:
            return Text(f"<{name}: {left} left>")
        reduced = value.__reduce__()
        source = reduced[1][0]
        index = reduced[2] if len(reduced) > 2 else 0
        if reduced[0] is reversed:
            rest = source[index::-1] if index >= 0 else source[:0]
        else:
            rest = source[index : index + limit]
    except Exception:  # an exotic iterator: show its type only
        return Text(f"<{name}>")
    snaps = _snap_all(list(rest[:limit]), depth, budget)
    return Items(f"<{name} [", "]>", snaps, max(0, left - len(snaps)))


def _array(value: Any, depth: int, budget: _Budget, limit: int) -> Any:
    try:
        if value.size <= limit:
            items = Items("array(", ")", [_snap(value.tolist(), depth, budget)], 0)
            return items
        return Text(f"array(shape={tuple(value.shape)}, dtype={value.dtype})")
    except Exception:
        return Text("<ndarray>")


_MISSING = object()


def _instance_dict(value: Any) -> dict[str, Any]:
    try:
        own = object.__getattribute__(value, "__dict__")
    except (AttributeError, TypeError):
        return {}
    return own if isinstance(own, dict) else {}


def _public_names(value: Any) -> list[str]:
    """Names of the attributes stored on the instance (``__dict__``, then slots) that do
    not start with an underscore."""
    names: list[Any] = list(_instance_dict(value))
    for klass in reversed(type(value).__mro__):
        slots = klass.__dict__.get("__slots__", ())
        names.extend([slots] if isinstance(slots, str) else slots)
    return [n for n in dict.fromkeys(names) if isinstance(n, str) and not n.startswith("_")]


def _attributes(value: Any, names: list[str]) -> tuple[list[tuple[str, Any]], int]:
    """The first :data:`MAX_FIELDS` of ``names`` read from the instance's ``__dict__`` or
    slots (never a property or ``__getattr__``), and how many names were left out."""
    own = _instance_dict(value)
    found: list[tuple[str, Any]] = []
    for i, name in enumerate(names):
        if len(found) == MAX_FIELDS:
            return found, len(names) - i
        attribute = dict.get(own, name, _MISSING)
        if attribute is _MISSING:
            attribute = _slot(value, name)
        if attribute is not _MISSING:
            found.append((name, attribute))
    return found, 0


def _slot(value: Any, name: str) -> Any:
    for klass in type(value).__mro__:
        slot = klass.__dict__.get(name)
        if isinstance(slot, types.MemberDescriptorType):
            try:
                return slot.__get__(value, type(value))
            except AttributeError:  # declared, never set
                return _MISSING
    return _MISSING


def _fields(
    name: str, fields: list[tuple[str, Any]], more: int, depth: int, budget: _Budget
) -> Fields:
    snaps = _snap_all([v for _, v in fields], depth, budget)
    shown = [(n, v) for (n, _), v in zip(fields, snaps, strict=False)]
    return Fields(name, shown, more + len(fields) - len(shown))


def _abbreviation(value: Any) -> str:
    """What a value too deep to show reads as: its type and size."""
    kind = type(value)
    try:
        if isinstance(value, (list, tuple, set, frozenset, deque, dict)):
            size = len(value)
            return f"<{kind.__name__} of {size} item{'s' if size != 1 else ''}>"
    except Exception:
        pass
    return f"{kind.__name__}(…)"


def _safe_repr(value: Any) -> str:
    try:
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


def _string(text: str) -> str:
    if len(text) <= MAX_STRING:
        return repr(text)
    head, tail = MAX_STRING * 2 // 3, MAX_STRING // 3
    left, right = repr(text[:head]), repr(text[-tail:])
    elided = len(text) - head - tail
    return f"{left[:-1]}…[{elided} chars elided]…{right[1:-1]}{left[-1]}"


def render(snap: Any) -> str:
    """The text of a snapshot, elided in the middle beyond :data:`MAX_TEXT` characters."""
    return elide(_text(snap), MAX_TEXT)


def _text(snap: Any) -> str:
    kind = type(snap)
    if kind is str:
        return _string(snap)
    if kind is Text:
        return str(snap.text)
    if kind is Items:
        parts = [_text(item) for item in snap.items]
        return f"{snap.open}{', '.join([*parts, *_more(snap.more)])}{snap.close}"
    if kind is Mapping:
        parts = [f"{_text(k)}: {_text(v)}" for k, v in snap.items]
        return f"{snap.open}{', '.join([*parts, *_more(snap.more)])}{snap.close}"
    if kind is Fields:
        parts = [f"{name}={_text(v)}" for name, v in snap.fields]
        return f"{snap.name}(" + ", ".join([*parts, *_more(snap.more)]) + ")"
    if kind is bytes:
        return elide(repr(snap), MAX_STRING)
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
    if kind is Fields:
        return {name: to_json(v) for name, v in snap.fields}
    if kind is Mapping:
        return {(k if type(k) is str else _text(k)): to_json(v) for k, v in snap.items}
    if kind is Items and snap.open in ("[", "(", "{", "deque([", "frozenset({"):
        return [to_json(item) for item in snap.items] + _more(snap.more)
    if kind is Items and snap.open == "array(":
        return to_json(snap.items[0])
    return _text(snap)
