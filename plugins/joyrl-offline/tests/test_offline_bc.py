"""BC: learns the expert from its episodes without stepping a training env; checkpoints, resume, test
mode and loggers count update steps."""

from __future__ import annotations

import csv
import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from offline_helpers import offline_overrides, write_task

import joyrl_core
from joyrl_core import EnvSpec, ReplayQueue, resolve_config, start_run
from joyrl_core.run.context import RunContext


@pytest.fixture
def expert_data(tmp_path):
    return write_task(tmp_path / "data" / "Test_expert", 20)


def _run(registry, overrides):
    return start_run(resolve_config(registry, None, overrides), registry)


def test_bc_reaches_the_experts_return_from_20_episodes_without_a_training_env(registry, task_root, expert_data,
                                                                                monkeypatch):
    made = {"env": 0, "vector": 0}
    make_env, make_vector_env = RunContext.make_env, RunContext.make_vector_env

    def counting_env(self, render_mode=None):
        made["env"] += 1
        return make_env(self, render_mode)

    def counting_vector_env(self):
        made["vector"] += 1
        return make_vector_env(self)

    monkeypatch.setattr(RunContext, "make_env", counting_env)
    monkeypatch.setattr(RunContext, "make_vector_env", counting_vector_env)
    summary, task = _run(registry, offline_overrides(task_root, "BC", [expert_data], online_eval="true",
                                                     max_update_steps=400, model_save_fre=200,
                                                     online_eval_episode=10))
    assert made == {"env": 1, "vector": 0}  # the evaluation env alone
    assert summary.env_steps == 0 and summary.episodes == 0 and summary.update_steps == 400
    assert summary.eval_mean_rewards[-1] == (400, pytest.approx(500.0, abs=25))
    with open(task.results / "evals.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["update_steps", "mean_reward", "std_reward", "train_time"]
    assert [row[0] for row in rows[1:]] == ["200", "400"]
    assert sorted(p.name for p in task.models.iterdir()) == ["200.pt", "400.pt", "best.pt"]


def test_resume_test_mode_and_tensorboard_on_the_update_axis(registry, task_root, expert_data):
    _, first = _run(registry, offline_overrides(task_root, "BC", [expert_data], max_update_steps=200,
                                                model_save_fre=100))
    summary, resumed = _run(registry, offline_overrides(
        task_root, "BC", [expert_data], max_update_steps=300, model_save_fre=100, load_checkpoint="true",
        load_path=str(first.root), loggers="[csv,tensorboard]"))
    assert summary.update_steps == 300
    assert sorted(p.name for p in resumed.models.iterdir()) == ["300.pt"]
    events = list((resumed.logs / "tensorboard").iterdir())
    assert events and events[0].stat().st_size > 0
    log = (resumed.logs / "run.log").read_text()
    assert "offline dataset: 10000 transitions in 20 episodes" in log and "update step 300: train/loss" in log

    summary, tested = _run(registry, offline_overrides(task_root, "BC", [expert_data], mode="test",
                                                       load_path=str(resumed.root), test_episode=3))
    assert len(summary.test_rewards) == 3 and summary.env_steps == sum(summary.test_rewards)
    assert json.loads((tested.results / "summary.json").read_text())["update_steps"] == 300


def test_an_online_algorithm_takes_no_dataset(cli, task_root, expert_data):
    overrides = offline_overrides(task_root, "BC", [expert_data])
    overrides = [o for o in overrides if not o.startswith("algo_cfg.policy_layers")] + ["general_cfg.algo_name=DQN"]
    result = cli("run", *[arg for o in overrides for arg in ("--set", o)])
    assert result.exit_code != 0 and "unknown key algo_cfg.dataset" in result.output


@pytest.mark.parametrize("loss", ["gaussian", "mse"])
def test_continuous_bc_fits_a_linear_controller(loss):
    """Pendulum actions of a clipped linear controller: BC's greedy actions come to match them."""
    from joyrl_offline.bc import BCAgent
    from joyrl_offline.config import BCConfig

    spec = EnvSpec.from_env(gym.make("Pendulum-v1"), "Pendulum-v1")
    rng = np.random.default_rng(0)
    obs = rng.uniform(-1, 1, size=(2000, 3)).astype(np.float32)
    actions = np.clip(obs @ np.array([[-2.0], [-1.0], [-0.5]], dtype=np.float32), -2.0, 2.0)
    buffer = ReplayQueue(len(obs), spec, seed=0)
    buffer.push_batch(obs, actions, np.zeros(len(obs)), obs, np.zeros(len(obs)))
    torch.manual_seed(0)
    config = BCConfig(dataset=["unused"], policy_layers=[{"layer_dim": [64]}], continuous_loss=loss, batch_size=128)
    agent = BCAgent(config, spec, "cpu", seed=0)
    for _ in range(600):
        metrics = agent.update(buffer, 0)
    predicted = agent.predict_action(obs[:500])
    assert predicted.shape == (500, 1) and np.abs(predicted).max() <= 2.0
    assert np.abs(predicted - actions[:500]).mean() < 0.1
    if loss == "gaussian":
        assert metrics["std"] < 0.7  # the learned spread falls from 1 towards the controller's zero noise
        assert agent.sample_action(obs[:4], 0).shape == (4, 1)


def test_bc_checkpoints_round_trip():
    from joyrl_offline.bc import BCAgent
    from joyrl_offline.config import BCConfig

    spec = EnvSpec.from_env(gym.make("CartPole-v1"), "CartPole-v1")
    config = BCConfig(dataset=["unused"], policy_layers=[{"layer_dim": [16]}])
    agent, other = BCAgent(config, spec, "cpu", 1), BCAgent(config, spec, "cpu", 2)
    other.load_state_dict(agent.state_dict())
    obs = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
    np.testing.assert_array_equal(agent.predict_action(obs), other.predict_action(obs))
    np.testing.assert_array_equal(agent.sample_action(obs, 0), other.sample_action(obs, 0))
    with pytest.raises(ValueError, match="not a BC checkpoint"):
        other.load_state_dict({"q_net": {}})
    assert joyrl_core.Agent.offline is False and BCAgent.offline is True


def test_the_ray_backend_runs_an_offline_algorithm_in_process(registry, task_root, expert_data):
    if "ray" not in registry.names("backend"):
        pytest.skip("joyrl-backend-ray is not installed")
    summary, task = _run(registry, offline_overrides(task_root, "BC", [expert_data], mp_backend="ray",
                                                     max_update_steps=100, model_save_fre=100))
    assert summary.update_steps == 100 and summary.env_steps == 0
    assert "learns from its dataset in this process (Ray is not started)" in (task.logs / "run.log").read_text()
