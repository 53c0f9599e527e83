"""How an env's observation and action spaces are described to an algorithm."""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from joyrl_core.errors import EnvError


@dataclass(frozen=True)
class EnvSpec:
    """What an algorithm needs to know about an env to build its networks and buffers.

    ``action_kind`` is ``"discrete"`` (actions are ints in ``[0, n_actions)``) or ``"continuous"``
    (float vectors of ``action_shape`` within ``action_low``/``action_high``). ``n_obs`` is the number
    of states of a ``Discrete`` observation space (tabular methods), ``None`` for a ``Box``.
    """

    env_id: str
    obs_shape: tuple[int, ...]
    obs_dtype: np.dtype
    action_kind: str
    n_actions: int | None = None
    action_shape: tuple[int, ...] = ()
    action_low: np.ndarray | None = None
    action_high: np.ndarray | None = None
    n_obs: int | None = None

    @property
    def action_dtype(self) -> np.dtype:
        return np.dtype(np.int64) if self.action_kind == "discrete" else np.dtype(np.float32)

    @classmethod
    def from_env(cls, env: gym.Env, env_id: str) -> EnvSpec:
        obs_space = env.observation_space
        act_space = env.action_space
        if not isinstance(obs_space, (gym.spaces.Box, gym.spaces.Discrete)):
            raise EnvError(
                f"env {env_id!r}: observation space {obs_space} is not supported (Box or Discrete); "
                "wrap it with a gymnasium wrapper such as FlattenObservation"
            )
        n_obs = None
        if isinstance(obs_space, gym.spaces.Discrete):
            obs_shape: tuple[int, ...] = ()
            obs_dtype = np.dtype(np.int64)
            n_obs = int(obs_space.n)
        else:
            obs_shape = tuple(obs_space.shape)
            obs_dtype = np.dtype(np.float32) if np.issubdtype(obs_space.dtype, np.floating) else obs_space.dtype
        if isinstance(act_space, gym.spaces.Discrete):
            return cls(env_id, obs_shape, obs_dtype, "discrete", n_actions=int(act_space.n), n_obs=n_obs)
        if isinstance(act_space, gym.spaces.Box):
            return cls(
                env_id,
                obs_shape,
                obs_dtype,
                "continuous",
                action_shape=tuple(act_space.shape),
                action_low=np.asarray(act_space.low, dtype=np.float32),
                action_high=np.asarray(act_space.high, dtype=np.float32),
                n_obs=n_obs,
            )
        raise EnvError(f"env {env_id!r}: action space {act_space} is not supported (Discrete or Box)")


def stack_depth(obs_shape: tuple[int, ...]) -> int:
    """Frames per observation: the leading axis of an observation with 2 or more axes (a frame stack,
    or an image whose rows are then its "frames"), else 1 (the whole observation is one frame)."""
    return int(obs_shape[0]) if len(obs_shape) >= 2 else 1
