"""A recorder compiled into the trainable's own code: its calls are recorded in one frame.

:mod:`pytest_genopt.instrument`'s template recorder is a second function that records
the call and then calls a copy of the original: two Python frames per call.  Where the
function's source can be read and is exactly what runs, this module compiles the
recorder *around the function's own body* instead:

- when no test is being recorded, the body runs as written (the first branch);
- otherwise the call's record is made as the template makes it, and the body runs in a
  second copy where every ``return X`` keeps what is returned, inside a ``try`` whose
  handler stores the exception and re-raises it (the traceback keeps the line that
  raised) and whose ``finally`` stores the value: after the body's own ``finally``
  blocks and ``__exit__`` calls, so the record holds what the caller gets.

Both copies keep the source's file, lines and columns, so tracebacks see the user's
code (a tracer such as coverage would see lines run in an order the file does not
have: :mod:`pytest_genopt.instrument` does not inline under one).  Whether the source
is what runs is checked, not assumed: the unchanged definition, compiled the same way
(same file, future flags, closure and module-level imports), must give a code object
equal to the function's (bytecode, constants, names, lines).  Anything else (no
source, a source edited since import, a generator or coroutine, class-private names,
``global`` or ``nonlocal`` statements, a source too deep for :mod:`ast`) returns None
and the template recorder is used.  The recorder's own names take the template's
prefix, which no name of the function or of its nested functions starts with;
``locals()`` inside a recorded call shows them.
"""

from __future__ import annotations

import ast
import functools
import inspect
import linecache
import symtable
import sys
import tokenize
import types
import warnings
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["inline_recorder"]

#: kinds of code the inlined recorder does not handle (their calls return early)
_SKIPPED = (
    inspect.CO_GENERATOR
    | inspect.CO_COROUTINE
    | inspect.CO_ASYNC_GENERATOR
    | inspect.CO_ITERABLE_COROUTINE
)
#: the ``from __future__`` flags a code object carries, to compile with the same ones
_FUTURE = 0x1FE0000
_MAKER = "__genopt_maker__"
#: longer functions keep the template recorder: inlining costs time for each line (the
#: source parsed three times and compiled twice), and a second frame is nothing to a
#: call of such a function
_LONGEST = 400


def inline_recorder(
    code: types.CodeType, shape: str, returned: str, function: types.FunctionType | None = None
) -> types.CodeType | None:
    """``code`` recompiled with its calls recorded, or None where that cannot be done.

    ``shape`` is the source of the recorder's statements around the body, ``returned``
    those that store a returned value, both from :mod:`pytest_genopt.instrument` (with
    its placeholder constants, which the caller replaces).  ``function``, running
    ``code``, makes its source quicker to find.
    """
    if code.co_flags & _SKIPPED:
        return None
    try:
        found = _source(function if function is not None and function.__code__ is code else code)
        if found is None:
            return None
        # each copy parsed anew: parsing is C, a deep copy of the tree is Python
        fresh = functools.partial(_parsed, *found, code.co_name)
        definition = fresh()
        if definition is None or _compiled(definition, code) != code:
            return None  # no source, or not the source of what runs
        recorded = _recorded(fresh, shape, returned)
        made = None if recorded is None else _compiled(recorded, code)
    except RecursionError:  # deep source (a long elif chain): ast's helpers recurse in Python
        return None
    # a function's new code must use its closure cells as the old one did
    return made if made is not None and made.co_freevars == code.co_freevars else None


def _source(made: types.CodeType | types.FunctionType) -> tuple[str, bool] | None:
    """The source of the ``def`` (decorators included) that made ``made``, after blank
    lines that put it at its place in its file, and whether it is indented; None when
    it cannot be read."""
    try:
        # inspect.getsourcelines without unwrapping (a __wrapped__ is another function's
        # source); a function names its module, where a code object's is found by
        # reading every imported module's file name (tens of milliseconds)
        whole, start = inspect.findsource(made)
        lines, first = inspect.getblock(whole[start:]), start + 1
    except (OSError, TypeError, IndexError, tokenize.TokenError):
        return None  # TokenError: a file edited since import, now cut off in a bracket
    if not lines or len(lines) > _LONGEST:
        return None
    # an indented def is parsed in a block as it stands, not dedented: dedenting
    # changes strings (a docstring's whitespace-only lines, lines left of the def)
    indented = lines[0][:1].isspace()
    if first <= indented:
        return None
    return "\n" * (first - 1 - indented) + "if 1:\n" * indented + "".join(lines), indented


def _parsed(text: str, indented: bool, name: str) -> ast.FunctionDef | None:
    """The ``def`` named ``name`` that ``text`` holds, at its place in its file."""
    try:
        # its warnings ("invalid escape sequence") were the module's to give, at import
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    body = tree.body
    if indented:
        body = body[0].body if len(body) == 1 and isinstance(body[0], ast.If) else []
    if len(body) != 1 or not isinstance(body[0], ast.FunctionDef):
        return None
    if body[0].name != name:  # a lambda in a def's defaults or decorators
        return None
    return body[0]


def _imported(filename: str) -> list[str]:
    """The names the module in ``filename`` binds by a top-level import (sorted)."""
    text = "".join(linecache.getlines(filename))
    return _imported_in(filename, text) if text else []


@functools.lru_cache(maxsize=64)
def _imported_in(filename: str, text: str) -> list[str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = symtable.symtable(text, filename, "exec")
    except (SyntaxError, ValueError, RecursionError):
        return []
    return sorted(s.get_name() for s in table.get_symbols() if s.is_imported())


def _compiled(definition: ast.FunctionDef, code: types.CodeType) -> types.CodeType | None:
    """``definition`` compiled as ``code`` was: same file, future flags, closure and
    module-level imports (3.11+ calls ``module.function(...)`` otherwise when the name is
    bound by one; they are compiled, never run)."""
    params = ast.arguments(
        posonlyargs=[],
        args=[_place(ast.arg(arg=name), definition) for name in code.co_freevars],
        kwonlyargs=[],
        kw_defaults=[],
        defaults=[],
    )
    maker = ast.FunctionDef(
        name=_MAKER, args=params, body=[definition], decorator_list=[], returns=None
    )
    imports = [
        _place(ast.Import(names=[ast.alias(name="_", asname=name)]), definition)
        for name in _imported(code.co_filename)
    ]
    # every node made here is placed: fix_missing_locations would walk the whole tree
    module = ast.Module(body=[*imports, _place(maker, definition, deep=False)], type_ignores=[])
    try:
        # placeholders are string constants called or compared with "is": no mistake here
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            compiled = compile(
                module, code.co_filename, "exec", flags=code.co_flags & _FUTURE, dont_inherit=True
            )
    except (SyntaxError, ValueError, TypeError):
        return None
    made = _nested(_nested(compiled, _MAKER), code.co_name)
    if made is None:
        return None
    # as a maker's inner function it is flagged nested, which changes nothing at run time
    made = made.replace(
        co_flags=made.co_flags & ~inspect.CO_NESTED | code.co_flags & inspect.CO_NESTED
    )
    if sys.version_info < (3, 11):
        return made
    return made.replace(co_qualname=code.co_qualname)


def _nested(code: types.CodeType | None, name: str) -> types.CodeType | None:
    if code is None:
        return None
    found = [c for c in code.co_consts if isinstance(c, types.CodeType) and c.co_name == name]
    return found[0] if len(found) == 1 else None


def _recorded(
    fresh: Callable[[], ast.FunctionDef | None], shape: str, returned: str
) -> ast.FunctionDef | None:
    """A new copy of the definition (``fresh`` parses one) whose body records the call
    (see the module's doc)."""
    recorded, plain_copy, guarded_copy = fresh(), fresh(), fresh()
    if recorded is None or plain_copy is None or guarded_copy is None:
        return None
    statements = ast.parse(shape).body
    plain, guarded = statements[1], statements[-1]
    if not isinstance(plain, ast.If) or not isinstance(guarded, ast.Try):
        return None
    for statement in statements:
        _place(statement, recorded)
    end = _stored(_place(ast.Constant(None), recorded), returned, recorded)
    plain.body = [*plain_copy.body, _place(ast.Return(ast.Constant(None)), recorded)]
    stores = _Returns(returned)
    guarded.body = [s for b in guarded_copy.body for s in _visited(stores, b)] + end
    recorded.body = statements
    return recorded


def _visited(transformer: ast.NodeTransformer, statement: ast.stmt) -> list[ast.stmt]:
    done = transformer.visit(statement)
    return done if isinstance(done, list) else [done]


def _stored(value: ast.expr, returned: str, where: ast.AST) -> list[ast.stmt]:
    """The statements storing ``value`` in the call's record, then returning it."""
    stores = ast.parse(returned).body
    for statement in stores:
        _place(statement, where)
    keep = stores[0]
    if not isinstance(keep, ast.Assign) or not isinstance(keep.targets[0], ast.Name):
        raise ValueError("the first statement of the stores must assign the value")
    keep.value = value  # after placing: the value keeps its own place in the source
    name = _place(ast.Name(keep.targets[0].id, ast.Load()), where)
    return [*stores, _place(ast.Return(name), where)]


class _Returns(ast.NodeTransformer):
    """Each ``return X`` of the function itself (not of a nested def, lambda or class)
    stores X in the call's record first."""

    def __init__(self, returned: str) -> None:
        self.returned = returned

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        return node

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AST:
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        return node

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        return node

    def visit_Return(self, node: ast.Return) -> list[ast.stmt]:
        value = node.value if node.value is not None else _place(ast.Constant(None), node)
        return _stored(value, self.returned, node)


_Node = TypeVar("_Node", bound=ast.AST)


def _place(tree: _Node, where: ast.AST, *, deep: bool = True) -> _Node:
    """Give every node of ``tree`` (only its root unless ``deep``) the place of ``where``
    in the source; ``tree``."""
    for node in ast.walk(tree) if deep else [tree]:
        for name in ("lineno", "col_offset", "end_lineno", "end_col_offset"):
            if name in node._attributes:
                setattr(node, name, getattr(where, name, None))
    return tree
