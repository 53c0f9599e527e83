"""The built-in ``RANDOM`` algorithm: uniform random actions, no learning.

The baseline every learning curve is read against, and the policy the benchmarks use to measure the
framework's own overhead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from joyrl_core.contracts.agent import Agent
from joyrl_core.contracts.buffer import Buffer
from joyrl_core.contracts.spaces import EnvSpec


class RandomAgent(Agent):
    def __init__(self, env_spec: EnvSpec, seed: int | None):
        self.env_spec = env_spec
        self._rng = np.random.default_rng(seed)

    def _actions(self, n: int) -> np.ndarray:
        spec = self.env_spec
        if spec.action_kind == "discrete":
            if n == 1:
                # A scalar draw is ~4x cheaper than a sized one; this is the benchmarks' hot path.
                return np.array([self._rng.integers(spec.n_actions)])
            return self._rng.integers(0, spec.n_actions, size=n)
        return self._rng.uniform(spec.action_low, spec.action_high, size=(n, *spec.action_shape)).astype(np.float32)

    def sample_action(self, obs: np.ndarray, env_steps: int) -> np.ndarray:
        return self._actions(len(obs))

    def predict_action(self, obs: np.ndarray) -> np.ndarray:
        return self._actions(len(obs))

    def update(self, buffer: Buffer | None, env_steps: int) -> Mapping[str, float] | None:
        return None

    @property
    def update_steps(self) -> int:
        return 0

    def get_weights(self) -> dict[str, Any]:
        return {}

    def set_weights(self, weights: Mapping[str, Any]) -> None:
        if weights:
            raise ValueError(f"RANDOM has no weights, got {sorted(weights)}")

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self._rng.bit_generator.state}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if "rng" not in state:
            raise ValueError("not a RANDOM agent's state (no 'rng')")
        self._rng.bit_generator.state = state["rng"]


def make_random_agent(config: None, env_spec: EnvSpec, device: str, seed: int | None, shape=None) -> RandomAgent:
    return RandomAgent(env_spec, seed)
