"""A study's aggregate: study.json (its one writer and reader), study.md and the plots.

Pure functions over the runner's records (one per run: configuration, seed, status
and the run's report.json); nothing here runs anything. Only finished runs with a
report are averaged; failed and interrupted ones are counted and listed.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_genopt.plots import (
    ConfigurationCurve,
    Estimate,
    best_so_far,
    holdout_groups,
    holdout_series,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

__all__ = [
    "STUDY_VERSION",
    "Study",
    "read_study",
    "run_metrics",
    "write_study",
    "write_study_report",
]

STUDY_VERSION = 1
RECORD_VERSION = 1
STATUSES = ("finished", "failed", "interrupted")
STUDY_FILE = "study.json"
PLOTS_DIR = "plots"
CURVES_FILE = "learning_curves.png"
FINAL_FILE = "final_holdout.png"
#: the holdout group a study reports when its runs have it
PREFERRED_HOLDOUT = "test"
#: what every report must hold for the study to read it
_REPORT_FIELDS = ("baseline", "best", "holdout", "iterations", "usage")


@dataclass(frozen=True)
class Study:
    """A study as study.json holds it: its settings, its grid and every run's record."""

    settings: dict[str, Any]
    factors: dict[str, list[str]]
    runs: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "study": STUDY_VERSION,
            "settings": self.settings,
            "factors": self.factors,
            "runs": self.runs,
        }

    @classmethod
    def from_json(cls, data: Any) -> Study:
        """The study in ``data``; ValueError with one line when it is not one."""
        if not isinstance(data, dict) or "study" not in data:
            raise ValueError('not a study (no "study" version field)')
        if data["study"] != STUDY_VERSION:
            raise ValueError(f"study version {data['study']!r}; this version reads {STUDY_VERSION}")
        settings, factors, runs = data.get("settings"), data.get("factors"), data.get("runs")
        if not isinstance(settings, dict):
            raise ValueError("settings must be an object")
        factors = _checked_factors(factors)
        if not isinstance(runs, list):
            raise ValueError("runs must be a list")
        seen: set[str] = set()
        for n, record in enumerate(runs):
            _check_record(n, record, factors)
            if record["id"] in seen:
                raise ValueError(f"run {n}: id {record['id']!r} appears twice")
            seen.add(record["id"])
        return cls(settings, factors, runs)


def _checked_factors(factors: Any) -> dict[str, list[str]]:
    if not isinstance(factors, dict):
        raise ValueError("factors must be an object of factor -> list of values")
    for name, values in factors.items():
        if not (isinstance(values, list) and values and all(isinstance(v, str) for v in values)):
            raise ValueError(f"factor {name!r}: values must be a non-empty list of strings")
        if len(set(values)) != len(values):
            raise ValueError(f"factor {name!r}: a value appears twice in {values}")
    return factors


def _check_record(n: int, record: Any, factors: dict[str, list[str]]) -> None:
    """One line naming the run and the first thing wrong with its record."""
    if not isinstance(record, dict) or record.get("study_record") != RECORD_VERSION:
        raise ValueError(f"run {n}: not a study record (version {RECORD_VERSION})")
    name = f"run {n} ({record.get('id')!r})"
    checks = [
        (isinstance(record.get("id"), str), "id must be a string"),
        (isinstance(record.get("config"), dict), "config must be an object"),
        (type(record.get("repeat")) is int, "repeat must be an integer"),
        (type(record.get("seed")) is int, "seed must be an integer"),
        (record.get("status") in STATUSES, f"status must be one of {', '.join(STATUSES)}"),
        (record.get("error") is None or isinstance(record["error"], str), "error: a string"),
        (_number_or_none(record.get("seconds")), "seconds must be a number"),
        (record.get("report") is None or _is_report(record["report"]), "report: not a report"),
    ]
    for ok, problem in checks:
        if not ok:
            raise ValueError(f"{name}: {problem}")
    config = record["config"]
    if set(config) != set(factors):
        raise ValueError(f"{name}: config factors {sorted(config)} != {sorted(factors)}")
    for factor, value in config.items():
        if value not in factors[factor]:
            raise ValueError(f"{name}: {factor}={value!r} is not one of {factors[factor]}")


def _number_or_none(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _is_report(report: Any) -> bool:
    return isinstance(report, dict) and all(f in report for f in _REPORT_FIELDS)


def write_study(
    out: Path,
    records: list[dict[str, Any]],
    factors: dict[str, list[str]],
    settings: dict[str, Any],
) -> None:
    """Write ``out/study.json``, ``out/study.md`` and the PNGs under ``out/plots/``.

    Everything is checked before anything is written (ValueError, one line). The
    plots never fail the study: without matplotlib, or when drawing fails, study.md
    says so in one line. Raises OSError when a file cannot be written.
    """
    from pytest_genopt.journal import write_text_atomic

    study = Study.from_json(
        {"study": STUDY_VERSION, "settings": settings, "factors": factors, "runs": records}
    )
    # not sorted: the factors' order is the tables' order
    text = json.dumps(study.to_json(), indent=1, ensure_ascii=False)
    write_text_atomic(out / STUDY_FILE, text + "\n")
    write_study_report(out, study)


def read_study(out: Path) -> Study:
    """The study in ``out/study.json``; ValueError with one line naming the file."""
    path = out / STUDY_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path} does not exist: not a study folder") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} cannot be read: {exc}") from None
    try:
        return Study.from_json(data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def write_study_report(out: Path, study: Study | None = None) -> None:
    """``out/study.md`` and ``out/plots/`` from ``study`` (default: ``out/study.json``)."""
    from pytest_genopt.journal import write_text_atomic

    study = read_study(out) if study is None else study
    group = study_holdout_group(study)
    curves = configuration_curves(study, group)
    lines = draw_study_plots(out / PLOTS_DIR, curves, group, label_title(study.factors))
    write_text_atomic(out / "study.md", render_study(study, lines))


# -- what one run measured -------------------------------------------------------------


def usable(record: dict[str, Any]) -> bool:
    """A run that is averaged: finished, with its report."""
    return record["status"] == "finished" and record["report"] is not None


def study_holdout_group(study: Study) -> str | None:
    """The holdout group the study reports: ``test`` when a run has it, else the first
    group any run has (sorted by name); None when no run measured a holdout."""
    groups = sorted({g for r in study.runs if usable(r) for g in holdout_groups(r["report"])})
    if not groups:
        return None
    return PREFERRED_HOLDOUT if PREFERRED_HOLDOUT in groups else groups[0]


def run_metrics(report: dict[str, Any], group: str | None) -> dict[str, float | None]:
    """What the study's tables average of one run's report.json."""
    best = float(report["best"]["objective"])
    curve = best_so_far(report)
    reached = next((k for k, v in enumerate(curve) if v >= best), len(curve) - 1)
    holdout = report["holdout"].get("groups", {}).get(group, {}) if group else {}
    usage = report["usage"]
    return {
        "best": best,
        "holdout": holdout.get("best"),
        "iterations_to_best": float(reached),
        "accepted": float(sum(it["decision"] == "accepted" for it in report["iterations"])),
        "tokens": float(usage.get("input_tokens", 0) + usage.get("output_tokens", 0)),
        "cost_usd": float(usage.get("cost_usd", 0.0)),
    }


def estimate(values: Sequence[float | None]) -> Estimate | None:
    """Mean and standard error of the values that are known (None: nothing known)."""
    known = [v for v in values if v is not None]
    if not known:
        return None
    se = statistics.stdev(known) / math.sqrt(len(known)) if len(known) > 1 else None
    return Estimate(statistics.fmean(known), se, len(known))


# -- configurations --------------------------------------------------------------------


def configurations(factors: dict[str, list[str]]) -> list[dict[str, str]]:
    """Every configuration of the grid, in the grid's order (one, ``{}``, without factors)."""
    names = list(factors)
    return [
        dict(zip(names, values, strict=True)) for values in itertools.product(*factors.values())
    ]


def varied(factors: dict[str, list[str]]) -> list[str]:
    """The factors with more than one value: the ones a table is made for."""
    return [name for name, values in factors.items() if len(values) > 1]


def label(factors: dict[str, list[str]], config: dict[str, str]) -> str:
    """A configuration's short name in the plots: its varied factors' values, in the
    grid's order (``default`` when nothing varies); :func:`label_title` names them."""
    return ", ".join(config[name] for name in varied(factors)) or "default"


def label_title(factors: dict[str, list[str]]) -> str:
    """What the labels of :func:`label` name: ``horizon, batch_size``."""
    return ", ".join(varied(factors)) or "configuration"


def configuration_curves(study: Study, group: str | None) -> list[ConfigurationCurve]:
    """What the plots show of each configuration with a finished run.

    A run that stopped before the others (a budget, a stop) keeps its best for the
    iterations it did not make: the best so far does not change after a run ends.
    """
    curves = []
    for config in configurations(study.factors):
        reports = [r["report"] for r in study.runs if r["config"] == config and usable(r)]
        if not reports:
            continue
        bests = [best_so_far(report) for report in reports]
        length = max(len(b) for b in bests)
        best = [estimate([b[min(k, len(b) - 1)] for b in bests]) for k in range(length)]
        holdout: list[Estimate | None] = []
        if group is not None:
            series = [holdout_series(report, group) for report in reports]
            holdout = [estimate([h[k] for h in series if k < len(h)]) for k in range(length)]
        finals = [run_metrics(report, group)["holdout" if group else "best"] for report in reports]
        curves.append(
            ConfigurationCurve(label(study.factors, config), best, holdout, estimate(finals))
        )
    return curves


def draw_study_plots(
    folder: Path, curves: list[ConfigurationCurve], group: str | None, title: str
) -> list[str]:
    """Draw ``folder``'s PNGs; study.md's lines that show them, or the one line that says
    why there are none (stale pictures are removed then)."""
    from pytest_genopt.backends.python import describe_exception
    from pytest_genopt.plots import (
        PLOTS_HINT,
        PlotsUnavailable,
        draw_final_holdout,
        draw_study_curves,
    )

    measure = f"final holdout objective (group {group})" if group else "best objective"
    targets = (folder / CURVES_FILE, folder / FINAL_FILE)
    if not curves:
        line = "No plots: no run finished."
    else:
        try:
            draw_study_curves(curves, group, title, targets[0])
            draw_final_holdout(curves, measure, title, targets[1])
        except PlotsUnavailable:
            line = f"No plots: matplotlib is not installed (`{PLOTS_HINT}` draws them)."
        except Exception as exc:  # a picture must never fail or lose a study
            line = f"No plots: drawing them failed: {describe_exception(exc)}."
        else:
            return [
                f"![learning curves]({PLOTS_DIR}/{CURVES_FILE})",
                "",
                f"![{measure}]({PLOTS_DIR}/{FINAL_FILE})",
            ]
    for target in targets:
        with contextlib.suppress(OSError):
            target.unlink(missing_ok=True)
    return [line]


# -- study.md --------------------------------------------------------------------------

#: the tables' measured columns: metric key, heading, number format
_COLUMNS = (
    ("best", "best objective", "{:.4f}"),
    ("holdout", "final holdout", "{:.4f}"),
    ("iterations_to_best", "iterations to the best", "{:.1f}"),
    ("accepted", "accepted edits", "{:.1f}"),
    ("tokens", "tokens (in + out)", "{:.0f}"),
    ("cost_usd", "cost (USD)", "{:.4f}"),
)


def render_study(study: Study, plots: Sequence[str]) -> str:
    """study.md: a header, one table per varied factor, one of every configuration, the
    runs that did not finish, and the plots (``plots``: their markdown lines)."""
    group = study_holdout_group(study)
    columns = [c for c in _COLUMNS if c[0] != "holdout" or group is not None]
    lines = _header(study, group)
    for factor in varied(study.factors):
        lines += [f"## By {factor}", "", *_table([factor], columns)]
        for value in study.factors[factor]:
            runs = [r for r in study.runs if r["config"][factor] == value]
            lines.append(_row([value], runs, columns, group))
        lines.append("")
    names = list(study.factors)
    lines += ["## Every configuration", "", *_table(names or ["configuration"], columns)]
    for config in configurations(study.factors):
        runs = [r for r in study.runs if r["config"] == config]
        lines.append(_row([config[n] for n in names] or ["default"], runs, columns, group))
    lines.append("")
    lines += _not_finished(study)
    return "\n".join([*lines, "## Plots", "", *plots, ""])


def _header(study: Study, group: str | None) -> list[str]:
    counts = {status: sum(r["status"] == status for r in study.runs) for status in STATUSES}
    no_report = sum(r["status"] == "finished" and r["report"] is None for r in study.runs)
    settings = "; ".join(f"{k} `{_setting(v)}`" for k, v in study.settings.items())
    grid = "; ".join(f"{k} = {', '.join(v)}" for k, v in study.factors.items()) or "none"
    holdout = (
        f"the final holdout is holdout group `{group}` on each run's best parameters at its end"
        if group
        else "no run measured a holdout"
    )
    return [
        "# genopt study",
        "",
        f"Settings: {settings or 'none'}.",
        "",
        f"Grid: {grid}. Runs: {len(study.runs)}: {counts['finished']} finished"
        + (f" ({no_report} without a report)" if no_report else "")
        + f", {counts['failed']} failed, {counts['interrupted']} interrupted.",
        "",
        "Each cell is the mean ± standard error over the finished runs (failed and "
        "interrupted runs are counted under *not finished* and never averaged); "
        "`(n=1)`: one run, no error to show; `(n=k)`: only k runs measured it; "
        f"{holdout}.",
        "",
    ]


def _setting(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _table(names: list[str], columns: Sequence[tuple[str, str, str]]) -> list[str]:
    headings = [*names, "finished", "not finished", *(c[1] for c in columns)]
    aligns = ["---"] * len(names) + ["---:"] * (len(headings) - len(names))
    return [f"| {' | '.join(headings)} |", f"|{'|'.join(aligns)}|"]


def _row(
    names: list[str],
    runs: list[dict[str, Any]],
    columns: Sequence[tuple[str, str, str]],
    group: str | None,
) -> str:
    done = [run_metrics(r["report"], group) for r in runs if usable(r)]
    cells = [*names, str(len(done)), str(len(runs) - len(done))]
    for key, _, number in columns:
        cells.append(_cell(estimate([m[key] for m in done]), len(done), number))
    escaped = [c.replace("|", "\\|") for c in cells]
    return f"| {' | '.join(escaped)} |"


def _cell(value: Estimate | None, runs: int, number: str) -> str:
    if value is None:
        return "—"
    if value.se is None:
        return f"{number.format(value.mean)} (n=1)"
    shown = f"{number.format(value.mean)} ± {number.format(value.se)}"
    return shown + (f" (n={value.n})" if value.n != runs else "")


def _not_finished(study: Study) -> list[str]:
    runs = [r for r in study.runs if not usable(r)]
    if not runs:
        return []
    lines = [f"## Not finished ({len(runs)})", ""]
    for r in runs:
        why = r["error"] or ("no report" if r["status"] == "finished" else "no error given")
        lines.append(f"- `{r['id']}` (seed {r['seed']}): {r['status']}: {why}")
    return [*lines, ""]
