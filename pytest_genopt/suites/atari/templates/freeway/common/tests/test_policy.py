"""The Freeway policy in ``policy.py`` plays one episode per seed, capped at 1,000 steps.

Each test asserts at least 15 crossings before the step cap and reports
``normalized_score("freeway", returns) = crossings / 20`` clipped to [0, 1]: 0 = never
across, 1 = 20 crossings, about the most 1,000 steps allow (a crossing without a hit
takes ~50 steps).  Holding UP regardless crosses 11 times.  Sticky actions (each
frame keeps the previous action with probability 0.25) make every seed a different
episode.  The ``holdout`` seeds are only reported by genopt runs, never used as
evidence or to accept an edit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from policy import act

from pytest_genopt.suites.atari.rollout import normalized_score, run_policy

if TYPE_CHECKING:
    from pytest_genopt.tracing import TrialReporter

GAME = "freeway"
MAX_STEPS = 1000
STICKY_ACTIONS = 0.25
TARGET_RETURN = 15
TRAINING_SEEDS = (0, 1, 2, 3, 4, 5)
HOLDOUT_SEEDS = (100, 101)

SEEDS = [pytest.param(seed, id=f"seed{seed}") for seed in TRAINING_SEEDS] + [
    pytest.param(seed, id=f"holdout{seed}", marks=pytest.mark.genopt(holdout=True))
    for seed in HOLDOUT_SEEDS
]


@pytest.mark.parametrize("seed", SEEDS)
def test_crosses_often_enough(seed: int, genopt: TrialReporter) -> None:
    result = run_policy(
        act,
        GAME,
        seeds=seed,
        max_steps=MAX_STEPS,
        sticky_actions=STICKY_ACTIONS,
        genopt=genopt,
    )
    genopt.score(normalized_score(GAME, result.returns))
    assert result.returns[0] >= TARGET_RETURN, result.summary()
