"""One optimization run: iterate, propose, evaluate, accept or reject, commit, journal.

This is the loop of the paper's iterative generative optimization, with the
three choices explicit: the starting artifact (the workspace's base and the
editable parameters), the credit horizon (how evidence is truncated) and
batching (the minibatch sampler).  pytest glue lives in :mod:`pytest_genopt.controller`.
"""

from __future__ import annotations

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_genopt.acceptance import Standing, objective_value, rank
from pytest_genopt.backends import BackendError, Usage
from pytest_genopt.evidence import MinibatchSampler, Trial, improvable, objective
from pytest_genopt.journal import Journal, run_dir, write_json_atomic, write_last, write_text_atomic
from pytest_genopt.protocol import HistoryEntry, Request
from pytest_genopt.redaction import redact
from pytest_genopt.report import (
    Attempt,
    IterationRecord,
    build_report,
    holdout_objective,
    iteration_line,
    render_markdown,
    summary_of,
)
from pytest_genopt.trainables import EditRefused, Parameter, apply_edits, parameters_in
from pytest_genopt.update import build_request, editable

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Sequence
    from fractions import Fraction
    from pathlib import Path

    from pytest_genopt.backends import Backend
    from pytest_genopt.config import Settings
    from pytest_genopt.evaluate import Evaluation
    from pytest_genopt.protocol import Response
    from pytest_genopt.workspace import Workspace


class RunStopped(Exception):
    """The run cannot go on (e.g. the backend failed for good); str(exc) says why."""


@dataclass
class Candidate:
    """A valid proposal turned into files, waiting to be judged."""

    attempt: Attempt
    response: Response
    files: dict[str, str]
    trials: dict[str, Trial] | None = None  # the full set, once judged acceptable


@dataclass
class ResumeState:
    """What a resumed run takes over from its journal."""

    base: str
    baseline: dict[str, Any]
    holdout_baseline: float | None
    records: list[IterationRecord]
    history: list[HistoryEntry]
    sampler: dict[str, Any]
    usage: Usage


class Optimization:
    """Runs the iterations of one run against a workspace and a backend."""

    def __init__(
        self,
        *,
        settings: Settings,
        workspace: Workspace,
        backend: Backend,
        parameters: Sequence[Parameter],
        evaluate: Callable[[Path, Sequence[str]], Evaluation],
        secrets: Sequence[str],
        progress: Callable[[str], None],
        cancel: threading.Event,
        resume: ResumeState | None = None,
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
        self.journal = Journal(self.dir / "journal.jsonl")
        self.sampler = MinibatchSampler(settings.batch_size, settings.seed)
        self.records: list[IterationRecord] = []
        self.history: list[HistoryEntry] = []
        self.usage = Usage()
        self.best: dict[str, Trial] = {}
        self.baseline: dict[str, Any] = {}
        self.holdout_baseline: float | None = None
        self.holdout_best: float | None = None
        self.stopped = "all iterations done"
        self.failed = False
        self.diffs: dict[str, str] = {}
        self.resume = resume
        if resume is not None:
            self.records = list(resume.records)
            self.history = list(resume.history)
            self.sampler.restore(resume.sampler)
            self.usage = resume.usage
            self.baseline = resume.baseline
            self.holdout_baseline = resume.holdout_baseline

    # ------------------------------------------------------------------ the run

    def run(self, session_trials: dict[str, Trial]) -> None:
        """Iterate until done, out of budget, out of things to improve, or interrupted."""
        write_last(self.rootdir, self.settings.run_id)
        try:
            self._start(session_trials)
            first = self.records[-1].iteration + 1 if self.records else 1
            for iteration in range(first, self.settings.iterations + 1):
                if self.cancel.is_set():
                    break
                record = self._iterate(iteration)
                if record is None:
                    break
                self.records.append(record)
                self.journal.write(
                    "iteration_end",
                    record=record.to_json(),
                    sampler=self.sampler.state(),
                    usage=self.usage.to_json(),
                )
                self.progress(iteration_line(record, self._previous_best(record)))
            self._finish_holdout()
        except KeyboardInterrupt:
            self.stopped = "interrupted (Ctrl-C)"
            self.cancel.set()
        except RunStopped as exc:
            self.stopped = str(exc)
            self.failed = True
        finally:
            self.journal.write("end", stopped=self.stopped, head=self.workspace.head)
            self.journal.close()
            self.write_reports()

    def _start(self, session_trials: dict[str, Trial]) -> None:
        s = self.settings
        if self.resume is None and s.start is None:
            self.best = dict(session_trials)
        else:
            # the session ran the checkout as it is; the run starts elsewhere
            self.best = self._evaluate_all(list(session_trials), what="the start")
        if self.resume is None:
            self.baseline = summary_of(self.best)
            self.holdout_baseline = holdout_objective(self.best)
            self.journal.write(
                "start",
                run=s.run_id,
                branch=self.workspace.branch,
                base=self.workspace.base,
                backend=self.backend.name,
                settings=self.settings_json(),
                baseline=self.baseline,
                holdout_baseline=self.holdout_baseline,
            )
        else:
            self.journal.write(
                "resume", head=self.workspace.head, objective=summary_of(self.best)["objective"]
            )

    def _evaluate_all(self, nodeids: list[str], *, what: str) -> dict[str, Trial]:
        evaluation = self.evaluate(self.workspace.candidate(0), nodeids)
        if evaluation.status != "ok":
            raise RunStopped(f"{what} does not evaluate: {evaluation.reason}")
        return dict(evaluation.trials)

    def _finish_holdout(self) -> None:
        holdout = [t.test for t in self.best.values() if t.holdout]
        if not holdout:
            return
        if not any(r.decision == "accepted" for r in self.records) and self.resume is None:
            self.holdout_best = self.holdout_baseline
            return
        evaluation = self.evaluate(self.workspace.candidate(0), holdout)
        if evaluation.status == "ok":
            self.holdout_best = objective(evaluation.trials.values())

    # -------------------------------------------------------------- iteration

    def _iterate(self, iteration: int) -> IterationRecord | None:
        started = time.monotonic()
        pool = improvable(self.best.values())
        if not pool:
            self.stopped = "nothing left to improve: every test is at its best value"
            return None
        batch = self.sampler.sample(pool)
        batch_ids = [t.test for t in batch]
        self.journal.write("iteration", iteration=iteration, batch=batch_ids)
        request = self._request(iteration, batch)
        candidates: list[Candidate] = []
        attempts: list[Attempt] = []
        for index in range(self.settings.candidates):
            over = self._over_budget(request)
            if over:
                if not attempts:
                    self.stopped = over
                    return None
                break
            attempt, candidate = self._propose(iteration, index, request)
            attempts.append(attempt)
            if candidate is not None:
                candidates.append(candidate)
        self._judge(batch_ids, candidates)
        chosen = self._choose(candidates)
        if chosen is not None:
            self._accept(iteration, chosen)
        self.history.extend(history_entries(iteration, attempts))
        return self._record(iteration, batch_ids, attempts, time.monotonic() - started)

    def _request(self, iteration: int, batch: list[Trial]) -> Request:
        s = self.settings
        request = build_request(
            run=s.run_id,
            iteration=iteration,
            trials=list(self.best.values()),
            batch=batch,
            parameters=editable(self.parameters, s.only),
            horizon=s.horizon,
            batch_size=s.batch_size,
            seed=s.seed,
            history=self.history,
        )
        if not self.secrets:
            return request
        # captured output and traces may hold the environment's secrets
        return Request.from_json(redact(request.to_json(), self.secrets))

    def _over_budget(self, request: Request) -> str:
        s = self.settings
        if s.budget_usd is None and s.max_tokens is None:
            return ""
        worst = self.backend.worst_case(request)
        if s.budget_usd is not None and self.usage.cost_usd + worst.cost_usd > s.budget_usd:
            return (
                f"budget: the next call could cost up to ${worst.cost_usd:.4f}, more than the "
                f"${max(0.0, s.budget_usd - self.usage.cost_usd):.4f} left of "
                f"--genopt-budget-usd={s.budget_usd:g}"
            )
        if s.max_tokens is not None and self.usage.total_tokens + worst.total_tokens > s.max_tokens:
            return (
                f"budget: the next call could use up to {worst.total_tokens} tokens, more than "
                f"the {max(0, s.max_tokens - self.usage.total_tokens)} left of "
                f"--genopt-max-tokens={s.max_tokens}"
            )
        return ""

    def _propose(
        self, iteration: int, index: int, request: Request
    ) -> tuple[Attempt, Candidate | None]:
        from pytest_genopt.backends import BackendFatal

        try:
            proposal = self.backend.propose(request)
        except BackendError as exc:
            self.journal.write("proposal", iteration=iteration, candidate=index, error=str(exc))
            return Attempt(index, "error", f"backend error: {exc}"), None
        except BackendFatal as exc:
            raise RunStopped(str(exc)) from None
        self.usage = self.usage + proposal.usage
        raw = redact(proposal.raw, self.secrets) if self.secrets else proposal.raw
        self.journal.write(
            "proposal",
            iteration=iteration,
            candidate=index,
            raw=raw,
            invalid=proposal.invalid_reason,
            usage=proposal.usage.to_json(),
        )
        response = proposal.response
        if response is None:
            return Attempt(index, "invalid", proposal.invalid_reason or "invalid proposal"), None
        attempt = Attempt(
            index,
            "invalid",
            "",
            rationale=response.rationale,
            edits=[e.to_json() for e in response.edits],
        )
        by_id = {p.id: p for p in editable(self.parameters, self.settings.only)}
        try:
            files = apply_edits(self.workspace.read, by_id, response.edits)
        except EditRefused as exc:
            attempt.reason = str(exc)
            return attempt, None
        attempt.decision, attempt.reason = "rejected", "not evaluated"
        return attempt, Candidate(attempt, response, files)

    def _judge(self, batch_ids: list[str], candidates: list[Candidate]) -> None:
        """Evaluate the candidates (concurrently) per the acceptance contract."""
        if not candidates:
            return
        directories = []
        for position, candidate in enumerate(candidates):
            directory = self.workspace.candidate(position)
            self.workspace.write(position, candidate.files)
            directories.append(directory)
        with ThreadPoolExecutor(max_workers=len(candidates)) as pool:
            list(pool.map(self._judge_one, candidates, directories, [batch_ids] * len(candidates)))

    def _judge_one(self, candidate: Candidate, directory: Path, batch_ids: list[str]) -> None:
        attempt = candidate.attempt
        policy = self.settings.accept
        first = self.evaluate(directory, batch_ids)
        if first.status != "ok":
            attempt.reason = first.reason
            attempt.decision = "invalid" if first.invalid else attempt.decision
            return
        tried = Standing.of(first.trials[i] for i in batch_ids)
        attempt.batch_objective = objective_value(tried)
        screened = policy.screen(Standing.of(self.best[i] for i in batch_ids), tried, batch_ids)
        if not screened.accepted:
            attempt.reason = screened.reason
            return
        rest = [i for i, t in self.best.items() if not t.holdout and i not in first.trials]
        second = self.evaluate(directory, rest) if rest else None
        if second is not None and second.status != "ok":
            attempt.reason = second.reason
            attempt.decision = "invalid" if second.invalid else attempt.decision
            return
        trials = {**first.trials, **(second.trials if second else {})}
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

    def _choose(self, candidates: list[Candidate]) -> Candidate | None:
        acceptable = [c for c in candidates if c.trials is not None]
        if not acceptable:
            return None

        def key(c: Candidate) -> tuple[tuple[bool, Fraction], float, int]:
            # exact; batch objectives are correctly rounded, so their order is never inverted
            full = rank(Standing.of((c.trials or {}).values()))
            return full, c.attempt.batch_objective or 0.0, -c.attempt.candidate

        chosen = max(acceptable, key=key)
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

    def _accept(self, iteration: int, chosen: Candidate) -> None:
        s = self.settings
        old_head = self.workspace.head
        old = summary_of(self.best)["objective"]
        trials = chosen.trials or {}
        holdout = {i: t for i, t in self.best.items() if t.holdout}
        new_best = {**holdout, **trials}
        new = summary_of(new_best)["objective"]
        edited = sorted({e["parameter"] for e in chosen.attempt.edits})
        rationale = chosen.response.rationale.strip()
        summary = rationale.splitlines()[0] if rationale else f"improve {', '.join(edited)}"
        sha = self.workspace.commit(
            chosen.files,
            f"genopt: {summary}"[:72],
            body=(rationale + "\n\n" if rationale else "") + "Edited: " + ", ".join(edited),
            trailers=[
                ("Genopt-Run", s.run_id),
                ("Genopt-Iteration", str(iteration)),
                ("Genopt-Objective", f"{old:.4f} -> {new:.4f}"),
                ("Genopt-Backend", self.backend.name),
            ],
        )
        chosen.attempt.commit = sha
        self.diffs[sha] = self.workspace.diff(old_head, sha)
        self.best = new_best
        self.parameters = refresh(self.parameters, chosen.files)
        self.journal.write(
            "accepted",
            iteration=iteration,
            candidate=chosen.attempt.candidate,
            commit=sha,
            objective=new,
        )

    def _record(
        self, iteration: int, batch_ids: list[str], attempts: list[Attempt], seconds: float
    ) -> IterationRecord:
        order = ("accepted", "rejected", "invalid", "error")
        decision = min((a.decision for a in attempts), key=order.index, default="error")
        lead = next(a for a in attempts if a.decision == decision) if attempts else None
        return IterationRecord(
            iteration=iteration,
            decision=decision,
            reason=lead.reason if lead else "no proposal",
            seconds=seconds,
            batch_objective=lead.batch_objective if lead else None,
            objective=(
                summary_of(self.best)["objective"]
                if decision == "accepted"
                else lead.objective
                if lead
                else None
            ),
            batch=batch_ids,
            attempts=attempts,
        )

    def _previous_best(self, record: IterationRecord) -> float | None:
        earlier = [r.objective for r in self.records[:-1] if r.decision == "accepted"]
        return earlier[-1] if earlier else self.baseline.get("objective")

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
        }

    def report(self) -> dict[str, Any]:
        accepted = [a.commit for r in self.records for a in r.attempts if a.commit]
        best = {**summary_of(self.best), "commit": accepted[-1] if accepted else None}
        if not self.best:
            best = {**self.baseline, "commit": None}
        return build_report(
            run=self.settings.run_id,
            branch=self.workspace.branch,
            backend=self.backend.name,
            settings=self.settings_json(),
            baseline=self.baseline,
            best=best,
            holdout={"baseline": self.holdout_baseline, "best": self.holdout_best},
            iterations=self.records,
            usage=self.usage,
            stopped=self.stopped,
            base=self.workspace.base,
        )

    def write_reports(self) -> dict[str, Any]:
        report = self.report()
        for record in self.records:
            for attempt in record.attempts:
                if attempt.commit and attempt.commit not in self.diffs:
                    self.diffs[attempt.commit] = self.workspace.diff(
                        f"{attempt.commit}^", attempt.commit
                    )
        write_json_atomic(self.dir / "report.json", report)
        write_text_atomic(self.dir / "report.md", render_markdown(report, self.diffs))
        if self.settings.report is not None:
            write_json_atomic(self.settings.report, report)
        return report


def history_entries(iteration: int, attempts: Sequence[Attempt]) -> list[HistoryEntry]:
    """An iteration's attempts as protocol-v1 history.

    Backend errors are left out: they proposed nothing, and the protocol's
    history decisions are accepted, rejected or invalid.
    """
    from pytest_genopt.protocol import Edit

    return [
        HistoryEntry(
            iteration,
            attempt.rationale,
            tuple(Edit.from_json(e) for e in attempt.edits),
            attempt.decision,
            attempt.reason,
        )
        for attempt in attempts
        if attempt.decision != "error"
    ]


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
