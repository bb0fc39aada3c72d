"""genopt installed from its wheel, as users install it, not editable.

An installed plugin's distribution lists its package's files, so pytest marks the
package for assertion rewriting; each evaluation imports genopt's worker before
that.  Under ``-W error`` the warning that an imported module cannot be rewritten
stopped every run in its preflight.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import BUGGY_CALC, CALC_TESTS, init_repo
from tests.test_loop import report_of
from tests.test_src_layouts import OPTIMIZER, make_venv

REPOSITORY = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A venv's python with genopt installed from a wheel built from a copy of this source."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPOSITORY / name, source / name)
    ignored = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPOSITORY / "pytest_genopt", source / "pytest_genopt", ignore=ignored)
    python = make_venv(tmp_path_factory.mktemp("venv"))
    pip = [python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run([*pip, "--no-index", str(source)], check=True, capture_output=True)
    where = subprocess.run(
        [python, "-c", "import pytest_genopt; print(pytest_genopt.__file__)"],
        check=True,
        capture_output=True,
        text=True,
        cwd=source.parent,
    ).stdout
    assert "site-packages" in where, where
    assert not where.startswith(str(REPOSITORY)), where
    return python


@pytest.mark.parametrize("start_up", ["warm", "cold"])
def test_an_installed_genopt_runs_under_warnings_as_errors(
    installed: str, tmp_path: Path, start_up: str
) -> None:
    project = init_repo(
        tmp_path / "project",
        {
            "calc.py": BUGGY_CALC,
            "tests/test_calc.py": CALC_TESTS,
            "optimizer.py": OPTIMIZER,
            "pytest.ini": "[pytest]\npythonpath = .\nfilterwarnings =\n    error\n",
        },
    )
    result = subprocess.run(
        [
            installed,
            "-m",
            "pytest",
            "--genopt-iterations=1",
            "--genopt-backend=python:optimizer:propose",
            f"--genopt-start-up={start_up}",
        ],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert "stopped: preflight" not in result.stdout, result.stdout
    (fixed,) = report_of(project)["iterations"]
    assert fixed["decision"] == "accepted", result.stdout
