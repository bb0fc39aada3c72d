"""Each of the 5 seeded folds of ``data/train.csv`` is one test: ``fit_predict`` learns
from the other folds and predicts this one; the test's value is the fold's normalised
score (0 for a trivial model, 1 perfect) and it passes at the task's goal.  The test
split is a holdout test (group ``test``): genopt runs report it, never learn from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from solution import fit_predict

from pytest_genopt.suites.mlagentbench.harness import FOLDS, check_fold, check_holdout

if TYPE_CHECKING:
    from pytest_genopt.tracing import TrialReporter

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.mark.parametrize("fold", range(FOLDS), ids=lambda fold: f"fold{fold}")
def test_fold(fold: int, genopt: TrialReporter) -> None:
    check_fold(DATA, fold, fit_predict, genopt)


@pytest.mark.genopt(holdout="test")
def test_holdout(genopt: TrialReporter) -> None:
    check_holdout(DATA, fit_predict, genopt)
