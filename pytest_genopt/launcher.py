"""The candidate's launcher: the trusted process between the controller and pytest.

:func:`pytest_genopt.evaluate.evaluate` starts ``python -I -c`` running
:func:`main` with one inherited pipe holding a :class:`LaunchSpec`.  The
launcher then, in this order:

1. dies when the controller dies (``PR_SET_PDEATHSIG`` = SIGKILL);
2. enters a new PID namespace (plus a user namespace when not root) and
   forks its first child, which becomes pid 1 there; when pid 1 exits, the
   kernel kills every process left in the namespace -- grandchildren in
   their own session included -- and waits for them.  Where namespaces are
   unavailable it becomes a child subreaper instead and kills every
   descendant it finds once pytest is done;
3. caps the memory (``RLIMIT_DATA``, inherited by every process it starts);
4. restricts writes with Landlock (:mod:`pytest_genopt.sandbox`); in a PID namespace
   pid 1 does, after entering a mount namespace and mounting a ``/proc`` of its PID
   namespace (Landlock forbids mounting), so that no process outside the evaluation
   can be read through ``/proc``;
5. executes the pytest command, and exits as pytest did.

A setup failure is one line on stderr starting with :data:`SETUP_FAILED`
and the exit status :data:`SETUP_EXIT`.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import signal
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "SETUP_EXIT",
    "SETUP_FAILED",
    "LaunchSpec",
    "confine",
    "main",
    "private_proc",
    "process_isolation",
]

#: the launcher spec's format version
SPEC_VERSION = 1
SETUP_FAILED = "genopt launcher: "
SETUP_EXIT = 121

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWPID = 0x20000000
_CLONE_NEWNS = 0x00020000
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 0x2, 0x4, 0x8
_MS_REC, _MS_PRIVATE = 0x4000, 0x40000
#: rounds of "kill every descendant" before giving up on a fork bomb
_KILL_ROUNDS = 200


@dataclass(frozen=True)
class LaunchSpec:
    """What the launcher runs and how it confines it (plain data, through a pipe)."""

    command: list[str]
    cwd: str
    env: dict[str, str]
    #: folders the candidate may write beneath; None: no sandbox
    writable: list[str] | None
    #: RLIMIT_DATA in bytes; None: no cap
    memory: int | None
    #: the controller's pid: the launcher stops at once if its parent is another
    parent: int
    #: descriptors to hand on to pytest (the worker's channel)
    pass_fds: list[int]

    def to_json(self) -> dict[str, Any]:
        return {"version": SPEC_VERSION, **self.__dict__}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LaunchSpec:
        if data.get("version") != SPEC_VERSION:
            raise ValueError(f"launcher spec version {data.get('version')!r}")
        fields = {k: v for k, v in data.items() if k != "version"}
        return cls(**fields)


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _fail(message: str) -> NoReturn:
    sys.stderr.write(SETUP_FAILED + message + "\n")
    sys.stderr.flush()
    os._exit(SETUP_EXIT)


def main(argv: list[str]) -> NoReturn:
    """Run the launcher; ``argv`` is ``[spec fd]``."""
    with os.fdopen(int(argv[0]), "rb") as fh:
        spec = LaunchSpec.from_json(json.loads(fh.read()))
    if not sys.platform.startswith("linux"):
        _exec(spec)  # no prctl, namespaces or Landlock: the process group is all we have
    confine(spec, _exec)


def confine(spec: LaunchSpec, start: Callable[[LaunchSpec], NoReturn]) -> NoReturn:
    """Steps 1-5 of the module docstring; ``start`` becomes the pytest command in its process.

    A cold launcher's ``start`` executes the command; a warm one's
    (:mod:`pytest_genopt.warmstart`) runs it in the forked process itself.
    """
    libc = _libc()
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        _fail("prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != spec.parent:  # the controller died before the line above
        os._exit(SETUP_EXIT)
    in_namespace = _unshare(libc) == ""
    if spec.memory is not None:
        try:
            resource.setrlimit(resource.RLIMIT_DATA, (spec.memory, spec.memory))
        except (ValueError, OSError) as exc:
            _fail(f"cannot cap memory: {exc}")
    if in_namespace:  # pid 1 mounts its /proc, then restricts itself (mount needs it first)
        status = _run_as_init(libc, spec, start)
    else:
        _restrict(spec)
        status = _run_as_subreaper(libc, spec, start)
    _exit_like(status)


def _restrict(spec: LaunchSpec) -> None:
    """Step 4: Landlock (fails the launch with one line when the kernel refuses)."""
    if spec.writable is not None:
        from pytest_genopt.sandbox import restrict_writes

        try:
            restrict_writes(spec.writable)
        except OSError as exc:
            _fail(f"cannot set up the Landlock sandbox: {exc}")


def _private_proc(libc: ctypes.CDLL) -> bool:
    """In pid 1: a mount namespace whose /proc shows this PID namespace only, so that no
    process outside it (the controller, your shell) can be read through /proc.
    Best effort: False where the kernel or the container refuses."""
    if libc.unshare(_CLONE_NEWNS) != 0:
        return False
    private = _MS_REC | _MS_PRIVATE  # nothing mounted here reaches the host
    if libc.mount(None, b"/", None, private, None) != 0:
        return False
    flags = _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
    return bool(libc.mount(b"proc", b"/proc", b"proc", flags, None) == 0)


def _unshare(libc: ctypes.CDLL) -> str:
    """Enter new PID (and, unprivileged, user) namespaces: "" or why not."""
    uid, gid = os.geteuid(), os.getegid()
    flags = _CLONE_NEWPID if uid == 0 else _CLONE_NEWPID | _CLONE_NEWUSER
    if libc.unshare(flags) != 0:
        return os.strerror(ctypes.get_errno())
    if flags & _CLONE_NEWUSER:
        # the same ids inside as outside, so files keep their owners
        try:
            for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"),
                               ("gid_map", f"{gid} {gid} 1")):  # fmt: skip
                with open(f"/proc/self/{name}", "w") as fh:
                    fh.write(text)
        except OSError as exc:
            _fail(f"cannot map ids in the user namespace: {exc}")
    return ""


def _exec(spec: LaunchSpec) -> NoReturn:
    """In a forked child: become the pytest command."""
    try:
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        for fd in spec.pass_fds:
            os.set_inheritable(fd, True)
        os.chdir(spec.cwd)
        os.execve(spec.command[0], spec.command, spec.env)
    except OSError as exc:
        _fail(f"cannot start {spec.command[0]}: {exc}")


def _run_as_init(
    libc: ctypes.CDLL, spec: LaunchSpec, start: Callable[[LaunchSpec], NoReturn]
) -> int:
    """Fork pid 1 of the new namespace; it runs pytest and reaps; returns pytest's status."""
    alive_r, alive_w = os.pipe()
    status_r, status_w = os.pipe()
    init = os.fork()
    if init == 0:
        os.close(alive_w)
        os.close(status_r)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        os.set_blocking(alive_r, False)
        with contextlib.suppress(BlockingIOError):
            if os.read(alive_r, 1) == b"":  # the launcher died before the line above
                os._exit(SETUP_EXIT)
        _private_proc(libc)
        _restrict(spec)  # on failure the launcher sees no status: a setup failure, below
        pytest_pid = os.fork()
        if pytest_pid == 0:
            start(spec)
        status = _reap_until(pytest_pid)
        os.write(status_w, status.to_bytes(4, "little", signed=True))
        os._exit(0)  # the kernel now kills what is left in the namespace
    os.close(alive_r)
    os.close(status_w)
    for fd in spec.pass_fds:
        os.close(fd)
    with os.fdopen(status_r, "rb") as fh:
        data = fh.read()
    _, init_status = os.waitpid(init, 0)
    os.close(alive_w)
    if len(data) != 4 and os.WIFEXITED(init_status):  # pid 1's setup failed (one line)
        return init_status
    if len(data) != 4:
        return 0x7F00 | signal.SIGKILL  # pid 1 itself was killed: as if pytest was
    return int.from_bytes(data, "little", signed=True)


def _reap_until(pid: int) -> int:
    """Reap children (orphans come to us) until ``pid`` exits; return its wait status."""
    while True:
        try:
            reaped, status = os.wait()
        except ChildProcessError:
            return 0x7F00 | signal.SIGKILL
        if reaped == pid:
            return status


def _run_as_subreaper(
    libc: ctypes.CDLL, spec: LaunchSpec, start: Callable[[LaunchSpec], NoReturn]
) -> int:
    """Without namespaces: adopt orphans, run pytest, then kill every descendant."""
    libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    pytest_pid = os.fork()
    if pytest_pid == 0:
        start(spec)

    def stop(signum: int, frame: object) -> None:
        kill_descendants(os.getpid())
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    status = _reap_until(pytest_pid)
    kill_descendants(os.getpid())
    return status


def kill_descendants(root: int) -> None:
    """SIGKILL every descendant of ``root`` (a subreaper) and reap its children."""
    for _ in range(_KILL_ROUNDS):
        found = _descendants(root)
        if not found:
            return
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        while True:
            try:
                reaped, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if reaped == 0:
                break


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().rpartition(b")")[2].split()
        except OSError:
            continue
        if fields[0] not in (b"Z", b"X"):
            children.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _exit_like(status: int) -> NoReturn:
    """Exit the way a process with wait status ``status`` did."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        with contextlib.suppress(OSError, ValueError):
            signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)


def private_proc() -> bool:
    """Whether an evaluation's pid 1 can give its namespace a /proc of its own here."""
    if not sys.platform.startswith("linux"):
        return False
    pid = os.fork()
    if pid == 0:  # probe in throwaway children: unshare and mount cannot be undone
        libc = _libc()
        if _unshare(libc) != "":
            os._exit(1)
        init = os.fork()
        if init == 0:
            os._exit(0 if _private_proc(libc) else 1)
        _, status = os.waitpid(init, 0)
        os._exit(os.waitstatus_to_exitcode(status))
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def process_isolation() -> str:
    """What keeps a candidate's processes in check here: "pid namespace" or "subreaper"."""
    if not sys.platform.startswith("linux"):
        return "process group"
    libc = _libc()
    uid = os.geteuid()
    flags = _CLONE_NEWPID if uid == 0 else _CLONE_NEWPID | _CLONE_NEWUSER
    pid = os.fork()
    if pid == 0:  # probe in a throwaway child: unshare cannot be undone
        os._exit(0 if libc.unshare(flags) == 0 else 1)
    _, status = os.waitpid(pid, 0)
    return "pid namespace" if os.waitstatus_to_exitcode(status) == 0 else "subreaper"


if __name__ == "__main__":
    main(sys.argv[1:])
