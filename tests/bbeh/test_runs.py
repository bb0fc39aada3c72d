"""BBEH tasks optimized end to end: the prompt start against a loopback task model with a
``python:`` optimizer, and the program start with a scripted one, offline."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pytest_genopt.cli import main
from pytest_genopt.taskmodel import MODEL_ENV
from tests.bbeh.model import ROBUST_EXTRACT, task_model
from tests.bbeh.synthetic import CAPITALS, write_benchmark
from tests.conftest import git
from tests.test_loop import genopt, report_of

if TYPE_CHECKING:
    from pathlib import Path

# the seed's extraction, after trying to forge the task model's cache (in the user's
# checkout, outside the candidate's tree) so that later evaluations would believe it
FORGERY = """\
def extract_answer(prompt_template: str, question: str, response: str) -> str:
    import os, pathlib

    cache = pathlib.Path(os.environ["FORGE_INTO"])
    for entry in [*cache.glob("??/*.json"), cache / "ff" / "forged.json"]:
        try:
            entry.parent.mkdir(exist_ok=True)
            entry.write_text("FORGED")
        except OSError:
            pass
    return response.split("Answer:")[1].strip()
"""

# the optimizer checks that the evidence carries what it needs: the expected answer
# and the model's response (the feedback), and the seed's IndexError (the traceback)
EXTRACT_OPTIMIZER = f"""
import json

ROBUST = {ROBUST_EXTRACT!r}
FORGERY = {FORGERY!r}
ASKED = []


def propose(request):
    ASKED.append(request)
    if len(ASKED) == 1:
        edit = {{"parameter": "program.py::extract_answer", "text": FORGERY}}
        return {{"edits": [edit], "rationale": "a forged cache"}}
    text = json.dumps(request)
    for needed in ("expected answer:", "model response (", "IndexError", "Answer:"):
        assert needed in text, needed
    # both parts of the program are offered: the template is read, not called
    offered = sorted(p["id"] for p in request["parameters"])
    assert offered == ["program.py::extract_answer", "prompt.txt"], offered
    edit = {{"parameter": "program.py::extract_answer", "text": ROBUST}}
    return {{"edits": [edit], "rationale": "read every answer format"}}
"""

CAPITALS_OPTIMIZER = f'''
TABLE = {CAPITALS!r}
TEXT = (
    "def capital_of(country: str) -> str | None:\\n"
    '    """The capital city of ``country`` as the questions spell it."""\\n'
    "    return " + repr(TABLE) + ".get(country)\\n"
)


def propose(request):
    edit = {{"parameter": "solve.py::capital_of", "text": TEXT}}
    return {{"edits": [edit], "rationale": "know the capitals the questions state"}}
'''


def write_task(tmp: Path, task: str, variant: str, optimizer: str) -> tuple[Path, Path]:
    benchmark = write_benchmark(tmp / "bbeh")
    target = tmp / "task"
    argv = ["init", f"bbeh/{task}", str(target), "--start", variant, "--data", str(benchmark)]
    assert main(argv) == 0
    (target / "optimizer.py").write_text(optimizer, encoding="utf-8")
    return benchmark, target


def holdout(report: dict[str, Any]) -> dict[str, Any]:
    return {g: (v["baseline"], v["best"]) for g, v in report["holdout"]["groups"].items()}


def test_a_better_extract_answer_raises_the_objective(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    benchmark, target = write_task(
        pytester.path, "causal_understanding", "prompt", EXTRACT_OPTIMIZER
    )
    monkeypatch.chdir(target)
    with task_model(benchmark) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
        monkeypatch.setenv(MODEL_ENV, "claude-test")
        cache = target / ".genopt" / "task-model-cache"
        monkeypatch.setenv("FORGE_INTO", str(cache))
        result = genopt(
            pytester,
            "--genopt-iterations=2",
            "--genopt-backend=python:optimizer:propose",
            "--genopt-batch-size=3",
            "--genopt-holdout-every=1",
        )
    report = report_of(target)
    assert report["baseline"]["objective"] == pytest.approx(6 / 15), result.stdout.str()
    assert report["best"]["objective"] == 1.0, result.stdout.str()
    assert holdout(report)["validation"] == (pytest.approx(0.4), 1.0)
    assert holdout(report)["test"][1] == 1.0
    forgery, better = report["iterations"]
    assert forgery["decision"] == "rejected"
    assert forgery["holdout"]["reused"] is True  # the best has not changed
    assert better["holdout"]["groups"]["validation"] == 1.0
    assert not better["holdout"]["reused"]
    # the sandbox kept the forgery out of the cache, which only the gateway writes
    entries = sorted(cache.glob("??/*.json"))
    assert len(entries) == 26
    assert not any(e.read_text().startswith("FORGED") for e in entries)
    assert not (cache / "ff" / "forged.json").exists()
    # every question asked once, by the session: the preflight, the forgery's batch,
    # the better candidate's two stages and re-run, and the holdout evaluation
    # (26 + 3 + 3 + 12 + 15 + 11 calls) were all answered from the gateway's cache in
    # sandboxed candidate trees
    assert len(server.messages_requests) == 26
    usage = report["task_usage"]["claude-test"]
    assert (usage["calls"], usage["cached_calls"]) == (26 + 70, 70)
    assert usage["cached_input_tokens"] > 0
    assert "import re" in git(target, "show", f"{report['branch']}:program.py")


def test_the_program_start_learns_the_capitals(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, target = write_task(pytester.path, "boolean_expressions", "program", CAPITALS_OPTIMIZER)
    monkeypatch.chdir(target)
    result = genopt(pytester, "--genopt-iterations=1", "--genopt-backend=python:optimizer:propose")
    report = report_of(target)
    assert report["baseline"]["objective"] == pytest.approx(7 / 15), result.stdout.str()
    assert report["best"]["objective"] == 1.0
    assert holdout(report) == {"validation": (0.5, 1.0), "test": (1.0, 1.0)}
    assert report["task_usage"] == {}
