"""The example third-party plugin ``joyrl-reinforce``: REINFORCE and its EPISODES buffer.

It is installed like any outside distribution (tox installs ``examples/plugins/joyrl-reinforce``) and
written only against ``joyrl_core``'s public API; these tests drive it only through that API and the CLI.
"""

from __future__ import annotations

import importlib.metadata
import re
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import joyrl_core
from joyrl_core import ConfigError, EnvRunner, EnvSpec

from joyrl_core.testing import quick_overrides, read_episodes

PLUGIN_DIR = Path(__file__).resolve().parents[1]
EXAMPLE_YAML = PLUGIN_DIR / "cartpole_reinforce.yaml"


@pytest.fixture(scope="module", autouse=True)
def _installed():
    try:
        importlib.metadata.distribution("joyrl-reinforce")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail(f"joyrl-reinforce is not installed; run: pip install -c constraints.txt -e {PLUGIN_DIR}")


def cartpole_spec() -> EnvSpec:
    env = gym.make("CartPole-v1")
    try:
        return EnvSpec.from_env(env, "CartPole-v1")
    finally:
        env.close()


def make_agent(registry, *overrides: str, seed: int = 3):
    cfg = joyrl_core.resolve_config(registry, None, ["general_cfg.algo_name=REINFORCE", *overrides])
    component = registry.get("algorithm", "REINFORCE")
    return component.factory(cfg.algo, cartpole_spec(), "cpu", seed), cfg


def make_buffer(registry, capacity: int = 2000, seed: int = 0):
    return registry.get("buffer", "EPISODES").factory(capacity, cartpole_spec(), None, seed)


def fill(buffer, agent, n_episodes: int, seed: int = 11, max_steps: int = 500) -> None:
    env = gym.make("CartPole-v1")
    runner = EnvRunner(env, seed, max_steps)
    for _ in range(n_episodes):
        runner.run_episode(lambda obs: agent.act(obs, 0), buffer)
    env.close()


def test_registered_from_its_own_distribution(registry):
    algo = registry.get("algorithm", "REINFORCE")
    buffer = registry.get("buffer", "EPISODES")
    assert algo.distribution == buffer.distribution == "joyrl-reinforce"
    cfg = joyrl_core.resolve_config(registry, None, ["general_cfg.algo_name=REINFORCE"])
    assert cfg.algo.buffer_type == "EPISODES"


def test_learns_cartpole_through_joyrl_run(cli, task_root):
    """The shipped YAML, unchanged but for where it writes: mean of the last 20 episodes >= 150."""
    start = time.perf_counter()
    result = cli("run", str(EXAMPLE_YAML), *(f"--set={o}" for o in quick_overrides(task_root)))
    wall = time.perf_counter() - start
    assert result.exit_code == 0, result.output
    task = Path(re.search(r"task folder: (.+)", result.output).group(1).strip())
    rows = read_episodes(task)
    rewards = np.array([float(r["reward"]) for r in rows])
    assert len(rewards) == 300
    last20 = rewards[-20:].mean()
    print(f"REINFORCE CartPole-v1: {len(rewards)} episodes, {rows[-1]['env_steps']} env steps, "
          f"{wall:.1f} s, mean of the last 20 episodes {last20:.1f}")
    assert last20 >= 150, f"mean of the last 20 episodes {last20:.1f} < 150"
    # 300 episodes, 4 per update: 75 updates; checkpoints every 25 updates.
    assert sorted(p.name for p in (task / "models").glob("*.pt")) == ["25.pt", "50.pt", "75.pt"]

    # The final checkpoint plays greedily as well as training ended.
    tested = cli("run", str(task / "config.yaml"), *(f"--set={o}" for o in quick_overrides(task_root)),
                 "--set=general_cfg.mode=test", "--set=general_cfg.load_checkpoint=true",
                 f"--set=general_cfg.load_path={task}", "--set=general_cfg.test_episode=3")
    assert tested.exit_code == 0, tested.output
    mean = float(re.search(r"test reward: mean ([\d.]+)", tested.output).group(1))
    assert mean >= 150


def test_episode_buffer_hands_out_whole_episodes_only(registry):
    buffer = make_buffer(registry, capacity=10)
    obs = np.zeros(4, dtype=np.float32)
    ends = [(False, False), (True, False), (False, False), (False, False), (False, True), (False, False)]
    for i, (terminated, truncated) in enumerate(ends):
        buffer.push(obs + i, i % 2, float(i), obs + i + 1, terminated, truncated)
    assert len(buffer) == 6 and buffer.completed_episodes == 2

    batch = buffer.take_episodes()
    assert len(batch) == 5
    np.testing.assert_array_equal(batch.rewards, [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(batch.obs[:, 0], [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(batch.terminated, [0, 1, 0, 0, 0])
    np.testing.assert_array_equal(batch.truncated, [0, 0, 0, 0, 1])
    assert len(buffer) == 1 and buffer.completed_episodes == 0  # the unfinished episode stays
    assert len(buffer.take_episodes()) == 0 and len(buffer) == 1

    buffer.push(obs + 6, 0, 6.0, obs, True, False)
    np.testing.assert_array_equal(buffer.take_episodes().rewards, [5, 6])
    assert len(buffer) == 0
    buffer.push(obs, 1, 1.0, obs, False, False)
    assert len(buffer.sample(8)) == 8


def test_episode_buffer_untangles_vectorized_envs(registry):
    """push_batch of N rows is one step of N envs (row i = env i): episodes come out per env, whole."""
    buffer = make_buffer(registry, capacity=20)
    # reward = 10 * env + step within the episode; env 0 ends at its step 2, env 1 at steps 1 and 3.
    terminated = [[0, 0], [0, 1], [1, 0], [0, 1]]
    step_in_episode = [[0, 0], [1, 1], [2, 0], [0, 1]]
    for t in range(4):
        rewards = np.array([10 * env + step_in_episode[t][env] for env in range(2)], dtype=np.float32)
        obs = np.stack([np.full(4, r) for r in rewards]).astype(np.float32)
        buffer.push_batch(obs, np.array([0, 1]), rewards, obs, np.array(terminated[t]), np.zeros(2))
    assert buffer.completed_episodes == 3
    batch = buffer.take_episodes()
    np.testing.assert_array_equal(batch.rewards, [0, 1, 2, 10, 11, 10, 11])
    np.testing.assert_array_equal(batch.terminated, [0, 0, 1, 0, 1, 0, 1])
    np.testing.assert_array_equal(batch.obs[:, 0], batch.rewards)
    assert len(buffer) == 1 and buffer.completed_episodes == 0  # env 0's second episode is under way
    buffer.push_batch(np.zeros((2, 4)), np.array([0, 0]), np.array([1.0, 12.0]), np.zeros((2, 4)),
                      np.array([1, 0]), np.array([0, 0]))
    np.testing.assert_array_equal(buffer.take_episodes().rewards, [0, 1])
    assert len(buffer) == 1


def test_full_episode_buffer_names_buffer_size(registry):
    buffer = make_buffer(registry, capacity=3)
    obs = np.zeros(4, dtype=np.float32)
    for _ in range(3):
        buffer.push(obs, 0, 1.0, obs, False, False)
    with pytest.raises(ConfigError, match="buffer_size"):
        buffer.push(obs, 0, 1.0, obs, False, False)


def test_updates_every_episodes_per_update_episodes(registry):
    agent, _ = make_agent(registry, "algo_cfg.episodes_per_update=3")
    buffer = make_buffer(registry)
    fill(buffer, agent, 2)
    assert agent.update(buffer, 0) is None and agent.update_steps == 0
    fill(buffer, agent, 1)
    metrics = agent.update(buffer, 0)
    assert set(metrics) == {"policy_loss", "entropy", "value_loss"}
    assert all(np.isfinite(v) for v in metrics.values())
    assert agent.update_steps == 1 and len(buffer) == 0


def test_checkpoint_round_trip_and_weights(registry, tmp_path):
    agent, cfg = make_agent(registry, "algo_cfg.episodes_per_update=2")
    buffer = make_buffer(registry)
    for _ in range(2):
        fill(buffer, agent, 2)
        agent.update(buffer, 0)
    path = tmp_path / "models" / "2.pt"
    joyrl_core.save_checkpoint(path, agent.state_dict(), joyrl_core.Counters(4, 100, 2), joyrl_core.config_to_dict(cfg))
    payload = joyrl_core.load_checkpoint(path)  # torch.load(weights_only=True): plain data only

    restored, _ = make_agent(registry, "algo_cfg.episodes_per_update=2", seed=99)
    restored.load_state_dict(payload["agent"])
    assert restored.update_steps == 2
    obs = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    np.testing.assert_array_equal(restored.predict_action(obs), agent.predict_action(obs))
    # Same RNG, same optimizer moments: the two agents now act and learn identically.
    np.testing.assert_array_equal(restored.sample_action(obs, 0), agent.sample_action(obs, 0))
    fill(buffer, agent, 2, seed=5)
    twin = make_buffer(registry)
    fill(twin, restored, 2, seed=5)
    agent.update(buffer, 0)
    restored.update(twin, 0)
    for (name, a), b in zip(agent.state_dict()["policy"].items(), restored.state_dict()["policy"].values()):
        torch.testing.assert_close(a, b, msg=name)

    fresh, _ = make_agent(registry, seed=1)
    fresh.set_weights(agent.get_weights())
    np.testing.assert_array_equal(fresh.predict_action(obs), agent.predict_action(obs))

    no_baseline, _ = make_agent(registry, "algo_cfg.baseline=none")
    with pytest.raises(ValueError, match="value"):
        agent.load_state_dict(no_baseline.state_dict())


def test_replay_buffer_is_refused_before_the_run(registry, task_root):
    with pytest.raises(ConfigError) as info:
        joyrl_core.resolve_config(registry, None, [
            *quick_overrides(task_root, algo_name="REINFORCE", max_episode=2), "algo_cfg.buffer_type=REPLAY_QUE",
        ])
    message = str(info.value)
    assert "\n" not in message and "'REINFORCE'" in message and "'REPLAY_QUE'" in message
    assert "whole_episodes" in message and "EPISODES" in message
    assert not task_root.exists() or not any(task_root.iterdir())


def test_continuous_actions_without_baseline(registry, task_root):
    cfg = joyrl_core.resolve_config(registry, None, [
        *quick_overrides(task_root, algo_name="REINFORCE", max_episode=4, max_step=50, seed=2),
        "algo_cfg.baseline=none", "algo_cfg.episodes_per_update=2", "algo_cfg.hidden_dims=[16]",
        "env_cfg.id=Pendulum-v1",
    ])
    summary, task = joyrl_core.start_run(cfg, registry)
    assert summary.episodes == 4 and summary.env_steps == 200 and summary.update_steps == 2
    assert len(read_episodes(task.root)) == 4


def test_learns_from_vectorized_envs(registry, task_root):
    cfg = joyrl_core.resolve_config(registry, None, [
        *quick_overrides(task_root, algo_name="REINFORCE", max_episode=12, max_step=100, seed=2),
        "algo_cfg.episodes_per_update=4", "env_cfg.n_envs=3",
    ])
    summary, _ = joyrl_core.start_run(cfg, registry)
    assert summary.episodes == 12 and summary.update_steps >= 2
