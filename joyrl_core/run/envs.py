"""Building a run's envs: the env plugin's env inside the layers the core adds, always in one order.

Around the plugin's env, innermost first:

1. ``TimeLimit(max_step)``: the run's episode cut, seen by every layer above;
2. ``RecordEpisodeStatistics``, unless the plugin put one in its own env (beneath its reward
   transforms, as an Atari env that clips rewards does): the runners report its ``info["episode"]["r"]``,
   the env's real score, whatever the wrappers above do to the rewards the learner sees;
3. the ``env_cfg.wrappers`` list, in order;
4. with ``normalize_obs``/``normalize_reward``, gymnasium's ``NormalizeObservation`` (and
   its clip) and, on training envs only, ``NormalizeReward`` (and ``ClipReward``), whose
   running statistics (:class:`Normalizer`) the run's envs share, save in checkpoints and freeze outside
   training.

A vectorized run builds layers 1-4 in each copy (its copies step in this process, so they share one
set of statistics; ``resolve_config`` refuses async copies and other backends with normalization).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.wrappers.utils import RunningMeanStd

from joyrl_core.components.wrappers import WrapperSpec, apply_wrappers, find_wrapper
from joyrl_core.errors import CheckpointError, EnvError, JoyRLError


def call_env_factory(factory: Any, name: str, env_cfg: Any, render_mode: str | None) -> gym.Env:
    """The env plugin's own env (without the core's layers)."""
    try:
        env = factory(env_cfg, render_mode)
    except JoyRLError:
        raise
    except Exception as exc:  # a third-party env's constructor can raise anything
        raise EnvError(f"env plugin {name!r} failed to build the env: {type(exc).__name__}: {exc}") from exc
    if not isinstance(env, gym.Env):
        raise EnvError(f"env plugin {name!r} returned {type(env).__name__}, not a gymnasium.Env")
    return env


def build_env(factory: Any, name: str, env_cfg: Any, max_step: int | None, wrappers: Sequence[WrapperSpec],
              render_mode: str | None = None) -> gym.Env:
    """Layers 1-3 around the plugin's env (module-level, so async vector envs can pickle it)."""
    env = call_env_factory(factory, name, env_cfg, render_mode)
    try:
        if max_step is not None:
            env = gym.wrappers.TimeLimit(env, max_episode_steps=max_step)
        if find_wrapper(env, gym.wrappers.RecordEpisodeStatistics) is None:
            env = gym.wrappers.RecordEpisodeStatistics(env)
        return apply_wrappers(env, wrappers)
    except BaseException:
        env.close()
        raise


class Normalizer:
    """The running statistics of a run's observations and discounted returns (SB3's VecNormalize).

    One :class:`gymnasium.wrappers.utils.RunningMeanStd` each, shared by every env :meth:`wrap`
    builds: training envs update them, evaluation and test envs read them frozen.
    """

    def __init__(self, obs_shape: tuple[int, ...] | None, gamma: float | None, clip_obs: float | None,
                 clip_reward: float | None):
        self.obs_rms = RunningMeanStd(shape=obs_shape, dtype=np.float32) if obs_shape is not None else None
        self.return_rms = RunningMeanStd(shape=()) if gamma is not None else None
        self.gamma = gamma
        self.clip_obs = clip_obs
        self.clip_reward = clip_reward

    @classmethod
    def for_run(cls, config: Any, env: gym.Env) -> Normalizer | None:
        """The normalizer ``config.env_wrap`` asks for (``None`` without normalization), for ``env``'s
        observations; an observation space it cannot normalize is an :class:`EnvError`."""
        wrap = config.env_wrap
        if not (wrap.normalize_obs or wrap.normalize_reward):
            return None
        obs_shape = None
        if wrap.normalize_obs:
            space = env.observation_space
            if not isinstance(space, gym.spaces.Box):
                raise EnvError(f"env_cfg.normalize_obs: needs a Box observation space, and the env's is {space}")
            obs_shape = tuple(space.shape)
        gamma = None
        if wrap.normalize_reward:
            gamma = wrap.normalize_gamma
            if gamma is None:
                gamma = float(getattr(config.algo, "gamma", 0.99))
        return cls(obs_shape, gamma, wrap.clip_obs, wrap.clip_reward)

    def wrap(self, env: gym.Env, train: bool) -> gym.Env:
        """Layer 4 around ``env``: statistics updated when ``train``, else frozen (and rewards as they are)."""
        if self.obs_rms is not None:
            env = gym.wrappers.NormalizeObservation(env)
            env.obs_rms = self.obs_rms
            env.update_running_mean = train
            if self.clip_obs is not None:
                bound = self.clip_obs
                space = gym.spaces.Box(-bound, bound, env.observation_space.shape, np.float32)
                env = gym.wrappers.TransformObservation(env, functools.partial(np.clip, a_min=-bound, a_max=bound),
                                                        space)
        if train and self.return_rms is not None:
            env = gym.wrappers.NormalizeReward(env, gamma=self.gamma)
            env.return_rms = self.return_rms
            if self.clip_reward is not None:
                env = gym.wrappers.ClipReward(env, -self.clip_reward, self.clip_reward)
        return env

    def state_dict(self) -> dict[str, Any]:
        """The statistics as checkpoint data (tensors and numbers)."""
        import torch

        return {key: {"mean": torch.as_tensor(np.array(rms.mean)), "var": torch.as_tensor(np.array(rms.var)),
                      "count": float(rms.count)}
                for key, rms in self._stats().items()}

    def load_state_dict(self, state: Mapping[str, Any], where: str) -> None:
        """Restore :meth:`state_dict`'s statistics; a missing or misshapen one is a :class:`CheckpointError`."""
        for key, rms in self._stats().items():
            if key not in state:
                switch = "normalize_obs" if key == "obs" else "normalize_reward"
                raise CheckpointError(f"{where}: holds no {key} normalization statistics, but env_cfg.{switch} is "
                                      "true (the model was trained without it)")
            saved = state[key]
            mean, var = saved["mean"].numpy(), saved["var"].numpy()
            if mean.shape != rms.mean.shape or var.shape != rms.mean.shape:
                raise CheckpointError(f"{where}: field normalizer.{key}: statistics of shape {tuple(mean.shape)}, "
                                      f"but the env's are {tuple(rms.mean.shape)}")
            rms.mean, rms.var, rms.count = mean.copy(), var.copy(), float(saved["count"])

    def _stats(self) -> dict[str, RunningMeanStd]:
        stats = {"obs": self.obs_rms, "reward": self.return_rms}
        return {key: rms for key, rms in stats.items() if rms is not None}


def restore_normalizer(normalizer: Normalizer | None, payload: Mapping[str, Any], where: str, train: bool) -> None:
    """Load a checkpoint's statistics into the run's ``normalizer``; a model trained on normalized
    observations is refused by a run that would feed it raw ones (and the reverse)."""
    state = payload.get("normalizer") or {}
    if "obs" in state and (normalizer is None or normalizer.obs_rms is None):
        raise CheckpointError(f"{where}: the model was trained on normalized observations; set env_cfg.normalize_obs: "
                              "true to run it")
    if normalizer is None:
        return
    if not train and normalizer.return_rms is not None and "reward" not in state:
        normalizer.return_rms = None  # testing steps no learner: rewards need no scaling
    normalizer.load_state_dict(state, where)

