"""The pytest entry point: options, ini keys, the marker and the ``genopt`` fixture.

This module is imported by every pytest session that has the package
installed, so it stays cheap: it declares things and, only when a run is
active (``--genopt-iterations`` > 0), registers the objects that do the work.

PYTEST_DONT_REWRITE: evaluations import it with the worker, before pytest parses
``-p pytest_genopt.plugin``; it uses no asserts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pytest_genopt import tracing
from pytest_genopt.config import (
    BACKEND_ACCEPTED,
    BUILTIN_SCHEMES,
    MAX_CANDIDATES,
    Settings,
    read_settings,
)

if TYPE_CHECKING:
    from collections.abc import Callable

settings_key = pytest.StashKey[Settings]()
#: a backend another plugin made for a scheme the package does not know
plugin_backend_key = pytest.StashKey[object]()

_INI_HELP = " (ini twin of --genopt-{})"


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_genopt import hooks

    pluginmanager.add_hookspecs(hooks)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("genopt", "generative optimization (pytest-genopt)")

    def option(name: str, help: str, *, ini: bool = True, **kwargs: object) -> None:
        dest = "genopt_" + name.replace("-", "_")
        group.addoption(f"--genopt-{name}", dest=dest, default=None, help=help, **kwargs)
        if ini:
            parser.addini(dest, help + _INI_HELP.format(name), default=None)

    _loop_options(option, group)
    _run_options(option, group)
    _isolation_options(option, group, parser)
    _ini_only_options(parser)


def _loop_options(option: Callable[..., None], group: pytest.OptionGroup) -> None:
    """The loop's three choices and what proposes: iterations, backend, horizon, batch..."""
    option("iterations", "updates to try; 0 (default) keeps the plugin passive", metavar="N")
    option(
        "backend",
        "who proposes edits: anthropic[:MODEL], python:MODULE:FUNCTION, "
        "exchange:DIR, replay:PATH, search (default: anthropic)",
        metavar="SPEC",
    )
    option("model", "model for the anthropic backend (also GENOPT_MODEL)", metavar="NAME")
    option(
        "horizon",
        "credit horizon: keep the last N traceback frames, trace steps and "
        "calls of each trial, or 'all' (default: 10)",
        metavar="N|all",
    )
    option("batch-size", "trials per update (default: 4)", metavar="K")
    option(
        "candidates",
        f"proposals per iteration, evaluated in parallel (default: 1, at most {MAX_CANDIDATES})",
        metavar="C",
    )
    option(
        "seed",
        "seed for minibatch sampling and every random choice (default: random, "
        "shown in the header)",
        metavar="S",
    )
    option(
        "branch",
        "new branch for accepted commits; not HEAD, a sha or refs/... (default: genopt/<run-id>)",
        metavar="NAME",
    )
    option(
        "start",
        "start from this git revision instead of the working tree",
        ini=False,
        metavar="REV",
    )
    group.addoption(
        "--genopt-import-root",
        dest="genopt_import_root",
        action="append",
        default=None,
        metavar="DIR",
        help="candidates import what lies in DIR from their own tree, as they do the "
        "checkout (e.g. the checkout an editable install points at; repeatable)",
    )
    group.addoption(
        "--genopt-only",
        dest="genopt_only",
        action="append",
        default=None,
        metavar="GLOB",
        help="restrict which trainables may be edited (parameter id or glob; repeatable)",
    )


def _run_options(option: Callable[..., None], group: pytest.OptionGroup) -> None:
    """Limits, outputs, resuming, publishing and acceptance of a run."""
    option(
        "timeout",
        "wall limit in seconds for one candidate evaluation (default: 300)",
        metavar="SEC",
    )
    option("workers", "parallel test processes per evaluation, or 'auto' (default: 1)", metavar="N")
    option(
        "instructions",
        "the goal in words, for the optimizer's prompt: TEXT or @FILE "
        '(e.g. "make parse_rows faster without new dependencies")',
        metavar="TEXT",
    )
    option("budget-usd", "stop before spending more than this many dollars", metavar="X")
    option("max-tokens", "stop before using more than this many tokens", metavar="N")
    option(
        "record", "record every backend exchange to this cassette file", ini=False, metavar="PATH"
    )
    option("report", "also write report.json to this path", ini=False, metavar="PATH")
    option(
        "evidence",
        "write the first request (JSON) to this path and stop before any backend call",
        ini=False,
        metavar="PATH",
    )
    option(
        "holdout-every",
        "also evaluate the holdout tests on the best parameters after every N-th iteration "
        "(default: at the start and the end only)",
        metavar="N",
    )
    option("resume", "continue an interrupted run (a run id or 'last')", ini=False, metavar="RUN")
    option(
        "push",
        "push the run's branch to this remote when the run ends",
        ini=False,
        metavar="REMOTE",
    )
    group.addoption(
        "--genopt-allow-regressions",
        dest="genopt_allow_regressions",
        action="store_true",
        default=False,
        help="accept candidates that make a passing test fail",
    )
    option(
        "accept",
        "acceptance policy: strict (higher on the batch, no worse on all tests), "
        "paired (also a significant sign test over the tests; for noisy scores) "
        "or a name a plugin provides (default: strict)",
        metavar="POLICY",
    )


def _isolation_options(
    option: Callable[..., None], group: pytest.OptionGroup, parser: pytest.Parser
) -> None:
    """How candidates are confined and started."""
    option(
        "sandbox",
        "confine candidates' writes with Landlock: auto, required or off (default: auto)",
        metavar="MODE",
    )
    option(
        "memory",
        "memory cap per evaluation, e.g. 512M or 4G, or 'off' (default: 4G)",
        metavar="SIZE",
    )
    option(
        "start-up",
        "how each evaluation's pytest starts: warm (forked from a process that has "
        "imported pytest) or cold (a fresh interpreter) (default: warm)",
        metavar="MODE",
    )
    parser.addini(
        "genopt_candidate_env",
        "names or globs of environment variables candidates keep though they look secret",
        type="linelist",
        default=[],
    )
    group.addoption(
        "--genopt-push-untracked",
        dest="genopt_push_untracked",
        action="store_true",
        default=False,
        help="let --genopt-push publish a branch whose start holds never-committed files",
    )


def _ini_only_options(parser: pytest.Parser) -> None:
    """Settings a project writes once, in its ini file only."""
    parser.addini(
        "genopt_prices",
        "model prices overriding the built-in table, one per line: "
        "MODEL = INPUT OUTPUT [CACHE_WRITE CACHE_READ] (dollars per million tokens)",
        type="linelist",
        default=[],
    )
    parser.addini(
        "genopt_exchange_timeout",
        "seconds the exchange backend waits for each response file (default: 3600)",
        default=None,
    )
    parser.addini(
        "genopt_replay_match",
        "how replay:PATH finds the answer to a request: position (default: the recorded "
        "answer for the same iteration and candidate) or request (an equal request)",
        default=None,
    )
    parser.addini(
        "genopt_task_model_gateway",
        "serve candidates a caching gateway to the Messages API for the task model "
        "their tests call (see pytest_genopt.taskmodel)",
        type="bool",
        default=False,
    )
    parser.addini(
        "genopt_task_model",
        "the task model tests ask through pytest_genopt.taskmodel "
        "(default: $GENOPT_TASK_MODEL, else claude-haiku-4-5)",
        default="",
    )
    parser.addini(
        "genopt_task_model_cache",
        "folder of the task model's response cache, relative to rootdir "
        "(default: $GENOPT_TASK_MODEL_CACHE, else .genopt/task-model-cache)",
        default="",
    )
    parser.addini(
        "genopt_trainable_files",
        "globs (relative to rootdir) of whole files the optimizer may rewrite, e.g. prompt files",
        type="linelist",
        default=[],
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "genopt(trainables=[ids or globs], holdout=False|True|GROUP, files=[paths]): link a "
        "test to the trainables it gives evidence for, keep it out of evidence and acceptance "
        "(holdout, in the group 'holdout' or the one named), or make whole files trainable",
    )
    settings = read_settings(config)
    config.stash[settings_key] = settings
    if not settings.active:
        return
    if settings.backend.scheme not in BUILTIN_SCHEMES and not hasattr(config, "workerinput"):
        backend = config.hook.pytest_genopt_make_backend(config=config, spec=str(settings.backend))
        if backend is None:
            raise pytest.UsageError(
                f"--genopt-backend: unknown backend {str(settings.backend)!r}; "
                f"expected {BACKEND_ACCEPTED}"
            )
        config.stash[plugin_backend_key] = backend
    resume = None
    if settings.resume is not None and not hasattr(config, "workerinput"):
        from pytest_genopt.controller import resumed_settings

        settings, resume = resumed_settings(settings, config.rootpath)
        config.stash[settings_key] = settings
    from pytest_genopt.collector import TrialRecorder

    config.pluginmanager.register(
        TrialRecorder(config.rootpath, settings.horizon), "genopt-recorder"
    )
    if hasattr(config, "workerinput"):
        return  # an xdist worker only records; its controller does the rest
    from pytest_genopt.controller import Controller

    config.pluginmanager.register(Controller(config, settings, resume), "genopt-controller")


@pytest.fixture
def genopt(request: pytest.FixtureRequest) -> tracing.TrialReporter:
    """Report to the optimizer: ``genopt.score(x)``, ``genopt.feedback(text)``,
    ``genopt.trace(**fields)``, ``genopt.usage(input_tokens, output_tokens, model=...,
    cached=...)``. No-ops under plain pytest."""
    # a recorder is registered wherever trials are recorded: a run's session,
    # its xdist workers and candidate evaluations
    recorder = request.config.pluginmanager.get_plugin("genopt-recorder")
    return tracing.TrialReporter(recorder.horizon if recorder is not None else None)
