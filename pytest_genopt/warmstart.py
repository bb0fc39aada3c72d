"""Warm start-up: evaluations forked from a process that has already imported pytest.

A fresh interpreter spends about a third of a small evaluation importing pytest
and genopt's worker.  A *zygote* is started once per candidate environment, as
``python -c`` with the environment a cold evaluation's pytest gets minus the
per-evaluation variables (:data:`VOLATILE`), so its interpreter start is that
pytest's.  It imports trusted modules only, pytest and genopt's worker: no
third-party plugin, conftest or module of a candidate's tree, which each
evaluation imports from its own ``sys.path`` as a cold one does.

For each evaluation the controller sends the launcher spec over a Unix socket
with descriptors attached (SCM_RIGHTS): the output log, a *report* pipe and the
descriptors the worker inherits.  The zygote forks a launcher, which runs
:func:`pytest_genopt.launcher.confine` as a cold launcher does (PID namespace,
memory cap, Landlock), except for its last step: instead of executing the pytest
command, the forked process restores what a fresh ``python -c`` would have
(environment, working folder, ``sys.path`` from PYTHONPATH the way ``site``
builds it, ``sys.argv``, signal dispositions, import caches, ``sys.modules``
without the modules the zygote imported only for itself) and runs it.  What
stays shared is the hash seed: evaluations forked from one zygote hash alike.

The launcher is the report pipe's only writer: its end of file is the launcher's
end.  The controller then kills the launcher's process group and asks the zygote
to reap it (so its pid is not reused before), which answers the wait status.
The zygote exits when the controller's end of the socket closes; its launchers
die with it (``PR_SET_PDEATHSIG``).  Where the zygote cannot serve (not Linux, a
command that is not ``python -c``, coverage started at interpreter start, a
zygote that failed), the evaluation starts cold.

Messages, each a 4-byte length and a JSON object::

    zygote -> controller, once:  {"ready": pid} | {"error": "why"}
    {"launch": LaunchSpec, "process": {"umask": U, "limits": {"RLIMIT_X": [soft, hard]}}},
        descriptors [log, report, *pass_fds]                       ->  {"pid": P}
    {"reap": P}                                                    ->  {"status": S}
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import fcntl
import gc
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, NoReturn

from pytest_genopt.launcher import SETUP_EXIT, SETUP_FAILED, LaunchSpec, confine

if TYPE_CHECKING:
    from collections.abc import Collection, Iterator, Mapping, Sequence

__all__ = [
    "VOLATILE",
    "Zygote",
    "close_all",
    "run_warm",
    "serve",
    "startup_hooks",
    "startup_path",
    "zygote_for",
]

#: variables that differ between evaluations (or between the session and the run: the
#: task model's gateway) and are read after the interpreter starts
VOLATILE = frozenset(
    {
        "PYTHONPATH",
        "TMPDIR",
        "TMP",
        "TEMP",
        "GENOPT_TASK_MODEL_GATEWAY",  # taskmodel.GATEWAY_ENV
        "GENOPT_TASK_MODEL_GATEWAY_KEY",  # taskmodel.GATEWAY_KEY_ENV
    }
)
#: variables that make an interpreter run code at start (coverage's subprocess hooks):
#: a zygote would share that code's state with every evaluation
COLD_IF_SET = ("COVERAGE_PROCESS_START", "COV_CORE_SOURCE", "COV_CORE_DATAFILE")
#: modules ``site`` imports at interpreter start: one on PYTHONPATH would run in a cold
#: evaluation and not in the zygote's forks (their interpreter started without PYTHONPATH)
STARTUP_HOOKS = ("sitecustomize", "usercustomize")
#: zygotes kept at once (one per candidate environment); the oldest is closed once the
#: evaluations it is running end
KEPT = 2
#: seconds a zygote may take to import pytest and answer
READY_TIMEOUT = 60.0
_LENGTH = 4
_MAX_FDS = 16
#: descriptors are moved at or above this number before they take their places
_HIGH_FD = 100
#: the zygote's ``python -c``: it imports what a cold evaluation's BOOTSTRAP imports, the
#: way BOOTSTRAP does (the package's parent first on ``sys.path``), and notes which modules
#: that makes; modules the zygote imports only for itself are dropped in each fork
_SERVE = (
    "import sys; root = sys.argv[1]; sys.path.insert(0, root); "
    "import pytest_genopt.worker; wanted = set(sys.modules); "
    "from pytest_genopt import warmstart; sys.path.remove(root); "
    "warmstart.serve(int(sys.argv[2]), wanted)"
)


class ZygoteError(Exception):
    """The zygote did not answer as it must (it died, or refused)."""


def _send(sock: socket.socket, message: dict[str, Any], fds: Sequence[int] = ()) -> None:
    data = json.dumps(message).encode("utf-8")
    head = len(data).to_bytes(_LENGTH, "little")
    socket.send_fds(sock, [head], list(fds)) if fds else sock.sendall(head)
    sock.sendall(data)


def _exactly(sock: socket.socket, size: int) -> bytes:
    chunks: list[bytes] = []
    while size:
        chunk = sock.recv(size)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _receive(sock: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """One message and the descriptors that came with it; EOFError at the end."""
    head, fds, _flags, _addr = socket.recv_fds(sock, _LENGTH, _MAX_FDS)
    if not head:
        raise EOFError
    head += _exactly(sock, _LENGTH - len(head))
    message = json.loads(_exactly(sock, int.from_bytes(head, "little")))
    if not isinstance(message, dict):
        raise ValueError("a message is a JSON object")
    return message, fds


# --- the controller's side -------------------------------------------------------


class Zygote:
    """A started zygote: launches and reaps evaluations (thread-safe)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        package_parent = str(Path(__file__).resolve().parent.parent)
        self._sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._lock = threading.Lock()
        with theirs:
            self._process = subprocess.Popen(
                [sys.executable, "-c", _SERVE, package_parent, str(theirs.fileno())],
                env=dict(env),
                cwd="/",
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # the terminal's Ctrl-C is the controller's to handle
                pass_fds=[theirs.fileno()],
            )
        self.pid = self._process.pid
        self._running = 0  # evaluations launched and not yet reaped
        self._retired = False  # close once the last of them is reaped
        self._count = threading.Lock()
        self._sock.settimeout(READY_TIMEOUT)
        try:
            answer = self._answer()
        except (OSError, ZygoteError):
            self.close()
            raise
        self._sock.settimeout(None)
        if "ready" not in answer:
            self.close()
            raise ZygoteError(str(answer.get("error", answer)))
        #: top-level modules it imported as a cold evaluation's BOOTSTRAP does: their files
        self.modules: dict[str, str] = dict(answer.get("modules", {}))

    def _answer(self) -> dict[str, Any]:
        try:
            return _receive(self._sock)[0]
        except (EOFError, ValueError) as exc:
            raise ZygoteError("the zygote ended") from exc

    def launch(self, spec: LaunchSpec, fds: Sequence[int]) -> int:
        """Fork a launcher for ``spec`` with ``fds`` (log, report, *spec.pass_fds); its pid."""
        message = {"launch": spec.to_json(), "process": _process_state()}
        with self._lock:
            _send(self._sock, message, fds)
            answer = self._answer()
        if "pid" not in answer:
            raise ZygoteError(str(answer.get("error", answer)))
        return int(answer["pid"])

    def reap(self, pid: int) -> int:
        """Wait for the launcher ``pid`` (already ended or killed); its wait status."""
        with self._lock:
            _send(self._sock, {"reap": pid})
            return int(self._answer()["status"])

    def retire(self) -> None:
        """Close once no evaluation it launched is running (closing kills them)."""
        with self._count:
            self._retired = True
            idle = self._running == 0
        if idle:
            self.close()

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Count an evaluation as running on this zygote while the block runs."""
        with self._count:
            self._running += 1
        try:
            yield
        finally:
            with self._count:
                self._running -= 1
                done = self._retired and self._running == 0
            if done:
                self.close()

    def close(self) -> None:
        """End the zygote (its launchers die with it)."""
        with contextlib.suppress(OSError):
            self._sock.close()
        with contextlib.suppress(OSError):
            self._process.kill()
        self._process.wait()


_zygotes: OrderedDict[tuple[tuple[str, str], ...], Zygote | None] = OrderedDict()
_registry = threading.Lock()


def zygote_for(env: Mapping[str, str]) -> Zygote | None:
    """The zygote serving evaluations with environment ``env``, started on first use.

    None where none can serve: not Linux, a variable in :data:`COLD_IF_SET`, or a
    zygote that failed to start for this environment before.
    """
    if not sys.platform.startswith("linux") or any(name in env for name in COLD_IF_SET):
        return None
    base = {k: v for k, v in env.items() if k not in VOLATILE}
    key = tuple(sorted(base.items()))
    with _registry:
        if key in _zygotes:
            _zygotes.move_to_end(key)
            return _zygotes[key]
        if not _zygotes:
            atexit.register(close_all)
        try:
            zygote: Zygote | None = Zygote(base)
        except (OSError, ZygoteError):
            zygote = None
        _zygotes[key] = zygote
        while len(_zygotes) > KEPT:
            _, old = _zygotes.popitem(last=False)
            if old is not None:  # not under an evaluation it is running
                old.retire()
        return zygote


def _forget(zygote: Zygote) -> None:
    with _registry:
        for key, known in list(_zygotes.items()):
            if known is zygote:
                del _zygotes[key]
    zygote.close()


def close_all() -> None:
    """End every zygote (registered to run at exit)."""
    with _registry:
        zygotes = [z for z in _zygotes.values() if z is not None]
        _zygotes.clear()
    for zygote in zygotes:
        zygote.close()


def run_warm(
    zygote: Zygote,
    spec: LaunchSpec,
    log: IO[bytes],
    timeout: float,
    poll: float,
    grace: float,
    cancel: threading.Event | None,
) -> tuple[int, Literal["timeout", "cancelled"] | None]:
    """Run ``spec`` forked from ``zygote``; (return code as Popen's, why it was stopped).

    Raises ZygoteError when the zygote could not launch it (nothing ran).
    """
    with zygote.running():  # an evicted zygote closes once this ends
        report_r, report_w = os.pipe()
        try:
            pid = zygote.launch(spec, [log.fileno(), report_w, *spec.pass_fds])
        except (OSError, ZygoteError) as exc:
            os.close(report_r)
            _forget(zygote)
            raise ZygoteError(str(exc)) from exc
        finally:
            os.close(report_w)
            for fd in spec.pass_fds:
                os.close(fd)
        stopped: Literal["timeout", "cancelled"] | None = None
        try:
            stopped = _wait_end(report_r, timeout, poll, cancel)
            if stopped is not None:
                _kill_group(pid, signal.SIGTERM)
                _wait_end(report_r, grace, poll, None)
        finally:
            _kill_group(pid, signal.SIGKILL)
            os.close(report_r)
            try:
                status = zygote.reap(pid)
            except (OSError, ZygoteError, KeyError, ValueError):
                _forget(zygote)
                status = signal.SIGKILL  # as if it was killed: its zygote died with it
        return os.waitstatus_to_exitcode(status), stopped


def _wait_end(
    fd: int, timeout: float, poll: float, cancel: threading.Event | None
) -> Literal["timeout", "cancelled"] | None:
    """Read ``fd`` to its end (the launcher's end); or say why not within ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return "timeout"
        if cancel is not None and cancel.is_set():
            return "cancelled"
        readable, _, _ = select.select([fd], [], [], min(remaining, poll))
        if readable and os.read(fd, 4096) == b"":
            return None


def _kill_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


# --- the zygote's side -----------------------------------------------------------


class _Become(BaseException):
    """Raised in the forked pytest process: unwind to :func:`serve` and run the command."""

    def __init__(self, spec: LaunchSpec) -> None:
        super().__init__()
        self.spec = spec


def serve(fd: int, wanted: Collection[str] = ()) -> None:
    """The zygote's main: import, say ready, then launch and reap until the socket ends.

    ``wanted`` are the modules a cold evaluation has imported when the candidate's
    tree comes on ``sys.path`` (empty: all the zygote has).
    """
    sock = socket.socket(fileno=fd)
    if "coverage" in sys.modules:
        _send(sock, {"error": "coverage started with the interpreter"})
        return
    import pytest  # noqa: F401 - what every evaluation imports first

    import pytest_genopt.worker  # noqa: F401

    # PYTHONPATH is unset here; "" (python -c) comes first unless PYTHONSAFEPATH is set
    base = sys.path[0 if _safe_path() else 1 :]
    tops = {name.partition(".")[0] for name in wanted or sys.modules}
    me = os.getpid()
    files = {t: str(getattr(sys.modules.get(t), "__file__", None) or "") for t in tops}
    _send(sock, {"ready": me, "modules": files})
    # what every evaluation inherits is never garbage: the collector of each forked
    # pytest skips it (its collections, pytest's gc.collect() at exit) and leaves its
    # pages shared rather than copied on write
    gc.freeze()
    try:
        _serve(sock, me)
        return
    except _Become as become:
        spec = become.spec
    _run_command(spec, base, tops)  # out of the except block: no exception chains onto _Become


def _serve(sock: socket.socket, me: int) -> None:
    while True:
        try:
            message, fds = _receive(sock)
        except (EOFError, OSError, ValueError):
            return
        if "reap" in message:
            try:
                _, status = os.waitpid(int(message["reap"]), 0)
            except ChildProcessError as exc:
                _send(sock, {"error": str(exc)})
            else:
                _send(sock, {"status": status})
            continue
        spec = LaunchSpec.from_json(message["launch"])
        pid = os.fork()
        if pid == 0:
            _launcher(sock, dataclasses.replace(spec, parent=me), fds, message.get("process"))
        for received in fds:
            os.close(received)
        with contextlib.suppress(OSError):  # the child does the same: no race with killpg
            os.setpgid(pid, pid)
        _send(sock, {"pid": pid})


def _launcher(
    sock: socket.socket, spec: LaunchSpec, fds: list[int], state: dict[str, Any] | None
) -> NoReturn:
    """In the forked launcher: take the controller's umask and limits and the descriptors'
    places, then confine as a cold one."""
    try:
        sock.close()
        os.setpgid(0, 0)
        log, report, *passed = fds
        devnull = os.open(os.devnull, os.O_RDWR)  # as subprocess.DEVNULL
        os.dup2(devnull, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        high = max([_HIGH_FD, *spec.pass_fds]) + 1  # above every place to take
        moved = [fcntl.fcntl(f, fcntl.F_DUPFD_CLOEXEC, high) for f in [report, *passed]]
        for f in {devnull, log, report, *passed} - {0, 1, 2}:
            os.close(f)
        for high, target in zip(moved[1:], spec.pass_fds, strict=True):
            os.dup2(high, target)
            os.close(high)
        os.chdir(spec.cwd)
        _take_process_state(state or {})  # after the moves: a low RLIMIT_NOFILE holds
        confine(spec, _become)
    except _Become:
        raise
    except BaseException as exc:  # a launcher never returns to the loop
        with contextlib.suppress(OSError):
            os.write(2, f"{SETUP_FAILED}warm launch: {exc}\n".encode())
        os._exit(SETUP_EXIT)


def _process_state() -> dict[str, Any]:
    """What a cold launcher inherits from the controller at launch, not at the zygote's
    start: the umask and the resource limits (either may have changed since)."""
    import resource

    limits = {
        name: list(resource.getrlimit(getattr(resource, name)))
        for name in dir(resource)
        if name.startswith("RLIMIT_")
    }
    state: dict[str, Any] = {"limits": limits}
    # Linux >= 4.7; os.umask would race with our other threads
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("Umask:"):
                state["umask"] = int(line.split()[1], 8)
    return state


def _take_process_state(state: Mapping[str, Any]) -> None:
    import resource

    if "umask" in state:
        os.umask(int(state["umask"]))
    for name, (soft, hard) in dict(state.get("limits", {})).items():
        number = getattr(resource, str(name), None)
        if isinstance(number, int):
            with contextlib.suppress(ValueError, OSError):  # one we could not raise
                resource.setrlimit(number, (int(soft), int(hard)))


def _become(spec: LaunchSpec) -> NoReturn:
    """In the forked pytest process: close what an exec would (the launcher's report
    pipe, pid 1's status pipe, ...), then unwind to :func:`serve`."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd not in spec.pass_fds:
            with contextlib.suppress(OSError):  # the listing's own descriptor is gone
                if fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC:
                    os.close(fd)
    raise _Become(spec)


def _run_command(spec: LaunchSpec, base: list[str], tops: Collection[str]) -> None:
    """Be ``python -c CODE ARGS`` of ``spec.command`` in this forked process.

    Modules outside the packages ``tops`` (what a cold evaluation has imported) were
    the zygote's own: they are dropped, else one would hide a module of the same
    name in the candidate's tree (its ``resource.py``), which a cold one imports.
    """
    import importlib
    import tempfile

    # as a fresh interpreter has them
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.chdir(spec.cwd)
    os.environ.clear()
    os.environ.update(spec.env)
    first = [] if _safe_path() else [""]
    sys.path[:] = [*first, *startup_path(spec.env.get("PYTHONPATH", ""), spec.cwd, base)]
    sys.dont_write_bytecode = bool(spec.env.get("PYTHONDONTWRITEBYTECODE"))
    sys.argv = ["-c", *spec.command[3:]]
    sys.orig_argv = list(spec.command)
    tempfile.tempdir = None
    for name in [n for n in sys.modules if n.partition(".")[0] not in tops]:
        del sys.modules[name]
    importlib.invalidate_caches()
    namespace = sys.modules["__main__"].__dict__
    for name in [n for n in namespace if not n.startswith("__")]:
        del namespace[name]
    exec(compile(spec.command[2], "<string>", "exec"), namespace)


def _safe_path() -> bool:
    """Whether this interpreter puts no script folder first (-P, PYTHONSAFEPATH; 3.11+)."""
    return bool(getattr(sys.flags, "safe_path", False))


def startup_path(pythonpath: str, cwd: str, base: Sequence[str]) -> list[str]:
    """``sys.path`` after ``""`` as ``site`` builds it: PYTHONPATH's entries, then ``base``.

    Entries are made absolute against ``cwd`` (an empty one is ``cwd``) and
    each path is kept once, at its first place, as ``site.removeduppaths`` does.
    """
    entries = [os.path.normpath(os.path.join(cwd, e)) for e in pythonpath.split(os.pathsep)]
    if not pythonpath:
        entries = []
    return list(dict.fromkeys([*entries, *base]))


def startup_hooks(
    pythonpath: str,
    cwd: str,
    untrusted: Sequence[str] = (),
    modules: Mapping[str, str] | None = None,
) -> list[str]:
    """The :data:`STARTUP_HOOKS`, and ``modules`` (a zygote's: name -> its file) in other
    files, found in PYTHONPATH's entries, skipping those beneath ``untrusted`` folders (a
    candidate's tree: what is there must not run before the worker's key is read, warm
    or cold).

    An evaluation whose PYTHONPATH holds one starts cold: a cold interpreter runs that
    hook, or imports that copy of a module the zygote took from elsewhere (a pytest or
    pluggy of another environment).
    """
    import importlib.machinery

    modules = modules or {}
    roots = [os.path.normpath(os.path.join(cwd, u)) for u in untrusted if u]
    names = [
        name
        for name in dict.fromkeys([*STARTUP_HOOKS, *modules])
        if name not in sys.builtin_module_names
        and importlib.machinery.FrozenImporter.find_spec(name) is None
    ]
    found: list[str] = []
    for entry in startup_path(pythonpath, cwd, ()):
        if any(entry == r or entry.startswith(r.rstrip(os.sep) + os.sep) for r in roots):
            continue
        for name in names:
            hook = importlib.machinery.PathFinder.find_spec(name, [entry])
            if hook is None or hook.origin is None:  # a namespace portion loses to a module
                continue
            origin = hook.origin
            if name in STARTUP_HOOKS or not _same_file(origin, modules.get(name, "")):
                found.append(origin)
    return found


def _same_file(one: str, other: str) -> bool:
    try:
        return os.path.samefile(one, other)
    except (OSError, ValueError):
        return False
