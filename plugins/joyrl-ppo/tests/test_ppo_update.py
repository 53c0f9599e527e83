"""One PPO update against a reference written from the paper with torch.distributions and the ROLLOUT
buffer's own minibatches: the agent's batched gather, fused Adam and tensor-side metrics change no number."""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch
from test_ppo_training import collect_rollout

import joyrl_core
from joyrl_core import EnvSpec, RolloutBuffer, RunShape


def reference_update(net, cfg, buffer: RolloutBuffer, rng: np.random.Generator, discrete: bool) -> None:
    """PPO's update as Schulman et al. (2017) write it, eq. 9, with SB3's minibatch details."""
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.lr, eps=cfg.optimizer_eps)
    with torch.no_grad():
        buffer.compute_gae(lambda obs: net.value(torch.as_tensor(obs)).numpy(), cfg.gamma, cfg.gae_lambda)
    for batch in buffer.minibatches(cfg.batch_size, cfg.n_epochs, rng=rng):
        out, values = net(torch.as_tensor(batch.obs))
        if discrete:
            dist = torch.distributions.Categorical(logits=out)
            log_prob, entropy = dist.log_prob(torch.as_tensor(batch.actions)), dist.entropy()
        else:
            dist = torch.distributions.Normal(out, net.log_std.exp())
            sample = torch.as_tensor(batch.extras["sample"]).reshape(out.shape)
            log_prob, entropy = dist.log_prob(sample).sum(-1), dist.entropy().sum(-1)
        advantages = torch.as_tensor(batch.extras["advantages"])
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        ratio = torch.exp(log_prob - torch.as_tensor(batch.extras["log_prob"]))
        l_clip = torch.min(ratio * advantages, ratio.clamp(1 - cfg.clip_range, 1 + cfg.clip_range) * advantages).mean()
        l_vf = (values - torch.as_tensor(batch.extras["returns"])).pow(2).mean()
        loss = -l_clip + cfg.vf_coef * l_vf - cfg.ent_coef * entropy.mean()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.max_grad_norm)
        optimizer.step()


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_a_ppo_update_is_the_papers(registry, env_id):
    cfg = joyrl_core.resolve_config(registry, None, [
        "general_cfg.algo_name=PPO", f"env_cfg.id={env_id}", "algo_cfg.n_steps=16", "algo_cfg.batch_size=24",
        "algo_cfg.n_epochs=3", "algo_cfg.ent_coef=0.01", "algo_cfg.lr=0.01", "algo_cfg.clip_range=0.05"])
    spec = EnvSpec.from_env(gym.make(env_id), env_id)
    agent = registry.get("algorithm", "PPO").factory(cfg.algo, spec, "cpu", 3, RunShape(n_envs=4))
    buffer = RolloutBuffer(16, 4, spec, seed=0)
    steps = collect_rollout(agent, buffer, seed=7, env_id=env_id)
    reference_net, reference_buffer = copy.deepcopy(agent.net), copy.deepcopy(buffer)
    initial = copy.deepcopy(agent.net)
    rng = copy.deepcopy(agent._rng)

    metrics = agent.update(buffer, steps)
    reference_update(reference_net, cfg.algo, reference_buffer, rng, spec.action_kind == "discrete")

    assert agent.update_steps == 3 * 3, "64 rows in batches of 24: 3 steps per epoch"
    assert metrics["clip_fraction"] > 0, "the policy moved past the clip range: the clipped branch was taken"
    for ours, theirs, before in zip(agent.net.parameters(), reference_net.parameters(), initial.parameters(),
                                    strict=True):
        assert not torch.equal(ours, before)
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)
