"""Prioritized experience replay (Schaul et al., 2016): the ``PER_QUE`` buffer, ``REPLAY_QUE`` sampled
through the core's :class:`joyrl_core.Priorities` (sum-tree, stratified draws, importance weights)."""

from __future__ import annotations

import numpy as np

from joyrl_core import Batch, BufferCapabilities, EnvSpec, Priorities, ReplayQueue, SumTree

from joyrl_dqn.config import PERConfig

__all__ = ["PER_CAPABILITIES", "PrioritizedReplayQueue", "SumTree"]

PER_CAPABILITIES = BufferCapabilities(random_sampling=True, n_step=True, priorities=True)


class PrioritizedReplayQueue(ReplayQueue):
    """``REPLAY_QUE`` sampled in proportion to priority, with importance-sampling weights
    (:class:`joyrl_core.Priorities` gives the rule). n-step returns are built as in ``REPLAY_QUE``."""

    capabilities = PER_CAPABILITIES

    def __init__(self, capacity: int, env_spec: EnvSpec, config: PERConfig | None = None, seed: int | None = None):
        super().__init__(capacity, env_spec, seed)
        self.priorities = Priorities(capacity, config)
        self.config = self.priorities.config
        self.tree = self.priorities.tree

    @property
    def beta(self) -> float:
        return self.priorities.beta(self.transitions_pushed)

    def push(self, obs, action, reward: float, next_obs, terminated: bool, truncated: bool = False, **keys) -> None:
        pos = self._pos
        super().push(obs, action, reward, next_obs, terminated, truncated, **keys)
        self.priorities.add(pos)

    def push_batch(self, obs, actions, rewards, next_obs, terminated, truncated=None, **keys) -> None:
        pos = self._pos
        n = min(len(rewards), self.capacity)
        super().push_batch(obs, actions, rewards, next_obs, terminated, truncated, **keys)
        self.priorities.add((pos + np.arange(n)) % self.capacity)

    def sample(self, batch_size: int, n_step: int = 1, gamma: float = 1.0) -> Batch:
        if self._size == 0:
            raise ValueError("cannot sample from an empty buffer")
        idx, weights = self.priorities.draw(batch_size, self._rng, self._size, self._size, self.transitions_pushed)
        return self._gather(idx, weights, n_step, gamma)

    def update_priorities(self, indices: np.ndarray, td_errors: np.ndarray) -> None:
        """Set the priority of rows ``indices`` (a batch's ``indices``) to ``|td_errors| + priority_eps``."""
        self.priorities.update(indices, td_errors)
