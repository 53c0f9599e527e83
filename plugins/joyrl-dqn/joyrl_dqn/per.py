"""Prioritized experience replay (Schaul et al., 2016): the ``PER_QUE`` buffer and its sum-tree.

Numpy only, and vectorized: a batch is drawn by stratified sampling (one uniform draw in each of
``batch_size`` equal segments of the total priority) with the tree descent done for the whole batch at
once, one numpy step per tree level; priority updates write the leaves and recompute their ancestors
level by level, also for the whole batch at once.
"""

from __future__ import annotations

import numpy as np

from joyrl_core import Batch, BufferCapabilities, EnvSpec, ReplayQueue

from joyrl_dqn.config import PERConfig


class SumTree:
    """A binary tree of non-negative values whose every node is the sum of its two children.

    Leaves ``0 .. capacity-1`` hold the values; ``find(u)`` gives, for each ``u`` in ``[0, total)``,
    the leaf whose cumulative-sum interval contains it, so drawing ``u`` uniformly draws leaf ``i``
    with probability ``value_i / total``. Stored as a flat float64 array (root at 1, children of node
    ``j`` at ``2j`` and ``2j + 1``, leaves from ``n_leaves``, a power of two); parents are recomputed
    from their children rather than adjusted by deltas, so rounding does not drift.
    """

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError(f"sum-tree capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.depth = max(1, int(np.ceil(np.log2(capacity))))
        self.n_leaves = 1 << self.depth
        self._tree = np.zeros(2 * self.n_leaves, dtype=np.float64)

    @property
    def total(self) -> float:
        return float(self._tree[1])

    def __getitem__(self, leaves) -> np.ndarray:
        return self._tree[np.asarray(leaves) + self.n_leaves]

    def update(self, leaves: np.ndarray, values: np.ndarray) -> None:
        """Set ``leaves`` to ``values`` (for a leaf given twice, the last value wins)."""
        tree = self._tree
        nodes = np.asarray(leaves, dtype=np.int64) + self.n_leaves
        tree[nodes] = values
        for _ in range(self.depth):
            # A parent listed twice is recomputed twice from the same children: harmless, and
            # cheaper than np.unique for batch-sized arrays.
            nodes >>= 1
            tree[nodes] = tree[2 * nodes] + tree[2 * nodes + 1]

    def set(self, leaf: int, value: float) -> None:
        """Set one leaf: the single-transition ``push`` path, in plain Python (no small-array overhead)."""
        tree = self._tree
        node = leaf + self.n_leaves
        tree[node] = value
        while node > 1:
            node >>= 1
            tree[node] = tree[2 * node] + tree[2 * node + 1]

    def find(self, u: np.ndarray, n_filled: int | None = None) -> np.ndarray:
        """The leaf of each prefix-sum ``u`` (an array), all at once: one numpy step per level.

        ``n_filled``: leaves ``0 .. n_filled-1`` hold the values (default: all of them).
        """
        tree = self._tree
        u = np.array(u, dtype=np.float64)
        nodes = np.ones(len(u), dtype=np.int64)
        for _ in range(self.depth):
            left = 2 * nodes
            left_sum = tree[left]
            right = u > left_sum
            u -= left_sum * right
            nodes = left + right
        # Rounding can carry a draw at the very top past the last non-empty leaf; keep it inside.
        return np.minimum(nodes - self.n_leaves, (n_filled or self.capacity) - 1)


PER_CAPABILITIES = BufferCapabilities(random_sampling=True, n_step=True, priorities=True)


class PrioritizedReplayQueue(ReplayQueue):
    """``REPLAY_QUE`` sampled in proportion to priority, with importance-sampling weights.

    A transition is drawn with probability ``P(i) = p_i^alpha / sum_k p_k^alpha``; new transitions get
    the largest priority seen so far, so each is likely to be replayed at least once; the learner sets
    ``p_i = |TD error_i| + priority_eps`` through :meth:`update_priorities`. Each batch carries weights
    ``w_i = (N * P(i))^-beta / max_batch w``, with ``beta`` going linearly from ``beta_start`` to 1
    over ``beta_steps`` transitions pushed. n-step returns are built as in ``REPLAY_QUE``.
    """

    capabilities = PER_CAPABILITIES

    def __init__(self, capacity: int, env_spec: EnvSpec, config: PERConfig | None = None, seed: int | None = None):
        super().__init__(capacity, env_spec, seed)
        self.config = config or PERConfig()
        self.tree = SumTree(capacity)
        self._max_priority = 1.0

    @property
    def beta(self) -> float:
        cfg = self.config
        return cfg.beta_start + (1.0 - cfg.beta_start) * min(1.0, self.transitions_pushed / cfg.beta_steps)

    def push(self, obs, action, reward: float, next_obs, terminated: bool, truncated: bool = False, **keys) -> None:
        pos = self._pos
        super().push(obs, action, reward, next_obs, terminated, truncated, **keys)
        self.tree.set(pos, self._max_priority ** self.config.alpha)

    def push_batch(self, obs, actions, rewards, next_obs, terminated, truncated=None, **keys) -> None:
        pos = self._pos
        n = min(len(rewards), self.capacity)
        super().push_batch(obs, actions, rewards, next_obs, terminated, truncated, **keys)
        idx = (pos + np.arange(n)) % self.capacity
        self.tree.update(idx, np.full(n, self._max_priority ** self.config.alpha))

    def sample(self, batch_size: int, n_step: int = 1, gamma: float = 1.0) -> Batch:
        if self._size == 0:
            raise ValueError("cannot sample from an empty buffer")
        total = self.tree.total
        u = (np.arange(batch_size) + self._rng.random(batch_size)) * (total / batch_size)
        idx = self.tree.find(u, self._size)
        probs = self.tree[idx] / total
        weights = (self._size * probs) ** -self.beta
        weights = (weights / weights.max()).astype(np.float32)
        return self._gather(idx, weights, n_step, gamma)

    def update_priorities(self, indices: np.ndarray, td_errors: np.ndarray) -> None:
        """Set the priority of rows ``indices`` (a batch's ``indices``) to ``|td_errors| + priority_eps``."""
        priorities = np.abs(np.asarray(td_errors, dtype=np.float64)) + self.config.priority_eps
        self._max_priority = max(self._max_priority, float(priorities.max(initial=0.0)))
        self.tree.update(indices, priorities ** self.config.alpha)

