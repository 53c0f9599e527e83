"""Proportional prioritized sampling (Schaul et al., 2016) for any ring buffer of rows: the sum-tree,
its options, and :class:`Priorities`, which draws rows and their importance-sampling weights.

The replay buffers that offer the ``priorities`` capability (``PER_QUE`` of joyrl-dqn, the core's
``FRAME_PER_QUE``) own one :class:`Priorities` over their row slots, so the rule is written once.
Numpy only, and vectorized: a batch is drawn by stratified sampling (one uniform draw in each of
``batch_size`` equal segments of the total priority) with the tree descent done for the whole batch at
once, one numpy step per tree level; priority updates write the leaves and recompute their ancestors
level by level, also for the whole batch at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from joyrl_core.config import option


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


@dataclass
class PriorityConfig:
    """The options of prioritized replay; they sit in ``algo_cfg`` beside the algorithm's."""

    alpha: float = option(0.6, "priority exponent: P(i) ~ p_i^alpha; 0 = uniform sampling", minimum=0.0)
    beta_start: float = option(0.4, "importance-sampling exponent at the start, annealed linearly to 1", minimum=0.0, maximum=1.0)
    beta_steps: int = option(100000, "env steps (transitions pushed) over which beta reaches 1", minimum=1)
    priority_eps: float = option(1e-6, "added to |TD error| so that no transition gets priority 0 (> 0)", minimum=0.0)

    def __post_init__(self) -> None:
        if self.priority_eps <= 0:
            raise ValueError(f"priority_eps: must be > 0, got {self.priority_eps}")


class Priorities:
    """The priorities of a ring buffer's ``capacity`` row slots, and prioritized draws from them.

    A row is drawn with probability ``P(i) = p_i^alpha / sum_k p_k^alpha``; new rows get the largest
    priority seen so far, so each is likely to be replayed at least once; the learner sets
    ``p_i = |TD error_i| + priority_eps`` (:meth:`update`). Each draw carries weights
    ``w_i = (N * P(i))^-beta / max_batch w`` over the ``N`` sampleable rows, with ``beta`` going
    linearly from ``beta_start`` to 1 over ``beta_steps`` transitions pushed. A slot that holds no
    sampleable row has priority 0 (never written, or :meth:`clear`-ed by its buffer).
    """

    def __init__(self, capacity: int, config: PriorityConfig | None = None):
        self.config = config or PriorityConfig()
        self.tree = SumTree(capacity)
        self._max_priority = 1.0

    def beta(self, pushed: int) -> float:
        cfg = self.config
        return cfg.beta_start + (1.0 - cfg.beta_start) * min(1.0, pushed / cfg.beta_steps)

    def add(self, slots) -> None:
        """New rows at ``slots`` (an int, or an index array) get the largest priority so far."""
        value = self._max_priority ** self.config.alpha
        if isinstance(slots, (int, np.integer)):
            self.tree.set(int(slots), value)
        else:
            self.tree.update(slots, np.full(len(slots), value))

    def clear(self, slots: np.ndarray) -> None:
        """The rows at ``slots`` can no longer be sampled."""
        self.tree.update(slots, np.zeros(len(slots)))

    def draw(self, batch_size: int, rng: np.random.Generator, n_filled: int, n_rows: int,
             pushed: int) -> tuple[np.ndarray, np.ndarray]:
        """``batch_size`` slots drawn in proportion to priority and their weights (float32).

        ``n_filled``: slots ``0 .. n_filled-1`` have been written; ``n_rows``: how many rows can be
        sampled (the ``N`` of the weights); ``pushed``: transitions pushed so far (anneals ``beta``).
        """
        total = self.tree.total
        u = (np.arange(batch_size) + rng.random(batch_size)) * (total / batch_size)
        slots = self.tree.find(u, n_filled)
        probs = self.tree[slots] / total
        weights = (n_rows * probs) ** -self.beta(pushed)
        return slots, (weights / weights.max()).astype(np.float32)

    def update(self, slots: np.ndarray, td_errors: np.ndarray) -> None:
        """Set the priority of ``slots`` (a batch's ``indices``) to ``|td_errors| + priority_eps``."""
        priorities = np.abs(np.asarray(td_errors, dtype=np.float64)) + self.config.priority_eps
        self._max_priority = max(self._max_priority, float(priorities.max(initial=0.0)))
        self.tree.update(slots, priorities ** self.config.alpha)
