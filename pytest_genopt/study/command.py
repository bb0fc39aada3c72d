"""``genopt study``: run a grid of configurations x repeats, then aggregate them.

The study folder (``--out``) holds ``settings.json`` (what the study is: source,
iterations, backend, seed, pass-through options, and the grid of the last
invocation), ``sources/`` (the bundles every run clones), ``runs/<config>/r<k>/``
(each run's ``record.json``, ``pytest.log`` and its project or, from Ray, its journal
and branch bundle), and the aggregate: ``study.json``, ``study.md`` and ``plots/``.
Invoking the same study again skips finished runs, resumes interrupted ones and
starts failed ones again.
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_genopt.backends import Usage
from pytest_genopt.journal import write_json_atomic
from pytest_genopt.study.grid import RESERVED, RunSpec, parse_grid, run_specs
from pytest_genopt.study.progress import Progress
from pytest_genopt.study.runner import read_record, read_versioned
from pytest_genopt.study.source import Source, prepare_source

__all__ = ["StudyError", "StudyOptions", "rebuild_report", "run_study"]

SETTINGS_VERSION = 1
#: settings that decide what a run computes: a study folder holds one set of them
_IDENTITY = ("source", "iterations", "backend", "seed", "pytest_args")


class StudyError(ValueError):
    """The study cannot run as asked; one line, and nothing was changed."""


@dataclass
class StudyOptions:
    source: str
    grid: list[str]
    out: Path
    repeats: int = 1
    iterations: int = 10
    backend: str | None = None
    seed: int = 0
    jobs: int = 1
    executor: str = "local"
    address: str | None = None
    budget_usd: float | None = None
    max_tokens: int | None = None
    pytest_args: list[str] = field(default_factory=list)


@dataclass
class _Budget:
    """The study's budget, shared among runs: each run is given an equal share of what
    is neither spent nor promised to the runs still going, so together they cannot
    exceed it (each run stops itself before its share would be exceeded)."""

    usd: float | None
    tokens: int | None
    spent: Usage = field(default_factory=Usage)
    promised: dict[str, tuple[float, int]] = field(default_factory=dict)

    def share(self, run_id: str, free_slots: int) -> list[str] | None:
        """The run's budget options, or None when nothing is left to give."""
        options: list[str] = []
        usd, tokens = 0.0, 0
        if self.usd is not None:
            left = self.usd - self.spent.cost_usd - sum(p[0] for p in self.promised.values())
            if left <= 0:
                return None
            usd = left / free_slots
            options.append(f"--genopt-budget-usd={usd:.6f}")
        if self.tokens is not None:
            left_tokens = self.tokens - self.spent.total_tokens
            left_tokens -= sum(p[1] for p in self.promised.values())
            if left_tokens <= 0:
                return None
            tokens = left_tokens // free_slots
            if tokens < 1:
                return None
            options.append(f"--genopt-max-tokens={tokens}")
        self.promised[run_id] = (usd, tokens)
        return options

    def settle(self, record: dict[str, Any]) -> None:
        self.promised.pop(record["id"], None)
        self.spent = self.spent + usage_of(record)


def usage_of(record: dict[str, Any]) -> Usage:
    report = record.get("report") or {}
    return Usage.from_json(report.get("usage") or {})


def run_study(options: StudyOptions) -> int:
    """Run the study; 0 when every run finished, 1 when some failed or were not started
    (budget), 2 when interrupted."""
    factors = parse_grid(options.grid)
    specs = run_specs(factors, options.repeats, options.seed)
    _check_options(options, factors)
    options.out = options.out.resolve()  # git and the runs work in other directories
    if Path(options.source).is_dir():  # the same repository from any working directory
        options.source = str(Path(options.source).resolve())
    settings = _settings(options)
    _check_folder(options.out, settings)
    executor = _executor(options)  # before writing: an unreachable cluster changes nothing
    try:
        source = _prepare(options, factors)
        if source.warning:
            print(f"study: warning: {source.warning}")
        _write_settings(options.out, settings, factors)
        status = _Scheduler(options, source, executor).run(specs)
    finally:
        executor.close()
    rebuild_report(options.out)
    print(f"study: {options.out / 'study.md'}")
    return status


def _prepare(options: StudyOptions, factors: dict[str, list[str]]) -> Source:
    """The source's bundles; a study folder this made is removed again when it fails."""
    new = not options.out.exists()
    try:
        return prepare_source(options.source, factors.get("start"), options.out)
    except BaseException:
        if new and options.out.exists():
            import shutil

            shutil.rmtree(options.out)
        raise


def _check_options(options: StudyOptions, factors: dict[str, list[str]]) -> None:
    if options.iterations < 1:
        raise StudyError(f"--iterations must be >= 1, got {options.iterations}")
    if options.jobs < 1:
        raise StudyError(f"--jobs must be >= 1, got {options.jobs}")
    if options.budget_usd is not None and not options.budget_usd >= 0:  # NaN too
        raise StudyError(f"--budget-usd must be a number >= 0, got {options.budget_usd}")
    if options.max_tokens is not None and options.max_tokens < 1:
        raise StudyError(f"--max-tokens must be >= 1, got {options.max_tokens}")
    if options.executor not in ("local", "ray"):
        raise StudyError(f"--executor must be local or ray, got {options.executor!r}")
    if options.backend is not None and "backend" in factors:
        raise StudyError("--backend and --grid backend=...: give the backend one way")
    taken = {f"--genopt-{name}" for name in RESERVED} | {"--genopt-budget-usd"}
    taken |= {"--genopt-max-tokens", "--genopt-backend"}
    taken |= {f"--genopt-{name.replace('_', '-')}" for name in factors}
    for arg in options.pytest_args:
        name = arg.split("=", 1)[0]
        if name in taken:
            raise StudyError(
                f"{name} after --: the study sets it for every run "
                "(use the study's own option or --grid)"
            )


def _settings(options: StudyOptions) -> dict[str, Any]:
    return {
        "source": options.source,
        "iterations": options.iterations,
        "backend": options.backend,
        "seed": options.seed,
        "pytest_args": list(options.pytest_args),
        "repeats": options.repeats,
        "executor": options.executor,
        "jobs": options.jobs,
        "budget_usd": options.budget_usd,
        "max_tokens": options.max_tokens,
    }


def _read_settings(out: Path) -> dict[str, Any] | None:
    path = out / "settings.json"
    data = read_versioned(path, "study_settings", SETTINGS_VERSION)
    if data is None and path.exists():
        raise StudyError(f"{path}: not the settings of a study of this version")
    if data is not None and not (
        isinstance(data.get("settings"), dict) and isinstance(data.get("grid"), list)
    ):
        raise StudyError(f"{path}: a study's settings without its settings or grid")
    return data


def _check_folder(out: Path, settings: dict[str, Any]) -> None:
    """A folder holds one study: the same source and run settings on every invocation."""
    if out.exists() and not out.is_dir():
        raise StudyError(f"--out {out}: not a directory")
    earlier = _read_settings(out)
    if earlier is None:
        if out.exists() and any(out.iterdir()):
            raise StudyError(f"--out {out}: not empty and not a study folder")
        return
    for key in _IDENTITY:
        if earlier["settings"].get(key) != settings[key]:
            raise StudyError(
                f"--out {out} holds a study with {key} {earlier['settings'].get(key)!r}, "
                f"not {settings[key]!r}: choose another --out"
            )


def _write_settings(out: Path, settings: dict[str, Any], factors: dict[str, list[str]]) -> None:
    # pairs, not an object: the grid's order is the order of the runs and the tables,
    # and JSON objects are written with sorted keys
    grid = [[name, values] for name, values in factors.items()]
    data = {"study_settings": SETTINGS_VERSION, "settings": settings, "grid": grid}
    write_json_atomic(out / "settings.json", data)


def _executor(options: StudyOptions) -> Any:
    from pytest_genopt.study.executors import LocalExecutor, RayExecutor, StudyExecutorError

    if options.executor == "local":
        return LocalExecutor(options.jobs)
    try:
        return RayExecutor(options.jobs, options.address)
    except StudyExecutorError as exc:
        raise StudyError(str(exc)) from None


def _job(options: StudyOptions, spec: RunSpec, source: Source, budget: list[str]) -> dict[str, Any]:
    args = [f"--genopt-iterations={options.iterations}", f"--genopt-seed={spec.seed}"]
    if options.backend is not None:
        args.append(f"--genopt-backend={options.backend}")
    args += [*spec.options(), *source.options_for(spec), *budget, *options.pytest_args]
    if source.kind == "repository" and options.executor == "local":
        # an editable install (or PYTHONPATH) pointing at the source checkout: each
        # run's candidates import it from their own tree all the same
        args.append(f"--genopt-import-root={source.name}")
    return {"id": spec.id, "config": dict(spec.config), "repeat": spec.repeat,
            "seed": spec.seed, "args": args}  # fmt: skip


def _line(record: dict[str, Any]) -> str:
    """What one run came to, for the progress log."""
    report = record.get("report")
    if record["status"] == "failed" or report is None:
        return str(record.get("error") or record["status"])
    best, base = report["best"]["objective"], report["baseline"]["objective"]
    return f"objective {base:.4f} -> {best:.4f} ({report['stopped']})"


class _Scheduler:
    """Keeps up to ``jobs`` runs going, within the budget, until all ran or Ctrl-C."""

    def __init__(self, options: StudyOptions, source: Source, executor: Any) -> None:
        self.options, self.source, self.executor = options, source, executor
        self.runs = options.out / "runs"
        self.budget = _Budget(options.budget_usd, options.max_tokens)
        self.running: dict[Future[dict[str, Any]], tuple[RunSpec, dict[str, Any]]] = {}
        self.failed = 0

    def run(self, specs: list[RunSpec]) -> int:
        earlier = {spec.id: read_record(self.runs / spec.folder) for spec in specs}
        queue = [s for s in specs if (earlier[s.id] or {}).get("status") != "finished"]
        for record in earlier.values():
            if record is not None and record["status"] == "finished":
                self.budget.spent = self.budget.spent + usage_of(record)
        self.progress = Progress(len(specs), len(specs) - len(queue), self.options.jobs)
        print(
            f"study: {len(specs)} runs, {len(specs) - len(queue)} finished earlier, "
            f"{len(queue)} to run, {self.options.jobs} at a time ({self.options.executor})"
        )
        from pytest_genopt.interrupts import forward_signals

        # SIGTERM (a CI job cancelled) stops the study as Ctrl-C does
        restore = forward_signals(_raise_interrupt)
        try:
            self._drain(queue)
        except KeyboardInterrupt:
            self._stop()
            self.progress.close()
            print(f"study: interrupted; run the same command again to go on ({self.options.out})")
            return 2
        finally:
            restore()
        self.progress.close()
        if queue:
            print(f"study: {len(queue)} runs not started: the study's budget is spent")
        return 1 if queue or self.failed else 0

    def _drain(self, queue: list[RunSpec]) -> None:
        while queue or self.running:
            while queue and len(self.running) < self.options.jobs:
                share = self.budget.share(queue[0].id, self.options.jobs - len(self.running))
                if share is None:
                    break
                self._start(queue.pop(0), share)
            if not self.running:
                return
            self._collect(timeout=0.5)

    def _start(self, spec: RunSpec, budget: list[str]) -> None:
        job = _job(self.options, spec, self.source, budget)
        future = self.executor.submit(job, self.source.bundle_for(spec), self.runs / spec.folder)
        self.running[future] = (spec, job)
        self.progress.started()

    def _collect(self, timeout: float) -> None:
        done, _ = wait(self.running, timeout=timeout, return_when=FIRST_COMPLETED)
        for future in done:
            spec, job = self.running.pop(future)
            error = future.exception()
            if error is None:
                record = future.result()
            else:  # a defect of ours or the machine's: the run failed, the study goes on
                from pytest_genopt.study.runner import record_of, write_record

                line = " ".join(f"{type(error).__name__}: {error}".split())[:300]
                record = record_of(job, "failed", line)
                write_record(self.runs / spec.folder, record)
            self.failed += record["status"] == "failed"
            self.budget.settle(record)
            self.progress.ended(spec.id, record["status"], record.get("seconds"), _line(record))

    def _stop(self) -> None:
        """Ask every run to stop cleanly, and wait until each has (Ctrl-C again: again)."""
        print("\nstudy: stopping: each running run journals its state and stops")
        self.executor.interrupt()
        while self.running:
            try:
                self._collect(timeout=0.5)
            except KeyboardInterrupt:
                self.executor.interrupt()


def _raise_interrupt(signum: int) -> None:
    raise KeyboardInterrupt


def rebuild_report(out: Path) -> None:
    """``study.json``, ``study.md`` and the plots, from the folder's records."""
    from pytest_genopt.study.aggregate import write_study

    data = _read_settings(out.resolve())
    if data is None:
        raise StudyError(f"{out}: not a study folder (no settings.json)")
    settings = data["settings"]
    factors = {str(name): [str(v) for v in values] for name, values in data["grid"]}
    specs = run_specs(factors, int(settings["repeats"]), int(settings["seed"]))
    records = [read_record(out / "runs" / spec.folder) for spec in specs]
    try:
        write_study(out, [r for r in records if r is not None], factors, settings)
    except ValueError as exc:  # a record it cannot aggregate; nothing was written
        raise StudyError(str(exc)) from None
