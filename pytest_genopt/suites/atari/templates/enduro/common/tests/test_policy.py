"""The Enduro policy in ``policy.py``, evaluated as ``protocol.json`` says.

Each test plays its episodes (``genopt init --protocol`` chose how many, their step
cap and sticky actions; see the README), asserts at least 50 cars passed (net) on
average and reports ``normalized_score`` with the protocol's bounds: under the quick
protocol (1,000 steps) cars passed / 150 clipped to [0, 1].  Standing still scores 0
and holding FIRE 6.  The ``holdout`` seeds are only reported by genopt runs, never
used as evidence or to accept an edit.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from policy import act

from pytest_genopt.suites.atari.protocol import evaluate, read_protocol
from pytest_genopt.suites.atari.rollout import normalized_score, scoring_formula

if TYPE_CHECKING:
    from pytest_genopt.tracing import TrialReporter

GAME = "enduro"
TARGET_RETURN = 50
PROTOCOL = read_protocol(Path(__file__).resolve().parent.parent / "protocol.json", game=GAME)

SEEDS = [pytest.param(seed, id=PROTOCOL.test_id(seed)) for seed in PROTOCOL.seeds] + [
    pytest.param(
        seed, id=PROTOCOL.test_id(seed, holdout=True), marks=pytest.mark.genopt(holdout=True)
    )
    for seed in PROTOCOL.holdout_seeds
]


@pytest.mark.parametrize("seed", SEEDS)
def test_passes_enough_cars(seed: int, genopt: TrialReporter) -> None:
    result = evaluate(act, PROTOCOL, seed=seed, genopt=genopt)
    genopt.score(normalized_score(GAME, result.returns, bounds=PROTOCOL.score_bounds))
    genopt.feedback(
        scoring_formula(GAME, result.returns, target=TARGET_RETURN, bounds=PROTOCOL.score_bounds)
    )
    assert result.mean_return >= TARGET_RETURN, result.summary()
