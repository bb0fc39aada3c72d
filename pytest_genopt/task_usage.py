"""Token usage of the task model: what tests spent calling an LLM, apart from the optimizer.

A test reports each call through ``genopt.usage(...)``; a Trial carries the
counts per model, and a run sums them over every evaluation it made.  The
shape, per model name, is plain JSON: ``{"calls", "cached_calls",
"input_tokens", "output_tokens", "cached_input_tokens", "cached_output_tokens"}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

#: model name -> counter -> count
TaskUsage: TypeAlias = dict[str, dict[str, int]]

COUNTERS = (
    "calls",
    "cached_calls",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cached_output_tokens",
)


def count(
    usage: TaskUsage, model: str, input_tokens: int, output_tokens: int, *, cached: bool
) -> None:
    """Add one call to ``usage`` (in place).

    ``calls`` counts every call, ``cached_calls`` those answered from a cache, whose
    tokens go to the ``cached_*`` counters: they were not spent again.
    """
    counters = usage.setdefault(model, dict.fromkeys(COUNTERS, 0))
    counters["calls"] += 1
    counters["cached_calls"] += cached
    prefix = "cached_" if cached else ""
    counters[prefix + "input_tokens"] += input_tokens
    counters[prefix + "output_tokens"] += output_tokens


def merge(usages: Iterable[Mapping[str, Mapping[str, int]]]) -> TaskUsage:
    """The sum of ``usages`` (a new value; models sorted by name)."""
    total: TaskUsage = {}
    for usage in usages:
        for model, counters in usage.items():
            into = total.setdefault(model, dict.fromkeys(COUNTERS, 0))
            for name in COUNTERS:
                into[name] += counters.get(name, 0)
    return dict(sorted(total.items()))


def clean(data: Any) -> TaskUsage:
    """``data`` read from a file a candidate could write: only well-formed counts are kept."""
    if not isinstance(data, dict):
        return {}
    usage: TaskUsage = {}
    for model, counters in data.items():
        if not isinstance(model, str) or not isinstance(counters, dict):
            continue
        usage[model] = {name: _count(counters.get(name)) for name in COUNTERS}
    return usage


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def describe(model: str, counters: Mapping[str, int]) -> str:
    """``Task model NAME: N calls (M from cache), X input / Y output tokens``."""
    name = f" `{model}`" if model else ""
    return (
        f"Task model{name}: {counters['calls']} calls ({counters['cached_calls']} from cache), "
        f"{counters['input_tokens']} input / {counters['output_tokens']} output tokens"
    )
