"""Which functions of the watched files each test ran (the regions of large parameters)."""

from __future__ import annotations

import importlib.util
import sys
from typing import TYPE_CHECKING, Any

from pytest_genopt.reach import Reach

if TYPE_CHECKING:
    from pathlib import Path
    from types import FrameType, ModuleType

SOURCE = """\
def used(x):
    return helper(x) + 1


def helper(x):
    return x * 2


def unused():
    return 0
"""


def load(tmp_path: Path) -> ModuleType:
    path = tmp_path / "watched_mod.py"
    path.write_text(SOURCE)
    spec = importlib.util.spec_from_file_location("watched_mod", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_functions_a_test_ran_and_nothing_else(tmp_path: Path) -> None:
    module = load(tmp_path)
    reach = Reach([str(tmp_path / "watched_mod.py")])
    reach.start()
    try:
        module.used(3)
        len("not watched")
    finally:
        reach.stop()
    assert reach.lines() == [
        (str(tmp_path / "watched_mod.py"), 1),
        (str(tmp_path / "watched_mod.py"), 5),
    ]
    assert sys.getprofile() is None


def test_another_profiler_is_left_in_place_and_nothing_is_recorded(tmp_path: Path) -> None:
    module = load(tmp_path)
    seen: list[str] = []

    def other(frame: FrameType, event: str, arg: Any) -> None:
        seen.append(event)

    reach = Reach([str(tmp_path / "watched_mod.py")])
    sys.setprofile(other)
    try:
        reach.start()
        module.used(3)
        reach.stop()
        assert sys.getprofile() is other
    finally:
        sys.setprofile(None)
    assert reach.lines() == []
    assert "call" in seen
