"""What a task repository's tests share: folds of the training table, scored.

Each of the K folds is one test: ``fit_predict(train, features)`` is trained on the
other folds and predicts the fold's rows; the test's value is the fold's normalised
score (see :mod:`pytest_genopt.suites.mlagentbench.scoring`) and it passes at the
task's goal.  The test split is a holdout test trained on the whole training table.
Feedback gives the metric in its natural units.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_genopt.suites.mlagentbench.data import SOURCES, folds, load_table
from pytest_genopt.suites.mlagentbench.scoring import f1, log_rmse, regression_score

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from pytest_genopt.tracing import TrialReporter

__all__ = ["FOLDS", "GOALS", "check_fold", "check_holdout", "task_of"]

FOLDS = 5
#: a test passes at this normalised score (the starting artifacts score about 0)
GOALS = {"house_prices": 0.75, "credit_scoring": 0.6}
#: the minority class whose F1 the classification task scores
POSITIVE = {"credit_scoring": "bad"}


@dataclass(frozen=True)
class Outcome:
    score: float
    summary: str


@functools.lru_cache(maxsize=4)
def _table(path: str) -> Any:
    return load_table(path)


def task_of(data: Path) -> str:
    """The task whose data is in ``data`` (its ``task.json``, written by export)."""
    return str(json.loads((data / "task.json").read_text(encoding="utf-8"))["task"])


def check_fold(
    data: Path, fold: int, fit_predict: Callable[..., Sequence[Any]], genopt: TrialReporter
) -> None:
    """Score ``fit_predict`` on fold ``fold`` of ``data/train.csv``; assert the goal."""
    task = task_of(data)
    frame = _table(str(data / "train.csv"))
    train_rows, rows = folds(len(frame), FOLDS)[fold]
    _judge(task, frame.iloc[train_rows], frame.iloc[rows], fit_predict, genopt)


def check_holdout(
    data: Path, fit_predict: Callable[..., Sequence[Any]], genopt: TrialReporter
) -> None:
    """Score ``fit_predict`` trained on all of ``data/train.csv`` on ``data/test.csv``."""
    task = task_of(data)
    _judge(
        task, _table(str(data / "train.csv")), _table(str(data / "test.csv")), fit_predict, genopt
    )


def _judge(
    task: str, train: Any, rows: Any, fit_predict: Callable[..., Sequence[Any]],
    genopt: TrialReporter,
) -> None:  # fmt: skip
    target = SOURCES[task].target
    features = rows.drop(columns=[target]).reset_index(drop=True)
    predicted = list(fit_predict(train.reset_index(drop=True), features))
    actual = list(rows[target])
    outcome = _score(task, train, actual, predicted)
    genopt.score(outcome.score)
    genopt.feedback(outcome.summary)
    goal = GOALS[task]
    assert outcome.score >= goal, f"score {outcome.score:.4f} is below the goal {goal}: " + (
        outcome.summary
    )


def _score(task: str, train: Any, actual: list[Any], predicted: list[Any]) -> Outcome:
    if len(predicted) != len(actual):
        raise ValueError(
            f"fit_predict returned {len(predicted)} predictions for {len(actual)} rows"
        )
    if SOURCES[task].kind == "regression":
        return _regression(train[SOURCES[task].target], actual, predicted)
    positive = POSITIVE[task]
    score, precision, recall = f1(actual, [str(p) for p in predicted], positive)
    share = sum(str(p) == positive for p in predicted) / len(predicted)
    return Outcome(
        score,
        f"F1 of {positive!r} {score:.4f} (precision {precision:.4f}, recall {recall:.4f}); "
        f"{share:.1%} of rows predicted {positive!r}, {actual.count(positive) / len(actual):.1%} "
        "actually are; a model always predicting the majority class scores 0",
    )


def _regression(train_target: Any, actual: list[float], predicted: list[Any]) -> Outcome:
    values = [float(p) for p in predicted]
    mean_log = sum(math.log(v) for v in train_target) / len(train_target)
    score = regression_score(actual, values, mean_log)
    dollars = math.sqrt(
        sum((a - p) ** 2 for a, p in zip(actual, values, strict=True)) / len(values)
    )
    baseline = log_rmse(actual, [math.exp(mean_log)] * len(actual))
    return Outcome(
        score,
        f"RMSE ${dollars:,.0f}; RMSE of log prices {log_rmse(actual, values):.4f} against "
        f"{baseline:.4f} for the training mean (score = 1 - their ratio: {score:.4f})",
    )
