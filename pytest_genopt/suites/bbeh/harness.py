"""What a BBEH task repository's tests share: its examples as test cases, the feedback.

Train examples are the trials the optimizer learns from; validation and test
examples are holdout tests in groups of those names, so a run reports both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pytest_genopt.suites.bbeh.data import read_part

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from pytest_genopt.suites.bbeh.data import Example

__all__ = ["ANSWERS_SHOWN", "RESPONSE_LIMIT", "answer_set", "cases", "describe"]

#: characters of a model response shown in feedback (head and tail)
RESPONSE_LIMIT = 1500
#: the most distinct answers a task may have for feedback to list them
ANSWERS_SHOWN = 12
PARTS = ("train", "validation", "test")


def cases(data: Path, trainables: Sequence[str] = ()) -> list[Any]:
    """One ``pytest.param`` per example of ``data/{train,validation,test}.json``; train
    examples give evidence for ``trainables`` (ids or globs), besides what they call."""
    params = []
    for part in PARTS:
        if part != "train":
            marks = [pytest.mark.genopt(holdout=part)]
        else:
            marks = [pytest.mark.genopt(trainables=list(trainables))] if trainables else []
        for index, example in enumerate(read_part(data / f"{part}.json")):
            params.append(pytest.param(example, id=f"{part}{index:03d}", marks=marks))
    return params


def describe(example: Example, response: str, answers: Sequence[str] = ()) -> str:
    """Feedback for one example: the expected answer, the task's answers when they are
    few, and the model's response, bounded."""
    text = response.strip()
    if len(text) > RESPONSE_LIMIT:
        half = RESPONSE_LIMIT // 2
        text = f"{text[:half]}…[{len(text) - 2 * half} chars elided]…{text[-half:]}"
    lines = [f"expected answer: {example.target!r}"]
    if answers:
        lines.append(f"the task's answers: {', '.join(repr(a) for a in answers)}")
    return "\n".join([*lines, f"model response ({len(response)} chars):", text])


def answer_set(data: Path, limit: int = ANSWERS_SHOWN) -> tuple[str, ...]:
    """The distinct train targets in order of first use, or () when there are more than
    ``limit`` (free-form answers: the expected answer says enough)."""
    seen = dict.fromkeys(e.target for e in read_part(data / "train.json"))
    return tuple(seen) if len(seen) <= limit else ()
