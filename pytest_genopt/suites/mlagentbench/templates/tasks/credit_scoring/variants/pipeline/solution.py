"""Credit scoring as a fixed pipeline whose five stages may each change:
preprocess -> select_features -> create_model -> train_model -> predict."""

from __future__ import annotations

from typing import Any

from pytest_genopt import trainable

TARGET = "Status"


@trainable
def preprocess(frame: Any) -> Any:
    """The table made ready for a model: the same columns and rows for training and
    prediction tables (``Status`` only in the former).  Numbers only, for now."""
    return frame.select_dtypes("number").fillna(0)


@trainable
def select_features(frame: Any) -> list[str]:
    """The columns of the preprocessed training table the model learns from."""
    return ["Income"]


@trainable
def create_model() -> Any:
    """An unfitted scikit-learn classifier."""
    from sklearn.dummy import DummyClassifier

    return DummyClassifier(strategy="most_frequent")


@trainable
def train_model(model: Any, features: Any, status: Any) -> Any:
    """``model`` fitted to predict ``status`` ("good" or "bad") from ``features``."""
    return model.fit(features, status)


@trainable
def predict(model: Any, features: Any) -> list[str]:
    """ "good" or "bad" per row of ``features``; tests score the F1 of "bad"."""
    return [str(p) for p in model.predict(features)]


def fit_predict(train: Any, features: Any) -> list[str]:
    table = preprocess(train)
    columns = select_features(table)
    model = train_model(create_model(), table[columns], train[TARGET])
    return predict(model, preprocess(features)[columns])
