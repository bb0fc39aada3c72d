"""One optimization run: iterate, propose, evaluate, accept or reject, commit, journal.

This is the loop of the paper's iterative generative optimization, with the
three choices explicit: the starting artifact (the workspace's base and the
editable parameters), the credit horizon (how evidence is truncated) and
batching (the minibatch sampler).  Every step is an event
(:mod:`pytest_genopt.events`) journaled before the loop goes on; what the run
knows of itself is folded from those events (:mod:`pytest_genopt.state`).
pytest glue lives in :mod:`pytest_genopt.controller`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, cast

from pytest_genopt.acceptance import Standing, objective_value, rank
from pytest_genopt.backends import BackendError, Usage
from pytest_genopt.events import (
    CandidateEvaluated,
    CommitIntended,
    CommitMade,
    HoldoutEvaluated,
    IterationEnded,
    IterationSampled,
    ProposalReceived,
    RunEnded,
    RunResumed,
    RunStarted,
    TaskUsed,
)
from pytest_genopt.evidence import MinibatchSampler, Trial, improvable
from pytest_genopt.history import edit_diff, moved
from pytest_genopt.journal import (
    Journal,
    describe,
    encodable,
    run_dir,
    write_json_atomic,
    write_last,
)
from pytest_genopt.measures import Baseline, judged, levels_of
from pytest_genopt.protocol import Response
from pytest_genopt.redaction import redact, redact_text
from pytest_genopt.report import (
    build_report,
    holdout_groups,
    holdout_objective,
    iteration_line,
    summary_of,
    write_markdown,
)
from pytest_genopt.state import Attempt, RunState, fold
from pytest_genopt.task_usage import TaskUsage, merge
from pytest_genopt.trainables import EditRefused, Parameter, apply_edits, parameters_in
from pytest_genopt.update import editable, next_request
from pytest_genopt.workspace import WorkspaceError

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Sequence
    from fractions import Fraction
    from pathlib import Path

    from pytest_genopt.backends import Backend
    from pytest_genopt.config import Settings
    from pytest_genopt.evalcache import EvaluationCache, Hit, Stage
    from pytest_genopt.evaluate import Evaluation, EvaluationStatus
    from pytest_genopt.events import Event
    from pytest_genopt.preflight import Preflight
    from pytest_genopt.protocol import Request
    from pytest_genopt.workspace import Workspace

#: rationale kept in a commit message; the journal has all of it
MAX_RATIONALE = 2000

#: test-only: SIGKILL the process at this named point of accepting a candidate
#: (``after-intent``, ``after-commit``, ``after-commit-journaled``) to test crash safety
KILL_AT = "GENOPT_TEST_KILL_AT"


class Evaluate(Protocol):
    """Evaluates the tests ``nodeids`` of the candidate whose rootdir is ``directory``.

    ``known``: the baseline's node ids (collection must match them); ``rerun``:
    take the outcomes from pytest's own junit report (the clean re-run).
    """

    def __call__(
        self,
        directory: Path,
        nodeids: Sequence[str],
        *,
        known: Collection[str] | None = None,
        rerun: bool = False,
    ) -> Evaluation: ...


#: why a run that did every iteration it was given stopped
ALL_DONE = "all iterations done"


class RunStopped(Exception):
    """The run cannot go on (e.g. the backend failed for good); str(exc) says why."""


class Interrupted(Exception):
    """The user asked the run to stop (Ctrl-C / SIGTERM set ``cancel``)."""


@dataclass
class Candidate:
    """A valid proposal turned into files, waiting to be judged."""

    attempt: Attempt
    response: Response
    files: dict[str, str]
    trials: dict[str, Trial] | None = None  # the full set, once judged acceptable
    tried: dict[str, Trial] = field(default_factory=dict)  # whatever was evaluated
    iteration: int = 0
    #: the git tree id of its tree (the evaluation cache's key); "" when unknown
    tree: str = ""
    #: whether a stage of it ran pytest (rather than coming from the cache)
    evaluated: bool = False


@dataclass
class ResumeState:
    """What a resumed run takes over: its journal's events and those reconciling it."""

    events: list[Event]
    reconciled: list[Event] = field(default_factory=list)

    @property
    def base(self) -> str:
        start = self.events[0] if self.events else None
        return start.base if isinstance(start, RunStarted) else ""


class Optimization:
    """Runs the iterations of one run against a workspace and a backend."""

    def __init__(
        self,
        *,
        settings: Settings,
        workspace: Workspace,
        backend: Backend,
        parameters: Sequence[Parameter],
        evaluate: Evaluate,
        secrets: Sequence[str],
        progress: Callable[[str], None],
        cancel: threading.Event,
        resume: ResumeState | None = None,
        session_args: Sequence[str] = (),
        session_workers: int = 1,
    ) -> None:
        self.settings = settings
        self.workspace = workspace
        self.backend = backend
        self.parameters = list(parameters)
        self.evaluate = evaluate
        self.secrets = tuple(secrets)
        self.progress = progress
        self.cancel = cancel
        self.rootdir = workspace.rootdir
        self.dir = run_dir(self.rootdir, settings.run_id)
        self.journal: Journal | None = None
        self.sampler = MinibatchSampler(settings.batch_size, settings.seed)
        self.events: list[Event] = list(resume.events) if resume else []
        self.best: dict[str, Trial] = {}
        self.resume = resume
        self.stopped = ALL_DONE
        self.failed = False
        self.holdout_best: float | None = None
        self.holdout_best_groups: dict[str, float | None] = {}
        #: task-model usage of evaluations made since the last TaskUsed event
        self.spent: list[TaskUsage] = []
        self.spent_lock = threading.Lock()  # candidates are evaluated in threads
        self.ended: RunEnded | None = None
        #: the baseline's node ids, flaky ones included: what every evaluation must collect
        self.known: frozenset[str] = frozenset()
        #: tests left out of acceptance: their outcome changed between two runs of the start
        self.flaky: tuple[str, ...] = ()
        #: paths the unchanged start writes in its tree: not tampering
        self.exempt: frozenset[str] = frozenset()
        #: the session's pytest arguments without genopt's: they change evaluations too
        self.session_args = outcome_args(session_args)
        #: how many pytest-xdist workers ran the session's tests (1: none)
        self.session_workers = session_workers
        #: evaluated candidate trees (made once the preflight knows the baseline's tests)
        self.cache: EvaluationCache | None = None
        #: the start's level of every measured objective (``genopt.measure``)
        self.baseline: Baseline = {}
        if resume is not None:
            self.sampler.restore(fold([*resume.events, *resume.reconciled]).sampler)

    # ------------------------------------------------------------------ the run

    def state(self) -> RunState:
        """The run as its events tell it (the end too when the journal refused it)."""
        unjournaled = [self.ended] if self.ended and self.ended not in self.events else []
        return fold([*self.events, *unjournaled])

    def run(self, session_trials: dict[str, Trial]) -> None:
        """Iterate until done, out of budget, out of things to improve, or interrupted."""
        try:
            write_last(self.rootdir, self.settings.run_id)
            self.journal = Journal(self.dir / "journal.jsonl", self.secrets)
            self._start(session_trials)
            done = self.state().records
            if done and done[-1].holdout is None:  # cut off before its holdout evaluation
                self._holdout_after(done[-1].iteration)
            first = done[-1].iteration + 1 if done else 1
            for iteration in range(first, self.settings.iterations + 1):
                if self.cancel.is_set() or not self._iterate(iteration):
                    break
            self._finish_holdout()
        except (KeyboardInterrupt, Interrupted):
            self.stopped = "interrupted (Ctrl-C)"
            self.cancel.set()
        except RunStopped as exc:
            self._fail(str(exc))
        except OSError as exc:
            self._fail(describe(exc))
        except WorkspaceError as exc:
            self._fail(str(exc))
        finally:
            self._end()

    def _fail(self, why: str) -> None:
        self.stopped, self.failed = " ".join(why.split()), True

    def _record(self, event: Event) -> None:
        """Journal ``event`` (on disk when this returns), then count it as happened."""
        if self.journal is None:
            raise RunStopped("the journal is not open")
        self.journal.write(event)
        self.events.append(event)
        self._journal_spent()

    def _spend(self, trials: Iterable[Trial]) -> None:
        """Note the task-model usage the tests of an evaluation reported (journaled next)."""
        usage = merge(t.usage for t in trials)
        if usage:
            with self.spent_lock:
                self.spent.append(usage)

    def _journal_spent(self) -> None:
        """Journal the task-model usage noted since the last time, if any."""
        if self.journal is None or not self.events:
            return  # the run's first event is its start: usage waits for it
        with self.spent_lock:
            usage, self.spent = merge(self.spent), []
        if usage:
            event = TaskUsed(usage)
            self.journal.write(event)
            self.events.append(event)

    def _start(self, session_trials: dict[str, Trial]) -> None:
        s = self.settings
        # the session ran the checkout as it is; with a start or a resume the run
        # starts elsewhere, and the preflight's evaluation is the baseline
        fresh = self.resume is None and s.start is None
        self._spend(session_trials.values())  # the session ran every test once
        found = self._preflight(session_trials if fresh else None, list(session_trials))
        if self.resume is not None:
            start = fold(self.resume.events).start
            self.flaky = tuple(start.flaky) if start is not None else ()
        else:
            self.flaky = found.flaky
        baseline = session_trials if fresh else found.trials
        # the session timed its measures elsewhere (in process, maybe under xdist)
        measured = {i: t for i, t in found.trials.items() if t.measures and i in baseline}
        baseline = judged({**baseline, **measured}, self.baseline)
        self.best = {i: t for i, t in baseline.items() if i not in self.flaky}
        self.cache = self._open_cache()
        # the optimizer edits the text at the branch head, not the checkout's
        self.parameters = at_head(self.parameters, self.workspace)
        if self.resume is None:
            self._record(
                RunStarted(
                    run=s.run_id,
                    branch=self.workspace.branch,
                    base=self.workspace.base,
                    backend=self.backend.name,
                    settings=self.settings_json(),
                    baseline=summary_of(self.best),
                    values=values_of(self.best),
                    holdout_baseline=holdout_objective(self.best),
                    flaky=list(self.flaky),
                    holdout_groups=holdout_groups(self.best),
                    measures=self.baseline,
                )
            )
            return
        for event in self.resume.reconciled:
            self._record(event)
        self._record(
            RunResumed(
                head=self.workspace.head,
                backend=self.backend.name,
                settings=self.settings_json(),
                summary=summary_of(self.best),
                adopted=next(
                    (e.sha for e in self.resume.reconciled if isinstance(e, CommitMade)), None
                ),
            )
        )

    def _open_cache(self) -> EvaluationCache:
        """The run's evaluation cache: what a resumed run evaluated before, else empty."""
        from pytest_genopt.evalcache import CACHE_FILE, EvaluationCache, options_key

        s = self.settings
        options = {
            "horizon": s.horizon,
            "timeout": s.timeout,
            "workers": s.workers,
            "sandbox": s.sandbox,
            "memory": s.memory,
            "candidate_env": list(s.candidate_env),
            "import_roots": [str(r) for r in s.import_roots],
            "known": sorted(self.known),
            "session": self.session_args,
        }
        path = self.dir / CACHE_FILE
        if self.resume is None:
            path.unlink(missing_ok=True)  # a new run trusts nothing left under its id
        return EvaluationCache.load(path, options_key(options), self.secrets)

    def _preflight(self, session: dict[str, Trial] | None, nodeids: list[str]) -> Preflight:
        """Evaluate the unchanged start as a candidate before any backend call."""
        from pytest_genopt.preflight import PreflightFailed, preflight

        self.progress(f"genopt: preflight: the start as a candidate ({len(nodeids)} tests)")
        known = set(session) if session is not None else None
        start = fold(self.resume.events).start if self.resume is not None else None
        self.baseline = start.measures if start is not None else {}
        directory = self.workspace.candidate(0)
        first = self._evaluated(directory, nodeids, known=known)
        self._spend(first.trials.values())
        self.known = frozenset(session if session is not None else first.collected)
        if start is None:
            first = self._set_baseline(directory, first)
        self.exempt = frozenset(c.path for c in self.workspace.changes(0))
        workers = self.settings.workers
        hint = (
            f"the session ran its tests in {self.session_workers} pytest-xdist workers, "
            f"evaluations in {'one process' if workers == 1 else f'{workers} workers'} "
            "(--genopt-workers): tests that give other results under xdist"
            if self.session_workers != workers and max(self.session_workers, workers) > 1
            else ""
        )
        try:
            return preflight(first, session, lambda ids: self._stage(0, {}, ids), hint=hint)
        except PreflightFailed as exc:
            raise RunStopped(f"preflight: {exc}") from None

    def _stage(
        self,
        position: int,
        files: dict[str, str],
        nodeids: Sequence[str],
        *,
        known: Collection[str] | None = None,
        rerun: bool = False,
    ) -> Evaluation:
        """One evaluation stage in a freshly reset tree, then the tamper check of that tree."""
        from pytest_genopt.integrity import tampering

        directory = self.workspace.candidate(position)
        if files:
            self.workspace.write(position, files)
        evaluation = self._evaluated(directory, nodeids, known=known, rerun=rerun)
        self._spend(evaluation.trials.values())
        if evaluation.status == "cancelled":
            return evaluation
        tampered = tampering(self.workspace.changes(position), files, directory, self.exempt)
        if tampered and evaluation.status != "tampered":
            return dataclasses.replace(evaluation, status="tampered", reason=tampered)
        return evaluation

    def _holdout_ids(self) -> list[str]:
        return [t.test for t in self.best.values() if t.holdout]

    def _finish_holdout(self) -> None:
        """The holdout tests on the final best parameters (reused when already measured)."""
        holdout = self._holdout_ids()
        if not holdout:
            return
        known = self.state().holdout_known
        if known is not None and known.head == self.workspace.head:
            self.holdout_best, self.holdout_best_groups = known.objective, dict(known.groups)
            return
        evaluation = self._stage(0, {}, holdout)
        if evaluation.status == "ok":
            self.holdout_best = holdout_objective(evaluation.trials)
            self.holdout_best_groups = holdout_groups(evaluation.trials)

    def _holdout_after(self, iteration: int) -> None:
        """After every ``--genopt-holdout-every`` iterations: the holdout tests on the best."""
        every = self.settings.holdout_every
        if every is None or iteration % every or not self._holdout_ids():
            return
        head = self.workspace.head
        known = self.state().holdout_known
        if known is not None and known.head == head:
            # the best has not changed since the holdout tests last ran: nothing to spend
            self._record(
                HoldoutEvaluated(iteration, head, known.objective, known.groups, reused=True)
            )
            return
        evaluation = self._stage(0, {}, self._holdout_ids())
        self._check_cancel()
        if evaluation.status != "ok":
            self._record(HoldoutEvaluated(iteration, head, None, reason=evaluation.reason))
            return
        trials = evaluation.trials
        self._record(
            HoldoutEvaluated(iteration, head, holdout_objective(trials), holdout_groups(trials))
        )

    # -------------------------------------------------------------- iteration

    def _iterate(self, iteration: int) -> bool:
        started = time.monotonic()
        best_before = self.state().best.get("objective")
        if not improvable(self.best.values()):
            self.stopped = "nothing left to improve: every test is at its best value"
            return False
        batch, request = next_request(
            self.settings,
            iteration=iteration,
            trials=list(self.best.values()),
            sampler=self.sampler,
            parameters=self.parameters,
            history=self.state().history,
            secrets=self.secrets,
            read=self.workspace.read,
        )
        batch_ids = [t.test for t in batch]
        self._record(IterationSampled(iteration, batch_ids, self.sampler.state()))
        candidates: list[Candidate] = []
        for index in range(self.settings.candidates):
            over = self._over_budget(request)
            if over:
                if index == 0:
                    self.stopped = over
                    return False
                break
            candidate = self._propose(iteration, index, request)
            self._check_cancel()
            if candidate is not None:
                candidates.append(candidate)
        self._judge(batch_ids, candidates)
        self._check_cancel()
        chosen = self._choose(candidates)
        self._record_evaluations(iteration, candidates)
        if chosen is not None:
            self._accept(iteration, chosen)
        self._record(IterationEnded(iteration, round(time.monotonic() - started, 3)))
        self._holdout_after(iteration)
        self.progress(iteration_line(self.state().records[-1], best_before))
        return True

    def _check_cancel(self) -> None:
        if self.cancel.is_set():
            raise Interrupted

    @property
    def usage(self) -> Usage:
        return self.state().usage

    def _over_budget(self, request: Request) -> str:
        s = self.settings
        if s.budget_usd is None and s.max_tokens is None:
            return ""
        usage = self.usage
        worst = self.backend.worst_case(request)
        if s.budget_usd is not None and usage.cost_usd + worst.cost_usd > s.budget_usd:
            return (
                f"budget: the next call could cost up to ${worst.cost_usd:.4f}, more than the "
                f"${max(0.0, s.budget_usd - usage.cost_usd):.4f} left of "
                f"--genopt-budget-usd={s.budget_usd:g}"
            )
        if s.max_tokens is not None and usage.total_tokens + worst.total_tokens > s.max_tokens:
            return (
                f"budget: the next call could use up to {worst.total_tokens} tokens, more than "
                f"the {max(0, s.max_tokens - usage.total_tokens)} left of "
                f"--genopt-max-tokens={s.max_tokens}"
            )
        return ""

    def _propose(self, iteration: int, index: int, request: Request) -> Candidate | None:
        from pytest_genopt.backends import BackendFatal

        try:
            proposal = self.backend.propose(request)
        except BackendError as exc:
            self._record(ProposalReceived(iteration, index, error=encodable(str(exc))))
            return None
        except BackendFatal as exc:
            raise RunStopped(str(exc)) from None
        response = proposal.response
        if response is not None:
            # what UTF-8 cannot encode (lone surrogates) would break every sink
            response = Response.from_json(scrub(response.to_json()))
        self._record(
            ProposalReceived(
                iteration,
                index,
                raw=proposal.raw,
                invalid=proposal.invalid_reason,
                response=response.to_json() if response is not None else None,
                usage=proposal.usage.to_json(),
            )
        )
        if response is None:
            return None
        attempt = Attempt(
            index,
            "invalid",
            "",
            rationale=response.rationale,
            edits=[e.to_json() for e in response.edits],
        )
        by_id = {p.id: p for p in editable(self.parameters, self.settings.only)}
        try:
            files = apply_edits(self.workspace.read, by_id, response.edits, attempt.notes)
        except EditRefused as exc:
            self._record(CandidateEvaluated(iteration, index, "edit", "invalid", str(exc)))
            return None
        attempt.decision, attempt.reason = "rejected", "not evaluated"
        attempt.diff = edit_diff(self.workspace.read, files)
        return Candidate(attempt, response, files, iteration=iteration, tree=self._tree_of(files))

    def _tree_of(self, files: dict[str, str]) -> str:
        """The git tree id of head with ``files``; "" when it cannot be told (no caching)."""
        try:
            return self.workspace.tree_with(files)
        except Exception:  # a tree id that cannot be computed only costs the cache
            return ""

    def _judge(self, batch_ids: list[str], candidates: list[Candidate]) -> None:
        """Evaluate the candidates (concurrently) per the acceptance contract."""
        if not candidates:
            return
        positions = range(len(candidates))
        with ThreadPoolExecutor(max_workers=len(candidates)) as pool:
            list(pool.map(self._judge_one, candidates, positions, [batch_ids] * len(candidates)))

    def _judge_one(self, candidate: Candidate, position: int, batch_ids: list[str]) -> None:
        attempt = candidate.attempt
        policy = self.settings.accept
        if candidate.tree and candidate.tree == self._tree_of({}):
            # the files are the current best's: its trials are this candidate's
            attempt.reason = "the proposal changes nothing: its files are the current best's"
            attempt.batch_objective = objective_value(Standing.of(self.best[i] for i in batch_ids))
            attempt.reused = [{"stage": "batch", "best": self.workspace.head}]
            attempt.cached = True
            return
        first = self._candidate_stage(candidate, position, batch_ids, "batch")
        attempt.cached = not candidate.evaluated
        if first.status != "ok":
            attempt.reason = first.reason
            attempt.decision = "invalid" if first.invalid else attempt.decision
            return
        candidate.tried = dict(first.trials)
        tried = Standing.of(first.trials[i] for i in batch_ids)
        attempt.batch_objective = objective_value(tried)
        screened = policy.screen(Standing.of(self.best[i] for i in batch_ids), tried, batch_ids)
        if not screened.accepted:
            attempt.reason = screened.reason
            return
        rest = [i for i, t in self.best.items() if not t.holdout and i not in first.trials]
        # the tree is reset between the stages: nothing the first left behind acts on the second
        second = self._candidate_stage(candidate, position, rest, "full") if rest else None
        attempt.cached = not candidate.evaluated
        if second is not None and second.status != "ok":
            attempt.reason = second.reason
            attempt.decision = "invalid" if second.invalid else attempt.decision
            return
        trials = {**first.trials, **(second.trials if second else {})}
        candidate.tried = trials
        counted = [i for i, t in self.best.items() if not t.holdout]
        full = Standing.of(trials[i] for i in counted)
        attempt.objective = objective_value(full)
        verdict = policy.decide(
            Standing.of(self.best[i] for i in counted),
            full,
            batch_ids,
            allow_regressions=self.settings.allow_regressions,
        )
        attempt.reason = verdict.reason
        if verdict.accepted:
            attempt.decision = "accepted"
            candidate.trials = trials

    def _candidate_stage(
        self, candidate: Candidate, position: int, nodeids: Sequence[str], stage: str
    ) -> Evaluation:
        """One stage of a candidate: from the run's cache when its tree was evaluated before."""
        cache, tree = self.cache, candidate.tree
        if cache is None or not tree:
            candidate.evaluated = True
            return self._stage(position, candidate.files, nodeids, known=self.known)
        # one evaluation of a tree at a time: a twin candidate waits, then reuses it
        with cache.lock(tree):
            hit = cache.lookup(tree, nodeids)
            if hit is None:
                candidate.evaluated = True
                evaluation = self._stage(position, candidate.files, nodeids, known=self.known)
                if evaluation.status != "cancelled":
                    cache.store(self._cache_stage(candidate, evaluation))
                return evaluation
        candidate.attempt.reused += [{"stage": stage, **origin} for origin in hit.origins]
        return self._measured(cached_evaluation(hit, nodeids))

    def _evaluated(
        self,
        directory: Path,
        nodeids: Sequence[str],
        *,
        known: Collection[str] | None = None,
        rerun: bool = False,
    ) -> Evaluation:
        """One evaluation, judged; tests that measure run in a pytest process of their own.

        A timing depends on what its process ran before (a real library's test timed
        alone and after its whole suite differed fivefold), so measuring tests are
        timed alike in the start, every candidate and the re-run.
        """
        measuring = [i for i in nodeids if i in self.baseline]
        rest = [i for i in nodeids if i not in self.baseline]
        if not measuring or not rest:
            return self._measured(self.evaluate(directory, nodeids, known=known, rerun=rerun))
        first = self.evaluate(directory, measuring, known=known, rerun=rerun)
        if first.status != "ok":
            return self._measured(joined(first, None, nodeids))
        second = self.evaluate(directory, rest, known=known, rerun=rerun)
        return self._measured(joined(first, second, nodeids))

    def _set_baseline(self, directory: Path, first: Evaluation) -> Evaluation:
        """The start's measures, timed apart from the other tests: the run's baseline."""
        measuring = [i for i, t in first.trials.items() if t.measures]
        if measuring and len(measuring) < len(first.trials) and first.status == "ok":
            alone = self.evaluate(directory, measuring, known=self.known)
            self._spend(alone.trials.values())
            if alone.status == "ok":
                first = dataclasses.replace(first, trials={**first.trials, **alone.trials})
        self.baseline = levels_of(first.trials.values())
        return self._measured(first)

    def _measured(self, evaluation: Evaluation) -> Evaluation:
        """``evaluation`` with its measured objectives judged against the run's start."""
        trials = judged(evaluation.trials, self.baseline)
        return dataclasses.replace(evaluation, trials=trials) if self.baseline else evaluation

    def _cache_stage(self, candidate: Candidate, evaluation: Evaluation) -> Stage:
        from pytest_genopt.evalcache import Stage

        options = self.cache.options if self.cache is not None else ""
        return Stage(
            tree=candidate.tree,
            options=options,
            iteration=candidate.iteration,
            candidate=candidate.attempt.candidate,
            status=evaluation.status,
            reason=evaluation.reason,
            trials=evaluation.trials,
        )

    def _choose(self, candidates: list[Candidate]) -> Candidate | None:
        """The best acceptable candidate whose clean re-run confirms its results."""

        def key(c: Candidate) -> tuple[tuple[bool, Fraction], float, int]:
            # exact; batch objectives are correctly rounded, so their order is never inverted
            full = rank(Standing.of((c.trials or {}).values()))
            return full, c.attempt.batch_objective or 0.0, -c.attempt.candidate

        while True:
            acceptable = [c for c in candidates if c.trials is not None]
            if not acceptable:
                return None
            chosen = max(acceptable, key=key)
            problem = self._rerun(chosen)
            self._check_cancel()
            if not problem:
                break
            chosen.attempt.decision, chosen.attempt.reason = "invalid", problem
            chosen.trials = None
        lead = f"candidate {chosen.attempt.candidate} scored"
        for other in acceptable:
            if other is not chosen:
                other.attempt.decision = "rejected"
                other.attempt.reason = (
                    f"{lead} the same ({chosen.attempt.objective:.4f}) and came first "
                    "(batch objective, then candidate number)"
                    if key(other)[0] == key(chosen)[0]
                    else f"{lead} higher ({chosen.attempt.objective:.4f})"
                )
        return chosen

    def _rerun(self, candidate: Candidate) -> str:
        """Why a fresh tree's re-run under pytest's own junit report disagrees, or ""."""
        from pytest_genopt.config import MAX_CANDIDATES
        from pytest_genopt.integrity import disagreement

        counted = [i for i, t in self.best.items() if not t.holdout]
        # a tree no candidate of this iteration used: nothing of theirs is in it
        again = self._stage(MAX_CANDIDATES, candidate.files, counted, rerun=True)
        if again.status == "tampered":
            return again.reason
        if again.status != "ok":  # it did not finish: nothing to compare
            return f"the clean re-run before the commit did not complete: {again.reason}"
        problem = disagreement(candidate.trials or {}, again.trials, counted)
        if problem or not any(t.measures for t in again.trials.values()):
            return problem
        # a measured improvement must replicate: timings drift between evaluations
        verdict = self.settings.accept.decide(
            Standing.of(self.best[i] for i in counted),
            Standing.of(again.trials[i] for i in counted if i in again.trials),
            [],
            allow_regressions=self.settings.allow_regressions,
        )
        return "" if verdict.accepted else f"not confirmed by a clean re-run: {verdict.reason}"

    def _record_evaluations(self, iteration: int, candidates: list[Candidate]) -> None:
        holdout = {i: t for i, t in self.best.items() if t.holdout}
        for candidate in candidates:
            a = candidate.attempt
            trials = candidate.trials
            changes, count = moved(self.best, candidate.tried)
            notes = [*a.notes, f"{count} tests moved; the first {len(changes)} are shown"]
            self._record(
                CandidateEvaluated(
                    iteration,
                    a.candidate,
                    "full" if a.objective is not None else "batch",
                    a.decision,
                    a.reason,
                    batch_objective=a.batch_objective,
                    objective=a.objective,
                    values=values_of(trials) if trials else {},
                    summary=summary_of({**holdout, **trials}) if trials else None,
                    diff=a.diff,
                    notes=notes if count > len(changes) else a.notes,
                    moved=changes,
                    cached=a.cached,
                    reused=a.reused,
                    measures=levels_of(trials.values()) if trials else {},
                )
            )

    def _accept(self, iteration: int, chosen: Candidate) -> None:
        s = self.settings
        old = summary_of(self.best)["objective"]
        trials = chosen.trials or {}
        holdout = {i: t for i, t in self.best.items() if t.holdout}
        new_best = {**holdout, **trials}
        new = summary_of(new_best)["objective"]
        edited = sorted({e["parameter"] for e in chosen.attempt.edits})
        summary, body = commit_message(chosen.response.rationale, edited, self.secrets)
        digests = {
            path: hashlib.sha256(encodable(text).encode("utf-8")).hexdigest()
            for path, text in sorted(chosen.files.items())
        }
        index = chosen.attempt.candidate
        self._record(CommitIntended(iteration, index, self.workspace.head, digests, summary))
        kill_point("after-intent")
        sha = self.workspace.commit(
            {path: encodable(text) for path, text in chosen.files.items()},
            summary,
            body=body,
            trailers=[
                ("Genopt-Run", s.run_id),
                ("Genopt-Iteration", str(iteration)),
                ("Genopt-Objective", f"{old:.4f} -> {new:.4f}"),
                ("Genopt-Backend", self.backend.name),
            ],
        )
        kill_point("after-commit")
        self._record(CommitMade(iteration, index, sha))
        kill_point("after-commit-journaled")
        chosen.attempt.commit = sha
        self.best = new_best
        self.parameters = refresh(self.parameters, chosen.files)

    # --------------------------------------------------------------- outputs

    def settings_json(self) -> dict[str, Any]:
        s = self.settings
        return {
            "iterations": s.iterations,
            "backend": str(s.backend),
            "model": s.model,
            "horizon": s.horizon,
            "batch_size": s.batch_size,
            "candidates": s.candidates,
            "seed": s.seed,
            "branch": self.workspace.branch,
            "start": s.start,
            "only": list(s.only),
            "timeout": s.timeout,
            "workers": s.workers,
            "budget_usd": s.budget_usd,
            "max_tokens": s.max_tokens,
            "allow_regressions": s.allow_regressions,
            "accept": s.accept.name,
            "sandbox": s.sandbox,
            "memory": s.memory,
            "start_up": s.start_up,
            "holdout_every": s.holdout_every,
            "instructions": s.instructions,
        }

    def report(self) -> dict[str, Any]:
        return build_report(self.state())

    def _end(self) -> None:
        """Journal the end, tell the backend, write the reports: each failure is one line."""
        if self.state().start is None:
            # nothing was journaled: there is no run to report on
            self._close_journal(None)
            return
        # the last evaluations' usage belongs in the report; a journal that cannot be
        # written is told by the end
        with contextlib.suppress(OSError):
            self._journal_spent()
        end = self._end_event()
        try:
            self._write_reports(fold([*self.events, end]))
        except (OSError, WorkspaceError) as exc:
            if not self.failed:  # the first failure is the one to tell
                self._fail(describe(exc) if isinstance(exc, OSError) else str(exc))
                end = self._end_event()
        self.ended = end
        self._close_journal(end)
        self._conclude()

    def _end_event(self) -> RunEnded:
        return RunEnded(
            stopped=self.stopped,
            head=self.workspace.head,
            failed=self.failed,
            holdout_best=self.holdout_best,
            holdout_best_groups=self.holdout_best_groups,
        )

    def _close_journal(self, end: RunEnded | None) -> None:
        if self.journal is None:
            return
        try:
            if end is not None:
                self._record(end)
        except OSError:
            pass  # the journal itself cannot be written: the summary line says why already
        finally:
            self.journal.close()

    def _conclude(self) -> None:
        conclude = getattr(self.backend, "conclude", None)
        if conclude is None:
            return
        decisions = [
            {
                "iteration": r.iteration,
                "candidate": a.candidate,
                "decision": a.decision,
                "reason": a.reason,
            }
            for r in self.state().records
            for a in r.attempts
        ]
        try:
            conclude(self.stopped, decisions)
        except OSError as exc:
            self.progress(f"genopt: the backend could not conclude: {describe(exc)}")

    def _write_reports(self, state: RunState) -> dict[str, Any]:
        # the state holds what candidates printed: redact before it lands on disk
        report: dict[str, Any] = redact(build_report(state), self.secrets)
        diffs = {
            sha: redact_text(self.workspace.diff(f"{sha}^", sha), self.secrets)
            for sha in state.accepted_commits
        }
        write_json_atomic(self.dir / "report.json", report)
        write_markdown(self.dir, report, diffs)
        if self.settings.report is not None:
            write_json_atomic(self.settings.report, report)
        return report


def outcome_args(args: Sequence[str]) -> list[str]:
    """The session's arguments that can change an evaluation's outcomes.

    genopt's own options are switched off in the child and ``--basetemp`` is
    replaced by a private one, so neither counts (a resumed run's differ).
    """
    kept: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--basetemp":
            skip = True  # its value is the next argument
        elif not arg.startswith(("--genopt-", "--basetemp=")):
            kept.append(arg)
    return kept


def cached_evaluation(hit: Hit, nodeids: Sequence[str]) -> Evaluation:
    """The Evaluation a cache hit stands for (no time spent, no output)."""
    from pytest_genopt.evaluate import NO_REPORT, Evaluation

    status = cast("EvaluationStatus", hit.status)
    trials = {n: hit.trials.get(n) or Trial(n, "error", message=NO_REPORT) for n in nodeids}
    return Evaluation(trials, status, hit.reason, 0.0, "")


def joined(first: Evaluation, second: Evaluation | None, nodeids: Sequence[str]) -> Evaluation:
    """Two evaluations of one tree as one: ``second`` is None when ``first`` stopped it."""
    from pytest_genopt.evaluate import NO_REPORT, Evaluation

    last = second or first
    trials = {**first.trials, **(second.trials if second else {})}
    collected = [*first.collected, *(c for c in last.collected if c not in first.collected)]
    return Evaluation(
        {n: trials.get(n) or Trial(n, "error", message=NO_REPORT) for n in nodeids},
        last.status,
        last.reason,
        first.seconds + (second.seconds if second else 0.0),
        last.output,
        tuple(collected) if second else first.collected,
    )


def values_of(trials: dict[str, Trial]) -> dict[str, float | None]:
    """Each test's value (None when it does not count: skipped)."""
    return {test: t.value if t.counted else None for test, t in sorted(trials.items())}


def scrub(value: Any) -> Any:
    """A JSON-like value with text UTF-8 cannot encode turned into backslash escapes."""
    if isinstance(value, str):
        return encodable(value)
    if isinstance(value, dict):
        return {scrub(k): scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


def _subject(line: str, limit: int = 72) -> str:
    """``line`` as a commit subject: at most ``limit`` characters, cut at a word with
    an ellipsis (the whole rationale is in the body)."""
    line = line.rstrip()
    if len(line) <= limit:
        return line
    cut = line[: limit - 1]
    words = cut.rsplit(" ", 1)[0] if " " in cut[8:] else cut  # never cut into "genopt: "
    return words.rstrip(" ,;:.-") + "…"


def commit_message(
    rationale: str, edited: Sequence[str], secrets: Sequence[str]
) -> tuple[str, str]:
    """Summary line and body of an accepted edit's commit: at most MAX_RATIONALE of rationale."""
    text = redact_text(encodable(rationale.strip()), secrets)
    lines = text.splitlines()
    summary = _subject(f"genopt: {lines[0] if lines else 'improve ' + ', '.join(edited)}")
    if len(text) > MAX_RATIONALE:
        text = (
            text[:MAX_RATIONALE].rstrip()
            + f"\n[... {len(text) - MAX_RATIONALE} more characters in the run's journal]"
        )
    body = (text + "\n\n" if text else "") + "Edited: " + ", ".join(edited)
    return summary, body


def kill_point(name: str) -> None:
    """Test-only: die here, as a power cut would, when GENOPT_TEST_KILL_AT names this point."""
    if os.environ.get(KILL_AT) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def at_head(parameters: Sequence[Parameter], workspace: Workspace) -> list[Parameter]:
    """The parameters with the text of their files at the branch head."""
    files: dict[str, str] = {}
    for path in sorted({p.path for p in parameters}):
        try:
            files[path] = workspace.read(path)
        except WorkspaceError:
            continue  # not at head (a file the checkout has and the start has not)
    return refresh(parameters, files)


def refresh(parameters: Sequence[Parameter], files: dict[str, str]) -> list[Parameter]:
    """The parameters after ``files`` were rewritten (their texts re-read)."""
    by_id = {p.id: p for p in parameters}
    for path, text in files.items():
        for p in parameters_in(path, text):
            if p.id in by_id:
                by_id[p.id] = dataclasses.replace(p, description=by_id[p.id].description)
        if path in by_id:
            by_id[path] = dataclasses.replace(by_id[path], text=text)
    return sorted(by_id.values(), key=lambda p: p.id)
