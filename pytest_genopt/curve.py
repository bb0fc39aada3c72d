"""A run's learning curve as an SVG picture, written with the standard library alone.

The series come from :mod:`pytest_genopt.plots` (pure functions of report.json); this
module only places them: the best objective so far as a step line, every evaluated
candidate as a marker, each holdout group as squares where it was measured, with axes,
a title and a legend.  Every marker carries a ``<title>`` (what a browser shows on
hover, and what tests read back): its iteration, value and kind.

Writing it costs milliseconds and needs no optional extra: drawing the same picture
with matplotlib cost each run about 0.7 s (its import and its exit), more than a
candidate's own pytest start.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from pytest_genopt.plots import best_so_far, candidate_points, holdout_groups, holdout_series

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path

__all__ = ["HEIGHT", "WIDTH", "curve_svg", "write_curve"]

WIDTH, HEIGHT = 800, 450
#: the plot area: left, top, right, bottom (the legend sits right of it)
_AREA = (70.0, 40.0, 500.0, 395.0)
_BEST = "#1f77b4"
#: marker shape and colour of each kind of candidate, and its legend label
_KINDS = {
    "accepted": ("dot", "#2ca02c", "accepted candidate"),
    "rejected": ("cross", "#d62728", "rejected candidate"),
    "batch": ("ring", "#7f7f7f", "rejected on its batch (batch objective)"),
}
_HOLDOUT = ["#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#bcbd22", "#17becf"]
#: values beyond this (and NaN, infinities) are left out: the axis could not hold them
_LARGEST = 1e300


def _drawable(value: float) -> bool:
    return math.isfinite(value) and abs(value) <= _LARGEST


def write_curve(report: dict[str, Any], path: Path) -> None:
    """Write the run's learning curve at ``path``. Raises OSError naming ``path``."""
    from pytest_genopt.journal import write_text_atomic

    write_text_atomic(path, curve_svg(report))


@dataclass(frozen=True)
class _Scale:
    """From (iteration, objective) to the picture's coordinates."""

    iterations: int
    low: float
    high: float

    def x(self, iteration: float) -> float:
        left, _, right, _ = _AREA
        span = max(self.iterations, 1)
        margin = span * 0.04  # markers at the first and last iteration clear the frame
        return left + (right - left) * (iteration + margin) / (span + 2 * margin)

    def y(self, value: float) -> float:
        _, top, _, bottom = _AREA
        return bottom - (bottom - top) * (value - self.low) / (self.high - self.low)


def curve_svg(report: dict[str, Any]) -> str:
    """The learning curve of the run ``report`` (report.json's document) as SVG text."""
    best = best_so_far(report)
    points = candidate_points(report)
    groups = [(g, [(x, v) for x, v in enumerate(holdout_series(report, g)) if v is not None])
              for g in holdout_groups(report)]  # fmt: skip
    values = [*best, *(y for _, y, _ in points), *(v for _, s in groups for _, v in s)]
    scale = _Scale(len(best) - 1, *_value_range(values))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        *_axes(scale, f"genopt run {report['run']}"),
        _step_line(scale, best),
    ]
    legend: list[tuple[str, str, str]] = [("line", _BEST, "best so far")]
    for kind, (shape, colour, label) in _KINDS.items():
        chosen = [(x, y) for x, y, k in points if k == kind]
        if chosen:
            parts += (_marker(shape, colour, scale, x, y, kind) for x, y in chosen)
            legend.append((shape, colour, label))
    for n, (group, series) in enumerate(groups):
        colour = _HOLDOUT[n % len(_HOLDOUT)]
        kind = f"holdout {group}"
        parts += (_marker("square", colour, scale, x, v, kind) for x, v in series)
        legend.append(("square", colour, f"holdout (group {group}), where measured"))
    parts += _legend(legend)
    parts.append("</svg>")
    return "\n".join(p for p in parts if p) + "\n"


def _value_range(values: Iterable[float]) -> tuple[float, float]:
    """The objective axis' bounds: the finite values with a margin, never empty."""
    finite = [v for v in values if _drawable(v)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    margin = (high - low) * 0.05 or max(abs(high) * 0.05, 0.05)
    return low - margin, high + margin


def _ticks(low: float, high: float, most: int) -> tuple[list[float], float]:
    """Round values between ``low`` and ``high``, at most about ``most`` of them, and
    their step."""
    raw = (high - low) / most
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step)
    return [k * step for k in range(first, math.floor(high / step) + 1)], step


def _label(value: float, step: float) -> str:
    """``value`` with as many decimals as ``step`` (1, 2 or 5 times a power of ten) needs."""
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{value:.{decimals}f}"


def _axes(scale: _Scale, title: str) -> list[str]:
    """Frame, grid, tick labels, axis labels and title."""
    left, top, right, bottom = _AREA
    parts = []
    y_ticks, y_step = _ticks(scale.low, scale.high, 6)
    for value in y_ticks:
        y = scale.y(value)
        parts.append(_line(left, y, right, y, "#e0e0e0"))
        parts.append(_text(left - 6, y + 4, _label(value, y_step), "end"))
    x_ticks = [t for t in _ticks(0, max(scale.iterations, 1), 10)[0] if t == int(t)]
    for iteration in x_ticks:
        x = scale.x(iteration)
        parts.append(_line(x, top, x, bottom, "#e0e0e0"))
        parts.append(_text(x, bottom + 16, str(int(iteration)), "middle"))
    parts.append(
        f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" '
        'fill="none" stroke="#444444"/>'
    )
    middle = (top + bottom) / 2
    parts += [
        _text((left + right) / 2, bottom + 40, "iteration (0 = start)", "middle"),
        f'<text x="18" y="{middle:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 18 {middle:.1f})">objective (higher is better)</text>',
        _text((left + right) / 2, top - 14, title, "middle", 'font-size="14"'),
    ]
    return parts


def _step_line(scale: _Scale, best: Sequence[float]) -> str:
    """The best so far: flat until the next iteration, then up (matplotlib's "post")."""
    corners = [(0, best[0])]
    for iteration, value in enumerate(best[1:], start=1):
        corners += [(iteration, corners[-1][1]), (iteration, value)]
    shown = " ".join(f"{scale.x(x):.1f},{scale.y(v):.1f}" for x, v in corners if _drawable(v))
    tip = f"<title>best so far: {' '.join(f'{v:.4f}' for v in best)}</title>"
    if len(best) == 1:  # the start alone: a line of one point would not show
        return _shape("dot", _BEST, scale.x(0), scale.y(best[0]), tip) if _drawable(best[0]) else ""
    return (
        f'<polyline points="{shown}" fill="none" stroke="{_BEST}" stroke-width="2">{tip}</polyline>'
    )


def _marker(shape: str, colour: str, scale: _Scale, x: float, y: float, kind: str) -> str:
    if not _drawable(y):
        return ""
    tip = f"<title>{escape(f'iteration {x}: {y:.4f} ({kind})')}</title>"
    return _shape(shape, colour, scale.x(x), scale.y(y), tip)


def _shape(shape: str, colour: str, cx: float, cy: float, inner: str = "") -> str:
    """A marker drawn around (cx, cy)."""
    if shape == "line":
        return f"<g>{_line(cx - 10, cy, cx + 10, cy, colour, 2)}{inner}</g>"
    if shape == "cross":
        lines = _line(cx - 4, cy - 4, cx + 4, cy + 4, colour, 2) + _line(
            cx - 4, cy + 4, cx + 4, cy - 4, colour, 2
        )
        return f"<g>{lines}{inner}</g>"
    if shape == "square":
        return (
            f'<rect x="{cx - 4:.1f}" y="{cy - 4:.1f}" width="8" height="8" '
            f'fill="{colour}">{inner}</rect>'
        )
    fill = colour if shape == "dot" else "none"
    return (
        f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="4.5" fill="{fill}" stroke="{colour}" '
        f'stroke-width="1.5">{inner}</circle>'
    )


def _legend(entries: Sequence[tuple[str, str, str]]) -> list[str]:
    left, top = _AREA[2] + 20, _AREA[1] + 10
    parts = []
    for n, (shape, colour, label) in enumerate(entries):
        y = top + 20 * n
        parts.append(_shape(shape, colour, left + 10, y))
        parts.append(_text(left + 26, y + 4, label, "start", 'font-size="10"'))
    return parts


def _line(x1: float, y1: float, x2: float, y2: float, colour: str, width: float = 1) -> str:
    return (
        f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
        f'stroke="{colour}" stroke-width="{width}"/>'
    )


def _text(x: float, y: float, text: str, anchor: str, extra: str = "") -> str:
    extra = f" {extra}" if extra else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>{escape(text)}</text>'
