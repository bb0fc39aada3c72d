"""What an attempt teaches the next request: its diff and the tests it moved."""

from __future__ import annotations

import difflib

from pytest_genopt.evidence import Trial
from pytest_genopt.history import DIFF_LIMIT, MOVED_LIMIT, edit_diff, moved


def test_the_diff_is_unified_against_the_text_the_edits_applied_to() -> None:
    files = {"b.py": "x = 2\n", "a.py": "def f():\n    return 1\n"}
    old = {"a.py": "def f():\n    return 0\n", "b.py": "x = 1\n"}
    diff = edit_diff(old.__getitem__, files)
    assert diff.startswith("--- a/a.py\n+++ b/a.py\n")  # files in order
    assert "-    return 0\n+    return 1\n" in diff
    assert "--- a/b.py\n+++ b/b.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n" in diff


def test_a_long_diff_is_cut_at_a_line_and_says_so() -> None:
    old = "".join(f"line {i}\n" for i in range(2000))
    new = old.replace("line", "LINE")
    full = "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                        "a/big.txt", "b/big.txt", n=2))  # fmt: skip
    diff = edit_diff(lambda _: old, {"big.txt": new})
    kept, _, tail = diff.partition("[... ")
    assert 0 < len(kept) <= DIFF_LIMIT
    assert full.startswith(kept)
    assert kept.endswith("\n")
    assert tail == f"{len(full) - len(kept)} characters of the diff left out]\n"


def trial(test: str, outcome: str, message: str = "", score: float | None = None) -> Trial:
    return Trial(test, outcome, score=score, message=message)  # type: ignore[arg-type]


def test_regressions_come_first_then_gains_then_failures_that_changed() -> None:
    best = {
        "t::zero": trial("t::zero", "passed"),
        "t::add": trial("t::add", "failed", "assert -1 == 3"),
        "t::neg": trial("t::neg", "failed", "assert 1 == -5"),
        "t::same": trial("t::same", "failed", "assert 0 == 1"),
        "t::score": trial("t::score", "passed", score=0.5),
    }
    tried = {
        "t::zero": trial("t::zero", "failed", "AssertionError: assert 1 == 0\nwhere..."),
        "t::add": trial("t::add", "passed"),
        "t::neg": trial("t::neg", "failed", "assert -6 == -5"),
        "t::same": trial("t::same", "failed", "assert 0 == 1"),
        "t::score": trial("t::score", "passed", score=0.5),
    }
    shown, count = moved(best, tried)
    assert count == 3
    assert shown == [
        {"test": "t::zero", "best": 1.0, "value": 0.0, "outcome": "failed",
         "message": "AssertionError: assert 1 == 0"},
        {"test": "t::add", "best": 0.0, "value": 1.0, "outcome": "passed"},
        {"test": "t::neg", "best": 0.0, "value": 0.0, "outcome": "failed",
         "message": "assert -6 == -5"},
    ]  # fmt: skip


def test_at_most_a_few_tests_are_shown_with_the_count_of_all() -> None:
    best = {f"t::{i:02}": trial(f"t::{i:02}", "passed") for i in range(20)}
    tried = {k: trial(k, "failed", "boom") for k in best}
    shown, count = moved(best, tried)
    assert (len(shown), count) == (MOVED_LIMIT, 20)
    assert [m["test"] for m in shown] == [f"t::{i:02}" for i in range(MOVED_LIMIT)]
