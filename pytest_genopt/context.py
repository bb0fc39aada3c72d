"""Read-only context for a Python function or method parameter.

An optimizer edits a parameter better when it sees what the parameter works
with.  For a method: its class header (decorators, bases, the first line of the
docstring), the lines that define the object's attributes (class body
assignments and dataclass fields, ``self.x = ...`` in ``__init__`` and other
set-up methods) and the signatures of the class's other methods.  For a
function: the module-level names it uses (constants' values, helpers'
signatures, the imports that bind them) and, when it is nested, the names it
closes over.  :func:`parameter_context` renders these lines with their line
numbers in the file, so that a traceback frame ``mod.py:12`` matches them.

The source is parsed with :mod:`ast` only; nothing is imported or executed.
"""

from __future__ import annotations

import ast
import functools
import re
import warnings
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

_Def = ast.FunctionDef | ast.AsyncFunctionDef
_Node = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_ASSIGNMENTS = (ast.Assign, ast.AnnAssign, ast.AugAssign)

LINE_LIMIT = 160  # characters of one source line shown before it is clipped, marked
_STATEMENT_ROWS = 6  # rows of one assignment shown; the rest is elided, marked
_SIGNATURE_ROWS = 10
_FIELD_ROWS = 8
_BINDINGS_PER_NAME = 3
# Methods whose ``self.x = ...`` lines define the attributes of an object.
_SET_UP_METHODS = frozenset(
    {
        "__init__",
        "__post_init__",
        "__new__",
        "setUp",
        "asyncSetUp",
        "setUpClass",
        "setup_method",
        "setup_class",
    }
)
_BASE_DEPTH = 3  # how far up a chain of same-module base classes an attribute is looked for
# Physical lines the way Python's parser counts them (a lone \r included, \f not).
_LINE_BREAK = re.compile(r"\r\n|\r|\n")

# Ranks: lower ranks are kept first when the context is over its limit.
_HEADER, _USED, _USED_NAME, _OTHER_ATTRIBUTE, _OTHER_MEMBER = range(5)
_KINDS = {  # what the left-out note counts, in its order: (singular, plural)
    "attributes": ("attribute", "attributes"),
    "methods": ("method", "methods"),
    "classes": ("class", "classes"),
    "names": ("name", "names"),
    "headers": ("header", "headers"),
}


def parameter_context(
    source: str, qualname: str, *, line: int | None = None, limit: int = 2500
) -> str:
    """The read-only context of the function or method ``qualname`` in ``source``.

    ``qualname`` is ``"f"``, ``"Class.method"``, ``"Outer.Inner.method"`` or a
    runtime ``__qualname__`` such as ``"f.<locals>.g"``; a ``path::`` prefix is
    ignored.  When several definitions match (overloads, a property's getter
    and setter, a redefinition), the one whose lines hold ``line`` (1-based)
    is meant; without ``line`` the ``@trainable`` one, else the last.

    Each shown line carries its number in ``source`` (``  12| MAX = 3``); a
    line ``   …|`` stands for lines (not all blank) left out between two shown
    ones, and a comment line without a number marks where the parameter
    itself is (its text is not repeated, nor anything inside it).  Lines longer than
    :data:`LINE_LIMIT` are clipped with the number of characters left out.
    The result is at most ``limit`` characters: the least relevant parts are
    dropped first (other members before the ones the parameter uses) and a
    last line says how many of each kind were left out.

    Returns ``""`` when no definition matches, when the lines it reads do
    not parse, or when there is nothing to show; it never raises.  Only the
    definitions the context needs are parsed (see :func:`_tree`), so a syntax
    error elsewhere in ``source`` does not hide the context.
    """
    source = source.removeprefix("\ufeff")
    tree = _tree(source, qualname, line)
    if tree is None:
        return ""
    chain = _resolve(tree, qualname, line)
    if chain is None:
        return ""
    lines = _LINE_BREAK.split(source) if "\r" in source else source.split("\n")
    pieces = _Collector(lines, tree, chain).pieces()
    return _render(lines, pieces, chain, limit)


# --------------------------------------------------------------------------- parsing


def _parse(source: str) -> ast.Module | None:
    """The tree of ``source``, or None when it does not parse."""
    with warnings.catch_warnings():
        # Invalid escapes and the like warn while parsing; not our verdict to give.
        warnings.simplefilter("ignore")
        try:
            return ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None


# A prompt asks for each parameter of a file, each iteration for the same kept text.
_whole = functools.lru_cache(maxsize=2)(_parse)

# Parsing a whole module costs ~10 ms per 1,000 lines, most of a call.  The tree
# below holds every module-level statement except the definitions the parameter
# does not need: those are stubs (``def name(): pass`` on their line) found by a
# scan of the text, so line numbers and module-level names stay the same.


@functools.lru_cache(maxsize=32)
def _tree(source: str, qualname: str, line: int | None) -> ast.Module | None:
    """A tree of ``source`` holding in full what the context of ``qualname`` reads:
    its own definitions, what they use, the base classes, every statement that is
    not a ``def``/``class``.  The whole tree when the scan is unsure."""
    chunks = _chunks(source)
    if chunks is None:
        return _whole(source)
    lines = source.split("\n")
    first = qualname.rpartition("::")[2].strip().partition(".")[0]
    # Every word of the parameter's own definitions: more than the names it uses,
    # and so mostly right the first time.
    needed = {first}
    for chunk in chunks:
        if chunk.name == first:
            needed.update(_WORD.findall("\n".join(lines[chunk.start : chunk.stop])))
    for _ in range(_BASE_DEPTH + 2):
        tree = _parse("\n".join(_reduced(lines, chunks, needed)))
        if tree is None:
            return _whole(source)  # the scan split a statement, or the source is bad
        chain = _resolve(tree, qualname, line)
        if chain is None:
            return tree
        more = {*_uses(chain[-1], set()).names, *_base_names(tree, chain)}
        if more <= needed:
            return tree
        needed |= more
    return _whole(source)


def _base_names(tree: ast.Module, chain: tuple[_Node, ...]) -> set[str]:
    """The names of the base classes a context may look into."""
    classes = [n for n in (*_members(tree), *chain) if isinstance(n, ast.ClassDef)]
    return {base.id for node in classes for base in node.bases if isinstance(base, ast.Name)}


@dataclass(frozen=True)
class _Chunk:
    """The rows ``[start, stop)`` of one module-level statement; ``name`` when it
    is a definition, whose ``def``/``class`` line is ``header``."""

    start: int
    stop: int
    header: int
    name: str | None = None
    keyword: str = ""


# Strings and comments: a line inside a string is no statement of its own.
_SKIPPED = re.compile(
    r"""\"\"\"[^"\\]*(?:(?:\\.|"(?!""))[^"\\]*)*(?:\"\"\"|\Z)
      | '''[^'\\]*(?:(?:\\.|'(?!''))[^'\\]*)*(?:'''|\Z)
      | "[^"\\\n]*(?:\\.[^"\\\n]*)*"
      | '[^'\\\n]*(?:\\.[^'\\\n]*)*'
      | \#[^\n]*""",
    re.S | re.X,
)
_DEFINITION = re.compile(r"(?:async[ \t]+)?(def|class)[ \t]+(\w+)")
_WORD = re.compile(r"\w+")
# A line that may begin a module-level statement, by its first character.
_LINE_START = re.compile(r"[^\s#)\]}]")
_NEXT_LINE_START = re.compile(r"\n(?=[^\s#)\]}])")  # faster than a multi-line '^'
_CONTINUATION = re.compile(r"(?:else|elif|except|finally)\b")


def _chunks(source: str) -> list[_Chunk] | None:
    """The module-level statements of ``source`` by their rows, found without
    parsing; None when a line break or a statement is not one this scan follows."""
    if "\r" in source or "\f" in source:
        return None
    lines = source.split("\n")
    inside = _string_rows(source)
    starts: list[list[int]] = []  # [start, header] per statement
    row, position = 0, 0
    first = [0] if _LINE_START.match(source) else []
    for start in first + [m.end() for m in _NEXT_LINE_START.finditer(source)]:
        row += source.count("\n", position, start)
        position = start
        if row in inside:
            continue
        text = lines[row]
        decorated = bool(starts) and lines[starts[-1][1]].startswith("@")
        continued = row > 0 and lines[row - 1].endswith("\\")
        if decorated:
            if not (text.startswith("@") or _DEFINITION.match(text)):
                return None
            starts[-1][1] = row  # the next decorator, or the definition they decorate
        elif continued or _CONTINUATION.match(text):
            if not starts or _DEFINITION.match(lines[starts[-1][1]]) or _DEFINITION.match(text):
                return None  # a definition's rows would hide another statement
        else:
            starts.append([row, row])
    chunks = []
    stops = [start for start, _ in starts[1:]] + [len(lines)] if starts else []
    for (start, header), stop in zip(starts, stops, strict=True):
        found = _DEFINITION.match(lines[header])
        keyword, name = found.groups() if found else ("", None)
        chunks.append(_Chunk(start, stop, header, name, keyword))
    return chunks


def _string_rows(source: str) -> set[int]:
    """Rows that begin inside a string that spans lines."""
    rows: set[int] = set()
    row, position = 0, 0
    for match in _SKIPPED.finditer(source):
        start, end = match.span()
        if source.count("\n", start, end):
            row += source.count("\n", position, start)
            last = row + source.count("\n", start, end)
            rows.update(range(row + 1, last + 1))
            row, position = last, end
    return rows


def _reduced(lines: list[str], chunks: list[_Chunk], needed: set[str]) -> list[str]:
    """``lines`` with each definition not ``needed`` made a one-line stub."""
    out = lines[: chunks[0].start] if chunks else list(lines)
    for chunk in chunks:
        if chunk.name is None or chunk.name in needed:
            out += lines[chunk.start : chunk.stop]
            continue
        stub = f"{chunk.keyword} {chunk.name}" + (
            ": pass" if chunk.keyword == "class" else "(): pass"
        )
        out += [""] * (chunk.header - chunk.start)
        out.append(stub)
        out += [""] * (chunk.stop - chunk.header - 1)
    return out


def _statements(
    body: Iterable[ast.AST], parents: tuple[ast.AST, ...] = ()
) -> Iterator[tuple[ast.stmt, tuple[ast.AST, ...]]]:
    """The statements of one scope with the compound statements around each:
    into ``if``/``try``/``with``/``for``/``match`` bodies, not into functions or classes."""
    for node in body:
        if not isinstance(node, ast.stmt):
            continue
        yield node, parents
        if isinstance(node, _SCOPES):
            continue
        inner = (*parents, node)
        for name in ("body", "orelse", "finalbody"):
            yield from _statements(getattr(node, name, ()), inner)
        for holder in (*getattr(node, "handlers", ()), *getattr(node, "cases", ())):
            yield from _statements(holder.body, (*inner, holder))


def _members(scope: ast.AST) -> Iterator[_Node]:
    for node, _ in _statements(getattr(scope, "body", ())):
        if isinstance(node, _SCOPES):
            yield node


def _resolve(tree: ast.Module, qualname: str, line: int | None) -> tuple[_Node, ...] | None:
    """The definitions from the outermost scope down to the one ``qualname`` names."""
    parts = [p for p in qualname.rpartition("::")[2].strip().split(".") if p != "<locals>"]
    if not all(parts):
        return None
    chains: list[tuple[_Node, ...]] = [()]
    for part in parts:
        chains = [
            (*chain, node)
            for chain in chains
            for node in _members(chain[-1] if chain else tree)
            if node.name == part
        ]
    if not chains:
        return None
    if line is not None:
        holding = [c for c in chains if _first_row(c[-1]) < line <= _end_row(c[-1]) + 1]
        chains = holding or chains
    trainable = [c for c in chains if any(_is_trainable(d) for d in c[-1].decorator_list)]
    return (trainable or chains)[-1]


def _is_trainable(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
    return name == "trainable"


def _first_row(node: ast.stmt) -> int:
    """0-based row of a statement's first line, decorators included."""
    decorators = getattr(node, "decorator_list", None)
    return (decorators[0].lineno if decorators else node.lineno) - 1


def _end_row(node: ast.stmt) -> int:
    return (node.end_lineno or node.lineno) - 1


# --------------------------------------------------------------------------- what is used


@dataclass
class _Uses:
    """What a parameter refers to: free names in order of first use, and the
    attributes it reads or writes on ``self``, ``cls`` or its class."""

    names: list[str]
    attributes: set[str]


def _uses(target: _Node, owners: set[str]) -> _Uses:
    if isinstance(target, ast.ClassDef):
        roots: list[ast.AST] = [*target.bases, *target.keywords, *target.body]
    else:
        roots = [target.args, *([target.returns] if target.returns else []), *target.body]
    loaded: dict[str, tuple[int, int]] = {}
    bound: set[str] = set()
    declared: set[str] = set()
    attributes: set[str] = set()
    for root in roots:
        for node in ast.walk(root):
            if isinstance(node, ast.Name):
                if isinstance(node.ctx, ast.Load):
                    loaded.setdefault(node.id, (node.lineno, node.col_offset))
                else:
                    bound.add(node.id)
            elif isinstance(node, ast.Attribute):
                if isinstance(node.value, ast.Name) and node.value.id in owners:
                    attributes.add(node.attr)
            elif isinstance(node, ast.Global | ast.Nonlocal):
                declared.update(node.names)
            else:
                bound.update(_bound_by(node))
    free = [name for name in loaded if name not in bound or name in declared]
    return _Uses(sorted(free, key=loaded.__getitem__), attributes)


def _bound_by(node: ast.AST) -> list[str]:
    """Names a node binds in the scope it runs in (assignment targets aside)."""
    if isinstance(node, _SCOPES):
        return [node.name]
    if isinstance(node, ast.Import | ast.ImportFrom):
        return [a.asname or a.name.partition(".")[0] for a in node.names if a.name != "*"]
    if isinstance(node, ast.arg):
        return [node.arg]
    name = getattr(node, "name", None)  # except ... as name, match ... as name
    return [name] if isinstance(name, str) else []


def _binds(node: ast.stmt) -> list[str]:
    """Names a statement binds in its scope."""
    if isinstance(node, ast.Assign):
        targets: list[ast.expr] = node.targets
    elif isinstance(node, ast.AnnAssign | ast.AugAssign):
        targets = [node.target]
    else:
        return _bound_by(node)
    return [
        n.id
        for target in targets
        for n in ast.walk(target)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    ]


def _self_name(method: _Def) -> str | None:
    """The name of a method's ``self`` (or ``cls``); None for a static method."""
    if any(getattr(d, "id", "") == "staticmethod" for d in method.decorator_list):
        return None
    positional = [*method.args.posonlyargs, *method.args.args]
    return positional[0].arg if positional else None


def _self_assignments(
    method: _Def,
) -> Iterator[tuple[str, ast.stmt, tuple[ast.AST, ...]]]:
    """``(attribute, statement, compound statements around it)`` for each
    ``self.attribute = ...`` in ``method``."""
    owner = _self_name(method)
    for node, parents in _statements(method.body):
        if owner is None or not isinstance(node, _ASSIGNMENTS):
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            for part in ast.walk(target):
                if (
                    isinstance(part, ast.Attribute)
                    and isinstance(part.value, ast.Name)
                    and part.value.id == owner
                ):
                    yield part.attr, node, parents


def _calls_super(node: ast.stmt) -> bool:
    call = node.value if isinstance(node, ast.Expr) else None
    return (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and isinstance(call.func.value, ast.Call)
        and getattr(call.func.value.func, "id", "") == "super"
    )


# --------------------------------------------------------------------------- pieces


@dataclass(frozen=True)
class _Piece:
    """Rows shown together or not at all."""

    rank: int
    kind: str
    rows: frozenset[int]


class _Collector:
    """The pieces of context around one definition, each with its rows."""

    def __init__(self, lines: Sequence[str], tree: ast.Module, chain: tuple[_Node, ...]) -> None:
        self.lines = lines
        self.tree = tree
        self.chain = chain
        self.target = chain[-1]
        # The parameter's text: from its ``def`` line (its decorators are context).
        self.span = range(self.target.lineno - 1, _end_row(self.target) + 1)
        owner = chain[-2] if len(chain) > 1 else None
        self.owner = owner if isinstance(owner, ast.ClassDef) else None
        owners = {self.owner.name} if self.owner else set()
        if self.owner and isinstance(self.target, _Def):
            owners.add(_self_name(self.target) or self.owner.name)
        self.uses = _uses(self.target, owners)
        self._assigned: dict[_Def, list[tuple[str, ast.stmt, tuple[ast.AST, ...]]]] = {}

    def pieces(self) -> list[_Piece]:
        pieces = [self._piece(_HEADER, "headers", self._header_rows(n)) for n in self.chain[:-1]]
        decorators = self.target.decorator_list
        if decorators:
            rows = range(decorators[0].lineno - 1, self.target.lineno - 1)
            pieces.append(self._piece(_HEADER, "headers", self._comment_trimmed(rows)))
        if self.owner is not None and isinstance(self.target, _Def):
            pieces += self._class_pieces(self.owner)
        pieces += self._name_pieces()
        return [p for p in pieces if p.rows]

    def _piece(self, rank: int, kind: str, rows: Iterable[int]) -> _Piece:
        return _Piece(rank, kind, frozenset(r for r in rows if r not in self.span))

    def _assignments(self, method: _Def) -> list[tuple[str, ast.stmt, tuple[ast.AST, ...]]]:
        found = self._assigned.get(method)
        if found is None:
            found = self._assigned[method] = list(_self_assignments(method))
        return found

    def _defined_in(self, cls: ast.ClassDef) -> set[str]:
        """Names a class body binds and attributes its methods assign on ``self``."""
        names = {name for node, _ in _statements(cls.body) for name in _binds(node)}
        for method in _members(cls):
            if isinstance(method, _Def):
                names.update(name for name, _, _ in self._assignments(method))
        return names

    # ---- a method: its class

    def _class_pieces(self, cls: ast.ClassDef) -> list[_Piece]:
        used = self.uses.attributes
        pieces = []
        for node, parents in _statements(cls.body):
            if node is self.target:
                continue
            rows = [*self._parent_rows(parents)]
            if isinstance(node, _ASSIGNMENTS):
                rank = _USED if used.intersection(_binds(node)) else _OTHER_ATTRIBUTE
                pieces.append(self._piece(rank, "attributes", rows + self._statement_rows(node)))
            elif isinstance(node, _SCOPES):
                mine = node.name in used or node.name == self.target.name
                kind = "classes" if isinstance(node, ast.ClassDef) else "methods"
                rank = _USED if mine else _OTHER_MEMBER
                pieces.append(self._piece(rank, kind, rows + self._header_rows(node)))
        pieces += self._attribute_pieces(cls)
        missing = used - self._defined_in(cls)
        return pieces + self._inherited_pieces(cls, missing) if missing else pieces

    def _attribute_pieces(self, cls: ast.ClassDef) -> list[_Piece]:
        """``self.x = ...`` in the set-up methods, and where else an attribute
        the parameter uses gets its value when no set-up method gives it one."""
        used = self.uses.attributes
        defined = {name for node, _ in _statements(cls.body) for name in _binds(node)}
        pieces: list[_Piece] = []
        elsewhere: dict[str, list[int]] = {}
        for method in _members(cls):
            if method is self.target or isinstance(method, ast.ClassDef):
                continue
            signature = self._signature_rows(method)
            set_up = method.name in _SET_UP_METHODS
            for name, node, parents in self._assignments(method):
                rows = signature + self._parent_rows(parents) + self._statement_rows(node)
                if set_up:
                    defined.add(name)
                    rank = _USED if name in used else _OTHER_ATTRIBUTE
                    pieces.append(self._piece(rank, "attributes", rows))
                elif name in used:
                    elsewhere.setdefault(name, rows)
            if set_up:
                calls = [n for n, _ in _statements(method.body) if _calls_super(n)]
                rows = [r for n in calls for r in signature + self._statement_rows(n)]
                pieces.append(self._piece(_OTHER_ATTRIBUTE, "attributes", rows))
        extra = [rows for name, rows in elsewhere.items() if name not in defined]
        return pieces + [self._piece(_USED, "attributes", rows) for rows in extra]

    def _inherited_pieces(self, cls: ast.ClassDef, missing: set[str]) -> list[_Piece]:
        """Where a base class defined in this module defines an attribute the
        parameter uses and its own class does not."""
        classes = {n.name: n for n in _members(self.tree) if isinstance(n, ast.ClassDef)}
        pieces: list[_Piece] = []
        queue, seen = [(cls, 0)], {cls.name}
        while queue and missing:
            current, depth = queue.pop(0)
            for base in current.bases:
                found = classes.get(getattr(base, "id", ""))
                if found is None or found.name in seen or depth >= _BASE_DEPTH:
                    continue
                seen.add(found.name)
                queue.append((found, depth + 1))
                header = self._header_rows(found)[:3]
                for name, kind, rows in self._definitions(found, missing):
                    pieces.append(self._piece(_USED, kind, header + rows))
                    missing.discard(name)
        return pieces

    def _definitions(
        self, cls: ast.ClassDef, names: set[str]
    ) -> Iterator[tuple[str, str, list[int]]]:
        """``(name, kind, rows)`` where ``cls`` defines one of ``names``."""
        for node, parents in _statements(cls.body):
            for name in names.intersection(_binds(node)):
                if isinstance(node, _SCOPES):
                    rows = self._header_rows(node)
                    yield name, "methods", self._parent_rows(parents) + rows
                else:
                    rows = self._statement_rows(node)
                    yield name, "attributes", self._parent_rows(parents) + rows
            if isinstance(node, _Def) and node.name in _SET_UP_METHODS:
                for name, statement, inner in self._assignments(node):
                    if name in names:
                        rows = self._parent_rows(inner) + self._statement_rows(statement)
                        yield name, "attributes", self._signature_rows(node) + rows

    # ---- names: closures and module level

    def _name_pieces(self) -> list[_Piece]:
        """Where each free name of the parameter is bound: in an enclosing
        function (innermost first, class bodies skipped as Python does) or at
        module level; the parameter's own overloads too."""
        wanted = list(self.uses.names)
        pieces = []
        scopes: list[ast.AST] = [self.tree, *self.chain[:-1]]
        for scope in reversed(scopes):
            if isinstance(scope, ast.ClassDef):
                continue
            found = self._bindings(scope, wanted)
            rank = _USED if scope is not self.tree else _USED_NAME
            pieces += [self._piece(rank, "names", rows) for rows in found.values()]
            bound = set(found) | self._parameters(scope)
            wanted = [name for name in wanted if name not in bound]
        if self.owner is None:
            parent = self.chain[-2] if len(self.chain) > 1 else self.tree
            overloads = [n for n in _members(parent) if n.name == self.target.name]
            rows = [self._header_rows(n) for n in overloads if n is not self.target]
            pieces += [self._piece(_USED, "names", r) for r in rows]
        return pieces

    def _parameters(self, scope: ast.AST) -> set[str]:
        if not isinstance(scope, _Def):
            return set()
        args = scope.args
        every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
        return {a.arg for a in every if a is not None}

    def _bindings(self, scope: ast.AST, wanted: list[str]) -> dict[str, list[int]]:
        """For each wanted name bound in ``scope``, the rows that bind it."""
        found: dict[str, list[ast.stmt]] = {}
        parents_of: dict[int, tuple[ast.AST, ...]] = {}
        wanted_set = set(wanted)
        for node, parents in _statements(getattr(scope, "body", ())):
            if _first_row(node) <= self.span.stop - 1 and self.span.start <= _end_row(node):
                continue  # the parameter itself, or a statement around it
            for name in wanted_set.intersection(_binds(node)):
                found.setdefault(name, []).append(node)
                parents_of[id(node)] = parents
        rows: dict[str, list[int]] = {}
        for name in sorted(found, key=wanted.index):
            for node in found[name][:_BINDINGS_PER_NAME]:
                piece = rows.setdefault(name, [])
                piece += self._parent_rows(parents_of[id(node)])
                piece += self._binding_rows(node, name)
        return rows

    def _binding_rows(self, node: ast.stmt, name: str) -> list[int]:
        if isinstance(node, ast.ClassDef):
            return self._header_rows(node) + self._constructor_rows(node)
        if isinstance(node, _Def):
            return self._header_rows(node)
        if isinstance(node, ast.Import | ast.ImportFrom):
            return self._import_rows(node, name)
        return self._statement_rows(node)

    # ---- rows of one statement

    def _header_rows(self, node: _Node) -> list[int]:
        """Decorators, the ``def``/``class`` line(s), the docstring's first line."""
        rows = self._signature_rows(node)
        first = node.body[0]
        value = first.value if isinstance(first, ast.Expr) else None
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            rows.append(first.lineno - 1)
            if not value.value.split("\n", 1)[0].strip() and _end_row(first) >= first.lineno:
                rows.append(first.lineno)  # '"""' alone on its line: show the text
        return rows

    def _signature_rows(self, node: _Node) -> list[int]:
        decorators = [d.lineno - 1 for d in node.decorator_list]
        head = node.lineno - 1
        header = self._comment_trimmed(range(head, max(head, node.body[0].lineno - 2) + 1))
        return decorators + header[:_SIGNATURE_ROWS]

    def _constructor_rows(self, cls: ast.ClassDef) -> list[int]:
        """How a class is built: its ``__init__`` signature, else its fields."""
        for node in cls.body:
            if isinstance(node, _Def) and node.name == "__init__":
                return self._signature_rows(node)
        fields = [n for n in cls.body if isinstance(n, ast.AnnAssign)][:_FIELD_ROWS]
        return [n.lineno - 1 for n in fields]

    def _statement_rows(self, node: ast.stmt) -> list[int]:
        start = node.lineno - 1
        return list(range(start, min(_end_row(node), start + _STATEMENT_ROWS - 1) + 1))

    def _import_rows(self, node: ast.Import | ast.ImportFrom, name: str) -> list[int]:
        """A long ``from x import (...)`` shows its first line and the line naming ``name``."""
        rows = range(node.lineno - 1, _end_row(node) + 1)
        if len(rows) <= 3:
            return list(rows)
        word = re.compile(rf"\b{re.escape(name)}\b")
        return [rows[0], *(r for r in rows[1:] if word.search(self.lines[r])), rows[-1]]

    def _parent_rows(self, parents: tuple[ast.AST, ...]) -> list[int]:
        """The header line of each ``if``/``try``/``except``/``with`` around a statement."""
        numbers = [getattr(parent, "lineno", None) for parent in parents]
        return [n - 1 for n in numbers if isinstance(n, int)]

    def _comment_trimmed(self, rows: range) -> list[int]:
        """``rows`` without the comment and blank lines that end them."""
        kept = list(rows)
        while len(kept) > 1:
            text = self.lines[kept[-1]].strip()
            if text and not text.startswith("#"):
                break
            kept.pop()
        return kept


# --------------------------------------------------------------------------- rendering


def _render(
    lines: Sequence[str], pieces: list[_Piece], chain: tuple[_Node, ...], limit: int
) -> str:
    if not pieces:
        return ""
    target = chain[-1]
    width = max(4, len(str(len(lines))))
    span = range(target.lineno - 1, _end_row(target) + 1)
    first = lines[span.start]
    indent = first[: len(first) - len(first.lstrip())]
    where = f"lines {span.start + 1}-{span.stop}" if len(span) > 1 else f"line {span.start + 1}"
    name = ".".join(node.name for node in chain)
    marker = f"{'':>{width}}| {indent}# {where}: {name} (the parameter)"
    every = frozenset().union(*(p.rows for p in pieces))
    text = _text(lines, every, width, span, marker, Counter())
    if len(text) <= limit:
        return text
    # The marker's line and the elision line that may come before it are always there.
    budget = limit - len(marker) - 1 - (width + 2)
    kept, dropped = _select(lines, pieces, width, budget, span.start)
    text = _text(lines, kept, width, span, marker, dropped)
    return text if kept and len(text) <= limit else ""


def _select(
    lines: Sequence[str], pieces: list[_Piece], width: int, budget: int, here: int
) -> tuple[frozenset[int], Counter[str]]:
    """The rows of the most relevant pieces that fit in ``budget`` characters with
    the left-out note, and how many pieces of each kind were left out.

    Pieces the parameter uses keep their order of first use; of the others,
    the nearest to the parameter (``here``) go first.
    """
    budget -= len(_note(Counter(p.kind for p in pieces))) + 1
    gap = width + 2  # one '…|' line
    kept: set[int] = set()
    dropped: Counter[str] = Counter()

    def relevance(piece: _Piece) -> tuple[int, int]:
        near = piece.rank >= _OTHER_ATTRIBUTE
        return piece.rank, abs(min(piece.rows) - here) if near else 0

    for piece in sorted(pieces, key=relevance):
        new = sorted(piece.rows - kept)
        runs = sum(1 for i, row in enumerate(new) if i == 0 or new[i - 1] != row - 1)
        cost = sum(len(_row(lines, row, width)) + 1 for row in new) + runs * gap
        if cost <= budget:
            kept.update(new)
            budget -= cost
        elif new:
            dropped[piece.kind] += 1
    return frozenset(kept), dropped


def _text(
    lines: Sequence[str],
    rows: Iterable[int],
    width: int,
    span: range,
    marker: str,
    dropped: Counter[str],
) -> str:
    """The rows in file order, the marker standing for the parameter's ``span``,
    an elision line wherever lines that are not blank are left out between two
    shown ones."""
    out: list[str] = []
    previous = None
    for row in sorted({*rows, span.start}):
        skipped: Sequence[str] = lines[previous + 1 : row] if previous is not None else ()
        if any(line.strip() for line in skipped):  # blank lines alone are not worth a mark
            out.append(f"{'…':>{width}}|")
        out.append(marker if row == span.start else _row(lines, row, width))
        previous = span.stop - 1 if row == span.start else row
    if dropped:
        out.append(_note(dropped))
    return "\n".join(out)


def _row(lines: Sequence[str], row: int, width: int) -> str:
    line = lines[row].rstrip()
    if len(line) > LINE_LIMIT:
        line = f"{line[:LINE_LIMIT]} … [{len(line) - LINE_LIMIT} more characters]"
    return f"{row + 1:>{width}}| {line}" if line else f"{row + 1:>{width}}|"


def _note(dropped: Counter[str]) -> str:
    parts = [
        f"{dropped[kind]} more {one if dropped[kind] == 1 else many}"
        for kind, (one, many) in _KINDS.items()
        if dropped[kind]
    ]
    return f"… {', '.join(parts)} not shown (context limit)"


# --------------------------------------------------------------------------- the module's docstring


#: characters of a module's docstring shown before it is clipped, marked
DOCSTRING_LIMIT = 4000


def with_module_docstring(source: str, context: str, *, limit: int = DOCSTRING_LIMIT) -> str:
    """``context`` (of a parameter in ``source``) preceded by the module's docstring, its
    lines numbered as in the file: what the whole file is about (a game's rules, the
    meaning of its objects), shown once per file rather than with every parameter.

    Returns ``context`` unchanged when the module has no docstring, does not parse or the
    context already shows its first line; never raises.
    """
    source = source.removeprefix("\ufeff")
    tree = _parse(source)
    if tree is None or not tree.body:
        return context
    first = tree.body[0]
    value = first.value if isinstance(first, ast.Expr) else None
    if not (isinstance(value, ast.Constant) and isinstance(value.value, str)):
        return context
    lines = _LINE_BREAK.split(source) if "\r" in source else source.split("\n")
    width = max(4, len(str(len(lines))))
    rows = range(first.lineno - 1, _end_row(first) + 1)
    if context.startswith(f"{rows.start + 1:>{width}}|"):
        return context
    shown: list[str] = []
    size = 0
    for row in rows:
        line = lines[row]
        if len(line) > LINE_LIMIT:
            line = f"{line[:LINE_LIMIT]} … [{len(line) - LINE_LIMIT} more characters]"
        text = f"{row + 1:>{width}}| {line}".rstrip()
        if size + len(text) + 1 > limit:
            left = rows.stop - row
            shown.append(f"{'…':>{width}}| [{left} more lines of the docstring not shown]")
            break
        shown.append(text)
        size += len(text) + 1
    if context and not context.startswith(f"{rows.stop + 1:>{width}}|"):
        shown.append(f"{'…':>{width}}|")
    return "\n".join(shown + ([context] if context else []))
