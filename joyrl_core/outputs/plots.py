"""Reward curves of finished runs as PNG files, and showing them in a window.

matplotlib is imported inside the functions so ``import joyrl_core`` stays light. Figures are built
with ``matplotlib.figure.Figure`` rather than pyplot: they render with Agg whatever the configured
backend, need no display, and leave no global figure state behind in a long-lived process.
"""

from __future__ import annotations

import csv
import io
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from joyrl_core.errors import JoyRLError
from joyrl_core.outputs.loggers import read_results_csv
from joyrl_core.outputs.task import atomic_write

MOVING_AVERAGE_WINDOW = 10
_GRID_POINTS = 200
_NON_INTERACTIVE_BACKENDS = {"agg", "cairo", "pdf", "pgf", "ps", "svg", "template"}


def read_columns(path: Path, columns: Sequence[str]) -> dict[str, np.ndarray]:
    """The named columns of a CSV that JoyRL wrote, as float arrays (empty arrays for a header-only file)."""
    if not path.is_file():
        raise JoyRLError(f"{path}: no such CSV file")
    try:
        header, table_rows = read_results_csv(path)
        missing = [c for c in columns if c not in header]
        if missing:
            raise JoyRLError(f"{path}: not a JoyRL results CSV (missing column(s) {', '.join(missing)})")
        index = [header.index(c) for c in columns]
        rows = [[float(row[i]) for i in index] for row in table_rows]
    except (ValueError, TypeError, IndexError, UnicodeDecodeError, csv.Error) as exc:
        raise JoyRLError(f"{path}: unreadable results CSV ({type(exc).__name__}: {exc})") from None
    table = np.array(rows, dtype=np.float64).reshape(len(rows), len(columns))
    return {c: table[:, i] for i, c in enumerate(columns)}


def moving_average(values: np.ndarray, window: int = MOVING_AVERAGE_WINDOW) -> np.ndarray:
    """Trailing mean over up to ``window`` values, same length as ``values`` (the first points average fewer)."""
    if len(values) == 0:
        return values.astype(np.float64)
    window = max(1, min(window, len(values)))
    sums = np.cumsum(np.insert(values.astype(np.float64), 0, 0.0))
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(0, ends - window)
    return (sums[ends] - sums[starts]) / (ends - starts)


def save_figure(fig, out_png: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    atomic_write(out_png, lambda fh: fh.write(buf.getvalue()))
    return out_png


def _new_figure(x_axis: str = "env_steps"):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = fig.add_subplot()
    ax.set_xlabel(x_axis.replace("_", " "))
    ax.set_ylabel("episode reward")
    ax.grid(True, alpha=0.3)
    return fig, ax


def plot_rewards(episodes_csv: Path, out_png: Path, evals_csv: Path | None = None, title: str = "") -> Path:
    """One run: each episode's reward and its moving average against env steps, plus eval points.

    An offline run's evaluations are placed by update steps (the first column of its evals.csv); it
    has no training episodes, so its figure is the evaluation points alone.
    """
    episodes = read_columns(Path(episodes_csv), ("env_steps", "reward"))
    steps, rewards = episodes["env_steps"], episodes["reward"]
    x_axis = "env_steps"
    if evals_csv is not None and Path(evals_csv).is_file():
        with open(evals_csv, newline="", encoding="utf-8") as fh:
            if next(csv.reader(fh), [None])[0] == "update_steps":
                x_axis = "update_steps"
    fig, ax = _new_figure(x_axis)
    if len(rewards):
        ax.plot(steps, rewards, color="tab:blue", alpha=0.35, linewidth=1, label="episode reward")
        window = max(1, min(MOVING_AVERAGE_WINDOW, len(rewards)))
        ax.plot(steps, moving_average(rewards, window), color="tab:blue", linewidth=2,
                label=f"moving average ({window})")
    if evals_csv is not None and Path(evals_csv).is_file():
        evals = read_columns(Path(evals_csv), (x_axis, "mean_reward", "std_reward"))
        if len(evals[x_axis]):
            ax.errorbar(evals[x_axis], evals["mean_reward"], yerr=evals["std_reward"], fmt="o",
                        color="tab:orange", capsize=3, label="eval mean ± std")
    if title:
        ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:  # a run with neither episodes nor evaluations has nothing to label
        ax.legend(loc="best")
    return save_figure(fig, Path(out_png))


def _read_config(task_dir: Path) -> dict | None:
    import yaml

    try:
        config = yaml.safe_load((task_dir / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return None
    return config if isinstance(config, dict) else None


def _section(config: dict | None, name: str) -> dict:
    section = (config or {}).get(name)
    return section if isinstance(section, dict) else {}


@dataclass
class RunGroup:
    """Task folders of one config (the same config.yaml but for seed and task folder, so also the
    same mode): one curve with its spread when there are several."""

    task_dirs: list[Path]
    mode: str | None
    algo: str | None
    env_id: str | None
    seeds: list[object]

    def describe(self) -> str:
        what = " ".join(str(part) for part in (self.mode, self.algo) if part) or "runs"
        if self.env_id:
            what += f" on {self.env_id}"
        return f"{what}, {len(self.task_dirs)} seeds ({', '.join(map(str, self.seeds))})"


def group_runs(task_dirs: Sequence[Path]) -> list[RunGroup]:
    """``task_dirs`` grouped by config, in the order given; an unreadable config is a group of its own."""
    from joyrl_core.outputs.task import config_identity

    groups: dict[str, RunGroup] = {}
    for task_dir in map(Path, task_dirs):
        config = _read_config(task_dir)
        key = config_identity(config) if config is not None else f"unreadable {task_dir}"
        general, env = _section(config, "general_cfg"), _section(config, "env_cfg")
        group = groups.get(key)
        if group is None:
            mode = general.get("mode", "train" if config is not None else None)
            group = groups[key] = RunGroup(
                [], str(mode).capitalize() if mode else None, general.get("algo_name"),
                env.get("id") or general.get("env_name"), [],
            )
        group.task_dirs.append(task_dir)
        group.seeds.append(general.get("seed", "?"))
    return list(groups.values())


def plot_runs(task_dirs: Sequence[Path], out_png: Path) -> Path:
    """Several runs' moving-average reward curves on one figure.

    Runs of one config (:func:`group_runs`: the same config.yaml but for seed and task folder, so
    never a test run with a training run) are drawn as their mean and min-max range on the env-step
    span they all cover, each run interpolated onto one shared grid, and labelled with the group;
    any other run is a line of its own, labelled by its folder name.
    """
    if not task_dirs:
        raise JoyRLError("plot_runs needs at least one task folder")
    curves: dict[Path, tuple[np.ndarray, np.ndarray]] = {}
    for task_dir in map(Path, task_dirs):
        csv_path = task_dir / "results" / "episodes.csv"
        if not csv_path.is_file():
            raise JoyRLError(f"{task_dir}: no results/episodes.csv; is it a finished JoyRL task folder?")
        episodes = read_columns(csv_path, ("env_steps", "reward"))
        curves[task_dir] = episodes["env_steps"], moving_average(episodes["reward"])

    groups = group_runs(list(curves))
    fig, ax = _new_figure()
    setups = {(group.algo, group.env_id) for group in groups}
    if len(setups) == 1:
        algo, env_id = setups.pop()
        if algo and env_id:
            ax.set_title(f"{algo} on {env_id}")
    for group in groups:
        band = _shared_span([curves[task_dir] for task_dir in group.task_dirs])
        if band is None:
            for task_dir in group.task_dirs:
                ax.plot(*curves[task_dir], linewidth=1.2, alpha=0.8, label=task_dir.name)
            continue
        grid = np.linspace(*band, _GRID_POINTS)
        stacked = np.stack([np.interp(grid, *curves[task_dir]) for task_dir in group.task_dirs])
        (line,) = ax.plot(grid, stacked.mean(axis=0), linewidth=2.5, label=f"{group.describe()}: mean")
        ax.fill_between(grid, stacked.min(axis=0), stacked.max(axis=0), color=line.get_color(), alpha=0.15,
                        label=f"{group.describe()}: min-max")
    ax.legend(loc="best", fontsize="small")
    return save_figure(fig, Path(out_png))


def _shared_span(curves: list[tuple[np.ndarray, np.ndarray]]) -> tuple[float, float] | None:
    """The env-step span every curve covers, where there are several and they overlap; else ``None``.

    Only that span: np.interp would otherwise repeat a short run's last value.
    """
    if len(curves) < 2 or any(len(steps) == 0 for steps, _ in curves):
        return None
    lo = max(steps[0] for steps, _ in curves)
    hi = min(steps[-1] for steps, _ in curves)
    return (lo, hi) if hi > lo else None


def show_figure(png: Path) -> None:
    """Open ``png`` in a matplotlib window and block until it is closed; an error where no display exists."""
    import matplotlib

    png = Path(png)
    if not png.is_file():
        raise JoyRLError(f"{png}: no such figure to show")
    backend = matplotlib.get_backend().lower()
    if backend in _NON_INTERACTIVE_BACKENDS:
        raise JoyRLError(f"cannot show {png}: no display is available (matplotlib backend is {backend!r})")
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise JoyRLError(f"cannot show {png}: no display is available (neither DISPLAY nor WAYLAND_DISPLAY is set)")
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    ax.imshow(mpimg.imread(png))
    ax.set_axis_off()
    fig.canvas.manager.set_window_title(png.name)
    plt.show()
    plt.close(fig)
