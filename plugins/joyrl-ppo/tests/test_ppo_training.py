"""PPO and A2C through the run: learning CartPole, exact resume, continuous actions, refused configs."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import joyrl_core
from joyrl_core import ConfigError, EnvSpec, RolloutBuffer, RunShape
from joyrl_core.run.rollout import VectorEnvRunner
from joyrl_core.testing import quick_overrides, read_episodes

# RL-Zoo's PPO CartPole-v1 settings (what examples/cartpole_ppo.yaml starts from).
ZOO_CARTPOLE = ["algo_cfg.n_steps=32", "algo_cfg.batch_size=256", "algo_cfg.gae_lambda=0.8", "algo_cfg.gamma=0.98",
                "algo_cfg.n_epochs=20", "algo_cfg.lr=0.001", "algo_cfg.lr_schedule=linear",
                "algo_cfg.clip_schedule=linear", "env_cfg.n_envs=8"]


def test_ppo_learns_cartpole_in_a_short_run(registry, task_root):
    cfg = joyrl_core.resolve_config(registry, None, [
        *quick_overrides(task_root, algo_name="PPO", max_episode=-1, max_env_steps=100000, max_step=500, seed=2,
                         online_eval="true", eval_every_steps=4000, stop_reward=300, model_save_fre=100000),
        *ZOO_CARTPOLE,
    ])
    summary, task = joyrl_core.start_run(cfg, registry)
    assert summary.best_eval_reward >= 300, summary.eval_mean_rewards
    assert summary.env_steps < 60000, "stops at the first evaluation that reaches stop_reward"
    assert len(read_episodes(task.root)) == summary.episodes


def collect_rollout(agent, buffer: RolloutBuffer, seed: int, env_id: str = "CartPole-v1") -> int:
    def make():
        return gym.wrappers.TimeLimit(gym.make(env_id), max_episode_steps=50)

    venv = gym.vector.SyncVectorEnv([make] * buffer.n_streams, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    runner = VectorEnvRunner(venv, seed)
    steps = 0
    while not buffer.full:
        runner.step(lambda obs: agent.act(obs, steps), buffer)
        steps += buffer.n_streams
    venv.close()
    return steps


@pytest.mark.parametrize("algo,env_id", [("PPO", "CartPole-v1"), ("A2C", "Pendulum-v1")])
def test_a_restored_checkpoint_makes_the_identical_next_update(registry, tmp_path, algo, env_id):
    """Weights, optimizer state, the sampling and shuffling RNG, the counters and the schedules (a
    function of env steps) all come back: the same rollout gives the same update, bit for bit."""
    cfg = joyrl_core.resolve_config(registry, None, [
        f"general_cfg.algo_name={algo}", f"env_cfg.id={env_id}", "general_cfg.max_env_steps=10000",
        "algo_cfg.lr_schedule=linear", "algo_cfg.n_steps=16", "algo_cfg.ent_coef=0.01",
        *(["algo_cfg.batch_size=32", "algo_cfg.n_epochs=3", "algo_cfg.clip_schedule=linear",
           "algo_cfg.clip_range_vf=0.5", "algo_cfg.target_kl=0.5"] if algo == "PPO" else []),
    ])
    spec = EnvSpec.from_env(gym.make(env_id), env_id)
    shape = RunShape(n_envs=4, max_env_steps=10000)
    factory = registry.get("algorithm", algo).factory
    original = factory(cfg.algo, spec, "cpu", 1, shape)
    buffer = RolloutBuffer(16, 4, spec, seed=0)
    steps = collect_rollout(original, buffer, seed=5, env_id=env_id)
    original.update(buffer, steps)

    path = tmp_path / "agent.pt"
    joyrl_core.save_checkpoint(path, original.state_dict(), joyrl_core.Counters(1, steps, original.update_steps), {})
    restored = factory(cfg.algo, spec, "cpu", 99, shape)
    restored.load_state_dict(joyrl_core.load_checkpoint(path)["agent"])

    results = []
    for agent in (original, restored):
        buffer = RolloutBuffer(16, 4, spec, seed=0)
        more = collect_rollout(agent, buffer, seed=6, env_id=env_id)
        metrics = agent.update(buffer, steps + more)
        results.append((metrics, agent.update_steps, [p.detach().clone() for p in agent.net.parameters()]))
    (m1, u1, p1), (m2, u2, p2) = results
    assert m1 == m2 and u1 == u2 > 1
    assert all(torch.equal(a, b) for a, b in zip(p1, p2))
    assert m1["lr"] < cfg.algo.lr, "the linear schedule has moved on"


def test_resume_and_test_mode_through_the_run(registry, task_root):
    train = [*quick_overrides(task_root, algo_name="PPO", max_episode=-1, max_env_steps=2048, max_step=100, seed=3),
             "algo_cfg.n_steps=64", "env_cfg.n_envs=4", "general_cfg.model_save_fre=16"]
    summary, task = joyrl_core.start_run(joyrl_core.resolve_config(registry, None, train), registry)
    assert summary.env_steps == 2048 and summary.update_steps == 8 * 10 * 4  # 8 rollouts x 10 epochs x 4 batches
    resume = [*train, "general_cfg.load_checkpoint=true", f"general_cfg.load_path={task.root}",
              "general_cfg.max_env_steps=3072"]
    resumed, _ = joyrl_core.start_run(joyrl_core.resolve_config(registry, None, resume), registry)
    assert resumed.env_steps == 3072 and resumed.update_steps == 12 * 40
    test = [*quick_overrides(task_root, algo_name="PPO", mode="test", load_path=str(task.root), test_episode=2,
                             max_step=100, seed=3)]
    tested, _ = joyrl_core.start_run(joyrl_core.resolve_config(registry, None, test), registry)
    assert len(tested.test_rewards) == 2


def test_a2c_runs_on_continuous_actions_with_tensorboard_metrics(registry, task_root):
    cfg = joyrl_core.resolve_config(registry, None, [
        *quick_overrides(task_root, algo_name="A2C", max_episode=-1, max_env_steps=800, max_step=100, seed=4),
        "general_cfg.loggers=[csv]", "algo_cfg.n_steps=5", "env_cfg.n_envs=4", "env_cfg.id=Pendulum-v1",
    ])
    summary, _ = joyrl_core.start_run(cfg, registry)
    assert summary.env_steps == 800 and summary.update_steps == 40


def test_a_replay_buffer_is_refused_before_the_run(registry, task_root):
    with pytest.raises(ConfigError) as info:
        joyrl_core.resolve_config(registry, None, [*quick_overrides(task_root, algo_name="PPO"),
                                                   "algo_cfg.buffer_type=REPLAY_QUE"])
    message = str(info.value)
    assert "\n" not in message and "'PPO' (joyrl-ppo)" in message and "'REPLAY_QUE' (joyrl-core)" in message
    assert "ordered_rollouts, extra_columns" in message and message.endswith("installed buffers that do: ROLLOUT")
    assert not task_root.exists()


def test_a_linear_schedule_needs_a_budget(registry, task_root, cli):
    result = cli("run", *(f"--set={o}" for o in quick_overrides(task_root, algo_name="PPO")),
                 "--set=algo_cfg.lr_schedule=linear")
    assert result.exit_code == 1
    assert result.output.strip() == ("Error: --set algo_cfg.lr_schedule: algo_cfg.lr_schedule: linear anneals over "
                                     "general_cfg.max_env_steps, which is null; set max_env_steps or use constant")
    assert not task_root.exists()
