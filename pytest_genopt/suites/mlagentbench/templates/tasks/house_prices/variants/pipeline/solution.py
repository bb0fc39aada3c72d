"""House prices in Ames, Iowa, as a fixed pipeline whose five stages may each change:
preprocess -> select_features -> create_model -> train_model -> predict."""

from __future__ import annotations

from typing import Any

from pytest_genopt import trainable

TARGET = "price"


@trainable
def preprocess(frame: Any) -> Any:
    """The table made ready for a model: the same columns and rows for training and
    prediction tables (``price`` only in the former).  Numbers only, for now."""
    return frame.select_dtypes("number").fillna(0)


@trainable
def select_features(frame: Any) -> list[str]:
    """The columns of the preprocessed training table the model learns from."""
    return ["area"]


@trainable
def create_model() -> Any:
    """An unfitted scikit-learn regressor."""
    from sklearn.dummy import DummyRegressor

    return DummyRegressor(strategy="mean")


@trainable
def train_model(model: Any, features: Any, prices: Any) -> Any:
    """``model`` fitted to predict ``prices`` (dollars) from ``features``."""
    return model.fit(features, prices)


@trainable
def predict(model: Any, features: Any) -> list[float]:
    """One positive price (dollars) per row of ``features``."""
    return [float(p) for p in model.predict(features)]


def fit_predict(train: Any, features: Any) -> list[float]:
    table = preprocess(train)
    columns = select_features(table)
    model = train_model(create_model(), table[columns], train[TARGET])
    return predict(model, preprocess(features)[columns])
