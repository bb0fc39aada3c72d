"""An MLAgentBench task optimized end to end: a crashing and a hanging pipeline are
rejected with their reasons, then a gradient-boosted model is accepted."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_genopt.cli import main
from tests.test_loop import genopt, report_of

if TYPE_CHECKING:
    import pytest

CRASH = '''\
def create_model() -> Any:
    """An unfitted scikit-learn classifier."""
    raise RuntimeError("no model today")
'''
HANG = '''\
def train_model(model: Any, features: Any, status: Any) -> Any:
    """``model`` fitted to predict ``status`` ("good" or "bad") from ``features``."""
    import time

    time.sleep(600)
    return model.fit(features, status)
'''
SELECT = '''\
def select_features(frame: Any) -> list[str]:
    """The columns of the preprocessed training table the model learns from."""
    return [c for c in frame.columns if c != "Status"]
'''
BOOSTED = '''\
def create_model() -> Any:
    """An unfitted scikit-learn classifier."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(class_weight="balanced", random_state=0)
'''
OPTIMIZER = f"""
PROPOSALS = [
    [("create_model", {CRASH!r})],
    [("train_model", {HANG!r})],
    [("select_features", {SELECT!r}), ("create_model", {BOOSTED!r})],
]


def propose(request):
    edits = [
        {{"parameter": "solution.py::" + name, "text": text}}
        for name, text in PROPOSALS[request["iteration"] - 1]
    ]
    return {{"edits": edits, "rationale": "scripted"}}
"""


def test_crashes_and_hangs_are_rejected_and_a_boosted_model_accepted(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = pytester.path / "task"
    assert main(["init", "mlagentbench/credit_scoring", str(target), "--start", "pipeline"]) == 0
    (target / "optimizer.py").write_text(OPTIMIZER, encoding="utf-8")
    monkeypatch.chdir(target)
    # one thread per model: OpenMP threads spinning against the other test worker on a
    # 2-core machine made a 1-second fit take longer than the timeout
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    result = genopt(
        pytester,
        "--genopt-iterations=3",
        "--genopt-backend=python:optimizer:propose",
        "--genopt-batch-size=2",
        "--genopt-timeout=20",
    )
    report = report_of(target)
    crash, hang, boosted = report["iterations"]
    # the crash fails its batch (its traceback is the evidence), the hang is killed
    assert crash["decision"] == "rejected", result.stdout.str()
    assert crash["reason"] == "batch objective 0.0000 is not above 0.0000"
    assert hang["decision"] == "rejected"
    assert hang["reason"] == "the evaluation exceeded --genopt-timeout=20 s and was killed"
    assert boosted["decision"] == "accepted", boosted
    assert report["baseline"]["objective"] == 0.0
    assert report["best"]["objective"] > 0.3
    assert report["holdout"]["groups"]["test"]["best"] > 0.3
