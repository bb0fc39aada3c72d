"""The BBEH suite's tasks: the paper's nine, each with the ``prompt`` start, and a
``program`` start where a program can answer the questions without a model.

Importing this module is cheap; ``genopt init`` reads the task's data (see
:mod:`pytest_genopt.suites.bbeh.data`) and writes its split into ``data/``.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from pytest_genopt.suites import Task
from pytest_genopt.suites.bbeh.data import ATTRIBUTION, load_examples, split_files

__all__ = ["PAPER_TASKS", "TEMPLATES", "tasks"]

TEMPLATES = Path(__file__).resolve().parent / "templates"

#: the tasks of the paper's BBEH experiments, with what their answers look like
PAPER_TASKS = {
    "boardgame_qa": "game-rule reasoning; answers proved, disproved or unknown",
    "boolean_expressions": "which of five nested boolean expressions is true; answers (A)-(E)",
    "causal_understanding": "causal judgement stories; answers Yes, No or Ambiguous",
    "disambiguation_qa": "pronoun antecedents; answers (A)-(H)",
    "dyck_languages": "the first wrong step in a bracket-matching trace; a number or No",
    "geometric_shapes": "the shape an SVG path draws; answers (A)-(J)",
    "hyperbaton": "adjective order in invented languages; answers a letter A-J",
    "linguini": "puzzles about unfamiliar languages; free-form answers",
    "movie_recommendation": "the movie most like a list; answers (A)-(J)",
}

PROMPT = (
    "the paper's LLM program: a prompt template (prompt.txt) and a trainable "
    "extract_answer that splits the response on 'Answer:'"
)
#: the prompt start asks a task model: a key, or a loopback server's URL, is needed
PROMPT_COMMANDS = (
    "export ANTHROPIC_API_KEY=...   # the task model's key (docs/suites/bbeh.md)",
    "python -m pytest               # the seed program; answers cached in .genopt/",
    "python -m pytest --genopt-iterations=15 --genopt-batch-size=3 --genopt-holdout-every=1",
)
#: tasks with a ``program`` start, and what it starts from
PROGRAMS = {
    "boolean_expressions": "a trainable solve() that evaluates the expressions in "
    "Python, and a trainable capital_of() that knows no capitals yet (so every stated "
    "capital counts as true)",
    "dyck_languages": "a trainable solve() that replays the thoughts' stacks but trusts "
    "each thought's bracket instead of reading the input",
}


def tasks() -> list[Task]:
    """``bbeh/<task>`` for each of :data:`PAPER_TASKS`."""
    return [
        Task(
            suite="bbeh",
            name=name,
            description=f"BBEH {name}: {answers}",
            root=TEMPLATES,
            variants=("prompt", "program") if name in PROGRAMS else ("prompt",),
            default_variant="prompt",
            extra="bbeh",
            variant_descriptions={"prompt": PROMPT, **_program(name)},
            overlay=TEMPLATES / "tasks" / name,
            data_files=partial(task_files, name),
            commands={"prompt": PROMPT_COMMANDS},
        )
        for name, answers in PAPER_TASKS.items()
    ]


def _program(name: str) -> dict[str, str]:
    return {"program": PROGRAMS[name]} if name in PROGRAMS else {}


def task_files(name: str, source: str | None) -> dict[str, str]:
    """The data files and README of ``bbeh/<name>`` read from ``source``."""
    chosen = load_examples(name, source)
    files = split_files(chosen)
    files["README.md"] = _readme(
        name, chosen.source, {p: len(e) for p, e in chosen.parts().items()}
    )
    return files


def _readme(name: str, source: str, sizes: dict[str, int]) -> str:
    return (
        f"# BBEH {name}\n\n"
        f"{PAPER_TASKS[name]}.\n\n"
        f"`data/` holds the task's examples split as in Nie et al. (2026), in file order: "
        f"{sizes['train']} train (the tests the optimizer learns from), "
        f"{sizes['validation']} validation and {sizes['test']} test (holdout groups "
        f"`validation` and `test`).\n\n"
        f"Data: {ATTRIBUTION}. Read from `{source}`.\n\n"
        "Run the tests with `python -m pytest`; optimize with "
        "`python -m pytest --genopt-iterations=15 --genopt-batch-size=3 "
        "--genopt-holdout-every=1`. See pytest-genopt's docs/suites/bbeh.md.\n"
    )
