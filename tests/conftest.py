"""The JoyRL test suite's own constants; its fixtures come from ``joyrl_core.testing`` (a pytest plugin
that joyrl-core installs), which plugin distributions' tests use too."""

from __future__ import annotations

from pathlib import Path

from joyrl_core.testing import EPISODES_HEADER, joyrl_script, quick_overrides, read_episodes, start_local_ray

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_YAML = REPO_ROOT / "examples" / "cartpole_dqn.yaml"
# One gradient step per env step: the cadence the training and Ray tests count on (the shipped example
# learns in bursts).
PER_STEP_DQN_YAML = REPO_ROOT / "tests" / "cartpole_dqn_per_step.yaml"

__all__ = ["EPISODES_HEADER", "EXAMPLE_YAML", "PER_STEP_DQN_YAML", "REPO_ROOT", "joyrl_script", "quick_overrides", "read_episodes"]

# An outside algorithm plugin for the experiment tests, made with the make_distribution fixture: no
# learning, its greedy policy is a CartPole controller whose quality is its `skill` key (1: balances
# for hundreds of steps, 0: always pushes left, ~10 steps), so trials differ deterministically. It
# fails on purpose for two general seeds (13 kills its process, 14 raises) and with `fail: true`.
SKILL_PLUGIN = '''
import os
from dataclasses import dataclass

import numpy as np
import torch

from joyrl_core import Agent, hookimpl, option


@dataclass
class SkillConfig:
    skill: int = option(1, "1: a balancing controller; 0: always action 0", minimum=0, maximum=1)
    fail: bool = option(False, "raise when the agent is built")


class SkillAgent(Agent):
    def __init__(self, config, env_spec, device, seed, shape):
        if torch.initial_seed() == 13:
            os._exit(3)
        if torch.initial_seed() == 14:
            raise RuntimeError("seed 14 fails on purpose")
        if config.fail:
            raise RuntimeError("fail: true fails on purpose")
        self.skill = config.skill

    def predict_action(self, obs):
        if self.skill == 0:
            return np.zeros(len(obs), dtype=np.int64)
        return (obs[:, 2] + 0.5 * obs[:, 3] > 0).astype(np.int64)

    def sample_action(self, obs, env_steps):
        return self.predict_action(obs)

    def update(self, buffer, env_steps):
        return None

    @property
    def update_steps(self):
        return 0

    def get_weights(self):
        return {"skill": self.skill}

    def set_weights(self, weights):
        self.skill = int(weights["skill"])

    def state_dict(self):
        return {"skill": self.skill}

    def load_state_dict(self, state):
        self.skill = int(state["skill"])


@hookimpl
def register_algorithms(register):
    register("SKILL", SkillAgent, SkillConfig, "a fixed CartPole controller of a given skill")
'''
