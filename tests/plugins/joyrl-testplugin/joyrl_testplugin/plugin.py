"""Registers a ``jsonl`` logger, a ``CONSTANT`` algorithm and a ``scale_reward`` env wrapper with JoyRL, as an
outside plugin would."""

from __future__ import annotations

import dataclasses
import functools
import json
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

import joyrl_core
from joyrl_core import Agent, Buffer, EnvSpec, EpisodeRecord, Logger, option


class JsonlLogger(Logger):
    """Writes every episode record and every metrics call as one JSON line to ``<task>/logs/events.jsonl``."""

    def __init__(self, run: joyrl_core.RunContext):
        self.path = run.task.logs / "events.jsonl"
        self._fh = open(self.path, "w", encoding="utf-8")

    def log_episode(self, record: EpisodeRecord) -> None:
        self._write({"event": "episode", **dataclasses.asdict(record)})

    def log_metrics(self, env_steps: int, metrics: Mapping[str, float]) -> None:
        self._write({"event": "metrics", "env_steps": env_steps, "metrics": {k: float(v) for k, v in metrics.items()}})

    def _write(self, obj: dict[str, Any]) -> None:
        self._fh.write(json.dumps(obj, sort_keys=True) + "\n")

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


@dataclass
class ConstantConfig:
    """``algo_cfg`` of CONSTANT."""

    action: int = option(0, "the action always taken", minimum=0)


class ConstantAgent(Agent):
    """Always takes ``config.action``; never learns."""

    def __init__(self, config: ConstantConfig, env_spec: EnvSpec, device: str, seed: int | None):
        if env_spec.action_kind != "discrete":
            raise ValueError("CONSTANT needs a discrete action space")
        if config.action >= env_spec.n_actions:
            raise ValueError(f"action: {config.action} is not below n_actions {env_spec.n_actions}")
        self.action = config.action

    def _actions(self, obs: np.ndarray) -> np.ndarray:
        return np.full(len(obs), self.action, dtype=np.int64)

    def sample_action(self, obs: np.ndarray, env_steps: int) -> np.ndarray:
        return self._actions(obs)

    def predict_action(self, obs: np.ndarray) -> np.ndarray:
        return self._actions(obs)

    def update(self, buffer: Buffer | None, env_steps: int) -> Mapping[str, float] | None:
        return None

    @property
    def update_steps(self) -> int:
        return 0

    def get_weights(self) -> dict[str, Any]:
        return {}

    def set_weights(self, weights: Mapping[str, Any]) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {"action": self.action}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if "action" not in state:
            raise ValueError("not a CONSTANT agent's state (no 'action')")
        self.action = int(state["action"])


def make_constant_agent(config: ConstantConfig, env_spec: EnvSpec, device: str, seed: int | None,
                        shape: joyrl_core.RunShape | None = None) -> ConstantAgent:
    return ConstantAgent(config, env_spec, device, seed)


@joyrl_core.hookimpl
def register_loggers(register):
    register("jsonl", JsonlLogger, None, "every episode and metric as JSON lines in logs/events.jsonl")


@joyrl_core.hookimpl
def register_algorithms(register):
    register("CONSTANT", make_constant_agent, ConstantConfig, "always the same action; a test fixture")


@dataclass
class ScaleRewardConfig:
    """Options of a ``scale_reward`` entry in ``env_cfg.wrappers``."""

    factor: float = option(1.0, "multiplies every reward the learner sees")


def make_scale_reward(env: gym.Env, config: ScaleRewardConfig) -> gym.Env:
    return gym.wrappers.TransformReward(env, functools.partial(operator.mul, config.factor))


@joyrl_core.hookimpl
def register_wrappers(register):
    register("scale_reward", make_scale_reward, ScaleRewardConfig, "multiplies rewards by a factor; a test fixture")
