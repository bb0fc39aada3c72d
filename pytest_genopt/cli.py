"""The ``genopt`` command: list and initialize suite tasks, run the demo, show reports."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pytest_genopt.suites import Task

FALLBACK_IDENTITY = {
    "GIT_AUTHOR_NAME": "pytest-genopt",
    "GIT_AUTHOR_EMAIL": "genopt@localhost",
    "GIT_COMMITTER_NAME": "pytest-genopt",
    "GIT_COMMITTER_EMAIL": "genopt@localhost",
}


class CommandError(Exception):
    """A one-line message for the user; the command exits with status 2."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    passed_on: list[str] = []
    if argv[:1] == ["study"] and "--" in argv:  # what follows goes to every run's pytest
        cut = argv.index("--")
        argv, passed_on = argv[:cut], argv[cut + 1 :]
    args = parser.parse_args(argv)
    try:
        return _run_command(args, passed_on)
    except CommandError as exc:
        print(f"genopt: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before a run began: nothing to resume
        print("genopt: interrupted", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    """The ``genopt`` command line: its commands and their arguments."""
    parser = argparse.ArgumentParser(
        prog="genopt", description="pytest-genopt: generative optimization of code under test"
    )
    parser.add_argument("--version", action="version", version=f"genopt {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("list", help="show suites, tasks and starting variants")
    _add_init(commands)
    _add_demo(commands)
    report = commands.add_parser("report", help="print a run's report.md")
    _add_run_arguments(report)
    _add_handover(commands)
    _add_study(commands)
    return parser


def _run_command(args: argparse.Namespace, passed_on: list[str]) -> int:
    """Carry out ``args.command``; its exit status, or CommandError."""
    if args.command == "list":
        return list_tasks()
    if args.command == "init":
        task = find(args.task)
        init_task(task, args.directory, args.start, args.data, args.protocol)
        print(next_steps(task, args.directory, args.start, args.protocol))
        return 0
    if args.command == "demo":
        from pytest_genopt.demo import DemoError, run_demo

        try:
            return run_demo(args.iterations, args.backend, args.seed, args.dir, args.start)
        except DemoError as exc:
            raise CommandError(str(exc)) from None
    if args.command == "study":
        return study(args, passed_on)
    if args.command in ("review", "apply"):
        return handover(args)
    return show_report(args.dir, args.run)


def _add_init(commands: Any) -> None:
    init = commands.add_parser("init", help="write a task into a new git repository")
    init.add_argument("task", help="SUITE/TASK, e.g. atari/pong (see `genopt list`)")
    init.add_argument("directory", type=Path, help="a new or empty directory")
    init.add_argument("--start", metavar="VARIANT", help="starting variant (default: the task's)")
    init.add_argument(
        "--data",
        metavar="SOURCE",
        help="where a task with data reads it: a file, a folder or a Hub dataset id "
        "(bbeh: default $GENOPT_BBEH_DATA, else the Hub)",
    )
    init.add_argument(
        "--protocol",
        metavar="NAME",
        help="how the tests evaluate, for a task with protocols (atari: quick, the "
        "default, or paper; see `genopt list`)",
    )


def _add_demo(commands: Any) -> None:
    demo = commands.add_parser(
        "demo",
        help="optimize a new Pong task end to end (anthropic with a key, else a recorded "
        "LLM run replayed; every evaluation plays Pong)",
    )
    demo.add_argument("--iterations", type=int, default=10, metavar="N")
    demo.add_argument("--backend", metavar="SPEC", help="override the backend choice")
    demo.add_argument("--seed", type=int, default=0, metavar="S")
    demo.add_argument("--dir", type=Path, metavar="DIR", help="where to write the task")
    demo.add_argument("--start", metavar="VARIANT", help="starting variant (default: skeleton)")


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The run to read (default: the last) and the project it is in (``--dir``)."""
    parser.add_argument("run", nargs="?", default="last", help="run id (default: last)")
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path.cwd(),
        metavar="DIR",
        help="the project (default: the current directory)",
    )


def _add_handover(commands: Any) -> None:
    review = commands.add_parser(
        "review", help="show each accepted edit of a run: objective, rationale, diff"
    )
    apply = commands.add_parser(
        "apply",
        help="apply a run's net diff to the working tree as uncommitted changes "
        "(or write it with --patch)",
    )
    for parser in (review, apply):
        _add_run_arguments(parser)
    apply.add_argument(
        "--iteration", type=int, metavar="N", help="up to this accepted iteration (default: all)"
    )
    apply.add_argument(
        "--patch", type=Path, metavar="PATH", help="write the diff to this new file instead"
    )


def handover(args: argparse.Namespace) -> int:
    """``genopt review`` and ``genopt apply``."""
    from pytest_genopt.handover import HandoverError, apply, review

    try:
        if args.command == "review":
            print(review(args.dir, args.run), end="")
        else:
            print(apply(args.dir, args.run, args.iteration, args.patch))
    except HandoverError as exc:
        raise CommandError(str(exc)) from None
    return 0


def _add_study(commands: Any) -> None:
    study = commands.add_parser(
        "study",
        help="run a grid of configurations x repeated seeds and aggregate them",
        description="Run SOURCE (a suite task or a git repository) once per configuration "
        "of the grid and repeat, each an ordinary pytest --genopt run in its own clone; "
        "options after -- go to every run's pytest.",
    )
    study.add_argument("source", nargs="?", help="SUITE/TASK (see genopt list) or a git repo")
    study.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="NAME=V1,V2",
        help="a factor and its values: horizon, batch_size, start, or any --genopt-NAME",
    )
    study.add_argument("--repeats", type=int, default=1, metavar="R", help="seeds per config")
    study.add_argument("--iterations", type=int, default=10, metavar="N")
    study.add_argument("--backend", metavar="SPEC", help="--genopt-backend of every run")
    study.add_argument("--seed", type=int, default=0, metavar="S", help="repeat r uses S + r")
    study.add_argument("--jobs", type=int, default=1, metavar="N", help="runs at once")
    study.add_argument("--executor", default="local", choices=("local", "ray"))
    study.add_argument("--address", metavar="ADDR", help="Ray cluster (default: $RAY_ADDRESS)")
    study.add_argument("--out", type=Path, default=Path("genopt-study"), metavar="DIR")
    study.add_argument("--budget-usd", type=float, metavar="USD", help="for the whole study")
    study.add_argument("--max-tokens", type=int, metavar="N", help="for the whole study")
    study.add_argument(
        "--report", type=Path, metavar="DIR", help="only rebuild study.json, .md and plots"
    )


def study(args: argparse.Namespace, passed_on: list[str]) -> int:
    from pytest_genopt.study.command import StudyError, StudyOptions, rebuild_report, run_study
    from pytest_genopt.study.grid import GridError
    from pytest_genopt.study.source import SourceError

    try:
        if args.report is not None:
            rebuild_report(args.report)
            print(f"genopt: rebuilt {args.report / 'study.md'}")
            return 0
        if args.source is None:
            raise CommandError("study: give SOURCE (a suite task or a git repository)")
        options = StudyOptions(
            source=args.source,
            grid=args.grid,
            out=args.out,
            repeats=args.repeats,
            iterations=args.iterations,
            backend=args.backend,
            seed=args.seed,
            jobs=args.jobs,
            executor=args.executor,
            address=args.address,
            budget_usd=args.budget_usd,
            max_tokens=args.max_tokens,
            pytest_args=passed_on,
        )
        return run_study(options)
    except (StudyError, GridError, SourceError) as exc:
        raise CommandError(str(exc)) from None


def _version() -> str:
    from pytest_genopt import __version__

    return __version__


def find(task_id: str) -> Task:
    from pytest_genopt.suites import find_task

    try:
        return find_task(task_id)
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def list_tasks() -> int:
    from pytest_genopt.extras import status
    from pytest_genopt.suites import all_tasks

    for task in all_tasks():
        extra = f" ({status(task.extra)})" if task.extra else ""
        print(f"{task.id}{extra}: {task.description}")
        for variant in task.variants:
            default = " (default)" if variant == task.default_variant else ""
            description = task.variant_descriptions.get(variant, "")
            print(f"    --start {variant}{default}: {description}")
        for index, (protocol, description) in enumerate(task.protocols.items()):
            default = " (default)" if index == 0 else ""
            print(f"    --protocol {protocol}{default}: {description}")
    return 0


def init_task(
    task: Task,
    directory: Path,
    variant: str | None,
    data: str | None = None,
    protocol: str | None = None,
) -> None:
    """Write ``task`` into ``directory`` as a new git repository with a first commit.

    Everything is read and checked (variant, data, protocol) before anything is written.
    """
    import git

    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise CommandError(f"{directory} exists and is not an empty directory")
    if data is not None and task.data_files is None:
        raise CommandError(f"--data: task {task.id} reads no data")
    if protocol is not None and not task.protocols:
        raise CommandError(f"--protocol: task {task.id} has no protocols (it evaluates one way)")
    try:
        files = task.files(variant, protocol)
        if task.data_files is not None:
            files.update(task.data_files(data))
    except ValueError as exc:  # an unknown variant or protocol, or data that cannot be read
        raise CommandError(str(exc)) from None
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        target = directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    (directory / ".gitignore").write_text(".genopt/\n__pycache__/\n.pytest_cache/\n")
    repo = git.Repo.init(directory, initial_branch="main")
    repo.git.add("--all")
    env = {} if _has_identity(repo) else FALLBACK_IDENTITY
    with repo.git.custom_environment(**env):
        repo.git.commit(
            "--quiet",
            "--no-gpg-sign",
            "-m",
            f"{task.id}: {variant or task.default_variant} starting variant (genopt init)",
        )


def _has_identity(repo: object) -> bool:
    import git

    if not isinstance(repo, git.Repo):
        return False
    if os.environ.get("GIT_AUTHOR_NAME") and os.environ.get("GIT_COMMITTER_NAME"):
        return True
    reader = repo.config_reader()
    return bool(reader.get_value("user", "name", "")) and bool(
        reader.get_value("user", "email", "")
    )


#: what to run in a new task repository, unless its task says otherwise
DEFAULT_COMMANDS = (
    "python -m pytest                                   # the tests as they are",
    "python -m pytest --genopt-iterations=10 --genopt-backend=search   # offline",
    "python -m pytest --genopt-iterations=10            # with ANTHROPIC_API_KEY",
)


def next_steps(
    task: Task, directory: Path, variant: str | None = None, protocol: str | None = None
) -> str:
    commands = task.commands.get(variant or task.default_variant) or DEFAULT_COMMANDS
    if protocol is not None:  # its own settings (e.g. the paper's horizons) are there
        commands = (*commands, f"# README.md: the {protocol} protocol and its commands")
    return (
        f"genopt: wrote {task.id} into {directory} (a git repository with one commit)\n"
        "next:\n"
        f"    cd {directory}\n" + "".join(f"    {command}\n" for command in commands)
    ).rstrip("\n")


def show_report(directory: Path, run: str) -> int:
    """Print the run's report.md, then one line naming its learning curve's picture."""
    from pytest_genopt.journal import resolve_run, run_dir
    from pytest_genopt.report import CURVE_FILE

    try:
        run_id = resolve_run(directory, run)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    path = run_dir(directory, run_id) / "report.md"
    if not path.exists():
        raise CommandError(f"run {run_id} has no report yet ({path})")
    print(path.read_text(encoding="utf-8"), end="")
    curve = path.with_name(CURVE_FILE)
    if curve.is_file():
        print(f"genopt: learning curve: {curve}")
    else:
        print(f"genopt: no learning curve: {curve} does not exist (report.md says why)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
