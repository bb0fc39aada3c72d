"""The run's settings: one frozen object, validated once at configure time.

Every bad value raises :class:`pytest.UsageError` with one line naming the
option, the value and what is accepted.
"""

from __future__ import annotations

import datetime
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_genopt.acceptance import ACCEPTED, BUILTIN, STRICT, policy_named

if TYPE_CHECKING:
    from collections.abc import Callable

    from pytest_genopt.acceptance import AcceptancePolicy

DEFAULT_BACKEND = "anthropic"
DEFAULT_HORIZON = 10
DEFAULT_BATCH_SIZE = 4
DEFAULT_TIMEOUT = 300.0
#: most proposals per iteration: each candidate costs one backend call, one
#: worktree and one concurrent test process, so past this a typo (100000) would
#: spend money and thrash the machine rather than search wider
MAX_CANDIDATES = 16

#: backend schemes built into the package; plugins add others through
#: ``pytest_genopt_make_backend``
BUILTIN_SCHEMES = ("anthropic", "python", "exchange", "replay", "search")

_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
_PYTHON_SPEC = re.compile(rf"{_IDENTIFIER}(\.{_IDENTIFIER})*:{_IDENTIFIER}")
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/-]*")
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class BackendSpec:
    """A parsed ``--genopt-backend`` value: ``scheme`` and what follows its colon."""

    scheme: str
    argument: str = ""

    def __str__(self) -> str:
        return f"{self.scheme}:{self.argument}" if self.argument else self.scheme


@dataclass(frozen=True)
class Settings:
    """Everything a run needs to know from the command line and ini file."""

    iterations: int
    backend: BackendSpec
    model: str | None
    horizon: int | None  # None: "all"
    batch_size: int
    candidates: int
    seed: int
    branch: str | None
    start: str | None
    only: tuple[str, ...]
    timeout: float
    workers: int
    budget_usd: float | None
    max_tokens: int | None
    record: Path | None
    report: Path | None
    evidence: Path | None
    resume: str | None
    push: str | None
    allow_regressions: bool
    trainable_files: tuple[str, ...]
    run_id: str
    accept: AcceptancePolicy = STRICT
    #: how candidates are confined: "auto", "required" or "off" (--genopt-sandbox)
    sandbox: str = "auto"
    #: each evaluation's memory cap in bytes; None: off (--genopt-memory)
    memory: int | None = 4 * 2**30
    #: how each evaluation's pytest starts: "warm" or "cold" (--genopt-start-up)
    start_up: str = "warm"
    #: globs of variable names kept in candidates' environment (ini genopt_candidate_env)
    candidate_env: tuple[str, ...] = ()
    push_untracked: bool = False
    #: evaluate the holdout tests after every N-th iteration; None: at the start and end only
    holdout_every: int | None = None
    #: folders besides the checkout whose imports candidates get from their own tree
    #: (--genopt-import-root; absolute, resolved)
    import_roots: tuple[str, ...] = ()
    #: the user's goal in words, put in the prompt's stable part (--genopt-instructions)
    instructions: str = ""

    @property
    def active(self) -> bool:
        """Whether the plugin does anything at all in this session."""
        return self.iterations > 0

    @property
    def horizon_label(self) -> str:
        return "all" if self.horizon is None else str(self.horizon)


class _Reader:
    """Reads one option from the command line, falling back to its ini twin."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def raw(self, dest: str, ini: str | None) -> tuple[Any, str]:
        flag = "--" + dest.replace("_", "-")
        value = self.config.getoption(dest, None)
        if value is not None:
            return value, flag
        if ini is not None:
            ini_value = self.config.getini(ini)
            if ini_value not in (None, "", []):
                return ini_value, f"{ini} (ini)"
        return None, flag

    def parse(
        self,
        dest: str,
        ini: str | None,
        convert: Callable[[str], Any],
        accepted: str,
        default: Any,
    ) -> Any:
        value, where = self.raw(dest, ini)
        if value is None:
            return default
        text = str(value).strip()
        try:
            return convert(text)
        except (ValueError, TypeError):
            raise pytest.UsageError(
                f"{where}: invalid value {text!r}; expected {accepted}"
            ) from None


def _integer(minimum: int) -> Callable[[str], int]:
    def convert(text: str) -> int:
        number = int(text, 10)
        if number < minimum:
            raise ValueError(text)
        return number

    return convert


def _bounded(minimum: int, maximum: int) -> Callable[[str], int]:
    def convert(text: str) -> int:
        number = _integer(minimum)(text)
        if number > maximum:
            raise ValueError(text)
        return number

    return convert


def _number(minimum: float, *, strict: bool) -> Callable[[str], float]:
    def convert(text: str) -> float:
        number = float(text)
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(text)
        if number < minimum or (strict and number == minimum):
            raise ValueError(text)
        return number

    return convert


def _horizon(text: str) -> int | None:
    if text.lower() == "all":
        return None
    return _integer(0)(text)


def _workers(text: str) -> int:
    if text.lower() == "auto":
        return max(1, os.cpu_count() or 1)
    return _integer(1)(text)


def parse_backend(text: str) -> BackendSpec:
    """Parse a backend spec; raises ValueError for a malformed built-in spec.

    Unknown schemes parse fine here: whether a plugin provides them is decided
    by the caller.
    """
    scheme, _, argument = text.partition(":")
    scheme = scheme.strip()
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", scheme):
        raise ValueError(text)
    if scheme == "anthropic" and argument and not _MODEL_NAME.fullmatch(argument):
        raise ValueError(text)
    if scheme == "python" and not _PYTHON_SPEC.fullmatch(argument):
        raise ValueError(text)
    if scheme in ("exchange", "replay") and not argument:
        raise ValueError(text)
    if scheme == "search" and argument:
        raise ValueError(text)
    return BackendSpec(scheme, argument)


BACKEND_ACCEPTED = (
    "anthropic, anthropic:MODEL, python:MODULE:FUNCTION, exchange:DIR, replay:PATH, "
    "search, or a scheme a plugin provides"
)


#: names git gives meaning to: a branch called so would be ambiguous
_SPECIAL_REFS = re.compile(r"(HEAD|[A-Z_]+_HEAD)")
_FULL_SHA = re.compile(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")


def _branch(text: str) -> str:
    # the rules of git check-ref-format that a branch name can break, plus names
    # git would read as something else (HEAD, a sha, a full ref)
    bad = (
        not text
        or _SPECIAL_REFS.fullmatch(text) is not None
        or _FULL_SHA.fullmatch(text) is not None
        or text.startswith(("-", "/", ".", "refs/"))
        or text.endswith(("/", ".", ".lock"))
        or ".." in text
        or "//" in text
        or "@{" in text
        or text == "@"
        or "/." in text
        or any(c in text for c in " ~^:?*[\\\t\n")
        or any(ord(c) < 32 or ord(c) == 127 for c in text)
    )
    if bad or not _git_accepts_branch(text):
        raise ValueError(text)
    return text


def _git_accepts_branch(name: str) -> bool:
    """What ``git check-ref-format --branch`` says; True when git is not there to ask."""
    import subprocess

    try:
        done = subprocess.run(
            ["git", "check-ref-format", "--branch", name],
            capture_output=True,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return True  # the workspace reports a missing git in its own words
    return done.returncode == 0


def _run_id(text: str) -> str:
    if not _RUN_ID.fullmatch(text):
        raise ValueError(text)
    return text


def _nonempty(text: str) -> str:
    if not text or text != text.strip():
        raise ValueError(text)
    return text


def new_run_id() -> str:
    """A fresh, sortable run id: UTC timestamp plus a random suffix."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def read_settings(config: pytest.Config) -> Settings:
    """Validate every genopt option once; raises pytest.UsageError on the first bad value."""
    read = _Reader(config)
    values = {
        field: read.parse(f"genopt_{field}", f"genopt_{field}" if ini else None, *rest)
        for field, (ini, *rest) in _plain_options(config.invocation_params.dir).items()
    }
    if values["model"] is None:
        values["model"] = _model_from_environment()
    accept_name = values.pop("accept")
    accept = BUILTIN.get(accept_name, STRICT)
    if values["iterations"] > 0:
        # only a run judges: passive sessions and candidate evaluations never ask plugins
        accept = policy_named(config, accept_name, read.raw("genopt_accept", "genopt_accept")[1])
    return Settings(
        **values,
        only=_only(config),
        allow_regressions=bool(config.getoption("genopt_allow_regressions", False)),
        trainable_files=tuple(str(g) for g in config.getini("genopt_trainable_files") or ()),
        run_id=new_run_id(),
        accept=accept,
        **_isolation(read, values["iterations"]),
        push_untracked=bool(config.getoption("genopt_push_untracked", False)),
        import_roots=_import_roots(config),
        instructions=_instructions(read, config),
    )


def _plain_options(invocation_dir: Path) -> dict[str, tuple[bool, Callable[[str], Any], str, Any]]:
    """Settings field -> (has an ini twin, converter, what is accepted, default) of the
    options read as they are; ``--genopt-FIELD`` (ini ``genopt_FIELD``), in this order."""

    def path(text: str) -> Path:
        if not text:
            raise ValueError(text)
        return (invocation_dir / text).resolve()

    seed = int.from_bytes(secrets.token_bytes(4), "big") % 10**6
    branch = "a valid git branch name other than HEAD, *_HEAD, a full sha, refs/... or -..."
    return {
        "iterations": (True, _integer(0), "an integer >= 0", 0),
        "backend": (True, parse_backend, BACKEND_ACCEPTED, BackendSpec(DEFAULT_BACKEND)),
        "model": (True, _model, "a model name such as claude-sonnet-5-5", None),
        "horizon": (True, _horizon, "an integer >= 0 or 'all'", DEFAULT_HORIZON),
        "batch_size": (True, _integer(1), "an integer >= 1", DEFAULT_BATCH_SIZE),
        "candidates": (
            True,
            _bounded(1, MAX_CANDIDATES),
            f"an integer from 1 to {MAX_CANDIDATES}",
            1,
        ),
        "seed": (True, _integer(0), "an integer >= 0", seed),
        "branch": (True, _branch, branch, None),
        "start": (False, _nonempty, "a git revision", None),
        "timeout": (True, _number(0, strict=True), "a number of seconds > 0", DEFAULT_TIMEOUT),
        "workers": (True, _workers, "an integer >= 1 or 'auto'", 1),
        "budget_usd": (True, _number(0, strict=False), "a number of dollars >= 0", None),
        "max_tokens": (True, _integer(1), "an integer >= 1", None),
        "record": (False, path, "a file path", None),
        "report": (False, path, "a file path", None),
        "evidence": (False, path, "a file path", None),
        "resume": (False, _run_id, "a run id from .genopt/runs or 'last'", None),
        "push": (False, _nonempty, "a git remote name", None),
        "holdout_every": (True, _integer(1), "an integer >= 1", None),
        "accept": (True, _policy_name, ACCEPTED, "strict"),
    }


def _model_from_environment() -> str | None:
    """GENOPT_MODEL, the model when no option names one."""
    raw = os.environ.get("GENOPT_MODEL")
    if not raw:
        return None
    try:
        return _model(raw.strip())
    except ValueError:
        raise pytest.UsageError(
            f"GENOPT_MODEL: invalid value {os.environ['GENOPT_MODEL']!r}; "
            "expected a model name such as claude-sonnet-5-5"
        ) from None


def _only(config: pytest.Config) -> tuple[str, ...]:
    """--genopt-only's parameter ids and globs (repeatable; no ini twin)."""
    only: list[str] = []
    for pattern in config.getoption("genopt_only", None) or []:
        if not str(pattern).strip():
            raise pytest.UsageError(
                f"--genopt-only: invalid value {pattern!r}; expected a parameter id or glob"
            )
        only.append(str(pattern).strip())
    return tuple(only)


#: the longest goal accepted, in characters: a goal, not a second prompt
MAX_INSTRUCTIONS = 20_000


def _instructions(read: _Reader, config: pytest.Config) -> str:
    """--genopt-instructions (ini genopt_instructions): TEXT, or @FILE read as UTF-8
    (relative to where pytest was started, or for the ini value to the ini file)."""
    value, where = read.raw("genopt_instructions", "genopt_instructions")
    if value is None:
        return ""
    text = str(value).strip()
    if text.startswith("@"):
        base = config.invocation_params.dir
        if where.endswith("(ini)") and config.inipath is not None:
            base = config.inipath.parent
        path = base / Path(text[1:]).expanduser()
        try:
            text = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise pytest.UsageError(f"{where}: cannot read {path}: {reason}") from None
    if not text:
        raise pytest.UsageError(f"{where}: invalid value {value!r}; expected a goal or @FILE")
    if len(text) > MAX_INSTRUCTIONS:
        raise pytest.UsageError(
            f"{where}: the goal has {len(text):,} characters; at most "
            f"{MAX_INSTRUCTIONS:,} are accepted"
        )
    return text


def _import_roots(config: pytest.Config) -> tuple[str, ...]:
    """--genopt-import-root values: existing folders, resolved."""
    roots: list[str] = []
    for raw in config.getoption("genopt_import_root", None) or []:
        path = Path(str(raw)).expanduser()
        if not str(raw).strip() or not path.is_dir():
            raise pytest.UsageError(
                f"--genopt-import-root: invalid value {raw!r}; expected an existing folder"
            )
        roots.append(str(path.resolve()))
    return tuple(dict.fromkeys(roots))


_SIZE = re.compile(r"(\d+)\s*([KMGT]?)I?B?", re.IGNORECASE)
_MIN_MEMORY = 64 * 2**20


def _memory(text: str) -> int | None:
    if text.lower() == "off":
        return None
    match = _SIZE.fullmatch(text)
    if not match:
        raise ValueError(text)
    size: int = int(match.group(1)) * 1024 ** "_KMGT".index(match.group(2).upper() or "_")
    if size < _MIN_MEMORY:
        raise ValueError(text)
    return size


def _sandbox(text: str) -> str:
    if text not in ("auto", "required", "off"):
        raise ValueError(text)
    return text


def _start_up(text: str) -> str:
    if text not in ("warm", "cold"):
        raise ValueError(text)
    return text


def _isolation(read: _Reader, iterations: int) -> dict[str, Any]:
    """--genopt-sandbox, --genopt-memory, --genopt-start-up and ini genopt_candidate_env."""
    sandbox = read.parse(
        "genopt_sandbox", "genopt_sandbox", _sandbox, "auto, required or off", "auto"
    )
    if sandbox == "required" and iterations > 0:
        from pytest_genopt.sandbox import unavailable_reason

        reason = unavailable_reason()
        if reason:
            raise pytest.UsageError(f"--genopt-sandbox=required: {reason}")
    memory = read.parse(
        "genopt_memory",
        "genopt_memory",
        _memory,
        "a size of at least 64M such as 512M or 4G, or 'off'",
        4 * 2**30,
    )
    keep = tuple(str(g) for g in read.config.getini("genopt_candidate_env") or ())
    start_up = read.parse("genopt_start_up", "genopt_start_up", _start_up, "warm or cold", "warm")
    return {"sandbox": sandbox, "memory": memory, "candidate_env": keep, "start_up": start_up}


def _model(text: str) -> str:
    if not _MODEL_NAME.fullmatch(text):
        raise ValueError(text)
    return text


def _policy_name(text: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", text):
        raise ValueError(text)
    return text


def resumed_settings(settings: Settings, saved: Any, run_id: str) -> Settings:
    """``settings`` with the seed, batch size, horizon and branch of a journal's ``saved``.

    They go through the command line's own checks; a value the command line
    would refuse raises pytest.UsageError naming the run and the setting.
    """
    import dataclasses

    if not isinstance(saved, dict):
        raise pytest.UsageError(f"--genopt-resume={run_id}: the journal's settings are not a map")
    checks: dict[str, tuple[Callable[[str], Any], str]] = {
        "seed": (_integer(0), "an integer >= 0"),
        "batch_size": (_integer(1), "an integer >= 1"),
        "horizon": (_horizon, "an integer >= 0 or 'all'"),
        "branch": (_branch, "a valid git branch name"),
    }
    values: dict[str, Any] = {}
    for name, (convert, accepted) in checks.items():
        raw = saved.get(name)
        text = "all" if name == "horizon" and raw is None else str(raw)
        try:
            if (raw is None and name != "horizon") or isinstance(raw, bool):
                raise ValueError(text)
            values[name] = convert(text)
        except (ValueError, TypeError):
            raise pytest.UsageError(
                f"--genopt-resume={run_id}: the journal's {name} is {raw!r}; expected {accepted}"
            ) from None
    return dataclasses.replace(settings, run_id=run_id, start=None, **values)
