"""Acting noise of TD3 and DDPG, in the [-1, 1] action scale: Gaussian or Ornstein-Uhlenbeck, with a
linear schedule of its standard deviation over env steps."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from joyrl_sac.config import TD3Config


class ActionNoise:
    """``sample(n, env_steps)``: noise for ``n`` envs (rows), drawn from the agent's numpy RNG.

    Ornstein-Uhlenbeck (Uhlenbeck & Ornstein, 1930; DDPG's choice) keeps one process per env row::

        x += theta * (0 - x) * dt + sigma * sqrt(dt) * N(0, 1)
    """

    def __init__(self, config: TD3Config, act_dim: int, rng: np.random.Generator):
        self.cfg = config
        self.act_dim = act_dim
        self.rng = rng
        self.state = np.zeros((0, act_dim))

    def std(self, env_steps: int) -> float:
        cfg = self.cfg
        if cfg.noise_std_end is None:
            return cfg.noise_std
        progress = min(env_steps / cfg.noise_decay_steps, 1.0)
        return cfg.noise_std + (cfg.noise_std_end - cfg.noise_std) * progress

    def sample(self, n: int, env_steps: int) -> np.ndarray:
        sigma = self.std(env_steps)
        draw = self.rng.standard_normal((n, self.act_dim))
        if self.cfg.exploration_noise == "normal":
            return (sigma * draw).astype(np.float32)
        if len(self.state) != n:
            self.state = np.zeros((n, self.act_dim))
        theta, dt = self.cfg.ou_theta, self.cfg.ou_dt
        self.state += -theta * self.state * dt + sigma * np.sqrt(dt) * draw
        return self.state.astype(np.float32)

    def state_dict(self) -> dict[str, Any]:
        return {"ou_state": self.state.tolist()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.state = np.asarray(state["ou_state"], dtype=np.float64).reshape(-1, self.act_dim)
