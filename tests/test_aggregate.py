"""A study's aggregate from records built on real report.json files: study.json,
study.md's tables and the plots."""

from __future__ import annotations

import copy
import itertools
import json
import math
import re
import statistics
import sys
from typing import TYPE_CHECKING, Any

import pytest

from pytest_genopt.plots import PLOTS_HINT
from pytest_genopt.study.aggregate import read_study, write_study, write_study_report
from tests.test_plots import check_png, genopt_run, last_run, project_with_holdout, read_curve

if TYPE_CHECKING:
    from pathlib import Path

FACTORS = {"horizon": ["1", "all"], "batch_size": ["1", "3"], "start": ["blank", "skeleton"]}
SETTINGS = {"source": "project", "iterations": 1, "repeats": 2, "backend": "python"}

# iteration 1 fixes add (run "fixed"), or makes it worse (run "worse")
OPTIMIZER = """\
import os


def propose(request):
    text = ("def add(a, b):\\n    return a + b\\n" if os.environ["OUTCOME"] == "fixed"
            else "def add(a, b):\\n    return a * b\\n")
    return {"edits": [{"parameter": "calc.py::add", "text": text}], "rationale": "step"}
"""


# a pytest whose process cannot import matplotlib, exactly as if it were not installed
WITHOUT_MATPLOTLIB = (
    "import sys; sys.modules['matplotlib'] = None; import pytest; raise SystemExit(pytest.main())"
)


def real_reports(where: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Two real runs of one iteration on a project with holdout groups; the second in a
    process without matplotlib, which must not change the run or its picture."""
    project = project_with_holdout(where)
    (project / "optimizer.py").write_text(OPTIMIZER)
    reports = {}
    for outcome, python in (("fixed", ("-m", "pytest")), ("worse", ("-c", WITHOUT_MATPLOTLIB))):
        monkeypatch.setenv("OUTCOME", outcome)
        args = ("--genopt-iterations=1", "--genopt-backend=python:optimizer:propose")
        result = genopt_run(project, *args, python=python)
        assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout + result.stderr
        folder, reports[outcome] = last_run(project)
        markdown = (folder / "report.md").read_text()
        # the learning curve needs no matplotlib
        assert "Traceback" not in result.stdout + result.stderr
        assert read_curve((folder / "curve.svg").read_text())["size"] == (800, 450)
        assert "![learning curve](curve.svg)" in markdown
        if outcome == "worse":
            assert "| 1 | rejected |" in markdown
    return reports


def grid_records(reports: dict[str, Any]) -> list[dict[str, Any]]:
    """16 records (2 × 2 × 2 configurations × 2 repeats) from the two reports, copied with
    usage varied per run (the python backend spends nothing); one run failed, and one
    was interrupted after writing a report, which must not be averaged either."""
    records = []
    configs = list(itertools.product(*FACTORS.values()))
    for n, (values, repeat) in enumerate(itertools.product(configs, range(2))):
        config = dict(zip(FACTORS, values, strict=True))
        report = copy.deepcopy(reports["fixed" if n % 3 else "worse"])
        report["usage"].update(input_tokens=100 * n, output_tokens=10 * n, cost_usd=0.001 * n)
        run_id = ",".join(f"{k}={v}" for k, v in config.items()) + f"/r{repeat}"
        status, error = "finished", None
        if run_id == "horizon=1,batch_size=3,start=skeleton/r1":
            status, error, report = "failed", "pytest exited with status 3: boom", None
        if run_id == "horizon=all,batch_size=1,start=blank/r0":
            status = "interrupted"
        records.append(
            {
                "study_record": 1,
                "id": run_id,
                "config": config,
                "repeat": repeat,
                "seed": 100 + repeat,
                "status": status,
                "error": error,
                "seconds": 1.5,
                "exit": 1,
                "run": None,
                "report": report,
            }
        )
    return records


def table(markdown: str, heading: str) -> dict[str, dict[str, str]]:
    """The table under ``## heading``: first cell -> {column: cell}."""
    section = markdown.split(f"## {heading}\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    columns = [c.strip() for c in section[0].strip("|").split("|")]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in section[2:]]
    return {" ".join(row[:1]): dict(zip(columns, row, strict=True)) for row in rows}


def mean_se(values: list[float], digits: int) -> str:
    se = statistics.stdev(values) / math.sqrt(len(values))
    return f"{statistics.mean(values):.{digits}f} ± {se:.{digits}f}"


def test_a_study_of_real_reports_aggregates_into_tables_and_plots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = real_reports(tmp_path, monkeypatch)
    assert reports["fixed"]["best"]["objective"] == 1.0
    assert reports["worse"]["best"]["objective"] == 0.2
    records = grid_records(reports)
    out = tmp_path / "study"
    write_study(out, records, FACTORS, SETTINGS)

    # study.json: the one document, read back whole, factor order kept
    study = read_study(out)
    assert study.runs == records
    assert list(study.factors) == ["horizon", "batch_size", "start"]
    assert study.settings == SETTINGS
    assert json.loads((out / "study.json").read_text()) == study.to_json()
    assert study.to_json()["study"] == 1

    markdown = (out / "study.md").read_text()
    assert "Runs: 16: 14 finished, 1 failed, 1 interrupted." in markdown
    assert "holdout group `test`" in markdown
    # one table per factor, rows in the grid's order; a cell computed here from the
    # same records: finished runs with horizon=1
    horizon = table(markdown, "By horizon")
    assert list(horizon) == ["1", "all"]
    pooled = [r for r in records if r["config"]["horizon"] == "1" and r["status"] == "finished"]
    assert len(pooled) == 7
    best = [r["report"]["best"]["objective"] for r in pooled]
    holdout = [r["report"]["holdout"]["groups"]["test"]["best"] for r in pooled]
    tokens = [
        r["report"]["usage"]["input_tokens"] + r["report"]["usage"]["output_tokens"] for r in pooled
    ]
    assert horizon["1"]["finished"] == "7"
    assert horizon["1"]["not finished"] == "1"
    assert horizon["1"]["best objective"] == mean_se(best, 4)
    assert horizon["1"]["final holdout"] == mean_se(holdout, 4)
    assert horizon["1"]["tokens (in + out)"] == mean_se(tokens, 0)
    assert horizon["all"]["not finished"] == "1"
    assert list(table(markdown, "By batch_size")) == ["1", "3"]
    assert list(table(markdown, "By start")) == ["blank", "skeleton"]
    # every configuration: the failed run's configuration has one finished run left
    rows = markdown.split("## Every configuration\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert len(rows) == 2 + 8
    failed_row = next(r for r in rows if r.startswith("| 1 | 3 | skeleton |"))
    cells = [c.strip() for c in failed_row.strip("|").split("|")]
    survivor = next(r for r in records if r["id"] == "horizon=1,batch_size=3,start=skeleton/r0")
    expected_best = survivor["report"]["best"]["objective"]
    assert cells[3:6] == ["1", "1", f"{expected_best:.4f} (n=1)"]
    # the runs that did not finish are listed, with why
    assert "## Not finished (2)" in markdown
    assert (
        "- `horizon=1,batch_size=3,start=skeleton/r1` (seed 101): failed: pytest exited "
        "with status 3: boom" in markdown
    )
    assert "- `horizon=all,batch_size=1,start=blank/r0` (seed 100): interrupted: " in markdown

    # the plots: embedded, valid, of the figure's size
    assert "![learning curves](plots/learning_curves.png)" in markdown
    assert "![final holdout objective (group test)](plots/final_holdout.png)" in markdown
    assert check_png(out / "plots" / "learning_curves.png") == (1100, 600)
    assert check_png(out / "plots" / "final_holdout.png") == (900, 400)

    # rebuilt from study.json alone (`genopt study --report`): the same study.md
    (out / "study.md").unlink()
    write_study_report(out)
    assert (out / "study.md").read_text() == markdown

    # without matplotlib: one line says how to get the plots, the stale ones go
    with monkeypatch.context() as patch:
        for name in [m for m in sys.modules if m.split(".")[0] == "matplotlib"]:
            patch.setitem(sys.modules, name, None)
        write_study_report(out)
    markdown = (out / "study.md").read_text()
    assert f"No plots: matplotlib is not installed (`{PLOTS_HINT}` draws them)." in markdown
    assert "![" not in markdown
    assert list((out / "plots").iterdir()) == []


def failed(run_id: str, horizon: str, **change: Any) -> dict[str, Any]:
    record = {
        "study_record": 1,
        "id": run_id,
        "config": {"horizon": horizon},
        "repeat": 0,
        "seed": 7,
        "status": "failed",
        "error": "boom",
        "seconds": None,
        "report": None,
    }
    return {**record, **change}


@pytest.mark.parametrize(
    ("records", "factors", "message"),
    [
        ([failed("a", "5")], None, "run 0 ('a'): horizon='5' is not one of ['1', 'all']"),
        (
            [failed("a", "1", status="done")],
            None,
            "run 0 ('a'): status must be one of finished, failed, interrupted",
        ),
        ([failed("a", "1", study_record=2)], None, "run 0: not a study record (version 1)"),
        ([failed("a", "1", config={})], None, "run 0 ('a'): config factors [] != ['horizon']"),
        ([failed("a", "1", report={"run": "x"})], None, "run 0 ('a'): report: not a report"),
        ([failed("a", "1", seed="7")], None, "run 0 ('a'): seed must be an integer"),
        ([failed("a", "1"), failed("a", "all")], None, "run 1: id 'a' appears twice"),
        ([], {"horizon": ["1", "1"]}, "factor 'horizon': a value appears twice in ['1', '1']"),
        ([], {"horizon": []}, "factor 'horizon': values must be a non-empty list of strings"),
    ],
)
def test_bad_records_are_refused_before_anything_is_written(
    tmp_path: Path, records: list[dict[str, Any]], factors: Any, message: str
) -> None:
    out = tmp_path / "study"
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        write_study(out, records, factors or {"horizon": ["1", "all"]}, {})
    assert not out.exists()


def test_read_study_names_the_file_and_what_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "study.json"
    with pytest.raises(ValueError, match=f"^{re.escape(str(path))} does not exist: not a study"):
        read_study(tmp_path)
    path.write_text("{")
    with pytest.raises(ValueError, match=f"^{re.escape(str(path))} cannot be read: "):
        read_study(tmp_path)
    path.write_text('{"study": 2}')
    with pytest.raises(ValueError, match=r": study version 2; this version reads 1$"):
        read_study(tmp_path)
    path.write_text('{"runs": []}')
    with pytest.raises(ValueError, match=r': not a study \(no "study" version field\)$'):
        read_study(tmp_path)


def test_a_study_where_nothing_finished_lists_every_run_and_averages_nothing(
    tmp_path: Path,
) -> None:
    records = [failed("horizon=1/r0", "1"), failed("horizon=all/r0", "all", status="interrupted")]
    write_study(tmp_path, records, {"horizon": ["1", "all"]}, {"repeats": 1})
    markdown = (tmp_path / "study.md").read_text()
    rows = table(markdown, "By horizon")
    assert rows["1"]["finished"] == "0"
    assert rows["1"]["not finished"] == "1"
    assert rows["1"]["best objective"] == "—"
    assert "final holdout" not in rows["1"]  # no run measured one
    assert "Runs: 2: 0 finished, 1 failed, 1 interrupted." in markdown
    assert "- `horizon=1/r0` (seed 7): failed: boom" in markdown
    assert "- `horizon=all/r0` (seed 7): interrupted: boom" in markdown
    assert "No plots: no run finished." in markdown
    assert not (tmp_path / "plots").exists()
