"""Plausible one-step improvements of each MLAgentBench start, as a scripted optimizer
would propose them: the trivial model replaced by gradient boosting on the numeric
columns.  Shared by the scripted runs in the tests and ``benchmarks/mlagentbench_starts.py``."""

from __future__ import annotations

HOUSE_ONE_FUNCTION = '''\
def train_model(train: Any) -> Any:
    """A predictor of ``price`` from the numeric columns, boosted on log prices."""
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingRegressor

    columns = [c for c in train.select_dtypes("number").columns if c != "price"]
    model = HistGradientBoostingRegressor(random_state=0)
    model.fit(train[columns], np.log(train["price"]))
    return lambda features: np.exp(model.predict(features[columns]))
'''
HOUSE_SELECT = '''\
def select_features(frame: Any) -> list[str]:
    """The columns of the preprocessed training table the model learns from."""
    return [c for c in frame.columns if c != "price"]
'''
HOUSE_MODEL = '''\
def create_model() -> Any:
    """An unfitted scikit-learn regressor: boosting on log prices."""
    import numpy as np
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.ensemble import HistGradientBoostingRegressor

    boosted = HistGradientBoostingRegressor(random_state=0)
    return TransformedTargetRegressor(boosted, func=np.log, inverse_func=np.exp)
'''
CREDIT_ONE_FUNCTION = '''\
def train_model(train: Any) -> Any:
    """A predictor of ``Status`` from the numeric columns, weighted for the rare class."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    columns = list(train.select_dtypes("number").columns)
    model = HistGradientBoostingClassifier(class_weight="balanced", random_state=0)
    model.fit(train[columns], train["Status"])
    return lambda features: model.predict(features[columns])
'''
CREDIT_SELECT = '''\
def select_features(frame: Any) -> list[str]:
    """The columns of the preprocessed training table the model learns from."""
    return [c for c in frame.columns if c != "Status"]
'''
CREDIT_MODEL = '''\
def create_model() -> Any:
    """An unfitted scikit-learn classifier."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(class_weight="balanced", random_state=0)
'''

#: (task, start) -> the edits of one proposal, as (function name in solution.py, text)
IMPROVEMENTS: dict[tuple[str, str], list[tuple[str, str]]] = {
    ("house_prices", "one_function"): [("train_model", HOUSE_ONE_FUNCTION)],
    ("house_prices", "pipeline"): [
        ("select_features", HOUSE_SELECT),
        ("create_model", HOUSE_MODEL),
    ],
    ("credit_scoring", "one_function"): [("train_model", CREDIT_ONE_FUNCTION)],
    ("credit_scoring", "pipeline"): [
        ("select_features", CREDIT_SELECT),
        ("create_model", CREDIT_MODEL),
    ],
}


def optimizer(proposals: list[list[tuple[str, str]]]) -> str:
    """The source of a ``python:optimizer:propose`` module proposing ``proposals`` in turn."""
    return f"""
PROPOSALS = {proposals!r}


def propose(request):
    edits = [
        {{"parameter": "solution.py::" + name, "text": text}}
        for name, text in PROPOSALS[request["iteration"] - 1]
    ]
    return {{"edits": edits, "rationale": "scripted"}}
"""
