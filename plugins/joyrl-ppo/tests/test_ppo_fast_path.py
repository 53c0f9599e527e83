"""``fast_path: auto`` (joyrl_ppo/fast.py: explicit gradients, no autograd graph) against ``off`` (the plain
autograd update of ppo.py): after several updates on the same rollouts, the same parameters, optimizer
moments, step counts and metrics, within float32 rounding."""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch
from test_ppo_training import collect_rollout

import joyrl_core
from joyrl_core import EnvSpec, RolloutBuffer, RunShape
from joyrl_ppo.fast import FastActorCriticAgent
from joyrl_ppo.ppo import ActorCriticAgent

CLIPPED = ["algo_cfg.clip_range_vf=0.1", "algo_cfg.target_kl=0.005", "algo_cfg.ent_coef=0.01"]


def agents(registry, algo: str, env_id: str, overrides: list[str]):
    keys = [f"general_cfg.algo_name={algo}", f"env_cfg.id={env_id}", "algo_cfg.n_steps=16", "algo_cfg.lr=0.01",
            *(["algo_cfg.batch_size=24", "algo_cfg.n_epochs=4"] if algo == "PPO" else []), *overrides]
    spec = EnvSpec.from_env(gym.make(env_id), env_id)
    made = []
    for fast_path in ("off", "auto"):
        cfg = joyrl_core.resolve_config(registry, None, [*keys, f"algo_cfg.fast_path='{fast_path}'"])
        made.append(registry.get("algorithm", algo).factory(cfg.algo, spec, "cpu", 3, RunShape(n_envs=4)))
    plain, fast = made
    fast.load_state_dict(copy.deepcopy(plain.state_dict()))
    return plain, fast, spec


def assert_same_updates(plain, fast, spec, env_id: str, rounds: int = 3) -> list[dict]:
    all_metrics = []
    for round_ in range(rounds):
        buffer = RolloutBuffer(16, 4, spec, seed=0)
        steps = collect_rollout(plain, buffer, seed=round_, env_id=env_id)
        fast._rng.bit_generator.state = plain._rng.bit_generator.state  # the same minibatch orders
        fast_buffer = copy.deepcopy(buffer)
        expected, got = plain.update(buffer, steps), fast.update(fast_buffer, steps)
        assert fast.update_steps == plain.update_steps
        for key, value in expected.items():
            assert got[key] == pytest.approx(value, rel=1e-3, abs=1e-5), key
        all_metrics.append(expected)
    for (name, p), q in zip(plain.net.named_parameters(), fast.net.parameters()):
        torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-5, msg=lambda m: f"{name}: {m}")
    moments = [plain.optimizer.state[p]["exp_avg_sq" if "exp_avg_sq" in plain.optimizer.state[p] else "square_avg"]
               for p in plain.net.parameters()]
    for p, expected in zip(fast.net.parameters(), moments):
        state = fast.optimizer.state[p]
        torch.testing.assert_close(state.get("exp_avg_sq", state.get("square_avg")), expected, rtol=1e-3, atol=1e-9)
    return all_metrics


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
@pytest.mark.parametrize("overrides", [[], CLIPPED], ids=["plain", "vf_clip+target_kl+entropy"])
def test_the_fast_ppo_update_is_the_plain_one(registry, env_id, overrides):
    plain, fast, spec = agents(registry, "PPO", env_id, overrides)
    assert type(plain) is ActorCriticAgent and isinstance(fast, FastActorCriticAgent)
    assert fast._actor is not None, "two tanh MLPs on CPU take the explicit path"
    metrics = assert_same_updates(plain, fast, spec, env_id)
    if overrides:
        assert plain.update_steps < 3 * 4 * 3, "target_kl stopped some epochs early: the stop is compared too"
    else:
        assert any(m["clip_fraction"] > 0 for m in metrics), "the clipped branch of the surrogate was exercised"


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_the_fast_a2c_update_is_the_plain_one(registry, env_id):
    # A2C's own lr: RMSprop's first steps are lr * g / (|g| sqrt(1 - alpha) + eps), which at lr 0.01 blows a
    # last-bit difference in a near-zero gradient up past any float32 tolerance.
    plain, fast, spec = agents(registry, "A2C", env_id, ["algo_cfg.ent_coef=0.01", "algo_cfg.lr=0.0007"])
    assert fast._actor is not None
    assert_same_updates(plain, fast, spec, env_id)


def test_networks_it_does_not_cover_keep_autograd(registry):
    shared = ["algo_cfg.shared_layers=[{layer_type: linear, layer_dim: [32], activation: tanh}]"]
    plain, fast, spec = agents(registry, "PPO", "CartPole-v1", shared)
    assert fast._actor is None
    assert_same_updates(plain, fast, spec, "CartPole-v1", rounds=1)
    gelu = ["algo_cfg.actor_layers=[{layer_type: linear, layer_dim: [32], activation: gelu}]"]
    assert agents(registry, "PPO", "CartPole-v1", gelu)[1]._actor is None
    assert agents(registry, "PPO", "Pendulum-v1", ["algo_cfg.use_sde=true"])[1]._actor is None


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_the_fast_path_acts_as_the_plain_one(registry, env_id):
    plain, fast, spec = agents(registry, "PPO", env_id, [])
    obs = np.stack([gym.make(env_id).reset(seed=seed)[0] for seed in range(5)])
    expected, got = plain.act(obs, 0), fast.act(obs, 0)
    np.testing.assert_array_equal(got.actions, expected.actions) if spec.action_kind == "discrete" else \
        np.testing.assert_allclose(got.actions, expected.actions, rtol=1e-5, atol=1e-6)
    for key, value in expected.extras.items():
        np.testing.assert_allclose(got.extras[key], value, rtol=1e-5, atol=1e-6, err_msg=key)
    np.testing.assert_allclose(fast.predict_action(obs), plain.predict_action(obs), rtol=1e-5, atol=1e-6)
