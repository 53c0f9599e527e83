"""The policy distributions against torch.distributions, and what acting stores against the update's view."""

from __future__ import annotations

import numpy as np
import torch

import joyrl_core
from joyrl_core import EnvSpec, RunShape

from joyrl_ppo.distributions import categorical_log_prob_entropy, gaussian_log_prob_entropy


def test_gaussian_log_prob_and_entropy_match_torch():
    torch.manual_seed(0)
    mean = torch.randn(7, 3)
    log_std = torch.randn(3) * 0.5
    actions = torch.randn(7, 3) * 2
    log_prob, entropy = gaussian_log_prob_entropy(mean, log_std, actions)
    reference = torch.distributions.Normal(mean, log_std.exp())
    torch.testing.assert_close(log_prob, reference.log_prob(actions).sum(dim=-1))
    torch.testing.assert_close(entropy, reference.entropy().sum(dim=-1))


def test_categorical_log_prob_and_entropy_match_torch():
    torch.manual_seed(1)
    logits = torch.randn(9, 4) * 3
    actions = torch.randint(0, 4, (9,))
    log_prob, entropy = categorical_log_prob_entropy(logits, actions)
    reference = torch.distributions.Categorical(logits=logits)
    torch.testing.assert_close(log_prob, reference.log_prob(actions))
    torch.testing.assert_close(entropy, reference.entropy())


def agent_for(registry, env_id: str, *overrides: str):
    import gymnasium as gym

    cfg = joyrl_core.resolve_config(registry, None, ["general_cfg.algo_name=PPO", f"env_cfg.id={env_id}", *overrides])
    spec = EnvSpec.from_env(gym.make(env_id), env_id)
    return registry.get("algorithm", "PPO").factory(cfg.algo, spec, "cpu", 3, RunShape()), spec


def test_acting_stores_the_log_prob_the_update_computes(registry):
    """log pi_old(a|s) from acting (numpy sampling) is what the network gives for the stored action:
    the first ratio of every update is 1. For Box actions the env gets the clipped sample, and the
    log-prob is of the unclipped one, kept as the ``sample`` extra."""
    agent, spec = agent_for(registry, "Pendulum-v1", "algo_cfg.log_std_init=1.0")
    obs = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
    step = agent.act(obs, 0)
    assert set(step.extras) == {"log_prob", "value", "sample"}
    sample = step.extras["sample"]
    assert (np.abs(sample) > 2).any(), "with std e, some samples fall outside Pendulum's [-2, 2]"
    np.testing.assert_array_equal(step.actions, np.clip(sample, -2, 2))
    with torch.no_grad():
        out, value = agent.net(torch.as_tensor(obs))
        log_prob, _ = gaussian_log_prob_entropy(out, agent.net.log_std, torch.as_tensor(sample))
    np.testing.assert_allclose(step.extras["log_prob"], log_prob.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(step.extras["value"], value.numpy(), rtol=1e-6, atol=1e-6)  # float32 rounding

    agent, spec = agent_for(registry, "CartPole-v1")
    obs = np.random.default_rng(1).normal(size=(64, 4)).astype(np.float32)
    step = agent.act(obs, 0)
    assert set(step.extras) == {"log_prob", "value"} and step.actions.dtype == np.int64
    with torch.no_grad():
        out, _ = agent.net(torch.as_tensor(obs))
        log_prob, _ = categorical_log_prob_entropy(out, torch.as_tensor(step.actions))
    np.testing.assert_allclose(step.extras["log_prob"], log_prob.numpy(), rtol=1e-5, atol=1e-6)
