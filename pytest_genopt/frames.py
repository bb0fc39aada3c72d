"""Render a failure's traceback as evidence: project frames with their lines, the rest folded.

The credit horizon counts frames of the project's code.  Frames of the
standard library, installed packages, pytest, pluggy and genopt say little
about what to change, so each run of them becomes one line
("… 6 frames in unittest …"); the innermost run says where it raised.
A project frame shows its statement and the two lines above it, numbered as
in the file so a frame ``calc.py:12`` can be matched to a parameter's text.
"""

from __future__ import annotations

import ast
import linecache
import os
import sysconfig
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_genopt.evidence import FOLD_MARK

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from _pytest._code.code import ExceptionInfo, TracebackEntry

#: lines of a test function's source shown with its failure
TEST_SOURCE_LINES = 40
_CONTEXT_ABOVE = 2
_DECORATOR_LINES = 12  # of a test's decorators (its parametrize list) shown at most
_STATEMENT_LINES = 6
_MAX_FRAMES = 100


def _package_dir(name: str) -> str:
    module = __import__(name)
    return str(Path(module.__file__ or "").resolve().parent) + os.sep


_OWN = {"genopt": "pytest_genopt", "pytest": "_pytest", "pluggy": "pluggy"}
_OWN_DIRS = {label: _package_dir(name) for label, name in _OWN.items()}
_PYTEST_FILE = str(Path(pytest.__file__).resolve())
STDLIB_DIRS = tuple(
    {str(Path(sysconfig.get_paths()[k]).resolve()) + os.sep for k in ("stdlib", "platstdlib")}
)


def library(path: str) -> str | None:
    """The name of the library ``path`` belongs to, or None for the project's own code."""
    for label, directory in _OWN_DIRS.items():
        if path.startswith(directory):
            return label
    if path == _PYTEST_FILE:
        return "pytest"
    parts = Path(path).parts
    for installed in ("site-packages", "dist-packages"):
        if installed in parts:
            rest = parts[parts.index(installed) + 1 :]
            return rest[0].removesuffix(".py") if rest else "site-packages"
    if path.startswith(STDLIB_DIRS):
        inside = path[len(next(d for d in STDLIB_DIRS if path.startswith(d))) :]
        return "unittest" if inside.startswith("unittest" + os.sep) else "the standard library"
    if path.startswith("<frozen "):
        return "the standard library"
    if path.startswith("<"):
        return "generated code"
    return None


class Sources:
    """Each file's lines, statements and function spans, parsed once per process.

    pytest's ``TracebackEntry.statement`` parses the whole file again for
    every frame; with a few dozen failures that was most of an evaluation.
    """

    def __init__(self) -> None:
        self._parsed: dict[str, tuple[list[str], list[tuple[int, int]], list[tuple[int, int]]]]
        self._parsed = {}
        self._paths: dict[str, str] = {}

    def path(self, entry: TracebackEntry) -> str:
        """``os.fspath(entry.path)``, worked out once per file name: pytest makes it
        absolute and checks that it exists each time it is asked, for every frame of a
        traceback (pytest's and pluggy's included)."""
        filename = entry.frame.code.raw.co_filename
        path = self._paths.get(filename)
        if path is None:
            path = self._paths[filename] = os.fspath(entry.path)
        return path

    def _get(self, filename: str) -> tuple[list[str], list[tuple[int, int]], list[tuple[int, int]]]:
        parsed = self._parsed.get(filename)
        if parsed is None:
            lines = [line.rstrip("\n") for line in linecache.getlines(filename)]
            tree = _parse("\n".join(lines))
            parsed = self._parsed[filename] = (lines, statement_spans(tree), function_spans(tree))
        return parsed

    def lines(self, filename: str) -> list[str]:
        """The file's lines, without their line ends."""
        return self._get(filename)[0]

    def statement(self, filename: str, lineno: int) -> tuple[list[str], int, int]:
        """The file's lines and the (first, last) 0-based lines of the statement at ``lineno``."""
        lines, spans, _ = self._get(filename)
        if not 0 <= lineno < len(lines):
            return lines, lineno, lineno - 1  # nothing to show
        start, end = statement_at(spans, lines, lineno)
        return lines, start, end

    def function(self, filename: str, first: int) -> tuple[int, int] | None:
        """The (def line, last line), 0-based, of the function whose code starts at
        ``first`` (``co_firstlineno - 1``: its first decorator, else its ``def``)."""
        _, _, spans = self._get(filename)
        after = [s for s in spans if s[0] >= first]
        return min(after) if after else None


def _parse(text: str) -> ast.Module | None:
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError):
        return None


def statement_spans(tree: ast.Module | str | None) -> list[tuple[int, int]]:
    """(first, last) 0-based lines of every statement in ``tree`` (or source text); a
    compound statement spans its header only.  [] when the text does not parse."""
    if isinstance(tree, str):
        tree = _parse(tree)
    if tree is None:
        return []
    spans = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.stmt, ast.excepthandler)):
            continue
        start, end = node.lineno - 1, (node.end_lineno or node.lineno) - 1
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
            end = max(start, body[0].lineno - 2)
        spans.append((start, end))
    return spans


def function_spans(tree: ast.Module | None) -> list[tuple[int, int]]:
    """(def line, last line), 0-based, of every function in ``tree``."""
    if tree is None:
        return []
    return [
        (node.lineno - 1, (node.end_lineno or node.lineno) - 1)
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    ]


def statement_at(
    spans: list[tuple[int, int]], lines: Sequence[str], lineno: int
) -> tuple[int, int]:
    """The lines of the narrowest span holding ``lineno`` without the comments that end
    it (those between a header and its body); the line alone when no span holds it."""
    holding = [s for s in spans if s[0] <= lineno <= s[1]]
    if not holding:
        return lineno, lineno
    start, end = min(holding, key=lambda s: (s[1] - s[0], -s[0]))
    while end > start and lines[end].strip().startswith("#"):
        end -= 1
    return start, end


def numbered(
    lines: Sequence[str], first: int, last: int, marked: range, width: int = 0
) -> list[str]:
    """Lines ``first..last`` (0-based) with their 1-based numbers; ``marked`` ones get ``>``."""
    width = width or len(str(last + 1))
    return [
        f"{'>' if i in marked else ' '} {i + 1:>{width}} | {lines[i]}".rstrip()
        for i in range(max(first, 0), min(last, len(lines) - 1) + 1)
    ]


class Frames:
    """Renders tracebacks and test sources for one process's failures."""

    def __init__(self, names: Callable[[str], str]) -> None:
        self.names = names
        self.sources = Sources()

    def render(
        self, excinfo: ExceptionInfo[BaseException], test: tuple[str, int] | None = None
    ) -> list[str]:
        """The frames of ``excinfo``, outermost first, library runs folded.

        ``test`` is the failing test's (filename, 0-based def line): its frames
        show their statement only, since its source is shown whole.
        """
        entries = [e for e in excinfo.traceback if not e.ishidden(excinfo)]
        test_span = self.sources.function(*test) if test else None
        out: list[str] = []
        run: list[TracebackEntry] = []
        label: str | None = None
        for entry in entries[-_MAX_FRAMES:]:
            entry_label = library(self.sources.path(entry))
            if run and entry_label != label:
                out.append(self._fold(label or "", run, innermost=False))
                run = []
            label = entry_label
            if entry_label is None:
                out.append(self._frame(entry, test, test_span))
            else:
                run.append(entry)
        if run:
            out.append(self._fold(label or "", run, innermost=True))
        if any(not frame.startswith(FOLD_MARK) for frame in out):
            while out[0].startswith(FOLD_MARK):  # the runner that called the test
                out.pop(0)
        return out

    def _fold(self, label: str, run: list[TracebackEntry], *, innermost: bool) -> str:
        count = f"{len(run)} frame{'s' if len(run) > 1 else ''}"
        text = f"{FOLD_MARK}{count} in {label}"
        if innermost:
            last = run[-1]
            text += f"; raised in {self.names(self.sources.path(last))}:{last.lineno + 1}"
            text += f" in {last.name}"
        return text

    def _frame(
        self, entry: TracebackEntry, test: tuple[str, int] | None, span: tuple[int, int] | None
    ) -> str:
        filename = self.sources.path(entry)
        head = f"{self.names(filename)}:{entry.lineno + 1} in {entry.name}"
        try:
            lines, start, end = self.sources.statement(filename, entry.lineno)
        except Exception:  # source can vanish (generated code, deleted files)
            return head
        end = min(end, start + _STATEMENT_LINES - 1)
        in_test = bool(test and span and filename == test[0] and span[0] <= start <= span[1])
        above = 0 if in_test else _CONTEXT_ABOVE
        shown = numbered(lines, start - above, end, range(start, end + 1))
        return "\n".join([head, *("    " + line for line in shown)])

    def test_source(
        self, test: tuple[str, int], excinfo: ExceptionInfo[BaseException] | None
    ) -> str:
        """The test function's numbered source with its decorators (its parameters), its
        failing line marked: at most :data:`TEST_SOURCE_LINES` lines, the first decorator
        lines, the ``def`` and the lines up to the failure."""
        filename, head = test
        span = self.sources.function(*test)
        if span is None:
            return ""
        lines = self.sources.lines(filename)
        start, end = span
        failing = range(0)
        if excinfo is not None:
            inside = [
                e.lineno
                for e in excinfo.traceback
                if self.sources.path(e) == filename and start <= e.lineno <= end
            ]
            if inside:
                _, first, last = self.sources.statement(filename, inside[-1])
                failing = range(first, last + 1)
        stop = end if not failing else min(end, failing.stop + 2)
        top = {*range(head, min(start, head + _DECORATOR_LINES)), start}
        tail = range(max(start, stop - TEST_SOURCE_LINES + len(top) + 1), stop + 1)
        shown = _with_gaps(lines, sorted(top | set(tail)), failing)
        if stop < end:
            shown.append(f"  … {end - stop} more line(s)")
        return "\n".join(shown)


def _with_gaps(lines: Sequence[str], rows: Sequence[int], marked: range) -> list[str]:
    """``rows`` (0-based, sorted) numbered, a line saying how many were left out between."""
    out: list[str] = []
    width_end = rows[-1] if rows else 0
    for i, row in enumerate(rows):
        if i and row > rows[i - 1] + 1:
            out.append(f"  … {row - rows[i - 1] - 1} line(s) not shown")
        out.extend(numbered(lines, row, row, marked, width=len(str(width_end + 1))))
    return out
