"""Backends: who proposes edits.

A backend turns a protocol :class:`~pytest_genopt.protocol.Request` into a
:class:`Proposal`.  Built-in backends live in this package, one module each;
other plugins supply more through ``pytest_genopt_make_backend``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from pytest_genopt.protocol import Request, Response


@dataclass(frozen=True)
class Usage:
    """Tokens and dollars spent by one or more backend calls."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def total_tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_input_tokens
            + self.cache_creation_input_tokens
        )

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_input_tokens + other.cache_read_input_tokens,
            self.cache_creation_input_tokens + other.cache_creation_input_tokens,
            self.cost_usd + other.cost_usd,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cost_usd": round(self.cost_usd, 6),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Usage:
        return cls(
            int(data.get("input_tokens", 0)),
            int(data.get("output_tokens", 0)),
            int(data.get("cache_read_input_tokens", 0)),
            int(data.get("cache_creation_input_tokens", 0)),
            float(data.get("cost_usd", 0.0)),
        )


@dataclass(frozen=True)
class Proposal:
    """One answer of a backend: a valid Response, or the reason it is not one.

    ``raw`` is what the backend produced before validation (JSON-ready), kept
    for the journal and cassettes.
    """

    response: Response | None
    invalid_reason: str | None = None
    raw: Any = None
    usage: Usage = Usage()


class BackendError(Exception):
    """The backend could not answer this time (e.g. retries exhausted); the iteration
    is recorded as an error and the run goes on."""


class BackendFatal(Exception):
    """The run cannot go on with this backend (e.g. authentication failed)."""


@runtime_checkable
class Backend(Protocol):
    """What the controller needs from a backend.

    Building a backend writes nothing (no folder, no cassette, no file): it only
    checks what it can (a key, a readable cassette, ini values) and raises
    :class:`BackendFatal` with one line; writing waits for the first ``propose``.

    A backend may also define the optional method (not declared here, since a
    runtime-checkable Protocol would then require it)::

        def conclude(self, stopped: str, decisions: Sequence[Mapping[str, Any]]) -> None

    which the loop calls once at the end of every run, success or not (see
    :func:`conclude`): ``stopped`` is the run's stop reason (one line) and each
    decision is ``{"iteration": int, "candidate": int, "decision": "accepted" |
    "rejected" | "invalid" | "error", "reason": str}``.  The exchange backend
    writes its status files from it; a recording backend passes it on.
    """

    #: shown in the header, the report and the ``Genopt-Backend:`` trailer
    name: str

    def propose(self, request: Request) -> Proposal:
        """Answer one request.  Malformed answers become a Proposal with
        ``invalid_reason``; raise :class:`BackendError` or :class:`BackendFatal`
        only when there is no answer at all."""
        ...

    def worst_case(self, request: Request) -> Usage:
        """An upper bound of what answering ``request`` can cost (for budgets)."""
        ...

    def close(self) -> None:
        """Release resources (connections, files)."""
        ...


def conclude(backend: object, stopped: str, decisions: Sequence[Mapping[str, Any]]) -> None:
    """Tell ``backend`` how the run ended, if it has the optional ``conclude`` method.

    Backends that do not define ``conclude`` need nothing and are skipped.
    """
    method = getattr(backend, "conclude", None)
    if callable(method):
        method(stopped, decisions)


def proposal_from_raw(raw: Any, usage: Usage = Usage()) -> Proposal:
    """Validate a decoded Response (a dict, or whatever came instead) into a Proposal.

    Every backend's answer passes here, so the caps hold for all of them: a reply
    over :data:`~pytest_genopt.protocol.MAX_REPLY_CHARS` or nested deeper than
    :data:`~pytest_genopt.protocol.MAX_REPLY_DEPTH` is invalid and kept only as a
    clipped preview; text that UTF-8 cannot encode (lone surrogates) is kept
    escaped, so the journal, cassettes and edited files can always be written.
    """
    from pytest_genopt.protocol import InvalidProposal, Response, escaped, preview, reply_problem

    problem = reply_problem(raw)
    if problem is not None:
        return Proposal(response=None, invalid_reason=problem, raw=preview(raw), usage=usage)
    raw = escaped(raw)
    try:
        return Proposal(response=Response.from_json(raw), raw=raw, usage=usage)
    except InvalidProposal as exc:
        return Proposal(response=None, invalid_reason=str(exc), raw=raw, usage=usage)
