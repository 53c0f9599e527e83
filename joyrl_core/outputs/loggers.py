"""The built-in ``console`` and ``csv`` loggers, and the group that fans a run's events out to its loggers.

Every logger sees the same events on one step axis, the run's global env steps (update steps for an
offline run, which steps no env: ``run.step_axis``): each finished episode
(``log_episode``) and scalar metrics tagged like ``train/loss``, ``eval/mean_reward``,
``time/steps_per_sec`` (``log_metrics``).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from joyrl_core.contracts.logger import Logger
from joyrl_core.contracts.records import EpisodeRecord
from joyrl_core.errors import OutputError

if TYPE_CHECKING:
    from joyrl_core.run.context import RunContext


class LoggerGroup(Logger):
    """Fans every event out to several loggers."""

    def __init__(self, loggers: Sequence[Logger] = ()):
        self.loggers = list(loggers)

    def log_episode(self, record: EpisodeRecord) -> None:
        for logger in self.loggers:
            logger.log_episode(record)

    def log_metrics(self, env_steps: int, metrics: Mapping[str, float]) -> None:
        for logger in self.loggers:
            logger.log_metrics(env_steps, metrics)

    def close(self) -> None:
        """Close every logger once; later calls do nothing."""
        errors = []
        loggers, self.loggers = self.loggers, []
        for logger in loggers:
            try:
                logger.close()
            except Exception as exc:  # close the others before reporting
                errors.append(exc)
        if errors:
            raise errors[0]


class ConsoleLogger(Logger):
    """A live progress bar: episodes, env steps, last reward, exploration, steps per second."""

    def __init__(self, run: RunContext, console: Console | None = None):
        general = run.config.general
        total = None if general.max_episode < 0 else general.max_episode
        if general.mode == "test":
            total = general.test_episode or general.online_eval_episode
        # An offline run has no episodes to count: the bar follows its update steps.
        self._offline = run.dataset is not None
        if self._offline:
            total = general.max_update_steps
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn(f"[bold]{general.mode}[/] {general.algo_name} on {run.env_spec.env_id}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("steps {task.fields[env_steps]}"),
            TextColumn("reward {task.fields[reward]}"),
            TextColumn("{task.fields[extra]}"),
            TextColumn("{task.fields[speed]}"),
            TimeElapsedColumn(),
            console=console or Console(stderr=True),
            transient=False,
        )
        self._task = self._progress.add_task(
            "run", total=total, env_steps=0, reward="-", extra="", speed=""
        )
        self._progress.start()

    def log_episode(self, record: EpisodeRecord) -> None:
        if record.mode == "eval":
            return
        extra = " ".join(f"{k} {v:.3f}" for k, v in record.metrics.items() if k in ("epsilon",))
        self._progress.update(
            self._task, advance=1, env_steps=record.env_steps, reward=f"{record.reward:.1f}", extra=extra
        )

    def log_metrics(self, env_steps: int, metrics: Mapping[str, float]) -> None:
        if "time/steps_per_sec" in metrics:
            self._progress.update(self._task, speed=f"{metrics['time/steps_per_sec']:.0f} steps/s")
        if self._offline and "time/updates_per_sec" in metrics:
            loss = " ".join(f"{k[6:]} {v:.3g}" for k, v in metrics.items() if k in ("train/loss",))
            self._progress.update(self._task, completed=env_steps, env_steps=env_steps, extra=loss,
                                  speed=f"{metrics['time/updates_per_sec']:.0f} updates/s")
        if "eval/mean_reward" in metrics:
            # print, not log: Console.log ends each line with the calling file and line number.
            self._progress.console.print(f"eval at {env_steps} steps: mean reward {metrics['eval/mean_reward']:.1f}")

    def close(self) -> None:
        self._progress.stop()


class CsvLogger(Logger):
    """``results/episodes.csv`` (one row per train or test episode) and ``results/evals.csv``.

    Each row is appended and flushed as it is logged, so both files are readable under their real names
    at any moment, also after ``kill -9``, and never lag the newest checkpoint (a checkpoint counts only
    episodes whose rows were already flushed). A kill in the middle of a write leaves at most a torn last
    line, which :func:`read_results_csv` drops.
    """

    EPISODE_FIELDS = ("episode", "env_steps", "reward", "length", "wall_time", "terminated")
    EVAL_FIELDS = ("env_steps", "mean_reward", "std_reward", "train_time")

    def __init__(self, run: RunContext):
        # An offline run's evaluations are placed by update steps: the column says so.
        self._eval_fields = (run.step_axis, *self.EVAL_FIELDS[1:])
        self._files: list[io.TextIOWrapper] = []
        self._failed = False
        self._episodes = self._open(run.task.results / "episodes.csv", self.EPISODE_FIELDS)
        self._evals: tuple[csv.writer, io.TextIOWrapper] | None = None
        self._eval_path = run.task.results / "evals.csv"

    def _open(self, path: Path, header: Sequence[str]) -> tuple[csv.writer, io.TextIOWrapper]:
        try:
            fh = open(path, "w", newline="", encoding="utf-8")
        except OSError as exc:
            raise OutputError.writing(path, exc) from None
        self._files.append(fh)
        writer = csv.writer(fh)
        self._append(writer, fh, header)
        return writer, fh

    def _append(self, writer: csv.writer, fh: io.TextIOWrapper, row: Sequence[object]) -> None:
        try:
            writer.writerow(row)
            fh.flush()
        except OSError as exc:
            self._failed = True
            raise OutputError.writing(fh.name, exc) from None

    def log_episode(self, record: EpisodeRecord) -> None:
        if record.mode == "eval":
            return
        self._append(*self._episodes, [
            record.episode, record.env_steps, f"{record.reward:.10g}", record.length,
            f"{record.wall_time:.3f}", int(record.terminated),
        ])

    def log_metrics(self, env_steps: int, metrics: Mapping[str, float]) -> None:
        if "eval/mean_reward" not in metrics:
            return
        if self._evals is None:
            self._evals = self._open(self._eval_path, self._eval_fields)
        self._append(*self._evals, [
            env_steps, f"{metrics['eval/mean_reward']:.10g}", f"{metrics.get('eval/std_reward', 0.0):.10g}",
            f"{metrics.get('time/train_time', 0.0):.3f}",
        ])

    def close(self) -> None:
        files, self._files = self._files, []
        error: OutputError | None = None
        for fh in files:
            try:
                try:
                    fh.flush()
                    os.fsync(fh.fileno())
                finally:
                    fh.close()  # closes the file also when its last flush fails
            except OSError as exc:
                error = error or OutputError.writing(fh.name, exc)
        # A failed row was reported when it happened; a second report would hide the first.
        if error is not None and not self._failed:
            raise error


def read_results_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    """The header and rows of a results CSV that :class:`CsvLogger` writes, without a torn last line.

    Every complete row ends with a newline; a last line without one is a row cut by a kill mid-write.
    """
    with open(path, newline="", encoding="utf-8") as fh:
        text = fh.read()
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines.pop()
    rows = list(csv.reader(lines))
    if not rows:
        return [], []
    return rows[0], rows[1:]
