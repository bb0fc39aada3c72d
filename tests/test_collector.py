from __future__ import annotations

import textwrap

from pytest_genopt.frames import statement_at, statement_spans

SOURCE = textwrap.dedent(
    """\
    def f(a,
          b):
        if a:
            # a comment
            return b
        x = g(1,
              2)
        return x
    broken = (
    """
)


def lines_of(source: str, lineno: int) -> list[str]:
    lines = source.splitlines()
    start, end = statement_at(statement_spans(source), lines, lineno)
    return lines[start : end + 1]


def test_a_multi_line_statement_is_shown_whole_from_any_of_its_lines() -> None:
    source = SOURCE.replace("broken = (\n", "")
    assert lines_of(source, 6) == ["    x = g(1,", "          2)"]
    assert lines_of(source, 5) == lines_of(source, 6)
    assert lines_of(source, 7) == ["    return x"]


def test_a_compound_statement_is_its_header_only() -> None:
    source = SOURCE.replace("broken = (\n", "")
    assert lines_of(source, 0) == ["def f(a,", "      b):"]
    # the comment between the header and its body is left out
    assert lines_of(source, 2) == ["    if a:"]
    assert lines_of(source, 4) == ["        return b"]


def test_source_that_does_not_parse_gives_the_line_alone() -> None:
    assert statement_spans(SOURCE) == []
    assert lines_of(SOURCE, 6) == ["          2)"]
