"""A large parameter as the optimizer sees it: an outline and the regions the evidence reached.

A whole module as a parameter can be hundreds of kilobytes for a one-line fix.
Above :data:`LARGE` characters a Python file parameter is shown as the outline
of its definitions (with line ranges, bounded) and the full, numbered text of
the functions the batch's trials reached: named by traceback frames and
recorded calls, or executed by the failing tests.  Edits then name a
``region`` (protocol v2).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

#: characters above which a Python file parameter is shown as outline and regions
LARGE = 8000
#: characters of outline shown; definitions far from the reached regions are counted instead
OUTLINE_LIMIT = 5000
#: characters of region text shown
REGIONS_LIMIT = 12000
_NEAR = 8  # outline lines kept on each side of a reached definition
_FRAME = re.compile(r"^(?P<path>[^\n:]+):(?P<line>\d+) in ")


def is_large(kind: str, language: str, text: str) -> bool:
    """Whether a parameter is shown as an outline and regions rather than whole."""
    return kind == "file" and language == "python" and len(text) > LARGE


@dataclass(frozen=True)
class Definition:
    """A function, method or class: its qualified name and 1-based line range."""

    qualname: str
    kind: str  # "def" or "class"
    start: int
    end: int
    signature: str
    depth: int


def definitions(text: str) -> list[Definition]:
    """Every function, method and class in ``text`` in source order; [] if it does not parse."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    found: list[Definition] = []
    _walk(tree.body, "", 0, found)
    return found


def _walk(body: list[ast.stmt], prefix: str, depth: int, found: list[Definition]) -> None:
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = ast.unparse(node.args)
            head = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
            signature = f"{head} {node.name}({args})"
            end = node.end_lineno or node.lineno
            found.append(Definition(prefix + node.name, "def", node.lineno, end, signature, depth))
        elif isinstance(node, ast.ClassDef):
            bases = ", ".join(ast.unparse(b) for b in node.bases)
            signature = f"class {node.name}({bases})" if bases else f"class {node.name}"
            end = node.end_lineno or node.lineno
            name = prefix + node.name
            found.append(Definition(name, "class", node.lineno, end, signature, depth))
            _walk(node.body, f"{prefix}{node.name}.", depth + 1, found)


def reached(
    path: str, frames: Iterable[str], calls: Iterable[str], ran: Iterable[str] = ()
) -> tuple[set[str], set[int]]:
    """(qualified names, 1-based lines) of ``path`` that evidence names: frames
    (``path:line in name``), recorded calls (``path::qualname``) and the functions
    tests ran (``path:first line``)."""
    names = {c.partition("::")[2] for c in calls if c.partition("::")[0] == path}
    found = {int(line) for where, _, line in (r.rpartition(":") for r in ran) if where == path}
    for frame in frames:
        match = _FRAME.match(frame)
        if match and match["path"] == path:
            found.add(int(match["line"]))
    return names, found


def view(path: str, text: str, names: set[str], lines: set[int]) -> str:
    """The outline of ``text`` and the numbered full text of its reached functions."""
    found = definitions(text)
    functions = [d for d in found if d.kind == "def"]
    chosen = [d for d in functions if d.qualname in names]
    for line in lines:  # the innermost function holding each line
        holding = [d for d in functions if d.start <= line <= d.end]
        if holding:
            chosen.append(max(holding, key=lambda d: d.start))
    chosen = sorted(set(chosen), key=lambda d: d.start)
    source = text.splitlines()
    parts = [
        f"{path} is {len(text):,} characters ({len(source):,} lines): shown as an outline and "
        "the full text of the functions the evidence reached. Edit it by region: "
        '{"parameter": "' + path + '", "region": "<qualified name>", "search": "<text unique '
        'in that function>", "replace": "..."} or "text" for the whole function.',
        "",
        "outline (line ranges; indented: inside a class):",
        _outline(found, chosen),
        "",
        f"reached functions ({len(chosen)}), numbered as in the file:",
        _regions(source, chosen),
    ]
    return "\n".join(parts)


def _outline(found: Sequence[Definition], chosen: Sequence[Definition]) -> str:
    rows = [f"{'  ' * d.depth}{d.start}-{d.end} {d.signature}" for d in found]
    if sum(len(r) + 1 for r in rows) <= OUTLINE_LIMIT:
        return "\n".join(rows)
    near: set[int] = set()
    for d in chosen:
        at = found.index(d)
        near.update(range(max(0, at - _NEAR), min(len(found), at + _NEAR + 1)))
    near.update(range(min(len(found), _NEAR)))
    out: list[str] = []
    skipped: list[Definition] = []
    for i, row in enumerate(rows):
        if i in near:
            if skipped:
                out.append(_gap(skipped))
                skipped = []
            out.append(row)
        else:
            skipped.append(found[i])
    if skipped:
        out.append(_gap(skipped))
    return "\n".join(out)


def _gap(skipped: Sequence[Definition]) -> str:
    return (
        f"… {len(skipped)} more definitions, lines {skipped[0].start}-{skipped[-1].end} "
        f"({skipped[0].qualname} … {skipped[-1].qualname})"
    )


def _regions(source: Sequence[str], chosen: Sequence[Definition]) -> str:
    blocks: list[str] = []
    used = 0
    for i, d in enumerate(chosen):
        width = len(str(d.end))
        block = "\n".join(f"{n:>{width}} | {source[n - 1]}" for n in range(d.start, d.end + 1))
        if used + len(block) > REGIONS_LIMIT:
            rest = ", ".join(c.qualname for c in chosen[i:])
            blocks.append(f"… {len(chosen) - i} more reached functions not shown: {rest}")
            break
        blocks.append(f"{d.qualname} (lines {d.start}-{d.end}):\n```python\n{block}\n```")
        used += len(block)
    return "\n".join(blocks) if blocks else "(none: no frame or call of the evidence is in it)"
