"""The ``EPISODES`` buffer: whole episodes for on-policy learners, in preallocated numpy arrays."""

from __future__ import annotations

import numpy as np

from joyrl_core import (
    Batch,
    Buffer,
    BufferCapabilities,
    ConfigError,
    EnvSpec,
    allocate_transitions,
    read_transitions,
    write_transitions,
)


class EpisodeBuffer(Buffer):
    """Stores transitions in arrival order and hands out the complete episodes, each one contiguous.

    An episode is complete once a transition with ``terminated`` or ``truncated`` set arrives (the
    rollout sets ``truncated`` on the last step of an episode cut by a time limit or ``max_step``).
    Each row is kept with the env stream it came from (``env_id``/``env_ids`` of the pushes; by the
    core's contract row ``i`` of a ``push_batch`` is stream ``i`` when they are not given), since the
    steps of several vectorized envs interleave. :meth:`take_episodes`
    returns every complete episode as one :class:`joyrl_core.Batch`, env by env and in time order, and
    forgets them; unfinished episodes stay. ``sample`` draws uniformly from what is stored without
    removing it.
    """

    capabilities = BufferCapabilities(random_sampling=True, whole_episodes=True)

    def __init__(self, capacity: int, env_spec: EnvSpec, seed: int | None = None):
        if capacity < 1:
            raise ValueError(f"buffer capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._columns = allocate_transitions(capacity, env_spec)
        (self._obs, self._actions, self._rewards, self._next_obs, self._terminated, self._truncated) = self._columns
        self._env = np.zeros(capacity, dtype=np.int64)  # which vectorized env each row came from
        self._arrays = (*self._columns, self._env)
        self._size = 0  # rows stored
        self._episodes = 0  # complete episodes stored: rows with an end flag
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self._size

    @property
    def completed_episodes(self) -> int:
        """How many complete episodes :meth:`take_episodes` would hand out now."""
        return self._episodes

    def _make_room(self, n: int) -> int:
        start = self._size
        if start + n > self.capacity:
            raise ConfigError(
                f"algo_cfg.buffer_size: the EPISODES buffer is full ({self.capacity} transitions, "
                f"{self._episodes} complete episode(s) not yet taken); raise buffer_size to at least "
                "episodes_per_update * general_cfg.max_step (times env_cfg.n_envs when vectorized)"
            )
        return start

    def push(self, obs, action, reward: float, next_obs, terminated: bool, truncated: bool = False, *,
             env_id: int = 0, extras=None) -> None:
        i = self._make_room(1)
        write_transitions(self._columns, i, obs, action, reward, next_obs, terminated, truncated)
        self._env[i] = env_id
        self._size = i + 1
        if terminated or truncated:
            self._episodes += 1

    def push_batch(self, obs, actions, rewards, next_obs, terminated, truncated=None, *,
                   env_ids=None, extras=None) -> None:
        n = len(rewards)
        start = self._make_room(n)
        rows = slice(start, start + n)
        write_transitions(self._columns, rows, obs, actions, rewards, next_obs, terminated, truncated)
        self._env[rows] = np.arange(n) if env_ids is None else env_ids
        self._size = start + n
        self._episodes += int(np.count_nonzero(np.logical_or(self._terminated[rows], self._truncated[rows])))

    def sample(self, batch_size: int) -> Batch:
        if self._size == 0:
            raise ValueError("cannot sample from an empty buffer")
        return self._batch(self._rng.integers(0, self._size, size=batch_size))

    def take_episodes(self) -> Batch:
        """Every complete episode, each contiguous and in time order, as one batch; they are removed.

        Episode boundaries are the rows where ``terminated`` or ``truncated`` is 1.
        """
        n = self._size
        ends = np.logical_or(self._terminated[:n] > 0, self._truncated[:n] > 0)
        envs = self._env[:n]
        taken = []
        for env in np.unique(envs):
            rows = np.flatnonzero(envs == env)
            last_end = np.flatnonzero(ends[rows])
            if len(last_end):
                taken.append(rows[: last_end[-1] + 1])
        idx = np.concatenate(taken) if taken else np.zeros(0, dtype=np.int64)
        batch = self._batch(idx)
        keep = np.ones(n, dtype=bool)
        keep[idx] = False
        rest = np.flatnonzero(keep)  # unfinished episodes, still in arrival order
        for array in self._arrays:
            array[: len(rest)] = array[rest]
        self._size, self._episodes = len(rest), 0
        return batch

    def _batch(self, idx: np.ndarray) -> Batch:
        return read_transitions(self._columns, idx, np.ones(len(idx), dtype=np.float32), env_ids=self._env[idx])
