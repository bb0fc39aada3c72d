"""What Anthropic models cost: built-in list prices and ini ``genopt_prices`` overrides.

Kept apart from the backend so that validating the ini value needs neither the
SDK nor the backend module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

_PER_MILLION = 1_000_000


@dataclass(frozen=True)
class Price:
    """What a model costs, in dollars per million tokens."""

    input: float
    output: float
    cache_write: float
    cache_read: float

    @classmethod
    def standard(cls, input: float, output: float) -> Price:
        """A price with the usual cache rates: writes 1.25 x input, reads 0.1 x input."""
        return cls(input, output, input * 1.25, input * 0.1)

    def cost(
        self,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cache_write_tokens: int = 0,
        cache_read_tokens: int = 0,
    ) -> float:
        """Dollars for these token counts."""
        return (
            input_tokens * self.input
            + output_tokens * self.output
            + cache_write_tokens * self.cache_write
            + cache_read_tokens * self.cache_read
        ) / _PER_MILLION


#: built-in list prices; a dated id (``claude-sonnet-4-5-20250929``) or a
#: platform id (``claude-opus-4-1@20250805``) finds its entry by prefix
PRICES: dict[str, Price] = {
    "claude-sonnet-5-5": Price.standard(2.0, 10.0),
    "claude-sonnet-5": Price.standard(2.0, 10.0),
    "claude-opus-5": Price.standard(5.0, 25.0),
    "claude-haiku-4-5": Price.standard(1.0, 5.0),
    "claude-sonnet-4-6": Price.standard(3.0, 15.0),
    "claude-sonnet-4-5": Price.standard(3.0, 15.0),
    "claude-sonnet-4": Price.standard(3.0, 15.0),
    "claude-opus-4-5": Price.standard(5.0, 25.0),
    "claude-opus-4-1": Price.standard(15.0, 75.0),
    "claude-opus-4": Price.standard(15.0, 75.0),
}


def price_for(model: str, overrides: Mapping[str, Price] | None = None) -> Price | None:
    """The price of ``model``: by exact name, else by the longest known prefix.

    ``overrides`` are added to (and replace entries of) :data:`PRICES` before the
    lookup.  A prefix only counts when the model id goes on with ``-`` or ``@``
    after it, so ``claude-opus-4-10`` is not priced as ``claude-opus-4-1``.
    ``None`` when nothing matches.
    """
    table = {**PRICES, **(overrides or {})}
    if model in table:
        return table[model]
    best: str | None = None
    for name in table:
        if (
            model.startswith(name)
            and model[len(name)] in "-@"
            and (best is None or len(name) > len(best))
        ):
            best = name
    return None if best is None else table[best]


def parse_price_overrides(lines: Sequence[str]) -> dict[str, Price]:
    """Parse ini lines ``MODEL = IN OUT [CACHE_WRITE CACHE_READ]`` (dollars per million tokens).

    Without the cache rates, cache writes cost 1.25 x IN and cache reads 0.1 x IN.
    Blank lines and lines starting with ``#`` are skipped.  A bad line raises
    ``ValueError`` with a one-line message quoting it.
    """
    prices: dict[str, Price] = {}
    for entry in lines:
        for line in entry.splitlines():
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            model, equals, numbers = text.partition("=")
            model = model.strip()
            fields = numbers.split()
            if not equals or not model or _has_space(model) or len(fields) not in (2, 4):
                raise ValueError(_bad_price_line(text))
            try:
                values = [float(field) for field in fields]
            except ValueError:
                raise ValueError(_bad_price_line(text)) from None
            if any(not math.isfinite(value) or value < 0 for value in values):
                raise ValueError(_bad_price_line(text))
            prices[model] = Price.standard(*values) if len(values) == 2 else Price(*values)
    return prices


def _has_space(text: str) -> bool:
    return any(char.isspace() for char in text)


def _bad_price_line(text: str) -> str:
    return (
        f"bad price line {text!r}: expected 'MODEL = IN OUT [CACHE_WRITE CACHE_READ]' "
        "with non-negative dollars per million tokens"
    )
