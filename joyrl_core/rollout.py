"""Rollout: an env stepped by a policy for one episode, transitions handed to a sink.

Kept apart from learning so that any backend can drive it: the ``single`` backend learns between steps
through ``on_step``; a remote worker only collects.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np

from joyrl_core.buffers import Buffer


@dataclass
class EpisodeResult:
    reward: float
    length: int
    terminated: bool
    wall_time: float
    frames: list[np.ndarray] = field(default_factory=list)


class EnvRunner:
    """Runs episodes of one env. The first reset uses ``seed``; later resets continue its RNG.

    Seeding every reset with the same value would make every episode start alike; gymnasium's env RNG
    carries on from the first seeded reset instead.
    """

    def __init__(self, env: gym.Env, seed: int | None, max_steps: int):
        self.env = env
        self.max_steps = max_steps
        self._next_seed = seed
        if seed is not None:
            env.action_space.seed(seed)

    def _reset(self) -> np.ndarray:
        obs, _ = self.env.reset(seed=self._next_seed)
        self._next_seed = None
        return obs

    def run_episode(
        self,
        act: Callable[[np.ndarray], np.ndarray],
        buffer: Buffer | None = None,
        on_step: Callable[[], bool] | None = None,
        record_frames: int = 0,
    ) -> EpisodeResult:
        """Play one episode with ``act`` (batched: ``(1, *obs_shape) -> (1, ...)``).

        Every transition goes to ``buffer`` (with ``terminated`` only, so truncation bootstraps);
        ``on_step`` runs after each step and may return ``True`` to stop the episode early (the run is
        over). ``record_frames`` > 0 keeps up to that many rendered frames.
        """
        env = self.env
        start = time.perf_counter()
        obs = self._reset()
        frames: list[np.ndarray] = []
        if record_frames:
            frames.append(env.render())
        total = 0.0
        terminated = False
        length = 0
        while length < self.max_steps:
            action = act(np.asarray(obs)[None])[0]
            next_obs, reward, terminated, truncated, _ = env.step(action)
            if buffer is not None:
                buffer.push(obs, action, reward, next_obs, terminated)
            total += float(reward)
            length += 1
            obs = next_obs
            if len(frames) and len(frames) < record_frames:
                frames.append(env.render())
            if on_step is not None and on_step():
                break
            if terminated or truncated:
                break
        return EpisodeResult(total, length, bool(terminated), time.perf_counter() - start, frames)
