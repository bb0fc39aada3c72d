"""GitHub Actions: the job summary, the step outputs and the example workflow.

The workflow's own ``run:`` steps are executed (bash, in order, as the runner would)
in a real project whose ``origin`` is a local bare repository, with the ``python:``
backend standing in for the API. The steps are read from
``examples/ci/github-actions.yml``: the test holds no copy of their commands.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_genopt.github import append_summary, output_line
from tests.conftest import QUIET_PLUGINS, git
from tests.test_interrupts import interrupt_when

WORKFLOW = Path(__file__).resolve().parents[1] / "examples" / "ci" / "github-actions.yml"

FIXING_OPTIMIZER = """\
def propose(request):
    return {"edits": [{"parameter": "calc.py::add", "search": "return a - b",
                       "replace": "return a + b"}], "rationale": "add must add"}
"""

#: a tool of the job's own (a test reporter) writing to the step's files as the
#: session's tests end: what genopt writes must come after it; candidate evaluations
#: must not inherit the files (they would write here, or fail in the sandbox)
REPORTING_CONFTEST = """\
import os


def pytest_sessionfinish(session):
    for variable, line in (("GITHUB_STEP_SUMMARY", "tests ran in {}"),
                           ("GITHUB_OUTPUT", "tests_ran_in={}")):
        if os.environ.get(variable):
            with open(os.environ[variable], "a") as fh:
                fh.write(line.format(os.getcwd()) + "\\n")
"""

#: what the test gives for the GitHub contexts the job's `env:` reads
CONTEXTS = {
    "GENOPT_ITERATIONS": "2",
    "GENOPT_BACKEND": "python:optimizer:propose",
    "GENOPT_BUDGET_USD": "1",
    "GENOPT_BASE": "main",
    "ANTHROPIC_API_KEY": "",  # the python: backend needs none
    "GH_TOKEN": "",  # gh is not run: it needs GitHub
}

#: the processes started here get the quiet plugin options explicitly (their environment
#: is built from scratch in places)
ADDOPTS = {"PYTEST_ADDOPTS": QUIET_PLUGINS}

_OUTPUT_EXPRESSION = re.compile(r"^\$\{\{\s*steps\.([\w-]+)\.outputs\.(\w+)\s*\}\}$")
_CONDITION = re.compile(r"^steps\.([\w-]+)\.outputs\.(\w+) (==|!=) '([^']*)'$")


def read_outputs(path: Path) -> list[tuple[str, str]]:
    """The ``name=value`` and ``name<<DELIMITER`` entries of a GITHUB_OUTPUT file, in order."""
    lines = path.read_text(encoding="utf-8").split("\n") if path.exists() else []
    entries, i = [], 0
    while i < len(lines):
        line = lines[i]
        head = line.split("=", 1)[0]
        if "<<" in head:
            name, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, i + 1)
            entries.append((name, "\n".join(lines[i + 1 : end])))
            i = end
        elif "=" in line:
            name, value = line.split("=", 1)
            entries.append((name, value))
        i += 1
    return entries


def holds(condition: str, outputs: dict[str, dict[str, str]]) -> bool:
    """A step's ``if:``, in the one form the workflow uses: ``&&`` of output comparisons."""
    for part in condition.split("&&"):
        match = _CONDITION.match(part.strip())
        assert match, f"the test cannot evaluate {part!r}"
        step, name, op, literal = match.groups()
        if (outputs.get(step, {}).get(name, "") == literal) != (op == "=="):
            return False
    return True


def resolve(
    env: dict[str, Any],
    outputs: dict[str, dict[str, str]],
    contexts: dict[str, str] = CONTEXTS,
) -> dict[str, str]:
    """A step's or the job's ``env:``: step outputs from earlier steps, contexts from the test."""
    resolved = {}
    for name, value in env.items():
        text = str(value)
        match = _OUTPUT_EXPRESSION.match(text)
        if match:
            resolved[name] = outputs.get(match[1], {}).get(match[2], "")
        elif name in contexts:
            resolved[name] = contexts[name]
        else:
            assert "${{" not in text, f"the test gives no value for {name}: {text}"
            resolved[name] = text
    return resolved


def workflow() -> dict[Any, Any]:
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def run_step(
    step: dict[str, Any], cwd: Path, env: dict[str, str], files: Path
) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    """One ``run:`` step as the runner runs it (``shell: bash``), with its own files."""
    files.mkdir()
    script, summary, output = files / "script.sh", files / "summary.md", files / "output"
    script.write_text(step["run"], encoding="utf-8")
    env = {**env, "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output)}
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done, summary, output


def test_the_workflow_triggers_permissions_and_secrets() -> None:
    data = workflow()
    on = data[True]  # YAML 1.1 reads the key `on` as true
    assert on["schedule"][0]["cron"]
    assert on["pull_request"] == {"types": ["labeled"]}
    assert data["permissions"] == {"contents": "write", "pull-requests": "write"}
    assert data["defaults"] == {"run": {"shell": "bash"}}  # as run_step runs the steps
    job = data["jobs"]["optimize"]
    assert "github.event.label.name == 'genopt'" in job["if"]
    steps = {s.get("id"): s for s in job["steps"]}
    assert steps["genopt"]["env"]["ANTHROPIC_API_KEY"] == "${{ secrets.ANTHROPIC_API_KEY }}"
    assert "--genopt-push=origin" in steps["genopt"]["run"]
    assert '--genopt-budget-usd="$GENOPT_BUDGET_USD"' in steps["genopt"]["run"]
    assert "${{" not in "".join(s.get("run", "") for s in job["steps"]), "expressions in env: only"


def test_the_workflow_steps_publish_the_report_and_open_a_pull_request_on_the_pushed_branch(
    pytester: pytest.Pytester, calc_project: Path
) -> None:
    project = calc_project
    (project / "optimizer.py").write_text(FIXING_OPTIMIZER)
    (project / "conftest.py").write_text(REPORTING_CONFTEST)
    git(project, "add", "-A")
    git(project, "commit", "-qm", "optimizer and a reporting conftest")
    remote = pytester.path / "remote.git"
    git(pytester.path, "init", "--bare", "-q", str(remote))
    git(project, "remote", "add", "origin", str(remote))
    git(project, "push", "-q", "origin", "main")
    job = workflow()["jobs"]["optimize"]
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    env = {**os.environ, **ADDOPTS, "PATH": path, "RUNNER_TEMP": str(pytester.path / "temp")}
    Path(env["RUNNER_TEMP"]).mkdir()
    outputs: dict[str, dict[str, str]] = {}
    ran: dict[str, tuple[str, Path]] = {}
    skipped = []
    for number, step in enumerate(job["steps"]):
        # uses: steps (checkout, setup-python) and the install step need GitHub and an index
        if "uses" in step or step.get("id") == "install":
            skipped.append(step.get("id") or step["uses"])
            continue
        if "if" in step and not holds(step["if"], outputs):
            skipped.append(step["id"])
            continue
        if step["id"] == "pull-request":
            continue  # checked below: gh needs GitHub
        step_env = {**env, **resolve(job["env"], outputs), **resolve(step.get("env", {}), outputs)}
        done, summary, output = run_step(step, project, step_env, pytester.path / f"step{number}")
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        entries = read_outputs(output)
        assert len(dict(entries)) == len(entries), entries  # each written once
        outputs[step["id"]] = dict(entries)
        ran[step["id"]] = (done.stdout, summary)
    assert skipped == ["actions/checkout@v4", "actions/setup-python@v5", "install"]
    assert list(ran) == ["genopt", "body"]

    stdout, summary = ran["genopt"]
    out = outputs["genopt"]
    report = Path(out["report"])
    branch = out["branch"]
    # the job's own tool wrote first (the session's tests), genopt appended its report;
    # no candidate evaluation wrote anything
    assert summary.read_text(encoding="utf-8") == (
        f"tests ran in {project}\n" + report.read_text(encoding="utf-8")
    )
    assert report.parent == project / ".genopt" / "runs" / out["run"]
    assert out == {
        "tests_ran_in": str(project),
        "run": out["run"],
        "branch": f"genopt/{out['run']}",
        "baseline": "0.2",
        "objective": "1.0",
        "accepted": "1",
        "pushed": "true",
        "report": str(report),
        "stopped": "nothing left to improve: every test is at its best value",
    }
    assert f"genopt: pushed {branch} to origin" in stdout
    # the bare remote holds the branch with the accepted commit on top of main
    tip = git(remote, "rev-parse", f"refs/heads/{branch}").strip()
    assert tip == git(project, "rev-parse", branch).strip()
    assert git(remote, "rev-list", "--count", f"main..{branch}").strip() == "1"
    assert "Genopt-Objective: 0.2000 -> 1.0000" in git(remote, "log", "-1", "--format=%B", tip)
    assert "return a + b" in git(remote, "show", f"{tip}:calc.py")
    body = Path(outputs["body"]["path"])
    assert body.read_text(encoding="utf-8") == report.read_text(encoding="utf-8")

    # the pull-request step: it runs now, with these values, and gh gets them
    step = next(s for s in job["steps"] if s.get("id") == "pull-request")
    assert holds(step["if"], outputs)
    for changed in ({"accepted": "0"}, {"pushed": "false"}):
        assert not holds(step["if"], {**outputs, "genopt": {**out, **changed}})
    step_env = {**resolve(job["env"], outputs), **resolve(step["env"], outputs)}
    words = shlex.split(step["run"].replace("\\\n", " "))
    assert words[:3] == ["gh", "pr", "create"]
    flags = dict(zip(words[3::2], words[4::2], strict=True))
    values = {flag: _expand(value, step_env) for flag, value in flags.items()}
    assert values["--head"] == branch
    assert values["--base"] == "main"
    assert values["--body-file"] == str(body)
    assert values["--title"] == "genopt: objective 0.2 -> 1.0 (1 accepted edits)"


def _expand(text: str, env: dict[str, str]) -> str:
    return re.sub(r"\$(\w+)", lambda m: env[m[1]], text)


def test_a_cancelled_job_stops_the_run_as_ctrl_c_and_an_unwritable_summary_is_one_warning(
    calc_project: Path, tmp_path: Path
) -> None:
    """The runner signals the step's shell only (SIGINT, then SIGTERM): the step passes it
    on, and the run writes what it has. Its summary file cannot be written (a directory)."""
    job = workflow()["jobs"]["optimize"]
    step = next(s for s in job["steps"] if s.get("id") == "genopt")
    script = tmp_path / "script.sh"
    script.write_text(step["run"], encoding="utf-8")
    summary = tmp_path / "summary"
    summary.mkdir()
    output = tmp_path / "output"
    output.write_text("earlier=kept\n")
    contexts = {**CONTEXTS, "GENOPT_BACKEND": "exchange:exchange"}
    env = {
        **os.environ,
        **ADDOPTS,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        **resolve({**job["env"], **step["env"]}, {}, contexts),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(output),
    }
    exchange = calc_project / "exchange"
    status, out, err = interrupt_when(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        calc_project,
        lambda: any(exchange.glob("*.request.json")),
        signal.SIGINT,
        env=env,
    )
    assert status == pytest.ExitCode.INTERRUPTED, out + err  # not failed by the summary
    assert "Traceback" not in out + err
    assert f"genopt: warning: GITHUB_STEP_SUMMARY={summary} not written: Is a directory" in out
    entries = read_outputs(output)
    assert entries[0] == ("earlier", "kept")  # appended after what was there
    written = dict(entries[1:])
    run = written["run"]
    report = calc_project / ".genopt" / "runs" / run / "report.md"
    assert written == {
        "run": run,
        "branch": f"genopt/{run}",
        "baseline": "0.2",
        "objective": "0.2",
        "accepted": "0",
        "pushed": "false",  # the project has no origin
        "report": str(report),
        "stopped": "interrupted (Ctrl-C)",
    }
    assert "Stopped: interrupted (Ctrl-C)." in report.read_text(encoding="utf-8")


def test_a_run_stopped_in_its_preflight_publishes_why(
    pytester: pytest.Pytester, calc_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # passes in the checkout, fails in a candidate tree: the preflight stops the run
    # before its start is journaled, so there is no report.md to append
    (calc_project / "tests" / "test_where.py").write_text(
        "def test_where():\n    assert '.genopt' not in __file__\n"
    )
    summary, output = pytester.path / "summary.md", pytester.path / "output"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    monkeypatch.setenv("PYTEST_ADDOPTS", ADDOPTS["PYTEST_ADDOPTS"])
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--genopt-iterations=2", "--genopt-backend=search"
    )
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    written = dict(read_outputs(output))
    run, stopped = written["run"], written["stopped"]
    assert stopped.startswith("preflight: 1 test(s) give other results in a candidate tree")
    assert written == {
        "run": run,
        "branch": f"genopt/{run}",
        "baseline": "",
        "objective": "",
        "accepted": "0",
        "pushed": "false",
        "report": "",
        "stopped": stopped,
    }
    assert summary.read_text(encoding="utf-8") == (
        f"# genopt run {run}\n\nThe run failed before it wrote a report: {stopped}\n\n"
        f"Branch `genopt/{run}`, 0 accepted edit(s).\n"
    )


def test_outputs_summary_and_body_limits(tmp_path: Path) -> None:
    # a value with a line break takes the heredoc form and reads back whole
    out = tmp_path / "output"
    out.write_text(output_line("stopped", "one\ntwo") + output_line("accepted", "1"))
    assert read_outputs(out) == [("stopped", "one\ntwo"), ("accepted", "1")]
    assert output_line("branch", "genopt/x") == "branch=genopt/x\n"

    # the summary: appended after what is there (on a line of its own), never past 1 MiB
    summary = tmp_path / "summary.md"
    summary.write_text("x" * (1024 * 1024 - 2000))  # no final newline
    report = "# genopt run r\n\n```diff\n" + "+ é\n" * 10_000 + "```\n"
    append_summary(summary, report)
    text = summary.read_bytes()
    assert len(text) <= 1024 * 1024
    assert text.startswith(b"x" * (1024 * 1024 - 2000) + b"\n# genopt run r\n")
    assert text.decode("utf-8").endswith(
        "\n```\n\n*[genopt: the report is 50,028 bytes, more than the job summary holds; "
        "the whole report is report.md in the run's folder]*\n"
    )
    append_summary(summary, report)  # full: nothing more, nothing lost
    assert summary.read_bytes() == text


def test_the_pull_request_body_step_cuts_a_long_report(tmp_path: Path) -> None:
    step = next(s for s in workflow()["jobs"]["optimize"]["steps"] if s.get("id") == "body")
    report = tmp_path / "report.md"
    report.write_text("# genopt run r\n\n```diff\n" + "+ line\n" * 20_000 + "```\n")
    env = {**os.environ, "REPORT": str(report), "RUNNER_TEMP": str(tmp_path)}
    done, _, output = run_step(step, tmp_path, env, tmp_path / "files")
    assert done.returncode == 0, done.stderr
    body = Path(dict(read_outputs(output))["path"]).read_text(encoding="utf-8")
    assert len(body) < 65_536
    assert body.endswith("\n```\n\n*[cut here: the whole report is in the job summary]*\n")
