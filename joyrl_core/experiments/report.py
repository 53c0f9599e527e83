"""The report over experiments: per config, each seed's final and best evaluation and the env steps and
training time to a threshold, aggregated as mean, median and interquartile mean (IQM) with a
percentile-bootstrap 95% confidence interval (``scipy.stats.trim_mean`` and ``scipy.stats.bootstrap``,
the estimators rliable recommends); and a figure of the IQM curves with their bands.

Runs are grouped into configs by their ``config.yaml`` without the seed and task folder, so the seeds
of ``joyrl run --seeds``, hand-made seed runs and the trials of a study can all be reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from joyrl_core.errors import JoyRLError
from joyrl_core.experiments.extras import require
from joyrl_core.experiments.results import TaskRun, find_tasks, flat_config, read_task
from joyrl_core.outputs.task import config_identity

N_RESAMPLES = 2000
CONFIDENCE = 0.95
IQM_CUT = 0.25  # trim a quarter from each end: the mean of the middle half
_GRID_POINTS = 100
METRICS = ("final", "best", "steps_to_threshold", "time_to_threshold")


def _stats():
    return require("scipy.stats", "joyrl report (IQM and bootstrap confidence intervals)")


def _iqm(values: np.ndarray, axis: int = -1) -> np.ndarray:
    return _stats().trim_mean(values, IQM_CUT, axis=axis)


def iqm_with_ci(values: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """IQM over the last axis (seeds), and its bootstrap CI bounds (``None`` with fewer than 2 seeds)."""
    values = np.asarray(values, dtype=np.float64)
    center = _iqm(values)
    if values.shape[-1] < 2:
        return center, None, None
    result = _stats().bootstrap(
        (values,), _iqm, n_resamples=N_RESAMPLES, confidence_level=CONFIDENCE, method="percentile",
        vectorized=True, axis=-1, rng=np.random.default_rng(seed),
    )
    return center, result.confidence_interval.low, result.confidence_interval.high


@dataclass
class Aggregate:
    """One metric over the seeds that have it (``n`` of them)."""

    n: int
    mean: float
    median: float
    iqm: float
    ci_low: float | None
    ci_high: float | None


def aggregate(values: Sequence[float]) -> Aggregate | None:
    if not values:
        return None
    x = np.asarray(values, dtype=np.float64)
    center, low, high = iqm_with_ci(x)
    return Aggregate(len(x), float(np.mean(x)), float(np.median(x)), float(center),
                     None if low is None else float(low), None if high is None else float(high))


@dataclass
class SeedRow:
    seed: int
    task: str
    final: float | None
    best: float | None
    steps_to_threshold: float | None
    time_to_threshold: float | None


@dataclass
class ConfigReport:
    label: str
    curve_source: str  # evals, episodes, or mixed
    runs: list[TaskRun] = field(repr=False)
    rows: list[SeedRow]
    aggregates: dict[str, Aggregate | None]


def seed_row(run: TaskRun, threshold: float | None) -> SeedRow:
    curve = run.curve
    final = float(curve.reward[-1]) if len(curve.reward) else None
    best = float(np.max(curve.reward)) if len(curve.reward) else None
    steps = time = None
    if threshold is not None:
        reached = np.flatnonzero(curve.reward >= threshold)
        if len(reached):
            steps, time = float(curve.env_steps[reached[0]]), float(curve.wall_time[reached[0]])
    return SeedRow(run.seed, run.root.name, final, best, steps, time)


def _labels(groups: list[list[TaskRun]], origins: list[set[Path]]) -> list[str]:
    folders = [next(iter(o)) for o in origins]
    one_each = all(len(o) == 1 for o in origins) and len(set(folders)) == len(folders)
    if one_each and len({f.name for f in folders}) == len(folders):
        return [f.name for f in folders]
    flats = [flat_config(g[0].config) for g in groups]
    keys = sorted({k for flat in flats for k in flat if not k.endswith((".seed", ".task_dir"))})
    differing = [k for k in keys if len({repr(flat.get(k)) for flat in flats}) > 1]
    labels = [", ".join(f"{k.split('.', 1)[1]}={flat.get(k)}" for k in differing) or "config" for flat in flats]
    return [f"{label} [{i + 1}]" if labels.count(label) > 1 else label for i, label in enumerate(labels)]


def build_report(folders: Sequence[Path], threshold: float | None = None) -> list[ConfigReport]:
    """Group the task folders under ``folders`` by config and compute each config's table."""
    _stats()  # say what to install before reading anything
    by_identity: dict[str, list[TaskRun]] = {}
    origins: dict[str, set[Path]] = {}
    for folder in map(Path, folders):
        for task in find_tasks(folder):
            run = read_task(task)
            key = config_identity(run.config)
            by_identity.setdefault(key, []).append(run)
            origins.setdefault(key, set()).add(folder)
    groups = [sorted(runs, key=lambda r: (r.seed, r.root.name)) for runs in by_identity.values()]
    labels = _labels(groups, list(origins.values()))
    reports = []
    for label, runs in zip(labels, groups):
        rows = [seed_row(run, threshold) for run in runs]
        aggregates = {m: aggregate([getattr(r, m) for r in rows if getattr(r, m) is not None]) for m in METRICS}
        sources = {run.curve.source for run in runs}
        reports.append(ConfigReport(label, sources.pop() if len(sources) == 1 else "mixed", runs, rows, aggregates))
    return reports


def report_to_dict(reports: list[ConfigReport], threshold: float | None) -> dict[str, Any]:
    """The ``--json`` document: the estimator is named, and each aggregate's IQM is ``iqm``."""
    return {
        "threshold": threshold,
        "estimator": {
            "iqm": f"scipy.stats.trim_mean(x, {IQM_CUT})",
            "ci": f"scipy.stats.bootstrap, percentile, {N_RESAMPLES} resamples, {CONFIDENCE:.0%}",
        },
        "configs": [
            {
                "label": r.label,
                "curve": r.curve_source,
                "seeds": [asdict(row) for row in r.rows],
                "aggregate": {m: (asdict(a) if a is not None else None) for m, a in r.aggregates.items()},
            }
            for r in reports
        ],
    }


def _band(runs: list[TaskRun], axis: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """IQM and CI of the runs' curves on a shared grid; a run that ended early (``stop_reward``) keeps
    its last evaluation from there on."""
    xs = [getattr(run.curve, axis) for run in runs if len(run.curve.reward)]
    ys = [run.curve.reward for run in runs if len(run.curve.reward)]
    grid = np.linspace(min(x[0] for x in xs), max(x[-1] for x in xs), _GRID_POINTS)
    curves = np.stack([np.interp(grid, x, y) for x, y in zip(xs, ys)], axis=-1)
    center, low, high = iqm_with_ci(curves)
    return grid, center, low, high


def plot_report(reports: list[ConfigReport], out_png: Path, threshold: float | None = None) -> Path:
    """Eval reward against env steps (left) and training wall time (right): each config's IQM curve
    and its 95% CI band, one colour per config."""
    from matplotlib.figure import Figure

    from joyrl_core.outputs.plots import save_figure

    if not reports:
        raise JoyRLError("nothing to plot")
    fig = Figure(figsize=(12, 5), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, axis, xlabel in ((axes[0], "env_steps", "env steps"), (axes[1], "wall_time", "training wall time (s)")):
        for i, report in enumerate(reports):
            if not any(len(run.curve.reward) for run in report.runs):
                continue
            color = f"C{i % 10}"
            grid, center, low, high = _band(report.runs, axis)
            ax.plot(grid, center, color=color, linewidth=2, label=f"{report.label} (IQM of {len(report.runs)})")
            if low is not None:
                ax.fill_between(grid, low, high, color=color, alpha=0.2)
        if threshold is not None:
            ax.axhline(threshold, color="grey", linestyle="--", linewidth=1)
        ax.set_xlabel(xlabel)
        ax.grid(True, alpha=0.3)
    sources = {r.curve_source for r in reports}
    axes[0].set_ylabel("eval mean reward" if sources == {"evals"} else "reward (eval, or training moving average)")
    axes[0].legend(loc="best", fontsize="small")
    fig.suptitle(f"IQM and {CONFIDENCE:.0%} bootstrap CI over seeds")
    return save_figure(fig, Path(out_png))
