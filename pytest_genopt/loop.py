"""The controller: the plugin object registered when a run is active.

The session's tests run as usual and give the baseline Trials; then the
controller builds requests from them.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import pytest

from pytest_genopt.collector import TrialCollector
from pytest_genopt.evidence import MinibatchSampler, improvable
from pytest_genopt.update import build_request, editable

if TYPE_CHECKING:
    from pytest_genopt.config import Settings
    from pytest_genopt.trainables import Parameter


class Controller:
    """Owns one run: baseline trials, parameters, requests and the summary."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.rootdir = config.rootpath
        self.collector = TrialCollector(self.rootdir)
        config.pluginmanager.register(self.collector, "genopt-collector")
        self.parameters: list[Parameter] = []
        self.summary: list[str] = []

    def pytest_report_header(self) -> str:
        s = self.settings
        return (
            f"genopt: run {s.run_id}, backend {s.backend}, horizon {s.horizon_label}, "
            f"batch size {s.batch_size}, seed {s.seed}"
        )

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        from pytest_genopt.trainables import discover

        try:
            self.parameters = discover(self.rootdir, file_globs=self.settings.trainable_files)
        except ValueError as exc:
            raise pytest.UsageError(f"genopt: {exc}") from None

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if session.shouldstop or session.shouldfail:
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
        return sorted(
            [*self.parameters, *(p for p in extra if p.id not in known)], key=lambda p: p.id
        )

    def _write_first_request(self, parameters: list[Parameter]) -> None:
        s = self.settings
        trials = list(self.collector.trials.values())
        sampler = MinibatchSampler(s.batch_size, s.seed)
        batch = sampler.sample(improvable(trials))
        request = build_request(
            run=s.run_id,
            iteration=1,
            trials=trials,
            batch=batch,
            parameters=editable(parameters, s.only),
            horizon=s.horizon,
            batch_size=s.batch_size,
            seed=s.seed,
        )
        path = s.evidence
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(
            json.dumps(request.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        os.replace(tmp, path)
        shown = os.path.relpath(path, self.config.invocation_params.dir)
        note = "" if batch else "; every test is at its best value, so there is no evidence"
        self.summary.append(
            f"genopt: wrote the first request to {shown}: {len(request.parameters)} "
            f"parameter(s), {len(request.evidence)} trial(s) (horizon {s.horizon_label}, "
            f"batch size {s.batch_size}){note}; no backend was called"
        )
