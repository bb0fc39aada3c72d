"""Protocol v2: the Request an optimizer receives and the Response it returns.

Both are plain JSON objects (see ``docs/protocol.md``).  The types here are the
one place where they are built, serialized and validated; a malformed Response
never raises out of :func:`parse_response`, it becomes an :class:`InvalidProposal`
with a reason the optimizer is shown in the next request's history.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

PROTOCOL_VERSION = 2
#: request versions this package reads (v1 requests lack the v2 fields)
READABLE_VERSIONS = (1, 2)

Outcome = Literal["passed", "failed", "error"]
Decision = Literal["accepted", "rejected", "invalid", "error"]
ParameterKind = Literal["function", "block", "file"]

JSON = Any


@dataclass(frozen=True)
class Edit:
    """One change to one parameter: a whole replacement or one exact search/replace."""

    parameter: str
    text: str | None = None
    search: str | None = None
    replace: str | None = None
    #: protocol v2: a function or method (qualified name) inside a Python file parameter
    region: str | None = None

    def to_json(self) -> dict[str, str]:
        where = {"parameter": self.parameter}
        if self.region is not None:
            where["region"] = self.region
        if self.text is not None:
            return {**where, "text": self.text}
        return {**where, "search": self.search or "", "replace": self.replace or ""}

    @classmethod
    def from_json(cls, data: object) -> Edit:
        """Build an Edit, raising :class:`InvalidProposal` with a reason when malformed."""
        if not isinstance(data, Mapping):
            raise InvalidProposal(f"an edit must be an object, got {_kind(data)}")
        keys = set(data)
        if "parameter" not in keys or not isinstance(data["parameter"], str):
            raise InvalidProposal("an edit needs a string 'parameter'")
        extra = keys - {"parameter", "region", "text", "search", "replace"}
        if extra:
            raise InvalidProposal(f"unknown edit field(s): {', '.join(sorted(extra))}")
        region = data.get("region")
        if region is not None and (not isinstance(region, str) or not region.strip()):
            raise InvalidProposal("'region' must be a non-empty string (a function's name)")
        parameter = data["parameter"]
        if "text" in keys:
            if keys & {"search", "replace"}:
                raise InvalidProposal("an edit has either 'text' or 'search'/'replace', not both")
            if not isinstance(data["text"], str):
                raise InvalidProposal("'text' must be a string")
            return cls(parameter, text=data["text"], region=region)
        if {"search", "replace"} <= keys:
            search, replace = data["search"], data["replace"]
            if not isinstance(search, str) or not isinstance(replace, str):
                raise InvalidProposal("'search' and 'replace' must be strings")
            if not search:
                raise InvalidProposal("'search' must not be empty")
            return cls(parameter, search=search, replace=replace, region=region)
        raise InvalidProposal("an edit needs 'text', or both 'search' and 'replace'")


class InvalidProposal(Exception):
    """A Response (or one of its edits) that cannot be used; ``str(exc)`` is the reason."""


@dataclass(frozen=True)
class Response:
    """What an optimizer proposes: edits and its reasoning."""

    edits: tuple[Edit, ...]
    rationale: str = ""

    def to_json(self) -> dict[str, JSON]:
        return {"edits": [e.to_json() for e in self.edits], "rationale": self.rationale}

    @classmethod
    def from_json(cls, data: object) -> Response:
        """Validate a decoded Response; raises :class:`InvalidProposal` with a reason."""
        if not isinstance(data, Mapping):
            raise InvalidProposal(f"the response must be a JSON object, got {_kind(data)}")
        extra = set(data) - {"edits", "rationale"}
        if extra:
            raise InvalidProposal(f"unknown response field(s): {', '.join(sorted(extra))}")
        edits = data.get("edits")
        if not isinstance(edits, list):
            raise InvalidProposal("the response needs a list 'edits'")
        if not edits:
            raise InvalidProposal("the response proposes no edits")
        rationale = data.get("rationale", "")
        if not isinstance(rationale, str):
            raise InvalidProposal("'rationale' must be a string")
        parsed = []
        for i, raw in enumerate(edits):
            try:
                parsed.append(Edit.from_json(raw))
            except InvalidProposal as exc:
                raise InvalidProposal(f"edit {i}: {exc}") from None
        return cls(edits=tuple(parsed), rationale=rationale)


def parse_response(raw: str | bytes | object) -> Response:
    """Decode (when given text) and validate a Response.

    Raises :class:`InvalidProposal`, never anything else, for any malformed input.
    """
    if isinstance(raw, (str, bytes)):
        if len(raw) > MAX_REPLY_CHARS:
            raise InvalidProposal(TOO_LARGE)
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise InvalidProposal(f"the response is not valid JSON: {exc}") from None
        except RecursionError:
            raise InvalidProposal(TOO_DEEP) from None
    problem = reply_problem(raw)
    if problem is not None:
        raise InvalidProposal(problem)
    return Response.from_json(escaped(raw))


#: longest reply accepted, in characters of its JSON text: a Response carries whole
#: parameter texts, and real files to rewrite are far smaller, while every reply is
#: kept in the journal (and a cassette), so one reply must not grow them without end
MAX_REPLY_CHARS = 1_000_000

#: deepest nesting of arrays and objects accepted in a reply: a Response needs 3
#: (object, edits, edit); the cap keeps every later recursive step (redaction,
#: serialization, copies) far below Python's recursion limit
MAX_REPLY_DEPTH = 32

#: characters of an over-cap reply kept (for the journal) before the clipping marker
CLIPPED_PREVIEW_CHARS = 2_000

_SCALAR_CHARS = 24  # a generous size for a number, boolean or null in JSON

#: the reasons of replies over the caps (invalid proposals)
TOO_LARGE = f"the reply is longer than {MAX_REPLY_CHARS:,} characters (the cap on a reply)"
TOO_DEEP = f"the reply nests arrays and objects deeper than {MAX_REPLY_DEPTH} levels (the cap)"


def reply_problem(raw: object) -> str | None:
    """Why ``raw`` (a decoded reply) is over the size or nesting caps, or None.

    Walks the value with an explicit stack, so no input (however deep or
    large) can raise RecursionError or take more than one pass to measure.
    """
    size = 0
    stack: list[tuple[object, int]] = [(raw, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            size += len(value) + 2
        elif isinstance(value, (Mapping, list, tuple)):
            if depth > MAX_REPLY_DEPTH:
                return TOO_DEEP
            if isinstance(value, Mapping):
                size += sum(len(str(key)) + 4 for key in value)
                value = value.values()
            for item in value:
                stack.append((item, depth + 1))
                size += 1
                if size > MAX_REPLY_CHARS:
                    break
        else:
            size += _SCALAR_CHARS
        if size > MAX_REPLY_CHARS:
            return TOO_LARGE
    return None


def preview(raw: object, limit: int = CLIPPED_PREVIEW_CHARS) -> str:
    """A JSON-like text of the first ``limit`` characters of ``raw``, built without recursion."""
    out: list[str] = []
    length = 0
    stack: list[object] = [raw]
    while stack and length <= limit:
        value = stack.pop()
        if isinstance(value, _Token):
            piece = value.text
        elif isinstance(value, Mapping):
            piece = "{"
            stack.append(_Token("}"))
            for key, item in reversed(list(itertools.islice(value.items(), limit))):
                stack.extend([item, _Token(f"{escaped(json.dumps(str(key)))}: "), _Token(", ")])
            if value:
                stack.pop()  # no separator before the first member
        elif isinstance(value, (list, tuple)):
            piece = "["
            stack.append(_Token("]"))
            for item in reversed(value[:limit]):
                stack.extend([item, _Token(", ")])
            if value:
                stack.pop()
        elif isinstance(value, str):
            piece = escaped(json.dumps(value[:limit], ensure_ascii=False))
        else:
            piece = escaped(_repr(value)[:limit])
        out.append(piece)
        length += len(piece)
    text = "".join(out)
    return text if length <= limit and not stack else text[:limit] + " ... [clipped]"


@dataclass(frozen=True)
class _Token:
    text: str


def _repr(value: object) -> str:
    try:
        return repr(value)
    except Exception:  # an object's own __repr__ is untrusted code too
        return f"<{type(value).__name__}>"


def escaped_text(text: str) -> str:
    """``text`` with lone surrogates shown as their escape (``\\ud800``); see :func:`escaped`."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def escaped(value: Any) -> Any:
    """``value`` with text that cannot be encoded as UTF-8 (lone surrogates) shown escaped.

    A lone surrogate such as ``"\\ud800"`` becomes the six characters ``\\ud800``;
    every other character is kept.  Strings, keys, lists and tuples are walked;
    other values are returned as they are.  Call it on values within
    :data:`MAX_REPLY_DEPTH` (it recurses).
    """
    if isinstance(value, str):
        return escaped_text(value)
    if isinstance(value, Mapping):
        return {escaped(k): escaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [escaped(v) for v in value]
    if isinstance(value, tuple):
        return tuple(escaped(v) for v in value)
    return value


@dataclass(frozen=True)
class ParameterView:
    """A trainable parameter as the optimizer sees it."""

    id: str
    kind: ParameterKind
    path: str
    language: str
    text: str
    description: str = ""
    #: protocol v2: what the prompt shows of a large parameter instead of its text
    #: (an outline and the regions the evidence reached); "" shows the text
    view: str = ""
    #: protocol v2: read-only lines of the parameter's file it depends on
    context: str = ""

    def to_json(self) -> dict[str, str]:
        return {
            "id": self.id,
            "kind": self.kind,
            "path": self.path,
            "language": self.language,
            "text": self.text,
            "description": self.description,
            "view": self.view,
            "context": self.context,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ParameterView:
        return cls(
            id=data["id"],
            kind=data["kind"],
            path=data["path"],
            language=data["language"],
            text=data["text"],
            description=data.get("description", ""),
            view=data.get("view", ""),
            context=data.get("context", ""),
        )


@dataclass(frozen=True)
class EvidenceItem:
    """One trial, truncated to the credit horizon, as the optimizer sees it."""

    test: str
    outcome: Outcome
    value: float
    message: str = ""
    traceback: tuple[str, ...] = ()
    trace: tuple[JSON, ...] = ()
    stdout: str = ""
    feedback: tuple[str, ...] = ()
    test_source: str = ""

    def to_json(self) -> dict[str, JSON]:
        return {
            "test": self.test,
            "outcome": self.outcome,
            "value": self.value,
            "message": self.message,
            "test_source": self.test_source,
            "traceback": list(self.traceback),
            "trace": list(self.trace),
            "stdout": self.stdout,
            "feedback": list(self.feedback),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EvidenceItem:
        return cls(
            test=data["test"],
            outcome=data["outcome"],
            value=float(data["value"]),
            message=data.get("message", ""),
            traceback=tuple(data.get("traceback", ())),
            trace=tuple(data.get("trace", ())),
            stdout=data.get("stdout", ""),
            feedback=tuple(data.get("feedback", ())),
            test_source=data.get("test_source", ""),
        )


@dataclass(frozen=True)
class HistoryEntry:
    """One earlier attempt and what became of it."""

    iteration: int
    rationale: str
    edits: tuple[Edit, ...]
    decision: Decision
    reason: str
    #: the edits as a unified diff of what they changed ("" when they were refused)
    diff: str = ""
    notes: tuple[str, ...] = ()
    #: tests the attempt's evaluation moved: test, best, value, outcome, message
    moved: tuple[JSON, ...] = ()

    def to_json(self) -> dict[str, JSON]:
        return {
            "iteration": self.iteration,
            "rationale": self.rationale,
            "edits": [e.to_json() for e in self.edits],
            "decision": self.decision,
            "reason": self.reason,
            "diff": self.diff,
            "notes": list(self.notes),
            "moved": list(self.moved),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HistoryEntry:
        edits = []
        for raw in data.get("edits", ()):
            try:
                edits.append(Edit.from_json(raw))
            except InvalidProposal:
                continue
        return cls(
            iteration=int(data["iteration"]),
            rationale=data.get("rationale", ""),
            edits=tuple(edits),
            decision=data["decision"],
            reason=data.get("reason", ""),
            diff=data.get("diff", ""),
            notes=tuple(data.get("notes", ())),
            moved=tuple(data.get("moved", ())),
        )


@dataclass(frozen=True)
class RequestSettings:
    horizon: int | None
    batch_size: int
    seed: int

    def to_json(self) -> dict[str, int | None]:
        return {"horizon": self.horizon, "batch_size": self.batch_size, "seed": self.seed}


@dataclass(frozen=True)
class Request:
    """Everything one update tells the optimizer (protocol v2)."""

    run: str
    iteration: int
    objective: str
    settings: RequestSettings
    parameters: tuple[ParameterView, ...]
    evidence: tuple[EvidenceItem, ...]
    history: tuple[HistoryEntry, ...] = ()
    prompt: str = ""
    protocol: int = field(default=PROTOCOL_VERSION)
    #: the user's goal in words (--genopt-instructions); "" when none was given
    instructions: str = ""

    def to_json(self) -> dict[str, JSON]:
        return {
            "protocol": self.protocol,
            "run": self.run,
            "iteration": self.iteration,
            "objective": self.objective,
            "settings": self.settings.to_json(),
            "parameters": [p.to_json() for p in self.parameters],
            "evidence": [e.to_json() for e in self.evidence],
            "history": [h.to_json() for h in self.history],
            "prompt": self.prompt,
            # only when given, so requests without a goal read as they always have
            **({"instructions": self.instructions} if self.instructions else {}),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Request:
        if data.get("protocol") not in READABLE_VERSIONS:
            raise ValueError(
                f"unsupported protocol version {data.get('protocol')!r}; "
                f"this is protocol {PROTOCOL_VERSION}"
            )
        s = data["settings"]
        return cls(
            run=data["run"],
            iteration=int(data["iteration"]),
            objective=data["objective"],
            settings=RequestSettings(
                horizon=s["horizon"], batch_size=int(s["batch_size"]), seed=int(s["seed"])
            ),
            parameters=tuple(ParameterView.from_json(p) for p in data["parameters"]),
            evidence=tuple(EvidenceItem.from_json(e) for e in data["evidence"]),
            history=tuple(HistoryEntry.from_json(h) for h in data.get("history", ())),
            prompt=data.get("prompt", ""),
            instructions=str(data.get("instructions", "")),
        )

    def dumps(self) -> str:
        """The canonical JSON text (sorted keys, indented) for files and cassettes."""
        return json.dumps(self.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def response_schema() -> dict[str, JSON]:
    """JSON Schema of a Response: the input schema of the ``propose_edits`` tool."""
    return {
        "type": "object",
        "properties": {
            "rationale": {
                "type": "string",
                "description": "why these edits should raise the objective",
            },
            "edits": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "properties": {
                        "parameter": {"type": "string", "description": "a parameter id"},
                        "region": {
                            "type": "string",
                            "description": "in a Python file parameter: the function or "
                            "method (e.g. 'Class.method') the edit applies to",
                        },
                        "text": {
                            "type": "string",
                            "description": "the parameter's complete new text",
                        },
                        "search": {
                            "type": "string",
                            "description": "text occurring exactly once in the parameter",
                        },
                        "replace": {"type": "string", "description": "what replaces 'search'"},
                    },
                    "required": ["parameter"],
                    "additionalProperties": False,
                },
            },
        },
        "required": ["edits", "rationale"],
        "additionalProperties": False,
    }


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {
        list: "a list",
        str: "a string",
        int: "a number",
        float: "a number",
        bool: "a boolean",
    }.get(type(value), type(value).__name__)
