"""``REPLAY_QUE``: the built-in uniform replay buffer (a ring of preallocated arrays, n-step at sample time)."""

from __future__ import annotations

import numpy as np

from joyrl_core.contracts.buffer import (
    Batch,
    Buffer,
    BufferCapabilities,
    allocate_transitions,
    read_transitions,
    write_transitions,
)
from joyrl_core.contracts.spaces import EnvSpec


class ReplayQueue(Buffer):
    """A first-in-first-out ring buffer in preallocated numpy arrays, sampled uniformly.

    When full, each push overwrites the oldest transition. Sampling is with replacement, as in DQN.

    ``sample(batch_size, n_step, gamma)`` builds n-step returns at sample time (:class:`Batch`). Each
    row remembers which push call wrote it (a running count) and how many rows that call wrote (the
    stride: 1 for ``push``, N for ``push_batch`` of N envs), so the next transition of the same env is
    ``stride`` rows on, and it is that env's next step only if it was written by the very next push
    call with the same stride. A window stops at the first ``terminated`` or ``truncated`` step, and at
    the newest transition of its env (the rows after it are not yet written, or hold an older lap of
    the ring): there it bootstraps from that newest transition's own ``next_obs`` with ``gamma^m``,
    a shorter but exact return, so sampling probabilities (uniform, or a subclass's priorities) are
    left as they are. Everything is vectorized over the batch and the window.

    Each row keeps the env stream it came from (``Batch.env_ids``); agents' ``extras`` are not kept.
    """

    capabilities = BufferCapabilities(random_sampling=True, n_step=True)

    def __init__(self, capacity: int, env_spec: EnvSpec, seed: int | None = None):
        if capacity < 1:
            raise ValueError(f"buffer capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._columns = allocate_transitions(capacity, env_spec)
        (self._obs, self._actions, self._rewards, self._next_obs, self._terminated, self._truncated) = self._columns
        # Which push call wrote each row (-1: never written) and how many rows that call wrote.
        self._push_id = np.full(capacity, -1, dtype=np.int64)
        self._stride = np.ones(capacity, dtype=np.int64)
        self._env_ids = np.zeros(capacity, dtype=np.int64)
        self._pushes = 0
        self._pushed = 0
        self._ones = np.ones(0, dtype=np.float32)
        self._discounts = np.ones(0, dtype=np.float32)
        self._discounts_gamma = None
        self._pos = 0
        self._size = 0
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self._size

    @property
    def transitions_pushed(self) -> int:
        """Transitions pushed since the buffer was made, overwritten ones included."""
        return self._pushed

    def push(self, obs, action, reward: float, next_obs, terminated: bool, truncated: bool = False, *,
             env_id: int = 0, extras=None) -> None:
        i = self._pos
        write_transitions(self._columns, i, obs, action, reward, next_obs, terminated, truncated)
        self._env_ids[i] = env_id
        self._push_id[i] = self._pushes
        self._stride[i] = 1
        self._pushes += 1
        self._pushed += 1
        self._pos = (i + 1) % self.capacity
        if self._size < self.capacity:
            self._size += 1

    def push_batch(self, obs, actions, rewards, next_obs, terminated, truncated=None, *,
                   env_ids=None, extras=None) -> None:
        n = len(rewards)
        stride = n
        self._pushed += n
        if truncated is None:
            truncated = np.zeros(n, dtype=np.float32)
        if env_ids is None:
            env_ids = np.arange(n)
        if n > self.capacity:
            # Only the newest `capacity` transitions would survive anyway.
            obs, actions, rewards, next_obs, terminated, truncated, env_ids = (
                a[-self.capacity :] for a in (obs, actions, rewards, next_obs, terminated, truncated, env_ids)
            )
            n = self.capacity
        idx = (self._pos + np.arange(n)) % self.capacity
        write_transitions(self._columns, idx, obs, actions, rewards, next_obs, terminated, truncated)
        self._env_ids[idx] = env_ids
        self._push_id[idx] = self._pushes
        self._stride[idx] = stride
        self._pushes += 1
        self._pos = (self._pos + n) % self.capacity
        self._size = min(self._size + n, self.capacity)

    def sample(self, batch_size: int, n_step: int = 1, gamma: float = 1.0) -> Batch:
        if self._size == 0:
            raise ValueError("cannot sample from an empty buffer")
        idx = self._rng.integers(0, self._size, size=batch_size)
        if len(self._ones) != batch_size:
            self._ones = np.ones(batch_size, dtype=np.float32)
        return self._gather(idx, self._ones, n_step, gamma)

    def _gather(self, idx: np.ndarray, weights: np.ndarray, n_step: int, gamma: float) -> Batch:
        """The batch of rows ``idx`` with ``weights``, as ``n_step`` returns discounted by ``gamma``."""
        if n_step < 1:
            raise ValueError(f"n_step must be >= 1, got {n_step}")
        if n_step == 1:
            if len(self._discounts) != len(idx) or self._discounts_gamma != gamma:
                self._discounts = np.full(len(idx), gamma, dtype=np.float32)
                self._discounts_gamma = gamma
            return read_transitions(self._columns, idx, weights, discounts=self._discounts,
                                    env_ids=self._env_ids[idx])
        ks = np.arange(n_step)
        # rows[b, k]: where step t+k of sample b's env would be; valid where the very next push calls wrote it.
        stride = self._stride[idx]
        rows = (idx[:, None] + ks * stride[:, None]) % self.capacity
        valid = (self._push_id[rows] == self._push_id[idx][:, None] + ks) & (self._stride[rows] == stride[:, None])
        done = (self._terminated[rows] + self._truncated[rows]) > 0
        # Step k is in the window when steps 0..k-1 are valid and not done, and step k is valid.
        carry_on = np.cumprod(valid & ~done, axis=1, dtype=bool)
        inside = valid.copy()
        inside[:, 1:] &= carry_on[:, :-1]
        m = inside.sum(axis=1)  # >= 1: step 0 is always valid
        last = rows[np.arange(len(idx)), m - 1]
        powers = np.float32(gamma) ** ks.astype(np.float32)
        rewards = (self._rewards[rows] * (inside * powers)).sum(axis=1, dtype=np.float32)
        return Batch(
            obs=self._obs[idx],
            actions=self._actions[idx],
            rewards=rewards,
            next_obs=self._next_obs[last],
            terminated=self._terminated[last],
            truncated=self._truncated[last],
            indices=idx,
            weights=weights,
            discounts=(np.float32(gamma) ** m.astype(np.float32)).astype(np.float32),
            env_ids=self._env_ids[idx],
        )
