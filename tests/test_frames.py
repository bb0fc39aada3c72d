"""Tracebacks as evidence: project frames numbered, library runs folded, the test's source."""

from __future__ import annotations

import textwrap
import unittest
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_genopt.evidence import FOLD_MARK, truncate_frames
from pytest_genopt.frames import TEST_SOURCE_LINES, library
from tests.conftest import init_repo, prompt_snapshot, read_json

if TYPE_CHECKING:
    from syrupy.assertion import SnapshotAssertion

SHAPES = """\
from pytest_genopt import trainable


def check(value):
    if value < 0:
        raise ValueError(f"negative: {value}")
    return value


class Box:
    def __init__(self, w, h):
        self.w = w
        self.h = h

    @trainable
    def area(self):
        return check(self.w * self.h - 10)
"""

TESTS = """\
import functools
import json
import unittest

import pytest

from shapes import Box


def logged(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        return function(*args, **kwargs)
    return wrapper


class TestBox(unittest.TestCase):
    def setUp(self):
        self.sizes = [(4, 5), (6, 7)]

    def test_area(self):
        for w, h in self.sizes:
            box = Box(w, h)
            self.assertEqual(box.area(), w * h)

    def test_json(self):
        json.loads("{bad")


@logged
@pytest.mark.parametrize("w", [1])
def test_small(w):
    box = Box(w, 1)
{padding}
    assert box.area() == 1
"""


@pytest.fixture
def shapes_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    project = pytester.path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    padding = "\n".join(f"    step_{i} = {i}" for i in range(45))
    init_repo(
        project,
        {
            "shapes.py": SHAPES,
            "tests/test_shapes.py": TESTS.replace("{padding}", padding),
            "pytest.ini": "[pytest]\npythonpath = .\n",
        },
    )
    return project


def evidence(pytester: pytest.Pytester, *args: str) -> dict[str, dict[str, Any]]:
    result = pytester.runpytest_subprocess(
        "--genopt-iterations=1", "--genopt-evidence=req.json", "--genopt-batch-size=8",
        "--genopt-seed=0", "-p", "no:cacheprovider", *args,
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    request = read_json(Path.cwd() / "req.json")
    items = {item["test"].rpartition("::")[2]: item for item in request["evidence"]}
    return {**items, "prompt": {"text": request["prompt"]}}


def test_library_frames_fold_project_frames_show_their_lines_and_the_test_its_source(
    pytester: pytest.Pytester, shapes_project: Path, snapshot: SnapshotAssertion
) -> None:
    items = evidence(pytester, "--genopt-horizon=all")
    prompt = items["prompt"]["text"]
    assert prompt_snapshot(prompt) == snapshot
    # the method's read-only context: its class's attributes and the helper it calls
    context = prompt.split("read-only context from shapes.py (numbered as in the file):")[1]
    assert "   4| def check(value):" in context
    assert "  13|         self.h = h" in context
    area = items["test_area"]["traceback"]
    assert isinstance(area, list)
    assert area[0].startswith("tests/test_shapes.py:24 in test_area\n")
    assert area[-1].startswith(f"{FOLD_MARK}2 frames in unittest; raised in unittest/case.py:")
    assert not any("tracing.py" in frame or "generated code" in frame for frame in area)
    source = items["test_area"]["test_source"]
    assert source == textwrap.dedent("""\
          21 |     def test_area(self):
          22 |         for w, h in self.sizes:
          23 |             box = Box(w, h)
        > 24 |             self.assertEqual(box.area(), w * h)""")
    raised = items["test_json"]["traceback"]
    assert isinstance(raised, list)
    assert raised[-1].startswith(f"{FOLD_MARK}3 frames in the standard library; raised in json/")
    # a project frame shows the lines above it, numbered as in the file
    frames = items["test_small[1]"]["traceback"]
    assert isinstance(frames, list)
    own = [f for f in frames if not f.startswith(FOLD_MARK)]
    assert own[-1] == textwrap.dedent("""\
        shapes.py:6 in check
              4 | def check(value):
              5 |     if value < 0:
            > 6 |         raise ValueError(f"negative: {value}")""")
    assert own[0].startswith("tests/test_shapes.py:13 in wrapper\n")  # a decorator's frame
    assert own[1] == "tests/test_shapes.py:79 in test_small\n    > 79 |     assert box.area() == 1"
    # a long test shows its decorators, its def and the lines up to the failure
    lines = items["test_small[1]"]["test_source"].splitlines()
    assert lines[:5] == [
        "  30 | @logged",
        '  31 | @pytest.mark.parametrize("w", [1])',
        "  32 | def test_small(w):",
        "  … 10 line(s) not shown",
        "  43 |     step_9 = 9",
    ]
    assert lines[-1] == "> 79 |     assert box.area() == 1"
    assert len(lines) == 1 + TEST_SOURCE_LINES


def test_the_horizon_counts_project_frames_only() -> None:
    fold = f"{FOLD_MARK}2 frames in unittest"
    frames = ["runner", "test", f"{FOLD_MARK}1 frame in x", "helper", fold]
    assert truncate_frames(frames, 1) == ("helper", fold)
    assert truncate_frames(frames, 2) == ("test", f"{FOLD_MARK}1 frame in x", "helper", fold)
    assert truncate_frames(frames, None) == tuple(frames)
    assert truncate_frames(frames, 0) == ()
    assert truncate_frames([fold], 3) == (fold,)  # a failure inside a library only


@pytest.mark.parametrize(
    ("path", "name"),
    [
        (pytest.__file__, "pytest"),
        (textwrap.__file__, "the standard library"),
        (str(Path(unittest.__file__).parent / "case.py"), "unittest"),
        ("/venv/lib/python3.11/site-packages/numpy/core/fromnumeric.py", "numpy"),
        ("/venv/lib/python3.11/site-packages/six.py", "six"),
        ("<frozen importlib._bootstrap>", "the standard library"),
        ("<string>", "generated code"),
        ("/home/u/project/src/pkg/mod.py", None),
    ],
)
def test_library_names(path: str, name: str | None) -> None:
    assert library(path) == name
