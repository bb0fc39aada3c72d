"""The ``search`` backend: seeded local search over numeric literals, no LLM.

The honest baseline an LLM optimizer must beat, and the offline default of
``genopt demo``.  It answers protocol requests like any backend, so the loop
runs unchanged; it costs nothing (usage is always zero).

**Literals.**  In a ``python`` parameter the candidates are the ``NUMBER``
tokens of :mod:`tokenize` (so nothing inside strings, docstrings or comments):
decimal ints (``1_000`` included) and floats (``0.5``, ``1e-3``, ``.5``).
Imaginary literals (``2j``) and hex, octal and binary ints (usually bit masks,
not tunable constants) are left alone.  A minus sign belongs to the literal
when it is a unary minus directly attached to it: the ``-`` ends where the
number starts and the token before it is not an operand (a name that is not a
keyword, a number, a string or a closing bracket), so ``x = -3`` holds the
literal ``-3`` while ``a - 3`` and ``a-3`` hold ``3``.  Default arguments on the
``def`` line count like any other literal.  Other languages (and Python text
that does not tokenize) use a regular expression for decimal numbers not
glued to a word or a dot (so ``x2``, ``1.2.3`` and ``#ff0000`` hold none), with
the same rule for a leading ``-``: it belongs to the number unless the
character before it (spaces skipped) is a letter, digit, ``_``, ``)`` or ``]``.

**Choice.**  Up to ``literals_per_edit`` literals are drawn without
replacement from all the request's parameters, each weighted 3 unless its
value is 0, 1 or -1 (weight 1): those are more often indices and flags than
tunable constants.

**Perturbation**, with step scale ``s``:

- a float ``x`` becomes ``x * exp(N(0, s)) + N(0, 0.1 * s * max(|x|, 1))``,
  rounded to 4 significant digits and written with ``repr``; a result on the
  other side of zero from ``x`` keeps only the multiplicative part, so a
  nonzero float never changes sign;
- an int ``x`` moves by ``±max(1, round(|N(0, s * max(|x|, 1))|))`` (sign at
  random) and stays an int; a result on the other side of zero from ``x`` is
  clipped to 0, so a positive int never becomes negative (nor a negative one
  positive); 0 may go either way.

An edit never changes nothing: when a perturbation gives back the same value
(or, in Python, text that no longer parses although the original did) it is
drawn again with a 1.5x larger scale, at most 20 times, after which that
literal is dropped for another.

**Adaptation** (no hidden state: the step scale is a function of the request):
among the last 10 entries of ``request.history`` (errors count for nothing),
``a`` were accepted and ``r`` failed: invalid, or rejected with some test's
value lower than with the kept artifact (the entry's ``moved`` tests).  A
rejection that lowered no test's value is a tie: neutral, it neither widens
nor narrows the search, so a flat region is crossed instead of shrunk into.
``s = clip(0.5 * 1.5**a * 0.85**r, 0.02, 4)``.  Success widens the search,
failure narrows it around the current best.  When the last ``n >= 5``
attempts (errors skipped) were all not accepted the search is stuck, and it
restarts from the best (every request's parameters are the best) with a
larger step: ``s = clip(max(s, 0.5) * 2**(n // 5), 0.02, 4)``.

**Seeding.**  Each answer draws from
``random.Random(f"{seed}:{iteration}:{fingerprint}:{k}")``.  The fingerprint
is a SHA-256 of the parameters' ids and texts and of the history's
iterations, decisions and edits (not of the run id, the evidence or the
reasons, which name paths that differ between runs); ``k`` counts earlier
calls of this backend instance with the same iteration and fingerprint, so the
``--genopt-candidates`` answers to one request differ.  Hence a fresh backend
given the same sequence of requests (a replay, a resumed run, the same seed in
a fresh copy of the project) gives the same answers.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import keyword
import math
import random
import re
import textwrap
import tokenize
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_genopt.backends import Proposal, Usage, proposal_from_raw

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pytest_genopt.protocol import HistoryEntry, ParameterView, Request

#: step scale with an empty (or neutral) history
BASE_SCALE = 0.5
#: bounds of the step scale
MIN_SCALE = 0.02
MAX_SCALE = 4.0
#: scale factor per accepted / per rejected-or-invalid attempt in the window
GROW = 1.5
SHRINK = 0.85
#: how many of the latest history entries the adaptation looks at
WINDOW = 10
#: attempts in a row without an acceptance after which the search is stuck
STUCK = 5
#: step scale factor per STUCK attempts in a row without an acceptance
RESTART = 2.0
#: weight of a literal whose value is not 0, 1 or -1 (those weigh 1)
TUNABLE_WEIGHT = 3
#: significant digits a perturbed float is written with
FLOAT_DIGITS = 4
#: draws per literal before it is given up for another
MAX_RETRIES = 20

NO_LITERALS = "search: no numeric literals in the editable parameters"

_NUMBER_RE = re.compile(r"(?<![\w.])(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?(?![\w.])")
_ASSIGNED_RE = re.compile(r"[ \t]*([A-Za-z_]\w*)[ \t]*(?::[^=\n]*)?=(?!=)")
_OPERAND_CLOSERS = frozenset({")", "]", "}"})
_SKIPPED = frozenset({tokenize.NL, tokenize.COMMENT})
#: 3.12+ tokenizes an f-string into parts (its fields' numbers among them), where 3.11
#: gives one STRING token: no literal of an f-string is offered on any version
_FSTRING_START: int = getattr(tokenize, "FSTRING_START", -1)
_FSTRING_END: int = getattr(tokenize, "FSTRING_END", -1)


@dataclass(frozen=True)
class Literal:
    """One numeric literal of a parameter's text: ``text[start:end]`` (sign included)."""

    start: int
    end: int
    value: int | float
    source: str

    @property
    def is_float(self) -> bool:
        return isinstance(self.value, float)


def find_literals(text: str, language: str) -> list[Literal]:
    """The numeric literals of ``text`` in order (see the module docstring for the rules)."""
    if language == "python":
        found = _python_literals(text)
        if found is not None:
            return found
    return _regex_literals(text)


def step_scale(history: Sequence[HistoryEntry]) -> float:
    """The step scale the history asks for (see the module docstring for the rule)."""
    window = list(history)[-WINDOW:]
    accepted = sum(1 for h in window if h.decision == "accepted")
    failed = sum(1 for h in window if _failed(h))
    scale = BASE_SCALE * GROW**accepted * SHRINK**failed
    stuck = 0
    for entry in reversed(history):
        if entry.decision == "accepted":
            break
        stuck += entry.decision != "error"
    if stuck >= STUCK:
        scale = max(scale, BASE_SCALE) * RESTART ** (stuck // STUCK)
    return min(MAX_SCALE, max(MIN_SCALE, scale))


def _failed(entry: HistoryEntry) -> bool:
    """Invalid, or rejected with a test's value lowered; a rejection that lowered none
    (the objective tied) is not a failure."""
    if entry.decision == "invalid":
        return True
    if entry.decision != "rejected":
        return False
    return any(_lowered(change) for change in entry.moved)


def _lowered(change: object) -> bool:
    if not isinstance(change, dict):
        return True  # a change we cannot read counts against the attempt
    best, value = change.get("best"), change.get("value")
    if not isinstance(best, (int, float)) or not isinstance(value, (int, float)):
        return True
    return value < best


class SearchBackend:
    """Seeded local search over the numeric literals of the editable parameters."""

    name = "search"

    def __init__(self, *, seed: int = 0, literals_per_edit: int = 2) -> None:
        if literals_per_edit < 1:
            raise ValueError(f"literals_per_edit must be >= 1, got {literals_per_edit}")
        self.seed = seed
        self.literals_per_edit = literals_per_edit
        self._calls: Counter[str] = Counter()

    def propose(self, request: Request) -> Proposal:
        """Perturb up to ``literals_per_edit`` literals; never raises.

        A request whose parameters hold no numeric literal gets an invalid
        proposal with the reason :data:`NO_LITERALS`.
        """
        key = f"{request.iteration}:{fingerprint(request)}"
        k = self._calls[key]
        self._calls[key] += 1
        rng = random.Random(f"{self.seed}:{key}:{k}")
        scale = step_scale(request.history)

        pool: list[tuple[ParameterView, Literal]] = [
            (p, lit) for p in request.parameters for lit in find_literals(p.text, p.language)
        ]
        if not pool:
            return Proposal(response=None, invalid_reason=NO_LITERALS, raw=None)
        weights = [TUNABLE_WEIGHT if lit.value not in (0, 1, -1) else 1 for _, lit in pool]

        changes: dict[str, list[tuple[Literal, str]]] = {}
        while pool and sum(len(c) for c in changes.values()) < self.literals_per_edit:
            index = rng.choices(range(len(pool)), weights=weights)[0]
            parameter, literal = pool.pop(index)
            weights.pop(index)
            done = changes.get(parameter.id, [])
            new = _perturbed(rng, parameter, literal, done, scale)
            if new is not None:
                changes.setdefault(parameter.id, []).append((literal, new))
        if not changes:
            return Proposal(
                response=None,
                invalid_reason="search: no literal could be changed into a different value",
                raw=None,
            )

        edits = []
        parts = []
        for parameter in request.parameters:
            touched = changes.get(parameter.id)
            if not touched:
                continue
            edits.append({"parameter": parameter.id, "text": _replaced(parameter.text, touched)})
            ordered = sorted(touched, key=lambda change: change[0].start)
            described = ", ".join(
                f"{_label(parameter.text, lit)}{lit.source} -> {new}" for lit, new in ordered
            )
            parts.append(f"{parameter.id}: {described}")
        rationale = f"search: {'; '.join(parts)} (step scale {scale:.2f})"
        return proposal_from_raw({"edits": edits, "rationale": rationale})

    def worst_case(self, request: Request) -> Usage:
        """Zero: local search spends no tokens."""
        return Usage()

    def close(self) -> None:
        """Nothing to release."""


def fingerprint(request: Request) -> str:
    """SHA-256 of what the answer depends on besides seed and iteration: the
    parameters (ids, texts) and the history (iterations, decisions, edits)."""
    data = {
        "parameters": [[p.id, p.text] for p in request.parameters],
        "history": [
            [h.iteration, h.decision, [e.to_json() for e in h.edits]] for h in request.history
        ],
    }
    encoded = json.dumps(data, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()[:16]


# --------------------------------------------------------------------------- literals


def _python_literals(text: str) -> list[Literal] | None:
    """NUMBER tokens (with an attached unary minus), or None when ``text`` does not tokenize."""
    offsets = [0]
    for line in text.splitlines(keepends=True):
        offsets.append(offsets[-1] + len(line))
    try:
        tokens = [
            t
            for t in tokenize.generate_tokens(io.StringIO(text).readline)
            if t.type not in _SKIPPED
        ]
    except (tokenize.TokenError, SyntaxError):
        return None

    def offset(position: tuple[int, int]) -> int:
        row, col = position
        return offsets[row - 1] + col

    found = []
    inside = 0  # how many f-strings the token is in
    for i, token in enumerate(tokens):
        inside += (token.type == _FSTRING_START) - (token.type == _FSTRING_END)
        if token.type != tokenize.NUMBER or inside:
            continue
        value = _number(token.string)
        if value is None:
            continue
        start, end = offset(token.start), offset(token.end)
        if i >= 1 and _unary_minus(tokens, i):
            start = offset(tokens[i - 1].start)
            value = -value
        found.append(Literal(start, end, value, text[start:end]))
    return found


def _unary_minus(tokens: Sequence[tokenize.TokenInfo], i: int) -> bool:
    minus = tokens[i - 1]
    if minus.type != tokenize.OP or minus.string != "-" or minus.end != tokens[i].start:
        return False
    if i < 2:
        return True
    before = tokens[i - 2]
    if before.type == tokenize.NAME:
        return keyword.iskeyword(before.string)
    if before.type in (tokenize.NUMBER, tokenize.STRING):
        return False
    if before.type == _FSTRING_END:
        return False
    return not (before.type == tokenize.OP and before.string in _OPERAND_CLOSERS)


def _number(source: str) -> int | float | None:
    """The value of a decimal int or float literal; None for others (2j, 0x1f, ...)."""
    lowered = source.lower()
    if lowered.endswith("j") or lowered.startswith(("0x", "0o", "0b")):
        return None
    plain = source.replace("_", "")
    try:
        if any(c in lowered for c in ".e"):
            return float(plain)
        return int(plain)
    except ValueError:
        return None


def _regex_literals(text: str) -> list[Literal]:
    found = []
    for match in _NUMBER_RE.finditer(text):
        start, end = match.span()
        value = _number(match.group())
        if value is None:  # pragma: no cover - the pattern only matches decimals
            continue
        if start > 0 and text[start - 1] == "-":
            before = text[: start - 1].rstrip(" \t")
            if not before or not (before[-1].isalnum() or before[-1] in "_)]"):
                start -= 1
                value = -value
        found.append(Literal(start, end, value, text[start:end]))
    return found


# --------------------------------------------------------------------------- perturbation


def _perturbed(
    rng: random.Random,
    parameter: ParameterView,
    literal: Literal,
    done: list[tuple[Literal, str]],
    scale: float,
) -> str | None:
    """A new source for ``literal`` with a different value, or None after the retries."""
    check = parameter.language == "python" and _parses(parameter.text)
    s = scale
    for _ in range(MAX_RETRIES):
        new = _draw(rng, literal, s)
        s *= 1.5
        if new is None:
            continue
        if check and not _parses(_replaced(parameter.text, [*done, (literal, new)])):
            continue
        return new
    return None


def _draw(rng: random.Random, literal: Literal, s: float) -> str | None:
    x = literal.value
    if isinstance(x, float):
        multiplied = x * math.exp(rng.gauss(0.0, s))
        v = multiplied + rng.gauss(0.0, 0.1 * s * max(abs(x), 1.0))
        if x * v < 0 or (x != 0 and v == 0):
            v = multiplied
        if not math.isfinite(v):
            return None
        rounded = float(f"{v:.{FLOAT_DIGITS}g}")
        if rounded == x or not math.isfinite(rounded):
            return None
        return repr(rounded)
    step = max(1, round(abs(rng.gauss(0.0, s * max(abs(x), 1)))))
    n = x + step * rng.choice((-1, 1))
    if x * n < 0:
        n = 0
    if n == x:
        return None
    return str(n)


def _replaced(text: str, changes: Sequence[tuple[Literal, str]]) -> str:
    for literal, new in sorted(changes, key=lambda change: change[0].start, reverse=True):
        text = text[: literal.start] + new + text[literal.end :]
    return text


def _parses(text: str) -> bool:
    try:
        ast.parse(textwrap.dedent(text))
    except (SyntaxError, ValueError):
        return False
    return True


def _label(text: str, literal: Literal) -> str:
    """``"NAME "`` when the literal's line assigns to ``NAME``, else ``""``."""
    line_start = text.rfind("\n", 0, literal.start) + 1
    match = _ASSIGNED_RE.match(text, line_start)
    return f"{match.group(1)} " if match and match.end() <= literal.start else ""
