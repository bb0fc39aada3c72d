"""Credit scoring: learn from past applicants, predict whether new ones are good or bad."""

from __future__ import annotations

from typing import Any

from pytest_genopt import trainable


@trainable
def train_model(train: Any) -> Any:
    """Return a function that predicts ``Status`` ("good" or "bad") for a DataFrame.

    ``train`` is a pandas DataFrame of past applicants: 13 feature columns and
    ``Status``.  Numbers: Seniority (years in the job), Time (loan term, months), Age,
    Expenses, Income, Assets, Debt, Amount (requested), Price (of the purchase);
    strings: Home, Marital, Records (past arrears), Job.  Income, Assets, Debt and
    some strings have missing values.  About 28% of applicants are "bad".  The
    returned function takes a DataFrame with the same feature columns (no Status)
    and returns "good" or "bad" per row.  Tests score the F1 of "bad": always
    answering "good" scores 0.

    Ideas:
    - Records, Job, Seniority, Income, Amount / Price (the share financed) and
      Amount / Income carry most of the signal;
    - encode the strings (one-hot), impute or flag missing values;
    - the classes are imbalanced: weight them, or choose the probability threshold
      that maximises F1 rather than 0.5;
    - models: logistic regression, gradient boosting
      (HistGradientBoostingClassifier handles missing values itself);
    - pandas, numpy and scikit-learn are installed; one evaluation trains 6 models.
    """
    majority = str(train["Status"].mode()[0])
    return lambda features: [majority] * len(features)


def fit_predict(train: Any, features: Any) -> list[str]:
    return [str(p) for p in train_model(train)(features)]
