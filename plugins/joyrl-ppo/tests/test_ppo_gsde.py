"""gSDE (gsde.py): its log-prob and entropy against a direct computation, its noise's law and
redraw schedule, and that acting stores the log-prob the update computes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from joyrl_ppo.gsde import VARIANCE_EPS, StateDependentNoise, gsde_log_prob_entropy

from test_ppo_distributions import agent_for


def test_log_prob_and_entropy_match_a_direct_computation():
    torch.manual_seed(0)
    latent, log_std = torch.tanh(torch.randn(5, 4)), torch.randn(4, 2) * 0.5
    mean, actions = torch.randn(5, 2), torch.randn(5, 2)
    log_prob, entropy = gsde_log_prob_entropy(mean, log_std, latent, actions)
    for i in range(5):
        total_lp, total_h = 0.0, 0.0
        for a in range(2):
            var = sum(float(latent[i, j]) ** 2 * math.exp(2 * float(log_std[j, a])) for j in range(4)) + VARIANCE_EPS
            total_lp += -0.5 * (float(actions[i, a] - mean[i, a])) ** 2 / var - 0.5 * math.log(2 * math.pi * var)
            total_h += 0.5 * math.log(2 * math.pi * math.e * var)
        assert log_prob[i].item() == pytest.approx(total_lp, rel=1e-5)
        assert entropy[i].item() == pytest.approx(total_h, rel=1e-5)


def test_log_std_gets_gradient_but_the_features_do_not():
    latent = torch.randn(3, 4, requires_grad=True)
    log_std = torch.zeros(4, 2, requires_grad=True)
    log_prob, _ = gsde_log_prob_entropy(torch.zeros(3, 2), log_std, latent, torch.ones(3, 2))
    log_prob.sum().backward()
    assert latent.grad is None and log_std.grad.abs().sum() > 0


def test_noise_has_the_state_dependent_variance_and_keeps_its_matrix_for_sample_freq_steps():
    latent = np.array([[0.5, -1.0, 0.25]] * 20000)
    log_std = np.log(np.array([[1.0, 0.5], [2.0, 1.0], [0.5, 3.0]]))
    noise = StateDependentNoise(1, np.random.default_rng(0)).noise(latent, log_std)
    expected = (latent[0, :, None] ** 2 * np.exp(2 * log_std)).sum(axis=0)
    np.testing.assert_allclose(noise.var(axis=0), expected, rtol=0.05)

    sde = StateDependentNoise(4, np.random.default_rng(1))
    draws = [sde.noise(latent[:2], log_std) for _ in range(6)]
    for step in (1, 2, 3):
        np.testing.assert_array_equal(draws[step], draws[0])
    assert not np.allclose(draws[4], draws[3]) and np.allclose(draws[5], draws[4])
    sde.new_rollout()
    assert not np.allclose(sde.noise(latent[:2], log_std), draws[5])


def test_acting_stores_the_log_prob_the_update_computes(registry):
    agent, _ = agent_for(registry, "Pendulum-v1", "algo_cfg.use_sde=true", "algo_cfg.sde_sample_freq=4")
    assert tuple(agent.net.log_std.shape) == (64, 1)
    obs = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
    step = agent.act(obs, 0)
    sample = step.extras["sample"]
    np.testing.assert_array_equal(step.actions, np.clip(sample, -2, 2))
    with torch.no_grad():
        latent, out, _ = agent.net.forward_latent(torch.as_tensor(obs))
        log_prob, _ = gsde_log_prob_entropy(out, agent.net.log_std, latent, torch.as_tensor(sample))
    np.testing.assert_allclose(step.extras["log_prob"], log_prob.numpy(), rtol=1e-5, atol=1e-5)


def test_use_sde_with_discrete_actions_is_an_error(registry):
    with pytest.raises(ValueError, match="use_sde"):
        agent_for(registry, "CartPole-v1", "algo_cfg.use_sde=true")


def test_new_weights_redraw_the_noise(registry):
    """A Ray worker only receives weights; with sde_sample_freq -1 its noise must still follow them."""
    agent, _ = agent_for(registry, "Pendulum-v1", "algo_cfg.use_sde=true")
    obs = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    first = agent.act(obs, 0).extras["sample"]
    np.testing.assert_array_equal(agent.act(obs, 1).extras["sample"], first)
    agent.set_weights(agent.get_weights())
    assert not np.allclose(agent.act(obs, 2).extras["sample"], first)
