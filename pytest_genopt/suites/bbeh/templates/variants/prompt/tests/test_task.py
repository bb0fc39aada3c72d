"""Each train example is one test: 1 when the program's answer matches the target
under the benchmark's rules, else 0.  Validation and test examples are holdout tests
(groups ``validation`` and ``test``): genopt runs report them, never learn from them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from program import ask, extract_answer, prompt_template

from pytest_genopt.suites.bbeh.harness import answer_set, cases, describe
from pytest_genopt.suites.bbeh.scoring import matches

if TYPE_CHECKING:
    from pytest_genopt.suites.bbeh.data import Example
    from pytest_genopt.taskmodel import TaskModel
    from pytest_genopt.tracing import TrialReporter

DATA = Path(__file__).resolve().parent.parent / "data"
#: what each train example gives evidence for: the template is read, not called
PROGRAM = ("prompt.txt", "program.py::extract_answer")
ANSWERS = answer_set(DATA)


@pytest.mark.parametrize("example", cases(DATA, PROGRAM))
def test_answer(example: Example, task_model: TaskModel, genopt: TrialReporter) -> None:
    response = ask(task_model, example.input, genopt)
    genopt.feedback(describe(example, response, ANSWERS))
    answer = extract_answer(prompt_template(), example.input, response)
    assert matches(answer, example.target), f"expected {example.target!r}, answered {answer!r}"
