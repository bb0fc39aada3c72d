"""The benchmark's own answer matching, reimplemented from its published rules.

A model's response becomes a prediction (:func:`prediction`): the text after
the last answer phrase, without a trailing period or a LaTeX wrapper,
lowercased, its first line.  A target becomes a reference
(:func:`reference`).  :func:`matches` then tries, in order: equality; a
multiple-choice letter in parentheses on either side; equal numbers; equality
without apostrophes; one side in square brackets; a question mark the
prediction adds.  A task's score is its accuracy; the full benchmark's is the
harmonic mean over tasks, BBEH Mini's the micro average over all examples.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

#: answer phrases, tried in this order; each keeps what follows its last occurrence
ANSWER_PREFIXES = (
    "The answer is:",
    "The final answer is ",
    "The final answer is: ",
    "The answer is ",
)
_LATEX_COMMANDS = ("boxed{", "text{", "texttt{")


def extract_answer(text: str) -> str:
    """The answer a response states: after the answer phrases, without a final period
    and without ``$…$``, ``\\boxed{…}``, ``\\text{…}`` or ``\\texttt{…}`` around it."""
    for prefix in ANSWER_PREFIXES:
        if prefix in text:
            text = text.rsplit(prefix, 1)[1].strip()
    text = text.removesuffix(".")
    if len(text) >= 2 and text.startswith("$") and text.endswith("$"):
        text = text[1:-1]
    for command in _LATEX_COMMANDS:
        if command in text and text.endswith("}"):
            text = text.rsplit(command, 1)[1][:-1]
    return text


def prediction(response: str) -> str:
    """A model's response as the benchmark compares it."""
    text = extract_answer(response.strip()).lower().replace(", ", ",").replace("**", "")
    return text.split("\n", 1)[0].removesuffix(".")


def reference(target: str) -> str:
    """A task's target as the benchmark compares it."""
    return target.strip().lower().replace(", ", ",")


def _choice(text: str) -> bool:
    return len(text) == 3 and text[0] == "(" and text[2] == ")"


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def matches(response: str, target: str) -> bool:
    """Whether ``response`` answers ``target`` under the benchmark's rules."""
    pred, ref = prediction(response), reference(target)
    if pred == ref:
        return True
    if _choice(pred):
        return pred[1] == ref  # decided here, as the benchmark does
    if _choice(ref):
        return ref[1] == pred
    number, wanted = _number(pred), _number(ref)
    if number is not None and wanted is not None and number == wanted:
        return True
    if pred.replace("'", "") == ref.replace("'", ""):
        return True
    if f"[{ref}]" == pred or f"[{pred}]" == ref:
        return True
    return pred.endswith("?") and pred[:-1] == ref


def accuracy(pairs: Iterable[tuple[str, str]]) -> float:
    """The share of (response, target) pairs that match; 0.0 for none."""
    results = [matches(response, target) for response, target in pairs]
    return sum(results) / len(results) if results else 0.0


def harmonic_mean(accuracies: Mapping[str, float]) -> float:
    """The full benchmark's score: the harmonic mean of per-task accuracies (0.0 when
    any task scores 0, or there are none)."""
    values = list(accuracies.values())
    if not values or min(values) <= 0:
        return 0.0
    return len(values) / sum(1 / v for v in values)


def micro_average(results: Sequence[bool]) -> float:
    """BBEH Mini's score: the share of all its examples answered right."""
    return sum(results) / len(results) if results else 0.0
