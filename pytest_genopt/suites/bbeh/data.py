"""BBEH tasks from a local ``task.json`` (or a folder of them) or the Hugging Face Hub.

The paper's split, per task, in file order with no shuffle: the first 15 examples
train, the next 10 validate, the rest test.  The benchmark's ``task.json`` files are
read as JSON; the Hub dataset the paper used (one split per task, columns ``input``
and ``target``), or a local copy of a Hub dataset repository (a folder with its
dataset card), is read through the ``datasets`` library, which the ``bbeh`` extra
installs.  Without a local
source and without a reachable Hub the loader fails at once, in one line naming both
ways to get the data.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_genopt.backends.python import one_line
from pytest_genopt.suites.hub import DataError, check_hub

__all__ = [
    "DATA_ENV",
    "HUB_DATASET",
    "DataError",
    "Example",
    "Split",
    "load_examples",
    "read_part",
    "read_task_file",
    "split",
    "split_files",
]

#: the Hub dataset the paper's experiments read
HUB_DATASET = "hubert233/BigBenchExtraHard"
#: environment variable naming a local source, like ``genopt init --data``
DATA_ENV = "GENOPT_BBEH_DATA"
TRAIN_SIZE = 15
VALIDATION_SIZE = 10
LICENSE = "CC-BY-4.0"
ATTRIBUTION = (
    "BIG-Bench Extra Hard (Kazemi et al., 2025), published by Google DeepMind under "
    "CC-BY-4.0: https://github.com/google-deepmind/bbeh"
)


@dataclass(frozen=True)
class Example:
    input: str
    target: str

    def to_json(self) -> dict[str, str]:
        return {"input": self.input, "target": self.target}


@dataclass(frozen=True)
class Split:
    """A task's examples in the paper's three parts, and where they came from."""

    task: str
    source: str
    train: tuple[Example, ...]
    validation: tuple[Example, ...]
    test: tuple[Example, ...]
    canary: str = ""

    def parts(self) -> dict[str, tuple[Example, ...]]:
        return {"train": self.train, "validation": self.validation, "test": self.test}


def split(task: str, examples: list[Example], source: str, canary: str = "") -> Split:
    """The paper's split of ``examples`` (file order, no shuffle)."""
    needed = TRAIN_SIZE + VALIDATION_SIZE + 1
    if len(examples) < needed:
        raise DataError(
            f"{source}: {len(examples)} examples for {task}; the split needs at least {needed}"
        )
    cut = TRAIN_SIZE + VALIDATION_SIZE
    return Split(
        task=task,
        source=source,
        train=tuple(examples[:TRAIN_SIZE]),
        validation=tuple(examples[TRAIN_SIZE:cut]),
        test=tuple(examples[cut:]),
        canary=canary,
    )


def load_examples(task: str, source: str | None = None) -> Split:
    """Task ``task`` from ``source`` (a ``task.json``, a folder of them, or a Hub
    dataset id), else from :data:`DATA_ENV`, else from the Hub; split as the paper did."""
    chosen = source or os.environ.get(DATA_ENV) or ""
    local = Path(chosen).expanduser()
    if chosen and local.is_dir() and _is_snapshot(local) and _find_task_file(local, task) is None:
        return split(task, _read_dataset(str(local), task), f"{local}:{task}")
    if chosen and local.exists():
        path = _task_file(local, task)
        examples, canary = read_task_file(path)
        return split(task, examples, str(path), canary)
    if chosen and not _looks_like_hub_id(chosen):
        raise DataError(f"{chosen}: no such file or folder (from --data or ${DATA_ENV})")
    dataset = chosen or HUB_DATASET
    check_hub(
        dataset,
        "pass a local copy with --data PATH (a task.json or the benchmark's folder of "
        f"them) or set {DATA_ENV}=PATH",
    )
    return split(task, _read_dataset(dataset, task), f"hf://{dataset}/{task}")


def _find_task_file(path: Path, task: str) -> Path | None:
    if path.is_file():
        return path
    for candidate in (
        path / f"bbeh_{task}" / "task.json",
        path / "benchmark_tasks" / f"bbeh_{task}" / "task.json",
        path / task / "task.json",
        path / f"{task}.json",
    ):
        if candidate.is_file():
            return candidate
    return None


def _is_snapshot(path: Path) -> bool:
    """Whether ``path`` looks like a local copy of a Hub dataset repository (a dataset
    card, whose YAML names the splits' files)."""
    return (path / "README.md").is_file() and not (path / "benchmark_tasks").is_dir()


def _task_file(path: Path, task: str) -> Path:
    found = _find_task_file(path, task)
    if found is not None:
        return found
    raise DataError(
        f"{path}: no task.json for {task} (looked for bbeh_{task}/task.json, "
        f"benchmark_tasks/bbeh_{task}/task.json, {task}/task.json and {task}.json)"
    )


def read_task_file(path: Path) -> tuple[list[Example], str]:
    """The examples and canary of a benchmark ``task.json``; DataError when malformed."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a readable JSON file: {_one_line(exc)}") from None
    if not isinstance(document, dict) or not isinstance(document.get("examples"), list):
        raise DataError(f'{path}: not a BBEH task file: expected {{"examples": [...]}}')
    return [_example(item, path, index) for index, item in enumerate(document["examples"])], str(
        document.get("canary", "")
    )


def _example(item: Any, path: Path, index: int) -> Example:
    if not isinstance(item, dict):
        raise DataError(f"{path}: example {index} is not an object")
    values = [item.get("input"), item.get("target")]
    if not all(isinstance(v, str) for v in values):
        raise DataError(f'{path}: example {index} needs text "input" and "target"')
    return Example(input=str(values[0]), target=str(values[1]))


def _looks_like_hub_id(text: str) -> bool:
    parts = text.split("/")
    return len(parts) == 2 and all(parts) and not text.startswith((".", "~"))


def _read_dataset(dataset: str, task: str) -> list[Example]:
    """Split ``task`` of a Hub dataset id or a local copy of one, through ``datasets``."""
    try:
        import datasets
    except ImportError:
        raise DataError(
            "reading BBEH from the Hub needs the datasets library: "
            "pip install 'pytest-genopt[bbeh]'"
        ) from None
    datasets.disable_progress_bars()  # genopt init prints one line, not progress bars
    try:
        rows = datasets.load_dataset(dataset, split=task)
    except Exception as exc:  # datasets raises many types; any of them means no data
        raise DataError(f"{dataset}: cannot load split {task}: {_one_line(exc)}") from None
    if not {"input", "target"} <= set(rows.column_names):
        raise DataError(
            f"{dataset}: split {task} has columns {', '.join(rows.column_names)}; "
            "expected input and target"
        )
    return [Example(input=str(row["input"]), target=str(row["target"])) for row in rows]


def _one_line(exc: BaseException) -> str:
    return one_line(str(exc), 200) or type(exc).__name__


def split_files(chosen: Split) -> dict[str, str]:
    """The task repository's data files, ``data/<part>.json``, with the attribution."""
    return {
        f"data/{part}.json": json.dumps(
            {
                "task": chosen.task,
                "part": part,
                "source": chosen.source,
                "license": LICENSE,
                "attribution": ATTRIBUTION,
                "canary": chosen.canary,
                "examples": [e.to_json() for e in examples],
            },
            indent=1,
            ensure_ascii=False,
        )
        + "\n"
        for part, examples in chosen.parts().items()
    }


def read_part(path: Path) -> list[Example]:
    """The examples of a ``data/<part>.json`` written by :func:`split_files`."""
    return read_task_file(path)[0]
