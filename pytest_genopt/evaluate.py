"""Evaluate a candidate: run pytest in a confined subprocess on its tree and read back Trials.

The process tree is: the controller -> the launcher (:mod:`pytest_genopt.launcher`:
namespaces, memory cap, Landlock sandbox) -> ``python -c`` :data:`~pytest_genopt.worker.BOOTSTRAP`
running pytest in the candidate's rootdir with the session's own arguments
(:func:`session_args`) and the worker plugin (:mod:`pytest_genopt.worker`),
which switches genopt's and the breaking options off by name.  The worker's
spec, with a fresh per-evaluation key, travels through an inherited pipe; its
result file is authenticated with HMAC-SHA256 under that key.  The candidate
gets the session's environment minus secrets.  A broken candidate never makes
:func:`evaluate` raise: it is an :class:`Evaluation` with a status and a
one-line reason.
"""

from __future__ import annotations

import contextlib
import fnmatch
import importlib.util
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal

import pytest_genopt
from pytest_genopt import warmstart
from pytest_genopt.evidence import Trial
from pytest_genopt.imports import map_existing
from pytest_genopt.launcher import SETUP_EXIT, SETUP_FAILED, LaunchSpec
from pytest_genopt.worker import BOOTSTRAP, RESULT_VERSION, WorkerSpec, verify

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence

    import pytest

__all__ = [
    "NO_REPORT",
    "Evaluation",
    "EvaluationStatus",
    "candidate_environment",
    "evaluate",
    "evaluation_args",
    "isolation_summary",
    "prewarm",
    "session_args",
    "xdist_available",
    "xdist_workers",
]

EvaluationStatus = Literal[
    "ok",
    "timeout",
    "crashed",
    "collection-error",
    "shadowed",
    "cancelled",
    "memory",
    "unauthenticated",
    "tampered",
]
SANDBOX_MODES = ("auto", "required", "off")

#: the message of the error Trial made for a node id that produced no report
NO_REPORT = "the test did not report (crashed or deselected)"
#: the reason given when the memory cap was hit
MEMORY_REASON = "exceeded --genopt-memory"
#: the reason given when the result file fails verification
FORGED_REASON = "results could not be authenticated"
#: the reason given when the sentinel tests did not come out as they must
PATCHED_REASON = "the test runner was patched"

#: characters of the subprocess's combined output kept in :attr:`Evaluation.output`
OUTPUT_TAIL = 3000
#: seconds between SIGTERM and SIGKILL when an evaluation times out
KILL_GRACE = 2.0
_REASON_LIMIT = 200
#: how often a running evaluation checks its cancel event, in seconds
_POLL = 0.1
#: variables set by an enclosing pytest (e.g. when the controller runs under xdist)
_PYTEST_VARIABLES = (
    "PYTEST_CURRENT_TEST",
    "PYTEST_XDIST_WORKER",
    "PYTEST_XDIST_WORKER_COUNT",
    "PYTEST_XDIST_TESTRUNUID",
)
#: starts the launcher: isolated (-I), without site (-S): nothing from the candidate's
#: tree or the environment's PYTHON* variables runs in it
_LAUNCH = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "import pytest_genopt.launcher as launcher; launcher.main(sys.argv[2:])"
)
_SIGNAL_PREFIX = "the test process was killed by "


@dataclass(frozen=True)
class Evaluation:
    """What one evaluation of a candidate gave."""

    #: node id -> Trial, for every node id asked; one that produced no report
    #: is an "error" Trial with the message :data:`NO_REPORT`
    trials: dict[str, Trial]
    status: EvaluationStatus
    #: one line saying what went wrong; "" when ok
    reason: str
    seconds: float
    #: the last ~3000 characters of the subprocess's combined stdout/stderr
    output: str
    #: node ids collected from the evaluated files (after the session's deselection)
    collected: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the trials are the candidate's real results."""
        return self.status == "ok"

    @property
    def invalid(self) -> bool:
        """Whether the candidate cheated (its decision is "invalid", not "rejected")."""
        return self.status in ("unauthenticated", "tampered")


def xdist_available() -> bool:
    """Whether pytest-xdist can be used for ``workers > 1`` (checked without importing it)."""
    try:
        return importlib.util.find_spec("xdist") is not None
    except (ImportError, ValueError):
        return False


def xdist_workers(config: pytest.Config) -> int:
    """How many pytest-xdist workers run the session's tests (1: none, its own process)."""
    if getattr(config.option, "dist", "no") == "no":
        return 1
    return max(1, len(getattr(config.option, "tx", None) or []))


# ---------------------------------------------------------------------------- arguments


def session_args(config: pytest.Config) -> list[str]:
    """The session's own command-line arguments, minus its positional test paths.

    The paths and node ids the session was given (``config.args`` when they
    came from the command line, and everything after ``--``) are dropped: the
    evaluation passes the candidate's own test files.  Every option is kept
    as it is; the worker plugin switches genopt's options and those that
    would break an evaluation off by name in the child.
    """
    args = [os.fspath(a) for a in config.invocation_params.args]
    positional: set[str] = set()
    if config.args_source == config.ArgsSource.ARGS:
        positional = {str(a) for a in config.args}
    if "--" in args:
        args = args[: args.index("--")]
    return [a for a in args if a not in positional]


def evaluation_args(config: pytest.Config) -> list[str]:
    """The arguments every evaluation of a session passes to pytest: the session's own
    (:func:`session_args`), and ``--no-cov`` when pytest-cov measures the session
    (``--cov`` in addopts): an evaluation's coverage is thrown away, and measuring it
    slowed every candidate down fourfold on a real library's suite."""
    args = session_args(config)
    if config.pluginmanager.has_plugin("_cov"):  # pytest-cov's plugin, made for --cov
        args.append("--no-cov")
    return args


def candidate_environment(environ: Mapping[str, str], keep: Sequence[str] = ()) -> dict[str, str]:
    """``environ`` without secrets: ``ANTHROPIC_API_KEY`` and every secret-named variable,
    and without the GitHub runner's file commands (a candidate must not speak for the job).

    A name matching one of the ``keep`` globs (ini ``genopt_candidate_env``)
    is kept even when it looks like a secret.
    """
    from pytest_genopt.github import FILE_COMMANDS
    from pytest_genopt.redaction import is_secret_name

    def kept(name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in keep)

    return {
        name: value
        for name, value in environ.items()
        if kept(name)
        or not (name == "ANTHROPIC_API_KEY" or name in FILE_COMMANDS or is_secret_name(name))
    }


def isolation_summary(sandbox: str, memory: int | None) -> str:
    """One line saying what confines candidates here (for the report header)."""
    from pytest_genopt.launcher import process_isolation

    reason = _sandbox_unavailable(sandbox)
    confinement = f"sandbox none: {reason}" if reason else "sandbox landlock"
    cap = "off" if memory is None else f"{memory / 2**20:g}M"
    return f"{confinement}; processes: {process_isolation()}; memory per evaluation: {cap}"


def _sandbox_unavailable(sandbox: str) -> str:
    """Why the sandbox is not in force for ``sandbox`` (one line), or ""."""
    if sandbox == "off":
        return "--genopt-sandbox=off"
    from pytest_genopt.sandbox import unavailable_reason

    return unavailable_reason()


# ---------------------------------------------------------------------------- evaluate


def evaluate(
    directory: Path,
    nodeids: Sequence[str],
    *,
    args: Sequence[str] = (),
    timeout: float = 300.0,
    workers: int = 1,
    horizon: int | None = None,
    trainable_files: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    cancel: threading.Event | None = None,
    sandbox: str = "off",
    memory: int | None = None,
    keep_env: Sequence[str] = (),
    known: Collection[str] | None = None,
    rerun: bool = False,
    checkout: tuple[Path, Path] | None = None,
    regions: Sequence[str] = (),
    import_roots: Sequence[Path] = (),
    warm: bool = True,
) -> Evaluation:
    """Run the tests ``nodeids`` of the candidate whose rootdir is ``directory``.

    ``args`` are extra pytest arguments (typically :func:`session_args`).
    ``workers`` > 1 runs the tests with pytest-xdist when it is installed
    (see :func:`xdist_available`) and ``args`` do not block it, else
    serially.  ``horizon`` is the credit horizon (None: all).
    ``trainable_files`` are the rootdir-relative ``.py`` files holding
    ``@trainable`` functions, checked for shadowing.  The candidate gets
    this process's environment minus secrets (:func:`candidate_environment`
    with ``keep_env``), plus ``env``.  Setting ``cancel`` kills a running
    evaluation (status "cancelled") within about 0.1 s.  ``sandbox``:
    "auto" confines writes with Landlock where the kernel has it, "required"
    fails the evaluation where it does not, "off" does not confine.
    ``memory`` caps each process's data memory in bytes (None: no cap).
    ``checkout`` is (the user's repository top level, the candidate tree's):
    imports from the first are served from the second (:mod:`pytest_genopt.imports`),
    and so are imports from each of ``import_roots`` (``--genopt-import-root``).
    ``regions`` are rootdir-relative files whose functions each test runs are
    recorded in its trial (``Trial.reached``).  ``warm`` forks pytest from a
    process that has imported it (:mod:`pytest_genopt.warmstart`) where one can
    serve, else starts it cold, as ``warm=False`` always does.

    Every evaluation runs two sentinel tests (one must fail, one must pass);
    a wrong outcome is the status "tampered".  ``known`` are the baseline's
    node ids: the ids collected from the evaluated files must be exactly
    those of ``known`` in these files, else "tampered" too.  ``rerun`` takes
    the outcomes from pytest's own ``--junitxml`` report instead of genopt's
    result channel (outcome and score only; no sentinels).

    Never raises for a broken candidate (the status says what happened);
    raises ValueError for bad arguments.
    """
    directory = Path(directory)
    _check_arguments(directory, nodeids, timeout, workers, horizon, sandbox)
    directory = directory.resolve()
    asked = list(dict.fromkeys(nodeids))
    paths = _test_paths(directory, asked)
    unlaunched = _unlaunched_evaluation(asked, paths, sandbox)
    if unlaunched is not None:
        return unlaunched
    # "required" confines as "auto" does (it only refuses to go on without the sandbox)
    confine = not _sandbox_unavailable(sandbox)
    parallel = workers > 1 and xdist_available() and not _disables(args, "xdist")
    with tempfile.TemporaryDirectory(prefix="genopt-eval-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "tmp").mkdir()
        spec, child_env = _worker_spec(
            directory, tmp, asked, paths, env, keep_env, checkout, tuple(import_roots),
            horizon=horizon, trainable_files=trainable_files,
            workers=workers if parallel else 1, rerun=rerun, regions=regions,
        )  # fmt: skip
        pytest_args = _pytest_args(directory, tmp, spec, args, parallel=parallel, rerun=rerun)
        writable = [str(directory), str(tmp)] if confine else None
        plan = _LaunchPlan(spec, pytest_args, child_env, writable, memory, timeout, cancel, warm)
        launched = _launch_logged(plan, tmp / "output.log")
        if rerun:
            return _rerun_evaluation(Path(spec.junitxml), asked, launched, timeout)
        result = _read_result(Path(spec.output), spec.key)
    return _result_evaluation(result, asked, paths, known, launched, timeout)


def _unlaunched_evaluation(asked: list[str], paths: list[str], sandbox: str) -> Evaluation | None:
    """The Evaluation of a candidate whose tests are not started, or None to start them.

    Nothing of ``asked`` to run is "ok"; ``--genopt-sandbox=required`` where the
    sandbox is unavailable is "crashed".
    """
    if not paths:
        return Evaluation({n: _no_report(n) for n in asked}, "ok", "", 0.0, "")
    unavailable = _sandbox_unavailable(sandbox) if sandbox == "required" else ""
    if unavailable:
        reason = f"--genopt-sandbox=required: {unavailable}"
        return Evaluation({n: _no_report(n) for n in asked}, "crashed", reason, 0.0, "")
    return None


def _pytest_args(
    directory: Path,
    tmp: Path,
    spec: WorkerSpec,
    args: Sequence[str],
    *,
    parallel: bool,
    rerun: bool,
) -> list[str]:
    """pytest's command line for one evaluation in ``tmp``: the session's ``args`` and the
    candidate's test files (``spec.paths``)."""
    pytest_args = [f"--rootdir={directory}", *args]
    if not _disables(args, "cacheprovider"):  # else cache_dir is an unknown ini key
        pytest_args += ["-o", f"cache_dir={tmp / 'cache'}"]
    if parallel:
        pytest_args += ["-p", "xdist"]
    if rerun:  # where the report goes is in the spec; this is what a reader sees
        pytest_args += [f"--junitxml={spec.junitxml}"]
    elif not _disables(args, "terminal"):
        # the result carries genopt's own evidence of every failure; pytest's tracebacks
        # of them (source read and parsed for each frame) would be built for a log no
        # one reads: collection errors and crashes are explained the same without them
        pytest_args += ["--tb=no"]
    return [*pytest_args, "-q", *spec.paths]


def _worker_spec(
    directory: Path,
    tmp: Path,
    asked: list[str],
    paths: list[str],
    env: Mapping[str, str] | None,
    keep_env: Sequence[str],
    checkout: tuple[Path, Path] | None,
    import_roots: tuple[Path, ...],
    *,
    horizon: int | None,
    trainable_files: Sequence[str],
    workers: int,
    rerun: bool,
    regions: Sequence[str],
) -> tuple[WorkerSpec, dict[str, str]]:
    """The worker's spec and the child's environment for one evaluation in ``tmp``."""
    private = tmp / "tmp"
    child_env = _child_env(directory, env, keep_env, private, checkout, import_roots)
    spec = WorkerSpec(
        key="" if rerun else secrets.token_hex(32),
        output="" if rerun else str(tmp / "result.json"),
        select=asked,
        paths=paths,
        horizon=horizon,
        trainables=[p.replace(os.sep, "/") for p in trainable_files],
        workers=workers,
        candidate=str(directory),
        pythonpath=child_env.pop("PYTHONPATH"),
        basetemp=str(private / "basetemp"),
        sentinel="" if rerun else secrets.token_hex(4),
        junitxml=str(tmp / "junit.xml") if rerun else "",
        source=str(checkout[0]) if checkout else "",
        tree=str(checkout[1]) if checkout else "",
        also=[str(root) for root in import_roots] if checkout else [],
        regions=[p.replace(os.sep, "/") for p in regions],
    )
    child_env["PYTHONPATH"] = _without(spec.pythonpath, str(directory))
    if not child_env["PYTHONPATH"]:
        del child_env["PYTHONPATH"]
    return spec, child_env


def _check_arguments(
    directory: Path,
    nodeids: Sequence[str],
    timeout: float,
    workers: int,
    horizon: int | None,
    sandbox: str,
) -> None:
    if isinstance(nodeids, str):
        raise ValueError("evaluate: nodeids must be a sequence of node ids, not one string")
    if not directory.is_dir():
        raise ValueError(f"evaluate: {directory} is not a directory")
    if not timeout > 0:
        raise ValueError(f"evaluate: timeout must be > 0, not {timeout}")
    if workers < 1:
        raise ValueError(f"evaluate: workers must be >= 1, not {workers}")
    if horizon is not None and horizon < 0:
        raise ValueError(f"evaluate: horizon must be >= 0 or None, not {horizon}")
    if sandbox not in SANDBOX_MODES:
        raise ValueError(f"evaluate: sandbox must be one of {SANDBOX_MODES}, not {sandbox!r}")


def _disables(args: Sequence[str], plugin: str) -> bool:
    """Whether ``args`` disable ``plugin`` (``-p no:xdist`` and its spellings)."""
    pairs = zip(["", *args], args, strict=False)
    off = f"no:{plugin}"
    return any(
        arg in (f"-p{off}", f"--plugin={off}") or (prev in ("-p", "--plugin") and arg == off)
        for prev, arg in pairs
    )


def _test_paths(directory: Path, nodeids: Sequence[str]) -> list[str]:
    """The unique existing test files of ``nodeids`` (the part before the first ``::``)."""
    paths: list[str] = []
    for nodeid in nodeids:
        path = nodeid.split("::", 1)[0]
        if not path or path in paths or not (directory / path).exists():
            continue
        paths.append(path)
    # a path that starts with "-" must not be taken for an option
    return [f"./{p}" if p.startswith("-") else p for p in paths]


def _without(pythonpath: str, entry: str) -> str:
    return os.pathsep.join(p for p in pythonpath.split(os.pathsep) if p and p != entry)


def _child_env(
    directory: Path,
    env: Mapping[str, str] | None,
    keep: Sequence[str],
    private: Path,
    checkout: tuple[Path, Path] | None,
    import_roots: tuple[Path, ...] = (),
) -> dict[str, str]:
    child = _base_env(env, keep)
    rest = _without(child.get("PYTHONPATH", ""), str(directory))
    if checkout is not None:
        for source in (checkout[0], *import_roots):
            rest = _tree_pythonpath(rest, source, checkout[1])
    child["PYTHONPATH"] = os.pathsep.join(p for p in (str(directory), rest) if p)
    for name in ("TMPDIR", "TMP", "TEMP"):
        child[name] = str(private)
    return child


def _base_env(env: Mapping[str, str] | None, keep: Sequence[str]) -> dict[str, str]:
    """Every evaluation's environment before its own paths (PYTHONPATH, TMPDIR)."""
    child = candidate_environment(os.environ, keep)
    if env:
        child.update(env)
    for key in _PYTEST_VARIABLES:
        child.pop(key, None)
    # a candidate file rewritten within the same second with the same size would
    # otherwise be run from a stale .pyc
    child["PYTHONDONTWRITEBYTECODE"] = "1"
    return child


def prewarm(keep_env: Sequence[str] = ()) -> None:
    """Start the zygote for evaluations with ``keep_env`` in the background (where one can
    serve): its imports then overlap the session's tests instead of the first evaluation."""
    base = _base_env(None, keep_env)
    threading.Thread(
        target=warmstart.zygote_for, args=(base,), name="genopt-prewarm", daemon=True
    ).start()


def _tree_pythonpath(pythonpath: str, source: Path, tree: Path) -> str:
    """``pythonpath`` with each absolute entry into ``source`` preceded by its twin in ``tree``.

    A relative entry (``src``) already resolves against the candidate's working
    folder; the checkout's entry stays as a fallback for files the tree lacks.
    """
    entries: list[str] = []
    for entry in pythonpath.split(os.pathsep):
        twin = map_existing(entry, str(source), str(tree)) if os.path.isabs(entry) else None
        entries += [twin, entry] if twin else [entry]
    return os.pathsep.join(dict.fromkeys(e for e in entries if e))


@dataclass(frozen=True)
class _LaunchPlan:
    """What starting one evaluation's pytest needs, built once by :func:`evaluate`."""

    spec: WorkerSpec
    pytest_args: list[str]
    #: the candidate's environment (:func:`_worker_spec`)
    env: dict[str, str]
    #: folders the candidate may write beneath; None: no sandbox
    writable: list[str] | None
    #: RLIMIT_DATA in bytes; None: no cap
    memory: int | None
    timeout: float
    cancel: threading.Event | None
    #: whether to fork pytest from a zygote where one can serve
    warm: bool


@dataclass(frozen=True)
class _Launched:
    """What launching one evaluation's pytest gave."""

    returncode: int
    #: why it was stopped; None: it ended by itself
    stopped: Literal["timeout", "cancelled"] | None
    seconds: float
    #: the tail of its combined stdout/stderr (:data:`OUTPUT_TAIL` characters)
    output: str


def _launch_logged(plan: _LaunchPlan, log_file: Path) -> _Launched:
    """Launch ``plan`` with its combined output written to ``log_file``; wait for it."""
    started = time.monotonic()
    with open(log_file, "wb") as log:
        returncode, stopped = _launch(plan, log)
    seconds = time.monotonic() - started
    return _Launched(returncode, stopped, seconds, _tail(log_file))


def _launch(
    plan: _LaunchPlan, log: IO[bytes]
) -> tuple[int, Literal["timeout", "cancelled"] | None]:
    """Start pytest confined, warm (:mod:`pytest_genopt.warmstart`) where it can; wait for it."""
    spec, env, timeout, cancel = plan.spec, plan.env, plan.timeout, plan.cancel
    zygote = warmstart.zygote_for(env) if plan.warm else None
    # a sitecustomize on PYTHONPATH runs at interpreter start, which only a cold
    # evaluation has, and a copy of pytest there is the one a cold evaluation imports;
    # one in the candidate's tree is not a reason to start it cold
    pythonpath, untrusted = env.get("PYTHONPATH", ""), [spec.candidate, spec.tree]
    if zygote is not None and warmstart.startup_hooks(
        pythonpath, spec.candidate, untrusted, zygote.modules
    ):
        zygote = None
    if zygote is not None:
        worker_r, writer = _worker_pipe(spec)
        launch = _launch_spec(plan, worker_r)
        try:
            return warmstart.run_warm(zygote, launch, log, timeout, _POLL, KILL_GRACE, cancel)
        except warmstart.ZygoteError:
            pass  # nothing ran: start cold
        finally:
            writer.join(timeout=KILL_GRACE)
    worker_r, writer = _worker_pipe(spec)
    launch = _launch_spec(plan, worker_r)
    launch_r, launch_w = os.pipe()
    launcher = [sys.executable, "-I", "-S", "-c", _LAUNCH, _package_parent(), str(launch_r)]
    # written by threads: a spec longer than a pipe's buffer must not block us
    writers = [writer, _write_in_background(launch_w, json.dumps(launch.to_json()))]
    try:
        # the candidate's environment, not ours: a candidate reads /proc/<launcher>/environ
        return _run(launcher, Path(spec.candidate), log, timeout, cancel, (launch_r, worker_r), env)
    finally:
        for each in writers:
            each.join(timeout=KILL_GRACE)


def _package_parent() -> str:
    return str(Path(pytest_genopt.__file__).resolve().parent.parent)


def _worker_pipe(spec: WorkerSpec) -> tuple[int, threading.Thread]:
    """A pipe holding the worker's spec: its read end, and the thread writing it."""
    worker_r, worker_w = os.pipe()
    return worker_r, _write_in_background(worker_w, json.dumps(spec.to_json()))


def _launch_spec(plan: _LaunchPlan, worker_r: int) -> LaunchSpec:
    """What the launcher runs for ``plan``: pytest reading its worker's spec from ``worker_r``."""
    command = [sys.executable, "-c", BOOTSTRAP, str(worker_r), _package_parent()]
    return LaunchSpec(
        command=[*command, "-p", "pytest_genopt.worker", *plan.pytest_args],
        cwd=plan.spec.candidate,
        env=plan.env,
        writable=plan.writable,
        memory=plan.memory,
        parent=os.getpid(),
        pass_fds=[worker_r],
    )


def _write_in_background(fd: int, text: str) -> threading.Thread:
    def write() -> None:
        with contextlib.suppress(OSError), os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8"))

    thread = threading.Thread(target=write, name="genopt-spec-writer", daemon=True)
    thread.start()
    return thread


def _run(
    command: list[str],
    cwd: Path,
    log: IO[bytes],
    timeout: float,
    cancel: threading.Event | None,
    pass_fds: tuple[int, ...],
    env: Mapping[str, str] | None = None,
) -> tuple[int, Literal["timeout", "cancelled"] | None]:
    """Run ``command`` in its own process group, in ``env`` (None: ours); returns (return
    code, why it was stopped)."""
    deadline = time.monotonic() + timeout
    try:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=pass_fds,
            env=env,
        )
    finally:  # the launcher holds them now (or never will)
        for fd in pass_fds:
            os.close(fd)
    stopped: Literal["timeout", "cancelled"] | None = None
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                stopped = "timeout"
                break
            if cancel is not None and cancel.is_set():
                stopped = "cancelled"
                break
            try:
                process.wait(timeout=remaining if cancel is None else min(remaining, _POLL))
                break
            except subprocess.TimeoutExpired:
                continue
        if stopped is not None:
            _signal_group(process, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=KILL_GRACE)
    finally:
        # also on KeyboardInterrupt; the launcher's death takes its namespace along
        _signal_group(process, signal.SIGKILL)
        process.wait()
    return process.returncode, stopped


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    killpg = getattr(os, "killpg", None)
    if killpg is None:  # no process groups (Windows): the process alone
        with contextlib.suppress(OSError):
            process.kill()
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        killpg(process.pid, sig)


def _tail(path: Path, limit: int = OUTPUT_TAIL) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 4 * limit))
            data = fh.read()
    except OSError:
        return ""
    return data.decode("utf-8", "replace")[-limit:]


@dataclass(frozen=True)
class _Result:
    trials: list[Trial]
    collect_errors: list[str]
    shadowed: list[str]
    memory_errors: int
    exitstatus: int
    collected: list[str]
    #: "fail"/"pass" -> the sentinel test's outcome (None: it did not report)
    sentinels: dict[str, str | None]


#: a result file that is there but fails verification
_FORGED: Literal["forged"] = "forged"


def _read_result(path: Path, key: str) -> _Result | Literal["forged"] | None:
    """The worker's authenticated result; "forged" when it fails verification; None if absent."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError):
        return None
    data = verify(key, text)
    if data is None or data.get("worker") != RESULT_VERSION:
        return _FORGED
    try:
        sentinels = data.get("sentinels", {})
        return _Result(
            trials=[Trial.from_json(t) for t in data.get("trials", [])],
            collect_errors=[str(e) for e in data.get("collect_errors", [])],
            shadowed=[str(s) for s in data.get("shadowed", []) if str(s).strip()],
            memory_errors=int(data.get("memory_errors", 0)),
            exitstatus=int(data.get("exitstatus", 0)),
            collected=[str(n) for n in data.get("collected", [])],
            sentinels={str(k): None if v is None else str(v) for k, v in sentinels.items()},
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        return _FORGED


def _status(
    result: _Result | Literal["forged"] | None, launched: _Launched, timeout: float
) -> tuple[EvaluationStatus, str]:
    """What the worker's ``result`` and its launch say happened, and the one-line reason."""
    stopped, output = launched.stopped, launched.output
    if result == _FORGED:
        return "unauthenticated", FORGED_REASON
    if isinstance(result, _Result) and result.shadowed:
        return "shadowed", _clip(result.shadowed[0], 2 * _REASON_LIMIT)
    if stopped == "cancelled":
        return "cancelled", "the evaluation was cancelled"
    if stopped == "timeout":
        return "timeout", f"the evaluation exceeded --genopt-timeout={timeout:g} s and was killed"
    if isinstance(result, _Result) and result.memory_errors:
        return "memory", MEMORY_REASON
    if not isinstance(result, _Result):
        return _no_result_status(launched.returncode, output)
    if result.collect_errors:
        return "collection-error", "collection failed: " + _clip(result.collect_errors[0])
    if result.exitstatus == 3 or (result.exitstatus in (2, 4) and not result.trials):
        line = _error_line(output)
        reason = f"the test process exited with status {result.exitstatus}"
        return "crashed", f"{reason}: {line}" if line else reason
    return "ok", ""


def _integrity(result: _Result, paths: Sequence[str], known: Collection[str] | None) -> str:
    """Why an evaluation's results cannot be the candidate's honest ones, or ""."""
    sentinels = result.sentinels
    if sentinels.get("fail") != "failed" or sentinels.get("pass") != "passed":
        shown = ", ".join(f"must {k}: {v or 'did not run'}" for k, v in sorted(sentinels.items()))
        return f"{PATCHED_REASON} (genopt's sentinel tests: {shown or 'none reported'})"
    if known is None:
        return ""
    files = {p[2:] if p.startswith("./") else p for p in paths}
    expected = {n for n in known if n.split("::", 1)[0] in files}
    collected = set(result.collected)
    extra, missing = sorted(collected - expected), sorted(expected - collected)
    if extra:
        return f"collected tests the start does not have: {_some(extra)}"
    if missing:
        return f"no longer collects tests the start has: {_some(missing)}"
    return ""


def _some(nodeids: Sequence[str], shown: int = 3) -> str:
    more = f" (and {len(nodeids) - shown} more)" if len(nodeids) > shown else ""
    return ", ".join(nodeids[:shown]) + more


def _result_evaluation(
    result: _Result | Literal["forged"] | None,
    asked: list[str],
    paths: list[str],
    known: Collection[str] | None,
    launched: _Launched,
    timeout: float,
) -> Evaluation:
    """The Evaluation the worker's ``result`` gives; "tampered" when its sentinels or the
    node ids it collected say the results are not the candidate's honest ones."""
    trials: dict[str, Trial] = {}
    if isinstance(result, _Result):
        trials = {t.test: t for t in result.trials}
    found = {n: trials.get(n) or _no_report(n) for n in asked}
    status, reason = _status(result, launched, timeout)
    collected = tuple(result.collected) if isinstance(result, _Result) else ()
    if status == "ok" and isinstance(result, _Result):
        violation = _integrity(result, paths, known)
        if violation:
            status, reason = "tampered", violation
    return Evaluation(found, status, reason, launched.seconds, launched.output, collected)


def _rerun_evaluation(
    report: Path, asked: list[str], launched: _Launched, timeout: float
) -> Evaluation:
    """A re-run's Evaluation: its outcomes come from pytest's own junit report."""
    from pytest_genopt.junit import JunitError, read_junit

    status, reason = _status(None, launched, timeout)
    trials: dict[str, Trial] = {}
    if launched.stopped is None:
        try:
            trials = read_junit(report, asked)
            status, reason = "ok", ""
        except JunitError as exc:
            reason = f"the re-run gave no readable junit report ({exc}); {reason}"
    found = {n: trials.get(n) or _no_report(n) for n in asked}
    return Evaluation(found, status, reason, launched.seconds, launched.output)


def _no_result_status(returncode: int, output: str) -> tuple[EvaluationStatus, str]:
    if returncode == SETUP_EXIT and SETUP_FAILED in output:
        line = output[output.rindex(SETUP_FAILED) :].splitlines()[0]
        return "crashed", _clip(line)
    if returncode < 0:
        return "crashed", _SIGNAL_PREFIX + _signal_name(-returncode)
    if "MemoryError" in output:
        return "memory", MEMORY_REASON
    line = _error_line(output)
    if returncode == 4 and "while loading conftest" in output:
        return "collection-error", "collection failed: " + (line or "a conftest.py failed")
    reason = f"the test process exited with status {returncode} before reporting"
    return "crashed", f"{reason}: {line}" if line else reason


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


_PROGRESS = re.compile(r"[.sSxXfFEp]+\s*(\[\s*\d+%\])?")
_DECORATION = re.compile(r"[=_\-\s]*|=+ .* =+")
# pytest's own error lines, most telling first
_ERROR_PATTERNS = tuple(
    re.compile(p)
    for p in (
        r"(?P<message>.*: error: .*)",  # argparse: unrecognized arguments and the like
        r"(?P<message>ERROR: (?!usage:).*)",
        r"INTERNALERROR>\s*(?P<message>\S.*)",
        r"E\s+(?P<message>\S.*)",
        r"(?P<message>Fatal Python error.*)",
    )
)
_CONTEXT_PREFIXES = ("rootdir:", "inifile:", "configfile:", "ERROR: usage:", "Traceback ")


def _error_line(output: str) -> str:
    """pytest's own explanation in ``output``: the most telling line, clipped."""
    lines = [line.rstrip() for line in output.splitlines() if line.strip()]
    for pattern in _ERROR_PATTERNS:
        for line in reversed(lines):
            match = pattern.fullmatch(line)
            if match:
                return _clip(match.group("message"))
    for line in reversed(lines):
        text = line.strip()
        if (
            _PROGRESS.fullmatch(text)
            or _DECORATION.fullmatch(text)
            or text.startswith(_CONTEXT_PREFIXES)
        ):
            continue
        return _clip(text)
    return ""


def _clip(text: str, limit: int = _REASON_LIMIT) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _no_report(nodeid: str) -> Trial:
    return Trial(test=nodeid, outcome="error", message=NO_REPORT)
