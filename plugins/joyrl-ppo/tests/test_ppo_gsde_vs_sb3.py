"""PPO with gSDE against Stable-Baselines3's (the reference examples/pendulum_ppo.yaml follows): given the
same weights, the same log-probs of the same samples and the same parameters after one PPO update.
Needs the ``bench`` extra (``stable-baselines3``); skipped without it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from test_ppo_distributions import agent_for

sb3 = pytest.importorskip("stable_baselines3")

# JoyRL parameter prefix -> SB3 ActorCriticPolicy parameter prefix
SB3_NAMES = {"actor.0": "mlp_extractor.policy_net.0", "actor.2": "mlp_extractor.policy_net.2",
             "critic.0": "mlp_extractor.value_net.0", "critic.2": "mlp_extractor.value_net.2",
             "policy_head": "action_net", "value_head": "value_net", "log_std": "log_std"}


def sb3_name(name: str) -> str:
    prefix, _, leaf = name.rpartition(".")
    return SB3_NAMES[name] if not prefix else f"{SB3_NAMES[prefix]}.{leaf}"


def test_one_gsde_update_matches_sb3(registry):
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.logger import configure

    n_steps, n_envs = 64, 4
    rows = n_steps * n_envs
    # One epoch on one minibatch of the whole rollout: the update does not depend on the shuffle order.
    agent, _ = agent_for(registry, "Pendulum-v1", "algo_cfg.use_sde=true", "algo_cfg.sde_sample_freq=4",
                         "algo_cfg.lr=0.001", "algo_cfg.n_epochs=1", f"algo_cfg.batch_size={rows}",
                         "algo_cfg.fast_path=off")
    model = sb3.PPO("MlpPolicy", make_vec_env("Pendulum-v1", n_envs=n_envs, seed=0), n_steps=n_steps,
                    batch_size=rows, n_epochs=1, use_sde=True, sde_sample_freq=4, learning_rate=1e-3,
                    device="cpu", seed=0)
    model.set_logger(configure(None, []))
    reference = dict(model.policy.named_parameters())
    with torch.no_grad():
        for name, param in agent.net.named_parameters():
            param.copy_(reference[sb3_name(name)])

    rng = np.random.default_rng(0)
    obs = rng.normal(size=(rows, 3)).astype(np.float32)
    step = agent.act(obs, 0)
    sample = torch.as_tensor(step.extras["sample"])
    with torch.no_grad():
        _, sb3_log_prob, _ = model.policy.evaluate_actions(torch.as_tensor(obs), sample)
    np.testing.assert_allclose(step.extras["log_prob"], sb3_log_prob.numpy(), atol=1e-5)

    advantages = rng.normal(size=rows).astype(np.float32)
    returns = rng.normal(size=rows).astype(np.float32) * 3
    old_log_prob = step.extras["log_prob"] + rng.normal(size=rows).astype(np.float32) * 0.1  # ratios != 1
    old_values = step.extras["value"].astype(np.float32)
    buffer = model.rollout_buffer
    buffer.reset()
    buffer.observations[:] = obs.reshape(n_steps, n_envs, 3)
    buffer.actions[:] = sample.numpy().reshape(n_steps, n_envs, 1)
    buffer.advantages[:] = advantages.reshape(n_steps, n_envs)
    buffer.returns[:] = returns.reshape(n_steps, n_envs)
    buffer.log_probs[:] = old_log_prob.reshape(n_steps, n_envs)
    buffer.values[:] = old_values.reshape(n_steps, n_envs)
    buffer.full, buffer.pos = True, n_steps
    model._current_progress_remaining = 1.0
    model.train()

    t = torch.as_tensor
    normalised = (t(advantages) - t(advantages).mean()) / (t(advantages).std() + 1e-8)
    agent._gradient_step(t(obs), sample, t(old_log_prob), t(old_values), normalised, t(returns), 0.2)
    reference = dict(model.policy.named_parameters())
    for name, param in agent.net.named_parameters():
        # Adam's first step moves every parameter by ~lr = 1e-3: a different gradient shows far above 1e-6.
        torch.testing.assert_close(param.detach(), reference[sb3_name(name)].detach(), atol=1e-6, rtol=0,
                                   msg=lambda m, name=name: f"{name}: {m}")
