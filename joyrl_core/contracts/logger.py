"""The ``Logger`` contract.

Every logger sees the same events on one step axis, the run's global env steps: each finished episode
(``log_episode``) and scalar metrics tagged like ``train/loss``, ``eval/mean_reward``,
``time/steps_per_sec`` (``log_metrics``).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping

from joyrl_core.contracts.records import EpisodeRecord


class Logger(abc.ABC):
    """Receives a run's events. Built once per run by its factory; ``close`` is always called."""

    @abc.abstractmethod
    def log_episode(self, record: EpisodeRecord) -> None:
        """Called after every train, test and eval episode."""

    @abc.abstractmethod
    def log_metrics(self, env_steps: int, metrics: Mapping[str, float]) -> None:
        """Called with tagged scalars (``train/loss``, ``eval/mean_reward``, ...) at ``env_steps``."""

    @abc.abstractmethod
    def close(self) -> None:
        """Flush and release everything; called once at the end of the run, also after an error."""
