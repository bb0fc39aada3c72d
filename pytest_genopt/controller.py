"""The controller: the plugin object registered when a run is active.

The session's tests run as usual and give the baseline Trials; then the
controller either writes the first request (``--genopt-evidence``) or runs the
optimization (:mod:`pytest_genopt.loop`) and summarizes it.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_genopt.collector import TrialCollector
from pytest_genopt.interrupts import Interrupts, resume_command
from pytest_genopt.update import editable

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

    from pytest_genopt.backends import Backend
    from pytest_genopt.config import Settings
    from pytest_genopt.evaluate import Evaluation
    from pytest_genopt.events import Event
    from pytest_genopt.gateway import ModelGateway
    from pytest_genopt.loop import Optimization, ResumeState
    from pytest_genopt.trainables import Parameter
    from pytest_genopt.workspace import Workspace


def resumed_settings(settings: Settings, rootdir: Path) -> tuple[Settings, ResumeState]:
    """Settings of a run continued with ``--genopt-resume``, taken from its journal.

    The run id, seed, batch size, horizon and branch are the journal's (checked
    as the command line's are); the other options are this command line's.
    Raises pytest.UsageError.
    """
    from pytest_genopt.config import resumed_settings as from_journal
    from pytest_genopt.events import RunStarted
    from pytest_genopt.loop import ResumeState
    from pytest_genopt.resume import ResumeRefused, load

    if settings.resume is None:
        raise ValueError("not resuming")
    try:
        run, events = load(rootdir, settings.resume)
    except ResumeRefused as exc:
        raise pytest.UsageError(f"--genopt-resume={settings.resume}: {exc}") from None
    start = events[0]
    if not isinstance(start, RunStarted):  # load() checked it; this keeps mypy told
        raise pytest.UsageError(f"--genopt-resume={settings.resume}: run {run} never started")
    saved = {**start.settings, "branch": start.branch} if isinstance(start.settings, dict) else None
    resumed = from_journal(settings, saved, run)
    _refuse_finished(resumed, events, run)
    return resumed, ResumeState(events)


def _refuse_finished(settings: Settings, events: Sequence[Event], run: str) -> None:
    """Refuse to resume a run that did all the iterations this command line asks for:
    it would run the session and the preflight again, then stop where it had."""
    from pytest_genopt.events import RunEnded
    from pytest_genopt.loop import ALL_DONE
    from pytest_genopt.state import fold

    end = events[-1]
    if not isinstance(end, RunEnded) or end.failed or end.stopped != ALL_DONE:
        return
    done = len(fold(events).records)
    if settings.iterations <= done:
        raise pytest.UsageError(
            f"--genopt-resume={settings.resume}: run {run} has done all its {done} "
            f"iteration(s); to go on, ask for more (--genopt-iterations={done + 1} or above)"
        )


class Controller:
    """Owns one run: baseline trials, parameters, the optimization and the summary."""

    def __init__(
        self, config: pytest.Config, settings: Settings, resume: ResumeState | None = None
    ) -> None:
        self.config = config
        self.settings = settings
        self.resume = resume
        self.rootdir = config.rootpath
        self.collector = TrialCollector(self.rootdir)
        config.pluginmanager.register(self.collector, "genopt-collector")
        self.parameters: list[Parameter] = []
        self.summary: list[str] = []
        self.workspace: Workspace | None = None
        #: the work tree's untracked files as the session began (None: no snapshot)
        self.untracked: frozenset[str] | None = None
        self.backend: Backend | None = None
        self.optimization: Optimization | None = None
        #: the task model's gateway, served while the run evaluates candidates
        self.gateway: ModelGateway | None = None
        self.cancel = threading.Event()
        self.interrupts = Interrupts(self.cancel)
        #: the one line telling how to continue an interrupted run, shown last
        self.resume_hint: str | None = None

    def pytest_report_header(self) -> list[str]:
        from pytest_genopt.evaluate import isolation_summary

        s = self.settings
        resumed = " (resumed)" if self.resume is not None else ""
        return [
            f"genopt: run {s.run_id}{resumed}, backend {s.backend}, horizon {s.horizon_label}, "
            f"batch size {s.batch_size}, seed {s.seed}",
            f"genopt: {isolation_summary(s.sandbox, s.memory)}",
        ]

    def pytest_ignore_collect(self, collection_path: Path) -> bool | None:
        # candidate worktrees live under .genopt/; never collect them as tests
        return True if collection_path.name == ".genopt" else None

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Refuse everything that can be refused before a single test runs.

        Nothing is written here: the workspace (snapshot commit, branch) is made
        only when the run begins, after the session, so that a refusal found
        then ("nothing to optimize", an early stop) leaves no trace either.
        """
        from pytest_genopt.outputs import OutputRefused, check_outputs
        from pytest_genopt.trainables import discover

        s = self.settings
        try:
            self.parameters = discover(self.rootdir, file_globs=s.trainable_files)
        except ValueError as exc:
            raise pytest.UsageError(f"genopt: {exc}") from None
        recorder = self.config.pluginmanager.get_plugin("genopt-recorder")
        if recorder is not None:  # the session's own tests: which regions each one runs
            recorder.watch(self.rootdir, region_files(self.parameters))
        if s.only and not editable(self.parameters, s.only):
            known = ", ".join(p.id for p in self.parameters[:10]) or "none"
            raise pytest.UsageError(
                f"--genopt-only={','.join(s.only)}: matches no parameter; known: {known}"
            )
        try:
            check_outputs(self.rootdir, s)
        except OutputRefused as exc:
            raise pytest.UsageError(str(exc)) from None
        if s.evidence is None:
            self._check_workspace()
            self.backend = self._make_backend()
            if s.start_up == "warm":
                from pytest_genopt.evaluate import prewarm

                prewarm(s.candidate_env)
        self.interrupts.install()

    def _check_workspace(self) -> None:
        from pytest_genopt.workspace import Workspace, WorkspaceError

        s = self.settings
        try:
            Workspace.check(
                self.rootdir,
                s.run_id,
                branch=s.branch,
                start=s.start,
                resume_base=self.resume.base if self.resume is not None else None,
            )
            if self.resume is not None:
                # a resume writes nothing new to reopen its branch; reconciling the
                # branch with the journal now refuses a moved branch before any test runs
                self.workspace = self._open_workspace()
            elif s.start is None:  # what the session's tests write stays out of the start
                self.untracked = Workspace.untracked_files(self.rootdir)
        except WorkspaceError as exc:
            raise pytest.UsageError(str(exc)) from None

    def _open_workspace(self) -> Workspace:
        from pytest_genopt.resume import ResumeRefused, reconcile
        from pytest_genopt.workspace import Workspace, WorkspaceError

        s = self.settings
        if self.resume is None:
            return Workspace.create(
                self.rootdir, s.run_id, branch=s.branch, start=s.start, untracked=self.untracked
            )
        workspace = Workspace.reopen(
            self.rootdir, s.run_id, s.branch or f"genopt/{s.run_id}", self.resume.base
        )
        try:
            self.resume.reconciled = reconcile(self.resume.events, workspace)
        except ResumeRefused as exc:
            workspace.close()
            raise WorkspaceError(f"--genopt-resume={s.resume}: {exc}") from None
        return workspace

    def _make_backend(self) -> Backend:
        """The backend, built without writing anything (constructors only validate)."""
        from pytest_genopt.backends import BackendFatal
        from pytest_genopt.backends.registry import make_backend

        try:
            return make_backend(self.config, self.settings)
        except BackendFatal as exc:
            raise pytest.UsageError(f"--genopt-backend={self.settings.backend}: {exc}") from None

    def _close_workspace(self) -> None:
        if self.workspace is not None:
            self.workspace.close()

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        try:
            self._finish(session)
        finally:
            self._close_workspace()
            if self.backend is not None:
                self.backend.close()
            if self.gateway is not None:
                self.gateway.close()

    def _finish(self, session: pytest.Session) -> None:
        refused = self._refusal(session)
        if refused is not None:
            self.summary.append(refused)
            if not self.cancel.is_set():
                session.exitstatus = pytest.ExitCode.USAGE_ERROR
            return
        parameters = self._all_parameters()
        if not parameters:
            self.summary.append(
                "genopt: nothing to optimize: no @trainable functions, genopt blocks or "
                f"trainable files under {self.rootdir}"
            )
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
            return
        if self.settings.evidence is not None:
            self._write_first_request(parameters)
            return
        self._begin(session, parameters)

    def _refusal(self, session: pytest.Session) -> str | None:
        """Why the run cannot begin after this session, in one line, or None."""
        if self.cancel.is_set() or session.exitstatus == pytest.ExitCode.INTERRUPTED:
            return "genopt: not started: the test session was interrupted; nothing was written"
        if session.shouldstop or session.shouldfail:
            return (
                "genopt: not started: the test session stopped early "
                f"({session.shouldstop or session.shouldfail}); genopt needs every test's "
                "outcome, so run it without -x/--maxfail/--stepwise"
            )
        return None

    def _begin(self, session: pytest.Session, parameters: list[Parameter]) -> None:
        """Make the workspace (the run's first write), then optimize."""
        from pytest_genopt.workspace import WorkspaceError

        # an interrupt from here on is seen by the run at its first check of cancel
        self.interrupts.phase = "preparing"
        try:
            if self.workspace is None:
                self.workspace = self._open_workspace()
        except WorkspaceError as exc:  # the repository changed while the tests ran
            self.summary.append(f"genopt: not started: {exc}")
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
            return
        self._optimize(session, parameters)

    def _optimize(self, session: pytest.Session, parameters: list[Parameter]) -> None:
        from pytest_genopt.evaluate import session_args, xdist_workers
        from pytest_genopt.github import publish
        from pytest_genopt.loop import Optimization
        from pytest_genopt.redaction import secret_values

        if self.workspace is None or self.backend is None:
            raise RuntimeError("the run was not prepared at session start")
        self._start_gateway()
        self.optimization = Optimization(
            settings=self.settings,
            workspace=self.workspace,
            backend=self.backend,
            parameters=parameters,
            evaluate=self._evaluate,
            secrets=secret_values(),
            progress=self._progress,
            cancel=self.cancel,
            resume=self.resume,
            session_args=session_args(self.config),
            session_workers=xdist_workers(self.config),
        )
        self.interrupts.phase = "running"
        try:
            self.optimization.run(dict(self.collector.trials))
        except KeyboardInterrupt:  # raised before the run's own handling began
            self.cancel.set()
        pushed = self.settings.push is not None and not self.optimization.failed and self._push()
        self._summarize()
        self.summary += publish(self.optimization, pushed=pushed)  # GitHub Actions, when there
        if self.optimization.failed:
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
        elif self.cancel.is_set():
            session.exitstatus = pytest.ExitCode.INTERRUPTED
            if self.optimization.state().start is None:
                return  # stopped in its preflight: nothing was journaled to resume
            self.resume_hint = "genopt: resume with: " + resume_command(
                self.config.invocation_params.args, self.settings.run_id
            )

    def _start_gateway(self) -> None:
        """Serve the task model's gateway when ini ``genopt_task_model_gateway`` asks."""
        if self.gateway is not None or not self.config.getini("genopt_task_model_gateway"):
            return
        from pytest_genopt.gateway import ModelGateway
        from pytest_genopt.modelcache import ModelCache
        from pytest_genopt.taskmodel import cache_folder, replaying

        folder = cache_folder(self.rootdir, str(self.config.getini("genopt_task_model_cache")))
        self.gateway = ModelGateway(ModelCache(folder), replay=replaying()).start()

    def _evaluate(
        self,
        directory: Path,
        nodeids: Sequence[str],
        *,
        known: Collection[str] | None = None,
        rerun: bool = False,
    ) -> Evaluation:
        from pytest_genopt.evaluate import evaluate, evaluation_args

        s = self.settings
        trainable_files = sorted({p.path for p in self.parameters if p.language == "python"})
        return evaluate(
            directory,
            nodeids,
            args=evaluation_args(self.config),
            timeout=s.timeout,
            workers=s.workers,
            horizon=s.horizon,
            trainable_files=trainable_files,
            cancel=self.cancel,
            sandbox=s.sandbox,
            memory=s.memory,
            keep_env=s.candidate_env,
            known=known,
            rerun=rerun,
            checkout=self._checkout(directory),
            import_roots=[Path(root) for root in s.import_roots],
            regions=region_files(self.parameters),
            env=self.gateway.environment() if self.gateway is not None else None,
            warm=s.start_up == "warm",
        )

    def _checkout(self, directory: Path) -> tuple[Path, Path] | None:
        """(the user's repository top level, the top level of the tree holding ``directory``)."""
        if self.workspace is None:
            return None
        prefix = self.workspace.prefix  # rootdir relative to the top level, "/"-separated
        depth = len(prefix.split("/")) if prefix else 0
        return self.workspace.repo_root, directory.parents[depth - 1] if depth else directory

    def _progress(self, line: str) -> None:
        from pytest_genopt.terminal import terminal_line

        terminal_line(self.config, line)

    def _push(self) -> bool:
        from pytest_genopt.workspace import WorkspaceError

        if self.workspace is None or self.settings.push is None:
            return False
        try:
            self.workspace.push(self.settings.push, untracked_ok=self.settings.push_untracked)
            self.summary.append(f"genopt: pushed {self.workspace.branch} to {self.settings.push}")
        except WorkspaceError as exc:
            self.summary.append(f"genopt: push failed: {exc}")
            return False
        return True

    def _summarize(self) -> None:
        from pytest_genopt.report import summary_lines

        opt, ws = self.optimization, self.workspace
        if opt is None or ws is None:
            return
        state = opt.state()
        if state.start is None:
            self.summary.append(f"genopt: run {self.settings.run_id}: stopped: {opt.stopped}")
            return
        self.summary += summary_lines(state)
        base = ws.base[:12]
        if ws.head != ws.base:
            self.summary.append(
                f"genopt: branch {ws.branch}; review it with: git log --oneline {base}..{ws.branch}"
                f" && git diff {base}..{ws.branch}"
            )
        else:
            self.summary.append(f"genopt: branch {ws.branch} has no accepted edit (at {base})")
        if ws.left_out:
            self.summary.append(
                "genopt: left out of the start (they look like secrets): " + ", ".join(ws.left_out)
            )
        if ws.created:
            shown = ", ".join(ws.created[:5]) + (
                f" and {len(ws.created) - 5} more" * (len(ws.created) > 5)
            )
            self.summary.append(
                f"genopt: left out of the start (the session's tests wrote them): {shown}"
            )
        if ws.base_is_dirty:
            self.summary.append(
                f"genopt: the start {base} holds changes not committed in HEAD "
                f"({len(ws.untracked)} never-committed file(s)); review them with: "
                f"{ws.base_review}"
            )
        report_md = os.path.relpath(opt.dir / "report.md", self.config.invocation_params.dir)
        self.summary.append(f"genopt: report: {report_md}")

    def pytest_keyboard_interrupt(self) -> None:
        self.cancel.set()

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self) -> None:
        self.interrupts.restore()
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if self.resume_hint is not None and reporter is not None:
            # after pytest's own last line, so that it is the one the user sees
            reporter.write_line(self.resume_hint)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.summary:
            terminalreporter.section("genopt")
            for line in self.summary:
                terminalreporter.write_line(line)

    def _all_parameters(self) -> list[Parameter]:
        """Discovered parameters plus whole files named by test markers."""
        from pytest_genopt.trainables import discover

        marked = sorted({f for t in self.collector.trials.values() for f in t.files})
        known = {p.id for p in self.parameters}
        missing = [f for f in marked if f not in known]
        if not missing:
            return self.parameters
        extra = discover(self.rootdir, files=missing)
        self.parameters = sorted(
            [*self.parameters, *(p for p in extra if p.id not in known)], key=lambda p: p.id
        )
        return self.parameters

    def _read_checkout(self, path: str) -> str:
        return (self.rootdir / path).read_text(encoding="utf-8")

    def _write_first_request(self, parameters: list[Parameter]) -> None:
        from pytest_genopt.journal import write_json_atomic
        from pytest_genopt.update import first_request

        s = self.settings
        if s.evidence is None:
            return
        trials = list(self.collector.trials.values())
        batch, request = first_request(s, trials, parameters, self._read_checkout)
        write_json_atomic(s.evidence, request.to_json())
        shown = os.path.relpath(s.evidence, self.config.invocation_params.dir)
        note = "" if batch else "; every test is at its best value, so there is no evidence"
        self.summary.append(
            f"genopt: wrote the first request to {shown}: {len(request.parameters)} "
            f"parameter(s), {len(request.evidence)} trial(s) (horizon {s.horizon_label}, "
            f"batch size {s.batch_size}){note}; no backend was called"
        )


def region_files(parameters: Sequence[Parameter]) -> list[str]:
    """The large file parameters, shown by region: each test records what it ran there."""
    from pytest_genopt.outline import is_large

    return sorted({p.path for p in parameters if is_large(p.kind, p.language, p.text)})
