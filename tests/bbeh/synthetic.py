"""Made-up BBEH task files in the benchmark's layout (the real data is not ours to ship).

``write_benchmark(folder)`` writes ``bbeh_<task>/task.json`` for every task of the
paper, 26 examples each (15 train, 10 validation, 1 test), with targets shaped as
the task's real ones.  boolean_expressions questions are real puzzles of the
benchmark's form: five expressions, one true, some depending on stated capitals.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

EXAMPLES = 26
CAPITALS = {"France": "Paris", "Peru": "Lima", "Kenya": "Nairobi", "Chile": "Santiago"}
WRONG = {"France": "Lyon", "Peru": "Cusco", "Kenya": "Mombasa", "Chile": "Valparaiso"}
TARGETS = {
    "boardgame_qa": ("proved", "disproved", "unknown"),
    "causal_understanding": ("Yes", "No", "Ambiguous"),
    "disambiguation_qa": ("(A)", "(B)", "(C)", "(D)"),
    "dyck_languages": ("7", "No", "12"),
    "geometric_shapes": ("(A)", "(F)", "(J)"),
    "hyperbaton": ("A", "E", "J"),
    "linguini": ("els llaços", "[ətkəbox]", "tupa"),
    "movie_recommendation": ("(B)", "(E)", "(I)"),
}


def boolean_question(index: int) -> tuple[str, str]:
    """A question whose true option follows a false capital claim (so a solver that
    trusts every claim answers wrong) in half of the examples."""
    countries = list(CAPITALS)
    country = countries[index % len(countries)]
    letters = "ABCDE"
    true_at = 1 + index % 4  # B..E
    options = []
    for position, letter in enumerate(letters):
        if position == true_at:
            text = (
                f"(The capital of {country} is {CAPITALS[country]}.) and (3 * 4 is greater than 10)"
            )
        elif position == 0 and index % 2 == 0:
            text = f"not (False) and (The capital of {country} is {WRONG[country]}.)"
        else:
            text = f"(False) or ({position} - 9 is greater than 5)"
        options.append(f"({letter}) {text}")
    question = (
        "From the following five expressions, only one evaluates to true. Which one is it?\n\n"
        + "\n".join(options)
    )
    return question, f"({letters[true_at]})"


def examples(task: str) -> list[dict[str, str]]:
    if task == "boolean_expressions":
        pairs = [boolean_question(i) for i in range(EXAMPLES)]
        return [{"input": q, "target": t} for q, t in pairs]
    shapes = TARGETS[task]
    return [
        {"input": f"{task} question {i}: which answer is right?", "target": shapes[i % len(shapes)]}
        for i in range(EXAMPLES)
    ]


def write_benchmark(folder: Path) -> Path:
    for task in ("boolean_expressions", *TARGETS):
        path = folder / f"bbeh_{task}" / "task.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {"canary": "SYNTHETIC TEST DATA", "examples": examples(task)}
        path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return folder
