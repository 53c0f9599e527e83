"""Make any gymnasium env slow (a sleep per step) or noisy (Gaussian noise on its observations).

Meant for benchmarking backends: ``step_latency_ms`` stands in for an expensive simulator, so the
speed-up of parallel workers can be measured on a cheap env; ``obs_noise_std`` makes a task harder
without changing its dynamics.

It is an env of its own that holds the inner env (not a ``gymnasium.Wrapper``), so that
``gymnasium.make("joyrl/SlowNoisy-v0", inner_id=...)`` works and ``check_env(env.unwrapped)`` checks
the noise and seeding code here rather than the inner env's.

- Actions, rewards, ``terminated``/``truncated`` and ``info`` are the inner env's; so is its time limit
  (``CartPole-v1`` truncates at 500 steps).
- Noise: ``obs + N(0, obs_noise_std**2)`` per component, for float ``Box`` observations only. Its
  generator is seeded from ``reset(seed=s)`` (a stream derived from ``s``, distinct from the inner env's,
  which is reset with ``s`` itself: with ``obs_noise_std: 0`` a rollout equals the inner env's). The
  observation space is the inner one widened by 5 standard deviations on each finite bound, and
  observations are clipped to it, so they always lie in the space while the noise stays Gaussian
  (a 5-sigma clip touches fewer than one sample in a million).
- Latency: ``time.sleep(step_latency_ms / 1000)`` in every ``step`` (not in ``reset``).
- Rendering (``rgb_array``): the inner env's frame when it renders ``rgb_array`` (gymnasium's classic
  control envs need pygame for that); otherwise, or when the inner env lacks the package, a numpy
  bar chart of the observation (clean bars grey, noisy values as blue ticks).
"""

from __future__ import annotations

import difflib
import math
import time
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from joyrl_envs_custom import _draw
from joyrl_envs_custom.errors import EnvConfigError

NOISE_STREAM = 0x6E6F6973  # "nois": tells the noise generator's seed apart from the inner env's
CLIP_SIGMAS = 5.0
BARS_HEIGHT, BAR_WIDTH = 160, 40


class SlowNoisyEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(
        self,
        inner_id: str = "CartPole-v1",
        step_latency_ms: float = 0.0,
        obs_noise_std: float = 0.0,
        inner_kwargs: Mapping[str, Any] | None = None,
        render_mode: str | None = None,
    ):
        self.step_latency_ms = _non_negative("step_latency_ms", step_latency_ms)
        self.obs_noise_std = _non_negative("obs_noise_std", obs_noise_std)
        inner_kwargs = dict(inner_kwargs or {})
        if "render_mode" in inner_kwargs:
            raise EnvConfigError("inner_kwargs: render_mode is set by the outer env's render_mode, not here")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise EnvConfigError(f"render_mode: expected null or rgb_array, got {render_mode!r}")
        self.inner_id = inner_id
        self.render_mode = render_mode

        self.inner = _make_inner(inner_id, None, inner_kwargs)
        self._inner_renders = "rgb_array" in (self.inner.metadata.get("render_modes") or ())
        if render_mode == "rgb_array" and self._inner_renders:
            self.inner.close()
            self.inner = _make_inner(inner_id, "rgb_array", inner_kwargs)
        self.metadata = {"render_modes": ["rgb_array"], "render_fps": self.inner.metadata.get("render_fps") or 30}

        self.action_space = self.inner.action_space
        inner_space = self.inner.observation_space
        self._noisy = self.obs_noise_std > 0.0
        self._box = isinstance(inner_space, spaces.Box) and np.issubdtype(inner_space.dtype, np.floating)
        if self._noisy and not self._box:
            raise EnvConfigError(
                f"obs_noise_std: noise needs a float Box observation space, but {inner_id} has {inner_space}; "
                "set obs_noise_std: 0"
            )
        if self._noisy:
            margin = CLIP_SIGMAS * self.obs_noise_std
            low = np.where(np.isfinite(inner_space.low), inner_space.low - margin, inner_space.low)
            high = np.where(np.isfinite(inner_space.high), inner_space.high + margin, inner_space.high)
            self.observation_space = spaces.Box(low.astype(inner_space.dtype), high.astype(inner_space.dtype),
                                                dtype=inner_space.dtype)
        else:
            self.observation_space = inner_space
        self._last_clean: np.ndarray | None = None
        self._last_obs: np.ndarray | None = None
        self._bars_only = not self._inner_renders

    def _observe(self, obs: Any) -> Any:
        if not self._box:
            space = self.observation_space
            if isinstance(space, spaces.Discrete):  # for the bars: the state index scaled to [0, 1]
                self._last_clean = np.array([(int(obs) - space.start) / max(int(space.n) - 1, 1)], dtype=np.float32)
            return obs
        clean = np.array(obs, dtype=self.observation_space.dtype)  # a copy: never hand out the inner's buffer
        out = clean
        if self._noisy:
            space = self.observation_space
            noise = self.np_random.normal(0.0, self.obs_noise_std, size=clean.shape)
            out = np.clip(clean + noise, space.low, space.high).astype(space.dtype)
        self._last_clean, self._last_obs = clean, out
        return out

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._np_random = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, NOISE_STREAM])))
        obs, info = self.inner.reset(seed=seed, options=options)
        return self._observe(obs), dict(info)

    def step(self, action):
        if self.step_latency_ms > 0.0:
            time.sleep(self.step_latency_ms / 1000.0)
        obs, reward, terminated, truncated, info = self.inner.step(action)
        return self._observe(obs), reward, terminated, truncated, dict(info)

    def render(self):
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; create the env with render_mode='rgb_array'")
            return None
        if not self._bars_only:
            try:
                frame = self.inner.render()
            except gym.error.DependencyNotInstalled as exc:
                gym.logger.warn(f"{self.inner_id} cannot render ({exc}); drawing the observation as bars instead")
                self._bars_only = True
            else:
                if isinstance(frame, np.ndarray) and frame.ndim == 3 and frame.shape[-1] == 3:
                    return np.ascontiguousarray(frame, dtype=np.uint8)
                self._bars_only = True
        return self._bars()

    def _bars(self) -> np.ndarray:
        """The observation as vertical bars around a zero line; values squashed into view by ``tanh``."""
        clean = self._last_clean if self._last_clean is not None else np.zeros(1, dtype=np.float32)
        noisy = self._last_obs if self._last_obs is not None else clean
        clean, noisy = clean.ravel(), noisy.ravel()
        img = _draw.canvas(BARS_HEIGHT, BAR_WIDTH * max(len(clean), 1))
        mid = BARS_HEIGHT // 2
        img[mid, :] = _draw.GRID
        half = mid - 4
        for i, (c, n) in enumerate(zip(clean, noisy)):
            left, right = i * BAR_WIDTH + 6, (i + 1) * BAR_WIDTH - 6
            top = mid - int(round(math.tanh(float(c)) * half))
            img[min(top, mid) : max(top, mid) + 1, left:right] = _draw.WALL
            tick = mid - int(round(math.tanh(float(n)) * half))
            img[max(tick - 1, 0) : tick + 2, left - 3 : right + 3] = _draw.AGENT
        return img

    def close(self):
        inner = getattr(self, "inner", None)
        if inner is not None:
            inner.close()
        super().close()


def _non_negative(name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise EnvConfigError(f"{name}: a number >= 0 is required, got {value!r}") from None
    if not (math.isfinite(number) and number >= 0.0):
        raise EnvConfigError(f"{name}: a finite number >= 0 is required, got {value!r}")
    return number


def _make_inner(inner_id: str, render_mode: str | None, kwargs: dict[str, Any]) -> gym.Env:
    if not isinstance(inner_id, str) or not inner_id:
        raise EnvConfigError(f"inner_id: a gymnasium env id such as CartPole-v1 is required, got {inner_id!r}")
    try:
        return gym.make(inner_id, render_mode=render_mode, **kwargs)
    except gym.error.UnregisteredEnv:
        close = difflib.get_close_matches(inner_id.split(":")[-1], list(gym.envs.registry), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise EnvConfigError(f"inner_id: unknown gymnasium env id {inner_id!r}{hint}") from None
    except ModuleNotFoundError as exc:
        raise EnvConfigError(f"inner_id: {inner_id!r} names a module that is not installed ({exc.name})") from None
    except gym.error.DependencyNotInstalled as exc:
        raise EnvConfigError(f"inner_id: {inner_id!r} needs an extra package: {str(exc).splitlines()[0]}") from None
    except TypeError as exc:
        raise EnvConfigError(f"inner_kwargs: {inner_id!r} rejected {sorted(kwargs)}: {str(exc).splitlines()[0]}") from None
    except gym.error.Error as exc:
        raise EnvConfigError(f"inner_id: {inner_id!r} could not be created: {str(exc).splitlines()[0]}") from None
