"""The BBEH loader: local task files in the benchmark's layouts, the Hub, bad input."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_genopt.suites.bbeh.data import (
    DATA_ENV,
    DataError,
    load_examples,
    read_part,
    split_files,
)
from tests.bbeh.synthetic import write_benchmark

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "bbeh"


@pytest.fixture
def bbeh_folder(tmp_path: Path) -> Path:
    return write_benchmark(tmp_path / "bbeh")


def test_the_paper_split_in_file_order(bbeh_folder: Path, tmp_path: Path) -> None:
    chosen = load_examples("hyperbaton", str(bbeh_folder))
    assert (len(chosen.train), len(chosen.validation), len(chosen.test)) == (15, 10, 1)
    assert chosen.train[0].input == "hyperbaton question 0: which answer is right?"
    assert chosen.validation[0].input.startswith("hyperbaton question 15:")
    assert chosen.test[0].input.startswith("hyperbaton question 25:")
    assert chosen.source == str(bbeh_folder / "bbeh_hyperbaton" / "task.json")
    # the written parts read back as they were, with the attribution and canary
    for name, text in split_files(chosen).items():
        path = tmp_path / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        document = json.loads(text)
        assert document["license"] == "CC-BY-4.0"
        assert "Google DeepMind" in document["attribution"]
        assert document["canary"] == "SYNTHETIC TEST DATA"
    assert tuple(read_part(tmp_path / "data" / "validation.json")) == chosen.validation


def test_every_layout_of_a_local_source(bbeh_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nested = bbeh_folder.parent / "repo" / "benchmark_tasks"
    nested.mkdir(parents=True)
    (bbeh_folder / "bbeh_linguini").rename(nested / "bbeh_linguini")
    file = nested / "bbeh_linguini" / "task.json"
    assert load_examples("linguini", str(file)).source == str(file)
    assert load_examples("linguini", str(nested.parent)).source == str(file)
    monkeypatch.setenv(DATA_ENV, str(nested))
    assert load_examples("linguini").train[1].target == "[ətkəbox]"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not a readable JSON file: Expecting property name"),
        ("[1, 2]", 'not a BBEH task file: expected {"examples": [...]}'),
        ('{"examples": [3]}', "example 0 is not an object"),
        ('{"examples": [{"input": "q", "target": 7}]}', 'example 0 needs text "input" and'),
        ('{"examples": [{"input": "q", "target": "a"}]}', "1 examples for causal_understanding; "
         "the split needs at least 26"),
    ],
)  # fmt: skip
def test_a_malformed_task_file_is_one_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "task.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as error:
        load_examples("causal_understanding", str(path))
    assert str(error.value).startswith(f"{path}: {message}")
    assert "\n" not in str(error.value)


def test_missing_sources_name_what_was_looked_for(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"^\S+/nowhere: no such file or folder \(from --data"):
        load_examples("hyperbaton", str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match=r"no task.json for hyperbaton \(looked for bbeh_hyperb"):
        load_examples("hyperbaton", str(tmp_path))


def test_offline_without_a_local_source_fails_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as closed:  # a port nothing listens on: the Hub is unreachable
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.delenv(DATA_ENV, raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    for source in (None, "someone/SomeBBEHCopy"):
        with pytest.raises(DataError) as error:
            load_examples("boardgame_qa", source)
        message = str(error.value)
        assert message.startswith("the Hugging Face Hub is unreachable, so ")
        assert "--data PATH" in message
        assert f"{DATA_ENV}=PATH" in message
        assert (source or "hubert233/BigBenchExtraHard") in message


def test_offline_mode_goes_through_datasets_and_its_cache(tmp_path: Path) -> None:
    # HF_HUB_OFFLINE: the datasets library answers from its local cache (it reads the
    # variable when imported, hence a fresh process); an empty cache is a one-line
    # refusal naming the dataset and the task's split, and nothing is written
    env = {k: v for k, v in os.environ.items() if k != DATA_ENV}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    target = tmp_path / "task"
    result = subprocess.run(
        [sys.executable, "-m", "pytest_genopt.cli", "init", "bbeh/boardgame_qa", str(target)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(
        "genopt: error: hubert233/BigBenchExtraHard: cannot load split boardgame_qa: "
    )
    assert result.stderr.count("\n") == 1
    assert not target.exists()


@pytest.mark.skipif(not SHARED.is_dir(), reason="the shared BBEH data is not on this machine")
@pytest.mark.parametrize(
    ("task", "tested"), [("disambiguation_qa", 95), ("linguini", 175), ("boolean_expressions", 175)]
)
def test_the_real_benchmark_files(task: str, tested: int) -> None:
    chosen = load_examples(task, str(SHARED))
    assert (len(chosen.train), len(chosen.validation), len(chosen.test)) == (15, 10, tested)
    assert chosen.canary


def write_snapshot(folder: Path, splits: dict[str, str]) -> Path:
    """A local copy of a Hub dataset repository: a dataset card naming a JSON-lines
    file per split."""
    (folder / "data").mkdir(parents=True)
    card = ["---", "configs:", "- config_name: default", "  data_files:"]
    for split, lines in splits.items():
        card += [f"  - split: {split}", f"    path: data/{split}.jsonl"]
        (folder / "data" / f"{split}.jsonl").write_text(lines, encoding="utf-8")
    (folder / "README.md").write_text("\n".join([*card, "---", "# BBEH copy", ""]))
    return folder


def test_a_local_copy_of_a_hub_dataset_goes_through_datasets(
    bbeh_folder: Path, tmp_path: Path
) -> None:
    rows = json.loads((bbeh_folder / "bbeh_hyperbaton" / "task.json").read_text())["examples"]
    lines = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    snapshot = write_snapshot(tmp_path / "snapshot", {"hyperbaton": lines, "linguini": lines})
    chosen = load_examples("hyperbaton", str(snapshot))
    assert chosen.source == f"{snapshot}:hyperbaton"
    from_file = load_examples("hyperbaton", str(bbeh_folder))
    assert chosen.parts() == from_file.parts()
    with pytest.raises(DataError, match=r"snapshot: cannot load split boardgame_qa: "):
        load_examples("boardgame_qa", str(snapshot))
    renamed = write_snapshot(tmp_path / "renamed", {"linguini": lines.replace('"input"', '"q"')})
    with pytest.raises(DataError, match=r"split linguini has columns q, target; expected input"):
        load_examples("linguini", str(renamed))
