"""Find the trainable parameters of a project and rewrite them.

A parameter is one of:

- a ``@trainable`` function or method (``path::qualname``); its text is the
  source from the ``def`` line to its last line, without decorators, dedented;
- a marked block in any text file (``path::NAME``): the lines strictly between
  a line starting with the begin marker (``genopt`` + ``: begin NAME``) and the
  next line starting with the end marker (``genopt`` + ``: end``), each after
  the file's comment leader if any (``#``, ``//``, ``--``, ``;``, ``%``,
  ``<!--``, ``/*``);
- a whole file (``path``).

Parameter texts always use ``\\n`` line endings; the rewriter writes the file's
own line-ending style back.  Edits are applied by re-locating the parameter in
the file's current text, never by trusting earlier positions, and every byte
outside the rewritten lines is kept.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import io
import itertools
import os
import re
import subprocess
import tokenize
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pytest_genopt.protocol import ParameterView

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

    from pytest_genopt.protocol import Edit

ParameterKind = Literal["function", "block", "file"]

_FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef

_MAX_FILE_BYTES = 2 * 1024 * 1024
_BINARY_SNIFF_BYTES = 8192

# Built from pieces so that this module's own source contains no marker lines.
# A marker is the first thing on its line after the file's comment leader (if
# any), so prose that merely mentions the markers (docs, prompts, JSON) is not
# taken for a block.
_LEADER = r"^[ \t]*(?:#+|//+|--+|;+|%+|<!--|/\*+|\*|'|REM\b)?[ \t]*"
_BEGIN_RE = re.compile(_LEADER + "genopt" + r":[ \t]*begin[ \t]+([A-Za-z0-9_.-]+)", re.M)
_END_RE = re.compile(_LEADER + "genopt" + r":[ \t]*end\b", re.M)
_BEGIN = "genopt" + ": begin"
_END = "genopt" + ": end"

# One physical line, the way Python's parser counts them (lone \r included).
_LINE_RE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")

_WALK_SKIP_DIRS = frozenset({"__pycache__", "venv", "node_modules", "build", "dist"})
# A caller running inside a git hook may have these set for *its* repository.
_GIT_LOCATION_VARS = frozenset({"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR"})

_LANGUAGES = {
    ".py": "python",
    ".pyi": "python",
    ".md": "markdown",
    ".markdown": "markdown",
    ".rst": "rst",
    ".txt": "text",
    ".json": "json",
    ".jsonl": "json",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".toml": "toml",
    ".ini": "ini",
    ".cfg": "ini",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".tsx": "typescript",
    ".sh": "shell",
    ".bash": "shell",
    ".html": "html",
    ".css": "css",
    ".sql": "sql",
    ".xml": "xml",
    ".csv": "csv",
    ".j2": "jinja",
    ".jinja": "jinja",
    ".c": "c",
    ".h": "c",
    ".cpp": "cpp",
    ".hpp": "cpp",
    ".rs": "rust",
    ".go": "go",
    ".java": "java",
    ".rb": "ruby",
}


@dataclass(frozen=True)
class Parameter:
    """One trainable parameter: what the optimizer may rewrite, and where it lives."""

    id: str
    kind: ParameterKind
    path: str
    language: str
    text: str
    description: str = ""

    def view(self) -> ParameterView:
        """The parameter as the optimizer sees it (protocol v2)."""
        return ParameterView(
            id=self.id,
            kind=self.kind,
            path=self.path,
            language=self.language,
            text=self.text,
            description=self.description,
        )


class EditRefused(Exception):
    """An edit that cannot be applied; ``str(exc)`` is a one-line reason for the optimizer."""


class NoChange(EditRefused):
    """An edit whose result is the text it applied to."""


# --------------------------------------------------------------------------- discovery


def list_project_files(rootdir: Path) -> list[str]:
    """Relative ``/``-separated paths of the project's files under ``rootdir``, sorted.

    Inside a git work tree these are the tracked files plus the untracked ones
    that are not ignored (files that no longer exist are left out); elsewhere a
    directory walk that skips hidden directories, ``__pycache__``, virtualenvs,
    ``node_modules``, ``build``, ``dist`` and ``*.egg-info``.  Nothing under a
    ``.genopt`` directory is ever listed.
    """
    paths = _git_files(rootdir)
    if paths is None:
        paths = _walk_files(rootdir)
    return sorted(p for p in paths if ".genopt" not in p.split("/"))


def _git_files(rootdir: Path) -> list[str] | None:
    env = {k: v for k, v in os.environ.items() if k not in _GIT_LOCATION_VARS}
    try:
        proc = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=rootdir,
            env=env,
            capture_output=True,
            check=False,
        )
    except OSError:  # git is not installed
        return None
    if proc.returncode != 0:
        return None
    # Run from rootdir, ls-files lists only files below it, relative to it.
    names = {os.fsdecode(raw) for raw in proc.stdout.split(b"\0") if raw}
    return [name for name in names if (rootdir / name).is_file()]


def _walk_files(rootdir: Path) -> list[str]:
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(rootdir):
        dirnames[:] = [
            d
            for d in dirnames
            if not d.startswith(".") and d not in _WALK_SKIP_DIRS and not d.endswith(".egg-info")
        ]
        rel = Path(dirpath).relative_to(rootdir)
        found.extend((rel / name).as_posix() for name in filenames)
    return found


def language_of(path: str) -> str:
    """The language name of a file, from its extension (``"text"`` when unknown)."""
    dot = path.rfind(".")
    if dot <= path.rfind("/"):
        return "text"
    return _LANGUAGES.get(path[dot:].lower(), "text")


def discover(
    rootdir: Path, *, file_globs: Sequence[str] = (), files: Sequence[str] = ()
) -> list[Parameter]:
    """All trainable parameters of the project under ``rootdir``, sorted by id.

    ``file_globs`` (``/``-separated globs relative to ``rootdir``; ``*`` stays
    within one path segment, ``**`` spans any number of segments) and ``files``
    (relative paths) name whole-file parameters.  Raises ``ValueError`` with a
    one-line message for malformed block markers, a missing or non-text file
    in ``files``, and ids defined twice.
    """
    patterns = [_glob_regex(g) for g in file_globs]
    params: list[Parameter] = []
    file_params: dict[str, Parameter] = {}
    for path in list_project_files(rootdir):
        try:
            text = _load_text(rootdir / path)
        except ValueError:
            continue  # binary, oversized or unreadable: cannot hold a parameter
        params.extend(parameters_in(path, text))
        if any(p.fullmatch(path) for p in patterns):
            file_params[path] = _file_parameter(path, language_of(path), text)
    for name in files:
        path = _relative_path(rootdir, name)
        if path not in file_params:
            try:
                text = _load_text(rootdir / path)
            except ValueError as exc:
                raise ValueError(f"trainable file '{name}' {exc}") from None
            file_params[path] = _file_parameter(path, language_of(path), text)
    params.extend(file_params.values())
    params.sort(key=lambda p: p.id)
    for before, after in itertools.pairwise(params):
        if before.id == after.id:
            raise ValueError(
                f"{after.path}: parameter id '{after.id}' is defined twice "
                f"(as a {before.kind} and as a {after.kind})"
            )
    return params


def parameters_in(path: str, text: str) -> list[Parameter]:
    """The function and block parameters defined in one file's ``text`` (unsorted).

    ``path`` is the file's ``/``-separated path relative to rootdir.  Raises
    ``ValueError`` (one line, naming the file and line) for malformed block markers.
    """
    language = language_of(path)
    params: list[Parameter] = []
    if language == "python" and path.endswith(".py") and "trainable" in text:
        params.extend(_discover_functions(path, text))
    if "genopt:" in text:
        params.extend(_discover_blocks(path, language, text))
    return params


def _load_text(path: Path) -> str:
    """The file's text; ValueError(reason) when unreadable, over 2 MB, binary or not UTF-8."""
    try:
        if path.stat().st_size > _MAX_FILE_BYTES:
            raise ValueError("is larger than 2 MB")
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot be read: {exc.strerror}") from None
    if b"\0" in data[:_BINARY_SNIFF_BYTES]:
        raise ValueError("is a binary file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("is not UTF-8 text") from None


def _relative_path(rootdir: Path, name: str) -> str:
    candidate = Path(name)
    if candidate.is_absolute():
        try:
            candidate = candidate.relative_to(rootdir)
        except ValueError:
            raise ValueError(f"trainable file '{name}' is not under {rootdir}") from None
    rel = candidate.as_posix().removeprefix("./")
    if ".." in rel.split("/"):
        raise ValueError(f"trainable file '{name}' is not under {rootdir}")
    if not (rootdir / rel).is_file():
        raise ValueError(f"trainable file '{name}' does not exist under {rootdir}")
    return rel


def _file_parameter(path: str, language: str, text: str) -> Parameter:
    return Parameter(id=path, kind="file", path=path, language=language, text=_lf(text))


def _glob_regex(glob: str) -> re.Pattern[str]:
    """Compile a path glob; ``**`` is zero or more whole segments, ``*``/``?`` stay in one."""
    segments = glob.removeprefix("./").split("/")
    out: list[str] = []
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == "**":
            out.append(r"(?:[^/]+/)*[^/]+" if last else r"(?:[^/]+/)*")
        else:
            out.append(_segment_regex(segment) + ("" if last else "/"))
    return re.compile("".join(out))


def _segment_regex(segment: str) -> str:
    out: list[str] = []
    i, n = 0, len(segment)
    while i < n:
        char = segment[i]
        i += 1
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            j = i + 1 if i < n and segment[i] == "!" else i
            j = j + 1 if j < n and segment[j] == "]" else j
            j = segment.find("]", j)
            if j < 0:
                out.append(re.escape(char))
            else:
                body = segment[i:j].replace("\\", "\\\\")
                out.append("[^" + body[1:] + "]" if body.startswith("!") else "[" + body + "]")
                i = j + 1
        else:
            out.append(re.escape(char))
    return "".join(out)


def _discover_functions(path: str, text: str) -> list[Parameter]:
    try:
        tree = _parse(text)
    except SyntaxError:
        return []  # not our business: the tests importing it will say so
    lines = _split_lines(text)
    protected = _string_continuation_rows(text)
    return [
        Parameter(
            id=f"{path}::{qualname}",
            kind="function",
            path=path,
            language="python",
            text=_function_region_text(lines, node, protected),
            description=_description(node),
        )
        for qualname, node in _defs(tree.body, "")
        if _is_trainable(node)
    ]


def _discover_blocks(path: str, language: str, text: str) -> list[Parameter]:
    lines = _split_lines(text)
    return [
        Parameter(
            id=f"{path}::{name}",
            kind="block",
            path=path,
            language=language,
            text=_lf("".join(lines[start:end])),
        )
        for name, (start, end) in _block_spans(path, lines).items()
    ]


# --------------------------------------------------------------------------- functions


def _defs(body: list[ast.stmt], prefix: str) -> Iterator[tuple[str, _FunctionNode]]:
    """Functions defined directly in a module or class body (classes nest; functions don't)."""
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield prefix + node.name, node
        elif isinstance(node, ast.ClassDef):
            yield from _defs(node.body, f"{prefix}{node.name}.")


def _trainable_decorator(node: _FunctionNode) -> ast.expr | None:
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if (isinstance(target, ast.Name) and target.id == "trainable") or (
            isinstance(target, ast.Attribute) and target.attr == "trainable"
        ):
            return decorator
    return None


def _is_trainable(node: _FunctionNode) -> bool:
    return _trainable_decorator(node) is not None


def _description(node: _FunctionNode) -> str:
    decorator = _trainable_decorator(node)
    if isinstance(decorator, ast.Call):
        for keyword in decorator.keywords:
            value = keyword.value
            if (
                keyword.arg == "description"
                and isinstance(value, ast.Constant)
                and isinstance(value.value, str)
            ):
                return value.value
    return ""


def _find_function(
    tree: ast.Module, qualname: str, *, trainable: bool = True
) -> list[_FunctionNode]:
    return [
        n for q, n in _defs(tree.body, "") if q == qualname and (_is_trainable(n) or not trainable)
    ]


def function_text(source: str, qualname: str) -> str:
    """The parameter text of the trainable function ``qualname`` defined in ``source``.

    That is its lines from ``def`` to its last line, without decorators,
    dedented to column 0, with ``\\n`` line endings and a final newline.
    Raises ``SyntaxError`` when ``source`` does not parse and ``LookupError``
    when there is not exactly one such trainable function.
    """
    matches = _find_function(_parse(source), qualname)
    if len(matches) != 1:
        raise LookupError(f"{len(matches)} trainable functions named '{qualname}'")
    return _function_region_text(
        _split_lines(source), matches[0], _string_continuation_rows(source)
    )


def _function_region_text(lines: list[str], node: _FunctionNode, protected: set[int]) -> str:
    start, end = _region(node)
    indent = _indent_of(lines[start])
    out = []
    for row in range(start, end):
        line = lines[row]
        if row + 1 not in protected and line.startswith(indent):
            line = line[len(indent) :]
        out.append(line)
    return _with_final_newline(_lf("".join(out)))


def _region(node: _FunctionNode) -> tuple[int, int]:
    """0-based [start, end) line range from the ``def`` line (decorators excluded) to the end."""
    # end_lineno is always set on nodes made by ast.parse; the fallback is for the type checker.
    return node.lineno - 1, node.end_lineno or node.lineno


def _indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _string_continuation_rows(source: str) -> set[int]:
    """1-based rows that begin inside a multi-line string: their indentation is content."""
    # tokenize reads lines on \n only; the parser also ends lines at a lone \r.
    readline = io.StringIO(re.sub(r"\r(?!\n)", "\n", source.removeprefix("\ufeff"))).readline
    rows: set[int] = set()
    depth = start = 0
    for token in tokenize.generate_tokens(readline):
        name = tokenize.tok_name[token.type]
        if name in ("FSTRING_START", "TSTRING_START"):  # Python >= 3.12 splits f-strings
            if depth == 0:
                start = token.start[0]
            depth += 1
        elif name in ("FSTRING_END", "TSTRING_END"):
            depth -= 1
            if depth == 0:
                rows.update(range(start + 1, token.end[0] + 1))
        elif token.type == tokenize.STRING and depth == 0:
            rows.update(range(token.start[0] + 1, token.end[0] + 1))
    return rows


def _apply_function(
    file_text: str, parameter: Parameter, edit: Edit, *, trainable: bool = True
) -> str:
    qualname = parameter.id.partition("::")[2]
    name = qualname.rpartition(".")[2]
    try:
        tree = _parse(file_text)
    except SyntaxError as exc:
        raise EditRefused(
            f"function '{qualname}' can no longer be found: {parameter.path} does not parse "
            f"({_syntax_error(exc)})"
        ) from None
    matches = _find_function(tree, qualname, trainable=trainable)
    if len(matches) != 1:
        where = "can no longer be found" if not matches else f"is defined {len(matches)} times"
        what = "trainable function" if trainable else "region (function)"
        raise EditRefused(f"{what} '{qualname}' {where} in {parameter.path}")
    node = matches[0]
    lines = _split_lines(file_text)
    start, end = _region(node)
    current = _function_region_text(lines, node, _string_continuation_rows(file_text))
    new = _checked_function_text(_new_text(current, edit), name, node)
    if new == current:
        raise NoChange("the edit changes nothing")
    replacement = _reindent(new, _indent_of(lines[start]))
    if not lines[end - 1].endswith(("\n", "\r")):
        replacement = replacement.removesuffix("\n")  # the file had no final newline
    return "".join(lines[:start]) + _to_style(replacement, file_text) + "".join(lines[end:])


def _apply_region(file_text: str, parameter: Parameter, edit: Edit) -> str:
    """An edit of one function or method (``edit.region``, its qualified name) inside a
    Python file parameter: like a function parameter's edit, its search unique there."""
    if parameter.kind != "file" or parameter.language != "python":
        raise EditRefused(
            f"'region' applies to Python file parameters; this is a {parameter.language} "
            f"{parameter.kind} parameter"
        )
    region = dataclasses.replace(parameter, id=f"{parameter.path}::{edit.region}", kind="function")
    inner = dataclasses.replace(edit, parameter=region.id, region=None)
    return _apply_function(file_text, region, inner, trainable=False)


def _checked_function_text(text: str, name: str, original: _FunctionNode) -> str:
    """``text`` as exactly one ``def name``: decorators and blank edges removed, or refused."""
    try:
        tree = _parse(text)
    except SyntaxError as exc:
        raise EditRefused(f"the new text is not valid Python: {_syntax_error(exc)}") from None
    body = tree.body
    if len(body) != 1 or not isinstance(body[0], ast.FunctionDef | ast.AsyncFunctionDef):
        kinds = ", ".join(sorted({type(stmt).__name__ for stmt in body})) or "nothing"
        raise EditRefused(
            f"the new text must be exactly one function definition 'def {name}(...)', "
            f"found {len(body)} top-level statement(s) ({kinds}); "
            "anything else would drop out of its region"
        )
    node = body[0]
    if node.name != name:
        raise EditRefused(
            f"the edit renames function '{name}' to '{node.name}'; a trainable keeps its name"
        )
    lines = _split_lines(text)
    start, end = _region(node)
    head = node.decorator_list[0].lineno - 1 if node.decorator_list else start
    # Decorators equal to the original ones (as code, whatever their layout) are just dropped.
    if node.decorator_list and _dumps(node.decorator_list) != _dumps(original.decorator_list):
        raise EditRefused("decorators are kept by the rewriter; leave them out")
    for row in [*range(head), *range(end, len(lines))]:
        if lines[row].strip():
            raise EditRefused(
                f"line {row + 1} of the new text ({lines[row].strip()[:60]!r}) lies outside "
                f"'def {name}' and would drop out of its region"
            )
    return _with_final_newline("".join(lines[start:end]))


def _dumps(nodes: list[ast.expr]) -> list[str]:
    return [ast.dump(n) for n in nodes]


def _reindent(text: str, indent: str) -> str:
    if not indent:
        return text
    protected = _string_continuation_rows(text)
    return "".join(
        line if row in protected or not line.strip() else indent + line
        for row, line in enumerate(_split_lines(text), start=1)
    )


# --------------------------------------------------------------------------- blocks


def _block_spans(path: str, lines: list[str]) -> dict[str, tuple[int, int]]:
    """NAME -> 0-based [start, end) range of the lines strictly between the markers."""
    spans: dict[str, tuple[int, int]] = {}
    begun: dict[str, int] = {}
    open_name: str | None = None
    open_row = 0
    for row, line in enumerate(lines):
        begin = _BEGIN_RE.search(line)
        if begin:
            name = begin.group(1)
            if open_name is not None:
                raise ValueError(
                    f"{path}:{row + 1}: '{_BEGIN} {name}' inside block '{open_name}' "
                    f"(begun at line {open_row + 1}); blocks cannot nest"
                )
            if name in begun:
                raise ValueError(
                    f"{path}:{row + 1}: block name '{name}' is used twice "
                    f"(first at line {begun[name] + 1})"
                )
            begun[name] = open_row = row
            open_name = name
        elif _END_RE.search(line):
            if open_name is None:
                raise ValueError(f"{path}:{row + 1}: '{_END}' without a '{_BEGIN} NAME' before it")
            spans[open_name] = (open_row + 1, row)
            open_name = None
    if open_name is not None:
        raise ValueError(
            f"{path}:{open_row + 1}: '{_BEGIN} {open_name}' has no '{_END}' line after it"
        )
    return spans


def _apply_block(file_text: str, parameter: Parameter, edit: Edit) -> str:
    name = parameter.id.partition("::")[2]
    lines = _split_lines(file_text)
    try:
        span = _block_spans(parameter.path, lines).get(name)
    except ValueError as exc:
        raise EditRefused(f"block '{name}' can no longer be found: {exc}") from None
    if span is None:
        raise EditRefused(f"block '{name}' can no longer be found in {parameter.path}")
    start, end = span
    current = _lf("".join(lines[start:end]))
    new = _new_text(current, edit)
    for marker, pattern in ((_BEGIN, _BEGIN_RE), (_END, _END_RE)):
        if pattern.search(new):
            raise EditRefused(
                f"the new text contains a '{marker}' marker, which would move the block's bounds"
            )
    new = _with_final_newline(new) if new else new
    if new == current:
        raise NoChange("the edit changes nothing")
    return "".join(lines[:start]) + _to_style(new, file_text) + "".join(lines[end:])


# --------------------------------------------------------------------------- edits


def apply_edit(file_text: str, parameter: Parameter, edit: Edit) -> str:
    """The file's new text with ``edit`` applied to ``parameter``.

    The parameter is re-located in ``file_text`` (by qualified name, by block
    name, or the whole text), so earlier edits to the same file are honoured.
    Only the parameter's lines change; the file's line-ending style and a
    missing final newline are kept.  A function edit is re-indented to the
    ``def``'s indentation (string continuation lines are left as given).
    Raises :class:`EditRefused` with a one-line reason when the edit is
    ambiguous, leaves its region, renames the function, changes nothing, or
    leaves a Python file that does not compile.
    """
    if edit.parameter != parameter.id:
        raise EditRefused(f"the edit is for '{edit.parameter}', not '{parameter.id}'")
    if edit.region is not None:
        new_text = _apply_region(file_text, parameter, edit)
    elif parameter.kind == "function":
        new_text = _apply_function(file_text, parameter, edit)
    elif parameter.kind == "block":
        new_text = _apply_block(file_text, parameter, edit)
    else:
        new_text = _to_style(_new_text(_lf(file_text), edit), file_text)
    if new_text == file_text:
        raise NoChange("the edit changes nothing")
    if parameter.language == "python":
        try:
            _compile(new_text, parameter.path)
        except SyntaxError as exc:
            raise EditRefused(
                f"the resulting file is not valid Python: {_syntax_error(exc)}"
            ) from None
    return new_text


def apply_edits(
    read: Callable[[str], str],
    parameters: Mapping[str, Parameter],
    edits: Sequence[Edit],
    dropped: list[str] | None = None,
) -> dict[str, str]:
    """Apply ``edits`` in order; ``{path: new text}`` for every file that changed.

    ``read(path)`` gives a file's current text.  Raises :class:`EditRefused`
    (reason prefixed with the parameter id) on the first edit that cannot be
    applied, or when an edit names an unknown parameter; nothing is returned
    then.  Given a ``dropped`` list, an edit that changes nothing is left out
    with a note appended there instead, unless every edit is such an edit.
    """
    originals: dict[str, str] = {}
    texts: dict[str, str] = {}
    notes: list[str] = []
    for number, edit in enumerate(edits, 1):
        parameter = parameters.get(edit.parameter)
        if parameter is None:
            known = sorted(parameters)
            listed = ", ".join(known[:10]) + (", ..." if len(known) > 10 else "")
            raise EditRefused(f"unknown parameter '{edit.parameter}'; known: {listed or '(none)'}")
        if parameter.path not in texts:
            texts[parameter.path] = originals[parameter.path] = read(parameter.path)
        try:
            texts[parameter.path] = apply_edit(texts[parameter.path], parameter, edit)
        except NoChange as exc:
            if dropped is None or len(notes) == len(edits) - 1:
                raise EditRefused(f"{parameter.id}: {exc}") from None
            notes.append(f"edit {number} ({parameter.id}) changes nothing; it was left out")
        except EditRefused as exc:
            raise EditRefused(f"{parameter.id}: {exc}") from None
    if dropped is not None:
        dropped.extend(notes)
    return {path: text for path, text in texts.items() if text != originals[path]}


def _new_text(current: str, edit: Edit) -> str:
    """The parameter's whole new text (``\\n`` line endings) asked for by ``edit``."""
    if edit.text is not None:
        return _lf(edit.text)
    if not edit.search:
        raise EditRefused("the edit has neither 'text' nor a non-empty 'search'")
    search = _lf(edit.search)
    count, at = 0, current.find(search)
    first = at
    while at >= 0:
        count += 1
        at = current.find(search, at + 1)
    if count != 1:
        raise EditRefused(
            f"'search' occurs {count} times in the parameter's text; it must occur exactly once"
        )
    return current[:first] + _lf(edit.replace or "") + current[first + len(search) :]


# --------------------------------------------------------------------------- text helpers


def _split_lines(text: str) -> list[str]:
    """Physical lines with their endings; ``"".join`` gives ``text`` back."""
    return _LINE_RE.findall(text)


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n")


def _with_final_newline(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


def _to_style(text: str, file_text: str) -> str:
    """``text`` (``\\n`` endings) in the line-ending style of ``file_text``'s first line."""
    first = file_text.find("\n")
    if first > 0 and file_text[first - 1] == "\r":
        return text.replace("\n", "\r\n")
    return text


@contextlib.contextmanager
def _source_errors() -> Iterator[None]:
    """Bad candidate source raises ``SyntaxError`` only, and warns about nothing."""
    with warnings.catch_warnings():
        # Candidate code may carry e.g. invalid escapes; a warning is not our verdict.
        warnings.simplefilter("ignore")
        try:
            yield
        except ValueError as exc:  # Python 3.10 reports null bytes this way
            raise SyntaxError(str(exc)) from None


def _parse(text: str) -> ast.Module:
    with _source_errors():
        return ast.parse(text.removeprefix("\ufeff"))


def _compile(text: str, path: str) -> None:
    # Compiling (not only parsing) also catches errors such as 'return' outside a function.
    with _source_errors():
        compile(text.removeprefix("\ufeff"), path, "exec", dont_inherit=True)


def _syntax_error(exc: SyntaxError) -> str:
    return f"{exc.msg} (line {exc.lineno})" if exc.lineno else exc.msg
