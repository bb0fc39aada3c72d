"""A program that answers BBEH dyck_languages questions without a model.

A question gives a bracket sequence (``Input: ( < > [ ...``) and numbered thoughts
that process it one bracket at a time, each as ``Thought N: SYMBOL ; stack: ...``
(``stack: empty`` when nothing is open), then a few closing thoughts.  The answer
is the number of the first thought that is a mistake, or "No" when there is none.
"""

from __future__ import annotations

import re

from pytest_genopt import trainable

#: each closing bracket and the opening bracket it closes
PAIRS = {")": "(", "]": "[", "}": "{", ">": "<"}
_THOUGHT = re.compile(r"^Thought (\d+): (.*)$", re.MULTILINE)
_STEP = re.compile(r"^(\S) ; stack: (.*)$")


@trainable
def solve(question: str) -> str:
    """The number of the first wrong thought, such as "7", or "No"."""
    stack: list[str] = []
    for number, text in _THOUGHT.findall(question):
        step = _STEP.match(text)
        if step is None:
            continue  # a thought about the task, not a step
        symbol, shown = step.groups()
        if symbol in PAIRS:
            if not stack or stack[-1] != PAIRS[symbol]:
                return number
            stack.pop()
        else:
            stack.append(symbol)
        if (shown.split() if shown.strip() != "empty" else []) != stack:
            return number
    return "No"
