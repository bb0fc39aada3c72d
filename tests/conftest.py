from __future__ import annotations

import json
import re
import subprocess
import textwrap
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pathlib import Path

# Drawing a study's plots imports matplotlib lazily. A pytester test
# puts sys.modules back afterwards, dropping what drawing inside it first imported, and
# matplotlib breaks when those modules are imported again in the same process ("Legend
# needs either Axes or FigureBase as parent"). Imported here, they are in every snapshot.
try:
    import matplotlib.backends.backend_agg
    import matplotlib.figure
    import matplotlib.image
    import matplotlib.lines
    import matplotlib.ticker  # noqa: F401
except ImportError:  # the plots extra is optional; its tests say so
    pass

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.invalid",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}

BUGGY_CALC = '''\
from pytest_genopt import trainable


def helper(x):
    return x


@trainable
def add(a, b):
    """Return the sum of a and b."""
    return a - b
'''

CALC_TESTS = """\
from calc import add


def test_small():
    assert add(1, 2) == 3


def test_zero():
    assert add(0, 0) == 0


def test_negative():
    assert add(-2, -3) == -5


def test_large():
    assert add(100, 23) == 123


def test_mixed():
    assert add(7, -2) == 5
"""


#: the plugins none of the tests' own pytest sessions needs (see _git_identity)
QUIET_PLUGINS = "-p no:hypothesispytest -p no:benchmark -p no:anyio -p no:syrupy"


@pytest.fixture(autouse=True)
def _git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real git in temp repos needs an identity; never rely on the machine's config."""
    for key, value in GIT_IDENTITY.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("GENOPT_MODEL", raising=False)
    # Every pytest these tests start (pytester sessions, candidate evaluations) would
    # otherwise import the hypothesis, anyio and syrupy plugins (and pytest-benchmark
    # where installed), which none of their projects uses: anyio's alone imports trio
    # where it is installed, more than half of each evaluation's start-up time; syrupy's
    # import takes 0.24 s.
    monkeypatch.setenv("PYTEST_ADDOPTS", QUIET_PLUGINS)


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytester's own fixture drops PYTEST_ADDOPTS: set it again for its sessions and
    their candidate evaluations (measured: a push test took 69.8 s without, 11.8 s with)."""
    monkeypatch.setenv("PYTEST_ADDOPTS", QUIET_PLUGINS)
    return pytester


def git(path: Path, *args: str, input_text: str | None = None) -> str:
    return subprocess.run(
        ["git", *args], cwd=path, check=True, capture_output=True, text=True, input=input_text
    ).stdout


def init_repo(path: Path, files: dict[str, str], *, commit: bool = True) -> Path:
    """Write ``files`` under ``path`` and make it a git repository (committed)."""
    for name, text in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text) if name.endswith(".py") else text)
    git(path, "init", "-q", "-b", "main")
    if commit:
        git(path, "add", "-A")
        git(path, "commit", "-q", "-m", "initial")
    return path


@pytest.fixture
def calc_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository with a buggy ``@trainable def add`` and four failing tests.

    It lives in ``project/`` under pytester's directory, which is the working
    directory, so that pytester's own files (captured output) stay outside it.
    """
    project = pytester.path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    pytester.syspathinsert(project)
    return init_repo(
        project,
        {
            "calc.py": BUGGY_CALC,
            "tests/test_calc.py": CALC_TESTS,
            "pytest.ini": "[pytest]\npythonpath = .\n",
        },
    )


def tree_state(path: Path) -> dict[str, Any]:
    """Every file (bytes) plus git's view of HEAD, index and stash: what 'untouched' means.

    ``.genopt/`` is left out: it is the run's own directory, which git ignores.
    """
    files = {
        p.relative_to(path).as_posix(): p.read_bytes()
        for p in sorted(path.rglob("*"))
        if p.is_file()
        and p.relative_to(path).parts[0] not in (".git", ".genopt")
        and "__pycache__" not in p.parts
        and ".pytest_cache" not in p.parts
    }
    return {
        "files": files,
        "head": git(path, "rev-parse", "HEAD").strip(),
        "index": git(path, "ls-files", "--stage"),
        "status": git(path, "status", "--porcelain"),
        "stash": git(path, "stash", "list"),
    }


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def prompt_snapshot(text: str) -> str:
    """A rendered prompt without what differs between runs and machines: object
    addresses and the line numbers inside the standard library."""
    text = re.sub(r"0x[0-9a-fA-F]{4,}", "0x…", text)
    return re.sub(r"(raised in [^\n:]+\.py):\d+", r"\1:…", text)
