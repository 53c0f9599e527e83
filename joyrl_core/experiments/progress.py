"""One progress display for many runs in child processes.

Each child installs a :class:`ReportingLogger` (through ``start_run``'s ``extra_loggers``) that sends its
run's progress to the parent, at most a few times a second; the parent shows one line per run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from joyrl_core.config import RunConfig
from joyrl_core.contracts.logger import Logger
from joyrl_core.contracts.records import EpisodeRecord

_MIN_INTERVAL_S = 0.25


def without_console(config: RunConfig) -> RunConfig:
    """``config`` without the console logger: a child's run reports to the parent's display instead."""
    if "console" in config.general.loggers:
        config.general.loggers = [name for name in config.general.loggers if name != "console"]
        config.loggers.pop("console", None)
    return config


class ReportingLogger(Logger):
    """Sends ``("progress", env_steps, episodes, last reward, last eval mean)`` through ``report``."""

    def __init__(self, report: Callable[..., None]):
        self._report = report
        self._env_steps = 0
        self._episodes = 0
        self._reward: float | None = None
        self._eval: float | None = None
        self._last_sent = 0.0

    def _send(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_sent >= _MIN_INTERVAL_S:
            self._last_sent = now
            self._report("progress", self._env_steps, self._episodes, self._reward, self._eval)

    def log_episode(self, record: EpisodeRecord) -> None:
        if record.mode == "eval":
            return
        self._episodes, self._env_steps, self._reward = record.episode, record.env_steps, record.reward
        self._send()

    def log_metrics(self, env_steps: int, metrics: Mapping[str, float]) -> None:
        if "eval/mean_reward" in metrics:
            self._env_steps, self._eval = env_steps, metrics["eval/mean_reward"]
            self._send(force=True)

    def close(self) -> None:
        self._send(force=True)


class ProgressBoard:
    """The parent's display: a line per run with its env steps (of ``total``), reward and eval."""

    def __init__(self, total: int | None, unit: str, console: Console | None = None):
        self._total = total
        self._unit = unit
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
            console=console or Console(stderr=True),
        )
        self._rows: dict[Hashable, Any] = {}

    def __enter__(self) -> ProgressBoard:
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()

    def add(self, key: Hashable, label: str) -> None:
        self._rows[key] = self._progress.add_task(label, total=self._total, status="waiting")

    def update(self, key: Hashable, event: tuple[Any, ...]) -> None:
        if event[0] != "progress":
            return
        env_steps, episodes, reward, eval_mean = event[1:]
        done = env_steps if self._unit == "env steps" else episodes
        parts = [f"{env_steps} env steps", f"{episodes} episodes"]
        if reward is not None:
            parts.append(f"reward {reward:.1f}")
        if eval_mean is not None:
            parts.append(f"eval {eval_mean:.1f}")
        self._progress.update(self._rows[key], completed=done, status=", ".join(parts))

    def finish(self, key: Hashable, status: str) -> None:
        self._progress.update(self._rows[key], status=status)
