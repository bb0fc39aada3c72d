"""The benchmark's matching rules, each on hand-made (response, target) pairs."""

from __future__ import annotations

import pytest

from pytest_genopt.suites.bbeh.scoring import (
    accuracy,
    extract_answer,
    harmonic_mean,
    matches,
    micro_average,
    prediction,
    reference,
)


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("Thinking... The answer is: 42", "42"),
        ("The answer is: 3. Wait, The answer is: 4", "4"),  # the last occurrence
        ("So The final answer is blue.", "blue"),
        ("so the answer is: 4", "so the answer is: 4"),  # the phrases are case-sensitive
        ("The final answer is: (C)", "(C)"),
        ("The answer is 7", "7"),
        ("no phrase at all", "no phrase at all"),
        ("The answer is $x+1$", "x+1"),
        ("The answer is \\boxed{12}", "12"),
        ("The answer is $\\boxed{12}$", "12"),
        ("The answer is \\text{proved}", "proved"),
        ("The answer is \\texttt{]]}", "]]"),
        ("The answer is \\boxed{12} or so", "\\boxed{12} or so"),  # not at the end
        ("The answer is 5..", "5."),  # one period only
    ],
)
def test_extraction(text: str, answer: str) -> None:
    assert extract_answer(text) == answer


def test_a_prediction_is_lowercased_unbolded_its_first_line_without_a_period() -> None:
    assert prediction("  The answer is: **Yes, Sir**.\nBecause ...") == "yes,sir"
    assert prediction("Answer:\nfoo") == "answer:"  # the first line, whatever it is
    assert reference("  Els  Llaços, A ") == "els  llaços,a"


@pytest.mark.parametrize(
    ("response", "target", "expected"),
    [
        # equal
        ("The answer is: Disproved", "disproved", True),
        ("The answer is: unknown.", "unknown", True),
        # a letter in parentheses in the prediction decides
        ("The answer is: (B)", "B", True),
        ("The answer is: (B)", "(C)", False),
        ("The answer is: (b)", "b)", False),
        # a letter in parentheses in the target decides
        ("The answer is: E", "(E)", True),
        ("The answer is: (E) because", "(E)", False),
        ("The answer is: E.", "(F)", False),
        # numbers
        ("The answer is 7.0", "7", True),
        ("The answer is 1e1", "10", True),
        ("The answer is 7.5", "7", False),
        # apostrophes
        ("The answer is: the strangers dog", "the stranger's dog", True),
        # square brackets on either side
        ("The answer is: [ətkəbox]", "ətkəbox", True),
        ("The answer is: ətkəbox", "[ətkəbox]", True),
        # a question mark the prediction adds
        ("The answer is: is it raining?", "is it raining", True),
        ("The answer is: raining", "raining?", False),
        # commas
        ("The answer is: a, b, c", "a,b, c", True),
    ],
)
def test_the_ordered_match_rules(response: str, target: str, expected: bool) -> None:
    assert matches(response, target) is expected


@pytest.mark.parametrize(
    ("task", "response", "target"),
    [
        ("boardgame_qa", "Reasoning.\nThe answer is: proved", "proved"),
        ("boolean_expressions", "The final answer is (E).", "(E)"),
        ("causal_understanding", "The answer is: **No**", "No"),
        ("disambiguation_qa", "The answer is: A", "(A)"),
        ("dyck_languages", "The answer is $11$", "11"),
        ("geometric_shapes", "The answer is \\boxed{(J)}", "(J)"),
        ("hyperbaton", "The answer is: g.", "G"),
        ("linguini", "The answer is: Els llaços", "els llaços"),
        ("movie_recommendation", "The final answer is: (H)", "(H)"),
    ],
)
def test_each_task_answer_shape_matches(task: str, response: str, target: str) -> None:
    assert matches(response, target), task
    assert not matches("I cannot tell.", target), task


def test_accuracy_harmonic_mean_and_micro_average() -> None:
    assert accuracy([("The answer is: 1", "1"), ("The answer is: 2", "3")]) == 0.5
    assert accuracy([]) == 0.0
    assert harmonic_mean({"a": 0.5, "b": 1.0}) == pytest.approx(2 / 3)
    assert harmonic_mean({"a": 0.5, "b": 0.0}) == 0.0
    assert harmonic_mean({}) == 0.0
    assert micro_average([True, False, False, True]) == 0.5
    assert micro_average([]) == 0.0
