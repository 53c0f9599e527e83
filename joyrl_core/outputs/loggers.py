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
import time
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
            self._progress.console.log(f"eval at {env_steps} steps: mean reward {metrics['eval/mean_reward']:.1f}")

    def close(self) -> None:
        self._progress.stop()


class CsvLogger(Logger):
    """``results/episodes.csv`` (one row per train or test episode) and ``results/evals.csv``.

    Rows stream into a ``.part`` file as they come; ``close`` renames it into place, so the final CSV
    appears whole, including after Ctrl-C.
    """

    EPISODE_FIELDS = ("episode", "env_steps", "reward", "length", "wall_time", "terminated")
    EVAL_FIELDS = ("env_steps", "mean_reward", "std_reward", "train_time")

    def __init__(self, run: RunContext):
        # An offline run's evaluations are placed by update steps: the column says so.
        self._eval_fields = (run.step_axis, *self.EVAL_FIELDS[1:])
        self._files: list[tuple[io.TextIOWrapper, Path]] = []
        self._episodes = self._open(run.task.results / "episodes.csv", self.EPISODE_FIELDS)
        self._evals: csv.writer | None = None
        self._eval_path = run.task.results / "evals.csv"
        self._last_flush = time.monotonic()

    def _open(self, path: Path, header: Sequence[str]):
        fh = open(path.with_name(path.name + ".part"), "w", newline="", encoding="utf-8")
        self._files.append((fh, path))
        writer = csv.writer(fh)
        writer.writerow(header)
        return writer

    def log_episode(self, record: EpisodeRecord) -> None:
        if record.mode == "eval":
            return
        self._episodes.writerow(
            [record.episode, record.env_steps, f"{record.reward:.10g}", record.length,
             f"{record.wall_time:.3f}", int(record.terminated)]
        )
        # Flushing about once a second lets `tail -f` follow the run without a write per short episode.
        now = time.monotonic()
        if now - self._last_flush > 1.0:
            self._files[0][0].flush()
            self._last_flush = now

    def log_metrics(self, env_steps: int, metrics: Mapping[str, float]) -> None:
        if "eval/mean_reward" not in metrics:
            return
        if self._evals is None:
            self._evals = self._open(self._eval_path, self._eval_fields)
        self._evals.writerow(
            [env_steps, f"{metrics['eval/mean_reward']:.10g}", f"{metrics.get('eval/std_reward', 0.0):.10g}",
             f"{metrics.get('time/train_time', 0.0):.3f}"]
        )

    def close(self) -> None:
        for fh, path in self._files:
            fh.flush()
            os.fsync(fh.fileno())
            fh.close()
            os.replace(fh.name, path)
        self._files.clear()
