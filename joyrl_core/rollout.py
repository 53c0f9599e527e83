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
from joyrl_core.trajectories import Trajectory


@dataclass
class EpisodeResult:
    reward: float
    length: int
    terminated: bool
    wall_time: float
    frames: list[np.ndarray] = field(default_factory=list)
    trajectory: Trajectory | None = None


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

    def reseed(self, seed: int | None) -> None:
        """Seed the next reset (``None``: leave the env's RNG running)."""
        self._next_seed = seed

    def _reset(self) -> np.ndarray:
        obs, _ = self.env.reset(seed=self._next_seed)
        self._next_seed = None
        return obs

    def run_episode(
        self,
        act: Callable[[np.ndarray], np.ndarray],
        buffer: Buffer | None = None,
        on_step: Callable[[], None] | None = None,
        record_frames: int = 0,
        record_trajectory: bool = False,
    ) -> EpisodeResult:
        """Play one episode with ``act`` (batched: ``(1, *obs_shape) -> (1, ...)``).

        Every transition goes to ``buffer``; the last one of an episode cut by the env's time limit or by
        ``max_steps`` is pushed with ``terminated=False, truncated=True``, so its value bootstraps;
        ``on_step`` runs after each step (the single backend learns there). ``record_frames`` > 0 keeps up to that many rendered frames; ``record_trajectory`` keeps
        the episode's transitions as a :class:`Trajectory` (imitation and offline RL data).
        """
        env = self.env
        start = time.perf_counter()
        obs = self._reset()
        frames: list[np.ndarray] = []
        if record_frames:
            frames.append(env.render())
        steps: list[tuple] | None = [] if record_trajectory else None
        total = 0.0
        terminated = truncated = False
        length = 0
        while length < self.max_steps:
            action = act(np.asarray(obs)[None])[0]
            next_obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            length += 1
            cut = truncated or length >= self.max_steps
            if buffer is not None:
                buffer.push(obs, action, reward, next_obs, terminated, cut)
            if steps is not None:
                steps.append((obs, action, reward, next_obs, terminated, cut))
            obs = next_obs
            if len(frames) and len(frames) < record_frames:
                frames.append(env.render())
            if on_step is not None:
                on_step()
            if terminated or truncated:
                break
        trajectory = None
        if steps:
            columns = list(zip(*steps))
            trajectory = Trajectory(
                states=np.asarray(columns[0]),
                actions=np.asarray(columns[1]),
                rewards=np.asarray(columns[2], dtype=np.float32),
                next_states=np.asarray(columns[3]),
                terminated=np.asarray(columns[4], dtype=bool),
                truncated=np.asarray(columns[5], dtype=bool),
                episode_reward=total,
            )
        return EpisodeResult(total, length, bool(terminated), time.perf_counter() - start, frames, trajectory)
