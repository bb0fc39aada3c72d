"""The plugin loaded into a candidate's evaluation subprocess (``-p pytest_genopt.worker``).

PYTEST_DONT_REWRITE: imported before pytest parses ``-p``; it uses no asserts.

:func:`pytest_genopt.evaluate.evaluate` starts the subprocess with
:data:`BOOTSTRAP`, which reads a :class:`WorkerSpec` from an inherited pipe
and hands it to :func:`receive` *before* the candidate's tree is on
``sys.path``: no conftest, test module, ``sitecustomize`` or shadowing copy of
``pytest`` from the candidate runs before the spec is read and its descriptor
closed.  The spec holds the per-evaluation key that authenticates the result
(HMAC-SHA256, :func:`sign`); it is in no file and no environment variable.
Without a spec the module does nothing at all, so loading it into an
ordinary session is harmless.

The result file (its path is no secret: a forged one fails verification)::

    {"payload": "<json text>", "hmac": "<hex>"}

    payload: {"worker": 3, "trials": [Trial.to_json(), ...],
              "collect_errors": [str], "shadowed": [str], "memory_errors": int,
              "exitstatus": int, "collected": [node id],
              "sentinels": {"fail": outcome | null, "pass": outcome | null}}

``collected`` are the node ids collected from the evaluated files (after the
session's own deselection, before the worker's); ``sentinels`` are the
outcomes of two tests the worker adds to every evaluation, one that must fail
and one that must pass: a test runner patched to pass everything (or to fail
everything) gives itself away there.

In a *re-run* (``WorkerSpec.junitxml`` set) the worker writes no result and
adds no sentinels: pytest's own ``--junitxml`` reporter is the result, with
each test's genopt score as the ``genopt_score`` property (and its task-model usage
as ``genopt_usage``).

The worker switches the session's own options off by name, the way
pytest-xdist does in its workers: every ``--genopt-*`` option (so the child
is passive), and the options that would break an evaluation (``-x``,
``--lf``, ``--sw``, ``--pdb``, ``--co``, ``--junitxml``, ``-n``, ...).
pytest-xdist workers get the spec (without the key) through ``workerinput``
and return what they found through ``workeroutput``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import pytest

# every evaluation loads both (the entry point, the worker's recorder): imported with
# the worker, they come from genopt's own folder before the candidate's tree is on
# sys.path, and a zygote (pytest_genopt.warmstart) holds them for each warm evaluation
import pytest_genopt.collector
import pytest_genopt.plugin  # noqa: F401
from pytest_genopt import imports

if TYPE_CHECKING:
    from collections.abc import Collection, Generator, Iterable, Mapping
    from types import ModuleType

    from pytest_genopt.collector import PathNames, TrialCollector

#: the ``worker`` field of the result payload; bumped when its shape changes
RESULT_VERSION = 3
SPEC_VERSION = 1

_PLUGIN_NAME = "genopt-worker"
_WORKERINPUT = "genopt_worker"
_WORKEROUTPUT = "genopt_worker_found"

#: ``python -c`` code of the evaluation subprocess; argv: spec fd, package parent
#: folder, then pytest's arguments.  The candidate's tree (the working folder,
#: ``sys.path[0]``) is left off ``sys.path`` until the worker holds its spec.  The
#: module docstring's PYTEST_DONT_REWRITE keeps ``-p`` from warning that the
#: (already imported) worker cannot be rewritten.
BOOTSTRAP = """\
import sys
fd, root = int(sys.argv[1]), sys.argv[2]
del sys.argv[1:3]
first = sys.path.pop(0)
sys.path.insert(0, root)
import pytest_genopt.worker
sys.path.remove(root)
pytest_genopt.worker.receive(fd)
sys.path.insert(0, first)
import pytest
raise SystemExit(pytest.console_main())
"""

# The session's options that would break an evaluation, and their passive
# values; an option a plugin does not define here is left alone.
_NEUTRAL: dict[str, Any] = {
    "maxfail": 0,  # -x, --maxfail
    "lf": False,
    "failedfirst": False,
    "newfirst": False,
    "stepwise": False,
    "stepwise_skip": False,
    "stepwise_reset": False,
    "usepdb": False,
    "trace": False,
    "collectonly": False,
    "cacheclear": False,
    "cacheshow": None,
    "setuponly": False,
    "setupplan": False,
    "showfixtures": False,
    "show_fixtures_per_test": False,
    "markers": False,
    "help": False,
    "version": 0,
    "xmlpath": None,  # --junitxml
    "report_log": None,  # pytest-reportlog
    "pastebin": None,
    "looponfail": False,  # pytest-xdist
    "distload": False,
    "maxprocesses": None,
    "tx": [],
}


@dataclass(frozen=True)
class WorkerSpec:
    """What one evaluation asks of its worker (plain data, through a pipe)."""

    #: hex HMAC-SHA256 key of this evaluation; "" in xdist workers
    key: str
    output: str
    #: node ids to keep; every other collected item is deselected
    select: list[str]
    #: the test files to collect (the session's own paths are dropped)
    paths: list[str]
    horizon: int | None
    trainables: list[str]
    workers: int
    #: the candidate's tree, put on sys.path and PYTHONPATH once the spec is read
    candidate: str
    pythonpath: str
    basetemp: str
    extra: dict[str, Any] = field(default_factory=dict)
    #: names the two sentinel tests (random per evaluation); "" adds none
    sentinel: str = ""
    #: a re-run: where pytest's --junitxml report goes ("" for an evaluation)
    junitxml: str = ""
    #: the user's repository top level and the candidate tree's: imports from the
    #: first are served from the second (:mod:`pytest_genopt.imports`); "" for none
    source: str = ""
    tree: str = ""
    #: more folders whose imports are served from the tree (--genopt-import-root)
    also: list[str] = field(default_factory=list)
    #: files whose functions each test runs are recorded (large file parameters)
    regions: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"version": SPEC_VERSION, **self.__dict__}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WorkerSpec:
        if data.get("version") != SPEC_VERSION:
            raise ValueError(f"worker spec version {data.get('version')!r}")
        return cls(**{k: v for k, v in data.items() if k != "version"})


_spec: WorkerSpec | None = None
#: the modules imported before the candidate's tree was on the path (by the interpreter's
#: start-up, pytest and genopt): none of them can come from the tree
_early: frozenset[str] = frozenset()


def receive(fd: int) -> None:
    """Read the spec from ``fd``, close it, and put the candidate's tree on the path."""
    global _spec, _early
    with os.fdopen(fd, "rb") as fh:
        spec = WorkerSpec.from_json(json.loads(fh.read()))
    _spec, _early = spec, frozenset(sys.modules)
    # where PYTHONPATH entries go: after the script folder (put back by the
    # bootstrap), before the rest
    sys.path.insert(0, spec.candidate)
    os.environ["PYTHONPATH"] = spec.pythonpath
    if spec.source:
        for source in (spec.source, *spec.also):
            imports.install(source, spec.tree)


def sign(key: str, payload: str) -> str:
    """The hex HMAC-SHA256 of ``payload`` under the hex ``key``."""
    return hmac.new(bytes.fromhex(key), payload.encode("utf-8"), hashlib.sha256).hexdigest()


def verify(key: str, text: str) -> dict[str, Any] | None:
    """The payload of a result file's ``text`` when its HMAC is right, else None."""
    try:
        envelope = json.loads(text)
        payload, mac = envelope["payload"], envelope["hmac"]
        if not isinstance(payload, str) or not isinstance(mac, str):
            return None
        if not hmac.compare_digest(sign(key, payload), mac):
            return None
        data = json.loads(payload)
    except (ValueError, TypeError, KeyError):
        return None
    return data if isinstance(data, dict) else None


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config: pytest.Config) -> Generator[None, object, object]:
    """Make the child passive before any other plugin acts on the session's options."""
    if _spec is not None:
        neutralize(config, _spec)
    return (yield)


def neutralize(config: pytest.Config, spec: WorkerSpec) -> None:
    """Switch genopt's and the breaking options off by name; restrict to ``spec.paths``."""
    option = config.option
    for name, value in vars(option).items():
        if name.startswith("genopt_"):
            setattr(option, name, False if isinstance(value, bool) else None)
    option.genopt_iterations = "0"  # wins over an ini genopt_iterations
    for name, value in _NEUTRAL.items():
        if hasattr(option, name):
            setattr(option, name, value)
    option.basetemp = spec.basetemp
    if spec.junitxml:
        option.xmlpath = spec.junitxml
        option.junitprefix = None
    parallel = spec.workers > 1
    option.numprocesses = spec.workers if parallel else None
    option.dist = "load" if parallel else "no"
    config.args = list(spec.paths)


@pytest.hookimpl(trylast=True)  # after the main plugin, which may register a recorder
def pytest_configure(config: pytest.Config) -> None:
    """Register the worker in an evaluation (or in one of its xdist workers)."""
    workerinput = getattr(config, "workerinput", None)
    spec = _spec
    if workerinput is not None and _WORKERINPUT in workerinput:
        spec = WorkerSpec.from_json(workerinput[_WORKERINPUT])
        if spec.source:  # xdist hands its workers our sys.path, not our meta-path finder
            for source in (spec.source, *spec.also):
                imports.install(source, spec.tree)
    if spec is None:
        return
    from pytest_genopt.collector import TrialCollector, TrialRecorder

    # the main plugin registers its own recorder when a run is active in this process
    if config.pluginmanager.get_plugin("genopt-recorder") is None:
        config.pluginmanager.register(
            TrialRecorder(config.rootpath, spec.horizon, spec.regions), "genopt-recorder"
        )
    collector = None
    if workerinput is None and not spec.junitxml:
        collector = TrialCollector(config.rootpath)
        config.pluginmanager.register(collector, "genopt-worker-collector")
    worker = Worker(rootdir=config.rootpath, spec=spec, collector=collector)
    config.pluginmanager.register(worker, _PLUGIN_NAME)


class Worker:
    """Selection, shadowing check, collection errors and the result file of one evaluation."""

    def __init__(
        self, *, rootdir: Path, spec: WorkerSpec, collector: TrialCollector | None
    ) -> None:
        from pytest_genopt.collector import PathNames

        self.rootdir = rootdir
        self.names = PathNames(rootdir)
        self.spec = spec
        self.select = frozenset(spec.select)
        self.collector = collector
        self.collect_errors: list[str] = []
        self.shadowed: list[str] = []
        self.memory_errors = 0
        self.collected: list[str] = []
        self.sentinels = Sentinels(spec.sentinel) if spec.sentinel and not spec.junitxml else None

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """pytest-xdist: hand the spec, without its key, to each worker."""
        node.workerinput[_WORKERINPUT] = {**self.spec.to_json(), "key": ""}

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """pytest-xdist: what a worker found (shadowing, memory errors)."""
        found = getattr(node, "workeroutput", {}).get(_WORKEROUTPUT) or {}
        self._add_shadowed([str(line) for line in found.get("shadowed", [])])
        self.memory_errors += int(found.get("memory_errors", 0))
        known = set(self.collected)
        self.collected += [str(n) for n in found.get("collected", []) if str(n) not in known]

    # trylast: after the session's own deselection (-k, -m, conftest hooks)
    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        self.collected = [item.nodeid for item in items]
        keep = [item for item in items if item.nodeid in self.select]
        if len(keep) != len(items):
            chosen = {id(item) for item in keep}
            config.hook.pytest_deselected(items=[i for i in items if id(i) not in chosen])
            items[:] = keep
        if self.sentinels is not None:
            items += self.sentinels.items(session)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.sentinels is not None:
            self.sentinels.record(report)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if self.spec.junitxml and call.when == "teardown":
            # a re-run reports each test's score through junit, as a property
            import json

            from pytest_genopt import tracing
            from pytest_genopt.junit import MEASURES_PROPERTY, SCORE_PROPERTY, USAGE_PROPERTY
            from pytest_genopt.measures import measures_json

            record = tracing.current()
            if record is not None and record.score is not None:
                report.user_properties = [
                    *report.user_properties,
                    (SCORE_PROPERTY, repr(float(record.score))),
                ]
            if record is not None and record.usage:  # the task model's tokens count too
                report.user_properties = [
                    *report.user_properties,
                    (USAGE_PROPERTY, json.dumps(record.usage, sort_keys=True)),
                ]
            if record is not None and record.measures:  # the re-run's own timings
                report.user_properties = [
                    *report.user_properties,
                    (MEASURES_PROPERTY, json.dumps(measures_json(record.measures))),
                ]
        return report

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

    def pytest_exception_interact(
        self, call: pytest.CallInfo[Any], report: pytest.TestReport | pytest.CollectReport
    ) -> None:
        # the memory cap (RLIMIT_DATA) shows as a MemoryError where it was hit
        if call.excinfo is not None and call.excinfo.errisinstance(MemoryError):
            self.memory_errors += 1

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self._check_shadowing()

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # a trainable module imported lazily, inside a test, is checked here
        self._check_shadowing()
        workeroutput = getattr(session.config, "workeroutput", None)
        if self.collector is None:  # an xdist worker or a re-run: no result file
            if workeroutput is not None:
                workeroutput[_WORKEROUTPUT] = {
                    "shadowed": self.shadowed,
                    "memory_errors": self.memory_errors,
                    "collected": self.collected,
                }
            return
        sentinels = self.sentinels
        trials = self.collector.trials.values()
        result: dict[str, Any] = {
            "worker": RESULT_VERSION,
            "trials": [t.to_json() for t in trials if sentinels is None or t.test not in sentinels],
            "collect_errors": self.collect_errors,
            "shadowed": self.shadowed,
            "memory_errors": self.memory_errors,
            "exitstatus": int(session.exitstatus),
            "collected": self.collected,
            "sentinels": sentinels.outcomes() if sentinels is not None else {},
        }
        payload = json.dumps(result, ensure_ascii=False)
        envelope = {"payload": payload, "hmac": sign(self.spec.key, payload)}
        write_atomic(Path(self.spec.output), json.dumps(envelope, ensure_ascii=False))

    def _check_shadowing(self) -> None:
        self._add_shadowed(shadowed_modules(self.rootdir, self.spec.trainables, early=_early))

    def _add_shadowed(self, lines: Iterable[str]) -> None:
        self.shadowed.extend(line for line in lines if line not in self.shadowed)


class Sentinels:
    """Two tests added to every evaluation: one must fail, one must pass.

    They are real ``pytest.Function`` items run by the session's own runner, so
    a candidate that patches how tests run or report (``Function.runtest``,
    ``pytest_pyfunc_call``, ``pytest_runtest_makereport``, ``TestReport``) shows
    it here.  Their names carry a random token of the evaluation.
    """

    def __init__(self, token: str) -> None:
        self.names = {"fail": f"genopt_sentinel_{token}_must_fail",
                      "pass": f"genopt_sentinel_{token}_must_pass"}  # fmt: skip
        self._outcomes: dict[str, str] = {}

    def items(self, session: pytest.Session) -> list[pytest.Item]:
        made: list[pytest.Item] = []
        for role, function in (("fail", _must_fail), ("pass", _must_pass)):
            made.append(
                pytest.Function.from_parent(session, name=self.names[role], callobj=function)
            )
        return made

    def __contains__(self, nodeid: object) -> bool:
        return isinstance(nodeid, str) and nodeid.rpartition("::")[2] in self.names.values()

    def record(self, report: pytest.TestReport) -> None:
        name = report.nodeid.rpartition("::")[2]
        role = next((r for r, n in self.names.items() if n == name), None)
        if role is None:
            return
        if report.failed:
            self._outcomes[role] = "failed"
        elif report.when == "call":
            self._outcomes.setdefault(role, report.outcome)

    def outcomes(self) -> dict[str, str | None]:
        return {role: self._outcomes.get(role) for role in self.names}


def _must_fail() -> None:
    pytest.fail("genopt sentinel: this test must fail", pytrace=False)


def _must_pass() -> None:
    return None


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
    rootdir: Path,
    paths: Iterable[str],
    modules: Mapping[str, ModuleType] | None = None,
    *,
    early: Collection[str] = frozenset(),
) -> list[str]:
    """One line per trainable file whose module is imported from outside ``rootdir``.

    For each path, the longest of its :func:`module_names` that is imported
    (with a ``__file__``) decides; standard-library names are never taken for
    it.  A module file inside ``rootdir`` is the candidate's own code.  A module
    named in ``early`` was imported before the tree was on the path.
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
            if actual == expected or actual.is_relative_to(root):
                break
            if name in early:
                found.append(
                    f"{path} is imported from {actual} before the candidate's tree is on the "
                    "path: pytest, genopt or the interpreter's start-up imports it (a package "
                    "pytest depends on, such as iniconfig or pluggy, cannot be a candidate)"
                )
            else:
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
