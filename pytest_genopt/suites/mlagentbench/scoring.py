"""Fold scores, normalised so that higher is better and a trivial model scores about 0.

- Regression (house prices): ``1 - RMSE(log prediction) / RMSE(log of the mean)``: the
  error on log prices (as Kaggle scores House Prices) relative to predicting the
  training fold's mean log price; 1 is perfect, 0 is the mean, below 0 is worse.
- Classification (credit scoring): the F1 score of the minority class (``bad``): a
  model that always predicts the majority class scores 0, a perfect one 1.

Each comes with its metric in natural units for feedback (RMSE in dollars; F1,
precision and recall).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["f1", "log_rmse", "regression_score"]


def log_rmse(actual: Sequence[float], predicted: Sequence[float]) -> float:
    """RMSE between the logs of positive values (a non-positive prediction is an error)."""
    if len(actual) != len(predicted) or not actual:
        raise ValueError(f"{len(predicted)} predictions for {len(actual)} rows")
    if min(predicted) <= 0 or not all(math.isfinite(p) for p in predicted):
        raise ValueError("predictions must be finite and positive (they are prices)")
    squared = [(math.log(a) - math.log(p)) ** 2 for a, p in zip(actual, predicted, strict=True)]
    return math.sqrt(sum(squared) / len(squared))


def regression_score(
    actual: Sequence[float], predicted: Sequence[float], train_mean_log: float
) -> float:
    """``1 - log_rmse(prediction) / log_rmse(exp(mean log price of the training fold))``."""
    baseline = log_rmse(actual, [math.exp(train_mean_log)] * len(actual))
    return 1.0 - log_rmse(actual, predicted) / baseline


def f1(
    actual: Sequence[str], predicted: Sequence[str], positive: str
) -> tuple[float, float, float]:
    """(F1, precision, recall) of the class ``positive``; 0 where undefined."""
    if len(actual) != len(predicted):
        raise ValueError(f"{len(predicted)} predictions for {len(actual)} rows")
    hits = sum(a == positive and p == positive for a, p in zip(actual, predicted, strict=True))
    said = sum(p == positive for p in predicted)
    there = sum(a == positive for a in actual)
    precision = hits / said if said else 0.0
    recall = hits / there if there else 0.0
    total = precision + recall
    return (2 * precision * recall / total if total else 0.0), precision, recall
