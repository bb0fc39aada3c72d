"""The plugin loaded into a candidate's evaluation subprocess (``-p pytest_genopt.worker``).

:func:`pytest_genopt.evaluate.evaluate` configures it through environment
variables; when ``GENOPT_WORKER_OUTPUT`` is not set the module does nothing
at all, so loading it into an ordinary session is harmless.

- ``GENOPT_WORKER_OUTPUT``: path of the JSON result file, written atomically
  at session end by the process that is not an xdist worker::

      {"worker": 1, "trials": [Trial.to_json(), ...], "collect_errors": [str],
       "shadowed": [str], "exitstatus": int}

- ``GENOPT_WORKER_SELECT``: path of a file with one node id per line; every
  collected item not listed is deselected.
- ``GENOPT_WORKER_HORIZON``: the credit horizon, ``all`` or an integer.
- ``GENOPT_WORKER_TRAINABLES``: path of a file listing the rootdir-relative
  paths of the ``.py`` files that hold ``@trainable`` functions, for the
  shadowing check (an installed copy of the user's package imported instead
  of the candidate's files).  xdist workers append what they find to
  ``<GENOPT_WORKER_OUTPUT>.shadow.<pid>``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Generator, Iterable, Mapping
    from types import ModuleType

    from pytest_genopt.collector import PathNames, TrialCollector

ENV_OUTPUT = "GENOPT_WORKER_OUTPUT"
ENV_SELECT = "GENOPT_WORKER_SELECT"
ENV_HORIZON = "GENOPT_WORKER_HORIZON"
ENV_TRAINABLES = "GENOPT_WORKER_TRAINABLES"

#: the ``worker`` field of the result file; bumped when its shape changes
RESULT_VERSION = 1

_PLUGIN_NAME = "genopt-worker"


@pytest.hookimpl(trylast=True)  # after the main plugin, which may register a recorder
def pytest_configure(config: pytest.Config) -> None:
    """Register the worker when an evaluation configured it through the environment."""
    output = os.environ.get(ENV_OUTPUT)
    if not output:
        return
    from pytest_genopt.collector import TrialCollector, TrialRecorder

    horizon = _horizon(os.environ.get(ENV_HORIZON, "all"))
    is_xdist_worker = hasattr(config, "workerinput")
    # the main plugin registers its own recorder when a run is active in this process
    if config.pluginmanager.get_plugin("genopt-recorder") is None:
        config.pluginmanager.register(TrialRecorder(config.rootpath, horizon), "genopt-recorder")
    collector = None
    if not is_xdist_worker:
        collector = TrialCollector(config.rootpath)
        config.pluginmanager.register(collector, "genopt-worker-collector")
    worker = Worker(
        rootdir=config.rootpath,
        output=Path(output),
        select=_read_lines(os.environ.get(ENV_SELECT)),
        trainables=_read_lines(os.environ.get(ENV_TRAINABLES)) or [],
        collector=collector,
    )
    config.pluginmanager.register(worker, _PLUGIN_NAME)


def _horizon(text: str) -> int | None:
    text = text.strip().lower()
    if text in ("", "all"):
        return None
    try:
        horizon = int(text, 10)
    except ValueError:
        horizon = -1
    if horizon < 0:
        raise pytest.UsageError(
            f"{ENV_HORIZON}: invalid value {text!r}; expected an integer >= 0 or 'all'"
        )
    return horizon


def _read_lines(path: str | None) -> list[str] | None:
    """Non-empty lines of the file at ``path``; None when no path is given."""
    if not path:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise pytest.UsageError(f"genopt worker: cannot read {path}: {exc}") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


class Worker:
    """Selection, shadowing check, collection errors and the result file of one evaluation."""

    def __init__(
        self,
        *,
        rootdir: Path,
        output: Path,
        select: Iterable[str] | None,
        trainables: Iterable[str],
        collector: TrialCollector | None,
    ) -> None:
        from pytest_genopt.collector import PathNames

        self.rootdir = rootdir
        self.names = PathNames(rootdir)
        self.output = output
        self.select = None if select is None else frozenset(select)
        self.trainables = tuple(trainables)
        self.collector = collector
        self.collect_errors: list[str] = []
        self.shadowed: list[str] = []

    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        if self.select is None:
            return
        keep = [item for item in items if item.nodeid in self.select]
        if len(keep) == len(items):
            return
        chosen = {id(item) for item in keep}
        config.hook.pytest_deselected(items=[i for i in items if id(i) not in chosen])
        items[:] = keep

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(
        self, collector: pytest.Collector
    ) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
        # pytest treats SystemExit while collecting (sys.exit() when a candidate module
        # is imported) as an internal error that ends the session; for an evaluation it
        # is the candidate's collection error like any other exception
        try:
            return (yield)
        except SystemExit as exc:
            longrepr = collector.repr_failure(pytest.ExceptionInfo.from_exception(exc))
            return pytest.CollectReport(collector.nodeid, "failed", longrepr, [])

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            reason = _short_reason(report, self.names)
            self.collect_errors.append(f"{report.nodeid or '<session>'}: {reason}")

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self._check_shadowing()

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # a trainable module imported lazily, inside a test, is checked here
        self._check_shadowing()
        if self.collector is None:
            return  # an xdist worker: its controller writes the result
        result: dict[str, Any] = {
            "worker": RESULT_VERSION,
            "trials": [trial.to_json() for trial in self.collector.trials.values()],
            "collect_errors": self.collect_errors,
            "shadowed": self.shadowed,
            "exitstatus": int(session.exitstatus),
        }
        write_atomic(self.output, json.dumps(result, ensure_ascii=False))

    def _check_shadowing(self) -> None:
        found = shadowed_modules(self.rootdir, self.trainables)
        found = [line for line in found if line not in self.shadowed]
        if not found:
            return
        self.shadowed.extend(found)
        if self.collector is None:  # an xdist worker reports through its own file
            shadow_file = Path(f"{self.output}.shadow.{os.getpid()}")
            with open(shadow_file, "a", encoding="utf-8") as fh:
                fh.writelines(line + "\n" for line in found)


def _short_reason(report: pytest.CollectReport, names: PathNames) -> str:
    """One line saying why a collector failed (the exception line of its report)."""
    lines = names.scrub(report.longreprtext).splitlines()
    error_lines = [line[1:].strip() for line in lines if line.startswith("E ")]
    reason = next((line for line in reversed(error_lines) if line), "")
    if not reason:
        reason = next((line.strip() for line in reversed(lines) if line.strip()), "")
    if reason.startswith(("SyntaxError", "IndentationError", "TabError")):
        # name the offending line: 'File "/x/calc.py", line 9' comes just before it
        for line in reversed(error_lines):
            if line.startswith('File "') and '", line ' in line:
                path, _, rest = line[len('File "') :].partition('", line ')
                reason += f" ({names(path)}:{rest.split(',')[0].strip()})"
                break
    return reason or "collection failed"


def module_names(path: str) -> list[str]:
    """Dotted module names a rootdir-relative ``.py`` file may be imported as, longest first.

    ``src/pkg/policy.py`` gives ``src.pkg.policy``, ``pkg.policy``, ``policy``;
    ``src/pkg/__init__.py`` gives ``src.pkg``, ``pkg``.
    """
    parts = list(PurePosixPath(path.replace(os.sep, "/")).parts)
    if not parts or not parts[-1].endswith(".py"):
        return []
    parts[-1] = parts[-1][: -len(".py")]
    if parts[-1] == "__init__":
        parts.pop()
    # only a suffix made of identifiers can be a module name
    while parts and not all(p.isidentifier() for p in parts):
        parts.pop(0)
    return [".".join(parts[i:]) for i in range(len(parts))]


def shadowed_modules(
    rootdir: Path, paths: Iterable[str], modules: Mapping[str, ModuleType] | None = None
) -> list[str]:
    """One line per trainable file whose module is imported from outside ``rootdir``.

    For each path, the longest of its :func:`module_names` that is imported
    (with a ``__file__``) decides; standard-library names are never taken for
    it.  A module file inside ``rootdir`` is the candidate's own code.
    """
    if modules is None:
        modules = sys.modules
    root = rootdir.resolve()
    stdlib: frozenset[str] = getattr(sys, "stdlib_module_names", frozenset())
    found: list[str] = []
    for path in paths:
        expected = (root / path).resolve()
        for name in module_names(path):
            if name.split(".")[0] in stdlib:
                continue
            module = modules.get(name)
            filename = getattr(module, "__file__", None) if module is not None else None
            if not filename:
                continue
            actual = Path(filename).resolve()
            if actual != expected and not actual.is_relative_to(root):
                found.append(
                    f"{path} is imported from {actual}, not from the candidate worktree "
                    "(an installed copy, e.g. an editable install, shadows it)"
                )
            break
    return found


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and ``os.replace``."""
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
