"""A small ctypes binding to Linux's Landlock LSM: write only beneath given folders.

Landlock (Linux >= 5.13) lets an unprivileged process restrict itself and
every process it starts afterwards; nothing can lift the restriction.  We
handle only the *write-like* access rights, so reading stays allowed
everywhere (candidates must import the interpreter, site-packages and the
user's data), while creating, writing, truncating, renaming or removing
anything is refused outside the allowed folders and a few devices.

The rights handled depend on the kernel's ABI version: REFER from ABI 2,
TRUNCATE from ABI 3.  IOCTL_DEV (ABI 5) is deliberately not handled:
terminal ioctls on inherited descriptors must keep working.
"""

from __future__ import annotations

import ctypes
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["abi_version", "restrict_writes", "unavailable_reason"]

# syscall numbers are the same on every architecture (the unified table, >= 5.13)
_SYS_CREATE_RULESET = 444
_SYS_ADD_RULE = 445
_SYS_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

# LANDLOCK_ACCESS_FS_* (include/uapi/linux/landlock.h)
_WRITE_FILE = 1 << 1
_REMOVE_DIR = 1 << 4
_REMOVE_FILE = 1 << 5
_MAKE_CHAR = 1 << 6
_MAKE_DIR = 1 << 7
_MAKE_REG = 1 << 8
_MAKE_SOCK = 1 << 9
_MAKE_FIFO = 1 << 10
_MAKE_BLOCK = 1 << 11
_MAKE_SYM = 1 << 12
_REFER = 1 << 13  # ABI 2
_TRUNCATE = 1 << 14  # ABI 3
#: rights that may be granted on a file (not a folder) rule
_FILE_RIGHTS = _WRITE_FILE | _TRUNCATE

#: devices a candidate may write to (discarding output is not an escape)
WRITABLE_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/tty")
#: shared-memory folder: multiprocessing's semaphores are created there
WRITABLE_SHARED = ("/dev/shm",)


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def abi_version() -> int:
    """The kernel's Landlock ABI version; 0 when Landlock is absent or disabled."""
    if os.uname().sysname != "Linux":
        return 0
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    version = libc.syscall(
        ctypes.c_long(_SYS_CREATE_RULESET), None, ctypes.c_size_t(0),
        ctypes.c_uint32(_CREATE_RULESET_VERSION),
    )  # fmt: skip
    return max(0, int(version))


def unavailable_reason() -> str:
    """Why Landlock cannot be used here (one line), or "" when it can."""
    if os.uname().sysname != "Linux":
        return f"Landlock needs Linux (this is {os.uname().sysname})"
    try:
        version = abi_version()
    except (OSError, AttributeError) as exc:  # no libc to call through
        return f"cannot call the kernel: {exc}"
    if version < 1:
        errno = ctypes.get_errno()
        why = os.strerror(errno) if errno else "not supported"
        return f"Landlock is not available in this kernel ({why})"
    return ""


def handled_rights(abi: int) -> int:
    """The write-like access rights the ruleset handles for ABI version ``abi``."""
    rights = (
        _WRITE_FILE | _REMOVE_DIR | _REMOVE_FILE | _MAKE_CHAR | _MAKE_DIR | _MAKE_REG
        | _MAKE_SOCK | _MAKE_FIFO | _MAKE_BLOCK | _MAKE_SYM
    )  # fmt: skip
    if abi >= 2:
        rights |= _REFER
    if abi >= 3:
        rights |= _TRUNCATE
    return rights


def restrict_writes(writable: Sequence[str]) -> int:
    """Restrict this process and its future children to writing beneath ``writable``.

    Devices in :data:`WRITABLE_DEVICES` and :data:`WRITABLE_SHARED` that
    exist are allowed too.  Returns the ABI version used; raises OSError
    when the kernel refuses (the process is then unchanged).
    """
    abi = abi_version()
    if abi < 1:
        raise OSError(unavailable_reason() or "Landlock is not available")
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    handled = handled_rights(abi)
    attr = _RulesetAttr(handled)
    ruleset = libc.syscall(
        ctypes.c_long(_SYS_CREATE_RULESET), ctypes.byref(attr),
        ctypes.c_size_t(ctypes.sizeof(attr)), ctypes.c_uint32(0),
    )  # fmt: skip
    if ruleset < 0:
        raise _errno_error("landlock_create_ruleset")
    try:
        for path in [*writable, *WRITABLE_SHARED]:
            _allow(libc, ruleset, path, handled)
        for device in WRITABLE_DEVICES:
            _allow(libc, ruleset, device, handled & _FILE_RIGHTS)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise _errno_error("prctl(PR_SET_NO_NEW_PRIVS)")
        restricted = libc.syscall(
            ctypes.c_long(_SYS_RESTRICT_SELF), ctypes.c_int(ruleset), ctypes.c_uint32(0)
        )
        if restricted != 0:
            raise _errno_error("landlock_restrict_self")
    finally:
        os.close(ruleset)
    return abi


def _allow(libc: ctypes.CDLL, ruleset: int, path: str, rights: int) -> None:
    """Grant ``rights`` beneath ``path``; a path that does not exist is skipped."""
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if not os.path.isdir(path):
            rights &= _FILE_RIGHTS
        rule = _PathBeneathAttr(rights, fd)
        added = libc.syscall(
            ctypes.c_long(_SYS_ADD_RULE), ctypes.c_int(ruleset),
            ctypes.c_int(_RULE_PATH_BENEATH), ctypes.byref(rule), ctypes.c_uint32(0),
        )  # fmt: skip
        if added != 0:
            raise _errno_error(f"landlock_add_rule({path})")
    finally:
        os.close(fd)


def _errno_error(what: str) -> OSError:
    errno = ctypes.get_errno()
    return OSError(errno, f"{what}: {os.strerror(errno)}")
