"""The offline capability (``Agent.offline``) as the core keeps it, for any plugin: the dataset read
before the task folder, no training env, ``update`` looped to ``max_update_steps`` on the update axis."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import pytest

from joyrl_core import (
    Agent,
    ConfigError,
    JoyRLError,
    Trajectory,
    TrajectoryWriter,
    dataset_field,
    hookimpl,
    load_registry,
    option,
    resolve_config,
    start_run,
)
from joyrl_core.run.context import RunContext
from joyrl_core.testing import quick_overrides


@dataclass
class CountingConfig:
    dataset: list[str] = dataset_field()
    steps_per_update: int = option(1, "update steps each update() call makes (0: a broken agent)", minimum=0)
    buffer_type: str = option("REPLAY_QUE", "buffer the dataset is read into")


class CountingAgent(Agent):
    """Always acts 0 and counts its updates, remembering what the trainer handed it."""

    offline = True

    def __init__(self, config, env_spec, device, seed):
        self.cfg, self.n_actions, self.updates, self.calls = config, env_spec.n_actions, 0, []

    def sample_action(self, obs, env_steps):
        return np.zeros(len(obs), dtype=np.int64)

    def predict_action(self, obs):
        return np.zeros(len(obs), dtype=np.int64)

    def update(self, buffer, env_steps):
        self.calls.append((len(buffer), env_steps))
        self.updates += self.cfg.steps_per_update
        return {"loss": 1.0}

    @property
    def update_steps(self):
        return self.updates

    def get_weights(self):
        return {}

    def set_weights(self, weights):
        pass

    def state_dict(self):
        return {"updates": self.updates}

    def load_state_dict(self, state):
        self.updates = int(state["updates"])


AGENTS: list[CountingAgent] = []


def _make(config, env_spec, device, seed, shape):
    AGENTS.append(CountingAgent(config, env_spec, device, seed))
    return AGENTS[-1]


@hookimpl
def register_algorithms(register):
    register("COUNTING_OFFLINE", _make, CountingConfig, "counts offline updates")


PLUGIN = sys.modules[__name__]  # this module is the plugin


@pytest.fixture
def dataset(tmp_path):
    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=0)
    with TrajectoryWriter(tmp_path / "data") as writer:
        for _ in range(2):
            next_obs, _, _, _, _ = env.step(0)
            states = np.stack([obs, next_obs])
            writer.add(Trajectory(states, np.array([0, 1]), np.ones(2, np.float32), states[::-1],
                                  np.array([False, True]), np.zeros(2, bool), 2.0))
    return tmp_path / "data"


def _overrides(task_root, dataset, **general):
    return [*quick_overrides(task_root, algo_name="COUNTING_OFFLINE", max_update_steps=250, model_save_fre=100,
                             **general), f"algo_cfg.dataset=['{dataset}']"]


def test_the_trainer_loops_update_on_the_filled_buffer_and_steps_no_env(task_root, dataset, monkeypatch):
    registry = load_registry(extra_plugins=[("counting", PLUGIN)])
    built = []
    monkeypatch.setattr(RunContext, "make_env", lambda self, render_mode=None: built.append(render_mode))
    summary, task = start_run(resolve_config(registry, None, _overrides(task_root, dataset)), registry)
    agent = AGENTS[-1]
    assert built == [] and summary.env_steps == 0 and summary.update_steps == 250
    assert agent.calls == [(4, 0)] * 250  # a buffer of exactly the dataset's 4 transitions, env_steps 0
    assert sorted(p.name for p in task.models.iterdir()) == ["100.pt", "200.pt", "250.pt"]


def test_an_update_that_makes_no_step_is_an_error_not_a_hang(task_root, dataset):
    registry = load_registry(extra_plugins=[("counting", PLUGIN)])
    config = resolve_config(registry, None, _overrides(task_root, dataset) + ["algo_cfg.steps_per_update=0"])
    with pytest.raises(JoyRLError, match="update\\(\\) made no update step"):
        start_run(config, registry)


def test_normalization_is_refused_for_an_offline_algorithm_before_a_folder_exists(task_root, dataset):
    registry = load_registry(extra_plugins=[("counting", PLUGIN)])
    config = resolve_config(registry, None, _overrides(task_root, dataset) + ["env_cfg.normalize_obs=true"])
    with pytest.raises(ConfigError, match="COUNTING_OFFLINE learns offline from a dataset's own observations"):
        start_run(config, registry)
    assert not task_root.exists() or not any(task_root.iterdir())
