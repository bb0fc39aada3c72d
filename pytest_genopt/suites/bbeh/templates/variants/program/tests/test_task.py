"""Each train example is one test: 1 when ``solve`` answers it (the benchmark's
matching rules), else 0.  Validation and test examples are holdout tests (groups
``validation`` and ``test``): genopt runs report them, never learn from them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from solve import solve

from pytest_genopt.suites.bbeh.harness import cases
from pytest_genopt.suites.bbeh.scoring import matches

if TYPE_CHECKING:
    from pytest_genopt.suites.bbeh.data import Example

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.mark.parametrize("example", cases(DATA))
def test_answer(example: Example) -> None:
    answer = solve(example.input)
    assert matches(answer, example.target), f"expected {example.target!r}, answered {answer!r}"
