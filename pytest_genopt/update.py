"""Assemble the Request of one update: which parameters, which evidence, what history."""

from __future__ import annotations

import fnmatch
import re
from collections import Counter
from typing import TYPE_CHECKING

from pytest_genopt import prompt
from pytest_genopt.evidence import ceiling, function_id, improvable, objective, parameter_id
from pytest_genopt.protocol import HistoryEntry, Request, RequestSettings

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from pytest_genopt.config import Settings
    from pytest_genopt.evidence import MinibatchSampler, Trial
    from pytest_genopt.protocol import ParameterView
    from pytest_genopt.trainables import Parameter

#: attempts shown in a request's history (the most recent ones)
HISTORY_LENGTH = 8
#: characters of read-only context shown with each function parameter
CONTEXT_LIMIT = 2500
#: lines of the objective section: its heading and one line per group of tests
OBJECTIVE_LINES = 40
#: characters of parameter ids listed per group of tests
IDS_CHARACTERS = 60


def matches(parameter_id: str, patterns: Iterable[str]) -> bool:
    """Whether an id matches one of ``patterns`` (exact ids or fnmatch globs)."""
    return any(p == parameter_id or fnmatch.fnmatchcase(parameter_id, p) for p in patterns)


def editable(parameters: Sequence[Parameter], only: Sequence[str]) -> list[Parameter]:
    """The parameters the optimizer may edit under ``--genopt-only``."""
    if not only:
        return list(parameters)
    return [p for p in parameters if matches(p.id, only)]


def linked_parameters(trial: Trial, parameters: Sequence[Parameter]) -> list[Parameter]:
    """The parameters a trial gives evidence for.

    Its marker's ``trainables=`` and ``files=``, plus every trainable it called;
    all parameters when it names and calls none.
    """
    wanted = set(trial.called) | set(trial.files)
    chosen = [p for p in parameters if p.id in wanted or matches(p.id, trial.linked)]
    if not chosen and not trial.linked and not trial.called and not trial.files:
        return list(parameters)
    return chosen


def describe_objective(trials: Sequence[Trial], batch: Sequence[Trial] = ()) -> str:
    """The objective in words with its current value, then what is left to improve.

    A heading line (the objective and its value on the non-holdout trials),
    then every failing or below-best test grouped by test function, one line
    per group with its outcomes and values, the tests of ``batch`` marked.
    At most :data:`OBJECTIVE_LINES` lines: the groups left out are counted.
    """
    counted = [t for t in trials if t.counted and not t.holdout]
    value = objective(counted)
    passed = sum(t.outcome == "passed" for t in counted)
    current = "n/a" if value is None else f"{value:.4f}"
    measuring = any(t.factor is not None for t in counted)
    heading = (
        f"maximize the mean value of {len(counted)} tests, where a test's value is the "
        "score it reports through genopt.score() or else 1 if it passes and 0 if it "
        + (
            "fails, times how many times as good as at the start its measured objectives "
            "are (genopt.measure: 2 is twice as good, no ceiling)"
            if measuring
            else "fails"
        )
        + f"; current value {current} ({passed} of {len(counted)} tests pass)"
    )
    left = improvable(counted)
    if not left:
        return heading
    groups: dict[str, list[Trial]] = {}
    for trial in left:
        groups.setdefault(function_id(trial.test), []).append(trial)
    sizes = Counter(function_id(t.test) for t in counted)
    in_batch = {t.test for t in batch}
    # the batch's groups first so a bound never hides what the evidence shows
    order = sorted(
        groups, key=lambda f: (not in_batch & {t.test for t in groups[f]}, -len(groups[f]), f)
    )
    why = f"failing, or valued below the highest test value {ceiling(counted):g}"
    if measuring:
        why = (
            f"failing, valued below the highest unmeasured value {ceiling(counted):g}, or measured"
        )
    lines = [
        heading,
        f"Can still improve ({why}): {len(left)} test(s) in {len(groups)} group(s) by test "
        "function:",
    ]
    room = OBJECTIVE_LINES - len(lines)
    shown = order if len(order) <= room else order[: room - 1]
    lines.extend(_group_line(f, groups[f], sizes[f], in_batch) for f in shown)
    hidden = order[len(shown) :]
    if hidden:
        tests = sum(len(groups[f]) for f in hidden)
        lines.append(f"- ... {len(hidden)} more group(s) ({tests} test(s)) not shown")
    return "\n".join(lines)


def _group_line(function: str, trials: list[Trial], size: int, in_batch: set[str]) -> str:
    """``- t.py::test_a[…] ×3 of 9; ids [1, 2, 5]: 3 failed, value 0 (2 in this batch: [1, 5])``."""
    outcomes = Counter(t.outcome for t in trials)
    summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(outcomes.items()))
    low, high = min(t.value for t in trials), max(t.value for t in trials)
    values = f"value {low:g}" if low == high else f"values {low:g} to {high:g}"
    marked = [t for t in trials if t.test in in_batch]
    ids = [parameter_id(t.test) for t in trials]
    if ids == [""]:
        mark = " (in this batch)" if marked else ""
        return f"- {function}: {trials[0].outcome}, {values}{mark}"
    # "every parametrization" tells the optimizer that one cause may explain them all
    which = f" of {size}; ids {_ids(ids)}" if size > len(trials) else " (every parametrization)"
    line = f"- {function}[…] ×{len(trials)}{which}: {summary}, {values}"
    if marked:
        line += f" ({len(marked)} in this batch: {_ids([parameter_id(t.test) for t in marked])})"
    return line


def _ids(ids: list[str]) -> str:
    """``[1, 2, 5]`` in natural order, cut to :data:`IDS_CHARACTERS` with a count of the rest."""
    ordered = sorted(ids, key=_natural)
    kept: list[str] = []
    for number, one in enumerate(ordered):
        if len(", ".join([*kept, one])) > IDS_CHARACTERS:
            rest = f"… {len(ordered) - number} more" if kept else f"{len(ordered)} long id(s)"
            return f"[{', '.join([*kept, rest])}]"
        kept.append(one)
    return f"[{', '.join(kept)}]"


def _natural(text: str) -> list[tuple[int, int, str]]:
    # test[2] before test[10]; ASCII digits only: int() refuses some of what isdigit() accepts
    parts = re.split(r"([0-9]+)", text)
    return [(0, int(p), "") if p.isascii() and p.isdigit() else (1, 0, p) for p in parts]


def build_request(
    *,
    run: str,
    iteration: int,
    trials: Sequence[Trial],
    batch: Sequence[Trial],
    parameters: Sequence[Parameter],
    horizon: int | None,
    batch_size: int,
    seed: int,
    history: Sequence[HistoryEntry] = (),
    read: Callable[[str], str] | None = None,
    instructions: str = "",
) -> Request:
    """The Request for one update, its prompt rendered.

    ``parameters`` are the editable ones; the request carries those linked to
    the minibatch (all editable ones when the batch links to none of them).
    """
    linked_ids: set[str] = set()
    for trial in batch:
        linked_ids.update(p.id for p in linked_parameters(trial, parameters))
    shown = [p for p in parameters if p.id in linked_ids] or list(parameters)
    views = _with_docstrings(tuple(_view(p, batch, read) for p in shown), read)
    request = Request(
        run=run,
        iteration=iteration,
        objective=describe_objective(trials, batch=batch),
        settings=RequestSettings(horizon=horizon, batch_size=batch_size, seed=seed),
        parameters=views,
        evidence=tuple(t.evidence(horizon) for t in batch),
        history=tuple(history[-HISTORY_LENGTH:]),
        instructions=instructions,
    )
    return _with_prompt(request)


def _view(
    parameter: Parameter, batch: Sequence[Trial], read: Callable[[str], str] | None
) -> ParameterView:
    """The parameter as the request shows it: a Python function with its read-only
    context from its file (``read(path)``), a large Python file as an outline and the
    regions the batch's frames, calls and executed lines reached."""
    from dataclasses import replace

    from pytest_genopt import outline

    view = parameter.view()
    if parameter.kind == "function" and parameter.language == "python" and read is not None:
        return replace(view, context=_context(parameter, read))
    if not outline.is_large(parameter.kind, parameter.language, parameter.text):
        return view
    frames = [frame for trial in batch for frame in trial.traceback]
    calls = [call for trial in batch for call in trial.called]
    ran = [where for trial in batch for where in trial.reached]
    names, lines = outline.reached(parameter.path, frames, calls, ran)
    return replace(view, view=outline.view(parameter.path, parameter.text, names, lines))


def _with_docstrings(
    views: tuple[ParameterView, ...], read: Callable[[str], str] | None
) -> tuple[ParameterView, ...]:
    """The views with each Python file's module docstring (what the file is about, e.g. a
    game's rules and objects) in the read-only context of its first function parameter:
    once per request, in the prompt's stable part."""
    from dataclasses import replace

    from pytest_genopt.context import with_module_docstring

    if read is None:
        return views
    done: set[str] = set()
    out = []
    for view in views:
        if view.kind == "function" and view.language == "python" and view.path not in done:
            done.add(view.path)
            try:
                source = read(view.path)
            except (OSError, UnicodeDecodeError, KeyError):
                source = ""  # the context is a help, never a reason to fail the request
            view = replace(view, context=with_module_docstring(source, view.context))
        out.append(view)
    return tuple(out)


def _context(parameter: Parameter, read: Callable[[str], str]) -> str:
    from pytest_genopt.context import parameter_context

    try:
        source = read(parameter.path)
    except (OSError, UnicodeDecodeError, KeyError):
        return ""  # the context is a help, never a reason to fail the request
    context = parameter_context(source, parameter.id.partition("::")[2], limit=CONTEXT_LIMIT)
    # the parameter's own decorators and where it sits say nothing on their own
    said = [line.partition("|")[2].strip() for line in context.splitlines()]
    return context if any(s and not s.startswith(("@", "# lines ")) for s in said) else ""


def _with_prompt(request: Request) -> Request:
    from dataclasses import replace

    return replace(request, prompt=prompt.render(request).text)


def next_request(
    settings: Settings,
    *,
    iteration: int,
    trials: Sequence[Trial],
    sampler: MinibatchSampler,
    parameters: Sequence[Parameter],
    history: Sequence[HistoryEntry],
    secrets: Sequence[str],
    read: Callable[[str], str] | None = None,
) -> tuple[list[Trial], Request]:
    """Draw the next minibatch and build its Request, redacted.

    The one path to a request: the loop's iterations and ``--genopt-evidence``
    (iteration 1, no history) both come through here.
    """
    from pytest_genopt.evidence import improvable
    from pytest_genopt.redaction import redact

    batch = sampler.sample(improvable(trials))
    request = build_request(
        run=settings.run_id,
        iteration=iteration,
        trials=trials,
        batch=batch,
        parameters=editable(parameters, settings.only),
        horizon=settings.horizon,
        batch_size=settings.batch_size,
        seed=settings.seed,
        history=history,
        read=read,
        instructions=settings.instructions,
    )
    # captured output and traces may hold the environment's secrets
    return batch, Request.from_json(redact(request.to_json(), secrets))


def first_request(
    settings: Settings,
    trials: Sequence[Trial],
    parameters: Sequence[Parameter],
    read: Callable[[str], str] | None = None,
) -> tuple[list[Trial], Request]:
    """The request of a run's first iteration over ``trials`` (``--genopt-evidence``)."""
    from pytest_genopt.evidence import MinibatchSampler
    from pytest_genopt.redaction import secret_values

    sampler = MinibatchSampler(settings.batch_size, settings.seed)
    return next_request(
        settings,
        iteration=1,
        trials=trials,
        sampler=sampler,
        parameters=parameters,
        history=(),
        secrets=secret_values(),
        read=read,
    )
