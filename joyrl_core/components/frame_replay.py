"""``FRAME_QUE`` / ``FRAME_PER_QUE``: replay for stacked-frame observations that keeps every frame once.

An observation of shape ``(k, *frame)`` (``FrameStackObservation``'s layout: Atari's ``4 x 84 x 84``
uint8) is stored as ``k`` indices into a ring of single frames, and so is ``next_obs``. Consecutive
stacks of one env stream share ``k - 1`` frames, so a step adds one frame, not ``2k``: about
``1/(2k)`` of ``REPLAY_QUE``'s memory and ``1/k`` of a buffer that stores each stack once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from joyrl_core.components.priorities import Priorities, PriorityConfig
from joyrl_core.config import option
from joyrl_core.contracts.buffer import Batch, Buffer, BufferCapabilities
from joyrl_core.contracts.spaces import EnvSpec, stack_depth
from joyrl_core.errors import ConfigError


@dataclass
class FrameReplayConfig:
    """``FRAME_QUE``'s options; they sit in ``algo_cfg`` beside the algorithm's."""

    frames_per_row: float = option(
        1.05, "frame ring size per transition slot: the ring holds buffer_size x this frames (plus 2k per env "
        "stream); a step adds one frame and an episode start one or two more, so episodes shorter than about "
        "1/(this - 1) steps evict transitions before buffer_size are stored", minimum=1.0)


    def transition_nbytes(self, env_spec: EnvSpec) -> int:
        """Bytes a transition slot takes (what the run's memory check multiplies by ``buffer_size``):
        ``frames_per_row`` frames with their user marks, 2k frame indices, the action, reward, flags,
        stream and next-row link."""
        k = stack_depth(env_spec.obs_shape)
        frame = int(np.prod(env_spec.obs_shape[1:], dtype=np.int64)) * env_spec.obs_dtype.itemsize
        action = int(np.prod(env_spec.action_shape, dtype=np.int64)) * env_spec.action_dtype.itemsize
        return int(np.ceil(self.frames_per_row * (frame + 8))) + 2 * k * 8 + action + 3 * 4 + 2 * 8


@dataclass
class PrioritizedFrameReplayConfig(PriorityConfig, FrameReplayConfig):
    """``FRAME_PER_QUE``'s options: ``FRAME_QUE``'s and prioritized replay's."""


class FrameReplay(Buffer):
    """Uniform replay of stacked-frame transitions, each frame stored once, stacks rebuilt by index.

    Storage: a ring of ``F`` frames and a ring of ``capacity`` transition rows, each row holding the
    frame indices of its ``obs`` and ``next_obs`` stacks (absolute frame counts, so an index says
    whether its frame has been overwritten), its action, reward, flags, env stream and the row of the
    same stream's next step. A push reuses frames it can prove are already stored, by comparing bytes:

    - ``obs`` equal to the stream's last ``next_obs`` (the episode goes on) reuses that stack's frames;
      otherwise (a reset, whatever its padding, or a stream seen for the first time) its frames are
      stored, equal neighbours once (``padding_type="reset"`` stores one frame, zero padding two);
    - ``next_obs`` equal to ``obs`` shifted by one frame (a frame stack) adds its last frame only;
      otherwise each of its frames is stored unless equal to its neighbour or to ``obs``'s frame there.

    So a stack comes back byte for byte as the env gave it, across resets, padding, truncation (the
    real final observation) and any observation that is not a frame stack at all (it just saves
    less; but an image without a stack axis, such as ``frame_stack: 1``'s ``(84, 84)``, is taken as a
    stack of 84 rows that seldom chain: use ``REPLAY_QUE`` for it). Env streams (``env_ids``,
    interleaved rows of a vector env or several workers) keep their own last stack. When the frame ring wraps onto frames that live rows still use, those rows and
    every older one are dropped first, so no sampled stack ever holds an overwritten frame; with the
    default ``frames_per_row`` that happens only for episodes under ~20 steps.

    ``sample(batch_size, n_step, gamma)`` builds n-step returns as ``REPLAY_QUE`` does (see
    :class:`joyrl_core.Batch`): a window follows the row's stream and stops at a terminated or
    truncated step, or at the stream's newest row, bootstrapping from that row's ``next_obs``.
    Everything is numpy fancy indexing over the batch; agents' ``extras`` are not kept.
    """

    capabilities = BufferCapabilities(random_sampling=True, n_step=True)

    def __init__(self, capacity: int, env_spec: EnvSpec, config: FrameReplayConfig | None = None,
                 seed: int | None = None, env_streams: int = 1):
        if capacity < 1:
            raise ValueError(f"buffer capacity must be >= 1, got {capacity}")
        if len(env_spec.obs_shape) < 2:
            raise ConfigError(
                f"algo_cfg.buffer_type: FRAME_QUE stores stacks of frames, observations of shape (k, *frame) "
                f"(FrameStackObservation's); env {env_spec.env_id!r} gives shape {tuple(env_spec.obs_shape)}")
        config = config or FrameReplayConfig()
        self.capacity = capacity
        self.stack = k = int(env_spec.obs_shape[0])
        self.frame_shape = tuple(env_spec.obs_shape[1:])
        # Room for `frames_per_row` frames a row, plus what one push of every stream can add at most.
        self.frame_capacity = int(capacity * config.frames_per_row) + 2 * k * max(1, env_streams)
        self._frames = np.zeros((self.frame_capacity, *self.frame_shape), dtype=env_spec.obs_dtype)
        # The newest row that uses each frame slot (-1: none): overwriting the slot drops rows up to it.
        self._frame_user = np.full(self.frame_capacity, -1, dtype=np.int64)
        self._frames_written = 0
        self._obs_ids = np.zeros((capacity, k), dtype=np.int64)
        self._next_ids = np.zeros((capacity, k), dtype=np.int64)
        self._actions = np.zeros((capacity, *env_spec.action_shape), dtype=env_spec.action_dtype)
        self._rewards = np.zeros(capacity, dtype=np.float32)
        self._terminated = np.zeros(capacity, dtype=np.float32)
        self._truncated = np.zeros(capacity, dtype=np.float32)
        self._env_ids = np.zeros(capacity, dtype=np.int64)
        self._successor = np.full(capacity, -1, dtype=np.int64)  # the row (absolute) of the stream's next step
        self._rows_written = 0
        self._first_live = 0  # rows (absolute) below this are gone
        # Per env stream: its last next_obs (bytes and frame indices) and the row that stored it.
        self._stream_seen = np.zeros(0, dtype=bool)
        self._stream_next = np.zeros((0, k, *self.frame_shape), dtype=env_spec.obs_dtype)
        self._stream_next_ids = np.zeros((0, k), dtype=np.int64)
        self._stream_row = np.zeros(0, dtype=np.int64)
        self._grow_streams(env_streams)
        self._obs_dtype = env_spec.obs_dtype
        self._ones = np.ones(0, dtype=np.float32)
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self._rows_written - self._first_live

    @property
    def transitions_pushed(self) -> int:
        """Transitions pushed since the buffer was made, overwritten ones included."""
        return self._rows_written

    @property
    def nbytes(self) -> int:
        """Bytes of every array the buffer holds (all preallocated; per-stream state grows with streams)."""
        return sum(a.nbytes for a in vars(self).values() if isinstance(a, np.ndarray))

    # -- pushing ------------------------------------------------------------------------------------

    def push(self, obs, action, reward: float, next_obs, terminated: bool, truncated: bool = False, *,
             env_id: int = 0, extras=None) -> None:
        self.push_batch(np.asarray(obs)[None], np.asarray(action)[None], np.array([reward], dtype=np.float32),
                        np.asarray(next_obs)[None], np.array([terminated], dtype=np.float32),
                        np.array([truncated], dtype=np.float32), env_ids=np.array([env_id]))

    def push_batch(self, obs, actions, rewards, next_obs, terminated, truncated=None, *,
                   env_ids=None, extras=None) -> None:
        n = len(rewards)
        env_ids = np.arange(n) if env_ids is None else np.asarray(env_ids, dtype=np.int64)
        truncated = np.zeros(n, dtype=np.float32) if truncated is None else truncated
        columns = (np.asarray(obs, dtype=self._obs_dtype), np.asarray(actions), np.asarray(rewards),
                   np.asarray(next_obs, dtype=self._obs_dtype), np.asarray(terminated), np.asarray(truncated))
        if n > 1 and len(np.unique(env_ids)) < n:
            # Steps of one stream in one call are chained in order: one row at a time.
            for i in range(n):
                self._push_rows(*(c[i : i + 1] for c in columns), env_ids[i : i + 1])
        else:
            self._push_rows(*columns, env_ids)

    def _grow_streams(self, n_streams: int) -> None:
        old = len(self._stream_seen)
        if n_streams <= old:
            return
        grow = n_streams - old
        self._stream_seen = np.concatenate([self._stream_seen, np.zeros(grow, dtype=bool)])
        self._stream_next = np.concatenate([self._stream_next, np.zeros((grow, *self._stream_next.shape[1:]),
                                                                        dtype=self._stream_next.dtype)])
        self._stream_next_ids = np.concatenate([self._stream_next_ids, np.zeros((grow, self.stack), dtype=np.int64)])
        self._stream_row = np.concatenate([self._stream_row, np.full(grow, -1, dtype=np.int64)])

    def _push_rows(self, obs, actions, rewards, next_obs, terminated, truncated, streams) -> None:
        """Store rows of distinct streams ``streams``."""
        n, k = len(streams), self.stack
        if 2 * k * n > self.frame_capacity:
            raise ValueError(f"FRAME_QUE: a push of {n} rows may need {2 * k * n} frames, more than its ring of "
                             f"{self.frame_capacity}; make buffer_size larger")
        self._grow_streams(int(streams.max()) + 1)
        flat = (n, -1)
        # Frames below `horizon` may be overwritten by this push: a stack using them is stored anew.
        horizon = self._frames_written + 2 * k * n - self.frame_capacity
        last_ids = self._stream_next_ids[streams]
        goes_on = (self._stream_seen[streams] & (last_ids.min(axis=1) >= horizon)
                   & (obs.reshape(flat) == self._stream_next[streams].reshape(flat)).all(axis=1))
        shifted = (next_obs[:, :-1].reshape(flat) == obs[:, 1:].reshape(flat)).all(axis=1) if k > 1 else np.ones(n, dtype=bool)

        obs_ids = np.empty((n, k), dtype=np.int64)
        next_ids = np.empty((n, k), dtype=np.int64)
        obs_ids[goes_on] = last_ids[goes_on]
        next_ids[:, :-1] = obs_ids[:, 1:]  # right where `shifted`, rewritten below where not
        # The common step: one new frame, the last of next_obs, for every row whose both stacks chain.
        fast = np.flatnonzero(goes_on & shifted)
        new = [next_obs[fast, -1]]
        count = self._frames_written + len(fast)
        next_ids[fast, -1] = np.arange(self._frames_written, count)
        for i in np.flatnonzero(~(goes_on & shifted)):  # episode starts, and observations that are not stacks
            if not goes_on[i]:
                count = self._store_stack(obs[i], obs_ids[i], None, None, new, count)
            if shifted[i]:
                next_ids[i, :-1] = obs_ids[i, 1:]
                new.append(next_obs[i, -1:])
                next_ids[i, -1] = count
                count += 1
            else:
                count = self._store_stack(next_obs[i], next_ids[i], obs[i], obs_ids[i], new, count)
        self._write_frames(np.concatenate(new) if len(new) > 1 else new[0], count)

        rows = self._rows_written + np.arange(n)
        slots = rows % self.capacity
        # The rows these overwrite: their slots are rewritten (and re-prioritized) below, no hook needed.
        self._first_live = max(self._first_live, self._rows_written + n - self.capacity)
        self._obs_ids[slots] = obs_ids
        self._next_ids[slots] = next_ids
        self._actions[slots] = actions
        self._rewards[slots] = rewards
        self._terminated[slots] = terminated
        self._truncated[slots] = truncated
        self._env_ids[slots] = streams
        self._successor[slots] = -1
        previous = self._stream_row[streams]
        chained = goes_on & (previous >= self._first_live)
        self._successor[previous[chained] % self.capacity] = rows[chained]
        # Conservative by < n rows: every frame these rows use lives at least as long as the newest of them.
        self._frame_user[obs_ids % self.frame_capacity] = rows[-1]
        self._frame_user[next_ids % self.frame_capacity] = rows[-1]
        self._stream_seen[streams] = True
        self._stream_next[streams] = next_obs
        self._stream_next_ids[streams] = next_ids
        self._stream_row[streams] = rows
        self._rows_written += n
        self._added(slots)

    def _store_stack(self, stack, ids, other, other_ids, new: list, count: int) -> int:
        """Fill ``ids`` for ``stack``: a frame equal to its neighbour, or to ``other``'s frame at the same
        place, reuses that frame's index; the rest are appended to ``new`` from index ``count`` on."""
        for j in range(self.stack):
            if j > 0 and np.array_equal(stack[j], stack[j - 1]):
                ids[j] = ids[j - 1]
            elif other is not None and np.array_equal(stack[j], other[j]):
                ids[j] = other_ids[j]
            else:
                new.append(stack[j : j + 1])
                ids[j] = count
                count += 1
        return count

    def _write_frames(self, frames: np.ndarray, end: int) -> None:
        """Write ``frames``, the frames numbered ``_frames_written .. end-1``, dropping the rows that use
        the frames they overwrite (and every older row)."""
        slots = np.arange(self._frames_written, end) % self.frame_capacity
        self._drop_rows_before(int(self._frame_user[slots].max(initial=-1)) + 1)
        self._frame_user[slots] = -1
        self._frames[slots] = frames
        self._frames_written = end

    def _drop_rows_before(self, row: int) -> None:
        if row > self._first_live:
            self._dropped(self._first_live, row)
            self._first_live = row

    def _added(self, slots: np.ndarray) -> None:
        """Hook: rows were written at ``slots``."""

    def _dropped(self, first: int, end: int) -> None:
        """Hook: rows ``first .. end-1`` (absolute) can no longer be sampled."""

    # -- sampling -----------------------------------------------------------------------------------

    def sample(self, batch_size: int, n_step: int = 1, gamma: float = 1.0) -> Batch:
        if len(self) == 0:
            raise ValueError("cannot sample from an empty buffer")
        slots = self._rng.integers(self._first_live, self._rows_written, size=batch_size) % self.capacity
        if len(self._ones) != batch_size:
            self._ones = np.ones(batch_size, dtype=np.float32)
        return self._gather(slots, self._ones, n_step, gamma)

    def _gather(self, slots: np.ndarray, weights: np.ndarray, n_step: int, gamma: float) -> Batch:
        """The batch of rows at ``slots`` with ``weights``, as ``n_step`` returns discounted by ``gamma``."""
        if n_step < 1:
            raise ValueError(f"n_step must be >= 1, got {n_step}")
        last = slots
        rewards = self._rewards[slots]
        steps = np.ones(len(slots), dtype=np.int64)
        for j in range(1, n_step):
            successor = self._successor[last]
            more = (successor >= 0) & (self._terminated[last] == 0) & (self._truncated[last] == 0)
            if not more.any():
                break
            last = np.where(more, successor % self.capacity, last)
            rewards = rewards + np.where(more, np.float32(gamma) ** j * self._rewards[last], np.float32(0))
            steps += more
        frames, f = self._frames, self.frame_capacity
        return Batch(
            obs=frames[self._obs_ids[slots] % f],
            actions=self._actions[slots],
            rewards=rewards.astype(np.float32, copy=False),
            next_obs=frames[self._next_ids[last] % f],
            terminated=self._terminated[last],
            truncated=self._truncated[last],
            indices=slots,
            weights=weights,
            discounts=(np.float32(gamma) ** steps.astype(np.float32)).astype(np.float32),
            env_ids=self._env_ids[slots],
        )


class PrioritizedFrameReplay(FrameReplay):
    """``FRAME_QUE`` sampled in proportion to priority, with importance-sampling weights (the rule of
    :class:`joyrl_core.Priorities`, the same as ``PER_QUE``'s); n-step returns as in ``FRAME_QUE``."""

    capabilities = BufferCapabilities(random_sampling=True, n_step=True, priorities=True)

    def __init__(self, capacity: int, env_spec: EnvSpec, config: PrioritizedFrameReplayConfig | None = None,
                 seed: int | None = None, env_streams: int = 1):
        config = config or PrioritizedFrameReplayConfig()
        super().__init__(capacity, env_spec, config, seed, env_streams)
        self.priorities = Priorities(capacity, config)

    @property
    def beta(self) -> float:
        return self.priorities.beta(self.transitions_pushed)

    def _added(self, slots: np.ndarray) -> None:
        self.priorities.add(slots)

    def _dropped(self, first: int, end: int) -> None:
        first = max(first, end - self.capacity)
        self.priorities.clear(np.arange(first, end) % self.capacity)

    def sample(self, batch_size: int, n_step: int = 1, gamma: float = 1.0) -> Batch:
        if len(self) == 0:
            raise ValueError("cannot sample from an empty buffer")
        slots, weights = self.priorities.draw(batch_size, self._rng, min(self._rows_written, self.capacity),
                                              len(self), self.transitions_pushed)
        # A draw rounded onto a slot of a dropped row (priority 0) is drawn again among the live rows.
        dead = (slots - self._first_live) % self.capacity >= len(self)
        if dead.any():
            slots[dead] = self._rng.integers(self._first_live, self._rows_written, size=int(dead.sum())) % self.capacity
        return self._gather(slots, weights, n_step, gamma)

    def update_priorities(self, indices: np.ndarray, td_errors: np.ndarray) -> None:
        """Set the priority of rows ``indices`` (a batch's ``indices``) to ``|td_errors| + priority_eps``."""
        self.priorities.update(indices, td_errors)
