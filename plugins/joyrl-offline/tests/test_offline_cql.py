"""CQL: the conservative penalty as written in the paper, and learning from mixed expert and random data."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from offline_helpers import offline_overrides, random_policy, write_task

from joyrl_core import EnvSpec, ReplayQueue, resolve_config, start_run

CARTPOLE = EnvSpec.from_env(gym.make("CartPole-v1"), "CartPole-v1")


def _agent(**options):
    from joyrl_offline.config import CQLConfig
    from joyrl_offline.cql import make_cql_agent

    config = CQLConfig(dataset=["unused"], value_layers=[{"layer_dim": [16]}], **options)
    return make_cql_agent(config, CARTPOLE, "cpu", 1)


def test_the_loss_is_td_plus_alpha_times_logsumexp_minus_the_data_q():
    torch.manual_seed(0)
    agent = _agent(alpha=2.0, loss="mse", double=False)
    obs, next_obs = torch.randn(8, 4), torch.randn(8, 4)
    actions, rewards, terminated = torch.randint(0, 2, (8,)), torch.ones(8), torch.zeros(8)
    terminated[3] = 1.0
    loss, parts = agent.loss(obs, actions, rewards, next_obs, terminated)
    with torch.no_grad():
        q_all = agent.q_net(obs)
        q = q_all[torch.arange(8), actions]
        target = rewards + 0.99 * (1 - terminated) * agent.target_net(next_obs).max(dim=1).values
        td = ((q - target) ** 2).mean()
        penalty = (torch.log(torch.exp(q_all).sum(dim=1)) - q).mean()
    assert parts["td_loss"].item() == pytest.approx(td.item(), rel=1e-5)
    assert parts["cql_penalty"].item() == pytest.approx(penalty.item(), rel=1e-5)
    assert loss.item() == pytest.approx(td.item() + 2.0 * penalty.item(), rel=1e-5)


def _pendulum_data(n: int = 2000):
    """Pendulum transitions of a noisy linear controller: the data's actions sit near one action per state."""
    env = gym.make("Pendulum-v1")
    rng = np.random.default_rng(0)
    rows = []
    obs, _ = env.reset(seed=0)
    for _ in range(n):
        action = np.clip(obs @ np.array([-1.0, -0.5, -0.3]) + rng.normal(0, 0.05), -2, 2).astype(np.float32)[None]
        next_obs, reward, terminated, truncated, _ = env.step(action)
        rows.append((obs, action, reward, next_obs, terminated))
        obs = env.reset()[0] if terminated or truncated else next_obs
    return (np.array(column) for column in zip(*rows))


@pytest.mark.parametrize("alpha", [0.0, 5.0])
def test_continuous_cql_values_the_datas_actions_above_others(alpha):
    """The penalty's point: Q(s, a_data) above Q(s, a) for actions the data did not take; without it
    (alpha 0: offline SAC) the margin is far smaller."""
    pytest.importorskip("joyrl_sac")
    from joyrl_offline.config import CQLConfig
    from joyrl_offline.cql import make_cql_agent

    pendulum = EnvSpec.from_env(gym.make("Pendulum-v1"), "Pendulum-v1")
    obs, actions, rewards, next_obs, terminated = _pendulum_data()
    buffer = ReplayQueue(len(obs), pendulum, seed=0)
    buffer.push_batch(obs, actions, rewards, next_obs, terminated)
    torch.manual_seed(0)
    small = [{"layer_dim": [64]}, {"layer_dim": [64]}]
    agent = make_cql_agent(CQLConfig(dataset=["unused"], value_layers=small, actor_layers=small, alpha=alpha,
                                     batch_size=128, n_action_samples=4), pendulum, "cpu", 1)
    for _ in range(300):
        metrics = agent.update(buffer, 0)
    assert agent.update_steps == 300 and all(np.isfinite(v) for v in metrics.values())
    with torch.no_grad():
        states = torch.as_tensor(obs[:500])
        data_q = agent.critics(states, torch.as_tensor(actions[:500]) / 2).mean()
        flipped_q = agent.critics(states, -torch.as_tensor(actions[:500]) / 2).mean()  # the opposite torque
    margin = float(data_q - flipped_q)
    if alpha > 0:
        assert margin > 1.0, f"CQL's Q prefers the data's actions by only {margin:.2f}"
    else:
        assert margin < 1.0, f"offline SAC already prefers the data's actions by {margin:.2f}"
    assert agent.predict_action(obs[:3]).shape == (3, 1)


def test_cql_learns_from_a_mixed_dataset(registry, tmp_path, task_root):
    expert = write_task(tmp_path / "data" / "Test_expert", 20)
    random_play = write_task(tmp_path / "data" / "Test_random", 20, policy=random_policy, seed=2)
    summary, _ = start_run(resolve_config(registry, None, offline_overrides(
        task_root, "CQL", [expert, random_play], online_eval="true", max_update_steps=1500, model_save_fre=500,
    )), registry)
    assert summary.update_steps == 1500
    assert max(mean for _, mean in summary.eval_mean_rewards) >= 400
