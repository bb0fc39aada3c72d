"""The LLM program: a prompt template (``prompt.txt``) and an answer extractor.

``forward`` sends the template, a newline and the question to the task model and
passes the response to ``extract_answer``.  Both the template and
``extract_answer`` are what the optimizer may rewrite.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pytest_genopt import trainable

if TYPE_CHECKING:
    from pytest_genopt.taskmodel import TaskModel
    from pytest_genopt.tracing import TrialReporter

TEMPLATE = Path(__file__).resolve().with_name("prompt.txt")


def prompt_template() -> str:
    return TEMPLATE.read_text(encoding="utf-8")


def ask(model: TaskModel, question: str, genopt: TrialReporter | None = None) -> str:
    """The task model's response to the template followed by the question."""
    return model.complete(prompt_template() + "\n" + question, genopt).text


@trainable(
    description="The program: the task model receives the text of prompt.txt, a newline "
    "and the question (its responses to an unchanged prompt are cached, so they do not "
    "change); its response goes to extract_answer, whose result is compared with the "
    "target by the benchmark's matching rules (lowercased and stripped; a choice such as "
    "(B) by its letter; numbers by value)."
)
def extract_answer(prompt_template: str, question: str, response: str) -> str:
    """The answer stated in the model's response, written as the task's answers are."""
    return response.split("Answer:")[1].strip()


def forward(model: TaskModel, question: str, genopt: TrialReporter | None = None) -> str:
    """The program's answer to ``question``."""
    return extract_answer(prompt_template(), question, ask(model, question, genopt))
