"""``genopt demo``: a new Pong task optimized end to end, told in a few lines per iteration.

The optimizer is, in this order: ``--backend``; Claude when ``ANTHROPIC_API_KEY``
is set; else the recording of a real LLM optimizing this task (:data:`CASSETTE`,
replayed by iteration and candidate, see :mod:`pytest_genopt.backends.cassette`).
Whatever proposes, every evaluation plays Pong for real.  pytest's own output
(tracebacks of the starting policy's failing tests) goes to a log file; the
terminal shows the run's ``genopt:`` lines, then a table of the iterations and
the returns per seed before and after.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_genopt.events import Event

#: a real LLM optimizing the Pong skeleton through ``exchange:`` (docs/demo.md says how)
CASSETTE = Path(__file__).parent / "suites" / "atari" / "demo" / "pong.cassette.json"
#: the starting variant the cassette was recorded from
RECORDED_START = "skeleton"
#: where pytest's full output goes, under the task directory
LOG = Path(".genopt") / "demo-pytest.log"
#: characters of a rationale shown in the table
RATIONALE_WIDTH = 72


class DemoError(Exception):
    """A one-line message for the user."""


def choose_backend(override: str | None) -> tuple[str, str]:
    """The demo's backend and why."""
    if override:
        return override, "chosen with --backend"
    if os.environ.get("ANTHROPIC_API_KEY"):
        return "anthropic", "ANTHROPIC_API_KEY is set"
    return f"replay:{CASSETTE}", (
        "ANTHROPIC_API_KEY is not set, so a recorded LLM optimizer answers "
        "(docs/demo.md); every evaluation plays Pong for real"
    )


def recorded_iterations() -> int:
    """How many iterations the shipped cassette answers."""
    document = json.loads(CASSETTE.read_text(encoding="utf-8"))
    return len({e["request"]["iteration"] for e in document["exchanges"]})


def plan(iterations: int, backend: str, variant: str | None) -> int:
    """The iterations to run; a replay of the cassette runs at most what it recorded."""
    if iterations < 1:
        raise DemoError(f"--iterations must be >= 1, got {iterations}")
    if backend != f"replay:{CASSETTE}":
        return iterations
    if variant not in (None, RECORDED_START):
        raise DemoError(
            f"the recorded optimizer answered the {RECORDED_START} start; "
            f"--start {variant} needs --backend (e.g. search, or anthropic with a key)"
        )
    recorded = recorded_iterations()
    if iterations > recorded:
        print(f"genopt demo: the recording holds {recorded} iterations; running {recorded}")
    return min(iterations, recorded)


def run_pytest(command: list[str], directory: Path) -> int:
    """Run the demo's pytest, showing only its ``genopt:`` lines (all of it goes to
    :data:`LOG`); Ctrl-C and SIGTERM go to it, which stops the run cleanly (journal,
    report) and exits 2, instead of stopping this process."""
    from pytest_genopt.interrupts import forward_signals

    log = directory / LOG
    log.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        command,
        cwd=directory,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        env={**os.environ, "PYTHONUNBUFFERED": "1"},  # each line as it is written
    )
    output = process.stdout
    if output is None:  # cannot happen: Popen was given PIPE
        raise DemoError("pytest's output could not be read")
    restore = forward_signals(process.send_signal)
    try:
        with open(log, "w", encoding="utf-8") as kept:
            for line in output:
                kept.write(line)
                if line.startswith("genopt"):
                    print(line, end="", flush=True)
        return process.wait()
    finally:
        restore()


def show(events: list[Event], report: dict[str, Any], directory: Path) -> None:
    """The table of iterations, the returns per seed before and after, where the result is."""
    print()
    print(f"genopt demo: the optimizer's {len(report['iterations'])} iteration(s):")
    print(f"    {'it':>2}  {'decision':<8}  {'objective':<9}  what it tried")
    rationale = _rationales(events)
    for it in report["iterations"]:
        value = it["objective"]
        shown = _objective(value)
        told = textwrap.shorten(rationale.get(it["iteration"], ""), RATIONALE_WIDTH)
        print(f"    {it['iteration']:>2}  {it['decision']:<8}  {shown:<9}  {told}")
    _show_returns(events)
    base, best = report["baseline"], report["best"]
    print(
        f"genopt demo: objective {_objective(base['objective'])} -> "
        f"{_objective(best['objective'])}; "
        f"{best['passed']} of {best['passed'] + best['failed']} training tests pass "
        f"(were {base['passed']})"
    )
    holdout = report.get("holdout") or {}
    if holdout.get("baseline") is not None and holdout.get("best") is not None:
        print(
            f"genopt demo: holdout seeds (never shown to the optimizer): "
            f"{holdout['baseline']:.4f} -> {holdout['best']:.4f}"
        )
    print(
        f"genopt demo: branch {report['branch']} in {directory}; "
        f"review with: git -C {directory} log -p {report['base'][:12]}..{report['branch']}"
    )
    print(f"genopt demo: pytest's output (tracebacks included): {directory / LOG}")
    print(f"genopt demo: stopped: {report['stopped']}")


def _objective(value: float | None) -> str:
    """An objective for the terminal; None (a run that evaluated nothing) is n/a."""
    return "n/a" if value is None else f"{value:.4f}"


def _rationales(events: list[Event]) -> dict[int, str]:
    from pytest_genopt.events import ProposalReceived

    found: dict[int, str] = {}
    for event in events:
        if isinstance(event, ProposalReceived) and event.candidate == 0:
            response = event.response or {}
            found[event.iteration] = str(response.get("rationale") or event.invalid or "")
    return found


def _show_returns(events: list[Event]) -> None:
    """Each training seed's Pong return with the start and with the best policy."""
    from pytest_genopt.events import CandidateEvaluated, IterationSampled, RunStarted
    from pytest_genopt.suites.atari import get_game

    before: dict[str, float | None] = {}
    after: dict[str, float | None] = {}
    training: set[str] = set()  # the tests an iteration sampled from (the holdout never)
    for event in events:
        if isinstance(event, RunStarted):
            before = dict(event.values)
        elif isinstance(event, IterationSampled):
            training.update(event.batch)
        elif isinstance(event, CandidateEvaluated):
            if event.stage == "full":
                training.update(event.values)
            if event.decision == "accepted":
                after = {**after, **event.values}
    low, high = get_game("pong").score_bounds or (0.0, 1.0)

    def score(value: float | None) -> str:
        return "n/a" if value is None else f"{low + value * (high - low):+.0f}"

    seeds = sorted(test for test in before if test in training)
    if not seeds:
        return
    print("genopt demo: Pong return per training seed (start -> best):")
    for test in seeds:
        name = test.rsplit("[", 1)[-1].rstrip("]")
        print(
            f"    {name:<8} {score(before[test]):>4} -> {score(after.get(test, before[test])):>4}"
        )


def run_demo(
    iterations: int,
    backend_override: str | None,
    seed: int,
    directory: Path | None,
    variant: str | None,
) -> int:
    """A new Pong task, then ``pytest --genopt-iterations=N`` in it; prints what happened."""
    from pytest_genopt.cli import init_task
    from pytest_genopt.journal import read_events
    from pytest_genopt.suites import find_task

    backend, why = choose_backend(backend_override)
    iterations = plan(iterations, backend, variant)
    task = find_task("atari/pong")
    if directory is None:
        directory = Path(tempfile.mkdtemp(prefix="genopt-demo-")) / "pong"
    init_task(task, directory, variant)
    print(f"genopt demo: wrote {task.id} ({variant or task.default_variant}) into {directory}")
    print(f"genopt demo: backend {backend}: {why}")
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        f"--genopt-iterations={iterations}",
        f"--genopt-backend={backend}",
        f"--genopt-seed={seed}",
    ]
    print(f"genopt demo: running {' '.join(command[2:])}", flush=True)
    status = run_pytest(command, directory)
    runs = directory / ".genopt" / "runs"
    last = runs / "last"
    if not last.exists():
        if status == 2:
            print("genopt demo: interrupted before the run began; nothing to resume")
            return 2
        raise DemoError(
            f"the run wrote no report (pytest exit status {status}; see {directory / LOG})"
        )
    run = runs / last.read_text().strip()
    report = json.loads((run / "report.json").read_text())
    show(read_events(run / "journal.jsonl"), report, directory)
    if status == 2:  # interrupted: the run is journaled and can go on
        from pytest_genopt.interrupts import resume_command

        again = resume_command(command[3:], run.name, program="python -m pytest")
        print(f"genopt: resume with: cd {shlex.quote(str(directory))} && {again}")
        return 2
    # the tests of the starting variant may still fail (exit 1); anything else is a problem
    return 0 if status in (0, 1) else status
