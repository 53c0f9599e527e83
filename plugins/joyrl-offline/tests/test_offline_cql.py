"""CQL: the conservative penalty as written in the paper, and learning from mixed expert and random data."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from offline_helpers import offline_overrides, random_policy, write_task

from joyrl_core import ConfigError, EnvSpec, resolve_config, start_run

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


def test_continuous_cql_says_what_it_needs():
    from joyrl_offline.config import CQLConfig
    from joyrl_offline.cql import make_cql_agent

    pendulum = EnvSpec.from_env(gym.make("Pendulum-v1"), "Pendulum-v1")
    with pytest.raises(ConfigError, match=r"CQL on continuous actions \(Pendulum-v1\) needs SAC's actor and twin critics \(joyrl-sac\)"):
        make_cql_agent(CQLConfig(dataset=["unused"]), pendulum, "cpu", None)


def test_cql_learns_from_a_mixed_dataset(registry, tmp_path, task_root):
    expert = write_task(tmp_path / "data" / "Test_expert", 20)
    random_play = write_task(tmp_path / "data" / "Test_random", 20, policy=random_policy, seed=2)
    summary, _ = start_run(resolve_config(registry, None, offline_overrides(
        task_root, "CQL", [expert, random_play], online_eval="true", max_update_steps=1500, model_save_fre=500,
    )), registry)
    assert summary.update_steps == 1500
    assert max(mean for _, mean in summary.eval_mean_rewards) >= 400
