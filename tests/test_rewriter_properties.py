"""Properties of the rewriter: it changes the parameter's lines and nothing else."""

from __future__ import annotations

import keyword
import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pytest_genopt.protocol import Edit
from pytest_genopt.trainables import (
    EditRefused,
    Parameter,
    apply_edit,
    function_text,
    parameters_in,
)

BEGIN = "genopt" + ": begin"
END = "genopt" + ": end"
MARKER = re.compile("genopt" + r":[ \t]*(begin|end)")

names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(
    lambda n: not keyword.iskeyword(n)
)
comments = st.text(st.characters(codec="utf-8", exclude_characters="\r\n\x00"), max_size=20).map(
    lambda t: "# " + t
)
module_lines = st.lists(
    st.one_of(st.integers().map(lambda i: f"x_{abs(i) % 50} = {i}"), comments), max_size=4
)
# Any text on one line: no \r or \n, no NUL (a binary file), valid UTF-8, no markers.
free_lines = st.lists(
    st.text(st.characters(codec="utf-8", exclude_characters="\r\n\x00"), max_size=30).filter(
        lambda line: not MARKER.search(line)
    ),
    max_size=6,
)


def lines_of(text: str) -> list[str]:
    """Lines ending at \\n only (str.splitlines also splits at \\x0c, \\u2028, ...)."""
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def discovered(path: str, text: str) -> dict[str, Parameter]:
    return {p.id: p for p in parameters_in(path, text)}


@settings(max_examples=100, deadline=None)
@given(
    before=module_lines,
    after=module_lines,
    body=st.lists(st.integers(), min_size=1, max_size=4),
    indent=st.sampled_from(["", "    ", "  ", "\t"]),
    name=names,
    value=st.integers(),
    newline=st.sampled_from(["\n", "\r\n"]),
    final_newline=st.booleans(),
)
def test_function_rewrite_keeps_every_other_line(
    before: list[str],
    after: list[str],
    body: list[int],
    indent: str,
    name: str,
    value: int,
    newline: str,
    final_newline: bool,
) -> None:
    head = ["from pytest_genopt import trainable", *before]
    if indent:
        head.append("class Box:")
    head += [f"{indent}@trainable", f"{indent}# kept"]
    region = [f"{indent}def {name}(x):", *(f"{indent}    v = {n}" for n in body)]
    region.append(f"{indent}    return v")
    tail = [f"{indent}    # after the last statement", *after]
    lines = [line + newline for line in head + region + tail]
    if not final_newline:
        lines[-1] = lines[-1].removesuffix(newline)
    source = "".join(lines)
    qualname = f"Box.{name}" if indent else name
    parameter = discovered("m.py", source)[f"m.py::{qualname}"]

    with pytest.raises(EditRefused, match=r"^the edit changes nothing$"):
        apply_edit(source, parameter, Edit(parameter.id, text=parameter.text))

    new_text = f"def {name}(x):\n    return {value}\n"
    new = apply_edit(source, parameter, Edit(parameter.id, text=new_text))

    new_lines = lines_of(new)
    start, end = len(head), len(head) + len(region)
    assert "".join(new_lines[:start]) == "".join(lines[:start])
    assert new_lines[start : start + 2] == [
        f"{indent}def {name}(x):{newline}",
        f"{indent}    return {value}{newline}",
    ]
    assert "".join(new_lines[start + 2 :]) == "".join(lines[end:])
    compile(new, "m.py", "exec")
    assert function_text(new, qualname) == new_text


@settings(max_examples=100, deadline=None)
@given(
    before=free_lines,
    old=free_lines,
    new=free_lines,
    after=free_lines,
    newline=st.sampled_from(["\n", "\r\n"]),
)
def test_block_rewrite_round_trips(
    before: list[str], old: list[str], new: list[str], after: list[str], newline: str
) -> None:
    lines = [*before, f"# {BEGIN} knob", *old, f"# {END}", *after]
    source = newline.join(lines) + newline
    parameter = discovered("c.yaml", source)["c.yaml::knob"]
    assert parameter.text == "".join(line + "\n" for line in old)

    new_text = "".join(line + "\n" for line in new)
    assume(new_text != parameter.text)
    result = apply_edit(source, parameter, Edit(parameter.id, text=new_text))

    prefix = "".join(line + newline for line in lines[: len(before) + 1])
    suffix = "".join(line + newline for line in lines[len(before) + 1 + len(old) :])
    assert result.startswith(prefix)
    assert result.endswith(suffix)
    assert result[len(prefix) : len(result) - len(suffix)] == new_text.replace("\n", newline)
    assert discovered("c.yaml", result)["c.yaml::knob"].text == new_text


@st.composite
def unique_search(draw: st.DrawFn) -> tuple[str, str, str]:
    """A text, a non-empty substring occurring exactly once in it, and a replacement."""
    text = "".join(line + "\n" for line in draw(free_lines))
    assume(text)
    start = draw(st.integers(0, len(text) - 1))
    stop = draw(st.integers(start + 1, len(text)))
    search = text[start:stop]
    positions = [i for i in range(len(text)) if text.startswith(search, i)]
    assume(positions == [start])
    replace = draw(st.text(st.characters(codec="utf-8", exclude_characters="\r\x00"), max_size=20))
    assume(replace != search and not MARKER.search(replace))
    return text, search, replace


@settings(max_examples=100, deadline=None)
@given(case=unique_search())
def test_search_replace_is_str_replace(case: tuple[str, str, str]) -> None:
    text, search, replace = case
    expected = text.replace(search, replace)

    whole = Parameter(id="p.txt", kind="file", path="p.txt", language="text", text=text)
    assert apply_edit(text, whole, Edit("p.txt", search=search, replace=replace)) == expected

    source = f"# {BEGIN} b\n{text}# {END}\n"
    block = Parameter(id="c.txt::b", kind="block", path="c.txt", language="text", text=text)
    if expected and not expected.endswith("\n"):
        expected += "\n"  # a block is whole lines
    assume(expected != text)  # e.g. the only change was dropping the final newline
    assume(not MARKER.search(expected))  # a replacement may complete a marker across the seam
    result = apply_edit(source, block, Edit("c.txt::b", search=search, replace=replace))
    assert discovered("c.txt", result)["c.txt::b"].text == expected
