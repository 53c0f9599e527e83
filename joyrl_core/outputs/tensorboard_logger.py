"""The ``tensorboard`` logger: every episode and metric as TensorBoard scalars in ``logs/tensorboard``.

The step axis is the run's global env steps, as for every logger, so runs compare in TensorBoard
whatever their episode lengths.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from joyrl_core.contracts.logger import Logger
from joyrl_core.contracts.records import EpisodeRecord
from joyrl_core.errors import JoyRLError

if TYPE_CHECKING:
    from joyrl_core.run.context import RunContext


class TensorBoardLogger(Logger):
    """``<mode>/episode_reward`` and ``<mode>/episode_length`` per train or test episode, plus every metric.

    Eval episodes are left out: their mean and std arrive as ``eval/...`` metrics.
    """

    def __init__(self, run: RunContext):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise JoyRLError("the tensorboard logger needs the tensorboard package: pip install tensorboard") from None
        self.log_dir = run.task.logs / "tensorboard"
        self._writer = SummaryWriter(log_dir=str(self.log_dir))
        self._closed = False

    def log_episode(self, record: EpisodeRecord) -> None:
        if record.mode == "eval":
            return
        reward_tag, length_tag = f"{record.mode}/episode_reward", f"{record.mode}/episode_length"
        self._writer.add_scalar(reward_tag, record.reward, record.env_steps)
        self._writer.add_scalar(length_tag, record.length, record.env_steps)

    def log_metrics(self, env_steps: int, metrics: Mapping[str, float]) -> None:
        for tag, value in metrics.items():
            self._writer.add_scalar(tag, float(value), env_steps)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._writer.flush()
        self._writer.close()
