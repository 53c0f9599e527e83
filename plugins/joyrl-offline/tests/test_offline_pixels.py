"""BC and CQL on image observations: frames reach the networks compact (uint8, bool), layer lists take
convolutions (continuous CQL: ``encoder_layers``, as joyrl-sac), a BC policy learns a controller from
pixels, and layer lists that do not fit are one-line ConfigErrors."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from joyrl_core import ConfigError, EnvSpec, ReplayQueue

import joyrl_envs_custom  # noqa: F401  (registers joyrl/PixelPoint-v0 and joyrl/Catch-v0)
from joyrl_offline.bc import BCAgent
from joyrl_offline.config import BCConfig, CQLConfig
from joyrl_offline.cql import make_cql_agent

CONV = [{"layer_type": "conv2d", "layer_dim": [8], "kernel_size": 3}, {"layer_type": "linear", "layer_dim": [32]}]


def pixel_point_data(n: int = 1500):
    """pixel_point frames (5x21x1 uint8) under random actions, labelled with the controller that moves
    the point it sees to the centre at full speed."""
    env = gym.make("joyrl/PixelPoint-v0")
    spec = EnvSpec.from_env(env, "joyrl/PixelPoint-v0")
    rng = np.random.default_rng(0)
    obs, next_obs, actions = [], [], []
    frame, _ = env.reset(seed=0)
    for _ in range(n):
        x = np.flatnonzero(frame[0, :, 0])[0] / 10.0 - 1.0  # the point's position as the image shows it
        actions.append(np.clip([-x / 0.2], -1.0, 1.0).astype(np.float32))
        obs.append(frame)
        frame, _, _, truncated, _ = env.step(rng.uniform(-1, 1, size=1).astype(np.float32))
        next_obs.append(frame)
        if truncated:
            frame, _ = env.reset()
    obs, next_obs, actions = np.array(obs), np.array(next_obs), np.array(actions)
    buffer = ReplayQueue(n, spec, seed=0)
    buffer.push_batch(obs, actions, -np.abs(actions[:, 0]), next_obs, np.zeros(n, np.float32))
    return spec, buffer, obs, actions


def network_inputs(monkeypatch):
    """The dtypes of what reaches the first module of every network (the core's input module)."""
    from joyrl_core.networks.modules import ObservationInput

    seen = set()
    forward = ObservationInput.forward
    monkeypatch.setattr(ObservationInput, "forward", lambda self, obs: (seen.add(obs.dtype), forward(self, obs))[1])
    return seen


def test_bc_learns_a_controller_from_uint8_frames(monkeypatch):
    spec, buffer, obs, actions = pixel_point_data()
    assert spec.obs_dtype == np.uint8 and buffer.sample(2).obs.dtype == np.uint8
    seen = network_inputs(monkeypatch)
    torch.manual_seed(0)
    agent = BCAgent(BCConfig(dataset=["unused"], policy_layers=CONV, continuous_loss="mse", batch_size=64), spec, "cpu", 0)
    before = np.abs(agent.predict_action(obs[:300]) - actions[:300]).mean()
    for _ in range(150):  # the error falls to ~0.04 by 100 updates, ~0.01 by 150
        agent.update(buffer, 0)
    error = np.abs(agent.predict_action(obs[:300]) - actions[:300]).mean()
    assert seen == {torch.uint8}
    assert error < 0.1 < before, (before, error)


def test_continuous_cql_trains_both_encoders_on_uint8_frames(monkeypatch):
    pytest.importorskip("joyrl_sac")  # continuous CQL is built on its actor and critics
    spec, buffer, obs, _ = pixel_point_data(300)
    seen = network_inputs(monkeypatch)
    small = [{"layer_dim": [16]}]
    config = CQLConfig(dataset=["unused"], encoder_layers=CONV, value_layers=small, actor_layers=small, batch_size=16,
                       n_action_samples=2)
    agent = make_cql_agent(config, spec, "cpu", 1)
    encoders = {"actor": agent.actor.encoder, "critics": agent.critics.encoder}
    before = {name: [p.clone() for p in e.parameters()] for name, e in encoders.items()}
    for _ in range(3):
        metrics = agent.update(buffer, 0)
    assert all(np.isfinite(v) for v in metrics.values()) and seen == {torch.uint8}
    for name, encoder in encoders.items():
        assert len(before[name]) == 4 and all(not torch.equal(a, b) for a, b in zip(before[name], encoder.parameters()))
    other = make_cql_agent(config, spec, "cpu", 2)
    other.load_state_dict(agent.state_dict())
    np.testing.assert_array_equal(agent.predict_action(obs[:8]), other.predict_action(obs[:8]))


@pytest.mark.parametrize("make, config", [
    (BCAgent, BCConfig(dataset=["unused"], policy_layers=CONV)),
    (make_cql_agent, CQLConfig(dataset=["unused"], value_layers=CONV)),
])
def test_discrete_bc_and_cql_take_convolutions_on_bool_frames(monkeypatch, make, config):
    catch = gym.make("joyrl/Catch-v0")
    spec = EnvSpec.from_env(catch, "joyrl/Catch-v0")
    frames = np.stack([catch.reset(seed=s)[0] for s in range(32)])
    buffer = ReplayQueue(32, spec, seed=0)
    buffer.push_batch(frames, np.arange(32) % 3, np.ones(32), frames, np.zeros(32))
    seen = network_inputs(monkeypatch)
    agent = make(config, spec, "cpu", 1)
    assert np.isfinite(agent.update(buffer, 0)["loss"]) and seen == {torch.bool}
    assert agent.predict_action(frames[:4]).shape == (4,)


@pytest.mark.parametrize("make, config, message", [
    (BCAgent, BCConfig(dataset=["unused"], policy_layers=[{"layer_type": "nature_cnn"}]),
     r"^algo_cfg.policy_layers: layer 0 \(nature_cnn\), its 32-channel conv .* \(observation shape \(5, 21, 1\)"),
    (make_cql_agent, CQLConfig(dataset=["unused"], encoder_layers=[{"layer_type": "conv2d", "layer_dim": [4],
                                                                    "kernel_size": 7}]),
     r"^CQL cannot run on env 'joyrl/PixelPoint-v0': algo_cfg.encoder_layers: layer 0 \(conv2d\) with kernel 7"),
    (make_cql_agent, CQLConfig(dataset=["unused"], value_layers=CONV),
     r"^algo_cfg.value_layers: continuous actions take linear layers only, got conv2d; put convolutions"),
])
def test_layer_lists_that_do_not_fit_are_one_line_config_errors(make, config, message):
    pytest.importorskip("joyrl_sac")
    spec = EnvSpec.from_env(gym.make("joyrl/PixelPoint-v0"), "joyrl/PixelPoint-v0")
    with pytest.raises(ConfigError, match=message) as info:
        make(config, spec, "cpu", 1)
    assert "\n" not in str(info.value)


def test_discrete_cql_refuses_encoder_layers():
    spec = EnvSpec.from_env(gym.make("joyrl/Catch-v0"), "joyrl/Catch-v0")
    with pytest.raises(ConfigError, match="encoder_layers: continuous actions only .* start value_layers with the convolutions"):
        make_cql_agent(CQLConfig(dataset=["unused"], encoder_layers=CONV), spec, "cpu", 1)
