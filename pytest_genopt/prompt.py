"""Render a protocol Request as the prompt an LLM reads.

The prompt has three parts, most stable first, so that a backend can cache
the prefix: the instructions (fixed for a run), the parameters (fixed until
an edit is accepted), and the task (evidence and history, new each iteration).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_genopt.evidence import FOLD_MARK

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from pytest_genopt.protocol import JSON, EvidenceItem, HistoryEntry, ParameterView, Request

_HISTORY_TEXT_LIMIT = 1500
_RATIONALE_LIMIT = 2000

_INTRODUCTION = """\
You are the optimizer in an iterative generative-optimization loop. A project's \
tests measure how well some of its code and text performs; the parts you may \
change are listed below as parameters. Each iteration you get evidence from a \
minibatch of test trials (outcomes, assertion messages, the failing test's \
source, the project's traceback frames with their line numbers, recorded calls \
and trace steps up to the credit horizon, output and feedback) and the history \
of earlier attempts, with the tests each one moved. Propose edits that raise \
the objective. A proposal is kept only if its mean value over the \
minibatch rises, its mean over all tests does not fall, and no test that passed fails."""

_RULES = {
    "any": """\
- Edit only the parameters listed, by their id. Everything else is read-only; \
tests cannot be changed.""",
    "function": """\
- A function parameter is the whole function, from `def` to its last line, \
without decorators (they are kept for you). Keep its name and signature \
compatible with its callers. You may add imports inside the function.""",
    "block": """\
- A block parameter is the lines between its `genopt: begin` and `genopt: end` \
markers; never write those markers.""",
    "file": """\
- A file parameter is the whole file.""",
    "region": """\
- A large file parameter is shown as an outline and the functions the evidence \
reached, numbered as in the file. Edit it by region: add "region": "<qualified \
name>" (e.g. "Class.method") to the edit; then `search` must occur exactly once \
in that function and `text` is that whole function.""",
    "closing": """\
- Prefer small, general fixes grounded in the evidence over special cases for \
the tests shown; other tests will judge the edit too.
- Learn from the history: do not repeat an attempt that was rejected or invalid.""",
}

_ANSWER = """\
Answer with the tool `propose_edits` (or, answering in text, exactly one JSON \
object and nothing else) of this form:
{"rationale": "<what the evidence shows and why the edits help>",
 "edits": [{"parameter": "<id>", "text": "<the complete new text>"},
           {"parameter": "<id>", "search": "<text occurring exactly once in the \
parameter>", "replace": "<its replacement>"}]}
Use `text` to rewrite a parameter, `search`/`replace` for a small local change."""


def instructions(kinds: Iterable[str], *, regions: bool = False) -> str:
    """The fixed part of a prompt: its rules name only the parameter ``kinds`` present,
    and how to edit by region when a parameter is shown as an outline (``regions``)."""
    present = set(kinds)
    rules = [_RULES["any"]]
    rules += [_RULES[k] for k in ("function", "block", "file") if k in present]
    if regions:
        rules.append(_RULES["region"])
    rules.append(_RULES["closing"])
    return f"{_INTRODUCTION}\n\nRules:\n" + "\n".join(rules) + f"\n\n{_ANSWER}"


@dataclass(frozen=True)
class Prompt:
    """The three parts of a prompt, most stable first."""

    instructions: str
    parameters: str
    task: str

    @property
    def text(self) -> str:
        return f"{self.instructions}\n\n{self.parameters}\n\n{self.task}\n"


def render(request: Request) -> Prompt:
    """The prompt for ``request``; ``render(r).text`` is what goes in ``r.prompt``."""
    rules = instructions(
        (p.kind for p in request.parameters), regions=any(p.view for p in request.parameters)
    )
    if request.instructions:  # the user's goal is as stable as the rules: cached with them
        rules += f"\n\n# The user's goal\n\n{request.instructions}"
    return Prompt(
        instructions=rules,
        parameters=_parameters(request.parameters),
        task=_task(request),
    )


def _fence(text: str, language: str = "") -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    body = text if text.endswith("\n") else text + "\n"
    return f"{fence}{language}\n{body}{fence}"


def _parameters(parameters: tuple[ParameterView, ...]) -> str:
    lines = [f"# Parameters you may edit ({len(parameters)})"]
    for p in parameters:
        lines.append("")
        lines.append(f"## {p.id}")
        lines.append(f"kind: {p.kind}; file: {p.path}; language: {p.language}")
        if p.description:
            lines.append(f"description: {p.description}")
        if p.view:
            lines.append(p.view)
        else:
            lines.append(_fence(p.text, p.language if p.language != "text" else ""))
        if p.context:
            lines.append(f"read-only context from {p.path} (numbered as in the file):")
            lines.append(_fence(p.context))
    return "\n".join(lines)


def _task(request: Request) -> str:
    horizon = request.settings.horizon
    horizon_text = "all" if horizon is None else f"the last {horizon}"
    parts = [
        f"# Iteration {request.iteration}",
        f"Objective: {request.objective}",
        "",
        f"# Evidence: {len(request.evidence)} trial(s) "
        f"(credit horizon: {horizon_text} project traceback frames, trace steps and calls)",
    ]
    shown: dict[str, int] = {}  # a test source or traceback -> the trial that showed it
    for number, item in enumerate(request.evidence, 1):
        parts.append("")
        parts.append(_evidence(number, item, shown))
    parts.append("")
    if request.history:
        parts.append(f"# Earlier attempts ({len(request.history)}, oldest first)")
        parts.extend(_history(entry) for entry in request.history)
    else:
        parts.append("# Earlier attempts: none yet")
    parts.append("")
    parts.append("Propose your edits now.")
    return "\n".join(parts)


def _evidence(number: int, item: EvidenceItem, shown: dict[str, int]) -> str:
    """One trial; a test source or traceback an earlier trial showed is named, not repeated."""
    lines = [f"## {number}. {item.test}: {item.outcome} (value {item.value:g})"]
    if item.message:
        lines.append("message:")
        lines.append(_fence(item.message))
    if item.test_source:
        if item.test_source in shown:
            lines.append(f"test source: as in trial {shown[item.test_source]}")
        else:
            shown[item.test_source] = number
            lines.append("test source (> marks the failing line):")
            lines.append(_fence(item.test_source, "python"))
    if item.traceback:
        frames = "\n".join(item.traceback)
        if frames in shown:
            lines.append(f"traceback: as in trial {shown[frames]}")
        else:
            shown[frames] = number
            own = sum(not frame.startswith(FOLD_MARK) for frame in item.traceback)
            lines.append(
                f"traceback ({own} frame(s) of project code, innermost last; "
                "library frames folded):"
            )
            lines.append(_fence(frames))
    if item.trace:
        calls = sum(isinstance(e, dict) and "call" in e for e in item.trace)
        kinds = [
            f"{n} {kind}(s)"
            for n, kind in ((len(item.trace) - calls, "step"), (calls, "call"))
            if n
        ]
        lines.append(f"trace ({' and '.join(kinds)}, oldest first):")
        lines.append(_fence(_trace(item.trace), "json"))
    # a feedback line the message already holds (a test asserting with the same summary
    # it reports) is read once
    feedback = [text for text in item.feedback if not (text and text in item.message)]
    if feedback:
        lines.append("feedback:")
        lines.extend(f"- {text}" for text in feedback)
    if item.stdout:
        lines.append("captured output:")
        lines.append(_fence(item.stdout))
    return "\n".join(lines)


#: stands for an argument equal to the same argument of the call record just above
SAME_ARG = "(as in the call above)"
#: arguments shorter than this (as shown) are repeated: naming them would not be shorter
SAME_ARG_MIN = 60


def _trace(events: Sequence[JSON]) -> str:
    """One JSON line per event; a long call argument that the call record just above had
    with the same value (nested calls of one step pass the same state) is elided."""
    lines = []
    previous: dict[str, JSON] = {}
    for event in events:
        if isinstance(event, dict) and "call" in event and isinstance(event.get("args"), dict):
            args = event["args"]
            elided = {k: SAME_ARG if _repeated(k, v, previous) else v for k, v in args.items()}
            previous = dict(args)
            event = {**event, "args": elided}
        lines.append(json.dumps(event, ensure_ascii=False, sort_keys=True))
    return "\n".join(lines)


def _repeated(name: str, value: JSON, previous: dict[str, JSON]) -> bool:
    return name in previous and previous[name] == value and len(str(value)) >= SAME_ARG_MIN


def _history(entry: HistoryEntry) -> str:
    lines = [f"- iteration {entry.iteration}: {entry.decision}: {entry.reason}"]
    if entry.rationale:
        lines.append(f"  rationale: {_clip(entry.rationale, _RATIONALE_LIMIT)}")
    lines.extend(f"  note: {note}" for note in entry.notes)
    if entry.diff:
        lines.append("  its edits, as a diff of the files they changed:")
        lines.append(_indent(_fence(entry.diff, "diff")))
    else:
        lines.extend(_edits(entry))
    if entry.moved:
        lines.append("  tests it moved (value with the kept artifact -> with this attempt):")
        lines.extend(f"  - {_movement(m)}" for m in entry.moved)
    return "\n".join(lines)


def _edits(entry: HistoryEntry) -> list[str]:
    lines = []
    for edit in entry.edits:
        if edit.text is not None:
            lines.append(f"  edit {edit.parameter} (whole text):")
            lines.append(_indent(_fence(_clip(edit.text, _HISTORY_TEXT_LIMIT))))
        else:
            lines.append(f"  edit {edit.parameter} (search/replace):")
            lines.append(_indent(_fence(_clip(edit.search or "", _HISTORY_TEXT_LIMIT))))
            lines.append("  ->")
            lines.append(_indent(_fence(_clip(edit.replace or "", _HISTORY_TEXT_LIMIT))))
    return lines


def _movement(entry: JSON) -> str:
    if not isinstance(entry, dict):
        return str(entry)
    text = f"{entry.get('test')}: {entry.get('best', 0):g} -> {entry.get('value', 0):g}"
    if entry.get("outcome") != "passed":
        text += f" ({entry.get('outcome')}: {entry.get('message', '')})"
    return text


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more]"


def _indent(text: str) -> str:
    return "\n".join("    " + line if line else line for line in text.splitlines())
