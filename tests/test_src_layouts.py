"""Real projects import the candidate's code (issue 8 item 7), end to end.

Each test is one genopt run of the ``python:`` backend over a ``src/`` layout
project in a real git repository, set up the way its users run it: installed
editable with setuptools (lenient ``.pth``, strict link tree, a package-dir
MAPPING finder) or hatchling (``.pth``, the ``editables`` finder of
``dev-mode-exact``) into a real virtual environment, or found through
``PYTHONPATH`` (relative and absolute) or ini ``pythonpath``.  The optimizer
proposes the correct fix; it must be accepted, never rejected as "shadowed".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

import editables  # type: ignore[import-untyped]
import pytest

from tests.conftest import BUGGY_CALC, CALC_TESTS, init_repo
from tests.test_loop import report_of

# Fixes every trainable that subtracts, and logs what it was shown.
OPTIMIZER = """\
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def propose(request):
    with open(os.path.join(os.path.dirname(HERE), "requests.jsonl"), "a") as log:
        log.write(json.dumps(request) + "\\n")
    edits = [
        {"parameter": p["id"], "search": "return a - b", "replace": "return a + b"}
        for p in request["parameters"]
        if "return a - b" in p["text"]
    ]
    return {"edits": edits, "rationale": "add must add"}
"""

IGNORES = "__pycache__/\n*.pyc\n.pytest_cache/\nbuild/\n*.egg-info/\n"


def setuptools_pyproject(name: str, extra: str = "") -> str:
    return (
        '[build-system]\nrequires = ["setuptools>=64"]\n'
        'build-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{name}"\nversion = "0.1"\n{extra}'
    )


def hatchling_pyproject(name: str, extra: str = "") -> str:
    return (
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n\n'
        f'[project]\nname = "{name}"\nversion = "0.1"\n\n'
        f'[tool.hatch.build.targets.wheel]\npackages = ["src/{name}"]\n{extra}'
    )


def src_project(
    pytester: pytest.Pytester, packages: dict[str, str], files: dict[str, str] | None = None
) -> Path:
    """A git repository with ``FOLDER/NAME/calc.py`` (a buggy ``@trainable add``) per package.

    ``packages`` maps each package NAME to its FOLDER (``src``); ``tests/test_NAME.py``
    tests each.
    """
    project = pytester.path / "project"
    project.mkdir()
    os.chdir(project)  # pytester restores the working folder
    base = {"optimizer.py": OPTIMIZER, ".gitignore": IGNORES}
    for name, folder in packages.items():
        base[f"{folder}/{name}/__init__.py"] = ""
        base[f"{folder}/{name}/calc.py"] = BUGGY_CALC
        base[f"tests/test_{name}.py"] = CALC_TESTS.replace(
            "from calc import", f"from {name}.calc import"
        )
    return init_repo(project, {**base, **(files or {})})


def genopt_run(pytester: pytest.Pytester, python: str = sys.executable) -> pytest.RunResult:
    return pytester.run(
        python,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "--genopt-iterations=1",
        "--genopt-backend=python:optimizer:propose",
        "--genopt-seed=0",
        "--genopt-branch=genopt/src",
        "--genopt-timeout=120",
        "--genopt-batch-size=8",
        timeout=300,
    )


def accepted(project: Path, result: pytest.RunResult) -> dict[str, Any]:
    """Iteration 1 of the run's report; fails with the run's output unless it was accepted."""
    tail = result.stdout.str()[-3000:] + result.stderr.str()[-1000:]
    assert (project / ".genopt" / "runs" / "last").exists(), tail
    report = report_of(project)
    first = report["iterations"][0]
    assert first["decision"] == "accepted", f"{first['reason']}\n{tail}"
    assert "shadow" not in json.dumps(report), tail
    assert report["best"]["objective"] == 1.0
    return first  # type: ignore[no-any-return]


# ---------------------------------------------------------------- editable installs


@pytest.fixture(scope="module")
def venv_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A virtual environment that sees this one's packages (pytest, pytest_genopt, backends)."""
    where = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(where)
    python = str(where / "bin" / "python")
    # An editable install's .pth imports its finder (editables) as the venv's
    # site-packages are processed, before the system's are on sys.path: put them there
    # first, as if the finder were installed in the venv as it would be without --no-deps.
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    system = os.path.dirname(os.path.dirname(editables.__file__))
    (Path(site) / "00-system-site-packages.pth").write_text(system + "\n")
    return python


def pip_install_editable(python: str, project: Path, *settings: str) -> None:
    command = [python, "-m", "pip", "install", "-q", "--no-build-isolation", "--no-deps"]
    command += [f"--config-settings={s}" for s in settings]
    done = subprocess.run([*command, "-e", str(project)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


#: sub-project folder -> (its pyproject.toml, pip's --config-settings); one kind of
#: editable install each, named by the folder
EDITABLE = {
    # a .pth path entry: /checkout/lenient/src
    "lenient": (setuptools_pyproject("calc_lenient"), ()),
    # a .pth path entry /checkout/strict/build/__editable__.../ of symlinks into src/
    "strict": (setuptools_pyproject("calc_strict"), ("editable_mode=strict",)),
    # not a plain src layout: setuptools' __editable___*_finder with its MAPPING
    "mapped": (
        setuptools_pyproject(
            "calc_mapped",
            '\n[tool.setuptools]\npackages = ["calc_mapped"]\n'
            'package-dir = {calc_mapped = "src/calc_mapped"}\n',
        ),
        (),
    ),
    # the editables RedirectingFinder (hatchling's default is a .pth path entry)
    "exact": (
        hatchling_pyproject("calc_exact", "\n[tool.hatch.build]\ndev-mode-exact = true\n"),
        (),
    ),
}


def test_editable_installs_of_src_layouts_accept_the_correct_fix(
    pytester: pytest.Pytester, venv_python: str
) -> None:
    """One repository of four sub-projects, each installed editable its own way.

    One run fixes all four; a package still imported from the checkout would
    make the candidate "shadowed", naming its file (so its kind of install).
    """
    packages = {f"calc_{kind}": f"{kind}/src" for kind in EDITABLE}
    files = {f"{kind}/pyproject.toml": text for kind, (text, _) in EDITABLE.items()}
    project = src_project(pytester, packages, {**files, "pytest.ini": "[pytest]\n"})
    for kind, (_, settings) in EDITABLE.items():
        pip_install_editable(venv_python, project / kind, *settings)
    # each kind is what it says (a newer setuptools may choose otherwise)
    site = next(Path(venv_python).parent.parent.glob("lib/python*/site-packages"))
    assert list((project / "strict" / "build").glob("__editable__.calc_strict-*/calc_strict"))
    assert list(site.glob("__editable___calc_mapped_*_finder.py"))
    assert "RedirectingFinder" in (site / "_editable_impl_calc_exact.py").read_text()
    # the session itself imports the checkout's packages, through the installs
    modules = [f"calc_{kind}.calc" for kind in EDITABLE]
    code = f"import importlib\nfor n in {modules!r}: print(importlib.import_module(n).__file__)"
    where = subprocess.run(
        [venv_python, "-c", code], capture_output=True, text=True, cwd=pytester.path
    )
    assert [str(Path(line).resolve()) for line in where.stdout.split()] == [
        str(project / kind / "src" / f"calc_{kind}" / "calc.py") for kind in EDITABLE
    ], where.stderr
    first = accepted(project, genopt_run(pytester, venv_python))
    assert len(first["attempts"][0]["edits"]) == len(EDITABLE)


# ---------------------------------------------------------------- PYTHONPATH and ini


def test_pythonpath_and_ini_pythonpath_accept_the_correct_fix(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three packages, each found its own way: ``PYTHONPATH=src`` (relative),
    ``PYTHONPATH=/abs/checkout/lib``, ini ``pythonpath = ini``; one fix for all three."""
    packages = {"calc_relative": "src", "calc_absolute": "lib", "calc_ini": "ini"}
    project = src_project(pytester, packages, {"pytest.ini": "[pytest]\npythonpath = ini\n"})
    entries = ["src", str(project / "lib"), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(entries))
    first = accepted(project, genopt_run(pytester))
    edited = sorted(e["parameter"] for e in first["attempts"][0]["edits"])
    assert edited == sorted(f"{folder}/{name}/calc.py::add" for name, folder in packages.items())
