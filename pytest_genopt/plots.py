"""The series of a run's learning curve, and a study's plots (PNG).

The series a picture shows are pure functions of report.json documents, so they can
be checked without looking at pixels. matplotlib is an optional extra
(``pytest-genopt[plots]``) imported only inside the functions that draw, never on the
plugin's import path; figures go straight onto the Agg canvas, not through pyplot,
so drawing changes no global state of the process that draws (a user's pytest
session, for one).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: how to get the pictures when matplotlib is missing
PLOTS_HINT = "pip install 'pytest-genopt[plots]'"


class PlotsUnavailable(Exception):
    """matplotlib cannot be imported; the message says how to get it."""


# -- the series of one run -------------------------------------------------------------


def best_so_far(report: dict[str, Any]) -> list[float]:
    """The best objective after each iteration; index 0 is the baseline.

    An iteration's objective counts when it was accepted: that is when the best moved.
    """
    best = [float(report["baseline"]["objective"])]
    for it in sorted(report["iterations"], key=lambda i: i["iteration"]):
        while len(best) < it["iteration"]:  # a gap (never written today): carry on
            best.append(best[-1])
        value = it["objective"] if it["decision"] == "accepted" else None
        best.append(best[-1] if value is None else max(best[-1], float(value)))
    return best


def candidate_points(report: dict[str, Any]) -> list[tuple[int, float, str]]:
    """Every evaluated candidate as ``(iteration, objective, kind)``.

    ``kind`` is ``accepted``, ``rejected`` (measured on the full set) or ``batch``
    (rejected on its minibatch: the value is its batch objective). Invalid proposals
    and errors were never evaluated and have no point.
    """
    points = []
    for it in report["iterations"]:
        for attempt in it.get("attempts", []):
            if attempt.get("objective") is not None:
                kind = "accepted" if attempt.get("commit") else "rejected"
                points.append((it["iteration"], float(attempt["objective"]), kind))
            elif attempt.get("batch_objective") is not None:
                points.append((it["iteration"], float(attempt["batch_objective"]), "batch"))
    return points


def holdout_groups(report: dict[str, Any]) -> list[str]:
    """The holdout groups a run measured, sorted by name."""
    return sorted(report.get("holdout", {}).get("groups", {}))


def holdout_series(report: dict[str, Any], group: str) -> list[float | None]:
    """``group``'s holdout objective per iteration (index 0: the start), None where it
    was not measured. The measurement at the end (on the best) counts for the last
    iteration when no measurement after it was recorded."""
    values: list[float | None] = [None] * (len(best_so_far(report)))
    measured = report.get("holdout", {}).get("groups", {}).get(group, {})
    values[0] = measured.get("baseline")
    for it in report["iterations"]:
        holdout = it.get("holdout") or {}
        value = holdout.get("groups", {}).get(group)
        if value is not None:
            values[it["iteration"]] = float(value)
    if len(values) > 1 and values[-1] is None:
        values[-1] = measured.get("best")
    return values


# -- drawing ---------------------------------------------------------------------------


def _figure(width: float, height: float) -> Figure:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotsUnavailable(f"matplotlib is not installed: {PLOTS_HINT}") from None
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: Path) -> None:
    from pytest_genopt.journal import write_bytes_atomic

    buffer = io.BytesIO()
    # no "Software" text chunk (the matplotlib version): only the data shapes the file
    figure.savefig(buffer, format="png", metadata={"Software": None})
    write_bytes_atomic(path, buffer.getvalue())


def _integer_iterations(axes: Axes) -> None:
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("iteration (0 = start)")
    axes.grid(alpha=0.3)


@dataclass(frozen=True)
class Estimate:
    """A mean over runs with its standard error (None for a single run)."""

    mean: float
    se: float | None
    n: int


@dataclass(frozen=True)
class ConfigurationCurve:
    """What a study's plots show of one configuration."""

    label: str
    #: the best objective so far per iteration, over the repeats (None: no run got there)
    best: Sequence[Estimate | None]
    #: the reported holdout group per iteration, where measured
    holdout: Sequence[Estimate | None]
    #: the final holdout (or the best objective when the study measured no holdout)
    final: Estimate | None


def _palette(n: int) -> list[Any]:
    from matplotlib import colormaps

    colours = colormaps["tab20" if n > 10 else "tab10"].colors  # type: ignore[attr-defined]
    return [colours[i % len(colours)] for i in range(n)]


def _band(axes: Axes, series: Sequence[Estimate | None], colour: Any, points: bool) -> None:
    """The best so far as steps (it moves only at accepted iterations) with its ± SE
    band; with ``points``, the holdout as points with ± SE bars where it was measured
    (between two measurements nothing is known, so no line joins them)."""
    known = [(x, e) for x, e in enumerate(series) if e is not None]
    if not known:
        return
    xs = [x for x, _ in known]
    means = [e.mean for _, e in known]
    errors = [e.se or 0.0 for _, e in known]
    if points:
        axes.errorbar(
            xs, means, yerr=errors, color=colour, linestyle="none", marker="s",
            markersize=4, capsize=3,
        )  # fmt: skip
        return
    axes.plot(xs, means, color=colour, drawstyle="steps-post")
    if any(errors):
        low = [m - e for m, e in zip(means, errors, strict=True)]
        high = [m + e for m, e in zip(means, errors, strict=True)]
        axes.fill_between(xs, low, high, color=colour, alpha=0.15, linewidth=0, step="post")


def draw_study_curves(
    curves: Sequence[ConfigurationCurve], holdout: str | None, title: str, path: Path
) -> None:
    """learning_curves.png: per configuration the best objective so far per iteration,
    mean ± standard error over its repeats (a band), and the holdout group ``holdout``
    where measured (points with ± SE bars, same colour). Legend outside the axes, titled ``title``
    (what the configurations' labels name)."""
    figure = _figure(11, 6)  # first: it says when matplotlib is missing
    from matplotlib.lines import Line2D

    axes = figure.add_subplot()
    colours = _palette(len(curves))
    handles = []
    for curve, colour in zip(curves, colours, strict=True):
        _band(axes, curve.best, colour, points=False)
        _band(axes, curve.holdout, colour, points=True)
        handles.append(Line2D([], [], color=colour, label=curve.label))
    if holdout is not None:
        handles += [
            Line2D([], [], color="black", label="best objective so far"),
            Line2D(
                [],
                [],
                color="black",
                linestyle="none",
                marker="s",
                markersize=4,
                label=f"holdout (group {holdout}), where measured",
            ),
        ]
    _integer_iterations(axes)
    axes.set_ylabel("objective (mean ± SE over repeats)")
    axes.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize="small",
        title=title,
        title_fontsize="small",
    )
    _save(figure, path)


def draw_final_holdout(
    curves: Sequence[ConfigurationCurve], measure: str, title: str, path: Path
) -> None:
    """final_holdout.png: each configuration's final value (``measure`` names it) as a
    point with a standard-error bar, one row per configuration (labels: ``title``), top
    to bottom."""
    colours = _palette(len(curves))
    shown = [
        (c, c.final, colour)
        for c, colour in zip(curves, colours, strict=True)
        if c.final is not None
    ]
    figure = _figure(9, 1.2 + 0.35 * max(len(shown), 1))
    axes = figure.add_subplot()
    for row, (_, final, colour) in enumerate(shown):
        axes.errorbar(
            [final.mean],
            [row],
            xerr=[[final.se or 0.0], [final.se or 0.0]],
            fmt="o",
            color=colour,
            capsize=3,
        )
    axes.set_yticks(range(len(shown)), [f"{c.label} (n={final.n})" for c, final, _ in shown])
    axes.invert_yaxis()
    axes.set_ylabel(title)
    axes.set_xlabel(f"{measure} (mean ± SE over repeats)")
    axes.grid(axis="x", alpha=0.3)
    _save(figure, path)
