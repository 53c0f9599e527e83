"""``ROLLOUT``: the built-in on-policy buffer (one rollout of ``n_steps`` per env stream, GAE, minibatches)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from joyrl_core.config import option
from joyrl_core.contracts.buffer import (
    Batch,
    Buffer,
    BufferCapabilities,
    ExtraColumns,
    allocate_transitions,
    read_transitions,
    write_transitions,
)
from joyrl_core.contracts.spaces import EnvSpec


@dataclass
class RolloutConfig:
    """``ROLLOUT``'s own option, read from ``algo_cfg``."""

    n_steps: int = option(128, "steps of every env stream per rollout (the buffer holds n_steps x streams)", minimum=1)


class RolloutBuffer(Buffer):
    """One rollout: ``n_steps`` steps of each of ``n_streams`` env streams, in order, in preallocated arrays.

    Row ``t * n_streams + s`` is step ``t`` of stream ``s``. Each stream fills its own steps in push
    order (a push without ``env_ids`` of ``n_streams`` rows is one step of every stream, the vectorized
    runner's case); :attr:`full` is true once every stream has ``n_steps``. The agent's extras are kept
    row-aligned. Once full, :meth:`compute_gae` adds ``advantages`` and ``returns``, :meth:`minibatches`
    hands out the rollout, and :meth:`clear` empties it for the next one; a push into a full rollout is
    an error, since on-policy data must not be overwritten unseen.
    """

    capabilities = BufferCapabilities(ordered_rollouts=True, extra_columns=True)

    def __init__(self, n_steps: int, n_streams: int, env_spec: EnvSpec, seed: int | None = None):
        if n_steps < 1 or n_streams < 1:
            raise ValueError(f"a rollout needs n_steps >= 1 and n_streams >= 1, got {n_steps} and {n_streams}")
        self.n_steps = n_steps
        self.n_streams = n_streams
        rows = n_steps * n_streams
        self._columns = allocate_transitions(rows, env_spec)
        (self._obs, self._actions, self._rewards, self._next_obs, self._terminated, self._truncated) = self._columns
        self._extras = ExtraColumns(rows)
        self._stream_of_row = np.tile(np.arange(n_streams), n_steps)
        # While every push is one step of all streams together, one counter says where the next goes.
        self._lockstep = True
        self._step = 0
        self._steps = np.zeros(n_streams, dtype=np.int64)  # per stream, once pushes stop being lockstep
        self._weights = np.ones(0, dtype=np.float32)
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self._step * self.n_streams if self._lockstep else int(self._steps.sum())

    @property
    def full(self) -> bool:
        """Every stream has ``n_steps`` steps: time to learn."""
        return self._step == self.n_steps if self._lockstep else bool((self._steps == self.n_steps).all())

    def _full_error(self) -> ValueError:
        return ValueError(f"the rollout is full ({self.n_steps} steps of {self.n_streams} streams); "
                          "the agent must learn from it and clear() it before more steps arrive")

    def push(self, obs, action, reward: float, next_obs, terminated: bool, truncated: bool = False, *,
             env_id: int = 0, extras: Mapping[str, Any] | None = None) -> None:
        self.push_batch(
            np.asarray(obs)[None], np.asarray(action)[None], np.asarray([reward]), np.asarray(next_obs)[None],
            np.asarray([terminated]), np.asarray([truncated]),
            env_ids=None if self.n_streams == 1 and env_id == 0 else np.asarray([env_id]),
            extras=None if not extras else {name: np.asarray(value)[None] for name, value in extras.items()},
        )

    def push_batch(self, obs, actions, rewards, next_obs, terminated, truncated=None, *,
                   env_ids: np.ndarray | None = None, extras: Mapping[str, np.ndarray] | None = None) -> None:
        n = len(rewards)
        streams = self.n_streams
        if env_ids is None and n == streams and self._lockstep:
            if self._step >= self.n_steps:
                raise self._full_error()
            rows: Any = slice(self._step * streams, (self._step + 1) * streams)
            self._step += 1
        else:
            ids = np.arange(n) if env_ids is None else np.asarray(env_ids, dtype=np.int64)
            if ids.min(initial=0) < 0 or ids.max(initial=0) >= streams:
                raise ValueError(f"env stream ids {ids.tolist()} outside this rollout's {streams} streams")
            if self._lockstep:
                self._steps[:] = self._step
                self._lockstep = False
            steps = self._steps[ids]
            if (steps >= self.n_steps).any():
                raise self._full_error()
            rows = steps * streams + ids
            self._steps[ids] += 1
        write_transitions(self._columns, rows, obs, actions, rewards, next_obs, terminated, truncated)
        if extras:
            self._extras.write(rows, extras, n)

    def compute_gae(self, value_of: Callable[[np.ndarray], np.ndarray], gamma: float, gae_lambda: float,
                    value_key: str = "value") -> None:
        """GAE(lambda) advantages and returns (``advantages + value``) of the full rollout, as the extras
        ``advantages`` and ``returns``.

        ``value_key`` names the extra holding V(obs) as the policy computed it when acting.
        ``value_of(next_obs)`` (a batch of observations -> values) is called once, on the final
        observations of the truncated steps and on the last observation of every stream whose last step
        did not terminate: those steps bootstrap from V of what came next. A ``terminated`` step has no
        future (next value 0); any end of an episode, terminated or truncated, stops the GAE trace.
        """
        if not self.full:
            raise ValueError(f"compute_gae needs a full rollout; {len(self)} of {self.n_steps * self.n_streams} steps are in")
        if value_key not in self._extras.columns:
            raise ValueError(f"the rollout has no {value_key!r} extra (has: {sorted(self._extras.columns)}); "
                             "the agent's act() must return it")
        shape = (self.n_steps, self.n_streams)
        values = self._extras.columns[value_key].reshape(shape).astype(np.float32)
        rewards = self._rewards.reshape(shape)
        terminated = self._terminated.reshape(shape)
        ended = np.maximum(terminated, self._truncated.reshape(shape))
        bootstrap = (self._truncated.reshape(shape) > 0) & (terminated == 0)
        bootstrap[-1] |= terminated[-1] == 0
        next_values = np.zeros(shape, dtype=np.float32)
        next_values[:-1] = values[1:]
        rows = np.flatnonzero(bootstrap.reshape(-1))
        if len(rows):
            next_values.reshape(-1)[rows] = np.asarray(value_of(self._next_obs[rows]), dtype=np.float32).reshape(-1)
        deltas = rewards + gamma * next_values * (1.0 - terminated) - values
        carry = gamma * gae_lambda * (1.0 - ended)
        advantages = np.zeros(shape, dtype=np.float32)
        running = np.zeros(self.n_streams, dtype=np.float32)
        for t in range(self.n_steps - 1, -1, -1):
            running = deltas[t] + carry[t] * running
            advantages[t] = running
        total = self.n_steps * self.n_streams
        self._extras.write(slice(0, total), {"advantages": advantages.reshape(-1),
                                             "returns": (advantages + values).reshape(-1)}, total)

    def minibatches(self, batch_size: int, n_epochs: int = 1,
                    rng: np.random.Generator | None = None) -> Iterator[Batch]:
        """``n_epochs`` passes over the whole rollout, each in a fresh random order, cut into batches of
        ``batch_size`` rows (the last batch of a pass is smaller when ``batch_size`` does not divide it).

        The order comes from ``rng`` when given (an agent's own generator, which its checkpoints keep, so
        a resumed run shuffles as the original would), else from the buffer's."""
        total = len(self)
        rng = self._rng if rng is None else rng
        for _ in range(n_epochs):
            order = rng.permutation(total)
            for start in range(0, total, batch_size):
                yield self.batch(order[start : start + batch_size])

    def batch(self, idx: np.ndarray) -> Batch:
        """Rows ``idx`` (``t * n_streams + s``) as a :class:`Batch`, with their extras (copies)."""
        if len(self._weights) != len(idx):
            self._weights = np.ones(len(idx), dtype=np.float32)
        return read_transitions(self._columns, idx, self._weights, env_ids=self._stream_of_row[idx],
                                extras=self._extras.gather(idx))

    def clear(self) -> None:
        """Forget the rollout; the arrays are reused for the next one."""
        self._lockstep = True
        self._step = 0
        self._steps[:] = 0


def make_rollout_buffer(capacity: int | None, env_spec: EnvSpec, config: RolloutConfig, seed: int | None,
                        shape) -> RolloutBuffer:
    # The rollout's size is n_steps per stream; a buffer_size of the algorithm's is not what sizes it.
    return RolloutBuffer(config.n_steps, shape.env_streams, env_spec, seed)
