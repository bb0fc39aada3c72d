"""A program that answers BBEH boolean_expressions questions without a model.

Each question lists five expressions, (A) to (E), of which exactly one is true.
They mix ``True``/``False``, ``not``/``and``/``or``, arithmetic comparisons
written in words ("is greater than"), ``max``/``min`` and stated facts such as
"The capital of Denmark is Aarhus." (false: it is Copenhagen).
"""

from __future__ import annotations

import re

from pytest_genopt import trainable

_OPTION = re.compile(r"^\(([A-E])\) (.+)$", re.MULTILINE)
_COMPARISONS = (
    ("is greater than or equal to", ">="),
    ("is less than or equal to", "<="),
    ("is greater than", ">"),
    ("is less than", "<"),
    ("is equal to", "=="),
)
_CAPITAL = re.compile(r"The capital of (?:the )?([^.()]+?) is ([^.()]+?)\.")


@trainable
def capital_of(country: str) -> str | None:
    """The capital city of ``country`` as the questions spell it, or None if unknown."""
    return None


def _fact(match: re.Match[str]) -> str:
    """One stated capital as True or False (an unknown country's claim counts as true)."""
    known = capital_of(match.group(1))
    return "True" if known is None or known == match.group(2) else "False"


def _python(expression: str) -> str:
    for words, operator in _COMPARISONS:
        expression = expression.replace(words, operator)
    return _CAPITAL.sub(_fact, expression)


@trainable
def solve(question: str) -> str:
    """The option, such as "(C)", whose expression evaluates to true."""
    for letter, expression in _OPTION.findall(question):
        try:
            value = eval(_python(expression), {"__builtins__": {}}, {"max": max, "min": min})
        except Exception:
            continue
        if value is True:
            return f"({letter})"
    return "(A)"
