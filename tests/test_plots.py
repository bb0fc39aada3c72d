"""A run's learning curve: curve.svg next to report.md; the PNG checks of a study's plots.

(A whole run in a process without matplotlib, which draws its curve all the same, is
one of tests/test_aggregate.py's runs.)
"""

from __future__ import annotations

import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

import pytest
from matplotlib.image import imread

from pytest_genopt import cli
from pytest_genopt.curve import curve_svg
from pytest_genopt.plots import best_so_far, candidate_points, holdout_series
from pytest_genopt.report import write_markdown
from tests.conftest import BUGGY_CALC, init_repo, read_json

if TYPE_CHECKING:
    from pathlib import Path

TESTS = """\
import pytest
from calc import add


@pytest.mark.parametrize(("a", "b", "total"), [(1, 2, 3), (0, 0, 0), (-2, -3, -5),
                                               (100, 23, 123), (7, -2, 5)])
def test_train(a, b, total):
    assert add(a, b) == total


@pytest.mark.genopt(holdout="validation")
@pytest.mark.parametrize(("a", "b", "total"), [(2, 2, 4), (5, 0, 5), (100, 1, 101)])
def test_validation(a, b, total):
    assert add(a, b) == total


@pytest.mark.genopt(holdout="test")
@pytest.mark.parametrize(("a", "b", "total"), [(3, 3, 6), (4, 4, 8), (9, 0, 9)])
def test_test(a, b, total):
    assert add(a, b) == total
"""

# 1: better (4 of 5 training tests), accepted: it breaks a test outside its batch (of
# one), which becomes the next batch; 2: fixes that one but breaks a passing test,
# rejected on the full set; 3: worse on its batch, rejected there
OPTIMIZER = """\
def propose(request):
    batch = request["evidence"][0]["test"]
    if request["iteration"] == 1:
        broken = 7 if "100" in batch else 100
        text = f"def add(a, b):\\n    return a + b if a != {broken} else 0\\n"
    elif request["iteration"] == 2:
        text = "def add(a, b):\\n    return a + b if a >= 0 else 0\\n"
    else:
        text = "def add(a, b):\\n    return a * b\\n"
    return {"edits": [{"parameter": "calc.py::add", "text": text}], "rationale": "step"}
"""

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG's signature and IHDR chunk (which must come first)."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def check_png(path: Path) -> tuple[int, int]:
    """A valid PNG that matplotlib reads back as an RGB(A) image of its IHDR's size."""
    width, height = png_size(path)
    assert width > 0
    assert height > 0
    image = imread(path)
    assert image.shape[:2] == (height, width)
    assert image.shape[2] in (3, 4)
    return width, height


SVG = "{http://www.w3.org/2000/svg}"


def read_curve(text: str) -> dict[str, Any]:
    """What an SVG learning curve shows, read back from its elements: its size, texts,
    the step line's tooltip and every marker's tooltip, in the order drawn."""
    root = ET.fromstring(text)
    tips = [e.findtext(f"{SVG}title") or "" for e in root if e.find(f"{SVG}title") is not None]
    best = [t for t in tips if t.startswith("best so far")]
    return {
        "size": (int(root.get("width", 0)), int(root.get("height", 0))),
        "texts": [e.text for e in root.iter(f"{SVG}text")],
        "best": best[0] if len(best) == 1 else best,
        "markers": [t for t in tips if not t.startswith("best so far")],
    }


def project_with_holdout(where: Path) -> Path:
    return init_repo(
        where / "project",
        {
            "calc.py": BUGGY_CALC,
            "tests/test_calc.py": TESTS,
            "optimizer.py": OPTIMIZER,
            "pytest.ini": "[pytest]\npythonpath = .\n",
        },
    )


def genopt_run(
    project: Path, *args: str, python: tuple[str, ...] = ("-m", "pytest")
) -> subprocess.CompletedProcess[str]:
    """A real pytest in ``project``, without pytester: pytester restores ``sys.modules``
    after each test, dropping the matplotlib modules that drawing in this process first
    imported, and matplotlib breaks on importing some of them again ("Legend needs
    either Axes or FigureBase as parent"): the tests that draw here do without it."""
    return subprocess.run(
        [sys.executable, *python, "-p", "no:cacheprovider", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def last_run(project: Path) -> tuple[Path, dict[str, Any]]:
    runs = project / ".genopt" / "runs"
    folder = runs / (runs / "last").read_text().strip()
    return folder, read_json(folder / "report.json")


def test_a_run_draws_its_learning_curve_and_report_md_embeds_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = project_with_holdout(tmp_path)
    result = genopt_run(
        project,
        "--genopt-iterations=3",
        "--genopt-backend=python:optimizer:propose",
        "--genopt-batch-size=1",
        "--genopt-holdout-every=1",
        "--genopt-seed=0",
    )
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout + result.stderr
    folder, report = last_run(project)
    assert [i["decision"] for i in report["iterations"]] == ["accepted", "rejected", "rejected"]
    # what the picture shows, from the real report: the best moves at iteration 1 only;
    # iteration 2 was measured on every test, iteration 3 only on its batch
    assert best_so_far(report) == [0.2, 0.8, 0.8, 0.8]
    assert candidate_points(report) == [
        (1, 0.8, "accepted"),
        (2, 0.8, "rejected"),
        (3, 0.0, "batch"),
    ]
    assert holdout_series(report, "test") == [pytest.approx(1 / 3), 1.0, 1.0, 1.0]
    validation = report["holdout"]["groups"]["validation"]  # which test broke decides it
    assert validation["baseline"] == pytest.approx(1 / 3)
    assert (
        holdout_series(report, "validation") == [validation["baseline"]] + [validation["best"]] * 3
    )
    # the picture shows those series: the step line and one marker per point
    curve = read_curve((folder / "curve.svg").read_text())
    assert curve["size"] == (800, 450)
    assert curve["best"] == "best so far: 0.2000 0.8000 0.8000 0.8000"
    assert curve["markers"][:3] == [
        "iteration 1: 0.8000 (accepted)",
        "iteration 2: 0.8000 (rejected)",
        "iteration 3: 0.0000 (batch)",
    ]
    holdout = [m for m in curve["markers"] if "holdout test" in m]
    assert holdout == [
        "iteration 0: 0.3333 (holdout test)",
        *(f"iteration {i}: 1.0000 (holdout test)" for i in (1, 2, 3)),
    ]
    assert f"genopt run {report['run']}" in curve["texts"]
    markdown = (folder / "report.md").read_text()
    # the picture sits right above the iteration table
    assert "![learning curve](curve.svg)\n\n| iteration | decision |" in markdown
    assert cli.main(["report", "--dir", str(project)]) == 0
    shown = capsys.readouterr().out
    assert shown == markdown + f"genopt: learning curve: {folder / 'curve.svg'}\n"

    # drawing that fails (here: a folder where the picture goes) costs one line, no more
    (folder / "curve.svg").unlink()
    (folder / "curve.svg").mkdir()
    write_markdown(folder, report, {})
    markdown = (folder / "report.md").read_text()
    line = next(x for x in markdown.splitlines() if x.startswith("No learning curve"))
    assert line.startswith("No learning curve: drawing it failed: IsADirectoryError: "), line
    assert "| 3 | rejected |" in markdown
    assert cli.main(["report", "--dir", str(project)]) == 0
    assert capsys.readouterr().out.endswith(
        f"genopt: no learning curve: {folder / 'curve.svg'} does not exist (report.md says why)\n"
    )


def test_the_curve_of_a_run_without_iterations_and_of_odd_values() -> None:
    """The start alone is a point; non-finite values are left out, not drawn at NaN;
    a holdout group's name is text, not markup."""
    start = read_curve(curve_svg({"run": "r", "baseline": {"objective": 0.5}, "iterations": []}))
    assert start["best"] == "best so far: 0.5000"
    assert start["markers"] == []
    odd = {
        "run": "r",
        "baseline": {"objective": 0.0},
        "iterations": [
            {"iteration": 1, "decision": "rejected", "attempts": [{"objective": float("nan")}]},
            {"iteration": 2, "decision": "rejected", "attempts": [{"batch_objective": 2.0}]},
        ],
        "holdout": {"groups": {"<b>&": {"baseline": 1.0, "best": 1.0}}},
    }
    text = curve_svg(odd)
    assert "nan" not in text.lower()
    curve = read_curve(text)
    assert curve["markers"] == [
        "iteration 2: 2.0000 (batch)",
        "iteration 0: 1.0000 (holdout <b>&)",
        "iteration 2: 1.0000 (holdout <b>&)",
    ]
    assert "holdout (group <b>&), where measured" in curve["texts"]


@pytest.mark.parametrize(
    ("start", "candidate"), [(1e308, -1e308), (1e308, 1e308), (5e-324, 0.0), (-1e300, 1e300)]
)
def test_extreme_objectives_still_make_a_picture(start: float, candidate: float) -> None:
    """What the axis cannot hold is left out; the picture is still drawn, without NaN."""
    report = {
        "run": "r",
        "baseline": {"objective": start},
        "iterations": [
            {"iteration": 1, "decision": "rejected", "attempts": [{"objective": candidate}]}
        ],
    }
    text = curve_svg(report)
    assert "nan" not in text.lower()
    assert "inf" not in text.lower()
    assert read_curve(text)["size"] == (800, 450)


def test_the_objective_axis_is_labelled_in_round_steps() -> None:
    """As many decimals as the step needs: 0.95, not 0.950 nor 0.9500000001."""
    report = {
        "run": "r",
        "baseline": {"objective": 0.9497},
        "iterations": [
            {
                "iteration": 1,
                "decision": "accepted",
                "objective": 0.9802,
                "attempts": [{"objective": 0.9802, "commit": "c"}],
            }
        ],
    }
    texts = read_curve(curve_svg(report))["texts"]
    assert [t for t in texts if t and t.startswith("0.")] == ["0.95", "0.96", "0.97", "0.98"]
    assert [t for t in texts if t in ("0", "1")] == ["0", "1"]  # the iterations


def test_the_plugin_and_the_report_writers_do_not_import_matplotlib() -> None:
    code = (
        "import sys, pytest_genopt.plugin, pytest_genopt.loop, pytest_genopt.report, "
        "pytest_genopt.curve, pytest_genopt.plots, pytest_genopt.study.aggregate, "
        "pytest_genopt.cli; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout == "[]\n"
