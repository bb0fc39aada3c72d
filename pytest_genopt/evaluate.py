"""Evaluate a candidate: run pytest in a subprocess on its worktree and read back Trials.

The subprocess is ``python -m pytest`` in the candidate's rootdir with the
session's own arguments (:func:`session_args`), restricted to the node ids
asked, with the small worker plugin (:mod:`pytest_genopt.worker`) writing
the Trials as JSON.  The candidate's directory comes first on ``sys.path``
and the worker checks that every trainable module is imported from it.  A
wall timeout kills the whole process group.  A broken candidate never makes
:func:`evaluate` raise: it is an :class:`Evaluation` with a status and a
one-line reason.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from pytest_genopt.evidence import Trial
from pytest_genopt.worker import ENV_HORIZON, ENV_OUTPUT, ENV_SELECT, ENV_TRAINABLES

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Mapping, Sequence

    import pytest

__all__ = [
    "NO_REPORT",
    "Evaluation",
    "EvaluationStatus",
    "evaluate",
    "filter_args",
    "session_args",
    "xdist_available",
]

EvaluationStatus = Literal["ok", "timeout", "crashed", "collection-error", "shadowed", "cancelled"]

#: the message of the error Trial made for a node id that produced no report
NO_REPORT = "the test did not report (crashed or deselected)"

#: characters of the subprocess's combined output kept in :attr:`Evaluation.output`
OUTPUT_TAIL = 3000
#: seconds between SIGTERM and SIGKILL when an evaluation times out
KILL_GRACE = 2.0
_REASON_LIMIT = 200
#: how often a running evaluation checks its cancel event, in seconds
_POLL = 0.1

# Options that would break an evaluation, taking no value.  ``--cache-show``
# takes an optional value, only ever attached with ``=``.
_DROP_FLAGS = frozenset(
    {
        "-x",
        "--exitfirst",
        "--lf",
        "--last-failed",
        "--ff",
        "--failed-first",
        "--nf",
        "--new-first",
        "--sw",
        "--stepwise",
        "--sw-skip",
        "--stepwise-skip",
        "--sw-reset",
        "--stepwise-reset",
        "--pdb",
        "--trace",
        "--co",
        "--collect-only",
        "--collectonly",
        "--cache-clear",
        "--cache-show",
        "--setup-only",
        "--setuponly",
        "--setup-plan",
        "--setupplan",
        "--fixtures",
        "--funcargs",
        "--fixtures-per-test",
        "--markers",
        "-h",
        "--help",
        "-V",
        "--version",
        "-f",  # xdist --looponfail: would never return
        "--looponfail",
        "-d",  # xdist's shortcut for --dist=load
    }
)
# ... and taking a value (attached with "=" or as the next argument).
_DROP_VALUED = frozenset(
    {
        "--maxfail",
        "-n",
        "--numprocesses",
        "--dist",
        "--tx",
        "--maxprocesses",
        "--basetemp",
        "--junitxml",
        "--junit-xml",
        "--result-log",
        "--report-log",
        "--rootdir",  # the evaluation passes the candidate's own
        "--pastebin",
    }
)
_OVERRIDE_INI = frozenset({"-o", "--override-ini"})
_GENOPT_FLAG_OPTIONS = frozenset({"--genopt-allow-regressions"})

# Which options take a value, when the session's own parser cannot tell
# (PYTEST_ADDOPTS, or a pytest whose parser internals differ): pytest's and
# xdist's.  True: takes a value; False: a flag.
_STATIC_OPTIONS: dict[str, bool] = {
    **dict.fromkeys(
        [
            "-k",
            "-m",
            "-p",
            "-c",
            "-o",
            "-W",
            "-r",
            "-n",
            "--assert",
            "--basetemp",
            "--capture",
            "--code-highlight",
            "--color",
            "--confcutdir",
            "--config-file",
            "--deselect",
            "--dist",
            "--doctest-glob",
            "--doctest-report",
            "--durations",
            "--durations-min",
            "--ignore",
            "--ignore-glob",
            "--import-mode",
            "--junit-prefix",
            "--junitprefix",
            "--junit-xml",
            "--junitxml",
            "--last-failed-no-failures",
            "--lfnf",
            "--log-auto-indent",
            "--log-cli-date-format",
            "--log-cli-format",
            "--log-cli-level",
            "--log-date-format",
            "--log-disable",
            "--log-file",
            "--log-file-date-format",
            "--log-file-format",
            "--log-file-level",
            "--log-file-mode",
            "--log-format",
            "--log-level",
            "--max-worker-restart",
            "--maxfail",
            "--maxprocesses",
            "--maxschedchunk",
            "--numprocesses",
            "--override-ini",
            "--pastebin",
            "--pdbcls",
            "--px",
            "--pythonwarnings",
            "--rootdir",
            "--rsyncdir",
            "--rsyncignore",
            "--show-capture",
            "--tb",
            "--testrunuid",
            "--tx",
            "--verbosity",
            "--report-log",
            "--result-log",
        ],
        True,
    ),
    **dict.fromkeys(["-x", "-s", "-v", "-q", "-l", "-h", "-V", "-f", "-d"], False),
}

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

    @property
    def ok(self) -> bool:
        """Whether the trials are the candidate's real results."""
        return self.status == "ok"


def xdist_available() -> bool:
    """Whether pytest-xdist can be used for ``workers > 1`` (checked without importing it)."""
    try:
        return importlib.util.find_spec("xdist") is not None
    except (ImportError, ValueError):
        return False


# ---------------------------------------------------------------------------- arguments


def session_args(config: pytest.Config) -> list[str]:
    """The session's own command-line arguments, fit for evaluating a candidate.

    Left out: every ``--genopt-*`` option (and ``-o genopt_*=...``), the
    positional path and node id arguments (the evaluation passes its own), and
    the options that would break an evaluation (``-x``, ``--maxfail``,
    ``--lf``/``--ff``/``--nf``, ``--sw``, ``-n``/``--dist`` (workers come from
    ``--genopt-workers``), ``--basetemp``, ``--pdb``, ``--trace``,
    ``--collect-only``, ``--junitxml``, ``--cache-clear``, ``--rootdir``, ...).
    When the ini file's ``addopts`` hold such options, an ``-o addopts=...``
    with the filtered value is appended, since the candidate's worktree has
    the same ini file.
    """
    invocation_dir = config.invocation_params.dir
    given = {str(arg) for arg in config.args}
    options = _known_options(config)

    def positional(token: str) -> bool:
        return token in given or _is_path(token, invocation_dir)

    args = filter_args(
        [os.fspath(a) for a in config.invocation_params.args],
        options=options,
        positional=positional,
    )
    addopts = [str(a) for a in config.getini("addopts") or ()]
    if addopts:
        kept = filter_args(
            addopts,
            options=options,
            positional=lambda t: _is_path(t, config.rootpath) or _is_path(t, invocation_dir),
        )
        if kept != addopts:
            args += ["-o", "addopts=" + shlex.join(kept)]
    return args


def filter_args(
    args: Sequence[str],
    *,
    options: Mapping[str, bool] | None = None,
    positional: Callable[[str], bool] | None = None,
) -> list[str]:
    """``args`` without genopt options, positional arguments and evaluation breakers.

    ``options`` maps option strings to whether they take a value (pytest's and
    xdist's are known); ``positional(token)`` says whether a bare token is a
    path or node id to drop (default: it contains ``::`` or names an existing
    path relative to the working directory).  Everything after ``--`` is
    positional.  Combined short flags are split as argparse does: ``-xvs``
    becomes ``-vs``; ``-n2`` and ``-n 2`` both go.
    """
    takes = {**_STATIC_OPTIONS, **(options or {})}
    is_positional = positional or (lambda t: _is_path(t, Path.cwd()))
    tokens = list(args)
    out: list[str] = []
    i = 0

    def next_value() -> str | None:
        nonlocal i
        if i < len(tokens):
            i += 1
            return tokens[i - 1]
        return None

    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token == "--":
            break
        if token.startswith("--"):
            name, eq, attached = token.partition("=")
            if name.startswith("--genopt-"):
                if not eq and name not in _GENOPT_FLAG_OPTIONS:
                    next_value()
                continue
            if name in _DROP_FLAGS:
                continue
            value = None if eq or not takes.get(name, False) else next_value()
            if name in _DROP_VALUED:
                continue
            if name in _OVERRIDE_INI and _overrides_genopt(attached if eq else value):
                continue
            out.append(token)
            if value is not None:
                out.append(value)
        elif token.startswith("-") and len(token) > 1:
            out.extend(_filter_cluster(token, takes, next_value))
        elif not is_positional(token):
            out.append(token)
    return out


def _filter_cluster(
    token: str, takes: Mapping[str, bool], next_value: Callable[[], str | None]
) -> list[str]:
    """Filter one short-option token such as ``-xvs``, ``-n2``, ``-p name``, ``-k expr``."""
    chars = token[1:]
    kept = ""
    for j, char in enumerate(chars):
        option = "-" + char
        kind = takes.get(option)
        if kind is None:  # unknown to us: keep the rest as it is
            kept += chars[j:]
            break
        if not kind:
            if option not in _DROP_FLAGS:
                kept += char
            continue
        attached = chars[j + 1 :]
        value = attached or next_value()
        if option in _DROP_VALUED or (option in _OVERRIDE_INI and _overrides_genopt(value)):
            break
        if attached:
            return ["-" + kept + char + attached]
        out = ["-" + kept + char]
        return out if value is None else [*out, value]
    return ["-" + kept] if kept else []


def _overrides_genopt(value: str | None) -> bool:
    return value is not None and value.strip().startswith("genopt_")


def _is_path(token: str, base: Path) -> bool:
    if "::" in token:
        return True
    try:
        return bool(token) and (base / token).exists()
    except (OSError, ValueError):
        return False


def _known_options(config: pytest.Config) -> dict[str, bool]:
    """Option string -> takes a value, from the session's argument parser (best effort)."""
    parser: Any = getattr(config, "_parser", None)
    argparser: Any = getattr(parser, "optparser", None)
    if argparser is None and hasattr(parser, "_getparser"):  # pytest < 9
        try:
            argparser = parser._getparser()
        except Exception:
            argparser = None
    known: dict[str, bool] = {}
    for action in getattr(argparser, "_actions", ()):
        nargs = getattr(action, "nargs", None)
        for option in getattr(action, "option_strings", ()):
            # nargs "?" takes a value only when attached with "=" as far as we can tell
            known[str(option)] = nargs not in (0, "?")
    return known


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
) -> Evaluation:
    """Run the tests ``nodeids`` of the candidate whose rootdir is ``directory``.

    ``args`` are extra pytest arguments (typically :func:`session_args`).
    ``workers`` > 1 runs the tests with pytest-xdist when it is installed
    (see :func:`xdist_available`) and ``args`` do not block it, else
    serially.  ``horizon`` is the credit horizon (None: all).
    ``trainable_files`` are the rootdir-relative ``.py`` files holding
    ``@trainable`` functions, checked for shadowing.  ``env`` is added to
    the inherited environment.  Setting ``cancel`` kills a running
    evaluation (status "cancelled") within about 0.1 s.

    Never raises for a broken candidate (the status says what happened);
    raises ValueError for bad arguments.
    """
    directory = Path(directory)
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
    directory = directory.resolve()
    asked = list(dict.fromkeys(nodeids))
    paths = _test_paths(directory, asked)
    if not paths:
        return Evaluation({n: _no_report(n) for n in asked}, "ok", "", 0.0, "")

    with tempfile.TemporaryDirectory(prefix="genopt-eval-") as tmp_name:
        tmp = Path(tmp_name)
        output_file = tmp / "result.json"
        select_file = tmp / "select.txt"
        select_file.write_text("".join(n + "\n" for n in asked), encoding="utf-8")
        trainables_file = tmp / "trainables.txt"
        trainables_file.write_text(
            "".join(p.replace(os.sep, "/") + "\n" for p in trainable_files), encoding="utf-8"
        )
        child_env = _child_env(directory, env)
        child_env[ENV_OUTPUT] = str(output_file)
        child_env[ENV_SELECT] = str(select_file)
        child_env[ENV_HORIZON] = "all" if horizon is None else str(horizon)
        child_env[ENV_TRAINABLES] = str(trainables_file)

        command = [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "pytest_genopt.worker",
            "-p",
            "no:cacheprovider",
            f"--rootdir={directory}",
            *args,
            # an ini file with genopt_iterations must not start a run in the candidate
            "-o",
            "genopt_iterations=0",
        ]
        if workers > 1 and xdist_available() and not _blocks_xdist(args):
            command += ["-p", "xdist", "-n", str(workers)]
        command += ["-q", *paths]

        log_file = tmp / "output.log"
        started = time.monotonic()
        with open(log_file, "wb") as log:
            returncode, stopped = _run(command, directory, child_env, log, timeout, cancel)
        seconds = time.monotonic() - started
        output = _tail(log_file)
        result = _read_result(output_file)
        shadow_lines = _shadow_lines(result, tmp, output_file.name)

    trials: dict[str, Trial] = {}
    if result is not None:
        trials = {t.test: t for t in result.trials}
    evaluation_trials = {n: trials.get(n) or _no_report(n) for n in asked}
    status, reason = _status(result, shadow_lines, stopped, returncode, output, timeout)
    return Evaluation(evaluation_trials, status, reason, seconds, output)


def _blocks_xdist(args: Sequence[str]) -> bool:
    """Whether ``args`` disable pytest-xdist (``-p no:xdist``): then the run is serial."""
    pairs = zip(["", *args], args, strict=False)
    return any(
        arg in ("-pno:xdist", "--plugin=no:xdist") or (prev == "-p" and arg == "no:xdist")
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


def _child_env(directory: Path, env: Mapping[str, str] | None) -> dict[str, str]:
    child = dict(os.environ)
    if env:
        child.update(env)
    # set by an enclosing pytest (e.g. when the controller itself runs under xdist)
    for key in (
        "PYTEST_CURRENT_TEST",
        "PYTEST_XDIST_WORKER",
        "PYTEST_XDIST_WORKER_COUNT",
        "PYTEST_XDIST_TESTRUNUID",
    ):
        child.pop(key, None)
    rest = [p for p in child.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(directory)]
    child["PYTHONPATH"] = os.pathsep.join([str(directory), *rest])
    # a candidate file rewritten within the same second with the same size would
    # otherwise be run from a stale .pyc
    child["PYTHONDONTWRITEBYTECODE"] = "1"
    addopts = child.get("PYTEST_ADDOPTS", "")
    if addopts.strip():
        try:
            tokens = shlex.split(addopts)
        except ValueError:
            tokens = None  # pytest will complain about it in the candidate as in the session
        if tokens is not None:
            kept = filter_args(
                tokens, positional=lambda t: _is_path(t, directory) or _is_path(t, Path.cwd())
            )
            if kept:
                child["PYTEST_ADDOPTS"] = shlex.join(kept)
            else:
                del child["PYTEST_ADDOPTS"]
    return child


def _run(
    command: list[str],
    cwd: Path,
    env: dict[str, str],
    log: IO[bytes],
    timeout: float,
    cancel: threading.Event | None,
) -> tuple[int, Literal["timeout", "cancelled"] | None]:
    """Run ``command`` in its own process group; returns (return code, why it was stopped)."""
    deadline = time.monotonic() + timeout
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
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
        # also on KeyboardInterrupt; and children the tests left behind go too
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
    exitstatus: int


def _read_result(path: Path) -> _Result | None:
    """The worker's result file, or None when it is missing or not what the worker writes."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("worker") != 1:
            return None
        return _Result(
            trials=[Trial.from_json(t) for t in data.get("trials", [])],
            collect_errors=[str(e) for e in data.get("collect_errors", [])],
            shadowed=[str(s) for s in data.get("shadowed", [])],
            exitstatus=int(data.get("exitstatus", 0)),
        )
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def _shadow_lines(result: _Result | None, tmp: Path, output_name: str) -> list[str]:
    lines = list(result.shadowed) if result is not None else []
    for shadow_file in sorted(tmp.glob(output_name + ".shadow.*")):
        with contextlib.suppress(OSError):
            lines += shadow_file.read_text(encoding="utf-8", errors="replace").splitlines()
    return [line for line in dict.fromkeys(lines) if line.strip()]


def _status(
    result: _Result | None,
    shadowed: list[str],
    stopped: Literal["timeout", "cancelled"] | None,
    returncode: int,
    output: str,
    timeout: float,
) -> tuple[EvaluationStatus, str]:
    if shadowed:
        return "shadowed", _clip(shadowed[0], 2 * _REASON_LIMIT)
    if stopped == "cancelled":
        return "cancelled", "the evaluation was cancelled"
    if stopped == "timeout":
        return "timeout", f"the evaluation exceeded --genopt-timeout={timeout:g} s and was killed"
    if result is None:
        if returncode < 0:
            return "crashed", _SIGNAL_PREFIX + _signal_name(-returncode)
        line = _error_line(output)
        if returncode == 4 and "while loading conftest" in output:
            return "collection-error", "collection failed: " + (line or "a conftest.py failed")
        reason = f"the test process exited with status {returncode} before reporting"
        return "crashed", f"{reason}: {line}" if line else reason
    if result.collect_errors:
        return "collection-error", "collection failed: " + _clip(result.collect_errors[0])
    if result.exitstatus == 3 or (result.exitstatus in (2, 4) and not result.trials):
        line = _error_line(output)
        reason = f"the test process exited with status {result.exitstatus}"
        return "crashed", f"{reason}: {line}" if line else reason
    return "ok", ""


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
